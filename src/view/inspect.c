// inspect.c — the inspector: one cache cell's numbers at the shown step, drawn over the view.
//
// For the cell (layer, position) and one query head it shows attention as the engine computed it
// for the write head, in the order of the computation: the query q, the cell's key k, the score
// q . k / sqrt(HS) and softmax weight of the positions read (the largest weights and the cell's
// own), the cell's value v, and the head's output, the weighted sum of the values. Each vector is
// a colour strip (every element) and its numbers. The numbers are the session's probe
// (session_inspect, a replayed forward pass); scene_inspect_layout says where every number is,
// with its value and text, so tests compare what is drawn with a recomputation. What this file
// does not do: record anything (src/sim/inspect.c), choose the cell (the window, lessons, render).
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

int view_inspect_head(const View *v) {
    if (v->inspect_head >= 0)
        return v->inspect_head;
    return v->head >= 0 ? v->head : 0;
}

void view_prepare(Session *s, const View *v) {
    if (v->inspect)
        session_inspect(s, v->inspect_layer, view_inspect_head(v));
    session_set_twin(s, v->split); // off: freed, so a closed split costs nothing
    if (v->split)
        session_twin_sync(s, NULL);
}

// ----------------------------------------------------------------------------------------------
// Layout

// The panel's rows, in units of the numbers' size f (the layout and the drawing share them).
#define TITLE_H(f) (1.6 * (f)) // the title (1.2 f bold) and its gap
#define LINE_H(f) (1.32 * (f)) // a line of numbers or text
#define STRIP_H(f) (0.7 * (f)) // a vector's colour strip
#define SECTION_GAP(f) (0.3 * (f))
#define CELL_W(f) (3.0 * (f))   // a vector element's number, "-0.00" and a gap
#define COLUMN_W(f) (4.6 * (f)) // a position in the score table, "-10.234" and a gap
#define LABEL_W(f) (9.6 * (f))  // the label column
#define VEC_H(f, rows) (STRIP_H(f) + 0.2 * (f) + (rows)*LINE_H(f) + SECTION_GAP(f))
#define TABLE_H(f) (3 * LINE_H(f) + STRIP_H(f) + 0.25 * (f) + LINE_H(f) + SECTION_GAP(f))

static void add_number(SceneInspect *o, InspectQuantity what, int index, float value,
                       const char *fmt, SceneRect box) {
    if (o->n_numbers >= SCENE_INSPECT_MAX)
        return;
    SceneInspectNumber *n = &o->num[o->n_numbers++];
    n->what = what;
    n->index = index;
    n->value = value;
    snprintf(n->text, sizeof n->text, fmt, (double)value);
    if (strcmp(n->text, "-0.00") == 0 || strcmp(n->text, "-0.000") == 0)
        memmove(n->text, n->text + 1, strlen(n->text)); // a rounded zero has no sign
    n->box = box;
}

// Grid of a vector's numbers: columns and rows for n elements in width w, on at most max_rows
// rows (then cols * rows may be fewer than n: the first ones are written).
static void vector_grid(int n, double w, double f, int max_rows, int *cols, int *rows) {
    int c = (int)floor(w / CELL_W(f));
    c = c < 1 ? 1 : c > n ? n : c;
    int r = (n + c - 1) / c;
    r = r > max_rows ? max_rows : r;
    *rows = r;
    *cols = r * c >= n ? (n + r - 1) / r : c; // balanced rows when all fit
}

// The positions the score table shows: the cell's own (when read) and the largest weights, in
// position order.
static int table_columns(const AttnProbe *p, int row, int max, int *out) {
    int n = 0;
    if (row >= 0 && max > 0)
        out[n++] = row;
    while (n < max && n < p->n) {
        int best = -1;
        for (int i = 0; i < p->n; i++) {
            bool taken = false;
            for (int j = 0; j < n && !taken; j++)
                taken = out[j] == i;
            if (!taken && (best < 0 || p->weights[i] > p->weights[best]))
                best = i;
        }
        if (best < 0)
            break;
        out[n++] = best;
    }
    for (int i = 1; i < n; i++) // rows in order (positions grow with rows)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

void scene_inspect_layout(const Session *s, const View *v, int width, int height, SceneInspect *o) {
    memset(o, 0, sizeof *o);
    o->row = -1;
    const StepRecord *r = session_last(s);
    if (!v->inspect || !r)
        return;
    SceneLayout L;
    scene_layout(s, v, width, height, &L);
    const ModelConfig *c = &s->model->cfg;
    const double u = L.unit, f = SCENE_MIN_FONT * u, pad = 0.8 * u;
    o->open = true;
    o->layer = v->inspect_layer < 0              ? 0
               : v->inspect_layer >= c->n_layers ? c->n_layers - 1
                                                 : v->inspect_layer;
    o->head = view_inspect_head(v);
    o->head = o->head >= c->n_heads ? c->n_heads - 1 : o->head;
    o->kv_head = o->head / (c->n_heads / c->n_kv_heads);
    o->pos = v->inspect_pos;
    o->query_pos = r->pos;
    o->font = f;
    const int hs = config_head_size(c);
    o->n_vec = hs < SCENE_INSPECT_VEC ? hs : SCENE_INSPECT_VEC;

    // The panel: every element of each vector as a number, on as many rows as the width needs.
    // Under the token columns when there is room, else as high as it needs, over the columns
    // and at most up to the top bar. Side by side it stands over the lane of the other session
    // (and the ratios between the lanes), growing into the inspected session's lane only as far
    // as it must.
    double bottom = (L.caption.h > 0 ? L.caption.y : L.legend.y) - 0.4 * u;
    SceneRect area = L.main;
    double top = L.main.y + 0.3 * L.main.h, ceiling = L.top.y;
    if (L.blocks.h > 0 || L.token_row.h > 0)
        top = fmax(top, scene_columns_bottom(&L) + 0.5 * u);
    SceneSplit sp;
    scene_split_layout(s, v, width, height, &sp);
    bool below = true; // the panel grows upward (else downward, from the top lane)
    if (sp.open) {
        const int mine = sp.side[0] == s ? 0 : 1;
        // right of the counters columns, which stay in sight
        area = (SceneRect){sp.middle.x, sp.lane[0].y, sp.middle.w, 0};
        ceiling = sp.lane[0].y;
        if (mine == 0) {
            top = sp.middle.y;
            bottom = sp.lane[1].y + sp.lane[1].h;
        } else {
            below = false;
            top = sp.lane[0].y;
            bottom = sp.middle.y + sp.middle.h;
        }
    }
    const double grid_w = area.w - 2 * pad - LABEL_W(f);
    vector_grid(o->n_vec, grid_w, f, 1 << 20, &o->cols, &o->rows);
    const double need = 2 * pad + TITLE_H(f) + LINE_H(f) + 4 * VEC_H(f, o->rows) + TABLE_H(f);
    if (below) {
        top = fmax(ceiling, fmin(top, bottom - need));
    } else { // the top lane's panel: down into the lane under it
        const double floor_y = sp.lane[1].y + sp.lane[1].h;
        bottom = fmin(floor_y, fmax(bottom, top + need));
    }
    o->panel = (SceneRect){area.x, top, area.w, fmin(need, bottom - top)};
    double y = o->panel.y + pad + TITLE_H(f) + LINE_H(f);
    for (int k = 0; k < 5; k++) {
        o->section_y[k] = y;
        y += k == 2 ? TABLE_H(f) : VEC_H(f, o->rows);
    }

    const AttnProbe *p = session_probe(s, o->layer, o->head);
    if (!p)
        return;
    o->captured = true;
    o->n_read = p->n;
    for (int i = 0; i < p->n; i++)
        if (p->row_pos[i] == o->pos)
            o->row = i;

    // the sections, top down: query, key, score table, value, output
    const double x0 = o->panel.x + pad + LABEL_W(f);
    const float *vecs[5] = {p->q, o->row >= 0 ? p->keys + (size_t)o->row * hs : NULL, NULL,
                            o->row >= 0 ? p->values + (size_t)o->row * hs : NULL, p->out};
    const InspectQuantity what[5] = {INSPECT_QUERY, INSPECT_KEY, INSPECT_SCORE, INSPECT_VALUE,
                                     INSPECT_OUT};
    int max = (int)floor((o->panel.w - 2 * pad - LABEL_W(f)) / COLUMN_W(f));
    max = max > SCENE_INSPECT_COLUMNS ? SCENE_INSPECT_COLUMNS : max;
    int idx[SCENE_INSPECT_COLUMNS];
    o->n_columns = table_columns(p, o->row, max, idx);
    for (int k = 0; k < 5; k++) {
        const double sy = o->section_y[k];
        if (k == 2) {
            for (int j = 0; j < o->n_columns; j++) {
                const int i = idx[j];
                o->column_pos[j] = p->row_pos[i];
                const double cx = x0 + j * COLUMN_W(f);
                add_number(o, INSPECT_SCORE, p->row_pos[i], p->scores[i], "%.3f",
                           (SceneRect){cx, sy + LINE_H(f), COLUMN_W(f), LINE_H(f)});
                add_number(o, INSPECT_WEIGHT, p->row_pos[i], p->weights[i], "%.3f",
                           (SceneRect){cx, sy + 2 * LINE_H(f), COLUMN_W(f), LINE_H(f)});
            }
            continue;
        }
        if (vecs[k])
            for (int i = 0; i < o->n_vec; i++) {
                const double nx = x0 + (i % o->cols) * CELL_W(f);
                const double ny = sy + STRIP_H(f) + 0.2 * f + (i / o->cols) * LINE_H(f);
                add_number(o, what[k], i, vecs[k][i], "%.2f",
                           (SceneRect){nx, ny, CELL_W(f), LINE_H(f)});
            }
    }
}

// ----------------------------------------------------------------------------------------------
// Drawing

// Colour of a vector element: blue for negative, orange for positive, stronger for larger |x|.
static Rgba element_colour(const Theme *th, float x, float max_abs) {
    double a = max_abs > 0 ? fmin(1.0, fabs(x) / max_abs) : 0;
    Rgba c = x < 0 ? th->cache_on : th->cache_off;
    c.a = 0.08 + 0.92 * a;
    return scene_rgba_over(c, th->panel);
}

static void draw_strip(Frame *f, const float *x, int n, SceneRect r) {
    float m = 0;
    for (int i = 0; i < n; i++)
        m = fmaxf(m, fabsf(x[i]));
    const double w = r.w / n;
    for (int i = 0; i < n; i++) {
        scene_set_rgba(f->cr, element_colour(f->th, x[i], m));
        cairo_rectangle(f->cr, r.x + i * w, r.y, ceil(w), r.h);
        cairo_fill(f->cr);
    }
    scene_set_rgba(f->cr, f->th->panel_edge);
    cairo_set_line_width(f->cr, 1);
    cairo_rectangle(f->cr, r.x, r.y, r.w, r.h);
    cairo_stroke(f->cr);
}

static void draw_numbers(Frame *f, const SceneInspect *o, InspectQuantity what) {
    for (int k = 0; k < o->n_numbers; k++) {
        const SceneInspectNumber *n = &o->num[k];
        if (n->what != what)
            continue;
        scene_text_draw(&f->tx, n->box.x + n->box.w - 0.35 * o->font, n->box.y, o->font, false,
                        ALIGN_RIGHT, 0, f->th->text, n->text);
    }
}

static void token_label(const Session *s, int pos, char *out, size_t cap) {
    char tok[64];
    scene_token_display(s, pos, tok, sizeof tok);
    snprintf(out, cap, "%d \u201c%s\u201d", pos, tok);
}

// The score table: each shown position's token, score, weight (and a bar of it).
static void draw_table(Frame *f, const SceneInspect *o, const AttnProbe *p, double x, double y,
                       double w) {
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    const double fs = o->font, u = f->u, lw = LABEL_W(fs), x0 = x + lw;
    char buf[160], tok[96], t[128];
    scene_text_draw(&f->tx, x, y, fs, true, ALIGN_LEFT, lw, th->text_dim, "position");
    scene_text_draw(&f->tx, x, y + LINE_H(fs), fs, true, ALIGN_LEFT, lw, th->text_dim, "score");
    scene_text_draw(&f->tx, x, y + 2 * LINE_H(fs), fs, true, ALIGN_LEFT, lw, th->text_dim,
                    "weight");
    for (int j = 0; j < o->n_columns; j++) {
        const int pos = o->column_pos[j];
        const double cx = x0 + j * COLUMN_W(fs);
        scene_token_display(f->s, pos, tok, sizeof tok);
        snprintf(t, sizeof t, "%d %s", pos, tok);
        if (pos == o->pos) {
            scene_set_rgba(cr, th->pinned);
            cairo_set_line_width(cr, fmax(1.5, 0.1 * u));
            cairo_rectangle(cr, cx + 0.1 * fs, y - 0.1 * fs, COLUMN_W(fs) - 0.2 * fs,
                            3 * LINE_H(fs) + STRIP_H(fs) + 0.35 * fs);
            cairo_stroke(cr);
        }
        scene_text_tokens(&f->tx, true); // a position and its token's text
        scene_text_term(&f->tx, "position");
        scene_text_draw(&f->tx, cx + COLUMN_W(fs) - 0.35 * fs, y, fs, pos == o->pos, ALIGN_RIGHT,
                        COLUMN_W(fs) - 0.5 * fs, th->text, t);
        scene_text_tokens(&f->tx, false);
        scene_text_term(&f->tx, NULL);
        float wgt = 0;
        for (int i = 0; i < p->n; i++)
            if (p->row_pos[i] == pos)
                wgt = p->weights[i];
        const double bw = (COLUMN_W(fs) - 0.7 * fs) * wgt;
        scene_set_rgba(cr, scene_theme_ramp(th, wgt));
        cairo_rectangle(cr, cx + COLUMN_W(fs) - 0.35 * fs - bw, y + 3 * LINE_H(fs), bw,
                        STRIP_H(fs));
        cairo_fill(cr);
    }
    scene_text_on(&f->tx, th->panel);
    draw_numbers(f, o, INSPECT_SCORE);
    draw_numbers(f, o, INSPECT_WEIGHT);
    double rest = 0;
    for (int i = 0; i < p->n; i++) {
        bool shown = false;
        for (int j = 0; j < o->n_columns; j++)
            shown = shown || o->column_pos[j] == p->row_pos[i];
        if (!shown)
            rest += p->weights[i];
    }
    const int others = p->n - o->n_columns;
    scene_text_term(&f->tx, "attention weight"); // "N other positions read: weight ..."
    if (others > 0)
        snprintf(buf, sizeof buf,
                 "%d other position%s read: weight %.3f in all (the weights sum to 1)", others,
                 others == 1 ? "" : "s", rest);
    else
        snprintf(buf, sizeof buf, "every position read is shown (the weights sum to 1)");
    scene_text_draw(&f->tx, x0, y + 3 * LINE_H(fs) + STRIP_H(fs) + 0.25 * fs, fs, false, ALIGN_LEFT,
                    w - lw, th->text_dim, buf);
    scene_text_term(&f->tx, NULL);
}

void scene_draw_inspector(Frame *f) {
    SceneInspect o;
    scene_inspect_layout(f->s, f->v, f->lay->width, f->lay->height, &o);
    if (!o.open)
        return;
    const Theme *th = f->th;
    const Session *s = f->s;
    cairo_t *cr = f->cr;
    const double u = f->u, fs = o.font, pad = 0.8 * u;
    const SceneRect P = o.panel;
    char buf[256], tok[96];

    // the cell being inspected, outlined where the view draws it (side by side: in the lane of
    // the session whose numbers these are)
    SceneRect cell;
    SceneSplit sp;
    scene_split_layout(s, f->v, f->lay->width, f->lay->height, &sp);
    SceneLayout lane;
    if (sp.open)
        scene_split_lane_layout(s, f->v, f->lay->width, f->lay->height, sp.side[0] == s ? 0 : 1,
                                &lane);
    if (scene_block_box(sp.open ? &lane : f->lay, o.pos, o.layer, &cell)) {
        scene_set_rgba(cr, th->pinned);
        cairo_set_line_width(cr, fmax(2, 0.2 * u));
        cairo_rectangle(cr, cell.x - 0.15 * u, cell.y - 0.15 * u, cell.w + 0.3 * u,
                        cell.h + 0.3 * u);
        cairo_stroke(cr);
    }
    cairo_new_path(cr);
    cairo_rectangle(cr, P.x, P.y, P.w, P.h);
    scene_set_rgba(cr, th->panel);
    cairo_fill_preserve(cr);
    scene_set_rgba(cr, th->pinned);
    cairo_set_line_width(cr, fmax(1.5, 0.12 * u));
    cairo_stroke(cr);
    scene_text_on(&f->tx, th->panel);
    scene_text_role(&f->tx, SCENE_TEXT_LABEL);

    const double x = P.x + pad, w = P.w - 2 * pad, lw = LABEL_W(fs), x0 = x + lw;
    double y = P.y + pad;
    token_label(s, o.query_pos, tok, sizeof tok);
    snprintf(buf, sizeof buf,
             "Inside attention%s: layer %d, head %d, the write head at position %s",
             !sp.open                                 ? ""
             : session_last(s)->mode == CACHE_MODE_ON ? " with the cache"
                                                      : " without the cache",
             o.layer + 1, o.head + 1, tok);
    scene_text_draw(&f->tx, x, y, 1.2 * fs, true, ALIGN_LEFT, w, th->text, buf);
    y += TITLE_H(fs);
    if (!o.captured) {
        scene_text_draw(&f->tx, x, y, fs, false, ALIGN_LEFT, w, th->text_dim,
                        "no numbers for this step yet");
        return;
    }
    const AttnProbe *p = session_probe(s, o.layer, o.head);
    const int hs = p->head_size;
    snprintf(buf, sizeof buf,
             "score = q \u00b7 k / \u221a%d,  weight = softmax(scores) over the %d positions read,"
             "  output = \u03a3 weight \u00d7 v",
             hs, p->n);
    scene_text_draw(&f->tx, x, y, fs, false, ALIGN_LEFT, w, th->text_dim, buf);

    const double grid_w = o.cols * CELL_W(fs);
    const float *vecs[5] = {p->q, o.row >= 0 ? p->keys + (size_t)o.row * hs : NULL, NULL,
                            o.row >= 0 ? p->values + (size_t)o.row * hs : NULL, p->out};
    const InspectQuantity what[5] = {INSPECT_QUERY, INSPECT_KEY, INSPECT_SCORE, INSPECT_VALUE,
                                     INSPECT_OUT};
    char labels[5][64];
    snprintf(labels[0], sizeof labels[0], "query q (at %d)", o.query_pos);
    snprintf(labels[1], sizeof labels[1], "key k (at %d)", o.pos);
    snprintf(labels[3], sizeof labels[3], "value v (at %d)", o.pos);
    snprintf(labels[4], sizeof labels[4], "output");
    for (int k = 0; k < 5; k++) {
        y = o.section_y[k];
        if (k == 2) {
            draw_table(f, &o, p, x, y, w);
            continue;
        }
        scene_text_draw(&f->tx, x, y + 0.1 * fs, fs, true, ALIGN_LEFT, lw - 0.5 * fs, th->text_dim,
                        labels[k]);
        if (vecs[k]) {
            draw_strip(f, vecs[k], hs,
                       (SceneRect){x0 + 0.3 * fs, y, grid_w - 0.3 * fs, STRIP_H(fs)});
            scene_text_on(&f->tx, th->panel);
            draw_numbers(f, &o, what[k]);
            if (o.n_vec < hs) {
                snprintf(buf, sizeof buf, "first %d of %d", o.n_vec, hs);
                scene_text_draw(&f->tx, x, y + 0.1 * fs + LINE_H(fs), fs, false, ALIGN_LEFT,
                                lw - 0.5 * fs, th->text_dim, buf);
            }
        } else {
            snprintf(buf, sizeof buf,
                     o.pos > o.query_pos
                         ? "position %d comes after the write head: not computed yet"
                         : "position %d is not in the cache: this step did not read it",
                     o.pos);
            scene_text_draw(&f->tx, x0 + 0.3 * fs, y + 0.1 * fs, fs, false, ALIGN_LEFT, w - lw,
                            th->text, buf);
        }
    }
}
