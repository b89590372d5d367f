// test_classroom.c — the picture as a class reads it on a 1280x720 projector (DESIGN.md "The
// picture in a classroom"), measured through the scene's own reports: every text it draws (size,
// colour, the colour it stands on, what it is for) and every beam (where it ends). Fails when
// any text is under 14 px, a token or a must-read counter under 20 px, any text's contrast
// under 4.5:1 (WCAG 2 relative luminance, from the theme's colours), any position of the
// sequence without its own cell, or any beam whose end is not on its token's cell.
#include "util/testutil.h"
#include "view/view.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VOCAB 400
#define MIN_TEXT 14.0
#define MIN_TOKEN 20.0
#define MIN_CONTRAST 4.5

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
} Fixture;

static void fixture_init(Fixture *f, int layers, int seq_len) {
    KvError err = {0};
    ModelConfig c = tu_config(48, 96, layers, 4, 2, VOCAB, seq_len, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 7, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f->s, "once upon a time in a kingdom far away Mia", &err),
                 KV_OK, "%s", err.msg);
    session_set_sampler(&f->s, (SamplerSettings){.temperature = 1.0f, .top_p = 0.9f, .seed = 3});
}

static void fixture_free(Fixture *f) {
    tu_session_close(&f->m, &f->t, &f->s);
}

// ----------------------------------------------------------------------------------------------
// Contrast (WCAG 2.x)

static double channel_lin(double c) {
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double luminance(SceneColour c) {
    return 0.2126 * channel_lin(c.r) + 0.7152 * channel_lin(c.g) + 0.0722 * channel_lin(c.b);
}

static double contrast(SceneColour fg, SceneColour bg) {
    // A translucent ink shows as its blend with what it stands on.
    SceneColour ink = {fg.r * fg.a + bg.r * (1 - fg.a), fg.g * fg.a + bg.g * (1 - fg.a),
                       fg.b * fg.a + bg.b * (1 - fg.a), 1};
    double a = luminance(ink), b = luminance(bg);
    return (fmax(a, b) + 0.05) / (fmin(a, b) + 0.05);
}

Test(classroom, contrast_formula) {
    cr_assert_float_eq(contrast((SceneColour){0, 0, 0, 1}, (SceneColour){1, 1, 1, 1}), 21, 1e-9);
    cr_assert_float_eq(contrast((SceneColour){1, 1, 1, 1}, (SceneColour){1, 1, 1, 1}), 1, 1e-9);
    // #767676 on white is the classic 4.54:1.
    double g = 0x76 / 255.0;
    cr_assert_float_eq(contrast((SceneColour){g, g, g, 1}, (SceneColour){1, 1, 1, 1}), 4.54, 0.01);
}

// ----------------------------------------------------------------------------------------------
// What the scene reports

typedef struct {
    int n, n_token, n_counter, n_caption;
    double min_size, min_token, min_counter, min_contrast, min_caption;
    char worst_size[96], worst_contrast[96], worst_token[96];
    int cut_tokens;
} TextStats;

static void on_text(void *ctx, const SceneText *t) {
    TextStats *st = ctx;
    st->n++;
    if (t->size < st->min_size) {
        st->min_size = t->size;
        snprintf(st->worst_size, sizeof st->worst_size, "%s", t->utf8);
    }
    if (t->role == SCENE_TEXT_TOKEN) {
        st->n_token++;
        if (t->cut)
            st->cut_tokens++;
        if (t->size < st->min_token) {
            st->min_token = t->size;
            snprintf(st->worst_token, sizeof st->worst_token, "%s", t->utf8);
        }
    }
    if (t->role == SCENE_TEXT_CAPTION) {
        st->n_caption++;
        st->min_caption = fmin(st->min_caption, t->size);
    }
    if (t->role == SCENE_TEXT_COUNTER) {
        st->n_counter++;
        st->min_counter = fmin(st->min_counter, t->size);
    }
    double c = contrast(t->colour, t->background);
    if (c < st->min_contrast) {
        st->min_contrast = c;
        snprintf(st->worst_contrast, sizeof st->worst_contrast, "%s", t->utf8);
    }
}

typedef struct {
    const SceneLayout *L;
    int n, bad, query;
    char why[160];
} BeamStats;

// Whether a label plate of the 3D view covers (x, y) (labels are drawn over every beam).
static bool covered_by_label(const SceneLayout *L, double x, double y) {
    for (int k = 0; k < L->c3_n_labels; k++) {
        const SceneRect r = L->c3_label[k].plate;
        if (x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h)
            return true;
    }
    return false;
}

// A beam ends on its token's cell: in the sequence view the token's text cell; in the layers
// view, where each layer has its band, the token's cell of the beam's layer (its cache cell on
// the band's floor, in the token's column: what that layer's attention reads).
static void on_beam(void *ctx, const SceneBeam *b) {
    BeamStats *st = ctx;
    st->n++;
    SceneRect c = {0}, t = {0};
    const double e = 0.5;
    bool ok = scene_token_box(st->L, b->key, &t);
    if (st->L->kind == VIEW_3D) { // on the top of the token's block, which the hit test finds
        double x, y;
        ok = scene3d_token_point(st->L, b->key, &x, &y);
        c = (SceneRect){x - e, y - e, 2 * e, 2 * e};
        int token, layer;
        const SceneRect m = st->L->main;
        const bool shown = b->x >= m.x && b->x < m.x + m.w && b->y >= m.y && b->y < m.y + m.h;
        if (ok && shown &&
            !(scene3d_hit(st->L, b->x, b->y, &token, &layer) &&
              (token == b->key || covered_by_label(st->L, b->x, b->y))))
            ok = false;
    } else if (ok && st->L->kind == VIEW_LAYERS) {
        ok = scene_block_box(st->L, b->key, b->layer, &c) && c.x >= t.x - e &&
             c.x + c.w <= t.x + t.w + e;
    } else {
        c = t;
    }
    ok = ok && b->x >= c.x - e && b->x <= c.x + c.w + e && b->y >= c.y - e && b->y <= c.y + c.h + e;
    if (!ok && !st->bad++)
        snprintf(st->why, sizeof st->why,
                 "beam to %d (layer %d) ends at (%.1f, %.1f), its cell is "
                 "(%.1f, %.1f) %.1f x %.1f",
                 b->key, b->layer, b->x, b->y, c.x, c.y, c.w, c.h);
}

static void measure(const Session *s, View v, int w, int h, double t, TextStats *ts, BeamStats *bs,
                    SceneLayout *L) {
    *ts = (TextStats){.min_size = 1e9,
                      .min_token = 1e9,
                      .min_counter = 1e9,
                      .min_contrast = 1e9,
                      .min_caption = 1e9};
    scene_layout(s, &v, w, h, L);
    *bs = (BeamStats){.L = L};
    SceneTextSink tsink = {on_text, ts};
    SceneBeamSink bsink = {on_beam, bs};
    v.text_sink = &tsink;
    v.beam_sink = &bsink;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(img);
    scene_draw(cr, s, &v, w, h, t);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    cairo_surface_destroy(img);
}

// The window's picture on a 1280x720 projector stands above its toolbar: 1280 x 680 or so.
static int check_h = 720;

static double check_t = 1.0; // the animation time checked (1: at rest)

static void check_legible(const Session *s, const View *v, const char *state) {
    TextStats ts;
    BeamStats bs;
    SceneLayout L;
    measure(s, *v, 1280, check_h, check_t, &ts, &bs, &L);
    cr_assert_gt(ts.n, 5, "%s: the scene reported %d texts", state, ts.n);
    cr_log_info("%-22s texts %3d  smallest %.2f px  tokens %.2f px  counters %.2f px  "
                "contrast %.2f:1 (\"%s\")",
                state, ts.n, ts.min_size, ts.n_token ? ts.min_token : 0,
                ts.n_counter ? ts.min_counter : 0, ts.min_contrast, ts.worst_contrast);
    cr_assert_geq(ts.min_size, MIN_TEXT, "%s: \"%s\" at %.2f px", state, ts.worst_size,
                  ts.min_size);
    if (ts.n_token)
        cr_assert_geq(ts.min_token, MIN_TOKEN, "%s: token \"%s\" at %.2f px", state, ts.worst_token,
                      ts.min_token);
    if (ts.n_counter)
        cr_assert_geq(ts.min_counter, MIN_TOKEN, "%s: a counter at %.2f px", state, ts.min_counter);
    if (ts.n_caption)
        cr_assert_geq(ts.min_caption, 24.0, "%s: a caption at %.2f px", state, ts.min_caption);
    cr_assert_geq(ts.min_contrast, MIN_CONTRAST, "%s: \"%s\" at %.2f:1", state, ts.worst_contrast,
                  ts.min_contrast);
    cr_assert_eq(bs.bad, 0, "%s: %d of %d beams off their token: %s", state, bs.bad, bs.n, bs.why);
}

// A packed cache under a policy: the drift chart in the panel (KL on its log axis, the top-1
// strip and its count), the budget row with the precision; both themes, both layouts, and the
// chart's steps axis holds the history (1 .. 32, then 64).
Test(classroom, drift_chart_legible_at_1280x720, .timeout = 120) {
    for (int theme = 0; theme < 2; theme++) {
        Fixture f;
        fixture_init(&f, 4, 512);
        KvError err = {0};
        KvCacheKind k = KV_CACHE_DENSE;
        cr_assert_eq(kv_parse_retention("--cache", "window:6", &k, &err), KV_OK);
        cr_assert_eq(session_set_kv(&f.s, KV_PRECISION_INT4, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(session_set_cache(&f.s, k, &err), KV_OK, "%s", err.msg);
        View v;
        view_init(&v);
        v.theme = (ThemeKind)theme;
        for (int i = 0; i < 20; i++)
            cr_assert(session_step(&f.s));
        cr_assert(session_last(&f.s)->drift_measured);
        check_legible(&f.s, &v, theme ? "light, drift chart" : "dark, drift chart");
        v.layout = VIEW_LAYOUT_DETAIL;
        check_legible(&f.s, &v, "detail, drift chart");
        for (int i = 0; i < 20; i++)
            cr_assert(session_step(&f.s));
        check_legible(&f.s, &v, "detail, drift chart, 40 steps");
        fixture_free(&f);
    }
}

// Every state a lesson or a demo shows: first frame, cache on, cache off, the heatmap, the
// layers view, each head separately, help, a caption, both themes.
Test(classroom, every_text_legible_at_1280x720, .timeout = 240) {
    for (int pass = 0; pass < 4; pass++) {
        int theme = pass % 2;
        check_h = pass < 2 ? 720 : 680;
        Fixture f;
        fixture_init(&f, 4, 512);
        View v;
        view_init(&v);
        v.theme = (ThemeKind)theme;
        check_legible(&f.s, &v, theme ? "light, first frame" : "dark, first frame");
        for (int k = 0; k < 20; k++)
            cr_assert(session_step(&f.s));
        check_legible(&f.s, &v, "cache on, 20 steps");
        for (int k = 0; k < 4; k++) { // a step playing: each stage of the pipeline strip lit
            check_t = 0.1 + 0.25 * k;
            check_legible(&f.s, &v, "cache on, mid-step");
        }
        check_t = 1.0;
        View h = v;
        h.head = VIEW_HEAD_EACH;
        h.hover = 3;
        check_legible(&f.s, &h, "each head, hover");
        h = v;
        h.kind = VIEW_HEATMAP;
        check_legible(&f.s, &h, "heatmap");
        h.kind = VIEW_LAYERS;
        h.layer = 1;
        check_legible(&f.s, &h, "layers");
        h = v;
        h.kind = VIEW_SAMPLING;
        check_legible(&f.s, &h, "sampling");
        h.sampling_log = true;
        check_legible(&f.s, &h, "sampling, log scale");
        Glossary g;
        KvError gerr = {0};
        cr_assert_eq(glossary_load(&g, "assets/glossary.txt", &gerr), KV_OK, "%s", gerr.msg);
        h = v;
        h.annotate = true;
        check_legible(&f.s, &h, "annotated");
        h = v;
        h.glossary = &g;
        h.glossary_open = true;
        for (h.glossary_page = 0; h.glossary_page < 2; h.glossary_page++)
            check_legible(&f.s, &h, "glossary panel");
        glossary_free(&g);
        h = v;
        h.caption_title = "What the cache holds";
        h.caption_text = "Keys and values per layer, written once and read every step.";
        h.notice = "Exported exports/frame-0001.png";
        check_legible(&f.s, &h, "caption and notice");
        session_set_mode(&f.s, CACHE_MODE_OFF);
        for (int k = 0; k < 3; k++)
            cr_assert(session_step(&f.s));
        check_legible(&f.s, &v, "cache off");
        fixture_free(&f);
    }
}

// The 3D view's beams end on the tokens they read (the top of the token's block) under every
// camera, at rest and mid-step, at 20 and 128 tokens.
Test(classroom, every_3d_beam_ends_on_its_token, .timeout = 120) {
    Fixture f;
    fixture_init(&f, 3, 512);
    static const char *const cams[] = {"front", "top", "orbit:35,25", "orbit:300,50"};
    int n = 0;
    while (session_step(&f.s) && f.s.n_tokens <= 128) {
        if (f.s.n_tokens != 20 && f.s.n_tokens != 128)
            continue;
        for (int c = 0; c < 4; c++)
            for (int fit = 0; fit < 2; fit++) {
                View v;
                view_init(&v);
                v.kind = VIEW_3D;
                char why[160];
                cr_assert(view_camera_parse(cams[c], &v, why, sizeof why));
                v.cam_fit = fit;
                v.beam_threshold = 0; // a random model's attention is spread thin: every beam
                TextStats ts;
                BeamStats bs;
                SceneLayout L;
                measure(&f.s, v, 1280, 720, fit ? 0.5 : 1.0, &ts, &bs, &L);
                cr_assert_gt(bs.n, 0, "%d tokens, %s: beams (head %d)", f.s.n_tokens, cams[c],
                             L.head_pos);
                cr_assert_eq(bs.bad, 0, "%d tokens, %s: %d of %d beams off their token: %s",
                             f.s.n_tokens, cams[c], bs.bad, bs.n, bs.why);
                n += bs.n;
            }
    }
    cr_assert_gt(n, 100);
    fixture_free(&f);
}

// Every position has its own cell, inside the view, apart from every other; every beam ends on
// its token's cell (at rest and in the middle of a step's animation); up to 128 tokens no
// token's text is cut.
Test(classroom, every_position_has_its_cell_and_every_beam_its_token, .timeout = 300) {
    Fixture f;
    fixture_init(&f, 3, 512);
    View v;
    view_init(&v);
    int steps = 0;
    while (session_step(&f.s)) {
        steps++;
        int n = f.s.n_tokens;
        if (!(n <= 24 || n % 53 == 0 || n == 128 || n >= 511))
            continue;
        for (int kind = 0; kind < 2; kind++) {
            v.kind = kind ? VIEW_LAYERS : VIEW_SEQUENCE;
            TextStats ts;
            BeamStats bs;
            SceneLayout L;
            double t = steps % 2 ? 1.0 : 0.5;
            measure(&f.s, v, 1280, 720, t, &ts, &bs, &L);
            double prev_x = -1, prev_y = -1;
            for (int i = 0; i < n; i++) {
                SceneRect c;
                cr_assert(scene_token_box(&L, i, &c), "%d tokens: position %d has no cell", n, i);
                cr_assert_gt(c.w, 0.99, "%d tokens: cell %d is %.2f wide", n, i, c.w);
                cr_assert(c.x >= L.main.x - 1e-6 && c.x + c.w <= L.main.x + L.main.w + 1e-6 &&
                              c.y >= L.main.y - 1e-6 && c.y + c.h <= L.main.y + L.main.h + 1e-6,
                          "%d tokens: cell %d outside the view", n, i);
                // Reading order: right of its predecessor on the same line, or on a lower line.
                cr_assert(c.y > prev_y + 1e-6 ||
                              (fabs(c.y - prev_y) < 1e-6 && c.x >= prev_x - 1e-6),
                          "%d tokens: cell %d overlaps its predecessor", n, i);
                prev_x = c.x + c.w;
                prev_y = c.y;
                if (kind == 0)
                    for (int l = 0; l < L.n_layers; l++) {
                        SceneRect b;
                        cr_assert(scene_block_box(&L, i, l, &b), "%d: no block %d/%d", n, i, l);
                        cr_assert_leq(b.y + b.h, L.legend.y + 1e-6,
                                      "%d tokens: block %d/%d runs into the legend", n, i, l);
                    }
            }
            // A beam for every weight at or above the threshold, in every frame.
            int row = session_last(&f.s)->pos, over = 0;
            for (int l = 0; l < f.s.model->cfg.n_layers; l++)
                for (int k = 0; k < row; k++)
                    over += session_attention(&f.s, row, k, l, -1) >= v.beam_threshold;
            cr_assert_geq(bs.n, over,
                          "%d tokens, t %.1f: %d beams drawn, %d weights over the "
                          "threshold",
                          n, t, bs.n, over);
            cr_assert_eq(bs.bad, 0, "%d tokens: %d of %d beams off their token: %s", n, bs.bad,
                         bs.n, bs.why);
            if (kind == 0 && n <= 128)
                cr_assert_eq(ts.cut_tokens, 0, "%d tokens: %d token texts cut", n, ts.cut_tokens);
            if (kind == 0 && n <= 128) {
                cr_assert_eq(ts.n_token, n, "%d tokens: %d token texts drawn", n, ts.n_token);
                cr_assert_geq(ts.min_token, MIN_TEXT, "%d tokens: a token at %.2f px", n,
                              ts.min_token);
            }
            if (kind == 0 && n == 128)
                cr_log_info("128 tokens: every text whole at %.2f px or more", ts.min_token);
        }
    }
    cr_assert_geq(f.s.n_tokens, 511, "the test reached %d tokens", f.s.n_tokens);
    fixture_free(&f);
}

// Leading spaces and newlines are visible in every token cell, as in the candidates: a token
// that starts with a space (a word start) reads "␣word", a newline "↵", and no cell's text
// holds a raw space at its start or a raw control character.
typedef struct {
    SceneRect box[64];
    char text[64][96];
    int n;
} TokenTexts;

static void on_token_text(void *ctx, const SceneText *t) {
    TokenTexts *tt = ctx;
    if (t->role != SCENE_TEXT_TOKEN || tt->n >= 64)
        return;
    tt->box[tt->n] = t->box;
    snprintf(tt->text[tt->n++], sizeof tt->text[0], "%s", t->utf8);
}

Test(classroom, token_cells_show_leading_spaces_and_newlines) {
    Fixture f;
    fixture_init(&f, 2, 512);
    KvError err = {0};
    cr_assert_eq(session_set_prompt(&f.s, "once upon\na time", &err), KV_OK, "%s", err.msg);
    for (int k = 0; k < 6; k++)
        cr_assert(session_step(&f.s));
    View v;
    view_init(&v);
    TokenTexts tt = {0};
    SceneTextSink sink = {on_token_text, &tt};
    v.text_sink = &sink;
    SceneLayout L;
    scene_layout(&f.s, &v, 1280, 720, &L);
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1280, 720);
    cairo_t *cr = cairo_create(img);
    scene_draw(cr, &f.s, &v, 1280, 720, 1.0);
    cairo_destroy(cr);
    cairo_surface_destroy(img);
    int leads = 0, newlines = 0;
    for (int i = 1; i < f.s.n_tokens; i++) {
        char bb[2];
        size_t len = 0;
        const char *piece = tokenizer_decode(f.s.tok, f.s.tokens[i - 1], f.s.tokens[i], bb, &len);
        SceneRect c;
        cr_assert(scene_token_box(&L, i, &c));
        const char *drawn = NULL;
        for (int k = 0; k < tt.n && !drawn; k++) {
            double x = tt.box[k].x + tt.box[k].w / 2, y = tt.box[k].y + tt.box[k].h / 2;
            if (x >= c.x && x <= c.x + c.w && y >= c.y - 2 && y <= c.y + c.h + 2)
                drawn = tt.text[k];
        }
        cr_assert_not_null(drawn, "position %d: no text in its cell", i);
        cr_assert(drawn[0] != ' ', "position %d: \"%s\" starts with a raw space", i, drawn);
        for (const char *q = drawn; *q; q++)
            cr_assert((unsigned char)*q >= 0x20, "position %d: a control character", i);
        if (piece && len > 1 && piece[0] == ' ') {
            cr_assert(strncmp(drawn, "\xe2\x90\xa3", 3) == 0, "position %d: \"%.*s\" drawn \"%s\"",
                      i, (int)len, piece, drawn);
            leads++;
        }
        if (piece && memchr(piece, '\n', len)) {
            cr_assert_not_null(strstr(drawn, "\xe2\x86\xb5"), "position %d: newline drawn \"%s\"",
                               i, drawn);
            newlines++;
        }
    }
    cr_assert_gt(leads, 0, "no token with a leading space in the test");
    cr_assert_gt(newlines, 0, "no newline in the test");
    fixture_free(&f);
}

// The help overlay never shrinks its type: at 1280x720 (and the window's 1280x680 above its
// toolbar) every line is at 14 px or more and inside the picture, and lines that do not fit go
// on further pages, each line on exactly one page.
typedef struct {
    int seen[200];
    double min_size;
    bool outside;
    int w, h;
} HelpStats;

static void on_help_text(void *ctx, const SceneText *t) {
    HelpStats *hs = ctx;
    hs->min_size = fmin(hs->min_size, t->size);
    hs->outside = hs->outside || t->box.x < -0.5 || t->box.y < -0.5 ||
                  t->box.x + t->box.w > hs->w + 0.5 || t->box.y + t->box.h > hs->h + 0.5;
    int k;
    if (sscanf(t->utf8, "key%d", &k) == 1 && k >= 0 && k < 200)
        hs->seen[k]++;
}

Test(classroom, help_pages_instead_of_smaller_type) {
    Fixture f;
    fixture_init(&f, 2, 512);
    static char keys[200][16], texts[200][64];
    ViewHelpRow rows[200];
    const int sizes[][2] = {{1280, 720}, {1280, 680}, {1920, 1080}};
    const int counts[] = {12, 60, 200};
    for (int ci = 0; ci < 3; ci++)
        for (int si = 0; si < 3; si++) {
            const int n = counts[ci], w = sizes[si][0], h = sizes[si][1];
            for (int k = 0; k < n; k++) {
                snprintf(keys[k], sizeof keys[k], "key%d", k);
                snprintf(texts[k], sizeof texts[k], "what key %d does, said in a few words", k);
                rows[k] = (ViewHelpRow){keys[k], texts[k]};
            }
            View v;
            view_init(&v);
            v.help = true;
            v.help_rows = rows;
            v.n_help_rows = n;
            int pages = scene_help_pages(&v, w, h);
            cr_assert_geq(pages, 1);
            if (n == 12)
                cr_assert_eq(pages, 1, "%d lines on one page at %dx%d", n, w, h);
            if (n == 200)
                cr_assert_gt(pages, 1, "%d lines take more than a page at %dx%d", n, w, h);
            HelpStats hs = {.min_size = 1e9, .w = w, .h = h};
            SceneTextSink sink = {on_help_text, &hs};
            v.text_sink = &sink;
            for (int p = 0; p < pages; p++) {
                v.help_page = p;
                cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
                cairo_t *cr = cairo_create(img);
                scene_draw(cr, &f.s, &v, w, h, 1.0);
                cairo_destroy(cr);
                cairo_surface_destroy(img);
            }
            cr_log_info("help: %3d lines at %dx%d: %d page(s), smallest text %.2f px", n, w, h,
                        pages, hs.min_size);
            cr_assert_geq(hs.min_size, 14.0, "%d lines at %dx%d: text at %.2f px", n, w, h,
                          hs.min_size);
            cr_assert(!hs.outside, "%d lines at %dx%d: a text outside the picture", n, w, h);
            for (int k = 0; k < n; k++)
                cr_assert_eq(hs.seen[k], 1, "%d lines at %dx%d: line %d drawn %d times", n, w, h, k,
                             hs.seen[k]);
        }
    fixture_free(&f);
}

// The charts' axes are fixed for the run: x from the prompt to the model's context, y from the
// closed forms over the context, so that nothing rescales while the class watches. The scene
// states every axis in text (each chart's title gives its y range, the bottom chart its x
// range); those texts are the same in every frame of a run that turns the cache off and on
// again (the rebuild is counted) until the context is full, in both layouts.
typedef struct {
    char axes[8][96];
    int n;
} AxisTexts;

static void on_axis_text(void *ctx, const SceneText *t) {
    AxisTexts *a = ctx;
    bool axis = strstr(t->utf8, " (0 \xe2\x80\x93 ") != NULL ||
                (strstr(t->utf8, " tokens") && strspn(t->utf8, "0123456789") > 0 &&
                 strcmp(t->utf8 + strspn(t->utf8, "0123456789"), " tokens") == 0);
    if (axis && a->n < 8)
        snprintf(a->axes[a->n++], sizeof a->axes[0], "%s", t->utf8);
}

static void chart_axes(const Session *s, ViewLayoutKind layout, AxisTexts *a) {
    View v;
    view_init(&v);
    v.layout = layout;
    *a = (AxisTexts){0};
    SceneTextSink sink = {on_axis_text, a};
    v.text_sink = &sink;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1280, 720);
    cairo_t *cr = cairo_create(img);
    scene_draw(cr, s, &v, 1280, 720, 1.0);
    cairo_destroy(cr);
    cairo_surface_destroy(img);
}

Test(classroom, chart_axes_fixed_for_the_run, .timeout = 240) {
    Fixture f;
    fixture_init(&f, 2, 160);
    AxisTexts first[2], now;
    for (int l = 0; l < 2; l++) {
        chart_axes(&f.s, (ViewLayoutKind)l, &first[l]);
        cr_assert_eq(first[l].n, 5, "three y ranges and two x labels, found %d: %s / %s / %s",
                     first[l].n, first[l].axes[0], first[l].axes[1], first[l].axes[2]);
    }
    cr_log_info("chart axes: %s | %s | %s | %s .. %s", first[0].axes[0], first[0].axes[1],
                first[0].axes[2], first[0].axes[3], first[0].axes[4]);
    int steps = 0;
    while (session_step(&f.s)) {
        steps++;
        if (steps == 40 || steps == 90)
            session_set_mode(&f.s, CACHE_MODE_OFF);
        if (steps == 60 || steps == 100)
            session_set_mode(&f.s, CACHE_MODE_ON); // the next step rebuilds the cache
        for (int l = 0; l < 2; l++) {
            chart_axes(&f.s, (ViewLayoutKind)l, &now);
            cr_assert_eq(now.n, first[l].n, "step %d: %d axis texts", steps, now.n);
            for (int k = 0; k < now.n; k++)
                cr_assert_str_eq(now.axes[k], first[l].axes[k], "step %d: an axis moved: %s", steps,
                                 now.axes[k]);
        }
    }
    cr_assert_geq(f.s.n_tokens, 159, "the run reached %d tokens", f.s.n_tokens);
    fixture_free(&f);
}

// Zoom and scroll (View.zoom, View.scroll), in both views that stand on token cells: at zoom 1
// every position is on the picture; zoomed, the cells are wider by the zoom (compact cells) and
// the picture follows the write head, or holds the position View.scroll back; what is on it is
// one stretch first .. last of whole cells inside the view; the pointer over any cell on it
// finds that token (the tooltip shows it); every beam still ends on its token's cell, and no
// beam is drawn to a token off the picture.
Test(classroom, zoom_and_scroll_keep_cells_hover_and_beams, .timeout = 240) {
    Fixture f;
    fixture_init(&f, 3, 512);
    while (f.s.n_tokens < 500)
        cr_assert(session_step(&f.s));
    const int n = f.s.n_tokens, head = session_last(&f.s)->pos;
    for (int pass = 0; pass < 4; pass++) {
        const int kind = pass % 2, W = pass < 2 ? 1280 : 1920, H = pass < 2 ? 720 : 1080;
        View v;
        view_init(&v);
        v.kind = kind ? VIEW_LAYERS : VIEW_SEQUENCE;
        SceneLayout whole;
        TextStats ts;
        BeamStats bs;
        measure(&f.s, v, W, H, 1.0, &ts, &bs, &whole);
        cr_assert(whole.compact, "500 tokens: compact cells");
        cr_assert_eq(whole.first, 0);
        cr_assert_eq(whole.last, n - 1, "zoom 1: every position on the picture");
        const double zooms[] = {2, 4, 12};
        const int backs[] = {0, 150, 400};
        for (int zi = 0; zi < 3; zi++)
            for (int bi = 0; bi < 3; bi++) {
                v.zoom = zooms[zi];
                v.scroll = backs[bi];
                SceneLayout L;
                measure(&f.s, v, W, H, 1.0, &ts, &bs, &L);
                const char *what = kind ? "layers" : "sequence";
                // Wider by the zoom (the sequence view rounds to whole cells on a line).
                double ratio = L.cell[0].w / whole.cell[0].w;
                cr_assert(ratio > 0.85 * zooms[zi] && ratio < 1.2 * zooms[zi],
                          "%s zoom %g: cells %.2f x wider", what, zooms[zi], ratio);
                if (backs[bi] == 0)
                    cr_assert_gt(L.first, 0, "%s zoom %g: the start scrolled off", what, zooms[zi]);
                int target = n - 1 - backs[bi];
                cr_assert(L.first <= target && target <= L.last,
                          "%s zoom %g back %d: position %d not on the picture (%d .. %d)", what,
                          zooms[zi], backs[bi], target, L.first, L.last);
                if (backs[bi] == 0)
                    cr_assert(L.first <= head && L.last == n - 1,
                              "%s: following, the write head and the newest are on it", what);
                SceneRect c;
                cr_assert(!scene_token_box(&L, L.first - 1, &c));
                cr_assert(L.last == n - 1 || !scene_token_box(&L, L.last + 1, &c));
                for (int i = L.first; i <= L.last; i++) {
                    cr_assert(scene_token_box(&L, i, &c));
                    cr_assert(c.x >= L.main.x - 1e-6 && c.x + c.w <= L.main.x + L.main.w + 1e-6 &&
                                  c.y >= L.main.y - 1e-6 && c.y + c.h <= L.main.y + L.main.h + 1e-6,
                              "%s zoom %g: cell %d outside the view", what, zooms[zi], i);
                    SceneRect b;
                    for (int l = 0; l < L.n_layers; l++)
                        cr_assert(!scene_block_box(&L, i, l, &b) || b.y + b.h <= L.legend.y + 1e-6,
                                  "%s zoom %g: block %d/%d runs into the legend", what, zooms[zi],
                                  i, l);
                    int hit = scene_hit_token(&L, c.x + c.w / 2, c.y + c.h / 2);
                    cr_assert_eq(hit, i, "%s zoom %g: the pointer on cell %d finds %d", what,
                                 zooms[zi], i, hit);
                }
                cr_assert_eq(bs.bad, 0, "%s zoom %g back %d: %s", what, zooms[zi], backs[bi],
                             bs.why);
                cr_assert_geq(ts.min_size, MIN_TEXT, "%s zoom %g: \"%s\" at %.2f px", what,
                              zooms[zi], ts.worst_size, ts.min_size);
                if (backs[bi] == 0 && zooms[zi] >= 12)
                    cr_assert_gt(ts.n_token, 8, "%s zoom %g: only %d token texts readable", what,
                                 zooms[zi], ts.n_token);
                // The beams drawn are those over the threshold to keys on the picture.
                int over = 0;
                if (backs[bi] == 0)
                    for (int l = 0; l < f.s.model->cfg.n_layers; l++)
                        for (int k = L.first; k < head; k++)
                            over += session_attention(&f.s, head, k, l, -1) >= v.beam_threshold;
                if (backs[bi] == 0)
                    cr_assert_eq(bs.n, over, "%s zoom %g: %d beams, %d keys over the threshold",
                                 what, zooms[zi], bs.n, over);
            }
    }
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Reference images, SDL-style: six states rendered at 640x360 and compared with the committed
// PNGs in tests/data/ref/. Tolerance: per pixel, a channel may differ by up to 48 of 255 on at
// most 1.5% of the pixels (antialiasing and font rasterisation differ a little between cairo
// and pango builds), and the mean absolute difference over all channels stays under 1.5 of 255.
// Regenerate after an intended change of the picture with
//   KVSCOPE_REGEN_REF=1 ./build/kvscope-tests --filter 'classroom/reference_images'
// and look at the new files before committing them.

#define REF_W 640
#define REF_H 360

static void ref_state(const char *name, Fixture *f, View *v) {
    view_init(v);
    if (strcmp(name, "first_frame") == 0)
        return;
    for (int k = 0; k < 20; k++)
        cr_assert(session_step(&f->s));
    if (strcmp(name, "cache_off") == 0) {
        session_set_mode(&f->s, CACHE_MODE_OFF);
        for (int k = 0; k < 3; k++)
            cr_assert(session_step(&f->s));
    } else if (strcmp(name, "heatmap") == 0) {
        v->kind = VIEW_HEATMAP;
    } else if (strcmp(name, "light") == 0) {
        v->theme = THEME_LIGHT;
    } else if (strcmp(name, "tokens_300") == 0) {
        while (f->s.n_tokens < 300)
            cr_assert(session_step(&f->s));
    }
}

Test(classroom, reference_images, .timeout = 240) {
    static const char *const states[] = {"first_frame", "cache_on_20", "cache_off",
                                         "heatmap",     "light",       "tokens_300"};
    bool regen = getenv("KVSCOPE_REGEN_REF") && *getenv("KVSCOPE_REGEN_REF") == '1';
    for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
        Fixture f;
        fixture_init(&f, 3, 512);
        View v;
        ref_state(states[k], &f, &v);
        cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, REF_W, REF_H);
        cairo_t *cr = cairo_create(img);
        scene_draw(cr, &f.s, &v, REF_W, REF_H, 1.0);
        cairo_destroy(cr);
        cairo_surface_flush(img);
        char name[64];
        snprintf(name, sizeof name, "ref/%s.png", states[k]);
        char *path = tu_data_path(name);
        if (regen) {
            cr_assert_eq(cairo_surface_write_to_png(img, path), CAIRO_STATUS_SUCCESS, "%s", path);
        } else {
            cairo_surface_t *ref = cairo_image_surface_create_from_png(path);
            cr_assert_eq(cairo_surface_status(ref), CAIRO_STATUS_SUCCESS, "%s missing", path);
            cr_assert_eq(cairo_image_surface_get_width(ref), REF_W);
            cr_assert_eq(cairo_image_surface_get_height(ref), REF_H);
            const unsigned char *a = cairo_image_surface_get_data(img);
            const unsigned char *b = cairo_image_surface_get_data(ref);
            int sa = cairo_image_surface_get_stride(img), sb = cairo_image_surface_get_stride(ref);
            long off = 0;
            double sum = 0;
            for (int y = 0; y < REF_H; y++)
                for (int x = 0; x < REF_W; x++) {
                    bool far = false;
                    for (int c = 0; c < 3; c++) {
                        int d = abs(a[(size_t)y * sa + x * 4 + c] - b[(size_t)y * sb + x * 4 + c]);
                        sum += d;
                        far = far || d > 48;
                    }
                    off += far;
                }
            double mean = sum / (3.0 * REF_W * REF_H);
            cr_log_info("reference %-12s: %ld pixels off, mean difference %.3f", states[k], off,
                        mean);
            cr_assert_leq(off, (long)(0.015 * REF_W * REF_H), "%s: %ld pixels differ", states[k],
                          off);
            cr_assert_lt(mean, 1.5, "%s: mean difference %.2f", states[k], mean);
            cairo_surface_destroy(ref);
        }
        free(path);
        cairo_surface_destroy(img);
        fixture_free(&f);
    }
}

// The split screen with a lesson caption, alone and with the inspector open on a cell, at
// 1280x720 and 1920x1080 in both themes, early and after more tokens than a lane's lines hold
// at the token size: no text under 14 px, no token or counter under 20 px (scaled with the
// picture's unit at 1920x1080), every text at 4.5:1 or more, and tokens drawn in both lanes.
Test(classroom, split_screen_with_a_caption_legible, .timeout = 300) {
    const int sizes[][2] = {{1280, 720}, {1920, 1080}};
    Fixture f;
    KvError err = {0};
    ModelConfig c = tu_config(128, 192, 4, 4, 4, VOCAB, 512, false); // head size 32
    cr_assert_eq(tu_session_open(&f.m, &f.t, &f.s, &c, 7, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f.s, "once upon a time in a kingdom far away Mia", &err),
                 KV_OK, "%s", err.msg);
    session_set_sampler(&f.s, (SamplerSettings){.temperature = 1.0f, .top_p = 0.9f, .seed = 3});
    View v;
    view_init(&v);
    v.split = true;
    v.caption_title = "With the cache and without it";
    v.caption_text = "The same model and prompt, stepped together: the lane without the cache "
                     "recomputes every key and value at every step.";
    double worst_token = 1e9, worst_text = 1e9, worst_contrast = 1e9;
    for (int at = 0; at < 3; at++) {
        while (f.s.cursor < (int[]){1, 24, 90}[at])
            cr_assert(session_step(&f.s));
        for (int in = 0; in < 2; in++) {
            v.inspect = in == 1;
            v.inspect_layer = 1;
            v.inspect_pos = 3;
            view_prepare(&f.s, &v);
            for (int theme = 0; theme < 2; theme++)
                for (int k = 0; k < 2; k++) {
                    v.theme = (ThemeKind)theme;
                    TextStats ts;
                    BeamStats bs;
                    SceneLayout L;
                    const int w = sizes[k][0], h = sizes[k][1];
                    measure(&f.s, v, w, h, 1.0, &ts, &bs, &L);
                    const double scale = L.unit / (720 / 50.0);
                    char state[96];
                    snprintf(state, sizeof state, "split%s, %d steps, %s, %dx%d",
                             in ? " + inspector" : "", f.s.cursor, theme ? "light" : "dark", w, h);
                    cr_log_info("%-44s smallest %.2f px  tokens %.2f px  counters %.2f px  "
                                "contrast %.2f:1",
                                state, ts.min_size, ts.min_token, ts.min_counter, ts.min_contrast);
                    SceneSplit sp;
                    scene_split_layout(&f.s, &v, w, h, &sp);
                    cr_assert(sp.open, "%s: the split is not open", state);
                    cr_assert_gt(ts.n_token, 2, "%s: %d tokens drawn", state, ts.n_token);
                    for (int lane = 0; lane < 2 && !in; lane++) {
                        SceneLayout ll;
                        scene_split_lane_layout(&f.s, &v, w, h, lane, &ll);
                        cr_assert_geq(ll.token_size, MIN_TOKEN * scale - 0.01,
                                      "%s: lane %d's tokens at %.2f px", state, lane,
                                      ll.token_size);
                        cr_assert_leq(ll.blocks.y + ll.blocks.h, sp.lane[lane].y + sp.lane[lane].h,
                                      "%s: lane %d's blocks leave the lane", state, lane);
                        cr_assert(ll.last >= ll.first && ll.last == f.s.n_tokens - 1,
                                  "%s: lane %d shows %d .. %d of %d", state, lane, ll.first,
                                  ll.last, f.s.n_tokens);
                    }
                    cr_assert_geq(ts.min_size, MIN_TEXT * scale - 0.01, "%s: \"%s\" at %.2f px",
                                  state, ts.worst_size, ts.min_size);
                    cr_assert_geq(ts.min_token, MIN_TOKEN * scale - 0.01,
                                  "%s: token \"%s\" at %.2f px", state, ts.worst_token,
                                  ts.min_token);
                    cr_assert_geq(ts.min_counter, MIN_TOKEN * scale - 0.01,
                                  "%s: a counter at %.2f px", state, ts.min_counter);
                    cr_assert_geq(ts.min_caption, 24.0 * scale - 0.01, "%s: caption at %.2f px",
                                  state, ts.min_caption);
                    cr_assert_geq(ts.min_contrast, MIN_CONTRAST, "%s: \"%s\" at %.2f:1", state,
                                  ts.worst_contrast, ts.min_contrast);
                    if (k == 0) {
                        worst_token = fmin(worst_token, ts.min_token);
                        worst_text = fmin(worst_text, ts.min_size);
                    }
                    worst_contrast = fmin(worst_contrast, ts.min_contrast);
                }
        }
    }
    cr_log_info("split + caption at 1280x720: smallest text %.2f px, smallest token %.2f px, "
                "lowest contrast %.2f:1",
                worst_text, worst_token, worst_contrast);
    fixture_free(&f);
}
