// clip.c — animated runs: a session's steps drawn frame by frame, with the motion the window
// shows (view_anim_t), into a video file (video.c).
//
// A clip is a list of shots: hold the picture at rest for a while, or play one step's
// transition at the playing speed. `render -o run.mp4` is the prompt held, every step played,
// the last picture held; a lesson video (src/lesson) is each beat's last step played and its
// picture held with the caption. GIF takes two passes over the same shots (the palette is built
// from every frame first), so a clip is described before it is drawn and can be drawn twice.
//
// The 3D camera moves as in the window: its springs (view_camera_advance) are advanced 1 / fps
// a frame from shot to shot, so a lesson's `camera top` after `camera front` swings over the
// frames that follow, and a run's camera follows the write head; the motion depends on the
// frame count alone, so the same clip gives the same frames.
//
// What this file does not do: choose the shots of a lesson (src/lesson), print progress (the
// caller's callback does).
#include "export/export.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t export_clip_frames(double seconds, int fps) {
    if (seconds <= 0)
        return 0;
    return (int64_t)llround(seconds * fps);
}

struct ExportClip {
    ExportVideo *video;
    cairo_surface_t *surf;
    int w, h, fps;
    double t;            // the clip's time so far (seconds) in this pass, as the shots ask
    int64_t done, total; // frames of this pass so far, of the whole clip (every pass)
    int64_t pass_frames; // frames one pass holds, known after the first
    void (*progress)(void *ctx, int64_t done, int64_t total);
    void *ctx;
    // The 3D camera where its springs have brought it (cam's camera fields), once a 3D frame of
    // this pass was drawn (cam_set); and the scratch layout the springs read.
    bool cam_set;
    View cam;
    SceneLayout *lay;
    void (*observe)(void *ctx, const View *v, int64_t frame);
    void *observe_ctx;
};

KvStatus export_clip_open(ExportClip **out, const char *path, const ExportClipOptions *o,
                          int64_t frames_per_pass, KvError *err) {
    *out = NULL;
    ExportVideo *v;
    KvStatus st = export_video_open(&v, path, o->w, o->h, o->fps, false, err);
    if (st)
        return st;
    ExportClip *c = kv_calloc(1, sizeof *c);
    c->video = v;
    c->w = o->w, c->h = o->h, c->fps = o->fps;
    c->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, o->w, o->h);
    if (cairo_surface_status(c->surf) != CAIRO_STATUS_SUCCESS) {
        export_clip_abort(c);
        return kv_error(err, KV_ERR_RUNTIME, "%s: cannot allocate a %dx%d frame", path, o->w, o->h);
    }
    c->pass_frames = frames_per_pass;
    c->total = frames_per_pass * export_video_passes(v);
    c->progress = o->progress;
    c->ctx = o->progress_ctx;
    c->observe = o->observe;
    c->observe_ctx = o->observe_ctx;
    *out = c;
    return KV_OK;
}

int export_clip_passes(const ExportClip *c) {
    return export_video_passes(c->video);
}

KvStatus export_clip_next_pass(ExportClip *c, KvError *err) {
    c->t = 0;
    c->cam_set = false; // every pass moves the camera the same way
    return export_video_next_pass(c->video, err);
}

// Frames a shot of `seconds` starting at the clip's time c->t takes: the frames due by its end
// less those due by its start, so that rounding never accumulates over many shots.
static int64_t shot_frames(const ExportClip *c, double seconds) {
    return export_clip_frames(c->t + seconds, c->fps) - export_clip_frames(c->t, c->fps);
}

// The view of the next frame: v with the 3D camera where its springs are after one more frame
// (the first 3D frame of a pass: the view's own angles, at their goal as a still). True while
// the camera still moves.
static bool clip_camera(ExportClip *c, const Session *s, const View *v, View *out) {
    *out = *v;
    if (v->kind != VIEW_3D)
        return false;
    if (c->cam_set) {
        out->cam_az = c->cam.cam_az, out->cam_el = c->cam.cam_el;
        out->cam_x = c->cam.cam_x, out->cam_dist = c->cam.cam_dist;
        memcpy(out->cam_vel, c->cam.cam_vel, sizeof out->cam_vel);
        out->cam_live = c->cam.cam_live;
    } else {
        out->cam_live = false;
    }
    if (!c->lay)
        c->lay = kv_malloc(sizeof *c->lay);
    scene_layout(s, out, c->w, c->h, c->lay);
    const bool moving = view_camera_advance(out, c->lay, c->cam_set ? 1.0 / c->fps : 0);
    c->cam = *out;
    c->cam_set = true;
    return moving;
}

KvStatus export_clip_shot(ExportClip *c, const Session *s, const View *v, double t_anim,
                          int64_t repeat, KvError *err) {
    const unsigned char *px = cairo_image_surface_get_data(c->surf);
    const int stride = cairo_image_surface_get_stride(c->surf);
    bool moving = true; // the camera: drawn again each frame until it rests
    for (int64_t i = 0; i < repeat; i++) {
        if (moving) {
            View fv;
            moving = clip_camera(c, s, v, &fv);
            cairo_t *cr = cairo_create(c->surf);
            scene_draw(cr, s, &fv, c->w, c->h, t_anim);
            cairo_status_t cs = cairo_status(cr);
            cairo_destroy(cr);
            cairo_surface_flush(c->surf);
            if (cs != CAIRO_STATUS_SUCCESS)
                return kv_error(err, KV_ERR_RUNTIME, "drawing a frame failed: %s",
                                cairo_status_to_string(cs));
            if (c->observe)
                c->observe(c->observe_ctx, &fv, c->done);
        }
        KvStatus st = export_video_frame(c->video, px, stride, err);
        if (st)
            return st;
        c->done++;
        if (c->progress)
            c->progress(c->ctx, c->done, c->total);
    }
    return KV_OK;
}

KvStatus export_clip_hold(ExportClip *c, const Session *s, const View *v, double seconds,
                          KvError *err) {
    const int64_t n = shot_frames(c, seconds);
    c->t += seconds;
    return export_clip_shot(c, s, v, 1.0, n, err);
}

KvStatus export_clip_step(ExportClip *c, const Session *s, const View *v, double tok_s,
                          KvError *err) {
    const StepRecord *r = session_last(s);
    const Phase phase = r ? r->phase : PHASE_DECODE;
    const int64_t n = shot_frames(c, 1.0 / tok_s);
    // frame j shows the step (first + j - t * fps) / fps seconds after it was taken
    const double lag = (double)export_clip_frames(c->t, c->fps) / c->fps - c->t;
    c->t += 1.0 / tok_s;
    for (int64_t j = 0; j < n; j++) {
        double t = view_anim_t(phase, tok_s, lag + (double)j / c->fps);
        KvStatus st = export_clip_shot(c, s, v, t, 1, err);
        if (st)
            return st;
    }
    return KV_OK;
}

KvStatus export_clip_close(ExportClip *c, KvError *err) {
    KvStatus st = export_video_close(c->video, err);
    c->video = NULL;
    export_clip_abort(c);
    return st;
}

void export_clip_abort(ExportClip *c) {
    if (!c)
        return;
    export_video_abort(c->video);
    if (c->surf)
        cairo_surface_destroy(c->surf);
    free(c->lay);
    free(c);
}

// ----------------------------------------------------------------------------------------------
// A run: the prompt held, n_steps steps played, the last picture held

// Frames of one pass of a run of n steps.
static int64_t run_frames(const ExportClipOptions *o, int n) {
    return export_clip_frames(o->hold_start + n / o->tok_s + o->hold_end, o->fps);
}

KvStatus export_clip_run(Session *s, const View *v, int n_steps, const ExportClipOptions *o,
                         const char *path, int *steps_done, KvError *err) {
    // the steps first (they may stop at the context), so the clip knows its length
    const int start = s->cursor;
    int n = 0;
    while (n < n_steps && session_step(s))
        n++;
    if (steps_done)
        *steps_done = n;
    KvStatus fault = session_fault(s, err); // a model that overflows: no clip at all
    if (fault)
        return fault;
    while (s->cursor > start)
        session_back(s);
    ExportClip *c;
    KvStatus st = export_clip_open(&c, path, o, run_frames(o, n), err);
    if (st)
        return st;
    for (int pass = 0; pass < export_clip_passes(c) && !st; pass++) {
        if (pass > 0) {
            while (s->cursor > start)
                session_back(s);
            st = export_clip_next_pass(c, err);
        }
        view_prepare(s, v);
        if (!st)
            st = export_clip_hold(c, s, v, o->hold_start, err);
        for (int k = 0; k < n && !st; k++) {
            session_step(s); // redone from the record: exactly the first pass's step
            view_prepare(s, v);
            st = export_clip_step(c, s, v, o->tok_s, err);
        }
        if (!st)
            st = export_clip_hold(c, s, v, o->hold_end, err);
    }
    if (st) {
        export_clip_abort(c);
        return st;
    }
    return export_clip_close(c, err);
}
