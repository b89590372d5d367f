// window_glossary.c — the glossary in the window: a label of the picture (a counter, a pipeline
// stage, a legend entry, a heading) that the pointer rests on shows its glossary entry's short
// definition; a toolbar button's tooltip adds the entry of what it changes; the help overlay
// says what each part of the picture is, from the glossary; A opens the glossary panel
// (src/view/glossary_panel.c) and turns its pages.
//
// Which label is where comes from the scene itself: app_draw draws through a text sink that
// keeps every text's box and the entry glossary_label finds for it (the term the scene names,
// else the words), so the hit test sees exactly the labels drawn, in every view and layout.
//
// What is not here: the glossary's format (src/view/glossary.c), the action rows
// (window_actions.c), the toolbar (window_ui.c).
#include "app/window.h"

#include <math.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// Loading

void app_glossary_init(AppState *a) {
    char path[4096];
    KvError err = {0};
    if (glossary_load(&a->glossary, app_glossary_path(path, sizeof path), &err) != KV_OK) {
        memset(&a->glossary, 0, sizeof a->glossary);
        app_notice(a, 6, "No glossary: %s", err.msg);
    }
    a->view.glossary = &a->glossary;
}

void app_glossary_free(AppState *a) {
    a->view.glossary = NULL;
    glossary_free(&a->glossary);
}

// ----------------------------------------------------------------------------------------------
// The help overlay's lines on the picture

// The parts of the picture, as the help names them, each an entry of the glossary.
static const char *const picture_parts[APP_HELP_PARTS] = {
    "token",    "write head",    "block",   "beam",           "attention weight",
    "KV cache", "new this step", "cached",  "read this step", "recompute",
    "eviction", "no cache",      "prefill", "decode",         "counter",
    "FLOP",     "cache memory",  "chart",   "candidate",      "sampling",
};

void app_help_add_parts(AppState *a) {
    int n = a->n_help_rows;
    for (int i = 0; i < APP_HELP_PARTS && n < APP_HELP_MAX; i++) {
        const GlossaryEntry *e = glossary_find(&a->glossary, picture_parts[i]);
        if (!e)
            continue;
        // its first sentence: what it is, in one line
        const char *s = e->short_text, *stop = strstr(s, ". ");
        int len = stop ? (int)(stop - s + 1) : (int)strlen(s);
        snprintf(a->help_parts[i], sizeof a->help_parts[i], "%.*s", len, s);
        a->help_rows[n++] = (ViewHelpRow){e->term, a->help_parts[i]};
    }
    a->n_help_rows = n;
    a->view.help_rows = a->help_rows;
    a->view.n_help_rows = n;
}

// ----------------------------------------------------------------------------------------------
// The labels of the frame drawn, and the one under the pointer

static void collect(void *ctx, const SceneText *t) {
    AppState *a = ctx;
    if (t->role == SCENE_TEXT_TOKEN || t->role == SCENE_TEXT_CAPTION ||
        a->n_labels >= APP_LABELS_MAX)
        return;
    const GlossaryEntry *e = scene_text_entry(&a->glossary, t);
    if (e)
        a->labels[a->n_labels++] = (AppLabel){t->box, e};
}

SceneTextSink app_label_sink(AppState *a) {
    a->n_labels = 0;
    return (SceneTextSink){collect, a};
}

static bool inside(SceneRect r, double x, double y) {
    return x >= r.x && x <= r.x + r.w && y >= r.y && y <= r.y + r.h;
}

void app_label_hover(AppState *a) {
    const AppLabel *hit = NULL;
    bool over_scene = a->mouse_y >= 0 && a->mouse_y < a->scene_h;
    if (over_scene && !a->view.help && !a->view.glossary_open)
        for (int i = a->n_labels - 1; i >= 0 && !hit; i--) // the last drawn is on top
            if (inside(a->labels[i].box, a->mouse_x, a->mouse_y))
                hit = &a->labels[i];
    const GlossaryEntry *e = hit ? hit->entry : NULL;
    if (e == a->label_tip && (!hit || memcmp(&hit->box, &a->label_box, sizeof hit->box) == 0))
        return;
    a->label_tip = e;
    a->label_box = hit ? hit->box : (SceneRect){0};
    a->label_since = a->now;
    if (a->label_shown) {
        a->label_shown = false;
        a->dirty = true;
    }
}

static bool label_due(const AppState *a) {
    return a->label_tip && !a->typing && !a->busy && a->now >= a->label_since + APP_TIP_DELAY;
}

bool app_label_tick(AppState *a) {
    bool due = label_due(a);
    if (due == a->label_shown)
        return false;
    a->label_shown = due;
    return true;
}

double app_label_wake(const AppState *a) {
    if (!a->label_tip || a->label_shown || a->typing || a->busy)
        return -1;
    double n = a->label_since + APP_TIP_DELAY - a->now;
    return n > 0 ? n : 0;
}

// ----------------------------------------------------------------------------------------------
// Toolbar buttons

static const struct {
    const char *action, *term;
} action_terms[] = {
    {"step", "step"},         {"back", "step"},        {"play", "step"},
    {"speed", "step"},        {"faster", "step"},      {"slower", "step"},
    {"cache", "KV cache"},    {"kv", "quantization"},  {"policy", "eviction"},
    {"preset1", "prompt"},    {"preset2", "prompt"},   {"preset3", "prompt"},
    {"prompt", "prompt"},     {"sampler", "sampling"}, {"layer", "layer"},
    {"head", "head"},         {"verify", "drift"},     {"temp-", "temperature"},
    {"temp+", "temperature"}, {"top-k-", "top-k"},     {"top-k+", "top-k"},
    {"top-p-", "top-p"},      {"top-p+", "top-p"},     {"seed-", "seed"},
    {"seed+", "seed"},
};

const GlossaryEntry *app_action_entry(const AppState *a, const ActionRow *r) {
    for (size_t i = 0; r && i < sizeof action_terms / sizeof action_terms[0]; i++)
        if (strcmp(r->name, action_terms[i].action) == 0)
            return glossary_find(&a->glossary, action_terms[i].term);
    return NULL;
}

// ----------------------------------------------------------------------------------------------
// The label tooltip

static PangoLayout *tip_layout(cairo_t *cr, const char *text, double size, bool bold,
                               double width) {
    PangoLayout *l = pango_cairo_create_layout(cr);
    PangoFontDescription *fd = pango_font_description_from_string("DejaVu Sans");
    pango_font_description_set_absolute_size(fd, size * PANGO_SCALE);
    pango_font_description_set_weight(fd, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_layout_set_font_description(l, fd);
    pango_font_description_free(fd);
    pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_width(l, (int)(width * PANGO_SCALE));
    pango_layout_set_text(l, text, -1);
    return l;
}

void app_draw_label_tip(AppState *a, cairo_t *cr) {
    if (!a->label_shown || !a->label_tip)
        return;
    const GlossaryEntry *e = a->label_tip;
    // the scene's smallest text size at this window size (SCENE_MIN_FONT units)
    double u = fmin(a->scene_h / 50.0, a->width / 88.0);
    double size = fmax(14, 1.05 * u), pad = 0.7 * size;
    double w = fmin(34 * size, a->width - 8.0);
    PangoLayout *title = tip_layout(cr, e->term, size * 1.1, true, w - 2 * pad);
    PangoLayout *body = tip_layout(cr, e->short_text, size, false, w - 2 * pad);
    int tw, th, bw, bh;
    pango_layout_get_pixel_size(title, &tw, &th);
    pango_layout_get_pixel_size(body, &bw, &bh);
    double inner = fmax(tw, bw);
    w = inner + 2 * pad;
    double h = th + bh + 2 * pad + 0.3 * size;
    SceneRect b = a->label_box;
    double x = b.x, y = b.y + b.h + 4; // below the label, else above it
    if (y + h > a->scene_h)
        y = b.y - h - 4;
    if (y < 2)
        y = 2;
    x = x + w > a->width - 4 ? a->width - 4 - w : x;
    x = x < 4 ? 4 : x;
    bool dark = a->view.theme == THEME_DARK;
    cairo_save(cr);
    cairo_rectangle(cr, x, y, w, h);
    if (dark)
        cairo_set_source_rgb(cr, 0.13, 0.15, 0.18);
    else
        cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.16, 0.42, 0.80);
    cairo_set_line_width(cr, 1.5);
    cairo_stroke(cr);
    if (dark)
        cairo_set_source_rgb(cr, 0.55, 0.75, 1.0);
    else
        cairo_set_source_rgb(cr, 0.10, 0.30, 0.65);
    cairo_move_to(cr, x + pad, y + pad);
    pango_cairo_show_layout(cr, title);
    if (dark)
        cairo_set_source_rgb(cr, 0.92, 0.93, 0.95);
    else
        cairo_set_source_rgb(cr, 0.10, 0.11, 0.13);
    cairo_move_to(cr, x + pad, y + pad + th + 0.3 * size);
    pango_cairo_show_layout(cr, body);
    cairo_restore(cr);
    g_object_unref(title);
    g_object_unref(body);
}

// ----------------------------------------------------------------------------------------------
// The glossary panel

void app_glossary_next(AppState *a) {
    View *v = &a->view;
    if (!v->glossary_open) {
        v->glossary_open = true;
        v->glossary_page = 0;
        return;
    }
    int pages = scene_glossary_pages(a->s, v, a->width, a->scene_h);
    if (v->glossary_page + 1 < pages)
        v->glossary_page++;
    else
        v->glossary_open = false; // after the last page
}

void app_glossary_prev(AppState *a) {
    View *v = &a->view;
    if (!v->glossary_open) { // opens on the last page
        v->glossary_open = true;
        v->glossary_page = scene_glossary_pages(a->s, v, a->width, a->scene_h) - 1;
        return;
    }
    if (v->glossary_page > 0)
        v->glossary_page--;
    else
        v->glossary_open = false;
}
