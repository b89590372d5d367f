// test_glossary.c — assets/glossary.txt and its parser (src/view/glossary.c): the shipped file
// parses and defines every term the issue lists, entries are short enough for a tooltip,
// lookups find terms and other spellings in any case, each malformed input is refused with its
// line, and `kvscope glossary` prints the whole list or one entry.
#include "util/testutil.h"
#include "view/view.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

// ----------------------------------------------------------------------------------------------
// Every label the picture draws has an entry

// Words a label may use without an entry of their own: plain English, and units and names that
// are not ideas of the picture.
static const char *const everyday[] = {
    "a",          "about", "adding",    "after",     "all",      "an",       "and",     "as",
    "at",         "be",    "beside",    "by",        "differs",  "drawn",    "each",    "every",
    "everything", "far",   "fit",       "first",     "for",      "found",    "from",    "full",
    "in",         "is",    "lands",     "measured",  "measures", "models",   "most",    "none",
    "not",        "now",   "of",        "off",       "on",       "one",      "only",    "or",
    "pass",       "past",  "picked",    "press",     "probable", "publish",  "rest",    "run",
    "same",       "scale", "so",        "space",     "strong",   "the",      "them",    "this",
    "to",         "total", "under",     "vs",        "waiting",  "weak",     "yet",     "engine",
    "at",         "it",    "cut",       "keeps",     "bits",     "at",       "most",    "more",
    "than",       "mean",  "x",         "m",         "k",        "s",        "n",       "e",
    "inf",        "nan",   "published", "positions", "model",    "sequence", "nothing", "next",
    "up",         "down",  "then",      "shows",     "here",     "rows",     "columns", "saved",
    "counts",     "red",
};

typedef struct {
    const Glossary *g;
    const Tokenizer *tok;
    char bad[8192];
    int n_texts, n_bad;
} LabelCheck;

static bool in_list(const char *w, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(w, list[i]) == 0)
            return true;
    return false;
}

// The first place w occurs in s, in any case, or NULL.
static const char *find_ci(const char *s, const char *w) {
    for (size_t n = strlen(w); *s; s++)
        if (strncasecmp(s, w, n) == 0)
            return s;
    return NULL;
}

// True when w is a word of a term or another spelling of some entry, or of a published model's
// name (the memory view lists them).
static bool glossary_word(const Glossary *g, const char *w) {
    size_t n = strlen(w);
    for (int i = 0; i < g->n; i++) {
        const char *names[2] = {g->entries[i].term, g->entries[i].also};
        for (int k = 0; k < 2; k++)
            for (const char *p = names[k]; p && (p = find_ci(p, w)); p++) {
                bool left = p == names[k] || !isalnum((unsigned char)p[-1]);
                bool right = !isalnum((unsigned char)p[n]);
                if (left && right)
                    return true;
            }
    }
    for (int i = 0; i < n_published_models; i++) {
        const char *p = find_ci(published_models[i].name, w);
        if (p && (p == published_models[i].name || !isalnum((unsigned char)p[-1])))
            return true;
    }
    return false;
}

// Plain, or the glossary's; a word with digits at its end (L1, head 3) also as its letters.
static bool known_word(const Glossary *g, char *w) {
    if (in_list(w, everyday, sizeof everyday / sizeof everyday[0]) || glossary_word(g, w))
        return true;
    size_t n = strlen(w);
    while (n > 0 && isdigit((unsigned char)w[n - 1]))
        w[--n] = '\0';
    return n > 0 &&
           (in_list(w, everyday, sizeof everyday / sizeof everyday[0]) || glossary_word(g, w));
}

// Notes a word (or "no entry") once per text.
static void report(LabelCheck *c, const char *what, const char *text) {
    char line[256];
    snprintf(line, sizeof line, " [%s: \"%s\"]", what, text);
    if (strstr(c->bad, line))
        return;
    c->n_bad++;
    if (strlen(c->bad) + strlen(line) + 1 < sizeof c->bad)
        strcat(c->bad, line);
}

static void check_label(void *ctx, const SceneText *t) {
    LabelCheck *c = ctx;
    if (t->role == SCENE_TEXT_CAPTION)
        return;
    if (t->term)
        cr_assert_not_null(glossary_find(c->g, t->term), "the scene names '%s' for \"%s\"", t->term,
                           t->utf8);
    if (t->role == SCENE_TEXT_TOKEN) { // a token cell: its tooltip is the token's own
        cr_assert(t->token_text, "\"%s\": a token not marked as token text", t->utf8);
        return;
    }
    c->n_texts++;
    if (t->token_text) { // a candidate, an axis label, a position with its token: by its term
        if (!t->term)
            report(c, "token text without a term", t->utf8);
        return;
    }
    // quoted tokens are values, not words of the label
    char text[512];
    size_t o = 0;
    bool quoted = false;
    for (const char *p = t->utf8; *p && o + 1 < sizeof text; p++) {
        if (strncmp(p, "\xe2\x80\x9c", 3) == 0)
            quoted = true, p += 2;
        else if (strncmp(p, "\xe2\x80\x9d", 3) == 0)
            quoted = false, p += 2;
        else if (!quoted)
            text[o++] = *p;
    }
    text[o] = '\0';
    bool letters = false;
    for (const char *p = text; *p; p++)
        letters |= isalpha((unsigned char)*p) != 0;
    if (letters && !scene_text_entry(c->g, t))
        report(c, "no entry", t->utf8);
    if (t->term)
        return; // the term the scene names explains the label, whatever its words
    for (const char *p = text; *p;) {
        while (*p && !isalnum((unsigned char)*p))
            p++;
        if (isdigit((unsigned char)*p)) { // a number, with its unit letters (4.6M, 127k)
            while (isalnum((unsigned char)*p))
                p++;
            continue;
        }
        char w[64];
        size_t n = 0;
        bool alpha = false;
        while (*p && (isalnum((unsigned char)*p) || *p == '-') && n + 1 < sizeof w) {
            alpha |= isalpha((unsigned char)*p) != 0;
            w[n++] = *p++;
        }
        while (n > 0 && w[n - 1] == '-')
            n--;
        w[n] = '\0';
        if (!alpha || known_word(c->g, w))
            continue;
        report(c, w, t->utf8);
    }
}

// The scene is laid out and drawn for w x h onto a small image: the texts (what the sink
// checks) are the same whatever the pixels, which cost the time.
static void draw_checked(Session *s, View v, int w, int h, LabelCheck *c) {
    SceneTextSink sink = {check_label, c};
    v.text_sink = &sink;
    view_prepare(s, &v); // the inspector's numbers, the split screen's twin
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 16, 16);
    cairo_t *cr = cairo_create(img);
    scene_draw(cr, s, &v, w, h, 1.0);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    cairo_surface_destroy(img);
}

// The panels drawn over a view: the inspector on a cell the write head read, on the write
// head's own cell and on one past it; the split screen, alone and with the inspector; the
// glossary panel, every page of it.
static void draw_panels(Session *s, const Glossary *g, ViewLayoutKind lay, LabelCheck *c) {
    View v;
    view_init(&v);
    v.layout = lay;
    const int cells[][2] = {{1, 3}, {0, s->cursor > 0 ? session_last(s)->pos : 0}, {1, 120}};
    for (int k = 0; k < 3; k++) {
        v.inspect = true;
        v.inspect_layer = cells[k][0];
        v.inspect_pos = cells[k][1];
        draw_checked(s, v, 1280, 720, c);
        v.split = true;
        draw_checked(s, v, 1280, 720, c);
        v.split = false;
    }
    v.inspect = false;
    v.split = true;
    draw_checked(s, v, 1920, 1080, c);
    v.split = false;
    v.glossary = g;
    v.glossary_open = true;
    for (v.glossary_page = 0; v.glossary_page < scene_glossary_pages(s, &v, 1280, 720);
         v.glossary_page++)
        draw_checked(s, v, 1280, 720, c);
    view_prepare(s, &(View){.split = false}); // the twin freed
}

// The pool view of a serving session: a few requests over a small pool, stepped until one
// waits and until all have finished.
static void draw_pool(const Model *m, const Tokenizer *t, LabelCheck *c) {
    Serve srv;
    serve_init(&srv, m, t, 12, 4, true);
    KvError err = {0};
    const char *prompts[] = {"once upon a time", "once upon a time Mia", "a time", "Mia"};
    for (int i = 0; i < 4; i++) {
        ServeRequest r = {.arrival = i / 2,
                          .max_new = 12,
                          .samples = i == 1 ? 2 : 1,
                          .sampler = {i == 1 ? 1.0f : 0.0f, 0.9f, 0, 42}};
        snprintf(r.prompt, sizeof r.prompt, "%s", prompts[i]);
        cr_assert_eq(serve_add(&srv, &r, "request", &err), KV_OK, "%s", err.msg);
    }
    View v;
    view_init(&v);
    v.kind = VIEW_POOL;
    v.serve = &srv;
    SceneTextSink sink = {check_label, c};
    v.text_sink = &sink;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1280, 720);
    cairo_t *cr = cairo_create(img);
    for (int step = 0;; step++) {
        if (step % 3 == 0 || serve_done(&srv))
            scene_draw(cr, NULL, &v, 1280, 720, 1.0);
        if (!serve_step(&srv))
            break;
    }
    scene_draw(cr, NULL, &v, 1280, 720, 1.0);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    cairo_surface_destroy(img);
    serve_free(&srv);
}

// Every view in both layouts, cache on and off, every retention policy and precision, a head
// each, a layer alone, the pointer on a token and the measurement on; the inspector, the split
// screen and the glossary panel over them; the pool view of a serving session: every text the
// picture draws is a token (marked as token text, with the term its tooltip shows) or uses only
// words the glossary defines (or plain words), every term the scene names is an entry, and every
// label finds the entry its tooltip shows. (The 3D view's token labels are not marked as token
// text yet: there a text that is a vocabulary piece passes as one.)
Test(glossary, every_label_the_picture_draws_has_an_entry, .timeout = 400) {
    Glossary g;
    load_shipped(&g);
    for (int i = 0; scene_label_term_at(i); i++)
        cr_assert_not_null(glossary_find(&g, scene_label_term_at(i)), "terms.c: '%s'",
                           scene_label_term_at(i));
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    ModelConfig c = tu_config(64, 96, 2, 4, 4, 512, 128, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 7, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&s, "once upon a time Mia", &err), KV_OK, "%s", err.msg);
    LabelCheck chk = {.g = &g, .tok = &t};
    const char *kinds[][2] = {{"full", "f32"},    {"window:16", "f32"}, {"sinks:4,12", "f32"},
                              {"h2o:8,8", "f32"}, {"full", "bf16"},     {"full", "int8"},
                              {"full", "int4"},   {"full", "kivi2"},    {"full", "kivi4"}};
    const SamplerSettings sampler[] = {{1.0f, 0.9f, 5, 3}, {0.0f, 0.9f, 0, 3}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        KvCacheKind kind = KV_CACHE_DENSE;
        cr_assert_eq(kv_parse_retention("--cache", kinds[k][0], &kind, &err), KV_OK);
        KvPrecision p;
        cr_assert_eq(kv_precision_parse("--kv", kinds[k][1], &p, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(session_set_cache(&s, KV_CACHE_DENSE, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(session_set_kv(&s, p, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(session_set_cache(&s, kind, &err), KV_OK, "%s", err.msg);
        for (int mode = 0; mode < 2; mode++) {
            session_reset(&s);
            session_set_sampler(&s, sampler[mode]);
            session_set_mode(&s, mode ? CACHE_MODE_OFF : CACHE_MODE_ON);
            session_set_verify(&s, k == 0);
            for (int at = 0; at < 3; at++) {
                while (s.cursor < (int[]){0, 1, 22}[at])
                    cr_assert(session_step(&s));
                for (int vk = 0; vk < VIEW_KINDS; vk++)
                    for (int lay = 0; lay < 2; lay++) {
                        View v;
                        view_init(&v);
                        v.kind = (ViewKind)vk;
                        v.layout = (ViewLayoutKind)lay;
                        draw_checked(&s, v, 1280, 720, &chk);
                        if (vk == 0) // the pipeline strip shows where its names fit
                            draw_checked(&s, v, 2560, 1080, &chk);
                        v.head = VIEW_HEAD_EACH;
                        v.layer = 1;
                        v.hover = 2;
                        v.memory_log = v.sampling_log = true;
                        v.annotate = true;
                        draw_checked(&s, v, 1280, 720, &chk);
                    }
                if (at > 0 && (k == 0 || k == 2 || k == 5))
                    for (int lay = 0; lay < 2; lay++)
                        draw_panels(&s, &g, (ViewLayoutKind)lay, &chk);
            }
        }
    }
    draw_pool(&m, &t, &chk);
    cr_log_info("%d texts checked", chk.n_texts);
    cr_assert_gt(chk.n_texts, 1000);
    cr_assert_eq(chk.n_bad, 0, "%d words without an entry:%s", chk.n_bad, chk.bad);
    tu_session_close(&m, &t, &s);
    glossary_free(&g);
}

// A tooltip comes from the label's term, never from the words of a token's text: a candidate
// "k" is a candidate, not the key (whose other spelling is k); a token text without a term has
// no tooltip; a token quoted in a label does not count as the label's words.
Test(glossary, tooltips_come_from_terms_not_token_text) {
    Glossary g;
    load_shipped(&g);
    const GlossaryEntry *key = glossary_find(&g, "key"), *cand = glossary_find(&g, "candidate");
    cr_assert(key && cand && glossary_find(&g, "k") == key, "k is another spelling of key");
    SceneText t = {.utf8 = "k", .token_text = true, .term = "candidate"};
    cr_assert_eq(scene_text_entry(&g, &t), cand);
    t.term = NULL;
    cr_assert_null(scene_text_entry(&g, &t), "a token's words are not looked up");
    t.utf8 = "top-p";
    cr_assert_null(scene_text_entry(&g, &t));
    t = (SceneText){.utf8 = "key k (at 5)"}; // a label: its words
    cr_assert_eq(scene_text_entry(&g, &t), key);
    t.utf8 = "after \xe2\x80\x9ck\xe2\x80\x9d (pos 3)";
    cr_assert_eq(scene_text_entry(&g, &t), glossary_find(&g, "position"),
                 "the quoted k is not a word");
    t.utf8 = "\xe2\x80\x9ctop-k\xe2\x80\x9d";
    cr_assert_null(scene_text_entry(&g, &t));
    glossary_free(&g);
}

typedef struct {
    const Glossary *g;
    int candidates, token_labels;
    char bad[256];
} TipCheck;

static void tip_check(void *ctx, const SceneText *t) {
    TipCheck *c = ctx;
    if (!t->token_text || t->role == SCENE_TEXT_TOKEN)
        return;
    c->token_labels++;
    const GlossaryEntry *e = scene_text_entry(c->g, t);
    if (!e || !t->term || e != glossary_find(c->g, t->term))
        snprintf(c->bad, sizeof c->bad, "\"%s\" shows %s", t->utf8, e ? e->term : "nothing");
    c->candidates += e == glossary_find(c->g, "candidate");
}

// In the picture: the next-token panel's candidates, the heatmap's row labels and the
// inspector's positions are token text, each with the term its tooltip shows.
Test(glossary, token_text_in_the_picture_carries_its_term, .timeout = 60) {
    Glossary g;
    load_shipped(&g);
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    ModelConfig c = tu_config(64, 96, 2, 4, 4, 512, 128, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 7, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&s, "once upon a time", &err), KV_OK, "%s", err.msg);
    for (int i = 0; i < 3; i++)
        cr_assert(session_step(&s));
    TipCheck chk = {.g = &g};
    SceneTextSink sink = {tip_check, &chk};
    const ViewKind kinds[] = {VIEW_SEQUENCE, VIEW_HEATMAP, VIEW_SEQUENCE};
    for (int k = 0; k < 3; k++) {
        View v;
        view_init(&v);
        v.kind = kinds[k];
        v.inspect = k == 2;
        v.inspect_layer = 1;
        v.inspect_pos = 2;
        v.text_sink = &sink;
        view_prepare(&s, &v);
        cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1280, 720);
        cairo_t *cr = cairo_create(img);
        scene_draw(cr, &s, &v, 1280, 720, 1.0);
        cairo_destroy(cr);
        cairo_surface_destroy(img);
    }
    cr_assert_eq(chk.bad[0], '\0', "%s", chk.bad);
    cr_assert_geq(chk.candidates, 3, "%d candidates", chk.candidates);
    cr_assert_gt(chk.token_labels, chk.candidates, "heatmap rows and inspector positions too");
    tu_session_close(&m, &t, &s);
    glossary_free(&g);
}
