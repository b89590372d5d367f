// panels.c — everything around the view: the phase banner and pipeline strip, the counters,
// the cumulative-FLOPs chart, the next-token panel, the legend, lesson captions, notices, the
// hover tooltip and the help overlay.
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static void round_rect(cairo_t *cr, double x, double y, double w, double h, double r) {
    if (r > w / 2)
        r = w / 2;
    if (r > h / 2)
        r = h / 2;
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

static CacheMode shown_mode(const Frame *f) {
    return f->r ? f->r->mode : f->s->mode;
}

// ----------------------------------------------------------------------------------------------
// Top bar: phase banner, pipeline strip, mode badge

static const char *const stage_names[] = {"token",       "id",     "embedding", "blocks",
                                          "unembedding", "logits", "sample"};
#define N_STAGES 7

void scene_draw_top_bar(Frame *f) {
    const SceneRect t = f->lay->top;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    double u = f->u;
    double big = SCENE_BIG_FONT * u, small = SCENE_MIN_FONT * u;
    char buf[80];
    bool on = shown_mode(f) == CACHE_MODE_ON;

    // Phase banner
    const char *phase = !f->r ? "READY" : f->r->phase == PHASE_PREFILL ? "PREFILL" : "DECODE";
    SceneRect pb = {t.x, t.y, 17 * u, t.h};
    Rgba pc = !f->r ? th->text_dim : f->r->phase == PHASE_PREFILL ? th->pinned : th->accent;
    box(f, pb, th->panel, pc);
    scene_text_on(&f->tx, th->panel);
    scene_text_draw(&f->tx, pb.x + pb.w / 2, pb.y + 0.15 * u, big, true, ALIGN_CENTER, pb.w - u, pc,
                    phase);
    if (!f->r)
        snprintf(buf, sizeof buf, "%d prompt tokens waiting", f->s->n_prompt);
    else if (f->r->phase == PHASE_PREFILL)
        snprintf(buf, sizeof buf, "%d prompt tokens in one pass", f->r->pos + 1);
    else if (f->r->mode == CACHE_MODE_ON)
        snprintf(buf, sizeof buf, "one new token, position %d", f->r->pos);
    else
        snprintf(buf, sizeof buf, "all %d positions recomputed", f->r->pos + 1);
    scene_text_draw(&f->tx, pb.x + pb.w / 2, pb.y + 0.2 * u + 1.2 * big, small, false, ALIGN_CENTER,
                    pb.w - 0.5 * u, th->text_dim, buf);

    // Mode badge
    SceneRect mb = {t.x + t.w - 15 * u, t.y, 15 * u, t.h};
    Rgba mc = on ? th->cache_on : th->cache_off;
    round_rect(cr, mb.x, mb.y, mb.w, mb.h, 0.35 * u);
    scene_set_rgba(cr, mc);
    cairo_fill(cr);
    scene_text_on(&f->tx, mc);
    scene_text_role(&f->tx, SCENE_TEXT_COUNTER);
    scene_text_draw(&f->tx, mb.x + mb.w / 2, mb.y + 0.15 * u, big, true, ALIGN_CENTER, mb.w - u,
                    th->badge_text, on ? "KV CACHE ON" : "NO CACHE");
    scene_text_role(&f->tx, SCENE_TEXT_LABEL);
    if (f->r && f->s->mode != f->r->mode)
        snprintf(buf, sizeof buf, "next step: %s",
                 f->s->mode == CACHE_MODE_ON ? "cache on" : "cache off");
    else
        snprintf(buf, sizeof buf, on ? "keys and values kept" : "everything recomputed");
    scene_text_draw(&f->tx, mb.x + mb.w / 2, mb.y + 0.2 * u + 1.2 * big, small, false, ALIGN_CENTER,
                    mb.w - 0.5 * u, th->badge_text, buf);

    // Pipeline strip: the stage being worked on is lit while the step animates. Each stage as
    // wide as its name at the smallest type and the room left shared out, so that the strip
    // fits at 16:9 (and wider) in both layouts; hidden only where it cannot fit whole.
    double x0 = pb.x + pb.w + 0.8 * u, x1 = mb.x - 0.8 * u;
    double gap = 0.9 * u, pad = 0.6 * u;
    char blocks[32];
    snprintf(blocks, sizeof blocks, "%d blocks", f->s->model->cfg.n_layers);
    const char *names[N_STAGES];
    double nw[N_STAGES], need = gap * (N_STAGES - 1);
    for (int i = 0; i < N_STAGES; i++) {
        names[i] = i == 3 ? blocks : stage_names[i];
        nw[i] = fmax(scene_text_width(&f->tx, small, true, names[i], NULL) + pad, 2.5 * u);
        need += nw[i];
    }
    if (need > x1 - x0)
        return;
    double extra = fmin((x1 - x0 - need) / N_STAGES, 3 * u);
    double x = x0 + (x1 - x0 - need - extra * N_STAGES) / 2; // centred between banner and badge
    int lit = !f->r ? -1 : scene_anim_stage(f->t, N_STAGES);
    double bh = 1.9 * u, by = t.y + (t.h - bh) / 2;
    for (int i = 0; i < N_STAGES; i++) {
        double sw = nw[i] + extra;
        bool done = f->r && i < lit;
        Rgba fill = i == lit ? th->stage_on : done ? th->stage_done : th->stage_off;
        round_rect(cr, x, by, sw, bh, 0.3 * u);
        scene_set_rgba(cr, fill);
        cairo_fill(cr);
        Rgba tc = i == lit ? th->stage_on_text : th->text;
        scene_text_on(&f->tx, fill);
        scene_text_draw(&f->tx, x + sw / 2, by + (bh - 1.17 * small) / 2, small, i == lit,
                        ALIGN_CENTER, sw - 0.2 * u, tc, names[i]);
        if (i + 1 < N_STAGES) {
            double ax = x + sw + gap * 0.25, ay = by + bh / 2;
            scene_set_rgba(cr, th->text_dim);
            cairo_move_to(cr, ax, ay - 0.25 * u);
            cairo_line_to(cr, ax + gap * 0.5, ay);
            cairo_line_to(cr, ax, ay + 0.25 * u);
            cairo_close_path(cr);
            cairo_fill(cr);
        }
        x += sw + gap;
    }
    scene_text_on(&f->tx, th->bg);
}

// ----------------------------------------------------------------------------------------------
// Counters

static double section_title(Frame *f, SceneRect r, const char *title, const char *right) {
    double u = f->u, size = SCENE_MIN_FONT * u;
    scene_text_on(&f->tx, f->th->panel);
    double tw = scene_text_draw(&f->tx, r.x + 0.6 * u, r.y + 0.35 * u, size, true, ALIGN_LEFT, 0,
                                f->th->text_dim, title);
    if (right)
        scene_text_draw(&f->tx, r.x + r.w - 0.6 * u, r.y + 0.35 * u, size, false, ALIGN_RIGHT,
                        r.w - tw - 2 * u, f->th->text_dim, right);
    return r.y + 0.5 * u + 1.25 * size;
}

// KL(p_full || p) over the steps so far, as a small line (the last measured steps that fit, a
// dot where top-1 differed), beside the drift row of the counters.
static void drift_spark(Frame *f, double x, double y, double w, double h) {
    const Session *s = f->s;
    const int n = s->cursor, keep = 48, first = n > keep ? n - keep : 0;
    double mx = 0;
    for (int i = first; i < n; i++)
        if (s->steps[i].drift_measured && s->steps[i].kl_full > mx)
            mx = s->steps[i].kl_full;
    if (mx <= 0)
        return;
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
        if (pen)
            cairo_line_to(cr, px, py);
        else
            cairo_move_to(cr, px, py);
        pen = true;
    }
    cairo_stroke(cr);
    scene_set_rgba(cr, f->th->cache_off);
    for (int i = first; i < n; i++) {
        const StepRecord *r = &s->steps[i];
        if (!r->drift_measured || r->top1_agree)
            continue;
        cairo_arc(cr, x + w * (i - first) / (double)(keep - 1), y + h - h * r->kl_full / mx,
                  fmax(1.5, 0.1 * f->u), 0, 2 * M_PI);
        cairo_fill(cr);
    }
}

// Height of the counters box of the layout (big rows and small rows).
static double counters_height(Frame *f, int *n_small) {
    double u = f->u;
    // always: length / context and cache growth; the drift from the full cache when measured;
    // then the detail layout's four rows, or the verify row
    const bool detail = f->v->layout == VIEW_LAYOUT_DETAIL;
    const bool extra = f->r && (kv_kind_budget(f->r->kind) > 0 || f->r->kv != KV_PRECISION_F32);
    *n_small = 2 + extra + (f->r && f->r->drift_measured) + (detail ? 4 : f->s->verify ? 1 : 0);
    return 0.5 * u + 1.25 * SCENE_MIN_FONT * u + 4 * 2.1 * u + *n_small * 1.5 * u + 0.4 * u;
}

static void draw_counters(Frame *f, SceneRect r, int n_small) {
    const Theme *th = f->th;
    const Session *s = f->s;
    const StepRecord *rec = f->r;
    const ModelConfig *cfg = &s->model->cfg;
    double u = f->u;
    box(f, r, th->panel, th->panel_edge);
    double y = section_title(f, r, "COUNTERS", NULL);
    char v1[48], v2[48], line[160];
    double big = SCENE_BIG_FONT * u, small = SCENE_MIN_FONT * u;
    double xl = r.x + 0.6 * u, xr = r.x + r.w - 0.6 * u;

    // A must-read row: the label small, the value big; a detail row: both small.
#define ROW(label, value, colour, is_big)                                                          \
    do {                                                                                           \
        double rh_ = (is_big) ? 2.1 * u : 1.5 * u, vs_ = (is_big) ? big : small;                   \
        /* the label may use what its value leaves, at least half the row */                       \
        double vw_ = scene_text_width(&f->tx, vs_, true, value, NULL);                             \
        double lw_ =                                                                               \
            scene_text_draw(&f->tx, xl, y + (rh_ - 1.17 * small) / 2, small, false, ALIGN_LEFT,    \
                            fmax(r.w * 0.5, xr - xl - vw_ - 0.6 * u), th->text_dim, label);        \
        if (is_big)                                                                                \
            scene_text_role(&f->tx, SCENE_TEXT_COUNTER);                                           \
        scene_text_draw(&f->tx, xr, y + (rh_ - 1.17 * vs_) / 2, vs_, true, ALIGN_RIGHT,            \
                        xr - xl - lw_ - 0.6 * u, colour, value);                                   \
        scene_text_role(&f->tx, SCENE_TEXT_LABEL);                                                 \
        y += rh_;                                                                                  \
    } while (0)

    bool on = shown_mode(f) == CACHE_MODE_ON;
    // a retention policy: its name with the mode (resident / budget bytes below)
    const KvCacheKind kind = rec ? rec->kind : s->cache_kind;
    const int budget = on ? kv_kind_budget(kind) : 0;
    char policy[48];
    kv_retention_name(kind, policy, sizeof policy);
    // with a bounded policy its name is the mode (the badge above says the cache is on)
    ROW("mode", on ? (budget ? policy : "KV CACHE ON") : "NO CACHE",
        on ? th->cache_on : th->cache_off, true);
    if (rec) {
        kv_format_number(v1, sizeof v1, (double)counters_flops(&rec->counted), KV_NUM_SI, "FLOP");
        ROW("FLOPs this step", v1, th->text, true);
        kv_format_bytes(v1, sizeof v1, rec->kv_bytes_resident);
        ROW(on ? "cache memory" : "cache memory (off)", v1, th->text, true);
        if (budget) { // a policy that evicts, in the precision its rows are stored in
            kv_format_bytes(v2, sizeof v2,
                            (uint64_t)budget * config_kv_bytes_precision(cfg, rec->kv, 1));
            if (rec->kv == KV_PRECISION_F32)
                snprintf(line, sizeof line, "%s (%d positions)", v2, budget);
            else
                snprintf(line, sizeof line, "%s (%d, %s)", v2, budget, kv_precision_name(rec->kv));
            ROW("cache budget", line, th->text, false);
        } else if (rec->kv != KV_PRECISION_F32) { // resident bytes against what f32 would need
            kv_format_bytes(v2, sizeof v2, rec->kv_bytes_f32);
            snprintf(line, sizeof line, "%s (f32: %s)", kv_precision_name(rec->kv), v2);
            ROW("stored as", line, th->text, false);
        }
        double ms = rec->step_ns / 1e6;
        snprintf(line, sizeof line, ms >= 100 ? "%.0f ms" : ms >= 10 ? "%.1f ms" : "%.2f ms", ms);
        ROW("step time (measured)", line, th->text, true);
    } else {
        ROW("FLOPs this step", "\xe2\x80\x94", th->text_dim, true);
        ROW("cache memory", "0 B", th->text, true);
        ROW("step time (measured)", "\xe2\x80\x94", th->text_dim, true);
    }
    // Detail rows.
    snprintf(line, sizeof line, "%d / %d tokens", s->n_tokens, cfg->seq_len);
    ROW("length / context", line, th->text, false);
    // what one more token costs the cache as it stores it (precision and kv heads), from the
    // cache itself (the shown step's, or the session's cache before a step)
    kv_format_bytes(v2, sizeof v2,
                    rec ? rec->kv_bytes_per_token : kvcache_bytes_per_position(&s->eng.cache));
    snprintf(line, sizeof line, on ? "%s per token" : "none kept", v2);
    ROW("cache growth", line, th->text, false);
    const bool detail = f->v->layout == VIEW_LAYOUT_DETAIL;
    if (rec && rec->drift_measured) { // against the full f32 cache on the same tokens
        snprintf(line, sizeof line, "KL %.2g \xc2\xb7 top-1 %s", (double)rec->kl_full,
                 rec->top1_agree ? "same" : "differs");
        drift_spark(f, xl + 7.7 * u, y + 1.5 * u * 0.15, 1.9 * u, 1.5 * u * 0.7);
        ROW("drift from full", line, rec->top1_agree ? th->text : th->cache_off, false);
    }
    if (!detail && s->verify) {
        if (rec && rec->max_logit_diff >= 0)
            snprintf(line, sizeof line, "%.2g", (double)rec->max_logit_diff);
        else
            snprintf(line, sizeof line, "from the next step");
        ROW("max logit diff, cache vs none", line, th->text, false);
    }
    if (detail) {
        snprintf(line, sizeof line, "%d", s->cursor);
        ROW("step", line, th->text, false);
        if (rec) {
            kv_format_number(v1, sizeof v1, (double)counters_flops(&rec->total), KV_NUM_SI, "FLOP");
            ROW("FLOPs total", v1, th->text, false);
            double nocache = (double)flops_formula_run(cfg, false, s->n_prompt, s->cursor);
            double saved = nocache - (double)counters_flops(&rec->total);
            kv_format_number(v1, sizeof v1, saved, KV_NUM_SI, "FLOP");
            snprintf(line, sizeof line, "%s (%.0f%%)", v1, nocache > 0 ? 100 * saved / nocache : 0);
            ROW(on ? "saved by the cache so far" : "saved so far (cache off now)", line,
                on && saved > 0 ? th->cache_on : th->text, false);
            if (rec->max_logit_diff >= 0)
                snprintf(line, sizeof line, "%.2g", (double)rec->max_logit_diff);
            else
                snprintf(line, sizeof line, "not measured (M)");
            ROW("max logit diff, cache vs none", line, th->text, false);
        } else {
            ROW("FLOPs total", "0 FLOP", th->text, false);
            ROW("saved by the cache so far", "\xe2\x80\x94", th->text_dim, false);
        }
    }
#undef ROW
}

// ----------------------------------------------------------------------------------------------
// Chart: cumulative FLOPs against step, measured history and the two closed forms

typedef enum { CHART_CUMULATIVE, CHART_PER_STEP, CHART_MEMORY } ChartKind;

// What a chart plots after `steps` steps (1 = the prefill): by the closed forms, in each mode.
static double chart_formula(const Session *s, ChartKind k, bool cache, int steps) {
    const ModelConfig *cfg = &s->model->cfg;
    int np = s->n_prompt;
    switch (k) {
    case CHART_CUMULATIVE:
        return (double)flops_formula_run(cfg, cache, np, steps);
    case CHART_PER_STEP:
        return (double)flops_formula_run(cfg, cache, np, steps) -
               (steps > 1 ? (double)flops_formula_run(cfg, cache, np, steps - 1) : 0);
    default:
        return cache ? (double)config_kv_bytes_per_token(cfg) * (np + steps - 1) : 0;
    }
}

// ... and as measured by the step that was taken.
static double chart_measured(const StepRecord *rec, ChartKind k) {
    switch (k) {
    case CHART_CUMULATIVE:
        return (double)counters_flops(&rec->total);
    case CHART_PER_STEP:
        return (double)counters_flops(&rec->counted);
    default:
        return (double)rec->kv_bytes_resident;
    }
}

// One chart against sequence length (the tokens the step read, prompt + steps), both modes
// by formula (dashed) and the run as measured (solid, in each step's mode). The axes are fixed
// for the run: x from the prompt to the model's context, y to the largest formula value over
// the context, so nothing moves while the class watches. x_labels: the bottom chart's.
static void draw_series(Frame *f, SceneRect r, ChartKind kind, const char *title, bool x_labels) {
    const Theme *th = f->th;
    const Session *s = f->s;
    const ModelConfig *cfg = &s->model->cfg;
    cairo_t *cr = f->cr;
    double u = f->u, small = SCENE_MIN_FONT * u;
    int cur = s->cursor;
    int x_lo = s->n_prompt, x_hi = cfg->seq_len > x_lo + 1 ? cfg->seq_len : x_lo + 1;
    // Steps the context holds: the prefill, then one per position up to the last, whose
    // token is the context's last.
    int xmax = x_hi - x_lo + 1;
    bool per_step = kind == CHART_PER_STEP;
    int first = per_step ? 2 : 1; // the per-step chart starts at the first decode step
    // y from the closed forms alone (no cache is the larger): a measured value above them (a
    // run past the context under a policy) is cut at the top, never a reason to rescale.
    double ymax = 0;
    for (int m = 0; m < 2; m++)
        ymax = fmax(ymax, chart_formula(s, kind, m == 0, xmax));
    if (ymax <= 0)
        ymax = 1;
    char buf[64], top[48];
    if (kind == CHART_MEMORY)
        kv_format_bytes(top, sizeof top, (size_t)ymax);
    else
        kv_format_number(top, sizeof top, ymax, KV_NUM_SI, "FLOP");
    snprintf(buf, sizeof buf, "%s (0 \xe2\x80\x93 %s)", title, top);
    scene_text_on(&f->tx, th->panel);
    scene_text_draw(&f->tx, r.x + 0.6 * u, r.y, small, true, ALIGN_LEFT, r.w - 1.2 * u,
                    th->text_dim, buf);
    double y0 = r.y + 1.3 * small;
    SceneRect p = {r.x + 0.8 * u, y0 + 0.2 * u, r.w - 1.6 * u,
                   r.y + r.h - y0 - 0.3 * u - (x_labels ? 1.3 * small : 0)};
    if (p.h < 1.5 * u || p.w < 4 * u)
        return;
#define PX(i) (p.x + p.w * ((double)(i) - (first - 1)) / (xmax > first ? xmax - first : 1))
#define PY(v) (p.y + p.h * (1 - (v) / ymax))
    scene_set_rgba(cr, th->grid);
    cairo_set_line_width(cr, fmax(1, 0.05 * u));
    for (int k = 0; k <= 2; k++) {
        cairo_move_to(cr, p.x, p.y + p.h * k / 2);
        cairo_line_to(cr, p.x + p.w, p.y + p.h * k / 2);
    }
    cairo_stroke(cr);
    if (x_labels) {
        snprintf(buf, sizeof buf, "%d tokens", x_lo + first);
        scene_text_draw(&f->tx, p.x, p.y + p.h + 0.1 * u, small, false, ALIGN_LEFT, 0, th->text_dim,
                        buf);
        snprintf(buf, sizeof buf, "%d tokens", x_hi);
        scene_text_draw(&f->tx, p.x + p.w, p.y + p.h + 0.1 * u, small, false, ALIGN_RIGHT, 0,
                        th->text_dim, buf);
    }
    cairo_save(cr); // what lies above the fixed axis is cut there
    cairo_rectangle(cr, p.x - 0.4 * u, p.y - 0.4 * u, p.w + 0.8 * u, p.h + 0.8 * u);
    cairo_clip(cr);
    // Closed forms, dashed.
    int samples = xmax < 64 ? xmax : 64;
    double dash[] = {0.45 * u, 0.3 * u};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_line_width(cr, fmax(1.5, 0.12 * u));
    for (int mode = 0; mode < 2; mode++) {
        bool cache = mode == 0;
        for (int k = 0; k <= samples; k++) {
            int i = first + (int)((double)k * (xmax - first) / (samples > 0 ? samples : 1) + 0.5);
            double v = chart_formula(s, kind, cache, i);
            if (k == 0)
                cairo_move_to(cr, PX(i - 1), PY(v));
            else
                cairo_line_to(cr, PX(i - 1), PY(v));
        }
        scene_set_rgba_a(cr, cache ? th->cache_on : th->cache_off, 0.8);
        cairo_stroke(cr);
    }
    cairo_set_dash(cr, NULL, 0, 0);
    // The run as measured, one segment per step in the colour of that step's mode; the steps
    // of one mode in a row are one path, stroked once (a stroke per step cost milliseconds).
    cairo_set_line_width(cr, fmax(2, 0.2 * u));
    for (int i = first - 1; i < cur && i < xmax; i++) {
        const StepRecord *rec = &s->steps[i];
        double v = chart_measured(rec, kind);
        double pv = i > first - 1 ? chart_measured(&s->steps[i - 1], kind) : v;
        if (i == first - 1 || s->steps[i - 1].mode != rec->mode)
            cairo_move_to(cr, PX(i > first - 1 ? i - 1 : i), PY(pv));
        cairo_line_to(cr, PX(i), PY(v));
        if (i + 1 == cur || i + 1 == xmax || s->steps[i + 1].mode != rec->mode) {
            scene_set_rgba(cr, rec->mode == CACHE_MODE_ON ? th->cache_on : th->cache_off);
            cairo_stroke(cr);
        }
    }
    if (cur >= first && cur - 1 < xmax) {
        double v = chart_measured(&s->steps[cur - 1], kind);
        scene_set_rgba(cr, th->head);
        cairo_arc(cr, PX(cur - 1), PY(v), 0.28 * u, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    cairo_restore(cr);
#undef PX
#undef PY
}

static void draw_chart(Frame *f, SceneRect r) {
    const Theme *th = f->th;
    double u = f->u, small = SCENE_MIN_FONT * u;
    box(f, r, th->panel, th->panel_edge);
    if (scene_drift_shown(f->s) && f->v->layout == VIEW_LAYOUT_DETAIL) {
        // the detail layout's counters leave room for one chart: the drift, the whole box
        scene_draw_drift_chart(f, (SceneRect){r.x, r.y + 0.3 * u, r.w, r.h - 0.5 * u}, true);
        return;
    }
    // The key: which line is which.
    scene_text_on(&f->tx, th->panel);
    double x = r.x + 0.6 * u, y = r.y + 0.3 * u;
    x += scene_text_draw(&f->tx, x, y, small, true, ALIGN_LEFT, 0, th->cache_on_text,
                         "\xe2\x80\x94 cache") +
         0.8 * u;
    x += scene_text_draw(&f->tx, x, y, small, true, ALIGN_LEFT, 0, th->cache_off_text,
                         "\xe2\x80\x94 no cache") +
         0.8 * u;
    scene_text_draw(&f->tx, x, y, small, false, ALIGN_LEFT, r.x + r.w - 0.6 * u - x, th->text_dim,
                    "dashed: formula");
    // Three plots of one height; the bottom one's x labels under it.
    double top = y + 1.4 * small, lab = 1.3 * small, h = (r.y + r.h - top - lab) / 3;
    if (scene_drift_shown(f->s)) { // a bounded or quantized cache: its drift from the full cache,
        // in the middle, taller (FLOPs per step give way), with its own steps axis
        const double a = 0.27 * (r.y + r.h - top - lab), d = r.y + r.h - top - lab - 2 * a;
        draw_series(f, (SceneRect){r.x, top, r.w, a}, CHART_CUMULATIVE, "FLOPs so far", false);
        scene_draw_drift_chart(f, (SceneRect){r.x, top + a, r.w, d}, true);
        draw_series(f, (SceneRect){r.x, top + a + d, r.w, a + lab}, CHART_MEMORY, "cache memory",
                    true);
        return;
    }
    draw_series(f, (SceneRect){r.x, top, r.w, h}, CHART_CUMULATIVE, "FLOPs so far", false);
    draw_series(f, (SceneRect){r.x, top + h, r.w, h}, CHART_PER_STEP, "FLOPs per step", false);
    draw_series(f, (SceneRect){r.x, top + 2 * h, r.w, h + lab}, CHART_MEMORY, "cache memory", true);
}

// ----------------------------------------------------------------------------------------------
// Next-token candidates

static void draw_next_token(Frame *f, SceneRect r) {
    const Theme *th = f->th;
    const StepRecord *rec = f->r;
    cairo_t *cr = f->cr;
    double u = f->u, small = SCENE_MIN_FONT * u;
    box(f, r, th->panel, th->panel_edge);
    char sampler[96], buf[96], pct[24];
    // The sampler as it acts: top-k and top-p only when they cut something (not at T = 0).
    SamplerSettings ss = f->s->settings;
    float temp = rec ? rec->temperature : ss.temperature;
    if (temp <= 0) {
        snprintf(sampler, sizeof sampler, "T 0: the most probable");
    } else {
        int o = snprintf(sampler, sizeof sampler, "T %.2f", (double)temp);
        if (ss.top_k > 0 && o > 0 && o < (int)sizeof sampler)
            o += snprintf(sampler + o, sizeof sampler - (size_t)o, ", top-k %d", ss.top_k);
        if (ss.top_p > 0 && ss.top_p < 1 && o > 0 && o < (int)sizeof sampler)
            snprintf(sampler + o, sizeof sampler - (size_t)o, ", top-p %.2f", (double)ss.top_p);
    }
    double y = section_title(f, r, "NEXT TOKEN", sampler);
    scene_text_on(&f->tx, th->panel);
    if (!rec) {
        scene_text_draw(&f->tx, r.x + 0.6 * u, y, small, false, ALIGN_LEFT, r.w - 1.2 * u,
                        th->text_dim, "no step yet");
        return;
    }
    double row_h = 1.55 * u;
    int rows = (int)((r.y + r.h - 0.2 * u - y) / row_h);
    int n = rows < rec->n_top ? rows : rec->n_top;
    if (n > 5)
        n = 5;
    // A sampled token outside the rows shown keeps the last row: "chosen: ...".
    bool in_rows = false;
    for (int k = 0; k < n; k++)
        in_rows = in_rows || rec->top[k].id == rec->token_id;
    if (!in_rows && n > 1 && n >= rows)
        n--;
    double tw = r.w * 0.34, bx = r.x + 0.6 * u + tw + 0.4 * u;
    double pw = scene_text_width(&f->tx, small, true, "100.0%", NULL);
    double bw = r.x + r.w - 0.9 * u - pw - bx;
    int prev = rec->pos >= 0 && rec->pos < f->s->n_tokens ? f->s->tokens[rec->pos] : -1;
    for (int k = 0; k < n; k++) {
        const Candidate *c = &rec->top[k];
        bool chosen = c->id == rec->token_id;
        double ry = y + k * row_h;
        Rgba under = th->panel;
        if (chosen) {
            Rgba hl = th->new_token;
            hl.a = 0.18;
            round_rect(cr, r.x + 0.25 * u, ry, r.w - 0.5 * u, row_h * 0.95, 0.25 * u);
            scene_set_rgba(cr, hl);
            cairo_fill(cr);
            under = scene_rgba_over(hl, th->panel);
        }
        scene_text_on(&f->tx, under);
        scene_candidate_display(f->s, prev, c->id, buf, sizeof buf);
        scene_text_tokens(&f->tx, true);
        scene_text_term(&f->tx, "candidate");
        scene_text_draw(&f->tx, r.x + 0.6 * u, ry + (row_h - 1.17 * small) / 2, small, chosen,
                        ALIGN_LEFT, tw, chosen ? th->head_text : th->text, buf);
        scene_text_tokens(&f->tx, false);
        scene_text_term(&f->tx, NULL);
        double bar = bw * (c->prob > 0 ? c->prob : 0);
        scene_set_rgba(cr, th->grid);
        cairo_rectangle(cr, bx, ry + row_h * 0.3, bw, row_h * 0.4);
        cairo_fill(cr);
        scene_set_rgba(cr, chosen ? th->new_token : th->accent);
        cairo_rectangle(cr, bx, ry + row_h * 0.3, bar, row_h * 0.4);
        cairo_fill(cr);
        snprintf(pct, sizeof pct, "%.1f%%", 100.0 * c->prob);
        scene_text_draw(&f->tx, r.x + r.w - 0.6 * u, ry + (row_h - 1.17 * small) / 2, small, chosen,
                        ALIGN_RIGHT, 0, th->text_dim, pct);
    }
    scene_text_on(&f->tx, th->panel);
    bool listed = false;
    for (int k = 0; k < n; k++)
        listed = listed || rec->top[k].id == rec->token_id;
    if (!listed && y + (n + 1) * row_h <= r.y + r.h + 0.2 * u) {
        scene_candidate_display(f->s, prev, rec->token_id, buf, sizeof buf);
        char line[160];
        snprintf(line, sizeof line, "chosen: %s (outside the top %d)", buf, n);
        scene_text_tokens(&f->tx, true);
        scene_text_term(&f->tx, "candidate");
        scene_text_draw(&f->tx, r.x + 0.6 * u, y + n * row_h, small, false, ALIGN_LEFT,
                        r.w - 1.2 * u, th->head_text, line);
        scene_text_tokens(&f->tx, false);
        scene_text_term(&f->tx, NULL);
    }
}

void scene_draw_panel(Frame *f) {
    SceneRect p = f->lay->panel;
    double u = f->u, gap = 0.5 * u;
    int n_small;
    double ch = fmin(counters_height(f, &n_small), p.h * 0.5);
    double nh = fmin(0.5 * u + 1.25 * SCENE_MIN_FONT * u + 3 * 1.55 * u + 0.3 * u, p.h * 0.27);
    // The detail layout's two more candidates, where the charts keep room for all three plots.
    const double small = SCENE_MIN_FONT * u;
    const double chart_min =
        2 * gap + 1.4 * small + 0.6 * u + 3 * (1.3 * small + 2.2 * u) + 1.3 * small;
    if (f->v->layout == VIEW_LAYOUT_DETAIL)
        nh = fmax(nh, fmin(nh + 2 * 1.55 * u, p.h - ch - chart_min));
    SceneRect counters = {p.x, p.y, p.w, ch};
    SceneRect next = {p.x, p.y + p.h - nh, p.w, nh};
    SceneRect chart = {p.x, p.y + ch + gap, p.w, p.h - ch - nh - 2 * gap};
    draw_counters(f, counters, n_small);
    draw_chart(f, chart);
    draw_next_token(f, next);
    scene_text_on(&f->tx, f->th->bg);
}

// ----------------------------------------------------------------------------------------------
// Legend

void scene_draw_legend(Frame *f) {
    SceneRect r = f->lay->legend;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    double u = f->u;
    double size = SCENE_MIN_FONT * u, sw = 1.0 * u;
    double row_h = r.h / 2;
    double x = r.x, y = r.y + (row_h - sw) / 2;
    unsigned keys = scene_view(f->v->kind)->legend;
    scene_text_on(&f->tx, th->bg);
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
            x += sw + 0.3 * u;
            x += scene_text_draw(&f->tx, x, y + (sw - size * 1.17) / 2, size, false, ALIGN_LEFT, 0,
                                 th->text_dim, block_state_names[st]) +
                 0.8 * u;
        }
        x = r.x;
        y += row_h;
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
    if (!(keys & SCENE_LEGEND_BEAMS))
        return; // e.g. the heatmap has its own colour bar
    char buf[160];
    double rw = 4.5 * u;
    if (f->v->head == VIEW_HEAD_EACH) {
        // A key of head colours.
        int nh = f->s->model->cfg.n_heads;
        for (int h = 0; h < nh && x < r.x + r.w - 6 * u; h++) {
            Rgba c = scene_theme_head_colour(th, h);
            scene_set_rgba(cr, c);
            cairo_rectangle(cr, x, y + sw * 0.3, 1.2 * u, sw * 0.4);
            cairo_fill(cr);
            x += 1.4 * u;
            snprintf(buf, sizeof buf, "head %d", h + 1);
            x += scene_text_draw(&f->tx, x, y + (sw - size * 1.17) / 2, size, false, ALIGN_LEFT, 0,
                                 th->text_dim, buf) +
                 0.7 * u;
        }
    } else if (f->v->head == VIEW_HEAD_MEAN) {
        for (int k = 0; k < 24; k++) {
            Rgba c = scene_theme_ramp(th, (k + 0.5) / 24);
            scene_set_rgba(cr, c);
            double hh = sw * (0.2 + 0.6 * (k + 0.5) / 24); // stronger = thicker, as the beams
            cairo_rectangle(cr, x + rw * k / 24, y + (sw - hh) / 2, rw / 24 + 0.5, hh);
            cairo_fill(cr);
        }
        x += rw + 0.3 * u;
    } else {
        Rgba c = scene_theme_head_colour(th, f->v->head);
        cairo_pattern_t *g = cairo_pattern_create_linear(x, 0, x + rw, 0);
        cairo_pattern_add_color_stop_rgba(g, 0, c.r, c.g, c.b, 0.15);
        cairo_pattern_add_color_stop_rgba(g, 1, c.r, c.g, c.b, 1);
        cairo_set_source(cr, g);
        cairo_rectangle(cr, x, y + sw * 0.2, rw, sw * 0.6);
        cairo_fill(cr);
        cairo_pattern_destroy(g);
        x += rw + 0.3 * u;
    }
    double below = f->lay->head_pos >= 0 ? scene_beam_mass_below(f->s, f->v, f->lay->head_pos) : 0;
    snprintf(buf, sizeof buf,
             "%sattention weight (weak \xe2\x86\x92 strong) \xc2\xb7 beams under %.0f%% not drawn: "
             "%.0f%% of the attention",
             f->v->head == VIEW_HEAD_EACH ? "" : "", 100.0 * f->v->beam_threshold, 100 * below);
    if (f->v->head == VIEW_HEAD_EACH)
        snprintf(buf, sizeof buf, "beams under %.0f%% not drawn: %.0f%% of the attention",
                 100.0 * f->v->beam_threshold, 100 * below);
    scene_text_draw(&f->tx, x, y + (sw - size * 1.17) / 2, size, false, ALIGN_LEFT, r.x + r.w - x,
                    th->text_dim, buf);
}

// ----------------------------------------------------------------------------------------------
// Caption, notice, tooltip, help

void scene_draw_caption(Frame *f) {
    SceneRect r = f->lay->caption;
    if (r.h <= 0)
        return;
    const Theme *th = f->th;
    double u = f->u;
    box(f, r, th->panel, th->accent);
    scene_text_on(&f->tx, th->panel);
    double y = r.y + 0.4 * u;
    if (f->v->caption_title && *f->v->caption_title) {
        scene_text_role(&f->tx, SCENE_TEXT_CAPTION);
        scene_text_draw(&f->tx, r.x + 0.8 * u, y, SCENE_CAPTION_TITLE * u, true, ALIGN_LEFT,
                        r.w - 1.6 * u, th->text, f->v->caption_title);
        scene_text_role(&f->tx, SCENE_TEXT_LABEL);
        y += 1.25 * SCENE_CAPTION_TITLE * u;
    }
    scene_text_role(&f->tx, SCENE_TEXT_CAPTION);
    if (f->v->caption_text && *f->v->caption_text)
        scene_text_draw_wrapped(&f->tx, r.x + 0.8 * u, y, SCENE_CAPTION_FONT * u, false,
                                r.w - 1.6 * u, f->lay->caption_lines, th->text, f->v->caption_text);
    scene_text_role(&f->tx, SCENE_TEXT_LABEL);
    scene_text_on(&f->tx, th->bg);
}

static void draw_tooltip(Frame *f) {
    const View *v = f->v;
    const SceneLayout *L = f->lay;
    const Session *s = f->s;
    int i = v->hover;
    if (i < 0 || i >= s->n_tokens)
        return;
    double u = f->u;
    double ax, ay;
    if (!scene_token_anchor(L, i, &ax, &ay))
        return;
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
    double ts = SCENE_MIN_FONT * u;
    double w = fmax(scene_text_width(&f->tx, ts, true, l1, NULL),
                    scene_text_width(&f->tx, ts, false, l2, NULL)) +
               1.4 * u;
    double h = 0.9 * u + 2.4 * ts;
    double x = ax - w / 2, y = ay - h - 0.6 * u;
    // Inside the view's area (not over the side panel) while it fits there.
    double right = L->main.w >= w ? L->main.x + L->main.w : L->width - 0.5 * u;
    if (x + w > right)
        x = right - w;
    if (x < L->main.x)
        x = L->main.x;
    if (y < L->main.y)
        y = ay + 0.8 * u;
    box(f, (SceneRect){x, y, w, h}, f->th->bg, f->th->text_dim);
    scene_text_on(&f->tx, f->th->bg);
    scene_text_term(&f->tx, "token"); // the token, its id and its position
    scene_text_draw(&f->tx, x + 0.7 * u, y + 0.35 * u, ts, true, ALIGN_LEFT, 0, f->th->text, l1);
    scene_text_term(&f->tx, NULL);
    scene_text_draw(&f->tx, x + 0.7 * u, y + 0.45 * u + 1.2 * ts, ts, false, ALIGN_LEFT, 0,
                    f->th->text_dim, l2);
}

// The window's keys and mouse (View.help_rows), at the picture's smallest type and never
// smaller: in two columns where they fit side by side, else one; as many lines as the picture's
// height holds, and the rest on further pages (View.help_page).
typedef struct {
    double size, kw, dw, gap, col_gap, pad, rh, w, h;
    int cols, rows, pages; // rows: lines of one column on a page
} HelpGeom;

static void help_geometry(TextCtx *tc, const View *v, int width, int height, double u,
                          HelpGeom *g) {
    const ViewHelpRow *rows = v->help_rows;
    const int n = rows ? v->n_help_rows : 0;
    *g = (HelpGeom){.size = SCENE_MIN_FONT * u, .gap = 0.8 * u, .col_gap = 2.5 * u, .pad = 1.5 * u};
    for (int k = 0; k < n; k++) {
        g->kw = fmax(g->kw, scene_text_width(tc, g->size, true, rows[k].keys, NULL));
        g->dw = fmax(g->dw, scene_text_width(tc, g->size, false, rows[k].text, NULL));
    }
    const double max_w = width - 2 * u;
    g->cols = 2 * (g->kw + g->gap + g->dw) + g->col_gap + 2 * g->pad <= max_w ? 2 : 1;
    if (g->cols == 1 && g->kw + g->gap + g->dw + 2 * g->pad > max_w) // the texts are cut
        g->dw = fmax(0, max_w - 2 * g->pad - g->kw - g->gap);
    g->w = g->cols * (g->kw + g->gap + g->dw) + (g->cols - 1) * g->col_gap + 2 * g->pad;
    g->rh = 1.7 * g->size;
    const double chrome = 4.2 * u; // the title above the lines, a margin under them
    int fit = (int)((height - 2 * u - chrome) / g->rh);
    fit = fit < 1 ? 1 : fit;
    int per_col = (n + g->cols - 1) / g->cols;
    g->rows = per_col < fit ? per_col : fit;
    int per_page = g->rows * g->cols;
    g->pages = n > 0 && per_page > 0 ? (n + per_page - 1) / per_page : 1;
    g->h = g->rows * g->rh + chrome;
}

int scene_help_pages(const View *v, int width, int height) {
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(img);
    TextCtx tc;
    scene_text_begin(&tc, cr, NULL);
    HelpGeom g;
    help_geometry(&tc, v, width, height, scene_unit(width, height), &g);
    scene_text_end(&tc);
    cairo_destroy(cr);
    cairo_surface_destroy(img);
    return g.pages;
}

static void draw_help(Frame *f) {
    const Theme *th = f->th;
    double u = f->u;
    const ViewHelpRow *help_rows = f->v->help_rows;
    int n = help_rows ? f->v->n_help_rows : 0;
    HelpGeom g;
    help_geometry(&f->tx, f->v, f->lay->width, f->lay->height, u, &g);
    int page = f->v->help_page > 0 ? f->v->help_page % g.pages : 0;
    double x = (f->lay->width - g.w) / 2, y = (f->lay->height - g.h) / 2;
    cairo_set_source_rgba(f->cr, 0, 0, 0, th->dark ? 0.5 : 0.3);
    cairo_paint(f->cr);
    box(f, (SceneRect){x, y, g.w, g.h}, th->panel, th->accent);
    scene_text_on(&f->tx, th->panel);
    char title[96];
    if (g.pages > 1)
        snprintf(title, sizeof title, "Keys, page %d of %d (? turns the page)", page + 1, g.pages);
    else
        snprintf(title, sizeof title, "Keys");
    scene_text_draw(&f->tx, x + g.w / 2, y + 0.7 * u, 1.5 * u, true, ALIGN_CENTER, g.w - u,
                    th->text, title);
    double cw = g.kw + g.gap + g.dw + g.col_gap;
    int first = page * g.rows * g.cols;
    for (int k = first; k < n && k < first + g.rows * g.cols; k++) {
        int at = k - first;
        double cx = x + g.pad + (at / g.rows) * cw, cy = y + 3 * u + (at % g.rows) * g.rh;
        scene_text_draw(&f->tx, cx + g.kw, cy, g.size, true, ALIGN_RIGHT, 0, th->accent_text,
                        help_rows[k].keys);
        scene_text_draw(&f->tx, cx + g.kw + g.gap, cy, g.size, false, ALIGN_LEFT,
                        g.dw + 0.5 * g.gap, th->text, help_rows[k].text);
    }
}

void scene_draw_overlays(Frame *f) {
    const View *v = f->v;
    const SceneLayout *L = f->lay;
    double u = f->u;
    scene_text_on(&f->tx, f->th->bg);
    if (v->status && *v->status)
        scene_text_draw(&f->tx, L->main.x + L->main.w, L->main.y, SCENE_MIN_FONT * u, false,
                        ALIGN_RIGHT, L->main.w * 0.5, f->th->text_dim, v->status);
    draw_tooltip(f);
    if (v->notice && *v->notice) {
        double ns = 1.2 * u;
        double w = fmin(scene_text_width(&f->tx, ns, true, v->notice, NULL) + 2 * u, L->main.w - u);
        double x = L->main.x + (L->main.w - w) / 2, y = L->main.y + 0.6 * u;
        box(f, (SceneRect){x, y, w, 2.4 * u}, f->th->bg, f->th->head);
        scene_text_on(&f->tx, f->th->bg);
        scene_text_draw(&f->tx, x + w / 2, y + 0.5 * u, ns, true, ALIGN_CENTER, w - u, f->th->text,
                        v->notice);
    }
    if (v->help)
        draw_help(f);
}
