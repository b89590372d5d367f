// test_robust.c — issue 12's defects, each through the command line where a user meets it: a
// hostile or unlucky input (tiny temperatures, overflowing or oversized models, FIFOs, huge
// prompts and lessons, outputs that are inputs, full disks, signals, symlinks) must give exit 2
// (1 for a failed write), exactly one line `kvscope: <what>: <why>` on stderr, no sanitizer
// report, no temporary file left behind and no existing file changed.
#define _GNU_SOURCE // posix_openpt, ptsname
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

TestSuite(robust, .fini = tu_leak_check, .timeout = 120);

#define VOCAB 400

typedef TuFiles Files;

static Files files_with(ModelConfig c) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    Files f;
    KvError err = {0};
    cr_assert_eq(tu_files_new(&f, c, &err), KV_OK, "%s", err.msg);
    return f;
}

static Files files_new(void) {
    return files_with(tu_config(32, 64, 2, 4, 2, VOCAB, 32, false));
}

static void files_free(Files *f) {
    tu_files_free(f);
}

// Runs kvscope with args (NULL-terminated, without the program); stdout goes to out_path when
// it is not NULL (e.g. /dev/full), else it is captured.
static void run_to(TuRun *r, const char *const *args, const char *out_path, int timeout_s) {
    char *argv[64];
    tu_kvscope_argv(argv, 64, args);
    if (!out_path) {
        cr_assert(tu_run(argv, timeout_s, r), "cannot run %s", argv[0]);
        return;
    }
    memset(r, 0, sizeof *r);
    char *dir = tu_tmpdir();
    char *err_path = tu_join(dir, "stderr");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    r->out = calloc(1, 1);
    r->err = (char *)tu_read_file(err_path, &r->err_len);
    if (!r->err)
        r->err = calloc(1, 1);
    free(err_path);
    tu_rmtree(dir);
}

// Exit `status`, one line "kvscope: ..." holding every one of need (NULL-terminated).
// `generate` writes its per-step table to stderr (DESIGN.md): its lines, which start with a
// space or a digit, come before the one message checked here.
static void check_fail(const TuRun *r, int status, const char *const *need) {
    cr_assert(!tu_has_sanitizer_report(r->err), "sanitizer report:\n%s", r->err);
    cr_assert_eq(r->status, status, "exit status %d, want %d; stderr: %s", r->status, status,
                 r->err);
    const char *msg = r->err;
    while (*msg == ' ' || (*msg >= '0' && *msg <= '9')) {
        const char *nl = strchr(msg, '\n');
        msg = nl ? nl + 1 : msg + strlen(msg);
    }
    cr_assert_eq(tu_count_lines(msg), 1, "want one line on stderr, got:\n%s", r->err);
    cr_assert(strncmp(msg, "kvscope: ", 9) == 0, "stderr does not start \"kvscope: \": %s", r->err);
    for (int i = 0; need[i]; i++)
        cr_assert(strstr(msg, need[i]) != NULL, "stderr \"%s\" does not mention \"%s\"", msg,
                  need[i]);
}

static void expect_fail(const char *const *args, int status, const char *const *need) {
    TuRun r;
    run_to(&r, args, NULL, 60);
    check_fail(&r, status, need);
    tu_run_free(&r);
}

// The names in dir, sorted, one per line (owned): to show nothing was left or changed.
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}
static char *listing(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
    char *names[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    TuBuf b = {0};
    for (int i = 0; i < n; i++) {
        tu_buf_add(&b, names[i], strlen(names[i]));
        tu_buf_add(&b, "\n", 1);
        free(names[i]);
    }
    if (!b.s)
        tu_buf_add(&b, "", 0);
    return b.s ? b.s : strdup("");
}

static void expect_listing(const char *dir, const char *before) {
    char *now = listing(dir);
    cr_assert_str_eq(now, before, "%s changed:\nbefore:\n%safter:\n%s", dir, before, now);
    free(now);
}

static char *file_digest(const char *path) {
    char hex[65];
    cr_assert(tu_sha256_file(path, hex), "cannot read %s", path);
    return strdup(hex);
}

static void write_text(const char *path, const char *text) {
    cr_assert(tu_write_file(path, text, strlen(text)));
}

// A model whose matrices are scaled by `gain`: with 1e15 its first layer overflows to infinity.
static char *huge_model(const Files *f, const char *name, float gain) {
    float *data = malloc(config_weight_count(&f->cfg) * sizeof(float));
    tu_random_fill(&f->cfg, 9, gain, data);
    char *path = tu_join(f->dir, name);
    KvError err = {0};
    cr_assert_eq(tu_write_checkpoint(path, &f->cfg, data, &err), KV_OK, "%s", err.msg);
    free(data);
    return path;
}

// ----------------------------------------------------------------------------------------------
// D1: every positive temperature works

Test(robust, d1_tiny_temperature_samples_like_greedy) {
    Files f = files_new();
    const char *temps[] = {"1e-40", "1e-30", "1.4e-45"};
    const char *topk[] = {"0", "5"};
    TuRun g;
    run_to(&g,
           (const char *[]){"generate", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                            "once upon", "-n", "12", "--temperature", "0", NULL},
           NULL, 60);
    cr_assert_eq(g.status, 0, "%s", g.err);
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < 2; k++) {
            TuRun r;
            run_to(&r,
                   (const char *[]){"generate", "--model", f.model, "--tokenizer", f.tok,
                                    "--prompt", "once upon", "-n", "12", "--temperature", temps[i],
                                    "--top-k", topk[k], NULL},
                   NULL, 60);
            cr_assert(!tu_has_sanitizer_report(r.err), "%s", r.err);
            cr_assert_eq(r.status, 0, "T=%s: %s", temps[i], r.err);
            // as T -> 0 the distribution is all on the most probable token: greedy's text
            cr_assert_str_eq(r.out, g.out, "T=%s top-k %s", temps[i], topk[k]);
            tu_run_free(&r);
        }
    tu_run_free(&g);
    files_free(&f);
}

Test(robust, d1_tiny_temperature_in_a_lesson) {
    Files f = files_new();
    char *lesson = tu_join(f.dir, "t.lesson");
    char *pdf = tu_join(f.dir, "t.pdf");
    write_text(lesson, "prompt once upon\ntemperature 1e-40\ntop-k 5\nstep 5\ncaption Tiny\n"
                       "text A tiny temperature.\nbeat\n");
    TuRun r;
    run_to(&r,
           (const char *[]){"lesson", lesson, "--model", f.model, "--tokenizer", f.tok, "--pdf",
                            pdf, NULL},
           NULL, 60);
    cr_assert(!tu_has_sanitizer_report(r.err), "%s", r.err);
    cr_assert_eq(r.status, 0, "%s", r.err);
    struct stat sb;
    cr_assert_eq(stat(pdf, &sb), 0);
    tu_run_free(&r);
    free(lesson);
    free(pdf);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// D2: non-finite activations stop every front end with one line

Test(robust, d2_overflowing_model_in_every_front_end) {
    Files f = files_new();
    char *m = huge_model(&f, "huge.bin", 1e15f);
    char *png = tu_join(f.dir, "out.png");
    char *pdf = tu_join(f.dir, "deck.pdf");
    char *lesson = tu_join(f.dir, "t.lesson");
    write_text(lesson, "prompt once upon\nstep 3\ncaption Huge\ntext Weights.\nbeat\n");
    char *before = listing(f.dir);
    const char *need[] = {m, "produces non-finite values at layer 1, position", NULL};
    expect_fail((const char *[]){"generate", "--model", m, "--tokenizer", f.tok, "--prompt",
                                 "once upon", "-n", "4", NULL},
                2, need);
    expect_fail((const char *[]){"generate", "--model", m, "--tokenizer", f.tok, "--prompt",
                                 "once upon", "-n", "4", "--no-cache", "--verify", NULL},
                2, need);
    expect_fail((const char *[]){"render", "--model", m, "--tokenizer", f.tok, "--prompt",
                                 "once upon", "--steps", "3", "-o", png, NULL},
                2, need);
    expect_fail(
        (const char *[]){"lesson", lesson, "--model", m, "--tokenizer", f.tok, "--pdf", pdf, NULL},
        2, need);
    expect_listing(f.dir, before);
    // the window: the steps it takes before opening (the dummy video driver needs no display)
    setenv("SDL_VIDEODRIVER", "dummy", 1);
    expect_fail((const char *[]){"run", "--model", m, "--tokenizer", f.tok, "--prompt", "once upon",
                                 "--steps", "2", NULL},
                2, need);
    free(before);
    free(lesson);
    free(pdf);
    free(png);
    free(m);
    files_free(&f);
}

Test(robust, d2_large_but_finite_model_still_runs) {
    Files f = files_new();
    char *m = huge_model(&f, "big.bin", 30.0f); // large weights, finite activations
    TuRun r;
    run_to(&r,
           (const char *[]){"generate", "--model", m, "--tokenizer", f.tok, "--prompt", "once upon",
                            "-n", "4", NULL},
           NULL, 60);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    free(m);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// D9: every write to stdout is checked

Test(robust, d9_stdout_on_a_full_disk) {
    Files f = files_new();
    const char *need[] = {"stdout: No space left on device", NULL};
    TuRun r;
    run_to(&r,
           (const char *[]){"generate", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                            "once upon", "-n", "4", NULL},
           "/dev/full", 60);
    check_fail(&r, 1, need);
    tu_run_free(&r);
    run_to(&r, (const char *[]){"info", "--model", f.model, "--tokenizer", f.tok, NULL},
           "/dev/full", 60);
    check_fail(&r, 1, need);
    tu_run_free(&r);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// D3: what a model needs is checked against the machine before anything is allocated

Test(robust, d3_model_larger_than_memory_refused) {
    Files f = files_new();
    // a few MB of weights, but hidden 65536 and a context of 65536: the activations of one pass
    // alone are 32 GiB, the attention history more
    ModelConfig c = tu_config(4, 65536, 4, 2, 1, VOCAB, 65536, true);
    char *m = tu_join(f.dir, "wide.bin");
    KvError err = {0};
    cr_assert_eq(tu_write_random_checkpoint(m, &c, 3, &err), KV_OK, "%s", err.msg);
    ModelMemory mem;
    config_memory(&c, &mem);
    cr_assert_gt(mem.total, kv_memory_available(), "this machine could run it: test is void");
    expect_fail((const char *[]){"generate", "--model", m, "--tokenizer", f.tok, "--prompt", "hi",
                                 "-n", "2", NULL},
                2, (const char *[]){m, "needs", "GiB of memory", "available", NULL});
    expect_fail((const char *[]){"info", "--model", m, "--tokenizer", f.tok, NULL}, 2,
                (const char *[]){m, "needs", NULL});
    free(m);
    files_free(&f);
}

Test(robust, d3_step_record_within_the_estimate) {
    cr_assert_leq(sizeof(StepRecord), KV_STEP_RECORD_BYTES);
}

// ----------------------------------------------------------------------------------------------
// D4: a huge file with a bad header is refused from its header and size, unread

Test(robust, d4_huge_file_refused_from_its_header) {
    Files f = files_new();
    size_t n;
    unsigned char *good = tu_read_file(f.model, &n);
    cr_assert_not_null(good);
    char *m = tu_join(f.dir, "huge.bin");
    int fd = open(m, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, good, 28), 28); // a valid header ...
    // ... in a 64 GiB (sparse) file: reading it whole would take minutes or fail to allocate
    cr_assert_eq(ftruncate(fd, (off_t)64 << 30), 0, "%s", strerror(errno));
    close(fd);
    TuRun r;
    run_to(&r, (const char *[]){"info", "--model", m, "--tokenizer", f.tok, NULL}, NULL, 20);
    check_fail(&r, 2, (const char *[]){m, "longer than its header implies", NULL});
    tu_run_free(&r);
    // a bad header in the same file
    fd = open(m, O_WRONLY);
    int32_t zero = 0;
    cr_assert_eq(write(fd, &zero, 4), 4);
    close(fd);
    run_to(&r, (const char *[]){"info", "--model", m, "--tokenizer", f.tok, NULL}, NULL, 20);
    check_fail(&r, 2, (const char *[]){m, "dim = 0", NULL});
    tu_run_free(&r);
    free(good);
    free(m);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// D12: only regular files are read

Test(robust, d12_fifo_directory_device_refused) {
    Files f = files_new();
    char *fifo = tu_join(f.dir, "fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0, "%s", strerror(errno));
    const char *bad[] = {fifo, f.dir, "/dev/zero", "/dev/null"};
    for (size_t i = 0; i < 4; i++) {
        TuRun r;
        // a FIFO used to block forever: the short timeout makes that a failure here
        run_to(&r, (const char *[]){"info", "--model", bad[i], "--tokenizer", f.tok, NULL}, NULL,
               10);
        check_fail(&r, 2, (const char *[]){bad[i], "not a regular file", NULL});
        tu_run_free(&r);
        run_to(&r, (const char *[]){"info", "--model", f.model, "--tokenizer", bad[i], NULL}, NULL,
               10);
        check_fail(&r, 2, (const char *[]){bad[i], "not a regular file", NULL});
        tu_run_free(&r);
    }
    // a lesson file too
    TuRun r;
    run_to(
        &r,
        (const char *[]){"lesson", fifo, "--check", "--model", f.model, "--tokenizer", f.tok, NULL},
        NULL, 10);
    check_fail(&r, 2, (const char *[]){fifo, "not a regular file", NULL});
    tu_run_free(&r);
    free(fifo);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// D5: a prompt that cannot fit is refused before encoding; encoding is O(n log n) and still
// gives llama2.c's ids

Test(robust, d5_huge_prompt_refused_at_once) {
    Files f = files_new();
    size_t n = 120000;
    char *prompt = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        prompt[i] = "abcdefgh "[i % 9];
    prompt[n] = '\0';
    TuRun r;
    // quadratic encoding took minutes here: the timeout turns that into a failure
    run_to(&r,
           (const char *[]){"generate", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                            prompt, "-n", "2", NULL},
           NULL, 10);
    check_fail(&r, 2, (const char *[]){"prompt", "longer than the model's context", NULL});
    tu_run_free(&r);
    free(prompt);
    files_free(&f);
}

// llama2.c's encoder as run.c writes it: scan for the best pair, merge, repeat (quadratic).
static int reference_encode(const Tokenizer *t, const char *text, int *ids) {
    int n = 0;
    ids[n++] = TOKEN_BOS;
    size_t tlen = strlen(text);
    if (tlen)
        ids[n++] = t->space_id;
    for (size_t i = 0; i < tlen;) {
        unsigned char c = (unsigned char)text[i];
        int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        int id = tokenizer_lookup(t, text + i, (size_t)len);
        if (id >= 0)
            ids[n++] = id;
        else
            for (int b = 0; b < len; b++)
                ids[n++] = (unsigned char)text[i + (size_t)b] + 3;
        i += (size_t)len;
    }
    char buf[256];
    for (;;) {
        float best = -1e10f;
        int best_id = -1, at = -1;
        for (int i = 0; i + 1 < n; i++) {
            snprintf(buf, sizeof buf, "%s%s", t->pieces[ids[i]], t->pieces[ids[i + 1]]);
            int id = tokenizer_lookup(t, buf, strlen(buf));
            if (id >= 0 && t->scores[id] > best)
                best = t->scores[id], best_id = id, at = i;
        }
        if (at < 0)
            break;
        ids[at] = best_id;
        memmove(ids + at + 1, ids + at + 2, (size_t)(n - at - 2) * sizeof(int));
        n--;
    }
    return n;
}

Test(robust, d5_heap_encoder_matches_llama2c_scan) {
    // the test tokenizer, and the same pieces with every merge at one score (ties everywhere:
    // only "leftmost first" decides)
    const char *pieces[VOCAB];
    float scores[VOCAB], flat[VOCAB];
    char *buf = malloc((size_t)VOCAB * 64);
    tu_tok_pieces(VOCAB, pieces, scores, buf);
    for (int i = 0; i < VOCAB; i++)
        flat[i] = i < 259 ? scores[i] : -1.0f;
    for (int variant = 0; variant < 2; variant++) {
        Tokenizer t;
        KvError err = {0};
        cr_assert_eq(tokenizer_build(&t, VOCAB, pieces, variant ? flat : scores, &err), KV_OK);
        uint64_t s = 77 + (uint64_t)variant;
        static const char *const alphabet[] = {"a",        "b",  "c", "z",  " ", "e",
                                               "\xc3\xa9", "\n", "q", "ab", "  "};
        for (int trial = 0; trial < 300; trial++) {
            char text[600] = "";
            int len = (int)(kv_rng_u32(&s) % 120);
            for (int k = 0; k < len; k++)
                strcat(text, alphabet[kv_rng_u32(&s) % 11]);
            int want[1400], got[1400], ng = 0;
            int nw = reference_encode(&t, text, want);
            cr_assert_eq(tokenizer_encode(&t, text, true, false, got, 1400, &ng, &err), KV_OK, "%s",
                         err.msg);
            cr_assert_eq(ng, nw, "variant %d, \"%s\": %d ids, want %d", variant, text, ng, nw);
            for (int i = 0; i < nw; i++)
                cr_assert_eq(got[i], want[i], "variant %d, \"%s\": id %d", variant, text, i);
        }
        tokenizer_free(&t);
    }
    // a long prompt is a legitimate input to generate: 400,000 bytes encode in well under the
    // suite's timeout (the quadratic scan needed hours), and decode back to the text
    Tokenizer t;
    KvError err = {0};
    cr_assert_eq(tokenizer_build(&t, VOCAB, pieces, scores, &err), KV_OK);
    size_t n = 400000;
    char *text = malloc(n + 1);
    uint64_t s = 5;
    for (size_t i = 0; i < n; i++)
        text[i] = "abcz q"[kv_rng_u32(&s) % 6];
    text[n] = '\0';
    int *ids = malloc((n + 3) * sizeof(int)), k = 0;
    cr_assert_eq(tokenizer_encode(&t, text, true, false, ids, (int)n + 3, &k, &err), KV_OK);
    cr_assert_lt(k, (int)n, "no merges happened");
    TuBuf back = {0};
    for (int i = 1; i < k; i++) {
        char bb[2];
        size_t len;
        const char *piece = tokenizer_decode(&t, ids[i - 1], ids[i], bb, &len);
        tu_buf_add(&back, piece, len);
    }
    cr_assert(back.len == n && memcmp(back.s, text, n) == 0, "round trip differs");
    free(back.s);
    free(ids);
    free(text);
    tokenizer_free(&t);
    free(buf);
}

// ----------------------------------------------------------------------------------------------
// D6: a lesson's cost is estimated at --check and a lesson over the budget is refused

Test(robust, d6_costly_lesson_refused_at_check) {
    Files f = files_with(tu_config(16, 32, 1, 2, 1, VOCAB, 600, true));
    char *lesson = tu_join(f.dir, "days.lesson");
    TuBuf b = {0};
    const char *head = "prompt once upon\n";
    tu_buf_add(&b, head, strlen(head));
    const char *block = "cache off\nstep 500\nreset\ncache on\n";
    for (int i = 0; i < 100000; i++)
        tu_buf_add(&b, block, strlen(block));
    const char *tail = "caption Days\ntext Of work.\nbeat\n";
    tu_buf_add(&b, tail, strlen(tail));
    cr_assert(tu_write_file(lesson, b.s, b.len));
    free(b.s);
    char *before = listing(f.dir);
    expect_fail((const char *[]){"lesson", lesson, "--check", "--model", f.model, "--tokenizer",
                                 f.tok, NULL},
                2, (const char *[]){lesson, "positions", "over the budget", NULL});
    expect_listing(f.dir, before);
    free(before);
    free(lesson);
    files_free(&f);
}

#include "lesson/lesson.h"

Test(robust, d6_cost_matches_what_the_player_computes) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    ModelConfig c = tu_config(16, 32, 2, 2, 1, VOCAB, 40, true);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 3, &err), KV_OK, "%s", err.msg);
    const char *text = "prompt once upon\nstep 2\ncache off\nstep 3\nback 2\nstep 2\n"
                       "caption A\ntext B.\nbeat\nverify on\nstep 1\ncaption C\ntext D.\nbeat\n";
    static const Preset presets[] = {{0}};
    Lesson l;
    cr_assert_eq(lesson_parse(&l, "x.lesson", text, strlen(text), presets, &err), KV_OK, "%s",
                 err.msg);
    cr_assert_eq(lesson_check(&l, &m, &t, &err), KV_OK, "%s", err.msg);
    LessonCost cost;
    cr_assert_eq(lesson_cost(&l, &m, &t, &cost, &err), KV_OK);
    int ids[40], n = 0;
    cr_assert_eq(tokenizer_encode(&t, "once upon", true, false, ids, 39, &n, &err), KV_OK);
    // prefill n, decode 1; no cache: n+2, n+3, n+4; back 2 and step 2 redo from the records;
    // verified no-cache step n+5 plus the shadow's cached prefill of n+5
    cr_assert_eq(cost.positions, (uint64_t)(6 * n + 20), "%llu, n = %d",
                 (unsigned long long)cost.positions, n);
    cr_assert_eq(cost.steps, 6, "%llu", (unsigned long long)cost.steps); // the redone two are free
    LessonPlayer p;
    lesson_player_init(&p, &l, &s);
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK, "%s", err.msg);
    uint64_t counted = 0, flops = 0;
    for (int i = 0; i < s.n_steps; i++) {
        counted += s.steps[i].counted.positions;
        flops += counters_flops(&s.steps[i].counted);
    }
    // the counters count the main engine; the shadow's n+5 is the rest of the estimate
    cr_assert_eq(counted + (uint64_t)(n + 5), cost.positions);
    uint64_t fl[FLOP_COMPONENTS], shadow = 0;
    flops_formula(&c, 0, n + 5, 1, fl);
    for (int k = 0; k < FLOP_COMPONENTS; k++)
        shadow += fl[k];
    cr_assert_eq(flops + shadow, cost.flops);
    lesson_free(&l);
    tu_session_close(&m, &t, &s);
}

// ----------------------------------------------------------------------------------------------
// D14: one parser per kind of value, the same on the command line and in lessons

Test(robust, d14_numbers_parsed_strictly_everywhere) {
    Files f = files_new();
    const char *gen[] = {"generate", "--model", f.model, "--tokenizer", f.tok,
                         "--prompt", "hi",      NULL,    NULL,          NULL};
    struct {
        const char *opt, *val, *why;
    } bad[] = {{"--seed", " -1", "not a whole number"},
               {"--seed", "-1", "not a whole number"},
               {"--seed", "18446744073709551616", "larger than 2^64 - 1"},
               {"--seed", "0", "0 is not a usable seed"},
               {"-n", " 5", "not a whole number"},
               {"-n", "+5", "not a whole number"},
               {"--temperature", " 1", "not a number"},
               {"--temperature", "nan", "not a number"},
               {"--temperature", "1e999", "not a number"},
               {"--top-k", "99999999999999999999", "not a whole number"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gen[7] = bad[i].opt, gen[8] = bad[i].val;
        expect_fail(gen, 2, (const char *[]){bad[i].opt, bad[i].why, NULL});
    }
    char *lesson = tu_join(f.dir, "s.lesson");
    write_text(lesson, "prompt hi\nstep 1\ncaption A\ntext B.\nbeat\n");
    // 4294967616 wraps to 320 in 32 bits
    expect_fail((const char *[]){"lesson", lesson, "--check", "--size", "4294967616x1080",
                                 "--model", f.model, "--tokenizer", f.tok, NULL},
                2, (const char *[]){"--size", "out of range", NULL});
    expect_fail((const char *[]){"render", "--prompt", "hi", "--steps", "1", "--size", "1920x1080x",
                                 "-o", "x.png", NULL},
                2, (const char *[]){"--size", "not WIDTHxHEIGHT", NULL});
    const char *lines[][2] = {{"seed 0", "0 is not a usable seed"},
                              {"seed  -1", "not a whole number"},
                              {"step +2", "not a whole number"},
                              {"temperature inf", "not a number"}};
    for (size_t i = 0; i < 4; i++) {
        char text[256];
        snprintf(text, sizeof text, "prompt hi\n%s\nstep 1\ncaption A\ntext B.\nbeat\n",
                 lines[i][0]);
        write_text(lesson, text);
        expect_fail((const char *[]){"lesson", lesson, "--check", "--model", f.model, "--tokenizer",
                                     f.tok, NULL},
                    2, (const char *[]){lesson, ":2:", lines[i][1], NULL});
    }
    free(lesson);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Writing files: temporaries, inputs, full disks, signals, frame sets

#include <sys/resource.h>

// Runs kvscope with file writes limited to `limit` bytes (RLIMIT_FSIZE, SIGXFSZ ignored): a
// write past it fails with EFBIG as on a full disk. Output captured as run_to does.
static void run_limited(TuRun *r, const char *const *args, rlim_t limit) {
    char *argv[64];
    tu_kvscope_argv(argv, 64, args);
    memset(r, 0, sizeof *r);
    // stderr through a pipe: a file would be limited too (the outputs here are a few KB)
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct rlimit rl = {limit, limit};
        setrlimit(RLIMIT_FSIZE, &rl);
        signal(SIGXFSZ, SIG_IGN);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0), dup2(nul, 1), dup2(pfd[1], 2);
        close(pfd[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    TuBuf b = {0};
    char chunk[4096];
    ssize_t got;
    while ((got = read(pfd[0], chunk, sizeof chunk)) > 0)
        tu_buf_add(&b, chunk, (size_t)got);
    close(pfd[0]);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    r->out = calloc(1, 1);
    r->err = b.s ? b.s : calloc(1, 1);
    r->err_len = b.len;
}

// D7: the temporary is never a predictable name that someone else can plant a link at
Test(robust, d7_planted_symlinks_at_temporary_names_are_not_followed) {
    Files f = files_new();
    char *victim = tu_join(f.dir, "victim.txt");
    write_text(victim, "someone else's file\n");
    char *out = tu_join(f.dir, "out.png");
    // the old name was out.png.tmp<PID>: plant a link for each of the next PIDs
    FILE *np = fopen("/proc/sys/kernel/ns_last_pid", "r");
    long last = 0;
    if (np) {
        cr_assert_eq(fscanf(np, "%ld", &last), 1);
        fclose(np);
    }
    for (long pid = last + 1; np && pid < last + 400; pid++) {
        char name[64];
        snprintf(name, sizeof name, "out.png.tmp%ld", pid);
        char *link = tu_join(f.dir, name);
        cr_assert_eq(symlink(victim, link), 0);
        free(link);
    }
    char *before = listing(f.dir);
    TuRun r;
    run_to(&r,
           (const char *[]){"render", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                            "once upon", "--steps", "2", "--size", "320x180", "-o", out, NULL},
           NULL, 60);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    size_t n;
    char *text = (char *)tu_read_file(victim, &n);
    cr_assert_str_eq(text, "someone else's file\n", "the victim was overwritten");
    free(text);
    // exactly one new entry, out.png, a regular file: no temporary left
    char *after = listing(f.dir);
    cr_assert_eq(strlen(after), strlen(before) + strlen("out.png\n"), "%s", after);
    struct stat sb;
    cr_assert_eq(lstat(out, &sb), 0);
    cr_assert(S_ISREG(sb.st_mode));
    free(after);
    free(before);
    free(out);
    free(victim);
    files_free(&f);
}

// D8: an output is never one of the inputs, and its name says what it holds
Test(robust, d8_outputs_that_are_inputs_or_misnamed_refused) {
    Files f = files_new();
    char *lesson = tu_join(f.dir, "mine.lesson");
    write_text(lesson, "prompt once upon\nstep 1\ncaption A\ntext B.\nbeat\n");
    char *model_csv = tu_join(f.dir, "model.csv");
    cr_assert_eq(link(f.model, model_csv), 0); // the same file under a CSV name
    char *model_png = tu_join(f.dir, "model.png");
    cr_assert_eq(symlink(f.model, model_png), 0);
    char *lesson_pdf = tu_join(f.dir, "mine.pdf");
    cr_assert_eq(link(lesson, lesson_pdf), 0);
    char *deck_png = tu_join(f.dir, "deck.png");
    char *sums[] = {file_digest(f.model), file_digest(lesson)};
    char *before = listing(f.dir);
    expect_fail((const char *[]){"lesson", lesson, "--pdf", lesson, "--model", f.model,
                                 "--tokenizer", f.tok, NULL},
                2, (const char *[]){lesson, ".pdf", NULL});
    expect_fail((const char *[]){"lesson", lesson, "--pdf", lesson_pdf, "--model", f.model,
                                 "--tokenizer", f.tok, NULL},
                2, (const char *[]){lesson_pdf, "one of this run's inputs", NULL});
    expect_fail((const char *[]){"lesson", lesson, "--pdf", deck_png, "--model", f.model,
                                 "--tokenizer", f.tok, NULL},
                2, (const char *[]){deck_png, "must end in .pdf", NULL});
    expect_fail((const char *[]){"generate", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                                 "hi", "--trace", f.model, NULL},
                2, (const char *[]){f.model, "must end in .csv", NULL});
    expect_fail((const char *[]){"generate", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                                 "hi", "--trace", model_csv, NULL},
                2, (const char *[]){model_csv, "one of this run's inputs", NULL});
    expect_fail((const char *[]){"render", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                                 "hi", "--steps", "1", "-o", model_png, NULL},
                2, (const char *[]){model_png, "one of this run's inputs", NULL});
    expect_listing(f.dir, before);
    char *now[] = {file_digest(f.model), file_digest(lesson)};
    cr_assert_str_eq(now[0], sums[0]);
    cr_assert_str_eq(now[1], sums[1]);
    for (int i = 0; i < 2; i++)
        free(now[i]), free(sums[i]);
    free(before);
    free(deck_png);
    free(lesson_pdf);
    free(model_png);
    free(model_csv);
    free(lesson);
    files_free(&f);
}

// D9 and D14: a full disk is exit 1 for every file a command writes, with nothing left behind
// and an existing file unchanged
Test(robust, d9_full_disk_for_every_output) {
    Files f = files_new();
    char *lesson = tu_join(f.dir, "l.lesson");
    write_text(lesson, "prompt once upon\nstep 2\ncaption A\ntext B.\nbeat\nstep 1\nbeat\n");
    char *png = tu_join(f.dir, "out.png"), *pdf = tu_join(f.dir, "deck.pdf");
    char *csv = tu_join(f.dir, "t.csv"), *frames = tu_join(f.dir, "frames");
    write_text(png, "old picture");
    write_text(pdf, "old deck");
    write_text(csv, "old trace");
    char *sums[] = {file_digest(png), file_digest(pdf), file_digest(csv)};
    char *before = listing(f.dir);
    const char *const *cmds[] = {
        (const char *[]){"render", "--model", f.model, "--tokenizer", f.tok, "--prompt", "hi",
                         "--steps", "2", "--size", "640x360", "-o", png, NULL},
        (const char *[]){"render", "--model", f.model, "--tokenizer", f.tok, "--prompt", "hi",
                         "--steps", "2", "--size", "640x360", "--frames", frames, NULL},
        (const char *[]){"lesson", lesson, "--model", f.model, "--tokenizer", f.tok, "--pdf", pdf,
                         NULL},
        (const char *[]){"lesson", lesson, "--model", f.model, "--tokenizer", f.tok, "--frames",
                         frames, "--size", "640x360", NULL},
        (const char *[]){"generate", "--model", f.model, "--tokenizer", f.tok, "--prompt", "hi",
                         "-n", "20", "--trace", csv, NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        TuRun r;
        run_limited(&r, cmds[i], 200); // 200 bytes: every file fails part way
        check_fail(&r, 1, (const char *[]){"File too large", NULL});
        tu_run_free(&r);
        expect_listing(f.dir, before);
    }
    char *now[] = {file_digest(png), file_digest(pdf), file_digest(csv)};
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(now[i], sums[i]);
        free(now[i]), free(sums[i]);
    }
    free(before);
    free(frames), free(csv), free(pdf), free(png), free(lesson);
    files_free(&f);
}

// D10: a signal while writing leaves no temporary. The child is stopped (SIGSTOP) as soon as a
// temporary is seen and the temporary looked for again while it cannot move, so the signal
// surely lands while it writes; should the child finish between the sighting and the stop, the
// run is tried again (the listing it left is the next one's before).
static void signal_while_writing(const char *const *args, const char *dir, int sig) {
    char *argv[64];
    tu_kvscope_argv(argv, 64, args);
    for (int attempt = 0; attempt < 5; attempt++) {
        char *before = listing(dir);
        int st;
        TuSignalRun run = tu_signal_while_writing(argv, dir, sig, &st);
        cr_assert_neq(run, TU_NOT_STARTED, "cannot start %s", argv[0]);
        cr_assert_neq(run, TU_NO_TEMPORARY, "no temporary appeared (status %d)", st);
        if (run == TU_RAN_OUT) {
            free(before);
            continue;
        }
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == sig, "status %d", st);
        expect_listing(dir, before);
        free(before);
        return;
    }
    cr_assert_fail("five runs finished before a signal could reach them while writing");
}

Test(robust, d10_signals_remove_temporaries, .timeout = 240) {
    Files f = files_new();
    char *lesson = tu_join(f.dir, "long.lesson");
    TuBuf b = {0};
    tu_buf_add(&b, "prompt once upon\n", 17);
    for (int i = 0; i < 150; i++) {
        tu_buf_add(&b, "caption A\ntext B.\nbeat\n", 23);
    }
    cr_assert(tu_write_file(lesson, b.s, b.len));
    free(b.s);
    char *pdf = tu_join(f.dir, "deck.pdf"), *frames = tu_join(f.dir, "frames");
    // (a deck is rendered in memory and written through kv_write_file_atomic at the end: its
    // temporary lives for one write, too short to catch here; the frame sets below hold theirs
    // for the whole run)
    (void)pdf;
    signal_while_writing((const char *[]){"lesson", lesson, "--model", f.model, "--tokenizer",
                                          f.tok, "--frames", frames, NULL},
                         f.dir, SIGINT);
    signal_while_writing((const char *[]){"render", "--model", f.model, "--tokenizer", f.tok,
                                          "--prompt", "hi", "--steps", "25", "--frames", frames,
                                          NULL},
                         f.dir, SIGTERM);
    free(frames), free(pdf), free(lesson);
    files_free(&f);
}

// D11: DIR holds one complete frame set: the old or the new
static int count_in(const char *dir) {
    char *l = listing(dir);
    int n = tu_count_lines(l);
    free(l);
    return n;
}

Test(robust, d11_frame_sets_replace_each_other_whole) {
    Files f = files_new();
    char *frames = tu_join(f.dir, "frames");
    const char *args5[] = {"render",   "--model",  f.model,   "--tokenizer", f.tok,
                           "--prompt", "hi",       "--steps", "5",           "--size",
                           "320x180",  "--frames", frames,    NULL};
    const char *args2[] = {"render",   "--model",  f.model,   "--tokenizer", f.tok,
                           "--prompt", "hi",       "--steps", "2",           "--size",
                           "320x180",  "--frames", frames,    NULL};
    TuRun r;
    run_to(&r, args5, NULL, 60);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    cr_assert_eq(count_in(frames), 5);
    run_to(&r, args2, NULL, 60);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    cr_assert_eq(count_in(frames), 2, "older frames left in the folder"); // was 5
    // a full disk half way: the previous complete set stays
    char *before = listing(f.dir), *inside = listing(frames);
    char *first = tu_join(frames, "frame-0001.png"), *sum = file_digest(first);
    run_limited(&r, args5, 1000);
    check_fail(&r, 1, (const char *[]){"File too large", NULL});
    tu_run_free(&r);
    expect_listing(f.dir, before);
    expect_listing(frames, inside);
    char *sum2 = file_digest(first);
    cr_assert_str_eq(sum, sum2);
    // a folder holding someone's other files is not replaced
    char *note = tu_join(frames, "notes.txt");
    write_text(note, "mine");
    free(inside);
    inside = listing(frames);
    expect_fail(args5, 2, (const char *[]){frames, "notes.txt", "not a frame", NULL});
    expect_listing(frames, inside);
    free(note), free(sum2), free(sum), free(first), free(inside), free(before), free(frames);
    files_free(&f);
}

// D14: output names checked before the work, long paths, info --heads on a short context,
// bench render's error path
Test(robust, d14_output_names_checked_before_the_work) {
    Files f = files_new();
    char name[300];
    memset(name, 'n', 251);
    memcpy(name + 251, ".png", 5); // 255 bytes: the longest name a file can have
    char *ok = tu_join(f.dir, name);
    TuRun r;
    run_to(&r,
           (const char *[]){"render", "--model", f.model, "--tokenizer", f.tok, "--prompt", "hi",
                            "--steps", "1", "--size", "320x180", "-o", ok, NULL},
           NULL, 60);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    struct stat sb;
    cr_assert_eq(stat(ok, &sb), 0);
    memset(name, 'n', 252);
    memcpy(name + 252, ".png", 5); // 256: refused at once
    char *bad = tu_join(f.dir, name);
    expect_fail((const char *[]){"render", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                                 "hi", "--steps", "1", "-o", bad, NULL},
                2, (const char *[]){"file name is too long", NULL});
    // --trace into a missing folder: refused before the run (nothing on stdout)
    char *nodir = tu_join(f.dir, "no/such/t.csv");
    run_to(&r,
           (const char *[]){"generate", "--model", f.model, "--tokenizer", f.tok, "--prompt", "hi",
                            "-n", "5", "--trace", nodir, NULL},
           NULL, 60);
    check_fail(&r, 2, (const char *[]){nodir, "No such file", NULL});
    cr_assert_str_eq(r.out, "", "the run happened before the check");
    tu_run_free(&r);
    free(nodir), free(bad), free(ok);
    files_free(&f);
}

Test(robust, d14_long_frames_paths) {
    Files f = files_new();
    char *lesson = tu_join(f.dir, "l.lesson");
    write_text(lesson, "prompt hi\nstep 1\ncaption A\ntext B.\nbeat\n");
    // 1,100 characters of folders that do not exist yet: fine (the old limit was 1,023)
    TuBuf p = {0};
    tu_buf_add(&p, f.dir, strlen(f.dir));
    while (p.len < 1100)
        tu_buf_add(&p, "/dddddddddddddddddddddddddddddddddddddddddddddddddd", 51);
    char *deep = strdup(p.s);
    TuRun r;
    run_to(&r,
           (const char *[]){"lesson", lesson, "--model", f.model, "--tokenizer", f.tok, "--frames",
                            deep, "--size", "320x180", NULL},
           NULL, 60);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    cr_assert_eq(count_in(deep), 1);
    // past PATH_MAX: refused, and no folder of it left behind
    char *before = listing(f.dir);
    while (p.len < 4200)
        tu_buf_add(&p, "/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", 51);
    char *base = tu_join(f.dir, "x");
    TuBuf q = {0};
    tu_buf_add(&q, base, strlen(base));
    while (q.len < 4200)
        tu_buf_add(&q, "/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", 51);
    expect_fail((const char *[]){"lesson", lesson, "--model", f.model, "--tokenizer", f.tok,
                                 "--frames", q.s, NULL},
                2, (const char *[]){"too long", NULL});
    expect_listing(f.dir, before);
    free(q.s), free(base), free(before), free(p.s), free(deep), free(lesson);
    files_free(&f);
}

Test(robust, d14_info_heads_short_context_and_bench_render_error) {
    Files f = files_new(); // context 32: the narrative preset alone is longer
    TuRun r;
    run_to(&r, (const char *[]){"info", "--heads", "--model", f.model, "--tokenizer", f.tok, NULL},
           NULL, 60);
    cr_assert(!tu_has_sanitizer_report(r.err), "%s", r.err);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "previous-token head"), "%s", r.out);
    tu_run_free(&r);
    // a prompt the session refuses: one line, exit 2, and under ASan no leak on that path
    expect_fail((const char *[]){"bench", "render", "--model", f.model, "--tokenizer", f.tok,
                                 "--prompt",
                                 "a b c d e f g h i j k l m n o p q r s t u v w x y z a "
                                 "b c d e f g h i j k l m n o p q r s t u v w x y z",
                                 NULL},
                2, (const char *[]){"prompt", NULL});
    files_free(&f);
}

// D14: token pieces holding terminal escapes are shown escaped on a terminal
Test(robust, d14_escapes_shown_escaped_on_a_terminal) {
    Files f = files_new();
    // a model that only ever writes <0x1B> (ESC) or <0x1C>: the final norm keeps one feature,
    // whose sign picks row 30 or 31 of the classifier; every other logit is 0
    float *data = malloc(config_weight_count(&f.cfg) * sizeof(float));
    tu_random_fill(&f.cfg, 4, 1.0f, data);
    ModelWeights w;
    weights_carve(&w, &f.cfg, data);
    const int D = f.cfg.dim;
    memset(w.rms_final, 0, (size_t)D * sizeof(float));
    w.rms_final[0] = 1.0f;
    memset(w.wcls, 0, (size_t)f.cfg.vocab_size * D * sizeof(float));
    w.wcls[30 * D] = 5.0f;
    w.wcls[31 * D] = -5.0f;
    char *m = tu_join(f.dir, "esc.bin");
    KvError err = {0};
    cr_assert_eq(tu_write_checkpoint(m, &f.cfg, data, &err), KV_OK, "%s", err.msg);
    free(data);
    const char *args[] = {"generate", "--model", m,    "--tokenizer", f.tok,
                          "--prompt", "hi",      "-n", "6",           NULL};
    TuRun r; // into a file: the bytes as they are
    run_to(&r, args, NULL, 60);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strchr(r.out, 0x1b) || strchr(r.out, 0x1c), "no control byte generated");
    tu_run_free(&r);
    // on a terminal: escaped
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert_geq(master, 0);
    cr_assert_eq(grantpt(master), 0);
    cr_assert_eq(unlockpt(master), 0);
    char *argv[16];
    tu_kvscope_argv(argv, 16, args);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, ptsname(master), O_WRONLY | O_NOCTTY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    TuBuf out = {0};
    char buf[1024];
    ssize_t got;
    while ((got = read(master, buf, sizeof buf)) > 0)
        tu_buf_add(&out, buf, (size_t)got);
    int st;
    waitpid(pid, &st, 0);
    close(master);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_not_null(out.s);
    cr_assert(!memchr(out.s, 0x1b, out.len) && !memchr(out.s, 0x1c, out.len),
              "raw control bytes reached the terminal");
    cr_assert(strstr(out.s, "\\x1b") || strstr(out.s, "\\x1c"), "%s", out.s);
    free(out.s);
    free(m);
    files_free(&f);
}

// D2 in the window: a step that overflows ends the window with the message (exit 2)
#include "app/window.h"
#include <pango/pangocairo.h>

Test(robust, d2_window_step_that_overflows_quits_with_the_message) {
    Files f = files_new();
    char *path = huge_model(&f, "huge.bin", 1e15f);
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    cr_assert_eq(model_load(&m, path, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tokenizer_load(&t, f.tok, m.cfg.vocab_size, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_init(&s, &m, &t, &err), KV_OK);
    cr_assert_eq(session_set_prompt(&s, "once upon", &err), KV_OK);
    AppState *a = calloc(1, sizeof *a);
    app_init(a, &s, 1280, 720, 1.0);
    app_do(a, ACT_STEP); // no worker: the step runs here
    cr_assert(a->quit, "the window went on");
    cr_assert_eq(a->fault.code, KV_ERR_INPUT);
    cr_assert(strstr(a->fault.msg, "produces non-finite values at layer 1"), "%s", a->fault.msg);
    cr_assert_eq(s.cursor, 0, "a step was recorded");
    app_free(a);
    free(a);
    session_free(&s);
    tokenizer_free(&t);
    model_free(&m);
    free(path);
    files_free(&f);
    toolbar_release();
    pango_cairo_font_map_set_default(NULL);
}

// D14: a long caption within the limits is wrapped whole, not cut with an ellipsis
#include "export/export.h"

// The caption box of a picture: how many lines of text it shows (runs of rows holding text
// pixels below the title), from the picture itself.
static int caption_text_rows(const Session *s, const View *v, int w, int h) {
    unsigned char *png = NULL;
    size_t len = 0;
    KvError err = {0};
    cr_assert_eq(export_render(s, v, w, h, 1.0, EXPORT_PNG, &png, &len, &err), KV_OK, "%s",
                 err.msg);
    char *dir = tu_tmpdir(), *path = tu_join(dir, "c.png");
    cr_assert(tu_write_file(path, png, len));
    free(png);
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    SceneLayout L;
    scene_layout(s, v, w, h, &L);
    const double u = L.unit;
    const int stride = cairo_image_surface_get_stride(img);
    const unsigned char *px = cairo_image_surface_get_data(img);
    int x0 = (int)(L.caption.x + 0.9 * u), x1 = (int)(L.caption.x + L.caption.w - 0.9 * u);
    // below the title (0.4 u from the top, a line of 1.25 x its 2.0 u type)
    int y0 = (int)(L.caption.y + 0.4 * u + 2.5 * u), y1 = (int)(L.caption.y + L.caption.h - 2);
    const uint32_t bg = *(const uint32_t *)(px + (size_t)(y0 + 1) * stride + 4 * (x1 - 2));
    int runs = 0;
    bool in = false;
    for (int y = y0; y < y1; y++) {
        bool text = false;
        for (int x = x0; x < x1 && !text; x++) {
            uint32_t p = *(const uint32_t *)(px + (size_t)y * stride + 4 * x);
            int d = abs((int)(p & 0xff) - (int)(bg & 0xff)) +
                    abs((int)((p >> 8) & 0xff) - (int)((bg >> 8) & 0xff));
            text = d > 60;
        }
        runs += text && !in;
        in = text;
    }
    cairo_surface_destroy(img);
    free(path);
    tu_rmtree(dir);
    return runs;
}

Test(robust, d14_long_caption_gets_the_lines_it_needs) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    ModelConfig c = tu_config(16, 32, 2, 2, 1, VOCAB, 32, true);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 3, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&s, "once upon", &err), KV_OK);
    session_step(&s);
    char text[400] = "";
    for (int i = 0; i < 41; i++)
        strcat(text, i ? " WOMAN" : "WOMAN");
    strcat(text, " QUETZALCOATL"); // 259 characters: within the limit, 6 lines at 1920x1080
    View v;
    view_init(&v);
    v.caption_title = "Long";
    v.caption_text = text;
    // two lines hold about 2 x 18 capitals at the caption's 1.8-unit type: the box grows to
    // the lines the text needs, and every one of them is drawn
    SceneLayout L;
    scene_layout(&s, &v, 1920, 1080, &L);
    int lines = scene_caption_lines(&L, &v);
    cr_assert_geq(lines, 3);
    cr_assert_eq(caption_text_rows(&s, &v, 1920, 1080), lines);
    v.caption_text = "A short caption.";
    cr_assert_eq(caption_text_rows(&s, &v, 1920, 1080), 1);
    scene_layout(&s, &v, 1920, 1080, &L);
    cr_assert_eq(scene_caption_lines(&L, &v), 2, "a short caption keeps the usual box");
    tu_session_close(&m, &t, &s);
    pango_cairo_font_map_set_default(NULL);
}

// D3: work buffers are allocated for what a run uses: one position for decoding, grown to the
// longest pass (a prefill, a no-cache recompute), with the same numbers as before.
Test(robust, d3_work_buffers_for_what_is_used) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    const ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 256, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 7, &err), KV_OK, "%s", err.msg);
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(e.rows, 1, "a new engine holds one position's activations, not %d", e.rows);
    int tokens[12] = {1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45};
    engine_forward(&e, tokens, 0, 10, true, NULL, NULL);
    cr_assert_eq(e.rows, 10, "grown to the prefill");
    engine_forward(&e, tokens + 10, 10, 1, true, NULL, NULL);
    cr_assert_eq(e.rows, 10, "a decode step keeps them");
    float cached[400];
    memcpy(cached, e.logits, sizeof cached);
    engine_forward(&e, tokens, 0, 11, false, NULL, NULL); // no cache: 11 positions again
    cr_assert_eq(e.rows, 11);
    cr_assert_eq(memcmp(cached, e.logits, sizeof cached), 0, "the same logits either way");
    engine_free(&e);
    tu_session_close(&m, &t, &s);
}
