// layers.c — the layers view: one band per layer above the token row, each with that layer's
// cache cells on its floor (one per position, in the token's column) and that layer's fan of
// attention beams from the write head's cell to the cells it reads, so the layers can be
// compared. One row of the view table (views.c).
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void scene_layers_layout(const Session *s, const View *v, SceneRect c, SceneLayout *L) {
    const double u = L->unit;
    double token_h = ceil(1.35 * scene_token_size(u));
    SceneRect row = {c.x + L->label_w, c.y + c.h - token_h, c.w - L->label_w, token_h};
    scene_layout_cells(s, v, row, 1, 0, L);
    // Room over the token row for the call-outs of compact cells (scene_draw_callouts).
    double callouts = L->compact ? 1.3 * L->token_size + 0.3 * u : 0.25 * u;
    L->beams = (SceneRect){row.x, c.y, row.w, row.y - callouts - c.y};
    const int nl = L->n_layers > 0 ? L->n_layers : 1;
    L->band_h = L->beams.h / nl;
    L->block_h = fmin(0.4 * u, 0.25 * L->band_h);
    L->block_gap0 = 0.12 * u; // from a cell's bottom to its band's floor
    L->block_gap = 0;
    L->blocks = L->beams; // the cache cells stand in the bands
}

void scene_layers_draw(Frame *f) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    scene_draw_hover_column(f);
    int nl = L->n_layers;
    double bh = L->band_h;
    char buf[16];
    // Each cell's look decided once (scene_cell_style), (layer, position - first).
    const int nc = L->last - L->first + 1;
    SceneCellStyle *sty =
        nc > 0 && nl > 0 ? kv_malloc((size_t)nc * (size_t)nl * sizeof *sty) : NULL;
    for (int l = 0; l < nl && sty; l++)
        for (int i = L->first; i <= L->last; i++)
            scene_cell_style(f->s, f->v, i, l, f->t, &sty[(size_t)l * nc + (i - L->first)]);
    for (int l = 0; l < nl; l++) {
        double y = L->beams.y + l * bh;
        scene_set_rgba(cr, f->th->grid);
        cairo_rectangle(cr, L->beams.x, y + bh - 1, L->beams.w, 1);
        cairo_fill(cr);
        snprintf(buf, sizeof buf, "L%d", l + 1);
        scene_text_draw(&f->tx, L->beams.x - 0.3 * f->u, y + bh - 1.5 * f->u, SCENE_MIN_FONT * f->u,
                        f->v->layer == l, ALIGN_RIGHT, 0,
                        f->v->layer == l ? f->th->text : f->th->text_dim, buf);
        if (!sty)
            continue;
        const SceneCellStyle *row = &sty[(size_t)l * nc];
        // The layer's cache cells, one state (one colour) at a time.
        for (int st = BLOCK_EMPTY; st < BLOCK_STATES; st++) {
            bool any = false;
            for (int i = L->first; i <= L->last; i++) {
                SceneRect b;
                if (row[i - L->first].state != (BlockState)st || !scene_block_box(L, i, l, &b))
                    continue;
                cairo_rectangle(cr, b.x, b.y, b.w, b.h);
                any = true;
            }
            if (any) {
                scene_set_rgba(cr, f->th->block[st]);
                cairo_fill(cr);
            }
        }
        // their precision bands and kv heads' parts cut out, sinks outlined, as in the sequence
        // view
        bool sinks = false;
        for (int i = L->first; i <= L->last; i++) {
            SceneRect b;
            if (scene_block_box(L, i, l, &b))
                scene_path_cell_cuts(cr, &row[i - L->first], b, scene_cell_gap(f->u));
        }
        scene_set_rgba(cr, f->th->bg);
        cairo_fill(cr);
        for (int i = L->first; i <= L->last; i++) {
            SceneRect b;
            if (row[i - L->first].sink && scene_block_box(L, i, l, &b)) {
                cairo_rectangle(cr, b.x, b.y, b.w, b.h);
                sinks = true;
            }
        }
        if (sinks) {
            scene_set_rgba(cr, f->th->head);
            cairo_set_line_width(cr, fmax(1.5, 0.12 * f->u));
            cairo_stroke(cr);
        }
    }
    scene_report_cells(f, sty);
    free(sty);
    // The selected layer: its band's cache cells outlined, as the sequence view outlines them.
    SceneRect ra, rb;
    const int sel = f->v->layer;
    if (sel >= 0 && sel < nl && scene_block_box(L, L->first, sel, &ra) &&
        scene_block_box(L, L->last, sel, &rb)) {
        const double m = 0.12 * f->u;
        scene_set_rgba(cr, f->th->accent);
        cairo_set_line_width(cr, fmax(1.5, 0.12 * f->u));
        cairo_rectangle(cr, ra.x - m, ra.y - m, rb.x + rb.w - ra.x + 2 * m, ra.h + 2 * m);
        cairo_stroke(cr);
    }
    scene_draw_beams(f, L->beams, 0, nl, true);
    // The write head in every band: the query's cell the fan leaves from.
    SceneRect q;
    for (int l = 0; l < nl && L->head_x >= 0; l++)
        if (scene_block_box(L, L->head_pos, l, &q)) {
            scene_set_rgba(cr, f->th->head);
            cairo_arc(cr, q.x + q.w / 2, q.y, 0.16 * f->u, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    scene_draw_token_row(f);
    scene_draw_write_head(f);
    scene_draw_callouts(f);
    scene_draw_call_to_action(f);
    scene_draw_scroll_note(f);
}
