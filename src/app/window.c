// window.c — `kvscope` / `kvscope run`: the SDL2 window a teacher uses in class.
//
// Each frame is drawn by cairo into an image surface (the scene above, the toolbar strip below)
// and uploaded into an SDL streaming texture: ARGB8888 is CAIRO_FORMAT_ARGB32's layout on a
// little-endian machine. Frames are drawn only when something changed or an animation runs, so
// an idle window sleeps in SDL_WaitEvent. Steps run on a worker thread; while one runs the UI
// keeps the last picture, still answers input and redraws its toolbar.
//
// What is not here: what keys and buttons do (window_actions.c, window_app.c), the toolbar
// (window_ui.c), the step worker (worker.c), the picture (src/view).
#include "app/window.h"

#include <libgen.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// ----------------------------------------------------------------------------------------------
// Options

typedef struct {
    CommonOptions common;
    int width, height;
    bool fullscreen;
    bool split;       // --split: the cached and the uncached session side by side
    int sampling_log; // --sampling-scale: 1 log, 0 linear
    ThemeKind theme;
    bool theme_given;   // --theme: also over the themes a lesson's beats set
    int view;           // -1: default
    const char *camera; // --camera, checked by parse_run; NULL: default
    int steps;          // steps taken before the window opens
    int speed_i;        // -1: default
    int bench_frames;   // > 0: play at 20 tok/s for this many frames, print figures, exit
    const char *export_dir;
    ServeOptions serve; // --serve FILE|classroom: the pool view of a serving session
    Serve *server;      // made by cmd_run when --serve is given
} RunOptions;

static int parse_size(const char *val, int *w, int *h, KvError *err) {
    return kv_parse_size("--size", val, 200, 150, 16384, 0, w, h, err) ? -1 : 0;
}

static int parse_run(int argc, char **argv, RunOptions *o, KvError *err) {
    memset(o, 0, sizeof *o);
    app_common_defaults(&o->common);
    o->width = 1280, o->height = 720;
    o->theme = THEME_DARK;
    o->view = -1;
    o->speed_i = -1;
    app_serve_defaults(&o->serve);
    for (int i = 1; i < argc; i++) {
        int r = app_parse_common(argc, argv, &i, &o->common, err);
        if (r == 0)
            r = app_parse_serve(argc, argv, &i, &o->serve, err);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        double d;
        if (strcmp(opt, "--fullscreen") == 0) {
            o->fullscreen = true;
            continue;
        }
        if (strcmp(opt, "--split") == 0) {
            o->split = true;
            continue;
        }
        if (strcmp(opt, "--size") == 0) {
            if (parse_size(val, &o->width, &o->height, err))
                return -1;
        } else if (strcmp(opt, "--theme") == 0) {
            o->theme_given = true;
            int t = view_theme_parse(val);
            if (t < 0)
                return kv_error(err, KV_ERR_INPUT, "--theme: '%s' is not dark or light",
                                val ? val : ""),
                       -1;
            o->theme = (ThemeKind)t;
        } else if (strcmp(opt, "--view") == 0) {
            const bool split = val && strcmp(val, VIEW_SPLIT_NAME) == 0; // as --split
            o->view = split ? VIEW_SEQUENCE : val ? view_kind_parse(val) : -1;
            o->split = o->split || split;
            if (o->view < 0) {
                char names[160];
                view_kind_list(names, sizeof names, ", ");
                return kv_error(err, KV_ERR_INPUT, "--view: '%s' is not one of %s, %s",
                                val ? val : "", names, VIEW_SPLIT_NAME),
                       -1;
            }
        } else if (strcmp(opt, "--sampling-scale") == 0) {
            if ((o->sampling_log = view_scale_parse(val)) < 0)
                return kv_error(err, KV_ERR_INPUT, "--sampling-scale: '%s' is not linear or log",
                                val ? val : ""),
                       -1;
        } else if (strcmp(opt, "--camera") == 0) {
            View probe;
            view_init(&probe);
            char why[160];
            if (!view_camera_parse(val, &probe, why, sizeof why))
                return kv_error(err, KV_ERR_INPUT, "--camera: %s", why), -1;
            o->camera = val;
        } else if (strcmp(opt, "--steps") == 0) {
            if (app_parse_int(opt, val, 0, KV_MAX_SEQ, &l, err))
                return -1;
            o->steps = (int)l;
        } else if (strcmp(opt, "--speed") == 0) {
            if (app_parse_float(opt, val, 0.25, 20, &d, err))
                return -1;
            o->speed_i = 0;
            while (o->speed_i + 1 < APP_SPEEDS && app_speeds[o->speed_i + 1] <= d + 1e-9)
                o->speed_i++;
        } else if (strcmp(opt, "--bench-frames") == 0) {
            if (app_parse_int(opt, val, 1, 1000000, &l, err))
                return -1;
            o->bench_frames = (int)l;
        } else if (strcmp(opt, "--export-dir") == 0) {
            if (!val || !*val)
                return kv_error(err, KV_ERR_INPUT, "--export-dir: needs a value"), -1;
            o->export_dir = val;
        } else {
            return kv_error(err, KV_ERR_INPUT, "run: unknown option '%s' (see kvscope --help)",
                            opt),
                   -1;
        }
        i++;
    }
    return 0;
}

// ----------------------------------------------------------------------------------------------
// The frame buffer: a cairo image surface and a streaming texture of the same pixel size

typedef struct {
    SDL_Renderer *ren;
    SDL_Texture *tex;
    cairo_surface_t *surf;
    int pw, ph; // pixels
} Frame;

static bool frame_ensure(Frame *f, int pw, int ph) {
    if (f->surf && f->pw == pw && f->ph == ph)
        return true;
    if (f->tex)
        SDL_DestroyTexture(f->tex);
    if (f->surf)
        cairo_surface_destroy(f->surf);
    f->tex =
        SDL_CreateTexture(f->ren, SDL_PIXELFORMAT_ARGB8888, SDL_TEXTUREACCESS_STREAMING, pw, ph);
    f->surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, pw, ph);
    f->pw = pw, f->ph = ph;
    return f->tex && cairo_surface_status(f->surf) == CAIRO_STATUS_SUCCESS;
}

static void frame_free(Frame *f) {
    if (f->tex)
        SDL_DestroyTexture(f->tex);
    if (f->surf)
        cairo_surface_destroy(f->surf);
    memset(f, 0, sizeof *f);
}

// Draws (all of it, or only the toolbar strip) and presents. Returns the milliseconds spent
// drawing with cairo (the rest of the frame is the upload and the present).
static double frame_render(Frame *f, AppState *a, bool toolbar_only) {
    uint64_t t0 = kv_now_ns();
    cairo_t *cr = cairo_create(f->surf);
    cairo_scale(cr, f->pw / (double)a->width, f->ph / (double)a->height);
    if (toolbar_only)
        app_draw_toolbar(a, cr);
    else
        app_draw(a, cr);
    cairo_destroy(cr);
    cairo_surface_flush(f->surf);
    double draw_ms = (kv_now_ns() - t0) / 1e6;
    unsigned char *px = cairo_image_surface_get_data(f->surf);
    int stride = cairo_image_surface_get_stride(f->surf);
    SDL_Rect r = {0, 0, f->pw, f->ph};
    if (toolbar_only) { // upload only the rows of the strip
        int y0 = (int)floor(a->scene_h * (f->ph / (double)a->height));
        y0 = y0 < 0 ? 0 : y0 >= f->ph ? f->ph - 1 : y0;
        r = (SDL_Rect){0, y0, f->pw, f->ph - y0};
        px += (size_t)y0 * stride;
    }
    SDL_UpdateTexture(f->tex, &r, px, stride);
    SDL_RenderClear(f->ren);
    SDL_RenderCopy(f->ren, f->tex, NULL, NULL);
    SDL_RenderPresent(f->ren);
    return draw_ms;
}

static void window_sizes(SDL_Window *win, SDL_Renderer *ren, int *ww, int *wh, int *pw, int *ph) {
    SDL_GetWindowSize(win, ww, wh);
    if (SDL_GetRendererOutputSize(ren, pw, ph) != 0 || *pw <= 0 || *ph <= 0)
        *pw = *ww, *ph = *wh;
}

// ----------------------------------------------------------------------------------------------
// The frame benchmark (--bench-frames N): play at the top speed, time every frame the scene is
// drawn in, print one line of figures

typedef struct {
    int want;               // frames to measure (0: no benchmark)
    double *frame_ms;       // owned, want entries: the whole frame (draw, upload, present)
    int n;                  // measured so far
    double draw_total;      // milliseconds spent drawing with cairo in those frames
    double startup_ms;      // from t0 to the first frame on screen (-1: none yet)
    double startup_proc_ms; // from the process start to the first frame
} FrameBench;

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double percentile(double *v, int n, double p) {
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)ceil(p * n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

// Milliseconds since the process started (from /proc; 10 ms resolution), or -1.
static double ms_since_process_start(void) {
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); // the command name may hold spaces
    if (!p)
        return -1;
    unsigned long long start = 0;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        if (++field == 22) {
            start = strtoull(tok, NULL, 10);
            break;
        }
    }
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    double now_ms = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
    return now_ms - start * 1e3 / (double)sysconf(_SC_CLK_TCK);
}

// Sets the window playing at the top speed when a benchmark is asked for.
static void bench_start(FrameBench *b, AppState *a, int frames) {
    memset(b, 0, sizeof *b);
    b->startup_ms = b->startup_proc_ms = -1;
    b->want = frames;
    if (!frames)
        return;
    a->speed_i = APP_SPEEDS - 1;
    a->playing = true;
    b->frame_ms = kv_calloc((size_t)frames, sizeof *b->frame_ms);
}

// One frame on screen: the first sets the start-up figures; a frame with the scene in it is
// measured. Returns true when enough frames are measured.
static bool bench_frame(FrameBench *b, uint64_t t0, uint64_t f0, double draw_ms,
                        bool toolbar_only) {
    if (b->startup_ms < 0) {
        b->startup_ms = (kv_now_ns() - t0) / 1e6;
        b->startup_proc_ms = ms_since_process_start();
    }
    if (!b->want || toolbar_only)
        return false;
    b->draw_total += draw_ms;
    b->frame_ms[b->n++] = (kv_now_ns() - f0) / 1e6;
    return b->n >= b->want;
}

static void bench_report(FrameBench *b, AppState *a, const Frame *fb, const char *renderer) {
    app_quiesce(a);
    double med = percentile(b->frame_ms, b->n, 0.5);
    double p99 = percentile(b->frame_ms, b->n, 0.99);
    const Session *s = a->s;
    char split[48] = ""; // side by side: how far the twin followed
    if (a->view.split)
        snprintf(split, sizeof split, " split_tokens=%d", s->twin ? s->twin->n_tokens : 0);
    printf("bench window size=%dx%d pixels=%dx%d tokens=%d frames=%d median_ms=%.2f "
           "p99_ms=%.2f draw_mean_ms=%.2f startup_ms=%.0f startup_process_ms=%.0f mode=%s "
           "renderer=%s%s\n",
           a->width, a->height, fb->pw, fb->ph, s->n_tokens, b->n, med, p99,
           b->n ? b->draw_total / b->n : 0, b->startup_ms, b->startup_proc_ms,
           s->mode == CACHE_MODE_ON ? "cache" : "no-cache", renderer, split);
}

static void bench_free(FrameBench *b) {
    free(b->frame_ms);
    b->frame_ms = NULL;
}

// ----------------------------------------------------------------------------------------------
// Opening the display and the window

static double seconds(uint64_t t0) {
    return (kv_now_ns() - t0) / 1e9;
}

// Opens the video subsystem, or says why there is no window (exit status 2). On 0, SDL is
// initialised and the caller ends with close_display.
static int open_display(void) {
    // Without a display SDL would fall back to its offscreen driver: say so instead, unless a
    // driver was asked for by name (SDL_VIDEODRIVER).
    const char *drv = getenv("SDL_VIDEODRIVER");
    bool named = drv && *drv;
    if (!named && !getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY")) {
        fprintf(stderr, "kvscope: window: no display available (neither DISPLAY nor "
                        "WAYLAND_DISPLAY is set); try kvscope render\n");
        return 2;
    }
    // The frame is drawn on the CPU; the software renderer only copies it to the window, and
    // starts in a millisecond where a GL context (for the renderer, or behind the window surface)
    // can take most of a second. SDL_RENDER_DRIVER and SDL_FRAMEBUFFER_ACCELERATION override.
    SDL_SetHintWithPriority(SDL_HINT_RENDER_DRIVER, "software", SDL_HINT_DEFAULT);
    SDL_SetHintWithPriority(SDL_HINT_FRAMEBUFFER_ACCELERATION, "0", SDL_HINT_DEFAULT);
    if (!named && getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY"))
        SDL_SetHintWithPriority(SDL_HINT_VIDEODRIVER, "x11", SDL_HINT_DEFAULT);
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        fprintf(stderr, "kvscope: window: no display available (%s); try kvscope render\n",
                SDL_GetError());
        return 2;
    }
    const char *cur = SDL_GetCurrentVideoDriver();
    if (!named && cur && (strcmp(cur, "offscreen") == 0 || strcmp(cur, "dummy") == 0)) {
        fprintf(stderr,
                "kvscope: window: no display available (cannot open %s); try "
                "kvscope render\n",
                getenv("DISPLAY") ? getenv("DISPLAY") : "the display");
        SDL_Quit();
        return 2;
    }
    return 0;
}

// Gives back what the process keeps for the window (SDL, and the fonts pango caches for the life
// of the process, so a leak checker sees only real leaks).
static void close_display(void) {
    SDL_Quit();
    toolbar_release();
    pango_cairo_font_map_set_default(NULL);
}

// The SDL side of the window: what window_open makes and window_close gives back.
typedef struct {
    SDL_Window *win;
    SDL_Renderer *ren;
    Frame fb;
    SDL_RendererInfo info;
    Uint32 wake;  // the user event the worker pushes (0: none)
    Recorder rec; // M: what the window shows, as an MP4
} Window;

// Opens the window at the size the options ask (covering the display with --fullscreen) and
// its renderer. Returns 0, or the exit status after one line on stderr (w half made: close it).
static int window_open(Window *w, const RunOptions *o) {
    memset(w, 0, sizeof *w);
    SDL_SetHint(SDL_HINT_VIDEO_X11_NET_WM_BYPASS_COMPOSITOR, "0");
    Uint32 flags = SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI;
    int x = SDL_WINDOWPOS_CENTERED, y = SDL_WINDOWPOS_CENTERED, width = o->width,
        height = o->height;
    SDL_Rect r;
    if (o->fullscreen && SDL_GetDisplayBounds(0, &r) == 0) {
        // covering the display from the start: no window manager needed to make it so
        flags |= SDL_WINDOW_FULLSCREEN_DESKTOP;
        x = r.x, y = r.y, width = r.w, height = r.h;
    }
    w->win = SDL_CreateWindow("kvscope", x, y, width, height, flags);
    if (!w->win) {
        fprintf(stderr, "kvscope: window: no display available (%s); try kvscope render\n",
                SDL_GetError());
        return 2;
    }
    // vsync paces animation on a real display; the benchmark measures the work, not the wait
    w->ren = SDL_CreateRenderer(w->win, -1, o->bench_frames ? 0 : SDL_RENDERER_PRESENTVSYNC);
    if (!w->ren)
        w->ren = SDL_CreateRenderer(w->win, -1, SDL_RENDERER_SOFTWARE);
    if (!w->ren) {
        fprintf(stderr, "kvscope: window: cannot create a renderer: %s\n", SDL_GetError());
        return 1;
    }
    w->info = (SDL_RendererInfo){.name = "?"};
    SDL_GetRendererInfo(w->ren, &w->info);
    SDL_StopTextInput(); // on until the prompt entry asks for it
    w->fb.ren = w->ren;
    Uint32 wake = SDL_RegisterEvents(1);
    w->wake = wake == (Uint32)-1 ? 0 : wake;
    return 0;
}

static void window_close(Window *w) {
    frame_free(&w->fb);
    if (w->ren)
        SDL_DestroyRenderer(w->ren);
    if (w->win)
        SDL_DestroyWindow(w->win);
    memset(w, 0, sizeof *w);
}

// ----------------------------------------------------------------------------------------------
// Configuring the window's state from the options

// The window's state on session s (borrowed), as the options and the lesson (borrowed, or
// NULL) ask; the worker started. Owned: window_release.
static AppState *window_configure(Window *w, Session *s, LessonPlayer *lesson,
                                  const RunOptions *o) {
    int ww, wh, pw, ph;
    window_sizes(w->win, w->ren, &ww, &wh, &pw, &ph);
    AppState *a = kv_calloc(1, sizeof *a);
    app_init(a, s, ww, wh, pw / (double)ww);
    a->win = w->win;
    a->fullscreen = o->fullscreen;
    a->windowed_w = o->width, a->windowed_h = o->height; // what leaving fullscreen returns to
    a->view.theme = o->theme;
    a->theme_forced = o->theme_given ? (int)o->theme : -1;
    if (o->view >= 0)
        a->view.kind = (ViewKind)o->view;
    a->view.split = o->split;
    a->view.sampling_log = o->sampling_log == 1;
    if (o->camera) {
        char why[160];
        view_camera_parse(o->camera, &a->view, why, sizeof why); // parse_run checked it
    }
    if (o->speed_i >= 0)
        a->speed_i = o->speed_i;
    if (o->export_dir)
        snprintf(a->export_dir, sizeof a->export_dir, "%s", o->export_dir);
    if (o->server) { // --serve: the pool view unless --view says otherwise
        a->serve = o->server;
        a->serve_opts = &o->serve;
        a->view.serve = o->server;
        if (o->view < 0)
            a->view.kind = VIEW_POOL;
    }
    if (lesson) {
        // G goes on with the lessons beside this one
        char dir[sizeof lesson->lesson->path], base[sizeof lesson->lesson->path];
        snprintf(dir, sizeof dir, "%s", lesson->lesson->path);
        snprintf(base, sizeof base, "%s", lesson->lesson->path);
        snprintf(a->lesson_dir, sizeof a->lesson_dir, "%s", dirname(dir));
        snprintf(a->lesson_file, sizeof a->lesson_file, "%s", basename(base));
        app_play_lesson(a, lesson);
    }
    worker_start(a, w->wake);
    return a;
}

static void window_release(AppState *a) {
    if (!a)
        return;
    worker_stop(a);
    app_free(a);
    free(a);
}

// ----------------------------------------------------------------------------------------------
// The loop

// Starts, feeds or finishes the recording (Shift+E) as a->recording asks (recorder.c). The frame
// buffer holds the picture on screen: it is written for every frame due until now.
static void record(Window *w, AppState *a) {
    KvError err = {0};
    const unsigned char *px = w->fb.surf ? cairo_image_surface_get_data(w->fb.surf) : NULL;
    const int stride = w->fb.surf ? cairo_image_surface_get_stride(w->fb.surf) : 0;
    if (a->recording && !recorder_active(&w->rec)) {
        if (recorder_start(&w->rec, a->export_dir, w->fb.pw, w->fb.ph, a->now, &err)) {
            a->recording = false;
            app_notice(a, 6, "Recording failed: %s", err.msg);
        } else {
            app_notice(a, 3, "Recording to %s (Shift+E again to stop)", w->rec.path);
        }
        return;
    }
    if (!a->recording && recorder_active(&w->rec)) {
        if (recorder_stop(&w->rec, px, stride, w->fb.pw, w->fb.ph, a->now, &err))
            app_notice(a, 8, "Recording failed: %s", err.msg);
        else
            app_notice(a, 8, "Recorded %.1f s: %s", w->rec.seconds, w->rec.path);
        return;
    }
    if (recorder_catch_up(&w->rec, px, stride, w->fb.pw, w->fb.ph, a->now, &err)) {
        recorder_abort(&w->rec);
        a->recording = false;
        app_notice(a, 8, "Recording failed: %s", err.msg);
    }
}

// Events and frames until the user quits (or the benchmark has its frames). Frames are drawn
// only when something changed or an animation runs. Returns the exit status.
static int window_loop(Window *w, AppState *a, FrameBench *bench, uint64_t t0) {
    int ww, wh, pw, ph;
    double last_frame = -1;
    while (!a->quit) {
        a->now = seconds(t0);
        double wait = bench->want ? 0 : app_next_wake(a);
        SDL_Event ev;
        bool got;
        if (wait < 0)
            got = SDL_WaitEvent(&ev);
        else if (wait > 0)
            got = SDL_WaitEventTimeout(&ev, (int)ceil(wait * 1000));
        else
            got = SDL_PollEvent(&ev);
        while (got) {
            a->now = seconds(t0);
            bool ok;
            if (w->wake && ev.type == w->wake) {
                if (a->busy && worker_poll(a, &ok))
                    app_step_finished(a, ok);
            } else if (ev.type == SDL_WINDOWEVENT &&
                       (ev.window.event == SDL_WINDOWEVENT_SIZE_CHANGED ||
                        ev.window.event == SDL_WINDOWEVENT_RESIZED)) {
                window_sizes(w->win, w->ren, &ww, &wh, &pw, &ph);
                app_resize(a, ww, wh, pw / (double)ww);
            } else {
                app_handle_event(a, &ev);
            }
            got = SDL_PollEvent(&ev);
        }
        if (a->quit)
            break;
        bool ok;
        if (a->busy && worker_poll(a, &ok)) // the wake event may have been missed
            app_step_finished(a, ok);
        bool draw = app_tick(a, seconds(t0)) || bench->want;
        if (!draw)
            continue;
        // at most ~60 frames a second while animating (vsync may be absent, e.g. under Xvfb)
        double since = a->now - last_frame;
        if (!bench->want && last_frame >= 0 && since < 1.0 / 62 && !a->busy)
            SDL_Delay((Uint32)((1.0 / 62 - since) * 1000));
        window_sizes(w->win, w->ren, &ww, &wh, &pw, &ph);
        if (ww != a->width || wh != a->height)
            app_resize(a, ww, wh, pw / (double)ww);
        if (!frame_ensure(&w->fb, pw, ph)) {
            fprintf(stderr, "kvscope: window: cannot allocate a %dx%d frame: %s\n", pw, ph,
                    SDL_GetError());
            return 1;
        }
        record(w, a); // the picture on screen until now, before the next one is drawn
        uint64_t f0 = kv_now_ns();
        bool toolbar_only = a->busy;
        double draw_ms = frame_render(&w->fb, a, toolbar_only);
        a->dirty = false;
        last_frame = seconds(t0);
        if (bench_frame(bench, t0, f0, draw_ms, toolbar_only))
            break;
    }
    return 0;
}

// The window on session s (borrowed), with a lesson playing when lesson is not NULL (borrowed,
// at a beat): opened, configured, run until the user quits, closed. SDL is open (open_display);
// this closes it. Returns the exit status.
static int run_window(Session *s, LessonPlayer *lesson, const RunOptions *o, uint64_t t0) {
    Window w;
    AppState *a = NULL;
    FrameBench bench = {0};
    int status = window_open(&w, o);
    if (status == 0) {
        a = window_configure(&w, s, lesson, o);
        bench_start(&bench, a, o->bench_frames);
        status = window_loop(&w, a, &bench, t0);
        if (recorder_active(&w.rec)) { // quitting while recording keeps what was recorded
            a->recording = false;
            a->now = seconds(t0);
            record(&w, a);
            fprintf(stderr, "kvscope: %s\n", a->notice);
        }
        if (status == 0 && bench.want)
            bench_report(&bench, a, &w.fb, w.info.name);
        if (status == 0 && a->fault.code) // the model produced non-finite values in a step
            status = app_fail(&a->fault);
    }
    window_release(a);
    bench_free(&bench);
    window_close(&w);
    close_display();
    return status;
}

int cmd_run(int argc, char **argv) {
    uint64_t t0 = kv_now_ns();
    RunOptions o;
    KvError err = {0};
    if (parse_run(argc, argv, &o, &err))
        return app_fail(&err);
    int status = open_display();
    if (status)
        return status;
    Model m;
    Tokenizer t;
    Session s;
    if (app_load(&m, &t, o.common.model, o.common.tokenizer, &err)) {
        close_display();
        return app_fail(&err);
    }
    if (session_init(&s, &m, &t, &err)) {
        status = app_fail(&err);
        close_display();
        goto done_model;
    }
    session_set_sampler(&s, o.common.sampler);
    if (session_set_prompt(&s, o.common.prompt ? o.common.prompt : app_presets[0].prompt, &err) ||
        app_apply_kv(&o.common, &s, &err)) {
        status = app_fail(&err);
        close_display();
        goto done_session;
    }
    if (app_apply_common(&s, &o.common, &err)) {
        status = app_fail(&err);
        close_display();
        goto done_session;
    }
    if (o.split) // the twin from the first step on, so every step's logit difference is measured
        session_set_twin(&s, true);
    Serve server;
    if (o.serve.given) { // the serving session the pool view draws; --steps runs its steps
        if (app_serve_open(&server, &m, &t, &o.serve, &err)) {
            status = app_fail(&err);
            close_display();
            goto done_session;
        }
        o.server = &server;
        for (int i = 0; i < o.steps && serve_step(&server); i++)
            ;
    } else {
        for (int i = 0; i < o.steps && session_step(&s); i++)
            ;
    }
    if (session_fault(&s, &err)) {
        status = app_fail(&err);
        close_display();
        goto done_server;
    }
    status = run_window(&s, NULL, &o, t0);
done_server:
    if (o.server)
        serve_free(o.server);
done_session:
    session_free(&s);
done_model:
    tokenizer_free(&t);
    model_free(&m);
    return status;
}

int window_play_lesson(LessonPlayer *p, int width, int height, int theme, bool fullscreen) {
    uint64_t t0 = kv_now_ns();
    RunOptions o;
    KvError err = {0};
    char *argv[] = {"lesson", NULL};
    parse_run(1, argv, &o, &err); // the defaults
    if (width > 0 && height > 0)
        o.width = width, o.height = height;
    if (theme >= 0)
        o.theme = (ThemeKind)theme, o.theme_given = true;
    o.fullscreen = fullscreen;
    int status = open_display();
    return status ? status : run_window(p->session, p, &o, t0);
}
