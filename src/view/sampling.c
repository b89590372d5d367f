// sampling.c — the sampling view: how the last step chose its token. The next-token distribution
// of that step (its logits, kept in the StepRecord) under the session's sampler settings as they
// are now, the candidates most probable first as bars (linear or log scale), where top-k and
// top-p cut the list, the random number the step drew and the walk that turned it into a token.
//
// The choice is the engine's own: sampler_explain runs the sampler's code on the step's logits
// with the step's draw, so with the step's settings the token marked picked is the one the
// engine picked, and with changed settings it is the one the sampler would pick from the same
// draw. Nothing here draws a random number. One row of the view table (views.c).
#include "view/scene_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// The choice under the view's settings

// The settings the view applies: the session's now (the sampler panel and lessons change them).
static SamplerSettings view_settings(const Session *s) {
    return s->settings;
}

static bool same_settings(const StepRecord *r, SamplerSettings ss) {
    if (r->temperature != ss.temperature)
        return false;
    if (ss.temperature == 0.0f)
        return true; // greedy ignores top-k and top-p
    return r->top_k == ss.top_k && r->top_p == ss.top_p;
}

// Runs the sampler on the step's logits with the step's draw; false before any step. The trace
// points into smp's scratch (the caller frees smp with sampler_free).
static bool explain(const Session *s, Sampler *smp, SamplerTrace *tr) {
    const StepRecord *r = session_last(s);
    if (!r || !r->logits)
        return false;
    sampler_init(smp, s->model->cfg.vocab_size, view_settings(s));
    // A greedy step drew nothing: under a temperature now it shows no draw either (coin -1
    // makes every walk stop at its first candidate, which the picture does not claim).
    float coin = r->coin >= 0 ? r->coin : 0.0f;
    sampler_explain(smp, r->logits, coin, tr);
    if (r->coin < 0 && tr->coin >= 0) { // the pick shown is then the engine's greedy one
        tr->coin = -1.0f;
        tr->pick = r->token_id;
    }
    return true;
}

// Bar length of probability p as a share of the bar column (log: 1e-4 .. 1).
static double bar_share(double p, bool log_scale) {
    if (!log_scale)
        return p < 0 ? 0 : p > 1 ? 1 : p;
    if (p <= 1e-4)
        return 0;
    double f = (log10(p) + 4) / 4;
    return f > 1 ? 1 : f;
}

// ----------------------------------------------------------------------------------------------
// Layout

// Heights in units: the heading, a row, the walk strip with its lines.
#define HEAD_H 4.4
#define ROW_H 2.0
#define WALK_H 9.0

// Columns of a row (x offsets in units from the area's left): rank, text, bar, percentage.
#define COL_TEXT 2.6
#define COL_BAR 11.5

int view_scale_parse(const char *name) {
    if (name && strcmp(name, "linear") == 0)
        return 0;
    if (name && strcmp(name, "log") == 0)
        return 1;
    return -1;
}

void scene_sampling_layout(const Session *s, const View *v, SceneRect area, SceneLayout *L) {
    const double u = L->unit;
    L->beams = area;
    L->smp_n = 0;
    L->smp_k_y = L->smp_p_y = -1;
    L->smp_coin = -1;
    L->smp_pick = L->smp_pick_row = -1;
    L->smp_same = false;
    L->smp_walk = (SceneRect){0};
    Sampler smp;
    SamplerTrace tr;
    if (!explain(s, &smp, &tr))
        return;
    const StepRecord *r = session_last(s);
    double top = area.y + HEAD_H * u, bottom = area.y + area.h - WALK_H * u;
    int rows = (int)((bottom - top) / (ROW_H * u));
    rows = rows < 0 ? 0 : rows > SCENE_SAMPLING_ROWS ? SCENE_SAMPLING_ROWS : rows;
    rows = rows < tr.n ? rows : tr.n;
    const double bx = area.x + COL_BAR * u;
    const double bw = area.x + area.w - 6.5 * u - bx;
    for (int k = 0; k < rows; k++) {
        double y = top + k * ROW_H * u;
        L->smp_id[k] = tr.id[k];
        L->smp_prob[k] = tr.prob[k];
        L->smp_row[k] = (SceneRect){area.x, y, area.w, ROW_H * u};
        double w = bw > 0 ? bw * bar_share(tr.prob[k], v->sampling_log) : 0;
        L->smp_bar[k] = (SceneRect){bx, y + 0.45 * u, w, (ROW_H - 0.9) * u};
        if (tr.id[k] == tr.pick)
            L->smp_pick_row = k;
    }
    L->smp_n = rows;
    L->smp_k_keep = tr.k_keep;
    L->smp_p_keep = tr.p_keep;
    // a cut is drawn under the last row it keeps, when that row and the next are on the picture
    if (tr.coin >= 0 && tr.k_keep < tr.n && tr.k_keep < rows)
        L->smp_k_y = top + tr.k_keep * ROW_H * u;
    if (tr.coin >= 0 && tr.p_keep < tr.k_keep && tr.p_keep < rows)
        L->smp_p_y = top + tr.p_keep * ROW_H * u;
    L->smp_coin = tr.coin;
    L->smp_target = tr.target;
    L->smp_pick = tr.pick;
    L->smp_same = same_settings(r, smp.s);
    double wy = top + rows * ROW_H * u + 3.6 * u;
    L->smp_walk = (SceneRect){area.x + 0.5 * u, wy, area.w - 1.0 * u, 1.6 * u};
    sampler_free(&smp);
}

// ----------------------------------------------------------------------------------------------
// Drawing

static void dashed_line(cairo_t *cr, double x0, double x1, double y, double u) {
    double dash[] = {0.6 * u, 0.35 * u};
    cairo_save(cr);
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_line_width(cr, fmax(1.5, 0.16 * u));
    cairo_move_to(cr, x0, y);
    cairo_line_to(cr, x1, y);
    cairo_stroke(cr);
    cairo_restore(cr);
}

static void settings_text(SamplerSettings ss, char *buf, size_t cap) {
    if (ss.temperature <= 0) {
        snprintf(buf, cap, "temperature 0 (greedy)");
        return;
    }
    int o = snprintf(buf, cap, "temperature %.2f", (double)ss.temperature);
    if (o > 0 && (size_t)o < cap)
        o += snprintf(buf + o, cap - (size_t)o,
                      ss.top_k > 0 ? " \xc2\xb7 top-k %d" : " \xc2\xb7 top-k off", ss.top_k);
    if (o > 0 && (size_t)o < cap) {
        if (ss.top_p > 0 && ss.top_p < 1)
            snprintf(buf + o, cap - (size_t)o, " \xc2\xb7 top-p %.2f", (double)ss.top_p);
        else
            snprintf(buf + o, cap - (size_t)o, " \xc2\xb7 top-p off");
    }
}

// The walk: the kept candidates side by side in the order the sampler adds them, each as wide
// as its share of the kept mass, the picked one lit, and the draw's point on it.
static void draw_walk(Frame *f, const SamplerTrace *tr, int prev) {
    const SceneLayout *L = f->lay;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    const double u = f->u, small = SCENE_MIN_FONT * u;
    const SceneRect w = L->smp_walk;
    char pick[96], line[320];
    scene_candidate_display(f->s, prev, tr->pick, pick, sizeof pick);
    scene_text_on(&f->tx, th->bg);
    if (tr->coin < 0) {
        snprintf(line, sizeof line,
                 "No random number: at temperature 0 the sampler takes the most probable token, "
                 "\xe2\x80\x9c%s\xe2\x80\x9d.",
                 pick);
        if (session_last(f->s)->coin < 0 && f->s->settings.temperature > 0)
            snprintf(line, sizeof line,
                     "This step was greedy (temperature 0): it drew no random number. The next "
                     "step draws one.");
        scene_text_draw(&f->tx, w.x, w.y - 1.6 * u, small, false, ALIGN_LEFT, w.w, th->text, line);
        return;
    }
    const int kept = tr->id_order ? tr->n : tr->p_keep;
    double total = 0;
    for (int i = 0; i < kept; i++)
        total += tr->prob[i];
    if (!(total > 0))
        return;
    snprintf(line, sizeof line,
             "random number %.4f \xc3\x97 kept mass %.3f = %.4f, found by adding the kept "
             "probabilities %s",
             (double)tr->coin, (double)tr->mass, (double)tr->target,
             tr->id_order ? "in id order" : "most probable first");
    scene_text_draw(&f->tx, w.x, w.y - 1.6 * u, small, false, ALIGN_LEFT, w.w, th->text, line);
    double x = w.x;
    scene_set_rgba(cr, th->grid);
    cairo_rectangle(cr, w.x, w.y, w.w, w.h);
    cairo_fill(cr);
    const int V = f->s->model->cfg.vocab_size;
    float *by_id = NULL; // in id order the listed probabilities are put back by id
    if (tr->id_order) {
        by_id = kv_calloc((size_t)V, sizeof *by_id);
        for (int k = 0; k < tr->n; k++)
            by_id[tr->id[k]] = tr->prob[k];
    }
    for (int k = 0; k < (tr->id_order ? V : kept); k++) {
        const int id = tr->id_order ? k : tr->id[k];
        const double p = tr->id_order ? by_id[k] : tr->prob[k];
        double sw = w.w * p / total;
        if (sw <= 0)
            continue;
        Rgba c = id == tr->pick ? th->new_token : th->accent;
        if (id != tr->pick) // neighbours told apart by their shade
            c.a = k % 2 ? 0.45 : 0.8;
        scene_set_rgba(cr, c);
        cairo_rectangle(cr, x, w.y, sw, w.h);
        cairo_fill(cr);
        x += sw;
    }
    free(by_id);
    // the draw's point (target / mass of the strip)
    double mx = w.x + w.w * (tr->mass > 0 ? tr->target / tr->mass : 0);
    scene_set_rgba(cr, th->text);
    cairo_set_line_width(cr, fmax(2, 0.2 * u));
    cairo_move_to(cr, mx, w.y - 0.3 * u);
    cairo_line_to(cr, mx, w.y + w.h + 0.3 * u);
    cairo_stroke(cr);
    snprintf(line, sizeof line, "\xe2\x96\xb2 %.4f lands on \xe2\x80\x9c%s\xe2\x80\x9d",
             (double)tr->target, pick);
    double lw = scene_text_width(&f->tx, small, true, line, NULL);
    double lx = mx - lw / 2;
    lx = lx < w.x ? w.x : lx + lw > w.x + w.w ? w.x + w.w - lw : lx;
    scene_text_draw(&f->tx, lx, w.y + w.h + 0.35 * u, small, true, ALIGN_LEFT, w.w, th->head_text,
                    line);
}

void scene_sampling_draw(Frame *f) {
    const SceneLayout *L = f->lay;
    const Session *s = f->s;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    const double u = f->u, small = SCENE_MIN_FONT * u;
    const SceneRect a = L->beams;
    char buf[400], set[120];
    scene_text_on(&f->tx, th->bg);
    scene_text_draw(&f->tx, a.x, a.y, SCENE_BIG_FONT * u, true, ALIGN_LEFT, a.w * 0.5, th->text,
                    "SAMPLING");
    Sampler smp;
    SamplerTrace tr;
    if (!explain(s, &smp, &tr)) {
        scene_text_draw(&f->tx, a.x, a.y + 2.4 * u, small, false, ALIGN_LEFT, a.w, th->text_dim,
                        "No step yet: press Space, then the next token's distribution shows here.");
        return;
    }
    const StepRecord *r = session_last(s);
    const int prev = r->pos >= 0 && r->pos < s->n_tokens ? s->tokens[r->pos] : -1;
    char after[96];
    scene_token_display(s, r->pos, after, sizeof after);
    settings_text(smp.s, set, sizeof set);
    snprintf(buf, sizeof buf, "after \xe2\x80\x9c%s\xe2\x80\x9d (position %d) \xc2\xb7 %s", after,
             r->pos, set);
    double tw = scene_text_width(&f->tx, SCENE_BIG_FONT * u, true, "SAMPLING", NULL);
    scene_text_draw(&f->tx, a.x + tw + u, a.y + 0.3 * u, small, false, ALIGN_LEFT, a.w - tw - u,
                    th->text_dim, buf);
    snprintf(buf, sizeof buf, "%d candidates, most probable first \xc2\xb7 %s scale", tr.n,
             f->v->sampling_log ? "log" : "linear");
    scene_text_draw(&f->tx, a.x, a.y + 2.2 * u, small, false, ALIGN_LEFT, a.w, th->text_dim, buf);

    // rows
    const double bx = a.x + COL_BAR * u, bw = a.x + a.w - 6.5 * u - bx;
    for (int k = 0; k < L->smp_n; k++) {
        SceneRect row = L->smp_row[k];
        bool kept = tr.coin < 0 ? k == 0 : k < tr.p_keep;
        bool picked = L->smp_id[k] == tr.pick;
        Rgba under = th->bg;
        if (picked) {
            Rgba hl = th->new_token;
            hl.a = 0.2;
            scene_set_rgba(cr, hl);
            cairo_rectangle(cr, row.x, row.y + 0.1 * u, row.w, row.h - 0.2 * u);
            cairo_fill(cr);
            under = scene_rgba_over(hl, th->bg);
        }
        scene_text_on(&f->tx, under);
        double ty = row.y + (row.h - 1.17 * small) / 2;
        snprintf(buf, sizeof buf, "%d", k + 1);
        scene_text_draw(&f->tx, a.x + COL_TEXT * u - 0.5 * u, ty, small, false, ALIGN_RIGHT, 0,
                        th->text_dim, buf);
        char cand[96];
        scene_candidate_display(s, prev, L->smp_id[k], cand, sizeof cand);
        const double ts = SCENE_TOKEN_FONT * u;
        scene_text_role(&f->tx, SCENE_TEXT_TOKEN);
        scene_text_draw(&f->tx, a.x + COL_TEXT * u, row.y + (row.h - 1.17 * ts) / 2, ts, picked,
                        ALIGN_LEFT, (COL_BAR - COL_TEXT - 0.6) * u,
                        picked ? th->head_text
                        : kept ? th->text
                               : th->text_dim,
                        cand);
        scene_text_role(&f->tx, SCENE_TEXT_LABEL);
        scene_set_rgba(cr, th->grid);
        cairo_rectangle(cr, bx, L->smp_bar[k].y, bw, L->smp_bar[k].h);
        cairo_fill(cr);
        Rgba bc = picked ? th->new_token : th->accent;
        if (!kept && !picked)
            bc = th->text_faint;
        scene_set_rgba(cr, bc);
        cairo_rectangle(cr, L->smp_bar[k].x, L->smp_bar[k].y, fmax(1, L->smp_bar[k].w),
                        L->smp_bar[k].h);
        cairo_fill(cr);
        snprintf(buf, sizeof buf, L->smp_prob[k] >= 0.001f ? "%.1f%%" : "%.3f%%",
                 100.0 * L->smp_prob[k]);
        scene_text_draw(&f->tx, a.x + a.w - 0.3 * u, ty, small, picked, ALIGN_RIGHT, 0,
                        picked ? th->head_text : th->text_dim, buf);
    }
    scene_text_on(&f->tx, th->bg);
    // the cuts: a dashed line under the last row each keeps, named at its right end
    struct {
        double y;
        const char *fmt;
        double val;
    } cuts[2] = {{L->smp_k_y, "top-k %.0f: the rest is cut", smp.s.top_k},
                 {L->smp_p_y, "top-p %.2f: the rest is cut", smp.s.top_p}};
    for (int c = 0; c < 2; c++) {
        if (cuts[c].y < 0)
            continue;
        scene_set_rgba(cr, th->head);
        dashed_line(cr, a.x, a.x + a.w, cuts[c].y, u);
        snprintf(buf, sizeof buf, cuts[c].fmt, cuts[c].val);
        double lw = scene_text_width(&f->tx, small, true, buf, NULL) + 0.6 * u;
        double lx = bx + bw - lw, ly = cuts[c].y - 0.58 * small;
        scene_set_rgba(cr, th->bg);
        cairo_rectangle(cr, lx, ly, lw, 1.17 * small);
        cairo_fill(cr);
        scene_text_draw(&f->tx, lx + 0.3 * u, ly, small, true, ALIGN_LEFT, 0, th->head_text, buf);
    }
    // what is kept, in words (also when a cut is below the rows shown)
    double y = L->smp_n > 0 ? L->smp_row[L->smp_n - 1].y + ROW_H * u + 0.2 * u : a.y + HEAD_H * u;
    if (tr.coin >= 0) {
        char k_txt[48], p_txt[48];
        snprintf(k_txt, sizeof k_txt, smp.s.top_k > 0 ? "top-k keeps %d" : "top-k off", tr.k_keep);
        snprintf(p_txt, sizeof p_txt,
                 smp.s.top_p > 0 && smp.s.top_p < 1 ? "top-p keeps %d" : "top-p off", tr.p_keep);
        snprintf(buf, sizeof buf,
                 "kept: %d of %d candidates \xc2\xb7 %s \xc2\xb7 %s \xc2\xb7 kept mass %.3f",
                 tr.p_keep, tr.n, k_txt, p_txt, (double)tr.mass);
    } else
        snprintf(buf, sizeof buf, "greedy: only the most probable of %d candidates counts",
                 s->model->cfg.vocab_size);
    scene_text_draw(&f->tx, a.x, y, small, false, ALIGN_LEFT, a.w, th->text_dim, buf);
    draw_walk(f, &tr, prev);
    // the engine's own choice at this step
    char chosen[96];
    scene_candidate_display(s, prev, r->token_id, chosen, sizeof chosen);
    if (L->smp_same)
        snprintf(buf, sizeof buf, "The engine picked \xe2\x80\x9c%s\xe2\x80\x9d at this step.",
                 chosen);
    else {
        SamplerSettings st = {r->temperature, r->top_p, r->top_k, 0};
        settings_text(st, set, sizeof set);
        snprintf(buf, sizeof buf,
                 "The engine picked \xe2\x80\x9c%s\xe2\x80\x9d with the step's %s; the picture "
                 "applies the settings now.",
                 chosen, set);
    }
    scene_text_draw(&f->tx, a.x, L->smp_walk.y + L->smp_walk.h + 2.1 * u, small, false, ALIGN_LEFT,
                    a.w, th->text, buf);
    sampler_free(&smp);
}
