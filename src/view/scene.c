// scene.c — the scene's layout (where every token, cache block and panel goes), the cache-block
// states, and scene_draw, which draws a frame in one pass from the session and the view.
// The panels live in panels.c, the beams in beams.c, the heatmap view in heatmap.c.
#include "view/scene_internal.h"
#include <math.h>
#include <string.h>

#define TOKEN_FONT 0.92 // token text size, in units

// ----------------------------------------------------------------------------------------------
// View

void view_init(View *v) {
    memset(v, 0, sizeof *v);
    v->kind = VIEW_SEQUENCE;
    v->layer = VIEW_ALL_LAYERS;
    v->head = VIEW_HEAD_MEAN;
    v->theme = THEME_DARK;
    v->zoom = 1;
    v->hover = -1;
    v->pinned = -1;
    v->beam_threshold = 0.02f;
    v->show_panels = true;
}

static const char *const view_names[VIEW_KINDS] = {"sequence", "heatmap", "layers"};

const char *view_kind_name(ViewKind k) {
    return (unsigned)k < VIEW_KINDS ? view_names[k] : "?";
}

int view_kind_parse(const char *name) {
    for (int k = 0; k < VIEW_KINDS; k++)
        if (name && strcmp(name, view_names[k]) == 0) return k;
    return -1;
}

const char *const block_state_names[BLOCK_STATES] = {
    "empty", "new this step", "cached", "read this step", "recomputed this step", "evicted",
};

// ----------------------------------------------------------------------------------------------
// Cache-block states

// When, within a step's animation, layer `layer` computes its K/V: the stack fills top down.
static double layer_time(int layer, int n_layers) {
    return 0.25 + 0.35 * (n_layers > 1 ? (double)layer / (n_layers - 1) : 0);
}

// The session recorded each cell's state (session_cell); this maps it to its look: the cell as
// the step found it until the step reaches this layer, as the step left it after. One block per
// layer shows kv head 0 (under full retention every kv head holds the same positions).
BlockState scene_block_state(const Session *s, int pos, int layer, double t_anim) {
    static const BlockState look[CELL_STATES] = {
        [CELL_EMPTY] = BLOCK_EMPTY, [CELL_CACHED] = BLOCK_CACHED, [CELL_READ] = BLOCK_READ,
        [CELL_WRITTEN] = BLOCK_WRITTEN, [CELL_RECOMPUTED] = BLOCK_RECOMPUTED,
        [CELL_EVICTED] = BLOCK_EVICTED,
    };
    const StepRecord *r = session_last(s);
    if (!r || pos < 0 || pos > r->pos) return BLOCK_EMPTY;
    bool now = t_anim >= layer_time(layer, s->model->cfg.n_layers);
    // a cell some kv head still keeps is shown as kept (h2o: scene_block_keepers says how many)
    CellState st = CELL_EVICTED;
    for (int g = 0; g < s->model->cfg.n_kv_heads && st == CELL_EVICTED; g++) {
        const CellStep cell = session_cell(s, r, layer, g, pos);
        st = now ? cell.now : cell.before;
    }
    return look[st];
}

// ----------------------------------------------------------------------------------------------
// Layout

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

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
    double size = floor(TOKEN_FONT * u * 4 + 0.5) / 4;
    if (size != m->size) {
        pango_font_description_set_absolute_size(m->font, size * PANGO_SCALE);
        pango_layout_set_font_description(m->layout, m->font);
        m->size = size;
    }
    char buf[96];
    token_display(s, i, buf, sizeof buf);
    pango_layout_set_text(m->layout, buf, -1);
    PangoRectangle logical;
    pango_layout_get_extents(m->layout, NULL, &logical);
    double w = (double)logical.width / PANGO_SCALE + 0.8 * u;
    return clampd(w, 1.9 * u, 7.5 * u) * zoom;
}

void scene_layout(const Session *s, const View *v, int width, int height, SceneLayout *L) {
    memset(L, 0, sizeof *L);
    L->width = width;
    L->height = height;
    double u = fmin(height / 54.0, width / 88.0);
    if (u < 5) u = 5;
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
    if (v->show_panels) L->panel = (SceneRect){width - m - pw, y0, pw, height - m - y0};
    double main_right = v->show_panels ? L->panel.x - m : width - m;
    L->main = (SceneRect){m, y0, main_right - m, height - m - y0};
    L->legend = (SceneRect){L->main.x, L->main.y + L->main.h - 1.6 * u, L->main.w, 1.6 * u};
    double bottom = L->legend.y - 0.5 * u;
    if ((v->caption_title && *v->caption_title) || (v->caption_text && *v->caption_text)) {
        double ch = 1.2 * u + (v->caption_title && *v->caption_title ? 1.9 * u : 0) +
                    (v->caption_text && *v->caption_text ? 2.9 * u : 0);
        L->caption = (SceneRect){L->main.x, bottom - ch, L->main.w, ch};
        bottom = L->caption.y - 0.6 * u;
    }
    SceneRect c = {L->main.x, L->main.y, L->main.w, bottom - L->main.y};
    L->label_w = 2.4 * u;

    if (v->kind == VIEW_HEATMAP) {
        double left = 6.5 * u, top = 3.0 * u, right = 5.5 * u;
        int n = r ? r->pos + 1 : 0;
        L->hm_n = n;
        double side = fmin(c.w - left - right, c.h - top - 0.3 * u);
        if (side < 10) side = 10;
        L->hm_cell = n > 0 ? fmin(side / n, 3.2 * u) : 0;
        double used = L->hm_cell * n;
        L->hm_x = c.x + left + fmax(0, (c.w - left - right - used) / 2);
        L->hm_y = c.y + top;
        L->beams = c;
        L->first = 0;
        L->last = -1;
        return;
    }

    double token_h = 2.5 * u;
    if (v->kind == VIEW_SEQUENCE) {
        int nl = L->n_layers > 0 ? L->n_layers : 1;
        L->block_h = clampd(c.h * 0.30 / nl, 0.35 * u, 1.25 * u);
        L->block_gap = fmax(1.0, 0.22 * L->block_h);
        double bh = nl * (L->block_h + L->block_gap) - L->block_gap;
        L->blocks = (SceneRect){c.x + L->label_w, c.y + c.h - bh, c.w - L->label_w, bh};
        L->token_row = (SceneRect){c.x + L->label_w, L->blocks.y - 0.35 * u - token_h,
                                   c.w - L->label_w, token_h};
    } else {
        L->token_row = (SceneRect){c.x + L->label_w, c.y + c.h - token_h, c.w - L->label_w,
                                   token_h};
    }
    L->beams = (SceneRect){c.x + L->label_w, c.y, c.w - L->label_w,
                           L->token_row.y - 0.25 * u - c.y};

    // Token columns (see SceneLayout): widths measured from the text, newest token backwards.
    double zoom = clampd(v->zoom > 0 ? v->zoom : 1, 0.4, 3);
    double avail_x = c.x + L->label_w, avail_w = c.w - L->label_w;
    int n = s->n_tokens;
    int scroll = v->scroll > 0 ? v->scroll : 0;
    int end = n - 1 - scroll;
    if (end < 0) end = n > 0 ? 0 : -1;
    double widths[SCENE_MAX_CELLS];
    CellMeasure cm;
    cell_measure_begin(&cm);
    // Pass 1: do end .. 0 all fit?
    double sum = 0;
    int k = 0, first = end + 1;
    while (first > 0 && k < SCENE_MAX_CELLS) {
        double w = cell_width(&cm, s, first - 1, u, zoom);
        if (sum + w > avail_w) break;
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

bool scene_token_box(const SceneLayout *l, int i, SceneRect *r) {
    if (l->kind == VIEW_HEATMAP || i < 0 || i >= l->n_tokens) return false;
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
    if (!scene_token_box(l, i, &r)) return false;
    *x = r.x + r.w / 2;
    return true;
}

bool scene_block_box(const SceneLayout *l, int i, int layer, SceneRect *r) {
    if (l->kind != VIEW_SEQUENCE || layer < 0 || layer >= l->n_layers) return false;
    SceneRect t;
    if (!scene_token_box(l, i, &t)) return false;
    double y = l->blocks.y + layer * (l->block_h + l->block_gap);
    if (i >= l->first) {
        double inset = t.w * 0.09;
        *r = (SceneRect){t.x + inset, y, t.w - 2 * inset, l->block_h};
    } else {
        *r = (SceneRect){t.x, y, t.w, l->block_h};
    }
    return true;
}

static bool in_rect(SceneRect r, double x, double y) {
    return x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
}

int scene_hit_token(const SceneLayout *l, double x, double y) {
    if (l->kind == VIEW_HEATMAP) {
        int row, col;
        if (scene_hit_heatmap(l, x, y, &row, &col)) return col;
        // Row labels on the left name the row's token.
        if (l->hm_n > 0 && x < l->hm_x && x >= l->main.x && y >= l->hm_y &&
            y < l->hm_y + l->hm_n * l->hm_cell)
            return (int)((y - l->hm_y) / l->hm_cell);
        return -1;
    }
    double top = l->beams.y;
    double bottom = l->kind == VIEW_SEQUENCE ? l->blocks.y + l->blocks.h
                                             : l->token_row.y + l->token_row.h;
    if (y < top || y >= bottom) return -1;
    if (l->n_tokens <= 0) return -1;
    int nc = l->last - l->first + 1;
    if (nc > 0 && x >= l->cell_x[0] && x < l->cell_x[nc]) {
        int lo = 0, hi = nc - 1; // the last cell whose left edge is <= x
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (l->cell_x[mid] <= x) lo = mid;
            else hi = mid - 1;
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
    if (l->kind != VIEW_SEQUENCE) return false;
    int i = scene_hit_token(l, x, y);
    if (i < 0) return false;
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
    if (l->kind != VIEW_HEATMAP || l->hm_n <= 0 || l->hm_cell <= 0) return false;
    double side = l->hm_n * l->hm_cell;
    if (x < l->hm_x || y < l->hm_y || x >= l->hm_x + side || y >= l->hm_y + side) return false;
    int c = (int)((x - l->hm_x) / l->hm_cell), rr = (int)((y - l->hm_y) / l->hm_cell);
    if (c >= l->hm_n) c = l->hm_n - 1;
    if (rr >= l->hm_n) rr = l->hm_n - 1;
    *row = rr;
    *col = c;
    return true;
}

// ----------------------------------------------------------------------------------------------
// Attention of the view's selection

float view_attention(const Session *s, const View *v, int row, int col) {
    int nl = s->model->cfg.n_layers;
    int head = v->head >= 0 ? v->head : -1;
    if (v->layer >= 0 && v->layer < nl) return session_attention(s, row, col, v->layer, head);
    float sum = 0;
    for (int l = 0; l < nl; l++) sum += session_attention(s, row, col, l, head);
    return nl > 0 ? sum / nl : 0;
}

// ----------------------------------------------------------------------------------------------
// The token row and the cache blocks

static void draw_token_row(Frame *f) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    const Theme *th = f->th;
    const Session *s = f->s;
    double u = f->u;
    char buf[96], idb[16];

    // Strip of earlier tokens: a bar per token (prompt dim, generated bright) and a count.
    if (L->strip_w > 0 && L->first > 0) {
        SceneRect row = L->token_row;
        set_rgba(cr, th->panel);
        cairo_rectangle(cr, L->strip_x, row.y, L->strip_w, row.h);
        cairo_fill(cr);
        int np = s->n_prompt < L->first ? s->n_prompt : L->first;
        double w = L->strip_w / L->first;
        set_rgba_a(cr, th->prompt_text, 0.45);
        cairo_rectangle(cr, L->strip_x, row.y + row.h * 0.72, np * w, row.h * 0.12);
        cairo_fill(cr);
        if (L->first > np) {
            set_rgba_a(cr, th->gen_text, 0.7);
            cairo_rectangle(cr, L->strip_x + np * w, row.y + row.h * 0.72, (L->first - np) * w,
                            row.h * 0.12);
            cairo_fill(cr);
        }
        snprintf(buf, sizeof buf, "\xe2\x97\x80 %d", L->first);
        text_draw(&f->tx, L->strip_x + L->strip_w / 2, row.y + 0.15 * u, 0.85 * u, true,
                  ALIGN_CENTER, L->strip_w, th->text_dim, buf);
        text_draw(&f->tx, L->strip_x + L->strip_w / 2, row.y + 1.2 * u, 0.55 * u, false,
                  ALIGN_CENTER, L->strip_w, th->text_faint, "earlier");
    }

    double drop = ease(anim_phase(f->t, 0.78, 1.0));
    for (int i = L->first; i <= L->last; i++) {
        SceneRect b;
        if (!scene_token_box(L, i, &b)) continue;
        bool prompt = i < s->n_prompt;
        bool is_new = i == L->new_pos;
        double dy = 0, alpha = 1;
        if (is_new && f->t < 1) {
            dy = -(1 - drop) * 2.2 * u;
            alpha = 0.25 + 0.75 * drop;
        }
        double pad = 0.06 * b.w;
        if (!prompt) {
            set_rgba_a(cr, th->panel, alpha);
            cairo_rectangle(cr, b.x + pad, b.y + dy, b.w - 2 * pad, b.h);
            cairo_fill(cr);
        }
        if (is_new || i == L->head_pos || i == f->v->pinned) {
            Rgba edge = is_new ? th->new_token : i == L->head_pos ? th->head : th->pinned;
            set_rgba_a(cr, edge, alpha);
            cairo_set_line_width(cr, fmax(1.5, 0.12 * u));
            cairo_rectangle(cr, b.x + pad, b.y + dy, b.w - 2 * pad, b.h);
            cairo_stroke(cr);
        }
        token_display(s, i, buf, sizeof buf);
        Rgba tc = prompt ? th->prompt_text : th->gen_text;
        tc.a *= alpha;
        text_draw(&f->tx, b.x + b.w / 2, b.y + 0.2 * u + dy, TOKEN_FONT * u, !prompt, ALIGN_CENTER,
                  b.w - 2 * pad - 0.1 * u, tc, buf);
        if (b.w >= 1.6 * u) {
            snprintf(idb, sizeof idb, "%d", s->tokens[i]);
            Rgba ic = th->text_faint;
            ic.a *= alpha;
            text_draw(&f->tx, b.x + b.w / 2, b.y + 1.5 * u + dy, 0.55 * u, false, ALIGN_CENTER,
                      b.w - 2 * pad, ic, idb);
        }
    }
}

// Adds the block rectangles of one state to the path: full cells one by one, the strip as runs.
static int path_blocks(Frame *f, BlockState want, bool strip) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    int added = 0;
    for (int layer = 0; layer < L->n_layers; layer++) {
        if (strip) {
            if (L->strip_w <= 0 || L->first <= 0) continue;
            double w = L->strip_w / L->first;
            double y = L->blocks.y + layer * (L->block_h + L->block_gap);
            int run = -1;
            for (int i = 0; i <= L->first; i++) {
                bool match = i < L->first && scene_block_state(f->s, i, layer, f->t) == want;
                if (match && run < 0) run = i;
                if (!match && run >= 0) {
                    cairo_rectangle(cr, L->strip_x + run * w, y, (i - run) * w, L->block_h);
                    added++;
                    run = -1;
                }
            }
            continue;
        }
        for (int i = L->first; i <= L->last; i++) {
            if (scene_block_state(f->s, i, layer, f->t) != want) continue;
            SceneRect r;
            if (!scene_block_box(L, i, layer, &r)) continue;
            cairo_rectangle(cr, r.x, r.y, r.w, r.h);
            added++;
        }
    }
    return added;
}

// Cache policies on the blocks: sink positions outlined in the write head's colour; under h2o,
// a block that some kv heads keep and others evicted shows how many keep it ("2/4").
static void draw_policy_marks(Frame *f) {
    const StepRecord *r = session_last(f->s);
    const SceneLayout *L = f->lay;
    if (!r || r->mode != CACHE_MODE_ON) return;
    cairo_t *cr = f->cr;
    const double u = f->u;
    const int hkv = f->s->model->cfg.n_kv_heads;
    if (r->kind.retention == KV_RETAIN_SINKS) {
        set_rgba(cr, f->th->head);
        cairo_set_line_width(cr, fmax(1.5, 0.12 * u));
        for (int i = 0; i < r->kind.sinks && i <= r->pos; i++)
            for (int layer = 0; layer < L->n_layers; layer++) {
                SceneRect b;
                if (!scene_block_box(L, i, layer, &b)) continue;
                cairo_rectangle(cr, b.x, b.y, b.w, b.h);
            }
        cairo_stroke(cr);
    }
    if (r->kind.retention != KV_RETAIN_H2O || hkv < 2) return;
    for (int i = 0; i <= r->pos; i++)
        for (int layer = 0; layer < L->n_layers; layer++) {
            const bool now = f->t >= layer_time(layer, L->n_layers);
            SceneRect b;
            if (!scene_block_box(L, i, layer, &b) || b.h < 0.55 * u || b.w < 1.3 * u) continue;
            int keep = 0;
            for (int g = 0; g < hkv; g++) {
                const CellStep c = session_cell(f->s, r, layer, g, i);
                keep += (now ? c.now : c.before) != CELL_EVICTED;
            }
            if (keep == 0 || keep == hkv) continue;
            char buf[32];
            snprintf(buf, sizeof buf, "%d/%d", keep, hkv);
            const double size = fmin(0.62 * u, b.h * 0.8);
            text_draw(&f->tx, b.x + b.w / 2, b.y + (b.h - size * 1.2) / 2, size, true,
                      ALIGN_CENTER, b.w, f->th->text, buf);
        }
}

static void draw_blocks(Frame *f) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    const Theme *th = f->th;
    double u = f->u;
    char buf[16];
    // Layer labels
    for (int layer = 0; layer < L->n_layers; layer++) {
        double y = L->blocks.y + layer * (L->block_h + L->block_gap);
        if (L->block_h >= 0.5 * u || layer == 0 || layer == L->n_layers - 1) {
            snprintf(buf, sizeof buf, "L%d", layer + 1);
            double size = fmin(0.7 * u, L->block_h * 1.05);
            text_draw(&f->tx, L->blocks.x - 0.3 * u, y + (L->block_h - size * 1.2) / 2, size,
                      false, ALIGN_RIGHT, 0, th->text_faint, buf);
        }
    }
    // One fill per state: every block of a colour in one path.
    for (int st = 0; st < BLOCK_STATES; st++) {
        for (int strip = 0; strip < 2; strip++) {
            if (path_blocks(f, (BlockState)st, strip) == 0) continue;
            set_rgba(cr, th->block[st]);
            if (st == BLOCK_EMPTY) {
                cairo_fill_preserve(cr);
                set_rgba(cr, th->block_edge);
                cairo_set_line_width(cr, fmax(1.0, 0.05 * u));
                cairo_stroke(cr);
            } else if (st == BLOCK_RECOMPUTED) {
                // Recomputed blocks also carry dark diagonal stripes, so the state does not rest
                // on colour alone.
                cairo_fill_preserve(cr);
                cairo_save(cr);
                cairo_clip(cr);
                cairo_set_source_rgba(cr, 0, 0, 0, 0.28);
                cairo_set_line_width(cr, fmax(1.0, 0.09 * u));
                double step = 0.55 * u;
                double x0 = L->blocks.x - L->blocks.h, x1 = L->blocks.x + L->blocks.w;
                for (double x = x0; x < x1; x += step) {
                    cairo_move_to(cr, x, L->blocks.y + L->blocks.h);
                    cairo_line_to(cr, x + L->blocks.h, L->blocks.y);
                }
                cairo_stroke(cr);
                cairo_restore(cr);
            } else if (st == BLOCK_EVICTED) {
                // gone but remembered: a dashed ghost outline on the empty colour
                set_rgba(cr, th->block[BLOCK_EMPTY]);
                cairo_fill_preserve(cr);
                set_rgba(cr, th->block[BLOCK_EVICTED]);
                const double dash[] = {0.25 * u, 0.18 * u};
                cairo_set_dash(cr, dash, 2, 0);
                cairo_set_line_width(cr, fmax(1.0, 0.08 * u));
                cairo_stroke(cr);
                cairo_set_dash(cr, NULL, 0, 0);
            } else {
                cairo_fill(cr);
            }
        }
    }
    draw_policy_marks(f);
}

// Marks the write head: a tag over the query token and a hook to where its token lands.
static void draw_write_head(Frame *f) {
    const SceneLayout *L = f->lay;
    if (L->head_pos < 0 || L->head_x < 0) return;
    cairo_t *cr = f->cr;
    double u = f->u;
    double x = L->head_x, y = L->head_y;
    set_rgba(cr, f->th->head);
    cairo_arc(cr, x, y, 0.22 * u, 0, 2 * M_PI);
    cairo_fill(cr);
    SceneRect nb;
    if (scene_token_box(L, L->new_pos, &nb) && L->new_pos > L->first) {
        double nx = nb.x + nb.w / 2, by = L->token_row.y + L->token_row.h + 0.05 * u;
        cairo_set_line_width(cr, fmax(1.5, 0.1 * u));
        cairo_move_to(cr, x, by);
        cairo_curve_to(cr, x, by + 0.3 * u, nx, by + 0.3 * u, nx, by + 0.05 * u);
        cairo_stroke(cr);
    }
}

static void draw_hover_column(Frame *f) {
    const SceneLayout *L = f->lay;
    int i = f->v->hover;
    SceneRect b;
    if (i < 0 || !scene_token_box(L, i, &b)) return;
    double bottom = L->kind == VIEW_SEQUENCE ? L->blocks.y + L->blocks.h
                                             : L->token_row.y + L->token_row.h;
    set_rgba(f->cr, f->th->hover);
    cairo_rectangle(f->cr, b.x, L->beams.y, fmax(b.w, 2), bottom - L->beams.y);
    cairo_fill(f->cr);
}

static void draw_sequence(Frame *f) {
    draw_hover_column(f);
    draw_beams(f, f->lay->beams, f->v->layer >= 0 ? f->v->layer : 0,
               f->v->layer >= 0 ? f->v->layer + 1 : f->lay->n_layers, false);
    draw_token_row(f);
    draw_blocks(f);
    draw_write_head(f);
}

static void draw_layers(Frame *f) {
    const SceneLayout *L = f->lay;
    draw_hover_column(f);
    int nl = L->n_layers;
    double bh = L->beams.h / (nl > 0 ? nl : 1);
    char buf[16];
    for (int l = 0; l < nl; l++) {
        double y = L->beams.y + l * bh;
        set_rgba(f->cr, f->th->grid);
        cairo_rectangle(f->cr, L->beams.x, y + bh - 1, L->beams.w, 1);
        cairo_fill(f->cr);
        snprintf(buf, sizeof buf, "L%d", l + 1);
        text_draw(&f->tx, L->beams.x - 0.3 * f->u, y + bh - 1.3 * f->u, 0.8 * f->u,
                  f->v->layer == l, ALIGN_RIGHT, 0,
                  f->v->layer == l ? f->th->text : f->th->text_dim, buf);
    }
    draw_beams(f, L->beams, 0, nl, true);
    draw_token_row(f);
    draw_write_head(f);
}

// ----------------------------------------------------------------------------------------------
// The frame

void scene_draw(cairo_t *cr, const Session *s, const View *v, int width, int height,
                double t_anim) {
    SceneLayout lay;
    scene_layout(s, v, width, height, &lay);
    Frame f = {
        .cr = cr,
        .s = s,
        .v = v,
        .th = theme_get(v->theme),
        .lay = &lay,
        .r = session_last(s),
        .u = lay.unit,
        .t = t_anim >= 1 || !(t_anim >= 0) ? 1.0 : t_anim,
    };
    cairo_surface_type_t st = cairo_surface_get_type(cairo_get_target(cr));
    f.vector = st != CAIRO_SURFACE_TYPE_IMAGE && st != CAIRO_SURFACE_TYPE_XLIB &&
               st != CAIRO_SURFACE_TYPE_XCB;

    cairo_save(cr);
    cairo_rectangle(cr, 0, 0, width, height);
    cairo_clip(cr);
    set_rgba(cr, f.th->bg);
    cairo_paint(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    text_begin(&f.tx, cr, v->text_sink);

    draw_top_bar(&f);
    if (v->show_panels) draw_panel(&f);
    cairo_save(cr);
    cairo_rectangle(cr, floor(lay.main.x), floor(lay.main.y), ceil(lay.main.w), ceil(lay.main.h));
    cairo_clip(cr);
    switch (v->kind) {
    case VIEW_HEATMAP: draw_heatmap(&f); break;
    case VIEW_LAYERS: draw_layers(&f); break;
    default: draw_sequence(&f); break;
    }
    cairo_restore(cr);
    draw_legend(&f);
    draw_caption(&f);
    draw_overlays(&f);

    text_end(&f.tx);
    cairo_restore(cr);
}
