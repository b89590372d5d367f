// app.h — the face of src/app: the command-line dispatcher and the commands it runs.
// Each command parses its own options and returns the process exit status (0 ok, 1 runtime
// failure, 2 bad usage or bad input, after one line "kvscope: <what>: <why>" on stderr).
#ifndef KVSCOPE_APP_H
#define KVSCOPE_APP_H

#include "engine/engine.h"
#include "sim/sim.h"

#include <stdio.h>

int cli_main(int argc, char **argv);

int cmd_generate(int argc, char **argv); // cmd_generate.c
int cmd_info(int argc, char **argv);     // cmd_info.c
int cmd_bench(int argc, char **argv);    // cmd_bench.c: `bench [engine|render]`
int cmd_render(int argc, char **argv);   // cmd_render.c
int cmd_run(int argc, char **argv);      // window.c: open the window
int cmd_lesson(int argc, char **argv);   // cmd_lesson.c
int cmd_glossary(int argc, char **argv); // cmd_glossary.c: `glossary [TERM] [--long]`
int cmd_serve(int argc, char **argv);    // cmd_serve.c: many requests over one paged pool

// ----------------------------------------------------------------------------------------------
// The drawing half. The window, render, lesson, glossary and the video exports (src/app's
// window*.c, worker.c, recorder.c, cmd_render.c, cmd_lesson.c, cmd_glossary.c, ui_entry.c, with
// src/view, src/export and src/lesson) are built into a module, kvscope-ui.so, that links SDL2,
// cairo, pango and FFmpeg. The kvscope executable links none of them: generate, info, serve and
// bench engine start without loading them, and the first command that draws loads the module
// (ui_module.c). The module takes the rest of the program from the executable that loads it.
#define UI_MODULE_ABI 1
#define UI_MODULE_FILE "kvscope-ui.so"
#define UI_MODULE_SYMBOL "kvscope_ui_module"

typedef struct {
    int abi; // UI_MODULE_ABI of the module's build
    int (*run)(int argc, char **argv);
    int (*render)(int argc, char **argv);
    int (*lesson)(int argc, char **argv);
    int (*glossary)(int argc, char **argv);
    int (*bench_render)(int argc, char **argv);
    // the video formats this build's FFmpeg libraries can write, for the usage page
    void (*video_formats)(FILE *f);
} UiModule;

// The module, loaded on the first call: beside the executable (the build tree), else in
// ../lib/kvscope from it, else KVSCOPE_LIBDIR (`make install` puts it in PREFIX/lib/kvscope). NULL
// with "kvscope-ui.so: <why>" in err when it cannot be loaded or is of another build. In a binary
// that links the drawing half itself (the tests) the commands are its own and this is never called.
const UiModule *app_ui_module(KvError *err);
// "video formats in this build: ..." (the usage page's last line), from the module.
void app_video_formats(FILE *f);
// Where the glossary is: assets/glossary.txt beside the executable, or installed.
const char *app_glossary_path(char *buf, size_t cap);

// Plays a lesson in the window (window.c): the player is checked and at beat 0; its session is
// driven by the window until the presenter quits. width x height (0: the default size), theme
// (-1: as each beat says; else THEME_DARK or THEME_LIGHT on every beat), fullscreen as
// `kvscope run` takes them. Returns the exit status.
struct LessonPlayer;
int window_play_lesson(struct LessonPlayer *player, int width, int height, int theme,
                       bool fullscreen);

// Figures of `kvscope bench render` (cmd_render.c); `bench` with no argument runs all.
int bench_render(int argc, char **argv);
// Figures of `kvscope bench serve` (bench_serve.c): batched decode against one at a time.
int bench_serve(int argc, char **argv);

// A progress bar for long exports (ExportClipOptions.progress; ctx names the file): on stderr,
// only when it is a terminal and the export has run for a second. app_progress_end ends its line.
void app_progress(void *what, int64_t done, int64_t total);
void app_progress_end(void);

// Prints "kvscope: <msg>" for err and returns its code as the exit status.
int app_fail(const KvError *err);
// "kvscope: stdout: <strerror(errno)>" after a failed write or flush of stdout; returns 1.
int app_fail_stdout(void);
// Flushes stdout and checks that everything written to it arrived; call before exiting after
// printing. Returns status, or app_fail_stdout() when status is 0 and stdout failed.
int app_finish_stdout(int status);
// "kvscope: <what>: <why>" for usage errors; returns 2.
int app_usage_error(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// --model / --tokenizer defaults: the shipped model, found beside the executable
// (../assets/models when run from the build tree) or in KVSCOPE_DATADIR/models.
const char *app_default_model(void);
const char *app_default_tokenizer(void);

// Finds a data file or folder: `repo_rel` (e.g. "lessons") beside the executable as the
// repository lays it out, else KVSCOPE_DATADIR/`installed_rel`, else repo_rel relative to the
// working directory. Writes the path into buf and returns it.
const char *app_find_data(const char *repo_rel, const char *installed_rel, char *buf, size_t cap);

// Loads a model and its tokenizer (either path NULL = default). On failure fills err.
KvStatus app_load(Model *m, Tokenizer *t, const char *model_path, const char *tok_path,
                  KvError *err);

// Option parsing shared by the commands: parses "N", "T" values with range checks; on a bad
// value fills err with "<option>: <why>" (KV_ERR_INPUT).
KvStatus app_parse_int(const char *opt, const char *val, long lo, long hi, long *out, KvError *err);
KvStatus app_parse_float(const char *opt, const char *val, double lo, double hi, double *out,
                         KvError *err);

// Presets (DESIGN.md), ended by {NULL, NULL}: also what lessons accept (lesson_load).
extern const Preset app_presets[];
const Preset *app_preset(const char *name); // NULL when unknown

// Options every command that runs the model shares: --model, --tokenizer, --prompt, --preset,
// --no-cache, --kv, --cache, --temperature, --top-k, --top-p, --seed.
typedef struct {
    const char *model, *tokenizer; // NULL: the defaults
    const char *prompt;            // NULL when neither --prompt nor --preset was given
    const char *preset;            // the preset's name when --preset was given
    SamplerSettings sampler;
    bool no_cache;
    KvPrecision kv;    // --kv: precision of the cache's keys and values (default f32)
    KvCacheKind cache; // --cache full|window:W|sinks:S,W|h2o:H,R (default full)
    int threads;       // --threads N: engine threads (0: the machine's cores)
} CommonOptions;

void app_common_defaults(CommonOptions *o);

// A serving session's options (serve, render --view pool, run --serve): --requests FILE or
// --serve FILE|classroom, --blocks N, --block-size B, --no-prefix-sharing, --prefix-cache.
typedef struct {
    const char *requests; // NULL: the classroom scenario
    bool given;           // --serve or --requests was given
    long blocks;          // 0: the default for a file or the scenario
    long block;
    bool sharing;
    bool keep_freed; // --prefix-cache: freed shared blocks stay findable (KvPool.keep_freed)
} ServeOptions;
void app_serve_defaults(ServeOptions *o);
// As app_parse_common: 1 consumed, 0 not a serving option, -1 a bad value (err filled).
int app_parse_serve(int argc, char **argv, int *i, ServeOptions *o, KvError *err);
// A serving session over m and t with its requests (cmd_serve.c). KV_ERR_INPUT "<what>: <why>"
// for a block size past the context, a pool larger than half the memory, a bad request file.
KvStatus app_serve_open(Serve *s, const Model *m, const Tokenizer *t, const ServeOptions *o,
                        KvError *err);
// If argv[*i] is a common option, consumes it and its value (advancing *i past them) and returns
// 1; returns 0 when it is not one; -1 on a bad value (err filled, KV_ERR_INPUT).
int app_parse_common(int argc, char **argv, int *i, CommonOptions *o, KvError *err);
// Applies --kv to a session of o's model (after its prompt is set): KV_ERR_INPUT "--kv: <why>"
// when the model's head size cannot use the kind, when --no-cache leaves nothing to store, or
// when --cache keeps other than every position (kv_kind_combine_check).
KvStatus app_apply_kv(const CommonOptions *o, Session *s, KvError *err);
// Gives a session what the common options say: sampler, cache mode and cache kind (whose budget
// is checked against the model's context here, "--cache: ..."). KV_ERR_INPUT on a refusal.
KvStatus app_apply_common(Session *s, const CommonOptions *o, KvError *err);

#endif
