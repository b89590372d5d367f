// window_app.c — the window's state machine: keys, mouse and toolbar clicks become actions, and
// actions change the Session and the View. Nothing here opens a window or draws (window.c and
// window_ui.c do), so tests drive it with synthetic SDL events under the dummy video driver.
// A lesson playing is a mode of the same machine: a few keys move between beats.
#include "app/window.h"
#include "export/export.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const double app_speeds[APP_SPEEDS] = {0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 20};
#define DEFAULT_SPEED 3 // 2 tok/s: slow enough to talk over

static const char *const action_names[ACT_COUNT] = {
    "none",       "step",       "back",       "play",       "slower",   "faster",    "cache",
    "preset1",    "preset2",    "preset3",    "prompt",     "reset",    "layer",     "head",
    "view",       "theme",      "fullscreen", "sampler",    "export",   "help",      "quit",
    "temp-",      "temp+",      "top-k-",     "top-k+",     "top-p-",   "top-p+",    "seed-",
    "seed+",      "field-prev", "field-next", "field-down", "field-up", "beat-next", "beat-prev",
    "beat-first", "lesson",
};

const char *app_action_name(AppAction a) {
    return (unsigned)a < ACT_COUNT ? action_names[a] : "?";
}

// ----------------------------------------------------------------------------------------------
// Set-up

static double speed(const AppState *a) {
    return app_speeds[a->speed_i];
}

// The animation of one step takes most of the time between two steps at the current speed, so
// playing looks continuous; a step taken before it ends simply starts the next animation.
static double anim_len_for(double tok_s) {
    double len = 0.85 / tok_s;
    return len < 0.04 ? 0.04 : len > 0.7 ? 0.7 : len;
}

void app_init(AppState *a, Session *s, int width, int height, double scale) {
    memset(a, 0, sizeof *a);
    a->s = s;
    view_init(&a->view);
    a->speed_i = DEFAULT_SPEED;
    a->anim_start = -1e9;
    a->anim_len = anim_len_for(speed(a));
    a->preset = 0;
    a->theme_forced = -1;
    snprintf(a->export_dir, sizeof a->export_dir, "exports");
    app_resize(a, width, height, scale);
    a->dirty = true;
}

static void close_own_lesson(AppState *a);

void app_free(AppState *a) {
    app_quiesce(a);
    close_own_lesson(a);
}

void app_resize(AppState *a, int width, int height, double scale) {
    a->width = width > 1 ? width : 1;
    a->height = height > 1 ? height : 1;
    a->scale = scale > 0 ? scale : 1;
    toolbar_layout(a); // sets toolbar_h and scene_h
    a->dirty = true;
}

// ----------------------------------------------------------------------------------------------
// Messages

static void set_notice(AppState *a, double seconds, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_notice(AppState *a, double seconds, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->notice, sizeof a->notice, fmt, ap);
    va_end(ap);
    a->notice_until = seconds > 0 ? a->now + seconds : 0;
    a->view.notice = a->notice;
    a->dirty = true;
}

static void clear_notice(AppState *a) {
    a->notice[0] = '\0';
    a->notice_until = 0;
    a->view.notice = NULL;
    a->dirty = true;
}

static void limit_reached(AppState *a) {
    a->at_limit = true;
    a->playing = false;
    a->pending_steps = 0;
    set_notice(a, 0,
               "Context full: the model holds %d tokens, so generation stops here. "
               "Left steps back, R resets.",
               a->s->model->cfg.seq_len);
}

// Leaving the context limit (back, reset, new prompt) takes its message away.
static void left_limit(AppState *a) {
    if (a->at_limit) {
        a->at_limit = false;
        clear_notice(a);
    }
}

// ----------------------------------------------------------------------------------------------
// Steps

// Runs the next step: on the worker when there is one (the toolbar shows "computing"), else here.
static void start_step(AppState *a) {
    if (session_at_limit(a->s)) {
        limit_reached(a);
        return;
    }
    if (a->async) {
        a->busy = true;
        worker_submit(a);
        a->dirty = true;
    } else {
        app_step_finished(a, session_step(a->s));
    }
}

void app_step_finished(AppState *a, bool ok) {
    a->busy = false;
    a->dirty = true;
    if (!ok && session_fault(a->s, &a->fault)) { // a model that overflows: stop, say where
        a->quit = true;
        return;
    }
    if (!ok) {
        limit_reached(a);
        return;
    }
    a->anim_start = a->now;
    a->anim_len = anim_len_for(speed(a));
    if (a->pending_steps > 0) {
        a->pending_steps--;
        start_step(a);
    }
}

static void request_step(AppState *a) {
    if (a->busy) {
        if (a->pending_steps < 64)
            a->pending_steps++;
        return;
    }
    start_step(a);
}

void app_quiesce(AppState *a) {
    a->pending_steps = 0;
    if (a->busy) {
        bool ok = worker_wait(a);
        app_step_finished(a, ok);
    }
}

// Every action that changes the session first waits for a running step and drops queued ones,
// and ends the running animation (what is shown is then the new state at rest).
static void before_change(AppState *a) {
    app_quiesce(a);
    a->anim_start = -1e9;
    a->dirty = true;
}

// ----------------------------------------------------------------------------------------------
// Sampler settings

static const int topk_steps[] = {0, 1, 2, 3, 5, 10, 20, 50, 100, 200};
#define TOPK_STEPS ((int)(sizeof topk_steps / sizeof topk_steps[0]))

static void change_sampler(AppState *a, int field, int dir) {
    before_change(a);
    SamplerSettings st = a->s->settings;
    switch (field) {
    case 0: {
        double t = round(st.temperature * 10.0) + dir;
        st.temperature = (float)(t < 0 ? 0 : t > 20 ? 2.0 : t / 10.0);
        break;
    }
    case 1: {
        int i = 0;
        while (i + 1 < TOPK_STEPS && topk_steps[i] < st.top_k)
            i++;
        if (topk_steps[i] != st.top_k && dir < 0) // between two steps: go to the lower
            i = i > 0 ? i - 1 : 0, dir = 0;
        i += dir;
        i = i < 0 ? 0 : i >= TOPK_STEPS ? TOPK_STEPS - 1 : i;
        st.top_k = topk_steps[i];
        break;
    }
    case 2: {
        double p = round(st.top_p * 20.0) + dir;
        st.top_p = (float)(p < 0 ? 0 : p > 20 ? 1.0 : p / 20.0);
        break;
    }
    default:
        if (dir < 0 && st.seed > 0)
            st.seed--;
        else if (dir > 0)
            st.seed++;
        break;
    }
    a->field = field;
    session_set_sampler(a->s, st);
    left_limit(a);
}

// ----------------------------------------------------------------------------------------------
// Prompts

static void choose_preset(AppState *a, int i) {
    before_change(a);
    KvError err = {0};
    if (session_set_prompt(a->s, app_presets[i].prompt, &err)) {
        set_notice(a, 6, "%s", err.msg);
        return;
    }
    a->preset = i;
    a->playing = false;
    a->view.pinned = -1;
    a->view.hover = -1;
    a->view.scroll = 0;
    left_limit(a);
}

static void start_typing(AppState *a) {
    a->typing = true;
    a->typed[0] = '\0';
    a->prompt_error[0] = '\0';
    a->playing = false;
    if (a->win)
        SDL_StartTextInput();
    a->dirty = true;
}

static void stop_typing(AppState *a) {
    a->typing = false;
    if (a->win)
        SDL_StopTextInput();
    a->dirty = true;
}

static void commit_prompt(AppState *a) {
    if (a->typed[0] == '\0') { // nothing typed: like Escape
        stop_typing(a);
        return;
    }
    before_change(a);
    KvError err = {0};
    if (session_set_prompt(a->s, a->typed, &err)) {
        snprintf(a->prompt_error, sizeof a->prompt_error, "%s", err.msg);
        a->dirty = true;
        return; // stay in the entry so the teacher can fix it
    }
    a->preset = -1;
    a->view.pinned = -1;
    a->view.hover = -1;
    a->view.scroll = 0;
    left_limit(a);
    stop_typing(a);
}

static void typed_append(AppState *a, const char *text) {
    size_t n = strlen(a->typed), m = strlen(text);
    if (n + m >= sizeof a->typed)
        return;
    memcpy(a->typed + n, text, m + 1);
    a->prompt_error[0] = '\0';
    a->dirty = true;
}

static void typed_backspace(AppState *a) {
    size_t n = strlen(a->typed);
    while (n > 0) { // drop one UTF-8 code point: continuation bytes are 10xxxxxx
        n--;
        if (((unsigned char)a->typed[n] & 0xC0) != 0x80)
            break;
    }
    a->typed[n] = '\0';
    a->prompt_error[0] = '\0';
    a->dirty = true;
}

// ----------------------------------------------------------------------------------------------
// Lessons

// The view a lesson's beat asks for, in the presenter's theme where they chose one.
static void lesson_view(AppState *a) {
    lesson_player_view(a->lesson, &a->view);
    if (a->theme_forced >= 0)
        a->view.theme = (ThemeKind)a->theme_forced;
}

void app_window_fullscreen(AppState *a, bool on) {
    SDL_Window *win = a->win;
    SDL_Rect r;
    if (on) {
        // Without a window manager (a bare X server, a kiosk) nobody resizes or moves a window
        // that asks for fullscreen: it would keep its place and size while kvscope draws for
        // the whole display. So the window covers the display itself first.
        SDL_GetWindowSize(win, &a->windowed_w, &a->windowed_h);
        if (SDL_GetDisplayBounds(SDL_GetWindowDisplayIndex(win), &r) == 0) {
            SDL_SetWindowPosition(win, r.x, r.y);
            SDL_SetWindowSize(win, r.w, r.h);
        }
        SDL_SetWindowFullscreen(win, SDL_WINDOW_FULLSCREEN_DESKTOP);
    } else {
        SDL_SetWindowFullscreen(win, 0);
        if (a->windowed_w > 0 && a->windowed_h > 0)
            SDL_SetWindowSize(win, a->windowed_w, a->windowed_h);
        SDL_SetWindowPosition(win, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED);
    }
}

bool app_goto_beat(AppState *a, int k) {
    LessonPlayer *p = a->lesson;
    if (!p)
        return false;
    int n = p->lesson->n_beats;
    k = k < 0 ? 0 : k >= n ? n - 1 : k; // past the last beat: stay on it
    before_change(a); // the player replays this beat if the presenter moved the session
    a->playing = false;
    const StepRecord *r = session_last(a->s);
    int was_step = r ? r->step : -1, was_tokens = a->s->n_tokens;
    bool forward = k > p->beat;
    KvError err = {0};
    if (lesson_player_goto(p, k, &err)) {
        if (session_fault(a->s, &a->fault))
            a->quit = true;
        set_notice(a, 8, "%s", err.msg);
        return false;
    }
    lesson_view(a);
    a->view.pinned = -1;
    a->view.hover = -1;
    a->view.scroll = 0;
    left_limit(a);
    // going forward onto a beat that ran steps: its last step animates, as if just stepped
    r = session_last(a->s);
    if (forward && r && (r->step != was_step || a->s->n_tokens != was_tokens)) {
        a->anim_start = a->now;
        a->anim_len = anim_len_for(speed(a));
    }
    toolbar_layout(a); // the beat position
    return true;
}

bool app_play_lesson(AppState *a, LessonPlayer *p) {
    if (a->lesson && a->lesson != p) { // the one shown before: its caption goes too
        a->view.caption_title = NULL;
        a->view.caption_text = NULL;
    }
    a->lesson = p;
    a->dirty = true;
    if (!p) {
        toolbar_layout(a);
        return true;
    }
    a->preset = -1;
    if (p->beat < 0)
        return app_goto_beat(a, 0);
    before_change(a);
    lesson_view(a);
    toolbar_layout(a);
    return true;
}

static void close_own_lesson(AppState *a) {
    if (a->lesson && a->lesson == a->own_player)
        app_play_lesson(a, NULL);
    if (a->own_lesson)
        lesson_free(a->own_lesson);
    free(a->own_lesson);
    free(a->own_player);
    a->own_lesson = NULL;
    a->own_player = NULL;
}

// The first *.lesson in dir after `after` in name order ("" = the first of all); false if none.
static bool next_lesson_name(const char *dir, const char *after, char *out, size_t cap) {
    DIR *d = opendir(dir);
    if (!d)
        return false;
    out[0] = '\0';
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 8 || strcmp(e->d_name + len - 7, ".lesson") != 0 || len >= cap)
            continue;
        if (strcmp(e->d_name, after) > 0 && (!out[0] || strcmp(e->d_name, out) < 0))
            snprintf(out, cap, "%s", e->d_name);
    }
    closedir(d);
    return out[0] != '\0';
}

// G: the next lesson of the folder, checked against the model the window runs; after the last,
// back to no lesson. A lesson that does not fit the model is skipped with a notice.
static void open_next_lesson(AppState *a) {
    before_change(a);
    if (!a->lesson_dir[0])
        app_find_data("lessons", "lessons", a->lesson_dir, sizeof a->lesson_dir);
    close_own_lesson(a);
    LessonPreset *presets = app_lesson_presets();
    char name[256], path[1400];
    const char *after = a->lesson_file[0] ? a->lesson_file : "";
    char prev[1024];
    snprintf(prev, sizeof prev, "%s", after);
    while (next_lesson_name(a->lesson_dir, prev, name, sizeof name)) {
        snprintf(prev, sizeof prev, "%s", name);
        snprintf(path, sizeof path, "%s/%s", a->lesson_dir, name);
        KvError err = {0};
        Lesson *l = kv_calloc(1, sizeof *l);
        if (lesson_load(l, path, presets, &err)) {
            free(l);
            set_notice(a, 8, "%s", err.msg);
            continue;
        }
        if (lesson_check(l, a->s->model, a->s->tok, &err)) {
            lesson_free(l);
            free(l);
            set_notice(a, 8, "%s", err.msg);
            continue;
        }
        a->own_lesson = l;
        a->own_player = kv_calloc(1, sizeof *a->own_player);
        lesson_player_init(a->own_player, l, a->s);
        snprintf(a->lesson_file, sizeof a->lesson_file, "%s", name);
        free(presets);
        if (app_play_lesson(a, a->own_player))
            set_notice(a, 4, "Lesson: %s, %d beats. Right: next beat, Left: back, G: next lesson",
                       l->title[0] ? l->title : name, l->n_beats);
        return;
    }
    free(presets);
    if (a->lesson_file[0]) {
        a->lesson_file[0] = '\0';
        set_notice(a, 4, "No lesson: the keys step again (G opens the first lesson)");
    } else {
        set_notice(a, 6, "No lessons found in %s", a->lesson_dir);
    }
}

// ----------------------------------------------------------------------------------------------
// Actions

static void cycle_layer(AppState *a) {
    int L = a->s->model->cfg.n_layers;
    a->view.layer = a->view.layer == VIEW_ALL_LAYERS ? 0
                    : a->view.layer + 1 >= L         ? VIEW_ALL_LAYERS
                                                     : a->view.layer + 1;
}

// mean -> head 1 .. H -> every head in its own colour -> mean
static void cycle_head(AppState *a) {
    int H = a->s->model->cfg.n_heads;
    int h = a->view.head;
    a->view.head = h == VIEW_HEAD_MEAN ? 0
                   : h == VIEW_HEAD_EACH ? VIEW_HEAD_MEAN
                   : h + 1 >= H          ? VIEW_HEAD_EACH
                                         : h + 1;
}

void app_do(AppState *a, AppAction act) {
    a->dirty = true;
    switch (act) {
    case ACT_NONE:
    case ACT_COUNT: break;
    case ACT_STEP: request_step(a); break;
    case ACT_BACK:
        before_change(a);
        session_back(a->s);
        left_limit(a);
        break;
    case ACT_PLAY:
        if (a->playing) {
            a->playing = false;
            a->pending_steps = 0;
        } else if (session_at_limit(a->s)) {
            limit_reached(a);
        } else {
            a->playing = true;
            a->next_step_at = a->now;
        }
        break;
    case ACT_SLOWER:
    case ACT_FASTER:
        a->speed_i += act == ACT_FASTER ? 1 : -1;
        a->speed_i = a->speed_i < 0 ? 0 : a->speed_i >= APP_SPEEDS ? APP_SPEEDS - 1 : a->speed_i;
        a->anim_len = anim_len_for(speed(a));
        if (a->playing)
            a->next_step_at = a->now + 1.0 / speed(a) * 0.5;
        break;
    case ACT_CACHE:
        before_change(a);
        session_set_mode(a->s, a->s->mode == CACHE_MODE_ON ? CACHE_MODE_OFF : CACHE_MODE_ON);
        break;
    case ACT_PRESET1:
    case ACT_PRESET2:
    case ACT_PRESET3: choose_preset(a, (int)(act - ACT_PRESET1)); break;
    case ACT_PROMPT: start_typing(a); break;
    case ACT_RESET:
        before_change(a);
        session_reset(a->s);
        a->playing = false;
        a->view.pinned = -1;
        a->view.scroll = 0;
        left_limit(a);
        break;
    case ACT_LAYER: cycle_layer(a); break;
    case ACT_HEAD: cycle_head(a); break;
    case ACT_VIEW: a->view.kind = (ViewKind)((a->view.kind + 1) % VIEW_KINDS); break;
    case ACT_THEME:
        a->view.theme = a->view.theme == THEME_DARK ? THEME_LIGHT : THEME_DARK;
        a->theme_forced = (int)a->view.theme; // kept on the beats of a lesson
        break;
    case ACT_FULLSCREEN:
        a->fullscreen = !a->fullscreen;
        if (a->win)
            app_window_fullscreen(a, a->fullscreen);
        break;
    case ACT_SAMPLER:
        a->sampler_open = !a->sampler_open;
        toolbar_layout(a);
        break;
    case ACT_EXPORT: app_export(a); break;
    case ACT_HELP: a->view.help = !a->view.help; break;
    case ACT_QUIT: a->quit = true; break;
    case ACT_TEMP_DOWN: change_sampler(a, 0, -1); break;
    case ACT_TEMP_UP: change_sampler(a, 0, +1); break;
    case ACT_TOPK_DOWN: change_sampler(a, 1, -1); break;
    case ACT_TOPK_UP: change_sampler(a, 1, +1); break;
    case ACT_TOPP_DOWN: change_sampler(a, 2, -1); break;
    case ACT_TOPP_UP: change_sampler(a, 2, +1); break;
    case ACT_SEED_DOWN: change_sampler(a, 3, -1); break;
    case ACT_SEED_UP: change_sampler(a, 3, +1); break;
    case ACT_FIELD_PREV: a->field = (a->field + SAMPLER_FIELDS - 1) % SAMPLER_FIELDS; break;
    case ACT_FIELD_NEXT: a->field = (a->field + 1) % SAMPLER_FIELDS; break;
    case ACT_FIELD_DOWN: change_sampler(a, a->field, -1); break;
    case ACT_FIELD_UP: change_sampler(a, a->field, +1); break;
    case ACT_BEAT_NEXT:
        if (a->lesson)
            app_goto_beat(a, a->lesson->beat + 1);
        break;
    case ACT_BEAT_PREV:
        if (a->lesson)
            app_goto_beat(a, a->lesson->beat - 1);
        break;
    case ACT_BEAT_FIRST:
        if (a->lesson)
            app_goto_beat(a, 0);
        break;
    case ACT_LESSON: open_next_lesson(a); break;
    }
    toolbar_layout(a); // labels follow the state
}

// ----------------------------------------------------------------------------------------------
// Events

static AppAction key_action(const AppState *a, const SDL_Keysym *k) {
    bool shift = (k->mod & KMOD_SHIFT) != 0;
    if (a->lesson) { // the presenter's keys: beats instead of steps
        switch (k->sym) {
        case SDLK_SPACE:
        case SDLK_RIGHT:
        case SDLK_PAGEDOWN: return ACT_BEAT_NEXT;
        case SDLK_LEFT:
        case SDLK_BACKSPACE:
        case SDLK_PAGEUP: return ACT_BEAT_PREV;
        case SDLK_r:
        case SDLK_HOME: return ACT_BEAT_FIRST;
        default: break;
        }
    }
    switch (k->sym) {
    case SDLK_g: return ACT_LESSON;
    case SDLK_SPACE:
    case SDLK_RIGHT: return ACT_STEP;
    case SDLK_LEFT:
    case SDLK_BACKSPACE: return ACT_BACK;
    case SDLK_p: return ACT_PLAY;
    case SDLK_PLUS:
    case SDLK_EQUALS:
    case SDLK_KP_PLUS: return ACT_FASTER;
    case SDLK_MINUS:
    case SDLK_KP_MINUS: return ACT_SLOWER;
    case SDLK_c: return ACT_CACHE;
    case SDLK_1:
    case SDLK_KP_1: return ACT_PRESET1;
    case SDLK_2:
    case SDLK_KP_2: return ACT_PRESET2;
    case SDLK_3:
    case SDLK_KP_3: return ACT_PRESET3;
    case SDLK_t: return ACT_PROMPT;
    case SDLK_r: return ACT_RESET;
    case SDLK_l: return ACT_LAYER;
    case SDLK_h: return ACT_HEAD;
    case SDLK_v: return ACT_VIEW;
    case SDLK_d: return ACT_THEME;
    case SDLK_f:
    case SDLK_F11: return ACT_FULLSCREEN;
    case SDLK_s: return ACT_SAMPLER;
    case SDLK_e: return ACT_EXPORT;
    case SDLK_QUESTION:
    case SDLK_F1: return ACT_HELP;
    case SDLK_SLASH: return shift ? ACT_HELP : ACT_NONE;
    case SDLK_q:
    case SDLK_ESCAPE: return ACT_QUIT;
    case SDLK_UP: return a->sampler_open ? ACT_FIELD_PREV : ACT_NONE;
    case SDLK_DOWN: return a->sampler_open ? ACT_FIELD_NEXT : ACT_NONE;
    case SDLK_LEFTBRACKET:
    case SDLK_COMMA: return a->sampler_open ? ACT_FIELD_DOWN : ACT_NONE;
    case SDLK_RIGHTBRACKET:
    case SDLK_PERIOD: return a->sampler_open ? ACT_FIELD_UP : ACT_NONE;
    default: return ACT_NONE;
    }
}

static void typing_key(AppState *a, const SDL_KeyboardEvent *k) {
    switch (k->keysym.sym) {
    case SDLK_RETURN:
    case SDLK_KP_ENTER: commit_prompt(a); break;
    case SDLK_ESCAPE: stop_typing(a); break;
    case SDLK_BACKSPACE: typed_backspace(a); break;
    case SDLK_v:
        if ((k->keysym.mod & KMOD_CTRL) && SDL_HasClipboardText()) {
            char *clip = SDL_GetClipboardText();
            if (clip) {
                typed_append(a, clip);
                SDL_free(clip);
            }
        }
        break;
    default: break;
    }
}

static void update_hover(AppState *a) {
    int hover = -1;
    if (!a->busy && a->mouse_y < a->scene_h) {
        SceneLayout lay;
        scene_layout(a->s, &a->view, a->width, a->scene_h, &lay);
        hover = scene_hit_token(&lay, a->mouse_x, a->mouse_y);
    }
    if (hover != a->view.hover) {
        a->view.hover = hover;
        a->dirty = true;
    }
}

// A click in the scene pins the clicked token's attention row (again: unpins).
static void scene_click(AppState *a, double x, double y) {
    before_change(a);
    SceneLayout lay;
    scene_layout(a->s, &a->view, a->width, a->scene_h, &lay);
    int row, col, tok = -1;
    if (a->view.kind == VIEW_HEATMAP && scene_hit_heatmap(&lay, x, y, &row, &col))
        tok = row;
    else
        tok = scene_hit_token(&lay, x, y);
    a->view.pinned = tok < 0 || tok == a->view.pinned ? -1 : tok;
}

static void speed_from_slider(AppState *a, const ToolButton *b, double x) {
    double f = (x - b->x) / (b->w > 1 ? b->w : 1);
    int i = (int)floor(f * APP_SPEEDS);
    a->speed_i = i < 0 ? 0 : i >= APP_SPEEDS ? APP_SPEEDS - 1 : i;
    a->anim_len = anim_len_for(speed(a));
    toolbar_layout(a);
    a->dirty = true;
}

bool app_handle_event(AppState *a, const SDL_Event *ev) {
    bool was_dirty = a->dirty;
    a->dirty = false;
    switch (ev->type) {
    case SDL_QUIT: a->quit = true; break;
    case SDL_KEYDOWN:
        if (a->typing) {
            typing_key(a, &ev->key);
        } else {
            AppAction act = key_action(a, &ev->key.keysym);
            if (act == ACT_PROMPT)
                a->typing_since = ev->key.timestamp;
            if (act != ACT_NONE)
                app_do(a, act);
        }
        break;
    case SDL_TEXTINPUT:
        if (a->typing) {
            // the T that opened the entry may arrive as text too: it is not part of the prompt
            bool opener = ev->text.timestamp == a->typing_since &&
                          (strcmp(ev->text.text, "t") == 0 || strcmp(ev->text.text, "T") == 0) &&
                          a->typed[0] == '\0';
            if (!opener)
                typed_append(a, ev->text.text);
        }
        break;
    case SDL_MOUSEMOTION:
        a->mouse_x = ev->motion.x, a->mouse_y = ev->motion.y;
        update_hover(a);
        break;
    case SDL_MOUSEBUTTONDOWN:
        if (ev->button.button != SDL_BUTTON_LEFT)
            break;
        a->mouse_x = ev->button.x, a->mouse_y = ev->button.y;
        if (a->mouse_y >= a->scene_h) {
            const ToolButton *b = toolbar_hit(a, a->mouse_x, a->mouse_y);
            if (b && b->speed_slider)
                speed_from_slider(a, b, a->mouse_x);
            else if (b)
                app_do(a, b->action);
        } else if (!a->typing) {
            scene_click(a, a->mouse_x, a->mouse_y);
        }
        break;
    case SDL_MOUSEWHEEL:
        if (SDL_GetModState() & KMOD_CTRL) {
            double z = a->view.zoom * (ev->wheel.y > 0 ? 1.15 : 1 / 1.15);
            a->view.zoom = z < 0.5 ? 0.5 : z > 3 ? 3 : z;
        } else {
            int sc = a->view.scroll + (ev->wheel.y > 0 ? 2 : ev->wheel.y < 0 ? -2 : 0);
            a->view.scroll = sc < 0 ? 0 : sc > a->s->n_tokens ? a->s->n_tokens : sc;
        }
        a->dirty = true;
        break;
    case SDL_WINDOWEVENT:
        if (ev->window.event == SDL_WINDOWEVENT_EXPOSED)
            a->dirty = true;
        break;
    default: break;
    }
    bool changed = a->dirty;
    if (changed)
        toolbar_layout(a); // labels and the entry follow the state
    a->dirty = was_dirty || changed;
    return changed;
}

// ----------------------------------------------------------------------------------------------
// The clock

double app_anim_t(const AppState *a) {
    if (a->anim_len <= 0)
        return 1.0;
    double t = (a->now - a->anim_start) / a->anim_len;
    return t < 0 ? 0 : t >= 1 ? 1.0 : t;
}

bool app_tick(AppState *a, double now) {
    a->now = now;
    if (a->notice_until > 0 && now >= a->notice_until)
        clear_notice(a);
    if (a->playing && !a->busy && now >= a->next_step_at) {
        double period = 1.0 / speed(a);
        a->next_step_at += period;
        if (a->next_step_at < now) // a slow step: do not try to catch up
            a->next_step_at = now + period;
        request_step(a);
    }
    return a->dirty || app_anim_t(a) < 1.0;
}

double app_next_wake(const AppState *a) {
    if (a->dirty || app_anim_t(a) < 1.0)
        return 0;
    double wake = -1;
    if (a->playing && !a->busy)
        wake = a->next_step_at - a->now;
    if (a->notice_until > 0) {
        double n = a->notice_until - a->now;
        if (wake < 0 || n < wake)
            wake = n;
    }
    return wake < 0 && wake != -1 ? 0 : wake;
}

// ----------------------------------------------------------------------------------------------
// Export: the scene alone (not the toolbar), at rest, as PNG and SVG, through src/export

bool app_export(AppState *a) {
    before_change(a);
    KvError err = {0};
    if (export_make_dir(a->export_dir, &err)) {
        set_notice(a, 6, "Export failed: %s", err.msg);
        return false;
    }
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    char base[600];
    const StepRecord *r = session_last(a->s);
    int step = r ? r->step + 1 : 0;
    for (int n = 1; n < 1000; n++) {
        if (n == 1)
            snprintf(base, sizeof base, "%s/kvscope-%s-step%d", a->export_dir, stamp, step);
        else
            snprintf(base, sizeof base, "%s/kvscope-%s-step%d-%d", a->export_dir, stamp, step, n);
        char probe[640];
        snprintf(probe, sizeof probe, "%s.png", base);
        if (access(probe, F_OK) != 0)
            break;
    }
    snprintf(a->last_export[0], sizeof a->last_export[0], "%s.png", base);
    snprintf(a->last_export[1], sizeof a->last_export[1], "%s.svg", base);
    // the picture above the toolbar, at rest, without the window's own messages
    View v = a->view;
    v.notice = NULL;
    for (int i = 0; i < 2; i++) {
        if (export_frame(a->s, &v, a->width, a->scene_h, 1.0, a->last_export[i], &err)) {
            set_notice(a, 6, "Export failed: %s", err.msg);
            return false;
        }
    }
    set_notice(a, 5, "Exported %s and %s", a->last_export[0], a->last_export[1]);
    return true;
}
