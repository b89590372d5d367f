// test_split.c — side by side: a twin session follows a session step for step in the other cache
// mode with the same tokens; each side's FLOPs are its own counted work (held to DESIGN's closed
// forms), the picture's ratios are those totals' ratios, the logit difference is measured when
// both compute a step (0 for the full f32 cache, bit-identical), back and forward and a mode
// change keep the two in step, and off frees the twin. From lessons: `split on|off`.
#include "lesson/lesson.h"
#include "util/testutil.h"
#include "view/view.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define VOCAB 400
static const char *const PROMPT = "once upon a time in a kingdom far away Mia";

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
} Fixture;

static void fixture_init(Fixture *f) {
    KvError err = {0};
    ModelConfig c = tu_config(64, 96, 2, 4, 2, VOCAB, 128, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 13, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f->s, PROMPT, &err), KV_OK, "%s", err.msg);
    session_set_sampler(&f->s, (SamplerSettings){.temperature = 1.0f, .top_p = 0.9f, .seed = 9});
}

static void fixture_free(Fixture *f) {
    tu_session_close(&f->m, &f->t, &f->s);
}

static void steps(Session *s, int n) {
    for (int i = 0; i < n; i++)
        cr_assert(session_step(s), "step %d", i);
}

static void assert_in_step(const Session *s) {
    const Session *t = s->twin;
    cr_assert_not_null(t);
    cr_assert_eq(t->cursor, s->cursor);
    cr_assert_eq(t->n_tokens, s->n_tokens);
    cr_assert_eq(memcmp(t->tokens, s->tokens, (size_t)s->n_tokens * sizeof *s->tokens), 0,
                 "the same tokens on both sides");
    for (int i = 0; i < s->cursor; i++)
        cr_assert_neq(t->steps[i].mode, s->steps[i].mode, "step %d in the other mode", i);
}

Test(split, twin_follows_with_its_own_counted_work) {
    Fixture f;
    fixture_init(&f);
    cr_assert(session_set_twin(&f.s, true));
    const int n = 9;
    steps(&f.s, n);
    assert_in_step(&f.s);
    SessionTotals a, b;
    session_totals(&f.s, &a);
    session_totals(f.s.twin, &b);
    const ModelConfig *c = &f.m.cfg;
    cr_assert_eq(a.flops, flops_formula_run(c, true, f.s.n_prompt, n), "with the cache");
    cr_assert_eq(b.flops, flops_formula_run(c, false, f.s.n_prompt, n), "without");
    cr_assert_gt(b.flops, a.flops);
    cr_assert_gt(a.ns, 0);
    cr_assert_gt(b.ns, 0);
    // the full f32 cache and no cache: bit-identical logits, measured on every step
    cr_assert(session_twin_logit_diff(&f.s) == 0.0f, "diff %g", session_twin_logit_diff(&f.s));
    for (int i = 0; i < n; i++)
        cr_assert(f.s.twin_diff[i] == 0.0f, "step %d: %g", i, f.s.twin_diff[i]);
    // the picture's ratios are those totals'
    View v;
    view_init(&v);
    v.split = true;
    SceneSplit o;
    scene_split_layout(&f.s, &v, 1280, 720, &o);
    cr_assert(o.open);
    cr_assert_eq(o.side[0], &f.s, "the cached session on top");
    cr_assert_float_eq(o.flops_ratio, (double)b.flops / (double)a.flops, 1e-12);
    cr_assert_float_eq(o.time_ratio, (double)b.ns / (double)a.ns, 1e-12);
    cr_assert(o.same_tokens);
    cr_assert(o.logit_diff == 0.0f);
    fixture_free(&f);
}

Test(split, back_forward_and_mode_changes_keep_step) {
    Fixture f;
    fixture_init(&f);
    session_set_twin(&f.s, true);
    steps(&f.s, 6);
    cr_assert(session_back(&f.s));
    cr_assert(session_back(&f.s));
    view_prepare(&f.s, &(View){.split = true}); // what every consumer calls before drawing
    assert_in_step(&f.s);
    cr_assert(session_twin_logit_diff(&f.s) == 0.0f, "a step measured before stays measured");
    steps(&f.s, 1); // redone
    assert_in_step(&f.s);
    session_set_mode(&f.s, CACHE_MODE_OFF); // the lead without the cache: the twin with it
    steps(&f.s, 3);
    assert_in_step(&f.s);
    cr_assert_eq(f.s.twin->steps[f.s.cursor - 1].mode, CACHE_MODE_ON);
    View v;
    view_init(&v);
    v.split = true;
    SceneSplit o;
    scene_split_layout(&f.s, &v, 1280, 720, &o);
    cr_assert_eq(o.side[0], f.s.twin, "the cached one on top: now the twin");
    cr_assert(session_twin_logit_diff(&f.s) == 0.0f);
    // a new prompt: the twin starts it too
    KvError err;
    cr_assert_eq(session_set_prompt(&f.s, "the capital of France is", &err), KV_OK);
    steps(&f.s, 2);
    assert_in_step(&f.s);
    fixture_free(&f);
}

// A quantized cache drifts from the uncached logits: measured, and the twin is fed the same
// tokens all the same.
Test(split, quantized_cache_difference_measured) {
    Fixture f;
    fixture_init(&f);
    KvError err;
    cr_assert_eq(session_set_kv(&f.s, KV_PRECISION_INT4, &err), KV_OK, "%s", err.msg);
    session_set_twin(&f.s, true);
    steps(&f.s, 8);
    assert_in_step(&f.s);
    const float d = session_twin_logit_diff(&f.s);
    cr_assert_gt(d, 0.0f, "int4 keys and values change the logits");
    cr_assert(isfinite(d));
    fixture_free(&f);
}

Test(split, off_costs_nothing) {
    Fixture f;
    fixture_init(&f);
    steps(&f.s, 2);
    View v;
    view_init(&v);
    view_prepare(&f.s, &v);
    cr_assert_null(f.s.twin, "no twin unless the split is on");
    v.split = true;
    view_prepare(&f.s, &v);
    cr_assert_not_null(f.s.twin);
    assert_in_step(&f.s);
    cr_assert(session_twin_logit_diff(&f.s) < 0, "steps taken before the split: not measured");
    v.split = false;
    view_prepare(&f.s, &v);
    cr_assert_null(f.s.twin, "freed when the split is off");
    cr_assert_null(f.s.twin_diff);
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Legible at 1280x720 in both themes, through the scene's text reports

static double channel_lin(double c) {
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double contrast(SceneColour fg, SceneColour bg) {
    SceneColour ink = {fg.r * fg.a + bg.r * (1 - fg.a), fg.g * fg.a + bg.g * (1 - fg.a),
                       fg.b * fg.a + bg.b * (1 - fg.a), 1};
    double a =
        0.2126 * channel_lin(ink.r) + 0.7152 * channel_lin(ink.g) + 0.0722 * channel_lin(ink.b);
    double b = 0.2126 * channel_lin(bg.r) + 0.7152 * channel_lin(bg.g) + 0.0722 * channel_lin(bg.b);
    return (fmax(a, b) + 0.05) / (fmin(a, b) + 0.05);
}

typedef struct {
    int n, counters, tokens;
    double min_size, min_counter, min_token, min_contrast;
    bool saw_ratio;
} Texts;

static void on_text(void *ctx, const SceneText *t) {
    Texts *x = ctx;
    x->n++;
    x->min_size = fmin(x->min_size, t->size);
    x->min_contrast = fmin(x->min_contrast, contrast(t->colour, t->background));
    if (t->role == SCENE_TEXT_COUNTER) {
        x->counters++;
        x->min_counter = fmin(x->min_counter, t->size);
    }
    if (t->role == SCENE_TEXT_TOKEN) {
        x->tokens++;
        x->min_token = fmin(x->min_token, t->size);
    }
    if (strstr(t->utf8, "the FLOPs and"))
        x->saw_ratio = true;
}

Test(split, legible_at_1280x720_both_themes) {
    Fixture f;
    fixture_init(&f);
    session_set_twin(&f.s, true);
    steps(&f.s, 6);
    for (int theme = 0; theme < 2; theme++) {
        View v;
        view_init(&v);
        v.split = true;
        v.theme = (ThemeKind)theme;
        Texts x = {.min_size = 1e9, .min_counter = 1e9, .min_token = 1e9, .min_contrast = 1e9};
        SceneTextSink sink = {on_text, &x};
        v.text_sink = &sink;
        cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
        cairo_t *cr = cairo_create(surf);
        scene_draw(cr, &f.s, &v, 1280, 720, 1.0);
        cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
        cairo_destroy(cr);
        cairo_surface_destroy(surf);
        cr_assert(x.saw_ratio, "the ratios are drawn");
        cr_assert_geq(x.counters, 10, "both lanes' counters and the ratio line");
        cr_assert_geq(x.tokens, 2 * f.s.n_tokens, "every token on both sides");
        cr_assert_geq(x.min_size, 14.0, "theme %d: a text at %.2f px", theme, x.min_size);
        cr_assert_geq(x.min_counter, 20.0, "theme %d: a counter at %.2f px", theme, x.min_counter);
        cr_assert_geq(x.min_token, 20.0, "theme %d: a token at %.2f px", theme, x.min_token);
        cr_assert_geq(x.min_contrast, 4.5, "theme %d: contrast %.2f", theme, x.min_contrast);
        SceneSplit o;
        scene_split_layout(&f.s, &v, 1280, 720, &o);
        for (int k = 0; k < 2; k++)
            cr_assert(o.lane[k].y >= 0 && o.lane[k].y + o.lane[k].h <= 720 &&
                      o.lane[k].x + o.lane[k].w <= 1280);
        cr_assert_leq(o.lane[0].y + o.lane[0].h, o.middle.y + 1e-9);
        cr_assert_leq(o.middle.y + o.middle.h, o.lane[1].y + 1e-9);
    }
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// From lessons

#define LPATH "lessons/x.lesson"
static const Preset presets[] = {{"narrative", "Once upon a time"}, {NULL, NULL}};

static void lesson_error(const char *text, const char *want) {
    Lesson l;
    KvError err = {0};
    cr_assert_neq(lesson_parse(&l, LPATH, text, strlen(text), presets, &err), KV_OK,
                  "parsed, but expected: %s", want);
    cr_assert_eq(err.code, KV_ERR_INPUT);
    cr_assert_str_eq(err.msg, want);
}

Test(split, lesson_command) {
    lesson_error("preset narrative\nsplit\nbeat\n", LPATH ":2: split: needs on or off");
    lesson_error("preset narrative\nsplit yes\nbeat\n",
                 LPATH ":2: split: expected on or off, not 'yes'");
    lesson_error("preset narrative\nsplit on off\nbeat\n", LPATH ":2: split: extra argument 'off'");
    Fixture f;
    fixture_init(&f);
    Lesson l;
    KvError err = {0};
    const char *text = "preset narrative\nsplit on\nstep 5\ncaption C\n"
                       "text {split_flops} and {split_diff}\nbeat\nsplit off\nbeat\n";
    cr_assert_eq(lesson_parse(&l, LPATH, text, strlen(text), presets, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_check(&l, &f.m, &f.t, &err), KV_OK, "%s", err.msg);
    LessonPlayer p;
    lesson_player_init(&p, &l, &f.s);
    cr_assert_eq(lesson_player_goto(&p, 0, &err), KV_OK, "%s", err.msg);
    View v;
    view_init(&v);
    lesson_player_view(&p, &v);
    cr_assert(v.split);
    assert_in_step(&f.s);
    SessionTotals a, b;
    session_totals(&f.s, &a);
    session_totals(f.s.twin, &b);
    char want[64];
    snprintf(want, sizeof want, "%.1fx and 0", (double)b.flops / (double)a.flops);
    cr_assert_str_eq(p.text, want);
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK, "%s", err.msg);
    lesson_player_view(&p, &v);
    cr_assert_not(v.split);
    cr_assert_null(f.s.twin);
    lesson_free(&l);
    fixture_free(&f);
}

// render --split: the picture of both sides (any consumer of the scene can export it).
Test(split, render_option, .timeout = 120) {
    const char *bin = tu_kvscope_bin();
    if (!bin)
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir(), *png = tu_join(dir, "s.png"), *svg = tu_join(dir, "s.svg");
    char *argv[] = {(char *)bin, "render", "--preset", "fact", "--steps", "3",
                    "--split",   "--size", "1280x720", "-o",   png,       NULL};
    TuRun r;
    cr_assert(tu_run(argv, 60, &r));
    cr_assert_eq(r.status, 0, "%s", r.err);
    size_t n = 0;
    unsigned char *data = tu_read_file(png, &n);
    cr_assert(data && n > 1000 && memcmp(data, "\x89PNG", 4) == 0);
    free(data);
    tu_run_free(&r);
    argv[10] = svg; // as text: both badges and the ratio line are there
    cr_assert(tu_run(argv, 60, &r));
    cr_assert_eq(r.status, 0, "%s", r.err);
    data = tu_read_file(svg, &n);
    cr_assert_not_null(data);
    char *text = (char *)data;
    cr_assert(strstr(text, "NO CACHE") && strstr(text, "KV CACHE ON"), "both lanes");
    cr_assert(strstr(text, "the FLOPs and"), "the ratios");
    free(data);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(png);
    free(svg);
}
