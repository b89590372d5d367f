// test_video.c — src/export/video.c: clips encoded as MP4, WebM and GIF are decoded again with
// libavformat and checked: frame count, size, duration, and the first and last frames against
// the pixels that went in (within a stated tolerance, as lossy codecs allow); bad names, sizes
// and rates refused with nothing left behind; a failed write removes its temporary file.
#include "util/testutil.h"
#include "export/export.h"

#include <cairo.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>

TestSuite(video, .fini = tu_leak_check);

#define W 320
#define H 180
#define FPS 25
#define N 20

// Frame i of a test clip: a smooth gradient (what bands in a naive GIF), a block that moves
// and a bright bar whose width counts the frames.
static cairo_surface_t *clip_frame(int i) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(s);
    cairo_pattern_t *g = cairo_pattern_create_linear(0, 0, W, H);
    cairo_pattern_add_color_stop_rgb(g, 0, 0.05, 0.07, 0.15);
    cairo_pattern_add_color_stop_rgb(g, 1, 0.30, 0.10, 0.45);
    cairo_set_source(cr, g);
    cairo_paint(cr);
    cairo_pattern_destroy(g);
    // and across it, a second gradient in another hue: far more than 256 colours in all
    g = cairo_pattern_create_radial(W * 0.7, H * 0.3, 0, W * 0.7, H * 0.3, W * 0.6);
    cairo_pattern_add_color_stop_rgba(g, 0, 0.1, 0.8, 0.6, 0.8);
    cairo_pattern_add_color_stop_rgba(g, 1, 0.1, 0.8, 0.6, 0.0);
    cairo_set_source(cr, g);
    cairo_paint(cr);
    cairo_pattern_destroy(g);
    cairo_set_source_rgb(cr, 0.95, 0.75, 0.2);
    cairo_rectangle(cr, 10 + i * 12, 60, 40, 40);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.95);
    cairo_rectangle(cr, 0, H - 20, (i + 1) * (W / N), 12);
    cairo_fill(cr);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    return s;
}

static void write_clip(const char *path, int n, KvStatus want_close) {
    ExportVideo *v;
    KvError err = {0};
    cr_assert_eq(export_video_open(&v, path, W, H, FPS, false, &err), KV_OK, "%s", err.msg);
    for (int pass = 0; pass < export_video_passes(v); pass++) {
        if (pass > 0)
            cr_assert_eq(export_video_next_pass(v, &err), KV_OK, "%s", err.msg);
        for (int i = 0; i < n; i++) {
            cairo_surface_t *s = clip_frame(i);
            KvStatus st = export_video_frame(v, cairo_image_surface_get_data(s),
                                             cairo_image_surface_get_stride(s), &err);
            cairo_surface_destroy(s);
            cr_assert_eq(st, KV_OK, "%s", err.msg);
        }
        cr_assert_eq(export_video_frames(v), n);
    }
    KvStatus st = export_video_close(v, &err);
    cr_assert_eq(st, want_close, "close: %s", err.msg);
}

// Decoded clip: frame count, size, duration in seconds and the first and last frames as
// 0x00RRGGBB words.
typedef struct {
    int frames, w, h;
    double duration;
    uint32_t *first, *last;
    enum AVCodecID codec;
    uint32_t **all; // every frame, when decode_all asked (owned, frames of them)
} Decoded;

static uint32_t *to_rgb(const AVFrame *f) {
    uint32_t *px = malloc((size_t)f->width * f->height * 4);
    struct SwsContext *sws = sws_getContext(f->width, f->height, f->format, f->width, f->height,
                                            AV_PIX_FMT_0RGB32, SWS_BICUBIC, NULL, NULL, NULL);
    if (f->format == AV_PIX_FMT_YUV420P) {
        const int *bt709 = sws_getCoefficients(SWS_CS_ITU709);
        sws_setColorspaceDetails(sws, bt709, 0, bt709, 1, 0, 1 << 16, 1 << 16);
    }
    uint8_t *dst[4] = {(uint8_t *)px};
    int ls[4] = {f->width * 4};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, ls);
    sws_freeContext(sws);
    return px;
}

static void decode_frames(const char *path, Decoded *d, bool keep_all) {
    memset(d, 0, sizeof *d);
    int cap = 0;
    AVFormatContext *fmt = NULL;
    cr_assert_eq(avformat_open_input(&fmt, path, NULL, NULL), 0, "%s does not open", path);
    cr_assert_geq(avformat_find_stream_info(fmt, NULL), 0);
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    cr_assert_geq(si, 0, "no video stream");
    AVStream *st = fmt->streams[si];
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    cr_assert_not_null(codec);
    d->codec = st->codecpar->codec_id;
    AVCodecContext *c = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(c, st->codecpar);
    cr_assert_eq(avcodec_open2(c, codec, NULL), 0);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int64_t last_pts = 0, last_dur = 0;
    for (bool flushing = false;;) {
        if (!flushing) {
            int r = av_read_frame(fmt, pkt);
            if (r < 0) {
                flushing = true;
                avcodec_send_packet(c, NULL);
            } else {
                if (pkt->stream_index == si)
                    avcodec_send_packet(c, pkt);
                av_packet_unref(pkt);
            }
        }
        int r;
        while ((r = avcodec_receive_frame(c, f)) == 0) {
            d->w = f->width, d->h = f->height;
            if (d->frames == 0)
                d->first = to_rgb(f);
            free(d->last);
            d->last = to_rgb(f);
            if (keep_all) {
                if (d->frames == cap)
                    d->all = realloc(d->all, (size_t)(cap = 2 * cap + 16) * sizeof *d->all);
                d->all[d->frames] = to_rgb(f);
            }
            last_pts = f->best_effort_timestamp;
            last_dur = f->pkt_duration;
            d->frames++;
        }
        if (flushing && (r == AVERROR_EOF || r < 0))
            break;
    }
    d->duration = (double)(last_pts + last_dur) * av_q2d(st->time_base);
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&c);
    avformat_close_input(&fmt);
}

static void decode(const char *path, Decoded *d) {
    decode_frames(path, d, false);
}

static void decoded_free(Decoded *d) {
    for (int i = 0; d->all && i < d->frames; i++)
        free(d->all[i]);
    free(d->all), free(d->first), free(d->last);
}

// Mean absolute difference per channel (0..255) between a decoded frame and clip frame i.
static double frame_error(const uint32_t *px, int i) {
    cairo_surface_t *s = clip_frame(i);
    const unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    double sum = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint32_t a = px[(size_t)y * W + x], b = *(const uint32_t *)(data + y * stride + 4 * x);
            for (int k = 0; k < 24; k += 8)
                sum += abs((int)(a >> k & 255) - (int)(b >> k & 255));
        }
    cairo_surface_destroy(s);
    return sum / (3.0 * W * H);
}

static int files_in(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.' || (e->d_name[1] && strcmp(e->d_name, "..") != 0);
    if (d)
        closedir(d);
    return n;
}

static void check_clip(const char *ext, enum AVCodecID codec, double tolerance) {
    char *dir = tu_tmpdir();
    char name[32];
    snprintf(name, sizeof name, "clip.%s", ext);
    char *path = tu_join(dir, name);
    write_clip(path, N, KV_OK);
    cr_assert_eq(files_in(dir), 1, "only the clip is left in the folder");
    Decoded d;
    decode(path, &d);
    cr_assert_eq(d.codec, codec, "%s: codec", ext);
    cr_assert_eq(d.frames, N, "%s: %d frames decoded, %d written", ext, d.frames, N);
    cr_assert_eq(d.w, W);
    cr_assert_eq(d.h, H);
    cr_assert_float_eq(d.duration, (double)N / FPS, 0.021, "%s: duration %.3f s", ext, d.duration);
    double e0 = frame_error(d.first, 0), e1 = frame_error(d.last, N - 1);
    double wrong = frame_error(d.last, 0); // the last frame is not the first
    fprintf(stderr, "video: %s: first frame error %.2f, last %.2f (against frame 0: %.2f)\n", ext,
            e0, e1, wrong);
    cr_assert_lt(e0, tolerance, "%s: first frame differs by %.2f", ext, e0);
    cr_assert_lt(e1, tolerance, "%s: last frame differs by %.2f", ext, e1);
    cr_assert_gt(wrong, e1 + 1.0, "%s: the last frame shows the end of the clip", ext);
    free(d.first), free(d.last);
    free(path);
    tu_rmtree(dir);
}

Test(video, mp4_h264, .timeout = 60) {
    if (!export_video_available(EXPORT_VIDEO_MP4))
        cr_skip_test("no libx264 in this FFmpeg");
    check_clip("mp4", AV_CODEC_ID_H264, 2.5);
}

Test(video, webm_vp9, .timeout = 60) {
    if (!export_video_available(EXPORT_VIDEO_WEBM))
        cr_skip_test("no libvpx-vp9 in this FFmpeg");
    check_clip("webm", AV_CODEC_ID_VP9, 3.0);
}

Test(video, gif_with_one_palette, .timeout = 60) {
    check_clip("gif", AV_CODEC_ID_GIF, 3.0);
}

// The player's colours: H.264 in MP4 is yuv420p, High profile, tagged BT.709.
Test(video, mp4_plays_in_slides, .timeout = 60) {
    if (!export_video_available(EXPORT_VIDEO_MP4))
        cr_skip_test("no libx264 in this FFmpeg");
    char *dir = tu_tmpdir();
    char *path = tu_join(dir, "slides.MP4");
    write_clip(path, 4, KV_OK);
    AVFormatContext *fmt = NULL;
    cr_assert_eq(avformat_open_input(&fmt, path, NULL, NULL), 0);
    cr_assert_geq(avformat_find_stream_info(fmt, NULL), 0);
    const AVCodecParameters *p = fmt->streams[0]->codecpar;
    cr_assert_eq(p->format, AV_PIX_FMT_YUV420P);
    cr_assert_eq(p->profile, FF_PROFILE_H264_HIGH);
    cr_assert_eq(p->color_space, AVCOL_SPC_BT709);
    avformat_close_input(&fmt);
    free(path);
    tu_rmtree(dir);
}

Test(video, bad_names_sizes_and_rates) {
    char *dir = tu_tmpdir();
    char *mp4 = tu_join(dir, "a.mp4"), *avi = tu_join(dir, "a.avi"), *none = tu_join(dir, "a");
    char *nodir = tu_join(dir, "missing/a.gif");
    struct {
        const char *path;
        int w, h, fps;
        const char *says;
    } bad[] = {
        {avi, W, H, FPS, "not a video name"}, {none, W, H, FPS, "not a video name"},
        {mp4, 321, 180, FPS, "even width"},   {mp4, W, 181, FPS, "even width"},
        {mp4, W, H, 0, "frame rate"},         {mp4, W, H, 500, "frame rate"},
        {mp4, 8, 8, FPS, "out of range"},     {mp4, 100000, 100, FPS, "out of range"},
        {nodir, W, H, FPS, "cannot write"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ExportVideo *v = (ExportVideo *)1;
        KvError err = {0};
        cr_assert_eq(
            export_video_open(&v, bad[i].path, bad[i].w, bad[i].h, bad[i].fps, false, &err),
            KV_ERR_INPUT, "case %zu", i);
        cr_assert_null(v);
        cr_assert(strstr(err.msg, bad[i].says), "case %zu: \"%s\"", i, err.msg);
        cr_assert(strstr(err.msg, bad[i].path) == err.msg, "names the file: %s", err.msg);
    }
    cr_assert_eq(files_in(dir), 0, "nothing was created");
    // the name is a file name, not an FFmpeg protocol
    char *odd = tu_join(dir, "concat:x.gif");
    write_clip(odd, 2, KV_OK);
    cr_assert_eq(access(odd, F_OK), 0);
    free(mp4), free(avi), free(none), free(nodir), free(odd);
    tu_rmtree(dir);
}

// Abandoned, closed too early, or with no frames: nothing is left and the old file stays.
Test(video, nothing_left_on_failure, .timeout = 60) {
    char *dir = tu_tmpdir();
    char *path = tu_join(dir, "keep.gif");
    cr_assert(tu_write_file(path, "old", 3));
    KvError err = {0};
    ExportVideo *v;
    cr_assert_eq(export_video_open(&v, path, W, H, FPS, false, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(files_in(dir), 2, "the temporary file is beside the destination");
    export_video_abort(v);
    cr_assert_eq(files_in(dir), 1);
    cr_assert_eq(export_video_open(&v, path, W, H, FPS, false, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(export_video_close(v, &err), KV_ERR_RUNTIME, "a GIF closed after one pass");
    cr_assert_eq(export_video_open(&v, path, W, H, FPS, false, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(export_video_next_pass(v, &err), KV_ERR_RUNTIME, "no frames: no palette");
    export_video_abort(v);
    if (export_video_available(EXPORT_VIDEO_MP4)) {
        char *mp4 = tu_join(dir, "none.mp4");
        write_clip(mp4, 0, KV_ERR_INPUT); // no frames
        free(mp4);
    }
    cr_assert_eq(files_in(dir), 1);
    size_t n;
    unsigned char *old = tu_read_file(path, &n);
    cr_assert(n == 3 && memcmp(old, "old", 3) == 0, "the old file is untouched");
    free(old);
    free(path);
    tu_rmtree(dir);
}

// A write that fails half way (a file size limit stands in for a full disk): the error names
// the file, and neither the clip nor its temporary file is left.
Test(video, failed_write_leaves_nothing, .timeout = 60) {
    if (!export_video_available(EXPORT_VIDEO_MP4))
        cr_skip_test("no libx264 in this FFmpeg");
    char *dir = tu_tmpdir();
    char *path = tu_join(dir, "x.mp4");
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN); // the write fails with EFBIG instead of killing the process
    struct rlimit small = {1500, old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    ExportVideo *v;
    KvError err = {0};
    KvStatus st = export_video_open(&v, path, W, H, FPS, false, &err);
    for (int i = 0; st == KV_OK && i < N; i++) {
        cairo_surface_t *s = clip_frame(i);
        st = export_video_frame(v, cairo_image_surface_get_data(s),
                                cairo_image_surface_get_stride(s), &err);
        cairo_surface_destroy(s);
    }
    if (st == KV_OK)
        st = export_video_close(v, &err);
    else
        export_video_abort(v);
    setrlimit(RLIMIT_FSIZE, &old);
    cr_assert_eq(st, KV_ERR_RUNTIME, "the write failed: %s", err.msg);
    cr_assert(strstr(err.msg, path) == err.msg, "%s", err.msg);
    cr_assert_eq(files_in(dir), 0, "nothing is left");
    free(path);
    tu_rmtree(dir);
}

// ----------------------------------------------------------------------------------------------
// Clips of a session (clip.c): the run's frames, timing, and first and last pictures equal to
// the PNG export of the same states

// The PNG export of s at rest, as 0x00RRGGBB words.
static uint32_t *png_of(const Session *s, const View *v, int w, int h) {
    unsigned char *data;
    size_t len;
    KvError err = {0};
    cr_assert_eq(export_render(s, v, w, h, 1.0, EXPORT_PNG, &data, &len, &err), KV_OK, "%s",
                 err.msg);
    char path[] = "/tmp/kvscope-video-png-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    free(data);
    cairo_surface_t *png = cairo_image_surface_create_from_png(path);
    unlink(path);
    cr_assert_eq(cairo_surface_status(png), CAIRO_STATUS_SUCCESS);
    uint32_t *px = malloc((size_t)w * h * 4);
    const unsigned char *d = cairo_image_surface_get_data(png);
    int stride = cairo_image_surface_get_stride(png);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px[(size_t)y * w + x] = *(const uint32_t *)(d + (size_t)y * stride + 4 * x) & 0xFFFFFF;
    cairo_surface_destroy(png);
    return px;
}

static double px_error(const uint32_t *a, const uint32_t *b, int w, int h) {
    double sum = 0;
    for (size_t i = 0; i < (size_t)w * h; i++)
        for (int k = 0; k < 24; k += 8)
            sum += abs((int)(a[i] >> k & 255) - (int)(b[i] >> k & 255));
    return sum / (3.0 * w * h);
}

static void clip_of_run(const char *ext, double tolerance) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 9, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&s, "once upon a time", &err), KV_OK, "%s", err.msg);
    View v;
    view_init(&v);
    const int w = 640, h = 360, steps = 3;
    ExportClipOptions o = {
        .w = w, .h = h, .fps = 10, .tok_s = 2.0, .hold_start = 0.5, .hold_end = 1.0};
    uint32_t *want_first = png_of(&s, &v, w, h);
    char *dir = tu_tmpdir();
    char name[32];
    snprintf(name, sizeof name, "run.%s", ext);
    char *path = tu_join(dir, name);
    int done = 0;
    cr_assert_eq(export_clip_run(&s, &v, steps, &o, path, &done, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(done, steps);
    cr_assert_eq(s.cursor, steps, "the session is left after the steps");
    uint32_t *want_last = png_of(&s, &v, w, h);
    Decoded d;
    decode(path, &d);
    // 0.5 s held + 3 steps of 0.5 s + 1 s held, at 10 frames a second
    const int frames = 5 + steps * 5 + 10;
    cr_assert_eq(d.frames, frames, "%s: %d frames, want %d", ext, d.frames, frames);
    cr_assert_eq(d.w, w);
    cr_assert_eq(d.h, h);
    cr_assert_float_eq(d.duration, frames / 10.0, 0.021, "%s: %.3f s", ext, d.duration);
    double e0 = px_error(d.first, want_first, w, h), e1 = px_error(d.last, want_last, w, h);
    double cross = px_error(d.last, want_first, w, h);
    fprintf(stderr, "video: %s run: first frame vs PNG %.2f, last %.2f (last vs first PNG %.2f)\n",
            ext, e0, e1, cross);
    cr_assert_lt(e0, tolerance, "%s: first frame vs the PNG export: %.2f", ext, e0);
    cr_assert_lt(e1, tolerance, "%s: last frame vs the PNG export: %.2f", ext, e1);
    cr_assert_gt(cross, e1, "%s: the last frame shows the steps", ext);
    free(d.first), free(d.last), free(want_first), free(want_last);
    free(path);
    tu_rmtree(dir);
    tu_session_close(&m, &t, &s);
}

Test(video, run_as_mp4, .timeout = 120) {
    if (!export_video_available(EXPORT_VIDEO_MP4))
        cr_skip_test("no libx264 in this FFmpeg");
    clip_of_run("mp4", 2.5);
}

Test(video, run_as_gif_two_passes, .timeout = 120) {
    clip_of_run("gif", 3.0);
}

// ----------------------------------------------------------------------------------------------
// Through the command line: render -o FILE.mp4, lesson --video, bad names, and a signal

typedef TuFiles Files;

static Files files_new(void) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    Files f;
    KvError err = {0};
    cr_assert_eq(tu_files_new(&f, tu_config(32, 64, 2, 4, 2, 400, 64, false), &err), KV_OK, "%s",
                 err.msg);
    return f;
}

static void files_free(Files *f) {
    tu_files_free(f);
}

static void run_kvscope(TuRun *r, const char *const *args) {
    cr_assert(tu_run_kvscope(args, 120, r), "cannot run %s", tu_kvscope_bin());
}

Test(video, render_command_writes_the_run, .timeout = 180) {
    if (!export_video_available(EXPORT_VIDEO_MP4))
        cr_skip_test("no libx264 in this FFmpeg");
    Files f = files_new();
    char *out = tu_join(f.dir, "run.mp4");
    TuRun r;
    run_kvscope(&r, (const char *[]){"render", "--model", f.model, "--tokenizer", f.tok, "--prompt",
                                     "once upon", "--steps", "2", "--size", "640x360", "--speed",
                                     "4", "-o", out, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    Decoded d;
    decode(out, &d);
    // 1 s of the prompt, 2 steps of 0.25 s, 2 s of the last picture, at 30 frames a second
    cr_assert_eq(d.frames, 105, "%d frames", d.frames);
    cr_assert(d.w == 640 && d.h == 360);
    free(d.first), free(d.last), free(out);
    files_free(&f);
}

Test(video, lesson_command_writes_the_beats, .timeout = 180) {
    Files f = files_new();
    char *lesson = tu_join(f.dir, "two.lesson"), *out = tu_join(f.dir, "two.gif");
    const char *text = "prompt once upon\nstep 2\ncaption A\ntext B.\nbeat\n"
                       "step 1\ncaption C\ntext D.\nbeat\n";
    cr_assert(tu_write_file(lesson, text, strlen(text)));
    TuRun r;
    run_kvscope(&r, (const char *[]){"lesson", lesson, "--model", f.model, "--tokenizer", f.tok,
                                     "--size", "640x360", "--fps", "10", "--video", out, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    Decoded d;
    decode(out, &d);
    // each beat: its step's 0.25 s, then 2.5 s + 3 caption characters / 18 per second
    int want = (int)llround(2 * (0.25 + 2.5 + 3.0 / 18.0) * 10);
    cr_assert_eq(d.frames, want, "%d frames, want %d", d.frames, want);
    free(d.first), free(d.last), free(out), free(lesson);
    files_free(&f);
}

Test(video, bad_video_outputs, .timeout = 60) {
    Files f = files_new();
    char *odd = tu_join(f.dir, "odd.mp4"), *avi = tu_join(f.dir, "x.avi");
    char *missing = tu_join(f.dir, "no/such/x.webm"), *frames = tu_join(f.dir, "frames");
    struct {
        const char *args[20];
        const char *says;
    } bad[] = {
        {{"render", "--prompt", "a", "--steps", "1", "--size", "641x360", "-o", odd, NULL},
         "even width"},
        {{"render", "--prompt", "a", "--steps", "1", "-o", avi, NULL}, "unknown file type"},
        {{"render", "--prompt", "a", "--steps", "1", "-o", missing, NULL}, missing},
        {{"render", "--prompt", "a", "--steps", "1", "--fps", "0", "-o", odd, NULL}, "--fps"},
        {{"render", "--prompt", "a", "--steps", "1", "--speed", "50", "-o", odd, NULL}, "--speed"},
        {{"render", "--prompt", "a", "--steps", "1", "--frames", frames, "-o", odd, NULL},
         "not a video"},
        {{"lesson", "x.lesson", "--video", avi, NULL}, "not a video name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[32];
        int n = 0;
        for (int k = 0; bad[i].args[k]; k++)
            args[n++] = bad[i].args[k];
        args[n++] = "--model", args[n++] = f.model, args[n++] = "--tokenizer", args[n++] = f.tok;
        args[n] = NULL;
        TuRun r;
        run_kvscope(&r, args);
        cr_assert_eq(r.status, 2, "case %zu: status %d: %s", i, r.status, r.err);
        cr_assert_eq(tu_count_lines(r.err), 1, "case %zu: %s", i, r.err);
        cr_assert(strncmp(r.err, "kvscope: ", 9) == 0 && strstr(r.err, bad[i].says),
                  "case %zu: \"%s\" lacks \"%s\"", i, r.err, bad[i].says);
        tu_run_free(&r);
    }
    cr_assert_eq(files_in(f.dir), 2, "only the model and tokenizer are there");
    free(odd), free(avi), free(missing), free(frames);
    files_free(&f);
}

// Ctrl+C while a video is written: the temporary goes, nothing else is left.
Test(video, interrupted_export_leaves_nothing, .timeout = 180) {
    Files f = files_new();
    char *out = tu_join(f.dir, "long.gif");
    char *argv[] = {(char *)tu_kvscope_bin(),
                    "render",
                    "--model",
                    f.model,
                    "--tokenizer",
                    f.tok,
                    "--prompt",
                    "once upon",
                    "--steps",
                    "40",
                    "--size",
                    "1280x720",
                    "-o",
                    out,
                    NULL};
    // The child is stopped as soon as the temporary is seen and SIGINT sent while it cannot
    // move, so it surely lands while it writes; should it finish first, its clip is removed and
    // the run tried again.
    int st = 0;
    bool interrupted = false;
    for (int attempt = 0; attempt < 5 && !interrupted; attempt++) {
        TuSignalRun run = tu_signal_while_writing(argv, f.dir, SIGINT, &st);
        cr_assert_neq(run, TU_NOT_STARTED, "cannot start %s", argv[0]);
        cr_assert_neq(run, TU_NO_TEMPORARY, "no temporary appeared (status %d)", st);
        interrupted = run == TU_SIGNALLED;
        if (!interrupted)
            unlink(out); // it finished: its clip goes, and the run again
    }
    cr_assert(interrupted, "five runs finished before SIGINT could reach them while writing");
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "status %d", st);
    cr_assert_eq(files_in(f.dir), 2, "the temporary was removed and no clip written");
    free(out);
    files_free(&f);
}

// ----------------------------------------------------------------------------------------------
// The 3D camera in clips: its springs run over the frames as in the window

typedef struct {
    int n;
    double el[512], az[512];
} CamTrack;

static void on_frame(void *ctx, const View *v, int64_t frame) {
    CamTrack *t = ctx;
    if (t->n < 512 && frame >= 0)
        t->el[t->n] = v->cam_el, t->az[t->n++] = v->cam_az;
}

// A clip held at the FRONT camera, then at TOP: the drawn frames after the switch climb from
// FRONT's elevation to TOP's without a jump and without passing it, one frame time apart, and the
// same clip twice gives the same frames, byte for byte.
Test(video, clip_runs_the_camera_springs_between_presets, .timeout = 120) {
    if (!export_video_available(EXPORT_VIDEO_MP4))
        cr_skip_test("no libx264 in this FFmpeg");
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 9, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&s, "once upon a time", &err), KV_OK, "%s", err.msg);
    for (int k = 0; k < 4; k++)
        cr_assert(session_step(&s));
    char *dir = tu_tmpdir();
    char *paths[2] = {tu_join(dir, "a.mp4"), tu_join(dir, "b.mp4")};
    CamTrack track[2] = {{0}};
    for (int run = 0; run < 2; run++) {
        ExportClipOptions o = {.w = 320, .h = 180, .fps = 30, .tok_s = 4.0};
        o.observe = on_frame;
        o.observe_ctx = &track[run];
        ExportClip *clip;
        cr_assert_eq(export_clip_open(&clip, paths[run], &o, 60, &err), KV_OK, "%s", err.msg);
        View v;
        view_init(&v);
        v.kind = VIEW_3D;
        v.show_panels = false; // the measured step time is no part of the picture's motion
        char why[160];
        cr_assert(view_camera_parse("front", &v, why, sizeof why));
        cr_assert_eq(export_clip_hold(clip, &s, &v, 0.5, &err), KV_OK, "%s", err.msg);
        view_camera_set(&v, CAMERA_TOP); // a lesson's `camera top`: the still's angles at TOP
        view_camera_target(&v, &v.cam_az, &v.cam_el);
        cr_assert_eq(export_clip_hold(clip, &s, &v, 1.5, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(export_clip_close(clip, &err), KV_OK, "%s", err.msg);
    }
    CamTrack *k = &track[0];
    cr_assert_eq(k->n, track[1].n);
    for (int i = 0; i < k->n; i++)
        cr_assert(k->el[i] == track[1].el[i], "frame %d: the same camera both times", i);
    // FRONT is held (drawn once: it does not move), then TOP's frames climb
    cr_assert_float_eq(k->el[0], 14, 1e-9);
    int moving = 0;
    for (int i = 1; i < k->n; i++) {
        cr_assert_geq(k->el[i], k->el[i - 1], "frame %d goes back: %.3f after %.3f", i, k->el[i],
                      k->el[i - 1]);
        cr_assert_leq(k->el[i], 90.0, "frame %d passes TOP", i);
        cr_assert_lt(k->el[i] - k->el[i - 1], 25, "frame %d jumps %.1f degrees", i,
                     k->el[i] - k->el[i - 1]);
        moving += k->el[i] > 14.5 && k->el[i] < 89.5;
    }
    cr_assert_geq(moving, 5, "%d frames between the presets", moving);
    cr_assert_float_eq(k->el[k->n - 1], 90, 1e-9, "arrives at TOP");
    // the frames: those between the presets differ from each other and come nearer the last
    Decoded d[2];
    for (int run = 0; run < 2; run++)
        decode_frames(paths[run], &d[run], true);
    cr_assert_eq(d[0].frames, 60);
    cr_assert_eq(d[0].frames, d[1].frames);
    const size_t npx = (size_t)d[0].w * d[0].h;
    for (int i = 0; i < d[0].frames; i++)
        cr_assert(memcmp(d[0].all[i], d[1].all[i], npx * 4) == 0, "frame %d differs", i);
    const int first = 15; // after 0.5 s of FRONT
    double prev = 1e9;
    int differ = 0;
    for (int i = first; i < first + 12; i++) {
        double to_end = px_error(d[0].all[i], d[0].last, d[0].w, d[0].h);
        cr_assert_leq(to_end, prev + 0.3, "frame %d: %.2f from the end, %.2f before", i, to_end,
                      prev);
        prev = to_end;
        differ += px_error(d[0].all[i], d[0].all[i + 1], d[0].w, d[0].h) > 0.2;
    }
    cr_assert_gt(px_error(d[0].all[first - 1], d[0].last, d[0].w, d[0].h), 5,
                 "FRONT and TOP look different");
    cr_assert_geq(differ, 5, "%d frames in a row differ from the next", differ);
    for (int run = 0; run < 2; run++) {
        decoded_free(&d[run]);
        free(paths[run]);
    }
    tu_rmtree(dir);
    tu_session_close(&m, &t, &s);
}
