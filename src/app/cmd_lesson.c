// cmd_lesson.c — `kvscope lesson FILE [--pdf DECK.pdf] [--frames DIR] [--size WxH]
// [--theme dark|light] [--fullscreen] [--check] [--model FILE] [--tokenizer FILE]`.
// --size and --theme shape the window as well as the deck and frames.
//
// Reads and checks the whole lesson first (nothing runs on a bad file), then builds the deck
// and/or the frames headlessly, or hands the player, at beat 0, to the window
// (window_play_lesson in window.c).
#include "app/app.h"
#include "export/export.h"
#include "lesson/lesson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage_line(void) {
    fputs(
        "usage: kvscope lesson FILE [--pdf DECK.pdf] [--frames DIR] [--video FILE.mp4|.webm|.gif]\n"
        "                      [--fps N] [--speed TOK_S] [--size WxH]\n"
        "                      [--theme dark|light] [--fullscreen] [--check] [--model FILE]\n"
        "                      [--tokenizer FILE]\n",
        stderr);
}

int cmd_lesson(int argc, char **argv) {
    const char *file = NULL, *pdf = NULL, *frames = NULL, *model = NULL, *tokenizer = NULL;
    const char *video = NULL;
    long fps = 0;
    double speed = 4.0;
    LessonDeckOptions deck = {.width = 1920, .height = 1080, .theme = -1};
    bool check_only = false, fullscreen = false, size_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes =
            strcmp(a, "--pdf") == 0 || strcmp(a, "--frames") == 0 || strcmp(a, "--video") == 0 ||
            strcmp(a, "--fps") == 0 || strcmp(a, "--speed") == 0 || strcmp(a, "--size") == 0 ||
            strcmp(a, "--theme") == 0 || strcmp(a, "--model") == 0 || strcmp(a, "--tokenizer") == 0;
        if (takes && !val)
            return app_usage_error(a, "needs a value");
        if (strcmp(a, "--pdf") == 0)
            pdf = val;
        else if (strcmp(a, "--frames") == 0)
            frames = val;
        else if (strcmp(a, "--video") == 0)
            video = val;
        else if (strcmp(a, "--fps") == 0) {
            KvError e = {0};
            if (app_parse_int("--fps", val, 1, 120, &fps, &e))
                return app_fail(&e);
        } else if (strcmp(a, "--speed") == 0) {
            KvError e = {0};
            if (app_parse_float("--speed", val, 0.25, 20.0, &speed, &e))
                return app_fail(&e);
        } else if (strcmp(a, "--model") == 0)
            model = val;
        else if (strcmp(a, "--tokenizer") == 0)
            tokenizer = val;
        else if (strcmp(a, "--size") == 0) {
            KvError e = {0};
            if (kv_parse_size("--size", val, 320, 180, 8192, 0, &deck.width, &deck.height, &e))
                return app_fail(&e);
            size_given = true;
        } else if (strcmp(a, "--theme") == 0) {
            if ((deck.theme = view_theme_parse(val)) < 0)
                return app_usage_error("--theme", "unknown theme '%s' (dark, light)", val);
        } else if (strcmp(a, "--check") == 0) {
            check_only = true;
            continue;
        } else if (strcmp(a, "--fullscreen") == 0) {
            fullscreen = true;
            continue;
        } else if (a[0] == '-' && a[1] != '\0') {
            usage_line();
            return app_usage_error("lesson", "unknown option '%s'", a);
        } else if (!file) {
            file = a;
            continue;
        } else {
            usage_line();
            return app_usage_error("lesson", "one lesson file at a time ('%s' and '%s')", file, a);
        }
        i++; // the option's value
    }
    if (!file) {
        usage_line();
        return app_usage_error("lesson", "needs a lesson file (see lessons/)");
    }

    KvError err = {0};
    // every output is checked before the work: a .pdf name, folders that can be written, and
    // none of the run's inputs (the lesson, the model, the tokenizer)
    const char *inputs[] = {file, model ? model : app_default_model(),
                            tokenizer ? tokenizer : app_default_tokenizer(), NULL};
    static const char *const pdf_only[] = {"pdf", NULL};
    if (pdf && kv_check_output(pdf, pdf_only, inputs, &err))
        return app_fail(&err);
    if (frames && export_frames_check(frames, "beat-", true, inputs, &err))
        return app_fail(&err);
    static const char *const video_kinds[] = {"mp4", "webm", "gif", NULL};
    if (video) {
        if (!fps)
            fps = export_video_kind_of(video) == EXPORT_VIDEO_GIF ? 20 : 30;
        if (export_video_check(video, deck.width, deck.height, (int)fps, &err) ||
            kv_check_output(video, video_kinds, inputs, &err))
            return app_fail(&err);
    }
    Lesson lesson;
    KvStatus st = lesson_load(&lesson, file, app_presets, &err);
    if (st)
        return app_fail(&err);
    { // `glossary TERM` captions: the entries of the shipped glossary
        char path[4096];
        Glossary g;
        KvError gerr = {0};
        bool have = glossary_load(&g, app_glossary_path(path, sizeof path), &gerr) == KV_OK;
        st = lesson_bind_glossary(&lesson, have ? &g : NULL, &err);
        if (have)
            glossary_free(&g);
        if (st) {
            lesson_free(&lesson);
            return app_fail(have ? &err : &gerr);
        }
    }

    Model m;
    Tokenizer t;
    Session s;
    int status = 0;
    if (app_load(&m, &t,
                 model             ? model
                 : lesson.model[0] ? lesson.model
                                   : NULL,
                 tokenizer             ? tokenizer
                 : lesson.tokenizer[0] ? lesson.tokenizer
                                       : NULL,
                 &err)) {
        status = app_fail(&err);
        goto done_lesson;
    }
    if (lesson_check(&lesson, &m, &t, &err) || session_init(&s, &m, &t, &err)) {
        status = app_fail(&err);
        goto done_model;
    }
    LessonPlayer player;
    lesson_player_init(&player, &lesson, &s);
    if (check_only) {
        printf("%s: %d beats, ok\n", file, lesson.n_beats);
    } else if (pdf || frames || video) {
        LessonVideoOptions vo = {.deck = deck,
                                 .fps = (int)fps,
                                 .tok_s = speed,
                                 .progress = app_progress,
                                 .progress_ctx = (void *)video};
        if (pdf && lesson_write_pdf(&player, pdf, &deck, &err))
            status = app_fail(&err);
        else if (frames && lesson_write_frames(&player, frames, &deck, &err))
            status = app_fail(&err);
        else if (video && lesson_write_video(&player, video, &vo, &err)) {
            app_progress_end();
            status = app_fail(&err);
        } else {
            app_progress_end();
            fprintf(stderr, "kvscope: %s: %d beats%s%s%s%s%s%s\n", file, lesson.n_beats,
                    pdf ? " -> " : "", pdf ? pdf : "", frames ? " -> " : "", frames ? frames : "",
                    video ? " -> " : "", video ? video : "");
        }
    } else {
        if (lesson_player_goto(&player, 0, &err))
            status = app_fail(&err);
        else
            status = window_play_lesson(&player, size_given ? deck.width : 0,
                                        size_given ? deck.height : 0, deck.theme, fullscreen);
    }
    lesson_player_free(&player);
    session_free(&s);
done_model:
    model_free(&m);
    tokenizer_free(&t);
done_lesson:
    lesson_free(&lesson);
    return status;
}
