// window.h — inside src/app only: the classroom window's state and input handling, split from the
// SDL window itself so that tests can drive it with synthetic events and no display.
//
// AppState is everything the window knows besides the Session: the View handed to the scene,
// play/pause and speed, the animation clock, the prompt being typed, the sampler panel and the
// toolbar. app_handle_event() turns one SDL event into actions; app_do() runs one action; the
// toolbar is laid out and drawn by window_ui.c in a strip below the scene (the scene never sees
// it, so an export of the scene is exactly the picture above the strip).
//
// A lesson (src/lesson) may play in the window: then Right/Space, Left/Backspace and R move
// between its beats instead of stepping, and the toolbar shows the beat position. The player is
// either borrowed (`kvscope lesson FILE`) or one the window opened itself (G: the lessons found
// in lessons/).
//
// What is not here: the SDL window, renderer and worker thread (window.c).
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
// Actions: what a key or a toolbar button does

typedef enum {
    ACT_NONE = 0,
    ACT_STEP,
    ACT_BACK,
    ACT_PLAY,        // play / pause
    ACT_SLOWER,
    ACT_FASTER,
    ACT_CACHE,       // toggle the KV cache
    ACT_PRESET1,
    ACT_PRESET2,
    ACT_PRESET3,
    ACT_PROMPT,      // start typing a prompt
    ACT_RESET,
    ACT_LAYER,
    ACT_HEAD,
    ACT_VIEW,
    ACT_THEME,
    ACT_FULLSCREEN,
    ACT_SAMPLER,     // show / hide the sampler panel
    ACT_EXPORT,
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
    ACT_FIELD_PREV,  // select the panel field above / below (keyboard)
    ACT_FIELD_NEXT,
    ACT_FIELD_DOWN,  // decrease / increase the selected field (keyboard)
    ACT_FIELD_UP,
    // lessons
    ACT_BEAT_NEXT,
    ACT_BEAT_PREV,
    ACT_BEAT_FIRST,
    ACT_LESSON,      // open the next lesson from the lessons folder (after the last: none)
    ACT_COUNT
} AppAction;

const char *app_action_name(AppAction a);

// ----------------------------------------------------------------------------------------------
// Toolbar (window_ui.c)

#define TOOLBAR_MAX 40

typedef struct {
    AppAction action;
    double x, y, w, h; // window coordinates (logical units, as mouse events report them)
    char label[48];
    bool on;           // drawn highlighted (playing, cache on, panel open, ...)
    bool speed_slider; // the speed slider: a click sets the speed by position
    double font;       // label size
} ToolButton;

#define SAMPLER_FIELDS 4 // temperature, top-k, top-p, seed

// ----------------------------------------------------------------------------------------------
// The worker that runs steps off the UI thread (window.c). With `async` off (tests), steps run
// inline.

typedef struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started;
    bool job;      // a step is requested or running
    bool done;     // the step finished; result in ok
    bool ok;
    bool stop;
    Uint32 wake_event; // SDL user event pushed when a step finishes (0: none)
} StepWorker;

// ----------------------------------------------------------------------------------------------
// The state

#define APP_SPEEDS 10
extern const double app_speeds[APP_SPEEDS]; // tok/s, 0.25 .. 20

typedef struct {
    Session *s;         // borrowed
    View view;
    SDL_Window *win;    // NULL in tests: fullscreen is then only a flag
    bool quit;

    // size of the window in logical units (mouse coordinates) and pixels per unit
    int width, height;
    double scale;
    double toolbar_h;   // strip below the scene
    int scene_h;        // height given to the scene

    // playing and the animation clock (seconds, any monotonic origin)
    bool playing;
    int speed_i;        // index in app_speeds
    double now;
    double next_step_at;   // when playing: time of the next step
    double anim_start;     // when the last step's animation began
    double anim_len;       // its length (follows the speed)
    int pending_steps;     // step requests queued while the worker is busy

    // async stepping
    bool async;
    bool busy;             // the worker is running session_step: do not touch s
    StepWorker worker;

    // text entry of a custom prompt
    bool typing;
    char typed[1024];
    Uint32 typing_since;   // timestamp of the key that started it (its own text is dropped)
    char prompt_error[520];

    // sampler panel
    bool sampler_open;
    int field;             // selected field 0..SAMPLER_FIELDS-1

    // messages (View.notice and View.status point here)
    char notice[512];
    double notice_until;   // 0: stays until replaced
    bool at_limit;
    char status[160];

    int preset;            // index of the preset last chosen, -1 for a typed prompt
    bool fullscreen;

    // exports
    char export_dir[512];
    char last_export[2][640]; // paths of the last PNG and SVG

    // pointer
    double mouse_x, mouse_y;

    ToolButton buttons[TOOLBAR_MAX];
    int n_buttons;

    // a lesson playing (NULL: none). Either borrowed from the caller, or opened by ACT_LESSON
    // from lesson_dir and then owned (own_lesson, own_player; lesson == own_player).
    LessonPlayer *lesson;
    int theme_forced; // -1: each lesson beat sets its theme; else the presenter's (--theme, D)
    int windowed_w, windowed_h; // the window's size before fullscreen, restored after
    Lesson *own_lesson;
    LessonPlayer *own_player;
    char lesson_dir[1024];  // where ACT_LESSON looks ("" = beside the executable, see app_init)
    char lesson_file[1024]; // the file ACT_LESSON opened last ("" = none yet)

    bool dirty;            // something changed: draw a frame
    KvError fault;         // the model produced non-finite values: the window quits with it
} AppState;

// Sets up state for a session whose prompt is set; view defaults; speed 4 tok/s.
void app_init(AppState *a, Session *s, int width, int height, double scale);
void app_free(AppState *a);
// New window size (logical units) and scale; lays out the toolbar again.
void app_resize(AppState *a, int width, int height, double scale);

// Handles one event at time a->now. Returns true when the picture changed.
bool app_handle_event(AppState *a, const SDL_Event *ev);
// Runs one action (what its key or button does).
void app_do(AppState *a, AppAction act);
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

// Writes the current frame as PNG and SVG into a->export_dir (created); sets the notice.
bool app_export(AppState *a);

// ----------------------------------------------------------------------------------------------
// Toolbar and drawing (window_ui.c)

void toolbar_layout(AppState *a);
// Frees the scratch context the toolbar measures text with (at exit).
void toolbar_release(void);
// The button under (x, y), or NULL.
const ToolButton *toolbar_hit(const AppState *a, double x, double y);
// The button of an action, or NULL when it is not on the toolbar.
const ToolButton *toolbar_find(const AppState *a, AppAction act);
// Draws the whole frame (scene above, toolbar below) into cr in logical units.
void app_draw(AppState *a, cairo_t *cr);
// Draws only the toolbar strip (while a step runs, the scene part of the frame stays).
void app_draw_toolbar(AppState *a, cairo_t *cr);

// ----------------------------------------------------------------------------------------------
// The worker (window.c)

void worker_start(AppState *a, Uint32 wake_event);
void worker_stop(AppState *a);
// Starts session_step on the worker (a->busy must be false).
void worker_submit(AppState *a);
// Waits for the current job; returns its result.
bool worker_wait(AppState *a);
// True when the job is done (does not block).
bool worker_poll(AppState *a, bool *ok);

#endif
