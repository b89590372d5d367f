// layout.c — the geometry every view shares: the frame's areas (top bar, view area, side panel,
// legend, caption), the token columns that the sequence and layers views stand on, and the
// questions asked of a layout (where is token i, its cache block, what is under a point).
// What a single view adds (its blocks, bands or matrix) is that view's layout function, in its
// own file; which view is which is views.c. No drawing here.
#include "view/scene_internal.h"
#include <limits.h>
#include <math.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// The frame's areas

static double clampd(double x, double lo, double hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

int scene_caption_lines(const SceneLayout *L, const View *v) {
    if (!v->caption_text || !*v->caption_text)
        return 0;
    // measured as draw_caption wraps it, never fewer than the two lines a caption box has
    const double u = L->unit;
    int lines = scene_text_line_count(SCENE_CAPTION_FONT * u, L->main.w - 1.6 * u, v->caption_text);
    return lines < 2 ? 2 : lines > 8 ? 8 : lines;
}

// The unit: 1/50 of the height or 1/88 of the width, whichever is smaller, so that on a 1280x720
// projector even the window's picture above its toolbar keeps the smallest text (SCENE_MIN_FONT
// units) at 14 px or more.
double scene_unit(int width, int height) {
    double u = fmin(height / 50.0, width / 88.0);
    return u < 5 ? 5 : u;
}

SceneRect scene_layout_frame(const Session *s, const View *v, int width, int height,
                             SceneLayout *L) {
    memset(L, 0, sizeof *L);
    L->width = width;
    L->height = height;
    double u = L->unit = scene_unit(width, height);
    L->kind = v->kind;
    L->n_tokens = s->n_tokens;
    L->n_layers = s->model->cfg.n_layers;
    L->n_heads = s->model->cfg.n_heads;
    L->n_kv_heads = s->model->cfg.n_kv_heads;
    const StepRecord *r = session_last(s);
    L->head_pos = r ? r->pos : -1;
    L->new_pos = r ? r->pos + 1 : -1;

    double m = 0.8 * u;
    L->top = (SceneRect){m, 0.6 * m, width - 2 * m,
                         0.35 * u + 1.2 * SCENE_BIG_FONT * u + 1.2 * SCENE_MIN_FONT * u};
    double y0 = L->top.y + L->top.h + 0.6 * u;
    // The detail layout's panel is wider: its extra counters' labels and values whole.
    double pw = !v->show_panels                   ? 0
                : v->layout == VIEW_LAYOUT_DETAIL ? clampd(0.33 * width, 18 * u, 32 * u)
                                                  : clampd(0.27 * width, 18 * u, 28 * u);
    if (v->show_panels)
        L->panel = (SceneRect){width - m - pw, y0, pw, height - m - y0};
    double main_right = v->show_panels ? L->panel.x - m : width - m;
    L->main = (SceneRect){m, y0, main_right - m, height - m - y0};
    L->legend = (SceneRect){L->main.x, L->main.y + L->main.h - 3.2 * u, L->main.w, 3.2 * u};
    double bottom = L->legend.y - 0.4 * u;
    if ((v->caption_title && *v->caption_title) || (v->caption_text && *v->caption_text)) {
        const int lines = L->caption_lines = scene_caption_lines(L, v); // measured once a layout
        double ch = 0.8 * u +
                    (v->caption_title && *v->caption_title ? 1.25 * SCENE_CAPTION_TITLE * u : 0) +
                    (lines > 0 ? 1.22 * SCENE_CAPTION_FONT * u * lines + 0.2 * u : 0);
        L->caption = (SceneRect){L->main.x, bottom - ch, L->main.w, ch};
        bottom = L->caption.y - 0.6 * u;
    }
    L->label_w = 2.4 * u;
    return (SceneRect){L->main.x, L->main.y, L->main.w, bottom - L->main.y};
}

// ----------------------------------------------------------------------------------------------
// Token columns

// Measures token text for the layout without a cairo target (the window's hit tests call
// scene_layout too), with unhinted metrics so every target gets the same cells.
typedef struct {
    PangoContext *ctx;
    PangoLayout *layout;
    PangoFontDescription *font;
    double size;
} CellMeasure;

static void cell_measure_begin(CellMeasure *m) {
    m->ctx = pango_font_map_create_context(pango_cairo_font_map_get_default());
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    pango_cairo_context_set_font_options(m->ctx, fo);
    cairo_font_options_destroy(fo);
    m->layout = pango_layout_new(m->ctx);
    m->font = pango_font_description_from_string("DejaVu Sans Bold");
    m->size = -1;
}

static void cell_measure_end(CellMeasure *m) {
    g_object_unref(m->layout);
    g_object_unref(m->ctx);
    pango_font_description_free(m->font);
}

// Width of token i's text at the token size (bold), without padding.
static double text_width(CellMeasure *m, const Session *s, int i, double size) {
    if (size != m->size) {
        pango_font_description_set_absolute_size(m->font, size * PANGO_SCALE);
        pango_layout_set_font_description(m->layout, m->font);
        m->size = size;
    }
    char buf[96];
    scene_token_display(s, i, buf, sizeof buf);
    pango_layout_set_text(m->layout, buf, -1);
    PangoRectangle logical;
    pango_layout_get_extents(m->layout, NULL, &logical);
    return (double)logical.width / PANGO_SCALE;
}

double scene_token_size(double u) {
    return floor(SCENE_TOKEN_FONT * u * 4 + 0.5) / 4;
}

double scene_cell_pad(double u) {
    return 0.5 * u;
}

// Lays the cells out at one token size: as wide as their text, wrapped like words at line_w, at
// most max_lines lines, in virtual coordinates (x from 0 along a line; cell_line the line).
// False when they do not fit.
static bool layout_full(CellMeasure *cm, const Session *s, double line_w, int n, int max_lines,
                        double size, double token_h, SceneLayout *L) {
    double u = L->unit, pad = scene_cell_pad(u), min_w = 0.7 * size + pad;
    double x = 0;
    int line = 0;
    for (int i = 0; i < n; i++) {
        double w = fmax(text_width(cm, s, i, size) + pad, min_w);
        if (w > line_w)
            w = line_w;
        if (x + w > line_w + 1e-9 && x > 0) {
            line++;
            x = 0;
        }
        if (line >= max_lines)
            return false;
        L->cell[i] = (SceneRect){x, 0, w, token_h};
        L->cell_line[i] = line;
        x += w;
    }
    return true;
}

// Compact cells of one width: per_line on a line (0: one unbounded line).
static void layout_compact(int n, double cw, int per_line, double token_h, SceneLayout *L) {
    for (int i = 0; i < n; i++) {
        int ln = per_line > 0 ? i / per_line : 0;
        int col = per_line > 0 ? i % per_line : i;
        L->cell[i] = (SceneRect){col * cw, 0, cw, token_h};
        L->cell_line[i] = ln;
    }
}

// Lines of line_h (a line's cells, what stands under them and the gap after) that fit c whole.
static int lines_that_fit(SceneRect c, double token_h, double line_h, int cap) {
    int max_lines = (int)(fmax(c.h, token_h) / line_h + 1e-9);
    if (max_lines > cap)
        max_lines = cap;
    if (max_lines > SCENE_MAX_LINES)
        max_lines = SCENE_MAX_LINES;
    return max_lines < 1 ? 1 : max_lines;
}

// Positions a single line of cells holds before it has to grow, in steps (32, 64, 128, ...,
// the context), so that the cells move only when the sequence passes a step.
static int line_capacity(int n, int ctx) {
    int cap = 32;
    while (cap < n && cap < ctx)
        cap *= 2;
    return cap < ctx ? cap : ctx > n ? ctx : n;
}

double scene_view_zoom(const View *v) {
    return v->zoom < 1 ? 1 : v->zoom > VIEW_ZOOM_MAX ? VIEW_ZOOM_MAX : v->zoom;
}

void scene_layout_cells(const Session *s, const View *v, SceneRect c, int max_lines_cap,
                        double line_extra, SceneLayout *L) {
    double u = L->unit;
    int n = s->n_tokens < SCENE_MAX_CELLS ? s->n_tokens : SCENE_MAX_CELLS;
    bool one_line = max_lines_cap == 1;
    const double zoom = scene_view_zoom(v);
    int ctx = s->model->cfg.seq_len > n ? s->model->cfg.seq_len : n;
    if (ctx > SCENE_MAX_CELLS)
        ctx = SCENE_MAX_CELLS;
    L->first = 0;
    L->last = n - 1;
    L->n_lines = 0;
    L->compact = false;
    // At zoom 1 every position is on the picture: every token's text in full at the token size;
    // when that does not fit, at the smallest size; when that does not fit either, compact cells
    // of one width. Zooming keeps that choice and makes the cells wider (the text larger); the
    // part of the sequence that no longer fits is scrolled (below).
    CellMeasure cm;
    cell_measure_begin(&cm);
    const double sizes[2] = {scene_token_size(u), floor(SCENE_MIN_FONT * u * 4 + 0.5) / 4};
    bool fits = false;
    double token_h = 0;
    int max_lines = 1;
    for (int k = 0; k < (L->keep_token_size ? 1 : 2) && !fits; k++) {
        L->token_size = sizes[k];
        token_h = ceil(1.35 * sizes[k]);
        L->line_h = token_h + line_extra;
        max_lines = lines_that_fit(c, token_h, L->line_h, max_lines_cap);
        fits = layout_full(&cm, s, c.w, n, max_lines, sizes[k], token_h, L);
    }
    if (!fits && L->keep_token_size) { // the newest lines at the token size, the rest scrolled
        L->token_size = sizes[0];
        token_h = ceil(1.35 * sizes[0]);
        L->line_h = token_h + line_extra;
        max_lines = lines_that_fit(c, token_h, L->line_h, max_lines_cap);
        one_line = one_line || max_lines == 1; // one line: the newest tokens up to its end
        fits = layout_full(&cm, s, one_line ? INFINITY : c.w, n, INT_MAX, sizes[0], token_h, L);
    }
    if (fits && zoom > 1) {
        // Larger type, as large as a line of the area holds.
        double size = fmin(L->token_size * zoom, floor((c.h - line_extra) / 1.35));
        if (size > L->token_size) {
            L->token_size = size;
            token_h = ceil(1.35 * size);
            L->line_h = token_h + line_extra;
            max_lines = lines_that_fit(c, token_h, L->line_h, max_lines_cap);
            layout_full(&cm, s, one_line ? INFINITY : c.w, n, INT_MAX, size, token_h, L);
        }
    } else if (!fits) {
        // Compact: as many cells on a line as the whole context needs (a single line: the next
        // step of line_capacity), so that they stay where they are; zoom makes them wider.
        L->compact = true;
        L->token_size = sizes[0]; // the texts that fit a cell, and the call-outs
        if (one_line) {
            layout_compact(n, c.w / line_capacity(n, ctx) * zoom, 0, token_h, L);
        } else {
            int per_line = (ctx + max_lines - 1) / max_lines;
            per_line = (int)ceil(per_line / zoom);
            if (per_line < 1)
                per_line = 1;
            layout_compact(n, c.w / per_line, per_line, token_h, L);
        }
    }
    cell_measure_end(&cm);

    // What is on the picture: the lines (or, on a single line, the stretch) that hold the cell
    // View.scroll positions before the newest, as near the end of the sequence as they can be.
    int target = n - 1 - (v->scroll > 0 ? v->scroll : 0);
    if (target < 0)
        target = 0;
    int n_virtual = n > 0 ? L->cell_line[n - 1] + 1 : 0;
    int fl = 0;
    double off = 0;
    if (n > 0 && !one_line && n_virtual > max_lines) {
        fl = L->cell_line[target] - max_lines + 1;
        fl = fl < 0 ? 0 : fl > n_virtual - max_lines ? n_virtual - max_lines : fl;
    }
    if (n > 0 && one_line) {
        double total = L->cell[n - 1].x + L->cell[n - 1].w;
        if (total > c.w + 1e-9) {
            off = L->cell[target].x + L->cell[target].w - c.w;
            off = off < 0 ? 0 : off > total - c.w ? total - c.w : off;
        }
    }
    int vis = one_line ? 1 : max_lines;
    L->first = n;
    L->last = -1;
    for (int i = 0; i < n; i++) {
        int ln = L->cell_line[i] - fl;
        SceneRect *r = &L->cell[i];
        r->x += c.x - off;
        r->y = c.y + ln * L->line_h;
        L->cell_line[i] = ln;
        bool on = ln >= 0 && ln < vis && r->x >= c.x - 1e-6 && r->x + r->w <= c.x + c.w + 1e-6;
        if (on) {
            L->first = i < L->first ? i : L->first;
            L->last = i;
        }
    }
    if (L->last < 0)
        L->first = 0;
    L->n_virtual = n_virtual;
    L->n_lines =
        n > 0 && L->last >= L->first ? L->cell_line[L->last] - L->cell_line[L->first] + 1 : 0;
    if (L->n_lines > SCENE_MAX_LINES)
        L->n_lines = SCENE_MAX_LINES;
    // A wheel notch: a line of cells, or an eighth of the single line's cells on the picture.
    int on_picture = L->last >= L->first ? L->last - L->first + 1 : 0;
    int notch = one_line || L->n_lines <= 0 ? on_picture / 8 : on_picture / L->n_lines;
    L->scroll_step = notch > 1 ? notch : 1;
    for (int k = 0; k < L->n_lines; k++)
        L->line_y[k] = c.y + k * L->line_h;
    double rows_h = L->n_lines > 0 ? (L->n_lines - 1) * L->line_h + token_h : token_h;
    L->token_row = (SceneRect){c.x, c.y, c.w, rows_h};
    L->head_x = L->head_y = -1;
    if (L->head_pos >= L->first && L->head_pos <= L->last) {
        SceneRect h = L->cell[L->head_pos];
        L->head_x = h.x + h.w / 2;
        L->head_y = h.y;
    }
}

// ----------------------------------------------------------------------------------------------
// Questions asked of a layout

bool scene_token_box(const SceneLayout *l, int i, SceneRect *r) {
    if (l->n_lines <= 0 || i < l->first || i > l->last || i >= l->n_tokens)
        return false;
    *r = l->cell[i];
    return true;
}

bool scene_token_x(const SceneLayout *l, int i, double *x) {
    SceneRect r;
    if (!scene_token_box(l, i, &r))
        return false;
    *x = r.x + r.w / 2;
    return true;
}

bool scene_token_anchor(const SceneLayout *l, int i, double *x, double *y) {
    if (l->kind == VIEW_3D) // the top of its block, in perspective
        return scene3d_token_point(l, i, x, y) && *x >= l->main.x && *x < l->main.x + l->main.w &&
               *y >= l->main.y && *y < l->main.y + l->main.h;
    SceneRect b;
    if (scene_token_box(l, i, &b)) {
        *x = b.x + b.w / 2;
        *y = l->token_row.y;
        return true;
    }
    if (l->hm_n > 0 && i >= 0 && i < l->hm_n) {
        *x = l->hm_x + (i + 0.5) * l->hm_cell;
        *y = l->hm_y;
        return true;
    }
    return false;
}

bool scene_block_box(const SceneLayout *l, int i, int layer, SceneRect *r) {
    if (l->blocks.h <= 0 || layer < 0 || layer >= l->n_layers)
        return false;
    SceneRect t;
    if (!scene_token_box(l, i, &t))
        return false;
    // Under the token's cell, a stack of its layers; in the layers view, on each layer band's
    // floor (its beams end there).
    double y = l->band_h > 0 ? l->beams.y + (layer + 1) * l->band_h - l->block_gap0 - l->block_h
                             : t.y + t.h + l->block_gap0 + layer * (l->block_h + l->block_gap);
    double inset = t.w >= 6 ? t.w * 0.08 : 0;
    // A cell is as wide as its kv heads are many against the query heads (a GQA or MQA model's
    // cache is visibly smaller), centred under its token, never under two pixels.
    double w = t.w - 2 * inset, share = w * scene_cell_share(l->n_kv_heads, l->n_heads);
    share = fmax(share, fmin(w, 2.0));
    *r = (SceneRect){t.x + inset + (w - share) / 2, y, share, l->block_h};
    return true;
}

double scene_columns_bottom(const SceneLayout *l) {
    return l->blocks.h > 0 ? l->blocks.y + l->blocks.h : l->token_row.y + l->token_row.h;
}

static bool in_rect(SceneRect r, double x, double y) {
    return x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
}

// A token's column: its cell, the blocks under it and, on the first line, the beams above.
static bool in_column(const SceneLayout *l, int i, double x, double y) {
    SceneRect c = l->cell[i];
    if (x < c.x || x >= c.x + c.w)
        return false;
    double top = l->cell_line[i] == 0 ? l->beams.y : c.y;
    double bottom = c.y + c.h;
    if (l->blocks.h > 0 && l->band_h <= 0)
        bottom += l->block_gap0 + l->n_layers * (l->block_h + l->block_gap);
    return y >= top && y < bottom;
}

int scene_hit_columns(const SceneLayout *l, double x, double y) {
    if (l->n_tokens <= 0 || l->n_lines <= 0)
        return -1;
    for (int i = l->first; i <= l->last; i++)
        if (in_column(l, i, x, y))
            return i;
    return -1;
}

bool scene_hit_block(const SceneLayout *l, double x, double y, int *token, int *layer) {
    if (l->kind == VIEW_3D) { // the front-most face drawn there (view_3d.c)
        int t, hit_layer;
        if (!scene3d_hit(l, x, y, &t, &hit_layer) || hit_layer < 0)
            return false;
        *token = t, *layer = hit_layer;
        return true;
    }
    if (l->blocks.h <= 0)
        return false;
    int i = scene_hit_columns(l, x, y); // blocks stand in token columns
    if (i < 0)
        return false;
    for (int k = 0; k < l->n_layers; k++) {
        SceneRect r;
        if (scene_block_box(l, i, k, &r) && in_rect(r, x, y)) {
            *token = i;
            *layer = k;
            return true;
        }
    }
    return false;
}

bool scene_hit_heatmap(const SceneLayout *l, double x, double y, int *row, int *col) {
    if (l->hm_n <= 0 || l->hm_cell <= 0)
        return false;
    double side = l->hm_n * l->hm_cell;
    if (x < l->hm_x || y < l->hm_y || x >= l->hm_x + side || y >= l->hm_y + side)
        return false;
    int c = (int)((x - l->hm_x) / l->hm_cell), rr = (int)((y - l->hm_y) / l->hm_cell);
    if (c >= l->hm_n)
        c = l->hm_n - 1;
    if (rr >= l->hm_n)
        rr = l->hm_n - 1;
    *row = rr;
    *col = c;
    return true;
}
