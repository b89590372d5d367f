// heatmap.c — the heatmap view: the causal attention matrix of the selected layer and head
// (rows = query positions, columns = key positions) seen from above, one pixel per cell in an
// image that cairo scales without smoothing; the write head's row and a pinned row outlined.
// One row of the view table (views.c).
#include "view/scene_internal.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

// ----------------------------------------------------------------------------------------------
// Layout and hit test: a square matrix of the positions so far, labels left and above

void scene_heatmap_layout(const Session *s, const View *v, SceneRect c, SceneLayout *L) {
    double u = L->unit;
    const StepRecord *r = session_last(s);
    double left = 6.5 * u, top = 3.0 * u, right = 5.5 * u;
    int n = r ? r->pos + 1 : 0;
    L->hm_n = n;
    double side = fmin(c.w - left - right, c.h - top - 0.3 * u);
    if (side < 10)
        side = 10;
    L->hm_cell = n > 0 ? fmin(side / n, 3.2 * u) : 0;
    double used = L->hm_cell * n;
    L->hm_x = c.x + left + fmax(0, (c.w - left - right - used) / 2);
    L->hm_y = c.y + top;
    L->beams = c;
    L->first = 0;
    L->last = -1;
}

// The key column of the cell under the point; on the row labels, the row's token.
int scene_heatmap_hit_token(const SceneLayout *l, double x, double y) {
    int row, col;
    if (scene_hit_heatmap(l, x, y, &row, &col))
        return col;
    if (l->hm_n > 0 && x < l->hm_x && x >= l->main.x && y >= l->hm_y &&
        y < l->hm_y + l->hm_n * l->hm_cell)
        return (int)((y - l->hm_y) / l->hm_cell);
    return -1;
}

// ----------------------------------------------------------------------------------------------
// Drawing

// The record holding attention row `row` (the latest applied one), or NULL.
static const StepRecord *row_record(const Session *s, int row) {
    for (int i = s->cursor - 1; i >= 0; i--) {
        const StepRecord *r = &s->steps[i];
        if (r->attn && row >= r->attn_row0 && row < r->attn_row0 + r->attn_rows)
            return r;
    }
    return NULL;
}

// Weights of row `row` (columns 0..row) for the view's layer and head selection, read straight
// from the record (what session_attention does for one cell, done for a whole row).
static void row_weights(const Session *s, const View *v, int row, float *out) {
    for (int c = 0; c <= row; c++)
        out[c] = 0;
    const StepRecord *r = row_record(s, row);
    if (!r)
        return;
    int nl = s->model->cfg.n_layers, nh = s->model->cfg.n_heads;
    int l0 = v->layer >= 0 && v->layer < nl ? v->layer : 0;
    int l1 = v->layer >= 0 && v->layer < nl ? v->layer + 1 : nl;
    int h0 = v->head >= 0 && v->head < nh ? v->head : 0;
    int h1 = v->head >= 0 && v->head < nh ? v->head + 1 : nh;
    size_t cols = (size_t)r->pos + 1;
    float scale = 1.0f / (float)((l1 - l0) * (h1 - h0));
    for (int l = l0; l < l1; l++)
        for (int h = h0; h < h1; h++) {
            const float *p =
                r->attn + (((size_t)l * nh + h) * r->attn_rows + (row - r->attn_row0)) * cols;
            for (int c = 0; c <= row && c < (int)cols; c++)
                out[c] += p[c] * scale;
        }
}

static uint32_t pack(Rgba c) {
    return 0xff000000u | (uint32_t)(c.r * 255 + 0.5) << 16 | (uint32_t)(c.g * 255 + 0.5) << 8 |
           (uint32_t)(c.b * 255 + 0.5);
}

static void selection_name(const Frame *f, char *buf, size_t cap) {
    char lb[24], hb[24];
    if (f->v->layer >= 0)
        snprintf(lb, sizeof lb, "layer %d", f->v->layer + 1);
    else
        snprintf(lb, sizeof lb, "all layers (mean)");
    if (f->v->head >= 0)
        snprintf(hb, sizeof hb, "head %d", f->v->head + 1);
    else
        snprintf(hb, sizeof hb, "mean of heads");
    snprintf(buf, cap, "%s \xc2\xb7 %s", lb, hb);
}

static void draw_matrix_vector(Frame *f, int n, double cell);
static void draw_matrix_image(Frame *f, int n, double cell);
static void draw_marks(Frame *f, int n, double cell);

void scene_heatmap_draw(Frame *f) {
    const SceneLayout *L = f->lay;
    const Theme *th = f->th;
    double u = f->u;
    int n = L->hm_n;
    double cell = L->hm_cell;
    char buf[128], sel[80];
    selection_name(f, sel, sizeof sel);
    snprintf(buf, sizeof buf, "attention matrix \xc2\xb7 %s", sel);
    // The title, and beside it what rows and columns are where both fit.
    const char *note = "rows: query \xc2\xb7 columns: key position";
    double right = L->main.x + L->main.w;
    double tw = scene_text_draw(&f->tx, L->hm_x, L->main.y, 1.2 * u, true, ALIGN_LEFT,
                                right - L->hm_x, th->text, buf);
    double nw = scene_text_width(&f->tx, SCENE_MIN_FONT * u, false, note, NULL);
    if (L->hm_x + tw + u + nw <= right)
        scene_text_draw(&f->tx, right, L->main.y + 0.2 * u, SCENE_MIN_FONT * u, false, ALIGN_RIGHT,
                        0, th->text_dim, note);
    if (n <= 0 || cell <= 0) {
        scene_text_draw(&f->tx, L->hm_x, L->hm_y + u, SCENE_MIN_FONT * u, false, ALIGN_LEFT, 0,
                        th->text_faint, "no step yet");
        return;
    }

    if (f->vector) {
        draw_matrix_vector(f, n, cell);
    } else {
        draw_matrix_image(f, n, cell);
    }
    draw_marks(f, n, cell);
}

// SVG and PDF: the matrix as rectangles, a run of cells of one colour in a row as one, every
// rectangle of a colour in one path (a scaled bitmap would blur or pixelate on a slide).
static void draw_matrix_vector(Frame *f, int n, double cell) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    unsigned char *lv = kv_malloc((size_t)n * (size_t)n);
    float *w = kv_malloc((size_t)n * sizeof *w);
    for (int row = 0; row < n; row++) {
        row_weights(f->s, f->v, row, w);
        for (int c = 0; c <= row; c++) {
            float x = w[c] > 0 ? sqrtf(w[c]) : 0;
            int k = (int)(x * 63 + 0.5f);
            lv[(size_t)row * n + c] = (unsigned char)(k < 0 ? 0 : k > 63 ? 63 : k);
        }
    }
    cairo_save(cr);
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
    scene_set_rgba(cr, f->th->panel); // above the diagonal: not attended (causal mask)
    for (int row = 0; row + 1 < n; row++)
        cairo_rectangle(cr, L->hm_x + (row + 1) * cell, L->hm_y + row * cell, (n - row - 1) * cell,
                        cell);
    cairo_fill(cr);
    for (int k = 0; k < 64; k++) {
        bool any = false;
        for (int row = 0; row < n; row++) {
            const unsigned char *r = lv + (size_t)row * n;
            for (int c = 0; c <= row;) {
                if (r[c] != k) {
                    c++;
                    continue;
                }
                int e = c;
                while (e + 1 <= row && r[e + 1] == k)
                    e++;
                cairo_rectangle(cr, L->hm_x + c * cell, L->hm_y + row * cell, (e - c + 1) * cell,
                                cell);
                any = true;
                c = e + 1;
            }
        }
        if (!any)
            continue;
        scene_set_rgba(cr, scene_theme_ramp(f->th, k / 63.0));
        cairo_fill(cr);
    }
    cairo_restore(cr);
    free(w);
    free(lv);
}

// Image targets: the matrix as an n x n image that cairo scales without smoothing.
static void draw_matrix_image(Frame *f, int n, double cell) {
    const SceneLayout *L = f->lay;
    const Session *s = f->s;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, n, n);
    float *w = kv_malloc((size_t)n * sizeof *w);
    if (cairo_surface_status(img) == CAIRO_STATUS_SUCCESS) {
        cairo_surface_flush(img);
        unsigned char *data = cairo_image_surface_get_data(img);
        int stride = cairo_image_surface_get_stride(img);
        uint32_t lut[64];
        for (int k = 0; k < 64; k++)
            lut[k] = pack(scene_theme_ramp(th, k / 63.0));
        uint32_t masked = pack(th->panel);
        for (int row = 0; row < n; row++) {
            uint32_t *px = (uint32_t *)(data + (size_t)row * stride);
            row_weights(s, f->v, row, w);
            for (int c = 0; c < n; c++) {
                if (c > row) {
                    px[c] = masked;
                    continue;
                }
                float x = w[c] > 0 ? sqrtf(w[c]) : 0;
                int k = (int)(x * 63 + 0.5f);
                px[c] = lut[k < 0 ? 0 : k > 63 ? 63 : k];
            }
        }
        cairo_surface_mark_dirty(img);
        cairo_save(cr);
        cairo_translate(cr, L->hm_x, L->hm_y);
        cairo_scale(cr, cell, cell);
        cairo_set_source_surface(cr, img, 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
        cairo_rectangle(cr, 0, 0, n, n);
        cairo_fill(cr);
        cairo_restore(cr);
    }
    free(w);
    cairo_surface_destroy(img);
}

static void draw_marks(Frame *f, int n, double cell) {
    const SceneLayout *L = f->lay;
    const Session *s = f->s;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    double u = f->u;
    char buf[128];
    double side = n * cell;
    // Outlines: hover column, pinned row, write-head row.
    cairo_set_line_width(cr, fmax(1.5, 0.1 * u));
    if (f->v->hover >= 0 && f->v->hover < n) {
        scene_set_rgba(cr, th->text_dim);
        cairo_rectangle(cr, L->hm_x + f->v->hover * cell, L->hm_y, cell, side);
        cairo_stroke(cr);
    }
    if (f->v->pinned >= 0 && f->v->pinned < n) {
        scene_set_rgba(cr, th->pinned);
        cairo_rectangle(cr, L->hm_x, L->hm_y + f->v->pinned * cell, side, cell);
        cairo_stroke(cr);
    }
    if (L->head_pos >= 0 && L->head_pos < n) {
        scene_set_rgba(cr, th->head);
        cairo_set_line_width(cr, fmax(2, 0.14 * u));
        cairo_rectangle(cr, L->hm_x, L->hm_y + L->head_pos * cell, side, cell);
        cairo_stroke(cr);
        scene_text_draw(&f->tx, L->hm_x + side + 0.3 * u,
                        L->hm_y + L->head_pos * cell + cell / 2 - 0.6 * u, SCENE_MIN_FONT * u, true,
                        ALIGN_LEFT, 0, th->head_text, "\xe2\x97\x80 write head");
    }

    // Row labels: the token text when rows are tall enough, else every k-th position.
    double size = SCENE_MIN_FONT * u;
    int every = 1;
    while (every * cell < 1.3 * size && every < n)
        every *= 2;
    for (int row = 0; row < n; row += every) {
        double y = L->hm_y + (row + 0.5) * cell - size * 0.62;
        if (every == 1)
            scene_token_display(s, row, buf, sizeof buf);
        else
            snprintf(buf, sizeof buf, "%d", row);
        scene_text_tokens(&f->tx, every == 1); // a row's token, or its position
        scene_text_term(&f->tx, every == 1 ? "token" : "position");
        scene_text_draw(&f->tx, L->hm_x - 0.3 * u, y, size, false, ALIGN_RIGHT, 6 * u,
                        row < s->n_prompt ? th->prompt_text : th->gen_text, buf);
        scene_text_tokens(&f->tx, false);
        scene_text_term(&f->tx, NULL);
    }
    int every_c = 1;
    while (every_c * cell < 2.6 * u && every_c < n)
        every_c *= 2;
    for (int c = 0; c < n; c += every_c) {
        snprintf(buf, sizeof buf, "%d", c);
        scene_text_draw(&f->tx, L->hm_x + (c + 0.5) * cell, L->hm_y - 1.4 * u, SCENE_MIN_FONT * u,
                        false, ALIGN_CENTER, 0, th->text_faint, buf);
    }

    // Colour bar (the ramp is in sqrt(weight), so weak attention is still visible).
    double bx = L->main.x + L->main.w - 1.6 * u, by = L->hm_y, bh = fmin(side, 12 * u);
    if (bx < L->hm_x + side + 4.5 * u)
        bx = L->hm_x + side + 4.5 * u;
    for (int k = 0; k < 48; k++) {
        scene_set_rgba(cr, scene_theme_ramp(th, 1 - (k + 0.5) / 48));
        cairo_rectangle(cr, bx, by + bh * k / 48, 0.8 * u, bh / 48 + 0.5);
        cairo_fill(cr);
    }
    static const double ticks[] = {1, 0.25, 0.05, 0};
    for (int k = 0; k < 4; k++) {
        snprintf(buf, sizeof buf, "%g", ticks[k]);
        scene_text_draw(&f->tx, bx - 0.2 * u, by + bh * (1 - sqrt(ticks[k])) - 0.6 * u,
                        SCENE_MIN_FONT * u, false, ALIGN_RIGHT, 0, th->text_dim, buf);
    }
}
