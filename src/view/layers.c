// layers.c — the layers view: one band per layer above the token row, each with that layer's
// fan of attention beams from the write head, so the layers can be compared. One row of the
// view table (views.c).
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>

void scene_layers_layout(const Session *s, const View *v, SceneRect c, SceneLayout *L) {
    double token_h = 2.5 * L->unit;
    L->token_row = (SceneRect){c.x + L->label_w, c.y + c.h - token_h, c.w - L->label_w, token_h};
    scene_layout_columns(s, v, c, L);
}

void scene_layers_draw(Frame *f) {
    const SceneLayout *L = f->lay;
    scene_draw_hover_column(f);
    int nl = L->n_layers;
    double bh = L->beams.h / (nl > 0 ? nl : 1);
    char buf[16];
    for (int l = 0; l < nl; l++) {
        double y = L->beams.y + l * bh;
        scene_set_rgba(f->cr, f->th->grid);
        cairo_rectangle(f->cr, L->beams.x, y + bh - 1, L->beams.w, 1);
        cairo_fill(f->cr);
        snprintf(buf, sizeof buf, "L%d", l + 1);
        scene_text_draw(&f->tx, L->beams.x - 0.3 * f->u, y + bh - 1.3 * f->u, 0.8 * f->u,
                        f->v->layer == l, ALIGN_RIGHT, 0,
                        f->v->layer == l ? f->th->text : f->th->text_dim, buf);
    }
    scene_draw_beams(f, L->beams, 0, nl, true);
    scene_draw_token_row(f);
    scene_draw_write_head(f);
}
