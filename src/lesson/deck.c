// deck.c — a lesson as slides: one vector PDF page or one PNG per beat, each drawn by scene_draw
// exactly as the window draws it, with the beat's caption. Files are written under a temporary
// name and renamed, so a failed export leaves nothing behind. Does not parse or play (player.c).
#include "lesson/lesson.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void tmp_name(const char *path, char *buf, size_t cap) {
    snprintf(buf, cap, "%s.tmp-%ld", path, (long)getpid());
}

KvStatus lesson_write_pdf(LessonPlayer *p, const char *path, const LessonDeckOptions *o,
                          KvError *err) {
    const Lesson *l = p->lesson;
    int w, h;
    deck_size(o, &w, &h);
    char tmp[1100];
    tmp_name(path, tmp, sizeof tmp);
    // Points: half the scene size, so 1920 x 1080 is a 960 x 540 pt (13.33 x 7.5 in) 16:9 slide.
    cairo_surface_t *pdf = cairo_pdf_surface_create(tmp, w / 2.0, h / 2.0);
    KvStatus st = KV_OK;
    if (cairo_surface_status(pdf)) {
        st = kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s", path,
                      cairo_status_to_string(cairo_surface_status(pdf)));
        goto out;
    }
    cairo_pdf_surface_set_metadata(pdf, CAIRO_PDF_METADATA_TITLE,
                                   l->title[0] ? l->title : l->path);
    cairo_pdf_surface_set_metadata(pdf, CAIRO_PDF_METADATA_CREATOR, "kvscope lesson");
    for (int k = 0; k < l->n_beats; k++) {
        if ((st = lesson_player_goto(p, k, err)))
            goto out;
        View v;
        beat_view(p, o, &v);
        cairo_t *cr = cairo_create(pdf);
        cairo_scale(cr, 0.5, 0.5);
        scene_draw(cr, p->session, &v, w, h, 1.0);
        cairo_status_t cs = cairo_status(cr);
        cairo_destroy(cr);
        if (cs) {
            st = kv_error(err, KV_ERR_RUNTIME, "%s: drawing beat %d: %s", path, k + 1,
                          cairo_status_to_string(cs));
            goto out;
        }
        char label[1200], link[32];
        snprintf(label, sizeof label, "%d. %s", k + 1, p->title[0] ? p->title : "(no caption)");
        snprintf(link, sizeof link, "page=%d", k + 1);
        cairo_pdf_surface_add_outline(pdf, CAIRO_PDF_OUTLINE_ROOT, label, link, 0);
        cairo_surface_show_page(pdf);
    }
    cairo_surface_finish(pdf);
    if (cairo_surface_status(pdf))
        st = kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s", path,
                      cairo_status_to_string(cairo_surface_status(pdf)));
    else if (rename(tmp, path) != 0)
        st = kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s", path, strerror(errno));
out:
    cairo_surface_destroy(pdf);
    if (st)
        unlink(tmp);
    return st;
}

// mkdir -p
static KvStatus make_dirs(const char *dir, KvError *err) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *s = buf + 1;; s++) {
        bool end = *s == '\0';
        if (*s == '/' || end) {
            *s = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return kv_error(err, KV_ERR_INPUT, "%s: cannot create: %s", buf, strerror(errno));
            struct stat st;
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
                return kv_error(err, KV_ERR_INPUT, "%s: not a folder", buf);
            if (end)
                return KV_OK;
            *s = '/';
        }
    }
}

KvStatus lesson_write_frames(LessonPlayer *p, const char *dir, const LessonDeckOptions *o,
                             KvError *err) {
    const Lesson *l = p->lesson;
    int w, h;
    deck_size(o, &w, &h);
    KvStatus st = make_dirs(dir, err);
    if (st)
        return st;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(img)) {
        cairo_surface_destroy(img);
        return kv_error(err, KV_ERR_RUNTIME, "frames: %dx%d: %s", w, h,
                        cairo_status_to_string(cairo_surface_status(img)));
    }
    for (int k = 0; k < l->n_beats && !st; k++) {
        if ((st = lesson_player_goto(p, k, err)))
            break;
        View v;
        beat_view(p, o, &v);
        cairo_t *cr = cairo_create(img);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_paint(cr);
        scene_draw(cr, p->session, &v, w, h, 1.0);
        cairo_status_t cs = cairo_status(cr);
        cairo_destroy(cr);
        cairo_surface_flush(img);
        char path[1100], tmp[1200];
        snprintf(path, sizeof path, "%s/beat-%02d.png", dir, k + 1);
        tmp_name(path, tmp, sizeof tmp);
        if (cs)
            st = kv_error(err, KV_ERR_RUNTIME, "%s: drawing: %s", path, cairo_status_to_string(cs));
        else if ((cs = cairo_surface_write_to_png(img, tmp)) != CAIRO_STATUS_SUCCESS)
            st = kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s", path,
                          cairo_status_to_string(cs));
        else if (rename(tmp, path) != 0)
            st = kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s", path, strerror(errno));
        if (st)
            unlink(tmp);
    }
    cairo_surface_destroy(img);
    return st;
}
