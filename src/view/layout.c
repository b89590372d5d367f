// layout.c — the geometry every view shares: the frame's areas (top bar, view area, side panel,
// legend, caption), the token columns that the sequence and layers views stand on, and the
// questions asked of a layout (where is token i, its cache block, what is under a point).
// What a single view adds (its blocks, bands or matrix) is that view's layout function, in its
// own file; which view is which is views.c. No drawing here.
#include "view/scene_internal.h"
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
    int lines = scene_text_line_count(0.95 * u, L->main.w - 1.8 * u, v->caption_text);
    return lines < 2 ? 2 : lines > 8 ? 8 : lines;
}

SceneRect scene_layout_frame(const Session *s, const View *v, int width, int height,
                             SceneLayout *L) {
    memset(L, 0, sizeof *L);
    L->width = width;
    L->height = height;
    double u = fmin(height / 54.0, width / 88.0);
    if (u < 5)
        u = 5;
    L->unit = u;
    L->kind = v->kind;
    L->n_tokens = s->n_tokens;
    L->n_layers = s->model->cfg.n_layers;
    const StepRecord *r = session_last(s);
    L->head_pos = r ? r->pos : -1;
    L->new_pos = r ? r->pos + 1 : -1;

    double m = 0.8 * u;
    L->top = (SceneRect){m, 0.7 * m, width - 2 * m, 2.6 * u};
    double y0 = L->top.y + L->top.h + 0.7 * u;
    double pw = v->show_panels ? clampd(0.27 * width, 18 * u, 28 * u) : 0;
    if (v->show_panels)
        L->panel = (SceneRect){width - m - pw, y0, pw, height - m - y0};
    double main_right = v->show_panels ? L->panel.x - m : width - m;
    L->main = (SceneRect){m, y0, main_right - m, height - m - y0};
    L->legend = (SceneRect){L->main.x, L->main.y + L->main.h - 1.6 * u, L->main.w, 1.6 * u};
    double bottom = L->legend.y - 0.5 * u;
    if ((v->caption_title && *v->caption_title) || (v->caption_text && *v->caption_text)) {
        const int lines = L->caption_lines = scene_caption_lines(L, v); // 2 for most captions
        double ch = 1.2 * u + (v->caption_title && *v->caption_title ? 1.9 * u : 0) +
                    (lines > 0 ? 2.9 * u + 1.45 * u * (lines - 2) : 0);
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

// Width of token i's cell: its text (bold, the token font) plus padding, within bounds.
static double cell_width(CellMeasure *m, const Session *s, int i, double u, double zoom) {
    double size = floor(SCENE_TOKEN_FONT * u * 4 + 0.5) / 4;
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
    double w = (double)logical.width / PANGO_SCALE + 0.8 * u;
    return clampd(w, 1.9 * u, 7.5 * u) * zoom;
}

void scene_layout_columns(const Session *s, const View *v, SceneRect c, SceneLayout *L) {
    double u = L->unit;
    L->beams =
        (SceneRect){c.x + L->label_w, c.y, c.w - L->label_w, L->token_row.y - 0.25 * u - c.y};

    // Token columns (see SceneLayout): widths measured from the text, newest token backwards.
    double zoom = clampd(v->zoom > 0 ? v->zoom : 1, 0.4, 3);
    double avail_x = c.x + L->label_w, avail_w = c.w - L->label_w;
    int n = s->n_tokens;
    int scroll = v->scroll > 0 ? v->scroll : 0;
    int end = n - 1 - scroll;
    if (end < 0)
        end = n > 0 ? 0 : -1;
    double widths[SCENE_MAX_CELLS];
    CellMeasure cm;
    cell_measure_begin(&cm);
    // Pass 1: do end .. 0 all fit?
    double sum = 0;
    int k = 0, first = end + 1;
    while (first > 0 && k < SCENE_MAX_CELLS) {
        double w = cell_width(&cm, s, first - 1, u, zoom);
        if (sum + w > avail_w)
            break;
        sum += w;
        widths[k++] = w;
        first--;
    }
    if (first > 0) {
        // Pass 2: they do not; keep room for the strip of earlier tokens.
        double room = avail_w - clampd(0.14 * avail_w, 2.5 * u, 12 * u) - 0.5 * u;
        while (k > 1 && sum > room) {
            sum -= widths[--k];
            first++;
        }
        L->strip_x = avail_x;
        L->strip_w = avail_x + avail_w - sum - 0.5 * u - avail_x;
    }
    cell_measure_end(&cm);
    L->first = first;
    L->last = end;
    double x = first > 0 ? avail_x + avail_w - sum : avail_x;
    for (int i = 0; i < k; i++) {
        L->cell_x[i] = x;
        x += widths[k - 1 - i];
    }
    L->cell_x[k] = x;
    if (L->head_pos >= 0) {
        double hx;
        if (scene_token_x(L, L->head_pos, &hx)) {
            L->head_x = hx;
            L->head_y = L->token_row.y;
        } else {
            L->head_x = -1;
            L->head_y = -1;
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Questions asked of a layout

bool scene_token_box(const SceneLayout *l, int i, SceneRect *r) {
    if (l->token_row.h <= 0 || i < 0 || i >= l->n_tokens)
        return false;
    if (i >= l->first && i <= l->last) {
        int k = i - l->first;
        *r = (SceneRect){l->cell_x[k], l->token_row.y, l->cell_x[k + 1] - l->cell_x[k],
                         l->token_row.h};
        return true;
    }
    if (i < l->first && l->strip_w > 0) {
        double w = l->strip_w / l->first;
        *r = (SceneRect){l->strip_x + i * w, l->token_row.y, w, l->token_row.h};
        return true;
    }
    return false;
}

bool scene_token_x(const SceneLayout *l, int i, double *x) {
    SceneRect r;
    if (!scene_token_box(l, i, &r))
        return false;
    *x = r.x + r.w / 2;
    return true;
}

bool scene_token_anchor(const SceneLayout *l, int i, double *x, double *y) {
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
    double y = l->blocks.y + layer * (l->block_h + l->block_gap);
    if (i >= l->first) {
        double inset = t.w * 0.09;
        *r = (SceneRect){t.x + inset, y, t.w - 2 * inset, l->block_h};
    } else {
        *r = (SceneRect){t.x, y, t.w, l->block_h};
    }
    return true;
}

double scene_columns_bottom(const SceneLayout *l) {
    return l->blocks.h > 0 ? l->blocks.y + l->blocks.h : l->token_row.y + l->token_row.h;
}

static bool in_rect(SceneRect r, double x, double y) {
    return x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
}

int scene_hit_columns(const SceneLayout *l, double x, double y) {
    if (y < l->beams.y || y >= scene_columns_bottom(l))
        return -1;
    if (l->n_tokens <= 0)
        return -1;
    int nc = l->last - l->first + 1;
    if (nc > 0 && x >= l->cell_x[0] && x < l->cell_x[nc]) {
        int lo = 0, hi = nc - 1; // the last cell whose left edge is <= x
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (l->cell_x[mid] <= x)
                lo = mid;
            else
                hi = mid - 1;
        }
        return l->first + lo;
    }
    if (l->strip_w > 0 && l->first > 0 && x >= l->strip_x && x < l->strip_x + l->strip_w) {
        int i = (int)((x - l->strip_x) / l->strip_w * l->first);
        return i < l->first ? i : l->first - 1;
    }
    return -1;
}

bool scene_hit_block(const SceneLayout *l, double x, double y, int *token, int *layer) {
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
