// window_actions.c — every action a user can take in the window, as one table: its name, its
// keys (with modifiers) or mouse gesture, its line in the help overlay, its toolbar button
// (place, label, tooltip), its handler, and where it may run (while a step runs, while a lesson
// plays, while the prompt is typed). Key dispatch (app_key_row), the toolbar (window_ui.c), the
// help overlay's key list (app_help_build, drawn by src/view) and the tooltips all read it, so a
// new action is one row here and, if it needs one, a handler.
//
// What is not here: what the larger handlers do to the session (window_app.c), the toolbar's
// layout and drawing (window_ui.c).
#include "app/window.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// Handlers (the larger ones live in window_app.c)

// The pool view of `run --serve` steps (and plays) the serving session instead of the one
// sequence.
bool app_serving(const AppState *a) {
    return a->serve && a->view.kind == VIEW_POOL;
}

static void do_step(AppState *a) {
    if (app_serving(a)) {
        serve_step(a->serve);
        a->dirty = true;
        return;
    }
    app_request_step(a);
}

// A serving session goes back by running again from its start to the step before (it is
// deterministic: the same requests, seeds and pool give the same steps).
static void serve_back(AppState *a) {
    const int to = a->serve->step - 1;
    if (to < 0)
        return;
    KvError err; // in place: the sequences' block tables point at the session's own pool
    serve_free(a->serve);
    if (app_serve_open(a->serve, a->s->model, a->s->tok, a->serve_opts, &err)) {
        // the request file changed under the window: no serving session any more
        a->serve = NULL;
        a->view.serve = NULL;
        a->view.kind = VIEW_SEQUENCE;
        app_notice(a, 0, "%s", err.msg);
        return;
    }
    for (int i = 0; i < to && serve_step(a->serve); i++)
        ;
    a->dirty = true;
}

static void do_back(AppState *a) {
    if (app_serving(a)) {
        serve_back(a);
        return;
    }
    app_at_rest(a);
    session_back(a->s);
    app_left_limit(a);
}

static void do_play(AppState *a) {
    app_toggle_play(a);
}

static void do_slower(AppState *a) {
    app_set_speed(a, a->speed_i - 1);
}

static void do_faster(AppState *a) {
    app_set_speed(a, a->speed_i + 1);
}

// The speed slider: the notch under the pointer.
static void do_speed(AppState *a) {
    const ToolButton *b = toolbar_find(a, ACT_SPEED);
    if (!b)
        return;
    double f = (a->mouse_x - b->x) / (b->w > 1 ? b->w : 1);
    app_set_speed(a, (int)floor(f * APP_SPEEDS));
}

static void do_cache(AppState *a) {
    app_at_rest(a);
    session_set_mode(a->s, a->s->mode == CACHE_MODE_ON ? CACHE_MODE_OFF : CACHE_MODE_ON);
}

// The next precision the model's head size can use (f32, bf16, ... kivi4, f32 again); the
// session goes back to its prompt (session_set_kv). Under a policy that evicts the KIVI kinds,
// which it cannot hold (kv_kind_combine_check), are passed over: f32, bf16, int8, int4, f32.
static void do_kv(AppState *a) {
    app_at_rest(a);
    KvPrecision p = a->s->eng.cache.kind.precision;
    KvCacheKind k = a->s->cache_kind;
    do {
        p = (KvPrecision)((p + 1) % KV_PRECISIONS);
        k.precision = p;
    } while (kv_precision_check(&a->s->model->cfg, p, "kv", NULL) != KV_OK ||
             kv_kind_combine_check("kv", "", k, NULL) != KV_OK);
    KvError err;
    if (session_set_kv(a->s, p, &err)) {
        app_notice(a, 4.0, "%s", err.msg);
        return;
    }
    a->playing = false;
    app_left_limit(a);
}

// The classroom's policies, each at a budget of 16 positions (the narrative preset's name falls
// out of that window a few tokens in): full -> window -> sinks -> h2o -> full.
static const char *const policies[] = {"full", "window:16", "sinks:4,12", "h2o:8,8"};

static int policy_index(const AppState *a) {
    char name[64];
    kv_retention_name(a->s->cache_kind, name, sizeof name);
    for (int i = 0; i < 4; i++)
        if (strcmp(name, policies[i]) == 0)
            return i;
    return -1; // one from --cache or a lesson: the next press starts the cycle over
}

// A KIVI cache keeps every position: the press is refused with a notice.
static void do_policy(AppState *a) {
    app_at_rest(a);
    KvCacheKind kind = a->s->cache_kind;
    KvError err;
    kv_parse_retention("--cache", policies[(policy_index(a) + 1) % 4], &kind, &err);
    if (session_set_cache(a->s, kind, &err)) { // a KIVI cache, or a context under 16: stay
        app_notice(a, 4.0, "%s", err.msg);
        return;
    }
    session_set_mode(a->s, CACHE_MODE_ON);
}

static void do_preset1(AppState *a) {
    app_choose_preset(a, 0);
}

static void do_preset2(AppState *a) {
    app_choose_preset(a, 1);
}

static void do_preset3(AppState *a) {
    app_choose_preset(a, 2);
}

static void do_prompt(AppState *a) {
    app_start_typing(a);
}

static void do_reset(AppState *a) {
    app_at_rest(a);
    session_reset(a->s);
    a->playing = false;
    a->view.pinned = -1;
    a->view.scroll = 0;
    app_left_limit(a);
}

static void do_layer(AppState *a) {
    int L = a->s->model->cfg.n_layers;
    a->view.layer = a->view.layer == VIEW_ALL_LAYERS ? 0
                    : a->view.layer + 1 >= L         ? VIEW_ALL_LAYERS
                                                     : a->view.layer + 1;
}

// mean -> head 1 .. H -> every head in its own colour -> mean
static void do_head(AppState *a) {
    int H = a->s->model->cfg.n_heads;
    int h = a->view.head;
    a->view.head = h == VIEW_HEAD_MEAN   ? 0
                   : h == VIEW_HEAD_EACH ? VIEW_HEAD_MEAN
                   : h + 1 >= H          ? VIEW_HEAD_EACH
                                         : h + 1;
}

static void do_view(AppState *a) {
    a->view.kind = (ViewKind)((a->view.kind + 1) % VIEW_KINDS);
    if (a->view.kind == VIEW_POOL && !a->view.serve) // no serving session: nothing to show
        a->view.kind = (ViewKind)((a->view.kind + 1) % VIEW_KINDS);
}

// The pool view: the block table of the next running request (in request order, wrapping).
static void do_pool_request(AppState *a) {
    if (!a->serve) {
        app_notice(a, 4.0, "No serving session: kvscope run --serve FILE (or classroom)");
        return;
    }
    const Serve *s = a->serve;
    const int cur = pool_selected(s, &a->view);
    for (int k = 1; k <= s->n_seq; k++) {
        const int i = ((cur < 0 ? -1 : cur) + k) % s->n_seq;
        if (s->seq[i].state == SEQ_RUNNING) {
            a->view.pool_seq = i;
            break;
        }
    }
    a->view.kind = VIEW_POOL; // the key shows what it changes
}

// The memory view's projected length: the run's own, then the lengths a class compares.
static void do_memory_length(AppState *a) {
    static const long lengths[] = {0, 1024, 8192, 32768, 131072};
    const int n = (int)(sizeof lengths / sizeof lengths[0]);
    int i = 0;
    while (i < n && lengths[i] != a->view.memory_length)
        i++;
    a->view.memory_length = lengths[(i + 1) % n];
    a->view.kind = VIEW_MEMORY; // the key shows what it changes
}

// The memory view's highlighted published model: none, then each in the table's order.
static void do_memory_model(AppState *a) {
    a->view.memory_model =
        a->view.memory_model + 1 < n_published_models ? a->view.memory_model + 1 : -1;
    a->view.kind = VIEW_MEMORY;
}

static void do_memory_log(AppState *a) {
    a->view.memory_log = !a->view.memory_log;
    a->view.kind = VIEW_MEMORY;
}

// The sampling view's bars on a log scale (or back); the key shows the view it changes.
static void do_sampling_log(AppState *a) {
    a->view.sampling_log = !a->view.sampling_log;
    a->view.kind = VIEW_SAMPLING;
}

static void do_glossary(AppState *a) {
    app_glossary_next(a);
}

static void do_glossary_back(AppState *a) {
    app_glossary_prev(a);
}

static void do_theme(AppState *a) {
    a->view.theme = a->view.theme == THEME_DARK ? THEME_LIGHT : THEME_DARK;
    a->theme_forced = (int)a->view.theme; // kept on the beats of a lesson
}

static void do_layout(AppState *a) {
    a->view.layout =
        a->view.layout == VIEW_LAYOUT_PROJECTOR ? VIEW_LAYOUT_DETAIL : VIEW_LAYOUT_PROJECTOR;
}

// From the next step on, each step also runs the other mode (not counted) and the counters show
// the largest logit difference between the two.
static void do_verify(AppState *a) {
    app_at_rest(a);
    session_set_verify(a->s, !a->s->verify);
}

static void set_fullscreen(AppState *a, bool on) {
    a->fullscreen = on;
    if (a->win)
        app_window_fullscreen(a, on);
}

static void do_fullscreen(AppState *a) {
    set_fullscreen(a, !a->fullscreen);
}

static void do_sampler(AppState *a) {
    a->sampler_open = !a->sampler_open;
}

static void do_export(AppState *a) {
    app_export(a);
}

static void do_record(AppState *a) {
    a->recording = !a->recording; // the window's loop opens or finishes the file
    a->record_since = a->now;
    a->record_shown = 0;
    a->dirty = true;
}

// Opens the help on its first page; again: the next page, and after the last it closes.
static void do_help(AppState *a) {
    if (!a->view.help) {
        a->view.help = true;
        a->view.help_page = 0;
    } else if (a->view.help_page + 1 < scene_help_pages(&a->view, a->width, a->scene_h)) {
        a->view.help_page++;
    } else {
        a->view.help = false;
    }
}

static void do_quit(AppState *a) {
    a->quit = true;
}

// The inspector on the write head's own cell (the selected layer's, or layer 1's), or closed.
// A click on a cache cell opens it on that cell instead (app_pin_at).
static void do_inspect(AppState *a) {
    const StepRecord *r = session_last(a->s);
    if (a->view.inspect || !r) {
        a->view.inspect = false;
        return;
    }
    a->view.inspect = true;
    a->view.inspect_pos = r->pos;
    a->view.inspect_layer = a->view.layer >= 0 ? a->view.layer : 0;
    a->view.inspect_head = -1;
}

// Side by side: the session and its twin in the other cache mode (created here, so the steps
// from now on are measured on both; the picture's next frame syncs the steps before).
static void do_split(AppState *a) {
    app_at_rest(a);
    a->view.split = !a->view.split;
    session_set_twin(a->s, a->view.split);
}

// Esc backs out of one thing, the most recent kind first; it never quits (Q does).
static void do_escape(AppState *a) {
    if (a->view.glossary_open)
        a->view.glossary_open = false;
    else if (a->view.help)
        a->view.help = false;
    else if (a->view.inspect)
        a->view.inspect = false;
    else if (a->typing)
        app_stop_typing(a);
    else if (a->fullscreen)
        set_fullscreen(a, false);
}

static void do_temp_down(AppState *a) {
    app_change_sampler(a, 0, -1);
}
static void do_temp_up(AppState *a) {
    app_change_sampler(a, 0, +1);
}
static void do_topk_down(AppState *a) {
    app_change_sampler(a, 1, -1);
}
static void do_topk_up(AppState *a) {
    app_change_sampler(a, 1, +1);
}
static void do_topp_down(AppState *a) {
    app_change_sampler(a, 2, -1);
}
static void do_topp_up(AppState *a) {
    app_change_sampler(a, 2, +1);
}
static void do_seed_down(AppState *a) {
    app_change_sampler(a, 3, -1);
}
static void do_seed_up(AppState *a) {
    app_change_sampler(a, 3, +1);
}

static void do_field_prev(AppState *a) {
    a->field = (a->field + SAMPLER_FIELDS - 1) % SAMPLER_FIELDS;
}

static void do_field_next(AppState *a) {
    a->field = (a->field + 1) % SAMPLER_FIELDS;
}

static void do_field_down(AppState *a) {
    app_change_sampler(a, a->field, -1);
}

static void do_field_up(AppState *a) {
    app_change_sampler(a, a->field, +1);
}

static void do_beat_next(AppState *a) {
    app_goto_beat(a, a->lesson->beat + 1);
}

static void do_beat_prev(AppState *a) {
    app_goto_beat(a, a->lesson->beat - 1);
}

static void do_beat_first(AppState *a) {
    app_goto_beat(a, 0);
}

static void do_lesson(AppState *a) {
    app_open_next_lesson(a);
}

static void do_type_run(AppState *a) {
    app_commit_prompt(a);
}

static void do_type_erase(AppState *a) {
    app_typed_backspace(a);
}

static void do_type_paste(AppState *a) {
    if (!SDL_HasClipboardText())
        return;
    char *clip = SDL_GetClipboardText();
    if (clip) {
        app_typed_append(a, clip);
        SDL_free(clip);
    }
}

static void do_pin(AppState *a) {
    app_pin_at(a, a->mouse_x, a->mouse_y);
}

// Scrolls `notches` wheel notches back along the sequence (negative: forward, toward the write
// head): a notch is a line of cells, or part of the single line (SceneLayout.scroll_step). It
// lays the session out, so its rows wait for a running step.
static void scroll_by(AppState *a, int notches) {
    SceneLayout lay;
    scene_layout(a->s, &a->view, a->width, a->scene_h, &lay);
    int sc = a->view.scroll + notches * lay.scroll_step;
    a->view.scroll = sc < 0 ? 0 : sc >= a->s->n_tokens ? a->s->n_tokens - 1 : sc;
    if (a->view.scroll < 0)
        a->view.scroll = 0;
}

static void zoom_by(AppState *a, int notches) {
    double z = a->view.zoom * pow(1.25, notches);
    a->view.zoom = z < 1 ? 1 : z > VIEW_ZOOM_MAX ? VIEW_ZOOM_MAX : z;
}

static void do_scroll(AppState *a) {
    if (a->view.kind == VIEW_3D) { // the 3D view: the wheel zooms the camera
        double z = a->view.cam_zoom * (a->wheel_y > 0 ? 1.15 : 1 / 1.15);
        a->view.cam_zoom = z < 0.25 ? 0.25 : z > 8 ? 8 : z;
        return;
    }
    scroll_by(a, a->wheel_y > 0 ? 1 : a->wheel_y < 0 ? -1 : 0);
}

static void do_scroll_back(AppState *a) {
    scroll_by(a, 1);
}

static void do_scroll_forward(AppState *a) {
    scroll_by(a, -1);
}

static void do_zoom(AppState *a) {
    zoom_by(a, a->wheel_y > 0 ? 1 : a->wheel_y < 0 ? -1 : 0);
}

static void do_zoom_in(AppState *a) {
    zoom_by(a, 1);
}

static void do_zoom_out(AppState *a) {
    zoom_by(a, -1);
}

// Zoom 1 (every position on the picture), following the write head again.
static void do_zoom_whole(AppState *a) {
    a->view.zoom = 1;
    a->view.scroll = 0;
}

// The 3D view's camera: presets (the window animates the move, app_tick), the whole sequence
// or the write head, and dragging to orbit.
static void do_camera_front(AppState *a) {
    view_camera_set(&a->view, CAMERA_FRONT);
}

static void do_camera_top(AppState *a) {
    view_camera_set(&a->view, CAMERA_TOP);
}

static void do_camera_orbit(AppState *a) {
    view_camera_set(&a->view, CAMERA_ORBIT);
}

static void do_camera_fit(AppState *a) {
    a->view.cam_fit = !a->view.cam_fit;
}

static void do_orbit_drag(AppState *a) {
    View *v = &a->view;
    if (v->kind != VIEW_3D)
        return;
    if (v->camera != CAMERA_ORBIT) { // start from where the camera is
        v->orbit_az = v->cam_az;
        v->orbit_el = v->cam_el;
        v->camera = CAMERA_ORBIT;
    }
    v->orbit_az = fmod(v->orbit_az - 0.4 * a->drag_dx, 360);
    double el = v->orbit_el + 0.3 * a->drag_dy;
    v->orbit_el = el < -10 ? -10 : el > 90 ? 90 : el;
    v->cam_az = v->orbit_az; // the camera follows the hand at once
    v->cam_el = v->orbit_el;
    v->cam_vel[0] = v->cam_vel[1] = 0; // and stays where the hand leaves it
}

// ----------------------------------------------------------------------------------------------
// Toolbar labels that follow the state

static const char *label_step(const AppState *a, char *buf, size_t cap, bool *on) {
    return a->busy ? "Step \u2026" : "Step \u25B6";
}

static const char *label_play(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->playing;
    return a->playing ? "Pause" : "Play";
}

static const char *label_speed(const AppState *a, char *buf, size_t cap, bool *on) {
    double v = app_speeds[a->speed_i];
    snprintf(buf, cap, v < 1 ? "%.2g tok/s" : "%g tok/s", v);
    return buf;
}

static const char *label_cache(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->s->mode == CACHE_MODE_ON;
    return *on ? "Cache ON" : "Cache OFF";
}

static const char *label_kv(const AppState *a, char *buf, size_t cap, bool *on) {
    const KvPrecision p = a->s->eng.cache.kind.precision;
    *on = p != KV_PRECISION_F32;
    snprintf(buf, cap, "KV %s", kv_precision_name(p));
    return buf;
}

static const char *label_policy(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = kv_kind_budget(a->s->cache_kind) > 0;
    char name[48];
    snprintf(buf, cap, "Keep: %s", kv_retention_name(a->s->cache_kind, name, sizeof name));
    return buf;
}

static const char *label_preset(const AppState *a, int i, bool *on) {
    *on = a->preset == i;
    return app_presets[i].name;
}

static const char *label_preset1(const AppState *a, char *buf, size_t cap, bool *on) {
    return label_preset(a, 0, on);
}

static const char *label_preset2(const AppState *a, char *buf, size_t cap, bool *on) {
    return label_preset(a, 1, on);
}

static const char *label_preset3(const AppState *a, char *buf, size_t cap, bool *on) {
    return label_preset(a, 2, on);
}

static const char *label_prompt(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->preset < 0;
    return "Prompt\u2026";
}

static const char *label_layer(const AppState *a, char *buf, size_t cap, bool *on) {
    if (a->view.layer == VIEW_ALL_LAYERS)
        return "Layer all";
    snprintf(buf, cap, "Layer %d", a->view.layer + 1);
    return buf;
}

static const char *label_head(const AppState *a, char *buf, size_t cap, bool *on) {
    if (a->view.head == VIEW_HEAD_MEAN)
        return "Head mean";
    if (a->view.head == VIEW_HEAD_EACH)
        return "Head each";
    snprintf(buf, cap, "Head %d", a->view.head + 1);
    return buf;
}

static const char *label_view(const AppState *a, char *buf, size_t cap, bool *on) {
    return view_kind_name(a->view.kind);
}

static const char *label_theme(const AppState *a, char *buf, size_t cap, bool *on) {
    return a->view.theme == THEME_DARK ? "Dark" : "Light";
}

static const char *label_layout(const AppState *a, char *buf, size_t cap, bool *on) {
    return a->view.layout == VIEW_LAYOUT_PROJECTOR ? "Projector" : "Detail";
}

static const char *label_verify(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->s->verify;
    return "Measure";
}

static const char *label_lesson(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->lesson != NULL;
    return "Lesson";
}

static const char *label_sampler(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->sampler_open;
    return "Sampler";
}

static const char *label_full(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->fullscreen;
    return "Full";
}

static const char *label_record(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->recording;
    if (!a->recording)
        return "\u25CF Rec";
    int s = (int)(a->now - a->record_since);
    snprintf(buf, cap, "\u25A0 %d:%02d", s / 60, s % 60);
    return buf;
}

static const char *label_help(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->view.help;
    return "?";
}

static const char *readout_beat(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = true;
    snprintf(buf, cap, "beat %d / %d", a->lesson->beat + 1, a->lesson->lesson->n_beats);
    return buf;
}

static const char *readout_temp(const AppState *a, char *buf, size_t cap, bool *on) {
    float t = a->s->settings.temperature;
    *on = a->field == 0;
    snprintf(buf, cap, "temperature %.1f%s", t, t == 0 ? " (greedy)" : "");
    return buf;
}

static const char *readout_topk(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->field == 1;
    if (!a->s->settings.top_k)
        return "top-k off";
    snprintf(buf, cap, "top-k %d", a->s->settings.top_k);
    return buf;
}

static const char *readout_topp(const AppState *a, char *buf, size_t cap, bool *on) {
    float p = a->s->settings.top_p;
    *on = a->field == 2;
    if (!(p > 0 && p < 1))
        return "top-p off";
    snprintf(buf, cap, "top-p %.2f", p);
    return buf;
}

static const char *readout_seed(const AppState *a, char *buf, size_t cap, bool *on) {
    *on = a->field == 3;
    snprintf(buf, cap, "seed %llu", (unsigned long long)a->s->settings.seed);
    return buf;
}

// ----------------------------------------------------------------------------------------------
// The table. Its order is the help overlay's; `bar` orders the toolbar.

// A table reads as one row per action: clang-format leaves it as written.
// clang-format off
#define K(sym) {sym, 0, false}
#define K_ALT(sym) {sym, 0, true}
#define K_MOD(sym, mod) {sym, mod, false}
#define K_MOD_ALT(sym, mod) {sym, mod, true}

enum {
    WAITS = ACT_WHEN_WAITS,
    LESSON = ACT_WHEN_LESSON,
    NO_LESSON = ACT_WHEN_NO_LESSON,
    BAR_NO_LESSON = ACT_WHEN_BAR_NO_LESSON,
    PANEL = ACT_WHEN_SAMPLER,
    TYPING = ACT_WHEN_TYPING,
    TYPING_TOO = ACT_WHEN_TYPING_TOO,
};

const ActionRow app_actions[] = {
    {ACT_STEP, "step", {K(SDLK_SPACE), K(SDLK_RIGHT)}, .help = "step forward",
     .tip = "One generation step", .bar = 20, .label_fn = label_step, .run = do_step},
    {ACT_BACK, "back", {K(SDLK_LEFT), K(SDLK_BACKSPACE)}, .help = "step back",
     .tip = "Step back, exactly", .bar = 10, .label = "\u25C0 Back", .run = do_back,
     .when = WAITS | NO_LESSON},
    {ACT_PLAY, "play", {K(SDLK_p)}, .help = "play / pause", .tip = "Play or pause",
     .bar = 30, .label_fn = label_play, .run = do_play},
    {ACT_FASTER, "faster", {K(SDLK_PLUS), K_ALT(SDLK_EQUALS), K_ALT(SDLK_KP_PLUS)},
     .help = "speed", .tip = "Faster", .bar = 42, .label = "+", .run = do_faster},
    {ACT_SLOWER, "slower", {K(SDLK_MINUS), K_ALT(SDLK_KP_MINUS)}, .help = "speed",
     .tip = "Slower", .bar = 40, .label = "\u2212", .run = do_slower},
    {ACT_SPEED, "speed", .tip = "Click to set the speed", .bar = 41, .label_fn = label_speed,
     .run = do_speed},
    {ACT_CACHE, "cache", {K(SDLK_c)}, .help = "KV cache on / off",
     .tip = "KV cache on / off", .bar = 50, .label_fn = label_cache, .run = do_cache,
     .when = WAITS},
    {ACT_KV, "kv", {K(SDLK_k)}, .help = "cache precision: f32 bf16 int8 int4 kivi2 kivi4",
     .tip = "Precision of the cached keys and values (back to the prompt)", .bar = 51,
     .label_fn = label_kv, .run = do_kv, .when = WAITS | NO_LESSON},
    {ACT_POLICY, "policy", {K(SDLK_w)}, .help = "cache policy: full, window, sinks, h2o",
     .tip = "What the cache keeps: everything, the last 16, 4 sinks + 12, or 8 heavy hitters + 8 "
            "recent",
     .bar = 52, .label_fn = label_policy, .run = do_policy, .when = WAITS},
    {ACT_PRESET1, "preset1", {K(SDLK_1), K_ALT(SDLK_KP_1)}, .help = "presets",
     .tip = "Preset prompt: a story", .bar = 60, .label_fn = label_preset1, .run = do_preset1,
     .when = WAITS | BAR_NO_LESSON},
    {ACT_PRESET2, "preset2", {K(SDLK_2), K_ALT(SDLK_KP_2)}, .help = "presets",
     .tip = "Preset prompt: code", .bar = 61, .label_fn = label_preset2, .run = do_preset2,
     .when = WAITS | BAR_NO_LESSON},
    {ACT_PRESET3, "preset3", {K(SDLK_3), K_ALT(SDLK_KP_3)}, .help = "presets",
     .tip = "Preset prompt: a fact", .bar = 62, .label_fn = label_preset3, .run = do_preset3,
     .when = WAITS | BAR_NO_LESSON},
    {ACT_PROMPT, "prompt", {K(SDLK_t)}, .help = "type a prompt",
     .tip = "Type a prompt of your own", .bar = 63, .label_fn = label_prompt, .run = do_prompt,
     .when = BAR_NO_LESSON},
    {ACT_SAMPLER, "sampler", {K(SDLK_s)}, .help = "sampler settings",
     .tip = "Sampler settings: temperature, top-k, top-p, seed", .bar = 81,
     .label_fn = label_sampler, .run = do_sampler},
    {ACT_RESET, "reset", {K(SDLK_r)}, .help = "reset", .tip = "Back to the prompt",
     .bar = 64, .label = "Reset", .run = do_reset, .when = WAITS | NO_LESSON},
    {ACT_HELP, "help", {K(SDLK_QUESTION), K(SDLK_F1), K_MOD_ALT(SDLK_SLASH, KMOD_SHIFT)},
     .help = "this help", .tip = "Every key", .bar = 84, .label_fn = label_help, .run = do_help},
    {ACT_LAYER, "layer", {K(SDLK_l)}, .help = "layer: all, 1 .. L",
     .tip = "Layer: all, 1 .. L", .bar = 70, .label_fn = label_layer, .run = do_layer},
    {ACT_HEAD, "head", {K(SDLK_h)}, .help = "head: mean, 1 .. H, each",
     .tip = "Head: mean, 1 .. H, each", .bar = 71, .label_fn = label_head, .run = do_head},
    {ACT_VIEW, "view", {K(SDLK_v)},
     .help = "view: sequence, heatmap, layers, memory, 3d, sampling, pool",
     .tip = "View: sequence, heatmap, layers, memory, 3d, sampling, pool", .bar = 72,
     .label_fn = label_view, .run = do_view},
    {ACT_NONE, "pool-request", {K(SDLK_b)},
     .help = "pool view: the next running request's block table", .run = do_pool_request},
    {ACT_NONE, "memory-length", {K(SDLK_n)},
     .help = "memory view: length (the run's, 1K, 8K, 32K, 128K)", .run = do_memory_length},
    {ACT_NONE, "memory-model", {K_MOD(SDLK_n, KMOD_SHIFT)},
     .help = "memory view: highlight the next published model", .run = do_memory_model},
    {ACT_NONE, "memory-log", {K_MOD(SDLK_n, KMOD_CTRL)}, .help = "memory view: log scale",
     .run = do_memory_log},
    {ACT_NONE, "sampling-log", {K_MOD(SDLK_s, KMOD_SHIFT)}, .help = "sampling view: log scale",
     .run = do_sampling_log},
    {ACT_NONE, "glossary", {K(SDLK_a)}, .help = "glossary: every term (again: next page)",
     .run = do_glossary},
    {ACT_NONE, "glossary-back", {K_MOD(SDLK_a, KMOD_SHIFT)}, .help = "glossary: page back",
     .run = do_glossary_back},
    {ACT_NONE, "camera-front", {K(SDLK_7), K_ALT(SDLK_KP_7)},
     .help = "3D camera: front, top, orbit", .run = do_camera_front},
    {ACT_NONE, "camera-top", {K(SDLK_8), K_ALT(SDLK_KP_8)},
     .help = "3D camera: front, top, orbit", .run = do_camera_top},
    {ACT_NONE, "camera-orbit", {K(SDLK_9), K_ALT(SDLK_KP_9)},
     .help = "3D camera: front, top, orbit", .run = do_camera_orbit},
    {ACT_NONE, "camera-whole", {K(SDLK_z)}, .help = "3D camera: whole sequence / follow the head",
     .run = do_camera_fit},
    {ACT_NONE, "orbit", .gesture = GESTURE_DRAG, .help_keys = "drag", .help = "3D camera: orbit",
     .run = do_orbit_drag, .when = TYPING_TOO},
    {ACT_THEME, "theme", {K(SDLK_d)}, .help = "dark / light theme",
     .tip = "Dark (projector) or light (print) theme", .bar = 73, .label_fn = label_theme,
     .run = do_theme},
    {ACT_LAYOUT, "layout", {K(SDLK_o)}, .help = "layout: projector / detail",
     .tip = "Projector layout (large type, fewer things) or detail layout (every counter)",
     .bar = 74, .label_fn = label_layout, .run = do_layout},
    {ACT_NONE, "model", {K(SDLK_u)},
     .help = "model: full, grouped-query (2 kv heads), multi-query (1 kv head)",
     .run = app_next_model, .when = WAITS | NO_LESSON},
    {ACT_VERIFY, "verify", {K(SDLK_m)}, .help = "measure cache vs no-cache logit difference",
     .tip = "Measure the largest logit difference between cache and no cache on every step",
     .bar = 75, .label_fn = label_verify, .run = do_verify, .when = WAITS},
    {ACT_FULLSCREEN, "fullscreen", {K(SDLK_f), K(SDLK_F11)}, .help = "fullscreen",
     .tip = "Fullscreen on / off", .bar = 83, .label_fn = label_full, .run = do_fullscreen},
    {ACT_EXPORT, "export", {K(SDLK_e)}, .help = "export the picture (PNG, SVG, PDF at 16:9)",
     .tip = "Export the whole picture at 16:9 as PNG, SVG and PDF", .bar = 82, .label = "Export",
     .run = do_export, .when = WAITS},
    {ACT_RECORD, "record", {K_MOD(SDLK_e, KMOD_SHIFT)}, .help = "record a video (MP4) / stop",
     .tip = "Record what the window shows as an MP4 into the export folder; again to stop",
     .bar = 86, .label_fn = label_record, .run = do_record},
    {ACT_LESSON, "lesson", {K(SDLK_g)}, .help = "next lesson (lessons/)",
     .tip = "Play the next lesson from lessons/", .bar = 80, .label_fn = label_lesson,
     .run = do_lesson, .when = WAITS},
    {ACT_BEAT_NEXT, "beat-next", {K_ALT(SDLK_SPACE), K(SDLK_RIGHT), K_ALT(SDLK_PAGEDOWN)},
     .help = "lesson: next, back, first beat", .tip = "Next beat of the lesson", .bar = 12,
     .label = "Beat \u25B6", .readout = readout_beat, .run = do_beat_next,
     .when = WAITS | LESSON},
    {ACT_BEAT_PREV, "beat-prev", {K(SDLK_LEFT), K_ALT(SDLK_BACKSPACE), K_ALT(SDLK_PAGEUP)},
     .help = "lesson: next, back, first beat", .tip = "Beat before", .bar = 10,
     .label = "\u25C0 Beat", .run = do_beat_prev, .when = WAITS | LESSON},
    {ACT_BEAT_FIRST, "beat-first", {K_ALT(SDLK_r), K(SDLK_HOME)},
     .help = "lesson: next, back, first beat", .run = do_beat_first, .when = WAITS | LESSON},
    {ACT_QUIT, "quit", {K(SDLK_q)}, .help = "quit", .tip = "Quit kvscope", .bar = 85,
     .label = "Quit", .run = do_quit},
    {ACT_ESCAPE, "escape", {K(SDLK_ESCAPE)}, .help = "close, cancel, leave fullscreen",
     .run = do_escape, .when = TYPING_TOO},
    {ACT_PIN, "pin", .gesture = GESTURE_CLICK, .help_keys = "click",
     .help = "pin a token; on a cache cell: inspect it", .run = do_pin, .when = WAITS},
    {ACT_NONE, "split", {K(SDLK_x)}, .help = "split: cache and no cache side by side",
     .run = do_split, .when = WAITS},
    {ACT_NONE, "inspect", {K(SDLK_i)}, .help = "inspector: the write head's numbers (Esc closes)",
     .run = do_inspect, .when = WAITS},
    {ACT_SCROLL, "scroll", .gesture = GESTURE_WHEEL, .help_keys = "wheel",
     .help = "scroll back, forward (3D: zoom)", .run = do_scroll, .when = WAITS | TYPING_TOO},
    {ACT_ZOOM, "zoom", .gesture = GESTURE_CTRL_WHEEL, .help_keys = "Ctrl + wheel",
     .help = "zoom", .run = do_zoom, .when = TYPING_TOO},
    {ACT_NONE, "scroll-back", {K(SDLK_PAGEUP)}, .help = "scroll back, forward",
     .run = do_scroll_back, .when = WAITS},
    {ACT_NONE, "scroll-forward", {K(SDLK_PAGEDOWN)}, .help = "scroll back, forward",
     .run = do_scroll_forward, .when = WAITS},
    {ACT_NONE, "zoom-in", {K_MOD(SDLK_EQUALS, KMOD_CTRL), K_MOD_ALT(SDLK_PLUS, KMOD_CTRL)},
     .help = "zoom in, out, whole sequence", .run = do_zoom_in},
    {ACT_NONE, "zoom-out", {K_MOD(SDLK_MINUS, KMOD_CTRL)}, .help = "zoom in, out, whole sequence",
     .run = do_zoom_out},
    {ACT_NONE, "zoom-whole", {K_MOD(SDLK_0, KMOD_CTRL)}, .help = "zoom in, out, whole sequence",
     .run = do_zoom_whole},

    // the sampler panel: buttons on the toolbar's second row, and keys while it is open
    {ACT_TEMP_DOWN, "temp-", .tip = "Lower temperature (0: always the most likely token)",
     .bar = ACTION_BAR_PANEL + 0, .label = "\u2212", .readout = readout_temp,
     .run = do_temp_down, .when = WAITS | PANEL},
    {ACT_TEMP_UP, "temp+", .tip = "Higher temperature: more varied choices",
     .bar = ACTION_BAR_PANEL + 1, .label = "+", .run = do_temp_up, .when = WAITS | PANEL},
    {ACT_TOPK_DOWN, "top-k-", .tip = "Fewer candidates (top-k)", .bar = ACTION_BAR_PANEL + 2,
     .label = "\u2212", .readout = readout_topk, .run = do_topk_down, .when = WAITS | PANEL},
    {ACT_TOPK_UP, "top-k+", .tip = "More candidates (top-k)", .bar = ACTION_BAR_PANEL + 3,
     .label = "+", .run = do_topk_up, .when = WAITS | PANEL},
    {ACT_TOPP_DOWN, "top-p-", .tip = "Smaller probability mass (top-p)",
     .bar = ACTION_BAR_PANEL + 4, .label = "\u2212", .readout = readout_topp,
     .run = do_topp_down, .when = WAITS | PANEL},
    {ACT_TOPP_UP, "top-p+", .tip = "Larger probability mass (top-p)",
     .bar = ACTION_BAR_PANEL + 5, .label = "+", .run = do_topp_up, .when = WAITS | PANEL},
    {ACT_SEED_DOWN, "seed-", .tip = "Previous seed", .bar = ACTION_BAR_PANEL + 6,
     .label = "\u2212", .readout = readout_seed, .run = do_seed_down, .when = WAITS | PANEL},
    {ACT_SEED_UP, "seed+", .tip = "Next seed", .bar = ACTION_BAR_PANEL + 7, .label = "+",
     .run = do_seed_up, .when = WAITS | PANEL},
    {ACT_FIELD_PREV, "field-prev", {K(SDLK_UP)}, .run = do_field_prev, .when = PANEL},
    {ACT_FIELD_NEXT, "field-next", {K(SDLK_DOWN)}, .run = do_field_next, .when = PANEL},
    {ACT_FIELD_DOWN, "field-down", {K(SDLK_LEFTBRACKET), K_ALT(SDLK_COMMA)},
     .run = do_field_down, .when = WAITS | PANEL},
    {ACT_FIELD_UP, "field-up", {K(SDLK_RIGHTBRACKET), K_ALT(SDLK_PERIOD)}, .run = do_field_up,
     .when = WAITS | PANEL},

    // the prompt entry (the text itself comes as text events)
    {ACT_TYPE_RUN, "type-run", {K(SDLK_RETURN), K_ALT(SDLK_KP_ENTER)}, .run = do_type_run,
     .when = WAITS | TYPING},
    {ACT_TYPE_ERASE, "type-erase", {K(SDLK_BACKSPACE)}, .run = do_type_erase, .when = TYPING},
    {ACT_TYPE_PASTE, "type-paste", {K_MOD(SDLK_v, KMOD_CTRL)}, .run = do_type_paste,
     .when = TYPING},
};

// clang-format on

const int app_n_actions = (int)(sizeof app_actions / sizeof app_actions[0]);

// ----------------------------------------------------------------------------------------------
// Looking rows up

const ActionRow *app_action(AppAction act) {
    for (int i = 0; i < app_n_actions; i++)
        if (app_actions[i].act == act)
            return &app_actions[i];
    return NULL;
}

const char *app_action_name(AppAction act) {
    const ActionRow *r = app_action(act);
    return r ? r->name : act == ACT_NONE ? "none" : "?";
}

bool app_action_allowed(const AppState *a, const ActionRow *r) {
    unsigned w = r->when;
    if ((w & ACT_WHEN_LESSON) && !a->lesson)
        return false;
    if ((w & ACT_WHEN_NO_LESSON) && a->lesson)
        return false;
    if ((w & ACT_WHEN_SAMPLER) && !a->sampler_open)
        return false;
    if (a->typing)
        return (w & (ACT_WHEN_TYPING | ACT_WHEN_TYPING_TOO)) != 0;
    return (w & ACT_WHEN_TYPING) == 0;
}

// How well a row's key matches a key press: -1 not at all, else the number of modifier groups
// the row asks for (all held). A press goes to the row that asks for the most of what is held,
// so Shift+E can be its own action beside E.
static int key_match(const ActionKey *k, const SDL_Keysym *ks) {
    static const Uint16 groups[] = {KMOD_SHIFT, KMOD_CTRL, KMOD_ALT, KMOD_GUI};
    if (k->sym != ks->sym)
        return -1;
    int n = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        if ((k->mod & groups[g]) && !(ks->mod & groups[g]))
            return -1;
        n += (k->mod & groups[g]) != 0;
    }
    return n;
}

#define ACT_WHEN_STATE (ACT_WHEN_LESSON | ACT_WHEN_SAMPLER | ACT_WHEN_TYPING)

const ActionRow *app_key_row(const AppState *a, const SDL_Keysym *k) {
    for (int pass = 0; pass < 2; pass++) {
        const ActionRow *best = NULL;
        int best_n = -1;
        for (int i = 0; i < app_n_actions; i++) {
            const ActionRow *r = &app_actions[i];
            if (((r->when & ACT_WHEN_STATE) != 0) != (pass == 0) || !app_action_allowed(a, r))
                continue;
            for (int j = 0; j < ACTION_KEYS && r->keys[j].sym; j++) {
                int n = key_match(&r->keys[j], k);
                if (n > best_n)
                    best = r, best_n = n;
            }
        }
        if (best)
            return best;
    }
    return NULL;
}

const ActionRow *app_gesture_row(const AppState *a, ActionGesture g) {
    for (int i = 0; i < app_n_actions; i++)
        if (app_actions[i].gesture == g && app_action_allowed(a, &app_actions[i]))
            return &app_actions[i];
    return NULL;
}

// ----------------------------------------------------------------------------------------------
// Keys as the help and the tooltips write them

static const char *key_name(SDL_Keycode k) {
    switch (k) {
    case SDLK_RIGHT:
        return "\u2192";
    case SDLK_LEFT:
        return "\u2190";
    case SDLK_UP:
        return "\u2191";
    case SDLK_DOWN:
        return "\u2193";
    case SDLK_MINUS:
        return "\u2212";
    case SDLK_PLUS:
        return "+";
    case SDLK_QUESTION:
        return "?";
    case SDLK_SPACE:
        return "Space";
    case SDLK_BACKSPACE:
        return "Backspace";
    case SDLK_ESCAPE:
        return "Esc";
    case SDLK_RETURN:
        return "Enter";
    case SDLK_HOME:
        return "Home";
    default:
        return SDL_GetKeyName(k); // "P", "1", "F11"
    }
}

void app_action_keys_text(const ActionRow *r, char *buf, size_t cap) {
    buf[0] = '\0';
    if (r->help_keys) {
        snprintf(buf, cap, "%s", r->help_keys);
        return;
    }
    size_t n = 0;
    for (int j = 0; j < ACTION_KEYS && r->keys[j].sym && n < cap; j++) {
        const ActionKey *k = &r->keys[j];
        if (k->alt)
            continue;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s%s%s", n ? "  " : "",
                              (k->mod & KMOD_CTRL) ? "Ctrl+" : "",
                              (k->mod & KMOD_SHIFT) ? "Shift+" : "", key_name(k->sym));
    }
}

// The help overlay's lines: one per row with a help text, rows next to each other with the same
// text on one line (their keys side by side).
void app_help_build(AppState *a) {
    int n = 0;
    for (int i = 0; i < app_n_actions; i++) {
        const ActionRow *r = &app_actions[i];
        if (!r->help)
            continue;
        char keys[64];
        app_action_keys_text(r, keys, sizeof keys);
        bool joins = n > 0 && strcmp(a->help_rows[n - 1].text, r->help) == 0;
        if (joins) {
            char *k = a->help_keys[n - 1];
            size_t len = strlen(k);
            snprintf(k + len, sizeof a->help_keys[0] - len, "  %s", keys);
            continue;
        }
        if (n == APP_HELP_MAX)
            break;
        snprintf(a->help_keys[n], sizeof a->help_keys[n], "%s", keys);
        a->help_rows[n] = (ViewHelpRow){a->help_keys[n], r->help};
        n++;
    }
    a->n_help_rows = n;
    a->view.help_rows = a->help_rows;
    a->view.n_help_rows = n;
    app_help_add_parts(a); // then what each part of the picture is
}
