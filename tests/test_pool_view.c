// test_pool_view.c — the pool view (src/view/pool.c) read from the back of a classroom: at
// 1280x720, in both themes and at several moments of a serving session, no text under 14 px, the
// counters at 20 px or more, every text's contrast at least 4.5:1 (measured through the scene's
// text reports); and its geometry through pool_layout: a cell for every block, inside the grid
// and apart; the selected table's cells one per logical block; a row per sequence shown.
#include "util/testutil.h"
#include "view/view.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

TestSuite(pool_view, .fini = tu_leak_check);

static const ModelConfig small = {32, 64, 2, 4, 2, 400, 96, false};

static double lin(double c) {
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double luminance(SceneColour c) {
    return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
}

// WCAG 2 contrast; a translucent ink counts as its blend with what it stands on.
static double contrast(SceneColour fg, SceneColour bg) {
    const SceneColour ink = {fg.r * fg.a + bg.r * (1 - fg.a), fg.g * fg.a + bg.g * (1 - fg.a),
                             fg.b * fg.a + bg.b * (1 - fg.a), 1};
    const double a = luminance(ink), b = luminance(bg);
    return (fmax(a, b) + 0.05) / (fmin(a, b) + 0.05);
}

typedef struct {
    int n, n_counter;
    double min_size, min_counter, min_contrast;
    char worst_size[96], worst_contrast[96];
} Stats;

static void on_text(void *ctx, const SceneText *t) {
    Stats *st = ctx;
    st->n++;
    if (t->size < st->min_size) {
        st->min_size = t->size;
        snprintf(st->worst_size, sizeof st->worst_size, "%s", t->utf8);
    }
    if (t->role == SCENE_TEXT_COUNTER) {
        st->n_counter++;
        st->min_counter = fmin(st->min_counter, t->size);
    }
    const double c = contrast(t->colour, t->background);
    if (c < st->min_contrast) {
        st->min_contrast = c;
        snprintf(st->worst_contrast, sizeof st->worst_contrast, "%s", t->utf8);
    }
}

typedef struct {
    Model m;
    Tokenizer t;
    Serve s;
} Fixture;

static void fixture_open(Fixture *f) {
    KvError err = {0};
    cr_assert_eq(tu_model_random(&f->m, &small, 7, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_tokenizer(&f->t, small.vocab_size, &err), KV_OK, "%s", err.msg);
    serve_init(&f->s, &f->m, &f->t, 24, 4, true);
    const char *prompts[] = {"ab ab ab ab", "ab ab ab ab cd", "ab ab ab",
                             "ba ba",       "cd dc cd",       "ab ab ab ab ba"};
    for (int i = 0; i < 6; i++) {
        ServeRequest r = {.arrival = i / 2,
                          .max_new = 14,
                          .samples = i == 2 ? 3 : 1,
                          .sampler = {i == 2 ? 1.0f : 0.0f, 0.9f, 0, 42}};
        snprintf(r.prompt, sizeof r.prompt, "%s", prompts[i]);
        cr_assert_eq(serve_add(&f->s, &r, "request", &err), KV_OK, "%s", err.msg);
    }
}

static void fixture_close(Fixture *f) {
    serve_free(&f->s);
    tokenizer_free(&f->t);
    model_free(&f->m);
}

static Stats draw(const Serve *s, ThemeKind theme, int w, int h) {
    Stats st = {.min_size = 1e9, .min_counter = 1e9, .min_contrast = 1e9};
    SceneTextSink sink = {on_text, &st};
    View v;
    view_init(&v);
    v.kind = VIEW_POOL;
    v.serve = s;
    v.theme = theme;
    v.text_sink = &sink;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    cairo_t *cr = cairo_create(surf);
    scene_draw(cr, NULL, &v, w, h, 1.0);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    return st;
}

Test(pool_view, legible_at_1280x720_in_both_themes, .timeout = 120) {
    Fixture f;
    fixture_open(&f);
    for (int step = 0; step < 40; step++) {
        if (step == 0 || step == 2 || step == 6 || step == 12 || serve_done(&f.s))
            for (int theme = 0; theme < 2; theme++) {
                const Stats st = draw(&f.s, (ThemeKind)theme, 1280, 720);
                cr_assert_gt(st.n, 20, "step %d: %d texts", step, st.n);
                cr_assert_geq(st.min_size, 14.0, "step %d: \"%s\" at %.1f px", step, st.worst_size,
                              st.min_size);
                cr_assert_eq(st.n_counter, 12, "step %d: %d counters", step, st.n_counter);
                cr_assert_geq(st.min_counter, 20.0, "step %d: a counter at %.1f px", step,
                              st.min_counter);
                cr_assert_geq(st.min_contrast, 4.5, "step %d, theme %d: \"%s\" at %.2f:1", step,
                              theme, st.worst_contrast, st.min_contrast);
            }
        if (!serve_step(&f.s))
            break;
    }
    cr_assert(serve_done(&f.s));
    fixture_close(&f);
}

static bool inside(SceneRect a, SceneRect b) { // a inside b
    const double e = 1e-6;
    return a.x >= b.x - e && a.y >= b.y - e && a.x + a.w <= b.x + b.w + e &&
           a.y + a.h <= b.y + b.h + e;
}

static bool apart(SceneRect a, SceneRect b) {
    return a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
}

Test(pool_view, a_cell_for_every_block_and_a_row_for_every_sequence, .timeout = 60) {
    Fixture f;
    fixture_open(&f);
    for (int k = 0; k < 5; k++)
        cr_assert(serve_step(&f.s));
    View v;
    view_init(&v);
    v.kind = VIEW_POOL;
    v.serve = &f.s;
    PoolLayout L;
    pool_layout(&f.s, &v, 1280, 720, &L);
    cr_assert_eq(L.n_blocks, 24);
    for (int b = 0; b < L.n_blocks; b++) {
        cr_assert(inside(L.block[b], L.grid), "block %d outside the grid", b);
        cr_assert(L.block[b].x + L.block[b].w <= L.panel.x, "block %d under the panel", b);
        for (int c = 0; c < b; c++)
            cr_assert(apart(L.block[b], L.block[c]), "blocks %d and %d overlap", b, c);
    }
    // the selection: the running sequence that holds the most blocks, its table cell by cell
    cr_assert_geq(L.selected, 0);
    int most = 0;
    for (int k = 0; k < f.s.n_run; k++) {
        const int n = kvpaged_blocks(&f.s.seq[f.s.run[k]].cache);
        most = n > most ? n : most;
    }
    cr_assert_eq(kvpaged_blocks(&f.s.seq[L.selected].cache), most);
    cr_assert_eq(L.n_table, most);
    for (int i = 0; i < L.n_table; i++) {
        cr_assert(L.table_cell[i].y > L.grid.y + L.grid.h, "the table is under the grid");
        cr_assert(L.table_cell[i].x + L.table_cell[i].w <= L.panel.x);
    }
    // a row per sequence, running ones first, each with its paged and contiguous bars apart
    cr_assert_eq(L.n_rows, f.s.n_run + f.s.n_queue);
    for (int r = 0; r < L.n_rows; r++) {
        cr_assert_eq(L.row_seq[r], r < f.s.n_run ? f.s.run[r] : f.s.queue[r - f.s.n_run]);
        cr_assert(apart(L.row_paged[r], L.row_contig[r]));
        cr_assert(L.row_contig[r].x + L.row_contig[r].w <= L.panel.x);
        cr_assert(L.row_paged[r].y + L.row_paged[r].h <= 720);
    }
    // a chosen sequence is selected while it runs
    v.pool_seq = f.s.run[0];
    cr_assert_eq(pool_selected(&f.s, &v), f.s.run[0]);
    fixture_close(&f);
}

// CIE76 delta E between two sRGB colours (D65).
static double delta_e(SceneColour a, SceneColour b) {
    double lab[2][3];
    const SceneColour c[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        const double r = lin(c[k].r), g = lin(c[k].g), bl = lin(c[k].b);
        const double xyz[3] = {(0.4124 * r + 0.3576 * g + 0.1805 * bl) / 0.95047,
                               0.2126 * r + 0.7152 * g + 0.0722 * bl,
                               (0.0193 * r + 0.1192 * g + 0.9505 * bl) / 1.08883};
        double f[3];
        for (int i = 0; i < 3; i++)
            f[i] = xyz[i] > 216.0 / 24389 ? cbrt(xyz[i]) : (24389.0 / 27 * xyz[i] + 16) / 116;
        lab[k][0] = 116 * f[1] - 16, lab[k][1] = 500 * (f[0] - f[1]),
        lab[k][2] = 200 * (f[1] - f[2]);
    }
    return sqrt(pow(lab[0][0] - lab[1][0], 2) + pow(lab[0][1] - lab[1][1], 2) +
                pow(lab[0][2] - lab[1][2], 2));
}

// Fourteen requests running at once: the rows shown (more than eight) in colours any two at least
// 10 apart in delta E, in both themes (and every colour of the palette apart and at 4.5:1 on the
// background); each row's label is written in its colour and still reads at 4.5:1, at 1280x720
// and 1920x1080.
Test(pool_view, request_colours_stay_distinct_beyond_eight_requests, .timeout = 120) {
    Model m;
    Tokenizer t;
    Serve s;
    KvError err = {0};
    cr_assert_eq(tu_model_random(&m, &small, 7, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_tokenizer(&t, small.vocab_size, &err), KV_OK, "%s", err.msg);
    serve_init(&s, &m, &t, 64, 4, true);
    for (int i = 0; i < 14; i++) {
        ServeRequest r = {.arrival = 0, .max_new = 10, .samples = 1, .sampler = {0, 0.9f, 0, 1}};
        snprintf(r.prompt, sizeof r.prompt, "%c%c ab", 'a' + i % 4, 'a' + i / 4);
        cr_assert_eq(serve_add(&s, &r, "request", &err), KV_OK, "%s", err.msg);
    }
    for (int k = 0; k < 3; k++)
        cr_assert(serve_step(&s));
    cr_assert_eq(s.n_run, 14);
    for (int theme = 0; theme < 2; theme++) {
        View v;
        view_init(&v);
        v.kind = VIEW_POOL;
        v.serve = &s;
        v.theme = (ThemeKind)theme;
        PoolLayout L;
        pool_layout(&s, &v, 1280, 720, &L);
        cr_assert_gt(L.n_rows, 8, "%d rows shown", L.n_rows);
        for (int a = 0; a < L.n_rows; a++)
            for (int b = 0; b < a; b++)
                cr_assert_geq(delta_e(L.row_colour[a], L.row_colour[b]), 10.0,
                              "theme %d: rows %d and %d", theme, a, b);
        const SceneColour bg = theme ? (SceneColour){1, 1, 1, 1}
                                     : (SceneColour){14 / 255.0, 17 / 255.0, 23 / 255.0, 1};
        for (int a = 0; a < POOL_COLOURS; a++) {
            const SceneColour ca = pool_request_colour((ThemeKind)theme, a);
            cr_assert_geq(contrast(ca, bg), 4.5, "theme %d: request %d", theme, a);
            for (int b = 0; b < a; b++)
                cr_assert_geq(delta_e(ca, pool_request_colour((ThemeKind)theme, b)), 10.0,
                              "theme %d: requests %d and %d", theme, a, b);
        }
        const int sizes[2][2] = {{1280, 720}, {1920, 1080}};
        for (int z = 0; z < 2; z++) {
            const Stats st = draw(&s, (ThemeKind)theme, sizes[z][0], sizes[z][1]);
            cr_assert_geq(st.min_contrast, 4.5, "%dx%d theme %d: \"%s\" at %.2f:1", sizes[z][0],
                          sizes[z][1], theme, st.worst_contrast, st.min_contrast);
            cr_assert_geq(st.min_size, 14.0);
        }
    }
    serve_free(&s);
    tokenizer_free(&t);
    model_free(&m);
}
