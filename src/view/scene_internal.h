// scene_internal.h — shared between the files of src/view only (not a face: other modules
// include view.h). The drawing context, themes, colour ramps and the pango text helper.
#ifndef KVSCOPE_SCENE_INTERNAL_H
#define KVSCOPE_SCENE_INTERNAL_H

#include "view/view.h"
#include <pango/pangocairo.h>

// ----------------------------------------------------------------------------------------------
// Colours and themes (theme.c)

typedef struct {
    double r, g, b, a;
} Rgba;

typedef struct {
    bool dark;
    Rgba bg, panel, panel_edge, text, text_dim, text_faint, grid;
    Rgba prompt_text, gen_text, accent, head, new_token, hover, pinned;
    Rgba cache_on, cache_off; // mode colours (badge, chart lines)
    Rgba block[BLOCK_STATES];
    Rgba block_edge;
    Rgba stage_on, stage_off, stage_done;
} Theme;

const Theme *theme_get(ThemeKind k);
// The stripes a cache cell stored in precision p is drawn with (scene.c): 0 (solid) for f32,
// fewer for fewer bits: bf16 4, int8 3, int4 and kivi4 2, kivi2 1.
int scene_precision_stripes(KvPrecision p);
// Attention colour ramp (viridis-like; reversed in the light theme so strong = high contrast).
Rgba theme_ramp(const Theme *t, double x01);
// One colour per head (Okabe-Ito, colour-blind safe), darker variants in the light theme.
Rgba theme_head_colour(const Theme *t, int head);
void set_rgba(cairo_t *cr, Rgba c);
void set_rgba_a(cairo_t *cr, Rgba c, double alpha_mul);

// ----------------------------------------------------------------------------------------------
// Text (text.c): one PangoLayout per frame, reused for every string

typedef struct {
    cairo_t *cr;
    PangoLayout *layout;
    PangoFontDescription *font;
    const SceneTextSink *sink;
    double cur_size;
    bool cur_bold;
} TextCtx;

typedef enum { ALIGN_LEFT = 0, ALIGN_CENTER = 1, ALIGN_RIGHT = 2 } Align;

void text_begin(TextCtx *tc, cairo_t *cr, const SceneTextSink *sink);
void text_end(TextCtx *tc);
// Draws s with its line box's top at y; x is the left, centre or right end per align. When
// max_w > 0 and the text is wider, the font shrinks (down to 60%), then the text is cut with an
// ellipsis. Returns the drawn width.
double text_draw(TextCtx *tc, double x, double y, double size, bool bold, Align align,
                 double max_w, Rgba colour, const char *s);
// Draws s wrapped to width (at most max_lines lines when > 0, then an ellipsis); returns the
// height used.
double text_draw_wrapped(TextCtx *tc, double x, double y, double size, bool bold, double width,
                         int max_lines, Rgba colour, const char *s);
// Width and line height of s at size.
double text_width(TextCtx *tc, double size, bool bold, const char *s, double *line_h);

// Token text made printable for the picture (BOS/EOS names, visible newlines and spaces, byte
// pieces that are not valid UTF-8 as <HH>). Writes at most cap bytes, NUL-terminated.
void token_display(const Session *s, int i, char *out, size_t cap);
// The same for token id `id` following token `prev` (next-token candidates).
void token_display_id(const Session *s, int prev, int id, char *out, size_t cap);

// SI (decimal) formatting for counts such as FLOPs: "1.23 G" + unit. Writes into out.
void format_si(char *out, size_t cap, double v, const char *unit);

// ----------------------------------------------------------------------------------------------
// The frame being drawn

typedef struct {
    cairo_t *cr;
    const Session *s;
    const View *v;
    const Theme *th;
    const SceneLayout *lay;
    const StepRecord *r; // last step or NULL
    TextCtx tx;
    double u;            // unit
    double t;            // t_anim clamped to [0, 1]
    bool vector;         // drawing into SVG/PDF (no antialias shortcuts)
} Frame;

// panels.c
void draw_top_bar(Frame *f);
void draw_panel(Frame *f);
void draw_legend(Frame *f);
void draw_caption(Frame *f);
void draw_overlays(Frame *f);
// heatmap.c
void draw_heatmap(Frame *f);
// beams.c
// Draws the fans of the write head for layers lo..hi-1 inside band; when per_layer_band, layer
// l uses band row l of (hi - lo) rows instead of all sharing the band.
void draw_beams(Frame *f, SceneRect band, int layer_lo, int layer_hi, bool per_layer_band);
// Attention weight of the view's selection (layer or mean over layers; head or mean).
float view_attention(const Session *s, const View *v, int row, int col);

// Easing used by every animation of the scene.
double ease(double t);
// Maps t_anim into a sub-interval [a, b] as 0..1.
double anim_phase(double t, double a, double b);

#endif
