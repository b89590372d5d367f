// ui_module.c — the executable's side of the drawing module (app.h, "The drawing half"): finds
// and loads kvscope-ui.so on the first command that draws, and the commands that forward to it.
// The forwarders are weak: a binary that links the drawing half itself (the test suite) has the
// commands' own definitions instead, and never loads the module.
#include "app/app.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#ifndef KVSCOPE_LIBDIR
#define KVSCOPE_LIBDIR "/usr/local/lib/kvscope"
#endif

// Tries one path; on failure keeps the loader's reason in why (the first failure is the one
// reported: the module beside the executable, when there is a file there).
static const UiModule *try_load(const char *path, char *why, size_t cap) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        if (!why[0] || access(path, F_OK) == 0)
            snprintf(why, cap, "%s", dlerror());
        return NULL;
    }
    const UiModule *ui = dlsym(h, UI_MODULE_SYMBOL);
    if (!ui || ui->abi != UI_MODULE_ABI) {
        snprintf(why, cap, "%s: %s", path,
                 ui ? "built for another kvscope (reinstall both)" : "not a kvscope module");
        dlclose(h);
        return NULL;
    }
    return ui; // kept loaded until the process ends
}

const UiModule *app_ui_module(KvError *err) {
    static const UiModule *ui;
    if (ui)
        return ui;
    char why[PATH_MAX + 256] = "", path[PATH_MAX + 64];
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *dir = dirname(exe);
        snprintf(path, sizeof path, "%s/%s", dir, UI_MODULE_FILE);
        ui = try_load(path, why, sizeof why);
        if (!ui) { // PREFIX/bin/kvscope and PREFIX/lib/kvscope, whatever the PREFIX
            snprintf(path, sizeof path, "%s/../lib/kvscope/%s", dir, UI_MODULE_FILE);
            ui = try_load(path, why, sizeof why);
        }
    }
    if (!ui) {
        snprintf(path, sizeof path, "%s/%s", KVSCOPE_LIBDIR, UI_MODULE_FILE);
        ui = try_load(path, why, sizeof why);
    }
    if (!ui)
        kv_error(err, KV_ERR_RUNTIME, "%s: %s (the window, render, lesson and glossary need it)",
                 UI_MODULE_FILE, why);
    return ui;
}

// A command of the module: loads it, then runs the command there.
#define UI_COMMAND(fn, field)                                                                      \
    __attribute__((weak)) int fn(int argc, char **argv) {                                          \
        KvError err = {0};                                                                         \
        const UiModule *ui = app_ui_module(&err);                                                  \
        return ui ? ui->field(argc, argv) : app_fail(&err);                                        \
    }
UI_COMMAND(cmd_run, run)
UI_COMMAND(cmd_render, render)
UI_COMMAND(cmd_lesson, lesson)
UI_COMMAND(cmd_glossary, glossary)
UI_COMMAND(bench_render, bench_render)

__attribute__((weak)) void app_video_formats(FILE *f) {
    KvError err = {0};
    const UiModule *ui = app_ui_module(&err);
    if (ui)
        ui->video_formats(f);
    else
        fprintf(f, "video formats in this build: unknown (%s)\n", err.msg);
}
