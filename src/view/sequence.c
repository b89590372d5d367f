// sequence.c — the sequence view: the tokens in a row, the stack of per-layer cache blocks
// under each (coloured by state), and the write head's attention beams arcing back to every
// token it reads. One row of the view table (views.c).
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>

static double clampd(double x, double lo, double hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

// ----------------------------------------------------------------------------------------------
// Layout: the block stacks at the bottom, the token row above them, the beams above that

void scene_sequence_layout(const Session *s, const View *v, SceneRect c, SceneLayout *L) {
    (void)v;
    double u = L->unit;
    int nl = L->n_layers > 0 ? L->n_layers : 1;
    L->block_h = clampd(1.6 * u / nl, 0.2 * u, 0.45 * u);
    L->block_gap = fmax(1.0, 0.15 * L->block_h);
    L->block_gap0 = 0.15 * u;
    double stack = nl * (L->block_h + L->block_gap) - L->block_gap;
    // Head room above the first line for the beams' arcs.
    double head_room = clampd(0.16 * c.h, 3.0 * u, 7 * u);
    SceneRect lines = {c.x + L->label_w, c.y + head_room, c.w - L->label_w, c.h - head_room};
    scene_layout_cells(s, lines, SCENE_MAX_LINES, L->block_gap0 + stack + 0.6 * u, L);
    L->beams = (SceneRect){lines.x, c.y, lines.w, c.h};
    double token_h = L->n_lines > 0 ? L->cell[0].h : 0;
    double top = L->token_row.y + token_h + L->block_gap0;
    L->blocks = (SceneRect){lines.x, top, lines.w, L->token_row.y + L->token_row.h +
                                                       L->block_gap0 + stack - top};
}

// ----------------------------------------------------------------------------------------------
// The cache blocks

// Adds the block rectangles of one state to the path; returns how many.
static int path_blocks(Frame *f, BlockState want) {
    const SceneLayout *L = f->lay;
    int added = 0;
    for (int layer = 0; layer < L->n_layers; layer++)
        for (int i = L->first; i <= L->last; i++) {
            if (scene_block_state(f->s, i, layer, f->t) != want) continue;
            SceneRect r;
            if (!scene_block_box(L, i, layer, &r)) continue;
            cairo_rectangle(f->cr, r.x, r.y, r.w, r.h);
            added++;
        }
    return added;
}

static void draw_blocks(Frame *f) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    const Theme *th = f->th;
    double u = f->u;
    char buf[16];
    if (L->n_lines <= 0) return;
    // Layer labels beside the first line's stacks: the first and last layer, and the selected.
    scene_text_on(&f->tx, th->bg);
    double size = SCENE_MIN_FONT * u, y0 = L->line_y[0] + L->cell[0].h + L->block_gap0;
    double stack = L->n_layers * (L->block_h + L->block_gap) - L->block_gap;
    int sel = f->v->layer;
    snprintf(buf, sizeof buf, "L1");
    scene_text_draw(&f->tx, L->blocks.x - 0.25 * u, y0 - 0.35 * size, size, sel == 0,
                    ALIGN_RIGHT, 0, sel == 0 ? th->accent_text : th->text_dim, buf);
    if (L->n_layers > 1) {
        snprintf(buf, sizeof buf, "L%d", L->n_layers);
        scene_text_draw(&f->tx, L->blocks.x - 0.25 * u, y0 + stack - 0.85 * size, size,
                        sel == L->n_layers - 1, ALIGN_RIGHT, 0,
                        sel == L->n_layers - 1 ? th->accent_text : th->text_dim, buf);
    }
    // One fill per state: every block of a colour in one path (the look of a state: theme.c).
    for (int st = 0; st < BLOCK_STATES; st++) {
        if (path_blocks(f, (BlockState)st) == 0) continue;
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
                    if (a < 0) a = i;
                    b = i;
                }
            if (a < 0) continue;
            SceneRect ra, rb;
            if (!scene_block_box(L, a, sel, &ra) || !scene_block_box(L, b, sel, &rb)) continue;
            double m = fmax(1.0, 0.08 * u);
            cairo_rectangle(cr, ra.x - m, ra.y - m, rb.x + rb.w - ra.x + 2 * m, ra.h + 2 * m);
        }
        cairo_stroke(cr);
    }
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
}
