// test_view3d.c — the 3D view through its layout API (projected token, block and head points,
// the TOP camera putting the write head over its token, world-up staying screen-up and labels
// upright and legible in a sweep of orbit angles, hits), the camera's parsing and animation,
// --camera's bad values on render and run, and reference images of each camera preset.
//
// Reference images: tests/data/ref3d/{front,top,orbit}.png. Regenerate them (after a deliberate
// change of the picture, and look at them) with
//   KVSCOPE_REGEN_REF3D=1 ./build/kvscope-tests --filter 'view3d/reference_images'
// run from the repository root.
#include "util/testutil.h"
#include "view/scene_internal.h"
#include "view/view.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
} Fixture;

static void fixture_init(Fixture *f, int steps) {
    KvError err = {0};
    ModelConfig c = tu_config(48, 96, 6, 4, 2, 400, 256, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 7, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f->s, "the cat sat on the mat", &err), KV_OK, "%s", err.msg);
    session_set_sampler(&f->s, (SamplerSettings){.temperature = 1.0f, .top_p = 0.9f, .seed = 3});
    for (int k = 0; k < steps; k++)
        cr_assert(session_step(&f->s));
}

static void fixture_free(Fixture *f) {
    tu_session_close(&f->m, &f->t, &f->s);
}

static void view_3d(View *v, const char *camera) {
    view_init(v);
    v->kind = VIEW_3D;
    char why[160];
    cr_assert(view_camera_parse(camera, v, why, sizeof why), "%s: %s", camera, why);
}

static bool in_main(const SceneLayout *L, double x, double y) {
    return x >= L->main.x && x < L->main.x + L->main.w && y >= L->main.y &&
           y < L->main.y + L->main.h;
}

// ----------------------------------------------------------------------------------------------
// Layout

Test(view3d, front_puts_tokens_in_a_row_with_stacks_under_and_the_head_above) {
    Fixture f;
    fixture_init(&f, 12);
    View v;
    view_3d(&v, "front");
    SceneLayout L;
    scene_layout(&f.s, &v, 1280, 720, &L);
    cr_assert_eq(L.kind, VIEW_3D);
    int head = L.head_pos;
    cr_assert_geq(head, 0);
    double hx, hy, tx, ty;
    cr_assert(scene3d_head_point(&L, &hx, &hy));
    cr_assert(in_main(&L, hx, hy), "the write head is on the picture");
    cr_assert(scene3d_token_point(&L, head, &tx, &ty));
    cr_assert_lt(hy, ty, "the head is above its token");
    cr_assert_lt(fabs(hx - tx), 0.25 * (ty - hy), "the head is over its token, not beside it");
    int shown = 0;
    double prev_x = -1e9;
    for (int i = 0; i < f.s.n_tokens; i++) {
        double x, y;
        if (!scene3d_token_point(&L, i, &x, &y) || !in_main(&L, x, y))
            continue;
        shown++;
        cr_assert_gt(x, prev_x, "token %d is right of token %d", i, i - 1);
        prev_x = x;
        cr_assert_eq(scene_hit_token(&L, x, y), i, "the hit test finds token %d", i);
        double py = y;
        for (int l = 0; l < L.n_layers; l++) {
            double bx, by;
            cr_assert(scene3d_block_point(&L, i, l, &bx, &by));
            cr_assert_gt(by, py, "layer %d of token %d hangs below the one above", l, i);
            cr_assert_lt(fabs(bx - x), 0.5 * (by - y) + 2, "block %d/%d is under its token", i, l);
            py = by;
        }
    }
    cr_assert_geq(shown, 8, "at least 8 tokens on the picture, got %d", shown);
    cr_assert(!scene3d_token_point(&L, f.s.n_tokens, &tx, &ty));
    cr_assert(!scene3d_block_point(&L, 0, L.n_layers, &tx, &ty));
    fixture_free(&f);
}

Test(view3d, top_puts_the_write_head_over_its_token) {
    Fixture f;
    fixture_init(&f, 20);
    View v;
    view_3d(&v, "top");
    for (int n = 0; n < 3; n++) {
        SceneLayout L;
        scene_layout(&f.s, &v, 1920, 1080, &L);
        double hx, hy, tx, ty, nx, ny;
        cr_assert(scene3d_head_point(&L, &hx, &hy));
        cr_assert(scene3d_token_point(&L, L.head_pos, &tx, &ty));
        cr_assert(scene3d_token_point(&L, L.head_pos - 1, &nx, &ny));
        double pitch = hypot(tx - nx, ty - ny); // one token's step on the picture
        cr_assert_gt(pitch, 10);
        cr_assert_lt(hypot(hx - tx, hy - ty), 0.3 * pitch,
                     "seen from above the head covers its token (%.1f px off, pitch %.1f)",
                     hypot(hx - tx, hy - ty), pitch);
        // The stack is straight below the token too: from above its blocks are behind it.
        double bx, by;
        cr_assert(scene3d_block_point(&L, L.head_pos, L.n_layers - 1, &bx, &by));
        cr_assert_lt(hypot(bx - tx, by - ty), 0.3 * pitch);
        cr_assert(session_step(&f.s)); // the camera follows the head as the sequence grows
    }
    fixture_free(&f);
}

// Text the scene draws, with the cairo matrix it was drawn under.
typedef struct {
    cairo_t *cr;
    int n, n_rotated, n_small;
    double min_size;
    const Session *s;
    const SceneLayout *L;
} Texts;

static void on_text(void *ctx, const SceneText *st) {
    Texts *t = ctx;
    const double x = st->x, y = st->y, size = st->size;
    const char *utf8 = st->utf8;
    if (!in_main(t->L, x, y))
        return;
    bool token = false;
    char buf[96];
    for (int i = 0; i < t->s->n_tokens && !token; i++) {
        scene_token_display(t->s, i, buf, sizeof buf);
        token = strcmp(buf, utf8) == 0;
    }
    if (!token)
        return;
    t->n++;
    cairo_matrix_t m;
    cairo_get_matrix(t->cr, &m);
    if (!(m.xx > 0 && m.yy > 0 && m.xy == 0 && m.yx == 0))
        t->n_rotated++;
    if (size < t->min_size)
        t->n_small++;
}

Test(view3d, labels_upright_and_legible_and_up_stays_up_in_an_orbit_sweep, .timeout = 120) {
    Fixture f;
    fixture_init(&f, 14);
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1280, 720);
    cairo_t *cr = cairo_create(surf);
    static const double els[] = {-10, 0, 25, 60, 89.5, 90};
    for (int az = 0; az <= 360; az += 45) {
        for (size_t e = 0; e < sizeof els / sizeof els[0]; e++) {
            char cam[64];
            snprintf(cam, sizeof cam, "orbit:%d,%g", az, els[e]);
            View v;
            view_3d(&v, cam);
            SceneLayout L;
            scene_layout(&f.s, &v, 1280, 720, &L);
            Texts t = {.cr = cr, .min_size = 14, .s = &f.s, .L = &L};
            SceneTextSink sink = {on_text, &t};
            v.text_sink = &sink;
            scene_draw(cr, &f.s, &v, 1280, 720, 1.0);
            cr_assert_gt(t.n, 0, "%s: some token labels are shown", cam);
            cr_assert_eq(t.n_rotated, 0, "%s: %d labels drawn turned", cam, t.n_rotated);
            cr_assert_eq(t.n_small, 0, "%s: %d labels under 14 px at 1280x720", cam, t.n_small);
            // Up in the world is up on the picture (unless looking straight down).
            int i = L.head_pos;
            double tx, ty, bx, by;
            cr_assert(scene3d_token_point(&L, i, &tx, &ty), "%s", cam);
            cr_assert(scene3d_block_point(&L, i, L.n_layers - 1, &bx, &by), "%s", cam);
            if (els[e] < 80)
                cr_assert_lt(ty, by, "%s: the token is above its stack on the picture", cam);
            double hx, hy;
            cr_assert(scene3d_head_point(&L, &hx, &hy), "%s", cam);
            cr_assert(in_main(&L, hx, hy), "%s: the camera keeps the head in view", cam);
            if (az % 180 != 90) // side on, the tokens stand behind each other
                cr_assert_eq(scene_hit_token(&L, tx, ty), i, "%s: hit test", cam);
        }
    }
    cairo_destroy(cr);
    cairo_surface_destroy(surf);
    fixture_free(&f);
}

Test(view3d, whole_sequence_brings_every_token_into_view) {
    Fixture f;
    fixture_init(&f, 60);
    View v;
    view_3d(&v, "front");
    SceneLayout L;
    scene_layout(&f.s, &v, 1280, 720, &L);
    double x, y;
    cr_assert(!scene3d_token_point(&L, 0, &x, &y) || !in_main(&L, x, y),
              "following the head, the first token is out of view");
    v.cam_fit = true;
    scene_layout(&f.s, &v, 1280, 720, &L);
    for (int i = 0; i < f.s.n_tokens; i++) {
        cr_assert(scene3d_token_point(&L, i, &x, &y));
        cr_assert(in_main(&L, x, y), "token %d in view", i);
    }
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// The camera

Test(view3d, camera_parse_reads_presets_and_orbit_angles) {
    View v;
    view_init(&v);
    char why[160];
    cr_assert(view_camera_parse("top", &v, why, sizeof why));
    cr_assert_eq(v.camera, CAMERA_TOP);
    cr_assert_float_eq(v.cam_el, 90, 1e-9);
    cr_assert(view_camera_parse("orbit:-120.5,33", &v, why, sizeof why));
    cr_assert_eq(v.camera, CAMERA_ORBIT);
    cr_assert_float_eq(v.orbit_az, -120.5, 1e-9);
    cr_assert_float_eq(v.orbit_el, 33, 1e-9);
    cr_assert_float_eq(v.cam_az, -120.5, 1e-9, "a parsed camera is there at once");
    cr_assert(view_camera_parse("front", &v, why, sizeof why));
    cr_assert_eq(v.camera, CAMERA_FRONT);
    static const char *const bad[] = {"",           "side",        "orbit:",      "orbit:10",
                                      "orbit:10,",  "orbit:a,10",  "orbit:10,b",  "orbit:361,0",
                                      "orbit:0,91", "orbit:0,-11", "orbit:1,2,3", "orbit:nan,1",
                                      "FRONT"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        View w;
        view_init(&w);
        why[0] = '\0';
        cr_assert(!view_camera_parse(bad[i], &w, why, sizeof why), "'%s' refused", bad[i]);
        cr_assert_neq(why[0], '\0', "'%s': a reason", bad[i]);
        cr_assert_eq(w.camera, CAMERA_FRONT, "'%s' leaves the view alone", bad[i]);
    }
}

Test(view3d, moving_between_presets_is_animated_and_arrives) {
    View v;
    view_init(&v);
    v.kind = VIEW_3D;
    double az0 = v.cam_az, el0 = v.cam_el;
    view_camera_set(&v, CAMERA_TOP);
    cr_assert_float_eq(v.cam_el, el0, 1e-9, "setting a preset does not jump");
    cr_assert(view_camera_advance(&v, NULL, 1 / 60.0));
    double move = 90 - el0;
    // A smooth start: a spring at rest gathers speed (an exponential ease would cover a sixth
    // of the way in the first frame).
    cr_assert(v.cam_el > el0 && v.cam_el < el0 + 0.03 * move, "first frame: %g", v.cam_el);
    double prev = v.cam_el, prev_step = v.cam_el - el0, at_quarter = 0;
    int frames = 1;
    while (view_camera_advance(&v, NULL, 1 / 60.0) && frames < 600) {
        cr_assert_geq(v.cam_el, prev, "moves one way");
        cr_assert_leq(v.cam_el, 90 + 1e-9, "never past the preset (%g)", v.cam_el);
        cr_assert_lt(v.cam_el - prev, 0.08 * move, "no jump in one frame (%g)", v.cam_el - prev);
        prev_step = v.cam_el - prev;
        prev = v.cam_el;
        if (++frames == 15)
            at_quarter = v.cam_el;
    }
    (void)prev_step;
    cr_assert_gt(at_quarter, el0 + 0.5 * move, "half the way in a quarter second: %g", at_quarter);
    cr_assert_lt(frames, 72, "arrives within 1.2 s (%d frames)", frames);
    cr_assert_float_eq(v.cam_el, 90, 1e-9);
    cr_assert_float_eq(v.cam_az, az0, 1e-9);
    cr_assert_float_eq(v.cam_vel[1], 0, 1e-12, "at rest on arrival");
    // Azimuth goes the short way round: 350 -> 10 passes 0, not 180.
    v.orbit_az = 10, v.orbit_el = 20, v.cam_az = 350, v.cam_el = 20;
    view_camera_set(&v, CAMERA_ORBIT);
    for (int k = 0; k < 10; k++)
        view_camera_advance(&v, NULL, 1 / 30.0);
    cr_assert(v.cam_az > 350, "short way round: %g", v.cam_az);
    // A long stall (a frame that took seconds) does not throw the camera past its goal.
    view_camera_set(&v, CAMERA_FRONT);
    view_camera_advance(&v, NULL, 5.0);
    cr_assert(v.cam_el >= 14 - 1e-9 && v.cam_el <= 20 + 1e-9, "after a stall: %g", v.cam_el);
}

// The camera follows the write head as the sequence grows (4 steps a second, the window's
// frames at 60 Hz): it moves one way, never overshoots the head's goal, never jumps, keeps the
// head in the picture, and comes to rest on the goal once the steps stop. The whole sequence
// (Z) is reached the same way.
Test(view3d, camera_follows_the_head_smoothly_as_the_sequence_grows, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 4);
    View v;
    view_3d(&v, "orbit:35,25");
    SceneLayout L;
    scene_layout(&f.s, &v, 1280, 720, &L);
    cr_assert(!v.cam_live, "a still stands at its goal");
    view_camera_advance(&v, &L, 0);
    cr_assert(v.cam_live);
    cr_assert_float_eq(v.cam_x, L.c3_goal_x, 1e-12, "starts where the still was");
    double prev = v.cam_x, max_step = 0;
    for (int step = 0; step < 24; step++) {
        cr_assert(session_step(&f.s));
        for (int frame = 0; frame < 15; frame++) {
            scene_layout(&f.s, &v, 1280, 720, &L);
            double goal = L.c3_goal_x;
            view_camera_advance(&v, &L, 1 / 60.0);
            cr_assert_geq(v.cam_x, prev - 1e-12, "step %d: moves one way", step);
            cr_assert_leq(v.cam_x, goal + 1e-9, "step %d: never past the goal (%g > %g)", step,
                          v.cam_x, goal);
            max_step = fmax(max_step, v.cam_x - prev);
            prev = v.cam_x;
            scene_layout(&f.s, &v, 1280, 720, &L);
            double hx, hy;
            cr_assert(scene3d_head_point(&L, &hx, &hy));
            cr_assert(in_main(&L, hx, hy), "step %d frame %d: the head in view", step, frame);
        }
    }
    cr_assert_lt(max_step, 0.12, "no jump: at most %.3f tokens in a frame", max_step);
    cr_assert_gt(prev, 20, "it did follow (x %.2f)", prev);
    int frames = 0;
    do {
        scene_layout(&f.s, &v, 1280, 720, &L);
        frames++;
    } while (view_camera_advance(&v, &L, 1 / 60.0) && frames < 600);
    cr_assert_lt(frames, 90, "at rest within 1.5 s of the last step (%d frames)", frames);
    cr_assert_float_eq(v.cam_x, L.c3_goal_x, 1e-12);
    // The whole sequence: the distance grows smoothly to the fitting one, every token in view.
    v.cam_fit = true;
    double d0 = v.cam_dist, dprev = d0;
    frames = 0;
    do {
        scene_layout(&f.s, &v, 1280, 720, &L);
        cr_assert_geq(v.cam_dist, dprev - 1e-12, "moves back one way");
        cr_assert_leq(v.cam_dist, L.c3_goal_dist + 1e-9, "never past the goal");
        dprev = v.cam_dist;
        frames++;
    } while (view_camera_advance(&v, &L, 1 / 60.0) && frames < 600);
    cr_assert_gt(frames, 10, "animated, not a jump");
    cr_assert_gt(v.cam_dist, d0 + 1);
    scene_layout(&f.s, &v, 1280, 720, &L);
    for (int i = 0; i < f.s.n_tokens; i++) {
        double x, y;
        cr_assert(scene3d_token_point(&L, i, &x, &y));
        cr_assert(in_main(&L, x, y), "token %d in view", i);
    }
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Hit test and drawing order, against ray casting

typedef struct {
    double lo[3], hi[3];
} Aabb;

// Distance along the ray from o in direction d to the box, or -1 when it misses (slabs).
static double ray_box(const double *o, const double *d, const Aabb *b) {
    double t0 = 0, t1 = 1e300;
    for (int a = 0; a < 3; a++) {
        if (fabs(d[a]) < 1e-15) {
            if (o[a] < b->lo[a] || o[a] > b->hi[a])
                return -1;
            continue;
        }
        double ta = (b->lo[a] - o[a]) / d[a], tb = (b->hi[a] - o[a]) / d[a];
        if (ta > tb) {
            double t = ta;
            ta = tb, tb = t;
        }
        t0 = fmax(t0, ta);
        t1 = fmin(t1, tb);
        if (t0 > t1)
            return -1;
    }
    return t0;
}

// The scene's boxes as view_3d.c builds them (token i at x = i, its block 0 .. 0.5 high and
// 0.8 wide, cache block l from -0.14 - 0.4 l down 0.3, 0.64 deep and 0.64 x kv heads / heads
// wide: the fixture's 2 of 4).
static Aabb scene_box(int i, int layer) {
    if (layer < 0)
        return (Aabb){{i - 0.40, 0, -0.40}, {i + 0.40, 0.50, 0.40}};
    double top = -0.14 - 0.40 * layer, hx = 0.32 * 2 / 4;
    return (Aabb){{i - hx, top - 0.30, -0.32}, {i + hx, top, 0.32}};
}

// The token whose label plate holds (x, y), or -1.
static int label_at(const SceneLayout *L, double x, double y) {
    for (int k = 0; k < L->c3_n_labels; k++) {
        SceneRect r = L->c3_label[k].plate;
        if (x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h)
            return L->c3_label[k].token;
    }
    return -1;
}

// For points all over the picture, under orbit angles all round: the box the hit test gives
// is the one the ray through the point meets first (so the drawing order, which the hit test
// follows, puts nearer boxes over farther ones), and a point on nothing hits nothing.
Test(view3d, hit_is_the_front_most_face_and_drawing_order_is_by_depth, .timeout = 120) {
    Fixture f;
    fixture_init(&f, 14);
    int checked = 0, covered = 0;
    static const double els[] = {-10, 5, 25, 55, 90};
    for (int az = 0; az < 360; az += 30)
        for (size_t e = 0; e < sizeof els / sizeof els[0]; e++) {
            char cam[64];
            snprintf(cam, sizeof cam, "orbit:%d,%g", az, els[e]);
            View v;
            view_3d(&v, cam);
            SceneLayout L;
            scene_layout(&f.s, &v, 640, 360, &L);
            for (double y = L.main.y + 3; y < L.main.y + L.main.h; y += 9.7)
                for (double x = L.main.x + 3; x < L.main.x + L.main.w; x += 9.3) {
                    // The ray through the picture point (x, y).
                    double rx = (x - L.c3_cx) / L.c3_focal, ry = -(y - L.c3_cy) / L.c3_focal;
                    double d[3];
                    for (int a = 0; a < 3; a++)
                        d[a] = L.c3_fwd[a] + rx * L.c3_right[a] + ry * L.c3_up[a];
                    double best = 1e300;
                    int bt = -1, bl = -2;
                    for (int i = 0; i < L.n_tokens; i++)
                        for (int l = -1; l < L.n_layers; l++) {
                            Aabb b = scene_box(i, l);
                            double t = ray_box(L.c3_eye, d, &b);
                            if (t >= 0 && t < best)
                                best = t, bt = i, bl = l;
                        }
                    int ht, hl;
                    bool hit = scene3d_hit(&L, x, y, &ht, &hl);
                    const int on_label = label_at(&L, x, y);
                    if (on_label >= 0) { // a label's plate is over every box: its token
                        cr_assert(hit && ht == on_label && hl == -1,
                                  "%s (%.0f, %.0f): on the label of %d, hit %d/%d", cam, x, y,
                                  on_label, ht, hl);
                        continue;
                    }
                    if (bt < 0) {
                        cr_assert(!hit, "%s (%.0f, %.0f): on nothing, hit %d/%d", cam, x, y, ht,
                                  hl);
                        checked++;
                        continue;
                    }
                    // Columns too near the eye are cut away: there the first box met is not
                    // drawn. Points within a pixel of an edge may go either way.
                    double fwd =
                        best * (d[0] * L.c3_fwd[0] + d[1] * L.c3_fwd[1] + d[2] * L.c3_fwd[2]);
                    if (!hit || fwd < L.c3_near + 1)
                        continue;
                    double ox = x + 1, oy = y + 1;
                    int t2, l2, t3, l3;
                    bool h2 = scene3d_hit(&L, ox, oy, &t2, &l2);
                    bool h3 = scene3d_hit(&L, x - 1, y - 1, &t3, &l3);
                    if (!h2 || !h3 || t2 != ht || l2 != hl || t3 != ht || l3 != hl)
                        continue;
                    cr_assert(ht == bt && hl == bl,
                              "%s (%.0f, %.0f): hit token %d layer %d, the ray meets token %d "
                              "layer %d first",
                              cam, x, y, ht, hl, bt, bl);
                    cr_assert_eq(scene_hit_token(&L, x, y), bt);
                    int t4 = -1, l4 = -1;
                    cr_assert_eq(scene_hit_block(&L, x, y, &t4, &l4), bl >= 0,
                                 "%s: a cache block is hit as one", cam);
                    if (bl >= 0)
                        cr_assert(t4 == bt && l4 == bl);
                    checked++;
                    covered++;
                }
        }
    cr_assert_gt(covered, 2000, "enough points on boxes (%d)", covered);
    cr_assert_gt(checked, covered + 2000, "and off them (%d)", checked - covered);
    fixture_free(&f);
}

// Image difference helpers are below (reference images); a sweep of the orbit, one degree a
// frame, must change the picture a little each frame: no face that pops in front of another
// and back (z-fighting, an unstable sort) or a picture that jumps.
static void image_diff(cairo_surface_t *a, cairo_surface_t *b, double *mean, double *share);

Test(view3d, orbiting_changes_the_picture_smoothly, .timeout = 120) {
    Fixture f;
    fixture_init(&f, 16);
    enum { W = 480, H = 270, N = 40 };
    cairo_surface_t *img[2];
    for (int k = 0; k < 2; k++)
        img[k] = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    double shares[N];
    for (int k = 0; k < N; k++) {
        char cam[64];
        snprintf(cam, sizeof cam, "orbit:%d,25", 20 + k);
        View v;
        view_3d(&v, cam);
        v.show_panels = false;
        cairo_t *cr = cairo_create(img[k % 2]);
        scene_draw(cr, &f.s, &v, W, H, 1.0);
        cairo_destroy(cr);
        if (k > 0) {
            double mean;
            image_diff(img[k % 2], img[(k + 1) % 2], &mean, &shares[k]);
        }
    }
    double sum = 0, worst = 0;
    for (int k = 1; k < N; k++)
        sum += shares[k], worst = fmax(worst, shares[k]);
    double mean_share = sum / (N - 1);
    cr_assert_gt(mean_share, 0, "the camera moves the picture");
    cr_assert_lt(worst, 0.06, "one degree changes at most 6%% of the pixels (%.1f%%)", 100 * worst);
    cr_assert_lt(worst, 4 * mean_share + 0.01, "no frame jumps (worst %.2f%%, mean %.2f%%)",
                 100 * worst, 100 * mean_share);
    for (int k = 0; k < 2; k++)
        cairo_surface_destroy(img[k]);
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// --camera on the command line

static void expect_bad(const char *const *args, const char *need) {
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)tu_kvscope_bin();
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    TuRun r;
    cr_assert(tu_run(argv, 60, &r));
    cr_assert(!tu_has_sanitizer_report(r.err), "sanitizer report:\n%s", r.err);
    cr_assert_eq(r.status, 2, "exit %d, want 2: %s", r.status, r.err);
    cr_assert_eq(tu_count_lines(r.err), 1, "one line, got:\n%s", r.err);
    cr_assert(strncmp(r.err, "kvscope: --camera: ", 19) == 0, "stderr: %s", r.err);
    cr_assert(strstr(r.err, need), "'%s' does not say '%s'", r.err, need);
    tu_run_free(&r);
}

#define BAD_CAMERA(name, value, need)                                                              \
    Test(view3d, render_camera_##name) {                                                           \
        const char *a[] = {"render",                                                               \
                           "--preset",                                                             \
                           "fact",                                                                 \
                           "--steps",                                                              \
                           "1",                                                                    \
                           "--view",                                                               \
                           "3d",                                                                   \
                           "--camera",                                                             \
                           value,                                                                  \
                           "-o",                                                                   \
                           "/nonexistent-dir/x.png",                                               \
                           NULL};                                                                  \
        expect_bad(a, need);                                                                       \
    }                                                                                              \
    Test(view3d, run_camera_##name) {                                                              \
        const char *a[] = {"run", "--view", "3d", "--camera", value, NULL};                        \
        expect_bad(a, need);                                                                       \
    }

BAD_CAMERA(unknown, "sideways", "unknown camera 'sideways'")
BAD_CAMERA(empty, "", "needs front, top or orbit")
BAD_CAMERA(no_elevation, "orbit:30", "is not orbit:AZIMUTH,ELEVATION")
BAD_CAMERA(not_a_number, "orbit:east,10", "azimuth of 'east,10' is not a number")
BAD_CAMERA(azimuth_range, "orbit:400,10", "azimuth 400 is out of range")
BAD_CAMERA(elevation_range, "orbit:30,95", "elevation 95 is out of range")
BAD_CAMERA(trailing, "orbit:30,20deg", "is not orbit:AZIMUTH,ELEVATION")

Test(view3d, render_camera_missing_value) {
    const char *a[] = {"render", "--preset", "fact", "--steps", "1", "--camera", NULL};
    expect_bad(a, "needs a value");
}

// ----------------------------------------------------------------------------------------------
// Reference images

#define REF_W 480
#define REF_H 270

// Mean absolute difference per channel (0 .. 255) and the share of pixels off by more than 48
// in some channel.
static void image_diff(cairo_surface_t *a, cairo_surface_t *b, double *mean, double *share) {
    int w = cairo_image_surface_get_width(a), h = cairo_image_surface_get_height(a);
    cr_assert_eq(w, cairo_image_surface_get_width(b));
    cr_assert_eq(h, cairo_image_surface_get_height(b));
    cairo_surface_flush(a);
    cairo_surface_flush(b);
    const unsigned char *pa = cairo_image_surface_get_data(a);
    const unsigned char *pb = cairo_image_surface_get_data(b);
    int sa = cairo_image_surface_get_stride(a), sb = cairo_image_surface_get_stride(b);
    double sum = 0;
    long off = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int worst = 0;
            for (int c = 0; c < 3; c++) {
                int d = abs(pa[y * sa + 4 * x + c] - pb[y * sb + 4 * x + c]);
                sum += d;
                worst = d > worst ? d : worst;
            }
            off += worst > 48;
        }
    *mean = sum / (3.0 * w * h);
    *share = (double)off / ((double)w * h);
}

// On an opaque image the faces, edges and beams go through view_3d.c's own rasterizer; under
// any other matrix (here a scale off by 1e-12) through cairo. The two pictures agree: the same
// polygons in the same order, coverage within antialiasing's differences.
Test(view3d, rasterizer_agrees_with_cairo, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 16);
    static const char *const cams[] = {"front", "top", "orbit:35,25", "orbit:200,60"};
    for (size_t k = 0; k < sizeof cams / sizeof cams[0]; k++) {
        View v;
        view_3d(&v, cams[k]);
        v.show_panels = false;
        cairo_surface_t *img[2];
        for (int m = 0; m < 2; m++) {
            img[m] = cairo_image_surface_create(CAIRO_FORMAT_RGB24, REF_W, REF_H);
            cairo_t *cr = cairo_create(img[m]);
            if (m == 1)
                cairo_scale(cr, 1 + 1e-12, 1);
            scene_draw(cr, &f.s, &v, REF_W, REF_H, 1.0);
            cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
            cairo_destroy(cr);
        }
        double mean, share;
        image_diff(img[0], img[1], &mean, &share);
        cr_assert_lt(mean, 1.0, "%s: mean difference %.2f / 255", cams[k], mean);
        cr_assert_lt(share, 0.005, "%s: %.2f%% of the pixels differ", cams[k], 100 * share);
        for (int m = 0; m < 2; m++)
            cairo_surface_destroy(img[m]);
    }
    fixture_free(&f);
}

Test(view3d, reference_images, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 16);
    static const char *const cams[][2] = {
        {"front", "front"}, {"top", "top"}, {"orbit:35,25", "orbit"}};
    bool regen = getenv("KVSCOPE_REGEN_REF3D") != NULL;
    for (size_t k = 0; k < 3; k++) {
        View v;
        view_3d(&v, cams[k][0]);
        v.show_panels = false; // the measured step time would differ from run to run
        cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, REF_W, REF_H);
        cairo_t *cr = cairo_create(img);
        scene_draw(cr, &f.s, &v, REF_W, REF_H, 1.0);
        cairo_destroy(cr);
        char name[64];
        snprintf(name, sizeof name, "ref3d/%s.png", cams[k][1]);
        char *path = tu_data_path(name);
        if (regen) {
            cr_assert_eq(cairo_surface_write_to_png(img, path), CAIRO_STATUS_SUCCESS, "%s", path);
        }
        cairo_surface_t *ref = cairo_image_surface_create_from_png(path);
        cr_assert_eq(cairo_surface_status(ref), CAIRO_STATUS_SUCCESS, "cannot read %s", path);
        double mean, share;
        image_diff(img, ref, &mean, &share);
        // Tolerance: antialiasing and font rasterising may differ a little between builds.
        cr_assert_lt(mean, 1.5, "%s: mean difference %.2f / 255", name, mean);
        cr_assert_lt(share, 0.01, "%s: %.2f%% of the pixels differ", name, 100 * share);
        // And the camera matters: each preset differs from the others.
        if (k > 0) {
            char other[64];
            snprintf(other, sizeof other, "ref3d/%s.png", cams[k - 1][1]);
            char *op = tu_data_path(other);
            cairo_surface_t *o = cairo_image_surface_create_from_png(op);
            if (cairo_surface_status(o) == CAIRO_STATUS_SUCCESS) {
                image_diff(img, o, &mean, &share);
                cr_assert_gt(share, 0.02, "%s and %s look alike", name, other);
            }
            cairo_surface_destroy(o);
            free(op);
        }
        cairo_surface_destroy(ref);
        cairo_surface_destroy(img);
        free(path);
    }
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Cache cells: the precision and policy states, kv heads and the inspected cell, as in 2D

#define MAX_POS 128
#define MAX_LAYER 6

typedef struct {
    bool seen[MAX_LAYER][MAX_POS];
    SceneCellStyle style[MAX_LAYER][MAX_POS];
    SceneRect box[MAX_LAYER][MAX_POS];
    int n, n_inspected;
} Cells;

static void on_cell(void *ctx, const SceneCell *c) {
    Cells *k = ctx;
    k->n++;
    k->n_inspected += c->style.inspected;
    if (c->pos >= 0 && c->pos < MAX_POS && c->layer >= 0 && c->layer < MAX_LAYER) {
        k->seen[c->layer][c->pos] = true;
        k->style[c->layer][c->pos] = c->style;
        k->box[c->layer][c->pos] = c->box;
    }
}

// The cells the view v draws at w x h (into the returned picture, owned: destroy it).
static cairo_surface_t *draw_cells(const Session *s, View v, int w, int h, Cells *k) {
    memset(k, 0, sizeof *k);
    SceneCellSink sink = {on_cell, k};
    v.cell_sink = &sink;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(img);
    scene_draw(cr, s, &v, w, h, 1.0);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    return img;
}

// Every precision and retention the cache has: each cell the 3D view draws carries the style
// the sequence view draws it with (stripes, sinks, evicted ghosts, h2o's per-kv-head ghosts, kv
// heads), and the styles are the documented ones: bf16 4 stripes, int8 3, int4 and kivi4 2 on
// the positions held quantized; window:W and sinks:S,W evict exactly the positions outside
// their budget; sinks outline the first S; h2o's ghosts are the kv heads that evicted the cell.
Test(view3d, cache_cells_carry_the_precision_and_policy_styles_of_the_2d_views, .timeout = 120) {
    static const struct {
        const char *kv, *cache;
        int stripes, steps;
    } cases[] = {
        {"bf16", "full", 4, 14},    {"int8", "full", 3, 14},     {"int4", "window:8", 2, 14},
        {"kivi4", "full", 2, 60},   {"f32", "sinks:2,6", 0, 14}, {"f32", "h2o:3,3", 0, 14},
        {"int8", "h2o:4,4", 3, 14}, {"f32", "window:16", 0, 14},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Fixture f;
        fixture_init(&f, 0);
        KvError err = {0};
        KvPrecision p;
        KvCacheKind kind = KV_CACHE_DENSE;
        cr_assert_eq(kv_precision_parse("--kv", cases[c].kv, &p, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(kv_parse_retention("--cache", cases[c].cache, &kind, &err), KV_OK);
        cr_assert_eq(session_set_kv(&f.s, p, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(session_set_cache(&f.s, kind, &err), KV_OK, "%s", err.msg);
        for (int k = 0; k < cases[c].steps; k++)
            cr_assert(session_step(&f.s));
        const StepRecord *r = session_last(&f.s);
        cr_assert_lt(r->pos, MAX_POS);
        View v;
        view_3d(&v, "orbit:20,20");
        v.cam_fit = true; // every cell in view
        Cells k3, k2;
        cairo_surface_destroy(draw_cells(&f.s, v, 1280, 720, &k3));
        View v2;
        view_init(&v2);
        cairo_surface_destroy(draw_cells(&f.s, v2, 1920, 1080, &k2));
        int striped = 0, evicted = 0, sinks = 0, ghosts = 0;
        for (int l = 0; l < f.s.model->cfg.n_layers; l++)
            for (int i = 0; i <= r->pos; i++) {
                const char *what = cases[c].cache;
                cr_assert(k3.seen[l][i], "%s %s: cell %d/%d drawn in 3D", cases[c].kv, what, i, l);
                cr_assert(k2.seen[l][i], "%s %s: cell %d/%d drawn in 2D", cases[c].kv, what, i, l);
                const SceneCellStyle *a = &k3.style[l][i], *b = &k2.style[l][i];
                cr_assert(a->state == b->state && a->stripes == b->stripes && a->sink == b->sink &&
                              a->gone == b->gone && a->kv_heads == b->kv_heads,
                          "%s %s: cell %d/%d drawn unlike the sequence view", cases[c].kv, what, i,
                          l);
                cr_assert_eq(a->kv_heads, 2, "the fixture's 2 kv heads");
                const bool held =
                    a->state == BLOCK_CACHED || a->state == BLOCK_READ || a->state == BLOCK_WRITTEN;
                cr_assert_eq(a->stripes, held && i < r->kv_quantized ? cases[c].stripes : 0,
                             "%s %s: cell %d/%d stripes", cases[c].kv, what, i, l);
                striped += a->stripes > 0;
                int budget_lo = -1, sink_n = 0; // positions budget_lo+1 .. pos resident
                if (kind.retention == KV_RETAIN_WINDOW)
                    budget_lo = r->pos - kind.window;
                if (kind.retention == KV_RETAIN_SINKS)
                    budget_lo = r->pos - kind.window, sink_n = kind.sinks;
                if (kind.retention == KV_RETAIN_WINDOW || kind.retention == KV_RETAIN_SINKS)
                    cr_assert_eq(a->state == BLOCK_EVICTED, i >= sink_n && i <= budget_lo,
                                 "%s: position %d of %d evicted", what, i, r->pos);
                cr_assert_eq(a->sink, i < sink_n, "%s: position %d a sink", what, i);
                evicted += a->state == BLOCK_EVICTED;
                sinks += a->sink;
                for (int g = 0; g < 2; g++) {
                    const CellStep cs = session_cell(&f.s, r, l, g, i);
                    if (a->gone)
                        cr_assert_eq(a->gone >> g & 1, cs.now == CELL_EVICTED,
                                     "%s: cell %d/%d kv head %d", what, i, l, g);
                }
                ghosts += a->gone != 0;
            }
        if (cases[c].stripes)
            cr_assert_gt(striped, 0, "%s: striped cells", cases[c].kv);
        if (kind.retention != KV_RETAIN_FULL)
            cr_assert_gt(evicted + ghosts, 0, "%s: evicted cells", cases[c].cache);
        if (kind.retention == KV_RETAIN_SINKS)
            cr_assert_eq(sinks, 2 * f.s.model->cfg.n_layers);
        fixture_free(&f);
    }
}

// The cells are as wide as the kv heads are many: in the sequence view exactly kv heads / heads
// of a multi-head cell, in 3D narrower on the picture for fewer kv heads.
Test(view3d, cells_shrink_with_the_kv_heads, .timeout = 60) {
    double w2[3], w3[3];
    static const int hkv[3] = {4, 2, 1};
    for (int m = 0; m < 3; m++) {
        Model model;
        Tokenizer tok;
        Session s;
        KvError err = {0};
        ModelConfig c = tu_config(48, 96, 6, 4, hkv[m], 400, 256, false);
        cr_assert_eq(tu_session_open(&model, &tok, &s, &c, 7, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(session_set_prompt(&s, "the cat sat on the mat", &err), KV_OK);
        for (int k = 0; k < 6; k++)
            cr_assert(session_step(&s));
        View v;
        view_init(&v);
        Cells k;
        cairo_surface_destroy(draw_cells(&s, v, 1280, 720, &k));
        cr_assert(k.seen[0][2], "2D: %d cells drawn", k.n);
        cr_assert_eq(k.style[0][2].kv_heads, hkv[m]);
        w2[m] = k.box[0][2].w;
        view_3d(&v, "front");
        v.cam_fit = true;
        cairo_surface_destroy(draw_cells(&s, v, 1280, 720, &k));
        cr_assert(k.seen[0][2]);
        w3[m] = k.box[0][2].w;
        tu_session_close(&model, &tok, &s);
    }
    for (int m = 1; m < 3; m++) {
        cr_assert_float_eq(w2[m] / w2[0], hkv[m] / 4.0, 1e-9, "2D: %g of %g", w2[m], w2[0]);
        cr_assert_lt(w3[m], 0.8 * w3[m - 1], "3D: %d kv heads %.1f px, %d: %.1f px", hkv[m], w3[m],
                     hkv[m - 1], w3[m - 1]);
    }
}

// The inspector's cell is outlined in 3D as in 2D: one cell, in the pinned colour, where it is.
Test(view3d, inspected_cell_is_outlined, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 10);
    View v;
    view_3d(&v, "orbit:25,20");
    v.show_panels = false;
    Cells k;
    cairo_surface_t *plain = draw_cells(&f.s, v, 1280, 720, &k);
    cr_assert_eq(k.n_inspected, 0);
    const int pos = session_last(&f.s)->pos - 2, layer = 1;
    v.inspect = true;
    v.inspect_layer = layer;
    v.inspect_pos = pos;
    cairo_surface_t *img = draw_cells(&f.s, v, 1280, 720, &k);
    cr_assert_eq(k.n_inspected, 1, "one cell outlined");
    cr_assert(k.seen[layer][pos] && k.style[layer][pos].inspected);
    // The pinned colour on the cell's edges.
    const SceneColour pin = scene_theme_get(THEME_DARK)->pinned;
    const uint32_t want = (uint32_t)(pin.r * 255 + 0.5) << 16 | (uint32_t)(pin.g * 255 + 0.5) << 8 |
                          (uint32_t)(pin.b * 255 + 0.5);
    SceneRect b = k.box[layer][pos];
    int inked = 0, before = 0;
    cairo_surface_flush(img);
    cairo_surface_flush(plain);
    const uint32_t *px = (const uint32_t *)(void *)cairo_image_surface_get_data(img);
    const uint32_t *p0 = (const uint32_t *)(void *)cairo_image_surface_get_data(plain);
    const int stride = cairo_image_surface_get_stride(img) / 4;
    for (int y = (int)b.y - 2; y <= (int)(b.y + b.h) + 2; y++)
        for (int x = (int)b.x - 2; x <= (int)(b.x + b.w) + 2; x++) {
            if (x < 0 || y < 0 || x >= 1280 || y >= 720)
                continue;
            inked += (px[(size_t)y * stride + x] & 0xffffff) == want;
            before += (p0[(size_t)y * stride + x] & 0xffffff) == want;
        }
    cr_assert_gt(inked, 40, "the outline: %d pixels in the pinned colour (before: %d)", inked,
                 before);
    cr_assert_lt(before, 5);
    cairo_surface_destroy(img);
    cairo_surface_destroy(plain);
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Labels: their plates hit their token; orbiting never makes them flicker

Test(view3d, label_plates_hit_their_token) {
    Fixture f;
    fixture_init(&f, 14);
    static const char *const cams[] = {"front", "top", "orbit:35,25", "orbit:200,40"};
    for (size_t c = 0; c < 4; c++) {
        View v;
        view_3d(&v, cams[c]);
        SceneLayout L;
        scene_layout(&f.s, &v, 1280, 720, &L);
        cr_assert_gt(L.c3_n_labels, 2, "%s: labels shown", cams[c]);
        for (int k = 0; k < L.c3_n_labels; k++) {
            const Scene3dLabel *lb = &L.c3_label[k];
            // the plate's corners inside by a pixel, and its centre
            const double xs[3] = {lb->plate.x + 1, lb->plate.x + lb->plate.w / 2,
                                  lb->plate.x + lb->plate.w - 1};
            const double ys[3] = {lb->plate.y + 1, lb->plate.y + lb->plate.h / 2,
                                  lb->plate.y + lb->plate.h - 1};
            for (int q = 0; q < 3; q++) {
                cr_assert_eq(scene_hit_token(&L, xs[q], ys[q]), lb->token,
                             "%s: the label of %d at (%.0f, %.0f)", cams[c], lb->token, xs[q],
                             ys[q]);
            }
        }
    }
    fixture_free(&f);
}

typedef struct {
    const SceneLayout *L;
    int n, off, hit, covered;
    char why[160];
} BeamEnds;

// A beam ends on the top of its key's block (its projected top centre), and the hit test there
// gives the key, unless the point is off the picture (a beam to a token out of view) or a nearer
// token's label plate covers it.
static void on_beam_end(void *ctx, const SceneBeam *b) {
    BeamEnds *be = ctx;
    be->n++;
    double tx, ty;
    if (!scene3d_token_point(be->L, b->key, &tx, &ty) || fabs(tx - b->x) > 0.5 ||
        fabs(ty - b->y) > 0.5) {
        if (!be->off++)
            snprintf(be->why, sizeof be->why, "beam to %d ends at (%.1f, %.1f)", b->key, b->x,
                     b->y);
        return;
    }
    const int under = label_at(be->L, b->x, b->y);
    if (!in_main(be->L, b->x, b->y) || (under >= 0 && under != b->key)) { // off the picture
        be->covered++;
        return;
    }
    be->hit += scene_hit_token(be->L, b->x, b->y) == b->key;
}

// A sweep of the azimuth in half-degree steps: a token's label changes between on its block and
// lifted only where the rule's edge is crossed, never back and forth from one step to the next.
Test(view3d, labels_do_not_flicker_while_orbiting, .timeout = 120) {
    Fixture f;
    fixture_init(&f, 14);
    static const double els[] = {8, 25, 50};
    for (size_t e = 0; e < 3; e++) {
        int last[MAX_POS], since[MAX_POS], changes = 0;
        for (int i = 0; i < MAX_POS; i++)
            last[i] = -1, since[i] = 1000;
        for (int step = 0; step <= 720; step++) {
            char cam[64];
            snprintf(cam, sizeof cam, "orbit:%g,%g", step * 0.5, els[e]);
            View v;
            view_3d(&v, cam);
            SceneLayout L;
            scene_layout(&f.s, &v, 1280, 720, &L);
            for (int i = 0; i < MAX_POS; i++)
                since[i]++;
            for (int k = 0; k < L.c3_n_labels; k++) {
                const int i = L.c3_label[k].token, st = L.c3_label[k].lifted;
                if (i >= MAX_POS)
                    continue;
                if (last[i] >= 0 && last[i] != st) {
                    cr_assert_gt(since[i], 4,
                                 "%s: the label of %d changed again %d steps after its last "
                                 "change",
                                 cam, i, since[i]);
                    since[i] = 0;
                    changes++;
                }
                last[i] = st;
            }
        }
        cr_log_info("elevation %g: %d label changes in a turn", els[e], changes);
    }
    fixture_free(&f);
}

// Every beam the 3D view draws ends on the token it reads: on the top of its block, which the
// hit test finds there.
Test(view3d, beams_end_on_the_token_they_read, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 14);
    static const char *const cams[] = {"front", "top", "orbit:35,25", "orbit:330,50"};
    for (size_t c = 0; c < 4; c++) {
        View v;
        view_3d(&v, cams[c]);
        v.beam_threshold = 0;
        SceneLayout L;
        scene_layout(&f.s, &v, 1280, 720, &L);
        BeamEnds be = {.L = &L};
        SceneBeamSink sink = {on_beam_end, &be};
        v.beam_sink = &sink;
        cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1280, 720);
        cairo_t *cr = cairo_create(img);
        scene_draw(cr, &f.s, &v, 1280, 720, 1.0);
        cairo_destroy(cr);
        cairo_surface_destroy(img);
        cr_assert_gt(be.n, 3, "%s: beams drawn", cams[c]);
        cr_assert_eq(be.off, 0, "%s: %d of %d beams not on their token's block: %s", cams[c],
                     be.off, be.n, be.why);
        cr_assert_geq(be.hit, be.n - be.covered, "%s: %d of %d beams hit their token, %d covered",
                      cams[c], be.hit, be.n, be.covered);
    }
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Cache bytes per token: from the cache itself, on the counters

typedef struct {
    bool next; // the text after "cache growth" is its value
    char value[64];
} Growth;

static void on_growth(void *ctx, const SceneText *t) {
    Growth *g = ctx;
    if (g->next) {
        snprintf(g->value, sizeof g->value, "%s", t->utf8);
        g->next = false;
    }
    if (strcmp(t->utf8, "cache growth") == 0)
        g->next = true;
}

// Every (kv heads, precision): the cache's bytes per position are L x 2 x HKV x (HS x bytes per
// value + the row's scales: int8 one float, int4 a scale and a zero point), the step records
// them, and the counters show them per token.
Test(kvheads, counter_shows_the_cache_bytes_per_token, .timeout = 60) {
    static const int hkv[] = {4, 2, 1};
    static const struct {
        KvPrecision p;
        double bytes_per_value; // HS values' bytes / HS
        int scale_bytes;        // per row
    } kinds[] = {{KV_PRECISION_F32, 4, 0},
                 {KV_PRECISION_BF16, 2, 0},
                 {KV_PRECISION_INT8, 1, 4},
                 {KV_PRECISION_INT4, 0.5, 8}};
    for (size_t h = 0; h < 3; h++)
        for (size_t k = 0; k < 4; k++) {
            Model model;
            Tokenizer tok;
            Session s;
            KvError err = {0};
            const int L = 6, HS = 48 / 4;
            ModelConfig c = tu_config(48, 96, L, 4, hkv[h], 400, 256, false);
            cr_assert_eq(tu_session_open(&model, &tok, &s, &c, 7, &err), KV_OK, "%s", err.msg);
            cr_assert_eq(session_set_kv(&s, kinds[k].p, &err), KV_OK, "%s", err.msg);
            cr_assert_eq(session_set_prompt(&s, "the cat sat", &err), KV_OK);
            const uint64_t want =
                (uint64_t)L * 2 * hkv[h] * (uint64_t)(HS * kinds[k].bytes_per_value) +
                (uint64_t)L * 2 * hkv[h] * kinds[k].scale_bytes;
            cr_assert_eq(kvcache_bytes_per_position(&s.eng.cache), want, "%d kv heads, %s", hkv[h],
                         kv_precision_name(kinds[k].p));
            for (int i = 0; i < 3; i++)
                cr_assert(session_step(&s));
            const StepRecord *r = session_last(&s);
            cr_assert_eq(r->kv_bytes_per_token, want);
            cr_assert_eq(r->kv_bytes_resident, want * (uint64_t)(r->pos + 1),
                         "what the cache holds grows by it");
            Growth g = {0};
            SceneTextSink sink = {on_growth, &g};
            View v;
            view_init(&v);
            v.text_sink = &sink;
            cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1280, 720);
            cairo_t *cr = cairo_create(img);
            scene_draw(cr, &s, &v, 1280, 720, 1.0);
            cairo_destroy(cr);
            cairo_surface_destroy(img);
            char b[32], line[64];
            kv_format_bytes(b, sizeof b, want);
            snprintf(line, sizeof line, "%s per token", b);
            cr_assert_str_eq(g.value, line, "%d kv heads, %s", hkv[h],
                             kv_precision_name(kinds[k].p));
            tu_session_close(&model, &tok, &s);
        }
}
