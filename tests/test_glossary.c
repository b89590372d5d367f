// test_glossary.c — assets/glossary.txt and its parser (src/view/glossary.c): the shipped file
// parses and defines every term the issue lists, entries are short enough for a tooltip,
// lookups find terms and other spellings in any case, each malformed input is refused with its
// line, and `kvscope glossary` prints the whole list or one entry.
#include "util/testutil.h"
#include "view/view.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(glossary, .fini = tu_leak_check);

static void load_shipped(Glossary *g) {
    KvError err = {0};
    cr_assert_eq(glossary_load(g, "assets/glossary.txt", &err), KV_OK,
                 "run from the repository root: %s", err.msg);
}

Test(glossary, shipped_defines_every_term) {
    Glossary g;
    load_shipped(&g);
    const char *need[] = {"token",
                          "token id",
                          "embedding",
                          "layer",
                          "block",
                          "head",
                          "query",
                          "key",
                          "value",
                          "attention weight",
                          "softmax",
                          "KV cache",
                          "prefill",
                          "decode",
                          "logits",
                          "unembedding",
                          "sampling",
                          "temperature",
                          "top-k",
                          "top-p",
                          "seed",
                          "FLOP",
                          "KiB",
                          "MiB",
                          "write head",
                          "recompute",
                          "window",
                          "sink",
                          "eviction",
                          "quantization",
                          "page",
                          "block table",
                          "prefix sharing",
                          "FLOPs",
                          "kv heads",
                          "GQA",
                          "MQA",
                          "MLA"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        cr_assert_not_null(glossary_find(&g, need[i]), "'%s' has no entry", need[i]);
    for (int i = 0; i < g.n; i++) {
        const GlossaryEntry *e = &g.entries[i];
        size_t n = strlen(e->short_text);
        cr_assert(n >= 20 && n <= 200, "'%s': a short definition of %zu bytes", e->term, n);
        cr_assert_eq(e->short_text[n - 1], '.', "'%s': the short text is a sentence", e->term);
        cr_assert_not_null(e->long_text, "'%s' has no paragraph", e->term);
    }
    glossary_free(&g);
}

Test(glossary, lookups) {
    Glossary g;
    load_shipped(&g);
    const GlossaryEntry *e = glossary_find(&g, "kv CACHE");
    cr_assert(e && strcmp(e->term, "KV cache") == 0);
    cr_assert_eq(glossary_find(&g, "cache"), e, "another spelling");
    cr_assert_eq(glossary_find(&g, " cache: "), e, "a label's colon and spaces");
    cr_assert_eq(glossary_find(&g, "top-k")->term, glossary_find(&g, "top k")->term);
    cr_assert_null(glossary_find(&g, "cach"));
    cr_assert_null(glossary_find(&g, ""));
    cr_assert_null(glossary_find(&g, "banana"));
    glossary_free(&g);
}

Test(glossary, continuation_lines_join) {
    const char *t = "term: a\nshort: one\n  two.\nlong: x\n  y\n\n  \nterm: b\nshort: Bee.\n";
    Glossary g;
    KvError err = {0};
    cr_assert_eq(glossary_parse(&g, t, strlen(t), "t", &err), KV_OK, "%s", err.msg);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.entries[0].short_text, "one two.");
    cr_assert_str_eq(g.entries[0].long_text, "x y");
    cr_assert_null(g.entries[1].long_text);
    glossary_free(&g);
}

Test(glossary, bad_input_one_case_each) {
    struct {
        const char *text, *says;
    } bad[] = {
        {"term: a\nshort: A.\nsize: 3\n", "t:3: unknown key 'size'"},
        {"short: A.\n", "t:1: an entry without a term"},
        {"term: a\nlong: x\n", "'a' has no short definition"},
        {"term: a\nshort: A.\n\nterm: b\nalso: A\nshort: B.\n", "'A' is already defined by 'a'"},
        {"  stray\n", "t:1: a continuation line with nothing above"},
        {"term a\n", "t:1: expected 'key: value'"},
        {"term: a\nterm: b\n", "t:2: 'term' given twice"},
        {"term:\nshort: A.\n", "t:1: an empty term"},
        {"# only a comment\n\n", "t: no entries"},
        {"term: a\0\nshort: A.\n", "holds a NUL byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i].text);
        if (strstr(bad[i].says, "NUL"))
            len += 1 + strlen(bad[i].text + len + 1);
        Glossary g;
        KvError err = {0};
        cr_assert_eq(glossary_parse(&g, bad[i].text, len, "t", &err), KV_ERR_INPUT, "case %zu", i);
        cr_assert(strstr(err.msg, bad[i].says), "case %zu: \"%s\" lacks \"%s\"", i, err.msg,
                  bad[i].says);
        cr_assert_null(g.entries);
    }
    Glossary g;
    KvError err = {0};
    cr_assert_eq(glossary_load(&g, "/nonexistent/glossary.txt", &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "cannot open"), "%s", err.msg);
}

static void run(TuRun *r, const char *a1, const char *a2) {
    char *argv[] = {(char *)tu_kvscope_bin(), "glossary", (char *)a1, (char *)a2, NULL};
    cr_assert(tu_run(argv, 30, r));
}

Test(glossary, command) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    TuRun r;
    run(&r, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    Glossary g;
    load_shipped(&g);
    for (int i = 0; i < g.n; i++)
        cr_assert(strstr(r.out, g.entries[i].term), "'%s' not listed", g.entries[i].term);
    cr_assert_null(strstr(r.out, "Without a cache, writing"), "the list shows short texts");
    tu_run_free(&r);
    run(&r, "Prefill", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "prefill", 7) == 0 && strstr(r.out, "matrix-matrix"), "%s", r.out);
    tu_run_free(&r);
    const char *bad[][2] = {{"banana", NULL}, {"token", "key"}, {"--frobnicate", NULL}};
    for (size_t i = 0; i < 3; i++) {
        run(&r, bad[i][0], bad[i][1]);
        cr_assert_eq(r.status, 2, "%s", r.err);
        cr_assert_eq(tu_count_lines(r.err), 1, "%s", r.err);
        cr_assert(strncmp(r.err, "kvscope: glossary: ", 19) == 0, "%s", r.err);
        tu_run_free(&r);
    }
    glossary_free(&g);
}
