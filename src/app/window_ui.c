// window_ui.c — the toolbar strip below the scene: its layout (buttons the mouse can click, the
// speed slider, the sampler panel, the prompt entry), generated from the action table
// (window_actions.c), and its drawing with cairo. The scene itself is drawn by scene_draw above
// the strip; nothing here draws over the scene but a button's tooltip, which exports never show.
#include "app/window.h"

#include <math.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <string.h>

#define FONT "DejaVu Sans"

// ----------------------------------------------------------------------------------------------
// Measuring text without a target: one scratch context for the whole process (UI thread only).

static cairo_t *measure;

void toolbar_release(void) {
    if (measure)
        cairo_destroy(measure);
    measure = NULL;
}

static cairo_t *measure_cr(void) {
    if (!measure) {
        cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
        measure = cairo_create(s);
        cairo_surface_destroy(s);
    }
    return measure;
}

// A layout of s at `size` user units (owned: g_object_unref).
static PangoLayout *layout_for(cairo_t *cr, const char *s, double size, bool bold) {
    PangoLayout *l = pango_cairo_create_layout(cr);
    PangoFontDescription *fd = pango_font_description_from_string(FONT);
    pango_font_description_set_absolute_size(fd, size * PANGO_SCALE);
    pango_font_description_set_weight(fd, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_layout_set_font_description(l, fd);
    pango_font_description_free(fd);
    pango_layout_set_text(l, s, -1);
    return l;
}

static double text_w(const char *s, double size) {
    PangoLayout *l = layout_for(measure_cr(), s, size, false);
    int w, h;
    pango_layout_get_size(l, &w, &h);
    g_object_unref(l);
    return w / (double)PANGO_SCALE;
}

// Draws s from x with its line box centred on cy; returns its width.
static double text_at(cairo_t *cr, const char *s, double x, double cy, double size, bool bold) {
    PangoLayout *l = layout_for(cr, s, size, bold);
    int w, h;
    pango_layout_get_size(l, &w, &h);
    cairo_move_to(cr, x, cy - h / (2.0 * PANGO_SCALE));
    pango_cairo_show_layout(cr, l);
    g_object_unref(l);
    return w / (double)PANGO_SCALE;
}

// ----------------------------------------------------------------------------------------------
// Layout

static double bar_h(const AppState *a) {
    double h = round(a->height * 0.05);
    return h < 34 ? 34 : h > 58 ? 58 : h;
}

// Places buttons [from, to) in a row at y, each as wide as its label (the slider wider), shrinking
// the font when the row would not fit. Returns the font size used.
static double place_row(AppState *a, int from, int to, double y, double h) {
    const double gap = 4, margin = 6;
    double size = h * 0.42;
    for (int pass = 0; pass < 6; pass++) {
        double pad = size * 0.9, total = margin * 2;
        for (int i = from; i < to; i++) {
            ToolButton *b = &a->buttons[i];
            b->w = text_w(b->label, size) + 2 * pad;
            if (b->speed_slider)
                b->w += size * 3;
            total += b->w + gap;
        }
        if (total <= a->width || pass == 5) {
            double x = margin;
            for (int i = from; i < to; i++) {
                ToolButton *b = &a->buttons[i];
                b->x = x, b->y = y + 4, b->h = h - 8;
                b->font = size;
                x += b->w + gap;
            }
            break;
        }
        // shrink the font and padding (gaps and margins stay) until the row fits
        double fixed = margin * 2 + gap * (to - from);
        double want = a->width - fixed, have = total - fixed;
        size *= (want > 1 ? want : 1) / have * 0.98;
    }
    return size;
}

void app_geometry(AppState *a) {
    double h = bar_h(a);
    a->toolbar_h = a->sampler_open ? 2 * h : h;
    if (a->toolbar_h > a->height / 2)
        a->toolbar_h = a->height / 2;
    a->scene_h = (int)(a->height - a->toolbar_h);
    if (a->scene_h < 1)
        a->scene_h = 1;
}

// What the toolbar shows in the current state: the rows of the action table that have a place
// on it and may run now, in the order of their places; a row's readout comes before its button.
static int toolbar_items(const AppState *a, ToolButton *out) {
    if (a->typing)
        return 0; // the strip is the prompt entry
    const ActionRow *rows[TOOLBAR_MAX];
    int n_rows = 0;
    for (int i = 0; i < app_n_actions && n_rows < TOOLBAR_MAX; i++) {
        const ActionRow *r = &app_actions[i];
        if (r->bar <= 0 || !app_action_allowed(a, r) ||
            ((r->when & ACT_WHEN_BAR_NO_LESSON) && a->lesson))
            continue;
        int j = n_rows++;
        for (; j > 0 && rows[j - 1]->bar > r->bar; j--) // by place (a short insertion sort)
            rows[j] = rows[j - 1];
        rows[j] = r;
    }
    int n = 0;
    for (int i = 0; i < n_rows; i++) {
        const ActionRow *r = rows[i];
        for (int part = 0; part < 2 && n < TOOLBAR_MAX; part++) {
            ActionLabelFn fn = part == 0 ? r->readout : r->label_fn;
            if (part == 0 && !fn)
                continue;
            ToolButton *b = &out[n++];
            memset(b, 0, sizeof *b);
            b->row = r;
            b->action = r->act;
            b->readout = part == 0;
            b->speed_slider = part == 1 && r->act == ACT_SPEED;
            char buf[48];
            const char *label = fn ? fn(a, buf, sizeof buf, &b->on) : r->label;
            snprintf(b->label, sizeof b->label, "%s", label ? label : "");
        }
    }
    return n;
}

void toolbar_update(AppState *a) {
    app_geometry(a);
    ToolButton items[TOOLBAR_MAX];
    int n = toolbar_items(a, items);
    bool same = n == a->n_buttons && a->bar_w == a->width && a->bar_h_laid == a->height &&
                a->bar_typing == a->typing && a->n_layouts > 0;
    for (int i = 0; same && i < n; i++)
        same = items[i].row == a->buttons[i].row && items[i].readout == a->buttons[i].readout &&
               strcmp(items[i].label, a->buttons[i].label) == 0;
    if (same) { // only highlights may have changed: the places stay
        for (int i = 0; i < n; i++)
            a->buttons[i].on = items[i].on;
        return;
    }
    memcpy(a->buttons, items, sizeof items[0] * (size_t)n);
    a->n_buttons = n;
    a->bar_w = a->width, a->bar_h_laid = a->height, a->bar_typing = a->typing;
    a->n_layouts++;
    double h = bar_h(a), y0 = a->scene_h;
    int panel = 0; // the first button of the sampler panel's row
    while (panel < n && a->buttons[panel].row->bar < ACTION_BAR_PANEL)
        panel++;
    place_row(a, 0, panel, y0, h);
    if (panel < n)
        place_row(a, panel, n, y0 + h, h);
}

const ToolButton *toolbar_buttons(AppState *a, int *n) {
    toolbar_update(a);
    *n = a->n_buttons;
    return a->buttons;
}

static const ToolButton *hit_at(const AppState *a, double x, double y) {
    for (int i = 0; i < a->n_buttons; i++) {
        const ToolButton *b = &a->buttons[i];
        if (!b->readout && x >= b->x && x < b->x + b->w && y >= b->y && y < b->y + b->h)
            return b;
    }
    return NULL;
}

const ToolButton *toolbar_hit(AppState *a, double x, double y) {
    toolbar_update(a);
    return hit_at(a, x, y);
}

const ToolButton *toolbar_find(AppState *a, AppAction act) {
    toolbar_update(a);
    for (int i = 0; i < a->n_buttons; i++)
        if (a->buttons[i].action == act && act != ACT_NONE && !a->buttons[i].readout)
            return &a->buttons[i];
    return NULL;
}

const ToolButton *toolbar_tip(AppState *a) {
    if (!a->tip_shown || !a->tip_row)
        return NULL;
    toolbar_update(a);
    for (int i = 0; i < a->n_buttons; i++) {
        const ToolButton *b = &a->buttons[i];
        if (b->row == a->tip_row && !b->readout)
            return b->row->tip || b->row->help ? b : NULL;
    }
    return NULL;
}

// ----------------------------------------------------------------------------------------------
// Drawing

typedef struct {
    double r, g, b;
} Col;

typedef struct {
    Col bg, button, edge, text, dim, on, on_text, hot, error;
} Palette;

static const Palette dark = {
    {0.07, 0.08, 0.10}, {0.15, 0.17, 0.20}, {0.27, 0.30, 0.35},
    {0.92, 0.93, 0.95}, {0.60, 0.63, 0.68}, {0.16, 0.42, 0.80},
    {1, 1, 1},          {0.22, 0.25, 0.30}, {1.0, 0.45, 0.40},
};
static const Palette light = {
    {0.90, 0.91, 0.93}, {1, 1, 1}, {0.70, 0.72, 0.76}, {0.10, 0.11, 0.13}, {0.40, 0.42, 0.46},
    {0.16, 0.42, 0.80}, {1, 1, 1}, {0.93, 0.95, 0.98}, {0.75, 0.10, 0.10},
};

static void set(cairo_t *cr, Col c) {
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

static void rounded(cairo_t *cr, double x, double y, double w, double h, double r) {
    cairo_new_sub_path(cr);
    cairo_arc(cr, x + w - r, y + r, r, -M_PI / 2, 0);
    cairo_arc(cr, x + w - r, y + h - r, r, 0, M_PI / 2);
    cairo_arc(cr, x + r, y + h - r, r, M_PI / 2, M_PI);
    cairo_arc(cr, x + r, y + r, r, M_PI, 1.5 * M_PI);
    cairo_close_path(cr);
}

static void centred_text(cairo_t *cr, const char *s, double cx, double cy, double size) {
    text_at(cr, s, cx - text_w(s, size) / 2, cy, size, false);
}

static void draw_button(cairo_t *cr, const Palette *p, const AppState *a, const ToolButton *b) {
    double size = b->font;
    bool hot = hit_at(a, a->mouse_x, a->mouse_y) == b;
    if (b->readout) { // a readout: a field of the sampler panel, the beat
        if (b->on) {
            rounded(cr, b->x, b->y, b->w, b->h, b->h * 0.2);
            set(cr, p->hot);
            cairo_fill(cr);
        }
        set(cr, b->on ? p->text : p->dim);
        centred_text(cr, b->label, b->x + b->w / 2, b->y + b->h / 2, size);
        return;
    }
    rounded(cr, b->x, b->y, b->w, b->h, b->h * 0.2);
    set(cr, b->on ? p->on : hot ? p->hot : p->button);
    cairo_fill_preserve(cr);
    set(cr, p->edge);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    if (b->speed_slider) { // notches filled up to the speed
        double nw = (b->w - 8) / APP_SPEEDS;
        for (int i = 0; i < APP_SPEEDS; i++) {
            cairo_rectangle(cr, b->x + 4 + i * nw + 1, b->y + b->h - 6, nw - 2, 3);
            set(cr, i <= a->speed_i ? p->on : p->edge);
            cairo_fill(cr);
        }
    }
    set(cr, b->on ? p->on_text : p->text);
    centred_text(cr, b->label, b->x + b->w / 2, b->y + b->h / 2 - (b->speed_slider ? 2 : 0), size);
}

// The keys of an action as the help lists them (the hints below name keys from the table too).
static void keys_of(AppAction act, char *buf, size_t cap) {
    const ActionRow *r = app_action(act);
    buf[0] = '\0';
    if (r)
        app_action_keys_text(r, buf, cap);
}

static void draw_entry(AppState *a, cairo_t *cr, const Palette *p) {
    double h = bar_h(a), y = a->scene_h, size = h * 0.42;
    set(cr, p->on);
    double x = 10 + text_at(cr, "Prompt:", 10, y + h / 2, size, true) + 10;
    char run[32], cancel[32], keys_hint[96];
    keys_of(ACT_TYPE_RUN, run, sizeof run);
    keys_of(ACT_ESCAPE, cancel, sizeof cancel);
    snprintf(keys_hint, sizeof keys_hint, "%s runs it \u00B7 %s cancels", run, cancel);
    const char *hint = a->prompt_error[0] ? a->prompt_error : keys_hint;
    double hint_w = text_w(hint, size * 0.85) + 20;
    double box_w = a->width - x - hint_w - 10;
    if (box_w < 100)
        box_w = 100;
    rounded(cr, x - 4, y + 5, box_w, h - 10, 4);
    set(cr, p->button);
    cairo_fill_preserve(cr);
    set(cr, p->on);
    cairo_stroke(cr);
    // show the end of what was typed when it is longer than the box
    cairo_save(cr);
    cairo_rectangle(cr, x - 2, y, box_w - 4, h);
    cairo_clip(cr);
    double tw = text_w(a->typed, size);
    double tx = tw > box_w - 20 ? x + (box_w - 20 - tw) : x;
    set(cr, p->text);
    double end = tx + text_at(cr, a->typed, tx, y + h / 2, size, false);
    cairo_rectangle(cr, end + 2, y + h * 0.25, 2, h * 0.5); // the caret
    cairo_fill(cr);
    cairo_restore(cr);
    set(cr, a->prompt_error[0] ? p->error : p->dim);
    text_at(cr, hint, x + box_w + 10, y + h / 2, size * 0.85, false);
}

void app_draw_toolbar(AppState *a, cairo_t *cr) {
    toolbar_update(a);
    const Palette *p = a->view.theme == THEME_DARK ? &dark : &light;
    cairo_save(cr);
    cairo_rectangle(cr, 0, a->scene_h, a->width, a->height - a->scene_h);
    cairo_clip(cr);
    set(cr, p->bg);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, p->edge.r, p->edge.g, p->edge.b);
    cairo_rectangle(cr, 0, a->scene_h, a->width, 1);
    cairo_fill(cr);
    if (a->typing) {
        draw_entry(a, cr, p);
    } else {
        for (int i = 0; i < a->n_buttons; i++)
            draw_button(cr, p, a, &a->buttons[i]);
        if (a->sampler_open && a->n_buttons > 0) { // a hint after the panel's fields
            const ToolButton *last = &a->buttons[a->n_buttons - 1];
            char up[32], down[32], less[32], more[32], hint[200];
            keys_of(ACT_FIELD_PREV, up, sizeof up);
            keys_of(ACT_FIELD_NEXT, down, sizeof down);
            keys_of(ACT_FIELD_DOWN, less, sizeof less);
            keys_of(ACT_FIELD_UP, more, sizeof more);
            snprintf(hint, sizeof hint,
                     "%s%s field \u00B7 %s %s change \u00B7 applies to the next step", up, down,
                     less, more);
            double size = last->h * 0.4;
            if (last->x + last->w + 20 + text_w(hint, size) < a->width) {
                set(cr, p->dim);
                text_at(cr, hint, last->x + last->w + 16, last->y + last->h / 2, size, false);
            }
        }
    }
    cairo_restore(cr);
}

void toolbar_tip_text(AppState *a, char *buf, size_t cap) {
    const ToolButton *b = toolbar_tip(a);
    buf[0] = '\0';
    if (!b)
        return;
    char keys[64];
    app_action_keys_text(b->row, keys, sizeof keys);
    snprintf(buf, cap, "%s%s%s", b->row->tip ? b->row->tip : b->row->help, keys[0] ? "   " : "",
             keys);
}

// The tooltip of the button under the pointer, above the strip: what it does and its keys.
static void draw_tip(AppState *a, cairo_t *cr) {
    const ToolButton *b = toolbar_tip(a);
    if (!b)
        return;
    const Palette *p = a->view.theme == THEME_DARK ? &dark : &light;
    char tip[256], term[320] = "";
    toolbar_tip_text(a, tip, sizeof tip);
    const GlossaryEntry *e = app_action_entry(a, b->row); // a second line: what it changes
    if (e)
        snprintf(term, sizeof term, "%s: %s", e->term, e->short_text);
    double size = b->font, pad = size * 0.6;
    double w = fmax(text_w(tip, size), e ? text_w(term, size) : 0) + 2 * pad, h = size * 2;
    if (e)
        h += size * 1.4;
    double x = b->x + b->w / 2 - w / 2, y = b->y - h - 6;
    x = x + w > a->width - 4 ? a->width - 4 - w : x;
    x = x < 4 ? 4 : x;
    rounded(cr, x, y, w, h, 4);
    set(cr, p->button);
    cairo_fill_preserve(cr);
    set(cr, p->edge);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    set(cr, p->text);
    text_at(cr, tip, x + pad, y + size, size, false);
    if (e) {
        set(cr, p->dim);
        text_at(cr, term, x + pad, y + size * 2.4, size, false);
    }
}

void app_draw(AppState *a, cairo_t *cr) {
    toolbar_update(a);
    if (!a->busy) // the inspector's numbers for the step shown (the session is ours)
        view_prepare(a->s, &a->view);
    cairo_save(cr);
    View v = a->view; // drawn through a sink that keeps the labels for the pointer's tooltips
    SceneTextSink labels = app_label_sink(a);
    v.text_sink = &labels;
    scene_draw(cr, a->s, &v, a->width, a->scene_h, app_anim_t(a));
    cairo_restore(cr);
    app_draw_toolbar(a, cr);
    draw_tip(a, cr);
    app_draw_label_tip(a, cr);
}
