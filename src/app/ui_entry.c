// ui_entry.c — the drawing module's face (app.h, "The drawing half"): the table of its commands
// that the executable looks up when it loads kvscope-ui.so.
#include "app/app.h"
#include "export/export.h"

void app_video_formats(FILE *f) {
    fputs("video formats in this build:", f);
    int n = 0;
    const char *names[] = {"mp4 (H.264)", "webm (VP9)", "gif (one palette per clip)"};
    for (int k = 0; k < EXPORT_VIDEO_KINDS; k++)
        if (export_video_available((ExportVideoKind)k))
            fprintf(f, "%s %s", n++ ? "," : "", names[k]);
    fputs(n ? "\n" : " none\n", f);
}

const UiModule kvscope_ui_module = {
    .abi = UI_MODULE_ABI,
    .run = cmd_run,
    .render = cmd_render,
    .lesson = cmd_lesson,
    .glossary = cmd_glossary,
    .bench_render = bench_render,
    .video_formats = app_video_formats,
};
