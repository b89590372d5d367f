// test_sampling_view.c — the sampling view (src/view/sampling.c) through the layout API: with the
// step's own settings the token it marks picked is the one the engine picked, on every step;
// the candidates are listed most probable first with bars that follow; top-k and top-p cuts
// are where the settings put them; changing a setting changes the picture of the same step at
// once; the log scale; and `--view sampling` on the command line.
#include "util/testutil.h"
#include "lesson/lesson.h"
#include "view/view.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(sampling, .fini = tu_leak_check);

#define VOCAB 512

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
} Fx;

static void fx_init(Fx *f, SamplerSettings ss) {
    KvError err = {0};
    ModelConfig c = tu_config(48, 96, 2, 4, 2, VOCAB, 128, false);
    // a gain that spreads the distribution, so cuts and draws have candidates to choose among
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 11, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f->s, "once upon a time Mia", &err), KV_OK, "%s", err.msg);
    session_set_sampler(&f->s, ss);
}

static void fx_free(Fx *f) {
    tu_session_close(&f->m, &f->t, &f->s);
}

static void layout(const Session *s, bool log_scale, SceneLayout *L) {
    View v;
    view_init(&v);
    v.kind = VIEW_SAMPLING;
    v.sampling_log = log_scale;
    scene_layout(s, &v, 1280, 720, L);
}

Test(sampling, the_pick_is_the_engines_on_every_step, .timeout = 60) {
    const SamplerSettings cases[] = {{1.0f, 0.9f, 0, 3},
                                     {1.0f, 0.0f, 0, 4},
                                     {1.4f, 0.0f, 6, 5},
                                     {0.9f, 0.7f, 20, 6},
                                     {0.0f, 0.9f, 0, 7}};
    static SceneLayout L;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Fx f;
        fx_init(&f, cases[k]);
        layout(&f.s, false, &L);
        cr_assert_eq(L.kind, VIEW_SAMPLING);
        cr_assert_eq(L.smp_n, 0, "no step yet: no rows");
        cr_assert_eq(L.smp_pick, -1);
        for (int step = 0; step < 24; step++) {
            cr_assert(session_step(&f.s));
            const StepRecord *r = session_last(&f.s);
            layout(&f.s, false, &L);
            cr_assert(L.smp_same);
            cr_assert_eq(L.smp_pick, r->token_id, "case %zu step %d: view %d, engine %d", k, step,
                         L.smp_pick, r->token_id);
            cr_assert_eq(L.smp_coin, r->coin);
            cr_assert_eq(r->coin >= 0, cases[k].temperature > 0, "a draw exactly when sampling");
            cr_assert_gt(L.smp_n, 5);
            for (int i = 1; i < L.smp_n; i++) {
                cr_assert_geq(L.smp_prob[i - 1], L.smp_prob[i], "most probable first");
                cr_assert_geq(L.smp_bar[i - 1].w, L.smp_bar[i].w, "bars follow");
                cr_assert_gt(L.smp_row[i].y, L.smp_row[i - 1].y);
            }
            if (L.smp_pick_row >= 0)
                cr_assert_eq(L.smp_id[L.smp_pick_row], r->token_id);
        }
        // stepping back shows the step before, with its own pick
        cr_assert(session_back(&f.s));
        layout(&f.s, false, &L);
        cr_assert_eq(L.smp_pick, session_last(&f.s)->token_id);
        fx_free(&f);
    }
}

Test(sampling, settings_redraw_the_same_step) {
    Fx f;
    fx_init(&f, (SamplerSettings){1.0f, 0.0f, 0, 9});
    for (int i = 0; i < 4; i++)
        cr_assert(session_step(&f.s));
    static SceneLayout L, K;
    layout(&f.s, false, &L);
    cr_assert_eq(L.smp_k_y, -1, "top-k off: no cut");
    cr_assert_eq(L.smp_p_y, -1, "top-p off: no cut");
    cr_assert_eq(L.smp_k_keep, VOCAB);
    const StepRecord *r = session_last(&f.s);
    const float coin = r->coin;
    // top-k 1: only the most probable is left, whatever the draw
    session_set_sampler(&f.s, (SamplerSettings){1.0f, 0.0f, 1, 9});
    cr_assert_eq(session_last(&f.s), r, "the same step");
    layout(&f.s, false, &K);
    cr_assert(!K.smp_same);
    cr_assert_eq(K.smp_coin, coin, "the step's own draw");
    cr_assert_eq(K.smp_k_keep, 1);
    cr_assert_eq(K.smp_pick, K.smp_id[0]);
    cr_assert_float_eq(K.smp_k_y, K.smp_row[1].y, 1e-9, "the cut under the first row");
    // top-k 5: the cut under the fifth row
    session_set_sampler(&f.s, (SamplerSettings){1.0f, 0.0f, 5, 9});
    layout(&f.s, false, &K);
    cr_assert_float_eq(K.smp_k_y, K.smp_row[5].y, 1e-9);
    bool among = false;
    for (int i = 0; i < 5; i++)
        among |= K.smp_id[i] == K.smp_pick;
    cr_assert(among, "the pick is one of the five kept");
    // top-p: the cut under the first rows whose sum exceeds p
    session_set_sampler(&f.s, (SamplerSettings){1.0f, 0.5f, 0, 9});
    layout(&f.s, false, &K);
    double sum = 0;
    int keep = 0;
    while (keep < K.smp_n && sum <= 0.5)
        sum += K.smp_prob[keep++];
    cr_assert_eq(K.smp_p_keep, keep);
    if (keep < K.smp_n)
        cr_assert_float_eq(K.smp_p_y, K.smp_row[keep].y, 1e-9);
    // a higher temperature flattens the distribution: the top probability falls
    session_set_sampler(&f.s, (SamplerSettings){2.0f, 0.0f, 0, 9});
    layout(&f.s, false, &K);
    cr_assert_lt(K.smp_prob[0], L.smp_prob[0], "T 2: %g, T 1: %g", K.smp_prob[0], L.smp_prob[0]);
    // temperature 0: greedy, no draw shown, the most probable picked
    session_set_sampler(&f.s, (SamplerSettings){0.0f, 0.0f, 0, 9});
    layout(&f.s, false, &K);
    cr_assert_eq(K.smp_coin, -1.0f);
    cr_assert_eq(K.smp_pick, K.smp_id[0]);
    // back to the step's settings: the engine's pick again
    session_set_sampler(&f.s, (SamplerSettings){1.0f, 0.0f, 0, 9});
    layout(&f.s, false, &K);
    cr_assert(K.smp_same);
    cr_assert_eq(K.smp_pick, r->token_id);
    fx_free(&f);
}

Test(sampling, log_scale) {
    Fx f;
    fx_init(&f, (SamplerSettings){1.0f, 0.9f, 0, 2});
    for (int i = 0; i < 3; i++)
        cr_assert(session_step(&f.s));
    static SceneLayout lin, lg;
    layout(&f.s, false, &lin);
    layout(&f.s, true, &lg);
    cr_assert_eq(lin.smp_n, lg.smp_n);
    int longer = 0;
    for (int i = 0; i < lin.smp_n; i++) {
        double p = lin.smp_prob[i];
        double full = lin.smp_bar[i].w / (p > 0 ? p : 1); // the bar column's width
        if (p > 1e-4)
            cr_assert_float_eq(lg.smp_bar[i].w, full * (log10(p) + 4) / 4, 1e-6,
                               "row %d: log10 from 0.01%% to 100%%", i);
        longer += lg.smp_bar[i].w > lin.smp_bar[i].w + 1;
    }
    cr_assert_gt(longer, 0, "small probabilities get longer bars on the log scale");
    fx_free(&f);
}

Test(sampling, render_command) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir();
    char *out = tu_join(dir, "s.png");
    char *argv[] = {(char *)tu_kvscope_bin(),
                    "render",
                    "--preset",
                    "fact",
                    "--steps",
                    "3",
                    "--temperature",
                    "0.9",
                    "--top-k",
                    "8",
                    "--view",
                    "sampling",
                    "-o",
                    out,
                    NULL};
    TuRun r;
    cr_assert(tu_run(argv, 60, &r));
    cr_assert_eq(r.status, 0, "%s", r.err);
    size_t n = 0;
    unsigned char *png = tu_read_file(out, &n);
    cr_assert(png && n > 1000 && memcmp(png, "\x89PNG", 4) == 0);
    free(png);
    tu_run_free(&r);
    // the annotated picture, as the README's is made
    char *ann[] = {(char *)tu_kvscope_bin(),
                   "render",
                   "--preset",
                   "fact",
                   "--steps",
                   "2",
                   "--annotate",
                   "--size",
                   "1280x720",
                   "-o",
                   out,
                   NULL};
    cr_assert(tu_run(ann, 60, &r));
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    free(out);
    tu_rmtree(dir);
}

// A greedy step drew no random number: a temperature set afterwards shows the distribution it
// gives, and no draw; the token marked is still the one the engine took.
Test(sampling, a_greedy_step_shows_no_draw) {
    Fx f;
    fx_init(&f, (SamplerSettings){0.0f, 0.9f, 0, 4});
    for (int i = 0; i < 3; i++)
        cr_assert(session_step(&f.s));
    const StepRecord *r = session_last(&f.s);
    cr_assert_eq(r->coin, -1.0f);
    static SceneLayout L;
    layout(&f.s, false, &L);
    cr_assert(L.smp_same);
    cr_assert_eq(L.smp_pick, r->token_id);
    cr_assert_eq(L.smp_id[0], r->token_id, "greedy takes the most probable");
    for (int t = 0; t < 2; t++) { // multinomial, then top-p
        session_set_sampler(&f.s, (SamplerSettings){1.3f, t ? 0.8f : 0.0f, 0, 4});
        layout(&f.s, false, &L);
        cr_assert(!L.smp_same);
        cr_assert_eq(L.smp_coin, -1.0f, "no draw to show");
        cr_assert_eq(L.smp_pick, r->token_id);
        cr_assert_eq(L.smp_k_y, -1);
        cr_assert_eq(L.smp_p_y, -1);
    }
    fx_free(&f);
}

// The log scale from the command line (--sampling-scale on render; run parses it the same way)
// and from lessons (sampling-scale linear|log); every bad value its own one-line refusal.
Test(sampling, scale_from_render_and_lessons, .timeout = 120) {
    cr_assert_eq(view_scale_parse("log"), 1);
    cr_assert_eq(view_scale_parse("linear"), 0);
    cr_assert_eq(view_scale_parse("Log"), -1);
    cr_assert_eq(view_scale_parse(NULL), -1);
    static const Preset presets[] = {{"fact", "The capital of France is"}, {NULL, NULL}};
    const char *text = "preset fact\nview sampling\nsampling-scale log\nstep 2\nbeat\n"
                       "sampling-scale linear\nbeat\n";
    Lesson l;
    KvError err = {0};
    cr_assert_eq(lesson_parse(&l, "x.lesson", text, strlen(text), presets, &err), KV_OK, "%s",
                 err.msg);
    cr_assert_eq(l.cmds[2].op, LESSON_SAMPLING_SCALE);
    cr_assert_eq(l.cmds[2].n, 1);
    Fx f;
    fx_init(&f, (SamplerSettings){1.0f, 0.9f, 0, 2});
    LessonPlayer p;
    lesson_player_init(&p, &l, &f.s);
    View v;
    view_init(&v);
    cr_assert_eq(lesson_player_goto(&p, 0, &err), KV_OK, "%s", err.msg);
    lesson_player_view(&p, &v);
    cr_assert(v.sampling_log && v.kind == VIEW_SAMPLING);
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK, "%s", err.msg);
    lesson_player_view(&p, &v);
    cr_assert_not(v.sampling_log);
    lesson_player_free(&p);
    lesson_free(&l);
    fx_free(&f);
    const char *bad[][2] = {
        {"preset fact\nsampling-scale\nbeat\n", "x.lesson:2: sampling-scale: needs linear or log"},
        {"preset fact\nsampling-scale huge\nbeat\n",
         "x.lesson:2: sampling-scale: expected linear or log, not 'huge'"},
        {"preset fact\nsampling-scale log linear\nbeat\n",
         "x.lesson:2: sampling-scale: expected linear or log, not 'log linear'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_neq(lesson_parse(&l, "x.lesson", bad[i][0], strlen(bad[i][0]), presets, &err),
                      KV_OK, "case %zu parsed", i);
        cr_assert_str_eq(err.msg, bad[i][1]);
    }
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir(), *out = tu_join(dir, "s.svg");
    for (int log = 0; log < 2; log++) { // the picture says which scale it draws
        char *argv[] = {(char *)tu_kvscope_bin(),
                        "render",
                        "--preset",
                        "fact",
                        "--steps",
                        "2",
                        "--view",
                        "sampling",
                        "--sampling-scale",
                        log ? "log" : "linear",
                        "-o",
                        out,
                        NULL};
        TuRun r;
        cr_assert(tu_run(argv, 60, &r));
        cr_assert_eq(r.status, 0, "%s", r.err);
        size_t n = 0;
        char *svg = (char *)tu_read_file(out, &n);
        cr_assert(svg && strstr(svg, log ? "log scale" : "linear scale"), "the %s scale",
                  log ? "log" : "linear");
        free(svg);
        tu_run_free(&r);
        unlink(out);
    }
    const char *cases[][3] = {
        {"render", "logarithmic",
         "kvscope: --sampling-scale: unknown scale 'logarithmic' (linear, log)\n"},
        {"render", NULL, "kvscope: --sampling-scale: needs a value\n"},
        {"run", "logarithmic", "kvscope: --sampling-scale: 'logarithmic' is not linear or log\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {(char *)tu_kvscope_bin(),
                        (char *)cases[i][0],
                        "--preset",
                        "fact",
                        "--steps",
                        "1",
                        "-o",
                        out,
                        "--sampling-scale",
                        (char *)cases[i][1],
                        NULL};
        if (strcmp(cases[i][0], "run") == 0) // run takes no -o
            argv[6] = "--steps", argv[7] = "1";
        TuRun r;
        cr_assert(tu_run(argv, 60, &r));
        cr_assert_eq(r.status, 2, "case %zu: status %d (%s)", i, r.status, r.err);
        cr_assert_str_eq(r.err, cases[i][2]);
        cr_assert_eq(access(out, F_OK), -1, "a refused render left a file");
        tu_run_free(&r);
    }
    free(out);
    tu_rmtree(dir);
}
