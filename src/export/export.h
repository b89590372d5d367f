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

// Checks that `path` could be written (known extension, a name that fits, an existing writable
// directory) before any work is done. KV_ERR_INPUT with "<path>: <why>".
KvStatus export_check_path(const char *path, KvError *err);
// The same, and `path` is none of `inputs` (NULL-terminated; by device and inode).
KvStatus export_check_output(const char *path, const char *const *inputs, KvError *err);

// A set of frames DIR/<prefix><number>.<ext>, written into a fresh folder beside DIR and swapped
// in when complete, so that DIR always holds one complete set: the old one or the new one. An
// existing DIR must hold only frames (it is replaced as a whole). Checked when opened (name
// length, inputs, DIR); with make_parents, missing folders above DIR are created (and removed
// again on abort). A signal removes the new folder. Owned: commit or abort.
typedef struct ExportFrameSet ExportFrameSet;
KvStatus export_frames_open(ExportFrameSet **fs, const char *dir, const char *prefix, int digits,
                            ExportFormat fmt, bool make_parents, const char *const *inputs,
                            KvError *err);
// What export_frames_open checks, without creating anything (for a command to call before its
// work): the name's length, that DIR is none of inputs, that its folder can be written.
KvStatus export_frames_check(const char *dir, const char *prefix, bool make_parents,
                             const char *const *inputs, KvError *err);
// Writes frame `index` (1-based) into the new folder: these bytes, in the set's format.
KvStatus export_frames_write(ExportFrameSet *fs, int index, const void *data, size_t n,
                             KvError *err);
// Swaps the new set in (frees fs in every case).
KvStatus export_frames_commit(ExportFrameSet *fs, KvError *err);
// Removes the new folder and what it holds; DIR is untouched. Frees fs.
void export_frames_abort(ExportFrameSet *fs);

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

// Steps the session n_steps times, writing one frame after each step as frame-0001.ext,
// frame-0002.ext, ... into a frame set (above): dir holds the whole new set only when all of it
// was written. Stops early (not an error) at the model's
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
// Checks, before any work, that path could be written as a video of w x h at fps: a video name,
// an encoder this build has, sizes and rate in range (even sizes for MP4/WebM), a writable
// folder. KV_ERR_INPUT "<path>: <why>".
KvStatus export_video_check(const char *path, int w, int h, int fps, KvError *err);
// Opens path for frames of w x h at fps frames per second (alpha: the pixels are ARGB32, else
// RGB24). KV_ERR_INPUT for a bad name, size (odd sizes for MP4/WebM) or rate, or a directory
// that cannot be written. Owned: export_video_close or export_video_abort.
KvStatus export_video_open(ExportVideo **out, const char *path, int w, int h, int fps, bool alpha,
                           KvError *err);
// How many times the caller hands over the whole clip: 1, or 2 for GIF (the first pass builds
// the palette of every frame, the second writes them); export_video_next_pass between passes.
int export_video_passes(const ExportVideo *v);
KvStatus export_video_next_pass(ExportVideo *v, KvError *err);
// Adds one frame (borrowed pixels, `stride` bytes a row).
KvStatus export_video_frame(ExportVideo *v, const unsigned char *pixels, int stride, KvError *err);
int64_t export_video_frames(const ExportVideo *v); // frames handed over in this pass
// Finishes the file and renames it into place; frees v in every case (nothing is left behind
// on failure).
KvStatus export_video_close(ExportVideo *v, KvError *err);
// Frees v and removes its temporary file.
void export_video_abort(ExportVideo *v);

// ----------------------------------------------------------------------------------------------
// Clips (clip.c): a session's steps drawn with the window's motion (view_anim_t) into a video.
// A clip is shots: a picture held at rest, or one step's transition played at the speed.

typedef struct {
    int w, h, fps;     // frame size (even for MP4/WebM) and frames per second
    double tok_s;      // playing speed: one step's transition lasts 1 / tok_s seconds
    double hold_start; // seconds the first picture stays (a run's prompt)
    double hold_end;   // seconds the last picture stays
    void (*progress)(void *ctx, int64_t done, int64_t total); // each frame written, or NULL
    void *progress_ctx;
    // Each frame drawn, with the view it was drawn in (its 3D camera as the springs moved it)
    // and its index in the pass (a frame repeated unchanged is not drawn again), or NULL.
    void (*observe)(void *ctx, const View *v, int64_t frame);
    void *observe_ctx;
} ExportClipOptions;

typedef struct ExportClip ExportClip;

// Frames `seconds` take at fps (rounded; 0 for none).
int64_t export_clip_frames(double seconds, int fps);
// Opens a clip of frames_per_pass frames a pass (for the progress figures). Owned:
// export_clip_close or export_clip_abort.
KvStatus export_clip_open(ExportClip **out, const char *path, const ExportClipOptions *o,
                          int64_t frames_per_pass, KvError *err);
// Passes over the same shots (2 for GIF), with export_clip_next_pass between them.
int export_clip_passes(const ExportClip *c);
KvStatus export_clip_next_pass(ExportClip *c, KvError *err);
// The scene of s in v at t_anim, `repeat` frames long.
KvStatus export_clip_shot(ExportClip *c, const Session *s, const View *v, double t_anim,
                          int64_t repeat, KvError *err);
// The picture at rest for `seconds`.
KvStatus export_clip_hold(ExportClip *c, const Session *s, const View *v, double seconds,
                          KvError *err);
// The session's last step unfolding at tok_s (1 / tok_s seconds of frames).
KvStatus export_clip_step(ExportClip *c, const Session *s, const View *v, double tok_s,
                          KvError *err);
// Finishes the file (renamed into place) and frees c in every case.
KvStatus export_clip_close(ExportClip *c, KvError *err);
void export_clip_abort(ExportClip *c);

// A whole run into path: the current picture held o->hold_start, n_steps steps played (fewer
// when the context ends first: *steps_done), the last picture held o->hold_end. Leaves the
// session after the steps.
KvStatus export_clip_run(Session *s, const View *v, int n_steps, const ExportClipOptions *o,
                         const char *path, int *steps_done, KvError *err);

#endif
