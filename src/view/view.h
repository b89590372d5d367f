// view.h — the face of src/view: the scene, one pure cairo picture of a Session.
//
// `scene_draw` draws everything a user sees (tokens, cache blocks, attention beams, counters,
// chart, next-token panel, phase banner, pipeline strip, legend, captions, notices, help) from a
// `const Session *`, a `View` and an animation time. It does not know its target: the window,
// PNG/SVG/PDF export and lesson decks all call it. `scene_layout` gives the geometry the picture
// uses (token and cache-block boxes, the write head) for hit testing and for tests.
//
// What is not here: input handling, animation clocks, files (src/app, src/export).
#ifndef KVSCOPE_VIEW_H
#define KVSCOPE_VIEW_H

#include "sim/sim.h"
#include <cairo.h>
#include <stdbool.h>

// ----------------------------------------------------------------------------------------------
// The view: everything about the picture that is not in the session

typedef enum {
    VIEW_SEQUENCE = 0,
    VIEW_HEATMAP = 1,
    VIEW_LAYERS = 2,
    VIEW_MEMORY = 3, // the cache of this sequence projected onto published models (memory.c)
    VIEW_KINDS
} ViewKind;
typedef enum { THEME_DARK = 0, THEME_LIGHT = 1 } ThemeKind;

#define VIEW_ALL_LAYERS (-1) // View.layer: every layer (stacked fans; mean over layers in the heatmap)
#define VIEW_HEAD_MEAN (-1)  // View.head: the mean over heads
#define VIEW_HEAD_EACH (-2)  // View.head: every head, each in its own colour

// Called for every piece of text the scene draws (SVG export uses it to keep text as text).
// (x, y) is the left end of the baseline, size the font size in user units.
typedef struct {
    void (*fn)(void *ctx, double x, double y, double size, bool bold, const char *utf8);
    void *ctx;
} SceneTextSink;

// One line of the help overlay: keys and what they do (the window passes its own).
typedef struct {
    const char *keys, *text;
} ViewHelpRow;

typedef struct {
    ViewKind kind;
    int layer;            // VIEW_ALL_LAYERS or 0 .. L-1
    int head;             // VIEW_HEAD_MEAN, VIEW_HEAD_EACH or 0 .. H-1
    ThemeKind theme;
    double zoom;          // token cell width factor, 0.5 .. 3 (1 = default)
    int scroll;           // tokens scrolled back from following the write head (0 = follow)
    int hover;            // token under the pointer, or -1
    int pinned;           // token whose attention row is pinned (heatmap), or -1
    float beam_threshold; // beams of a smaller attention weight are not drawn
    bool show_panels;     // counters, chart and next-token panel (default true)
    bool help;            // help overlay listing every key
    const ViewHelpRow *help_rows; // its lines, n_help_rows (borrowed)
    int n_help_rows;
    const char *caption_title; // lesson caption, or NULL (borrowed)
    const char *caption_text;  // its sentence or two, or NULL (borrowed)
    const char *notice;        // a short on-screen note (export done, context full), or NULL
    const char *status;        // a small status line (e.g. "playing 4 tok/s"), or NULL
    const SceneTextSink *text_sink; // NULL unless an exporter wants the text
    // the memory view
    long memory_length; // sequence length projected (0: the session's own)
    int memory_model;   // published model highlighted (index into published_models), or -1
    bool memory_log;    // log scale
} View;

// Defaults: sequence view, all layers, mean head, dark theme, zoom 1, threshold 0.02, panels.
void view_init(View *v);

// The sequence length the memory view projects: View.memory_length, or the session's.
uint64_t view_memory_length(const Session *s, const View *v);

// Names for command lines, lessons and the window ("sequence", "heatmap", "layers"), from the
// view table (views.c); view_kind_parse gives -1 when unknown. view_kind_list writes every name,
// separated by sep, for messages ("sequence, heatmap, layers").
const char *view_kind_name(ViewKind k);
int view_kind_parse(const char *name);
// "dark" or "light" (the names every command and lesson takes), or -1; and back.
int view_theme_parse(const char *name);
const char *view_theme_name(ThemeKind k);
void view_kind_list(char *out, size_t cap, const char *sep);


// ----------------------------------------------------------------------------------------------
// Drawing

// Draws the whole picture into cr over (0, 0) .. (width, height) in user units. Pure: reads
// only its arguments, leaves cr's state as it found it. t_anim in [0, 1) animates the last
// step (token drop-in, pipeline stage, blocks filling, beams fanning out); t_anim >= 1 is the
// step at rest, which is what exports show.
void scene_draw(cairo_t *cr, const Session *s, const View *v, int width, int height,
                double t_anim);

// How a step unfolds over time (anim.c), the same for the window and every export: a step of
// this phase played at tok_s tokens per second animates for view_anim_seconds, and `elapsed`
// seconds after it was taken it is drawn at t_anim = view_anim_t (0 .. 1; 1 = at rest).
double view_anim_seconds(Phase phase, double tok_s);
double view_anim_t(Phase phase, double tok_s, double elapsed);

// ----------------------------------------------------------------------------------------------
// Cache-block states (the same in every layer; the layer only staggers the animation)

typedef enum {
    BLOCK_EMPTY = 0,  // nothing computed for this position yet (or the cache is off)
    BLOCK_WRITTEN,    // computed for the first time this step (stored, with the cache on)
    BLOCK_CACHED,     // held in the cache from an earlier step
    BLOCK_READ,       // held in the cache and read by attention this step
    BLOCK_RECOMPUTED, // computed again this step although an earlier step had computed it
    BLOCK_EVICTED,    // computed earlier, evicted by the cache's retention policy: a ghost outline
    BLOCK_STATES
} BlockState;

extern const char *const block_state_names[BLOCK_STATES];

// State of the block of token `pos`, layer `layer`, after the session's last step at animation
// time t_anim (t_anim >= 1: at rest).
BlockState scene_block_state(const Session *s, int pos, int layer, double t_anim);

// ----------------------------------------------------------------------------------------------
// Layout: where things are (user units, origin top-left)

typedef struct {
    double x, y, w, h;
} SceneRect;

#define SCENE_MAX_CELLS 512 // full token cells on one picture at most

struct SceneLayout;
// Lines the caption text of v is wrapped into (0 without one; at least 2, at most 8): the
// caption box grows to hold a long caption whole instead of cutting it. Measured with pango;
// scene_layout keeps the result in SceneLayout.caption_lines.
int scene_caption_lines(const struct SceneLayout *L, const View *v);

typedef struct SceneLayout {
    int width, height;
    double unit;           // base type size; everything scales with it
    ViewKind kind;
    int n_tokens, n_layers;
    SceneRect top;         // phase banner and pipeline strip
    SceneRect main;        // the view's area
    SceneRect panel;       // counters, chart, next-token (w = 0 when hidden)
    SceneRect legend;      // block-state and beam legend
    SceneRect caption;     // lesson caption (h = 0 when none)
    int caption_lines;     // lines its text is wrapped into (scene_caption_lines), 0 for none
    SceneRect beams;       // where beams arc (sequence view) or the layer bands (layers view)
    SceneRect token_row;   // token text and ids
    SceneRect blocks;      // the cache-block stacks (h = 0 in the layers and heatmap views)
    double label_w;        // left column for row labels
    // Token columns: a cell per token, as wide as its text (at least a minimum), laid out from
    // the left while the sequence fits (so positions do not move from step to step); once it
    // does not, the cells end at the newest token and the earlier tokens squeeze into a strip
    // at strip_x (width strip_w). Token i in first .. last has the cell cell_x[i - first] ..
    // cell_x[i - first + 1].
    int first, last;       // full cells first .. last (inclusive) are visible
    double strip_x, strip_w;
    double cell_x[SCENE_MAX_CELLS + 1];
    double block_h, block_gap;
    int head_pos;          // the write head: the last step's query position (-1 before any step)
    double head_x, head_y; // its point, centre of the token cell, top of the token row
    int new_pos;           // the token the last step chose lands here (-1 before any step)
    // Heatmap view: rows and columns 0 .. hm_n-1, cell hm_cell wide, at (hm_x, hm_y)
    int hm_n;
    double hm_x, hm_y, hm_cell;
} SceneLayout;

void scene_layout(const Session *s, const View *v, int width, int height, SceneLayout *out);

// Box of token i's text cell (full cells) or its sliver in the strip of earlier tokens.
// Returns false when token i is not on the picture.
bool scene_token_box(const SceneLayout *l, int i, SceneRect *r);
// Box of the cache block of token i, layer `layer`; false when not on the picture.
bool scene_block_box(const SceneLayout *l, int i, int layer, SceneRect *r);
// X of the centre of token i's column (also for strip tokens); false when not on the picture.
bool scene_token_x(const SceneLayout *l, int i, double *x);

// The token whose column (text, blocks or beams area) holds (x, y), or -1. In the heatmap view
// the column of the cell under the point.
int scene_hit_token(const SceneLayout *l, double x, double y);
// The cache block under (x, y): true with its token and layer.
bool scene_hit_block(const SceneLayout *l, double x, double y, int *token, int *layer);
// Heatmap cell under (x, y): true with its query row and key column.
bool scene_hit_heatmap(const SceneLayout *l, double x, double y, int *row, int *col);

// ----------------------------------------------------------------------------------------------
// Glossary (glossary.c): every term the picture, the exports and the lessons use, from
// assets/glossary.txt. Hover texts, the glossary panel and `kvscope glossary` read it.

typedef struct {
    const char *term;       // the word as the picture writes it
    const char *also;       // other spellings, comma-separated, or NULL
    const char *short_text; // one or two sentences
    const char *long_text;  // a paragraph, or NULL
} GlossaryEntry;

typedef struct {
    GlossaryEntry *entries; // owned, pointing into text
    int n;
    char *text;             // owned
} Glossary;

// Parses the glossary format (see assets/glossary.txt). KV_ERR_INPUT with "<what>:<line>: <why>"
// for an unknown key, an entry without a term or short definition, or a word defined twice.
KvStatus glossary_parse(Glossary *g, const char *text, size_t len, const char *what,
                        KvError *err);
KvStatus glossary_load(Glossary *g, const char *path, KvError *err);
void glossary_free(Glossary *g);
// The entry whose term or one of whose other spellings is `word` (any case; trailing spaces and
// a colon ignored), or NULL.
const GlossaryEntry *glossary_find(const Glossary *g, const char *word);

#endif
