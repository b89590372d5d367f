// test_scene.c — the scene through its layout API and its pixels: token and cache-block boxes,
// hit tests, positions that hold still while the sequence fits, the write head in view at every
// length, cache-block states in both modes, and the red recompute flash where the layout says
// the blocks are (present without the cache, absent with it).
#include "util/testutil.h"
#include "view/view.h"
#include "view/scene_internal.h" // the view table, for the tests of its rows

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define VOCAB 400

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
} Fixture;

static void fixture_init(Fixture *f, int layers, int seq_len) {
    KvError err = {0};
    ModelConfig c = tu_config(48, 96, layers, 4, 2, VOCAB, seq_len, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 7, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f->s, "the cat sat on the mat", &err), KV_OK, "%s", err.msg);
    session_set_sampler(&f->s, (SamplerSettings){.temperature = 1.0f, .top_p = 0.9f, .seed = 3});
}

static void fixture_free(Fixture *f) {
    tu_session_close(&f->m, &f->t, &f->s);
}

static bool inside(SceneRect in, SceneRect out) {
    const double e = 1e-6;
    return in.x >= out.x - e && in.y >= out.y - e && in.x + in.w <= out.x + out.w + e &&
           in.y + in.h <= out.y + out.h + e;
}

static const int sizes[][2] = {{1920, 1080}, {1280, 720}};

// ----------------------------------------------------------------------------------------------
// Layout

Test(scene, boxes_are_ordered_inside_and_hit, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 3, 256);
    for (int k = 0; k < 20; k++)
        cr_assert(session_step(&f.s));
    View v;
    view_init(&v);
    for (int si = 0; si < 2; si++) {
        SceneLayout L;
        scene_layout(&f.s, &v, sizes[si][0], sizes[si][1], &L);
        cr_assert_gt(L.last - L.first + 1, 8, "too few tokens on the picture");
        double prev_right = -1, prev_y = -1;
        for (int i = L.first; i <= L.last; i++) {
            SceneRect t;
            cr_assert(scene_token_box(&L, i, &t), "token %d", i);
            cr_assert(inside(t, L.main), "token %d outside the view", i);
            // Reading order: right of its predecessor, or the first of a lower line.
            if (t.y <= prev_y + 1e-6)
                cr_assert_geq(t.x, prev_right - 1e-6, "token %d overlaps its predecessor", i);
            else
                cr_assert_gt(t.y, prev_y + t.h, "line of token %d overlaps the line above", i);
            cr_assert_geq(t.w, L.unit, "token %d cell narrower than the type", i);
            prev_right = t.x + t.w;
            prev_y = t.y;
            cr_assert_eq(scene_hit_token(&L, t.x + t.w / 2, t.y + t.h / 2), i);
            double stack_y = t.y + t.h;
            for (int l = 0; l < L.n_layers; l++) {
                SceneRect b;
                cr_assert(scene_block_box(&L, i, l, &b));
                cr_assert(inside(b, L.blocks), "block %d/%d outside the block area", i, l);
                cr_assert(b.x >= t.x && b.x + b.w <= t.x + t.w + 1e-6, "block under its token");
                cr_assert_geq(b.y, stack_y - 1e-6, "layers stack downwards");
                stack_y = b.y + b.h;
                int ti = -1, li = -1;
                cr_assert(scene_hit_block(&L, b.x + b.w / 2, b.y + b.h / 2, &ti, &li));
                cr_assert_eq(ti, i);
                cr_assert_eq(li, l);
            }
        }
        cr_assert(!scene_token_box(&L, f.s.n_tokens, &(SceneRect){0}));
        cr_assert_eq(scene_hit_token(&L, L.panel.x + 5, L.panel.y + 5), -1);
        // Nothing overlaps the panel.
        cr_assert_leq(L.main.x + L.main.w, L.panel.x);
    }
    fixture_free(&f);
}

Test(scene, positions_hold_still_while_the_sequence_fits, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 2, 256);
    View v;
    view_init(&v);
    SceneRect before[64];
    int n_before = 0, checked = 0;
    for (int k = 0; k < 40; k++) {
        cr_assert(session_step(&f.s));
        SceneLayout L;
        scene_layout(&f.s, &v, 1920, 1080, &L);
        if (L.first > 0)
            break; // scrolling from here on
        for (int i = 0; i < n_before; i++) {
            SceneRect now;
            cr_assert(scene_token_box(&L, i, &now));
            cr_assert_float_eq(now.x, before[i].x, 1e-9, "token %d moved at step %d", i, k);
            cr_assert_float_eq(now.w, before[i].w, 1e-9);
            checked++;
        }
        n_before = f.s.n_tokens < 64 ? f.s.n_tokens : 64;
        for (int i = 0; i < n_before; i++)
            cr_assert(scene_token_box(&L, i, &before[i]));
    }
    cr_assert_gt(checked, 20);
    fixture_free(&f);
}

Test(scene, write_head_in_view_at_every_length, .timeout = 120) {
    Fixture f;
    fixture_init(&f, 2, 512);
    View views[2];
    view_init(&views[0]);
    view_init(&views[1]);
    views[1].kind = VIEW_LAYERS;
    int steps = 0;
    while (session_step(&f.s)) {
        steps++;
        const StepRecord *r = session_last(&f.s);
        for (int vi = 0; vi < 2; vi++)
            for (int si = 0; si < 2; si++) {
                SceneLayout L;
                scene_layout(&f.s, &views[vi], sizes[si][0], sizes[si][1], &L);
                cr_assert_eq(L.head_pos, r->pos);
                cr_assert_eq(L.new_pos, r->pos + 1);
                SceneRect h, nt;
                cr_assert(scene_token_box(&L, r->pos, &h), "head off the picture at %d", r->pos);
                cr_assert(scene_token_box(&L, r->pos + 1, &nt));
                cr_assert(r->pos >= L.first, "the head is a full cell");
                cr_assert(inside(h, L.main) && inside(nt, L.main));
                cr_assert(L.head_x >= L.main.x && L.head_x <= L.main.x + L.main.w);
                cr_assert_eq(L.last, f.s.n_tokens - 1);
                cr_assert_eq(L.first, 0, "every position has its cell");
            }
    }
    cr_assert_geq(f.s.n_tokens, 500, "the test reached %d tokens", f.s.n_tokens);
    fixture_free(&f);
}

Test(scene, heatmap_cells_hit, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 2, 256);
    for (int k = 0; k < 10; k++)
        cr_assert(session_step(&f.s));
    View v;
    view_init(&v);
    v.kind = VIEW_HEATMAP;
    SceneLayout L;
    scene_layout(&f.s, &v, 1280, 720, &L);
    cr_assert_eq(L.hm_n, session_last(&f.s)->pos + 1);
    int row, col;
    for (int rr = 0; rr < L.hm_n; rr += 3)
        for (int c = 0; c <= rr; c += 2) {
            cr_assert(scene_hit_heatmap(&L, L.hm_x + (c + 0.5) * L.hm_cell,
                                        L.hm_y + (rr + 0.5) * L.hm_cell, &row, &col));
            cr_assert_eq(row, rr);
            cr_assert_eq(col, c);
        }
    cr_assert(!scene_hit_heatmap(&L, L.hm_x - 1, L.hm_y + 1, &row, &col));
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Cache-block states

Test(scene, block_states_with_and_without_the_cache, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 3, 256);
    int np = f.s.n_prompt;
    for (int i = 0; i < np; i++)
        cr_assert_eq(scene_block_state(&f.s, i, 0, 1.0), BLOCK_EMPTY);
    // Prefill with the cache: every prompt position written.
    cr_assert(session_step(&f.s));
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < np; i++)
            cr_assert_eq(scene_block_state(&f.s, i, l, 1.0), BLOCK_WRITTEN, "%d/%d", i, l);
    cr_assert_eq(scene_block_state(&f.s, np, 0, 1.0), BLOCK_EMPTY, "the new token waits");
    // Decode with the cache: earlier blocks read, the query's written; before the read: cached.
    cr_assert(session_step(&f.s));
    const StepRecord *r = session_last(&f.s);
    for (int l = 0; l < 3; l++) {
        for (int i = 0; i < r->pos; i++) {
            cr_assert_eq(scene_block_state(&f.s, i, l, 1.0), BLOCK_READ);
            cr_assert_eq(scene_block_state(&f.s, i, l, 0.0), BLOCK_CACHED);
        }
        cr_assert_eq(scene_block_state(&f.s, r->pos, l, 1.0), BLOCK_WRITTEN);
        cr_assert_eq(scene_block_state(&f.s, r->pos + 1, l, 1.0), BLOCK_EMPTY);
    }
    // Without the cache: everything before the query recomputed, nothing read from a cache.
    session_set_mode(&f.s, CACHE_MODE_OFF);
    cr_assert(session_step(&f.s));
    cr_assert(session_step(&f.s));
    r = session_last(&f.s);
    for (int l = 0; l < 3; l++) {
        for (int i = 0; i < r->pos; i++)
            cr_assert_eq(scene_block_state(&f.s, i, l, 1.0), BLOCK_RECOMPUTED, "%d/%d", i, l);
        cr_assert_eq(scene_block_state(&f.s, r->pos, l, 1.0), BLOCK_WRITTEN);
    }
    // Stepping back shows the earlier step's states again.
    cr_assert(session_back(&f.s));
    cr_assert(session_back(&f.s));
    r = session_last(&f.s);
    cr_assert_eq(r->mode, CACHE_MODE_ON);
    cr_assert_eq(scene_block_state(&f.s, 0, 0, 1.0), BLOCK_READ);
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Pixels

static void mean_rgb(cairo_surface_t *img, SceneRect r, double out[3]) {
    unsigned char *d = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    double sum[3] = {0};
    int n = 0;
    for (int y = (int)ceil(r.y); y < (int)floor(r.y + r.h); y++)
        for (int x = (int)ceil(r.x); x < (int)floor(r.x + r.w); x++) {
            uint32_t p = *(uint32_t *)(d + (size_t)y * stride + (size_t)x * 4);
            sum[0] += p >> 16 & 255;
            sum[1] += p >> 8 & 255;
            sum[2] += p & 255;
            n++;
        }
    for (int k = 0; k < 3; k++)
        out[k] = n ? sum[k] / n : 0;
}

static bool reddish(const double c[3]) {
    return c[0] > 140 && c[0] > c[1] + 70 && c[0] > c[2] + 70;
}

static cairo_surface_t *render(const Session *s, const View *v, int w, int h) {
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(img);
    scene_draw(cr, s, v, w, h, 1.0);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    cairo_surface_flush(img);
    return img;
}

Test(scene, recompute_flash_only_without_the_cache, .timeout = 60) {
    for (int theme = 0; theme < 2; theme++)
        for (int mode = 0; mode < 2; mode++) {
            Fixture f;
            fixture_init(&f, 3, 256);
            session_set_mode(&f.s, mode ? CACHE_MODE_OFF : CACHE_MODE_ON);
            for (int k = 0; k < 6; k++)
                cr_assert(session_step(&f.s));
            View v;
            view_init(&v);
            v.theme = (ThemeKind)theme;
            cairo_surface_t *img = render(&f.s, &v, 1280, 720);
            SceneLayout L;
            scene_layout(&f.s, &v, 1280, 720, &L);
            const StepRecord *r = session_last(&f.s);
            int red = 0, total = 0;
            for (int i = L.first; i < r->pos; i++)
                for (int l = 0; l < L.n_layers; l++) {
                    SceneRect b;
                    cr_assert(scene_block_box(&L, i, l, &b));
                    double c[3];
                    mean_rgb(img, b, c);
                    red += reddish(c);
                    total++;
                }
            // The query's own block is new (not red) in both modes.
            SceneRect q;
            cr_assert(scene_block_box(&L, r->pos, 0, &q));
            double c[3];
            mean_rgb(img, q, c);
            cr_assert(!reddish(c), "the new block is not a recompute");
            cr_assert_gt(total, 10);
            if (mode)
                cr_assert_eq(red, total, "theme %d: %d of %d blocks red", theme, red, total);
            else
                cr_assert_eq(red, 0, "theme %d: %d red blocks with the cache", theme, red);
            cairo_surface_destroy(img);
            fixture_free(&f);
        }
}

Test(scene, every_view_theme_and_overlay_draws, .timeout = 120) {
    Fixture f;
    fixture_init(&f, 3, 256);
    for (int k = 0; k < 30; k++)
        cr_assert(session_step(&f.s));
    View v;
    view_init(&v);
    for (int kind = 0; kind < VIEW_KINDS; kind++)
        for (int theme = 0; theme < 2; theme++)
            for (int head = -2; head < 2; head++) {
                v.kind = (ViewKind)kind;
                v.theme = (ThemeKind)theme;
                v.head = head;
                v.layer = head == 1 ? 2 : VIEW_ALL_LAYERS;
                v.hover = 5;
                v.pinned = 3;
                v.help = head == 0;
                v.caption_title = "What the cache holds";
                v.caption_text = "Keys and values per layer, written once and read every step.";
                v.notice = "exported exports/frame-0001.png";
                v.scroll = head == 1 ? 10 : 0;
                v.zoom = head == 1 ? 3 : 1;
                cairo_surface_t *img = render(&f.s, &v, 960, 540);
                // The picture is not blank: the background and something else.
                double c[3];
                mean_rgb(img, (SceneRect){0, 0, 960, 540}, c);
                cr_assert(c[0] + c[1] + c[2] > 1);
                cairo_surface_destroy(img);
            }
    // A session with no step yet draws too.
    session_reset(&f.s);
    view_init(&v);
    for (int kind = 0; kind < VIEW_KINDS; kind++) {
        v.kind = (ViewKind)kind;
        cairo_surface_destroy(render(&f.s, &v, 640, 360));
    }
    fixture_free(&f);
}

// The beams on image targets come from beams.c's own rasterizer; vector targets get cairo's
// strokes. Drawn both ways (a recording surface is a vector target; replayed onto an image,
// cairo rasterizes its strokes), the beam area must carry the same ink: per channel the summed
// difference from the background within 12%, and the mean pixel difference under 3 of 255.
// (They cannot agree exactly: cairo strokes all beams of one colour as one path, so where such
// beams overlap, near the write head where every beam starts, the union is painted once, while
// the rasterizer blends beam over beam. Measured: 0.3% to 8% more ink, mean difference < 1.)
static cairo_surface_t *render_via_cairo(const Session *s, const View *v, int w, int h) {
    cairo_surface_t *rec = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, NULL);
    cairo_t *cr = cairo_create(rec);
    scene_draw(cr, s, v, w, h, 1.0);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cr = cairo_create(img);
    cairo_set_source_surface(cr, rec, 0, 0);
    cairo_paint(cr);
    cairo_destroy(cr);
    cairo_surface_destroy(rec);
    cairo_surface_flush(img);
    return img;
}

Test(scene, beam_rasterizer_agrees_with_cairo, .timeout = 120) {
    Fixture f;
    fixture_init(&f, 3, 256);
    for (int k = 0; k < 24; k++)
        cr_assert(session_step(&f.s));
    View v;
    view_init(&v);
    v.beam_threshold = 0.01f;
    static const int heads[] = {VIEW_HEAD_MEAN, VIEW_HEAD_EACH, 1};
    for (int theme = 0; theme < 2; theme++)
        for (int hi = 0; hi < 3; hi++)
            for (int si = 0; si < 2; si++) {
                v.theme = (ThemeKind)theme;
                v.head = heads[hi];
                int w = sizes[si][0], h = sizes[si][1];
                SceneLayout L;
                scene_layout(&f.s, &v, w, h, &L);
                cairo_surface_t *a = render(&f.s, &v, w, h);
                cairo_surface_t *b = render_via_cairo(&f.s, &v, w, h);
                unsigned char *da = cairo_image_surface_get_data(a);
                unsigned char *db = cairo_image_surface_get_data(b);
                int stride = cairo_image_surface_get_stride(a);
                // The background: the top-left pixel of the beam area, above every arc.
                int x0 = (int)ceil(L.beams.x), y0 = (int)ceil(L.beams.y);
                int x1 = (int)floor(L.beams.x + L.beams.w), y1 = (int)floor(L.beams.y + L.beams.h);
                uint32_t bg = *(uint32_t *)(da + (size_t)y0 * stride + (size_t)x0 * 4);
                double ink_a[3] = {0}, ink_b[3] = {0}, diff = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) {
                        uint32_t pa = *(uint32_t *)(da + (size_t)y * stride + (size_t)x * 4);
                        uint32_t pb = *(uint32_t *)(db + (size_t)y * stride + (size_t)x * 4);
                        for (int c = 0; c < 3; c++) {
                            int sh = 16 - 8 * c;
                            int ca = pa >> sh & 255, cb = pb >> sh & 255, cg = bg >> sh & 255;
                            ink_a[c] += fabs((double)(ca - cg));
                            ink_b[c] += fabs((double)(cb - cg));
                            diff += fabs((double)(ca - cb));
                        }
                    }
                double npx = (double)(x1 - x0) * (y1 - y0) * 3;
                double total = ink_a[0] + ink_a[1] + ink_a[2];
                cr_assert_gt(total / npx, 0.5, "no beams drawn (theme %d head %d %dx%d)", theme,
                             v.head, w, h);
                for (int c = 0; c < 3; c++)
                    cr_assert_leq(fabs(ink_a[c] - ink_b[c]), 0.12 * fmax(ink_b[c], total / 3),
                                  "channel %d ink %.0f vs cairo %.0f (theme %d head %d %dx%d)", c,
                                  ink_a[c], ink_b[c], theme, v.head, w, h);
                cr_assert_lt(diff / npx, 3.0, "mean difference %.2f (theme %d head %d %dx%d)",
                             diff / npx, theme, v.head, w, h);
                cairo_surface_destroy(a);
                cairo_surface_destroy(b);
            }
    fixture_free(&f);
}

Test(scene, drawing_leaves_the_context_as_it_was, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 2, 128);
    cr_assert(session_step(&f.s));
    View v;
    view_init(&v);
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 800, 450);
    cairo_t *cr = cairo_create(img);
    cairo_translate(cr, 3, 4);
    cairo_set_line_width(cr, 7);
    cairo_matrix_t before, after;
    cairo_get_matrix(cr, &before);
    scene_draw(cr, &f.s, &v, 800, 450, 0.5);
    cairo_get_matrix(cr, &after);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cr_assert(memcmp(&before, &after, sizeof before) == 0);
    cr_assert_float_eq(cairo_get_line_width(cr), 7, 1e-12);
    cairo_destroy(cr);
    cairo_surface_destroy(img);
    fixture_free(&f);
}

Test(scene, view_names_round_trip) {
    for (int k = 0; k < VIEW_KINDS; k++)
        cr_assert_eq(view_kind_parse(view_kind_name(k)), k);
    cr_assert_eq(view_kind_parse("sideways"), -1);
    cr_assert_eq(view_kind_parse(NULL), -1);
}

// ----------------------------------------------------------------------------------------------
// The view table

Test(scene, every_view_is_a_complete_row) {
    char list[256];
    view_kind_list(list, sizeof list, ", ");
    for (int k = 0; k < VIEW_KINDS; k++) {
        const SceneView *row = scene_view((ViewKind)k);
        cr_assert_not_null(row->name, "view %d has no name", k);
        cr_assert_not_null(row->layout, "view %s has no layout", row->name);
        cr_assert_not_null(row->draw, "view %s has no draw", row->name);
        cr_assert_not_null(row->hit_token, "view %s has no hit test", row->name);
        cr_assert_str_eq(view_kind_name((ViewKind)k), row->name);
        cr_assert_not_null(strstr(list, row->name), "%s missing from \"%s\"", row->name, list);
        for (int j = 0; j < k; j++)
            cr_assert_str_neq(scene_view((ViewKind)j)->name, row->name, "two views named alike");
    }
    cr_assert_str_eq(view_kind_name(VIEW_KINDS), "?");
    cr_assert_eq(scene_view(VIEW_KINDS), scene_view(VIEW_SEQUENCE), "out of range: sequence");
    // A list cut short stays a string.
    char tiny[6];
    view_kind_list(tiny, sizeof tiny, ", ");
    cr_assert_lt(strlen(tiny), sizeof tiny);
}

// Every view's hit test finds the token whose box (or heatmap column) the layout reports, and
// the layout records which view it is.
Test(scene, each_view_hits_the_token_it_lays_out, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 3, 256);
    for (int k = 0; k < 12; k++)
        cr_assert(session_step(&f.s));
    for (int k = 0; k < VIEW_KINDS; k++) {
        View v;
        view_init(&v);
        v.kind = (ViewKind)k;
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            SceneLayout L;
            scene_layout(&f.s, &v, sizes[si][0], sizes[si][1], &L);
            cr_assert_eq(L.kind, (ViewKind)k);
            int found = 0;
            for (int i = 0; i < f.s.n_tokens; i++) {
                SceneRect b;
                double x, y;
                if (scene_token_box(&L, i, &b)) {
                    cr_assert_eq(scene_hit_token(&L, b.x + b.w / 2, b.y + b.h / 2), i,
                                 "%s: token %d", view_kind_name(k), i);
                    found++;
                } else if (scene_token_anchor(&L, i, &x, &y)) { // heatmap: column i's cells
                    cr_assert_eq(scene_hit_token(&L, x, y + L.hm_cell * (i + 0.5)), i,
                                 "%s: column %d", view_kind_name(k), i);
                    found++;
                }
            }
            // the memory view shows published models, the sampling view candidates, the pool view
            // a serving session's blocks: not tokens
            if (k != VIEW_MEMORY && k != VIEW_SAMPLING && k != VIEW_POOL)
                cr_assert_gt(found, 0, "%s shows no token", view_kind_name(k));
            else
                cr_assert_eq(found, 0, "the %s view lays out no token", view_kind_name(k));
            cr_assert_eq(scene_hit_token(&L, -5, -5), -1, "%s: outside the picture",
                         view_kind_name(k));
        }
    }
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// The timeline of a step

Test(scene, animation_time_follows_speed_and_ends_at_rest) {
    for (int ph = PHASE_PREFILL; ph <= PHASE_DECODE; ph++) {
        double fast = view_anim_seconds((Phase)ph, 20), slow = view_anim_seconds((Phase)ph, 1);
        cr_assert_gt(slow, fast, "a lower speed animates longer");
        cr_assert_gt(fast, 0);
        cr_assert_leq(slow, 1.0 / 0.25, "shorter than the time between two steps");
        cr_assert_eq(view_anim_t((Phase)ph, 4, 0), 0.0, "a step starts at t = 0");
        cr_assert_eq(view_anim_t((Phase)ph, 4, -1), 0.0, "before the step: t = 0");
        cr_assert_eq(view_anim_t((Phase)ph, 4, view_anim_seconds((Phase)ph, 4)), 1.0);
        cr_assert_eq(view_anim_t((Phase)ph, 4, 1e9), 1.0, "long after: at rest");
        double prev = -1;
        for (int k = 0; k <= 20; k++) {
            double t = view_anim_t((Phase)ph, 4, k * 0.01);
            cr_assert_geq(t, prev, "t_anim never goes back");
            cr_assert(t >= 0 && t <= 1);
            prev = t;
        }
    }
    // The parts of a step come in order: layers compute, beams fan out, the token drops in.
    cr_assert_eq(scene_anim_fan(0.3), 0.0);
    cr_assert_eq(scene_anim_fan(1.0), 1.0);
    cr_assert_eq(scene_anim_drop(0.7), 0.0);
    cr_assert_eq(scene_anim_drop(1.0), 1.0);
    cr_assert_lt(scene_anim_layer_time(0, 6), scene_anim_layer_time(5, 6), "stack fills top down");
    cr_assert_eq(scene_anim_stage(0.0, 7), 0);
    cr_assert_eq(scene_anim_stage(1.0, 7), 6);
}
