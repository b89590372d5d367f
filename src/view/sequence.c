// sequence.c — the sequence view: the tokens in a row, the stack of per-layer cache blocks
// under each (coloured by state), and the write head's attention beams arcing back to every
// token it reads. One row of the view table (views.c).
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>

static double clampd(double x, double lo, double hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

// ----------------------------------------------------------------------------------------------
// Layout: the block stacks at the bottom, the token row above them, the beams above that

void scene_sequence_layout(const Session *s, const View *v, SceneRect c, SceneLayout *L) {
    double u = L->unit;
    double token_h = 2.5 * u;
    int nl = L->n_layers > 0 ? L->n_layers : 1;
    L->block_h = clampd(c.h * 0.30 / nl, 0.35 * u, 1.25 * u);
    L->block_gap = fmax(1.0, 0.22 * L->block_h);
    double bh = nl * (L->block_h + L->block_gap) - L->block_gap;
    L->blocks = (SceneRect){c.x + L->label_w, c.y + c.h - bh, c.w - L->label_w, bh};
    L->token_row =
        (SceneRect){c.x + L->label_w, L->blocks.y - 0.35 * u - token_h, c.w - L->label_w, token_h};
    scene_layout_columns(s, v, c, L);
}

// ----------------------------------------------------------------------------------------------
// The cache blocks

// Adds the block rectangles of one state to the path: full cells one by one, the strip as runs.
static int path_blocks(Frame *f, BlockState want, bool strip) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    int added = 0;
    for (int layer = 0; layer < L->n_layers; layer++) {
        if (strip) {
            if (L->strip_w <= 0 || L->first <= 0)
                continue;
            double w = L->strip_w / L->first;
            double y = L->blocks.y + layer * (L->block_h + L->block_gap);
            int run = -1;
            for (int i = 0; i <= L->first; i++) {
                bool match = i < L->first && scene_block_state(f->s, i, layer, f->t) == want;
                if (match && run < 0)
                    run = i;
                if (!match && run >= 0) {
                    cairo_rectangle(cr, L->strip_x + run * w, y, (i - run) * w, L->block_h);
                    added++;
                    run = -1;
                }
            }
            continue;
        }
        for (int i = L->first; i <= L->last; i++) {
            if (scene_block_state(f->s, i, layer, f->t) != want)
                continue;
            SceneRect r;
            if (!scene_block_box(L, i, layer, &r))
                continue;
            cairo_rectangle(cr, r.x, r.y, r.w, r.h);
            added++;
        }
    }
    return added;
}

int scene_precision_stripes(KvPrecision p) {
    switch (p) {
    case KV_PRECISION_BF16:
        return 4;
    case KV_PRECISION_INT8:
        return 3;
    case KV_PRECISION_INT4:
    case KV_PRECISION_KIVI4:
        return 2;
    case KV_PRECISION_KIVI2:
        return 1;
    default:
        return 0;
    }
}

// A cell the last step left quantized (its record says which positions) is cut into stripes:
// 2k + 1 bands of the block's height, the even ones painted with the background, k stripes of
// the state's colour left. f32 cells (KIVI's newest positions among them) stay solid.
static void draw_precision(Frame *f) {
    const SceneLayout *L = f->lay;
    const StepRecord *r = session_last(f->s);
    if (!r || r->kv_quantized <= 0)
        return;
    const int k = scene_precision_stripes(r->kv);
    if (k <= 0)
        return;
    cairo_t *cr = f->cr;
    scene_set_rgba(cr, f->th->bg);
    const int bands = 2 * k + 1;
    for (int layer = 0; layer < L->n_layers; layer++) {
        // the strip of earlier positions: its quantized run, cut the same way
        const int run = r->kv_quantized < L->first ? r->kv_quantized : L->first;
        if (L->strip_w > 0 && run > 0) {
            const double y = L->blocks.y + layer * (L->block_h + L->block_gap);
            const double w = L->strip_w / L->first * run;
            for (int j = 0; j < bands; j += 2)
                cairo_rectangle(cr, L->strip_x, y + L->block_h * j / bands, w, L->block_h / bands);
        }
        for (int i = L->first; i <= L->last && i < r->kv_quantized; i++) {
            BlockState st = scene_block_state(f->s, i, layer, f->t);
            SceneRect b;
            if (st == BLOCK_EMPTY || st == BLOCK_RECOMPUTED || !scene_block_box(L, i, layer, &b))
                continue;
            for (int j = 0; j < bands; j += 2)
                cairo_rectangle(cr, b.x, b.y + b.h * j / bands, b.w, b.h / bands);
        }
    }
    cairo_fill(cr);
}

// Cache policies on the blocks: sink positions outlined in the write head's colour; under h2o,
// a block that some kv heads keep and others evicted shows how many keep it ("2/4").
static void draw_policy_marks(Frame *f) {
    const StepRecord *r = session_last(f->s);
    const SceneLayout *L = f->lay;
    if (!r || r->mode != CACHE_MODE_ON)
        return;
    cairo_t *cr = f->cr;
    const double u = f->u;
    const int hkv = f->s->model->cfg.n_kv_heads;
    if (r->kind.retention == KV_RETAIN_SINKS) {
        scene_set_rgba(cr, f->th->head);
        cairo_set_line_width(cr, fmax(1.5, 0.12 * u));
        for (int i = 0; i < r->kind.sinks && i <= r->pos; i++)
            for (int layer = 0; layer < L->n_layers; layer++) {
                SceneRect b;
                if (!scene_block_box(L, i, layer, &b))
                    continue;
                cairo_rectangle(cr, b.x, b.y, b.w, b.h);
            }
        cairo_stroke(cr);
    }
    if (r->kind.retention != KV_RETAIN_H2O || hkv < 2)
        return;
    for (int i = 0; i <= r->pos; i++)
        for (int layer = 0; layer < L->n_layers; layer++) {
            const bool now = f->t >= scene_anim_layer_time(layer, L->n_layers);
            SceneRect b;
            if (!scene_block_box(L, i, layer, &b) || b.h < 0.55 * u || b.w < 1.3 * u)
                continue;
            int keep = 0;
            for (int g = 0; g < hkv; g++) {
                const CellStep c = session_cell(f->s, r, layer, g, i);
                keep += (now ? c.now : c.before) != CELL_EVICTED;
            }
            if (keep == 0 || keep == hkv)
                continue;
            char buf[32];
            snprintf(buf, sizeof buf, "%d/%d", keep, hkv);
            const double size = fmin(0.62 * u, b.h * 0.8);
            scene_text_draw(&f->tx, b.x + b.w / 2, b.y + (b.h - size * 1.2) / 2, size, true,
                            ALIGN_CENTER, b.w, f->th->text, buf);
        }
}

static void draw_blocks(Frame *f) {
    const SceneLayout *L = f->lay;
    cairo_t *cr = f->cr;
    const Theme *th = f->th;
    double u = f->u;
    char buf[16];
    // Layer labels
    for (int layer = 0; layer < L->n_layers; layer++) {
        double y = L->blocks.y + layer * (L->block_h + L->block_gap);
        if (L->block_h >= 0.5 * u || layer == 0 || layer == L->n_layers - 1) {
            snprintf(buf, sizeof buf, "L%d", layer + 1);
            double size = fmin(0.7 * u, L->block_h * 1.05);
            scene_text_draw(&f->tx, L->blocks.x - 0.3 * u, y + (L->block_h - size * 1.2) / 2, size,
                            false, ALIGN_RIGHT, 0, th->text_faint, buf);
        }
    }
    // One fill per state: every block of a colour in one path.
    for (int st = 0; st < BLOCK_STATES; st++) {
        for (int strip = 0; strip < 2; strip++) {
            if (path_blocks(f, (BlockState)st, strip) == 0)
                continue;
            scene_set_rgba(cr, th->block[st]);
            if (st == BLOCK_EMPTY) {
                cairo_fill_preserve(cr);
                scene_set_rgba(cr, th->block_edge);
                cairo_set_line_width(cr, fmax(1.0, 0.05 * u));
                cairo_stroke(cr);
            } else if (st == BLOCK_RECOMPUTED) {
                // Recomputed blocks also carry dark diagonal stripes, so the state does not rest
                // on colour alone.
                cairo_fill_preserve(cr);
                cairo_save(cr);
                cairo_clip(cr);
                cairo_set_source_rgba(cr, 0, 0, 0, 0.28);
                cairo_set_line_width(cr, fmax(1.0, 0.09 * u));
                double step = 0.55 * u;
                double x0 = L->blocks.x - L->blocks.h, x1 = L->blocks.x + L->blocks.w;
                for (double x = x0; x < x1; x += step) {
                    cairo_move_to(cr, x, L->blocks.y + L->blocks.h);
                    cairo_line_to(cr, x + L->blocks.h, L->blocks.y);
                }
                cairo_stroke(cr);
                cairo_restore(cr);
            } else if (st == BLOCK_EVICTED) {
                // gone but remembered: a dashed ghost outline on the empty colour
                scene_set_rgba(cr, th->block[BLOCK_EMPTY]);
                cairo_fill_preserve(cr);
                scene_set_rgba(cr, th->block[BLOCK_EVICTED]);
                const double dash[] = {0.25 * u, 0.18 * u};
                cairo_set_dash(cr, dash, 2, 0);
                cairo_set_line_width(cr, fmax(1.0, 0.08 * u));
                cairo_stroke(cr);
                cairo_set_dash(cr, NULL, 0, 0);
            } else {
                cairo_fill(cr);
            }
        }
    }
    draw_precision(f);
    draw_policy_marks(f);
}

// ----------------------------------------------------------------------------------------------
// The view

void scene_sequence_draw(Frame *f) {
    scene_draw_hover_column(f);
    scene_draw_beams(f, f->lay->beams, f->v->layer >= 0 ? f->v->layer : 0,
                     f->v->layer >= 0 ? f->v->layer + 1 : f->lay->n_layers, false);
    scene_draw_token_row(f);
    draw_blocks(f);
    scene_draw_write_head(f);
}
