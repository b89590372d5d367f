// recorder.c — the window's recording: what the window shows, from the moment the presenter
// starts it until it is stopped, as an MP4 in the export folder (src/export/video.c encodes).
//
// The window draws only when something changes, so the recording is kept on a clock: before a
// new frame is drawn, the picture still on screen is written as many times as frames fell due
// since the last one (30 a second), and on stop up to the moment of stopping. An idle minute is
// a minute of the same picture, as the class saw it.
//
// What this file does not do: draw (window.c hands over the frame it shows), decide when to
// record (the action table's row does).
#include "app/window.h"
#include "export/export.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RECORD_FPS 30

bool recorder_active(const Recorder *r) {
    return r->video != NULL;
}

KvStatus recorder_start(Recorder *r, const char *dir, int w, int h, double now, KvError *err) {
    memset(r, 0, sizeof *r);
    KvStatus st = export_make_dir(dir, err);
    if (st)
        return st;
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(r->path, sizeof r->path, "%s/kvscope-%s.mp4", dir, stamp);
    r->w = w & ~1, r->h = h & ~1; // yuv420p: even sizes (the last column or row is left out)
    st = export_video_open(&r->video, r->path, r->w, r->h, RECORD_FPS, false, err);
    if (st)
        return st;
    r->t0 = now;
    return KV_OK;
}

// Frames due by `now`: one at the start, then RECORD_FPS a second.
static int64_t due(const Recorder *r, double now) {
    return 1 + (int64_t)floor((now - r->t0) * RECORD_FPS);
}

KvStatus recorder_catch_up(Recorder *r, const unsigned char *px, int stride, int w, int h,
                           double now, KvError *err) {
    if (!r->video || !px)
        return KV_OK;
    if ((w & ~1) != r->w || (h & ~1) != r->h)
        return kv_error(err, KV_ERR_INPUT, "%s: the window changed size: recording stopped",
                        r->path);
    for (int64_t n = due(r, now); r->frames < n; r->frames++) {
        KvStatus st = export_video_frame(r->video, px, stride, err);
        if (st)
            return st;
    }
    return KV_OK;
}

KvStatus recorder_stop(Recorder *r, const unsigned char *px, int stride, int w, int h, double now,
                       KvError *err) {
    if (!r->video)
        return KV_OK;
    KvStatus st = recorder_catch_up(r, px, stride, w, h, now, err);
    if (st) {
        recorder_abort(r);
        return st;
    }
    r->seconds = (double)r->frames / RECORD_FPS;
    st = export_video_close(r->video, err);
    r->video = NULL;
    return st;
}

void recorder_abort(Recorder *r) {
    export_video_abort(r->video);
    r->video = NULL;
}
