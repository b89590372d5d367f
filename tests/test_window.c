// test_window.c — the window's input handling, driven by synthetic SDL events under the dummy
// video driver: every key and every toolbar button does what it says (checked on the Session and
// the View after each), typing a prompt, the sampler panel, hover and pin, the animation clock,
// the context limit, export, the step worker, and `kvscope` without a display.
#include "app/window.h"
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VOCAB 400

TestSuite(window, .fini = tu_leak_check);

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
    AppState a;
    SDL_Window *win;
    char *dir; // exports go here
} Fx;

static Uint32 clock_ms;

static void fx_init_prompt(Fx *f, int seq_len, const char *prompt) {
    setenv("SDL_VIDEODRIVER", "dummy", 1);
    cr_assert_eq(SDL_Init(SDL_INIT_VIDEO), 0, "%s", SDL_GetError());
    f->win = SDL_CreateWindow("kvscope", 0, 0, 1280, 720, SDL_WINDOW_RESIZABLE);
    cr_assert_not_null(f->win, "%s", SDL_GetError());
    KvError err = {0};
    ModelConfig c = tu_config(48, 100, 2, 4, 2, VOCAB, seq_len, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 21, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f->s, prompt, &err), KV_OK, "%s", err.msg);
    app_init(&f->a, &f->s, 1280, 720, 1.0);
    f->a.win = f->win;
    f->dir = tu_tmpdir();
    snprintf(f->a.export_dir, sizeof f->a.export_dir, "%s/exports", f->dir);
}

static void fx_init(Fx *f, int seq_len) {
    fx_init_prompt(f, seq_len, app_presets[0].prompt);
}

static void fx_free(Fx *f) {
    worker_stop(&f->a);
    app_free(&f->a);
    tu_session_close(&f->m, &f->t, &f->s);
    SDL_DestroyWindow(f->win);
    SDL_Quit();
    tu_rmtree(f->dir);
    // the fonts the toolbar and the scene cached (a leak checker runs after each test)
    toolbar_release();
    pango_cairo_font_map_set_default(NULL);
}

// ----------------------------------------------------------------------------------------------
// Synthetic input

static void key_mod(AppState *a, SDL_Keycode k, Uint16 mod) {
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = SDL_KEYDOWN;
    e.key.timestamp = ++clock_ms;
    e.key.keysym.sym = k;
    e.key.keysym.mod = mod;
    app_handle_event(a, &e);
}

static void key(AppState *a, SDL_Keycode k) {
    key_mod(a, k, KMOD_NONE);
}

static void text(AppState *a, const char *s, Uint32 timestamp) {
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = SDL_TEXTINPUT;
    e.text.timestamp = timestamp ? timestamp : ++clock_ms;
    snprintf(e.text.text, sizeof e.text.text, "%s", s);
    app_handle_event(a, &e);
}

static void mouse_at(AppState *a, Uint32 type, double x, double y) {
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = type;
    if (type == SDL_MOUSEMOTION) {
        e.motion.x = (int)x, e.motion.y = (int)y;
    } else {
        e.button.button = SDL_BUTTON_LEFT;
        e.button.state = type == SDL_MOUSEBUTTONDOWN ? SDL_PRESSED : SDL_RELEASED;
        e.button.clicks = 1;
        e.button.x = (int)x, e.button.y = (int)y;
    }
    app_handle_event(a, &e);
}

static void click(AppState *a, double x, double y) {
    mouse_at(a, SDL_MOUSEMOTION, x, y);
    mouse_at(a, SDL_MOUSEBUTTONDOWN, x, y);
    mouse_at(a, SDL_MOUSEBUTTONUP, x, y);
}

// Clicks the toolbar button of an action (which must be on the toolbar).
static void press_button(AppState *a, AppAction act) {
    const ToolButton *b = toolbar_find(a, act);
    cr_assert_not_null(b, "no toolbar button for %s", app_action_name(act));
    cr_assert(b->y >= a->scene_h && b->y + b->h <= a->height + 0.5,
              "button %s is not in the strip below the scene", app_action_name(act));
    double x = b->x + b->w / 2, y = b->y + b->h / 2;
    cr_assert_eq(toolbar_hit(a, x, y), b, "button %s is not hit at its centre",
                 app_action_name(act));
    click(a, x, y);
}

// The key of each action (the help overlay lists the same).
static void press_key(AppState *a, AppAction act) {
    switch (act) {
    case ACT_STEP:
        key(a, SDLK_SPACE);
        break;
    case ACT_BACK:
        key(a, SDLK_LEFT);
        break;
    case ACT_PLAY:
        key(a, SDLK_p);
        break;
    case ACT_SLOWER:
        key(a, SDLK_MINUS);
        break;
    case ACT_FASTER:
        key_mod(a, SDLK_EQUALS, KMOD_LSHIFT);
        break; // '+' on a US keyboard
    case ACT_CACHE:
        key(a, SDLK_c);
        break;
    case ACT_PRESET1:
        key(a, SDLK_1);
        break;
    case ACT_PRESET2:
        key(a, SDLK_2);
        break;
    case ACT_PRESET3:
        key(a, SDLK_3);
        break;
    case ACT_PROMPT:
        key(a, SDLK_t);
        break;
    case ACT_RESET:
        key(a, SDLK_r);
        break;
    case ACT_LAYER:
        key(a, SDLK_l);
        break;
    case ACT_HEAD:
        key(a, SDLK_h);
        break;
    case ACT_VIEW:
        key(a, SDLK_v);
        break;
    case ACT_THEME:
        key(a, SDLK_d);
        break;
    case ACT_FULLSCREEN:
        key(a, SDLK_f);
        break;
    case ACT_SAMPLER:
        key(a, SDLK_s);
        break;
    case ACT_EXPORT:
        key(a, SDLK_e);
        break;
    case ACT_HELP:
        key_mod(a, SDLK_SLASH, KMOD_LSHIFT);
        break; // '?'
    case ACT_QUIT:
        key(a, SDLK_q);
        break;
    case ACT_TEMP_DOWN:
        a->field = 0;
        key(a, SDLK_LEFTBRACKET);
        break;
    case ACT_TEMP_UP:
        a->field = 0;
        key(a, SDLK_RIGHTBRACKET);
        break;
    case ACT_TOPK_DOWN:
        a->field = 1;
        key(a, SDLK_LEFTBRACKET);
        break;
    case ACT_TOPK_UP:
        a->field = 1;
        key(a, SDLK_RIGHTBRACKET);
        break;
    case ACT_TOPP_DOWN:
        a->field = 2;
        key(a, SDLK_LEFTBRACKET);
        break;
    case ACT_TOPP_UP:
        a->field = 2;
        key(a, SDLK_RIGHTBRACKET);
        break;
    case ACT_SEED_DOWN:
        a->field = 3;
        key(a, SDLK_LEFTBRACKET);
        break;
    case ACT_SEED_UP:
        a->field = 3;
        key(a, SDLK_RIGHTBRACKET);
        break;
    default:
        cr_assert_fail("no key for %s", app_action_name(act));
    }
}

typedef void (*Press)(AppState *a, AppAction act);

// ----------------------------------------------------------------------------------------------
// Every action, through a key or through its button: the same checks

static void exercise(Fx *f, Press press) {
    AppState *a = &f->a;
    Session *s = &f->s;
    const ModelConfig *c = &f->m.cfg;

    press(a, ACT_STEP);
    cr_assert_eq(s->cursor, 1, "step: the prefill step");
    cr_assert_eq(session_last(s)->phase, PHASE_PREFILL);
    press(a, ACT_STEP);
    press(a, ACT_STEP);
    cr_assert_eq(s->cursor, 3);
    int tok2 = s->tokens[s->n_tokens - 1];
    press(a, ACT_BACK);
    cr_assert_eq(s->cursor, 2, "back");
    press(a, ACT_STEP);
    cr_assert_eq(s->tokens[s->n_tokens - 1], tok2, "back then step gives the same token");

    // play: steps come at the speed while time passes; pause stops them
    int before = s->cursor;
    press(a, ACT_PLAY);
    cr_assert(a->playing, "play");
    for (int i = 0; i < 20; i++)
        app_tick(a, a->now + 0.1);
    cr_assert_gt(s->cursor, before + 2, "playing at %g tok/s for 2 s stepped %d times",
                 app_speeds[a->speed_i], s->cursor - before);
    press(a, ACT_PLAY);
    cr_assert(!a->playing, "pause");
    before = s->cursor;
    for (int i = 0; i < 20; i++)
        app_tick(a, a->now + 0.1);
    cr_assert_eq(s->cursor, before, "paused: no steps");

    // speed
    int sp = a->speed_i;
    press(a, ACT_FASTER);
    cr_assert_eq(a->speed_i, sp + 1, "faster");
    double fast_anim = a->anim_len;
    press(a, ACT_SLOWER);
    press(a, ACT_SLOWER);
    cr_assert_eq(a->speed_i, sp - 1, "slower");
    cr_assert_gt(a->anim_len, fast_anim, "the animation is longer at a lower speed");
    for (int i = 0; i < APP_SPEEDS + 2; i++)
        press(a, ACT_SLOWER);
    cr_assert_eq(app_speeds[a->speed_i], 0.25, "slowest is 0.25 tok/s");
    for (int i = 0; i < APP_SPEEDS + 2; i++)
        press(a, ACT_FASTER);
    cr_assert_eq(app_speeds[a->speed_i], 20, "fastest is 20 tok/s");

    // cache: mid-sequence, the next step runs in the other mode
    int cur = s->cursor;
    press(a, ACT_CACHE);
    cr_assert_eq(s->mode, CACHE_MODE_OFF, "cache off");
    cr_assert_eq(s->cursor, cur, "toggling the cache keeps the sequence");
    press(a, ACT_STEP);
    cr_assert_eq(session_last(s)->mode, CACHE_MODE_OFF);
    cr_assert_eq(session_last(s)->first, 0, "no cache: every position recomputed");
    press(a, ACT_CACHE);
    cr_assert_eq(s->mode, CACHE_MODE_ON, "cache on");
    press(a, ACT_STEP);
    cr_assert_eq(session_last(s)->mode, CACHE_MODE_ON);

    // presets
    press(a, ACT_PRESET2);
    cr_assert_str_eq(s->prompt, app_presets[1].prompt, "preset 2");
    cr_assert_eq(s->cursor, 0);
    cr_assert_eq(a->preset, 1);
    press(a, ACT_PRESET3);
    cr_assert_str_eq(s->prompt, app_presets[2].prompt, "preset 3");
    press(a, ACT_PRESET1);
    cr_assert_str_eq(s->prompt, app_presets[0].prompt, "preset 1");

    // reset
    press(a, ACT_STEP);
    press(a, ACT_STEP);
    press(a, ACT_RESET);
    cr_assert_eq(s->cursor, 0, "reset");
    cr_assert_str_eq(s->prompt, app_presets[0].prompt, "reset keeps the prompt");

    // layer: all, 1 .. L, all
    cr_assert_eq(a->view.layer, VIEW_ALL_LAYERS);
    for (int l = 0; l < c->n_layers; l++) {
        press(a, ACT_LAYER);
        cr_assert_eq(a->view.layer, l, "layer %d", l + 1);
    }
    press(a, ACT_LAYER);
    cr_assert_eq(a->view.layer, VIEW_ALL_LAYERS, "layer: back to all");

    // head: mean, 1 .. H, each, mean
    cr_assert_eq(a->view.head, VIEW_HEAD_MEAN);
    for (int h = 0; h < c->n_heads; h++) {
        press(a, ACT_HEAD);
        cr_assert_eq(a->view.head, h, "head %d", h + 1);
    }
    press(a, ACT_HEAD);
    cr_assert_eq(a->view.head, VIEW_HEAD_EACH);
    press(a, ACT_HEAD);
    cr_assert_eq(a->view.head, VIEW_HEAD_MEAN, "head: back to the mean");

    // view
    press(a, ACT_VIEW);
    cr_assert_eq(a->view.kind, VIEW_HEATMAP);
    press(a, ACT_VIEW);
    cr_assert_eq(a->view.kind, VIEW_LAYERS);
    press(a, ACT_VIEW);
    cr_assert_eq(a->view.kind, VIEW_MEMORY);
    press(a, ACT_VIEW);
    cr_assert_eq(a->view.kind, VIEW_3D);
    press(a, ACT_VIEW);
    cr_assert_eq(a->view.kind, VIEW_SAMPLING);
    press(a, ACT_VIEW);
    cr_assert_eq(a->view.kind, VIEW_SEQUENCE);

    // theme
    press(a, ACT_THEME);
    cr_assert_eq(a->view.theme, THEME_LIGHT);
    press(a, ACT_THEME);
    cr_assert_eq(a->view.theme, THEME_DARK);

    // fullscreen
    press(a, ACT_FULLSCREEN);
    cr_assert(a->fullscreen, "fullscreen");
    press(a, ACT_FULLSCREEN);
    cr_assert(!a->fullscreen, "windowed");

    // help
    press(a, ACT_HELP);
    cr_assert(a->view.help, "help overlay");
    for (int p = 0; p < 32 && a->view.help; p++) // it turns the pages and closes after the last
        press(a, ACT_HELP);
    cr_assert(!a->view.help);

    // sampler panel: every field down and up
    double tool_h = a->toolbar_h;
    press(a, ACT_SAMPLER);
    cr_assert(a->sampler_open, "sampler panel");
    cr_assert_gt(a->toolbar_h, tool_h, "the panel takes a second row");
    cr_assert_lt(a->scene_h, 720 - tool_h + 0.5);
    SamplerSettings st0 = s->settings;
    press(a, ACT_TEMP_UP);
    cr_assert_float_eq(s->settings.temperature, st0.temperature + 0.1f, 1e-5, "temperature +");
    press(a, ACT_TEMP_UP);
    press(a, ACT_TEMP_DOWN);
    cr_assert_float_eq(s->settings.temperature, st0.temperature + 0.1f, 1e-5, "temperature -");
    press(a, ACT_TOPK_UP);
    cr_assert_eq(s->settings.top_k, 1, "top-k + from off");
    press(a, ACT_TOPK_UP);
    cr_assert_eq(s->settings.top_k, 2);
    press(a, ACT_TOPK_DOWN);
    cr_assert_eq(s->settings.top_k, 1, "top-k -");
    press(a, ACT_TOPP_DOWN);
    cr_assert_float_eq(s->settings.top_p, st0.top_p - 0.05f, 1e-5, "top-p -");
    press(a, ACT_TOPP_UP);
    cr_assert_float_eq(s->settings.top_p, st0.top_p, 1e-5, "top-p +");
    press(a, ACT_SEED_UP);
    cr_assert_eq(s->settings.seed, st0.seed + 1, "seed +");
    press(a, ACT_SEED_DOWN);
    cr_assert_eq(s->settings.seed, st0.seed, "seed -");
    press(a, ACT_STEP);
    cr_assert_float_eq(session_last(s)->temperature, st0.temperature + 0.1f, 1e-5,
                       "the next step samples with the new settings");
    press(a, ACT_SAMPLER);
    cr_assert(!a->sampler_open);
    cr_assert_float_eq(a->toolbar_h, tool_h, 1e-9);

    // export: a PNG, an SVG and a PDF, the PNG named in the notice
    press(a, ACT_EXPORT);
    for (int i = 0; i < APP_EXPORTS; i++)
        cr_assert(access(a->last_export[i], R_OK) == 0, "export wrote %s", a->last_export[i]);
    cr_assert_not_null(strstr(a->notice, a->last_export[0]), "notice '%s' names %s", a->notice,
                       a->last_export[0]);
    cr_assert_not_null(strstr(a->last_export[2], ".pdf"));
    cr_assert_eq(a->view.notice, a->notice, "the notice is on the picture");
    cairo_surface_t *png = cairo_image_surface_create_from_png(a->last_export[0]);
    cr_assert_eq(cairo_surface_status(png), CAIRO_STATUS_SUCCESS, "the PNG reads back");
    int ew, eh;
    app_export_size(a, &ew, &eh);
    cr_assert_eq(cairo_image_surface_get_width(png), a->width);
    cr_assert_eq(cairo_image_surface_get_height(png), a->width * 9 / 16, "the picture at 16:9");
    cr_assert_eq(cairo_image_surface_get_height(png), eh);
    cairo_surface_destroy(png);
    size_t n;
    char *svg = (char *)tu_read_file(a->last_export[1], &n);
    cr_assert(svg && strstr(svg, "<svg"), "the SVG is an SVG");
    free(svg);

    // Once the notice has gone and the step is at rest, the window's picture laid out at 16:9
    // is the exported PNG, pixel for pixel.
    a->view.notice = NULL; // the export leaves out the window's own message, as this does
    app_tick(a, a->anim_start + a->anim_len + 1.0);
    cr_assert_float_eq(app_anim_t(a), 1.0, 1e-12, "the step is at rest");
    cairo_surface_t *frame = cairo_image_surface_create(CAIRO_FORMAT_RGB24, ew, eh);
    cairo_t *fcr = cairo_create(frame);
    scene_draw(fcr, a->s, &a->view, ew, eh, app_anim_t(a));
    cairo_destroy(fcr);
    cairo_surface_flush(frame);
    png = cairo_image_surface_create_from_png(a->last_export[0]);
    cr_assert_eq(cairo_surface_status(png), CAIRO_STATUS_SUCCESS);
    long differ = 0;
    for (int y = 0; y < eh; y++) {
        const uint32_t *fr = (const uint32_t *)(cairo_image_surface_get_data(frame) +
                                                (size_t)y * cairo_image_surface_get_stride(frame));
        const uint32_t *pr = (const uint32_t *)(cairo_image_surface_get_data(png) +
                                                (size_t)y * cairo_image_surface_get_stride(png));
        for (int x = 0; x < a->width; x++)
            differ += (fr[x] | 0xff000000u) != (pr[x] | 0xff000000u);
    }
    cairo_surface_destroy(png);
    cairo_surface_destroy(frame);
    cr_assert_eq(differ, 0, "%ld pixels of the window differ from its PNG export", differ);

    // the prompt entry
    press(a, ACT_PROMPT);
    cr_assert(a->typing, "prompt entry");
    text(a, "Once", 0);
    text(a, " more", 0);
    key(a, SDLK_BACKSPACE);
    cr_assert_str_eq(a->typed, "Once mor", "backspace in the entry edits the text");
    key(a, SDLK_RETURN);
    cr_assert(!a->typing);
    cr_assert_str_eq(s->prompt, "Once mor", "Enter runs the typed prompt");
    cr_assert_eq(a->preset, -1);

    press(a, ACT_QUIT);
    cr_assert(a->quit, "quit");
}

static void press_both(AppState *a, AppAction act) {
    press_button(a, act);
}

Test(window, every_key_does_what_it_says) {
    Fx f;
    fx_init(&f, 128);
    exercise(&f, press_key);
    fx_free(&f);
}

Test(window, every_toolbar_button_does_what_it_says) {
    Fx f;
    fx_init(&f, 128);
    exercise(&f, press_both);
    fx_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Keys with more than one name, and keys that must not act

Test(window, alternative_keys) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_RIGHT);
    key(a, SDLK_RIGHT);
    cr_assert_eq(f.s.cursor, 2, "Right steps");
    key(a, SDLK_BACKSPACE);
    cr_assert_eq(f.s.cursor, 1, "Backspace steps back");
    int sp = a->speed_i;
    key(a, SDLK_KP_PLUS);
    cr_assert_eq(a->speed_i, sp + 1);
    key(a, SDLK_KP_MINUS);
    cr_assert_eq(a->speed_i, sp);
    key(a, SDLK_F11);
    cr_assert(a->fullscreen, "F11");
    key(a, SDLK_F11);
    key(a, SDLK_F1);
    cr_assert(a->view.help, "F1");
    key(a, SDLK_SLASH); // '/' without shift is not '?'
    cr_assert(a->view.help);
    for (int p = 0; p < 32 && a->view.help; p++) // F1 turns the pages and closes after the last
        key(a, SDLK_F1);
    cr_assert(!a->view.help);
    fx_free(&f);
}

Test(window, prompt_entry_escape_and_opener) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    // T opens the entry; its own text event (same timestamp) is not part of the prompt
    key(a, SDLK_t);
    cr_assert(a->typing);
    text(a, "t", clock_ms);
    cr_assert_str_eq(a->typed, "");
    text(a, "q", 0);
    key(a, SDLK_q); // keys type, they do not act
    key(a, SDLK_SPACE);
    cr_assert(!a->quit, "Q types in the entry");
    cr_assert_eq(f.s.cursor, 1, "Space types in the entry");
    key(a, SDLK_ESCAPE);
    cr_assert(!a->typing, "Escape cancels");
    cr_assert(!a->quit, "Escape in the entry does not quit");
    cr_assert_str_eq(f.s.prompt, app_presets[0].prompt, "cancelled: the prompt is unchanged");
    cr_assert_eq(f.s.cursor, 1, "cancelled: the sequence is unchanged");
    // multi-byte text and backspace by code point
    key(a, SDLK_t);
    text(a, "caf\xc3\xa9", 0);
    key(a, SDLK_BACKSPACE);
    cr_assert_str_eq(a->typed, "caf");
    key(a, SDLK_RETURN);
    cr_assert_str_eq(f.s.prompt, "caf");
    // an empty entry is like Escape
    key(a, SDLK_t);
    key(a, SDLK_RETURN);
    cr_assert(!a->typing);
    cr_assert_str_eq(f.s.prompt, "caf");
    fx_free(&f);
}

Test(window, sampler_panel_keys) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_s);
    cr_assert(a->sampler_open);
    cr_assert_eq(a->field, 0);
    key(a, SDLK_DOWN);
    cr_assert_eq(a->field, 1, "Down selects the next field");
    key(a, SDLK_RIGHTBRACKET);
    cr_assert_eq(f.s.settings.top_k, 1, "] raises top-k");
    key(a, SDLK_UP);
    key(a, SDLK_UP);
    cr_assert_eq(a->field, SAMPLER_FIELDS - 1, "Up wraps to the seed");
    uint64_t seed = f.s.settings.seed;
    key(a, SDLK_PERIOD);
    cr_assert_eq(f.s.settings.seed, seed + 1);
    key(a, SDLK_COMMA);
    cr_assert_eq(f.s.settings.seed, seed);
    // the temperature stays in 0 .. 2
    a->field = 0;
    for (int i = 0; i < 30; i++)
        key(a, SDLK_RIGHTBRACKET);
    cr_assert_float_eq(f.s.settings.temperature, 2.0f, 1e-6);
    for (int i = 0; i < 30; i++)
        key(a, SDLK_LEFTBRACKET);
    cr_assert_float_eq(f.s.settings.temperature, 0.0f, 1e-6);
    key(a, SDLK_s);
    key(a, SDLK_DOWN); // panel closed: arrows do nothing
    cr_assert_eq(a->field, 0);
    fx_free(&f);
}

static const ToolButton *slider(AppState *a) {
    int n;
    const ToolButton *bs = toolbar_buttons(a, &n);
    for (int i = 0; i < n; i++)
        if (bs[i].speed_slider)
            return &bs[i];
    cr_assert_fail("the toolbar has no speed slider");
    return NULL;
}

Test(window, speed_slider_click) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    const ToolButton *b = slider(a);
    click(a, b->x + 1, b->y + b->h / 2);
    cr_assert_eq(app_speeds[a->speed_i], 0.25, "left end: slowest");
    b = slider(a); // its label changed, and so may its place
    click(a, b->x + b->w - 1, b->y + b->h / 2);
    cr_assert_eq(app_speeds[a->speed_i], 20, "right end: fastest");
    fx_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Hover, pin, animation, the context limit

Test(window, hover_and_pin) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    key(a, SDLK_SPACE);
    SceneLayout lay;
    scene_layout(&f.s, &a->view, a->width, a->scene_h, &lay);
    int tok = lay.last - 1;
    SceneRect r;
    cr_assert(scene_token_box(&lay, tok, &r), "token %d is on the picture", tok);
    mouse_at(a, SDL_MOUSEMOTION, r.x + r.w / 2, r.y + r.h / 2);
    cr_assert_eq(a->view.hover, tok, "hover shows token %d (got %d)", tok, a->view.hover);
    mouse_at(a, SDL_MOUSEMOTION, 5, a->scene_h + 2); // the toolbar
    cr_assert_eq(a->view.hover, -1, "no hover over the toolbar");
    click(a, r.x + r.w / 2, r.y + r.h / 2);
    cr_assert_eq(a->view.pinned, tok, "a click pins the token's row");
    click(a, r.x + r.w / 2, r.y + r.h / 2);
    cr_assert_eq(a->view.pinned, -1, "a second click unpins");
    fx_free(&f);
}

Test(window, animation_follows_speed_and_skips) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    a->now = 10;
    cr_assert_eq(app_anim_t(a), 1.0, "at rest before any step");
    key(a, SDLK_SPACE);
    cr_assert_lt(app_anim_t(a), 0.01, "a step starts its animation");
    cr_assert(app_tick(a, 10 + a->anim_len * 0.5), "animating: draw");
    double t = app_anim_t(a);
    cr_assert(t > 0.4 && t < 0.6, "half way: %g", t);
    cr_assert_eq(app_next_wake(a), 0, "animating: the next frame is due now");
    key(a, SDLK_SPACE); // faster than the animation: the next one starts, the last is done
    cr_assert_lt(app_anim_t(a), 0.01);
    app_tick(a, a->now + a->anim_len + 0.01);
    cr_assert_eq(app_anim_t(a), 1.0);
    a->dirty = false;
    cr_assert(!app_tick(a, a->now + 1), "at rest and nothing changed: no frame");
    cr_assert_lt(app_next_wake(a), 0, "idle: wait for input");
    // the animation length follows the speed
    double slow = a->anim_len;
    for (int i = 0; i < 4; i++)
        key(a, SDLK_PLUS);
    key(a, SDLK_SPACE);
    cr_assert_lt(a->anim_len, slow);
    fx_free(&f);
}

Test(window, context_limit_stops_with_a_message) {
    Fx f;
    fx_init_prompt(&f, 24, "ab");
    AppState *a = &f.a;
    key(a, SDLK_p);
    for (int i = 0; i < 200 && a->playing; i++)
        app_tick(a, a->now + 0.6);
    cr_assert(!a->playing, "playing stops at the context limit");
    cr_assert(session_at_limit(&f.s));
    cr_assert(a->at_limit);
    cr_assert_not_null(a->view.notice);
    cr_assert_not_null(strstr(a->view.notice, "Context full"), "notice: %s", a->view.notice);
    int cur = f.s.cursor;
    key(a, SDLK_SPACE); // stepping at the limit does nothing but say so
    cr_assert_eq(f.s.cursor, cur);
    cr_assert_not_null(a->view.notice);
    key(a, SDLK_LEFT);
    cr_assert_eq(f.s.cursor, cur - 1);
    cr_assert_null(a->view.notice, "back from the limit: the message goes");
    fx_free(&f);
}

// ----------------------------------------------------------------------------------------------
// The worker, drawing, and the command without a display

Test(window, steps_on_the_worker) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    worker_start(a, 0);
    cr_assert(a->async);
    key(a, SDLK_SPACE);
    key(a, SDLK_SPACE); // queued while the first runs
    key(a, SDLK_SPACE);
    for (int i = 0; i < 1000 && (a->busy || a->pending_steps); i++) {
        bool ok;
        if (a->busy && worker_poll(a, &ok))
            app_step_finished(a, ok);
        else
            SDL_Delay(1);
    }
    cr_assert_eq(f.s.cursor, 3, "three steps ran on the worker");
    key(a, SDLK_SPACE);
    key(a, SDLK_c); // a change waits for the running step
    cr_assert(!a->busy);
    cr_assert_eq(f.s.cursor, 4);
    cr_assert_eq(f.s.mode, CACHE_MODE_OFF);
    fx_free(&f);
}

// A step on three engine threads (more than this machine may have cores) keeps the UI thread
// free: while the worker computes a no-cache step of a model large enough to take a while, the
// window draws whole frames and answers keys; the step then lands with what it computed.
Test(window, answers_while_a_threaded_step_runs, .timeout = 120) {
    Fx f;
    setenv("SDL_VIDEODRIVER", "dummy", 1);
    cr_assert_eq(SDL_Init(SDL_INIT_VIDEO), 0, "%s", SDL_GetError());
    f.win = SDL_CreateWindow("kvscope", 0, 0, 1280, 720, SDL_WINDOW_RESIZABLE);
    cr_assert_not_null(f.win, "%s", SDL_GetError());
    KvError err = {0};
    ModelConfig c = tu_config(256, 700, 4, 8, 4, VOCAB, 512, false);
    cr_assert_eq(tu_session_open(&f.m, &f.t, &f.s, &c, 21, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f.s, app_presets[0].prompt, &err), KV_OK, "%s", err.msg);
    session_set_threads(&f.s, 3);
    cr_assert_eq(f.s.threads, 3);
    app_init(&f.a, &f.s, 1280, 720, 1.0);
    f.a.win = f.win;
    f.dir = tu_tmpdir();
    snprintf(f.a.export_dir, sizeof f.a.export_dir, "%s/exports", f.dir);
    AppState *a = &f.a;
    worker_start(a, 0);
    cr_assert(a->async);
    key(a, SDLK_c); // cache off: every step recomputes the whole sequence
    cr_assert_eq(f.s.mode, CACHE_MODE_OFF);
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
    int frames_while_busy = 0, steps = 0;
    for (; steps < 40 && frames_while_busy < 3; steps++) {
        key(a, SDLK_SPACE);
        while (a->busy) {
            cairo_t *cr = cairo_create(surf);
            app_draw(a, cr); // the UI thread's frame, the step running meanwhile
            cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
            cairo_destroy(cr);
            bool ok;
            if (worker_poll(a, &ok)) {
                app_step_finished(a, ok);
                break;
            }
            frames_while_busy++; // a whole frame drawn and the step still running
            key(a, SDLK_d);      // and a key answered (the theme)
        }
    }
    cairo_surface_destroy(surf);
    cr_assert_geq(frames_while_busy, 3, "%d frames drawn during %d threaded steps",
                  frames_while_busy, steps);
    cr_assert_eq(f.s.cursor, steps, "every step landed");
    fx_free(&f);
}

Test(window, draws_scene_and_toolbar) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    for (int theme = 0; theme < 2; theme++) {
        a->view.theme = (ThemeKind)theme;
        for (int open = 0; open < 2; open++) {
            if (open != a->sampler_open)
                key(a, SDLK_s);
            cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
            cairo_t *cr = cairo_create(surf);
            app_draw(a, cr);
            cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
            cairo_destroy(cr);
            cairo_surface_flush(surf);
            // the toolbar strip is not one flat colour: its buttons are drawn
            unsigned char *px = cairo_image_surface_get_data(surf);
            int stride = cairo_image_surface_get_stride(surf);
            uint32_t first = *(uint32_t *)(px + (size_t)(a->scene_h + 5) * stride);
            int differ = 0;
            for (int y = a->scene_h + 1; y < 720; y++)
                for (int x = 0; x < 1280; x++)
                    differ += *(uint32_t *)(px + (size_t)y * stride + 4 * x) != first;
            cr_assert_gt(differ, 1000, "toolbar drawn (theme %d, panel %d)", theme, open);
            cairo_surface_destroy(surf);
        }
    }
    fx_free(&f);
}

Test(window, no_display_suggests_render, .timeout = 30) {
    const char *bin = tu_kvscope_bin();
    if (!bin)
        cr_skip_test("KVSCOPE_BIN is not set");
    unsetenv("DISPLAY");
    unsetenv("WAYLAND_DISPLAY");
    unsetenv("SDL_VIDEODRIVER");
    char *argv[] = {(char *)bin, NULL};
    TuRun r;
    cr_assert(tu_run(argv, 20, &r));
    cr_assert_eq(r.status, 2, "exit status %d, stderr: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "kvscope: window: no display available"), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "kvscope render"), "%s", r.err);
    tu_run_free(&r);
    char *argv2[] = {(char *)bin, "run", "--size", "12", NULL};
    cr_assert(tu_run(argv2, 20, &r));
    cr_assert_eq(r.status, 2, "a bad --size is bad usage: %s", r.err);
    cr_assert_not_null(strstr(r.err, "kvscope: --size"), "%s", r.err);
    tu_run_free(&r);
}

// ----------------------------------------------------------------------------------------------
// A lesson playing in the window: the presenter's keys move between beats, exactly

static const char lesson_text[] = "title Window test\n"
                                  "prompt Once upon a time\n"
                                  "caption The prompt\n"
                                  "text Nothing generated yet.\n"
                                  "beat\n"
                                  "step 3\n"
                                  "caption Three steps\n"
                                  "text {steps} steps, {tokens} tokens.\n"
                                  "beat\n"
                                  "cache off\n"
                                  "step 2\n"
                                  "view heatmap\n"
                                  "caption Cache off\n"
                                  "text Every step recomputes.\n"
                                  "beat\n"
                                  "temperature 1\n"
                                  "seed 5\n"
                                  "step 4\n"
                                  "caption Sampled\n"
                                  "text Drawn from the candidates.\n"
                                  "beat\n";
#define LESSON_BEATS 4

static void lesson_init(Fx *f, Lesson *l, LessonPlayer *p) {
    static const Preset none[] = {{NULL, NULL}};
    KvError err = {0};
    cr_assert_eq(lesson_parse(l, "test.lesson", lesson_text, strlen(lesson_text), none, &err),
                 KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_check(l, &f->m, &f->t, &err), KV_OK, "%s", err.msg);
    lesson_player_init(p, l, &f->s);
}

typedef struct {
    int tokens[64];
    int n;
} Toks;

static Toks toks_of(const Session *s) {
    Toks t = {.n = s->n_tokens};
    cr_assert_leq(t.n, 64);
    memcpy(t.tokens, s->tokens, sizeof(int) * (size_t)t.n);
    return t;
}

static void assert_same(const Toks *a, const Session *s, int beat) {
    cr_assert_eq(s->n_tokens, a->n, "beat %d: %d tokens, %d before", beat + 1, s->n_tokens, a->n);
    cr_assert_eq(memcmp(a->tokens, s->tokens, sizeof(int) * (size_t)a->n), 0,
                 "beat %d: other tokens than before", beat + 1);
}

static void assert_beat(AppState *a, int k, const char *caption) {
    cr_assert_eq(a->lesson->beat, k, "at beat %d, expected %d", a->lesson->beat + 1, k + 1);
    cr_assert_not_null(a->view.caption_title);
    cr_assert_str_eq(a->view.caption_title, caption);
    cr_assert_str_eq(a->view.caption_title, a->lesson->title);
    char want[32];
    snprintf(want, sizeof want, "beat %d / %d", k + 1, LESSON_BEATS);
    bool shown = false;
    int n;
    const ToolButton *bs = toolbar_buttons(a, &n);
    for (int i = 0; i < n; i++)
        shown |= strcmp(bs[i].label, want) == 0;
    cr_assert(shown, "the toolbar shows '%s'", want);
}

static const char *const captions[LESSON_BEATS] = {"The prompt", "Three steps", "Cache off",
                                                   "Sampled"};

Test(window, lesson_beats_forward_back_and_first) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    Lesson l;
    LessonPlayer p;
    lesson_init(&f, &l, &p);
    cr_assert(app_play_lesson(a, &p));
    assert_beat(a, 0, captions[0]);
    cr_assert_eq(f.s.cursor, 0);
    cr_assert_null(toolbar_find(a, ACT_PRESET1), "presets leave the toolbar during a lesson");

    // forward: Right, Space, Right; each beat's state recorded
    Toks seen[LESSON_BEATS];
    seen[0] = toks_of(&f.s);
    SDL_Keycode fwd[] = {SDLK_RIGHT, SDLK_SPACE, SDLK_RIGHT};
    for (int k = 1; k < LESSON_BEATS; k++) {
        key(a, fwd[k - 1]);
        assert_beat(a, k, captions[k]);
        seen[k] = toks_of(&f.s);
    }
    cr_assert_eq(f.s.cursor, 9, "3 + 2 + 4 steps");
    cr_assert(app_anim_t(a) < 1.0, "the beat's last step animates");
    cr_assert_eq(a->view.kind, VIEW_HEATMAP);
    cr_assert_eq(f.s.mode, CACHE_MODE_OFF);
    cr_assert_str_eq(a->view.caption_text, "Drawn from the candidates.");
    key(a, SDLK_RIGHT); // past the last beat: stays
    assert_beat(a, LESSON_BEATS - 1, captions[LESSON_BEATS - 1]);
    assert_same(&seen[LESSON_BEATS - 1], &f.s, LESSON_BEATS - 1);

    // back, exactly: the same tokens as on the way forward
    SDL_Keycode back[] = {SDLK_LEFT, SDLK_BACKSPACE, SDLK_LEFT};
    for (int k = LESSON_BEATS - 2; k >= 0; k--) {
        key(a, back[k]);
        assert_beat(a, k, captions[k]);
        assert_same(&seen[k], &f.s, k);
        cr_assert(app_anim_t(a) >= 1.0, "going back shows the beat at rest");
    }
    cr_assert_eq(f.s.mode, CACHE_MODE_ON);
    cr_assert_eq(a->view.kind, VIEW_SEQUENCE);
    cr_assert_str_eq(a->view.caption_text, "Nothing generated yet.");
    key(a, SDLK_LEFT); // before the first: stays
    assert_beat(a, 0, captions[0]);

    // the toolbar's beat buttons do the same as the keys
    press_button(a, ACT_BEAT_NEXT);
    press_button(a, ACT_BEAT_NEXT);
    assert_beat(a, 2, captions[2]);
    assert_same(&seen[2], &f.s, 2);
    press_button(a, ACT_BEAT_PREV);
    assert_beat(a, 1, captions[1]);
    char expect[80];
    snprintf(expect, sizeof expect, "3 steps, %d tokens.", seen[1].n);
    cr_assert_str_eq(a->view.caption_text, expect, "placeholders filled in from the session");

    // R: the first beat
    key(a, SDLK_r);
    assert_beat(a, 0, captions[0]);
    assert_same(&seen[0], &f.s, 0);

    // the presenter steps and toggles the cache in between: the next beat is still the lesson's
    key(a, SDLK_RIGHT);
    press_button(a, ACT_STEP);
    press_button(a, ACT_STEP);
    key(a, SDLK_c);
    key(a, SDLK_t); // a prompt of their own
    text(a, "Something else", 0);
    key(a, SDLK_RETURN);
    cr_assert_eq(f.s.cursor, 0);
    key(a, SDLK_SPACE);
    assert_beat(a, 2, captions[2]);
    assert_same(&seen[2], &f.s, 2);
    cr_assert_eq(f.s.mode, CACHE_MODE_OFF);

    // the picture: caption drawn by the scene, toolbar below
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
    cairo_t *cr = cairo_create(surf);
    app_draw(a, cr);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);

    // no lesson: the keys step again, and the caption is gone
    app_play_lesson(a, NULL);
    cr_assert_null(a->view.caption_title);
    int cursor = f.s.cursor;
    key(a, SDLK_RIGHT);
    cr_assert_eq(f.s.cursor, cursor + 1);
    cr_assert_not_null(toolbar_find(a, ACT_PRESET1));
    fx_free(&f);
    lesson_free(&l);
}

Test(window, lesson_chosen_in_the_app) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    char *dir = tu_tmpdir();
    char *one = tu_join(dir, "01-first.lesson"), *two = tu_join(dir, "02-second.lesson");
    char *bad = tu_join(dir, "03-bad.lesson"), *other = tu_join(dir, "README.md");
    cr_assert(tu_write_file(one, lesson_text, strlen(lesson_text)));
    const char second[] = "prompt Two\ncaption Second lesson\nbeat\nstep 1\ncaption Next\nbeat\n";
    cr_assert(tu_write_file(two, second, strlen(second)));
    const char broken[] = "caption A beat without an end\nfrobnicate\n";
    cr_assert(tu_write_file(bad, broken, strlen(broken)));
    cr_assert(tu_write_file(other, "x", 1));
    snprintf(a->lesson_dir, sizeof a->lesson_dir, "%s", dir);

    press_button(a, ACT_LESSON); // the first lesson, at its first beat
    cr_assert_not_null(a->lesson);
    cr_assert_str_eq(a->lesson_file, "01-first.lesson");
    assert_beat(a, 0, captions[0]);
    key(a, SDLK_SPACE);
    assert_beat(a, 1, captions[1]);

    key(a, SDLK_g); // the next one
    cr_assert_not_null(a->lesson);
    cr_assert_str_eq(a->lesson_file, "02-second.lesson");
    cr_assert_eq(a->lesson->beat, 0);
    cr_assert_str_eq(a->view.caption_title, "Second lesson");
    key(a, SDLK_RIGHT);
    cr_assert_eq(a->lesson->beat, 1);
    cr_assert_eq(f.s.cursor, 1);

    key(a, SDLK_g); // the broken one is skipped with its error; then no lesson
    cr_assert_null(a->lesson);
    cr_assert_null(a->view.caption_title);
    cr_assert_str_eq(a->lesson_file, "");
    key(a, SDLK_g); // and round again
    cr_assert_str_eq(a->lesson_file, "01-first.lesson");

    fx_free(&f); // frees the lesson the window opened
    tu_rmtree(dir);
    free(one), free(two), free(bad), free(other);
}

// Each beat of a lesson may set the theme; once the presenter picks one (D, or --theme), it
// holds on every beat until they pick again.
Test(window, presenter_theme_holds_over_lesson_beats) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    static const Preset none[] = {{NULL, NULL}};
    const char text[] = "prompt Once upon a time\ncaption Dark\nbeat\n"
                        "theme light\ncaption Light\nbeat\n";
    Lesson l;
    LessonPlayer p;
    KvError err = {0};
    cr_assert_eq(lesson_parse(&l, "theme.lesson", text, strlen(text), none, &err), KV_OK, "%s",
                 err.msg);
    cr_assert_eq(lesson_check(&l, &f.m, &f.t, &err), KV_OK, "%s", err.msg);
    lesson_player_init(&p, &l, &f.s);
    cr_assert(app_play_lesson(a, &p));
    cr_assert_eq(a->theme_forced, -1);
    cr_assert_eq(a->view.theme, THEME_DARK);
    key(a, SDLK_RIGHT);
    cr_assert_eq(a->view.theme, THEME_LIGHT, "the beat's own theme");
    key(a, SDLK_LEFT);
    cr_assert_eq(a->view.theme, THEME_DARK);

    press_key(a, ACT_THEME); // the presenter's choice: light, on both beats
    cr_assert_eq(a->view.theme, THEME_LIGHT);
    key(a, SDLK_RIGHT);
    cr_assert_eq(a->view.theme, THEME_LIGHT);
    press_key(a, ACT_THEME); // dark, even where the beat says light
    key(a, SDLK_LEFT);
    key(a, SDLK_RIGHT);
    cr_assert_eq(a->lesson->beat, 1);
    cr_assert_eq(a->view.theme, THEME_DARK, "the beat overrode the presenter's theme");

    app_play_lesson(a, NULL);
    lesson_free(&l);
    fx_free(&f);
}

// ----------------------------------------------------------------------------------------------
// The action table: every test below walks app_actions, so a new row is tested without a line
// here.

// Puts the window into the state a row asks for (a lesson playing or not, the sampler panel
// open or not, the prompt entry open or not).
static void enter_state_of(AppState *a, const ActionRow *r, LessonPlayer *p) {
    if (a->typing)
        app_stop_typing(a);
    bool lesson = (r->when & ACT_WHEN_LESSON) != 0;
    if (lesson != (a->lesson != NULL))
        cr_assert(app_play_lesson(a, lesson ? p : NULL));
    a->sampler_open = (r->when & ACT_WHEN_SAMPLER) != 0;
    app_geometry(a);
    if (r->when & ACT_WHEN_TYPING)
        app_start_typing(a);
    a->quit = false;
}

static const char *ran_name(const AppState *a) {
    return a->last_run ? a->last_run->name : "nothing";
}

// The button of a row, or NULL when it is not on the toolbar now.
static const ToolButton *row_button(AppState *a, const ActionRow *r) {
    int n;
    const ToolButton *bs = toolbar_buttons(a, &n);
    for (int i = 0; i < n; i++)
        if (bs[i].row == r && !bs[i].readout)
            return &bs[i];
    return NULL;
}

static void press_row(AppState *a, const ActionRow *r) {
    const ToolButton *b = row_button(a, r);
    cr_assert_not_null(b, "no toolbar button for %s", r->name);
    double x = b->x + b->w / 2, y = b->y + b->h / 2;
    cr_assert_eq(toolbar_hit(a, x, y), b, "button %s is not hit at its centre", r->name);
    click(a, x, y);
}

static void wheel(AppState *a, int y, bool ctrl) {
    SDL_SetModState(ctrl ? KMOD_LCTRL : KMOD_NONE);
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = SDL_MOUSEWHEEL;
    e.wheel.y = y;
    app_handle_event(a, &e);
    SDL_SetModState(KMOD_NONE);
}

// The pointer dragged by (dx, dy) with the left button held, at (x, y) in the scene.
static void drag(AppState *a, double x, double y, int dx, int dy) {
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = SDL_MOUSEMOTION;
    e.motion.timestamp = ++clock_ms;
    e.motion.state = SDL_BUTTON_LMASK;
    e.motion.x = (int)x, e.motion.y = (int)y;
    e.motion.xrel = dx, e.motion.yrel = dy;
    app_handle_event(a, &e);
}

Test(window, table_every_key_and_gesture_reaches_its_handler) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    Lesson l;
    LessonPlayer p;
    lesson_init(&f, &l, &p);
    char *empty = tu_tmpdir(); // G finds no lesson here: it says so
    snprintf(a->lesson_dir, sizeof a->lesson_dir, "%s", empty);
    key(a, SDLK_SPACE); // a step, so that there are tokens to pin and scroll
    int tested = 0;
    for (int i = 0; i < app_n_actions; i++) {
        const ActionRow *r = &app_actions[i];
        cr_assert(r->keys[0].sym || r->gesture || r->bar > 0,
                  "row %s has no key, no gesture and no toolbar place: nobody can run it", r->name);
        cr_assert_not_null(r->run, "row %s has no handler", r->name);
        if (r->act != ACT_NONE)
            cr_assert_eq(app_action(r->act), r, "row %s: one row per action", r->name);
        for (int k = 0; k < ACTION_KEYS && r->keys[k].sym; k++) {
            enter_state_of(a, r, &p);
            long before = a->n_run;
            key_mod(a, r->keys[k].sym, r->keys[k].mod);
            cr_assert_eq(a->last_run, r, "key %s (%d) ran %s, not %s",
                         SDL_GetKeyName(r->keys[k].sym), k, ran_name(a), r->name);
            cr_assert_eq(a->n_run, before + 1, "key %s ran %ld handlers",
                         SDL_GetKeyName(r->keys[k].sym), a->n_run - before);
            tested++;
        }
        if (r->gesture) {
            enter_state_of(a, r, &p);
            long before = a->n_run;
            if (r->gesture == GESTURE_CLICK)
                click(a, 200, a->scene_h / 2.0);
            else if (r->gesture == GESTURE_DRAG)
                drag(a, 200, a->scene_h / 2.0, 5, 0);
            else
                wheel(a, 1, r->gesture == GESTURE_CTRL_WHEEL);
            cr_assert_eq(a->last_run, r, "gesture %d ran %s, not %s", r->gesture, ran_name(a),
                         r->name);
            cr_assert_eq(a->n_run, before + 1);
            tested++;
        }
    }
    cr_assert_gt(tested, 40, "only %d keys and gestures in the table", tested);
    app_play_lesson(a, NULL);
    fx_free(&f);
    lesson_free(&l);
    tu_rmtree(empty);
}

// A key belongs to one row in each state: no two rows that can run in the same state share one.
Test(window, table_no_key_runs_two_rows) {
    for (int i = 0; i < app_n_actions; i++) {
        for (int j = i + 1; j < app_n_actions; j++) {
            const ActionRow *r = &app_actions[i], *q = &app_actions[j];
            unsigned state = ACT_WHEN_LESSON | ACT_WHEN_SAMPLER | ACT_WHEN_TYPING;
            if ((r->when & state) != (q->when & state)) // the state-bound row goes first
                continue;
            for (int x = 0; x < ACTION_KEYS && r->keys[x].sym; x++)
                for (int y = 0; y < ACTION_KEYS && q->keys[y].sym; y++)
                    cr_assert(r->keys[x].sym != q->keys[y].sym || r->keys[x].mod != q->keys[y].mod,
                              "%s and %s share the key %s", r->name, q->name,
                              SDL_GetKeyName(r->keys[x].sym));
        }
    }
}

// The rows that should be on the toolbar in the window's state, in their order.
static int rows_on_toolbar(const AppState *a, const ActionRow **out) {
    int n = 0;
    if (a->typing)
        return 0;
    for (int place = 1; place < 1000; place++)
        for (int i = 0; i < app_n_actions; i++) {
            const ActionRow *r = &app_actions[i];
            if (r->bar == place && app_action_allowed(a, r) &&
                !((r->when & ACT_WHEN_BAR_NO_LESSON) && a->lesson))
                out[n++] = r;
        }
    return n;
}

static void check_toolbar_is_table(AppState *a, const char *state) {
    const ActionRow *want[TOOLBAR_MAX];
    int n_want = rows_on_toolbar(a, want);
    int n;
    const ToolButton *bs = toolbar_buttons(a, &n);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (bs[i].readout) { // a readout: of the row whose button follows it
            cr_assert(i + 1 < n && bs[i + 1].row == bs[i].row && bs[i].row->readout,
                      "%s: readout '%s' is not a row's", state, bs[i].label);
            continue;
        }
        cr_assert_lt(k, n_want, "%s: button %s is not a row with a toolbar place", state,
                     bs[i].row->name);
        cr_assert_eq(bs[i].row, want[k], "%s: button %d is %s, the table says %s", state, k,
                     bs[i].row->name, want[k]->name);
        cr_assert_eq(bs[i].action, want[k]->act);
        if (want[k]->label)
            cr_assert_str_eq(bs[i].label, want[k]->label, "%s: label of %s", state, want[k]->name);
        k++;
    }
    cr_assert_eq(k, n_want, "%s: %d buttons, the table has %d rows for the toolbar", state, k,
                 n_want);
    // each button runs its row
    for (int i = 0; i < n_want; i++) {
        if (want[i]->act == ACT_QUIT || want[i]->act == ACT_LESSON || want[i]->act == ACT_EXPORT ||
            want[i]->act == ACT_PROMPT || want[i]->act == ACT_SAMPLER ||
            want[i]->act == ACT_BEAT_NEXT || want[i]->act == ACT_BEAT_PREV)
            continue; // they leave the state under test (checked in exercise() and the lessons)
        long before = a->n_run;
        press_row(a, want[i]);
        cr_assert_eq(a->last_run, want[i], "%s: button %s ran %s", state, want[i]->name,
                     ran_name(a));
        cr_assert_eq(a->n_run, before + 1);
    }
}

Test(window, table_toolbar_buttons_are_the_rows_with_places) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    Lesson l;
    LessonPlayer p;
    lesson_init(&f, &l, &p);
    check_toolbar_is_table(a, "window");
    key(a, SDLK_s);
    check_toolbar_is_table(a, "window, sampler panel");
    cr_assert_not_null(toolbar_find(a, ACT_TEMP_UP));
    cr_assert(app_play_lesson(a, &p));
    check_toolbar_is_table(a, "lesson, sampler panel");
    key(a, SDLK_s);
    check_toolbar_is_table(a, "lesson");
    cr_assert_null(toolbar_find(a, ACT_BACK), "Back gives way to the beats");
    cr_assert_not_null(toolbar_find(a, ACT_BEAT_PREV));
    key(a, SDLK_t);
    int n;
    toolbar_buttons(a, &n);
    cr_assert_eq(n, 0, "typing: the strip is the entry");
    app_play_lesson(a, NULL);
    fx_free(&f);
    lesson_free(&l);
}

// The text a tooltip shows: the row's tip (or help) and the keys the help lists for it.
static void expect_tip(const ToolButton *b, char *buf, size_t cap) {
    char keys[64];
    app_action_keys_text(b->row, keys, sizeof keys);
    snprintf(buf, cap, "%s%s%s", b->row->tip ? b->row->tip : b->row->help, keys[0] ? "   " : "",
             keys);
}

Test(window, table_tooltips_come_from_the_table) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    a->now = 100;
    int n, shown = 0;
    const ToolButton *bs = toolbar_buttons(a, &n);
    for (int i = 0; i < n; i++) {
        if (bs[i].readout)
            continue;
        const ToolButton *b = &bs[i];
        const ActionRow *row = b->row;
        mouse_at(a, SDL_MOUSEMOTION, b->x + b->w / 2, b->y + b->h / 2);
        cr_assert_null(toolbar_tip(a), "%s: no tooltip before the pointer rests", b->row->name);
        a->dirty = false; // as if the frame was drawn
        double wake = app_next_wake(a);
        cr_assert(wake > 0 && wake <= APP_TIP_DELAY + 1e-9, "%s: wakes for the tooltip (%g)",
                  b->row->name, wake);
        cr_assert(app_tick(a, a->now + APP_TIP_DELAY + 0.01), "the tooltip needs a frame");
        const ToolButton *t = toolbar_tip(a);
        bs = toolbar_buttons(a, &n);
        cr_assert_not_null(t, "%s: a tooltip after resting", row->name);
        cr_assert_eq(t->row, row);
        char want[256], got[256];
        expect_tip(t, want, sizeof want);
        toolbar_tip_text(a, got, sizeof got);
        cr_assert_str_eq(got, want, "tooltip of %s", t->row->name);
        cr_assert_not_null(strstr(got, t->row->tip ? t->row->tip : t->row->help));
        shown++;
    }
    cr_assert_gt(shown, 15);

    // drawn above the strip, and only there: the scene's pixels elsewhere are the same
    const ToolButton *cache = toolbar_find(a, ACT_CACHE);
    mouse_at(a, SDL_MOUSEMOTION, cache->x + 2, cache->y + 2);
    app_tick(a, a->now + APP_TIP_DELAY + 0.01);
    cr_assert_not_null(toolbar_tip(a));
    cairo_surface_t *with = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
    cairo_surface_t *without = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
    cairo_t *cr = cairo_create(with);
    app_draw(a, cr);
    cairo_destroy(cr);
    // a click hides it
    press_button(a, ACT_CACHE);
    press_button(a, ACT_CACHE);
    app_tick(a, a->now + 5);
    cr_assert_null(toolbar_tip(a), "a click hides the tooltip");
    cr = cairo_create(without);
    app_draw(a, cr);
    cairo_destroy(cr);
    cairo_surface_flush(with);
    cairo_surface_flush(without);
    long differ = 0, far = 0;
    for (int y = 0; y < a->scene_h; y++)
        for (int x = 0; x < 1280; x++) {
            const unsigned char *pw = cairo_image_surface_get_data(with),
                                *po = cairo_image_surface_get_data(without);
            size_t o = (size_t)y * cairo_image_surface_get_stride(with) + 4 * (size_t)x;
            bool d = *(const uint32_t *)(pw + o) != *(const uint32_t *)(po + o);
            differ += d;
            far += d && (y < a->scene_h - 60);
        }
    cairo_surface_destroy(with);
    cairo_surface_destroy(without);
    cr_assert_gt(differ, 200, "the tooltip is drawn (%ld pixels)", differ);
    cr_assert_eq(far, 0, "the tooltip stays just above the strip");

    // leaving the button hides it, and so does leaving the window
    mouse_at(a, SDL_MOUSEMOTION, cache->x + 2, cache->y + 2);
    mouse_at(a, SDL_MOUSEMOTION, 5, 5);
    app_tick(a, a->now + 5);
    cr_assert_null(toolbar_tip(a));
    cache = toolbar_find(a, ACT_CACHE);
    mouse_at(a, SDL_MOUSEMOTION, cache->x + 2, cache->y + 2);
    app_tick(a, a->now + 5);
    cr_assert_not_null(toolbar_tip(a));
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = SDL_WINDOWEVENT;
    e.window.event = SDL_WINDOWEVENT_LEAVE;
    cr_assert(app_handle_event(a, &e), "the tooltip goes: a frame");
    app_tick(a, a->now + 5);
    cr_assert_null(toolbar_tip(a), "the pointer left the window");
    fx_free(&f);
}

Test(window, help_overlay_lines_come_from_the_table) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    cr_assert_eq(a->view.help_rows, a->help_rows);
    cr_assert_gt(a->view.n_help_rows, 15);
    // every row with a help text is on a line with that text, and the line lists its keys
    for (int i = 0; i < app_n_actions; i++) {
        const ActionRow *r = &app_actions[i];
        if (!r->help)
            continue;
        char keys[64];
        app_action_keys_text(r, keys, sizeof keys);
        bool found = false;
        for (int k = 0; k < a->view.n_help_rows; k++)
            found |= strcmp(a->view.help_rows[k].text, r->help) == 0 &&
                     strstr(a->view.help_rows[k].keys, keys) != NULL;
        cr_assert(found, "help has no line '%s' with keys '%s'", r->help, keys);
    }
    bool quit_q = false, esc = false;
    for (int k = 0; k < a->view.n_help_rows; k++) {
        const ViewHelpRow *h = &a->view.help_rows[k];
        quit_q |= strcmp(h->text, "quit") == 0 && strcmp(h->keys, "Q") == 0;
        esc |= strcmp(h->keys, "Esc") == 0 && strstr(h->text, "quit") == NULL;
        if (strcmp(h->text, "presets") == 0)
            cr_assert_str_eq(h->keys, "1  2  3", "rows with one text share a line");
    }
    cr_assert(quit_q, "Q quits, alone");
    cr_assert(esc, "Esc has its own line, and it is not quit");
    // the overlay draws those lines: with no lines it is only a frame
    cairo_surface_t *full = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
    cairo_surface_t *none = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
    a->view.help = true;
    cairo_t *cr = cairo_create(full);
    scene_draw(cr, &f.s, &a->view, 1280, a->scene_h, 1.0);
    cairo_destroy(cr);
    View v = a->view;
    v.n_help_rows = 0;
    cr = cairo_create(none);
    scene_draw(cr, &f.s, &v, 1280, a->scene_h, 1.0);
    cairo_destroy(cr);
    cr_assert_neq(memcmp(cairo_image_surface_get_data(full), cairo_image_surface_get_data(none),
                         (size_t)cairo_image_surface_get_stride(full) * 720),
                  0, "the help lines are drawn");
    cairo_surface_destroy(full);
    cairo_surface_destroy(none);
    fx_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Esc backs out of one thing at a time and never quits

Test(window, escape_in_each_state) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);

    // nothing to back out of: nothing happens
    int cursor = f.s.cursor;
    key(a, SDLK_ESCAPE);
    cr_assert(!a->quit, "Esc never quits");
    cr_assert_eq(a->last_run, app_action(ACT_ESCAPE));
    cr_assert_eq(f.s.cursor, cursor);
    cr_assert(!a->fullscreen && !a->typing && !a->view.help);

    // each alone
    key(a, SDLK_F1);
    cr_assert(a->view.help);
    key(a, SDLK_ESCAPE);
    cr_assert(!a->view.help, "Esc closes the help");
    key(a, SDLK_t);
    text(a, "Once", 0);
    key(a, SDLK_ESCAPE);
    cr_assert(!a->typing, "Esc cancels the entry");
    cr_assert_str_eq(f.s.prompt, app_presets[0].prompt);
    key(a, SDLK_f);
    cr_assert(a->fullscreen);
    key(a, SDLK_ESCAPE);
    cr_assert(!a->fullscreen, "Esc leaves fullscreen");
    cr_assert(!a->quit);

    // all three: the overlay first, then the entry, then fullscreen
    key(a, SDLK_f);
    key(a, SDLK_F1);
    key(a, SDLK_t);
    cr_assert(a->fullscreen && a->view.help && a->typing);
    key(a, SDLK_ESCAPE);
    cr_assert(!a->view.help && a->typing && a->fullscreen, "first the overlay");
    key(a, SDLK_ESCAPE);
    cr_assert(!a->typing && a->fullscreen, "then the entry");
    key(a, SDLK_ESCAPE);
    cr_assert(!a->fullscreen, "then fullscreen");
    key(a, SDLK_ESCAPE);
    cr_assert(!a->quit, "and never quits");
    cr_assert_eq(f.s.cursor, cursor, "Esc never touches the session");

    // Q quits
    key(a, SDLK_q);
    cr_assert(a->quit);
    fx_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Where rows may run: refused outside their state; while a step runs, rows that touch the
// session wait for it and the others run at once

Test(window, table_rows_refused_where_they_may_not_run) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    Lesson l;
    LessonPlayer p;
    lesson_init(&f, &l, &p);
    int refused = 0;
    for (int i = 0; i < app_n_actions; i++) {
        const ActionRow *r = &app_actions[i];
        for (int state = 0; state < 4; state++) { // none, lesson, panel, typing
            if (a->typing)
                app_stop_typing(a);
            app_play_lesson(a, state == 1 ? &p : NULL);
            a->sampler_open = state == 2;
            app_geometry(a);
            if (state == 3)
                app_start_typing(a);
            bool may = (!(r->when & ACT_WHEN_LESSON) || state == 1) &&
                       (!(r->when & ACT_WHEN_NO_LESSON) || state != 1) &&
                       (!(r->when & ACT_WHEN_SAMPLER) || state == 2) &&
                       (state == 3 ? (r->when & (ACT_WHEN_TYPING | ACT_WHEN_TYPING_TOO)) != 0
                                   : !(r->when & ACT_WHEN_TYPING));
            cr_assert_eq(app_action_allowed(a, r), may, "%s in state %d", r->name, state);
            if (may)
                continue;
            const ActionRow *last = a->last_run;
            long before = a->n_run;
            int cursor = f.s.cursor;
            cr_assert(!app_run_row(a, r), "%s runs in state %d", r->name, state);
            for (int k = 0; k < ACTION_KEYS && r->keys[k].sym; k++) { // nor by its keys
                key_mod(a, r->keys[k].sym, r->keys[k].mod);
                cr_assert_neq(a->last_run, r, "%s's key runs it in state %d", r->name, state);
            }
            if (!r->keys[0].sym) {
                cr_assert_eq(a->n_run, before, "%s ran in state %d", r->name, state);
                cr_assert_eq(a->last_run, last);
                cr_assert_eq(f.s.cursor, cursor);
            }
            cr_assert_null(row_button(a, r), "%s is on the toolbar in state %d", r->name, state);
            refused++;
        }
    }
    cr_assert_gt(refused, 20);
    if (a->typing)
        app_stop_typing(a);
    app_play_lesson(a, NULL);
    fx_free(&f);
    lesson_free(&l);
}

Test(window, table_rows_that_touch_the_session_wait_for_a_running_step) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    Lesson l;
    LessonPlayer p;
    lesson_init(&f, &l, &p);
    char *empty = tu_tmpdir();
    snprintf(a->lesson_dir, sizeof a->lesson_dir, "%s", empty);
    worker_start(a, 0);
    cr_assert(a->async);
    int waited = 0, ran = 0;
    for (int i = 0; i < app_n_actions; i++) {
        const ActionRow *r = &app_actions[i];
        if (r->act == ACT_SPEED || r->act == ACT_PIN || r->act == ACT_QUIT)
            continue; // they need the pointer on their button or the scene; quit ends the loop
        if (a->typing)
            app_stop_typing(a);
        app_play_lesson(a, (r->when & ACT_WHEN_LESSON) ? &p : NULL);
        a->sampler_open = (r->when & ACT_WHEN_SAMPLER) != 0;
        app_geometry(a);
        if (r->when & ACT_WHEN_TYPING)
            app_start_typing(a);
        if (session_at_limit(&f.s))
            key(a, SDLK_r);
        app_request_step(a); // a step on the worker: the session is not the UI's meanwhile
        cr_assert(a->busy);
        int cursor = f.s.cursor;
        cr_assert(app_run_row(a, r), "%s refused", r->name);
        if (r->when & ACT_WHEN_WAITS) {
            cr_assert(!a->busy, "%s ran beside a running step", r->name);
            waited++;
        } else {
            cr_assert(a->busy, "%s waited for the step though its row says it need not", r->name);
            cr_assert_eq(f.s.cursor, cursor, "%s: the UI did not touch the session", r->name);
            ran++;
        }
        app_quiesce(a);
    }
    cr_assert_gt(waited, 10);
    cr_assert_gt(ran, 10);
    if (a->typing)
        app_stop_typing(a);
    app_play_lesson(a, NULL);
    fx_free(&f);
    lesson_free(&l);
    tu_rmtree(empty);
}

// ----------------------------------------------------------------------------------------------
// The toolbar is laid out once per frame at most, and not at all when nothing it shows changed

static void frame(AppState *a) {
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
    cairo_t *cr = cairo_create(surf);
    app_draw(a, cr);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
}

Test(window, toolbar_laid_out_once_per_frame) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    frame(a);
    long n0 = a->n_layouts;
    frame(a);
    cr_assert_eq(a->n_layouts, n0, "nothing changed: not laid out again");
    // six events between two frames, each changing a label: one layout, when the frame is drawn
    key(a, SDLK_l);
    key(a, SDLK_h);
    key(a, SDLK_v);
    key(a, SDLK_d);
    key(a, SDLK_c);
    key(a, SDLK_PLUS);
    frame(a);
    cr_assert_eq(a->n_layouts, n0 + 1, "six changes, one frame: %ld layouts", a->n_layouts - n0);
    for (int i = 0; i < 20; i++)
        mouse_at(a, SDL_MOUSEMOTION, 10 + 50 * i, a->scene_h + 10);
    frame(a);
    cr_assert_eq(a->n_layouts, n0 + 1, "the pointer moving over the toolbar does not lay it out");
    key(a, SDLK_p); // Play -> Pause: one layout for two frames
    frame(a);
    frame(a);
    cr_assert_eq(a->n_layouts, n0 + 2);
    app_resize(a, 1000, 600, 1.0);
    frame(a);
    cr_assert_eq(a->n_layouts, n0 + 3, "a new size: laid out again");
    fx_free(&f);
}

// The value the window's picture shows beside the counters' row `label` (the text drawn right
// after it), or "" when the row is not on the picture.
typedef struct {
    const char *label;
    bool next;
    char value[96];
} RowValue;

static void on_row_text(void *ctx, const SceneText *t) {
    RowValue *rv = ctx;
    if (rv->next) {
        snprintf(rv->value, sizeof rv->value, "%s", t->utf8);
        rv->next = false;
    }
    if (strcmp(t->utf8, rv->label) == 0)
        rv->next = true;
}

static void row_value(AppState *a, const char *label, char *out, size_t cap) {
    RowValue rv = {.label = label};
    SceneTextSink sink = {on_row_text, &rv};
    View v = a->view;
    v.text_sink = &sink;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, a->width, a->scene_h);
    cairo_t *cr = cairo_create(img);
    scene_draw(cr, a->s, &v, a->width, a->scene_h, 1.0);
    cairo_destroy(cr);
    cairo_surface_destroy(img);
    snprintf(out, cap, "%s", rv.value);
}

// M measures: from the next step on the counters show a real logit difference between the
// cache and no cache (not "not measured"), in both layouts; M again stops. O switches the
// picture's layout.
Test(window, measure_key_and_layout_key) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    cr_assert_lt(session_last(&f.s)->max_logit_diff, 0, "not measured without M");
    key(a, SDLK_m);
    cr_assert(f.s.verify);
    key(a, SDLK_SPACE);
    float d = session_last(&f.s)->max_logit_diff;
    cr_assert(d >= 0 && d < 1e-2, "measured difference %g", (double)d);
    char shown[96], want[32];
    snprintf(want, sizeof want, "%.2g", (double)d);
    for (int l = 0; l < 2; l++) {
        a->view.layout = (ViewLayoutKind)l;
        row_value(a, "max logit diff, cache vs none", shown, sizeof shown);
        cr_assert_str_eq(shown, want, "layout %d: the picture shows \"%s\", measured %s", l, shown,
                         want);
    }
    a->view.layout = VIEW_LAYOUT_PROJECTOR;
    key(a, SDLK_m);
    cr_assert(!f.s.verify);
    key(a, SDLK_SPACE);
    cr_assert_lt(session_last(&f.s)->max_logit_diff, 0);
    a->view.layout = VIEW_LAYOUT_DETAIL;
    row_value(a, "max logit diff, cache vs none", shown, sizeof shown);
    cr_assert_str_eq(shown, "not measured (M)", "M off: the detail layout says so");
    a->view.layout = VIEW_LAYOUT_PROJECTOR;
    cr_assert_eq(a->view.layout, VIEW_LAYOUT_PROJECTOR, "the projector layout is the default");
    key(a, SDLK_o);
    cr_assert_eq(a->view.layout, VIEW_LAYOUT_DETAIL);
    key(a, SDLK_o);
    cr_assert_eq(a->view.layout, VIEW_LAYOUT_PROJECTOR);
    fx_free(&f);
}

// The 3D view's camera from the window: the preset keys move the camera there over a few frames
// (app_tick), a drag orbits it, the wheel zooms it, W brings the whole sequence into view.
Test(window, camera_3d_keys_drag_and_wheel) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    a->view.kind = VIEW_3D;
    cr_assert_eq(a->view.camera, CAMERA_FRONT);
    double el0 = a->view.cam_el;
    key(a, SDLK_8);
    cr_assert_eq(a->view.camera, CAMERA_TOP);
    cr_assert_float_eq(a->view.cam_el, el0, 1e-9, "the key starts a move, not a jump");
    double now = 100;
    app_tick(a, now);
    int frames = 0;
    while (a->view.cam_el < 90 && frames < 200) {
        now += 1 / 60.0;
        cr_assert(app_tick(a, now), "a frame is due while the camera moves");
        frames++;
    }
    cr_assert_gt(frames, 3, "the move took %d frames: animated", frames);
    cr_assert_lt(frames, 60, "the move took %d frames", frames);
    cr_assert_float_eq(a->view.cam_el, 90, 1e-9);
    // Drag: orbit from where the camera is
    drag(a, 300, a->scene_h / 2.0, 50, -40);
    cr_assert_eq(a->view.camera, CAMERA_ORBIT);
    cr_assert_float_eq(a->view.cam_az, -20, 1e-9, "50 px right turns the camera 20 degrees");
    cr_assert_float_eq(a->view.cam_el, 78, 1e-9, "40 px up lowers it 12 degrees");
    // Wheel: zoom in 3D (not scrolling back)
    double z = a->view.cam_zoom;
    wheel(a, 1, false);
    cr_assert_gt(a->view.cam_zoom, z);
    cr_assert_eq(a->view.scroll, 0);
    key(a, SDLK_z);
    cr_assert(a->view.cam_fit);
    key(a, SDLK_z);
    cr_assert(!a->view.cam_fit);
    key(a, SDLK_7);
    cr_assert_eq(a->view.camera, CAMERA_FRONT);
    fx_free(&f);
}

// The memory view from the window: N steps the projected length through the run's own and 1K,
// 8K, 32K, 128K (showing the memory view), Shift+N highlights the next published model, Ctrl+N
// switches the log scale.
Test(window, memory_view_keys) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    const long want[] = {1024, 8192, 32768, 131072, 0, 1024};
    for (int i = 0; i < 6; i++) {
        key(a, SDLK_n);
        cr_assert_eq(a->view.kind, VIEW_MEMORY);
        cr_assert_eq(a->view.memory_length, want[i], "press %d: %ld", i, a->view.memory_length);
    }
    cr_assert_eq(a->view.memory_model, -1);
    key_mod(a, SDLK_n, KMOD_LSHIFT);
    cr_assert_eq(a->view.memory_model, 0);
    key_mod(a, SDLK_n, KMOD_LSHIFT);
    cr_assert_eq(a->view.memory_model, 1);
    cr_assert_eq(a->view.memory_length, 1024, "Shift+N leaves the length");
    cr_assert(!a->view.memory_log);
    key_mod(a, SDLK_n, KMOD_LCTRL);
    cr_assert(a->view.memory_log);
    fx_free(&f);
}

// Zoom and scroll from the keys and the wheel: Ctrl+= and Ctrl+wheel zoom in (Ctrl+- out, never
// under 1), PageUp and the wheel scroll back a line at a time (PageDown forward, never past the
// write head), Ctrl+0 shows the whole sequence again and follows the write head.
Test(window, zoom_and_scroll_keys) {
    Fx f;
    fx_init(&f, 512);
    AppState *a = &f.a;
    while (f.s.n_tokens < 300)
        cr_assert(session_step(&f.s));
    key_mod(a, SDLK_MINUS, KMOD_LCTRL);
    cr_assert_float_eq(a->view.zoom, 1, 1e-12, "zoom stays at 1 or more");
    key_mod(a, SDLK_EQUALS, KMOD_LCTRL);
    cr_assert_float_eq(a->view.zoom, 1.25, 1e-12);
    wheel(a, 1, true);
    cr_assert_float_eq(a->view.zoom, 1.5625, 1e-12);
    for (int i = 0; i < 8; i++)
        key_mod(a, SDLK_EQUALS, KMOD_LCTRL);
    SceneLayout L;
    scene_layout(&f.s, &a->view, a->width, a->scene_h, &L);
    cr_assert_gt(L.first, 0, "zoomed in, the start of the sequence is off the picture");
    cr_assert_eq(L.last, f.s.n_tokens - 1, "following the write head");
    const int step = L.scroll_step;
    cr_assert_geq(step, 1);
    key(a, SDLK_PAGEUP);
    cr_assert_eq(a->view.scroll, step, "PageUp: a line back");
    wheel(a, 1, false);
    cr_assert_eq(a->view.scroll, 2 * step, "the wheel: a line back");
    scene_layout(&f.s, &a->view, a->width, a->scene_h, &L);
    cr_assert_lt(L.last, f.s.n_tokens - 1, "scrolled back, the newest is off the picture");
    key(a, SDLK_PAGEDOWN);
    key(a, SDLK_PAGEDOWN);
    key(a, SDLK_PAGEDOWN);
    cr_assert_eq(a->view.scroll, 0, "never past the write head");
    key_mod(a, SDLK_0, KMOD_LCTRL);
    cr_assert_float_eq(a->view.zoom, 1, 1e-12);
    scene_layout(&f.s, &a->view, a->width, a->scene_h, &L);
    cr_assert(L.first == 0 && L.last == f.s.n_tokens - 1, "Ctrl+0: the whole sequence");
    fx_free(&f);
}

// ? opens the help on its first page, turns its pages, and closes after the last; its type
// stays at the picture's smallest size whatever the window's size (classroom/help_pages_*).
Test(window, help_key_turns_the_pages) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    const int sizes[][2] = {{1280, 720}, {1280, 400}, {1280, 720}};
    static ViewHelpRow many[150];
    for (int k = 0; k < 150; k++)
        many[k] = (ViewHelpRow){"K", "a key of a longer table than the window's"};
    for (int si = 0; si < 3; si++) {
        app_resize(a, sizes[si][0], sizes[si][1], 1.0);
        if (si == 2) { // a table that takes pages
            a->view.help_rows = many;
            a->view.n_help_rows = 150;
        }
        int pages = scene_help_pages(&a->view, a->width, a->scene_h);
        cr_assert_geq(pages, 1);
        cr_log_info("help at %dx%d: %d page(s) of keys", a->width, a->scene_h, pages);
        if (si == 2)
            cr_assert_gt(pages, 2);
        key(a, SDLK_QUESTION);
        cr_assert(a->view.help);
        cr_assert_eq(a->view.help_page, 0);
        for (int p = 1; p < pages; p++) {
            key(a, SDLK_QUESTION);
            cr_assert(a->view.help, "page %d of %d", p + 1, pages);
            cr_assert_eq(a->view.help_page, p);
        }
        key(a, SDLK_QUESTION);
        cr_assert(!a->view.help, "after the last page the help closes");
    }
    fx_free(&f);
}

// Hover always shows the token: while a step runs on the worker (the session is not the UI's),
// the pointer's token stays the hovered one instead of being dropped, and after the step the
// token under the pointer is found again.
Test(window, hover_holds_while_a_step_runs) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    SceneLayout L;
    scene_layout(&f.s, &a->view, a->width, a->scene_h, &L);
    SceneRect c;
    cr_assert(scene_token_box(&L, 3, &c));
    mouse_at(a, SDL_MOUSEMOTION, c.x + c.w / 2, c.y + c.h / 2);
    cr_assert_eq(a->view.hover, 3);
    worker_start(a, 0);
    cr_assert(a->async);
    app_request_step(a);
    cr_assert(a->busy);
    mouse_at(a, SDL_MOUSEMOTION, c.x + c.w / 2 + 1, c.y + c.h / 2);
    cr_assert_eq(a->view.hover, 3, "a running step does not drop the hover");
    app_quiesce(a);
    cr_assert(!a->busy);
    scene_layout(&f.s, &a->view, a->width, a->scene_h, &L);
    cr_assert_eq(a->view.hover, scene_hit_token(&L, a->mouse_x, a->mouse_y),
                 "after the step: the token under the pointer");
    fx_free(&f);
}

// K under a policy that evicts: f32, bf16, int8, int4 and back to f32, the KIVI kinds (which the
// policy cannot hold) passed over; under full retention K reaches them; W then refuses a policy
// with a notice and keeps the KIVI cache.
Test(window, kv_key_under_a_policy) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_w);
    cr_assert_eq(f.s.cache_kind.retention, KV_RETAIN_WINDOW);
    static const KvPrecision want[] = {KV_PRECISION_BF16, KV_PRECISION_INT8, KV_PRECISION_INT4,
                                       KV_PRECISION_F32};
    for (int i = 0; i < 4; i++) {
        key(a, SDLK_k);
        cr_assert_eq(f.s.eng.cache.kind.precision, want[i], "press %d: %s", i,
                     kv_precision_name(f.s.eng.cache.kind.precision));
        key(a, SDLK_SPACE);
        cr_assert_eq(session_last(&f.s)->kv, want[i]);
        cr_assert_eq(session_last(&f.s)->kind.retention, KV_RETAIN_WINDOW);
    }
    for (int i = 0; i < 3; i++) // window -> sinks -> h2o -> full
        key(a, SDLK_w);
    cr_assert_eq(f.s.cache_kind.retention, KV_RETAIN_FULL);
    for (int i = 0; i < 4; i++)
        key(a, SDLK_k);
    cr_assert_eq(f.s.eng.cache.kind.precision, KV_PRECISION_KIVI2);
    key(a, SDLK_w);
    cr_assert_eq(f.s.cache_kind.retention, KV_RETAIN_FULL, "kivi2 keeps every position");
    cr_assert_not_null(a->view.notice);
    cr_assert_not_null(strstr(a->view.notice, "kivi2 cannot be combined"), "%s", a->view.notice);
    fx_free(&f);
}

// Shift+S puts the sampling view's bars on a log scale (and shows that view); S still opens the
// sampler panel, whose changes the sampling view shows for the same step.
Test(window, sampling_view_keys) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    app_at_rest(a);
    key_mod(a, SDLK_s, KMOD_LSHIFT);
    cr_assert_eq(a->view.kind, VIEW_SAMPLING);
    cr_assert(a->view.sampling_log);
    cr_assert(!a->sampler_open, "Shift+S is not S");
    key_mod(a, SDLK_s, KMOD_LSHIFT);
    cr_assert(!a->view.sampling_log);
    key(a, SDLK_s);
    cr_assert(a->sampler_open);
    const StepRecord *r = session_last(a->s);
    const float t = a->s->settings.temperature;
    key(a, SDLK_RIGHTBRACKET); // the selected field (temperature) one notch up
    cr_assert_gt(a->s->settings.temperature, t);
    cr_assert_eq(session_last(a->s), r, "the same step, shown with the new temperature");
    fx_free(&f);
}

// ----------------------------------------------------------------------------------------------
// The glossary in the window

static void draw_frame(AppState *a, const char *png) {
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, a->width, a->height);
    cairo_t *cr = cairo_create(img);
    app_draw(a, cr);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    const char *dir = getenv("KVSCOPE_TEST_PICTURES"); // to look at them
    if (dir && png) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, png);
        cairo_surface_write_to_png(img, path);
    }
    cairo_surface_destroy(img);
}

typedef struct {
    const Glossary *g;
    int *seen; // per entry: how often its term was drawn in the panel's accent
    double min_size;
    int n;
} PanelTexts;

static void on_panel_text(void *ctx, const SceneText *t) {
    PanelTexts *p = ctx;
    p->n++;
    p->min_size = t->size < p->min_size ? t->size : p->min_size;
    for (int i = 0; i < p->g->n; i++)
        if (t->bold && strcmp(t->utf8, p->g->entries[i].term) == 0)
            p->seen[i]++;
}

// A opens the glossary panel and turns its pages, after the last it closes; Shift+A turns
// back; Esc closes it. The pages list every entry once, at 14 px or more at 1280x720.
Test(window, glossary_panel_pages_through_every_entry) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    cr_assert_gt(a->glossary.n, 60, "the shipped glossary is loaded");
    cr_assert(!a->view.glossary_open);
    key(a, SDLK_a);
    cr_assert(a->view.glossary_open);
    cr_assert_eq(a->view.glossary_page, 0);
    const int pages = scene_glossary_pages(a->s, &a->view, a->width, a->scene_h);
    cr_assert(pages >= 2 && pages <= 12, "%d pages", pages);
    int seen[256] = {0};
    PanelTexts pt = {&a->glossary, seen, 1e9, 0};
    SceneTextSink sink = {on_panel_text, &pt};
    for (int p = 0; p < pages; p++) {
        cr_assert(a->view.glossary_open);
        cr_assert_eq(a->view.glossary_page, p);
        View v = a->view;
        v.text_sink = &sink;
        cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1280, a->scene_h);
        cairo_t *cr = cairo_create(img);
        scene_draw(cr, a->s, &v, 1280, a->scene_h, 1.0);
        cairo_destroy(cr);
        cairo_surface_destroy(img);
        char name[32];
        snprintf(name, sizeof name, "glossary-%d.png", p + 1);
        draw_frame(a, name);
        key(a, SDLK_a);
    }
    cr_assert(!a->view.glossary_open, "closed after the last page");
    for (int i = 0; i < a->glossary.n; i++)
        cr_assert_geq(seen[i], 1, "'%s' is on no page", a->glossary.entries[i].term);
    cr_assert_geq(pt.min_size, 14.0, "panel text at %.2f px", pt.min_size);
    key_mod(a, SDLK_a, KMOD_LSHIFT);
    cr_assert(a->view.glossary_open);
    cr_assert_eq(a->view.glossary_page, pages - 1, "Shift+A opens on the last page");
    key_mod(a, SDLK_a, KMOD_LSHIFT);
    cr_assert_eq(a->view.glossary_page, pages - 2);
    key(a, SDLK_ESCAPE);
    cr_assert(!a->view.glossary_open, "Esc closes it");
    fx_free(&f);
}

// Resting the pointer on a label of the picture shows its glossary entry after the tooltip
// delay; moving off takes it away. The labels are the ones the frame drew.
Test(window, a_label_under_the_pointer_shows_its_definition) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    app_at_rest(a);
    draw_frame(a, NULL);
    cr_assert_gt(a->n_labels, 8, "%d labels", a->n_labels);
    const char *want[] = {"FLOP", "cache memory", "step time", "KV cache", "decode", "prefill"};
    int found = 0;
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        const GlossaryEntry *e = glossary_find(&a->glossary, want[w]);
        cr_assert_not_null(e);
        for (int i = 0; i < a->n_labels; i++) {
            if (a->labels[i].entry != e)
                continue;
            SceneRect b = a->labels[i].box;
            mouse_at(a, SDL_MOUSEMOTION, b.x + b.w / 2, b.y + b.h / 2);
            cr_assert_eq(a->label_tip, e, "'%s' under the pointer", want[w]);
            cr_assert(!a->label_shown, "not before the delay");
            cr_assert(app_label_wake(a) > 0);
            app_tick(a, a->now + APP_TIP_DELAY + 0.01);
            cr_assert(a->label_shown, "'%s': the tooltip after the delay", want[w]);
            draw_frame(a, "label-tip.png");
            found++;
            break;
        }
    }
    cr_assert_geq(found, 4, "%d of the labels found", found);
    mouse_at(a, SDL_MOUSEMOTION, 2, a->scene_h - 2); // an empty corner
    cr_assert_null(a->label_tip);
    cr_assert(!a->label_shown);
    // a toolbar button's tooltip names what its button changes
    cr_assert_eq(app_action_entry(a, app_action(ACT_CACHE)),
                 glossary_find(&a->glossary, "KV cache"));
    cr_assert_eq(app_action_entry(a, app_action(ACT_TEMP_UP)),
                 glossary_find(&a->glossary, "temperature"));
    fx_free(&f);
}

// The help overlay says what each part of the picture is, in the glossary's words.
Test(window, help_explains_the_picture_from_the_glossary) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    const char *parts[] = {"token", "write head", "beam", "KV cache", "FLOP", "recompute"};
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        const GlossaryEntry *e = glossary_find(&a->glossary, parts[p]);
        cr_assert_not_null(e);
        bool listed = false;
        for (int k = 0; k < a->view.n_help_rows; k++)
            listed |= strcmp(a->view.help_rows[k].keys, e->term) == 0 &&
                      strncmp(e->short_text, a->view.help_rows[k].text,
                              strlen(a->view.help_rows[k].text) - 1) == 0;
        cr_assert(listed, "the help does not say what '%s' is", parts[p]);
    }
    key(a, SDLK_SPACE);
    app_at_rest(a);
    key(a, SDLK_QUESTION);
    draw_frame(a, "help.png");
    fx_free(&f);
}

// A click on a cache cell opens the inspector on it (again: closes); I opens it on the write
// head's cell, Esc closes it; drawing records the shown step's numbers, and a step back updates
// them.
Test(window, inspector_click_key_and_steps) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    key(a, SDLK_SPACE);
    SceneLayout lay;
    scene_layout(&f.s, &a->view, a->width, a->scene_h, &lay);
    SceneRect r;
    cr_assert(scene_block_box(&lay, 2, 1, &r), "the cell of token 2, layer 2 is on the picture");
    click(a, r.x + r.w / 2, r.y + r.h / 2);
    cr_assert(a->view.inspect && a->view.inspect_pos == 2 && a->view.inspect_layer == 1);
    cr_assert_eq(a->view.pinned, -1, "a cell click does not pin");
    cr_assert_null(f.s.probe_eng.model, "nothing recorded before the picture needs it");
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
    cairo_t *cr = cairo_create(surf);
    app_draw(a, cr);
    const AttnProbe *p = session_probe(&f.s, 1, 0);
    cr_assert_not_null(p, "drawing recorded the numbers");
    const int pos = p->pos;
    cr_assert_eq(pos, session_last(&f.s)->pos);
    key(a, SDLK_LEFT); // a step back: the next picture shows the step before
    app_draw(a, cr);
    p = session_probe(&f.s, 1, 0);
    cr_assert_not_null(p);
    cr_assert_eq(p->pos, session_last(&f.s)->pos);
    cr_assert_lt(p->pos, pos);
    click(a, r.x + r.w / 2, r.y + r.h / 2);
    cr_assert_not(a->view.inspect, "a second click closes it");
    key(a, SDLK_i);
    cr_assert(a->view.inspect && a->view.inspect_pos == session_last(&f.s)->pos);
    key(a, SDLK_ESCAPE);
    cr_assert_not(a->view.inspect, "Esc closes it");
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    fx_free(&f);
}

// X splits the screen: the twin exists and steps with the session; X again frees it.
Test(window, split_key) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_SPACE);
    key(a, SDLK_x);
    cr_assert(a->view.split);
    cr_assert_not_null(f.s.twin);
    key(a, SDLK_SPACE);
    key(a, SDLK_SPACE);
    app_quiesce(a);
    cr_assert_eq(f.s.twin->cursor, f.s.cursor, "stepped together");
    cr_assert_neq(f.s.twin->steps[f.s.cursor - 1].mode, session_last(&f.s)->mode);
    cr_assert(session_twin_logit_diff(&f.s) == 0.0f, "measured: bit-identical");
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
    cairo_t *cr = cairo_create(surf);
    app_draw(a, cr);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    key(a, SDLK_x);
    cr_assert_not(a->view.split);
    cr_assert_null(f.s.twin, "freed");
    fx_free(&f);
}

// The model key: a window opened on DIR/kvscope6.bin goes to the grouped-query and multi-query
// twins beside it and back, the prompt kept and started again, the notice naming the file, its
// kv heads and the cache bytes per token (the engine's closed form: 2 L kv_heads head_size 4).
Test(window, model_key_cycles_the_shipped_twins) {
    setenv("SDL_VIDEODRIVER", "dummy", 1);
    cr_assert_eq(SDL_Init(SDL_INIT_VIDEO), 0, "%s", SDL_GetError());
    char *dir = tu_tmpdir();
    KvError err = {0};
    const int kvh[APP_MODELS] = {4, 2, 1};
    for (int i = 0; i < APP_MODELS; i++) {
        ModelConfig c = tu_config(48, 100, 2, 4, kvh[i], VOCAB, 128, false);
        char *p = tu_join(dir, app_model_files[i]);
        cr_assert_eq(tu_write_random_checkpoint(p, &c, 30 + (uint64_t)i, &err), KV_OK, "%s",
                     err.msg);
        free(p);
    }
    Model m;
    Tokenizer t;
    Session s;
    char *full = tu_join(dir, "kvscope6.bin");
    cr_assert_eq(model_load(&m, full, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_tokenizer(&t, VOCAB, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_init(&s, &m, &t, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&s, app_presets[0].prompt, &err), KV_OK, "%s", err.msg);
    AppState a;
    app_init(&a, &s, 1280, 720, 1.0);
    for (int k = 0; k < 3; k++)
        cr_assert(session_step(&s));
    const int n_prompt = s.n_prompt;
    for (int press = 1; press <= APP_MODELS; press++) {
        const int i = press % APP_MODELS;
        key(&a, SDLK_u);
        cr_assert_eq(s.model->cfg.n_kv_heads, kvh[i], "press %d: %d kv heads", press,
                     s.model->cfg.n_kv_heads);
        cr_assert_eq(s.n_prompt, n_prompt, "the prompt is kept");
        cr_assert_eq(s.n_tokens, n_prompt, "and started again");
        cr_assert_eq(s.eng.cache.n_kv_heads, kvh[i], "the cache has the model's kv heads");
        char bytes[32];
        kv_format_bytes(bytes, sizeof bytes, (uint64_t)2 * 2 * kvh[i] * 12 * 4);
        cr_assert(strstr(a.notice, app_model_files[i]) && strstr(a.notice, bytes),
                  "notice: %s (want %s)", a.notice, bytes);
        cr_assert(session_step(&s), "the new model steps");
    }
    cr_assert_eq(s.model, &m, "back to the window's own model");
    key(&a, SDLK_u); // to the twin again: app_free gives the session its own model back
    cr_assert_eq(s.model->cfg.n_kv_heads, 2);
    app_free(&a);
    cr_assert_eq(s.model, &m);
    session_free(&s);
    tokenizer_free(&t);
    model_free(&m);
    free(full);
    tu_rmtree(dir);
    SDL_Quit();
    toolbar_release();
    pango_cairo_font_map_set_default(NULL);
}

// A window on a model of another name says what the key cycles and changes nothing.
Test(window, model_key_refuses_a_model_of_another_name) {
    Fx f;
    fx_init(&f, 128);
    const Model *before = f.s.model;
    key(&f.a, SDLK_u);
    cr_assert_eq(f.s.model, before);
    cr_assert(strstr(f.a.notice, "the model key cycles kvscope6.bin"), "notice: %s", f.a.notice);
    fx_free(&f);
}

// Side by side, a click on a cache cell of either lane opens the inspector on that cell (and a
// second click closes it); I opens it on the write head's cell; the picture draws it.
Test(window, split_click_on_a_cache_cell_inspects_it) {
    Fx f;
    fx_init(&f, 128);
    AppState *a = &f.a;
    key(a, SDLK_x);
    key(a, SDLK_SPACE);
    key(a, SDLK_SPACE);
    app_quiesce(a);
    app_at_rest(a);
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1280, 720);
    cairo_t *cr = cairo_create(surf);
    app_draw(a, cr); // syncs the twin
    for (int lane = 0; lane < 2; lane++) {
        SceneLayout L;
        scene_split_lane_layout(&f.s, &a->view, a->width, a->scene_h, lane, &L);
        SceneRect r;
        cr_assert(scene_block_box(&L, 2, 1, &r), "lane %d: the cell of token 2, layer 2", lane);
        click(a, r.x + r.w / 2, r.y + r.h / 2);
        cr_assert(a->view.inspect && a->view.inspect_pos == 2 && a->view.inspect_layer == 1,
                  "lane %d: the inspector on the cell", lane);
        app_draw(a, cr);
        cr_assert_not_null(session_probe(&f.s, 1, 0), "lane %d: the numbers recorded", lane);
        click(a, r.x + r.w / 2, r.y + r.h / 2);
        cr_assert_not(a->view.inspect, "lane %d: a second click closes it", lane);
    }
    click(a, 3, 3); // the top corner: no cell, nothing opens
    cr_assert_not(a->view.inspect);
    key(a, SDLK_i);
    cr_assert(a->view.inspect && a->view.inspect_pos == session_last(&f.s)->pos);
    app_draw(a, cr);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    fx_free(&f);
}

// `kvscope run --split` end to end under the dummy driver: the window opens, plays at the top
// speed for a number of frames with both sides stepping, reports and exits by itself (the test
// waits for that exit); the twin holds as many tokens as the session.
Test(window, run_split_end_to_end, .timeout = 300) {
    const char *bin = tu_kvscope_bin();
    if (!bin)
        cr_skip_test("KVSCOPE_BIN is not set");
    setenv("SDL_VIDEODRIVER", "dummy", 1);
    char *dir = tu_tmpdir();
    char *argv[] = {(char *)bin, "run",    "--split",  "--preset",     "fact", "--bench-frames",
                    "40",        "--size", "1280x720", "--export-dir", dir,    NULL};
    TuRun r; // (a sanitizer build on a loaded machine draws a frame in a second or more)
    cr_assert(tu_run(argv, 270, &r));
    cr_assert_eq(r.status, 0, "status %d: %s", r.status, r.err);
    const char *line = strstr(r.out, "bench window ");
    cr_assert_not_null(line, "%s", r.out);
    const char *tk = strstr(line, " tokens="), *st = strstr(line, " split_tokens=");
    cr_assert(tk && st, "%s", line);
    int tokens = atoi(tk + 8), twin = atoi(st + 14);
    cr_assert_gt(tokens, 7, "the run stepped: %s", line);
    cr_assert_eq(twin, tokens, "the twin followed every step: %s", line);
    tu_run_free(&r);
    tu_rmtree(dir);
}
