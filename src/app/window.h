// window.h — inside src/app only: the classroom window's state and input handling, split from the
// SDL window itself so that tests can drive it with synthetic events and no display.
//
// AppState is everything the window knows besides the Session: the View handed to the scene,
// play/pause and speed, the animation clock, the prompt being typed, the sampler panel and the
// toolbar. app_handle_event() turns one SDL event into a row of the action table
// (window_actions.c: every key, button and gesture, with where it may run); app_do() runs one
// action; the toolbar, generated from the same table, is laid out and drawn by window_ui.c in a
// strip below the scene (the scene never sees it, so an export of the scene is exactly the
// picture above the strip).
//
// A lesson (src/lesson) may play in the window: then Right/Space, Left/Backspace and R move
// between its beats instead of stepping, and the toolbar shows the beat position. The player is
// either borrowed (`kvscope lesson FILE`) or one the window opened itself (G: the lessons found
// in lessons/).
//
// What is not here: the SDL window and renderer (window.c), the worker thread (worker.c), the
// action table (window_actions.c).
#ifndef KVSCOPE_WINDOW_H
#define KVSCOPE_WINDOW_H

#include "app/app.h"
#include "lesson/lesson.h"
#include "view/view.h"

#include <SDL.h>
#include <cairo.h>
#include <pthread.h>
#include <stdbool.h>

// ----------------------------------------------------------------------------------------------
// Recording what the window shows (recorder.c): an MP4 in the export folder, kept on a clock

struct ExportVideo;
typedef struct {
    struct ExportVideo *video; // NULL: not recording
    char path[1100];
    int w, h;       // frame size (even)
    double t0;      // when it started (window seconds)
    int64_t frames; // frames written
    double seconds; // length of the last finished recording
} Recorder;

bool recorder_active(const Recorder *r);
// Starts recording w x h frames into DIR/kvscope-<date>-<time>.mp4 (DIR created).
KvStatus recorder_start(Recorder *r, const char *dir, int w, int h, double now, KvError *err);
// Writes the picture on screen (px, a frame of w x h) for every frame that fell due by `now`.
// KV_ERR_INPUT when the window changed size (the recording cannot go on).
KvStatus recorder_catch_up(Recorder *r, const unsigned char *px, int stride, int w, int h,
                           double now, KvError *err);
// Catches up to `now`, finishes the file and sets r->seconds; nothing is left on failure.
KvStatus recorder_stop(Recorder *r, const unsigned char *px, int stride, int w, int h, double now,
                       KvError *err);
void recorder_abort(Recorder *r);

// ----------------------------------------------------------------------------------------------
// Actions: what a key, a toolbar button or a mouse gesture does. Each action is one row of the
// table in window_actions.c; key dispatch, the toolbar, the help overlay's key list and the
// toolbar's tooltips are all read from it.

typedef enum {
    ACT_NONE = 0,
    ACT_STEP,
    ACT_BACK,
    ACT_PLAY, // play / pause
    ACT_SLOWER,
    ACT_FASTER,
    ACT_CACHE,  // toggle the KV cache
    ACT_POLICY, // the cache's retention policy: full, window, sinks, h2o, full, ...
    ACT_PRESET1,
    ACT_PRESET2,
    ACT_PRESET3,
    ACT_PROMPT, // start typing a prompt
    ACT_RESET,
    ACT_LAYER,
    ACT_HEAD,
    ACT_VIEW,
    ACT_THEME,
    ACT_FULLSCREEN,
    ACT_SAMPLER, // show / hide the sampler panel
    ACT_EXPORT,
    ACT_RECORD, // start / stop recording the window as an MP4
    ACT_HELP,
    ACT_QUIT,
    // sampler panel
    ACT_TEMP_DOWN,
    ACT_TEMP_UP,
    ACT_TOPK_DOWN,
    ACT_TOPK_UP,
    ACT_TOPP_DOWN,
    ACT_TOPP_UP,
    ACT_SEED_DOWN,
    ACT_SEED_UP,
    ACT_FIELD_PREV, // select the panel field above / below (keyboard)
    ACT_FIELD_NEXT,
    ACT_FIELD_DOWN, // decrease / increase the selected field (keyboard)
    ACT_FIELD_UP,
    // lessons
    ACT_BEAT_NEXT,
    ACT_BEAT_PREV,
    ACT_BEAT_FIRST,
    ACT_LESSON, // open the next lesson from the lessons folder (after the last: none)
    // Esc: closes an overlay, else cancels the prompt entry, else leaves fullscreen; never quits
    ACT_ESCAPE,
    ACT_SPEED, // the speed slider: a click sets the speed by where it lands
    // the prompt entry
    ACT_TYPE_RUN,   // Enter: run the typed prompt
    ACT_TYPE_ERASE, // Backspace: erase one character
    ACT_TYPE_PASTE, // Ctrl+V: paste the clipboard
    // the mouse over the scene
    ACT_PIN,    // click: pin (or unpin) a token's attention row
    ACT_SCROLL, // wheel: scroll back along the sequence
    ACT_ZOOM,   // Ctrl + wheel: zoom the token cells
    ACT_LAYOUT, // projector / detail layout of the picture
    ACT_VERIFY, // measure the cache / no-cache logit difference on every step (or stop)
    ACT_KV,     // the cache's precision: the next kind the model can use
    ACT_COUNT
} AppAction;

struct AppState;

#define APP_EXPORTS 3 // E writes PNG, SVG and PDF

#define ACTION_KEYS 4

typedef struct {
    SDL_Keycode sym; // 0 ends the list
    Uint16 mod;      // modifiers that must be held (KMOD_SHIFT: either shift key); 0: any
    bool alt;        // an alternative key: works, but the help and tooltips do not list it
} ActionKey;

// Mouse gestures over the scene that run an action (ActionRow.gesture).
typedef enum {
    GESTURE_NONE = 0,
    GESTURE_CLICK,      // left click in the scene
    GESTURE_WHEEL,      // wheel
    GESTURE_CTRL_WHEEL, // wheel with Ctrl held
    GESTURE_DRAG,       // the pointer moved with the left button held, in the scene
} ActionGesture;

// ActionRow.when: where an action may run. Without ACT_WHEN_TYPING_TOO or ACT_WHEN_TYPING, a
// row is refused while the prompt is typed (the keys type text then).
enum {
    ACT_WHEN_LESSON = 1 << 0,     // only while a lesson plays (refused otherwise)
    ACT_WHEN_NO_LESSON = 1 << 1,  // refused while a lesson plays
    ACT_WHEN_SAMPLER = 1 << 2,    // only while the sampler panel is open
    ACT_WHEN_TYPING = 1 << 3,     // only while the prompt is typed
    ACT_WHEN_TYPING_TOO = 1 << 4, // also while the prompt is typed
    // Touches the session, so it does not run beside a step on the worker: it waits for the
    // running step to finish and drops queued ones. Without it a row runs at once (it changes
    // only the view, the window or the clock; a step asked for while one runs is queued).
    ACT_WHEN_WAITS = 1 << 5,
    ACT_WHEN_BAR_NO_LESSON = 1 << 6, // its button leaves the toolbar while a lesson plays
};

// A toolbar label that follows the state: written into buf (or a static string returned);
// *on set when the button is drawn highlighted (playing, cache on, panel open, ...).
typedef const char *(*ActionLabelFn)(const struct AppState *a, char *buf, size_t cap, bool *on);

typedef struct {
    AppAction act;               // what code calls it (ACT_NONE: a row no code names)
    const char *name;            // "step", "cache", ... (messages, tests)
    ActionKey keys[ACTION_KEYS]; // the keys that run it
    ActionGesture gesture;       // or the mouse gesture that runs it
    const char *help_keys;       // what the help shows for it instead of its keys ("click")
    const char *help;            // its line in the help overlay (NULL: not listed). Rows next
                                 // to each other with the same text share one line
    const char *tip;             // toolbar tooltip (NULL: as help)
    int bar;                     // place on the toolbar, left to right (0: not on it; from
                                 // ACTION_BAR_PANEL on: the sampler panel's row)
    const char *label;           // toolbar label, or NULL when label_fn gives it
    ActionLabelFn label_fn;
    ActionLabelFn readout; // a readout the toolbar shows before the button (not clickable)
    void (*run)(struct AppState *a);
    unsigned when; // ACT_WHEN_*
} ActionRow;

#define ACTION_BAR_PANEL 100

extern const ActionRow app_actions[];
extern const int app_n_actions;

// The row of an action (NULL for ACT_NONE and ACT_COUNT), and its name.
const ActionRow *app_action(AppAction a);
const char *app_action_name(AppAction a);
// Runs a row's handler when the row may run in the current state, after waiting for a running
// step when the row says so (window_app.c). False when refused.
bool app_run_row(struct AppState *a, const ActionRow *r);
// Whether a row may run in the window's current state (lesson, panel, typing).
bool app_action_allowed(const struct AppState *a, const ActionRow *r);
// The row a key runs in the current state, or NULL. Rows bound to a state (a lesson, the panel,
// the entry) go before rows that work everywhere, so the lesson's Space is "next beat".
const ActionRow *app_key_row(const struct AppState *a, const SDL_Keysym *k);
// The row a mouse gesture over the scene runs in the current state, or NULL.
const ActionRow *app_gesture_row(const struct AppState *a, ActionGesture g);
// "Space  \u2192": the keys of a row as the help and the tooltips list them (or its help_keys).
void app_action_keys_text(const ActionRow *r, char *buf, size_t cap);

// ----------------------------------------------------------------------------------------------
// Toolbar (window_ui.c)

#define TOOLBAR_MAX 40

typedef struct {
    AppAction action;     // its row's
    const ActionRow *row; // the row it runs (or whose readout it is)
    bool readout;         // the row's readout before its button: not clickable
    double x, y, w, h;    // window coordinates (logical units, as mouse events report them)
    char label[48];
    bool on;           // drawn highlighted (playing, cache on, panel open, ...)
    bool speed_slider; // the speed slider: a click sets the speed by position
    double font;       // label size
} ToolButton;

#define APP_HELP_MAX 64
#define APP_HELP_PARTS 20  // the help's lines on the parts of the picture (window_glossary.c)
#define APP_LABELS_MAX 400 // labels of the picture the pointer can rest on

// A label the scene drew (its text sink), with the glossary entry it stands for.
typedef struct {
    SceneRect box;
    const GlossaryEntry *entry;
} AppLabel;

#define SAMPLER_FIELDS 4 // temperature, top-k, top-p, seed

// ----------------------------------------------------------------------------------------------
// The worker that runs steps off the UI thread (worker.c). With `async` off (tests), steps run
// inline.

typedef struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started;
    bool job;  // a step is requested or running
    bool done; // the step finished; result in ok
    bool ok;
    bool stop;
    Uint32 wake_event; // SDL user event pushed when a step finishes (0: none)
} StepWorker;

// ----------------------------------------------------------------------------------------------
// The state

#define APP_SPEEDS 10
// The shipped models the model key cycles: the full model, grouped-query (2 kv heads) and
// multi-query (1 kv head) twins, one file name each.
#define APP_MODELS 3
extern const char *const app_model_files[APP_MODELS];
extern const double app_speeds[APP_SPEEDS]; // tok/s, 0.25 .. 20

typedef struct AppState {
    Session *s; // borrowed
    View view;
    SDL_Window *win; // NULL in tests: fullscreen is then only a flag
    bool quit;

    // size of the window in logical units (mouse coordinates) and pixels per unit
    int width, height;
    double scale;
    double toolbar_h; // strip below the scene
    int scene_h;      // height given to the scene

    // playing and the animation clock (seconds, any monotonic origin)
    bool playing;
    int speed_i; // index in app_speeds
    double now;
    double next_step_at; // when playing: time of the next step
    double anim_start;   // when the last step's animation began
    double anim_len;     // its length (view_anim_seconds: follows the speed)
    int anim_phase;      // the animating step's Phase (view_anim_t times it)
    int pending_steps;   // step requests queued while the worker is busy

    // async stepping
    bool async;
    bool busy; // the worker is running session_step: do not touch s
    StepWorker worker;

    // text entry of a custom prompt
    bool typing;
    char typed[1024];
    Uint32 typing_since; // timestamp of the key that started it (its own text is dropped)
    char prompt_error[520];

    // sampler panel
    bool sampler_open;
    int field; // selected field 0..SAMPLER_FIELDS-1

    // messages (View.notice and View.status point here)
    char notice[512];
    bool recording;      // the presenter asked to record (the window's loop starts and stops)
    double record_since; // when the recording started (for the toolbar's clock)
    int record_shown;    // the clock's seconds last drawn
    double notice_until; // 0: stays until replaced
    bool at_limit;
    char status[160];

    int preset; // index of the preset last chosen, -1 for a typed prompt
    bool fullscreen;

    // exports
    char export_dir[512];
    char last_export[APP_EXPORTS][640]; // paths of the last PNG, SVG and PDF

    // pointer
    double mouse_x, mouse_y;

    // the toolbar as last laid out (window_ui.c: toolbar_update lays it out again only when
    // a label, a highlight or the size changed)
    ToolButton buttons[TOOLBAR_MAX];
    int n_buttons;
    int bar_w, bar_h_laid; // the size it was laid out for
    bool bar_typing;       // laid out for the prompt entry
    long n_layouts;        // how many times it was laid out (tests: once per change)

    // the toolbar tooltip: the button under the pointer since tip_since (window time)
    const ActionRow *tip_row;
    double tip_since;
    bool tip_clicked; // clicked since it came under the pointer: no tooltip
    bool tip_shown;   // the tooltip is on the picture

    // the help overlay's rows, generated from the action table (View.help_rows points here)
    ViewHelpRow help_rows[APP_HELP_MAX];
    char help_keys[APP_HELP_MAX][64];
    int n_help_rows;

    // the event being handled
    Uint32 event_time;         // its timestamp
    int wheel_y;               // wheel: its direction
    double drag_dx, drag_dy;   // drag: how far the pointer moved since the last motion event
    double cam_clock;          // when the 3D camera last moved toward its preset (window time)
    const ActionRow *last_run; // the row whose handler ran last (NULL: none yet)
    long n_run;                // how many handlers ran

    // a lesson playing (NULL: none). Either borrowed from the caller, or opened by ACT_LESSON
    // from lesson_dir and then owned (own_lesson, own_player; lesson == own_player).
    LessonPlayer *lesson;
    int theme_forced; // -1: each lesson beat sets its theme; else the presenter's (--theme, D)
    int windowed_w, windowed_h; // the window's size before fullscreen, restored after
    Lesson *own_lesson;
    LessonPlayer *own_player;
    char lesson_dir[1024];  // where ACT_LESSON looks ("" = beside the executable, see app_init)
    char lesson_file[1024]; // the file ACT_LESSON opened last ("" = none yet)

    // the glossary (window_glossary.c): the labels of the picture as last drawn, the one the
    // pointer rests on (its tooltip comes after APP_TIP_DELAY), the glossary panel's entries
    Glossary glossary; // assets/glossary.txt (n = 0 when it could not be read)
    AppLabel labels[APP_LABELS_MAX];
    int n_labels;
    const GlossaryEntry *label_tip; // the entry of the label under the pointer, or NULL
    SceneRect label_box;            // that label's box
    double label_since;             // since when the pointer rests on it
    bool label_shown;               // its tooltip is on the picture
    char help_parts[APP_HELP_PARTS][200];

    bool dirty; // something changed: draw a frame
    // kvscope run --serve: the serving session the pool view draws (borrowed from cmd_run), and
    // what rebuilds it for a step back (a serving session is replayed, not undone)
    Serve *serve;
    const ServeOptions *serve_opts;
    KvError fault; // the model produced non-finite values: the window quits with it

    // the model key (app_next_model): the shipped full model and its twins, loaded on first use
    // from the directory of the model the window opened with (owned; NULL: not loaded)
    Model *models[APP_MODELS];
    const Model *model0; // the session's model before the first switch (given back at app_free)
} AppState;

// Sets up state for a session whose prompt is set; view defaults; speed 4 tok/s.
void app_init(AppState *a, Session *s, int width, int height, double scale);
void app_free(AppState *a);
// New window size (logical units) and scale; lays out the toolbar again.
void app_resize(AppState *a, int width, int height, double scale);

// Handles one event at time a->now. Returns true when the picture changed.
bool app_handle_event(AppState *a, const SDL_Event *ev);
// Runs one action (what its key or button does): app_run_row of its row. False when refused.
bool app_do(AppState *a, AppAction act);
// The time a tooltip waits for the pointer to rest on a button (seconds).
#define APP_TIP_DELAY 0.6
// Advances the clock to `now` (seconds): plays the next step when due, ends the animation,
// expires notices. Returns true when a frame should be drawn.
bool app_tick(AppState *a, double now);
// The animation time to draw with (t_anim of scene_draw); >= 1 when at rest.
double app_anim_t(const AppState *a);
// Seconds until app_tick has something to do (a step, an animation frame, a notice to expire);
// negative when nothing is scheduled (wait for input).
double app_next_wake(const AppState *a);

// Called on the UI thread when the worker finished a step (window.c), or inline.
void app_step_finished(AppState *a, bool ok);
// Waits for a running step to finish (the worker's result is applied).
void app_quiesce(AppState *a);

// Plays a lesson in the window (borrowed; NULL stops playing): shows beat p->beat, or beat 0
// when the player has shown none yet. Returns false with a notice when that beat cannot be
// reached.
bool app_play_lesson(AppState *a, LessonPlayer *p);
// Goes to beat k of the playing lesson (clamped to its beats); false with a notice on failure.
bool app_goto_beat(AppState *a, int k);

// Fullscreen on the window's display (on) or back to a centred window (off); places the window
// itself where no window manager would.
void app_window_fullscreen(AppState *a, bool on);

// Shows a short note on the picture for `seconds` (0: until replaced).
void app_notice(AppState *a, double seconds, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Writes the current frame as PNG and SVG into a->export_dir (created); sets the notice.
bool app_export(AppState *a);
// The size E exports at: 16:9 at the window's width (at least 640 wide).
void app_export_size(const AppState *a, int *w, int *h);

// ----------------------------------------------------------------------------------------------
// What the action table's handlers call (window_app.c)

// Runs the next step, or queues it behind the one running on the worker.
void app_request_step(AppState *a);
// Ends the running animation (what is shown is then the new state at rest); waits for a
// running step first.
void app_at_rest(AppState *a);
// Leaving the context limit (back, reset, new prompt) takes its message away.
void app_left_limit(AppState *a);
// The next shipped model (kvscope6.bin -> kvscope6_gqa.bin -> kvscope6_mqa.bin -> ...) beside the
// one the session runs: loaded once, the session starts its prompt again on it
// (session_set_model), a notice names it with its kv heads and cache bytes per token. A window
// that runs a model of another name, or a twin that is missing, gets a notice instead.
void app_next_model(AppState *a);
// Gives the session back the model it had before the first switch; frees the loaded twins.
void app_free_models(AppState *a);
// Play / pause. In the pool view of `run --serve`, Play steps the serving session at the chosen
// speed (app_tick) and stops when every request has finished.
void app_toggle_play(AppState *a);
// True when the step keys and Play drive the serving session (the pool view of run --serve).
bool app_serving(const AppState *a);
// Speed index i, clamped to 0 .. APP_SPEEDS-1; the animation length follows.
void app_set_speed(AppState *a, int i);
// Preset i (app_presets) as the prompt, at step 0.
void app_choose_preset(AppState *a, int i);
// Field 0..SAMPLER_FIELDS-1 of the sampler one notch in dir (-1, +1).
void app_change_sampler(AppState *a, int field, int dir);
// The prompt entry: open, close (cancel), run what was typed (stays open with the error when
// the prompt is refused), edit.
void app_start_typing(AppState *a);
void app_stop_typing(AppState *a);
void app_commit_prompt(AppState *a);
void app_typed_append(AppState *a, const char *text);
void app_typed_backspace(AppState *a);
// G: the next lesson of the lessons folder (after the last: none).
void app_open_next_lesson(AppState *a);
// Pins (or unpins) the attention row of the token at (x, y) in the scene.
void app_pin_at(AppState *a, double x, double y);
// Fills a->help_rows from the action table and points the View at them (window_actions.c).
void app_help_build(AppState *a);

// ----------------------------------------------------------------------------------------------
// The glossary in the window (window_glossary.c)

// Loads the glossary (a missing one leaves tooltips and panel empty, with a notice).
void app_glossary_init(AppState *a);
void app_glossary_free(AppState *a);
// Adds the help overlay's lines on what each part of the picture is: its name and the first
// sentence of its glossary entry (called by app_help_build).
void app_help_add_parts(AppState *a);
// A text sink that collects the labels of the frame being drawn into a->labels.
SceneTextSink app_label_sink(AppState *a);
// The pointer moved: the label under it (over the scene), whose tooltip comes after a rest.
void app_label_hover(AppState *a);
// Shows or hides the label tooltip when its time came (app_tick); true when that changed.
bool app_label_tick(AppState *a);
// Seconds until the label tooltip is due, or -1.
double app_label_wake(const AppState *a);
// The glossary entry a toolbar button stands for, or NULL.
const GlossaryEntry *app_action_entry(const AppState *a, const ActionRow *r);
// The tooltip of the label under the pointer (term and definition), when shown.
void app_draw_label_tip(AppState *a, cairo_t *cr);
// The glossary panel: A opens it and turns its pages (closed after the last), Shift+A turns back.
void app_glossary_next(AppState *a);
void app_glossary_prev(AppState *a);

// ----------------------------------------------------------------------------------------------
// Toolbar and drawing (window_ui.c)

// The strip's height and the scene's (cheap: no text is measured); follows the window size and
// the sampler panel.
void app_geometry(AppState *a);
// Lays the toolbar out from the action table when what it shows changed since the last time
// (labels, highlights, the size, the entry); else keeps it. Every use of the buttons below
// goes through it, so the toolbar is laid out at most once per frame and per change.
void toolbar_update(AppState *a);
// Frees the scratch context the toolbar measures text with (at exit).
void toolbar_release(void);
// The buttons as the toolbar shows them now.
const ToolButton *toolbar_buttons(AppState *a, int *n);
// The button under (x, y), or NULL.
const ToolButton *toolbar_hit(AppState *a, double x, double y);
// The button of an action, or NULL when it is not on the toolbar.
const ToolButton *toolbar_find(AppState *a, AppAction act);
// The button whose tooltip shows now (the pointer rested on it APP_TIP_DELAY), or NULL.
const ToolButton *toolbar_tip(AppState *a);
// Its text: what the row says it does (tip, else help) and its keys. "" when none shows.
void toolbar_tip_text(AppState *a, char *buf, size_t cap);
// Draws the whole frame (scene above, toolbar below, a tooltip over both) into cr in logical
// units.
void app_draw(AppState *a, cairo_t *cr);
// Draws only the toolbar strip (while a step runs, the scene part of the frame stays).
void app_draw_toolbar(AppState *a, cairo_t *cr);

// ----------------------------------------------------------------------------------------------
// The worker (worker.c)

void worker_start(AppState *a, Uint32 wake_event);
void worker_stop(AppState *a);
// Starts session_step on the worker (a->busy must be false).
void worker_submit(AppState *a);
// Waits for the current job; returns its result.
bool worker_wait(AppState *a);
// True when the job is done (does not block).
bool worker_poll(AppState *a, bool *ok);

#endif
