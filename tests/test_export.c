// test_export.c — files from the scene: PNG of the asked size, SVG that is XML and keeps the
// token text as text, PDF that starts %PDF and whose text pdftotext finds, multi-page decks,
// frame sequences, failures that leave nothing behind, and `kvscope render` on the command line.
#include "export/export.h"
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#define VOCAB 400
#define PROMPT "kab kac kad" // " k", "ab", " k", "ac", ...: two-letter pieces of the test tokenizer

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
    char *dir;
} Fixture;

static void fixture_init(Fixture *f, int steps) {
    KvError err = {0};
    ModelConfig c = tu_config(48, 96, 2, 4, 2, VOCAB, 256, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 11, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f->s, PROMPT, &err), KV_OK, "%s", err.msg);
    for (int k = 0; k < steps; k++)
        cr_assert(session_step(&f->s));
    f->dir = tu_tmpdir();
    cr_assert_not_null(f->dir);
}

static void fixture_free(Fixture *f) {
    tu_session_close(&f->m, &f->t, &f->s);
    tu_rmtree(f->dir);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

// Prompt tokens whose text (without a leading space) is at least two letters: what the files
// must carry as text.
static int word_tokens(const Session *s, char words[][16], int cap) {
    int n = 0;
    for (int i = 1; i < s->n_prompt && n < cap; i++) {
        char bb[2];
        size_t len;
        const char *t = session_token_text(s, i, bb, &len);
        if (len > 0 && t[0] == ' ')
            t++, len--;
        if (len < 2 || len >= 16)
            continue;
        memcpy(words[n], t, len);
        words[n][len] = 0;
        n++;
    }
    return n;
}

static bool have_tool(const char *name) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

Test(export, png_has_the_asked_size, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 4);
    View v;
    view_init(&v);
    char *path = tu_join(f.dir, "frame.png");
    KvError err = {0};
    cr_assert_eq(export_frame(&f.s, &v, 1280, 720, 1.0, path, &err), KV_OK, "%s", err.msg);
    size_t n;
    unsigned char *d = tu_read_file(path, &n);
    cr_assert_not_null(d);
    cr_assert_gt(n, 33);
    cr_assert(memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0);
    unsigned w = (unsigned)d[16] << 24 | d[17] << 16 | d[18] << 8 | d[19];
    unsigned h = (unsigned)d[20] << 24 | d[21] << 16 | d[22] << 8 | d[23];
    cr_assert_eq(w, 1280);
    cr_assert_eq(h, 720);
    cr_assert_eq(count_entries(f.dir), 1, "no temporary file left");
    free(d);
    free(path);
    fixture_free(&f);
}

Test(export, svg_is_xml_and_keeps_text, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 4);
    View v;
    view_init(&v);
    v.caption_title = "Caption & <title>";
    char *path = tu_join(f.dir, "frame.svg");
    KvError err = {0};
    cr_assert_eq(export_frame(&f.s, &v, 1280, 720, 1.0, path, &err), KV_OK, "%s", err.msg);
    size_t n;
    char *d = (char *)tu_read_file(path, &n);
    cr_assert_not_null(d);
    cr_assert(strncmp(d, "<?xml", 5) == 0);
    cr_assert_not_null(strstr(d, "<svg"));
    cr_assert_not_null(strstr(d, "</svg>"));
    cr_assert_not_null(strstr(d, "<text"));
    cr_assert_not_null(strstr(d, ">KV CACHE ON</text>"));
    cr_assert_not_null(strstr(d, "Caption &amp; &lt;title&gt;"));
    char words[8][16];
    int nw = word_tokens(&f.s, words, 8);
    cr_assert_gt(nw, 0);
    for (int k = 0; k < nw; k++) {
        char needle[160];
        snprintf(needle, sizeof needle, ">%s</text>", words[k]);
        cr_assert_not_null(strstr(d, needle), "token '%s' is not text in the SVG", words[k]);
    }
    if (have_tool("xmllint")) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s' 2>/dev/null", path);
        cr_assert_eq(system(cmd), 0, "xmllint rejects the SVG");
    }
    free(d);
    free(path);
    fixture_free(&f);
}

Test(export, pdf_is_pdf_and_keeps_text, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 4);
    View v;
    view_init(&v);
    v.theme = THEME_LIGHT;
    char *path = tu_join(f.dir, "frame.pdf");
    KvError err = {0};
    cr_assert_eq(export_frame(&f.s, &v, 1280, 720, 1.0, path, &err), KV_OK, "%s", err.msg);
    size_t n;
    char *d = (char *)tu_read_file(path, &n);
    cr_assert_not_null(d);
    cr_assert(strncmp(d, "%PDF-", 5) == 0);
    cr_assert_not_null(strstr(d + (n > 64 ? n - 64 : 0), "%%EOF"));
    free(d);
    if (have_tool("pdftotext")) {
        char *txt = tu_join(f.dir, "frame.txt");
        char cmd[2400];
        snprintf(cmd, sizeof cmd, "pdftotext -raw '%s' '%s'", path, txt);
        cr_assert_eq(system(cmd), 0);
        char *t = (char *)tu_read_file(txt, &n);
        cr_assert_not_null(t);
        cr_assert_not_null(strstr(t, "KV CACHE"));
        cr_assert_not_null(strstr(t, "COUNTERS"));
        char words[8][16];
        int nw = word_tokens(&f.s, words, 8), found = 0;
        for (int k = 0; k < nw; k++)
            found += strstr(t, words[k]) != NULL;
        cr_assert_gt(found, 0, "no token text in the PDF's text");
        free(t);
        free(txt);
    }
    free(path);
    fixture_free(&f);
}

Test(export, deck_has_one_page_per_call, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 2);
    View v;
    view_init(&v);
    char *path = tu_join(f.dir, "deck.pdf");
    KvError err = {0};
    ExportPdf *pdf;
    ExportPdfInfo info = {.title = "deck"};
    cr_assert_eq(export_pdf_open(&pdf, path, 1280, 720, &info, &err), KV_OK, "%s", err.msg);
    for (int k = 0; k < 3; k++) {
        v.caption_title = k == 0 ? "One" : k == 1 ? "Two" : "Three";
        cr_assert_eq(export_pdf_page(pdf, &f.s, &v, NULL, &err), KV_OK, "%s", err.msg);
        cr_assert(session_step(&f.s));
    }
    cr_assert_eq(export_pdf_pages(pdf), 3);
    cr_assert_eq(count_entries(f.dir), 0, "nothing is written before close");
    cr_assert_eq(export_pdf_close(pdf, &err), KV_OK, "%s", err.msg);
    size_t n;
    char *d = (char *)tu_read_file(path, &n);
    cr_assert_not_null(d);
    int pages = 0;
    for (size_t i = 0; i + 12 <= n; i++)
        if (memcmp(d + i, "/Type /Page", 11) == 0 && d[i + 11] != 's')
            pages++;
    cr_assert_eq(pages, 3);
    free(d);
    if (have_tool("pdftotext")) {
        char cmd[2400];
        char *txt = tu_join(f.dir, "deck.txt");
        snprintf(cmd, sizeof cmd, "pdftotext '%s' '%s'", path, txt);
        cr_assert_eq(system(cmd), 0);
        char *t = (char *)tu_read_file(txt, &n);
        cr_assert(t && strstr(t, "One") && strstr(t, "Two") && strstr(t, "Three"));
        free(t);
        free(txt);
    }
    // An aborted deck writes nothing.
    char *p2 = tu_join(f.dir, "aborted.pdf");
    cr_assert_eq(export_pdf_open(&pdf, p2, 640, 360, NULL, &err), KV_OK);
    cr_assert_eq(export_pdf_page(pdf, &f.s, &v, NULL, &err), KV_OK);
    export_pdf_abort(pdf);
    struct stat st;
    cr_assert_neq(stat(p2, &st), 0);
    free(p2);
    free(path);
    fixture_free(&f);
}

// A deck's pages are the scene scaled (a lesson's 0.5: 1280 x 720 units on 640 x 360 pt), each
// with its outline entry, the title and creator given.
Test(export, deck_scaled_pages_with_outline, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 2);
    View v;
    view_init(&v);
    char *path = tu_join(f.dir, "scaled.pdf");
    KvError err = {0};
    ExportPdf *pdf;
    ExportPdfInfo info = {.scale = 0.5, .title = "Scaled deck", .creator = "kvscope lesson"};
    cr_assert_eq(export_pdf_open(&pdf, path, 1280, 720, &info, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(export_pdf_page(pdf, &f.s, &v, "1. First beat", &err), KV_OK, "%s", err.msg);
    cr_assert_eq(export_pdf_page(pdf, &f.s, &v, "2. Second beat", &err), KV_OK, "%s", err.msg);
    cr_assert_eq(export_pdf_close(pdf, &err), KV_OK, "%s", err.msg);
    size_t n;
    char *d = (char *)tu_read_file(path, &n);
    cr_assert_not_null(d);
    int boxes = 0, outlines = 0;
    for (size_t i = 0; i + 32 <= n; i++) {
        if (memcmp(d + i, "/MediaBox [ 0 0 640 360 ]", 25) == 0)
            boxes++;
        if (memcmp(d + i, "(1. First beat)", 15) == 0 || memcmp(d + i, "(2. Second beat)", 16) == 0)
            outlines++;
    }
    cr_assert_eq(boxes, 2, "two pages of 640 x 360 pt");
    cr_assert_eq(outlines, 2, "an outline entry per page");
    bool title = false, creator = false;
    for (size_t i = 0; i + 16 <= n; i++) {
        title = title || memcmp(d + i, "(Scaled deck)", 13) == 0;
        creator = creator || memcmp(d + i, "(kvscope lesson)", 16) == 0;
    }
    cr_assert(title && creator, "title and creator in the metadata");
    free(d);
    free(path);
    fixture_free(&f);
}

Test(export, make_dirs_makes_parents, .timeout = 30) {
    Fixture f;
    fixture_init(&f, 0);
    KvError err = {0};
    char *deep = tu_join(f.dir, "a/b/c");
    cr_assert_eq(export_make_dirs(deep, &err), KV_OK, "%s", err.msg);
    struct stat st;
    cr_assert(stat(deep, &st) == 0 && S_ISDIR(st.st_mode));
    cr_assert_eq(export_make_dirs(deep, &err), KV_OK, "existing is fine");
    // A file in the way of a parent: an error naming it, nothing made below it.
    char *file = tu_join(f.dir, "plain");
    cr_assert(tu_write_file(file, "x", 1));
    char *below = tu_join(file, "sub/dir");
    cr_assert_eq(export_make_dirs(below, &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "not a directory"), "%s", err.msg);
    cr_assert_eq(export_make_dirs("", &err), KV_ERR_INPUT);
    free(below);
    free(file);
    free(deep);
    fixture_free(&f);
}

Test(export, frame_sequence_one_file_per_step, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 0);
    View v;
    view_init(&v);
    char *dir = tu_join(f.dir, "frames");
    KvError err = {0};
    int written = 0;
    cr_assert_eq(export_frame_sequence(&f.s, &v, 320, 180, 5, dir, EXPORT_PNG, &written, &err),
                 KV_OK, "%s", err.msg);
    cr_assert_eq(written, 5);
    cr_assert_eq(f.s.cursor, 5);
    cr_assert_eq(count_entries(dir), 5);
    char name[1200];
    export_frame_name(name, sizeof name, dir, 5, EXPORT_PNG);
    struct stat st;
    cr_assert_eq(stat(name, &st), 0, "%s", name);
    free(dir);
    fixture_free(&f);
}

Test(export, failures_leave_nothing, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 2);
    View v;
    view_init(&v);
    KvError err = {0};
    char *missing = tu_join(f.dir, "no/such/dir/frame.png");
    cr_assert_eq(export_frame(&f.s, &v, 640, 360, 1.0, missing, &err), KV_ERR_INPUT);
    cr_assert_not_null(strstr(err.msg, "no/such/dir/frame.png"), "%s", err.msg);
    char *ext = tu_join(f.dir, "frame.jpg");
    cr_assert_eq(export_frame(&f.s, &v, 640, 360, 1.0, ext, &err), KV_ERR_INPUT);
    cr_assert_not_null(strstr(err.msg, ".png"), "%s", err.msg);
    char *noext = tu_join(f.dir, "frame");
    cr_assert_eq(export_frame(&f.s, &v, 640, 360, 1.0, noext, &err), KV_ERR_INPUT);
    char *ok = tu_join(f.dir, "frame.png");
    cr_assert_eq(export_frame(&f.s, &v, 4, 4, 1.0, ok, &err), KV_ERR_INPUT, "tiny size");
    cr_assert_eq(export_frame(&f.s, &v, 20000, 400, 1.0, ok, &err), KV_ERR_INPUT, "huge size");
    cr_assert_eq(export_frame(&f.s, &v, 640, 360, 1.0, f.dir, &err), KV_ERR_INPUT, "a directory");
    if (geteuid() != 0) { // root writes anywhere
        char *ro = tu_join(f.dir, "ro");
        cr_assert_eq(mkdir(ro, 0555), 0);
        char *inro = tu_join(ro, "frame.png");
        cr_assert_eq(export_frame(&f.s, &v, 640, 360, 1.0, inro, &err), KV_ERR_INPUT);
        cr_assert_eq(count_entries(ro), 0);
        free(inro);
        free(ro);
    }
    cr_assert_eq(count_entries(f.dir), geteuid() != 0 ? 1 : 0, "nothing written");
    cr_assert_eq(export_format_of("a.PDF"), EXPORT_PDF);
    cr_assert_eq(export_format_of("a.svg"), EXPORT_SVG);
    cr_assert_eq(export_format_of("dir.png/a"), -1);
    free(missing);
    free(ext);
    free(noext);
    free(ok);
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// The command line

typedef struct {
    char *dir, *model, *tok;
} CliFiles;

static void cli_files(CliFiles *c) {
    KvError err = {0};
    c->dir = tu_tmpdir();
    c->model = tu_join(c->dir, "m.bin");
    c->tok = tu_join(c->dir, "t.bin");
    ModelConfig cfg = tu_config(48, 96, 2, 4, 2, VOCAB, 256, false);
    cr_assert_eq(tu_write_random_checkpoint(c->model, &cfg, 5, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_write_tokenizer(c->tok, VOCAB, &err), KV_OK, "%s", err.msg);
}

static void cli_free(CliFiles *c) {
    free(c->model);
    free(c->tok);
    tu_rmtree(c->dir);
}

static TuRun render(CliFiles *c, const char *out, const char *extra1, const char *extra2) {
    const char *bin = tu_kvscope_bin();
    cr_assert_not_null(bin, "KVSCOPE_BIN is not set");
    char *argv[20] = {(char *)bin, "render",   "--model",     c->model,  "--tokenizer",
                      c->tok,      "--prompt", "hello there", "--steps", "6"};
    int k = 10;
    if (out)
        argv[k++] = "-o", argv[k++] = (char *)out;
    if (extra1)
        argv[k++] = (char *)extra1;
    if (extra2)
        argv[k++] = (char *)extra2;
    argv[k] = NULL;
    TuRun r;
    cr_assert(tu_run(argv, 60, &r));
    return r;
}

Test(export, cli_render_writes_and_fails_cleanly, .timeout = 120) {
    CliFiles c;
    cli_files(&c);
    static const char *const names[] = {"a.png", "a.svg", "a.pdf"};
    for (int k = 0; k < 3; k++) {
        char *out = tu_join(c.dir, names[k]);
        TuRun r = render(&c, out, "--size", "640x360");
        cr_assert_eq(r.status, 0, "%s", r.err);
        struct stat st;
        cr_assert_eq(stat(out, &st), 0);
        cr_assert_gt(st.st_size, 100);
        tu_run_free(&r);
        free(out);
    }
    const char *bad[][3] = {
        {"x.bmp", NULL, NULL},      {"no/dir/x.png", NULL, NULL}, {"x.png", "--size", "10x10"},
        {"x.png", "--size", "big"}, {"x.png", "--view", "side"},  {"x.png", "--theme", "pink"},
        {"x.png", "--layer", "9"},  {"x.png", "--head", "0"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char *out = tu_join(c.dir, bad[k][0]);
        TuRun r = render(&c, out, bad[k][1], bad[k][2]);
        cr_assert_eq(r.status, 2, "%s %s: status %d", bad[k][0], bad[k][1] ? bad[k][1] : "",
                     r.status);
        cr_assert(strncmp(r.err, "kvscope: ", 9) == 0, "%s", r.err);
        cr_assert_eq(tu_count_lines(r.err), 1, "%s", r.err);
        struct stat st;
        cr_assert_neq(stat(out, &st), 0, "%s was written", out);
        tu_run_free(&r);
        free(out);
    }
    char *frames = tu_join(c.dir, "frames");
    TuRun r = render(&c, NULL, "--frames", frames);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_entries(frames), 6);
    tu_run_free(&r);
    free(frames);
    cli_free(&c);
}

// The heatmap in SVG is rectangles (vector), never an embedded bitmap; in PNG it is the matrix.
Test(export, heatmap_is_vector_in_svg) {
    Fixture f;
    fixture_init(&f, 12);
    View v;
    view_init(&v);
    v.kind = VIEW_HEATMAP;
    unsigned char *data = NULL;
    size_t len = 0;
    KvError err = {0};
    cr_assert_eq(export_render(&f.s, &v, 1280, 720, 1.0, EXPORT_SVG, &data, &len, &err), KV_OK,
                 "%s", err.msg);
    char *svg = malloc(len + 1);
    memcpy(svg, data, len);
    svg[len] = 0;
    cr_assert_null(strstr(svg, "<image"), "the heatmap is a bitmap in the SVG");
    cr_assert_not_null(strstr(svg, "<path"));
    free(svg);
    free(data);
    fixture_free(&f);
}

// --transparent: the PNG has an alpha channel, clear where nothing is drawn, opaque ink where
// the picture is.
Test(export, transparent_png) {
    Fixture f;
    fixture_init(&f, 6);
    View v;
    view_init(&v);
    v.transparent = true;
    char *path = tu_join(f.dir, "t.png");
    KvError err = {0};
    cr_assert_eq(export_frame(&f.s, &v, 640, 360, 1.0, path, &err), KV_OK, "%s", err.msg);
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    cr_assert_eq(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    cr_assert_eq(cairo_image_surface_get_format(img), CAIRO_FORMAT_ARGB32);
    unsigned char *d = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img), clear = 0, inked = 0;
    for (int y = 0; y < 360; y++)
        for (int x = 0; x < 640; x++) {
            uint32_t p = *(uint32_t *)(d + (size_t)y * stride + (size_t)x * 4);
            clear += (p >> 24) == 0;
            inked += (p >> 24) == 255;
        }
    cr_assert_gt(clear, 640 * 360 / 4, "%d clear pixels", clear);
    cr_assert_gt(inked, 1000, "%d opaque pixels", inked);
    cairo_surface_destroy(img);
    free(path);
    fixture_free(&f);
}
