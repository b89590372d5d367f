// test_serve_window.c — `kvscope run --serve` in the window, under SDL's dummy driver: the step
// keys step the serving session the pool view draws, going back replays it exactly to the step
// before, and the view key passes over the pool view when there is no serving session.
#include "app/window.h"
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <pango/pangocairo.h>
#include <string.h>

TestSuite(serve_window, .fini = tu_leak_check);

static void key(AppState *a, SDL_Keycode k) {
    static Uint32 clock_ms;
    SDL_Event e;
    memset(&e, 0, sizeof e);
    e.type = SDL_KEYDOWN;
    e.key.timestamp = ++clock_ms;
    e.key.keysym.sym = k;
    app_handle_event(a, &e);
}

Test(serve_window, step_keys_step_the_serving_session_and_back_replays_it, .timeout = 120) {
    setenv("SDL_VIDEODRIVER", "dummy", 1);
    cr_assert_eq(SDL_Init(SDL_INIT_VIDEO), 0, "%s", SDL_GetError());
    SDL_Window *win = SDL_CreateWindow("kvscope", 0, 0, 1280, 720, 0);
    cr_assert_not_null(win, "%s", SDL_GetError());
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    const ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 5, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&s, "ab ba", &err), KV_OK, "%s", err.msg);
    char *dir = tu_tmpdir(), *req = tu_join(dir, "r.txt");
    const char *text = "0 6 greedy ab ab\n0 6 t=0.9,n=2 ab ab ba\n1 6 greedy ba\n";
    cr_assert(tu_write_file(req, text, strlen(text)));
    ServeOptions so;
    app_serve_defaults(&so);
    so.requests = req, so.given = true, so.blocks = 6, so.block = 4;
    Serve srv, ref;
    cr_assert_eq(app_serve_open(&srv, &m, &t, &so, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(app_serve_open(&ref, &m, &t, &so, &err), KV_OK, "%s", err.msg);
    AppState a;
    app_init(&a, &s, 1280, 720, 1.0);
    a.win = win;
    a.serve = &srv, a.serve_opts = &so, a.view.serve = &srv, a.view.kind = VIEW_POOL;
    for (int k = 0; k < 5; k++) {
        key(&a, SDLK_RIGHT);
        cr_assert(serve_step(&ref));
        cr_assert_eq(srv.step, k + 1);
        cr_assert_str_eq(srv.log, ref.log);
    }
    cr_assert_eq(s.cursor, 0, "the one sequence did not move");
    key(&a, SDLK_LEFT); // back: the session again from its start, to step 4
    cr_assert_eq(a.serve->step, 4);
    cr_assert_eq(a.serve->total.tokens, ref.total.tokens - ref.last.tokens);
    key(&a, SDLK_RIGHT);
    cr_assert_eq(a.serve->step, 5);
    cr_assert_str_eq(a.serve->log, ref.log);
    cr_assert_eq(a.serve->total.flops, ref.total.flops);
    // V from the sampling view comes to the pool view; without a serving session it skips it
    a.view.kind = VIEW_POOL - 1;
    key(&a, SDLK_v);
    cr_assert_eq(a.view.kind, VIEW_POOL);
    a.view.serve = NULL, a.serve = NULL;
    a.view.kind = VIEW_POOL - 1;
    key(&a, SDLK_v);
    cr_assert_eq(a.view.kind, (ViewKind)((VIEW_POOL + 1) % VIEW_KINDS));
    worker_stop(&a);
    app_free(&a);
    serve_free(&srv);
    serve_free(&ref);
    tu_session_close(&m, &t, &s);
    SDL_DestroyWindow(win);
    SDL_Quit();
    free(req);
    tu_rmtree(dir);
    toolbar_release();
    pango_cairo_font_map_set_default(NULL);
}
