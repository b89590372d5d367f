// test_serve_window.c — `kvscope run --serve` in the window, under SDL's dummy driver: the step
// keys step the serving session the pool view draws, going back replays it exactly to the step
// before, Play steps it at the chosen speed until every request has finished, B chooses whose
// block table is drawn, and the view key passes over the pool view when there is no serving
// session.
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

// A window on a small random model with a serving session of three requests (one of them two
// parallel samples) over a pool of six blocks of four, the pool view showing it, and a second
// session of the same requests to compare with.
typedef struct {
    SDL_Window *win;
    Model m;
    Tokenizer t;
    Session s;
    char *dir, *req;
    ServeOptions so;
    Serve srv, ref;
    AppState a;
} Fixture;

static void fixture_open(Fixture *f) {
    setenv("SDL_VIDEODRIVER", "dummy", 1);
    cr_assert_eq(SDL_Init(SDL_INIT_VIDEO), 0, "%s", SDL_GetError());
    f->win = SDL_CreateWindow("kvscope", 0, 0, 1280, 720, 0);
    cr_assert_not_null(f->win, "%s", SDL_GetError());
    KvError err = {0};
    const ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 5, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f->s, "ab ba", &err), KV_OK, "%s", err.msg);
    f->dir = tu_tmpdir(), f->req = tu_join(f->dir, "r.txt");
    const char *text = "0 6 greedy ab ab\n0 6 t=0.9,n=2 ab ab ba\n1 6 greedy ba\n";
    cr_assert(tu_write_file(f->req, text, strlen(text)));
    app_serve_defaults(&f->so);
    f->so.requests = f->req, f->so.given = true, f->so.blocks = 6, f->so.block = 4;
    cr_assert_eq(app_serve_open(&f->srv, &f->m, &f->t, &f->so, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(app_serve_open(&f->ref, &f->m, &f->t, &f->so, &err), KV_OK, "%s", err.msg);
    app_init(&f->a, &f->s, 1280, 720, 1.0);
    f->a.win = f->win;
    f->a.serve = &f->srv, f->a.serve_opts = &f->so, f->a.view.serve = &f->srv;
    f->a.view.kind = VIEW_POOL;
}

static void fixture_close(Fixture *f) {
    worker_stop(&f->a);
    app_free(&f->a);
    serve_free(&f->srv);
    serve_free(&f->ref);
    tu_session_close(&f->m, &f->t, &f->s);
    SDL_DestroyWindow(f->win);
    SDL_Quit();
    free(f->req);
    tu_rmtree(f->dir);
    toolbar_release();
    pango_cairo_font_map_set_default(NULL);
}

Test(serve_window, step_keys_step_the_serving_session_and_back_replays_it, .timeout = 120) {
    Fixture f;
    fixture_open(&f);
    AppState *a = &f.a;
    for (int k = 0; k < 5; k++) {
        key(a, SDLK_RIGHT);
        cr_assert(serve_step(&f.ref));
        cr_assert_eq(f.srv.step, k + 1);
        cr_assert_str_eq(f.srv.log, f.ref.log);
    }
    cr_assert_eq(f.s.cursor, 0, "the one sequence did not move");
    key(a, SDLK_LEFT); // back: the session again from its start, to step 4
    cr_assert_eq(a->serve->step, 4);
    cr_assert_eq(a->serve->total.tokens, f.ref.total.tokens - f.ref.last.tokens);
    key(a, SDLK_RIGHT);
    cr_assert_eq(a->serve->step, 5);
    cr_assert_str_eq(a->serve->log, f.ref.log);
    cr_assert_eq(a->serve->total.flops, f.ref.total.flops);
    // V from the sampling view comes to the pool view; without a serving session it skips it
    a->view.kind = VIEW_POOL - 1;
    key(a, SDLK_v);
    cr_assert_eq(a->view.kind, VIEW_POOL);
    a->view.serve = NULL, a->serve = NULL;
    a->view.kind = VIEW_POOL - 1;
    key(a, SDLK_v);
    cr_assert_eq(a->view.kind, (ViewKind)((VIEW_POOL + 1) % VIEW_KINDS));
    fixture_close(&f);
}

// Play in the pool view steps the serving session (not the one sequence) once per period of the
// chosen speed as the window's clock runs, each step the one a step key gives, and stops by
// itself when every request has finished; Play then is refused with a notice.
Test(serve_window, play_steps_the_serving_session_at_the_chosen_speed, .timeout = 120) {
    Fixture f;
    fixture_open(&f);
    AppState *a = &f.a;
    app_set_speed(a, 2);
    const double period = 1.0 / app_speeds[a->speed_i];
    double now = a->now;
    key(a, SDLK_p);
    cr_assert(a->playing);
    // the clock in quarter periods: a step on each whole period, none between
    int steps = 0;
    for (int k = 0; k < 4 * 40 && a->playing; k++) {
        app_tick(a, now += period / 4);
        if (f.srv.step > steps) {
            cr_assert_eq(f.srv.step, steps + 1, "one step at a time");
            cr_assert(serve_step(&f.ref));
            cr_assert_str_eq(f.srv.log, f.ref.log);
            steps = f.srv.step;
        }
        // the first step at once, then one each period: 1 + floor(elapsed / period), give or
        // take the rounding of a tick that lands on a period's end
        const int want = 1 + (k + 1) / 4;
        if (!serve_done(&f.srv)) {
            cr_assert_leq(f.srv.step, want, "tick %d: %d steps, faster than the speed", k,
                          f.srv.step);
            cr_assert_geq(f.srv.step, want - 1, "tick %d: %d steps, slower than the speed", k,
                          f.srv.step);
        }
    }
    cr_assert(!a->playing, "Play stops when every request has finished");
    cr_assert(serve_done(&f.srv));
    cr_assert(!serve_step(&f.ref), "the same steps as the step key's");
    cr_assert_eq(f.s.cursor, 0, "the one sequence did not move");
    key(a, SDLK_p);
    cr_assert(!a->playing);
    cr_assert(strstr(a->notice, "every request has finished") != NULL, "%s", a->notice);
    fixture_close(&f);
}

// B: the next running request's block table is the one drawn (and the help overlay lists it).
Test(serve_window, b_selects_the_request_whose_block_table_is_drawn, .timeout = 120) {
    Fixture f;
    fixture_open(&f);
    AppState *a = &f.a;
    for (int k = 0; k < 3; k++)
        key(a, SDLK_RIGHT);
    cr_assert_geq(f.srv.n_run, 3, "%d running", f.srv.n_run);
    bool seen[16] = {false};
    int sel = pool_selected(&f.srv, &a->view);
    for (int k = 0; k < f.srv.n_run; k++) {
        key(a, SDLK_b);
        const int next = pool_selected(&f.srv, &a->view);
        cr_assert_neq(next, sel, "press %d", k);
        cr_assert_eq(f.srv.seq[next].state, SEQ_RUNNING);
        PoolLayout L;
        pool_layout(&f.srv, &a->view, 1280, 720, &L);
        cr_assert_eq(L.selected, next);
        cr_assert_eq(L.n_table, kvpaged_blocks(&f.srv.seq[next].cache));
        seen[next] = true;
        sel = next;
    }
    for (int k = 0; k < f.srv.n_run; k++)
        cr_assert(seen[f.srv.run[k]], "request %d never selected", f.srv.run[k]);
    app_help_build(a);
    bool listed = false;
    for (int i = 0; i < a->n_help_rows; i++)
        listed = listed || strstr(a->help_rows[i].text, "block table") != NULL;
    cr_assert(listed, "the help overlay lists B");
    fixture_close(&f);
}
