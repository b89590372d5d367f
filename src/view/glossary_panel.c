// glossary_panel.c — the glossary panel: every entry of the glossary (View.glossary) over the
// picture, its term and its short definition, in columns and pages at the classroom's text size
// (never smaller: a glossary that does not fit goes on more pages). The window opens it with one
// key and turns its pages; exports of an open panel show the page shown.
//
// What is not here: reading the glossary (glossary.c), the keys (src/app).
#include "view/scene_internal.h"

#include <math.h>
#include <stdio.h>

// Sizes in units: the definitions at the smallest text, terms a little larger.
#define DEF_FONT SCENE_MIN_FONT
#define TERM_FONT (1.15 * SCENE_MIN_FONT)
#define LINE 1.25 // line height, in font sizes (pango's is about 1.17)
#define GAP 0.7   // between two entries, in units

typedef struct {
    SceneRect box; // the panel
    double col_w;  // a column's width
    int cols;      // columns on a page
    double top;    // y of the first entry
    double u;      // the unit
} PanelGeom;

static PanelGeom geometry(int width, int height, double u) {
    PanelGeom g;
    g.u = u;
    g.box = (SceneRect){1.5 * u, 1.2 * u, width - 3 * u, height - 2.4 * u};
    g.cols = g.box.w > 70 * u ? 2 : 1;
    g.col_w = (g.box.w - 2 * u - (g.cols - 1) * 2 * u) / g.cols;
    g.top = g.box.y + 3.4 * u;
    return g;
}

static double entry_h(const PanelGeom *g, const GlossaryEntry *e) {
    double u = g->u;
    int lines = scene_text_line_count(DEF_FONT * u, g->col_w, e->short_text);
    return LINE * TERM_FONT * u + lines * LINE * DEF_FONT * u + GAP * u;
}

// Places the entries page by page, column by column. For page `want` (when >= 0) calls place
// with each entry's index and top left. Returns the number of pages.
static int paginate(const Glossary *gl, const PanelGeom *g, int want,
                    void (*place)(void *ctx, int i, double x, double y), void *ctx) {
    if (!gl || gl->n == 0)
        return 1;
    const double bottom = g->box.y + g->box.h - 0.6 * g->u;
    int page = 0, col = 0;
    double y = g->top;
    for (int i = 0; i < gl->n; i++) {
        double h = entry_h(g, &gl->entries[i]);
        if (y + h > bottom && y > g->top) { // the next column, or the next page
            y = g->top;
            if (++col == g->cols)
                col = 0, page++;
        }
        if (page == want && place)
            place(ctx, i, g->box.x + g->u + col * (g->col_w + 2 * g->u), y);
        y += h;
    }
    return page + 1;
}

int scene_glossary_pages(const Session *s, const View *v, int width, int height) {
    SceneLayout L;
    scene_layout(s, v, width, height, &L);
    PanelGeom g = geometry(width, height, L.unit);
    return paginate(v->glossary, &g, -1, NULL, NULL);
}

typedef struct {
    Frame *f;
    const PanelGeom *g;
} PlaceCtx;

static void draw_entry(void *ctx, int i, double x, double y) {
    PlaceCtx *c = ctx;
    Frame *f = c->f;
    const GlossaryEntry *e = &f->v->glossary->entries[i];
    const double u = f->u;
    scene_text_term(&f->tx, e->term); // an entry's lines stand for it, whatever their words
    scene_text_draw(&f->tx, x, y, TERM_FONT * u, true, ALIGN_LEFT, c->g->col_w, f->th->accent_text,
                    e->term);
    scene_text_draw_wrapped(&f->tx, x, y + LINE * TERM_FONT * u, DEF_FONT * u, false, c->g->col_w,
                            0, f->th->text, e->short_text);
    scene_text_term(&f->tx, NULL);
}

void scene_draw_glossary_panel(Frame *f) {
    const View *v = f->v;
    if (!v->glossary_open || !v->glossary)
        return;
    const Theme *th = f->th;
    cairo_t *cr = f->cr;
    const double u = f->u;
    PanelGeom g = geometry(f->lay->width, f->lay->height, u);
    int pages = paginate(v->glossary, &g, -1, NULL, NULL);
    int page = v->glossary_page < 0 ? 0 : v->glossary_page >= pages ? pages - 1 : v->glossary_page;
    cairo_set_source_rgba(cr, 0, 0, 0, th->dark ? 0.55 : 0.3);
    cairo_paint(cr);
    cairo_rectangle(cr, g.box.x, g.box.y, g.box.w, g.box.h);
    scene_set_rgba(cr, th->panel);
    cairo_fill_preserve(cr);
    scene_set_rgba(cr, th->accent);
    cairo_set_line_width(cr, fmax(1, 0.1 * u));
    cairo_stroke(cr);
    scene_text_on(&f->tx, th->panel);
    scene_text_term(&f->tx, "glossary");
    double tw = scene_text_draw(&f->tx, g.box.x + u, g.box.y + 0.6 * u, SCENE_BIG_FONT * u, true,
                                ALIGN_LEFT, 0, th->text, "GLOSSARY");
    char buf[160];
    snprintf(buf, sizeof buf,
             "page %d / %d \xc2\xb7 %d terms \xc2\xb7 A: next page \xc2\xb7 "
             "Shift+A: back \xc2\xb7 Esc: close",
             page + 1, pages, v->glossary->n);
    scene_text_draw(&f->tx, g.box.x + 2 * u + tw, g.box.y + 0.85 * u, DEF_FONT * u, false,
                    ALIGN_LEFT, g.box.w - 3 * u - tw, th->text_dim, buf);
    scene_text_term(&f->tx, NULL);
    PlaceCtx ctx = {f, &g};
    paginate(v->glossary, &g, page, draw_entry, &ctx);
    scene_text_on(&f->tx, th->bg);
}
