// test_cli.c — the kvscope binary on bad input, one test each: exit status 2, exactly one line
// on stderr, `kvscope: <what>: <why>` naming the file (for file errors) and the problem, and no
// sanitizer report. Also: llama2.c version 1 and 2 files, `info`, and the --trace CSV.
#include "app/app.h"
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(cli, .fini = tu_leak_check);

#define CLI_VOCAB 400

// A temporary directory holding a good model and tokenizer.
typedef TuFiles Files;

static Files files_new(void) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    Files f;
    KvError err = {0};
    cr_assert_eq(tu_files_new(&f, tu_config(32, 64, 2, 4, 2, CLI_VOCAB, 32, false), &err), KV_OK,
                 "%s", err.msg);
    return f;
}

static void files_free(Files *f) {
    tu_files_free(f);
}

// Runs kvscope with the given arguments (NULL-terminated, without the program).
static void run(TuRun *r, const char *const *args) {
    cr_assert(tu_run_kvscope(args, 60, r), "cannot run %s", tu_kvscope_bin());
}

// Exit 2, one line "kvscope: ..." holding every one of the `need` strings (NULL-terminated).
static void expect_bad(const char *const *args, const char *const *need) {
    TuRun r;
    run(&r, args);
    cr_assert(!tu_has_sanitizer_report(r.err), "sanitizer report:\n%s", r.err);
    cr_assert_eq(r.status, 2, "exit status %d, want 2; stderr: %s", r.status, r.err);
    cr_assert_eq(tu_count_lines(r.err), 1, "want one line on stderr, got:\n%s", r.err);
    cr_assert(strncmp(r.err, "kvscope: ", 9) == 0, "stderr does not start \"kvscope: \": %s",
              r.err);
    for (int i = 0; need[i]; i++)
        cr_assert(strstr(r.err, need[i]) != NULL, "stderr \"%s\" does not mention \"%s\"",
                  strtok(r.err, "\n"), need[i]);
    tu_run_free(&r);
}

static void generate_bad(const char *model, const char *tok, const char *const *need) {
    const char *args[] = {"generate", "--model", model, "--tokenizer", tok,
                          "--prompt", "hi",      "-n",  "3",           NULL};
    expect_bad(args, need);
}

// The model file with the int32 header field `field` (0 = dim .. 6 = seq_len) set to v.
static char *patched_model(const Files *f, const char *name, int field, int32_t v) {
    size_t n;
    unsigned char *b = tu_read_file(f->model, &n);
    cr_assert_not_null(b);
    memcpy(b + 4 * field, &v, 4);
    char *path = tu_join(f->dir, name);
    cr_assert(tu_write_file(path, b, n));
    free(b);
    return path;
}

static const char *field_names[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                     "n_kv_heads", "vocab_size", "seq_len"};

// ----------------------------------------------------------------------------------------------
// Files

Test(cli, missing_model_file) {
    Files f = files_new();
    char *path = tu_join(f.dir, "no-such-model.bin");
    generate_bad(path, f.tok, (const char *[]){path, "No such file", NULL});
    free(path);
    files_free(&f);
}

Test(cli, missing_tokenizer_file) {
    Files f = files_new();
    char *path = tu_join(f.dir, "no-such-tok.bin");
    generate_bad(f.model, path, (const char *[]){path, "No such file", NULL});
    free(path);
    files_free(&f);
}

Test(cli, model_is_a_directory) {
    Files f = files_new();
    generate_bad(f.dir, f.tok, (const char *[]){f.dir, "not a regular file", NULL});
    files_free(&f);
}

Test(cli, empty_model_file) {
    Files f = files_new();
    char *path = tu_join(f.dir, "empty.bin");
    cr_assert(tu_write_file(path, "", 0));
    generate_bad(path, f.tok, (const char *[]){path, "empty", NULL});
    free(path);
    files_free(&f);
}

Test(cli, empty_tokenizer_file) {
    Files f = files_new();
    char *path = tu_join(f.dir, "empty-tok.bin");
    cr_assert(tu_write_file(path, "", 0));
    generate_bad(f.model, path, (const char *[]){path, "empty", NULL});
    free(path);
    files_free(&f);
}

Test(cli, truncated_header) {
    Files f = files_new();
    size_t n;
    unsigned char *b = tu_read_file(f.model, &n);
    char *path = tu_join(f.dir, "trunc.bin");
    cr_assert(tu_write_file(path, b, 13));
    generate_bad(path, f.tok, (const char *[]){path, "header", NULL});
    free(b);
    free(path);
    files_free(&f);
}

Test(cli, file_shorter_than_header_implies) {
    Files f = files_new();
    size_t n;
    unsigned char *b = tu_read_file(f.model, &n);
    char *path = tu_join(f.dir, "short.bin");
    cr_assert(tu_write_file(path, b, n - 4));
    generate_bad(path, f.tok, (const char *[]){path, "shorter", NULL});
    // cut in the middle of the weights, too
    cr_assert(tu_write_file(path, b, n / 2));
    generate_bad(path, f.tok, (const char *[]){path, "shorter", NULL});
    free(b);
    free(path);
    files_free(&f);
}

Test(cli, file_longer_than_header_implies) {
    Files f = files_new();
    size_t n;
    unsigned char *b = tu_read_file(f.model, &n);
    b = realloc(b, n + 8);
    memset(b + n, 0, 8);
    char *path = tu_join(f.dir, "long.bin");
    cr_assert(tu_write_file(path, b, n + 8));
    generate_bad(path, f.tok, (const char *[]){path, "longer", NULL});
    cr_assert(tu_write_file(path, b, n + 1)); // not even a whole float more
    generate_bad(path, f.tok, (const char *[]){path, "longer", NULL});
    free(b);
    free(path);
    files_free(&f);
}

Test(cli, header_field_zero, .timeout = 60) {
    Files f = files_new();
    for (int k = 0; k < 7; k++) {
        char *path = patched_model(&f, "zero.bin", k, 0);
        generate_bad(path, f.tok, (const char *[]){path, field_names[k], NULL});
        free(path);
    }
    files_free(&f);
}

Test(cli, header_field_negative, .timeout = 60) {
    Files f = files_new();
    for (int k = 0; k < 7; k++) {
        if (k == 5)
            continue; // a negative vocab_size means a separate classifier
        char *path = patched_model(&f, "neg.bin", k, -4);
        generate_bad(path, f.tok, (const char *[]){path, field_names[k], NULL});
        free(path);
    }
    char *path = patched_model(&f, "neg.bin", 5, INT32_MIN); // -INT32_MIN does not exist
    generate_bad(path, f.tok, (const char *[]){path, "vocab_size", NULL});
    free(path);
    files_free(&f);
}

Test(cli, header_field_absurdly_large, .timeout = 60) {
    Files f = files_new();
    for (int k = 0; k < 7; k++) {
        char *path = patched_model(&f, "huge.bin", k, k == 5 ? -2000000000 : 2000000000);
        generate_bad(path, f.tok, (const char *[]){path, field_names[k], NULL});
        free(path);
    }
    files_free(&f);
}

// Each field within its limit, but the tensor sizes they multiply to are enormous: refused by
// the size check (quickly, without trying to allocate them).
Test(cli, sizes_whose_products_overflow, .timeout = 60) {
    Files f = files_new();
    size_t n;
    unsigned char *b = tu_read_file(f.model, &n);
    int32_t h[7] = {KV_MAX_DIM,       KV_MAX_HIDDEN, KV_MAX_LAYERS, KV_MAX_HEADS / 2,
                    KV_MAX_HEADS / 2, -KV_MAX_VOCAB, KV_MAX_SEQ};
    memcpy(b, h, sizeof h);
    char *path = tu_join(f.dir, "big.bin");
    cr_assert(tu_write_file(path, b, n));
    uint64_t t0 = kv_now_ns();
    generate_bad(path, f.tok, (const char *[]){path, "shorter", NULL});
    cr_assert_lt(kv_now_ns() - t0, 20000000000ull, "took more than 20 s");
    free(b);
    free(path);
    files_free(&f);
}

Test(cli, dim_not_divisible_by_n_heads) {
    Files f = files_new();
    char *path = patched_model(&f, "heads.bin", 3, 5); // dim 32, 5 heads
    generate_bad(path, f.tok, (const char *[]){path, "n_heads", NULL});
    free(path);
    files_free(&f);
}

Test(cli, n_heads_not_divisible_by_n_kv_heads) {
    Files f = files_new();
    char *path = patched_model(&f, "kvheads.bin", 4, 3); // 4 heads, 3 KV heads
    generate_bad(path, f.tok, (const char *[]){path, "n_kv_heads", NULL});
    free(path);
    files_free(&f);
}

Test(cli, weight_not_finite) {
    Files f = files_new();
    size_t n;
    unsigned char *b = tu_read_file(f.model, &n);
    float nan = __builtin_nanf("");
    memcpy(b + 28 + 4 * 100, &nan, 4);
    char *path = tu_join(f.dir, "nan.bin");
    cr_assert(tu_write_file(path, b, n));
    generate_bad(path, f.tok, (const char *[]){path, "finite", NULL});
    free(b);
    free(path);
    files_free(&f);
}

Test(cli, tokenizer_vocabulary_larger_than_model) {
    Files f = files_new();
    char *path = tu_join(f.dir, "tok512.bin");
    KvError err = {0};
    cr_assert_eq(tu_write_tokenizer(path, 512, &err), KV_OK, "%s", err.msg);
    generate_bad(f.model, path, (const char *[]){path, "vocabulary", NULL});
    free(path);
    files_free(&f);
}

Test(cli, tokenizer_vocabulary_smaller_than_model) {
    Files f = files_new();
    char *path = tu_join(f.dir, "tok380.bin");
    KvError err = {0};
    cr_assert_eq(tu_write_tokenizer(path, 380, &err), KV_OK, "%s", err.msg);
    generate_bad(f.model, path, (const char *[]){path, "vocabulary", NULL});
    free(path);
    files_free(&f);
}

Test(cli, tokenizer_piece_length_absurd) {
    Files f = files_new();
    size_t n;
    unsigned char *b = tu_read_file(f.tok, &n);
    int32_t len = 0x7fffffff; // the first piece's length
    memcpy(b + 4 + 4, &len, 4);
    char *path = tu_join(f.dir, "badtok.bin");
    cr_assert(tu_write_file(path, b, n));
    generate_bad(f.model, path, (const char *[]){path, "length", NULL});
    free(b);
    free(path);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Prompts and options

Test(cli, prompt_longer_than_context) {
    Files f = files_new();
    const char *args[] = {"generate",
                          "--model",
                          f.model,
                          "--tokenizer",
                          f.tok,
                          "--prompt",
                          "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
                          "-n",
                          "3",
                          NULL};
    expect_bad(args, (const char *[]){"prompt", NULL});
    files_free(&f);
}

Test(cli, prompt_invalid_utf8) {
    Files f = files_new();
    const char *args[] = {"generate", "--model", f.model, "--tokenizer", f.tok,
                          "--prompt", "caf\xc3", "-n",    "3",           NULL};
    expect_bad(args, (const char *[]){"prompt", "UTF-8", NULL});
    files_free(&f);
}

Test(cli, unknown_option) {
    Files f = files_new();
    const char *args[] = {"generate", "--model", f.model,        "--tokenizer", f.tok,
                          "--prompt", "hi",      "--frobnicate", NULL};
    expect_bad(args, (const char *[]){"--frobnicate", NULL});
    // (`kvscope --frobnicate` goes to the window's own option parser: see command_help)
    files_free(&f);
}

Test(cli, unknown_command) {
    const char *args[] = {"frobnicate", NULL};
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    expect_bad(args, (const char *[]){"frobnicate", NULL});
}

// `kvscope COMMAND --help` prints the usage on stdout and exits 0, for every command; the
// window's own parser rejects an unknown option like any command does.
Test(cli, command_help) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    const char *cmds[] = {"run", "generate", "render", "lesson", "info", "bench"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *args[] = {cmds[i], i % 2 ? "-h" : "--help", NULL};
        TuRun r;
        run(&r, args);
        cr_assert_eq(r.status, 0, "%s --help: exit %d; stderr: %s", cmds[i], r.status, r.err);
        cr_assert(strstr(r.out, "usage: kvscope") != NULL, "%s --help: no usage on stdout",
                  cmds[i]);
        cr_assert(strstr(r.out, cmds[i]) != NULL, "%s --help: the page does not name it", cmds[i]);
        tu_run_free(&r);
    }
    const char *bad[] = {"--frobnicate", NULL};
    expect_bad(bad, (const char *[]){"--frobnicate", NULL});
}

Test(cli, steps_zero) {
    Files f = files_new();
    const char *args[] = {"generate", "--model", f.model, "--tokenizer", f.tok,
                          "--prompt", "hi",      "-n",    "0",           NULL};
    expect_bad(args, (const char *[]){"-n", NULL});
    files_free(&f);
}

Test(cli, steps_negative) {
    Files f = files_new();
    const char *args[] = {"generate", "--model", f.model, "--tokenizer", f.tok,
                          "--prompt", "hi",      "-n",    "-5",          NULL};
    expect_bad(args, (const char *[]){"-n", NULL});
    files_free(&f);
}

Test(cli, steps_not_a_number) {
    Files f = files_new();
    const char *args[] = {"generate", "--model", f.model, "--tokenizer", f.tok,
                          "--prompt", "hi",      "-n",    "12abc",       NULL};
    expect_bad(args, (const char *[]){"-n", NULL});
    const char *args2[] = {"generate", "--model", f.model, "--tokenizer", f.tok,
                           "--prompt", "hi",      "-n",    NULL};
    expect_bad(args2, (const char *[]){"-n", NULL});
    files_free(&f);
}

Test(cli, sampler_values_out_of_range) {
    Files f = files_new();
    const char *opts[][2] = {{"--temperature", "-1"},
                             {"--top-p", "1.5"},
                             {"--top-k", "-2"},
                             {"--temperature", "nan"},
                             {"--seed", "x"}};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        const char *args[] = {"generate", "--model", f.model,    "--tokenizer", f.tok,
                              "--prompt", "hi",      opts[i][0], opts[i][1],    NULL};
        expect_bad(args, (const char *[]){opts[i][0], NULL});
    }
    files_free(&f);
}

// --threads: a count from 1 to 64, and the same text and the same logits' drift (--verify)
// whatever the count.
Test(cli, threads_refused_and_same_text, .timeout = 60) {
    Files f = files_new();
    const char *bad[] = {"0", "65", "-1", "two", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[] = {"generate", "--model", f.model,     "--tokenizer", f.tok,
                              "--prompt", "hi",      "--threads", bad[i],        NULL};
        expect_bad(args, (const char *[]){"--threads", NULL});
    }
    char *first = NULL;
    for (int t = 1; t <= 3; t++) {
        char n[8];
        snprintf(n, sizeof n, "%d", t);
        const char *args[] = {"generate", "--model",  f.model, "--tokenizer", f.tok,
                              "--prompt", "hi",       "-n",    "20",          "--threads",
                              n,          "--verify", NULL};
        TuRun r;
        run(&r, args);
        cr_assert_eq(r.status, 0, "--threads %d: exit %d: %s", t, r.status, r.err);
        cr_assert_gt(r.out_len, 0);
        if (!first)
            first = strdup(r.out);
        else
            cr_assert_str_eq(r.out, first, "--threads %d writes another text", t);
        tu_run_free(&r);
    }
    free(first);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// llama2.c's newer exports

// A version-1 or -2 header (magic 0x616b3432 little-endian: the bytes "24ka") before `payload`.
static char *versioned_model(const Files *f, int version, bool with_weights) {
    unsigned char header[256] = {0};
    uint32_t magic = 0x616b3432u;
    int32_t ver = version;
    int32_t h[7] = {f->cfg.dim,        f->cfg.hidden_dim, f->cfg.n_layers, f->cfg.n_heads,
                    f->cfg.n_kv_heads, f->cfg.vocab_size, f->cfg.seq_len};
    memcpy(header, &magic, 4);
    memcpy(header + 4, &ver, 4);
    memcpy(header + 8, h, sizeof h);
    header[36] = f->cfg.shared_classifier ? 1 : 0;
    TuBuf b = {0};
    tu_buf_add(&b, (const char *)header, 256);
    if (with_weights) {
        // version 1 order: the norms, the embedding, the matrices, the classifier if separate
        float *data = malloc(config_weight_count(&f->cfg) * sizeof(float));
        tu_random_fill(&f->cfg, 5, 1.0f, data);
        ModelWeights w;
        weights_carve(&w, &f->cfg, data);
        size_t d = (size_t)f->cfg.dim, l = (size_t)f->cfg.n_layers, hd = (size_t)f->cfg.hidden_dim;
        size_t kv = (size_t)config_kv_dim(&f->cfg), v = (size_t)f->cfg.vocab_size;
#define ADD(p, n) tu_buf_add(&b, (const char *)(p), (n) * sizeof(float))
        ADD(w.rms_att, l * d);
        ADD(w.rms_ffn, l * d);
        ADD(w.rms_final, d);
        ADD(w.token_embedding, v * d);
        ADD(w.wq, l * d * d);
        ADD(w.wk, l * kv * d);
        ADD(w.wv, l * kv * d);
        ADD(w.wo, l * d * d);
        ADD(w.w1, l * hd * d);
        ADD(w.w2, l * d * hd);
        ADD(w.w3, l * hd * d);
        if (!f->cfg.shared_classifier)
            ADD(w.wcls, v * d);
#undef ADD
        free(data);
    }
    char name[32];
    snprintf(name, sizeof name, "v%d.bin", version);
    char *path = tu_join(f->dir, name);
    cr_assert(tu_write_file(path, b.s, b.len));
    free(b.s);
    return path;
}

Test(cli, llama2c_version2_recognised) {
    Files f = files_new();
    char *path = versioned_model(&f, 2, false);
    generate_bad(path, f.tok, (const char *[]){path, "version 2", NULL});
    free(path);
    files_free(&f);
}

// A version-1 export of the same weights generates the same text as the version-0 file.
Test(cli, llama2c_version1_same_as_version0, .timeout = 60) {
    Files f = files_new();
    char *path = versioned_model(&f, 1, true);
    TuRun a, b;
    const char *args0[] = {"generate", "--model", f.model, "--tokenizer",   f.tok, "--prompt",
                           "the cat",  "-n",      "12",    "--temperature", "0",   NULL};
    const char *args1[] = {"generate", "--model", path, "--tokenizer",   f.tok, "--prompt",
                           "the cat",  "-n",      "12", "--temperature", "0",   NULL};
    run(&a, args0);
    run(&b, args1);
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_eq(b.status, 0, "version 1: %s", b.err);
    cr_assert_gt(a.out_len, 1u);
    cr_assert_str_eq(a.out, b.out);
    tu_run_free(&a);
    tu_run_free(&b);
    free(path);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Good runs: info, generate, trace

// The executable links no drawing library: generate and info start without SDL, cairo, pango,
// FFmpeg or the drawing module (the dynamic loader's own log, LD_DEBUG=libs, lists every object
// it loads); render loads the module, found beside the executable, and the libraries with it.
Test(cli, only_the_commands_that_draw_load_the_drawing_libraries) {
    Files f = files_new();
    setenv("LD_DEBUG", "libs", 1); // this test's own process: Criterion runs each in one
    static const char *const drawing[] = {"libSDL2", "libcairo", "libpango", "libavcodec",
                                          UI_MODULE_FILE};
    const char *gen[] = {"generate", "--model", f.model, "--tokenizer", f.tok,
                         "--prompt", "a",       "-n",    "2",           NULL};
    const char *info[] = {"info", "--model", f.model, "--tokenizer", f.tok, NULL};
    const char *const *compute[] = {gen, info};
    TuRun r;
    for (int k = 0; k < 2; k++) {
        run(&r, compute[k]);
        cr_assert_eq(r.status, 0, "%s", r.err);
        cr_assert(strstr(r.err, "libc.so") != NULL, "no loader log (LD_DEBUG):\n%s", r.err);
        for (size_t i = 0; i < sizeof drawing / sizeof drawing[0]; i++)
            cr_assert(strstr(r.err, drawing[i]) == NULL, "%s loads %s", compute[k][0], drawing[i]);
        tu_run_free(&r);
    }
    char *png = tu_join(f.dir, "one.png");
    const char *render[] = {"render", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                            "a",      "--steps", "1",     "-o",          png,   NULL};
    run(&r, render);
    cr_assert_eq(r.status, 0, "%s", r.err);
    for (size_t i = 0; i < sizeof drawing / sizeof drawing[0]; i++)
        cr_assert(strstr(r.err, drawing[i]) != NULL, "render does not load %s", drawing[i]);
    tu_run_free(&r);
    unsetenv("LD_DEBUG");
    free(png);
    files_free(&f);
}

Test(cli, info_reports_the_configuration) {
    Files f = files_new();
    const char *args[] = {"info", "--model", f.model, "--tokenizer", f.tok, NULL};
    TuRun r;
    run(&r, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(!tu_has_sanitizer_report(r.err), "%s", r.err);
    char want[64];
    snprintf(want, sizeof want, "%zu", config_param_count(&f.cfg));
    cr_assert(strstr(r.out, want) != NULL, "parameter count %s not in:\n%s", want, r.out);
    snprintf(want, sizeof want, "%zu", config_kv_bytes_per_token(&f.cfg));
    cr_assert(strstr(r.out, want) != NULL, "KV bytes per token %s not in:\n%s", want, r.out);
    cr_assert(strstr(r.out, "engine_weights float32") != NULL, "random weights are not bfloat16");
    tu_run_free(&r);

    // the same model rounded to bfloat16: the engine keeps half the bytes, and says so
    Model m;
    KvError err = {0};
    cr_assert_eq(model_load(&m, f.model, &err), KV_OK, "%s", err.msg);
    model_round_bf16(&m);
    cr_assert(model_weights_bf16(&m));
    char *half = tu_join(f.dir, "half.bin");
    cr_assert_eq(model_write(half, &m.cfg, &m.w, &err), KV_OK, "%s", err.msg);
    args[2] = half;
    run(&r, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "engine_weights bfloat16") != NULL, "not reported:\n%s", r.out);
    tu_run_free(&r);
    model_free(&m);
    free(half);
    files_free(&f);
}

// Splits one RFC 4180 record at *p into at most max fields (owned); -1 on bad quoting.
static int csv_record(const char **p, char **fields, int max) {
    int n = 0;
    const char *s = *p;
    for (;;) {
        TuBuf b = {0};
        tu_buf_add(&b, "", 0);
        if (*s == '"') {
            for (s++;; s++) {
                if (!*s) {
                    free(b.s);
                    return -1;
                }
                if (*s == '"') {
                    if (s[1] != '"')
                        break;
                    s++;
                }
                tu_buf_add(&b, s, 1);
            }
            s++;
        } else {
            while (*s && *s != ',' && *s != '\n' && *s != '\r')
                tu_buf_add(&b, s++, 1);
        }
        if (n < max)
            fields[n] = b.s;
        else
            free(b.s);
        n++;
        if (*s != ',')
            break;
        s++;
    }
    if (*s == '\r')
        s++;
    if (*s == '\n')
        s++;
    *p = s;
    return n;
}

// A model that greedily generates only tokens whose text needs quoting: a tokenizer whose merge
// pieces hold commas, quotes and line breaks, and a classifier that is zero for every other id.
Test(cli, trace_csv, .timeout = 60) {
    Files f = files_new();
    // tokenizer: tok400's layout with awkward merge pieces
    const char *pieces[CLI_VOCAB];
    float scores[CLI_VOCAB];
    char *buf = malloc((size_t)CLI_VOCAB * 64);
    tu_tok_pieces(CLI_VOCAB, pieces, scores, buf);
    bool awkward[CLI_VOCAB] = {0};
    for (int id = 259; id < 259 + 46; id++) {
        int m = id - 259;
        char *p = buf + 64 * id;
        const char *forms[] = {",%c", "\"%c\"", "%c\n", "%c,\"\r\n"};
        snprintf(p, 64, forms[m % 4], 'a' + m / 4);
        pieces[id] = p;
        awkward[id] = true;
    }
    Tokenizer t;
    KvError err = {0};
    cr_assert_eq(tokenizer_build(&t, CLI_VOCAB, pieces, scores, &err), KV_OK, "%s", err.msg);
    char *tok_path = tu_join(f.dir, "awkward.bin");
    cr_assert_eq(tokenizer_write(&t, tok_path, &err), KV_OK, "%s", err.msg);
    // model: the classifier row of every id that is not awkward is zero
    float *data = malloc(config_weight_count(&f.cfg) * sizeof(float));
    tu_random_fill(&f.cfg, 5, 1.0f, data);
    ModelWeights w;
    weights_carve(&w, &f.cfg, data);
    for (int id = 0; id < CLI_VOCAB; id++)
        if (!awkward[id])
            memset(w.wcls + (size_t)id * f.cfg.dim, 0, f.cfg.dim * sizeof(float));
    char *model_path = tu_join(f.dir, "awkward-model.bin");
    cr_assert_eq(model_write(model_path, &f.cfg, &w, &err), KV_OK, "%s", err.msg);
    free(data);

    char *csv_path = tu_join(f.dir, "trace.csv");
    const int steps = 10;
    const char *args[] = {"generate", "--model",  model_path, "--tokenizer", tok_path,
                          "--prompt", "a, \"b\"", "-n",       "10",          "--temperature",
                          "0",        "--trace",  csv_path,   NULL};
    TuRun r;
    run(&r, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(!tu_has_sanitizer_report(r.err), "%s", r.err);
    char *csv = (char *)tu_read_file(csv_path, NULL);
    cr_assert_not_null(csv, "no trace written");

    const char *p = csv;
    char *fl[16];
    int nf = csv_record(&p, fl, 16);
    cr_assert_eq(nf, 15);
    const char *names[] = {"step",
                           "phase",
                           "pos",
                           "token_id",
                           "token",
                           "mode",
                           "flops_step",
                           "flops_total",
                           "kv_bytes",
                           "step_ns",
                           "kv_resident_bytes",
                           "kl_full",
                           "top1_agree",
                           "max_logit_diff",
                           "attn_l1"};
    for (int i = 0; i < 15; i++) {
        cr_assert_str_eq(fl[i], names[i], "header field %d", i);
        free(fl[i]);
    }
    TuBuf text = {0};
    tu_buf_add(&text, "", 0);
    unsigned long long total = 0;
    int first_pos = -1, n_awkward = 0;
    for (int k = 0; k < steps; k++) {
        nf = csv_record(&p, fl, 16);
        cr_assert_eq(nf, 15, "row %d: %d fields", k, nf);
        cr_assert_eq(atoi(fl[0]), k);
        cr_assert_str_eq(fl[1], k == 0 ? "prefill" : "decode");
        if (k == 0)
            first_pos = atoi(fl[2]);
        cr_assert_eq(atoi(fl[2]), first_pos + k, "row %d pos", k);
        int id = atoi(fl[3]);
        cr_assert(id >= 0 && id < CLI_VOCAB);
        n_awkward += awkward[id];
        cr_assert_str_eq(fl[4], t.pieces[id], "row %d: token text of id %d", k, id);
        tu_buf_add(&text, fl[4], strlen(fl[4]));
        unsigned long long fs = strtoull(fl[6], NULL, 10), ft = strtoull(fl[7], NULL, 10);
        total += fs;
        cr_assert_gt(fs, 0ull);
        cr_assert_eq(ft, total, "row %d: flops_total %llu, sum of flops_step %llu", k, ft, total);
        uint64_t want[FLOP_COMPONENTS], sum = 0;
        int pos = first_pos + k;
        tu_flops(&f.cfg, k == 0 ? 0 : pos, k == 0 ? pos + 1 : 1, 1, want);
        for (int c = 0; c < FLOP_COMPONENTS; c++)
            sum += want[c];
        cr_assert_eq(fs, sum, "row %d: flops_step %llu, closed form %llu", k, fs,
                     (unsigned long long)sum);
        for (int i = 0; i < 15; i++)
            free(fl[i]);
    }
    cr_assert_eq(*p, '\0', "trailing data after %d rows", steps);
    cr_assert_eq(n_awkward, steps, "the model should generate only awkward tokens");
    // stdout holds the same text (plus one newline)
    cr_assert(r.out_len == text.len + 1 && memcmp(r.out, text.s, text.len) == 0,
              "stdout is not the trace's tokens");
    free(text.s);
    free(csv);
    tu_run_free(&r);
    tokenizer_free(&t);
    free(buf);
    free(csv_path);
    free(model_path);
    free(tok_path);
    files_free(&f);
}

// --no-cache produces the same text and a table on stderr, one row per step.
Test(cli, no_cache_same_text, .timeout = 60) {
    Files f = files_new();
    const char *a1[] = {"generate", "--model", f.model, "--tokenizer", f.tok,
                        "--prompt", "hello",   "-n",    "20",          "--temperature",
                        "0.8",      "--seed",  "9",     NULL};
    const char *a2[] = {"generate", "--model", f.model, "--tokenizer", f.tok,
                        "--prompt", "hello",   "-n",    "20",          "--temperature",
                        "0.8",      "--seed",  "9",     "--no-cache",  NULL};
    TuRun r1, r2;
    run(&r1, a1);
    run(&r2, a2);
    cr_assert_eq(r1.status, 0, "%s", r1.err);
    cr_assert_eq(r2.status, 0, "%s", r2.err);
    cr_assert_str_eq(r1.out, r2.out);
    cr_assert_geq(tu_count_lines(r1.err), 21, "a table row per step on stderr");
    tu_run_free(&r1);
    tu_run_free(&r2);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// --cache: one parser for run, generate and render (and the lessons)

static void cache_bad(const char *command, const char *spec, const char *need) {
    Files f = files_new();
    const char *gen[] = {"generate", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                         "hi",       "-n",      "3",     "--cache",     spec,  NULL};
    const char *ren[] = {"render",
                         "--model",
                         f.model,
                         "--tokenizer",
                         f.tok,
                         "--prompt",
                         "hi",
                         "--steps",
                         "2",
                         "--cache",
                         spec,
                         "-o",
                         "/tmp/kvscope-never.png",
                         NULL};
    const char *win[] = {"run", "--model", f.model, "--tokenizer", f.tok, "--cache", spec, NULL};
    const char *const *args = strcmp(command, "generate") == 0 ? gen
                              : strcmp(command, "render") == 0 ? ren
                                                               : win;
    expect_bad(args, (const char *[]){"kvscope: --cache: ", need, NULL});
    files_free(&f);
}

Test(cli, cache_malformed) {
    cache_bad("generate", "window", "expected full, window:W");
    cache_bad("generate", "lru:8", "unknown policy");
    cache_bad("render", "sinks:4", "two sizes");
    cache_bad("run", "h2o:1,2,3", "expected full");
}

Test(cli, cache_zero_or_negative) {
    cache_bad("generate", "window:0", "W must be at least 1");
    cache_bad("generate", "sinks:0,8", "S must be at least 1");
    cache_bad("render", "sinks:4,-2", "W must be at least 1");
    cache_bad("run", "h2o:-1,4", "H must be at least 1");
}

Test(cli, cache_not_a_number) {
    cache_bad("generate", "window:eight", "W is not a whole number");
    cache_bad("render", "h2o:4,4.5", "R is not a whole number");
    cache_bad("run", "sinks:x,4", "S is not a whole number");
}

Test(cli, cache_budget_larger_than_the_context) {
    cache_bad("generate", "window:33", "more than the model's context of 32");
    cache_bad("render", "sinks:4,29", "more than the model's context of 32");
    cache_bad("generate", "h2o:16,17", "more than the model's context of 32");
}

Test(cli, cache_needs_a_value) {
    Files f = files_new();
    const char *args[] = {"generate", "--model", f.model,   "--tokenizer", f.tok,
                          "--prompt", "hi",      "--cache", NULL};
    expect_bad(args, (const char *[]){"--cache", "needs a value", NULL});
    files_free(&f);
}

// A bounded cache: the drift from the full cache at the end, and in the trace's columns.
Test(cli, generate_cache_prints_drift_and_traces_it) {
    Files f = files_new();
    char *csv_path = tu_join(f.dir, "t.csv");
    const char *args[] = {"generate", "--model",     f.model,  "--tokenizer", f.tok,
                          "--prompt", "hello there", "-n",     "12",          "--cache",
                          "window:4", "--trace",     csv_path, NULL};
    TuRun r;
    run(&r, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *d = strstr(r.err, "drift cache=window:4 steps=12 kl_mean=");
    cr_assert_not_null(d, "%s", r.err);
    cr_assert(strstr(d, "top1_agree=") && strstr(d, "attn_l1_mean="), "%s", d);
    char *csv = (char *)tu_read_file(csv_path, NULL);
    cr_assert_not_null(csv);
    const char *p = csv;
    char *fl[16];
    int nf = csv_record(&p, fl, 16);
    for (int i = 0; i < nf; i++)
        free(fl[i]);
    for (int k = 0; k < 12; k++) {
        nf = csv_record(&p, fl, 16);
        cr_assert_eq(nf, 15);
        cr_assert_neq(fl[11][0], '\0', "row %d: kl_full empty", k);
        cr_assert(strcmp(fl[12], "0") == 0 || strcmp(fl[12], "1") == 0);
        cr_assert_geq(strtod(fl[11], NULL), 0.0);
        cr_assert_geq(strtod(fl[14], NULL), 0.0);
        // resident bytes flat at 4 positions once the window is full
        if (k > 0)
            cr_assert_eq(strtoull(fl[10], NULL, 10), 4ull * 2 * 2 * 16 * 4, "row %d", k);
        for (int i = 0; i < nf; i++)
            free(fl[i]);
    }
    free(csv);
    free(csv_path);
    tu_run_free(&r);
    files_free(&f);
}

// A quantized cache with full retention gets the same drift shadow (the full f32 cache on the
// same tokens): the line at the end and the trace's columns, KL above 0 on some step.
Test(cli, generate_kv_prints_drift_and_traces_it) {
    Files f = files_new();
    char *csv_path = tu_join(f.dir, "t.csv");
    const char *args[] = {"generate", "--model",     f.model,  "--tokenizer", f.tok,
                          "--prompt", "hello there", "-n",     "8",           "--kv",
                          "int4",     "--trace",     csv_path, NULL};
    TuRun r;
    run(&r, args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *d = strstr(r.err, "drift cache=full steps=8 kl_mean=");
    cr_assert_not_null(d, "%s", r.err);
    cr_assert(strstr(d, "attn_l1_mean=") && strstr(d, " kv=int4\n"), "%s", d);
    char *csv = (char *)tu_read_file(csv_path, NULL);
    cr_assert_not_null(csv);
    const char *p = csv;
    char *fl[16];
    int nf = csv_record(&p, fl, 16);
    for (int i = 0; i < nf; i++)
        free(fl[i]);
    double kl_max = 0;
    for (int k = 0; k < 8; k++) {
        nf = csv_record(&p, fl, 16);
        cr_assert_eq(nf, 15);
        cr_assert_neq(fl[11][0], '\0', "row %d: kl_full empty", k);
        cr_assert_neq(fl[14][0], '\0', "row %d: attn_l1 empty", k);
        const double kl = strtod(fl[11], NULL);
        cr_assert_geq(kl, 0.0);
        kl_max = kl > kl_max ? kl : kl_max;
        for (int i = 0; i < nf; i++)
            free(fl[i]);
    }
    cr_assert_gt(kl_max, 0.0, "int4 moved the distribution on some step");
    free(csv), free(csv_path);
    tu_run_free(&r);
    files_free(&f);
}
