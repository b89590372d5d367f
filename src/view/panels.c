// panels.c — everything around the view: the phase banner and pipeline strip, the counters,
// the cumulative-FLOPs chart, the next-token panel, the legend, lesson captions, notices, the
// hover tooltip and the help overlay.
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static void round_rect(cairo_t *cr, double x, double y, double w, double h, double r) {
    if (r > w / 2) r = w / 2;
    if (r > h / 2) r = h / 2;
    cairo_new_sub_path(cr);
    cairo_arc(cr, x + w - r, y + r, r, -M_PI / 2, 0);
    cairo_arc(cr, x + w - r, y + h - r, r, 0, M_PI / 2);
    cairo_arc(cr, x + r, y + h - r, r, M_PI / 2, M_PI);
    cairo_arc(cr, x + r, y + r, r, M_PI, 3 * M_PI / 2);
    cairo_close_path(cr);
}

static void box(Frame *f, SceneRect r, Rgba fill, Rgba edge) {
    round_rect(f->cr, r.x, r.y, r.w, r.h, 0.35 * f->u);
    scene_set_rgba(f->cr, fill);
    cairo_fill_preserve(f->cr);
    scene_set_rgba(f->cr, edge);
    cairo_set_line_width(f->cr, fmax(1, 0.06 * f->u));
    cairo_stroke(f->cr);
}

static CacheMode shown_mode(const Frame *f) { return f->r ? f->r->mode : f->s->mode; }

// ----------------------------------------------------------------------------------------------
// Top bar: phase banner, pipeline strip, mode badge

static const char *const stage_names[] = {"token", "id", "embedding", "blocks", "unembedding",
                                          "logits", "sample"};
#define N_STAGES 7

void scene_draw_top_bar(Frame *f) {
    const SceneRect t = f->lay->top;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    double u = f->u;
    char buf[64];

    // Phase banner
    const char *phase = !f->r ? "READY" : f->r->phase == PHASE_PREFILL ? "PREFILL" : "DECODE";
    SceneRect pb = {t.x, t.y, 9.5 * u, t.h};
    Rgba pc = !f->r ? th->text_faint : f->r->phase == PHASE_PREFILL ? th->pinned : th->accent;
    box(f, pb, th->panel, pc);
    scene_text_draw(&f->tx, pb.x + pb.w / 2, pb.y + 0.22 * u, 1.35 * u, true, ALIGN_CENTER,
                    pb.w - u, pc, phase);
    if (f->r) {
        if (f->r->phase == PHASE_PREFILL)
            snprintf(buf, sizeof buf, "%d prompt tokens in one pass", f->r->pos + 1);
        else
            snprintf(buf, sizeof buf, "one token at position %d", f->r->pos);
    } else {
        snprintf(buf, sizeof buf, "press step to begin");
    }
    scene_text_draw(&f->tx, pb.x + pb.w / 2, pb.y + 1.78 * u, 0.55 * u, false, ALIGN_CENTER,
              pb.w - 0.5 * u, th->text_dim, buf);

    // Mode badge
    bool on = shown_mode(f) == CACHE_MODE_ON;
    SceneRect mb = {t.x + t.w - 9.5 * u, t.y, 9.5 * u, t.h};
    Rgba mc = on ? th->cache_on : th->cache_off;
    round_rect(cr, mb.x, mb.y, mb.w, mb.h, 0.35 * u);
    scene_set_rgba(cr, mc);
    cairo_fill(cr);
    scene_text_draw(&f->tx, mb.x + mb.w / 2, mb.y + 0.22 * u, 1.35 * u, true, ALIGN_CENTER,
              mb.w - u, th->bg, on ? "KV CACHE" : "NO CACHE");
    if (f->r && f->s->mode != f->r->mode)
        snprintf(buf, sizeof buf, "next step: %s", f->s->mode == CACHE_MODE_ON ? "cache on"
                                                                               : "cache off");
    else
        snprintf(buf, sizeof buf, on ? "keys and values kept" : "everything recomputed");
    scene_text_draw(&f->tx, mb.x + mb.w / 2, mb.y + 1.78 * u, 0.55 * u, false, ALIGN_CENTER,
              mb.w - 0.5 * u, th->bg, buf);

    // Pipeline strip: the stage being worked on is lit while the step animates.
    double x0 = pb.x + pb.w + 1.0 * u, x1 = mb.x - 1.0 * u;
    double gap = 1.1 * u;
    double sw = (x1 - x0 - gap * (N_STAGES - 1)) / N_STAGES;
    if (sw < 2 * u) return;
    int lit = !f->r ? -1 : scene_anim_stage(f->t, N_STAGES);
    double bh = 1.6 * u, by = t.y + (t.h - bh) / 2;
    for (int i = 0; i < N_STAGES; i++) {
        double x = x0 + i * (sw + gap);
        bool done = f->r && i < lit;
        Rgba fill = i == lit ? th->stage_on : done ? th->stage_done : th->stage_off;
        round_rect(cr, x, by, sw, bh, 0.3 * u);
        scene_set_rgba(cr, fill);
        cairo_fill(cr);
        const char *name = stage_names[i];
        if (i == 3) {
            snprintf(buf, sizeof buf, "%d blocks", f->s->model->cfg.n_layers);
            name = buf;
        }
        Rgba tc = i == lit ? (th->dark ? th->bg : th->text) : th->text;
        scene_text_draw(&f->tx, x + sw / 2, by + 0.3 * u, 0.72 * u, i == lit, ALIGN_CENTER,
                  sw - 0.3 * u, tc, name);
        if (i + 1 < N_STAGES) {
            double ax = x + sw + gap * 0.25, ay = by + bh / 2;
            scene_set_rgba(cr, th->text_faint);
            cairo_move_to(cr, ax, ay - 0.25 * u);
            cairo_line_to(cr, ax + gap * 0.5, ay);
            cairo_line_to(cr, ax, ay + 0.25 * u);
            cairo_close_path(cr);
            cairo_fill(cr);
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Counters

static double section_title(Frame *f, SceneRect r, const char *title, const char *right) {
    double u = f->u;
    scene_text_draw(&f->tx, r.x + 0.7 * u, r.y + 0.45 * u, 0.7 * u, true, ALIGN_LEFT, 0,
              f->th->text_dim, title);
    if (right)
        scene_text_draw(&f->tx, r.x + r.w - 0.7 * u, r.y + 0.45 * u, 0.7 * u, false, ALIGN_RIGHT,
                  r.w * 0.55, f->th->text_dim, right);
    return r.y + 1.6 * u;
}

// KL(p_full || p) over the steps so far, as a small line (the last measured steps that fit, a
// dot where top-1 differed), beside the drift row of the counters.
static void drift_spark(Frame *f, double x, double y, double w, double h) {
    const Session *s = f->s;
    const int n = s->cursor, keep = 48, first = n > keep ? n - keep : 0;
    double mx = 0;
    for (int i = first; i < n; i++)
        if (s->steps[i].drift_measured && s->steps[i].kl_full > mx) mx = s->steps[i].kl_full;
    if (mx <= 0) return;
    cairo_t *cr = f->cr;
    scene_set_rgba(cr, f->th->text_faint);
    cairo_set_line_width(cr, fmax(1.0, 0.07 * f->u));
    bool pen = false;
    for (int i = first; i < n; i++) {
        const StepRecord *r = &s->steps[i];
        if (!r->drift_measured) {
            pen = false;
            continue;
        }
        const double px = x + w * (i - first) / (double)(keep - 1);
        const double py = y + h - h * r->kl_full / mx;
        if (pen) cairo_line_to(cr, px, py);
        else cairo_move_to(cr, px, py);
        pen = true;
    }
    cairo_stroke(cr);
    scene_set_rgba(cr, f->th->cache_off);
    for (int i = first; i < n; i++) {
        const StepRecord *r = &s->steps[i];
        if (!r->drift_measured || r->top1_agree) continue;
        cairo_arc(cr, x + w * (i - first) / (double)(keep - 1), y + h - h * r->kl_full / mx,
                  fmax(1.5, 0.1 * f->u), 0, 2 * M_PI);
        cairo_fill(cr);
    }
}

static void draw_counters(Frame *f, SceneRect r) {
    const Theme *th = f->th;
    const Session *s = f->s;
    const StepRecord *rec = f->r;
    const ModelConfig *cfg = &s->model->cfg;
    double u = f->u;
    box(f, r, th->panel, th->panel_edge);
    double y = section_title(f, r, "COUNTERS", NULL);
    char v1[48], v2[48], line[160];
    double row_h = (r.y + r.h - 0.3 * u - y) / 9;
    double lsize = fmin(0.72 * u, row_h * 0.5), vsize = fmin(1.0 * u, row_h * 0.7);
    double xl = r.x + 0.7 * u, xr = r.x + r.w - 0.7 * u;
    double vw = r.w * 0.58;

#define ROW(label, value, colour)                                                                  \
    do {                                                                                           \
        scene_text_draw(&f->tx, xl, y + (row_h - lsize * 1.2) / 2, lsize, false, ALIGN_LEFT,       \
                        r.w - vw - 1.2 * u, th->text_dim, label);                                  \
        scene_text_draw(&f->tx, xr, y + (row_h - vsize * 1.2) / 2, vsize, true, ALIGN_RIGHT, vw,   \
                        colour, value);                                                            \
        y += row_h;                                                                                \
    } while (0)

    bool on = shown_mode(f) == CACHE_MODE_ON;
    // a retention policy: its name with the mode, resident / budget bytes, the drift from full
    const KvCacheKind kind = rec ? rec->kind : s->cache_kind;
    const int budget = on ? kv_kind_budget(kind) : 0;
    char policy[48];
    kv_retention_name(kind, policy, sizeof policy);
    snprintf(line, sizeof line, "KV CACHE \xc2\xb7 %s", policy);
    ROW("mode", on ? (budget ? line : "KV CACHE") : "NO CACHE", on ? th->cache_on : th->cache_off);
    snprintf(line, sizeof line, "%d", s->cursor);
    ROW("step", line, th->text);
    snprintf(line, sizeof line, "%d tokens", s->n_tokens);
    ROW("sequence length", line, th->text);
    if (rec) {
        kv_format_number(v1, sizeof v1, (double)counters_flops(&rec->counted), KV_NUM_SI,
                           "FLOP");
        ROW("FLOPs this step", v1, th->text);
        kv_format_number(v1, sizeof v1, (double)counters_flops(&rec->total), KV_NUM_SI,
                           "FLOP");
        ROW("FLOPs total", v1, th->text);
        kv_format_bytes(v1, sizeof v1, rec->kv_bytes_resident);
        if (budget) { // a policy that evicts (f32 only: kv_kind_combine_check)
            kv_format_bytes(v2, sizeof v2, (uint64_t)budget * config_kv_bytes_per_token(cfg));
            snprintf(line, sizeof line, "%s / %s budget", v1, v2);
        } else if (rec->kv != KV_PRECISION_F32) { // resident bytes against what f32 would need
            kv_format_bytes(v2, sizeof v2, rec->kv_bytes_f32);
            snprintf(line, sizeof line, "%s %s \xc2\xb7 f32 %s", v1, kv_precision_name(rec->kv),
                     v2);
        } else {
            kv_format_bytes(v2, sizeof v2, config_kv_bytes_per_token(cfg));
            snprintf(line, sizeof line, "%s \xc2\xb7 %s/token", v1, v2);
        }
        ROW("cache memory", line, th->text);
        double ms = rec->step_ns / 1e6;
        snprintf(line, sizeof line, ms >= 100 ? "%.0f ms" : ms >= 10 ? "%.1f ms" : "%.2f ms", ms);
        ROW("step time (measured)", line, th->text);
        double nocache = (double)flops_formula_run(cfg, false, s->n_prompt, s->cursor);
        double saved = nocache - (double)counters_flops(&rec->total);
        kv_format_number(v1, sizeof v1, saved, KV_NUM_SI, "FLOP");
        snprintf(line, sizeof line, "%s (%.0f%%)", v1, nocache > 0 ? 100 * saved / nocache : 0);
        ROW("saved by the cache", line, saved > 0 ? th->cache_on : th->text);
        if (rec->drift_measured) { // against the full f32 cache on the same tokens
            snprintf(line, sizeof line, "KL %.2g \xc2\xb7 top-1 %s", (double)rec->kl_full,
                     rec->top1_agree ? "same" : "differs");
            drift_spark(f, xl + 2.6 * u, y + row_h * 0.15, 3.2 * u, row_h * 0.7);
            ROW("drift", line, rec->top1_agree ? th->text : th->cache_off);
        } else {
            if (rec->max_logit_diff >= 0)
                snprintf(line, sizeof line, "%.2g", (double)rec->max_logit_diff);
            else
                snprintf(line, sizeof line, "not measured");
            ROW("max logit diff", line, rec->max_logit_diff >= 0 ? th->text : th->text_faint);
        }
    } else {
        kv_format_bytes(v2, sizeof v2, config_kv_bytes_per_token(cfg));
        snprintf(line, sizeof line, "0 B \xc2\xb7 %s/token", v2);
        ROW("FLOPs this step", "\xe2\x80\x94", th->text_faint);
        ROW("FLOPs total", "0 FLOP", th->text);
        ROW("cache memory", line, th->text);
        ROW("step time (measured)", "\xe2\x80\x94", th->text_faint);
        ROW("saved by the cache", "\xe2\x80\x94", th->text_faint);
        ROW("max logit diff", "not measured", th->text_faint);
    }
#undef ROW
}

// ----------------------------------------------------------------------------------------------
// Chart: cumulative FLOPs against step, measured history and the two closed forms

static void draw_chart(Frame *f, SceneRect r) {
    const Theme *th = f->th;
    const Session *s = f->s;
    const ModelConfig *cfg = &s->model->cfg;
    cairo_t *cr = f->cr;
    double u = f->u;
    box(f, r, th->panel, th->panel_edge);
    double y = section_title(f, r, "CUMULATIVE FLOPs", "per step");
    int cur = s->cursor; // steps done; step i has index i-1
    int xmax = 8;
    while (xmax < cur + cur / 4 + 1) xmax *= 2;
    int room = cfg->seq_len - s->n_prompt; // steps possible
    if (room >= 1 && xmax > room) xmax = room > cur ? room : cur;
    if (xmax < 1) xmax = 1;
    double ymax = (double)flops_formula_run(cfg, false, s->n_prompt, xmax);
    for (int i = 0; i < cur; i++) ymax = fmax(ymax, (double)counters_flops(&s->steps[i].total));
    if (ymax <= 0) ymax = 1;
    SceneRect p = {r.x + 3.6 * u, y + 0.2 * u, r.w - 4.4 * u, r.y + r.h - y - 2.0 * u};
    if (p.h < 2 * u || p.w < 4 * u) return;
#define PX(i) (p.x + p.w * ((double)(i)) / (xmax > 1 ? xmax - 1 : 1))
#define PY(v) (p.y + p.h * (1 - (v) / ymax))
    // Axes and labels
    scene_set_rgba(cr, th->grid);
    cairo_set_line_width(cr, fmax(1, 0.05 * u));
    for (int k = 0; k <= 4; k++) {
        cairo_move_to(cr, p.x, p.y + p.h * k / 4);
        cairo_line_to(cr, p.x + p.w, p.y + p.h * k / 4);
    }
    cairo_stroke(cr);
    char buf[48];
    kv_format_number(buf, sizeof buf, ymax, KV_NUM_SI, "");
    scene_text_draw(&f->tx, p.x - 0.3 * u, p.y - 0.4 * u, 0.6 * u, false, ALIGN_RIGHT, 3.3 * u,
              th->text_dim, buf);
    scene_text_draw(&f->tx, p.x - 0.3 * u, p.y + p.h - 0.45 * u, 0.6 * u, false, ALIGN_RIGHT,
                    3.3 * u, th->text_dim, "0");
    scene_text_draw(&f->tx, p.x, p.y + p.h + 0.2 * u, 0.6 * u, false, ALIGN_LEFT, 0, th->text_dim,
              "step 1");
    snprintf(buf, sizeof buf, "step %d", xmax);
    scene_text_draw(&f->tx, p.x + p.w, p.y + p.h + 0.2 * u, 0.6 * u, false, ALIGN_RIGHT, 0,
              th->text_dim, buf);

    // Closed forms, dashed: the parabola (no cache) and the straight line (cache).
    int samples = xmax < 64 ? xmax : 64;
    double dash[] = {0.45 * u, 0.3 * u};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_line_width(cr, fmax(1.5, 0.09 * u));
    for (int mode = 0; mode < 2; mode++) {
        bool cache = mode == 0;
        for (int k = 0; k <= samples; k++) {
            int i = (int)((double)k * (xmax - 1) / (samples > 0 ? samples : 1) + 0.5);
            double v = (double)flops_formula_run(cfg, cache, s->n_prompt, i + 1);
            if (k == 0) cairo_move_to(cr, PX(i), PY(v));
            else cairo_line_to(cr, PX(i), PY(v));
        }
        scene_set_rgba_a(cr, cache ? th->cache_on : th->cache_off, 0.8);
        cairo_stroke(cr);
    }
    cairo_set_dash(cr, NULL, 0, 0);
    // Labels at the curves' ends
    double vnc = (double)flops_formula_run(cfg, false, s->n_prompt, xmax);
    double vc = (double)flops_formula_run(cfg, true, s->n_prompt, xmax);
    // Left of the parabola's steep end, which would otherwise run through the label.
    scene_text_draw(&f->tx, p.x + p.w - 1.1 * u, PY(vnc) + 0.15 * u, 0.6 * u, false, ALIGN_RIGHT, 0,
              th->cache_off, "no cache (formula)");
    double ly = PY(vc) - 1.0 * u;
    if (ly > PY(vnc) + 0.9 * u || ly < PY(vnc) - 0.9 * u)
        scene_text_draw(&f->tx, p.x + p.w - 0.2 * u, ly, 0.6 * u, false, ALIGN_RIGHT, 0,
                        th->cache_on, "cache (formula)");

    // Measured history, one segment per step in the colour of that step's mode.
    cairo_set_line_width(cr, fmax(2, 0.16 * u));
    for (int i = 0; i < cur && i < xmax; i++) {
        const StepRecord *rec = &s->steps[i];
        double v = (double)counters_flops(&rec->total);
        double pv = i > 0 ? (double)counters_flops(&s->steps[i - 1].total) : 0;
        cairo_move_to(cr, PX(i > 0 ? i - 1 : 0), PY(i > 0 ? pv : v));
        cairo_line_to(cr, PX(i), PY(v));
        scene_set_rgba(cr, rec->mode == CACHE_MODE_ON ? th->cache_on : th->cache_off);
        cairo_stroke(cr);
    }
    if (cur > 0 && cur - 1 < xmax) {
        int i = cur - 1;
        double v = (double)counters_flops(&s->steps[i].total);
        scene_set_rgba(cr, th->grid);
        cairo_move_to(cr, PX(i), p.y);
        cairo_line_to(cr, PX(i), p.y + p.h);
        cairo_stroke(cr);
        scene_set_rgba(cr, th->head);
        cairo_arc(cr, PX(i), PY(v), 0.3 * u, 0, 2 * M_PI);
        cairo_fill(cr);
        snprintf(buf, sizeof buf, "measured, step %d", cur);
        // Top left of the plot: the curves start bottom left and end right, so it stays clear.
        cairo_arc(cr, p.x + 0.5 * u, p.y + 0.5 * u, 0.25 * u, 0, 2 * M_PI);
        cairo_fill(cr);
        scene_text_draw(&f->tx, p.x + 0.95 * u, p.y + 0.1 * u, 0.6 * u, true, ALIGN_LEFT,
                  p.w * 0.55, th->head, buf);
    }
#undef PX
#undef PY
}

// ----------------------------------------------------------------------------------------------
// Next-token candidates

static void draw_next_token(Frame *f, SceneRect r) {
    const Theme *th = f->th;
    const StepRecord *rec = f->r;
    cairo_t *cr = f->cr;
    double u = f->u;
    box(f, r, th->panel, th->panel_edge);
    char temp[48], buf[96], pct[16];
    if (rec) snprintf(temp, sizeof temp, "temperature %.2f", (double)rec->temperature);
    else snprintf(temp, sizeof temp, "temperature %.2f", (double)f->s->settings.temperature);
    double y = section_title(f, r, "NEXT TOKEN", temp);
    if (!rec) {
        scene_text_draw(&f->tx, r.x + 0.7 * u, y, 0.8 * u, false, ALIGN_LEFT, r.w - 1.4 * u,
                  th->text_faint, "no step yet");
        return;
    }
    int n = rec->n_top < 5 ? rec->n_top : 5;
    double row_h = fmin(1.5 * u, (r.y + r.h - 0.3 * u - y) / 5);
    double tw = r.w * 0.34, bx = r.x + 0.7 * u + tw + 0.4 * u;
    double bw = r.x + r.w - 0.7 * u - 3.3 * u - bx;
    int prev = rec->pos >= 0 && rec->pos < f->s->n_tokens ? f->s->tokens[rec->pos] : -1;
    for (int k = 0; k < n; k++) {
        const Candidate *c = &rec->top[k];
        bool chosen = c->id == rec->token_id;
        double ry = y + k * row_h;
        if (chosen) {
            round_rect(cr, r.x + 0.3 * u, ry, r.w - 0.6 * u, row_h * 0.92, 0.25 * u);
            scene_set_rgba_a(cr, th->new_token, 0.18);
            cairo_fill(cr);
        }
        scene_token_display_id(f->s, prev, c->id, buf, sizeof buf);
        scene_text_draw(&f->tx, r.x + 0.7 * u, ry + (row_h - 1.15 * u) / 2, 0.85 * u, chosen,
                  ALIGN_LEFT, tw, chosen ? th->new_token : th->text, buf);
        double bar = bw * (c->prob > 0 ? c->prob : 0);
        scene_set_rgba(cr, th->grid);
        cairo_rectangle(cr, bx, ry + row_h * 0.25, bw, row_h * 0.4);
        cairo_fill(cr);
        scene_set_rgba(cr, chosen ? th->new_token : th->accent);
        cairo_rectangle(cr, bx, ry + row_h * 0.25, bar, row_h * 0.4);
        cairo_fill(cr);
        snprintf(pct, sizeof pct, "%.1f%%", 100.0 * c->prob);
        scene_text_draw(&f->tx, r.x + r.w - 0.7 * u, ry + (row_h - 0.9 * u) / 2, 0.7 * u, chosen,
                  ALIGN_RIGHT, 0, th->text_dim, pct);
    }
    bool listed = false;
    for (int k = 0; k < n; k++) listed = listed || rec->top[k].id == rec->token_id;
    if (!listed && y + n * row_h + 0.9 * u < r.y + r.h) {
        scene_token_display_id(f->s, prev, rec->token_id, buf, sizeof buf);
        char line[128];
        snprintf(line, sizeof line, "chosen: %s (outside the top 5)", buf);
        scene_text_draw(&f->tx, r.x + 0.7 * u, y + n * row_h, 0.65 * u, false, ALIGN_LEFT,
                  r.w - 1.4 * u, th->new_token, line);
    }
}

void scene_draw_panel(Frame *f) {
    SceneRect p = f->lay->panel;
    double u = f->u, gap = 0.6 * u;
    double ch = fmin(15.5 * u, p.h * 0.38);
    double nh = fmin(10.2 * u, p.h * 0.27);
    SceneRect counters = {p.x, p.y, p.w, ch};
    SceneRect next = {p.x, p.y + p.h - nh, p.w, nh};
    SceneRect chart = {p.x, p.y + ch + gap, p.w, p.h - ch - nh - 2 * gap};
    draw_counters(f, counters);
    draw_chart(f, chart);
    draw_next_token(f, next);
}

// ----------------------------------------------------------------------------------------------
// Legend

void scene_draw_legend(Frame *f) {
    SceneRect r = f->lay->legend;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    double u = f->u;
    double size = 0.66 * u, sw = 1.0 * u, y = r.y + (r.h - sw) / 2;
    double x = r.x;
    unsigned keys = scene_view(f->v->kind)->legend;
    if (keys & SCENE_LEGEND_BLOCKS) {
        const StepRecord *last = session_last(f->s);
        const bool evicts = last && kv_kind_budget(last->kind) > 0;
        for (int st = 0; st < BLOCK_STATES; st++) {
            if (st == BLOCK_EVICTED && !evicts)
                continue; // only where a policy evicts
            scene_set_rgba(cr, th->block[st]);
            cairo_rectangle(cr, x, y, sw, sw);
            cairo_fill_preserve(cr);
            scene_set_rgba(cr, th->block_edge);
            cairo_set_line_width(cr, 1);
            cairo_stroke(cr);
            x += sw + 0.35 * u;
            x += scene_text_draw(&f->tx, x, y + (sw - size * 1.2) / 2, size, false, ALIGN_LEFT, 0,
                           th->text_dim, block_state_names[st]) +
                 0.9 * u;
        }
    }
    const StepRecord *rec = session_last(f->s);
    const int stripes = rec && rec->kv_quantized > 0 ? scene_precision_stripes(rec->kv) : 0;
    if ((keys & SCENE_LEGEND_BLOCKS) && stripes > 0) { // the precision's look, said in words
        scene_set_rgba(cr, th->block[BLOCK_CACHED]);
        cairo_rectangle(cr, x, y, sw, sw);
        cairo_fill(cr);
        scene_set_rgba(cr, th->bg);
        for (int j = 0; j < 2 * stripes + 1; j += 2)
            cairo_rectangle(cr, x, y + sw * j / (2 * stripes + 1), sw, sw / (2 * stripes + 1));
        cairo_fill(cr);
        x += sw + 0.35 * u;
        char what[96];
        snprintf(what, sizeof what, "%s: %d stripe%s (solid = f32)", kv_precision_name(rec->kv),
                 stripes, stripes > 1 ? "s" : "");
        x += scene_text_draw(&f->tx, x, y + (sw - size * 1.2) / 2, size, false, ALIGN_LEFT, 0,
                             th->text_dim, what) +
             0.9 * u;
    }
    if (!(keys & SCENE_LEGEND_BEAMS)) return; // e.g. the heatmap has its own colour bar
    // Beam ramp
    char buf[96];
    const char *who = f->v->head == VIEW_HEAD_EACH ? "colour = head" : NULL;
    x += 0.3 * u;
    double rw = 4.5 * u;
    if (f->v->head == VIEW_HEAD_MEAN) {
        for (int k = 0; k < 24; k++) {
            Rgba c = scene_theme_ramp(th, (k + 0.5) / 24);
            scene_set_rgba(cr, c);
            cairo_rectangle(cr, x + rw * k / 24, y + sw * 0.2, rw / 24 + 0.5, sw * 0.6);
            cairo_fill(cr);
        }
    } else {
        Rgba c = scene_theme_head_colour(th, f->v->head >= 0 ? f->v->head : 0);
        cairo_pattern_t *g = cairo_pattern_create_linear(x, 0, x + rw, 0);
        cairo_pattern_add_color_stop_rgba(g, 0, c.r, c.g, c.b, 0.15);
        cairo_pattern_add_color_stop_rgba(g, 1, c.r, c.g, c.b, 1);
        cairo_set_source(cr, g);
        cairo_rectangle(cr, x, y + sw * 0.2, rw, sw * 0.6);
        cairo_fill(cr);
        cairo_pattern_destroy(g);
    }
    x += rw + 0.35 * u;
    snprintf(buf, sizeof buf, "attention weight%s%s \xc2\xb7 beams < %.0f%% not drawn",
             who ? ", " : "", who ? who : "", 100.0 * f->v->beam_threshold);
    scene_text_draw(&f->tx, x, y + (sw - size * 1.2) / 2, size, false, ALIGN_LEFT, r.x + r.w - x,
              th->text_dim, buf);
}

// ----------------------------------------------------------------------------------------------
// Caption, notice, tooltip, help

void scene_draw_caption(Frame *f) {
    SceneRect r = f->lay->caption;
    if (r.h <= 0) return;
    const Theme *th = f->th;
    double u = f->u;
    box(f, r, th->panel, th->accent);
    double y = r.y + 0.5 * u;
    if (f->v->caption_title && *f->v->caption_title) {
        scene_text_draw(&f->tx, r.x + 0.9 * u, y, 1.3 * u, true, ALIGN_LEFT, r.w - 1.8 * u,
                        th->text, f->v->caption_title);
        y += 1.9 * u;
    }
    if (f->v->caption_text && *f->v->caption_text)
        scene_text_draw_wrapped(&f->tx, r.x + 0.9 * u, y, 0.95 * u, false, r.w - 1.8 * u,
                                f->lay->caption_lines, th->text_dim,
                                f->v->caption_text);
}

static void draw_tooltip(Frame *f) {
    const View *v = f->v;
    const SceneLayout *L = f->lay;
    const Session *s = f->s;
    int i = v->hover;
    if (i < 0 || i >= s->n_tokens) return;
    double u = f->u;
    double ax, ay;
    if (!scene_token_anchor(L, i, &ax, &ay)) return;
    char tok[96], l1[160], l2[160];
    scene_token_display(s, i, tok, sizeof tok);
    snprintf(l1, sizeof l1, "\xe2\x80\x9c%s\xe2\x80\x9d  id %d  position %d%s", tok, s->tokens[i],
             i, i < s->n_prompt ? "  (prompt)" : "");
    if (L->head_pos >= 0 && i <= L->head_pos) {
        // Say whose attention: the number is a mean unless one layer and one head are shown.
        char who[48];
        int nl = s->model->cfg.n_layers;
        bool one_layer = v->layer >= 0 && v->layer < nl, one_head = v->head >= 0;
        if (one_layer && one_head)
            snprintf(who, sizeof who, "layer %d, head %d", v->layer + 1, v->head + 1);
        else if (one_layer)
            snprintf(who, sizeof who, "layer %d, mean of heads", v->layer + 1);
        else if (one_head)
            snprintf(who, sizeof who, "mean of layers, head %d", v->head + 1);
        else
            snprintf(who, sizeof who, "mean of layers and heads");
        snprintf(l2, sizeof l2, "attention from the write head: %.3f (%s)",
                 (double)view_attention(s, v, L->head_pos, i), who);
    } else
        snprintf(l2, sizeof l2, "not attended yet");
    double w = fmax(scene_text_width(&f->tx, 0.8 * u, true, l1, NULL),
                    scene_text_width(&f->tx, 0.7 * u, false, l2, NULL)) + 1.4 * u;
    double h = 2.7 * u;
    double x = ax - w / 2, y = ay - h - 0.6 * u;
    // Inside the view's area (not over the side panel) while it fits there.
    double right = L->main.w >= w ? L->main.x + L->main.w : L->width - 0.5 * u;
    if (x + w > right) x = right - w;
    if (x < L->main.x) x = L->main.x;
    if (y < L->main.y) y = ay + 0.8 * u;
    box(f, (SceneRect){x, y, w, h}, f->th->bg, f->th->text_dim);
    scene_text_draw(&f->tx, x + 0.7 * u, y + 0.35 * u, 0.8 * u, true, ALIGN_LEFT, 0, f->th->text,
                    l1);
    scene_text_draw(&f->tx, x + 0.7 * u, y + 1.5 * u, 0.7 * u, false, ALIGN_LEFT, 0,
                    f->th->text_dim, l2);
}

// The window's keys and mouse, in two columns: the lines are the window's (View.help_rows).
static void draw_help(Frame *f) {
    const Theme *th = f->th;
    double u = f->u;
    const ViewHelpRow *help_rows = f->v->help_rows;
    int n = help_rows ? f->v->n_help_rows : 0;
    int rows = (n + 1) / 2;
    // Columns as wide as their widest entry, so nothing is cut; the type shrinks only when the
    // two columns do not fit the picture.
    double size = 0.85 * u, kw = 0, dw = 0;
    for (int k = 0; k < n; k++) {
        kw = fmax(kw, scene_text_width(&f->tx, size, true, help_rows[k].keys, NULL));
        dw = fmax(dw, scene_text_width(&f->tx, size, false, help_rows[k].text, NULL));
    }
    double gap = 0.8 * u, col_gap = 2.5 * u, pad = 1.5 * u;
    double w = 2 * (kw + gap + dw) + col_gap + 2 * pad;
    double max_w = f->lay->width - 2 * u;
    double k_shrink = w > max_w ? max_w / w : 1;
    size *= k_shrink, kw *= k_shrink, dw *= k_shrink, gap *= k_shrink, col_gap *= k_shrink;
    pad *= k_shrink;
    w = fmin(w, max_w);
    double rh = 1.7 * size;
    double h = rows * rh + 4.2 * u;
    double x = (f->lay->width - w) / 2, y = (f->lay->height - h) / 2;
    cairo_set_source_rgba(f->cr, 0, 0, 0, th->dark ? 0.5 : 0.3);
    cairo_paint(f->cr);
    box(f, (SceneRect){x, y, w, h}, th->panel, th->accent);
    scene_text_draw(&f->tx, x + w / 2, y + 0.7 * u, 1.3 * u, true, ALIGN_CENTER, 0, th->text,
              "Keys");
    double cw = kw + gap + dw + col_gap;
    for (int k = 0; k < n; k++) {
        double cx = x + pad + (k / rows) * cw, cy = y + 3 * u + (k % rows) * rh;
        scene_text_draw(&f->tx, cx + kw, cy, size, true, ALIGN_RIGHT, 0, th->accent,
                        help_rows[k].keys);
        scene_text_draw(&f->tx, cx + kw + gap, cy, size, false, ALIGN_LEFT, dw + 0.5 * gap,
                        th->text, help_rows[k].text);
    }
}

void scene_draw_overlays(Frame *f) {
    const View *v = f->v;
    const SceneLayout *L = f->lay;
    double u = f->u;
    if (v->status && *v->status)
        scene_text_draw(&f->tx, L->main.x + L->main.w, L->main.y, 0.65 * u, false, ALIGN_RIGHT,
                  L->main.w * 0.5, f->th->text_faint, v->status);
    draw_tooltip(f);
    if (v->notice && *v->notice) {
        double w = fmin(scene_text_width(&f->tx, 0.9 * u, true, v->notice, NULL) + 2 * u,
                        L->main.w - u);
        double x = L->main.x + (L->main.w - w) / 2, y = L->main.y + 0.6 * u;
        box(f, (SceneRect){x, y, w, 2.0 * u}, f->th->bg, f->th->head);
        scene_text_draw(&f->tx, x + w / 2, y + 0.4 * u, 0.9 * u, true, ALIGN_CENTER, w - u,
                  f->th->text, v->notice);
    }
    if (v->help) draw_help(f);
}
