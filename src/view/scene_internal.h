// scene_internal.h — shared between the files of src/view only (not a face: other modules
// include view.h). The drawing context, themes, colour ramps and the pango text helper.
#ifndef KVSCOPE_SCENE_INTERNAL_H
#define KVSCOPE_SCENE_INTERNAL_H

#include "view/view.h"
#include <pango/pangocairo.h>
#include <stddef.h>
#include <stdint.h>

// ----------------------------------------------------------------------------------------------
// Colours and themes (theme.c)

typedef SceneColour Rgba;

typedef struct {
    bool dark;
    Rgba bg, panel, panel_edge, text, text_dim, text_faint, grid;
    Rgba prompt_text, gen_text, accent, head, new_token, hover, pinned;
    Rgba cache_on, cache_off; // mode colours (badge, chart lines)
    // Text in a colour that would be too faint as the colour itself: readable variants.
    Rgba badge_text, stage_on_text, head_text, cache_on_text, cache_off_text, accent_text;
    Rgba block[BLOCK_STATES];
    Rgba block_edge;
    Rgba stage_on, stage_off, stage_done;
} Theme;

const Theme *scene_theme_get(ThemeKind k);
// The stripes a cache cell stored in precision p is drawn with (sequence.c): 0 (solid) for f32,
// fewer for fewer bits: bf16 4, int8 3, int4 and kivi4 2, kivi2 1.
int scene_precision_stripes(KvPrecision p);
// Attention colour ramp, weak (0) to strong (1): in both themes the stronger is the more
// prominent against the background, and the warm end means strong.
Rgba scene_theme_ramp(const Theme *t, double x01);
// One colour per head (Okabe-Ito, colour-blind safe), darker variants in the light theme.
Rgba scene_theme_head_colour(const Theme *t, int head);
void scene_set_rgba(cairo_t *cr, Rgba c);
void scene_set_rgba_a(cairo_t *cr, Rgba c, double alpha_mul);

// ----------------------------------------------------------------------------------------------
// Text (text.c): one PangoLayout per frame, reused for every string

typedef struct {
    cairo_t *cr;
    PangoLayout *layout;
    PangoFontDescription *font;
    const SceneTextSink *sink;
    double cur_size;
    bool cur_bold;
    Rgba bg;            // what the next texts stand on (scene_text_on), for the sink
    SceneTextRole role; // what the next texts are (scene_text_role), for the sink
    const char *term;   // the term of the next texts (scene_text_term), NULL: the label table's
    bool token_text;    // the next texts are or hold token text (scene_text_tokens)
    bool cut;           // the text being reported was cut with an ellipsis
    double min_size;    // fitting a text to a width never shrinks it below this
} TextCtx;

typedef enum { ALIGN_LEFT = 0, ALIGN_CENTER = 1, ALIGN_RIGHT = 2 } Align;

void scene_text_begin(TextCtx *tc, cairo_t *cr, const SceneTextSink *sink);
void scene_text_end(TextCtx *tc);
// The opaque colour the texts drawn from now on stand on (a translucent fill: composite it
// first with scene_rgba_over). Every drawing that puts text on a fill says so.
void scene_text_on(TextCtx *tc, Rgba bg);
void scene_text_role(TextCtx *tc, SceneTextRole role);
// The glossary term of the texts drawn from now on (NULL: each text's own, from terms.c), and
// whether they are or hold a token's text (SceneText.token_text). Whoever sets them resets them.
void scene_text_term(TextCtx *tc, const char *term);
void scene_text_tokens(TextCtx *tc, bool token_text);
// c composited over the opaque colour under.
Rgba scene_rgba_over(Rgba c, Rgba under);
// Draws s with its line box's top at y; x is the left, centre or right end per align. When
// max_w > 0 and the text is wider, the font shrinks (down to 60%), then the text is cut with an
// ellipsis. Returns the drawn width.
double scene_text_draw(TextCtx *tc, double x, double y, double size, bool bold, Align align,
                       double max_w, Rgba colour, const char *s);
// Draws s wrapped to width (at most max_lines lines when > 0, then an ellipsis); returns the
// height used.
double scene_text_draw_wrapped(TextCtx *tc, double x, double y, double size, bool bold,
                               double width, int max_lines, Rgba colour, const char *s);
// Lines s takes wrapped to width at size (regular weight), measured without drawing.
int scene_text_line_count(double size, double width, const char *s);
// Width and line height of s at size.
double scene_text_width(TextCtx *tc, double size, bool bold, const char *s, double *line_h);

// Token text made printable for the picture (BOS/EOS names, a leading space as ␣ so " M" and "M"
// read differently, newlines as ↵, tabs as ⇥, byte pieces that are not valid UTF-8 as <HH>).
// Writes at most cap bytes, NUL-terminated. Token cells, call-outs, tooltips, the heatmap's
// labels and the next-token candidates all show a token so.
void scene_token_display(const Session *s, int i, char *out, size_t cap);
// The same for token id `id` following token `prev` (next-token candidates).
void scene_token_display_id(const Session *s, int prev, int id, char *out, size_t cap);
// A next-token candidate's text: the same as scene_token_display_id.
void scene_candidate_display(const Session *s, int prev, int id, char *out, size_t cap);

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
    double u;    // unit
    double t;    // t_anim clamped to [0, 1]
    bool vector; // drawing into SVG/PDF (no antialias shortcuts)
} Frame;

// ----------------------------------------------------------------------------------------------
// The view table (views.c): one row per view. A row's layout fills in what the view adds to the
// frame's areas (area = what scene_layout_frame left for the view); its draw draws the view
// inside the main area (panels, legend and caption are drawn around it); its hit test answers
// scene_hit_token. `legend` says which keys the legend under the view shows.

enum { SCENE_LEGEND_BLOCKS = 1, SCENE_LEGEND_BEAMS = 2 };

typedef struct {
    const char *name; // on the command line, in lessons and in the window
    void (*layout)(const Session *s, const View *v, SceneRect area, SceneLayout *L);
    void (*draw)(Frame *f);
    int (*hit_token)(const SceneLayout *L, double x, double y);
    unsigned legend; // SCENE_LEGEND_* bits
} SceneView;

// The row of view kind k (the sequence view's for a kind out of range).
const SceneView *scene_view(ViewKind k);

// sequence.c
void scene_sequence_layout(const Session *s, const View *v, SceneRect area, SceneLayout *L);
void scene_sequence_draw(Frame *f);
// layers.c
void scene_layers_layout(const Session *s, const View *v, SceneRect area, SceneLayout *L);
void scene_layers_draw(Frame *f);
// heatmap.c
void scene_heatmap_layout(const Session *s, const View *v, SceneRect area, SceneLayout *L);
void scene_heatmap_draw(Frame *f);
int scene_heatmap_hit_token(const SceneLayout *L, double x, double y);
// view_3d.c
void scene_3d_layout(const Session *s, const View *v, SceneRect area, SceneLayout *L);
void scene_3d_draw(Frame *f);
int scene_3d_hit_token(const SceneLayout *L, double x, double y);

// memory.c
void scene_memory_layout(const Session *s, const View *v, SceneRect area, SceneLayout *L);
void scene_memory_draw(Frame *f);
int scene_memory_hit_token(const SceneLayout *L, double x, double y);
// sampling.c
void scene_sampling_layout(const Session *s, const View *v, SceneRect area, SceneLayout *L);
void scene_sampling_draw(Frame *f);

// pool.c: the row for a frame without a serving session (it says how to get one), and the whole
// frame of a serving session (scene_draw hands it over when View.serve is set)
void scene_pool_row_layout(const Session *s, const View *v, SceneRect area, SceneLayout *L);
void scene_pool_row_draw(Frame *f);
int scene_pool_row_hit(const SceneLayout *L, double x, double y);
void scene_pool_frame(cairo_t *cr, const View *v, int width, int height);

// ----------------------------------------------------------------------------------------------
// Layout shared by the views (layout.c)

#define SCENE_TOKEN_FONT 1.5    // token text size, in units (20 px at 1280x720)
#define SCENE_MIN_FONT 1.05     // the smallest text, in units (14 px at 1280x720)
#define SCENE_BIG_FONT 1.5      // must-read counters, in units (20 px at 1280x720)
#define SCENE_CAPTION_TITLE 2.0 // lesson caption title, in units
#define SCENE_CAPTION_FONT 1.8  // lesson caption text, in units (24 px at 1280x720)

// The width of a cache cell of a model with hkv kv heads and h query heads, as a share of a
// multi-head cell's: hkv / h (1 when either is unknown).
double scene_cell_share(int hkv, int h);
// sequence.c: a cell's cuts in the background's colour (precision bands, gaps between its kv
// heads' parts, scene_cell_gap wide) added to cr's path; every cell of the frame drawn, with its
// style, to the view's cell sink (styles: (layer, position - first) for first .. last).
void scene_path_cell_cuts(cairo_t *cr, const SceneCellStyle *st, SceneRect b, double gap);
double scene_cell_gap(double u);
void scene_report_cells(Frame *f, const SceneCellStyle *sty);
// The base type size of a picture of this size (SceneLayout.unit).
double scene_unit(int width, int height);
// Clears L and lays out the frame's areas (top bar, main, panel, legend, caption); returns the
// part of the main area left for the view.
SceneRect scene_layout_frame(const Session *s, const View *v, int width, int height,
                             SceneLayout *L);
// Token cells of every position in lines from the top left of area across its width, at most
// max_lines lines that fit area, each line its cells and line_extra under them (see
// SceneLayout); sets token_size, line_h, token_row, first, last and the write head's point.
// View.zoom and View.scroll pick what is on the picture (cells first .. last).
void scene_layout_cells(const Session *s, const View *v, SceneRect area, int max_lines,
                        double line_extra, SceneLayout *L);
// View.zoom clamped to 1 .. VIEW_ZOOM_MAX.
double scene_view_zoom(const View *v);
// The token text size and a cell's padding at unit u.
double scene_token_size(double u);
double scene_cell_pad(double u);
// inspect.c: the inspector's panel (when View.inspect is on)
void scene_draw_inspector(Frame *f);
// split.c: the two lanes and the ratios between them (instead of the top bar, view and panel)
void scene_draw_split(Frame *f);
// Bottom of the token columns: the block stacks' when there are blocks, else the token row's.
double scene_columns_bottom(const SceneLayout *L);
// The hit test of column views: the token whose column (beams, text, blocks) holds (x, y).
int scene_hit_columns(const SceneLayout *L, double x, double y);
// Where a tooltip about token i points (top centre of its cell or heatmap column).
bool scene_token_anchor(const SceneLayout *L, int i, double *x, double *y);

// ----------------------------------------------------------------------------------------------
// Drawing shared by the views

// panels.c
void scene_draw_top_bar(Frame *f);
void scene_draw_panel(Frame *f);
// drift_chart.c: whether the session has a step whose drift from the full cache was measured;
// the steps the chart's x axis spans; the chart in r (x labels under it when x_labels).
bool scene_drift_shown(const Session *s);
int scene_drift_steps(const Session *s);
void scene_draw_drift_chart(Frame *f, SceneRect r, bool x_labels);
void scene_draw_legend(Frame *f);
void scene_draw_caption(Frame *f);
void scene_draw_overlays(Frame *f);
// glossary_panel.c: the glossary panel over everything, when open
void scene_draw_glossary_panel(Frame *f);
// annotate.c: callouts naming the parts of the picture, when View.annotate
void scene_draw_annotations(Frame *f);
// tokens.c: the token row, the hover column and the write head of column views
void scene_draw_token_row(Frame *f);
void scene_draw_hover_column(Frame *f);
void scene_draw_write_head(Frame *f);
// Compact cells: the text of the tokens the write head reads most, above their cells.
void scene_draw_callouts(Frame *f);
// Part of the sequence scrolled off the picture (View.zoom): which positions are on it.
void scene_draw_scroll_note(Frame *f);
// Before the first step: "Press Space to run the prompt" above the prompt.
void scene_draw_call_to_action(Frame *f);
// beams.c
// Draws the fans of the write head for layers lo..hi-1 inside band; when per_layer_band, layer
// l uses band row l of (hi - lo) rows instead of all sharing the band.
void scene_draw_beams(Frame *f, SceneRect band, int layer_lo, int layer_hi, bool per_layer_band);
// Share of the write head's attention (row) below the view's threshold (not drawn), 0 .. 1.
double scene_beam_mass_below(const Session *s, const View *v, int row);
// scene.c: attention weight of the view's selection (layer or mean over layers; head or mean).
float view_attention(const Session *s, const View *v, int row, int col);

// ----------------------------------------------------------------------------------------------
// The timeline of a step (anim.c): t in [0, 1] -> where each part is

// Easing used by every animation of the scene.
double scene_ease(double t);
// Maps t into a sub-interval [a, b] as 0..1.
double scene_anim_phase(double t, double a, double b);
// When layer `layer` computes its keys and values: the stack fills top down.
double scene_anim_layer_time(int layer, int n_layers);
// How far the beams have fanned out (0 = folded at the write head, 1 = on their tokens).
double scene_anim_fan(double t);
// How far the new token has dropped into its cell (1 = in place).
double scene_anim_drop(double t);
// The pipeline stage lit, 0 .. n_stages-1.
int scene_anim_stage(double t, int n_stages);

// ----------------------------------------------------------------------------------------------
// Direct pixels (raster.c), for the beams' and the 3D view's own rasterizers

// A 32-bit image target's pixels: px[y * stride + x], x0 <= x < x1 and y0 <= y < y1 the pixels
// that may be written; a user point (x, y) is pixel (x + ox, y + oy).
typedef struct {
    uint32_t *px;
    ptrdiff_t stride;   // in pixels
    int x0, y0, x1, y1; // clip, half-open, in pixels
    double ox, oy;      // user -> pixel translation
} SceneRaster;

// Opens cr's target for direct writes when it is an RGB24 or ARGB32 image drawn without scale or
// rotation (false otherwise: draw through cairo). The clip is `clip` (user space) rounded out to
// whole pixels, within the surface; false when that leaves none.
bool scene_raster_begin(cairo_t *cr, SceneRect clip, SceneRaster *r);
// floor and ceil to int, for the rasterizers' pixel bounds (x within int's range).
static inline int scene_ifloor(double x) {
    int i = (int)x;
    return i - (x < i);
}
static inline int scene_iceil(double x) {
    int i = (int)x;
    return i + (x > i);
}
// Tells cairo which pixels the writes touched (r's clip).
void scene_raster_end(cairo_t *cr, const SceneRaster *r);

#endif
