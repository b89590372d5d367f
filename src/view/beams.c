// beams.c — the attention beams: arcs from the write head back to every earlier token, their
// width and brightness following the real softmax weight.
//
// Speed is the point of this file's shape: thousands of antialiased curves stroked one by one
// take far longer than a frame. So beams under the threshold or off the picture are culled,
// the rest are quantised into a few weight levels, and every beam of one level and colour is
// added to a single path that is stroked once.
#include "view/scene_internal.h"
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define LEVELS 8     // weight levels (in sqrt(weight), so weak beams still differ)
#define BAND_ROWS 64 // rows of pixels the rasterizer works on at a time

typedef struct {
    float xh, yh, xk, yk, top; // from (xh, yh) over `top` onto (xk, yk)
    int key;                   // fan * groups * LEVELS + group * LEVELS + level
} Beam;

// ----------------------------------------------------------------------------------------------
// Direct rasterizer for image targets. cairo's span compositor pays per span, and a fan of
// long arcs crosses every scanline twice per beam: a thousand beams take hundreds of
// milliseconds. Here each arc is flattened into short segments and each segment is drawn
// column by column (or row by row) with coverage from the distance to its centre line, which
// costs about length x width per beam. Vector targets keep cairo's exact curves.

// A beam's colour at its alpha, split for blending two channels at once: red and blue in one
// word (0x00RR00BB), green in another (0x0000GG00).
typedef struct {
    uint32_t rb, g;
    int a256; // alpha, 0 .. 256
} Ink;

static Ink ink_make(uint32_t rgb, double alpha) {
    int a = (int)(alpha * 256);
    return (Ink){rgb & 0xff00ffu, rgb & 0xff00u, a < 0 ? 0 : a > 256 ? 256 : a};
}

// Blends the ink at strength a (0 .. 256) into pixel p: d + (s - d) * a / 256 per channel,
// rounded down, for opaque targets (the scene has painted its background).
static inline void blend(uint32_t *p, const Ink *ink, uint32_t a) {
    uint32_t d = *p, na = 256 - a;
    uint32_t rb = ((ink->rb * a + (d & 0xff00ffu) * na) >> 8) & 0xff00ffu;
    uint32_t g = ((ink->g * a + (d & 0xff00u) * na) >> 8) & 0xff00u;
    *p = 0xff000000u | rb | g;
}

// One segment a -> b in pixels, pixel centres in [a, b) along its major axis, half width hw.
// Coverage is a tent of the distance d from the pixel centre to the centre line,
// clamp(half + 1/2 - |d|, 0, 1), where half is the half width across the walk. The centre line
// steps in 16.16 fixed point, and only pixels of nonzero coverage are visited, so a pixel costs
// a few integer operations and no branch. (Coordinates stay far below 2^15 pixels: the caller
// culls what lies off the picture.)
static void raster_segment(const SceneRaster *r, double ax, double ay, double bx, double by,
                           double hw, const Ink *ink) {
    double dx = bx - ax, dy = by - ay;
    bool xmajor = fabs(dx) >= fabs(dy);
    if (!xmajor) { // swap the axes: walk rows
        double t;
        t = ax, ax = ay, ay = t;
        t = bx, bx = by, by = t;
        t = dx, dx = dy, dy = t;
    }
    if (dx == 0)
        return;
    int lo = xmajor ? r->x0 : r->y0, hi = xmajor ? r->x1 : r->y1;
    int clo = xmajor ? r->y0 : r->x0, chi = xmajor ? r->y1 : r->x1;
    double slope = dy / dx;
    double reach = hw * sqrt(1 + slope * slope) + 0.5; // half + 1/2: where coverage ends
    double amin = ax < bx ? ax : bx, amax = ax < bx ? bx : ax;
    double cmin = (ay < by ? ay : by) - reach, cmax = (ay < by ? by : ay) + reach;
    if (cmax <= clo || cmin >= chi)
        return;
    int i0 = scene_iceil(amin - 0.5), i1 = scene_iceil(amax - 0.5);
    if (i0 < lo)
        i0 = lo;
    if (i1 > hi)
        i1 = hi;
    if (i0 >= i1)
        return;
    enum { ONE = 65536, HALF = 32768 };
    // Centre line at column i0 minus half a pixel: pixel j's centre is at j + 1/2.
    int32_t c = (int32_t)((ay + slope * (i0 + 0.5 - ax)) * ONE) - HALF;
    int32_t dc = (int32_t)(slope * ONE);
    int32_t h = (int32_t)(reach * ONE);
    int32_t a256 = ink->a256;
    ptrdiff_t stride = r->stride;
    uint32_t *base = r->px;
    ptrdiff_t step_i = xmajor ? 1 : stride, step_j = xmajor ? stride : 1;
    for (int i = i0; i < i1; i++, c += dc) {
        // Pixels j with |j - c| < h (in 16.16): j0 = floor((c - h) / ONE) + 1 ..
        // j1 = ceil((c + h) / ONE) - 1.
        int j0 = ((c - h) >> 16) + 1, j1 = (c + h - 1) >> 16;
        if (j0 < clo)
            j0 = clo;
        if (j1 >= chi)
            j1 = chi - 1;
        uint32_t *p = base + i * step_i + j0 * step_j;
        int32_t d = j0 * ONE - c;
        for (int j = j0; j <= j1; j++, p += step_j, d += ONE) {
            int32_t cov = h - (d < 0 ? -d : d);
            cov = cov > ONE ? ONE : cov; // > 0 by the bounds
            blend(p, ink, (uint32_t)((a256 * cov) >> 16));
        }
    }
}

// The beam's cubic from the write head up, across and down onto the key's cell:
// P0 = (xh, yh), P1 = (xh, top), P2 = (xk, top), P3 = (xk, yk), drawn as n segments of about
// 7 px each, short enough that the joints do not show on the tight turns at either end.
typedef struct {
    double xh, yh, xk, yk, top; // pixels
    double hw;
    double ymin, ymax; // rows the beam can touch
    int n;
} BeamGeom;

static BeamGeom beam_geom(const SceneRaster *r, double xh, double yh, double xk, double yk,
                          double top, double hw) {
    BeamGeom g = {xh + r->ox, yh + r->oy, xk + r->ox, yk + r->oy, top + r->oy, hw, 0, 0, 0};
    double len = fabs(xk - xh) + fabs(yh - top) + fabs(yk - top);
    g.n = (int)(len / 7);
    if (g.n < 6)
        g.n = 6;
    if (g.n > 128)
        g.n = 128;
    double m = 1.5 * hw + 1; // how far a segment's pixels reach beyond its end points
    g.ymin = fmin(fmin(g.yh, g.yk), g.top) - m;
    g.ymax = fmax(g.yh, g.yk) + m;
    return g;
}

static inline void beam_point(const BeamGeom *g, int k, double *x, double *y) {
    double t = (double)k / g->n, mt = 1 - t;
    double a = mt * mt * mt, b = 3 * mt * mt * t, c = 3 * mt * t * t, d = t * t * t;
    *x = (a + b) * g->xh + (c + d) * g->xk;
    *y = a * g->yh + (b + c) * g->top + d * g->yk;
}

// Draws the segments of the beam that can touch r's rows (r is one band of the clip).
static void raster_beam(const SceneRaster *r, const BeamGeom *g, const Ink *ink) {
    double m = 1.5 * g->hw + 1;
    double xlo = fmin(g->xh, g->xk) - m, xhi = fmax(g->xh, g->xk) + m;
    if (xhi <= r->x0 || xlo >= r->x1 || g->ymax <= r->y0 || g->ymin >= r->y1)
        return;
    double px, py, x, y;
    beam_point(g, 0, &px, &py);
    for (int k = 1; k <= g->n; k++, px = x, py = y) {
        beam_point(g, k, &x, &y);
        if (fmax(py, y) + m <= r->y0 || fmin(py, y) - m >= r->y1)
            continue;
        raster_segment(r, px, py, x, y, g->hw, ink);
    }
}

// Where a beam from the head cell h to the key cell k ends and how high it arcs: onto the top
// centre of the key's cell, over the lines between them. band is the area beams may use.
typedef struct {
    double xh, yh, xk, yk, top;
} BeamPath;

static BeamPath beam_path(const SceneLayout *L, SceneRect band, double xh, double yh, int key,
                          double hmax, double u) {
    SceneRect k = L->cell[key];
    BeamPath p = {xh, yh, k.x + k.w / 2, k.y, 0};
    double dist = fabs(p.xk - xh) / fmax(band.w, 1);
    double lift = hmax * (0.22 + 0.78 * sqrt(fmin(1, dist)));
    if (L->cell_line[key] > 0)
        lift = fmin(lift, fmax(0.6 * u, L->line_h - k.h)); // under the line above
    p.top = fmin(p.yh, p.yk) - lift;
    if (p.top < band.y)
        p.top = band.y;
    return p;
}

// Total attention of the write head (row) that falls below the view's threshold, over the
// layers and heads the view shows, as a share of the whole (0 .. 1).
double scene_beam_mass_below(const Session *s, const View *v, int row) {
    int nl = s->model->cfg.n_layers, nh = s->model->cfg.n_heads;
    int l0 = v->layer >= 0 && v->layer < nl ? v->layer : 0;
    int l1 = v->layer >= 0 && v->layer < nl ? v->layer + 1 : nl;
    bool each = v->head == VIEW_HEAD_EACH;
    int groups = each ? nh : 1;
    double below = 0, total = 0;
    for (int l = l0; l < l1; l++)
        for (int g = 0; g < groups; g++) {
            int head = each ? g : v->head >= 0 ? v->head : -1;
            for (int k = 0; k < row; k++) {
                float w = session_attention(s, row, k, l, head);
                total += w;
                if (w < v->beam_threshold)
                    below += w;
            }
            total += session_attention(s, row, row, l, head);
        }
    return total > 0 ? below / total : 0;
}

void scene_draw_beams(Frame *f, SceneRect band, int lo, int hi, bool per_layer_band) {
    const SceneLayout *L = f->lay;
    const Session *s = f->s;
    const View *v = f->v;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    double u = f->u;
    int row = L->head_pos;
    if (row < 0 || L->head_x < 0 || hi <= lo)
        return;

    // A step's animation moves from the fan of the step before (the previous query) to this
    // step's: the old fades out while the new fades in, so no frame is without beams.
    double fan = scene_anim_fan(f->t);
    int fan_row[2] = {-1, row};
    double fan_alpha[2] = {0, 1};
    if (fan < 1 && s->cursor >= 2) {
        int prev = s->steps[s->cursor - 2].pos;
        if (prev >= 0 && prev < row)
            fan_row[0] = prev;
    }
    if (fan_row[0] >= 0) {
        fan_alpha[0] = 1 - fan;
        fan_alpha[1] = fan;
    } else {
        fan_alpha[1] = 0.35 + 0.65 * fan;
    }

    int nh = s->model->cfg.n_heads;
    int groups = v->head == VIEW_HEAD_EACH ? nh : 1;
    int per_fan = groups * LEVELS;
    int nkeys = 2 * per_fan;
    int nl = hi - lo;
    size_t cap = 2 * (size_t)nl * groups * (size_t)(row + 1);
    Beam *beams = kv_malloc(cap * sizeof *beams);
    Beam *sorted = kv_malloc(cap * sizeof *sorted);
    int *count = kv_calloc((size_t)nkeys + 1, sizeof *count);
    float thr = v->beam_threshold > 0 ? v->beam_threshold : 0;
    double row_h = per_layer_band ? band.h / nl : band.h;

    size_t n = 0;
    for (int fi = 0; fi < 2; fi++) {
        int q = fan_row[fi];
        if (q < 0 || fan_alpha[fi] <= 0.01)
            continue;
        SceneRect hc;
        if (!scene_token_box(L, q, &hc))
            continue;
        double xh = hc.x + hc.w / 2, yh = hc.y;
        for (int l = lo; l < hi; l++) {
            double yb = 0, hmax;
            if (per_layer_band) {
                // From the query's cache cell of this layer to the key's, on the band's floor.
                SceneRect qb;
                if (!scene_block_box(L, q, l, &qb))
                    continue;
                yb = qb.y;
                hmax = 0.9 * (yb - (band.y + (l - lo) * row_h));
            } else {
                hmax = (yh - band.y) * (nl > 1 ? 0.42 + 0.58 * (l - lo + 1) / nl : 0.95);
            }
            for (int g = 0; g < groups; g++) {
                int head = v->head == VIEW_HEAD_EACH ? g : v->head >= 0 ? v->head : -1;
                for (int k = 0; k < q; k++) { // k == q is the query itself: no beam
                    if (k < L->first || k > L->last)
                        continue;
                    float w = session_attention(s, q, k, l, head);
                    if (!(w >= thr) || w <= 0)
                        continue;
                    int level = (int)(sqrtf(w) * LEVELS);
                    if (level >= LEVELS)
                        level = LEVELS - 1;
                    SceneRect kb;
                    if (per_layer_band && !scene_block_box(L, k, l, &kb))
                        continue;
                    Beam *b = &beams[n++];
                    if (per_layer_band) {
                        double xk = kb.x + kb.w / 2;
                        double dist = fabs(xk - xh) / fmax(band.w, 1);
                        *b = (Beam){(float)xh,
                                    (float)yb,
                                    (float)xk,
                                    (float)yb,
                                    (float)(yb - hmax * (0.22 + 0.78 * sqrt(fmin(1, dist)))),
                                    fi * per_fan + g * LEVELS + level};
                    } else {
                        BeamPath p = beam_path(L, band, xh, yh, k, hmax, u);
                        *b = (Beam){(float)p.xh, (float)p.yh,  (float)p.xk,
                                    (float)p.yk, (float)p.top, fi * per_fan + g * LEVELS + level};
                    }
                    count[b->key + 1]++;
                    if (v->beam_sink && v->beam_sink->fn) {
                        SceneBeam sb = {q, k, l, head, b->xk, b->yk, w};
                        v->beam_sink->fn(v->beam_sink->ctx, &sb);
                    }
                }
            }
        }
    }
    // Counting sort by key, so each colour is one path.
    for (int k = 0; k < nkeys; k++)
        count[k + 1] += count[k];
    int *fill = kv_calloc((size_t)nkeys, sizeof *fill);
    for (size_t i = 0; i < n; i++) {
        int k = beams[i].key;
        sorted[count[k] + fill[k]++] = beams[i];
    }

    SceneRaster ras = {0};
    SceneRect clip = {band.x - L->label_w, band.y, band.w + L->label_w, band.h + 0.3 * u};
    // The rasterizer blends onto opaque pixels: a transparent picture gets cairo's strokes.
    bool direct = !f->vector && !v->transparent && scene_raster_begin(cr, clip, &ras);
    BeamGeom *geoms = direct ? kv_malloc((n > 0 ? n : 1) * sizeof *geoms) : NULL;
    Ink *inks = direct ? kv_malloc((size_t)nkeys * sizeof *inks) : NULL;
    int *order = direct ? kv_malloc((size_t)nkeys * sizeof *order) : NULL;
    int n_order = 0;
    cairo_save(cr);
    // A clip on whole pixels: a fractional one makes cairo composite every stroke through a mask.
    cairo_rectangle(cr, floor(clip.x), floor(clip.y), ceil(clip.w), ceil(clip.h));
    cairo_clip(cr);
    if (!f->vector)
        cairo_set_antialias(cr, CAIRO_ANTIALIAS_FAST);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_BEVEL);
    // The old fan under the new; weak levels first, so strong beams lie on top.
    for (int fi = 0; fi < 2; fi++)
        for (int level = 0; level < LEVELS; level++) {
            double mid = (level + 0.5) / LEVELS; // in sqrt(weight)
            cairo_set_line_width(cr, u * (0.06 + 0.75 * mid * mid));
            for (int g = 0; g < groups; g++) {
                int k = fi * per_fan + g * LEVELS + level;
                if (count[k + 1] == count[k])
                    continue;
                Rgba c;
                double alpha;
                if (v->head == VIEW_HEAD_MEAN) {
                    c = scene_theme_ramp(th, mid);
                    alpha = 0.3 + 0.7 * mid;
                } else {
                    c = scene_theme_head_colour(th, v->head == VIEW_HEAD_EACH ? g : v->head);
                    alpha = 0.18 + 0.82 * mid;
                }
                alpha *= fan_alpha[fi];
                if (direct) {
                    // Drawn below, band by band, in this order.
                    uint32_t rgb = (uint32_t)(c.r * 255 + 0.5) << 16 |
                                   (uint32_t)(c.g * 255 + 0.5) << 8 | (uint32_t)(c.b * 255 + 0.5);
                    inks[n_order] = ink_make(rgb, alpha);
                    order[n_order++] = k;
                    double hw = cairo_get_line_width(cr) / 2;
                    for (int i = count[k]; i < count[k + 1]; i++) {
                        const Beam *b = &sorted[i];
                        geoms[i] = beam_geom(&ras, b->xh, b->yh, b->xk, b->yk, b->top, hw);
                    }
                    continue;
                }
                scene_set_rgba_a(cr, c, alpha);
                for (int i = count[k]; i < count[k + 1]; i++) {
                    const Beam *b = &sorted[i];
                    cairo_move_to(cr, b->xh, b->yh);
                    cairo_curve_to(cr, b->xh, b->top, b->xk, b->top, b->xk, b->yk);
                }
                cairo_stroke(cr);
            }
        }
    cairo_restore(cr);
    if (direct) {
        // Band by band, so the pixels being blended stay in the cache; within a band the beams
        // go in the same order as on the whole clip, so the picture does not change.
        for (int y = ras.y0; y < ras.y1; y += BAND_ROWS) {
            SceneRaster b = ras;
            b.y0 = y;
            b.y1 = y + BAND_ROWS < ras.y1 ? y + BAND_ROWS : ras.y1;
            for (int o = 0; o < n_order; o++)
                for (int i = count[order[o]]; i < count[order[o] + 1]; i++)
                    raster_beam(&b, &geoms[i], &inks[o]);
        }
        scene_raster_end(cr, &ras);
    }
    free(geoms);
    free(inks);
    free(order);
    free(fill);
    free(beams);
    free(sorted);
    free(count);
}
