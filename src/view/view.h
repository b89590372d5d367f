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
    VIEW_MEMORY = 3,   // the cache of this sequence projected onto published models (memory.c)
    VIEW_3D = 4,       // the session in perspective (view_3d.c)
    VIEW_SAMPLING = 5, // the next-token distribution and the sampler's choice (sampling.c)
    VIEW_POOL = 6,     // a serving session's paged KV pool (pool.c; View.serve)
    VIEW_KINDS
} ViewKind;
// The 3D view's camera presets (View.camera).
typedef enum { CAMERA_FRONT = 0, CAMERA_TOP = 1, CAMERA_ORBIT = 2, CAMERA_PRESETS } CameraPreset;
typedef enum { THEME_DARK = 0, THEME_LIGHT = 1 } ThemeKind;
// What the picture shows at once: the projector layout (the default) keeps the type large
// enough for the back of a classroom and shows the must-read counters only; the detail layout,
// for a monitor, adds the run's other counters (FLOPs total, saving, logit difference, step)
// and more next-token candidates.
typedef enum { VIEW_LAYOUT_PROJECTOR = 0, VIEW_LAYOUT_DETAIL = 1 } ViewLayoutKind;

#define VIEW_ALL_LAYERS                                                                            \
    (-1) // View.layer: every layer (stacked fans; mean over layers in the heatmap)
#define VIEW_HEAD_MEAN (-1) // View.head: the mean over heads
#define VIEW_HEAD_EACH (-2) // View.head: every head, each in its own colour
#define VIEW_ZOOM_MAX 16.0  // View.zoom at most

typedef struct {
    double x, y, w, h;
} SceneRect;

typedef struct {
    double r, g, b, a;
} SceneColour;

// What a text is for: the sizes the classroom needs differ (DESIGN.md "The picture in a
// classroom": tokens and the counters a class must read at least 20 px at 1280x720, every
// other text at least 14 px).
typedef enum {
    SCENE_TEXT_LABEL = 0, // every other text
    SCENE_TEXT_TOKEN,     // a token's text in its cell
    SCENE_TEXT_COUNTER,   // a must-read counter (mode, FLOPs this step, cache memory, step time)
    SCENE_TEXT_CAPTION,   // a lesson caption's title or text (at least 24 px on a 1280x720 slide)
} SceneTextRole;

// One piece of text the scene drew. (x, y) is the left end of the baseline, size the font size
// in user units, box the drawn line box, colour the ink and background the opaque colour the
// text stands on (what its contrast is measured against).
typedef struct {
    double x, y, size;
    bool bold;
    const char *utf8;
    SceneRect box;
    SceneColour colour, background;
    SceneTextRole role;
    bool cut; // cut with an ellipsis to fit (utf8 is the whole text)
    // The glossary term the label stands for where its words do not say it (terms.c), or NULL:
    // glossary_label finds the entry of any text from this and its words.
    const char *term;
    // The text is, or holds, a token's text (a token cell, a candidate, a heatmap axis, a
    // position with its token): its words are the model's, not the picture's, so its entry is
    // its term alone (scene_text_entry), never a word of the token.
    bool token_text;
} SceneText;

// Called for every piece of text the scene draws (SVG export keeps text as text; tests measure
// sizes and contrast).
typedef struct {
    void (*fn)(void *ctx, const SceneText *t);
    void *ctx;
} SceneTextSink;

// One attention beam the scene drew: from the write head (query position `query`) to the key
// position `key`, ending at (x, y); weight is the attention weight it stands for.
typedef struct {
    int query, key, layer, head; // head -1: the mean over heads
    double x, y;
    float weight;
} SceneBeam;

typedef struct {
    void (*fn)(void *ctx, const SceneBeam *b);
    void *ctx;
} SceneBeamSink;

// One line of the help overlay: keys and what they do (the window passes its own).
typedef struct {
    const char *keys, *text;
} ViewHelpRow;

typedef struct {
    ViewKind kind;
    int layer; // VIEW_ALL_LAYERS or 0 .. L-1
    int head;  // VIEW_HEAD_MEAN, VIEW_HEAD_EACH or 0 .. H-1
    ThemeKind theme;
    ViewLayoutKind layout;
    double zoom; // 1 .. VIEW_ZOOM_MAX: 1 has every position on the picture; more widens the
                 // token cells (larger type) and scrolls what no longer fits
    int scroll;  // positions scrolled back from the newest (0 = follow the write head)
    int hover;   // token under the pointer, or -1
    int pinned;  // token whose attention row is pinned (heatmap), or -1
    float beam_threshold;         // beams of a smaller attention weight are not drawn
    bool show_panels;             // counters, chart and next-token panel (default true)
    bool transparent;             // no background painted (exports for a slide's own background)
    bool help;                    // help overlay listing every key
    const ViewHelpRow *help_rows; // its lines, n_help_rows (borrowed)
    int n_help_rows;
    int help_page;                  // the help's page shown (0 ..; scene_help_pages says how many)
    const char *caption_title;      // lesson caption, or NULL (borrowed)
    const char *caption_text;       // its sentence or two, or NULL (borrowed)
    const char *notice;             // a short on-screen note (export done, context full), or NULL
    const char *status;             // a small status line (e.g. "playing 4 tok/s"), or NULL
    const SceneTextSink *text_sink; // NULL unless an exporter wants the text
    // the memory view
    long memory_length; // sequence length projected (0: the session's own)
    int memory_model;   // published model highlighted (index into published_models), or -1
    bool memory_log;    // log scale
    // The inspector (inspect.c): the numbers of one cache cell at the shown step
    bool inspect;
    int inspect_layer, inspect_pos; // the cell: layer 0 .. L-1, position
    int inspect_head;               // query head 0 .. H-1, or -1: the view's (head 1 for mean/each)
    // Side by side (split.c): the session and its twin in the other cache mode, in two lanes
    bool split;
    const SceneBeamSink *beam_sink;        // NULL unless a test wants the beams
    const struct SceneCellSink *cell_sink; // NULL unless a test wants the cache cells drawn
    // The 3D view's camera (view_3d.c). cam_az/cam_el are the angles drawn, in degrees; the
    // preset's angles (orbit_az/orbit_el for ORBIT) are where view_camera_advance moves them.
    CameraPreset camera;
    double cam_az, cam_el;     // azimuth (0 = in front, 90 = from the right), elevation
    double orbit_az, orbit_el; // the ORBIT preset's angles (drag changes them)
    double cam_zoom;           // 0.25 .. 8 (1 = about a dozen tokens across)
    bool cam_fit;              // the whole sequence in view instead of following the write head
    // Where the camera is as drawn: the point of the row it looks at (cam_x) and its distance,
    // and the velocities of the critically damped springs that move it and its angles toward
    // their goals (view_camera_advance). cam_live false: the layout puts the camera at its goal
    // (stills, exports); the first advance starts from there.
    bool cam_live;
    double cam_x, cam_dist;
    double cam_vel[4]; // azimuth, elevation (degrees/s), x, distance (world units/s)
    bool sampling_log; // the sampling view's bars on a log scale
    // the glossary panel (glossary_panel.c): every entry over the picture, page by page
    const struct Glossary *glossary; // its entries (borrowed), or NULL
    bool glossary_open;
    int glossary_page; // 0 .. scene_glossary_pages - 1
    bool annotate;     // the parts of the picture named on it (annotate.c; render --annotate)
    // the pool view: the serving session it draws (borrowed; NULL: the view says how to get one)
    // and the sequence whose block table is drawn (-1: the running one holding the most blocks)
    const Serve *serve;
    int pool_seq;
} View;

// Defaults: sequence view, all layers, mean head, dark theme, zoom 1, threshold 0.02, panels.
void view_init(View *v);

// The sequence length the memory view projects: View.memory_length, or the session's.
uint64_t view_memory_length(const Session *s, const View *v);

// Names for command lines, lessons and the window ("sequence", "heatmap", "layers"), from the
// view table (views.c); view_kind_parse gives -1 when unknown. view_kind_list writes every name,
// separated by sep, for messages ("sequence, heatmap, layers, 3d").
const char *view_kind_name(ViewKind k);
int view_kind_parse(const char *name);
// "dark" or "light" (the names every command and lesson takes), or -1; and back.
int view_theme_parse(const char *name);
const char *view_theme_name(ThemeKind k);
void view_kind_list(char *out, size_t cap, const char *sep);
// "split" is not a row of the view table but the split screen (View.split: two lanes of the
// sequence view, each with its own session), so it has no ViewKind; every command and lesson
// that takes a view name also takes this one.
#define VIEW_SPLIT_NAME "split"
// The sampling view's bar scale: "linear" 0, "log" 1 (View.sampling_log), else -1.
int view_scale_parse(const char *name);

// The 3D camera (view_3d.c). view_camera_parse reads "front", "top" or "orbit:AZ,EL" (azimuth
// -360 .. 360, elevation -10 .. 90 degrees) into v (angles set at once, no animation); false
// with the problem in why. view_camera_set picks a preset (the drawn angles move there through
// view_camera_advance). view_camera_target gives the preset's angles. view_camera_advance moves
// the drawn camera over dt seconds toward its goal: the preset's angles, and (given the 3D
// layout of the frame, L; NULL: the angles only) the write head or the whole sequence, by
// critically damped springs (no jump, no overshoot; most of a move in about half a second);
// true while still moving.
struct SceneLayout;
bool view_camera_parse(const char *text, View *v, char *why, size_t why_cap);
void view_camera_set(View *v, CameraPreset c);
void view_camera_target(const View *v, double *az, double *el);
bool view_camera_advance(View *v, const struct SceneLayout *L, double dt);
const char *view_camera_name(CameraPreset c);

// ----------------------------------------------------------------------------------------------
// Drawing

// Draws the whole picture into cr over (0, 0) .. (width, height) in user units. Pure: reads
// only its arguments, leaves cr's state as it found it. t_anim in [0, 1) animates the last
// step (token drop-in, pipeline stage, blocks filling, beams fanning out); t_anim >= 1 is the
// step at rest, which is what exports show.
void scene_draw(cairo_t *cr, const Session *s, const View *v, int width, int height, double t_anim);

// How a step unfolds over time (anim.c), the same for the window and every export: a step of
// this phase played at tok_s tokens per second animates for view_anim_seconds, and `elapsed`
// seconds after it was taken it is drawn at t_anim = view_anim_t (0 .. 1; 1 = at rest).
double view_anim_seconds(Phase phase, double tok_s);
double view_anim_t(Phase phase, double tok_s, double elapsed);

// Pages the help overlay of v takes at this size: its lines never shrink under the picture's
// smallest type, so lines that do not fit the height go on further pages.
int scene_help_pages(const View *v, int width, int height);

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

// How every view (2D and 3D) draws one cache cell: its state, the stripes of the precision it is
// held in, the retention policy's marks, its kv heads (one part per kv head, side by side, so a
// GQA or MQA model's cells are narrower) and whether the inspector shows it.
#define SCENE_CELL_HEADS 64 // kv heads a cell tells apart at most (more are drawn as one)
typedef struct {
    BlockState state;
    int stripes;    // bands of the precision (scene_precision_stripes), 0: solid (f32)
    bool sink;      // a sinks position: outlined in the write head's colour
    int slot;       // the ring slot it is held in (window, sinks), or -1
    int kv_heads;   // parts the cell is drawn in: the model's kv heads (1 .. SCENE_CELL_HEADS)
    double width;   // the cell's width as a share of a full multi-head cell: kv_heads / heads
    uint64_t gone;  // bit g: kv head g evicted the position (h2o) while another keeps it
    bool inspected; // the inspector's cell: outlined in the pinned colour
} SceneCellStyle;

void scene_cell_style(const Session *s, const View *v, int pos, int layer, double t_anim,
                      SceneCellStyle *out);

// One cache cell a view drew: its position, layer, style and its box on the picture (the 3D
// view: the bounding box of its projected corners).
typedef struct {
    int pos, layer;
    SceneCellStyle style;
    SceneRect box;
} SceneCell;

typedef struct SceneCellSink {
    void (*fn)(void *ctx, const SceneCell *c);
    void *ctx;
} SceneCellSink;

// ----------------------------------------------------------------------------------------------
// The inspector (inspect.c): one cache cell's numbers at the shown step, over the view
//
// For the cell (layer, position) and a query head: the position's key and value (the rows the
// cache gave attention), the write head's query, the score q . k / sqrt(HS) and softmax weight of
// every position it read, and the weighted sum of values that is the head's output. The numbers
// are the session's probe (session_inspect): call view_prepare before drawing.

typedef enum {
    INSPECT_QUERY = 0, // element i of the write head's query
    INSPECT_KEY,       // element i of the cell's key
    INSPECT_VALUE,     // element i of the cell's value
    INSPECT_OUT,       // element i of the head's output
    INSPECT_SCORE,     // the score of position i
    INSPECT_WEIGHT,    // the softmax weight of position i
    INSPECT_QUANTITIES
} InspectQuantity;

// One number the inspector draws: what it is, its value, its text as drawn, and its box.
typedef struct {
    InspectQuantity what;
    int index; // the element (vectors) or the position (scores and weights)
    float value;
    char text[16];
    SceneRect box;
} SceneInspectNumber;

#define SCENE_INSPECT_VEC 64     // elements of a vector written as numbers at most (the strip: all)
#define SCENE_INSPECT_COLUMNS 24 // positions in the score table at most
#define SCENE_INSPECT_MAX (4 * SCENE_INSPECT_VEC + 2 * SCENE_INSPECT_COLUMNS)

typedef struct {
    bool open;     // View.inspect with a step to show
    bool captured; // the probe holds this step's numbers for the cell's layer and the head
    SceneRect panel;
    int layer, head, kv_head, pos; // the cell, the query head and the kv head it reads
    int query_pos, n_read;         // the write head's position and the positions it read
    int row;                       // the cell's row among those read, or -1 (not read: evicted)
    double font;                   // the numbers' type size
    int n_vec;                     // elements of each vector written as numbers
    int cols, rows;                // their grid
    double section_y[5];           // tops of the query, key, score table, value and output
    int n_columns, column_pos[SCENE_INSPECT_COLUMNS]; // positions in the score table
    int n_numbers;
    SceneInspectNumber num[SCENE_INSPECT_MAX];
} SceneInspect;

// The query head the inspector shows: View.inspect_head, else the view's head, else head 0.
int view_inspect_head(const View *v);
// What the picture of v needs beyond the session's own state, brought up to date before drawing
// (every consumer calls it): the inspector's numbers when it is open (session_inspect), the
// split screen's twin when v->split is on (created and synced; freed when off). Nothing else.
void view_prepare(Session *s, const View *v);
// Where the inspector is and every number it draws (open false when v->inspect is off).
void scene_inspect_layout(const Session *s, const View *v, int width, int height,
                          SceneInspect *out);

// ----------------------------------------------------------------------------------------------
// Side by side (split.c): with View.split and a session with a twin (session_set_twin), the
// picture is two lanes, the cached session on top and the uncached one under it, each with its
// tokens, cache blocks, beams and counters, and between them the ratios so far.

typedef struct {
    bool open;              // View.split and the session has its twin
    SceneRect lane[2];      // 0: with the cache (top), 1: without
    SceneRect counters[2];  // each lane's counters column
    SceneRect middle;       // the ratios between the lanes
    const Session *side[2]; // the session each lane shows
    SessionTotals total[2];
    double flops_ratio, time_ratio; // without / with, so far (0 when not defined yet)
    bool same_tokens;
    float logit_diff; // of the shown step, -1 unmeasured
} SceneSplit;

void scene_split_layout(const Session *s, const View *v, int width, int height, SceneSplit *out);
// The layout of lane k (0 with the cache, 1 without) of the split screen: the sequence view of
// its session in its area (tokens, blocks, write head), for hit tests and tests.
void scene_split_lane_layout(const Session *s, const View *v, int width, int height, int k,
                             struct SceneLayout *out);
// The cache cell under (x, y) in either lane: true with the lane, its token and its layer.
bool scene_split_hit_block(const Session *s, const View *v, int width, int height, double x,
                           double y, int *lane, int *token, int *layer);

// ----------------------------------------------------------------------------------------------
// Layout: where things are (user units, origin top-left)

#define SCENE_MAX_CELLS 1024   // token cells on one picture at most (every position of a context)
#define SCENE_MAX_LINES 64     // lines of token cells at most
#define SCENE_SAMPLING_ROWS 24 // candidate rows of the sampling view at most

// A token's label in the 3D view: a plate in screen space at its block (on the block, or lifted
// above it when the block is narrower on the picture than the plate), text centred at (x, y).
#define SCENE_3D_LABELS 512 // labels on one picture at most (they never overlap)
typedef struct {
    int token;
    bool lifted;
    double x, y, size, w, lh; // centre, type size, text width and line height
    SceneRect plate;
} Scene3dLabel;

struct SceneLayout;
// Lines the caption text of v is wrapped into (0 without one; at least 2, at most 8): the
// caption box grows to hold a long caption whole instead of cutting it. Measured with pango;
// scene_layout keeps the result in SceneLayout.caption_lines.
int scene_caption_lines(const struct SceneLayout *L, const View *v);

typedef struct SceneLayout {
    int width, height;
    double unit; // base type size; everything scales with it
    ViewKind kind;
    int n_tokens, n_layers;
    int n_heads, n_kv_heads; // the model's query and key/value heads
    SceneRect top;           // phase banner and mode badge
    SceneRect main;          // the view's area
    SceneRect panel;         // counters, chart, next-token (w = 0 when hidden)
    SceneRect legend;        // block-state and beam legend
    SceneRect caption;       // lesson caption (h = 0 when none)
    int caption_lines;       // lines its text is wrapped into (scene_caption_lines), 0 for none
    SceneRect beams;         // where beams arc (sequence view) or the layer bands (layers view)
    SceneRect token_row;     // the lines of token cells (their bounding box)
    SceneRect blocks;        // the cache-block stacks' bounding box (h = 0: no blocks)
    double label_w;          // left column for row labels
    // Token cells: every position 0 .. n_tokens-1 has its own cell, in reading order on lines
    // of cells (the sequence view wraps; the layers view keeps one line). While every token's
    // text fits at the token size the cells are as wide as their text and wrap like words
    // (so positions do not move from step to step); past that the cells are all cell_w wide,
    // as many on a line as the model's context needs to fit (compact), so they stay put too.
    int first, last; // cells first .. last (0 .. n_tokens-1) are on the picture
    bool compact;    // cells of one width, too narrow for most texts
    int n_lines;
    double line_y[SCENE_MAX_LINES]; // top of each line's token cells
    SceneRect cell[SCENE_MAX_CELLS];
    int cell_line[SCENE_MAX_CELLS];
    int n_virtual;        // lines the whole sequence takes at this zoom (n_lines of them are shown)
    int scroll_step;      // positions a wheel notch scrolls: a line, or part of the single line
    double band_h;        // layers view: each layer's band (its beams over its cache cells), else 0
    double line_h;        // a line: its token cells, its block stacks and the gap under them
    double token_size;    // the token text size (smaller than the token font only when
                          // that is what keeps every text whole)
    bool keep_token_size; // set before scene_layout_cells: when the texts do not fit at the
                          // token size they stay at it and the start of the sequence scrolls
                          // off (the split screen's lanes, whose few lines must stay legible)
    double block_h, block_gap; // a cache block's height and the gap between two layers'
    double block_gap0;         // from a token cell's bottom to its first block
    int head_pos;          // the write head: the last step's query position (-1 before any step)
    double head_x, head_y; // its point, centre of the token cell, top of the token row
    int new_pos;           // the token the last step chose lands here (-1 before any step)
    // Heatmap view: rows and columns 0 .. hm_n-1, cell hm_cell wide, at (hm_x, hm_y)
    int hm_n;
    double hm_x, hm_y, hm_cell;
    // 3D view: the camera (eye, right/up/forward axes, focal length in pixels, picture centre)
    // and the world's geometry; see view_3d.c.
    double c3_eye[3], c3_right[3], c3_up[3], c3_fwd[3], c3_focal, c3_cx, c3_cy;
    double c3_near; // columns nearer than this to the eye are not drawn (they would fill it)
    double c3_goal_x, c3_goal_dist; // where the camera is going (view_camera_advance)
    int c3_n_labels;                // the labels shown, nearest first (they hit before the boxes)
    Scene3dLabel c3_label[SCENE_3D_LABELS];
    // Sampling view (sampling.c): the last step's next-token distribution under the session's
    // sampler settings now, and the choice they make with the step's own random draw.
    int smp_n;                              // candidate rows shown, most probable first
    int smp_id[SCENE_SAMPLING_ROWS];        // their ids
    float smp_prob[SCENE_SAMPLING_ROWS];    // their probabilities, softmax(logits / T)
    SceneRect smp_row[SCENE_SAMPLING_ROWS]; // each row
    SceneRect smp_bar[SCENE_SAMPLING_ROWS]; // each bar (its width: the probability)
    int smp_k_keep, smp_p_keep; // candidates top-k keeps, and top-p of those (of the whole list)
    double smp_k_y, smp_p_y;    // y of the top-k and top-p cut lines drawn (-1: not on the rows)
    float smp_coin;             // the step's draw (-1: greedy, no draw)
    float smp_target;           // where the sampler's walk stops (coin x the kept mass)
    int smp_pick;               // the id the settings pick with that draw (-1: no step yet)
    int smp_pick_row;           // its row, or -1 when below the rows shown
    bool smp_same;              // the settings are the step's own: smp_pick is the engine's pick
    SceneRect smp_walk;         // the strip of the walk (kept mass, in the sampler's order)
} SceneLayout;

void scene_layout(const Session *s, const View *v, int width, int height, SceneLayout *out);

// Box of token i's text cell; false when token i is not on the picture.
bool scene_token_box(const SceneLayout *l, int i, SceneRect *r);
// Box of the cache block of token i, layer `layer`; false when not on the picture.
bool scene_block_box(const SceneLayout *l, int i, int layer, SceneRect *r);
// X of the centre of token i's cell; false when not on the picture.
bool scene_token_x(const SceneLayout *l, int i, double *x);

// The token whose column (text, blocks or beams area) holds (x, y), or -1. In the heatmap view
// the column of the cell under the point.
int scene_hit_token(const SceneLayout *l, double x, double y);
// The cache block under (x, y): true with its token and layer.
bool scene_hit_block(const SceneLayout *l, double x, double y, int *token, int *layer);
// 3D view: where on the picture the top centre of token i's block, the centre of its cache
// block of layer `layer`, and the write head are; false when behind the camera or not there.
bool scene3d_token_point(const SceneLayout *l, int i, double *x, double *y);
bool scene3d_block_point(const SceneLayout *l, int i, int layer, double *x, double *y);
bool scene3d_head_point(const SceneLayout *l, double *x, double *y);
// 3D view: the front-most box whose drawn faces hold (x, y): true with its token and its layer
// (-1 for the token's own block).
bool scene3d_hit(const SceneLayout *l, double x, double y, int *token, int *layer);
// Heatmap cell under (x, y): true with its query row and key column.
bool scene_hit_heatmap(const SceneLayout *l, double x, double y, int *row, int *col);

// ----------------------------------------------------------------------------------------------
// The pool view (pool.c): a serving session's paged KV pool, drawn by scene_draw when
// View.kind is VIEW_POOL and View.serve is set. Every block of the pool is a cell coloured by the
// request holding it (shared blocks light, with their reference count; free blocks plain; the
// unused slots of a block paler); the selected sequence's block table as a row of logical blocks
// with a line to each physical one; one row per sequence of its tokens in blocks, and beside it
// the same sequence under contiguous preallocation of a whole context, its waste shaded; the
// counters a class reads.

#define POOL_MAX_BLOCKS 1024 // cells drawn at most (a larger pool shows its first ones)
#define POOL_MAX_TABLE 64    // logical blocks of the selected table drawn at most
#define POOL_MAX_ROWS 16     // sequence rows at most (running first, then waiting)

typedef struct {
    int width, height;
    double unit;
    SceneRect top, grid, table, rows, panel, caption;
    int n_blocks; // cells drawn
    SceneRect block[POOL_MAX_BLOCKS];
    int selected; // the sequence whose table is drawn, or -1
    int n_table;
    SceneRect table_cell[POOL_MAX_TABLE];
    int n_rows;
    int row_seq[POOL_MAX_ROWS];
    SceneRect row_paged[POOL_MAX_ROWS], row_contig[POOL_MAX_ROWS];
    SceneColour row_colour[POOL_MAX_ROWS]; // its request's colour (pool_request_colour)
    int caption_lines;
} PoolLayout;

void pool_layout(const Serve *s, const View *v, int width, int height, PoolLayout *L);
// The colour of request `request` in a theme: POOL_COLOURS different ones (eight hues in three
// tiers of luminance), each with a contrast of at least 4.5:1 on the theme's background, so that
// a request's label is written in its colour; request POOL_COLOURS has request 0's again.
#define POOL_COLOURS 24
SceneColour pool_request_colour(ThemeKind theme, int request);
// The sequence the pool view draws the table of (View.pool_seq, or the running sequence holding
// the most blocks), or -1 when none runs.
int pool_selected(const Serve *s, const View *v);

// ----------------------------------------------------------------------------------------------
// Glossary (glossary.c): every term the picture, the exports and the lessons use, from
// assets/glossary.txt. Hover texts, the glossary panel and `kvscope glossary` read it.

typedef struct {
    const char *term;       // the word as the picture writes it
    const char *also;       // other spellings, comma-separated, or NULL
    const char *short_text; // one or two sentences
    const char *long_text;  // a paragraph, or NULL
} GlossaryEntry;

typedef struct Glossary {
    GlossaryEntry *entries; // owned, pointing into text
    int n;
    char *text; // owned
} Glossary;

// Parses the glossary format (see assets/glossary.txt). KV_ERR_INPUT with "<what>:<line>: <why>"
// for an unknown key, an entry without a term or short definition, or a word defined twice.
KvStatus glossary_parse(Glossary *g, const char *text, size_t len, const char *what, KvError *err);
KvStatus glossary_load(Glossary *g, const char *path, KvError *err);
void glossary_free(Glossary *g);
// The entry whose term or one of whose other spellings is `word` (any case; trailing spaces and
// a colon ignored), or NULL.
const GlossaryEntry *glossary_find(const Glossary *g, const char *word);
// The entry a label of the picture stands for: its term (SceneText.term) when it has one, else
// the whole text, else the longest term or other spelling that occurs in it as whole words
// (any case); NULL when none does.
const GlossaryEntry *glossary_label(const Glossary *g, const char *text, const char *term);
// The entry a drawn text's tooltip shows: for token text its term's (NULL without one), else
// glossary_label's. Words in curly quotes are a token's and never match.
const GlossaryEntry *scene_text_entry(const Glossary *g, const SceneText *t);
// The term the scene gives a label (terms.c), or NULL; and the table's terms one by one (NULL
// past the last), for the test that every one is in the glossary.
const char *scene_label_term(const char *text);
const char *scene_label_term_at(int i);
// Pages the glossary panel of v (View.glossary) takes on a picture of width x height.
int scene_glossary_pages(const Session *s, const View *v, int width, int height);

#endif
