// split.c — side by side: the session and its twin (src/sim/split.c: the same model, prompt and
// tokens in the other cache mode), one lane each, the cached one on top. Each lane is the sequence
// view of its own session (tokens, cache blocks, beams) beside its counters (FLOPs so far, step
// time measured so far, cache memory, this step's FLOPs); between the lanes, the ratios of FLOPs
// and of measured time so far, whether the tokens are the same, and the shown step's largest
// logit difference. What this file does not do: step the twin (the session does).
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define COUNTERS_W(u) (19.0 * (u)) // a lane's counters column
#define MIDDLE_H(u) (4.6 * (u))    // the ratios between the lanes

static CacheMode lane_mode(const Session *s) {
    const StepRecord *r = session_last(s);
    return r ? r->mode : s->mode;
}

void scene_split_layout(const Session *s, const View *v, int width, int height, SceneSplit *o) {
    memset(o, 0, sizeof *o);
    o->logit_diff = -1;
    if (!v->split || !s->twin)
        return;
    SceneLayout L;
    View lanes = *v;
    lanes.kind = VIEW_SEQUENCE;
    scene_layout(s, &lanes, width, height, &L);
    const double u = L.unit;
    o->open = true;
    const bool lead_on = lane_mode(s) == CACHE_MODE_ON || lane_mode(s->twin) == CACHE_MODE_OFF;
    o->side[0] = lead_on ? s : s->twin;
    o->side[1] = lead_on ? s->twin : s;
    // the whole picture below the top margin down to the caption (or the legend)
    const double top = L.top.y, bottom = (L.caption.h > 0 ? L.caption.y : L.legend.y) - 0.4 * u;
    const double x = L.top.x, w = L.top.w;
    const double lane_h = (bottom - top - MIDDLE_H(u)) / 2;
    o->lane[0] = (SceneRect){x, top, w, lane_h};
    // the ratios between the lanes, right of the counters columns (as the lanes' views)
    o->middle = (SceneRect){x + COUNTERS_W(u) + 0.8 * u, top + lane_h, w - COUNTERS_W(u) - 0.8 * u,
                            MIDDLE_H(u)};
    o->lane[1] = (SceneRect){x, top + lane_h + MIDDLE_H(u), w, lane_h};
    for (int k = 0; k < 2; k++) {
        o->counters[k] = (SceneRect){x, o->lane[k].y, COUNTERS_W(u), lane_h};
        session_totals(o->side[k], &o->total[k]);
    }
    if (o->total[0].flops > 0)
        o->flops_ratio = (double)o->total[1].flops / (double)o->total[0].flops;
    if (o->total[0].ns > 0)
        o->time_ratio = (double)o->total[1].ns / (double)o->total[0].ns;
    const Session *a = o->side[0], *b = o->side[1];
    o->same_tokens = a->n_tokens == b->n_tokens &&
                     memcmp(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof *a->tokens) == 0;
    o->logit_diff = session_twin_logit_diff(s);
}

// ----------------------------------------------------------------------------------------------
// Drawing

static void panel_box(Frame *f, SceneRect r, Rgba edge) {
    cairo_rectangle(f->cr, r.x, r.y, r.w, r.h);
    scene_set_rgba(f->cr, f->th->panel);
    cairo_fill_preserve(f->cr);
    scene_set_rgba(f->cr, edge);
    cairo_set_line_width(f->cr, fmax(1, 0.08 * f->u));
    cairo_stroke(f->cr);
}

// One lane's counters: the mode, then each counter's label and value.
static void draw_counters(Frame *f, const Session *s, const SessionTotals *t, SceneRect r) {
    const Theme *th = f->th;
    const double u = f->u, big = SCENE_BIG_FONT * u, small = SCENE_MIN_FONT * u, pad = 0.6 * u;
    const bool on = lane_mode(s) == CACHE_MODE_ON;
    panel_box(f, r, on ? th->cache_on : th->cache_off);
    scene_text_on(&f->tx, th->panel);
    scene_text_role(&f->tx, SCENE_TEXT_COUNTER);
    double y = r.y + pad;
    scene_text_draw(&f->tx, r.x + pad, y, big, true, ALIGN_LEFT, r.w - 2 * pad,
                    on ? th->cache_on_text : th->cache_off_text, on ? "KV CACHE ON" : "NO CACHE");
    y += 1.45 * big;
    char flops[32], time[32], mem[32], step[32];
    kv_format_number(flops, sizeof flops, (double)t->flops, KV_NUM_SI, "FLOP");
    if (t->ns < 1000000000ull) // milliseconds until a second
        snprintf(time, sizeof time, "%.1f ms", (double)t->ns / 1e6);
    else
        snprintf(time, sizeof time, "%.2f s", (double)t->ns / 1e9);
    const StepRecord *last = session_last(s);
    kv_format_bytes(mem, sizeof mem, last ? last->kv_bytes_resident : 0);
    kv_format_number(step, sizeof step, last ? (double)counters_flops(&last->counted) : 0,
                     KV_NUM_SI, "FLOP");
    const char *labels[4] = {"FLOPs so far", "time so far (measured)", "cache memory",
                             "FLOPs this step"};
    const char *values[4] = {flops, time, mem, step};
    const double row = (r.y + r.h - pad - y) / 4;
    for (int i = 0; i < 4; i++) {
        const double ry = y + i * row;
        if (ry + 1.2 * big > r.y + r.h)
            break;
        scene_text_role(&f->tx, SCENE_TEXT_LABEL);
        scene_text_draw(&f->tx, r.x + pad, ry, small, false, ALIGN_LEFT, r.w - 2 * pad,
                        th->text_dim, labels[i]);
        scene_text_role(&f->tx, SCENE_TEXT_COUNTER);
        const double vy = fmin(ry + 1.1 * small, r.y + r.h - pad - 1.2 * big);
        scene_text_draw(&f->tx, r.x + r.w - pad, vy, big, true, ALIGN_RIGHT, r.w - 2 * pad,
                        th->text, values[i]);
    }
    scene_text_role(&f->tx, SCENE_TEXT_LABEL);
}

// The sequence view of session s in area (a lane beside its counters), at unit u.
static void lane_layout(const Session *s, const View *v, int width, int height, double u,
                        SceneRect area, SceneLayout *L) {
    memset(L, 0, sizeof *L);
    L->width = width;
    L->height = height;
    L->unit = u;
    L->kind = VIEW_SEQUENCE;
    L->n_tokens = s->n_tokens;
    L->n_layers = s->model->cfg.n_layers;
    const StepRecord *r = session_last(s);
    L->head_pos = r ? r->pos : -1;
    L->new_pos = r ? r->pos + 1 : -1;
    L->label_w = 2.4 * u;
    L->main = area;
    L->keep_token_size = true; // a lane has few lines: its tokens stay at the token size
    scene_sequence_layout(s, v, area, L);
}

// The area of lane k's sequence view: right of its counters.
static SceneRect lane_area(const SceneSplit *o, int k, double u) {
    const SceneRect c = o->counters[k], l = o->lane[k];
    return (SceneRect){c.x + c.w + 0.8 * u, l.y, l.w - c.w - 0.8 * u, l.h};
}

void scene_split_lane_layout(const Session *s, const View *v, int width, int height, int k,
                             struct SceneLayout *out) {
    SceneSplit o;
    scene_split_layout(s, v, width, height, &o);
    memset(out, 0, sizeof *out);
    if (!o.open || k < 0 || k > 1)
        return;
    View lanes = *v;
    lanes.kind = VIEW_SEQUENCE;
    const double u = scene_unit(width, height);
    lane_layout(o.side[k], &lanes, width, height, u, lane_area(&o, k, u), out);
}

bool scene_split_hit_block(const Session *s, const View *v, int width, int height, double x,
                           double y, int *lane, int *token, int *layer) {
    for (int k = 0; k < 2; k++) {
        SceneLayout L;
        scene_split_lane_layout(s, v, width, height, k, &L);
        if (L.main.w > 0 && x >= L.main.x && x <= L.main.x + L.main.w && y >= L.main.y &&
            y <= L.main.y + L.main.h && scene_hit_block(&L, x, y, token, layer)) {
            *lane = k;
            return true;
        }
    }
    return false;
}

// The lane's session as the sequence view draws it, in area.
static void draw_lane(Frame *f, const Session *s, SceneRect area) {
    SceneLayout L;
    lane_layout(s, f->v, f->lay->width, f->lay->height, f->u, area, &L);
    const StepRecord *r = session_last(s);
    Frame lane = *f;
    lane.s = s;
    lane.lay = &L;
    lane.r = r;
    cairo_save(f->cr);
    cairo_rectangle(f->cr, floor(area.x), floor(area.y), ceil(area.w), ceil(area.h));
    cairo_clip(f->cr);
    scene_text_on(&lane.tx, f->th->bg);
    scene_sequence_draw(&lane);
    cairo_restore(f->cr);
    f->tx = lane.tx; // the text context's cached font state
}

void scene_draw_split(Frame *f) {
    SceneSplit o;
    scene_split_layout(f->s, f->v, f->lay->width, f->lay->height, &o);
    if (!o.open)
        return;
    const Theme *th = f->th;
    const double u = f->u, big = SCENE_BIG_FONT * u, small = SCENE_MIN_FONT * u;
    for (int k = 0; k < 2; k++) {
        draw_counters(f, o.side[k], &o.total[k], o.counters[k]);
        draw_lane(f, o.side[k], lane_area(&o, k, u));
    }
    // between the lanes: what the cache saves so far, and that both computed the same thing
    const SceneRect m = o.middle;
    panel_box(f, (SceneRect){m.x, m.y + 0.3 * u, m.w, m.h - 0.6 * u}, th->panel_edge);
    scene_text_on(&f->tx, th->panel);
    char line[256], diff[64];
    if (o.flops_ratio > 0 && o.time_ratio > 0)
        snprintf(line, sizeof line,
                 "Without the cache: %.1f\u00d7 the FLOPs and %.1f\u00d7 the measured time so far",
                 o.flops_ratio, o.time_ratio);
    else
        snprintf(line, sizeof line,
                 "Without the cache and with it: the same model, prompt and "
                 "sampler, stepped together");
    scene_text_role(&f->tx, SCENE_TEXT_COUNTER);
    scene_text_draw(&f->tx, m.x + m.w / 2, m.y + 0.55 * u, big, true, ALIGN_CENTER, m.w - u,
                    th->text, line);
    scene_text_role(&f->tx, SCENE_TEXT_LABEL);
    if (o.logit_diff < 0)
        snprintf(diff, sizeof diff, "not measured for this step");
    else if (o.logit_diff == 0)
        snprintf(diff, sizeof diff, "0 (bit-identical)");
    else
        snprintf(diff, sizeof diff, "%.2g", (double)o.logit_diff);
    snprintf(line, sizeof line, "%s on both sides \u00b7 largest logit difference this step: %s",
             o.same_tokens ? "the same tokens" : "different tokens", diff);
    scene_text_draw(&f->tx, m.x + m.w / 2, m.y + 0.75 * u + 1.3 * big, small, false, ALIGN_CENTER,
                    m.w - u, th->text_dim, line);
}
