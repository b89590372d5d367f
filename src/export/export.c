// export.c — PNG, SVG and PDF files of the scene, frame sequences and multi-page PDF decks.
// Every target is rendered into memory through a cairo stream surface and then written with
// kv_write_file_atomic: a failure at any point leaves no file (and no half file) behind.
// What is not here: choosing what to draw (src/view) or parsing options (src/app).
#define _GNU_SOURCE // renameat2
#include "export/export.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT_MAX_SIDE 16384
#define EXPORT_MAX_PIXELS (8192.0 * 8192.0)

// ----------------------------------------------------------------------------------------------
// A growing byte buffer that cairo streams into

typedef struct {
    unsigned char *data;
    size_t len, cap;
} Buf;

static bool buf_put(Buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d)
            return false;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

static cairo_status_t buf_write(void *closure, const unsigned char *data, unsigned int length) {
    return buf_put(closure, data, length) ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

static bool buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool buf_printf(Buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    return buf_put(b, tmp, (size_t)(n < (int)sizeof tmp ? n : (int)sizeof tmp - 1));
}

// ----------------------------------------------------------------------------------------------
// Paths

int export_format_of(const char *path) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || strchr(dot, '/'))
        return -1;
    if (strcasecmp(dot, ".png") == 0)
        return EXPORT_PNG;
    if (strcasecmp(dot, ".svg") == 0)
        return EXPORT_SVG;
    if (strcasecmp(dot, ".pdf") == 0)
        return EXPORT_PDF;
    return -1;
}

const char *export_format_ext(ExportFormat f) {
    return f == EXPORT_SVG ? "svg" : f == EXPORT_PDF ? "pdf" : "png";
}

KvStatus export_check_path(const char *path, KvError *err) {
    return export_check_output(path, NULL, err);
}

KvStatus export_check_output(const char *path, const char *const *inputs, KvError *err) {
    static const char *const exts[] = {"png", "svg", "pdf", "mp4", "webm", "gif", NULL};
    return kv_check_output(path, exts, inputs, err);
}

void export_frame_name(char *out, size_t cap, const char *dir, int index, ExportFormat fmt) {
    size_t n = strlen(dir);
    const char *sep = n > 0 && dir[n - 1] == '/' ? "" : "/";
    snprintf(out, cap, "%s%sframe-%04d.%s", dir, sep, index, export_format_ext(fmt));
}

KvStatus export_make_dir(const char *dir, KvError *err) {
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return kv_error(err, KV_ERR_INPUT, "%s: not a directory", dir);
        if (access(dir, W_OK | X_OK) != 0)
            return kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s", dir, strerror(errno));
        return KV_OK;
    }
    if (mkdir(dir, 0755) != 0)
        return kv_error(err, KV_ERR_INPUT, "%s: cannot create directory: %s", dir, strerror(errno));
    return KV_OK;
}

KvStatus export_make_dirs(const char *dir, KvError *err) {
    size_t n = strlen(dir);
    if (n == 0)
        return kv_error(err, KV_ERR_INPUT, "output: no directory name given");
    char *buf = kv_malloc(n + 1);
    memcpy(buf, dir, n + 1);
    KvStatus st = KV_OK;
    // Each parent in turn (a leading '/' is not one), then the directory itself.
    for (char *p = buf + 1; *p && !st; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        struct stat sb;
        if (stat(buf, &sb) != 0 && mkdir(buf, 0755) != 0 && errno != EEXIST)
            st = kv_error(err, KV_ERR_INPUT, "%s: cannot create directory: %s", buf,
                          strerror(errno));
        else if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
            st = kv_error(err, KV_ERR_INPUT, "%s: not a directory", buf);
        *p = '/';
    }
    free(buf);
    return st ? st : export_make_dir(dir, err);
}

// ----------------------------------------------------------------------------------------------
// Frame sets: written into a fresh folder beside DIR, swapped in when complete

struct ExportFrameSet {
    char dir[PATH_MAX], tmp[PATH_MAX], prefix[32], path[PATH_MAX + 64];
    int digits, slot, count;
    ExportFormat fmt;
    char **made; // folders above DIR this set created (removed again on abort), n_made
    int n_made;
};

// True when `name` is <prefix><digits digits>.<png|svg|pdf>: a frame of an earlier set.
static bool is_frame_name(const char *name, const char *prefix, int digits) {
    size_t np = strlen(prefix);
    if (strncmp(name, prefix, np) != 0)
        return false;
    const char *p = name + np;
    for (int i = 0; i < digits; i++, p++)
        if (*p < '0' || *p > '9')
            return false;
    while (*p >= '0' && *p <= '9') // more frames than the width: wider numbers
        p++;
    return *p == '.' && export_format_of(p) >= 0;
}

// Removes every frame of the set in folder `dir` (and nothing else), then the folder if empty.
static void remove_frames(const char *dir, const char *prefix, int digits) {
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[PATH_MAX + 300];
    while ((e = readdir(d)))
        if (is_frame_name(e->d_name, prefix, digits)) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(dir);
}

KvStatus export_frames_check(const char *dir, const char *prefix, bool make_parents,
                             const char *const *inputs, KvError *err) {
    if (!dir || !*dir)
        return kv_error(err, KV_ERR_INPUT, "frames: no folder given");
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    // room for "<dir>.tmp-XXXXXX/<prefix><number>.<ext>.tmp-XXXXXX"; the folder's own name
    // with ".tmp-XXXXXX" must be a valid name too. Checked before anything is created.
    const char *base = dir;
    for (size_t i = 0; i < n; i++)
        if (dir[i] == '/' && i + 1 < n)
            base = dir + i + 1;
    size_t base_len = n - (size_t)(base - dir);
    if (n + 12 + strlen(prefix) + 12 + 16 >= PATH_MAX || base_len + 11 > NAME_MAX)
        return kv_error(err, KV_ERR_INPUT, "%.64s...: the folder name is too long (%zu bytes)", dir,
                        n);
    for (int i = 0; inputs && inputs[i]; i++)
        if (kv_same_file(dir, inputs[i]))
            return kv_error(err, KV_ERR_INPUT, "%s: is one of this run's inputs (%s)", dir,
                            inputs[i]);
    // where the new folder goes: DIR's parent, or (with make_parents) its nearest existing
    // ancestor, must be a folder this process can write
    char up[PATH_MAX];
    snprintf(up, sizeof up, "%.*s", (int)n, dir);
    struct stat sb;
    for (;;) {
        char *slash = strrchr(up, '/');
        if (!slash)
            snprintf(up, sizeof up, ".");
        else if (slash == up)
            up[1] = '\0';
        else
            *slash = '\0';
        if (stat(up, &sb) == 0 || !make_parents || strcmp(up, ".") == 0 || strcmp(up, "/") == 0)
            break;
    }
    if (stat(up, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(up, W_OK | X_OK) != 0)
        return kv_error(err, KV_ERR_INPUT, "%s: cannot write: folder %s: %s", dir, up,
                        errno ? strerror(errno) : "not a folder");
    (void)prefix;
    return KV_OK;
}

KvStatus export_frames_open(ExportFrameSet **out, const char *dir, const char *prefix, int digits,
                            ExportFormat fmt, bool make_parents, const char *const *inputs,
                            KvError *err) {
    *out = NULL;
    KvStatus st0 = export_frames_check(dir, prefix, make_parents, inputs, err);
    if (st0)
        return st0;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    ExportFrameSet *fs = calloc(1, sizeof *fs);
    if (!fs)
        return kv_error(err, KV_ERR_RUNTIME, "%s: out of memory", dir);
    snprintf(fs->dir, sizeof fs->dir, "%.*s", (int)n, dir);
    snprintf(fs->prefix, sizeof fs->prefix, "%s", prefix);
    fs->digits = digits;
    fs->fmt = fmt;
    fs->slot = -1;
    KvStatus st = KV_OK;
    struct stat sb;
    if (stat(fs->dir, &sb) == 0) {  // an earlier set: replaced as a whole, so it must hold
        if (!S_ISDIR(sb.st_mode)) { // only frames (nobody's other files)
            st = kv_error(err, KV_ERR_INPUT, "%s: not a directory", fs->dir);
            goto fail;
        }
        DIR *d = opendir(fs->dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                !is_frame_name(e->d_name, prefix, digits)) {
                st = kv_error(err, KV_ERR_INPUT,
                              "%s: holds '%s', which is not a frame; the folder is replaced as a "
                              "whole: choose an empty or new one",
                              fs->dir, e->d_name);
                break;
            }
        if (d)
            closedir(d);
        else
            st = kv_error(err, KV_ERR_INPUT, "%s: cannot read: %s", fs->dir, strerror(errno));
        if (st)
            goto fail;
    } else if (make_parents) { // mkdir -p of the folders above, remembered to undo
        char buf[PATH_MAX];
        snprintf(buf, sizeof buf, "%s", fs->dir);
        for (char *s = buf + 1; *s; s++) {
            if (*s != '/')
                continue;
            *s = '\0';
            if (stat(buf, &sb) != 0) {
                if (mkdir(buf, 0755) != 0) {
                    st = kv_error(err, KV_ERR_INPUT, "%s: cannot create: %s", buf, strerror(errno));
                    goto fail;
                }
                fs->made = kv_realloc(fs->made, ((size_t)fs->n_made + 1) * sizeof *fs->made);
                fs->made[fs->n_made++] = kv_malloc(strlen(buf) + 1);
                memcpy(fs->made[fs->n_made - 1], buf, strlen(buf) + 1);
            } else if (!S_ISDIR(sb.st_mode)) {
                st = kv_error(err, KV_ERR_INPUT, "%s: not a folder", buf);
                goto fail;
            }
            *s = '/';
        }
    }
    fs->slot = kv_temp_folder_create(fs->dir, prefix, digits, export_format_ext(fmt), fs->tmp,
                                     sizeof fs->tmp, err);
    if (fs->slot < 0) {
        st = err ? err->code : KV_ERR_INPUT;
        goto fail;
    }
    *out = fs;
    return KV_OK;
fail:
    export_frames_abort(fs);
    return st;
}

KvStatus export_frames_write(ExportFrameSet *fs, int index, const void *data, size_t n,
                             KvError *err) {
    const ExportFormat fmt = fs->fmt;
    snprintf(fs->path, sizeof fs->path, "%s/%s%0*d.%s", fs->tmp, fs->prefix, fs->digits, index,
             export_format_ext(fmt));
    KvStatus st = kv_write_file_atomic(fs->path, data, n, err);
    if (st) {
        // the message names the folder the user gave, not the temporary one
        char frame[PATH_MAX + 64];
        snprintf(frame, sizeof frame, "%s/%s%0*d.%s", fs->dir, fs->prefix, fs->digits, index,
                 export_format_ext(fmt));
        const char *why = err ? strstr(err->msg, ": ") : NULL;
        if (why)
            kv_error(err, st, "%s%s", frame, why);
        return st;
    }
    if (index > fs->count)
        fs->count = index;
    kv_temp_folder_count(fs->slot, fs->count);
    return KV_OK;
}

KvStatus export_frames_commit(ExportFrameSet *fs, KvError *err) {
    KvStatus st = KV_OK;
    struct stat sb;
    bool had = stat(fs->dir, &sb) == 0;
    if (!had) {
        if (rename(fs->tmp, fs->dir) != 0)
            st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot write: %s", fs->dir, strerror(errno));
    } else if (renameat2(AT_FDCWD, fs->tmp, AT_FDCWD, fs->dir, RENAME_EXCHANGE) == 0) {
        // one atomic swap: DIR held the old set until now and holds the new one from now
        kv_temp_folder_forget(fs->slot, false);
        fs->slot = -1;
        remove_frames(fs->tmp, fs->prefix, fs->digits); // the old set, now at the temporary name
    } else { // a file system without the exchange: the old set aside, the new in, the old away
        char old[PATH_MAX + 16];
        snprintf(old, sizeof old, "%s.old-XXXXXX", fs->dir);
        if (!mkdtemp(old) || rmdir(old) != 0 || rename(fs->dir, old) != 0) {
            st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot replace: %s", fs->dir, strerror(errno));
        } else if (rename(fs->tmp, fs->dir) != 0) {
            st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot write: %s", fs->dir, strerror(errno));
            rename(old, fs->dir); // put the old set back
        } else {
            remove_frames(old, fs->prefix, fs->digits);
        }
    }
    if (st) {
        export_frames_abort(fs);
        return st;
    }
    if (fs->slot >= 0)
        kv_temp_folder_forget(fs->slot, false);
    fs->slot = -1;
    for (int i = 0; i < fs->n_made; i++) // the folders above now hold the set: keep them
        free(fs->made[i]);
    free(fs->made);
    free(fs);
    return KV_OK;
}

void export_frames_abort(ExportFrameSet *fs) {
    if (!fs)
        return;
    if (fs->slot >= 0) {
        kv_temp_folder_forget(fs->slot, false);
        remove_frames(fs->tmp, fs->prefix, fs->digits);
    }
    for (int i = fs->n_made - 1; i >= 0; i--) {
        rmdir(fs->made[i]);
        free(fs->made[i]);
    }
    free(fs->made);
    free(fs);
}

static KvStatus check_size(int w, int h, KvError *err) {
    if (w < 16 || h < 16 || w > EXPORT_MAX_SIDE || h > EXPORT_MAX_SIDE ||
        (double)w * h > EXPORT_MAX_PIXELS)
        return kv_error(err, KV_ERR_INPUT,
                        "size: %dx%d is out of range (16 .. %d per side, at most 8192x8192 pixels)",
                        w, h, EXPORT_MAX_SIDE);
    return KV_OK;
}

// ----------------------------------------------------------------------------------------------
// SVG text layer: every string the scene draws, as transparent <text> at the same place

typedef struct {
    Buf text;
    bool failed;
} SvgText;

static void svg_text_sink(void *ctx, const SceneText *st) {
    SvgText *t = ctx;
    double x = st->x, y = st->y, size = st->size;
    bool bold = st->bold;
    const char *utf8 = st->utf8;
    Buf *b = &t->text;
    bool ok = buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.2f\"%s>", x, y, size,
                         bold ? " font-weight=\"bold\"" : "");
    for (const char *p = utf8; ok && *p; p++) {
        switch (*p) {
        case '&':
            ok = buf_put(b, "&amp;", 5);
            break;
        case '<':
            ok = buf_put(b, "&lt;", 4);
            break;
        case '>':
            ok = buf_put(b, "&gt;", 4);
            break;
        case '"':
            ok = buf_put(b, "&quot;", 6);
            break;
        default:
            // XML 1.0 forbids most control characters; the scene never draws them, but be sure.
            if ((unsigned char)*p >= 0x20 || *p == '\t')
                ok = buf_put(b, p, 1);
        }
    }
    ok = ok && buf_put(b, "</text>\n", 8);
    if (!ok)
        t->failed = true;
}

// Inserts the text layer before the document's closing tag.
static bool svg_splice(Buf *svg, const Buf *text) {
    static const char close_tag[] = "</svg>";
    size_t n = sizeof close_tag - 1;
    if (svg->len < n)
        return false;
    size_t at = svg->len - n;
    while (at > 0 && memcmp(svg->data + at, close_tag, n) != 0)
        at--;
    if (memcmp(svg->data + at, close_tag, n) != 0)
        return false;
    Buf out = {0};
    static const char open[] =
        "<g id=\"kvscope-text\" font-family=\"DejaVu Sans\" fill=\"#000\" fill-opacity=\"0\" "
        "xml:space=\"preserve\">\n";
    bool ok = buf_put(&out, svg->data, at) && buf_put(&out, open, sizeof open - 1) &&
              (text->len == 0 || buf_put(&out, text->data, text->len)) &&
              buf_put(&out, "</g>\n", 5) && buf_put(&out, svg->data + at, svg->len - at);
    if (!ok) {
        free(out.data);
        return false;
    }
    free(svg->data);
    *svg = out;
    return true;
}

// ----------------------------------------------------------------------------------------------
// One frame

KvStatus export_render(const Session *s, const View *v, int w, int h, double t_anim,
                       ExportFormat fmt, unsigned char **data, size_t *len, KvError *err) {
    KvStatus st = check_size(w, h, err);
    if (st)
        return st;
    Buf out = {0};
    SvgText svg_text = {0};
    SceneTextSink sink = {svg_text_sink, &svg_text};
    View view = *v;
    cairo_surface_t *surface = NULL;
    switch (fmt) {
    case EXPORT_SVG:
        surface = cairo_svg_surface_create_for_stream(buf_write, &out, w, h);
        view.text_sink = &sink;
        break;
    case EXPORT_PDF:
        surface = cairo_pdf_surface_create_for_stream(buf_write, &out, w, h);
        if (cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS) {
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, "kvscope frame");
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "kvscope");
        }
        break;
    default:
        surface = cairo_image_surface_create(
            v->transparent ? CAIRO_FORMAT_ARGB32 : CAIRO_FORMAT_RGB24, w, h);
        break;
    }
    cairo_t *cr = cairo_create(surface);
    scene_draw(cr, s, &view, w, h, t_anim);
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    if (cs == CAIRO_STATUS_SUCCESS && fmt == EXPORT_PNG)
        cs = cairo_surface_write_to_png_stream(surface, buf_write, &out);
    cairo_surface_finish(surface);
    if (cs == CAIRO_STATUS_SUCCESS)
        cs = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    if (cs != CAIRO_STATUS_SUCCESS) {
        st =
            kv_error(err, KV_ERR_RUNTIME, "export: drawing failed: %s", cairo_status_to_string(cs));
        goto fail;
    }
    if (fmt == EXPORT_SVG && (svg_text.failed || !svg_splice(&out, &svg_text.text))) {
        st = kv_error(err, KV_ERR_RUNTIME, "export: could not add the SVG text layer");
        goto fail;
    }
    free(svg_text.text.data);
    *data = out.data;
    *len = out.len;
    return KV_OK;
fail:
    free(svg_text.text.data);
    free(out.data);
    return st;
}

KvStatus export_frame(const Session *s, const View *v, int w, int h, double t_anim,
                      const char *path, KvError *err) {
    KvStatus st = export_check_path(path, err);
    if (st)
        return st;
    if (export_format_of(path) < 0)
        return kv_error(err, KV_ERR_INPUT, "%s: not a picture (.png, .svg or .pdf)", path);
    unsigned char *data = NULL;
    size_t len = 0;
    st = export_render(s, v, w, h, t_anim, (ExportFormat)export_format_of(path), &data, &len, err);
    if (st)
        return st;
    st = kv_write_file_atomic(path, data, len, err);
    free(data);
    return st;
}

KvStatus export_frame_sequence(Session *s, const View *v, int w, int h, int n_steps,
                               const char *dir, ExportFormat fmt, int *written, KvError *err) {
    if (written)
        *written = 0;
    KvStatus st = check_size(w, h, err);
    if (st)
        return st;
    ExportFrameSet *fs;
    st = export_frames_open(&fs, dir, "frame-", 4, fmt, false, NULL, err);
    if (st)
        return st;
    int done = 0;
    for (int k = 0; k < n_steps; k++) {
        if (!session_step(s)) {
            st = session_fault(s, err); // an overflowing model is an error; a full context not
            break;
        }
        unsigned char *data = NULL;
        size_t len = 0;
        view_prepare(s, v);
        st = export_render(s, v, w, h, 1.0, fmt, &data, &len, err);
        if (!st)
            st = export_frames_write(fs, k + 1, data, len, err);
        free(data);
        if (st)
            break;
        done = k + 1;
    }
    if (st) {
        export_frames_abort(fs); // DIR keeps what it held: the old set or nothing
        return st;
    }
    st = export_frames_commit(fs, err);
    if (!st && written)
        *written = done;
    return st;
}

// ----------------------------------------------------------------------------------------------
// Multi-page PDF

struct ExportPdf {
    cairo_surface_t *surface;
    cairo_t *cr;
    Buf out;
    int w, h, pages; // scene units
    double scale;    // points per scene unit
    bool in_page;
    char path[];
};

KvStatus export_pdf_open(ExportPdf **out, const char *path, int w, int h, const ExportPdfInfo *info,
                         KvError *err) {
    *out = NULL;
    KvStatus st = export_check_path(path, err);
    if (st)
        return st;
    if (export_format_of(path) != EXPORT_PDF)
        return kv_error(err, KV_ERR_INPUT, "%s: a deck must be a .pdf file", path);
    st = check_size(w, h, err);
    if (st)
        return st;
    ExportPdf *p = kv_calloc(1, sizeof *p + strlen(path) + 1);
    strcpy(p->path, path);
    p->w = w;
    p->h = h;
    p->scale = info && info->scale > 0 ? info->scale : 1.0;
    p->surface =
        cairo_pdf_surface_create_for_stream(buf_write, &p->out, w * p->scale, h * p->scale);
    if (cairo_surface_status(p->surface) != CAIRO_STATUS_SUCCESS) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: %s", path,
                      cairo_status_to_string(cairo_surface_status(p->surface)));
        export_pdf_abort(p);
        return st;
    }
    const char *title = info && info->title && *info->title ? info->title : "kvscope";
    const char *creator = info && info->creator ? info->creator : "kvscope";
    cairo_pdf_surface_set_metadata(p->surface, CAIRO_PDF_METADATA_TITLE, title);
    cairo_pdf_surface_set_metadata(p->surface, CAIRO_PDF_METADATA_CREATOR, creator);
    p->cr = cairo_create(p->surface);
    *out = p;
    return KV_OK;
}

cairo_t *export_pdf_context(ExportPdf *pdf) {
    pdf->in_page = true;
    return pdf->cr;
}

int export_pdf_pages(const ExportPdf *pdf) {
    return pdf->pages;
}

KvStatus export_pdf_end_page(ExportPdf *pdf, KvError *err) {
    cairo_show_page(pdf->cr);
    pdf->in_page = false;
    cairo_status_t cs = cairo_status(pdf->cr);
    if (cs != CAIRO_STATUS_SUCCESS)
        return kv_error(err, KV_ERR_RUNTIME, "%s: drawing failed: %s", pdf->path,
                        cairo_status_to_string(cs));
    pdf->pages++;
    return KV_OK;
}

KvStatus export_pdf_page(ExportPdf *pdf, const Session *s, const View *v, const char *outline,
                         KvError *err) {
    cairo_t *cr = export_pdf_context(pdf);
    cairo_save(cr);
    cairo_scale(cr, pdf->scale, pdf->scale);
    scene_draw(cr, s, v, pdf->w, pdf->h, 1.0);
    cairo_restore(cr);
    if (outline) {
        char link[32];
        snprintf(link, sizeof link, "page=%d", pdf->pages + 1);
        cairo_pdf_surface_add_outline(pdf->surface, CAIRO_PDF_OUTLINE_ROOT, outline, link, 0);
    }
    return export_pdf_end_page(pdf, err);
}

KvStatus export_pdf_close(ExportPdf *pdf, KvError *err) {
    KvStatus st = KV_OK;
    if (pdf->in_page) {
        st = export_pdf_end_page(pdf, err);
        if (st)
            goto done;
    }
    if (pdf->pages == 0) {
        st = kv_error(err, KV_ERR_INPUT, "%s: the deck has no pages", pdf->path);
        goto done;
    }
    cairo_destroy(pdf->cr);
    pdf->cr = NULL;
    cairo_surface_finish(pdf->surface);
    cairo_status_t cs = cairo_surface_status(pdf->surface);
    if (cs != CAIRO_STATUS_SUCCESS) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: %s", pdf->path, cairo_status_to_string(cs));
        goto done;
    }
    st = kv_write_file_atomic(pdf->path, pdf->out.data, pdf->out.len, err);
done:
    export_pdf_abort(pdf);
    return st;
}

void export_pdf_abort(ExportPdf *pdf) {
    if (!pdf)
        return;
    if (pdf->cr)
        cairo_destroy(pdf->cr);
    if (pdf->surface)
        cairo_surface_destroy(pdf->surface);
    free(pdf->out.data);
    free(pdf);
}
