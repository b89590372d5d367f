// deck.c — a lesson as slides: one vector PDF page or one PNG per beat, each drawn by scene_draw
// exactly as the window draws it, with the beat's caption. What a lesson adds is here (which
// beats, the view of each, the outline labels and file names); the files themselves are
// written by src/export (rendered in memory, written atomically; the PNGs as a frame set swapped
// in whole: a failed or interrupted export leaves nothing behind). Does not parse or play.
#include "export/export.h"
#include "lesson/lesson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void deck_size(const LessonDeckOptions *o, int *w, int *h) {
    *w = o && o->width > 0 ? o->width : 1920;
    *h = o && o->height > 0 ? o->height : 1080;
}

// The view of the player's current beat, as the window would set it up.
static void beat_view(const LessonPlayer *p, const LessonDeckOptions *o, View *v) {
    view_init(v);
    lesson_player_view(p, v);
    view_camera_target(v, &v->cam_az, &v->cam_el); // a still: the camera at its preset
    if (o && o->theme >= 0)
        v->theme = (ThemeKind)o->theme;
}

KvStatus lesson_write_pdf(LessonPlayer *p, const char *path, const LessonDeckOptions *o,
                          KvError *err) {
    const Lesson *l = p->lesson;
    int w, h;
    deck_size(o, &w, &h);
    // Points: half the scene size, so 1920 x 1080 is a 960 x 540 pt (13.33 x 7.5 in) 16:9 slide.
    ExportPdfInfo info = {
        .scale = 0.5, .title = l->title[0] ? l->title : l->path, .creator = "kvscope lesson"};
    ExportPdf *pdf = NULL;
    KvStatus st = export_pdf_open(&pdf, path, w, h, &info, err);
    if (st)
        return st;
    for (int k = 0; k < l->n_beats; k++) {
        if ((st = lesson_player_goto(p, k, err)))
            break;
        View v;
        beat_view(p, o, &v);
        char label[1200];
        snprintf(label, sizeof label, "%d. %s", k + 1, p->title[0] ? p->title : "(no caption)");
        if ((st = export_pdf_page(pdf, p->session, &v, label, err)))
            break;
    }
    if (st) {
        export_pdf_abort(pdf);
        return st;
    }
    return export_pdf_close(pdf, err);
}

KvStatus lesson_write_frames(LessonPlayer *p, const char *dir, const LessonDeckOptions *o,
                             KvError *err) {
    const Lesson *l = p->lesson;
    int w, h;
    deck_size(o, &w, &h);
    // a frame set: the beats go into a fresh folder beside dir, swapped in when all are written
    // (dir then holds this lesson's beats and nothing older); missing folders above are made
    const char *inputs[] = {l->path, p->session->model->path, NULL};
    ExportFrameSet *fs;
    KvStatus st = export_frames_open(&fs, dir, "beat-", 2, EXPORT_PNG, true, inputs, err);
    if (st)
        return st;
    for (int k = 0; k < l->n_beats && !st; k++) {
        if ((st = lesson_player_goto(p, k, err)))
            break;
        View v;
        beat_view(p, o, &v);
        unsigned char *png = NULL;
        size_t len = 0;
        st = export_render(p->session, &v, w, h, 1.0, EXPORT_PNG, &png, &len, err);
        if (!st)
            st = export_frames_write(fs, k + 1, png, len, err);
        free(png);
    }
    if (st) {
        export_frames_abort(fs);
        return st;
    }
    return export_frames_commit(fs, err);
}

// ----------------------------------------------------------------------------------------------
// The lesson as a video: what the window shows when the presenter presses → through the beats.
// Each beat whose commands took steps plays its last step's transition at the playing speed (as
// the window animates it), then holds with its caption long enough to read it.

// Seconds a beat's picture stays: a moment to look, and the caption at a reading pace.
static double beat_hold(const LessonPlayer *p) {
    double chars = (double)(strlen(p->title) + strlen(p->text));
    double s = 2.5 + chars / 18.0;
    return s > 12.0 ? 12.0 : s;
}

// Where the beat left the session: the step records it shows (a beat that took no step, or only
// changed the view, plays no transition).
static bool beat_stepped(const Session *s, int *cursor, const StepRecord **last) {
    const StepRecord *r = session_last(s);
    bool moved = s->cursor != *cursor || r != *last;
    *cursor = s->cursor;
    *last = r;
    return moved && r != NULL;
}

KvStatus lesson_write_video(LessonPlayer *p, const char *path, const LessonVideoOptions *o,
                            KvError *err) {
    const Lesson *l = p->lesson;
    ExportClipOptions co = {
        .fps = o->fps, .tok_s = o->tok_s, .progress = o->progress, .progress_ctx = o->progress_ctx};
    deck_size(&o->deck, &co.w, &co.h);
    // the clip's length first (its beats are replayed quickly, without drawing)
    double seconds = 0;
    int cursor = -1;
    const StepRecord *last = NULL;
    KvStatus st = KV_OK;
    for (int k = 0; k < l->n_beats && !st; k++) {
        if ((st = lesson_player_goto(p, k, err)))
            return st;
        seconds += (beat_stepped(p->session, &cursor, &last) ? 1.0 / o->tok_s : 0) + beat_hold(p);
    }
    ExportClip *c;
    if ((st = export_clip_open(&c, path, &co, export_clip_frames(seconds, co.fps), err)))
        return st;
    for (int pass = 0; pass < export_clip_passes(c) && !st; pass++) {
        if (pass > 0)
            st = export_clip_next_pass(c, err);
        cursor = -1;
        last = NULL;
        for (int k = 0; k < l->n_beats && !st; k++) {
            if ((st = lesson_player_goto(p, k, err)))
                break;
            View v;
            beat_view(p, &o->deck, &v);
            if (beat_stepped(p->session, &cursor, &last))
                st = export_clip_step(c, p->session, &v, o->tok_s, err);
            if (!st)
                st = export_clip_hold(c, p->session, &v, beat_hold(p), err);
        }
    }
    if (st) {
        export_clip_abort(c);
        return st;
    }
    return export_clip_close(c, err);
}
