// cli.c — command dispatch and what the commands share: option values, default model paths,
// presets, error reporting. The commands themselves live in cmd_*.c and window.c.
#include "app/app.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const Preset app_presets[] = {
    {"narrative", "Once upon a time, in a small kingdom, there lived a princess named Mia. Every "
                  "morning, Mia"},
    {"code", "def area(width, height):\n    return width *"},
    {"fact", "The capital of France is"},
    {NULL, NULL},
};

const Preset *app_preset(const char *name) {
    for (const Preset *p = app_presets; p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

int app_fail(const KvError *err) {
    fprintf(stderr, "kvscope: %s\n", err->msg);
    return err->code ? (int)err->code : 1;
}

int app_fail_stdout(void) {
    int e = errno ? errno : EIO;
    fprintf(stderr, "kvscope: stdout: %s\n", strerror(e));
    return KV_ERR_RUNTIME;
}

int app_finish_stdout(int status) {
    errno = 0;
    bool failed = fflush(stdout) != 0 || ferror(stdout);
    failed = fclose(stdout) != 0 || failed; // the close reports what a delayed write met
    if (failed && status == 0)
        return app_fail_stdout();
    return status;
}

int app_usage_error(const char *what, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "kvscope: %s: %s\n", what, msg);
    return KV_ERR_INPUT;
}

// The engine's parsers (engine.h, "Parsing numbers a user typed") under the names the commands
// have always used: one parser per kind of value for every command and the lessons.
KvStatus app_parse_int(const char *opt, const char *val, long lo, long hi, long *out,
                       KvError *err) {
    return kv_parse_int(opt, val, lo, hi, out, err);
}

KvStatus app_parse_float(const char *opt, const char *val, double lo, double hi, double *out,
                         KvError *err) {
    return kv_parse_float(opt, val, lo, hi, out, err);
}

// ----------------------------------------------------------------------------------------------
// Data files: beside the executable (build/kvscope and build/san/kvscope find the repository's
// files one or two levels up), then the installed data directory. The default model can also
// come from KVSCOPE_MODEL_DIR.

#define DEFAULT_MODEL "kvscope6.bin"
#define DEFAULT_TOKENIZER "tokenizer.bin"

static bool file_exists(const char *p) {
    return access(p, R_OK) == 0;
}

const char *app_find_data(const char *repo_rel, const char *installed_rel, char *buf, size_t cap) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *dir = dirname(exe);
        const char *up[] = {"..", "../..", "."};
        for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
            snprintf(buf, cap, "%s/%s/%s", dir, up[i], repo_rel);
            if (file_exists(buf))
                return buf;
        }
    }
    snprintf(buf, cap, "%s/%s", KVSCOPE_DATADIR, installed_rel);
    if (file_exists(buf))
        return buf;
    snprintf(buf, cap, "%s", repo_rel);
    return buf;
}

static const char *find_asset(const char *name, char *buf, size_t cap) {
    const char *env = getenv("KVSCOPE_MODEL_DIR");
    if (env && *env) {
        snprintf(buf, cap, "%s/%s", env, name);
        return buf;
    }
    char repo[256], installed[256];
    snprintf(repo, sizeof repo, "assets/models/%s", name);
    snprintf(installed, sizeof installed, "models/%s", name);
    return app_find_data(repo, installed, buf, cap);
}

const char *app_default_model(void) {
    static char buf[PATH_MAX + 64];
    return find_asset(DEFAULT_MODEL, buf, sizeof buf);
}

const char *app_default_tokenizer(void) {
    static char buf[PATH_MAX + 64];
    return find_asset(DEFAULT_TOKENIZER, buf, sizeof buf);
}

KvStatus app_load(Model *m, Tokenizer *t, const char *model_path, const char *tok_path,
                  KvError *err) {
    if (!model_path)
        model_path = app_default_model();
    if (!tok_path)
        tok_path = app_default_tokenizer();
    KvStatus st = model_load(m, model_path, err);
    if (st)
        return st;
    st = tokenizer_load(t, tok_path, m->cfg.vocab_size, err);
    if (st)
        model_free(m);
    return st;
}

static void usage(FILE *f) {
    fputs(
        "usage: kvscope [command] [options]\n"
        "\n"
        "  kvscope                     open the window: default model, first preset\n"
        "  kvscope run [--prompt TEXT | --preset NAME] [--no-cache] [--cache POLICY]\n"
        "              [--size WxH] [--theme dark|light] [--fullscreen]\n"
        "              [--view sequence|heatmap|layers|memory|3d|sampling|pool|split]\n"
        "              [--serve FILE|classroom [--blocks N] [--block-size B]]\n"
        "                              (the pool view: Space steps the requests, P plays them,\n"
        "                              B shows the next one's block table)\n"
        "              [--split] [--sampling-scale linear|log]\n"
        "              [--camera front|top|orbit:AZIMUTH,ELEVATION]\n"
        "              [--steps N] [--speed TOK_S] [--export-dir DIR] [sampler options]\n"
        "                              the same, with options\n"
        "  kvscope generate (--prompt TEXT | --preset NAME) [-n N] [--no-cache]\n"
        "                   [--cache POLICY]\n"
        "                   [--temperature T] [--top-k K] [--top-p P] [--seed S]\n"
        "                   [--trace FILE.csv] [--verify]\n"
        "                              generated text to stdout, a per-step table to stderr\n"
        "  kvscope render (--prompt TEXT | --preset NAME) --steps N [--no-cache]\n"
        "                 [--cache POLICY]\n"
        "                 [--view sequence|heatmap|layers|memory|3d|sampling|pool|split]\n"
        "                 [--layer L] [--sampling-scale linear|log]\n"
        "                 [--head H]\n"
        "                 [--serve FILE|classroom (the pool view's session; --steps: its steps)]\n"
        "                 [--size WxH] [--camera front|top|orbit:AZIMUTH,ELEVATION]\n"
        "                 [--theme dark|light] [--layout projector|detail] [--transparent]\n"
        "                 [--zoom Z] [--scroll N] [--annotate] [--inspect LAYER,POS[,HEAD]]\n"
        "                 [--split]\n"
        "                 -o FILE.png|.svg|.pdf\n"
        "                 [--frames DIR] | -o FILE.mp4|.webm|.gif [--fps N] [--speed TOK_S]\n"
        "                              a picture, or the run animated as a video\n"
        "  kvscope lesson FILE [--pdf DECK.pdf] [--frames DIR] [--video FILE.mp4]\n"
        "                 [--fps N] [--speed TOK_S] [--size WxH] [--theme dark|light]\n"
        "                 [--fullscreen] [--check]\n"
        "                              a lesson in the window, or as a deck, frames, video\n"
        "  kvscope info [--heads]      model configuration, parameters, KV bytes per token\n"
        "  kvscope info --project [LENGTH]\n"
        "                              this model's and published models' KV cache bytes\n"
        "  kvscope glossary [TERM] [--long]\n"
        "                              every term the picture uses, with its definition\n"
        "  kvscope serve [--requests FILE] [--blocks N] [--block-size B]\n"
        "                [--no-prefix-sharing] [--prefix-cache] [--trace FILE.csv]\n"
        "                              many requests over one paged KV pool (no --requests:\n"
        "                              the classroom scenario); docs/serving.md\n"
        "--split or --view split (run, render): the run with the cache and the same run\n"
        "  without it, side by side, stepped together: counters, FLOPs and measured time\n"
        "  ratios, logit difference\n"
        "--sampling-scale linear|log (run, render): the sampling view's bars (Shift+S)\n"
        "--inspect LAYER,POS[,HEAD] (render): one cache cell's numbers at the last step: its\n"
        "  key and value, the write head's query, scores, softmax weights and the output\n"
        "  kvscope bench [engine|kv|render|serve] [--threads N]\n"
        "                              performance figures, one line each (1 thread unless\n"
        "                              --threads)\n"
        "  kvscope bench checkpoint 15m|42m|110m MODEL.bin TOKENIZER.bin\n"
        "                              a random checkpoint of a llama2.c shape (speed tests)\n"
        "\n"
        "common options: --model FILE --tokenizer FILE (default: the shipped model)\n"
        "cache option (run, generate, render): --kv f32|bf16|int8|int4|kivi2|kivi4\n"
        "  the precision the KV cache stores keys and values in (default f32)\n"
        "cache policies (run, generate, render): --cache full | window:W (the W most recent,\n"
        "  past the context too) | sinks:S,W (the first S and the W most recent, past the\n"
        "  context) | h2o:H,R (the R most recent and H heavy hitters); kvscope generate --cache\n"
        "  prints the drift from the full cache at the end. --kv kivi2 and kivi4 take --cache\n"
        "  full only.\n"
        "cache layout (run, generate, render): --paged B  the cache in blocks of B positions\n"
        "  (16 is usual) from a pool, through a block table; full retention and f32 only\n"
        "  --threads N   engine threads, 1..64 (default: the machine's cores); the results\n"
        "  are bit-identical for every N\n"
        "sampler options (run, generate): --temperature T --top-k K --top-p P --seed S\n"
        "  --temperature 0 is greedy (the most probable token); any T > 0 samples from\n"
        "  softmax(logits / T). --seed S is 1 .. 2^64-1 (default 42): 0 is refused, as\n"
        "  xorshift64* never leaves the state 0 and every draw would be 0.0.\n"
        "presets: narrative, code, fact\n"
        "kvscope COMMAND --help prints this page.\n",
        f);
    app_video_formats(f);
}

int cli_main(int argc, char **argv) {
    if (argc < 2)
        return cmd_run(argc, argv);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"run", cmd_run},           {"generate", cmd_generate}, {"render", cmd_render},
                {"lesson", cmd_lesson},     {"info", cmd_info},         {"bench", cmd_bench},
                {"glossary", cmd_glossary}, {"serve", cmd_serve}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(cmd, cmds[i].name) != 0)
            continue;
        if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            usage(stdout);
            return 0;
        }
        return cmds[i].fn(argc - 1, argv + 1);
    }
    if (cmd[0] == '-') // options without a command: the window with options
        return cmd_run(argc, argv);
    return app_usage_error(cmd, "unknown command (see kvscope --help)");
}

// ----------------------------------------------------------------------------------------------
// Common options

void app_common_defaults(CommonOptions *o) {
    memset(o, 0, sizeof *o);
    o->sampler = (SamplerSettings){.temperature = 0.0f, .top_p = 0.9f, .top_k = 0, .seed = 42};
    o->cache = KV_CACHE_DENSE;
}

KvStatus app_apply_common(Session *s, const CommonOptions *o, KvError *err) {
    session_set_sampler(s, o->sampler);
    session_set_mode(s, o->no_cache ? CACHE_MODE_OFF : CACHE_MODE_ON);
    session_set_threads(s, o->threads ? o->threads : engine_default_threads());
    KvStatus st = session_set_cache(s, o->cache, err);
    if (!st && o->cache.layout == KV_LAYOUT_PAGED)
        st = session_set_paged(s, o->cache.block, err);
    return st;
}

int app_parse_common(int argc, char **argv, int *i, CommonOptions *o, KvError *err) {
    const char *opt = argv[*i];
    const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    double d;
    long l;
    if (strcmp(opt, "--no-cache") == 0) {
        o->no_cache = true;
        return 1;
    }
    static const char *const with_value[] = {
        "--model", "--tokenizer", "--prompt", "--preset", "--temperature", "--top-k",
        "--top-p", "--seed",      "--kv",     "--cache",  "--paged",       "--threads"};
    size_t k = 0, n = sizeof with_value / sizeof with_value[0];
    while (k < n && strcmp(opt, with_value[k]) != 0)
        k++;
    if (k == n)
        return 0;
    if (!val) {
        kv_error(err, KV_ERR_INPUT, "%s: needs a value", opt);
        return -1;
    }
    *i += 1;
    switch (k) {
    case 0:
        o->model = val;
        break;
    case 1:
        o->tokenizer = val;
        break;
    case 2:
        o->prompt = val, o->preset = NULL;
        break;
    case 3: {
        const Preset *p = app_preset(val);
        if (!p) {
            kv_error(err, KV_ERR_INPUT, "--preset: unknown preset '%s' (narrative, code, fact)",
                     val);
            return -1;
        }
        o->prompt = p->prompt, o->preset = p->name;
        break;
    }
    case 4:
        if (app_parse_float(opt, val, 0.0, 100.0, &d, err))
            return -1;
        o->sampler.temperature = (float)d;
        break;
    case 5:
        if (app_parse_int(opt, val, 0, KV_MAX_VOCAB, &l, err))
            return -1;
        o->sampler.top_k = (int)l;
        break;
    case 6:
        if (app_parse_float(opt, val, 0.0, 1.0, &d, err))
            return -1;
        o->sampler.top_p = (float)d;
        break;
    case 7: {
        uint64_t seed;
        if (kv_parse_seed(opt, val, &seed, err))
            return -1;
        o->sampler.seed = seed;
        break;
    }
    case 8:
        if (kv_precision_parse(opt, val, &o->kv, err))
            return -1;
        break;
    case 10:
        if (app_parse_int(opt, val, 1, KV_MAX_SEQ, &l, err))
            return -1;
        o->cache.layout = KV_LAYOUT_PAGED;
        o->cache.block = (int)l;
        break;
    case 11:
        if (app_parse_int(opt, val, 1, 64, &l, err))
            return -1;
        o->threads = (int)l;
        break;
    default:
        if (kv_parse_retention(opt, val, &o->cache, err))
            return -1;
    }
    return 1;
}

// ----------------------------------------------------------------------------------------------
// Progress of long exports: a bar on stderr, only on a terminal and only once an export has run
// for a second (short ones print nothing; logs and pipes get no bar).

static struct {
    uint64_t t0;
    bool shown;
} progress;

void app_progress(void *what, int64_t done, int64_t total) {
    uint64_t now = kv_now_ns();
    if (done <= 1 || progress.t0 == 0) {
        progress.t0 = now;
        progress.shown = false;
    }
    if (!isatty(2) || now - progress.t0 < 1000000000ull || total <= 0)
        return;
    const int width = 30;
    int filled = (int)(width * done / total);
    double secs = (now - progress.t0) / 1e9, eta = done > 0 ? secs * (total - done) / done : 0;
    fprintf(stderr, "\rkvscope: %s [%.*s%*s] %3d%% %lld/%lld frames, %.0f s left ",
            (const char *)what, filled, "##############################", width - filled, "",
            (int)(100 * done / total), (long long)done, (long long)total, eta);
    progress.shown = true;
}

void app_progress_end(void) {
    if (progress.shown)
        fputc('\n', stderr);
    progress.t0 = 0;
    progress.shown = false;
}

KvStatus app_apply_kv(const CommonOptions *o, Session *s, KvError *err) {
    if (o->kv == KV_PRECISION_F32)
        return KV_OK;
    if (o->no_cache)
        return kv_error(err, KV_ERR_INPUT,
                        "--kv: %s is how the cache stores keys and values, and --no-cache keeps "
                        "none",
                        kv_precision_name(o->kv));
    KvStatus st = kv_precision_check(&s->model->cfg, o->kv, "--kv", err);
    if (st)
        return st;
    KvCacheKind k = o->cache;
    k.precision = o->kv;
    if ((st = kv_kind_combine_check("--kv", "--cache ", k, err)))
        return st;
    return session_set_kv(s, o->kv, err);
}
