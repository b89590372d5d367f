// theme.c — the two themes (dark for projectors, light for print), the attention colour ramp
// and the per-head colours. Only colours live here; no drawing.
#include "view/scene_internal.h"
#include <math.h>
#include <string.h>

#define RGB(hex)                                                                                   \
    { ((hex) >> 16 & 255) / 255.0, ((hex) >> 8 & 255) / 255.0, ((hex)&255) / 255.0, 1.0 }

// Stops of the viridis map (perceptually uniform, readable with every common colour-vision
// deficiency), from weak to strong.
static const Rgba viridis[] = {
    RGB(0x440154), RGB(0x482878), RGB(0x3e4989), RGB(0x31688e), RGB(0x26828e),
    RGB(0x1f9e89), RGB(0x35b779), RGB(0x6ece58), RGB(0xb5de2b), RGB(0xfde725),
};
#define N_VIRIDIS ((int)(sizeof viridis / sizeof viridis[0]))

// The light theme's ramp: the same meaning as the dark theme's (cool and faint = weak, warm and
// prominent = strong), from a pale blue near the white background to a deep orange-red.
static const Rgba warm_light[] = {
    RGB(0xc6dbef), RGB(0x9ecae1), RGB(0x6baed6), RGB(0x4292c6), RGB(0x8c6bb1),
    RGB(0xc2569b), RGB(0xe0442f), RGB(0xc2300a), RGB(0x9a2000),
};
#define N_WARM ((int)(sizeof warm_light / sizeof warm_light[0]))

// Okabe & Ito's palette for categories (heads); the light theme uses darker tones of the same.
static const Rgba heads_dark[] = {
    RGB(0xe69f00), RGB(0x56b4e9), RGB(0x009e73), RGB(0xf0e442),
    RGB(0xcc79a7), RGB(0xd55e00), RGB(0x0072b2), RGB(0xbbbbbb),
};
static const Rgba heads_light[] = {
    RGB(0xc27c00), RGB(0x2b86c4), RGB(0x007a59), RGB(0x8f8500),
    RGB(0xa8457f), RGB(0xb24b00), RGB(0x005a8c), RGB(0x666666),
};
#define N_HEADS ((int)(sizeof heads_dark / sizeof heads_dark[0]))

static const Theme theme_dark = {
    .dark = true,
    .bg = RGB(0x0e1117),
    .panel = RGB(0x171c26),
    .panel_edge = RGB(0x2c3444),
    .text = RGB(0xf2f4f8),
    .text_dim = RGB(0xa4adbd),
    .text_faint = RGB(0x8a93a5),
    .grid = RGB(0x2a3140),
    .prompt_text = RGB(0x9aa3b5),
    .gen_text = RGB(0xffffff),
    .accent = RGB(0x56b4e9),
    .head = RGB(0xffd23f),
    .new_token = RGB(0xffd23f),
    .hover = {1, 1, 1, 0.10},
    .pinned = RGB(0xcc79a7),
    .cache_on = RGB(0x56b4e9),
    .cache_off = RGB(0xff5a36),
    .badge_text = RGB(0x0e1117),
    .stage_on_text = RGB(0x0e1117),
    .head_text = RGB(0xffd23f),
    .cache_on_text = RGB(0x56b4e9),
    .cache_off_text = RGB(0xff7a5c),
    .accent_text = RGB(0x56b4e9),
    .block =
        {
            [BLOCK_EMPTY] = RGB(0x1a1f2a),
            [BLOCK_WRITTEN] = RGB(0xffd23f),
            [BLOCK_CACHED] = RGB(0x2f5f86),
            [BLOCK_READ] = RGB(0x56b4e9),
            [BLOCK_RECOMPUTED] = RGB(0xff4a2a),
            [BLOCK_EVICTED] = RGB(0x7d8aa3), // the ghost's outline (the inside is left empty)
        },
    .block_edge = RGB(0x3a4355),
    .stage_on = RGB(0xffd23f),
    .stage_off = RGB(0x232a37),
    .stage_done = RGB(0x34506a),
};

static const Theme theme_light = {
    .dark = false,
    .bg = RGB(0xffffff),
    .panel = RGB(0xf3f5f8),
    .panel_edge = RGB(0xc9d0db),
    .text = RGB(0x11151c),
    .text_dim = RGB(0x4a5363),
    .text_faint = RGB(0x5f6779),
    .grid = RGB(0xdde2ea),
    .prompt_text = RGB(0x525b6c),
    .gen_text = RGB(0x000000),
    .accent = RGB(0x0072b2),
    .head = RGB(0xc27c00),
    .new_token = RGB(0xc27c00),
    .hover = {0, 0, 0, 0.07},
    .pinned = RGB(0xa8457f),
    .cache_on = RGB(0x0072b2),
    .cache_off = RGB(0xd62d0b),
    .badge_text = RGB(0xffffff),
    .stage_on_text = RGB(0x11151c),
    .head_text = RGB(0x744b00),
    .cache_on_text = RGB(0x005f94),
    .cache_off_text = RGB(0xb02508),
    .accent_text = RGB(0x005f94),
    .block =
        {
            [BLOCK_EMPTY] = RGB(0xf4f6f9),
            [BLOCK_WRITTEN] = RGB(0xf2b600),
            [BLOCK_CACHED] = RGB(0xa9c9e3),
            [BLOCK_READ] = RGB(0x2b86c4),
            [BLOCK_RECOMPUTED] = RGB(0xe8301a),
            [BLOCK_EVICTED] = RGB(0x6b7588),
        },
    .block_edge = RGB(0xb7c0cd),
    .stage_on = RGB(0xf2b600),
    .stage_off = RGB(0xe7ebf1),
    .stage_done = RGB(0xb9cde0),
};

const Theme *scene_theme_get(ThemeKind k) {
    return k == THEME_LIGHT ? &theme_light : &theme_dark;
}

int view_theme_parse(const char *name) {
    if (name && strcmp(name, "dark") == 0)
        return THEME_DARK;
    if (name && strcmp(name, "light") == 0)
        return THEME_LIGHT;
    return -1;
}

const char *view_theme_name(ThemeKind k) {
    return k == THEME_LIGHT ? "light" : "dark";
}

Rgba scene_theme_ramp(const Theme *t, double x) {
    if (!(x > 0))
        x = 0;
    if (x > 1)
        x = 1;
    // Dark theme: viridis from a third in (the darkest purples vanish into the background) to
    // yellow. Light theme: its own ramp, faint blue to deep orange-red, so that in both themes
    // a stronger weight is the more prominent colour and the warm end means strong.
    const Rgba *stops = t->dark ? viridis : warm_light;
    int n = t->dark ? N_VIRIDIS : N_WARM;
    double p = t->dark ? (0.3 + 0.7 * x) * (n - 1) : x * (n - 1);
    int i = (int)p;
    if (i >= n - 1)
        return stops[n - 1];
    double f = p - i;
    Rgba a = stops[i], b = stops[i + 1];
    return (Rgba){a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f, 1};
}

Rgba scene_theme_head_colour(const Theme *t, int head) {
    if (head < 0)
        head = 0;
    return t->dark ? heads_dark[head % N_HEADS] : heads_light[head % N_HEADS];
}

void scene_set_rgba(cairo_t *cr, Rgba c) {
    cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a);
}

void scene_set_rgba_a(cairo_t *cr, Rgba c, double alpha_mul) {
    cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a * alpha_mul);
}
