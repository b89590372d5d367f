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

// ----------------------------------------------------------------------------------------------
// Set-up

static double speed(const AppState *a) {
    return app_speeds[a->speed_i];
}

// How long the animating step unfolds at the current speed: src/view decides the motion, so
// the window shows what frame exports show.
static double anim_len_for(const AppState *a) {
    return view_anim_seconds((Phase)a->anim_phase, speed(a));
}

// A step's animation starts now.
static void anim_begin(AppState *a) {
    const StepRecord *r = session_last(a->s);
    a->anim_phase = r ? (int)r->phase : (int)PHASE_DECODE;
    a->anim_start = a->now;
    a->anim_len = anim_len_for(a);
}

void app_init(AppState *a, Session *s, int width, int height, double scale) {
    memset(a, 0, sizeof *a);
    a->s = s;
    view_init(&a->view);
    app_glossary_init(a);
    app_help_build(a);
    a->speed_i = DEFAULT_SPEED;
    a->anim_start = -1e9;
    a->anim_len = anim_len_for(a);
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
    app_glossary_free(a);
    app_free_models(a);
}

void app_resize(AppState *a, int width, int height, double scale) {
    a->width = width > 1 ? width : 1;
    a->height = height > 1 ? height : 1;
    a->scale = scale > 0 ? scale : 1;
    app_geometry(a); // toolbar_h and scene_h
    a->dirty = true;
}

// ----------------------------------------------------------------------------------------------
// Messages

void app_notice(AppState *a, double seconds, const char *fmt, ...) {
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
    app_notice(a, 0,
               "Context full: the model holds %d tokens, so generation stops here. "
               "Left steps back, R resets.",
               a->s->model->cfg.seq_len);
}

void app_left_limit(AppState *a) {
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

static void update_hover(AppState *a);

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
    anim_begin(a);
    update_hover(a); // the cells may have moved under the pointer
    if (a->pending_steps > 0) {
        a->pending_steps--;
        start_step(a);
    }
}

void app_request_step(AppState *a) {
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
void app_at_rest(AppState *a) {
    app_quiesce(a);
    a->anim_start = -1e9;
    a->dirty = true;
}

// ----------------------------------------------------------------------------------------------
// Sampler settings

static const int topk_steps[] = {0, 1, 2, 3, 5, 10, 20, 50, 100, 200};
#define TOPK_STEPS ((int)(sizeof topk_steps / sizeof topk_steps[0]))

void app_change_sampler(AppState *a, int field, int dir) {
    app_at_rest(a);
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
    app_left_limit(a);
}

// ----------------------------------------------------------------------------------------------
// Prompts

void app_choose_preset(AppState *a, int i) {
    app_at_rest(a);
    KvError err = {0};
    if (session_set_prompt(a->s, app_presets[i].prompt, &err)) {
        app_notice(a, 6, "%s", err.msg);
        return;
    }
    a->preset = i;
    a->playing = false;
    a->view.pinned = -1;
    a->view.hover = -1;
    a->view.scroll = 0;
    app_left_limit(a);
}

void app_start_typing(AppState *a) {
    a->typing = true;
    a->typing_since = a->event_time; // the key that opened it: its own text is dropped
    a->typed[0] = '\0';
    a->prompt_error[0] = '\0';
    a->playing = false;
    if (a->win)
        SDL_StartTextInput();
    a->dirty = true;
}

void app_stop_typing(AppState *a) {
    a->typing = false;
    if (a->win)
        SDL_StopTextInput();
    a->dirty = true;
}

void app_commit_prompt(AppState *a) {
    if (a->typed[0] == '\0') { // nothing typed: like Escape
        app_stop_typing(a);
        return;
    }
    app_at_rest(a);
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
    app_left_limit(a);
    app_stop_typing(a);
}

void app_typed_append(AppState *a, const char *text) {
    size_t n = strlen(a->typed), m = strlen(text);
    if (n + m >= sizeof a->typed)
        return;
    memcpy(a->typed + n, text, m + 1);
    a->prompt_error[0] = '\0';
    a->dirty = true;
}

void app_typed_backspace(AppState *a) {
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
    app_at_rest(a); // the player replays this beat if the presenter moved the session
    a->playing = false;
    const StepRecord *r = session_last(a->s);
    int was_step = r ? r->step : -1, was_tokens = a->s->n_tokens;
    bool forward = k > p->beat;
    KvError err = {0};
    if (lesson_player_goto(p, k, &err)) {
        if (session_fault(a->s, &a->fault))
            a->quit = true;
        app_notice(a, 8, "%s", err.msg);
        return false;
    }
    lesson_view(a);
    a->view.pinned = -1;
    a->view.hover = -1;
    a->view.scroll = 0;
    app_left_limit(a);
    // going forward onto a beat that ran steps: its last step animates, as if just stepped
    r = session_last(a->s);
    if (forward && r && (r->step != was_step || a->s->n_tokens != was_tokens)) {
        anim_begin(a);
    }
    return true;
}

bool app_play_lesson(AppState *a, LessonPlayer *p) {
    if (a->lesson && a->lesson != p) { // the one shown before: its caption goes too
        a->view.caption_title = NULL;
        a->view.caption_text = NULL;
    }
    a->lesson = p;
    a->dirty = true;
    if (!p)
        return true;
    a->preset = -1;
    if (p->beat < 0)
        return app_goto_beat(a, 0);
    app_at_rest(a);
    lesson_view(a);
    return true;
}

static void close_own_lesson(AppState *a) {
    if (a->lesson && a->lesson == a->own_player)
        app_play_lesson(a, NULL);
    if (a->own_lesson)
        lesson_free(a->own_lesson);
    free(a->own_lesson);
    if (a->own_player)
        lesson_player_free(a->own_player);
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
void app_open_next_lesson(AppState *a) {
    app_at_rest(a);
    if (!a->lesson_dir[0])
        app_find_data("lessons", "lessons", a->lesson_dir, sizeof a->lesson_dir);
    close_own_lesson(a);
    char name[256], path[1400];
    const char *after = a->lesson_file[0] ? a->lesson_file : "";
    char prev[1024];
    snprintf(prev, sizeof prev, "%s", after);
    while (next_lesson_name(a->lesson_dir, prev, name, sizeof name)) {
        snprintf(prev, sizeof prev, "%s", name);
        snprintf(path, sizeof path, "%s/%s", a->lesson_dir, name);
        KvError err = {0};
        Lesson *l = kv_calloc(1, sizeof *l);
        if (lesson_load(l, path, app_presets, &err)) {
            free(l);
            app_notice(a, 8, "%s", err.msg);
            continue;
        }
        if (lesson_bind_glossary(l, &a->glossary, &err) ||
            lesson_check(l, a->s->model, a->s->tok, &err)) {
            lesson_free(l);
            free(l);
            app_notice(a, 8, "%s", err.msg);
            continue;
        }
        a->own_lesson = l;
        a->own_player = kv_calloc(1, sizeof *a->own_player);
        lesson_player_init(a->own_player, l, a->s);
        snprintf(a->lesson_file, sizeof a->lesson_file, "%s", name);
        if (app_play_lesson(a, a->own_player))
            app_notice(a, 4, "Lesson: %s, %d beats. Right: next beat, Left: back, G: next lesson",
                       l->title[0] ? l->title : name, l->n_beats);
        return;
    }
    if (a->lesson_file[0]) {
        a->lesson_file[0] = '\0';
        app_notice(a, 4, "No lesson: the keys step again (G opens the first lesson)");
    } else {
        app_notice(a, 6, "No lessons found in %s", a->lesson_dir);
    }
}

// ----------------------------------------------------------------------------------------------
// Actions (the table and the small handlers are in window_actions.c)

void app_toggle_play(AppState *a) {
    if (a->playing) {
        a->playing = false;
        a->pending_steps = 0;
    } else if (app_serving(a) && serve_done(a->serve)) {
        app_notice(a, 4, "The serving session is over: every request has finished");
    } else if (!app_serving(a) && session_at_limit(a->s)) {
        limit_reached(a);
    } else {
        a->playing = true;
        a->next_step_at = a->now;
    }
}

void app_set_speed(AppState *a, int i) {
    a->speed_i = i < 0 ? 0 : i >= APP_SPEEDS ? APP_SPEEDS - 1 : i;
    a->anim_len = anim_len_for(a);
    if (a->playing)
        a->next_step_at = a->now + 1.0 / speed(a) * 0.5;
}

bool app_do(AppState *a, AppAction act) {
    const ActionRow *r = app_action(act);
    return r && app_run_row(a, r);
}

bool app_run_row(AppState *a, const ActionRow *r) {
    if (!app_action_allowed(a, r))
        return false;
    if (r->when & ACT_WHEN_WAITS)
        app_quiesce(a); // the session is the worker's while a step runs
    a->dirty = true;
    a->last_run = r;
    a->n_run++;
    r->run(a);
    app_geometry(a); // the sampler panel may have opened or closed
    return true;
}

// ----------------------------------------------------------------------------------------------
// Events

// The token under the pointer. While a step runs the session is the worker's: the hover stays
// as it was (the tooltip keeps showing its token) and is found again when the step is done.
static void update_hover(AppState *a) {
    if (a->busy)
        return;
    int hover = -1;
    if (a->mouse_y < a->scene_h) {
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
void app_pin_at(AppState *a, double x, double y) {
    app_at_rest(a);
    SceneLayout lay;
    scene_layout(a->s, &a->view, a->width, a->scene_h, &lay);
    int row, col, tok = -1, layer, lane;
    if (a->view.split &&
        !scene_split_hit_block(a->s, &a->view, a->width, a->scene_h, x, y, &lane, &tok, &layer))
        return; // side by side: only the lanes' cache cells answer a click
    if (a->view.split || scene_hit_block(&lay, x, y, &tok, &layer)) { // the inspector on it
        const bool same =
            a->view.inspect && a->view.inspect_pos == tok && a->view.inspect_layer == layer;
        a->view.inspect = !same;
        a->view.inspect_pos = tok;
        a->view.inspect_layer = layer;
        a->view.inspect_head = -1; // the view's head (H picks it)
        return;
    }
    if (a->view.kind == VIEW_HEATMAP && scene_hit_heatmap(&lay, x, y, &row, &col))
        tok = row;
    else
        tok = scene_hit_token(&lay, x, y);
    a->view.pinned = tok < 0 || tok == a->view.pinned ? -1 : tok;
}

// The pointer over the toolbar: a tooltip comes after it rests on one button for a while, and
// goes when it leaves the button or clicks it.
static void update_tip(AppState *a) {
    const ToolButton *b = a->mouse_y >= a->scene_h ? toolbar_hit(a, a->mouse_x, a->mouse_y) : NULL;
    const ActionRow *r = b ? b->row : NULL;
    if (r == a->tip_row)
        return;
    a->tip_row = r;
    a->tip_since = a->now;
    a->tip_clicked = false;
    if (a->tip_shown) {
        a->tip_shown = false;
        a->dirty = true;
    }
}

static bool tip_due(const AppState *a) {
    return a->tip_row && !a->tip_clicked && !a->typing && !a->busy &&
           a->now >= a->tip_since + APP_TIP_DELAY;
}

bool app_handle_event(AppState *a, const SDL_Event *ev) {
    bool was_dirty = a->dirty;
    a->dirty = false;
    const ActionRow *r = NULL;
    switch (ev->type) {
    case SDL_QUIT:
        a->quit = true;
        break;
    case SDL_KEYDOWN:
        a->event_time = ev->key.timestamp;
        r = app_key_row(a, &ev->key.keysym);
        break;
    case SDL_TEXTINPUT:
        if (a->typing) {
            // the T that opened the entry may arrive as text too: it is not part of the prompt
            bool opener = ev->text.timestamp == a->typing_since &&
                          (strcmp(ev->text.text, "t") == 0 || strcmp(ev->text.text, "T") == 0) &&
                          a->typed[0] == '\0';
            if (!opener)
                app_typed_append(a, ev->text.text);
        }
        break;
    case SDL_MOUSEMOTION:
        a->mouse_x = ev->motion.x, a->mouse_y = ev->motion.y;
        update_hover(a);
        update_tip(a);
        app_label_hover(a);
        if ((ev->motion.state & SDL_BUTTON_LMASK) && a->mouse_y < a->scene_h) {
            a->drag_dx = ev->motion.xrel, a->drag_dy = ev->motion.yrel;
            r = app_gesture_row(a, GESTURE_DRAG);
        }
        break;
    case SDL_MOUSEBUTTONDOWN:
        if (ev->button.button != SDL_BUTTON_LEFT)
            break;
        a->event_time = ev->button.timestamp;
        a->mouse_x = ev->button.x, a->mouse_y = ev->button.y;
        if (a->mouse_y >= a->scene_h) {
            const ToolButton *b = toolbar_hit(a, a->mouse_x, a->mouse_y);
            r = b ? b->row : NULL;
            a->tip_clicked = true;
            a->tip_shown = false;
        } else {
            r = app_gesture_row(a, GESTURE_CLICK);
        }
        break;
    case SDL_MOUSEWHEEL:
        a->wheel_y = ev->wheel.y;
        r = app_gesture_row(a, SDL_GetModState() & KMOD_CTRL ? GESTURE_CTRL_WHEEL : GESTURE_WHEEL);
        break;
    case SDL_WINDOWEVENT:
        if (ev->window.event == SDL_WINDOWEVENT_EXPOSED)
            a->dirty = true;
        if (ev->window.event == SDL_WINDOWEVENT_LEAVE) { // the pointer left: no tooltip
            a->mouse_x = a->mouse_y = -1;
            update_tip(a);
            app_label_hover(a);
        }
        break;
    default:
        break;
    }
    if (r)
        app_run_row(a, r);
    bool changed = a->dirty;
    a->dirty = was_dirty || changed;
    return changed;
}

// ----------------------------------------------------------------------------------------------
// The clock

double app_anim_t(const AppState *a) {
    return view_anim_t((Phase)a->anim_phase, speed(a), a->now - a->anim_start);
}

bool app_tick(AppState *a, double now) {
    a->now = now;
    if (a->notice_until > 0 && now >= a->notice_until)
        clear_notice(a);
    if (a->recording && (int)(now - a->record_since) != a->record_shown) {
        a->record_shown = (int)(now - a->record_since); // the toolbar's clock, once a second
        a->dirty = true;
    }
    bool tip = tip_due(a);
    if (tip != a->tip_shown) {
        a->tip_shown = tip;
        a->dirty = true;
    }
    if (app_label_tick(a))
        a->dirty = true;
    if (a->playing && !a->busy && now >= a->next_step_at) {
        double period = 1.0 / speed(a);
        a->next_step_at += period;
        if (a->next_step_at < now) // a slow step: do not try to catch up
            a->next_step_at = now + period;
        if (!app_serving(a)) {
            app_request_step(a);
        } else { // the serving session's step, at the same pace (it is quick: no worker)
            if (!serve_step(a->serve))
                a->playing = false;
            a->dirty = true;
        }
    }
    // The 3D camera moving between presets and following the write head (the session is read
    // only while no step runs)
    double dt = a->cam_clock > 0 ? now - a->cam_clock : 0;
    a->cam_clock = now;
    if (a->view.kind == VIEW_3D) {
        SceneLayout lay;
        if (!a->busy)
            scene_layout(a->s, &a->view, a->width, a->scene_h, &lay);
        if (view_camera_advance(&a->view, a->busy ? NULL : &lay, dt))
            a->dirty = true;
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
    if (a->recording) { // the next second of the toolbar's clock
        double n = a->record_since + a->record_shown + 1 - a->now;
        if (wake < 0 || n < wake)
            wake = n;
    }
    if (a->tip_row && !a->tip_clicked && !a->tip_shown && !a->typing && !a->busy) {
        double n = a->tip_since + APP_TIP_DELAY - a->now;
        if (wake < 0 || n < wake)
            wake = n;
    }
    double label = app_label_wake(a);
    if (label >= 0 && (wake < 0 || label < wake))
        wake = label;
    return wake < 0 && wake != -1 ? 0 : wake;
}

// ----------------------------------------------------------------------------------------------
// Export: the scene alone (not the toolbar), at rest, as PNG and SVG, through src/export

void app_export_size(const AppState *a, int *w, int *h) {
    *w = a->width >= 640 ? a->width : 640;
    *h = (*w * 9 + 8) / 16;
}

bool app_export(AppState *a) {
    app_at_rest(a);
    KvError err = {0};
    if (export_make_dir(a->export_dir, &err)) {
        app_notice(a, 6, "Export failed: %s", err.msg);
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
    static const char *const ext[APP_EXPORTS] = {"png", "svg", "pdf"};
    for (int i = 0; i < APP_EXPORTS; i++)
        snprintf(a->last_export[i], sizeof a->last_export[i], "%s.%s", base, ext[i]);
    // The whole picture for a slide: 16:9 at the window's width (the scene laid out for that
    // size, not squeezed above the toolbar), at rest, without the window's own messages.
    int w, h;
    app_export_size(a, &w, &h);
    View v = a->view;
    v.notice = NULL;
    for (int i = 0; i < APP_EXPORTS; i++) {
        if (export_frame(a->s, &v, w, h, 1.0, a->last_export[i], &err)) {
            app_notice(a, 6, "Export failed: %s", err.msg);
            return false;
        }
    }
    app_notice(a, 5, "Exported %s, .svg and .pdf", a->last_export[0]);
    return true;
}
