// test_serve_cli.c — the paged cache and the serving session from the command line: --paged B on
// generate gives the same text as the contiguous cache (every retention and row precision), and
// every refusal is one line
// "kvscope: <what>: <why>" with exit status 2.
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(serve_cli, .fini = tu_leak_check);

typedef struct {
    char *dir, *model, *tok;
} Files;

static Files files_new(void) {
    Files f = {0};
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    f.dir = tu_tmpdir();
    cr_assert_not_null(f.dir);
    f.model = tu_join(f.dir, "model.bin");
    f.tok = tu_join(f.dir, "tok.bin");
    const ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 64, false);
    KvError err = {0};
    cr_assert_eq(tu_write_random_checkpoint(f.model, &c, 5, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_write_tokenizer(f.tok, 400, &err), KV_OK, "%s", err.msg);
    return f;
}

static void files_free(Files *f) {
    free(f->model);
    free(f->tok);
    tu_rmtree(f->dir);
}

// Runs kvscope `cmd` --model --tokenizer, then args (NULL-terminated).
static void run(TuRun *r, const Files *f, const char *cmd, const char *const *args) {
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)tu_kvscope_bin();
    argv[n++] = (char *)cmd;
    argv[n++] = "--model", argv[n++] = f->model, argv[n++] = "--tokenizer", argv[n++] = f->tok;
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    cr_assert(tu_run(argv, 120, r), "cannot run %s", argv[0]);
    cr_assert(!tu_has_sanitizer_report(r->err), "sanitizer report:\n%s", r->err);
}

// Exit 2 and one line "kvscope: ..." that holds `need`.
static void expect_bad(const Files *f, const char *cmd, const char *const *args, const char *need) {
    TuRun r;
    run(&r, f, cmd, args);
    cr_assert_eq(r.status, 2, "exit status %d, want 2; stderr: %s", r.status, r.err);
    cr_assert_eq(tu_count_lines(r.err), 1, "want one line on stderr, got:\n%s", r.err);
    cr_assert(strncmp(r.err, "kvscope: ", 9) == 0, "%s", r.err);
    cr_assert(strstr(r.err, need) != NULL, "\"%s\" does not say \"%s\"", r.err, need);
    tu_run_free(&r);
}

Test(serve_cli, generate_paged_gives_the_same_text, .timeout = 120) {
    Files f = files_new();
    const char *plain[] = {"--prompt", "ab ba", "-n", "30", "--temperature", "0.9", NULL};
    TuRun a, b;
    run(&a, &f, "generate", plain);
    cr_assert_eq(a.status, 0, "%s", a.err);
    const char *paged[] = {"--prompt", "ab ba",   "-n", "30", "--temperature",
                           "0.9",      "--paged", "7",  NULL};
    run(&b, &f, "generate", paged);
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_assert_str_eq(a.out, b.out);
    tu_run_free(&a);
    tu_run_free(&b);
    files_free(&f);
}

// Every retention and row precision on a paged cache gives the contiguous cache's text, window and
// sinks past the model's context of 64.
Test(serve_cli, generate_paged_every_kind_gives_the_same_text, .timeout = 240) {
    Files f = files_new();
    static const char *const kinds[][2] = {{"window:16", "int8"},
                                           {"sinks:4,12", "int4"},
                                           {"h2o:8,8", "bf16"},
                                           {"full", "int4"},
                                           {"window:20", "f32"}};
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        const char *n = strcmp(kinds[k][0], "full") && strncmp(kinds[k][0], "h2o", 3) ? "90" : "50";
        const char *plain[] = {"--prompt",      "ab ba",     "-n",      n,
                               "--temperature", "0.9",       "--cache", kinds[k][0],
                               "--kv",          kinds[k][1], NULL};
        const char *paged[] = {"--prompt", "ab ba",   "-n",        n,      "--temperature",
                               "0.9",      "--cache", kinds[k][0], "--kv", kinds[k][1],
                               "--paged",  "7",       NULL};
        TuRun a, b;
        run(&a, &f, "generate", plain);
        cr_assert_eq(a.status, 0, "%s", a.err);
        run(&b, &f, "generate", paged);
        cr_assert_eq(b.status, 0, "%s %s: %s", kinds[k][0], kinds[k][1], b.err);
        cr_assert_str_eq(a.out, b.out, "%s %s", kinds[k][0], kinds[k][1]);
        cr_assert_gt(strlen(a.out), 0);
        tu_run_free(&a);
        tu_run_free(&b);
    }
    files_free(&f);
}

Test(serve_cli, paged_refusals, .timeout = 120) {
    Files f = files_new();
    expect_bad(&f, "generate", (const char *[]){"--prompt", "ab", "--paged", "0", NULL}, "--paged");
    expect_bad(&f, "generate", (const char *[]){"--prompt", "ab", "--paged", "x", NULL}, "--paged");
    expect_bad(&f, "generate", (const char *[]){"--prompt", "ab", "--paged", "65", NULL},
               "--paged: a block of 65 positions does not fit the model's context (1..64)");
    expect_bad(&f, "generate",
               (const char *[]){"--prompt", "ab", "--paged", "8", "--kv", "kivi2", NULL},
               "--kv: a paged cache cannot hold kivi2: KIVI quantizes keys per channel");
    expect_bad(&f, "generate",
               (const char *[]){"--prompt", "ab", "--kv", "kivi4", "--paged", "32", NULL},
               "a paged cache cannot hold kivi4");
    expect_bad(&f, "render",
               (const char *[]){"--prompt", "ab", "--steps", "2", "--paged", "8", "--kv", "kivi4",
                                "-o", "/tmp/never-written.png", NULL},
               "--kv: a paged cache cannot hold kivi4");
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// kvscope serve

// A request file in the test's folder (owned path).
static char *requests(const Files *f, const char *name, const char *text, size_t n) {
    char *path = tu_join(f->dir, name);
    cr_assert(tu_write_file(path, text, n ? n : strlen(text)));
    return path;
}

// `serve --requests FILE` with `text` is refused with "FILE:LINE: <need>" (line 0: "FILE: ").
static void bad_file(const Files *f, const char *text, size_t n, int line, const char *need,
                     const char *const *more) {
    char *path = requests(f, "bad.txt", text, n);
    char want[1200];
    if (line)
        snprintf(want, sizeof want, "kvscope: %s:%d: %s", path, line, need);
    else
        snprintf(want, sizeof want, "kvscope: %s: %s", path, need);
    const char *args[16] = {"--requests", path};
    int k = 2;
    for (int i = 0; more && more[i]; i++)
        args[k++] = more[i];
    args[k] = NULL;
    TuRun r;
    run(&r, f, "serve", args);
    cr_assert_eq(r.status, 2, "exit status %d, want 2; stderr: %s", r.status, r.err);
    cr_assert_eq(tu_count_lines(r.err), 1, "want one line on stderr, got:\n%s", r.err);
    cr_assert(strncmp(r.err, want, strlen(want)) == 0, "stderr\n  %s\nwant it to start\n  %s",
              r.err, want);
    cr_assert_eq(r.out_len, 0ul, "nothing on stdout for a bad file: %s", r.out);
    tu_run_free(&r);
    free(path);
}

Test(serve_cli, bad_request_files, .timeout = 120) {
    Files f = files_new();
    bad_file(&f, "0 4 greedy ab\n1 4 greedy\n", 0, 2, "expected ARRIVAL MAX_NEW SAMPLER PROMPT",
             NULL);
    bad_file(&f, "x 4 greedy ab\n", 0, 1, "arrival: ", NULL);
    bad_file(&f, "-1 4 greedy ab\n", 0, 1, "arrival: ", NULL);
    bad_file(&f, "0 0 greedy ab\n", 0, 1, "max new tokens: ", NULL);
    bad_file(&f, "# a comment\n\n0 4 q=1 ab\n", 0, 3,
             "sampler: unknown setting 'q' (t, p, k, seed, n)", NULL);
    bad_file(&f, "0 4 t=hot ab\n", 0, 1, "sampler t: ", NULL);
    bad_file(&f, "0 4 n=9 ab\n", 0, 1, "sampler n: ", NULL);
    bad_file(&f, "0 4 seed=0 ab\n", 0, 1, "sampler seed: ", NULL);
    bad_file(&f, "0 4 fast ab\n", 0, 1, "sampler: 'fast' is not greedy or KEY=VALUE", NULL);
    bad_file(&f, "0 4 greedy a\\qb\n", 0, 1, "prompt: unknown escape '\\q'", NULL);
    bad_file(&f, "0 4 greedy \n", 0, 1, "prompt: empty", NULL);
    bad_file(&f, "3 4 greedy ab\n1 4 greedy ba\n", 0, 2,
             "arrives at step 1, before the request above it (3)", NULL);
    bad_file(&f, "0 4 greedy a\xff\n", 0, 1, "prompt: ", NULL);
    bad_file(&f, "0 4 greedy a\0b\n", 14, 1, "holds a NUL byte", NULL);
    char longp[300];
    memset(longp, 'q', sizeof longp);
    memcpy(longp, "0 4 greedy ", 11);
    longp[299] = '\n';
    bad_file(&f, longp, sizeof longp, 1, "prompt: ", NULL); // longer than the context (64)
    bad_file(&f, "0 40 greedy ab\n", 0, 1, "needs 3 blocks of 16 positions",
             (const char *[]){"--blocks", "2", NULL});
    bad_file(&f, "# only a comment\n", 0, 0, "holds no request", NULL);
    expect_bad(&f, "serve", (const char *[]){"--requests", "/nonexistent/r.txt", NULL},
               "/nonexistent/r.txt");
    expect_bad(&f, "serve", (const char *[]){"--blocks", "0", NULL}, "--blocks");
    expect_bad(&f, "serve", (const char *[]){"--block-size", "65", NULL},
               "--block-size: 65 positions is more than the model's context of 64");
    expect_bad(&f, "serve", (const char *[]){"--fast", NULL}, "unknown option '--fast'");
    expect_bad(&f, "serve", (const char *[]){"--trace", "t.txt", NULL}, "t.txt");
    files_free(&f);
}

// A request's text from serve is what generate gives for the same prompt and sampler, whether
// it ran alone, beside others, or was preempted on the way; the trace has a row per step.
// The value of `key=` in the totals line of a serve run.
static unsigned long long total_of(const char *out, const char *key) {
    const char *line = strstr(out, "total: ");
    cr_assert_not_null(line, "%s", out);
    const char *k = strstr(line, key);
    cr_assert_not_null(k, "no %s in %s", key, line);
    return strtoull(k + strlen(key), NULL, 10);
}

// A request that arrives after another with the same prompt has finished: with --prefix-cache
// the first's freed blocks are found again (revived, counted) instead of computed, and the texts
// are the ones without it; without it nothing is shared. With --no-prefix-sharing it is refused.
Test(serve_cli, prefix_cache_revives_freed_blocks, .timeout = 120) {
    Files f = files_new();
    char *path = requests(&f, "r.txt",
                          "0 2 greedy ab ba ab ba ab ba ab ba ab\n"
                          "8 4 greedy ab ba ab ba ab ba ab ba ab\n",
                          0);
    TuRun a, b;
    run(&a, &f, "serve", (const char *[]){"--requests", path, "--block-size", "4", NULL});
    cr_assert_eq(a.status, 0, "%s", a.err);
    run(&b, &f, "serve",
        (const char *[]){"--requests", path, "--block-size", "4", "--prefix-cache", NULL});
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_assert(strstr(b.out, "prefix cache on") != NULL, "%s", b.out);
    cr_assert_eq(total_of(a.out, "shared_positions="), 0ull, "%s", a.out);
    cr_assert_eq(total_of(a.out, "revived_blocks="), 0ull);
    const unsigned long long revived = total_of(b.out, "revived_blocks=");
    cr_assert_gt(revived, 0ull, "%s", b.out);
    cr_assert_eq(total_of(b.out, "shared_positions="), 4 * revived);
    cr_assert_lt(total_of(b.out, "flops="), total_of(a.out, "flops="));
    for (int i = 0; i < 2; i++) { // the same texts
        const char *name = i ? "r1.0 [" : "r0.0 [";
        const char *x = strstr(a.out, name), *y = strstr(b.out, name);
        cr_assert(x && y);
        cr_assert_eq(strcspn(x, "\n"), strcspn(y, "\n"));
        cr_assert(strncmp(x, y, strcspn(x, "\n")) == 0, "%s", name);
    }
    tu_run_free(&a);
    tu_run_free(&b);
    expect_bad(&f, "serve",
               (const char *[]){"--requests", path, "--prefix-cache", "--no-prefix-sharing", NULL},
               "--prefix-cache: keeps freed blocks for prefix sharing");
    free(path);
    files_free(&f);
}

Test(serve_cli, serve_texts_equal_generate_and_trace_has_every_step, .timeout = 120) {
    Files f = files_new();
    char *path = requests(&f, "r.txt",
                          "# arrival max_new sampler prompt\n"
                          "0 12 greedy ab ba\n"
                          "0 12 t=0.9,seed=7 ab ba\n"
                          "1 12 greedy,n=2 ab ab ab\n"
                          "2 12 t=0.8,p=0.5,seed=3 ba\\nab\n",
                          0);
    char *trace = tu_join(f.dir, "t.csv");
    TuRun r;
    run(&r, &f, "serve",
        (const char *[]){"--requests", path, "--blocks", "6", "--block-size", "4", "--trace", trace,
                         NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "preemptions=0") == NULL, "6 blocks of 4 should preempt:\n%s", r.out);
    const char *gen[][8] = {
        {"--prompt", "ab ba", "--temperature", "0", NULL},
        {"--prompt", "ab ba", "--temperature", "0.9", "--seed", "7", NULL},
        {"--prompt", "ab ab ab", "--temperature", "0", NULL},
        {"--prompt", "ab ab ab", "--temperature", "0", NULL},
        {"--prompt", "ba\nab", "--temperature", "0.8", "--top-p", "0.5", "--seed", "3"}};
    const char *names[] = {"r0.0 [", "r1.0 [", "r2.0 [", "r2.1 [", "r3.0 ["};
    for (int i = 0; i < 5; i++) {
        const char *args[16];
        int k = 0;
        for (int j = 0; j < 8 && gen[i][j]; j++)
            args[k++] = gen[i][j];
        args[k++] = "-n", args[k++] = "12", args[k] = NULL;
        TuRun g;
        run(&g, &f, "generate", args);
        cr_assert_eq(g.status, 0, "%s", g.err);
        const char *line = strstr(r.out, names[i]);
        cr_assert_not_null(line, "%s missing:\n%s", names[i], r.out);
        const char *text = strstr(line, "]: ") + 3;
        const size_t len = (size_t)(strchr(text, '\n') - text);
        // generate prints raw text and a newline; serve escapes newlines and controls on its line
        char escaped[4096];
        size_t e = 0;
        for (size_t j = 0; j + 1 < g.out_len && e + 5 < sizeof escaped; j++) {
            const unsigned char ch = (unsigned char)g.out[j];
            if (ch == '\n')
                escaped[e++] = '\\', escaped[e++] = 'n';
            else if (ch < 0x20 || ch == 0x7f)
                e += (size_t)snprintf(escaped + e, 5, "\\x%02x", ch);
            else
                escaped[e++] = (char)ch;
        }
        escaped[e] = '\0';
        // serve stops at EOS; generate goes on past it (it stops at BOS): compare serve's text
        cr_assert(len <= e && strncmp(text, escaped, len) == 0, "%s\nserve:    %.*s\ngenerate: %s",
                  names[i], (int)len, text, escaped);
        tu_run_free(&g);
    }
    char *csv = (char *)tu_read_file(trace, NULL);
    cr_assert_not_null(csv);
    cr_assert(strncmp(csv, "step,running,waiting,finished,", 30) == 0, "%s", csv);
    const char *steps = strstr(r.out, "total: steps=");
    cr_assert_not_null(steps);
    cr_assert_eq(tu_count_lines(csv), 1 + atoi(steps + 13));
    free(csv);
    free(trace);
    free(path);
    tu_run_free(&r);
    files_free(&f);
}

// The classroom scenario runs on the shipped model: sharing, forks and preemption all happen.
Test(serve_cli, classroom_scenario_shares_forks_and_preempts, .timeout = 120) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    char *argv[] = {(char *)tu_kvscope_bin(), "serve", NULL};
    TuRun r;
    cr_assert(tu_run(argv, 120, &r));
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "r1.2 [") != NULL, "%s", r.out); // three samples of request 1
    const char *t = strstr(r.out, "total: ");
    cr_assert_not_null(t);
    cr_assert(strstr(t, "preemptions=0") == NULL, "%s", t);
    cr_assert(strstr(t, "shared_positions=0") == NULL, "%s", t);
    cr_assert(strstr(t, "copies=0") == NULL, "%s", t);
    tu_run_free(&r);
    // and the example request file the docs point to loads and runs
    char *argv2[] = {(char *)tu_kvscope_bin(), "serve", "--requests", "assets/serve/requests.txt",
                     NULL};
    cr_assert(tu_run(argv2, 120, &r));
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "r5.0 [") != NULL, "%s", r.out);
    tu_run_free(&r);
}

// bench serve prints a line per batch size, batched and one at a time (figures, not targets).
Test(serve_cli, bench_serve_prints_every_batch_size, .timeout = 300) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    char *argv[] = {(char *)tu_kvscope_bin(), "bench", "serve", "--context", "4", NULL};
    TuRun r;
    cr_assert(tu_run(argv, 300, &r));
    cr_assert_eq(r.status, 0, "%s", r.err);
    const int sizes[] = {1, 2, 4, 8, 16};
    for (int i = 0; i < 5; i++) {
        char want[64];
        snprintf(want, sizeof want, "bench serve requests=%d context=4 batched_us=", sizes[i]);
        cr_assert(strstr(r.out, want) != NULL, "%s missing:\n%s", want, r.out);
    }
    cr_assert(strstr(r.out, "one_at_a_time_tok_s=") && strstr(r.out, "speedup="), "%s", r.out);
    tu_run_free(&r);
}

// render --view pool draws a serving session N steps on; its options are refused elsewhere.
Test(serve_cli, render_pool_view, .timeout = 120) {
    Files f = files_new();
    char *req = requests(&f, "r.txt", "0 8 greedy ab ba\n1 8 t=0.9,n=2 ab ba ab\n", 0);
    char *png = tu_join(f.dir, "pool.png"), *svg = tu_join(f.dir, "pool.svg");
    TuRun r;
    run(&r, &f, "render",
        (const char *[]){"--view", "pool", "--serve", req, "--blocks", "8", "--block-size", "4",
                         "--steps", "3", "--size", "1280x720", "-o", png, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    size_t n = 0;
    unsigned char *data = tu_read_file(png, &n);
    cr_assert(data && n > 8 && memcmp(data, "\x89PNG", 4) == 0, "no PNG written");
    free(data);
    run(&r, &f, "render",
        (const char *[]){"--view", "pool", "--serve", req, "--steps", "2", "-o", svg, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    char *text = (char *)tu_read_file(svg, NULL);
    cr_assert(text && strstr(text, "<svg"), "no SVG written");
    free(text);
    expect_bad(&f, "render",
               (const char *[]){"--prompt", "ab", "--steps", "1", "--serve", req, "-o", png, NULL},
               "--serve: is the pool view's serving session (--view pool)");
    expect_bad(&f, "render",
               (const char *[]){"--view", "pool", "--steps", "1", "--frames", f.dir, NULL},
               "--frames: the pool view renders one picture");
    expect_bad(&f, "render",
               (const char *[]){"--view", "pool", "--serve", "/nonexistent/r.txt", "--steps", "1",
                                "-o", png, NULL},
               "/nonexistent/r.txt");
    free(png);
    free(svg);
    free(req);
    files_free(&f);
}
