// test_e2e_window.c — the window as a user meets it: the test starts its own Xvfb, launches
// kvscope in it on a small random model, types keys with xdotool and takes screenshots with
// xwd. The picture must change after steps and after the cache toggle (the red recompute blocks
// appear with the cache off and not with it on), E must write an export, and Q must quit with
// status 0. Set KVSCOPE_E2E_SHOTS=DIR to keep the screenshots as PNG files.
#include "util/testutil.h"

#include <cairo.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define W 1280
#define H 720

// ----------------------------------------------------------------------------------------------
// Processes

// Full path of a program on PATH (owned), or NULL.
static char *which(const char *name) {
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
    for (char *dir = strtok(buf, ":"); dir; dir = strtok(NULL, ":")) {
        char *p = tu_join(dir, name);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

// Starts argv in the background with stdout and stderr into log (append).
static pid_t spawn_bg(char *const argv[], const char *log, const char *cwd) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int in = open("/dev/null", O_RDONLY);
        if (fd >= 0)
            dup2(fd, 1), dup2(fd, 2);
        if (in >= 0)
            dup2(in, 0);
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void nap_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

// Waits at most ms for pid; returns its exit status, or -1 when it is still running.
static int wait_ms(pid_t pid, int ms) {
    for (int t = 0; t <= ms; t += 10) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        nap_ms(10);
    }
    return -1;
}

static void stop(pid_t pid) {
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    if (wait_ms(pid, 2000) < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

// Runs a tool to completion (at most 10 s); true on status 0.
static bool tool(char *const argv[]) {
    TuRun r;
    if (!tu_run(argv, 10, &r))
        return false;
    bool ok = r.status == 0;
    if (!ok)
        fprintf(stderr, "e2e: %s exited %d: %s\n", argv[0], r.status, r.err);
    tu_run_free(&r);
    return ok;
}

// ----------------------------------------------------------------------------------------------
// Screenshots: xwd's format (a big-endian header, a colour table, then the pixels) read into
// 0x00RRGGBB words

typedef struct {
    int w, h;
    uint32_t *px;
} Shot;

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool xwd_read(const char *path, Shot *s) {
    size_t n;
    unsigned char *d = tu_read_file(path, &n);
    if (!d || n < 100) {
        free(d);
        return false;
    }
    uint32_t hs = be32(d), w = be32(d + 16), h = be32(d + 20), order = be32(d + 28);
    uint32_t bpp = be32(d + 44), bpl = be32(d + 48), ncolors = be32(d + 76);
    size_t off = hs + (size_t)ncolors * 12;
    bool ok = bpp == 32 && w > 0 && h > 0 && off + (size_t)bpl * h <= n;
    if (ok) {
        s->w = (int)w, s->h = (int)h;
        s->px = malloc((size_t)w * h * sizeof *s->px);
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) {
                const unsigned char *p = d + off + (size_t)y * bpl + 4 * x;
                uint32_t v = order == 0 ? (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
                                              (uint32_t)p[1] << 8 | p[0]
                                        : be32(p);
                s->px[(size_t)y * w + x] = v & 0xFFFFFF;
            }
    }
    free(d);
    return ok;
}

static void shot_save_png(const Shot *s, const char *path) {
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, s->w, s->h);
    unsigned char *px = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    for (int y = 0; y < s->h; y++)
        memcpy(px + (size_t)y * stride, s->px + (size_t)y * s->w, (size_t)s->w * 4);
    cairo_surface_mark_dirty(surf);
    cairo_surface_write_to_png(surf, path);
    cairo_surface_destroy(surf);
}

static int shot_diff(const Shot *a, const Shot *b) {
    int n = 0;
    for (size_t i = 0; i < (size_t)a->w * a->h; i++)
        n += a->px[i] != b->px[i];
    return n;
}

// Pixels of the scene's "recomputed" red (strongly red, little green and blue).
static int shot_red(const Shot *s) {
    int n = 0;
    for (size_t i = 0; i < (size_t)s->w * s->h; i++) {
        int r = s->px[i] >> 16 & 255, g = s->px[i] >> 8 & 255, b = s->px[i] & 255;
        n += r > 180 && g < 110 && b < 110;
    }
    return n;
}

// Rows of the screen that are black from edge to edge: the root window showing, not kvscope.
static int shot_black_rows(const Shot *s) {
    int n = 0;
    for (int y = 0; y < s->h; y++) {
        bool black = true;
        for (int x = 0; x < s->w && black; x++)
            black = s->px[(size_t)y * s->w + x] == 0;
        n += black;
    }
    return n;
}

// Pixels brighter than mid-grey: most of the light theme, little of the dark one.
static int shot_light(const Shot *s) {
    int n = 0;
    for (size_t i = 0; i < (size_t)s->w * s->h; i++) {
        int r = s->px[i] >> 16 & 255, g = s->px[i] >> 8 & 255, b = s->px[i] & 255;
        n += r + g + b > 3 * 160;
    }
    return n;
}

typedef struct {
    char *xwd, *xdotool, *dir, *display;
    int shots;
    char display_buf[16];
} Ctx;

// Keeps a screenshot as PNG in $KVSCOPE_E2E_SHOTS when that is set (to look at them).
static void take_keep(Ctx *c, const Shot *s, const char *name) {
    const char *keep = getenv("KVSCOPE_E2E_SHOTS");
    if (keep && *keep) {
        char png[1024];
        mkdir(keep, 0755);
        snprintf(png, sizeof png, "%s/%02d-%s.png", keep, c->shots, name);
        shot_save_png(s, png);
    }
    c->shots++;
}

// Takes a screenshot of the whole screen into *s (kept as PNG when name is given).
static void take(Ctx *c, Shot *s, const char *name) {
    char *file = tu_join(c->dir, "shot.xwd");
    char *argv[] = {c->xwd, "-root", "-silent", "-display", c->display, "-out", file, NULL};
    cr_assert(tool(argv), "xwd failed");
    cr_assert(xwd_read(file, s), "cannot read the screenshot");
    cr_assert_eq(s->w, W);
    cr_assert_eq(s->h, H);
    free(file);
    if (name)
        take_keep(c, s, name);
}

// Waits until the screen shows what the last keys asked for and the animation has come to
// rest: a screenshot that differs from `before` (when given) and equals the one taken just
// after it. Leaves that screenshot in *s. Fails after 20 s.
static void settle(Ctx *c, const Shot *before, Shot *s, const char *name) {
    Shot prev = {0};
    uint64_t deadline = kv_now_ns() + 20ull * 1000000000ull;
    for (;;) {
        Shot cur;
        take(c, &cur, NULL);
        // with nothing to compare with, the window must at least have painted (the root
        // window's black shows before the first frame)
        bool changed = before ? shot_diff(before, &cur) > 0 : shot_black_rows(&cur) < H;
        bool still = prev.px && shot_diff(&prev, &cur) == 0;
        free(prev.px);
        prev = cur;
        if (changed && still)
            break;
        cr_assert_lt(kv_now_ns(), deadline, "the picture did not settle (%s)", name);
        nap_ms(40);
    }
    *s = prev;
    take_keep(c, s, name);
}

static void keys(Ctx *c, const char *k) {
    char *argv[] = {c->xdotool, "key", "--delay", "30", (char *)k, NULL};
    cr_assert(tool(argv), "xdotool key %s failed", k);
}

// Starts Xvfb (W x H) on a display number nobody uses and points DISPLAY at it (c->display).
// Returns its pid.
static pid_t xvfb_start(Ctx *c, char *xvfb) {
    int dn = 0;
    for (int d = 70 + (int)(getpid() % 100); d < 400; d++) {
        char sock[64], lock[64];
        snprintf(sock, sizeof sock, "/tmp/.X11-unix/X%d", d);
        snprintf(lock, sizeof lock, "/tmp/.X%d-lock", d);
        if (access(sock, F_OK) != 0 && access(lock, F_OK) != 0) {
            dn = d;
            break;
        }
    }
    cr_assert_gt(dn, 0, "no free display number");
    char screen[32], sock[64];
    snprintf(c->display_buf, sizeof c->display_buf, ":%d", dn);
    snprintf(screen, sizeof screen, "%dx%dx24", W, H);
    snprintf(sock, sizeof sock, "/tmp/.X11-unix/X%d", dn);
    c->display = c->display_buf;
    char *xlog = tu_join(c->dir, "xvfb.log");
    char *xargv[] = {xvfb, c->display, "-screen", "0", screen, "-nolisten", "tcp", NULL};
    pid_t xpid = spawn_bg(xargv, xlog, NULL);
    free(xlog);
    cr_assert_gt(xpid, 0);
    for (int t = 0; t < 100 && access(sock, F_OK) != 0; t++)
        nap_ms(50);
    cr_assert(access(sock, F_OK) == 0, "Xvfb did not start");
    // Under ASan: libdbus (SDL's) and fontconfig keep a few blocks for the life of the process
    char *supp = tu_join(c->dir, "lsan.supp");
    const char *supp_text = "leak:libdbus-1.so\nleak:libfontconfig.so\n";
    cr_assert(tu_write_file(supp, supp_text, strlen(supp_text)));
    char lsan[1200];
    snprintf(lsan, sizeof lsan, "suppressions=%s:print_suppressions=0", supp);
    free(supp);
    setenv("LSAN_OPTIONS", lsan, 1);
    setenv("DISPLAY", c->display, 1);
    unsetenv("WAYLAND_DISPLAY");
    unsetenv("SDL_VIDEODRIVER");
    return xpid;
}

// Waits for kvscope's window (xdotool search --sync) and parks the pointer on the phase banner
// (no window manager: the pointer gives the focus). Fails with kvscope's log if it never shows.
static void window_wait(Ctx *c, pid_t kpid, pid_t xpid, const char *klog) {
    uint64_t t0 = kv_now_ns();
    char *search[] = {c->xdotool, "search", "--sync", "--onlyvisible", "--name", "^kvscope$", NULL};
    if (!tool(search)) {
        stop(kpid);
        stop(xpid);
        char *log = (char *)tu_read_file(klog, &(size_t){0});
        cr_assert_fail("the kvscope window did not appear; log: %s", log ? log : "");
    }
    fprintf(stderr, "e2e: window visible after %.0f ms\n", (kv_now_ns() - t0) / 1e6);
    char *move[] = {c->xdotool, "mousemove", "8", "8", NULL};
    cr_assert(tool(move));
}

// ----------------------------------------------------------------------------------------------

TestSuite(e2e, .fini = tu_leak_check);

Test(e2e, window_in_xvfb, .timeout = 240) {
    const char *bin = tu_kvscope_bin();
    if (!bin)
        cr_skip_test("KVSCOPE_BIN is not set");
    Ctx c = {0};
    char *xvfb = which("Xvfb");
    c.xwd = which("xwd");
    c.xdotool = which("xdotool");
    cr_assert(xvfb && c.xwd && c.xdotool,
              "Xvfb, xwd and xdotool are needed (scripts/setup.sh installs them)");
    c.dir = tu_tmpdir();

    // a small random model, written through the engine's own writers
    KvError err = {0};
    char *model = tu_join(c.dir, "model.bin"), *tok = tu_join(c.dir, "tok.bin");
    ModelConfig mc = tu_config(64, 128, 3, 4, 2, 400, 256, false);
    cr_assert_eq(tu_write_random_checkpoint(model, &mc, 7, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_write_tokenizer(tok, 400, &err), KV_OK, "%s", err.msg);

    pid_t xpid = xvfb_start(&c, xvfb);
    char *klog = tu_join(c.dir, "kvscope.log");

    char *kargv[] = {(char *)bin, "--model", model, "--tokenizer", tok, "--size", "1280x720", NULL};
    pid_t kpid = spawn_bg(kargv, klog, c.dir);
    window_wait(&c, kpid, xpid, klog);

    Shot s0, s1, s2, s3, s4;
    settle(&c, NULL, &s0, "start");
    int red_start = shot_red(&s0);

    keys(&c, "space");
    keys(&c, "space");
    keys(&c, "Right");
    settle(&c, &s0, &s1, "three-steps");
    int d01 = shot_diff(&s0, &s1);
    cr_assert_gt(d01, 2000, "the picture changes after steps (%d pixels)", d01);
    int red_cache = shot_red(&s1);

    keys(&c, "c");
    settle(&c, &s1, &s2, "cache-off");
    int d12 = shot_diff(&s1, &s2);
    cr_assert_gt(d12, 500, "the picture changes when the cache is switched off (%d pixels)", d12);

    keys(&c, "space");
    settle(&c, &s2, &s3, "no-cache-step");
    int red_nocache = shot_red(&s3);
    cr_assert_gt(red_nocache, red_cache + 2000,
                 "no-cache step: earlier blocks are red (recomputed): %d red pixels, %d with "
                 "the cache, %d at the start",
                 red_nocache, red_cache, red_start);

    // cache back on: the first step rebuilds the cache (recomputed once), the next reads it
    keys(&c, "c");
    keys(&c, "space");
    keys(&c, "space");
    settle(&c, &s3, &s4, "cache-on-again");
    int red_again = shot_red(&s4);
    fprintf(stderr, "e2e: red pixels: start %d, cache %d, no cache %d, cache again %d\n", red_start,
            red_cache, red_nocache, red_again);
    cr_assert_lt(red_again, red_nocache - 2000, "cache back on: no recompute red");

    keys(&c, "d"); // light theme
    Shot s5;
    settle(&c, &s4, &s5, "light");
    cr_assert_gt(shot_diff(&s4, &s5), W * H / 3, "the light theme changes most of the picture");

    keys(&c, "e");
    char *exports = tu_join(c.dir, "exports");
    int png = 0, svg = 0;
    for (uint64_t end = kv_now_ns() + 20ull * 1000000000ull; kv_now_ns() < end; nap_ms(40)) {
        png = svg = 0;
        DIR *dir = opendir(exports);
        for (struct dirent *e; dir && (e = readdir(dir));) {
            size_t n = strlen(e->d_name);
            png += n > 4 && strcmp(e->d_name + n - 4, ".png") == 0;
            svg += n > 4 && strcmp(e->d_name + n - 4, ".svg") == 0;
        }
        if (dir)
            closedir(dir);
        if (png && svg)
            break;
    }
    cr_assert(png == 1 && svg == 1, "E exported one PNG and one SVG (%d, %d)", png, svg);

    // Shift+E records what the window shows; a step while recording; again finishes the MP4
    Shot s6, s7;
    keys(&c, "shift+e");
    settle(&c, &s5, &s6, "recording");
    keys(&c, "space");
    settle(&c, &s6, &s7, "recording-step");
    keys(&c, "shift+e");
    char mp4[1200] = "";
    for (uint64_t end = kv_now_ns() + 20ull * 1000000000ull; kv_now_ns() < end && !mp4[0];
         nap_ms(40)) {
        DIR *dir = opendir(exports);
        for (struct dirent *e; dir && (e = readdir(dir));) {
            size_t n = strlen(e->d_name);
            if (n > 4 && strcmp(e->d_name + n - 4, ".mp4") == 0)
                snprintf(mp4, sizeof mp4, "%s/%s", exports, e->d_name);
        }
        if (dir)
            closedir(dir);
    }
    cr_assert(mp4[0], "Shift+E, a step and Shift+E again recorded an MP4 into exports/");
    size_t mp4_len = 0;
    unsigned char *head = tu_read_file(mp4, &mp4_len);
    cr_assert(head && mp4_len > 1000 && memcmp(head + 4, "ftyp", 4) == 0,
              "%s is an MP4 (%zu bytes)", mp4, mp4_len);
    free(head);
    free(s6.px), free(s7.px);

    keys(&c, "q");
    int st = wait_ms(kpid, 5000);
    if (st < 0)
        stop(kpid);
    stop(xpid);
    char *log = (char *)tu_read_file(klog, &(size_t){0});
    cr_assert_eq(st, 0, "Q quits with status 0 (got %d); log: %s", st, log ? log : "");
    free(log);

    Shot *all[] = {&s0, &s1, &s2, &s3, &s4, &s5};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]->px);
    free(exports), free(klog), free(model), free(tok);
    free(xvfb), free(c.xwd), free(c.xdotool);
    tu_rmtree(c.dir);
}

// `kvscope lesson FILE`: the first shipped lesson in the window; Right shows the next beat (the
// prefill runs), Left brings back the first beat's picture, Q quits with status 0.
Test(e2e, lesson_in_xvfb, .timeout = 240) {
    const char *bin = tu_kvscope_bin();
    if (!bin)
        cr_skip_test("KVSCOPE_BIN is not set");
    char lesson[4096];
    cr_assert_not_null(realpath("lessons/01-one-token-at-a-time.lesson", lesson),
                       "run from the repository root (lessons/)");
    Ctx c = {0};
    char *xvfb = which("Xvfb");
    c.xwd = which("xwd");
    c.xdotool = which("xdotool");
    cr_assert(xvfb && c.xwd && c.xdotool,
              "Xvfb, xwd and xdotool are needed (scripts/setup.sh installs them)");
    c.dir = tu_tmpdir();

    // the golden shape (the shipped lessons fit its context), written through the engine
    KvError err = {0};
    char *model = tu_join(c.dir, "model.bin"), *tok = tu_join(c.dir, "tok.bin");
    ModelConfig mc = tu_golden_config(true);
    float *data = malloc(config_weight_count(&mc) * sizeof(float));
    tu_golden_fill(&mc, data);
    cr_assert_eq(tu_write_checkpoint(model, &mc, data, &err), KV_OK, "%s", err.msg);
    free(data);
    cr_assert_eq(tu_write_tokenizer(tok, 512, &err), KV_OK, "%s", err.msg);

    pid_t xpid = xvfb_start(&c, xvfb);
    char *klog = tu_join(c.dir, "kvscope.log");
    // fullscreen with no window manager (over a smaller window size), in the presenter's theme
    char *kargv[] = {(char *)bin, "lesson",  lesson,         "--model", model,   "--tokenizer", tok,
                     "--size",    "960x540", "--fullscreen", "--theme", "light", NULL};
    pid_t kpid = spawn_bg(kargv, klog, c.dir);
    window_wait(&c, kpid, xpid, klog);

    Shot s0, s1, s2;
    settle(&c, NULL, &s0, "lesson-beat1");
    int black = shot_black_rows(&s0), light = shot_light(&s0);
    fprintf(stderr, "e2e: lesson fullscreen light: %d black rows, %d%% light pixels\n", black,
            (int)(100.0 * light / (W * H)));
    cr_assert_eq(black, 0, "the fullscreen window leaves %d rows of the screen uncovered", black);
    cr_assert_gt(light, W * H / 2, "--theme light: only %d light pixels", light);
    keys(&c, "Right");
    settle(&c, &s0, &s1, "lesson-beat2");
    int d01 = shot_diff(&s0, &s1);
    cr_assert_gt(d01, 2000, "the next beat changes the picture (%d pixels)", d01);
    keys(&c, "Left");
    settle(&c, &s1, &s2, "lesson-beat1-again");
    int d02 = shot_diff(&s0, &s2);
    fprintf(stderr, "e2e: lesson: beat 1 -> 2 changed %d pixels, back to beat 1 differs in %d\n",
            d01, d02);
    cr_assert_lt(d02, W * H / 200, "Left brings back the first beat (%d pixels differ)", d02);

    keys(&c, "q");
    int st = wait_ms(kpid, 5000);
    if (st < 0)
        stop(kpid);
    stop(xpid);
    char *log = (char *)tu_read_file(klog, &(size_t){0});
    cr_assert_eq(st, 0, "Q quits with status 0 (got %d); log: %s", st, log ? log : "");
    cr_assert(!tu_has_sanitizer_report(log ? log : ""), "%s", log);
    free(log);
    free(s0.px), free(s1.px), free(s2.px);
    free(klog), free(model), free(tok), free(xvfb), free(c.xwd), free(c.xdotool);
    tu_rmtree(c.dir);
}
