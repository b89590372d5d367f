// annotate.c — the picture's parts named on the picture (View.annotate, `kvscope render
// --annotate`): a callout per part of a column view (tokens, cache blocks, write head, beams)
// and of the frame (phase, mode, counters, chart, next-token panel, legend), each a label with
// a line to the point it names, placed from the layout, so a teacher's handout or the README
// shows what is what in kvscope's own picture.
//
// What is not here: what the parts mean at length (the glossary, assets/glossary.txt).
#include "view/scene_internal.h"

#include <math.h>

typedef struct {
    const char *text;
    double px, py; // the point named
    double lx, ly; // where the label's left end sits (its line box's top)
} Callout;

// A callout's label box: its text's width, kept on the picture.
static SceneRect label_box(Frame *f, const Callout *c, double size) {
    const double u = f->u, pad = 0.35 * u;
    double w = scene_text_width(&f->tx, size, true, c->text, NULL) + 2 * pad, h = 1.3 * size;
    double lx = fmin(fmax(c->lx, 0.3 * u), f->lay->width - w - 0.3 * u);
    double ly = fmin(fmax(c->ly, 0.3 * u), f->lay->height - h - 0.3 * u);
    return (SceneRect){lx, ly, w, h};
}

// The line from the label's nearest side to the point, and the point (under every label).
static void callout_line(Frame *f, const Callout *c, SceneRect b) {
    cairo_t *cr = f->cr;
    double ax = c->px < b.x ? b.x : c->px > b.x + b.w ? b.x + b.w : c->px;
    double ay = c->py < b.y ? b.y : c->py > b.y + b.h ? b.y + b.h : b.y + b.h / 2;
    scene_set_rgba(cr, f->th->text);
    cairo_set_line_width(cr, fmax(1.5, 0.14 * f->u));
    cairo_move_to(cr, ax, ay);
    cairo_line_to(cr, c->px, c->py);
    cairo_stroke(cr);
    cairo_arc(cr, c->px, c->py, 0.3 * f->u, 0, 2 * M_PI);
    cairo_fill(cr);
}

static void callout_label(Frame *f, const Callout *c, SceneRect b, double size) {
    scene_set_rgba(f->cr, f->th->text);
    cairo_rectangle(f->cr, b.x, b.y, b.w, b.h);
    cairo_fill(f->cr);
    scene_text_on(&f->tx, f->th->text);
    scene_text_draw(&f->tx, b.x + 0.35 * f->u, b.y + 0.1 * size, size, true, ALIGN_LEFT, 0,
                    f->th->bg, c->text);
    scene_text_on(&f->tx, f->th->bg);
}

void scene_draw_annotations(Frame *f) {
    if (!f->v->annotate)
        return;
    const SceneLayout *L = f->lay;
    const double u = f->u, row = 2.7 * u;
    // Labels go in two lanes in the free part of the view's area, under what it draws (the
    // parts of the view on the left, the frame's on the right), with lines to their points.
    double y0 = L->main.y + 2 * u;
    if (L->blocks.h > 0)
        y0 = fmax(y0, L->blocks.y + L->blocks.h + 2.5 * u);
    else if (L->token_row.h > 0)
        y0 = fmax(y0, L->token_row.y + L->token_row.h + 2.5 * u);
    y0 = fmin(y0, L->main.y + L->main.h - 5 * row);
    const double left = L->main.x + 1.5 * u, right = L->main.x + L->main.w * 0.52;
    Callout c[12];
    int n = 0, nl = 0, nr = 0;
#define LEFT(t, x, y) (c[n++] = (Callout){t, x, y, left, y0 + row * nl++})
#define RIGHT(t, x, y) (c[n++] = (Callout){t, x, y, right, y0 + row * nr++})
    const bool columns = L->kind == VIEW_SEQUENCE || L->kind == VIEW_LAYERS;
    SceneRect tok, blk;
    if (columns && L->n_tokens > 0 &&
        scene_token_box(L, L->first + 1 < L->n_tokens ? L->first + 1 : L->first, &tok))
        LEFT("tokens (prompt dim, generated bright)", tok.x + tok.w / 2, tok.y + tok.h);
    int p = L->first + 3 < L->n_tokens ? L->first + 3 : L->first;
    if (columns && L->blocks.h > 0 && scene_block_box(L, p, L->n_layers - 1, &blk))
        LEFT("KV cache: one block per layer", blk.x + blk.w / 2, blk.y + blk.h / 2);
    if (columns && L->head_pos >= 0) {
        LEFT("write head", L->head_x, L->head_y);
        if (L->beams.h > 0) // the fans arc above the token row
            LEFT("beams: attention weights", L->token_row.x + L->token_row.w * 0.3,
                 fmax(L->beams.y, L->token_row.y - 1.6 * u));
    }
    LEFT("phase: prefill or decode", L->top.x + 8 * u, L->top.y + L->top.h);
    RIGHT("mode: KV cache on or off", L->top.x + L->top.w - 7 * u, L->top.y + L->top.h);
    if (L->panel.w > 0) {
        RIGHT("counters: FLOPs, cache memory, step time", L->panel.x, L->panel.y + 4 * u);
        RIGHT("chart: cache (line) vs no cache (parabola)", L->panel.x,
              L->panel.y + L->panel.h * 0.5);
        RIGHT("next token: the candidates", L->panel.x, L->panel.y + L->panel.h - 3 * u);
    }
    if (L->legend.h > 0 && scene_view(L->kind)->legend)
        RIGHT("legend: block states, attention weight", L->legend.x + L->legend.w * 0.3,
              L->legend.y + 0.5 * u);
#undef LEFT
#undef RIGHT
    const double size = 1.15 * SCENE_MIN_FONT * u;
    SceneRect box[12];
    for (int i = 0; i < n; i++) // lines first, so every label stays whole over them
        callout_line(f, &c[i], box[i] = label_box(f, &c[i], size));
    for (int i = 0; i < n; i++)
        callout_label(f, &c[i], box[i], size);
}
