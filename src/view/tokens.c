// tokens.c — the token columns as the sequence and layers views draw them: the token row (the
// strip of earlier tokens, then one cell per token with its text and id, the new token dropping
// in), the hover column and the write head. Where the columns are is layout.c.
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>

void scene_draw_token_row(Frame *f) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    const Theme *th = f->th;
    const Session *s = f->s;
    double u = f->u;
    char buf[96], idb[16];

    // Strip of earlier tokens: a bar per token (prompt dim, generated bright) and a count.
    if (L->strip_w > 0 && L->first > 0) {
        SceneRect row = L->token_row;
        scene_set_rgba(cr, th->panel);
        cairo_rectangle(cr, L->strip_x, row.y, L->strip_w, row.h);
        cairo_fill(cr);
        int np = s->n_prompt < L->first ? s->n_prompt : L->first;
        double w = L->strip_w / L->first;
        scene_set_rgba_a(cr, th->prompt_text, 0.45);
        cairo_rectangle(cr, L->strip_x, row.y + row.h * 0.72, np * w, row.h * 0.12);
        cairo_fill(cr);
        if (L->first > np) {
            scene_set_rgba_a(cr, th->gen_text, 0.7);
            cairo_rectangle(cr, L->strip_x + np * w, row.y + row.h * 0.72, (L->first - np) * w,
                            row.h * 0.12);
            cairo_fill(cr);
        }
        snprintf(buf, sizeof buf, "\xe2\x97\x80 %d", L->first);
        scene_text_draw(&f->tx, L->strip_x + L->strip_w / 2, row.y + 0.15 * u, 0.85 * u, true,
                        ALIGN_CENTER, L->strip_w, th->text_dim, buf);
        scene_text_draw(&f->tx, L->strip_x + L->strip_w / 2, row.y + 1.2 * u, 0.55 * u, false,
                        ALIGN_CENTER, L->strip_w, th->text_faint, "earlier");
    }

    double drop = scene_anim_drop(f->t);
    for (int i = L->first; i <= L->last; i++) {
        SceneRect b;
        if (!scene_token_box(L, i, &b))
            continue;
        bool prompt = i < s->n_prompt;
        bool is_new = i == L->new_pos;
        double dy = 0, alpha = 1;
        if (is_new && f->t < 1) {
            dy = -(1 - drop) * 2.2 * u;
            alpha = 0.25 + 0.75 * drop;
        }
        double pad = 0.06 * b.w;
        if (!prompt) {
            scene_set_rgba_a(cr, th->panel, alpha);
            cairo_rectangle(cr, b.x + pad, b.y + dy, b.w - 2 * pad, b.h);
            cairo_fill(cr);
        }
        if (is_new || i == L->head_pos || i == f->v->pinned) {
            Rgba edge = is_new ? th->new_token : i == L->head_pos ? th->head : th->pinned;
            scene_set_rgba_a(cr, edge, alpha);
            cairo_set_line_width(cr, fmax(1.5, 0.12 * u));
            cairo_rectangle(cr, b.x + pad, b.y + dy, b.w - 2 * pad, b.h);
            cairo_stroke(cr);
        }
        scene_token_display(s, i, buf, sizeof buf);
        Rgba tc = prompt ? th->prompt_text : th->gen_text;
        tc.a *= alpha;
        scene_text_draw(&f->tx, b.x + b.w / 2, b.y + 0.2 * u + dy, SCENE_TOKEN_FONT * u, !prompt,
                        ALIGN_CENTER, b.w - 2 * pad - 0.1 * u, tc, buf);
        if (b.w >= 1.6 * u) {
            snprintf(idb, sizeof idb, "%d", s->tokens[i]);
            Rgba ic = th->text_faint;
            ic.a *= alpha;
            scene_text_draw(&f->tx, b.x + b.w / 2, b.y + 1.5 * u + dy, 0.55 * u, false,
                            ALIGN_CENTER, b.w - 2 * pad, ic, idb);
        }
    }
}

void scene_draw_hover_column(Frame *f) {
    const SceneLayout *L = f->lay;
    int i = f->v->hover;
    SceneRect b;
    if (i < 0 || !scene_token_box(L, i, &b))
        return;
    double bottom = scene_columns_bottom(L);
    scene_set_rgba(f->cr, f->th->hover);
    cairo_rectangle(f->cr, b.x, L->beams.y, fmax(b.w, 2), bottom - L->beams.y);
    cairo_fill(f->cr);
}

// Marks the write head: a tag over the query token and a hook to where its token lands.
void scene_draw_write_head(Frame *f) {
    const SceneLayout *L = f->lay;
    if (L->head_pos < 0 || L->head_x < 0)
        return;
    cairo_t *cr = f->cr;
    double u = f->u;
    double x = L->head_x, y = L->head_y;
    scene_set_rgba(cr, f->th->head);
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
