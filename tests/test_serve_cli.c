// test_serve_cli.c — the paged cache and the serving session from the command line: --paged B on
// generate gives the same text as the contiguous cache, and every refusal is one line
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

Test(serve_cli, paged_refusals, .timeout = 120) {
    Files f = files_new();
    expect_bad(&f, "generate", (const char *[]){"--prompt", "ab", "--paged", "0", NULL}, "--paged");
    expect_bad(&f, "generate", (const char *[]){"--prompt", "ab", "--paged", "x", NULL}, "--paged");
    expect_bad(&f, "generate", (const char *[]){"--prompt", "ab", "--paged", "65", NULL},
               "--paged: a block of 65 positions does not fit the model's context (1..64)");
    expect_bad(&f, "generate",
               (const char *[]){"--prompt", "ab", "--paged", "8", "--kv", "int8", NULL},
               "--kv: a paged cache keeps f32 rows");
    expect_bad(&f, "generate",
               (const char *[]){"--prompt", "ab", "--paged", "8", "--cache", "window:8", NULL},
               "--paged: a paged cache keeps every position (full retention)");
    expect_bad(&f, "render",
               (const char *[]){"--prompt", "ab", "--steps", "2", "--paged", "8", "--kv", "bf16",
                                "-o", "/tmp/never-written.png", NULL},
               "--kv: a paged cache keeps f32 rows");
    files_free(&f);
}
