// deck.c — a lesson as slides: one vector PDF page or one PNG per beat, each drawn by scene_draw
// exactly as the window draws it, with the beat's caption. The PDF is written to an exclusive
// temporary and renamed; the PNGs form a frame set (export.h) swapped in when complete; so a
// failed or interrupted export leaves nothing behind. Does not parse or play (player.c).
#include "lesson/lesson.h"
#include "export/export.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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

// The PDF streams into an exclusive temporary beside the deck (kv_temp_create: never a
// predictable name, never through a symbolic link, removed on SIGINT/SIGTERM); every write is
// checked, and the temporary is renamed over the deck only when all of it is on disk.
typedef struct {
    int fd;
    const char *path;
    KvError err;
    bool failed;
} PdfSink;

static cairo_status_t pdf_sink_write(void *closure, const unsigned char *data,
                                     unsigned int length) {
    PdfSink *k = closure;
    if (k->failed)
        return CAIRO_STATUS_WRITE_ERROR;
    if (kv_write_all(k->fd, data, length, k->path, &k->err)) {
        k->failed = true;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

KvStatus lesson_write_pdf(LessonPlayer *p, const char *path, const LessonDeckOptions *o,
                          KvError *err) {
    const Lesson *l = p->lesson;
    int w, h;
    deck_size(o, &w, &h);
    static const char *const pdf_only[] = {"pdf", NULL};
    const char *inputs[] = {l->path, p->session->model->path, NULL};
    KvStatus st = kv_check_output(path, pdf_only, inputs, err);
    if (st)
        return st;
    char tmp[PATH_MAX];
    PdfSink sink = {.fd = kv_temp_create(path, tmp, sizeof tmp, err), .path = path};
    if (sink.fd < 0)
        return err ? err->code : KV_ERR_INPUT;
    // Points: half the scene size, so 1920 x 1080 is a 960 x 540 pt (13.33 x 7.5 in) 16:9 slide.
    cairo_surface_t *pdf =
        cairo_pdf_surface_create_for_stream(pdf_sink_write, &sink, w / 2.0, h / 2.0);
    if (cairo_surface_status(pdf)) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot write: %s", path,
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
            st = sink.failed ? kv_error(err, sink.err.code, "%s", sink.err.msg)
                             : kv_error(err, KV_ERR_RUNTIME, "%s: drawing beat %d: %s", path,
                                        k + 1, cairo_status_to_string(cs));
            goto out;
        }
        char label[1200], link[32];
        snprintf(label, sizeof label, "%d. %s", k + 1, p->title[0] ? p->title : "(no caption)");
        snprintf(link, sizeof link, "page=%d", k + 1);
        cairo_pdf_surface_add_outline(pdf, CAIRO_PDF_OUTLINE_ROOT, label, link, 0);
        cairo_surface_show_page(pdf);
    }
    cairo_surface_finish(pdf);
    if (sink.failed)
        st = kv_error(err, sink.err.code, "%s", sink.err.msg); // "deck.pdf: No space left ..."
    else if (cairo_surface_status(pdf))
        st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot write: %s", path,
                      cairo_status_to_string(cairo_surface_status(pdf)));
out:
    cairo_surface_destroy(pdf);
    if (close(sink.fd) != 0 && !st)
        st = kv_error(err, KV_ERR_RUNTIME, "%s: %s", path, strerror(errno));
    if (st) {
        kv_temp_forget(tmp, true);
        return st;
    }
    return kv_temp_commit(tmp, path, err);
}

static cairo_status_t png_to_buf(void *closure, const unsigned char *data, unsigned int length) {
    struct {
        unsigned char *p;
        size_t n, cap;
    } *b = closure;
    if (b->n + length > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + length)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q)
            return CAIRO_STATUS_NO_MEMORY;
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->n, data, length);
    b->n += length;
    return CAIRO_STATUS_SUCCESS;
}

KvStatus lesson_write_frames(LessonPlayer *p, const char *dir, const LessonDeckOptions *o,
                             KvError *err) {
    const Lesson *l = p->lesson;
    int w, h;
    deck_size(o, &w, &h);
    const char *inputs[] = {l->path, p->session->model->path, NULL};
    ExportFrameSet *fs;
    KvStatus st = export_frames_open(&fs, dir, "beat-", 2, EXPORT_PNG, true, inputs, err);
    if (st)
        return st;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(img)) {
        cairo_surface_destroy(img);
        export_frames_abort(fs);
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
        struct {
            unsigned char *p;
            size_t n, cap;
        } png = {0};
        if (cs == CAIRO_STATUS_SUCCESS)
            cs = cairo_surface_write_to_png_stream(img, png_to_buf, &png);
        if (cs)
            st = kv_error(err, KV_ERR_RUNTIME, "%s/beat-%02d.png: drawing: %s", dir, k + 1,
                          cairo_status_to_string(cs));
        else
            st = export_frames_write(fs, k + 1, png.p, png.n, err);
        free(png.p);
    }
    cairo_surface_destroy(img);
    if (st) {
        export_frames_abort(fs);
        return st;
    }
    return export_frames_commit(fs, err);
}
