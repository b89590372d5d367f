// lesson.h — the face of src/lesson: classroom lessons, small plain-text scripts in lessons/ that
// drive a real Session beat by beat (lessons/README.md describes the format).
//
// Three parts, used in this order by `kvscope lesson`, the window and the tests:
//   1. lesson_parse / lesson_load: the whole file is read and checked before anything runs;
//      every problem is one line "<file>:<line>: <problem>".
//   2. lesson_check: what needs the model (the prompt fits, the steps fit the context, layer and
//      head exist), still before anything runs.
//   3. LessonPlayer: beat k = a Session state + View settings + a caption. Going to any beat is
//      exact: forward runs the commands up to it, backward replays from the start (the model is
//      tiny and the sampler deterministic, so the same tokens come back).
// Plus the deck: one vector 16:9 PDF page, or one PNG, per beat, drawn by scene_draw.
//
// What is not here: loading the model (the caller does, src/app), input and windows.
#ifndef KVSCOPE_LESSON_H
#define KVSCOPE_LESSON_H

#include "sim/sim.h"
#include "view/view.h"

// ----------------------------------------------------------------------------------------------
// A parsed lesson

typedef enum {
    LESSON_TITLE,          // title TEXT             the lesson's title (deck metadata, outline)
    LESSON_MODEL,          // model PATH             relative to the lesson file's folder
    LESSON_TOKENIZER,      // tokenizer PATH
    LESSON_PROMPT,         // prompt TEXT | preset NAME: a new sequence (str holds the prompt)
    LESSON_TEMPERATURE,    // temperature T
    LESSON_TOP_K,          // top-k K
    LESSON_TOP_P,          // top-p P
    LESSON_SEED,           // seed S
    LESSON_CACHE,          // cache on|off
    LESSON_VERIFY,         // verify on|off
    LESSON_STEP,           // step N
    LESSON_BACK,           // back N
    LESSON_RESET,          // reset
    LESSON_VIEW,           // view NAME: a view of the view table (n = its ViewKind), or
                           //   view split (n = VIEW_KINDS): the split screen, as split on;
                           //   another view after it turns the split off
    LESSON_CAMERA,         // camera front|top|orbit:AZ,EL   the 3D view's camera (str holds it)
    LESSON_LAYER,          // layer all|N            (1-based in the file, n = 0-based or -1)
    LESSON_HEAD,           // head mean|each|N       (1-based in the file, n = 0-based, -1, -2)
    LESSON_THEME,          // theme dark|light
    LESSON_ZOOM,           // zoom X
    LESSON_PANELS,         // panels on|off
    LESSON_PROJECT_MODEL,  // project-model NAME  the memory view highlights this published model
    LESSON_PROJECT_LENGTH, // project-length N    the memory view projects N tokens (0: the run's)
    LESSON_PROJECT_LOG,    // project-log on|off  the memory view's log scale
    LESSON_CAPTION,        // caption TITLE          starts this beat's caption
    LESSON_TEXT,           // text SENTENCE...       adds to this beat's caption
    LESSON_BEAT,           // beat                   one slide: pause for the presenter
    LESSON_KV,             // kv f32|bf16|int8|int4|kivi2|kivi4   the cache's precision (n); back
                           //                        to the prompt, as `reset`
    LESSON_INSPECT,        // inspect LAYER POS [HEAD] | inspect off   the inspector on a cache
                           //   cell (n = layer 0-based or -1 for off, x = position, n2 = head
                           //   0-based or -1: the view's)
    LESSON_SPLIT,          // split on|off  the cached and the uncached session side by side
    LESSON_GLOSSARY,       // glossary TERM          this beat's caption: the term's glossary entry
                           //                        (str: the term, def: its definition, filled
                           //                        in by lesson_bind_glossary)
    LESSON_SERVE,          // serve classroom|PATH   a serving session (str: the file, or NULL)
    LESSON_SERVE_STEP,     // serve-step N           N steps of the serving session
    LESSON_SERVE_BLOCKS,   // serve-blocks N         its pool from the next `serve` (0: default)
    LESSON_SERVE_SHARING,  // serve-sharing on|off   prefix sharing from the next `serve`
    LESSON_SAMPLING_SCALE, // sampling-scale linear|log   the sampling view's bars (n = 1: log)
    LESSON_OPS
} LessonOp;

// The command word of an op, from the parser's command table ("prompt" for LESSON_PROMPT).
const char *lesson_op_name(LessonOp op);

typedef struct {
    LessonOp op;
    int line;  // 1-based line in the file
    long n;    // whole-number argument (and on/off as 1/0, view/theme as their enum)
    double x;  // number argument (temperature, top-p, zoom)
    char *str; // text argument (owned), or NULL
    char *def; // glossary: the entry's short definition (owned), NULL until bound
    long n2;   // a second whole-number argument (inspect: the head)
} LessonCmd;

typedef struct Lesson {
    char path[1024];      // the file as given (messages name it)
    char title[256];      // "" when the lesson has no title line
    char model[1024];     // resolved against the lesson's folder; "" = the caller's default
    char tokenizer[1024]; // likewise
    LessonCmd *cmds;      // owned, n_cmds
    int n_cmds;
    int *beats; // owned: index in cmds of each beat command, n_beats
    int n_beats;
} Lesson;

// Presets (Preset, sim.h): the caller passes its presets to the parser.

// Limits that keep a lesson readable on a projector; longer captions are a parse error.
#define LESSON_TITLE_MAX 72 // caption title, characters
#define LESSON_TEXT_MAX 260 // caption text (all `text` lines of one beat together)
#define LESSON_MAX_BEATS 200
#define LESSON_FILE_MAX ((size_t)4 << 20) // bytes: larger is not a lesson

// Parses `text` (len bytes; `path` names it in messages and resolves model paths). On success
// the caller owns *l (lesson_free). Errors are KV_ERR_INPUT with "<path>:<line>: <problem>".
KvStatus lesson_parse(Lesson *l, const char *path, const char *text, size_t len,
                      const Preset *presets, KvError *err);
// Reads and parses a file. A file that cannot be read is "<path>: <why>".
KvStatus lesson_load(Lesson *l, const char *path, const Preset *presets, KvError *err);
void lesson_free(Lesson *l);
// Looks up the term of every `glossary` command in g and keeps the entry's term and short
// definition in the command (the player shows them as the beat's caption). KV_ERR_INPUT with
// "<path>:<line>: glossary: 'TERM' is not in the glossary (...)" for an unknown term.
// lesson_check refuses a lesson with a glossary command that was not bound.
KvStatus lesson_bind_glossary(Lesson *l, const Glossary *g, KvError *err);

// Checks the lesson against the model it will run: every prompt fits the context with room to
// generate, no `step` would run past the context, no `back` goes before the prompt, layers and
// heads exist, and playing it costs at most LESSON_MAX_POSITIONS positions (lesson_cost; the
// message gives the estimate). "<path>:<line>: <problem>", KV_ERR_INPUT.
KvStatus lesson_check(const Lesson *l, const Model *m, const Tokenizer *t, KvError *err);

// What playing a lesson once, first beat to last, costs: the steps run, the positions the
// model computes (what the counters' `positions` will show; redone steps cost nothing, a
// no-cache step recomputes the whole sequence, verification runs the other mode too) and the
// FLOPs of DESIGN.md's closed forms for them. Serving steps (serve-step) are counted in
// serve_steps, and their positions and FLOPs at their bound: the pool's positions per step, each
// at the end of the context. KV_ERR_INPUT only for a prompt that does not encode. The lesson
// must have passed lesson_parse.
typedef struct {
    uint64_t steps, positions, flops;
    uint64_t serve_steps;
} LessonCost;
KvStatus lesson_cost(const Lesson *l, const Model *m, const Tokenizer *t, LessonCost *out,
                     KvError *err);
// lesson_check refuses a lesson whose play computes more positions than this: a class lesson
// is a few thousand; 1,000,000 is about a minute of work for a model of the shipped size.
#define LESSON_MAX_POSITIONS 1000000

// ----------------------------------------------------------------------------------------------
// Caption text: {placeholders} filled in from the session when a beat is shown, so numbers in
// captions are computed, never typed in. Names (lessons/README.md lists them with examples):
// tokens, prompt_tokens, steps, layers, heads, kv_heads, head_size, dim, context, params,
// kv_per_token, kv_per_token16, kv_total, flops_step, flops_total, flops_cache, flops_nocache,
// flops_ratio, flops_step_cache, flops_step_nocache, step_ratio, step_ms, logit_diff,
// last_token; and for a known model NAME (below):
// {kv:NAME} per-token bytes, {kvseq:NAME} for the current sequence, {kvctx:NAME} for its whole
// context, {sum:NAME} the product spelled out, {ratio:NAME} times this model's per-token bytes.
// "{{" is a literal "{".

// NAME is a key of the projection table (src/sim/project.c: "llama2-7b", "gpt2", ...).

// Checks the placeholders of a caption string: NULL when all are known, else a message.
const char *lesson_caption_problem(const char *s, char *buf, size_t cap);
// Expands the placeholders of `in` from the session's current state into out (NUL-terminated).
void lesson_expand(const Session *s, const char *in, char *out, size_t cap);

// ----------------------------------------------------------------------------------------------
// Playing: the window, the deck writer and the tests all go through this.

// The View settings a lesson controls (the rest of the View belongs to whoever draws).
typedef struct {
    ViewKind kind;
    int layer, head;
    ThemeKind theme;
    double zoom;
    bool panels;
    long memory_length; // the memory view (View.memory_*)
    int memory_model;
    bool memory_log;
    CameraPreset camera;       // the 3D view's camera preset
    double orbit_az, orbit_el; // its ORBIT angles
    bool inspect;              // the inspector (View.inspect_*)
    int inspect_layer, inspect_pos, inspect_head;
    bool split;        // side by side (View.split)
    bool sampling_log; // the sampling view's log scale (View.sampling_log)
} LessonViewState;

typedef struct LessonPlayer {
    const Lesson *lesson; // borrowed, checked with lesson_check against session->model
    Session *session;     // borrowed: the player drives it
    int beat;             // the beat shown, -1 before the first
    int pc;               // next command to run
    LessonViewState vs;
    SamplerSettings sampler;
    char raw_title[LESSON_TITLE_MAX * 4 + 8];
    char raw_text[LESSON_TEXT_MAX * 4 + 8];
    char title[1024]; // the current beat's caption, placeholders filled in
    char text[2048];
    uint64_t left; // fingerprint of the session as the last goto left it (see player.c)
    // a serving session (the pool view), owned: made by `serve`, freed by lesson_player_free
    struct Serve *serve;
    int serve_blocks;
    bool serve_sharing;
} LessonPlayer;

// Binds a player to a checked lesson and a session on the lesson's model. Shows nothing yet
// (beat -1); call lesson_player_goto(p, 0, ...).
void lesson_player_init(LessonPlayer *p, const Lesson *l, Session *s);
// Brings the session, view state and caption to beat k (0 .. n_beats-1): forward by running
// the commands in between, backward by replaying from the start. If someone changed the session
// since the last goto (a presenter stepping or toggling the cache in the window), it replays
// from the start too, so beat k is always the lesson's beat k. KV_ERR_INPUT if k is out of
// range or the session refuses a command (cannot happen after lesson_check).
KvStatus lesson_player_goto(LessonPlayer *p, int k, KvError *err);
// Frees what the player made (a serving session); the lesson and session stay the caller's.
void lesson_player_free(LessonPlayer *p);
// Writes the current beat's view settings and caption into v (caption pointers borrow from p,
// valid until the next goto). Leaves v's other fields alone.
void lesson_player_view(const LessonPlayer *p, View *v);

// ----------------------------------------------------------------------------------------------
// The deck

typedef struct {
    int width, height; // picture size in scene units (default 1920 x 1080)
    int theme;         // -1: as the lesson says; else THEME_DARK or THEME_LIGHT for every beat
} LessonDeckOptions;

// One PDF page per beat (width/2 x height/2 points: 960 x 540 for 16:9), vector, captions as
// text, an outline entry per beat. Written atomically: nothing is left behind on failure.
KvStatus lesson_write_pdf(LessonPlayer *p, const char *path, const LessonDeckOptions *o,
                          KvError *err);
// One PNG per beat, DIR/beat-01.png ..., DIR created if needed; each written atomically.
KvStatus lesson_write_frames(LessonPlayer *p, const char *dir, const LessonDeckOptions *o,
                             KvError *err);

// The lesson as a video (.mp4, .webm, .gif): each beat's last step played at tok_s as the window
// animates it, then its picture held with the caption for a reading time (2.5 s + 18 characters a
// second, at most 12 s). Written atomically.
typedef struct {
    LessonDeckOptions deck; // picture size and theme
    int fps;
    double tok_s;
    void (*progress)(void *ctx, int64_t done, int64_t total);
    void *progress_ctx;
} LessonVideoOptions;
KvStatus lesson_write_video(LessonPlayer *p, const char *path, const LessonVideoOptions *o,
                            KvError *err);

#endif
