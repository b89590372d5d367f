// export.h — the face of src/export: the scene written to files, headless.
//
// One frame to PNG, SVG or PDF (the file name's extension picks the target), frame sequences,
// and a multi-page PDF writer (lesson decks). Every file is rendered in memory and written
// through kv_write_file_atomic, so a failed export leaves nothing behind. In SVG and PDF the
// text stays text: the PDF carries the fonts with their Unicode mapping, and the SVG, whose
// glyphs cairo draws as outlines, also carries every string as a transparent <text> element
// at the same place (searchable, selectable, indexable).
#ifndef KVSCOPE_EXPORT_H
#define KVSCOPE_EXPORT_H

#include "engine/engine.h"
#include "sim/sim.h"
#include "view/view.h"

typedef enum { EXPORT_PNG = 0, EXPORT_SVG, EXPORT_PDF, EXPORT_FORMATS } ExportFormat;

// The format a path's extension names (case-insensitive .png/.svg/.pdf), or -1.
int export_format_of(const char *path);
const char *export_format_ext(ExportFormat f); // "png", "svg", "pdf"

// Checks that `path` could be written (known extension, an existing writable directory) before
// any work is done. KV_ERR_INPUT with "<path>: <why>".
KvStatus export_check_path(const char *path, KvError *err);

// Draws the scene at w x h (pixels for PNG, points for SVG/PDF) at animation time t_anim and
// writes it to path. KV_ERR_INPUT for a bad path, extension or size; KV_ERR_RUNTIME when
// drawing or writing fails.
KvStatus export_frame(const Session *s, const View *v, int w, int h, double t_anim,
                      const char *path, KvError *err);

// Renders the scene to memory in format fmt. On success *data (owned by the caller, free())
// and *len hold the file's bytes.
KvStatus export_render(const Session *s, const View *v, int w, int h, double t_anim,
                       ExportFormat fmt, unsigned char **data, size_t *len, KvError *err);

// "DIR/frame-0007.png": the name of frame `index` of a sequence (at most cap bytes).
void export_frame_name(char *out, size_t cap, const char *dir, int index, ExportFormat fmt);

// Makes directory `dir` when it does not exist (its parent must). KV_ERR_INPUT on failure.
KvStatus export_make_dir(const char *dir, KvError *err);
// The same with every missing parent made too (mkdir -p), e.g. for a lesson's frames.
KvStatus export_make_dirs(const char *dir, KvError *err);

// Steps the session n_steps times, writing one frame after each step into dir (created when
// missing) as frame-0001.ext, frame-0002.ext, ... Stops early (not an error) at the model's
// context limit; *written (may be NULL) receives the number of frames.
KvStatus export_frame_sequence(Session *s, const View *v, int w, int h, int n_steps,
                               const char *dir, ExportFormat fmt, int *written, KvError *err);

// ----------------------------------------------------------------------------------------------
// Multi-page PDF (lesson decks): the scene drawn at w x h units on pages of w*scale x h*scale
// points, written on close.

typedef struct ExportPdf ExportPdf;

typedef struct {
    double scale;        // points per scene unit (0 means 1; a deck's 0.5 makes 1920 x 1080
                         // a 960 x 540 pt slide)
    const char *title;   // document title (NULL or "": "kvscope")
    const char *creator; // creator application (NULL: "kvscope")
} ExportPdfInfo;

// Opens a deck for `path` (checked as by export_check_path); info may be NULL. Owned:
// export_pdf_close or export_pdf_abort.
KvStatus export_pdf_open(ExportPdf **out, const char *path, int w, int h, const ExportPdfInfo *info,
                         KvError *err);
// Draws one page: the scene of s in view v at rest. With an outline label, the page gets an
// entry of that name in the document's outline (the reader's table of contents).
KvStatus export_pdf_page(ExportPdf *pdf, const Session *s, const View *v, const char *outline,
                         KvError *err);
// The cairo context of the page being drawn (in points), for callers that draw pages
// themselves; finish the page with export_pdf_end_page.
cairo_t *export_pdf_context(ExportPdf *pdf);
KvStatus export_pdf_end_page(ExportPdf *pdf, KvError *err);
int export_pdf_pages(const ExportPdf *pdf);
// Finishes the document and writes it (atomically); frees pdf in every case.
KvStatus export_pdf_close(ExportPdf *pdf, KvError *err);
// Frees pdf without writing anything.
void export_pdf_abort(ExportPdf *pdf);

// ----------------------------------------------------------------------------------------------
// Video (video.c): MP4 (H.264), WebM (VP9) and GIF through the FFmpeg libraries. The caller
// draws every frame (w x h, cairo's native-endian ARGB32 or RGB24 pixels) and hands it over;
// the file appears complete, under its name, only when export_video_close succeeds.

typedef enum {
    EXPORT_VIDEO_MP4 = 0,
    EXPORT_VIDEO_WEBM,
    EXPORT_VIDEO_GIF,
    EXPORT_VIDEO_KINDS
} ExportVideoKind;

typedef struct ExportVideo ExportVideo;

// The kind a path's extension names (case-insensitive .mp4/.webm/.gif), or -1.
int export_video_kind_of(const char *path);
const char *export_video_ext(ExportVideoKind k); // "mp4", "webm", "gif"
// Whether this build's FFmpeg has the encoder and muxer of kind k.
bool export_video_available(ExportVideoKind k);
// Opens path for frames of w x h at fps frames per second (alpha: the pixels are ARGB32, else
// RGB24). KV_ERR_INPUT for a bad name, size (odd sizes for MP4/WebM) or rate, or a directory
// that cannot be written. Owned: export_video_close or export_video_abort.
KvStatus export_video_open(ExportVideo **out, const char *path, int w, int h, int fps,
                           bool alpha, KvError *err);
// How many times the caller hands over the whole clip: 1, or 2 for GIF (the first pass builds
// the palette of every frame, the second writes them); export_video_next_pass between passes.
int export_video_passes(const ExportVideo *v);
KvStatus export_video_next_pass(ExportVideo *v, KvError *err);
// Adds one frame (borrowed pixels, `stride` bytes a row).
KvStatus export_video_frame(ExportVideo *v, const unsigned char *pixels, int stride,
                            KvError *err);
int64_t export_video_frames(const ExportVideo *v); // frames handed over in this pass
// Finishes the file and renames it into place; frees v in every case (nothing is left behind
// on failure).
KvStatus export_video_close(ExportVideo *v, KvError *err);
// Frees v and removes its temporary file.
void export_video_abort(ExportVideo *v);

#endif
