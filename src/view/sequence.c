// sequence.c — the sequence view: the tokens in a row, the stack of per-layer cache blocks
// under each (coloured by state), and the write head's attention beams arcing back to every
// token it reads. One row of the view table (views.c).
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double clampd(double x, double lo, double hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

// ----------------------------------------------------------------------------------------------
// Layout: the block stacks at the bottom, the token row above them, the beams above that

void scene_sequence_layout(const Session *s, const View *v, SceneRect c, SceneLayout *L) {
    double u = L->unit;
    int nl = L->n_layers > 0 ? L->n_layers : 1;
    L->block_h = clampd(1.6 * u / nl, 0.2 * u, 0.45 * u);
    L->block_gap = fmax(1.0, 0.15 * L->block_h);
    L->block_gap0 = 0.15 * u;
    double stack = nl * (L->block_h + L->block_gap) - L->block_gap;
    // Head room above the first line for the beams' arcs.
    double head_room = clampd(0.16 * c.h, 3.0 * u, 7 * u);
    SceneRect lines = {c.x + L->label_w, c.y + head_room, c.w - L->label_w, c.h - head_room};
    scene_layout_cells(s, v, lines, SCENE_MAX_LINES, L->block_gap0 + stack + 0.6 * u, L);
    L->beams = (SceneRect){lines.x, c.y, lines.w, c.h};
    double token_h = L->n_lines > 0 ? L->cell[0].h : 0;
    double top = L->token_row.y + token_h + L->block_gap0;
    L->blocks = (SceneRect){lines.x, top, lines.w,
                            L->token_row.y + L->token_row.h + L->block_gap0 + stack - top};
}

// ----------------------------------------------------------------------------------------------
// The cache blocks

// The style of every cell on the picture, (layer, position - first), for every pass below and
// the cell sink: what each cell looks like is decided once (scene_cell_style). Owned.
static SceneCellStyle *cell_styles(Frame *f) {
    const SceneLayout *L = f->lay;
    const int n = L->last - L->first + 1;
    if (n <= 0 || L->n_layers <= 0)
        return NULL;
    SceneCellStyle *st = kv_malloc((size_t)n * (size_t)L->n_layers * sizeof *st);
    for (int layer = 0; layer < L->n_layers; layer++)
        for (int i = L->first; i <= L->last; i++)
            scene_cell_style(f->s, f->v, i, layer, f->t, &st[(size_t)layer * n + (i - L->first)]);
    return st;
}

static const SceneCellStyle *style_at(const Frame *f, const SceneCellStyle *st, int i, int layer) {
    return &st[(size_t)layer * (f->lay->last - f->lay->first + 1) + (i - f->lay->first)];
}

// Adds the block rectangles of one state to the path; returns how many.
static int path_blocks(Frame *f, const SceneCellStyle *sty, BlockState want) {
    const SceneLayout *L = f->lay;
    int added = 0;
    for (int layer = 0; layer < L->n_layers; layer++)
        for (int i = L->first; i <= L->last; i++) {
            if (style_at(f, sty, i, layer)->state != want)
                continue;
            SceneRect r;
            if (!scene_block_box(L, i, layer, &r))
                continue;
            cairo_rectangle(f->cr, r.x, r.y, r.w, r.h);
            added++;
        }
    return added;
}

// The marks of one cell that are cut out of it in the background's colour, added to the path:
// the precision's bands (2k + 1 bands of its height, the even ones cut, k stripes of the state's
// colour left) and a thin gap between the parts of its kv heads where a part is at least three
// pixels wide (gap: the gap's width).
void scene_path_cell_cuts(cairo_t *cr, const SceneCellStyle *st, SceneRect b, double gap) {
    if (st->state == BLOCK_EMPTY)
        return;
    const int bands = 2 * st->stripes + 1;
    for (int j = 0; st->stripes > 0 && j < bands; j += 2)
        cairo_rectangle(cr, b.x, b.y + b.h * j / bands, b.w, b.h / bands);
    const double pw = b.w / st->kv_heads;
    if (st->kv_heads < 2 || pw < 3 + gap)
        return;
    for (int g = 1; g < st->kv_heads; g++)
        cairo_rectangle(cr, b.x + g * pw - gap / 2, b.y, gap, b.h);
}

// The gap between two kv heads' parts of a cell at unit u.
double scene_cell_gap(double u) {
    return fmax(1.0, 0.06 * u);
}

int scene_precision_stripes(KvPrecision p) {
    switch (p) {
    case KV_PRECISION_BF16:
        return 4;
    case KV_PRECISION_INT8:
        return 3;
    case KV_PRECISION_INT4:
    case KV_PRECISION_KIVI4:
        return 2;
    case KV_PRECISION_KIVI2:
        return 1;
    default:
        return 0;
    }
}

// The cells' cuts (precision bands, kv head gaps), in the background's colour, one fill.
static void draw_cuts(Frame *f, const SceneCellStyle *sty) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    const double gap = scene_cell_gap(f->u);
    for (int layer = 0; layer < L->n_layers; layer++)
        for (int i = L->first; i <= L->last; i++) {
            SceneRect b;
            if (scene_block_box(L, i, layer, &b))
                scene_path_cell_cuts(cr, style_at(f, sty, i, layer), b, gap);
        }
    scene_set_rgba(cr, f->th->bg);
    cairo_fill(cr);
}

// Every cell drawn, with its style, to the view's cell sink.
void scene_report_cells(Frame *f, const SceneCellStyle *sty) {
    const SceneCellSink *sink = f->v->cell_sink;
    const SceneLayout *L = f->lay;
    if (!sink || !sink->fn || !sty)
        return;
    for (int layer = 0; layer < L->n_layers; layer++)
        for (int i = L->first; i <= L->last; i++) {
            SceneCell c = {.pos = i, .layer = layer, .style = *style_at(f, sty, i, layer)};
            if (scene_block_box(L, i, layer, &c.box))
                sink->fn(sink->ctx, &c);
        }
}

// The detail layout under window and sinks: the ring slot each resident position is held in
// (p mod W; sinks: p, or S + (p - S) mod W) on its stack of blocks, where the number fits, on a
// chip of the panel's colour.
static void draw_slots(Frame *f, const SceneCellStyle *sty) {
    const SceneLayout *L = f->lay;
    const double u = f->u, small = SCENE_MIN_FONT * u;
    scene_text_on(&f->tx, f->th->panel);
    for (int i = L->first; i <= L->last; i++) {
        const int slot = style_at(f, sty, i, 0)->slot;
        SceneRect top, bottom;
        if (slot < 0 || !scene_block_box(L, i, 0, &top) ||
            !scene_block_box(L, i, L->n_layers - 1, &bottom))
            continue;
        char buf[16];
        snprintf(buf, sizeof buf, "%d", slot);
        const double tw = scene_text_width(&f->tx, small, false, buf, NULL);
        const double h = bottom.y + bottom.h - top.y, cy = top.y + h / 2;
        if (tw + 0.3 * u > top.w || h < 1.2 * small)
            continue;
        scene_set_rgba(f->cr, f->th->panel);
        cairo_rectangle(f->cr, top.x + (top.w - tw) / 2 - 0.1 * u, cy - 0.62 * small, tw + 0.2 * u,
                        1.24 * small);
        cairo_fill(f->cr);
        scene_text_draw(&f->tx, top.x + top.w / 2, cy - 0.6 * small, small, false, ALIGN_CENTER,
                        top.w, f->th->text, buf);
    }
    scene_text_on(&f->tx, f->th->bg);
}

// Cache policies on the blocks: sink positions outlined in the write head's colour; the ring
// slots in the detail layout; under h2o, the parts of the kv heads that evicted a position
// others keep drawn as ghosts: how many parts stay solid is how many keep it; where a block is
// tall enough for the classroom's smallest text, also "2/4".
static void draw_policy_marks(Frame *f, const SceneCellStyle *sty) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    const double u = f->u;
    bool sinks = false;
    scene_set_rgba(cr, f->th->head);
    cairo_set_line_width(cr, fmax(1.5, 0.12 * u));
    for (int layer = 0; layer < L->n_layers; layer++)
        for (int i = L->first; i <= L->last; i++) {
            SceneRect b;
            if (style_at(f, sty, i, layer)->sink && scene_block_box(L, i, layer, &b)) {
                cairo_rectangle(cr, b.x, b.y, b.w, b.h);
                sinks = true;
            }
        }
    if (sinks)
        cairo_stroke(cr);
    if (f->v->layout == VIEW_LAYOUT_DETAIL)
        draw_slots(f, sty);
    const double small = SCENE_MIN_FONT * u;
    for (int layer = 0; layer < L->n_layers; layer++)
        for (int i = L->first; i <= L->last; i++) {
            const SceneCellStyle *st = style_at(f, sty, i, layer);
            SceneRect b;
            if (!st->gone || !scene_block_box(L, i, layer, &b))
                continue;
            const int hkv = st->kv_heads;
            const double pw = b.w / hkv;
            int keep = hkv;
            for (int g = 0; g < hkv; g++) {
                if (!(st->gone >> g & 1))
                    continue;
                keep--;
                cairo_rectangle(cr, b.x + g * pw, b.y, pw, b.h);
                scene_set_rgba(cr, f->th->block[BLOCK_EMPTY]);
                cairo_fill_preserve(cr);
                scene_set_rgba(cr, f->th->block[BLOCK_EVICTED]);
                const double dash[] = {0.25 * u, 0.18 * u};
                cairo_set_dash(cr, dash, 2, 0);
                cairo_set_line_width(cr, fmax(1.0, 0.06 * u));
                cairo_stroke(cr);
                cairo_set_dash(cr, NULL, 0, 0);
            }
            char buf[32];
            snprintf(buf, sizeof buf, "%d/%d", keep, hkv);
            if (b.h >= 1.25 * small &&
                scene_text_width(&f->tx, small, true, buf, NULL) + 0.2 * u <= b.w)
                scene_text_draw(&f->tx, b.x + b.w / 2, b.y + (b.h - small * 1.2) / 2, small, true,
                                ALIGN_CENTER, b.w, f->th->text, buf);
        }
}

static void draw_blocks(Frame *f) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    const Theme *th = f->th;
    double u = f->u;
    char buf[16];
    if (L->n_lines <= 0)
        return;
    // Layer labels beside the first line's stacks: the first and last layer, and the selected.
    scene_text_on(&f->tx, th->bg);
    double size = SCENE_MIN_FONT * u, y0 = L->line_y[0] + L->cell[0].h + L->block_gap0;
    double stack = L->n_layers * (L->block_h + L->block_gap) - L->block_gap;
    int sel = f->v->layer;
    snprintf(buf, sizeof buf, "L1");
    scene_text_draw(&f->tx, L->blocks.x - 0.25 * u, y0 - 0.35 * size, size, sel == 0, ALIGN_RIGHT,
                    0, sel == 0 ? th->accent_text : th->text_dim, buf);
    if (L->n_layers > 1) {
        snprintf(buf, sizeof buf, "L%d", L->n_layers);
        scene_text_draw(&f->tx, L->blocks.x - 0.25 * u, y0 + stack - 0.85 * size, size,
                        sel == L->n_layers - 1, ALIGN_RIGHT, 0,
                        sel == L->n_layers - 1 ? th->accent_text : th->text_dim, buf);
    }
    // One fill per state: every block of a colour in one path (the look of a state: theme.c).
    SceneCellStyle *sty = cell_styles(f);
    if (!sty)
        return;
    for (int st = 0; st < BLOCK_STATES; st++) {
        if (path_blocks(f, sty, (BlockState)st) == 0)
            continue;
        scene_set_rgba(cr, th->block[st]);
        if (st == BLOCK_EMPTY) {
            cairo_fill_preserve(cr);
            scene_set_rgba(cr, th->block_edge);
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
            scene_set_rgba(cr, th->block[BLOCK_EMPTY]);
            cairo_fill_preserve(cr);
            scene_set_rgba(cr, th->block[BLOCK_EVICTED]);
            const double dash[] = {0.25 * u, 0.18 * u};
            cairo_set_dash(cr, dash, 2, 0);
            cairo_set_line_width(cr, fmax(1.0, 0.08 * u));
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        } else {
            cairo_fill(cr);
        }
    }
    // The selected layer: its row of blocks outlined on every line.
    if (sel >= 0 && sel < L->n_layers) {
        scene_set_rgba(cr, th->accent);
        cairo_set_line_width(cr, fmax(1.5, 0.12 * u));
        for (int k = 0; k < L->n_lines; k++) {
            int a = -1, b = -1;
            for (int i = L->first; i <= L->last; i++)
                if (L->cell_line[i] == k) {
                    if (a < 0)
                        a = i;
                    b = i;
                }
            if (a < 0)
                continue;
            SceneRect ra, rb;
            if (!scene_block_box(L, a, sel, &ra) || !scene_block_box(L, b, sel, &rb))
                continue;
            double m = fmax(1.0, 0.08 * u);
            cairo_rectangle(cr, ra.x - m, ra.y - m, rb.x + rb.w - ra.x + 2 * m, ra.h + 2 * m);
        }
        cairo_stroke(cr);
    }
    draw_cuts(f, sty);
    draw_policy_marks(f, sty);
    scene_report_cells(f, sty);
    free(sty);
}

// ----------------------------------------------------------------------------------------------
// The view

void scene_sequence_draw(Frame *f) {
    scene_draw_hover_column(f);
    scene_draw_beams(f, f->lay->beams, f->v->layer >= 0 ? f->v->layer : 0,
                     f->v->layer >= 0 ? f->v->layer + 1 : f->lay->n_layers, false);
    scene_draw_token_row(f);
    draw_blocks(f);
    scene_draw_write_head(f);
    scene_draw_callouts(f);
    scene_draw_call_to_action(f);
    scene_draw_scroll_note(f);
}
