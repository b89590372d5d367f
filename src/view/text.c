// text.c — text for the scene: one PangoLayout per frame reused for every string (creating a
// layout per label costs more than drawing it) and token text made printable.
#include "view/scene_internal.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define FONT_FAMILY "DejaVu Sans"

void scene_text_begin(TextCtx *tc, cairo_t *cr, const SceneTextSink *sink) {
    tc->cr = cr;
    tc->layout = pango_cairo_create_layout(cr);
    tc->font = pango_font_description_from_string(FONT_FAMILY);
    tc->sink = sink;
    tc->cur_size = -1;
    tc->cur_bold = false;
    tc->bg = (Rgba){0, 0, 0, 1};
    tc->role = SCENE_TEXT_LABEL;
    tc->term = NULL;
    tc->token_text = false;
    tc->min_size = 0;
    pango_layout_set_single_paragraph_mode(tc->layout, TRUE);
}

void scene_text_end(TextCtx *tc) {
    if (tc->layout)
        g_object_unref(tc->layout);
    if (tc->font)
        pango_font_description_free(tc->font);
    tc->layout = NULL;
    tc->font = NULL;
}

void scene_text_on(TextCtx *tc, Rgba bg) {
    tc->bg = bg;
}

void scene_text_role(TextCtx *tc, SceneTextRole role) {
    tc->role = role;
}

void scene_text_term(TextCtx *tc, const char *term) {
    tc->term = term;
}

void scene_text_tokens(TextCtx *tc, bool token_text) {
    tc->token_text = token_text;
}

Rgba scene_rgba_over(Rgba c, Rgba under) {
    double a = c.a;
    return (Rgba){c.r * a + under.r * (1 - a), c.g * a + under.g * (1 - a),
                  c.b * a + under.b * (1 - a), 1};
}

// Tells the sink about one line of text: baseline (x, y), its line box, its colour.
static void sink_text(TextCtx *tc, double x, double y, SceneRect box, Rgba colour, const char *s) {
    if (!tc->sink || !tc->sink->fn)
        return;
    // a token's own text is never looked up in the label table: "mode" may be a token
    const bool token = tc->token_text || tc->role == SCENE_TEXT_TOKEN;
    SceneText t = {
        .x = x,
        .y = y,
        .size = tc->cur_size,
        .bold = tc->cur_bold,
        .utf8 = s,
        .box = box,
        .colour = colour,
        .background = tc->bg,
        .role = tc->role,
        .cut = tc->cut,
        .term = tc->term ? tc->term
                : token  ? NULL
                         : scene_label_term(s),
        .token_text = token,
    };
    tc->sink->fn(tc->sink->ctx, &t);
}

static void set_font(TextCtx *tc, double size, bool bold) {
    // Quarter-unit sizes keep pango's font cache from seeing a new size for every label.
    size = floor(size * 4 + 0.5) / 4;
    if (size < 1)
        size = 1;
    if (size == tc->cur_size && bold == tc->cur_bold)
        return;
    pango_font_description_set_absolute_size(tc->font, size * PANGO_SCALE);
    pango_font_description_set_weight(tc->font, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
    pango_layout_set_font_description(tc->layout, tc->font);
    tc->cur_size = size;
    tc->cur_bold = bold;
}

int scene_text_line_count(double size, double width, const char *s) {
    if (!s || !*s)
        return 0;
    PangoContext *ctx = pango_font_map_create_context(pango_cairo_font_map_get_default());
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    pango_cairo_context_set_font_options(ctx, fo);
    cairo_font_options_destroy(fo);
    PangoLayout *layout = pango_layout_new(ctx);
    PangoFontDescription *font = pango_font_description_from_string(FONT_FAMILY);
    size = floor(size * 4 + 0.5) / 4; // as set_font rounds it
    pango_font_description_set_absolute_size(font, (size < 1 ? 1 : size) * PANGO_SCALE);
    pango_layout_set_font_description(layout, font);
    pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_width(layout, (int)(width * PANGO_SCALE));
    pango_layout_set_text(layout, s, -1);
    int n = pango_layout_get_line_count(layout);
    pango_font_description_free(font);
    g_object_unref(layout);
    g_object_unref(ctx);
    return n;
}

double scene_text_width(TextCtx *tc, double size, bool bold, const char *s, double *line_h) {
    set_font(tc, size, bold);
    pango_layout_set_width(tc->layout, -1);
    pango_layout_set_text(tc->layout, s, -1);
    PangoRectangle logical;
    pango_layout_get_extents(tc->layout, NULL, &logical);
    if (line_h)
        *line_h = (double)logical.height / PANGO_SCALE;
    return (double)logical.width / PANGO_SCALE;
}

double scene_text_draw(TextCtx *tc, double x, double y, double size, bool bold, Align align,
                       double max_w, Rgba colour, const char *s) {
    if (!s || !*s)
        return 0;
    double w = scene_text_width(tc, size, bold, s, NULL);
    if (max_w > 0 && w > max_w) {
        double shrink = max_w / w;
        if (shrink < 0.6)
            shrink = 0.6;
        // Never under the picture's smallest type: cut with an ellipsis instead.
        if (size * shrink < tc->min_size)
            shrink = size > tc->min_size ? tc->min_size / size : 1;
        double top_pad = size * (1 - shrink) * 0.5; // keep the shrunken line centred
        w = scene_text_width(tc, size * shrink, bold, s, NULL);
        y += top_pad;
        if (w > max_w) {
            pango_layout_set_ellipsize(tc->layout, PANGO_ELLIPSIZE_END);
            pango_layout_set_width(tc->layout, (int)(max_w * PANGO_SCALE));
            PangoRectangle logical;
            pango_layout_get_extents(tc->layout, NULL, &logical);
            w = (double)logical.width / PANGO_SCALE;
        }
    }
    double left = align == ALIGN_LEFT ? x : align == ALIGN_CENTER ? x - w / 2 : x - w;
    cairo_t *cr = tc->cr;
    scene_set_rgba(cr, colour);
    cairo_move_to(cr, left, y);
    pango_cairo_show_layout(cr, tc->layout);
    if (tc->sink && tc->sink->fn) {
        double base = (double)pango_layout_get_baseline(tc->layout) / PANGO_SCALE;
        PangoRectangle logical;
        pango_layout_get_extents(tc->layout, NULL, &logical);
        SceneRect box = {left, y, w, (double)logical.height / PANGO_SCALE};
        tc->cut = pango_layout_is_ellipsized(tc->layout); // cut with an ellipsis to fit
        sink_text(tc, left, y + base, box, colour, pango_layout_get_text(tc->layout));
        tc->cut = false;
    }
    pango_layout_set_ellipsize(tc->layout, PANGO_ELLIPSIZE_NONE);
    pango_layout_set_width(tc->layout, -1);
    return w;
}

// ----------------------------------------------------------------------------------------------
// Token text

static void make_printable(const char *text, size_t len, bool show_lead, char *out, size_t cap) {
    const unsigned char *p = (const unsigned char *)text;
    size_t o = 0, i = 0;
    // A leading space marks a word start: shown as a ␣ where show_lead asks (token cells and
    // candidates, so " M" and "M" read differently), and wherever the token is nothing but
    // spaces.
    bool all_space = len > 0;
    for (size_t k = 0; k < len; k++)
        all_space = all_space && p[k] == ' ';
    if (!all_space && len > 1 && p[0] == ' ') {
        i = 1;
        if (show_lead && cap > 4) {
            memcpy(out, "\xe2\x90\xa3", 3); // ␣
            o = 3;
        }
    }
#define PUT(str)                                                                                   \
    do {                                                                                           \
        size_t l_ = strlen(str);                                                                   \
        if (o + l_ + 1 > cap)                                                                      \
            goto done;                                                                             \
        memcpy(out + o, str, l_);                                                                  \
        o += l_;                                                                                   \
    } while (0)
    for (; i < len;) {
        unsigned c = p[i];
        char tmp[8];
        if (c == '\n') {
            PUT("\xe2\x86\xb5"); // ↵
            i++;
        } else if (c == '\t') {
            PUT("\xe2\x87\xa5"); // ⇥
            i++;
        } else if (c == ' ' && all_space) {
            PUT("\xe2\x90\xa3"); // ␣
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "<%02X>", c);
            PUT(tmp);
            i++;
        } else {
            size_t n = (size_t)kv_utf8_next(text + i, len - i, NULL);
            if (n == 0) {
                snprintf(tmp, sizeof tmp, "<%02X>", c);
                PUT(tmp);
                i++;
            } else {
                if (o + n + 1 > cap)
                    goto done;
                memcpy(out + o, p + i, n);
                o += n;
                i += n;
            }
        }
    }
    if (o == 0 && len == 1 && p[0] == ' ')
        PUT("\xe2\x90\xa3"); // the space after BOS
#undef PUT
done:
    if (cap)
        out[o < cap ? o : cap - 1] = 0;
}

static void display_id(const Session *s, int prev, int id, bool show_lead, char *out, size_t cap) {
    if (id == TOKEN_BOS) {
        snprintf(out, cap, "<s>");
        return;
    }
    if (id == TOKEN_EOS) {
        snprintf(out, cap, "</s>");
        return;
    }
    char byte_buf[2];
    size_t len = 0;
    const char *t = tokenizer_decode(s->tok, prev, id, byte_buf, &len);
    if (t && len == 0) { // a lone space right after BOS decodes to nothing: show the space
        snprintf(out, cap, "\xe2\x90\xa3");
        return;
    }
    make_printable(t ? t : "", t ? len : 0, show_lead, out, cap);
}

void scene_token_display_id(const Session *s, int prev, int id, char *out, size_t cap) {
    display_id(s, prev, id, true, out, cap);
}

void scene_candidate_display(const Session *s, int prev, int id, char *out, size_t cap) {
    display_id(s, prev, id, true, out, cap);
}

void scene_token_display(const Session *s, int i, char *out, size_t cap) {
    scene_token_display_id(s, i > 0 ? s->tokens[i - 1] : -1, s->tokens[i], out, cap);
}

double scene_text_draw_wrapped(TextCtx *tc, double x, double y, double size, bool bold,
                               double width, int max_lines, Rgba colour, const char *s) {
    if (!s || !*s)
        return 0;
    set_font(tc, size, bold);
    pango_layout_set_single_paragraph_mode(tc->layout, FALSE);
    pango_layout_set_wrap(tc->layout, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_width(tc->layout, (int)(width * PANGO_SCALE));
    pango_layout_set_text(tc->layout, s, -1);
    if (max_lines > 0) {
        pango_layout_set_height(tc->layout, -max_lines);
        pango_layout_set_ellipsize(tc->layout, PANGO_ELLIPSIZE_END);
    }
    PangoRectangle logical;
    pango_layout_get_extents(tc->layout, NULL, &logical);
    scene_set_rgba(tc->cr, colour);
    cairo_move_to(tc->cr, x, y);
    pango_cairo_show_layout(tc->cr, tc->layout);
    if (tc->sink && tc->sink->fn) {
        // One sink call per line, so an SVG keeps each line where it is drawn.
        PangoLayoutIter *it = pango_layout_get_iter(tc->layout);
        const char *text = pango_layout_get_text(tc->layout);
        do {
            PangoLayoutLine *line = pango_layout_iter_get_line_readonly(it);
            PangoRectangle lr;
            pango_layout_iter_get_line_extents(it, NULL, &lr);
            int base = pango_layout_iter_get_baseline(it);
            char buf[512];
            int len = line->length < (int)sizeof buf - 1 ? line->length : (int)sizeof buf - 1;
            memcpy(buf, text + line->start_index, (size_t)len);
            buf[len] = 0;
            SceneRect box = {x + (double)lr.x / PANGO_SCALE, y + (double)lr.y / PANGO_SCALE,
                             (double)lr.width / PANGO_SCALE, (double)lr.height / PANGO_SCALE};
            tc->cut = pango_layout_is_ellipsized(tc->layout);
            sink_text(tc, box.x, y + (double)base / PANGO_SCALE, box, colour, buf);
            tc->cut = false;
        } while (pango_layout_iter_next_line(it));
        pango_layout_iter_free(it);
    }
    pango_layout_set_height(tc->layout, -1);
    pango_layout_set_ellipsize(tc->layout, PANGO_ELLIPSIZE_NONE);
    pango_layout_set_width(tc->layout, -1);
    pango_layout_set_single_paragraph_mode(tc->layout, TRUE);
    return (double)logical.height / PANGO_SCALE;
}
