// export.c — PNG, SVG and PDF files of the scene, frame sequences and multi-page PDF decks.
// Every target is rendered into memory through a cairo stream surface and then written with
// kv_write_file_atomic: a failure at any point leaves no file (and no half file) behind.
// What is not here: choosing what to draw (src/view) or parsing options (src/app).
#include "export/export.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <errno.h>
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
        while (cap < b->len + n) cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) return false;
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
    if (n < 0) return false;
    return buf_put(b, tmp, (size_t)(n < (int)sizeof tmp ? n : (int)sizeof tmp - 1));
}

// ----------------------------------------------------------------------------------------------
// Paths

int export_format_of(const char *path) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || strchr(dot, '/')) return -1;
    if (strcasecmp(dot, ".png") == 0) return EXPORT_PNG;
    if (strcasecmp(dot, ".svg") == 0) return EXPORT_SVG;
    if (strcasecmp(dot, ".pdf") == 0) return EXPORT_PDF;
    return -1;
}

const char *export_format_ext(ExportFormat f) {
    return f == EXPORT_SVG ? "svg" : f == EXPORT_PDF ? "pdf" : "png";
}

static KvStatus check_dir(const char *path, const char *dir, KvError *err) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return kv_error(err, KV_ERR_INPUT, "%s: cannot write: directory %s: %s", path, dir,
                        strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return kv_error(err, KV_ERR_INPUT, "%s: cannot write: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return kv_error(err, KV_ERR_INPUT, "%s: cannot write: directory %s: %s", path, dir,
                        strerror(errno));
    return KV_OK;
}

KvStatus export_check_path(const char *path, KvError *err) {
    if (!path || !*path) return kv_error(err, KV_ERR_INPUT, "output: no file name given");
    if (export_format_of(path) < 0)
        return kv_error(err, KV_ERR_INPUT,
                        "%s: unknown file type (the name must end in .png, .svg or .pdf)", path);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return kv_error(err, KV_ERR_INPUT, "%s: is a directory", path);
    size_t n = strlen(path);
    char *dir = malloc(n + 2);
    if (!dir) return kv_error(err, KV_ERR_RUNTIME, "%s: out of memory", path);
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    KvStatus s = check_dir(path, dir, err);
    free(dir);
    return s;
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
        return kv_error(err, KV_ERR_INPUT, "%s: cannot create directory: %s", dir,
                        strerror(errno));
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

static void svg_text_sink(void *ctx, double x, double y, double size, bool bold,
                          const char *utf8) {
    SvgText *t = ctx;
    Buf *b = &t->text;
    bool ok = buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.2f\"%s>", x, y, size,
                         bold ? " font-weight=\"bold\"" : "");
    for (const char *p = utf8; ok && *p; p++) {
        switch (*p) {
        case '&': ok = buf_put(b, "&amp;", 5); break;
        case '<': ok = buf_put(b, "&lt;", 4); break;
        case '>': ok = buf_put(b, "&gt;", 4); break;
        case '"': ok = buf_put(b, "&quot;", 6); break;
        default:
            // XML 1.0 forbids most control characters; the scene never draws them, but be sure.
            if ((unsigned char)*p >= 0x20 || *p == '\t') ok = buf_put(b, p, 1);
        }
    }
    ok = ok && buf_put(b, "</text>\n", 8);
    if (!ok) t->failed = true;
}

// Inserts the text layer before the document's closing tag.
static bool svg_splice(Buf *svg, const Buf *text) {
    static const char close_tag[] = "</svg>";
    size_t n = sizeof close_tag - 1;
    if (svg->len < n) return false;
    size_t at = svg->len - n;
    while (at > 0 && memcmp(svg->data + at, close_tag, n) != 0) at--;
    if (memcmp(svg->data + at, close_tag, n) != 0) return false;
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
    if (st) return st;
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
    default: surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h); break;
    }
    cairo_t *cr = cairo_create(surface);
    scene_draw(cr, s, &view, w, h, t_anim);
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    if (cs == CAIRO_STATUS_SUCCESS && fmt == EXPORT_PNG)
        cs = cairo_surface_write_to_png_stream(surface, buf_write, &out);
    cairo_surface_finish(surface);
    if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    if (cs != CAIRO_STATUS_SUCCESS) {
        st = kv_error(err, KV_ERR_RUNTIME, "export: drawing failed: %s",
                      cairo_status_to_string(cs));
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
    if (st) return st;
    unsigned char *data = NULL;
    size_t len = 0;
    st = export_render(s, v, w, h, t_anim, (ExportFormat)export_format_of(path), &data, &len, err);
    if (st) return st;
    st = kv_write_file_atomic(path, data, len, err);
    free(data);
    return st;
}

KvStatus export_frame_sequence(Session *s, const View *v, int w, int h, int n_steps,
                               const char *dir, ExportFormat fmt, int *written, KvError *err) {
    if (written) *written = 0;
    KvStatus st = check_size(w, h, err);
    if (st) return st;
    st = export_make_dir(dir, err);
    if (st) return st;
    size_t cap = strlen(dir) + 32;
    char *path = malloc(cap);
    if (!path) return kv_error(err, KV_ERR_RUNTIME, "%s: out of memory", dir);
    for (int k = 0; k < n_steps; k++) {
        if (!session_step(s)) {
            st = session_fault(s, err); // an overflowing model is an error; a full context not
            break;
        }
        export_frame_name(path, cap, dir, k + 1, fmt);
        st = export_frame(s, v, w, h, 1.0, path, err);
        if (st) break;
        if (written) *written = k + 1;
    }
    free(path);
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

int export_pdf_pages(const ExportPdf *pdf) { return pdf->pages; }

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
        if (st) goto done;
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
    if (!pdf) return;
    if (pdf->cr) cairo_destroy(pdf->cr);
    if (pdf->surface) cairo_surface_destroy(pdf->surface);
    free(pdf->out.data);
    free(pdf);
}
