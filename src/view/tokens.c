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
    char buf[96];
    double size = L->token_size, pad = scene_cell_pad(u);
    double drop = scene_anim_drop(f->t);
    scene_text_role(&f->tx, SCENE_TEXT_TOKEN);
    for (int i = L->first; i <= L->last; i++) {
        SceneRect b;
        if (!scene_token_box(L, i, &b))
            continue;
        bool prompt = i < s->n_prompt;
        bool is_new = i == L->new_pos;
        double dy = 0, alpha = 1;
        if (is_new && f->t < 1) {
            dy = -(1 - drop) * 1.5 * u;
            alpha = 0.25 + 0.75 * drop;
        }
        double gap = b.w >= 6 ? fmin(0.06 * b.w, 0.12 * u) : 0;
        SceneRect in = {b.x + gap, b.y + dy, b.w - 2 * gap, b.h};
        Rgba panel_a = th->panel;
        panel_a.a *= alpha;
        Rgba under = prompt ? th->bg : scene_rgba_over(panel_a, th->bg);
        if (prompt && i == f->v->hover)
            under = scene_rgba_over(th->hover, under);
        if (!prompt) {
            scene_set_rgba_a(cr, th->panel, alpha);
            cairo_rectangle(cr, in.x, in.y, in.w, in.h);
            cairo_fill(cr);
        }
        if (is_new || i == L->head_pos || i == f->v->pinned) {
            Rgba edge = is_new ? th->new_token : i == L->head_pos ? th->head : th->pinned;
            scene_set_rgba_a(cr, edge, alpha);
            cairo_set_line_width(cr, fmax(1.5, 0.12 * u));
            cairo_rectangle(cr, in.x, in.y, in.w, in.h);
            cairo_stroke(cr);
        }
        scene_token_display(s, i, buf, sizeof buf);
        Rgba tc = prompt ? th->prompt_text : th->gen_text;
        double tw = scene_text_width(&f->tx, size, !prompt, buf, NULL);
        if (tw <= b.w - 0.2 * pad || !L->compact) {
            // The new token drops in at full ink: only its cell fades in, so that its text is
            // as legible in every frame of the step as at rest.
            scene_text_on(&f->tx, under);
            scene_text_draw(&f->tx, b.x + b.w / 2, b.y + (b.h - 1.17 * size) / 2 + dy, size,
                            !prompt, ALIGN_CENTER, b.w + 0.5, tc, buf);
        } else {
            // Too narrow for its text (hover shows it): a mark in the text's colour.
            scene_set_rgba_a(cr, tc, 0.8 * alpha);
            double mw = fmax(1.0, in.w * 0.6);
            cairo_rectangle(cr, b.x + (b.w - mw) / 2, b.y + b.h * 0.42 + dy, mw, b.h * 0.16);
            cairo_fill(cr);
        }
    }
    scene_text_role(&f->tx, SCENE_TEXT_LABEL);
}

// Compact cells are too narrow for most texts: the tokens the write head reads most get their
// text above their cell, at the token size, strongest first, as many as fit without overlap.
#define CALLOUTS 6

void scene_draw_callouts(Frame *f) {
    const SceneLayout *L = f->lay;
    if (!L->compact || L->head_x < 0 || !f->r)
        return;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    double u = f->u, size = scene_token_size(u);
    int best[CALLOUTS];
    float bw[CALLOUTS];
    int nb = 0;
    char buf[96];
    for (int k = L->first; k < L->head_pos && k <= L->last; k++) {
        float w = view_attention(f->s, f->v, L->head_pos, k);
        if (w < f->v->beam_threshold)
            continue;
        scene_token_display(f->s, k, buf, sizeof buf); // only where the cell hides its text
        if (scene_text_width(&f->tx, L->token_size, k >= f->s->n_prompt, buf, NULL) <=
            L->cell[k].w - 0.2 * scene_cell_pad(u))
            continue;
        int at = nb < CALLOUTS ? nb++ : CALLOUTS;
        if (at == CALLOUTS && w <= bw[CALLOUTS - 1])
            continue;
        if (at == CALLOUTS)
            at = CALLOUTS - 1;
        while (at > 0 && bw[at - 1] < w) {
            best[at] = best[at - 1];
            bw[at] = bw[at - 1];
            at--;
        }
        best[at] = k;
        bw[at] = w;
    }
    SceneRect placed[CALLOUTS];
    int np = 0;
    scene_text_role(&f->tx, SCENE_TEXT_TOKEN);
    for (int j = 0; j < nb; j++) {
        SceneRect c = L->cell[best[j]];
        scene_token_display(f->s, best[j], buf, sizeof buf);
        double tw = scene_text_width(&f->tx, size, true, buf, NULL);
        double w = tw + 0.6 * u, h = 1.3 * size;
        SceneRect r = {c.x + c.w / 2 - w / 2, c.y - h - 0.15 * u, w, h};
        if (r.x < L->beams.x)
            r.x = L->beams.x;
        if (r.x + r.w > L->beams.x + L->beams.w)
            r.x = L->beams.x + L->beams.w - r.w;
        bool clash = false;
        for (int q = 0; q < np && !clash; q++)
            clash = r.x < placed[q].x + placed[q].w + 0.2 * u &&
                    placed[q].x < r.x + r.w + 0.2 * u && r.y < placed[q].y + placed[q].h &&
                    placed[q].y < r.y + r.h;
        if (clash)
            continue;
        placed[np++] = r;
        scene_set_rgba(cr, th->panel);
        cairo_rectangle(cr, r.x, r.y, r.w, r.h);
        cairo_fill_preserve(cr);
        scene_set_rgba(cr, scene_theme_ramp(th, sqrt(bw[j])));
        cairo_set_line_width(cr, fmax(1.5, 0.12 * u));
        cairo_stroke(cr);
        cairo_move_to(cr, c.x + c.w / 2, r.y + r.h);
        cairo_line_to(cr, c.x + c.w / 2, c.y);
        cairo_stroke(cr);
        scene_text_on(&f->tx, th->panel);
        scene_text_draw(&f->tx, r.x + r.w / 2, r.y + (r.h - 1.17 * size) / 2, size, true,
                        ALIGN_CENTER, 0, th->gen_text, buf);
    }
    scene_text_role(&f->tx, SCENE_TEXT_LABEL);
    scene_text_on(&f->tx, th->bg);
}

// Zoomed in so far that part of the sequence is off the picture: which part is on it.
void scene_draw_scroll_note(Frame *f) {
    const SceneLayout *L = f->lay;
    if (L->n_tokens <= 0 || (L->first <= 0 && L->last >= L->n_tokens - 1))
        return;
    char buf[160];
    snprintf(buf, sizeof buf,
             "positions %d\xe2\x80\x93%d of %d shown, zoom %.1f\xc3\x97 (wheel scrolls, Ctrl+0 "
             "all)",
             L->first, L->last, L->n_tokens, scene_view_zoom(f->v));
    scene_text_on(&f->tx, f->th->bg);
    scene_text_draw(&f->tx, L->beams.x, L->main.y, SCENE_MIN_FONT * f->u, false, ALIGN_LEFT,
                    L->beams.w * 0.7, f->th->text_dim, buf);
}

// The first frame: the whole prompt is on the picture; say what to do.
void scene_draw_call_to_action(Frame *f) {
    if (f->r || f->s->n_tokens <= 0)
        return;
    const SceneLayout *L = f->lay;
    double u = f->u, size = SCENE_BIG_FONT * u;
    scene_text_on(&f->tx, f->th->bg);
    double y = L->beams.y + fmax(0, (L->token_row.y - L->beams.y - 1.2 * size) / 2);
    scene_text_draw(&f->tx, L->beams.x + L->beams.w / 2, y, size, true, ALIGN_CENTER, L->beams.w,
                    f->th->accent_text, "Press Space to run the prompt");
}

void scene_draw_hover_column(Frame *f) {
    const SceneLayout *L = f->lay;
    int i = f->v->hover;
    SceneRect b;
    if (i < 0 || !scene_token_box(L, i, &b))
        return;
    double top = L->cell_line[i] == 0 ? L->beams.y : b.y;
    double bottom = b.y + b.h;
    if (L->blocks.h > 0 && L->band_h <= 0)
        bottom += L->block_gap0 + L->n_layers * (L->block_h + L->block_gap);
    scene_set_rgba(f->cr, f->th->hover);
    cairo_rectangle(f->cr, b.x, top, fmax(b.w, 2), bottom - top);
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
    SceneRect hb;
    if (scene_token_box(L, L->new_pos, &nb) && scene_token_box(L, L->head_pos, &hb) &&
        (L->blocks.h <= 0 || L->band_h > 0) && fabs(nb.y - hb.y) < 1e-6) {
        double nx = nb.x + nb.w / 2, by = hb.y + hb.h + 0.05 * u;
        cairo_set_line_width(cr, fmax(1.5, 0.1 * u));
        cairo_move_to(cr, x, by);
        cairo_curve_to(cr, x, by + 0.3 * u, nx, by + 0.3 * u, nx, by + 0.05 * u);
        cairo_stroke(cr);
    }
}
