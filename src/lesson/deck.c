// deck.c — a lesson as slides: one vector PDF page or one PNG per beat, each drawn by scene_draw
// exactly as the window draws it, with the beat's caption. What a lesson adds is here (which
// beats, the view of each, the outline labels and file names); the files themselves are
// written by src/export (rendered in memory, written atomically: a failed export leaves nothing
// behind). Does not parse or play (player.c).
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
    KvStatus st = export_make_dirs(dir, err);
    size_t cap = strlen(dir) + 32;
    char *path = kv_malloc(cap);
    for (int k = 0; k < l->n_beats && !st; k++) {
        if ((st = lesson_player_goto(p, k, err)))
            break;
        View v;
        beat_view(p, o, &v);
        snprintf(path, cap, "%s/beat-%02d.png", dir, k + 1);
        st = export_frame(p->session, &v, w, h, 1.0, path, err);
    }
    free(path);
    return st;
}
