// test_inspect.c — what explains the picture with numbers.
//
// The inspector (suite inspect): the numbers of one cache cell (a query head's query, the keys
// and values it read, the scores, softmax weights and weighted sum) are the engine's, and every
// number the picture draws equals a recomputation from the cache's rows and the query, under the
// full cache, no cache, bounded retention and quantized precisions. A closed inspector records
// nothing; stepping back and forward updates it; its text is legible at 1280x720 in both themes.
//
// Side by side (suite split): a twin session follows a session step for step in the other cache
// mode with the same tokens; each side's FLOPs are its own counted work (held to DESIGN's closed
// forms), the picture's ratios are those totals', the logit difference is measured when both
// compute a step (0 for the full f32 cache: bit-identical), back and forward and a mode change
// keep the two in step, and off frees the twin. From lessons: `inspect ...` and `split on|off`.
#include "util/testutil.h"
#include "app/app.h"
#include "lesson/lesson.h"
#include "view/view.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VOCAB 400
static const char *const PROMPT = "once upon a time in a kingdom far away Mia met a fox";

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
} Fixture;

// 4 heads sharing 2 kv heads (so the kv head of a query head is h / 2), sampling at temperature 1
static void fixture_open(Fixture *f, int dim, int layers, int seq_len, uint64_t seed) {
    KvError err = {0};
    ModelConfig c = tu_config(dim, 96, layers, 4, 2, VOCAB, seq_len, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, seed, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f->s, PROMPT, &err), KV_OK, "%s", err.msg);
    session_set_sampler(&f->s, (SamplerSettings){.temperature = 1.0f, .top_p = 0.9f, .seed = 5});
}

// The inspector's: heads of 32 (what the quantized kinds pack), 3 layers, a context of 96.
static void fixture_init(Fixture *f) {
    fixture_open(f, 128, 3, 96, 11);
}

static void fixture_free(Fixture *f) {
    tu_session_close(&f->m, &f->t, &f->s);
}

static void steps(Session *s, int n) {
    for (int i = 0; i < n; i++)
        cr_assert(session_step(s), "step %d", i);
}

// ----------------------------------------------------------------------------------------------
// The recomputation: from rows the KvCache API gives and the probe's query, in double

typedef struct {
    int n;
    int pos[512];
    double score[512], weight[512], out[64];
    const float *keys[512], *values[512];
} Recomputed;

static void recompute(const KvCache *kc, int layer, int kv_head, int pos, const float *q, int hs,
                      Recomputed *r) {
    const KvHeadRows rows = kvcache_head(kc, layer, kv_head, pos);
    cr_assert(rows.n > 0 && rows.n <= 512);
    r->n = rows.n;
    double mx = -INFINITY;
    for (int i = 0; i < rows.n; i++) {
        r->pos[i] = rows.pos ? rows.pos[i] : i;
        r->keys[i] = rows.keys + (size_t)i * rows.stride;
        r->values[i] = rows.values + (size_t)i * rows.stride;
        double dot = 0;
        for (int j = 0; j < hs; j++)
            dot += (double)q[j] * r->keys[i][j];
        r->score[i] = dot / sqrt((double)hs);
        mx = fmax(mx, r->score[i]);
    }
    double sum = 0;
    for (int i = 0; i < rows.n; i++)
        sum += r->weight[i] = exp(r->score[i] - mx);
    for (int j = 0; j < hs; j++)
        r->out[j] = 0;
    for (int i = 0; i < rows.n; i++) {
        r->weight[i] /= sum;
        for (int j = 0; j < hs; j++)
            r->out[j] += r->weight[i] * r->values[i][j];
    }
}

// Every number the probe holds against the recomputation, and the weights against the attention
// row the step itself recorded (the replay computed what the step computed).
static void check_probe(const Session *s, const AttnProbe *p, const Recomputed *r, int layer,
                        int head, bool bitwise_rows) {
    const int hs = p->head_size;
    const StepRecord *last = session_last(s);
    cr_assert_eq(p->n, r->n, "rows read: probe %d, cache %d", p->n, r->n);
    cr_assert_eq(p->pos, last->pos);
    for (int i = 0; i < p->n; i++) {
        cr_assert_eq(p->row_pos[i], r->pos[i], "row %d", i);
        for (int j = 0; j < hs; j++) {
            const float k = p->keys[(size_t)i * hs + j], v = p->values[(size_t)i * hs + j];
            if (bitwise_rows) {
                cr_assert(k == r->keys[i][j] && v == r->values[i][j], "row %d element %d", i, j);
            } else {
                cr_assert(fabsf(k - r->keys[i][j]) <= 1e-5f * (1 + fabsf(k)), "key %d %d", i, j);
                cr_assert(fabsf(v - r->values[i][j]) <= 1e-5f * (1 + fabsf(v)), "value %d %d", i,
                          j);
            }
        }
        cr_assert(fabs(p->scores[i] - r->score[i]) <= 1e-4 * (1 + fabs(r->score[i])),
                  "score of %d: %g, recomputed %g", r->pos[i], p->scores[i], r->score[i]);
        cr_assert(fabs(p->weights[i] - r->weight[i]) <= 1e-5, "weight of %d: %g, recomputed %g",
                  r->pos[i], p->weights[i], r->weight[i]);
        const float recorded = session_attention(s, last->pos, p->row_pos[i], layer, head);
        cr_assert(p->weights[i] == recorded, "weight of %d: probe %.9g, the step recorded %.9g",
                  p->row_pos[i], p->weights[i], recorded);
    }
    for (int j = 0; j < hs; j++)
        cr_assert(fabs(p->out[j] - r->out[j]) <= 1e-4 * (1 + fabs(r->out[j])),
                  "output %d: %g, recomputed %g", j, p->out[j], r->out[j]);
}

// Every number the inspector draws: its text read back equals the recomputed value as printed
// (to its decimals), and it says which quantity and element it is.
static void check_drawn(Session *s, View *v, const Recomputed *r, int w, int h) {
    SceneInspect o;
    scene_inspect_layout(s, v, w, h, &o);
    cr_assert(o.open && o.captured);
    const AttnProbe *p = session_probe(s, o.layer, o.head);
    cr_assert_not_null(p);
    int row = -1;
    for (int i = 0; i < r->n; i++)
        if (r->pos[i] == v->inspect_pos)
            row = i;
    cr_assert_eq(o.row, row);
    int counted[INSPECT_QUANTITIES] = {0};
    for (int k = 0; k < o.n_numbers; k++) {
        const SceneInspectNumber *n = &o.num[k];
        double want = 0, tol = 0;
        int i = -1;
        switch (n->what) {
        case INSPECT_QUERY:
            want = p->q[n->index], tol = 0.005;
            break;
        case INSPECT_KEY:
            cr_assert(row >= 0);
            want = r->keys[row][n->index], tol = 0.005;
            break;
        case INSPECT_VALUE:
            cr_assert(row >= 0);
            want = r->values[row][n->index], tol = 0.005;
            break;
        case INSPECT_OUT:
            want = r->out[n->index], tol = 0.005;
            break;
        case INSPECT_SCORE:
        case INSPECT_WEIGHT:
            for (int j = 0; j < r->n; j++)
                if (r->pos[j] == n->index)
                    i = j;
            cr_assert(i >= 0, "position %d is not one the step read", n->index);
            want = n->what == INSPECT_SCORE ? r->score[i] : r->weight[i];
            tol = 0.0005;
            break;
        default:
            cr_assert_fail("unknown quantity");
        }
        char *end;
        const double shown = strtod(n->text, &end);
        cr_assert(*end == '\0' && end != n->text, "'%s' is not a number", n->text);
        cr_assert(fabs(shown - want) <= tol + 1e-4 * fabs(want),
                  "quantity %d index %d shows %s, recomputed %.6f", n->what, n->index, n->text,
                  want);
        counted[n->what]++;
    }
    cr_assert_eq(counted[INSPECT_QUERY], o.n_vec);
    cr_assert_eq(counted[INSPECT_OUT], o.n_vec);
    cr_assert_eq(counted[INSPECT_KEY], row >= 0 ? o.n_vec : 0);
    cr_assert_eq(counted[INSPECT_SCORE], o.n_columns);
    cr_assert_eq(counted[INSPECT_WEIGHT], o.n_columns);
    cr_assert(o.n_columns >= 1);
}

// One configuration: steps, then the inspector on (layer, pos, head) against the cache.
static void check_config(const char *policy, KvPrecision kv, int n_steps, int layer, int pos,
                         int head) {
    Fixture f;
    fixture_init(&f);
    KvError err = {0};
    if (kv != KV_PRECISION_F32)
        cr_assert_eq(session_set_kv(&f.s, kv, &err), KV_OK, "%s", err.msg);
    if (policy) {
        KvCacheKind kind = KV_CACHE_DENSE;
        cr_assert_eq(kv_parse_retention("--cache", policy, &kind, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(session_set_cache(&f.s, kind, &err), KV_OK, "%s", err.msg);
    }
    steps(&f.s, n_steps);
    const AttnProbe *p = session_inspect(&f.s, layer, head);
    cr_assert_not_null(p);
    const int g = head / (f.m.cfg.n_heads / f.m.cfg.n_kv_heads);
    cr_assert_eq(p->kv_head, g);
    Recomputed r;
    recompute(&f.s.eng.cache, layer, g, session_last(&f.s)->pos, p->q, p->head_size, &r);
    check_probe(&f.s, p, &r, layer, head, true);
    View v;
    view_init(&v);
    v.inspect = true;
    v.inspect_layer = layer;
    v.inspect_pos = pos;
    v.inspect_head = head;
    check_drawn(&f.s, &v, &r, 1280, 720);
    check_drawn(&f.s, &v, &r, 1920, 1080);
    fixture_free(&f);
}

Test(inspect, numbers_full_cache) {
    check_config(NULL, KV_PRECISION_F32, 6, 1, 4, 3);
}

Test(inspect, numbers_bounded_window) {
    check_config("window:8", KV_PRECISION_F32, 12, 2, 20, 1); // past the window: sliding
}

Test(inspect, numbers_sinks) { // keys rotated by their index in the cache at read time
    check_config("sinks:2,6", KV_PRECISION_F32, 12, 0, 1, 0);
}

Test(inspect, numbers_h2o) {
    check_config("h2o:4,4", KV_PRECISION_F32, 12, 1, 3, 2);
}

Test(inspect, numbers_int8_dequantized) { // the keys read are the dequantized ones
    check_config(NULL, KV_PRECISION_INT8, 5, 2, 7, 1);
}

Test(inspect, numbers_int4_dequantized) {
    check_config(NULL, KV_PRECISION_INT4, 5, 0, 2, 3);
}

Test(inspect, numbers_kivi2) { // 32-position groups quantized, the newest in f32
    check_config(NULL, KV_PRECISION_KIVI2, 30, 1, 5, 0);
}

// Without the cache the step recomputes every key and value: they equal a cached run's rows.
Test(inspect, numbers_no_cache) {
    Fixture f, g;
    fixture_init(&f);
    fixture_init(&g);
    session_set_mode(&f.s, CACHE_MODE_OFF);
    steps(&f.s, 5);
    steps(&g.s, 5);
    const AttnProbe *p = session_inspect(&f.s, 2, 1);
    cr_assert_not_null(p);
    cr_assert_eq(kvcache_len(&f.s.eng.cache), 0); // no cache: nothing kept
    Recomputed r;
    recompute(&g.s.eng.cache, 2, 0, session_last(&g.s)->pos, p->q, p->head_size, &r);
    check_probe(&f.s, p, &r, 2, 1, true);
    View v;
    view_init(&v);
    v.inspect = true;
    v.inspect_layer = 2;
    v.inspect_pos = 3;
    v.inspect_head = 1;
    check_drawn(&f.s, &v, &r, 1280, 720);
    fixture_free(&f);
    fixture_free(&g);
}

// ----------------------------------------------------------------------------------------------
// What it costs, and stepping

Test(inspect, closed_records_nothing) {
    Fixture f;
    fixture_init(&f);
    View v;
    view_init(&v); // inspector closed
    steps(&f.s, 4);
    view_prepare(&f.s, &v);
    cr_assert_null(f.s.eng.probe, "the session's engine is never probed");
    cr_assert_null(f.s.probe_eng.model, "no probe engine while the inspector is closed");
    cr_assert_not(f.s.probe.captured);
    cr_assert_null(session_probe(&f.s, 0, 0));
    // opened: the session's engine, counters and cache are untouched
    const Counters before = session_last(&f.s)->total;
    const int len = kvcache_len(&f.s.eng.cache);
    v.inspect = true;
    view_prepare(&f.s, &v);
    cr_assert_not_null(session_probe(&f.s, 0, 0));
    cr_assert_null(f.s.eng.probe);
    cr_assert_null(f.s.probe_eng.probe, "the probe is off again after the replay");
    cr_assert_eq(memcmp(&before, &session_last(&f.s)->total, sizeof before), 0);
    cr_assert_eq(kvcache_len(&f.s.eng.cache), len);
    // and the next steps are what they would have been
    Fixture g;
    fixture_init(&g);
    steps(&f.s, 3);
    steps(&g.s, 7);
    cr_assert_eq(f.s.n_tokens, g.s.n_tokens);
    cr_assert_eq(memcmp(f.s.tokens, g.s.tokens, (size_t)g.s.n_tokens * sizeof(int)), 0);
    cr_assert_eq(memcmp(&session_last(&f.s)->total.flops, &session_last(&g.s)->total.flops,
                        sizeof g.s.steps[0].total.flops),
                 0);
    fixture_free(&f);
    fixture_free(&g);
}

Test(inspect, back_and_forward_update) {
    Fixture f;
    fixture_init(&f);
    steps(&f.s, 6);
    const AttnProbe *p = session_inspect(&f.s, 1, 2);
    cr_assert_not_null(p);
    const int pos6 = p->pos, n6 = p->n;
    cr_assert(session_back(&f.s));
    cr_assert_null(session_probe(&f.s, 1, 2), "stale after a step back");
    p = session_inspect(&f.s, 1, 2);
    cr_assert_not_null(p);
    cr_assert_eq(p->pos, pos6 - 1);
    cr_assert_eq(p->n, n6 - 1);
    Recomputed r;
    recompute(&f.s.eng.cache, 1, 1, p->pos, p->q, p->head_size, &r);
    check_probe(&f.s, p, &r, 1, 2, true);
    cr_assert(session_step(&f.s)); // redone from the record
    cr_assert_null(session_probe(&f.s, 1, 2));
    p = session_inspect(&f.s, 1, 2);
    cr_assert_eq(p->pos, pos6);
    recompute(&f.s.eng.cache, 1, 1, p->pos, p->q, p->head_size, &r);
    check_probe(&f.s, p, &r, 1, 2, true);
    // another head, and the cache turned off and on between steps
    session_set_mode(&f.s, CACHE_MODE_OFF);
    steps(&f.s, 2);
    session_set_mode(&f.s, CACHE_MODE_ON);
    steps(&f.s, 2);
    p = session_inspect(&f.s, 0, 0);
    cr_assert_not_null(p);
    recompute(&f.s.eng.cache, 0, 0, p->pos, p->q, p->head_size, &r);
    check_probe(&f.s, p, &r, 0, 0, true);
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Legible at 1280x720 in both themes (sizes and contrast from the scene's own text reports)

typedef struct {
    SceneRect panel;
    int n, small, faint;
    double min_size, min_contrast;
} TextCheck;

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

static void on_text(void *ctx, const SceneText *t) {
    TextCheck *c = ctx;
    const SceneRect p = c->panel;
    if (t->box.x < p.x || t->box.y < p.y || t->box.x >= p.x + p.w || t->box.y >= p.y + p.h)
        return;
    c->n++;
    c->min_size = fmin(c->min_size, t->size);
    c->min_contrast = fmin(c->min_contrast, contrast(t->colour, t->background));
}

Test(inspect, legible_at_1280x720_both_themes) {
    Fixture f;
    fixture_init(&f);
    steps(&f.s, 5);
    for (int theme = 0; theme < 2; theme++) {
        View v;
        view_init(&v);
        v.theme = (ThemeKind)theme;
        v.inspect = true;
        v.inspect_layer = 1;
        v.inspect_pos = 2;
        view_prepare(&f.s, &v);
        SceneInspect o;
        scene_inspect_layout(&f.s, &v, 1280, 720, &o);
        cr_assert(o.captured);
        cr_assert(o.font >= 14.0, "numbers at %.1f px", o.font);
        TextCheck c = {.panel = o.panel, .min_size = 1e9, .min_contrast = 1e9};
        SceneTextSink sink = {on_text, &c};
        v.text_sink = &sink;
        cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
        cairo_t *cr = cairo_create(surf);
        scene_draw(cr, &f.s, &v, 1280, 720, 1.0);
        cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
        cairo_destroy(cr);
        cairo_surface_destroy(surf);
        cr_assert(c.n >= o.n_numbers, "texts in the panel: %d for %d numbers", c.n, o.n_numbers);
        cr_assert(c.min_size >= 14.0, "theme %d: a text at %.2f px", theme, c.min_size);
        cr_assert(c.min_contrast >= 4.5, "theme %d: contrast %.2f", theme, c.min_contrast);
        // the panel keeps inside the picture and every number inside the panel
        cr_assert(o.panel.x >= 0 && o.panel.y >= 0 && o.panel.x + o.panel.w <= 1280 &&
                  o.panel.y + o.panel.h <= 720);
        for (int k = 0; k < o.n_numbers; k++) {
            const SceneRect b = o.num[k].box;
            cr_assert(b.x >= o.panel.x && b.x + b.w <= o.panel.x + o.panel.w + 0.5 &&
                          b.y >= o.panel.y && b.y + b.h <= o.panel.y + o.panel.h + 0.5,
                      "number %d outside the panel", k);
        }
    }
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// From lessons: inspect LAYER POS [HEAD] | inspect off, every bad input its own message

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

Test(inspect, lesson_command) {
    Lesson l;
    KvError err = {0};
    const char *ok = "preset narrative\nstep 2\ninspect 2 5 3\nbeat\ninspect 1 0\nbeat\n"
                     "inspect off\nbeat\n";
    cr_assert_eq(lesson_parse(&l, LPATH, ok, strlen(ok), presets, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(l.cmds[2].op, LESSON_INSPECT);
    cr_assert_eq(l.cmds[2].n, 1);
    cr_assert_float_eq(l.cmds[2].x, 5.0, 0);
    cr_assert_eq(l.cmds[2].n2, 2);
    cr_assert_eq(l.cmds[4].n2, -1, "no head: the view's");
    cr_assert_eq(l.cmds[6].n, -1, "off");
    lesson_free(&l);
    lesson_error("preset narrative\ninspect\nbeat\n",
                 LPATH ":2: inspect: needs a layer and a position, optionally a head (inspect 2 5 "
                       "1), or off");
    lesson_error("preset narrative\ninspect 2\nbeat\n",
                 LPATH ":2: inspect: needs a layer and a position, optionally a head (inspect 2 5 "
                       "1), or off");
    lesson_error("preset narrative\ninspect on\nbeat\n",
                 LPATH ":2: inspect: needs a layer and a position, optionally a head (inspect 2 5 "
                       "1), or off");
    lesson_error("preset narrative\ninspect 2 5 1 7\nbeat\n",
                 LPATH ":2: inspect: extra argument '7'");
    lesson_error("preset narrative\ninspect x 5\nbeat\n",
                 LPATH ":2: inspect: layer: 'x' is not a whole number");
    lesson_error("preset narrative\ninspect 0 5\nbeat\n",
                 LPATH ":2: inspect: layer: 0 is out of range (1..256)");
    lesson_error("preset narrative\ninspect 1 -1\nbeat\n",
                 LPATH ":2: inspect: position: -1 is out of range (0..65535)");
    lesson_error("preset narrative\ninspect 1 2 mean\nbeat\n",
                 LPATH ":2: inspect: head: 'mean' is not a whole number");
    lesson_error("preset narrative\ninspect 1 2 0\nbeat\n",
                 LPATH ":2: inspect: head: 0 is out of range (1..256)");
}

// What needs the model: its layers and heads, its context.
Test(inspect, lesson_check_against_the_model) {
    Fixture f;
    fixture_init(&f); // 3 layers, 4 heads, a context of 96
    const char *cases[][2] = {
        {"preset narrative\nstep 1\ninspect 4 1\nbeat\n",
         LPATH ":3: inspect: layer 4: the model has 3 layers"},
        {"preset narrative\nstep 1\ninspect 3 1 5\nbeat\n",
         LPATH ":3: inspect: head 5: the model has 4 heads"},
        {"preset narrative\nstep 1\ninspect 1 96\nbeat\n",
         LPATH ":3: inspect: position 96: past the model's context of 96"},
        {"preset narrative\nstep 1\ninspect 3 95 4\nbeat\n", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Lesson l;
        KvError err = {0};
        cr_assert_eq(lesson_parse(&l, LPATH, cases[i][0], strlen(cases[i][0]), presets, &err),
                     KV_OK, "%s", err.msg);
        KvStatus st = lesson_check(&l, &f.m, &f.t, &err);
        lesson_free(&l);
        if (cases[i][1]) {
            cr_assert_eq(st, KV_ERR_INPUT, "case %zu passed", i);
            cr_assert_str_eq(err.msg, cases[i][1]);
        } else {
            cr_assert_eq(st, KV_OK, "%s", err.msg);
        }
    }
    fixture_free(&f);
}

// A lesson beat with the inspector open: the player records the numbers (and the {probe_*}
// placeholders read them) before anyone draws the beat.
Test(inspect, lesson_player_records_the_beat) {
    Fixture f;
    fixture_init(&f);
    Lesson l;
    KvError err = {0};
    const char *text = "preset narrative\nstep 3\ninspect 2 1 3\ncaption C\n"
                       "text {probe_top} gets {probe_weight} of {probe_read}\nbeat\n"
                       "inspect off\nstep 1\nbeat\n";
    cr_assert_eq(lesson_parse(&l, LPATH, text, strlen(text), presets, &err), KV_OK, "%s", err.msg);
    LessonPlayer p;
    lesson_player_init(&p, &l, &f.s);
    cr_assert_eq(lesson_player_goto(&p, 0, &err), KV_OK, "%s", err.msg);
    View v;
    view_init(&v);
    lesson_player_view(&p, &v);
    cr_assert(v.inspect && v.inspect_layer == 1 && v.inspect_pos == 1 && v.inspect_head == 2);
    const AttnProbe *pr = session_probe(&f.s, 1, 2);
    cr_assert_not_null(pr, "recorded by the player");
    int top = 0;
    for (int i = 1; i < pr->n; i++)
        if (pr->weights[i] > pr->weights[top])
            top = i;
    char want[64];
    snprintf(want, sizeof want, " gets %.3f of %d", (double)pr->weights[top], pr->n);
    cr_assert(strstr(p.text, want), "caption '%s' lacks '%s'", p.text, want);
    snprintf(want, sizeof want, "position %d ", pr->row_pos[top]);
    cr_assert(strncmp(p.text, want, strlen(want)) == 0, "caption '%s'", p.text);
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK, "%s", err.msg);
    lesson_player_view(&p, &v);
    cr_assert_not(v.inspect);
    lesson_free(&l);
    fixture_free(&f);
}

// Lesson 9 on the shipped model, every beat at 1280x720 in both themes: the inspector open on a
// real step, captions at 24 px or more, every other text at 14 px or more, contrast 4.5:1.
typedef struct {
    int n_caption;
    double min_size, min_caption, min_contrast;
} BeatTexts;

static void on_beat_text(void *ctx, const SceneText *t) {
    BeatTexts *b = ctx;
    b->min_size = fmin(b->min_size, t->size);
    b->min_contrast = fmin(b->min_contrast, contrast(t->colour, t->background));
    if (t->role == SCENE_TEXT_CAPTION) {
        b->n_caption++;
        b->min_caption = fmin(b->min_caption, t->size);
    }
}

Test(inspect, lesson_9_legible_at_1280x720, .timeout = 300) {
    if (access("assets/models/kvscope6.bin", R_OK) != 0)
        cr_skip_test("the shipped model is not there");
    Model m;
    Tokenizer t;
    Session s;
    Lesson l;
    KvError err = {0};
    cr_assert_eq(model_load(&m, "assets/models/kvscope6.bin", &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tokenizer_load(&t, "assets/models/tokenizer.bin", m.cfg.vocab_size, &err), KV_OK,
                 "%s", err.msg);
    cr_assert_eq(session_init(&s, &m, &t, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_load(&l, "lessons/09-one-attention-step.lesson", app_presets, &err), KV_OK,
                 "%s", err.msg);
    cr_assert_eq(lesson_check(&l, &m, &t, &err), KV_OK, "%s", err.msg);
    LessonPlayer p;
    lesson_player_init(&p, &l, &s);
    int inspected = 0;
    for (int k = 0; k < l.n_beats; k++) {
        cr_assert_eq(lesson_player_goto(&p, k, &err), KV_OK, "%s", err.msg);
        for (int theme = 0; theme < 2; theme++) {
            View v;
            view_init(&v);
            lesson_player_view(&p, &v);
            v.theme = (ThemeKind)theme;
            BeatTexts b = {.min_size = 1e9, .min_caption = 1e9, .min_contrast = 1e9};
            SceneTextSink sink = {on_beat_text, &b};
            v.text_sink = &sink;
            cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
            cairo_t *cr = cairo_create(surf);
            scene_draw(cr, &s, &v, 1280, 720, 1.0);
            cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
            cairo_destroy(cr);
            cairo_surface_destroy(surf);
            cr_assert_gt(b.n_caption, 0, "beat %d has its caption", k + 1);
            cr_assert_geq(b.min_caption, 24.0, "beat %d: a caption at %.2f px", k + 1,
                          b.min_caption);
            cr_assert_geq(b.min_size, 14.0, "beat %d: a text at %.2f px", k + 1, b.min_size);
            cr_assert_geq(b.min_contrast, 4.5, "beat %d, theme %d: contrast %.2f", k + 1, theme,
                          b.min_contrast);
            SceneInspect o;
            scene_inspect_layout(&s, &v, 1280, 720, &o);
            if (o.open) {
                cr_assert(o.captured, "beat %d: the numbers were recorded", k + 1);
                cr_assert_geq(o.n_vec, 16, "beat %d: %d numbers a vector", k + 1, o.n_vec);
                inspected++;
            }
        }
        cr_assert(!strchr(p.text, '{') && !strstr(p.text, "(inspect"), "beat %d: '%s'", k + 1,
                  p.text);
    }
    cr_assert_eq(inspected, 2 * l.n_beats, "the inspector is open on every beat");
    lesson_free(&l);
    session_free(&s);
    tokenizer_free(&t);
    model_free(&m);
}

// ----------------------------------------------------------------------------------------------
// render --inspect: bad values, one line each, status 2, no file

Test(inspect, render_option, .timeout = 120) {
    const char *bin = tu_kvscope_bin();
    if (!bin)
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir(), *png = tu_join(dir, "i.png");
    const char *cases[][2] = {
        {"2", "kvscope: --inspect: expected LAYER,POSITION[,HEAD], not '2'\n"},
        {"1,2,3,4", "kvscope: --inspect: expected LAYER,POSITION[,HEAD], not '1,2,3,4'\n"},
        {"9,2", "kvscope: --inspect: layer: 9 is out of range (1..6)\n"},
        {"0,2", "kvscope: --inspect: layer: 0 is out of range (1..6)\n"},
        {"1,x", "kvscope: --inspect: position: 'x' is not a whole number\n"},
        {"1,512", "kvscope: --inspect: position: 512 is out of range (0..511)\n"},
        {"1,2,5", "kvscope: --inspect: head: 5 is out of range (1..4)\n"},
        {"1,,2", "kvscope: --inspect: position: '' is not a whole number\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {(char *)bin, "render", "--preset",  "fact",
                        "--steps",   "1",      "--inspect", (char *)cases[i][0],
                        "-o",        png,      NULL};
        TuRun r;
        cr_assert(tu_run(argv, 60, &r));
        cr_assert_eq(r.status, 2, "%s: status %d (%s)", cases[i][0], r.status, r.err);
        cr_assert_str_eq(r.err, cases[i][1]);
        cr_assert_eq(access(png, F_OK), -1, "a refused render left a file");
        tu_run_free(&r);
    }
    char *argv[] = {(char *)bin, "render",    "--preset", "fact", "--steps", "2", "--size",
                    "1280x720",  "--inspect", "6,6,1",    "-o",   png,       NULL};
    TuRun r;
    cr_assert(tu_run(argv, 60, &r));
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(access(png, F_OK), 0);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(png);
}

// ----------------------------------------------------------------------------------------------
// Side by side

// The split's: a smaller model with a longer context.
static void fixture_split(Fixture *f) {
    fixture_open(f, 64, 2, 128, 13);
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
    fixture_split(&f);
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
    fixture_split(&f);
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
    fixture_split(&f);
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
    fixture_split(&f);
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

typedef struct {
    int n, counters, tokens;
    double min_size, min_counter, min_token, min_contrast;
    bool saw_ratio;
} Texts;

static void on_split_text(void *ctx, const SceneText *t) {
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
    fixture_split(&f);
    session_set_twin(&f.s, true);
    steps(&f.s, 6);
    for (int theme = 0; theme < 2; theme++) {
        View v;
        view_init(&v);
        v.split = true;
        v.theme = (ThemeKind)theme;
        Texts x = {.min_size = 1e9, .min_counter = 1e9, .min_token = 1e9, .min_contrast = 1e9};
        SceneTextSink sink = {on_split_text, &x};
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

Test(split, lesson_command) {
    lesson_error("preset narrative\nsplit\nbeat\n", LPATH ":2: split: needs on or off");
    lesson_error("preset narrative\nsplit yes\nbeat\n",
                 LPATH ":2: split: expected on or off, not 'yes'");
    lesson_error("preset narrative\nsplit on off\nbeat\n", LPATH ":2: split: extra argument 'off'");
    Fixture f;
    fixture_split(&f);
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

// Every element of each vector is written as a number, wherever the panel stands: the sequence
// view with and without a lesson caption, the split screen with and without one, at 1280x720
// and 1920x1080; the numbers at 14 px or more, inside the panel, the panel inside the picture.
static void assert_all_numbers(const Session *s, const View *v, int w, int h, const char *what) {
    SceneInspect o;
    scene_inspect_layout(s, v, w, h, &o);
    cr_assert(o.open && o.captured, "%s: no numbers", what);
    const int hs = config_head_size(&s->model->cfg);
    int count[INSPECT_QUANTITIES] = {0};
    for (int k = 0; k < o.n_numbers; k++) {
        count[o.num[k].what]++;
        const SceneRect b = o.num[k].box;
        cr_assert(b.x >= o.panel.x && b.x + b.w <= o.panel.x + o.panel.w + 0.5 &&
                      b.y >= o.panel.y && b.y + b.h <= o.panel.y + o.panel.h + 0.5,
                  "%s: number %d outside the panel", what, k);
    }
    cr_assert_eq(o.n_vec, hs, "%s: %d of %d elements", what, o.n_vec, hs);
    for (int q = INSPECT_QUERY; q <= INSPECT_OUT; q++)
        cr_assert_eq(count[q], o.row >= 0 || q == INSPECT_QUERY || q == INSPECT_OUT ? hs : 0,
                     "%s: quantity %d has %d numbers", what, q, count[q]);
    cr_assert_geq(o.font, 14.0 * h / 720 - 0.01, "%s: numbers at %.2f px", what, o.font);
    cr_assert(o.panel.x >= 0 && o.panel.y >= 0 && o.panel.x + o.panel.w <= w + 0.5 &&
                  o.panel.y + o.panel.h <= h + 0.5,
              "%s: the panel leaves the picture", what);
}

Test(inspect, every_number_of_every_vector_shown, .timeout = 120) {
    Fixture f;
    fixture_init(&f);
    steps(&f.s, 8);
    View v;
    view_init(&v);
    v.inspect = true;
    v.inspect_layer = 1;
    v.inspect_pos = 3;
    const int sizes[][2] = {{1280, 720}, {1920, 1080}};
    for (int split = 0; split < 2; split++)
        for (int cap = 0; cap < 2; cap++)
            for (int k = 0; k < 2; k++) {
                v.split = split;
                v.caption_title = cap ? "One attention step" : NULL;
                v.caption_text = cap ? "The write head's query meets every key it reads; the "
                                       "weights mix the values."
                                     : NULL;
                view_prepare(&f.s, &v);
                char what[64];
                snprintf(what, sizeof what, "%s%s %dx%d", split ? "split" : "sequence",
                         cap ? " + caption" : "", sizes[k][0], sizes[k][1]);
                assert_all_numbers(&f.s, &v, sizes[k][0], sizes[k][1], what);
            }
    fixture_free(&f);
}

// Side by side, a click on a cache cell of either lane finds that cell (the window opens the
// inspector on it), and the inspector stands over the other session's lane.
Test(split, a_cache_cell_of_either_lane_opens_the_inspector, .timeout = 120) {
    Fixture f;
    fixture_init(&f);
    View v;
    view_init(&v);
    v.split = true;
    view_prepare(&f.s, &v);
    steps(&f.s, 6);
    view_prepare(&f.s, &v);
    for (int lane = 0; lane < 2; lane++) {
        SceneLayout L;
        scene_split_lane_layout(&f.s, &v, 1280, 720, lane, &L);
        SceneRect b;
        cr_assert(scene_block_box(&L, 4, 2, &b), "lane %d: no block 4 of layer 3", lane);
        int got_lane = -1, tok = -1, layer = -1;
        cr_assert(scene_split_hit_block(&f.s, &v, 1280, 720, b.x + b.w / 2, b.y + b.h / 2,
                                        &got_lane, &tok, &layer));
        cr_assert(got_lane == lane && tok == 4 && layer == 2, "lane %d: got lane %d, %d, %d", lane,
                  got_lane, tok, layer);
    }
    int a, b, c;
    cr_assert_not(scene_split_hit_block(&f.s, &v, 1280, 720, 2, 2, &a, &b, &c), "a corner");
    v.inspect = true;
    v.inspect_layer = 2;
    v.inspect_pos = 4;
    view_prepare(&f.s, &v);
    SceneSplit sp;
    scene_split_layout(&f.s, &v, 1280, 720, &sp);
    SceneInspect o;
    scene_inspect_layout(&f.s, &v, 1280, 720, &o);
    cr_assert(o.captured);
    const int mine = sp.side[0] == &f.s ? 0 : 1;
    const SceneRect other = sp.lane[1 - mine];
    cr_assert(o.panel.y <= other.y + 0.5 && o.panel.y + o.panel.h >= other.y + other.h - 0.5,
              "the panel covers the other lane");
    SceneLayout L;
    scene_split_lane_layout(&f.s, &v, 1280, 720, mine, &L);
    SceneRect cell;
    cr_assert(scene_block_box(&L, 4, 2, &cell));
    cr_assert(L.token_row.y + L.token_row.h <= o.panel.y || L.token_row.y >= o.panel.y + o.panel.h,
              "the inspected session's tokens stay in sight");
    fixture_free(&f);
}

// `view split` in a lesson is the split screen (as `split on`), another view after it that view
// alone; `--view split` on render is --split; an unknown view's message names split.
Test(split, view_split_in_lessons_and_render, .timeout = 120) {
    Lesson l;
    KvError err = {0};
    const char *text = "preset narrative\nview split\nstep 2\nbeat\nview heatmap\nbeat\n";
    cr_assert_eq(lesson_parse(&l, LPATH, text, strlen(text), presets, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(l.cmds[1].op, LESSON_VIEW);
    cr_assert_eq(l.cmds[1].n, VIEW_KINDS, "the split screen is past the view table");
    Fixture f;
    fixture_open(&f, 64, 2, 128, 13);
    LessonPlayer p;
    lesson_player_init(&p, &l, &f.s);
    cr_assert_eq(lesson_player_goto(&p, 0, &err), KV_OK, "%s", err.msg);
    View v;
    view_init(&v);
    lesson_player_view(&p, &v);
    cr_assert(v.split && v.kind == VIEW_SEQUENCE);
    cr_assert_not_null(f.s.twin, "the twin steps from the split on");
    cr_assert_eq(f.s.twin->cursor, f.s.cursor);
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK, "%s", err.msg);
    lesson_player_view(&p, &v);
    cr_assert(!v.split && v.kind == VIEW_HEATMAP);
    cr_assert_null(f.s.twin);
    lesson_player_free(&p);
    lesson_free(&l);
    fixture_free(&f);
    lesson_error("preset narrative\nview splat\nbeat\n",
                 LPATH ":2: view: unknown view 'splat' (sequence, heatmap, layers, memory, 3d, "
                       "sampling, pool, split)");
    const char *bin = tu_kvscope_bin();
    if (!bin)
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir(), *svg = tu_join(dir, "s.svg");
    char *argv[] = {(char *)bin, "render", "--preset", "fact", "--steps", "2",
                    "--view",    "split",  "-o",       svg,    NULL};
    TuRun r;
    cr_assert(tu_run(argv, 60, &r));
    cr_assert_eq(r.status, 0, "%s", r.err);
    size_t n = 0;
    char *data = (char *)tu_read_file(svg, &n);
    cr_assert(data && strstr(data, "NO CACHE") && strstr(data, "KV CACHE ON"), "both lanes");
    free(data);
    tu_run_free(&r);
    unlink(svg);
    argv[7] = "splat";
    cr_assert(tu_run(argv, 60, &r));
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert_str_eq(r.err, "kvscope: --view: unknown view 'splat' (sequence, heatmap, layers, "
                            "memory, 3d, sampling, pool, split)\n");
    cr_assert_eq(access(svg, F_OK), -1, "a refused render left a file");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(svg);
}
