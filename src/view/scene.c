// scene.c — scene_draw, which draws a frame in one pass from the session and the view: the
// panels around the view (panels.c), then the view itself through its row of the view table
// (views.c). Also the cache-block states and the attention of the view's selection, which
// every view reads. Layout is layout.c and each view's own file; the timeline is anim.c.
#include "view/scene_internal.h"
#include <math.h>
#include <string.h>

const char *const block_state_names[BLOCK_STATES] = {
    "empty", "new this step", "cached", "read this step", "recomputed this step", "evicted",
};

// ----------------------------------------------------------------------------------------------
// Cache-block states

// When, within a step's animation, layer `layer` computes its K/V (anim.c keeps the timeline).
static double layer_time(int layer, int n_layers) {
    return scene_anim_layer_time(layer, n_layers);
}

// The session recorded each cell's state (session_cell); this maps it to its look: the cell as
// the step found it until the step reaches this layer, as the step left it after. One block per
// layer shows kv head 0 (under full retention every kv head holds the same positions), or the
// first kv head that still keeps the cell when a policy evicted it from head 0.
BlockState scene_block_state(const Session *s, int pos, int layer, double t_anim) {
    static const BlockState look[CELL_STATES] = {
        [CELL_EMPTY] = BLOCK_EMPTY,
        [CELL_CACHED] = BLOCK_CACHED,
        [CELL_READ] = BLOCK_READ,
        [CELL_WRITTEN] = BLOCK_WRITTEN,
        [CELL_RECOMPUTED] = BLOCK_RECOMPUTED,
        [CELL_EVICTED] = BLOCK_EVICTED,
    };
    const StepRecord *r = session_last(s);
    if (!r || pos < 0 || pos > r->pos)
        return BLOCK_EMPTY;
    bool now = t_anim >= layer_time(layer, s->model->cfg.n_layers);
    // a cell some kv head still keeps is shown as kept (h2o: the sequence view says how many)
    CellState st = CELL_EVICTED;
    for (int g = 0; g < s->model->cfg.n_kv_heads && st == CELL_EVICTED; g++) {
        const CellStep cell = session_cell(s, r, layer, g, pos);
        st = now ? cell.now : cell.before;
    }
    return look[st];
}

double scene_cell_share(int hkv, int h) {
    return hkv > 0 && h > 0 && hkv <= h ? (double)hkv / h : 1.0;
}

void scene_cell_style(const Session *s, const View *v, int pos, int layer, double t_anim,
                      SceneCellStyle *o) {
    const ModelConfig *cfg = &s->model->cfg;
    const int hkv = cfg->n_kv_heads;
    *o = (SceneCellStyle){.state = scene_block_state(s, pos, layer, t_anim), .slot = -1};
    o->kv_heads = hkv < 1 ? 1 : hkv > SCENE_CELL_HEADS ? SCENE_CELL_HEADS : hkv;
    o->width = scene_cell_share(hkv, cfg->n_heads);
    const StepRecord *r = session_last(s);
    if (!r || pos < 0 || pos > r->pos)
        return;
    const BlockState st = o->state;
    // held in the step's precision (KIVI: its newest positions in f32, solid)
    if (pos < r->kv_quantized && st != BLOCK_EMPTY && st != BLOCK_RECOMPUTED && st != BLOCK_EVICTED)
        o->stripes = scene_precision_stripes(r->kv);
    if (v && v->inspect && pos == v->inspect_pos) {
        const int il = v->inspect_layer < 0                ? 0
                       : v->inspect_layer >= cfg->n_layers ? cfg->n_layers - 1
                                                           : v->inspect_layer;
        o->inspected = layer == il;
    }
    if (r->mode != CACHE_MODE_ON)
        return;
    const KvRetention ret = r->kind.retention;
    o->sink = ret == KV_RETAIN_SINKS && pos < r->kind.sinks;
    if ((ret == KV_RETAIN_WINDOW || ret == KV_RETAIN_SINKS) && st != BLOCK_EVICTED &&
        st != BLOCK_EMPTY)
        o->slot = kv_kind_slot(r->kind, pos);
    if (ret != KV_RETAIN_H2O || hkv < 2)
        return;
    // h2o evicts per kv head: the parts of the heads that evicted a position others keep
    const bool now = t_anim >= scene_anim_layer_time(layer, cfg->n_layers);
    int keep = 0;
    uint64_t gone = 0;
    for (int g = 0; g < hkv; g++) {
        const CellStep c = session_cell(s, r, layer, g, pos);
        if ((now ? c.now : c.before) == CELL_EVICTED)
            gone |= g < SCENE_CELL_HEADS ? (uint64_t)1 << g : 0;
        else
            keep++;
    }
    if (keep > 0 && keep < hkv)
        o->gone = gone;
}

// ----------------------------------------------------------------------------------------------
// Attention of the view's selection

float view_attention(const Session *s, const View *v, int row, int col) {
    int nl = s->model->cfg.n_layers;
    int head = v->head >= 0 ? v->head : -1;
    if (v->layer >= 0 && v->layer < nl)
        return session_attention(s, row, col, v->layer, head);
    float sum = 0;
    for (int l = 0; l < nl; l++)
        sum += session_attention(s, row, col, l, head);
    return nl > 0 ? sum / nl : 0;
}

// ----------------------------------------------------------------------------------------------
// The frame

void scene_draw(cairo_t *cr, const Session *s, const View *v, int width, int height,
                double t_anim) {
    if (v->kind == VIEW_POOL && v->serve) { // a serving session's picture (pool.c)
        scene_pool_frame(cr, v, width, height);
        return;
    }
    SceneLayout lay;
    scene_layout(s, v, width, height, &lay);
    Frame f = {
        .cr = cr,
        .s = s,
        .v = v,
        .th = scene_theme_get(v->theme),
        .lay = &lay,
        .r = session_last(s),
        .u = lay.unit,
        .t = t_anim >= 1 || !(t_anim >= 0) ? 1.0 : t_anim,
    };
    cairo_surface_type_t st = cairo_surface_get_type(cairo_get_target(cr));
    f.vector = st != CAIRO_SURFACE_TYPE_IMAGE && st != CAIRO_SURFACE_TYPE_XLIB &&
               st != CAIRO_SURFACE_TYPE_XCB;

    cairo_save(cr);
    cairo_rectangle(cr, 0, 0, width, height);
    cairo_clip(cr);
    if (!v->transparent) {
        scene_set_rgba(cr, f.th->bg);
        cairo_paint(cr);
    }
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    scene_text_begin(&f.tx, cr, v->text_sink);
    f.tx.min_size = SCENE_MIN_FONT * f.u;
    scene_text_on(&f.tx, f.th->bg);

    View lanes; // side by side: two lanes of the sequence view instead of the view
    if (v->split && s->twin) {
        lanes = *v;
        lanes.kind = VIEW_SEQUENCE;
        f.v = &lanes;
        scene_draw_split(&f);
    } else {
        scene_draw_top_bar(&f);
        if (v->show_panels)
            scene_draw_panel(&f);
        cairo_save(cr);
        cairo_rectangle(cr, floor(lay.main.x), floor(lay.main.y), ceil(lay.main.w),
                        ceil(lay.main.h));
        cairo_clip(cr);
        scene_view(v->kind)->draw(&f);
        cairo_restore(cr);
    }
    scene_draw_legend(&f);
    scene_draw_caption(&f);
    if (f.v->inspect)
        scene_draw_inspector(&f);
    scene_draw_overlays(&f);
    scene_draw_annotations(&f);
    scene_draw_glossary_panel(&f);

    scene_text_end(&f.tx);
    cairo_restore(cr);
}
