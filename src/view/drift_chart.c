// drift_chart.c — the drift of a bounded or quantized cache from the full f32 cache, step by
// step, as a chart in the side panel (in place of the FLOPs-per-step chart while a session
// measures drift): KL(p_full || p) of each step's next-token distribution against the sequence
// step, and under it a strip that says, step by step, whether the most probable next token is
// the full cache's (with the count so far). The axes stay put while the class watches: y is KL on
// a log scale from 10^-4 to 10 nats (a drift spans orders of magnitude: 0.003 while the window
// still holds what matters, over 1 when it has lost it; less than 10^-4 sits on the bottom line),
// x the steps 1 .. 32, 64, 128, ... (the first that holds every step the history has recorded,
// up to the model's context).
// What it does not do: measure anything (src/sim/session.c records the drift) or lay out the
// panel (panels.c gives it its rectangle).
#include "view/scene_internal.h"

#include <math.h>
#include <stdio.h>

bool scene_drift_shown(const Session *s) {
    for (int i = 0; i < s->n_steps; i++)
        if (s->steps[i].drift_measured)
            return true;
    return false;
}

int scene_drift_steps(const Session *s) {
    const int most =
        s->model->cfg.seq_len - s->n_prompt > 1 ? s->model->cfg.seq_len - s->n_prompt : 1;
    int span = 32;
    while (span < s->n_steps && span < most) // every recorded step, ahead of the cursor too
        span *= 2;
    return span < most ? span : most;
}

// Height of KL value kl on the chart's log axis, 0 (10^-4 nats or less) .. 1 (10 nats or more).
static double kl_height(double kl) {
    const double lo = -4, hi = 1;
    const double e = kl > 0 ? log10(kl) : lo;
    return e < lo ? 0 : e > hi ? 1 : (e - lo) / (hi - lo);
}

void scene_draw_drift_chart(Frame *f, SceneRect r, bool x_labels) {
    const Theme *th = f->th;
    const Session *s = f->s;
    cairo_t *cr = f->cr;
    const double u = f->u, small = SCENE_MIN_FONT * u;
    const int cur = s->cursor, xmax = scene_drift_steps(s);
    int measured = 0, agree = 0;
    for (int i = 0; i < cur; i++)
        if (s->steps[i].drift_measured) {
            measured++;
            agree += s->steps[i].top1_agree;
        }
    char buf[96];
    snprintf(buf, sizeof buf, "drift from full: KL, nats, log scale");
    scene_text_on(&f->tx, th->panel);
    scene_text_draw(&f->tx, r.x + 0.6 * u, r.y, small, true, ALIGN_LEFT, r.w - 1.2 * u,
                    th->text_dim, buf);
    const double y0 = r.y + 1.3 * small, strip = 0.55 * u, key_h = 1.25 * small;
    const SceneRect p = {r.x + 0.8 * u, y0 + 0.2 * u, r.w - 1.6 * u,
                         r.y + r.h - y0 - 0.5 * u - strip - key_h - (x_labels ? 1.3 * small : 0)};
    if (p.h < 1.2 * u || p.w < 4 * u)
        return;
#define PX(i) (p.x + p.w * (double)(i) / (xmax > 1 ? xmax - 1 : 1))
#define PY(v) (p.y + p.h * (1 - kl_height(v)))
    scene_set_rgba(cr, th->grid); // a line at each decade: 10, 1, 0.1, 0.01, 0.001, 0.0001
    cairo_set_line_width(cr, fmax(1, 0.05 * u));
    for (int k = 0; k <= 5; k++) {
        cairo_move_to(cr, p.x, p.y + p.h * k / 5);
        cairo_line_to(cr, p.x + p.w, p.y + p.h * k / 5);
    }
    cairo_stroke(cr);
    if (p.h > 2.6 * small) { // the top and bottom decades named inside the plot, at the right
        scene_text_draw(&f->tx, p.x + p.w, p.y, small, false, ALIGN_RIGHT, 0, th->text_dim, "10");
        scene_text_draw(&f->tx, p.x + p.w, p.y + p.h - 1.2 * small, small, false, ALIGN_RIGHT, 0,
                        th->text_dim, "0.0001");
    }
    // KL per step: a line through the measured steps (a gap where a step was not measured)
    cairo_set_line_width(cr, fmax(2, 0.2 * u));
    scene_set_rgba(cr, th->cache_on);
    bool pen = false;
    for (int i = 0; i < cur && i < xmax; i++) {
        const StepRecord *rec = &s->steps[i];
        if (!rec->drift_measured) {
            pen = false;
            continue;
        }
        if (pen)
            cairo_line_to(cr, PX(i), PY(rec->kl_full));
        else
            cairo_move_to(cr, PX(i), PY(rec->kl_full));
        pen = true;
    }
    cairo_stroke(cr);
    // top-1 against the full cache, one mark per step under the chart: the same (faint) or not
    const double sy = p.y + p.h + 0.25 * u, cw = fmax(1.0, p.w / (xmax > 1 ? xmax : 1));
    for (int i = 0; i < cur && i < xmax; i++) {
        const StepRecord *rec = &s->steps[i];
        if (!rec->drift_measured)
            continue;
        scene_set_rgba(cr, rec->top1_agree ? th->grid : th->cache_off);
        cairo_rectangle(cr, PX(i) - cw / 2, sy, cw, strip);
        cairo_fill(cr);
    }
    if (cur > 0 && cur - 1 < xmax && s->steps[cur - 1].drift_measured) {
        scene_set_rgba(cr, th->head);
        cairo_arc(cr, PX(cur - 1), PY(s->steps[cur - 1].kl_full), 0.28 * u, 0, 2 * M_PI);
        cairo_fill(cr);
    }
#undef PX
#undef PY
    const double ky = sy + strip + 0.1 * u;
    if (measured)
        snprintf(buf, sizeof buf, "top-1 = full: %d of %d steps \xc2\xb7 red: differs", agree,
                 measured);
    else
        snprintf(buf, sizeof buf, "top-1 = full: not measured yet");
    scene_text_draw(&f->tx, p.x, ky, small, false, ALIGN_LEFT, p.w, th->text_dim, buf);
    if (x_labels) {
        scene_text_draw(&f->tx, p.x, ky + key_h, small, false, ALIGN_LEFT, 0, th->text_dim,
                        "step 1");
        snprintf(buf, sizeof buf, "step %d", xmax);
        scene_text_draw(&f->tx, p.x + p.w, ky + key_h, small, false, ALIGN_RIGHT, 0, th->text_dim,
                        buf);
    }
}
