// pool.c — the pool view: a serving session's paged KV pool as a class reads it.
//
// Left, top to bottom: every block of the pool as a cell, coloured by the request that holds it
// (a block more than one table holds is light and says how many; a free block is plain; the
// slots of a block no token fills yet are pale: internal fragmentation); the selected
// sequence's block table as a row of logical blocks, each with a line to the physical block it
// names; then one row per sequence: its tokens in blocks (block boundaries as gaps), and beside
// it the same sequence under contiguous preallocation, a whole context reserved, the part no
// token holds shaded. Right: the counters (running, waiting, preempted, finished, blocks, waste of
// both allocators, tokens this step, FLOPs saved by sharing) and the key.
//
// The whole frame is drawn here (scene_draw hands it over when View.serve is set): a serving
// session is many sequences, not the one Session the other views show. pool_layout is the
// geometry, for drawing and for tests. Without a serving session the view's row in views.c draws
// a sentence saying how to get one.
#include "view/scene_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// Layout

int pool_selected(const Serve *s, const View *v) {
    if (v->pool_seq >= 0 && v->pool_seq < s->n_seq && s->seq[v->pool_seq].state == SEQ_RUNNING)
        return v->pool_seq;
    int best = -1;
    for (int k = 0; k < s->n_run; k++) {
        const int i = s->run[k];
        if (best < 0 || kvpaged_blocks(&s->seq[i].cache) > kvpaged_blocks(&s->seq[best].cache))
            best = i;
    }
    return best;
}

// The counters panel: label and value of each line (values formatted by the caller).
enum { POOL_COUNTERS = 12 };

void pool_layout(const Serve *s, const View *v, int width, int height, PoolLayout *L) {
    memset(L, 0, sizeof *L);
    L->width = width;
    L->height = height;
    const double u = L->unit = fmax(5, fmin(height / 50.0, width / 88.0)), m = 0.8 * u;
    L->top = (SceneRect){m, 0.6 * m, width - 2 * m, 2.4 * u};
    const double y0 = L->top.y + L->top.h + 0.6 * u;
    const double pw = fmin(fmax(0.27 * width, 18 * u), 26 * u);
    L->panel = (SceneRect){width - m - pw, y0, pw, height - m - y0};
    const double lx = m, lw = L->panel.x - m - lx;
    double bottom = height - m;
    if ((v->caption_title && *v->caption_title) || (v->caption_text && *v->caption_text)) {
        int lines = 0;
        if (v->caption_text && *v->caption_text) {
            lines = scene_text_line_count(SCENE_CAPTION_FONT * u, lw - 1.6 * u, v->caption_text);
            lines = lines < 2 ? 2 : lines > 8 ? 8 : lines;
        }
        L->caption_lines = lines;
        const double ch =
            0.8 * u + (v->caption_title && *v->caption_title ? 1.25 * SCENE_CAPTION_TITLE * u : 0) +
            (lines > 0 ? 1.22 * SCENE_CAPTION_FONT * u * lines + 0.2 * u : 0);
        L->caption = (SceneRect){lx, bottom - ch, lw, ch};
        bottom = L->caption.y - 0.6 * u;
    }
    const double avail = bottom - y0;

    // the grid: cells about 3.2 x 2.2 units, as many a line as fit, at most 40% of the height
    const int nb = s->pool.n_blocks < POOL_MAX_BLOCKS ? s->pool.n_blocks : POOL_MAX_BLOCKS;
    L->n_blocks = nb;
    const double gap = 0.3 * u, head_h = 1.7 * u;
    double cw = 3.2 * u, ch = 2.2 * u;
    int cols = (int)((lw + gap) / (cw + gap));
    cols = cols < 1 ? 1 : cols > nb ? nb : cols;
    int rows = (nb + cols - 1) / cols;
    const double grid_max = 0.4 * avail - head_h;
    if (rows * (ch + gap) > grid_max) { // a large pool: smaller cells (the text inside stays 14 px)
        const double f = fmax(grid_max / (rows * (ch + gap)), 1.5 * u / ch);
        cw *= f, ch *= f;
        cols = (int)((lw + gap) / (cw + gap));
        cols = cols < 1 ? 1 : cols > nb ? nb : cols;
        rows = (nb + cols - 1) / cols;
    }
    L->grid = (SceneRect){lx, y0 + head_h, cols * (cw + gap) - gap, rows * (ch + gap) - gap};
    for (int b = 0; b < nb; b++)
        L->block[b] =
            (SceneRect){lx + (b % cols) * (cw + gap), L->grid.y + (b / cols) * (ch + gap), cw, ch};

    // the selected table, under room for the lines that go up to the grid
    L->selected = pool_selected(s, v);
    const double ty = L->grid.y + L->grid.h + 3.2 * u;
    L->table = (SceneRect){lx, ty, lw, 2.0 * u};
    if (L->selected >= 0) {
        const KvCache *kc = &s->seq[L->selected].cache;
        const int n = kvpaged_blocks(kc) < POOL_MAX_TABLE ? kvpaged_blocks(kc) : POOL_MAX_TABLE;
        const double tw = fmin(2.8 * u, (lw - (n - 1) * gap) / (n > 0 ? n : 1));
        L->n_table = n;
        for (int i = 0; i < n; i++)
            L->table_cell[i] = (SceneRect){lx + i * (tw + gap), ty, tw, 2.0 * u};
    }

    // the sequence rows: running ones in admission order, then the queue
    const double ry = ty + L->table.h + head_h + 0.8 * u + head_h;
    L->rows = (SceneRect){lx, ry, lw, bottom - ry};
    const double row_h = 1.8 * u;
    const int fit = (int)(L->rows.h / row_h);
    for (int k = 0; k < s->n_run && L->n_rows < fit && L->n_rows < POOL_MAX_ROWS; k++)
        L->row_seq[L->n_rows++] = s->run[k];
    for (int k = 0; k < s->n_queue && L->n_rows < fit && L->n_rows < POOL_MAX_ROWS; k++)
        L->row_seq[L->n_rows++] = s->queue[k];
    const double label_w = 6.5 * u, half = (lw - label_w - 1.0 * u) / 2;
    for (int r = 0; r < L->n_rows; r++) {
        L->row_colour[r] = pool_request_colour(v->theme, s->seq[L->row_seq[r]].request);
        const double y = ry + r * row_h + 0.25 * u;
        L->row_paged[r] = (SceneRect){lx + label_w, y, half - 0.6 * u, row_h - 0.5 * u};
        L->row_contig[r] = (SceneRect){lx + label_w + half + 0.6 * u, y, half - 0.6 * u - 3.2 * u,
                                       row_h - 0.5 * u};
    }
}

// ----------------------------------------------------------------------------------------------
// Drawing

typedef struct {
    cairo_t *cr;
    const Serve *s;
    const View *v;
    const Theme *th;
    const PoolLayout *L;
    TextCtx tx;
    double u;
} PoolFrame;

// Relative luminance (WCAG 2) of an sRGB colour.
static double luminance(Rgba c) {
    const double ch[3] = {c.r, c.g, c.b};
    double lin[3];
    for (int i = 0; i < 3; i++)
        lin[i] = ch[i] <= 0.04045 ? ch[i] / 12.92 : pow((ch[i] + 0.055) / 1.055, 2.4);
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}

// HSL (h in turns, s and l in 0..1) to an opaque colour.
static Rgba hsl(double h, double s, double l) {
    const double q = l < 0.5 ? l * (1 + s) : l + s - l * s, p = 2 * l - q;
    double ch[3];
    for (int i = 0; i < 3; i++) {
        double t = h + (1 - i) / 3.0;
        t -= floor(t);
        ch[i] = t < 1 / 6.0   ? p + (q - p) * 6 * t
                : t < 0.5     ? q
                : t < 2 / 3.0 ? p + (q - p) * (2 / 3.0 - t) * 6
                              : p;
    }
    return (Rgba){ch[0], ch[1], ch[2], 1};
}

// Request i: hue (i mod 8) * 45 degrees, turned 15 degrees more in each tier i / 8 of three; the
// tier sets the luminance, 0.22, 0.40, 0.65 on the dark background and 0.17, 0.09, 0.04 on the
// light one (at least 4.5:1 against either: (0.22 + 0.05) / (0.0056 + 0.05) = 4.86 and
// (1 + 0.05) / (0.17 + 0.05) = 4.77). The lightness that gives the luminance is found by
// bisection at saturation 0.85. Any two of the 24 differ by 16 or more in CIE76 delta E.
Rgba pool_request_colour(ThemeKind theme, int request) {
    static const double dark_y[3] = {0.22, 0.40, 0.65}, light_y[3] = {0.17, 0.09, 0.04};
    const int i = (request < 0 ? 0 : request) % POOL_COLOURS, tier = i / 8;
    const double h = fmod((i % 8) * 45.0 + tier * 15.0, 360.0) / 360.0;
    const double y = scene_theme_get(theme)->dark ? dark_y[tier] : light_y[tier];
    double lo = 0, hi = 1;
    for (int k = 0; k < 40; k++) {
        const double mid = (lo + hi) / 2;
        if (luminance(hsl(h, 0.85, mid)) < y)
            lo = mid;
        else
            hi = mid;
    }
    return hsl(h, 0.85, hi);
}

static Rgba request_colour(const Theme *th, int request) {
    return pool_request_colour(th->dark ? THEME_DARK : THEME_LIGHT, request);
}

// The fill of a block other tables hold too, and the ink on it.
static Rgba shared_fill(const Theme *th) {
    return th->text;
}

static void rect(cairo_t *cr, SceneRect r, Rgba fill) {
    cairo_rectangle(cr, r.x, r.y, r.w, r.h);
    scene_set_rgba(cr, fill);
    cairo_fill(cr);
}

static void outline(cairo_t *cr, SceneRect r, Rgba c, double lw) {
    cairo_rectangle(cr, r.x + lw / 2, r.y + lw / 2, r.w - lw, r.h - lw);
    scene_set_rgba(cr, c);
    cairo_set_line_width(cr, lw);
    cairo_stroke(cr);
}

// Diagonal lines over r: what is reserved and holds no token.
static void hatch(cairo_t *cr, SceneRect r, Rgba c, double step) {
    cairo_save(cr);
    cairo_rectangle(cr, r.x, r.y, r.w, r.h);
    cairo_clip(cr);
    scene_set_rgba_a(cr, c, 0.75);
    cairo_set_line_width(cr, step * 0.3);
    for (double x = r.x - r.h; x < r.x + r.w; x += step) {
        cairo_move_to(cr, x, r.y + r.h);
        cairo_line_to(cr, x + r.h, r.y);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

// Positions of (table-holding) block b that some sequence's tokens fill: the most any holder has.
static int block_fill(const Serve *s, int b) {
    const int B = s->pool.block_size;
    int fill = 0;
    for (int k = 0; k < s->n_run; k++) {
        const KvCache *kc = &s->seq[s->run[k]].cache;
        for (int i = 0; i < kvpaged_blocks(kc); i++)
            if (kvpaged_block(kc, i) == b) {
                const int in = kvcache_len(kc) - i * B;
                fill = in > fill ? (in < B ? in : B) : fill;
            }
    }
    return fill;
}

// The request of the first running sequence that holds block b, or -1.
static int block_owner(const Serve *s, int b) {
    for (int k = 0; k < s->n_run; k++) {
        const KvCache *kc = &s->seq[s->run[k]].cache;
        for (int i = 0; i < kvpaged_blocks(kc); i++)
            if (kvpaged_block(kc, i) == b)
                return s->seq[s->run[k]].request;
    }
    return -1;
}

static bool in_table(const KvCache *kc, int b) {
    for (int i = 0; i < kvpaged_blocks(kc); i++)
        if (kvpaged_block(kc, i) == b)
            return true;
    return false;
}

static void draw_grid(PoolFrame *f) {
    const Serve *s = f->s;
    const PoolLayout *L = f->L;
    const Theme *th = f->th;
    const double u = f->u;
    cairo_t *cr = f->cr;
    char head[160];
    snprintf(head, sizeof head, "The pool: %d blocks of %d positions (one colour per request)",
             s->pool.n_blocks, s->pool.block_size);
    scene_text_draw(&f->tx, L->grid.x, L->grid.y - 1.65 * u, SCENE_MIN_FONT * u, true, ALIGN_LEFT,
                    L->grid.w > 30 * u ? L->grid.w : 30 * u, th->text, head);
    const KvCache *sel = L->selected >= 0 ? &s->seq[L->selected].cache : NULL;
    for (int b = 0; b < L->n_blocks; b++) {
        const SceneRect r = L->block[b];
        const int ref = s->pool.ref[b];
        if (ref == 0) { // free
            rect(cr, r, th->panel);
            outline(cr, r, th->panel_edge, fmax(1, 0.08 * u));
            continue;
        }
        const int fill = block_fill(s, b), B = s->pool.block_size;
        const Rgba c = ref > 1 ? shared_fill(th) : request_colour(th, block_owner(s, b));
        rect(cr, r, scene_rgba_over((Rgba){c.r, c.g, c.b, 0.3}, th->bg)); // unused slots: pale
        rect(cr, (SceneRect){r.x, r.y, r.w * fill / B, r.h}, c);
        if (ref > 1) {
            char t[16];
            snprintf(t, sizeof t, "\xc3\x97%d", ref); // ×N
            scene_text_on(&f->tx, c);
            scene_text_draw(&f->tx, r.x + r.w / 2, r.y + (r.h - 1.3 * SCENE_MIN_FONT * u) / 2,
                            SCENE_MIN_FONT * u, true, ALIGN_CENTER, r.w, th->bg, t);
            scene_text_on(&f->tx, th->bg);
        }
        if (sel && in_table(sel, b))
            outline(cr, r, th->head, fmax(2, 0.2 * u));
    }
}

static void draw_table(PoolFrame *f) {
    const Serve *s = f->s;
    const PoolLayout *L = f->L;
    const Theme *th = f->th;
    const double u = f->u;
    cairo_t *cr = f->cr;
    const double hy = L->table.y + L->table.h + 0.3 * u; // under the cells: the lines go up
    if (L->selected < 0) {
        scene_text_draw(&f->tx, L->table.x, hy, SCENE_MIN_FONT * u, true, ALIGN_LEFT, L->table.w,
                        th->text, "Block tables: no request is running");
        return;
    }
    const ServeSeq *q = &s->seq[L->selected];
    char head[160];
    snprintf(
        head, sizeof head,
        "\xe2\x86\x91 block table of r%d.%d: its logical blocks 0, 1, 2 \xe2\x80\xa6 in order, "
        "each naming its block in the pool",
        q->request, q->sample);
    scene_text_draw(&f->tx, L->table.x, hy, SCENE_MIN_FONT * u, true, ALIGN_LEFT, L->table.w,
                    th->text, head);
    for (int i = 0; i < L->n_table; i++) { // lines first, cells over their ends
        const int b = kvpaged_block(&q->cache, i);
        if (b >= L->n_blocks)
            continue;
        const SceneRect t = L->table_cell[i], g = L->block[b];
        const double x0 = t.x + t.w / 2, y0 = t.y, x1 = g.x + g.w / 2, y1 = g.y + g.h;
        scene_set_rgba_a(cr, th->head, 0.8);
        cairo_set_line_width(cr, fmax(1, 0.1 * u));
        cairo_move_to(cr, x0, y0);
        cairo_curve_to(cr, x0, y0 - 1.6 * u, x1, y1 + 1.6 * u, x1, y1);
        cairo_stroke(cr);
    }
    scene_text_on(&f->tx, th->panel);
    for (int i = 0; i < L->n_table; i++) {
        const SceneRect t = L->table_cell[i];
        rect(cr, t, th->panel);
        outline(cr, t, th->head, fmax(1.5, 0.12 * u));
        char num[16];
        snprintf(num, sizeof num, "%d", kvpaged_block(&q->cache, i));
        scene_text_draw(&f->tx, t.x + t.w / 2, t.y + (t.h - 1.3 * SCENE_MIN_FONT * u) / 2,
                        SCENE_MIN_FONT * u, false, ALIGN_CENTER, t.w, th->text, num);
    }
    scene_text_on(&f->tx, th->bg);
}

static void draw_rows(PoolFrame *f) {
    const Serve *s = f->s;
    const PoolLayout *L = f->L;
    const Theme *th = f->th;
    const double u = f->u;
    cairo_t *cr = f->cr;
    const int B = s->pool.block_size, T = s->model->cfg.seq_len;
    const double hy = L->rows.y - 1.65 * u;
    if (L->n_rows == 0) {
        scene_text_draw(&f->tx, L->rows.x, hy, SCENE_MIN_FONT * u, true, ALIGN_LEFT, L->rows.w,
                        th->text, serve_done(s) ? "Every request has finished" : "No request yet");
        return;
    }
    scene_text_draw(&f->tx, L->row_paged[0].x, hy, SCENE_MIN_FONT * u, true, ALIGN_LEFT,
                    L->row_paged[0].w, th->text, "Paged: tokens in blocks");
    char head[96];
    snprintf(head, sizeof head, "Contiguous: %d reserved each, %% unused", T);
    scene_text_draw(&f->tx, L->row_contig[0].x, hy, SCENE_MIN_FONT * u, true, ALIGN_LEFT,
                    L->row_contig[0].w + 3.2 * u, th->text, head);
    // one scale for every paged row: the longest shown, at least four blocks
    int maxb = 4;
    for (int r = 0; r < L->n_rows; r++) {
        const ServeSeq *q = &s->seq[L->row_seq[r]];
        const int nb = (q->n_tokens + B - 1) / B;
        maxb = nb > maxb ? nb : maxb;
    }
    const double bgap = fmax(1, 0.15 * u);
    for (int r = 0; r < L->n_rows; r++) {
        const ServeSeq *q = &s->seq[L->row_seq[r]];
        const SceneRect p = L->row_paged[r], c = L->row_contig[r];
        const Rgba rc = request_colour(th, q->request);
        // the label: a swatch of the request's colour, then its name in that colour
        rect(cr, (SceneRect){L->rows.x, p.y + 0.15 * p.h, 0.9 * u, 0.7 * p.h}, rc);
        char name[32];
        snprintf(name, sizeof name, "r%d.%d", q->request, q->sample);
        scene_text_draw(&f->tx, L->rows.x + 1.3 * u, p.y + (p.h - 1.3 * SCENE_MIN_FONT * u) / 2,
                        SCENE_MIN_FONT * u, L->row_seq[r] == L->selected, ALIGN_LEFT, 5 * u, rc,
                        name);
        if (q->state != SEQ_RUNNING) {
            char why[64];
            snprintf(why, sizeof why, q->preempted ? "waiting (preempted %d\xc3\x97)" : "waiting",
                     q->preempted);
            scene_text_draw(&f->tx, p.x, p.y + (p.h - 1.3 * SCENE_MIN_FONT * u) / 2,
                            SCENE_MIN_FONT * u, false, ALIGN_LEFT, p.w, th->text_dim, why);
            continue;
        }
        const KvCache *kc = &q->cache;
        const int len = kvcache_len(kc);
        const double ppp = (p.w - (maxb - 1) * bgap) / ((double)maxb * B);
        for (int i = 0; i < kvpaged_blocks(kc) && i < maxb; i++) {
            const int b = kvpaged_block(kc, i), in = len - i * B < B ? len - i * B : B;
            const SceneRect seg = {p.x + i * (B * ppp + bgap), p.y, B * ppp, p.h};
            const Rgba col = s->pool.ref[b] > 1 ? shared_fill(th) : rc;
            rect(cr, seg, scene_rgba_over((Rgba){col.r, col.g, col.b, 0.3}, th->bg));
            rect(cr, (SceneRect){seg.x, seg.y, in > 0 ? in * ppp : 0, seg.h}, col);
        }
        // contiguous: the whole context reserved, the tokens at its start, the rest shaded
        rect(cr, c, th->panel);
        rect(cr, (SceneRect){c.x, c.y, c.w * len / T, c.h}, rc);
        hatch(cr, (SceneRect){c.x + c.w * len / T, c.y, c.w - c.w * len / T, c.h}, th->cache_off,
              0.6 * u);
        outline(cr, c, th->panel_edge, fmax(1, 0.06 * u));
        char waste[32];
        snprintf(waste, sizeof waste, "%.0f%%", 100.0 * (T - len) / T);
        scene_text_draw(&f->tx, c.x + c.w + 0.4 * u, c.y + (c.h - 1.3 * SCENE_MIN_FONT * u) / 2,
                        SCENE_MIN_FONT * u, false, ALIGN_LEFT, 3.0 * u, th->text_dim, waste);
    }
}

static double pct(uint64_t part, uint64_t whole) {
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void draw_panel(PoolFrame *f) {
    const Serve *s = f->s;
    const PoolLayout *L = f->L;
    const Theme *th = f->th;
    const double u = f->u;
    cairo_t *cr = f->cr;
    const SceneRect p = L->panel;
    rect(cr, p, th->panel);
    outline(cr, p, th->panel_edge, fmax(1, 0.06 * u));
    scene_text_on(&f->tx, th->panel);
    const ServeStepStats *st = &s->last;
    char v[POOL_COUNTERS][48];
    const char *label[POOL_COUNTERS] = {
        "running",          "waiting",         "preempted (total)", "finished",
        "blocks used",      "blocks free",     "shared blocks",     "paged waste",
        "contiguous waste", "contiguous fits", "tokens this step",  "FLOPs saved by sharing"};
    snprintf(v[0], sizeof v[0], "%d", st->running);
    snprintf(v[1], sizeof v[1], "%d", st->waiting + st->pending);
    snprintf(v[2], sizeof v[2], "%llu", (unsigned long long)s->total.preemptions);
    snprintf(v[3], sizeof v[3], "%d", st->finished);
    snprintf(v[4], sizeof v[4], "%d / %d", st->blocks_used, s->pool.n_blocks);
    snprintf(v[5], sizeof v[5], "%d", st->blocks_free);
    snprintf(v[6], sizeof v[6], "%d", st->blocks_shared);
    snprintf(v[7], sizeof v[7], "%.1f%%", pct(st->slots_unused, st->slots_used));
    snprintf(v[8], sizeof v[8], "%.1f%%", pct(st->contig_unused, st->contig_reserved));
    snprintf(v[9], sizeof v[9], "%d of %d", st->contig_fit, st->running);
    snprintf(v[10], sizeof v[10], "%llu", (unsigned long long)st->tokens);
    kv_format_number(v[11], sizeof v[11], (double)s->total.flops_saved, KV_NUM_SI, "FLOP");
    const double row = fmin(2.2 * u, (p.h - 9.5 * u) / POOL_COUNTERS);
    double y = p.y + 0.5 * u;
    for (int i = 0; i < POOL_COUNTERS; i++, y += row) {
        const bool wide = i == POOL_COUNTERS - 1; // the last value on a line of its own
        scene_text_draw(&f->tx, p.x + 0.8 * u, y + (wide ? 0 : 0.35 * u), SCENE_MIN_FONT * u, false,
                        ALIGN_LEFT, p.w - 1.6 * u, th->text_dim, label[i]);
        if (wide)
            y += 1.5 * u;
        scene_text_role(&f->tx, SCENE_TEXT_COUNTER);
        scene_text_draw(&f->tx, p.x + p.w - 0.8 * u, y, SCENE_BIG_FONT * u, true, ALIGN_RIGHT,
                        wide ? p.w - 1.6 * u : p.w * 0.45, th->text, v[i]);
        scene_text_role(&f->tx, SCENE_TEXT_LABEL);
    }
    // the key
    y += 0.8 * u;
    const Rgba rc = request_colour(th, 1), sf = shared_fill(th);
    struct {
        Rgba fill;
        int kind; // 0 solid, 1 pale, 2 free, 3 hatched
        const char *text;
    } key[] = {
        {rc, 0, "tokens of a request"},
        {rc, 1, "slots not filled yet"},
        {sf, 0, "shared block (\xc3\x97 tables)"},
        {th->panel, 2, "free block"},
        {th->cache_off, 3, "reserved, no token"},
    };
    for (size_t k = 0; k < sizeof key / sizeof key[0]; k++, y += 1.75 * u) {
        const SceneRect sw = {p.x + 0.8 * u, y + 0.2 * u, 1.6 * u, 1.1 * u};
        if (key[k].kind == 1)
            rect(cr, sw, scene_rgba_over((Rgba){rc.r, rc.g, rc.b, 0.3}, th->bg));
        else if (key[k].kind == 3)
            hatch(cr, sw, key[k].fill, 0.5 * u);
        else
            rect(cr, sw, key[k].fill);
        if (key[k].kind >= 2)
            outline(cr, sw, th->panel_edge, fmax(1, 0.08 * u));
        scene_text_draw(&f->tx, sw.x + sw.w + 0.6 * u, y, SCENE_MIN_FONT * u, false, ALIGN_LEFT,
                        p.w - 3.8 * u, th->text, key[k].text);
    }
    scene_text_on(&f->tx, th->bg);
}

static void draw_top(PoolFrame *f) {
    const Serve *s = f->s;
    const PoolLayout *L = f->L;
    char t[200], when[48]; // the step the picture shows: the last one run (as serve's log counts)
    if (s->step > 0)
        snprintf(when, sizeof when, "step %d", s->step - 1);
    else
        snprintf(when, sizeof when, "before the first step");
    snprintf(t, sizeof t,
             "Serving %d requests: %s \xc2\xb7 continuous batching \xc2\xb7 prefix sharing %s",
             s->n_req, when, s->sharing ? "on" : "off");
    scene_text_draw(&f->tx, L->top.x, L->top.y, SCENE_BIG_FONT * f->u, true, ALIGN_LEFT, L->top.w,
                    f->th->text, t);
}

void scene_pool_frame(cairo_t *cr, const View *v, int width, int height) {
    PoolLayout L;
    pool_layout(v->serve, v, width, height, &L);
    PoolFrame f = {
        .cr = cr, .s = v->serve, .v = v, .th = scene_theme_get(v->theme), .L = &L, .u = L.unit};
    cairo_save(cr);
    cairo_rectangle(cr, 0, 0, width, height);
    cairo_clip(cr);
    if (!v->transparent) {
        scene_set_rgba(cr, f.th->bg);
        cairo_paint(cr);
    }
    scene_text_begin(&f.tx, cr, v->text_sink);
    f.tx.min_size = SCENE_MIN_FONT * f.u;
    scene_text_on(&f.tx, f.th->bg);
    draw_top(&f);
    draw_grid(&f);
    draw_table(&f);
    draw_rows(&f);
    draw_panel(&f);
    if (L.caption.h > 0) { // the lesson's caption, drawn as every view draws it
        SceneLayout lay = {.unit = L.unit, .caption = L.caption, .caption_lines = L.caption_lines};
        Frame fr = {.cr = cr, .v = v, .th = f.th, .lay = &lay, .tx = f.tx, .u = f.u, .t = 1};
        scene_draw_caption(&fr);
    }
    scene_text_end(&f.tx);
    cairo_restore(cr);
}

// ----------------------------------------------------------------------------------------------
// The view's row without a serving session

void scene_pool_row_layout(const Session *s, const View *v, SceneRect area, SceneLayout *L) {
    L->beams = area;
}

void scene_pool_row_draw(Frame *f) {
    const SceneRect a = f->lay->beams;
    scene_text_term(&f->tx, "pool"); // every line of the sentence
    scene_text_draw_wrapped(&f->tx, a.x + f->u, a.y + f->u, SCENE_BIG_FONT * f->u, false,
                            a.w - 2 * f->u, 4, f->th->text,
                            "The pool view shows a serving session: many requests over one paged "
                            "KV cache. Open it with kvscope run --serve FILE (or --serve "
                            "classroom), or render it with kvscope render --view pool.");
    scene_text_term(&f->tx, NULL);
}

int scene_pool_row_hit(const SceneLayout *L, double x, double y) {
    return -1; // no token columns in this view
}
