// beams.c — the attention beams: arcs from the write head back to every earlier token, their
// width and brightness following the real softmax weight.
//
// Speed is the point of this file's shape: thousands of antialiased curves stroked one by one
// take far longer than a frame. So beams under the threshold or off the picture are culled,
// the rest are quantised into a few weight levels, and every beam of one level and colour is
// added to a single path that is stroked once.
#include "view/scene_internal.h"
#include <math.h>
#include <stdlib.h>

#define LEVELS 8 // weight levels (in sqrt(weight), so weak beams still differ)

typedef struct {
    float xk, yb, hgt;
    int key; // group * LEVELS + level
} Beam;

void draw_beams(Frame *f, SceneRect band, int lo, int hi, bool per_layer_band) {
    const SceneLayout *L = f->lay;
    const Session *s = f->s;
    const View *v = f->v;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    double u = f->u;
    int row = L->head_pos;
    if (row < 0 || L->head_x < 0 || hi <= lo) return;
    double fan = ease(anim_phase(f->t, 0.45, 0.8));
    if (fan <= 0) return;

    int nh = s->model->cfg.n_heads;
    int groups = v->head == VIEW_HEAD_EACH ? nh : 1;
    int nkeys = groups * LEVELS;
    int nl = hi - lo;
    size_t cap = (size_t)nl * groups * (size_t)(row + 1);
    Beam *beams = malloc(cap * sizeof *beams);
    Beam *sorted = malloc(cap * sizeof *sorted);
    int *count = calloc((size_t)nkeys + 1, sizeof *count);
    if (!beams || !sorted || !count) {
        free(beams);
        free(sorted);
        free(count);
        return;
    }
    float thr = v->beam_threshold > 0 ? v->beam_threshold : 0;
    double x_h = L->head_x;
    double max_dist = fmax(band.w, 1);
    double row_h = per_layer_band ? band.h / nl : band.h;

    // Columns on the picture and their x, once.
    double *col_x = malloc((size_t)(row + 1) * sizeof *col_x);
    if (!col_x) {
        free(beams);
        free(sorted);
        free(count);
        return;
    }
    for (int k = 0; k <= row; k++)
        if (!scene_token_x(L, k, &col_x[k])) col_x[k] = NAN;

    size_t n = 0;
    for (int l = lo; l < hi; l++) {
        double yb, hmax;
        if (per_layer_band) {
            yb = band.y + (l - lo + 1) * row_h - 0.05 * u;
            hmax = row_h * 0.9;
        } else {
            yb = band.y + band.h;
            hmax = band.h * (nl > 1 ? 0.42 + 0.58 * (l - lo + 1) / nl : 0.95);
        }
        for (int g = 0; g < groups; g++) {
            int head = v->head == VIEW_HEAD_EACH ? g : v->head >= 0 ? v->head : -1;
            for (int k = 0; k < row; k++) { // k == row is the head itself: no beam
                if (isnan(col_x[k])) continue;
                float w = session_attention(s, row, k, l, head);
                if (!(w >= thr) || w <= 0) continue;
                int level = (int)(sqrtf(w) * LEVELS);
                if (level >= LEVELS) level = LEVELS - 1;
                double dist = fabs(x_h - col_x[k]);
                Beam *b = &beams[n++];
                b->xk = (float)(x_h + (col_x[k] - x_h) * fan);
                b->yb = (float)yb;
                b->hgt = (float)(hmax * (0.22 + 0.78 * sqrt(fmin(1, dist / max_dist))) * fan);
                b->key = g * LEVELS + level;
                count[b->key + 1]++;
            }
        }
    }
    // Counting sort by key, so each colour is one path.
    for (int k = 0; k < nkeys; k++) count[k + 1] += count[k];
    int *fill = calloc((size_t)nkeys, sizeof *fill);
    if (!fill) n = 0;
    for (size_t i = 0; i < n; i++) {
        int k = beams[i].key;
        sorted[count[k] + fill[k]++] = beams[i];
    }

    cairo_save(cr);
    // A clip on whole pixels: a fractional one makes cairo composite every stroke through a mask.
    cairo_rectangle(cr, floor(band.x - L->label_w), floor(band.y),
                    ceil(band.w + L->label_w), ceil(band.h + 0.3 * u));
    cairo_clip(cr);
    if (!f->vector) cairo_set_antialias(cr, CAIRO_ANTIALIAS_FAST);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_BEVEL);
    // Weak levels first, so strong beams lie on top.
    for (int level = 0; level < LEVELS; level++) {
        double mid = (level + 0.5) / LEVELS; // in sqrt(weight)
        cairo_set_line_width(cr, u * (0.07 + 0.55 * mid * mid));
        for (int g = 0; g < groups; g++) {
            int k = g * LEVELS + level;
            if (count[k + 1] == count[k]) continue;
            Rgba c;
            double alpha;
            if (v->head == VIEW_HEAD_MEAN) {
                c = theme_ramp(th, mid);
                alpha = 0.35 + 0.65 * mid;
            } else {
                c = theme_head_colour(th, v->head == VIEW_HEAD_EACH ? g : v->head);
                alpha = 0.18 + 0.82 * mid;
            }
            set_rgba_a(cr, c, alpha * (0.4 + 0.6 * fan));
            for (int i = count[k]; i < count[k + 1]; i++) {
                const Beam *b = &sorted[i];
                double y0 = b->yb, top = b->yb - b->hgt;
                cairo_move_to(cr, x_h, y0);
                cairo_curve_to(cr, x_h, top, b->xk, top, b->xk, y0);
            }
            cairo_stroke(cr);
        }
    }
    cairo_restore(cr);
    free(fill);
    free(col_x);
    free(beams);
    free(sorted);
    free(count);
}
