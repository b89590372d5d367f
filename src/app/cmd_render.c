// cmd_render.c — `kvscope render` (the scene to PNG/SVG/PDF, headless, optionally one frame per
// step) and `kvscope bench render` (how long the scene takes to draw).
#include "app/app.h"
#include "export/export.h"
#include "view/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// "1920x1080" -> w, h, within what export accepts.
static KvStatus parse_size(const char *val, int *w, int *h, KvError *err) {
    return kv_parse_size("--size", val, 16, 16, 16384, 8192.0 * 8192.0, w, h, err);
}

// Options the scene adds: --view, --layer, --head, --theme. Returns 1 when argv[*i] was one,
// 0 when not, -1 on a bad value. Layer and head are checked against the model later.
typedef struct {
    View view;
    const char *layer, *head;
    const char *inspect; // --inspect LAYER,POS[,HEAD]
} ViewOptions;

static int parse_view_option(int argc, char **argv, int *i, ViewOptions *o, KvError *err) {
    const char *opt = argv[*i];
    bool known = strcmp(opt, "--view") == 0 || strcmp(opt, "--layer") == 0 ||
                 strcmp(opt, "--head") == 0 || strcmp(opt, "--theme") == 0 ||
                 strcmp(opt, "--camera") == 0 || strcmp(opt, "--layout") == 0 ||
                 strcmp(opt, "--inspect") == 0 || strcmp(opt, "--sampling-scale") == 0;
    if (!known)
        return 0;
    if (*i + 1 >= argc) {
        kv_error(err, KV_ERR_INPUT, "%s: needs a value", opt);
        return -1;
    }
    const char *val = argv[++*i];
    if (strcmp(opt, "--camera") == 0) {
        char why[160];
        if (!view_camera_parse(val, &o->view, why, sizeof why)) {
            kv_error(err, KV_ERR_INPUT, "--camera: %s", why);
            return -1;
        }
    } else if (strcmp(opt, "--view") == 0) {
        const bool split = strcmp(val, VIEW_SPLIT_NAME) == 0; // the split screen, as --split
        int k = split ? VIEW_SEQUENCE : view_kind_parse(val);
        if (k < 0) {
            char names[160];
            view_kind_list(names, sizeof names, ", ");
            kv_error(err, KV_ERR_INPUT, "--view: unknown view '%s' (%s, %s)", val, names,
                     VIEW_SPLIT_NAME);
            return -1;
        }
        o->view.kind = (ViewKind)k;
        o->view.split = o->view.split || split;
    } else if (strcmp(opt, "--sampling-scale") == 0) { // the sampling view's bars
        int log = view_scale_parse(val);
        if (log < 0) {
            kv_error(err, KV_ERR_INPUT, "--sampling-scale: unknown scale '%s' (linear, log)", val);
            return -1;
        }
        o->view.sampling_log = log == 1;
    } else if (strcmp(opt, "--theme") == 0) {
        int t = view_theme_parse(val);
        if (t < 0) {
            kv_error(err, KV_ERR_INPUT, "--theme: unknown theme '%s' (dark, light)", val);
            return -1;
        }
        o->view.theme = (ThemeKind)t;
    } else if (strcmp(opt, "--inspect") == 0) {
        o->inspect = val;
    } else if (strcmp(opt, "--layout") == 0) { // the window's L key: the classroom's or the detail
        if (strcmp(val, "projector") != 0 && strcmp(val, "detail") != 0) {
            kv_error(err, KV_ERR_INPUT, "--layout: unknown layout '%s' (projector, detail)", val);
            return -1;
        }
        o->view.layout = strcmp(val, "detail") == 0 ? VIEW_LAYOUT_DETAIL : VIEW_LAYOUT_PROJECTOR;
    } else if (strcmp(opt, "--layer") == 0) {
        o->layer = val;
    } else {
        o->head = val;
    }
    return 1;
}

// --inspect LAYER,POS[,HEAD]: the inspector on the cache cell of layer 1..L at position 0..T-1
// (as the picture numbers them), for head 1..H (without: the --head one, or head 1).
static KvStatus apply_inspect(ViewOptions *o, const ModelConfig *c, KvError *err) {
    char buf[64];
    if (strlen(o->inspect) >= sizeof buf)
        return kv_error(err, KV_ERR_INPUT, "--inspect: expected LAYER,POSITION[,HEAD]");
    snprintf(buf, sizeof buf, "%s", o->inspect);
    char *part[3] = {buf, NULL, NULL};
    int n = 1;
    for (char *q = buf; *q; q++)
        if (*q == ',') {
            if (n == 3)
                return kv_error(err, KV_ERR_INPUT,
                                "--inspect: expected LAYER,POSITION[,HEAD], not '%s'", o->inspect);
            *q = '\0';
            part[n++] = q + 1;
        }
    if (n < 2)
        return kv_error(err, KV_ERR_INPUT, "--inspect: expected LAYER,POSITION[,HEAD], not '%s'",
                        o->inspect);
    long layer, pos, head = 0;
    if (app_parse_int("--inspect: layer", part[0], 1, c->n_layers, &layer, err) ||
        app_parse_int("--inspect: position", part[1], 0, c->seq_len - 1, &pos, err) ||
        (n == 3 && app_parse_int("--inspect: head", part[2], 1, c->n_heads, &head, err)))
        return KV_ERR_INPUT;
    o->view.inspect = true;
    o->view.inspect_layer = (int)layer - 1;
    o->view.inspect_pos = (int)pos;
    o->view.inspect_head = (int)head - 1;
    return KV_OK;
}

// --layer all|1..L, --head mean|each|1..H against the model.
static KvStatus apply_layer_head(ViewOptions *o, const ModelConfig *c, KvError *err) {
    long v;
    if (o->inspect && apply_inspect(o, c, err))
        return KV_ERR_INPUT;
    if (o->layer && strcmp(o->layer, "all") != 0) {
        if (app_parse_int("--layer", o->layer, 1, c->n_layers, &v, err))
            return KV_ERR_INPUT;
        o->view.layer = (int)v - 1;
    }
    if (o->head && strcmp(o->head, "mean") == 0)
        o->view.head = VIEW_HEAD_MEAN;
    else if (o->head && strcmp(o->head, "each") == 0)
        o->view.head = VIEW_HEAD_EACH;
    else if (o->head) {
        if (app_parse_int("--head", o->head, 1, c->n_heads, &v, err))
            return KV_ERR_INPUT;
        o->view.head = (int)v - 1;
    }
    return KV_OK;
}

int cmd_render(int argc, char **argv) {
    CommonOptions o;
    app_common_defaults(&o);
    ViewOptions vo = {0};
    view_init(&vo.view);
    ServeOptions so; // the pool view's serving session
    app_serve_defaults(&so);
    long steps = -1;
    int w = 1920, h = 1080;
    double t_anim = 1.0;
    const char *out = NULL, *frames = NULL;
    bool verify = false;
    long fps = 0;       // video frames per second (0: 30, or 20 for GIF)
    double speed = 4.0; // video playing speed, tokens per second (the window's default)
    KvError err = {0};
    for (int i = 1; i < argc; i++) {
        int r = app_parse_common(argc, argv, &i, &o, &err);
        if (r == 0)
            r = parse_view_option(argc, argv, &i, &vo, &err);
        if (r == 0)
            r = app_parse_serve(argc, argv, &i, &so, &err);
        if (r < 0)
            return app_fail(&err);
        if (r > 0)
            continue;
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--annotate") == 0) {
            vo.view.annotate = true; // the parts named on the picture (README, handouts)
        } else if (strcmp(opt, "--transparent") == 0) {
            vo.view.transparent = true; // no background: the picture over a slide's own
        } else if (strcmp(opt, "--steps") == 0 || strcmp(opt, "-n") == 0) {
            if (app_parse_int(opt, val, 0, KV_MAX_SEQ, &steps, &err))
                return app_fail(&err);
            i++;
        } else if (strcmp(opt, "--size") == 0) {
            if (parse_size(val, &w, &h, &err))
                return app_fail(&err);
            i++;
        } else if (strcmp(opt, "--time") == 0) {
            if (app_parse_float(opt, val, 0.0, 1.0, &t_anim, &err))
                return app_fail(&err);
            i++;
        } else if (strcmp(opt, "-o") == 0 || strcmp(opt, "--output") == 0) {
            if (!val)
                return app_usage_error(opt, "needs a file name");
            out = val;
            i++;
        } else if (strcmp(opt, "--frames") == 0) {
            if (!val)
                return app_usage_error(opt, "needs a directory");
            frames = val;
            i++;
        } else if (strcmp(opt, "--project-length") == 0) { // the memory view's length
            if (app_parse_int(opt, val, 1, 100000000, &vo.view.memory_length, &err))
                return app_fail(&err);
            i++;
        } else if (strcmp(opt, "--project-model") == 0) { // the memory view's highlighted model
            const PublishedModel *pm = val ? project_find(val) : NULL;
            if (!pm)
                return app_usage_error("--project-model",
                                       "'%s' is not in the table (kvscope info "
                                       "--project lists them)",
                                       val ? val : "");
            vo.view.memory_model = (int)(pm - published_models);
            i++;
        } else if (strcmp(opt, "--project-log") == 0) {
            vo.view.memory_log = true;
        } else if (strcmp(opt, "--split") == 0) { // cache and no cache side by side
            vo.view.split = true;
        } else if (strcmp(opt, "--threshold") == 0) {
            double thr;
            if (app_parse_float(opt, val, 0.0, 1.0, &thr, &err))
                return app_fail(&err);
            vo.view.beam_threshold = (float)thr;
            i++;
        } else if (strcmp(opt, "--layout") == 0) { // the window's O
            if (!val || (strcmp(val, "projector") != 0 && strcmp(val, "detail") != 0))
                return app_usage_error(opt, "'%s' is not a layout (projector, detail)",
                                       val ? val : "");
            vo.view.layout =
                strcmp(val, "detail") == 0 ? VIEW_LAYOUT_DETAIL : VIEW_LAYOUT_PROJECTOR;
            i++;
        } else if (strcmp(opt, "--zoom") == 0) { // wider cells; what does not fit scrolls
            if (app_parse_float(opt, val, 1.0, VIEW_ZOOM_MAX, &vo.view.zoom, &err))
                return app_fail(&err);
            i++;
        } else if (strcmp(opt, "--scroll") == 0) { // positions back from the newest
            long back;
            if (app_parse_int(opt, val, 0, KV_MAX_SEQ, &back, &err))
                return app_fail(&err);
            vo.view.scroll = (int)back;
            i++;
        } else if (strcmp(opt, "--fps") == 0) {
            if (app_parse_int(opt, val, 1, 120, &fps, &err))
                return app_fail(&err);
            i++;
        } else if (strcmp(opt, "--speed") == 0) {
            if (app_parse_float(opt, val, 0.25, 20.0, &speed, &err))
                return app_fail(&err);
            i++;
        } else if (strcmp(opt, "--verify") == 0) {
            verify = true;
        } else {
            return app_usage_error("render", "unknown option '%s' (see kvscope --help)", opt);
        }
    }
    const bool pool =
        vo.view.kind == VIEW_POOL; // a serving session's picture: no prompt of its own
    if (so.given && !pool)
        return app_usage_error("--serve", "is the pool view's serving session (--view pool)");
    if (pool && frames)
        return app_usage_error("--frames",
                               "the pool view renders one picture of a serving session");
    if (pool && !o.prompt)
        o.prompt = app_preset("fact")->prompt; // the session under it draws nothing
    if (!o.prompt)
        return app_usage_error("render", "needs --prompt TEXT or --preset NAME");
    if (steps < 0)
        return app_usage_error("render", "needs --steps N");
    if (!out && !frames)
        return app_usage_error("render", "needs -o FILE.png|.svg|.pdf|.mp4|.webm|.gif");
    const bool video = out && export_video_kind_of(out) >= 0;
    if (pool && video)
        return app_usage_error("render", "the pool view renders a picture (.png, .svg, .pdf)");
    if (video && frames)
        return app_usage_error("render", "--frames makes pictures, not a video");
    if (video && !fps)
        fps = export_video_kind_of(out) == EXPORT_VIDEO_GIF ? 20 : 30;
    // Check where the files go before any work, so a bad path costs nothing; an output is never
    // one of the run's inputs.
    const char *inputs[] = {o.model ? o.model : app_default_model(),
                            o.tokenizer ? o.tokenizer : app_default_tokenizer(), NULL};
    if (out && export_check_output(out, inputs, &err))
        return app_fail(&err);
    if (video && export_video_check(out, w, h, (int)fps, &err))
        return app_fail(&err);
    if (frames && export_frames_check(frames, "frame-", false, inputs, &err))
        return app_fail(&err);
    ExportFormat frame_fmt = out ? (ExportFormat)export_format_of(out) : EXPORT_PNG;

    Model model;
    Tokenizer tok;
    if (app_load(&model, &tok, o.model, o.tokenizer, &err))
        return app_fail(&err);
    Session s;
    int status = 0;
    bool inited = false;
    if (apply_layer_head(&vo, &model.cfg, &err) || session_init(&s, &model, &tok, &err)) {
        status = app_fail(&err);
        goto done;
    }
    inited = true;
    if (session_set_prompt(&s, o.prompt, &err) || app_apply_kv(&o, &s, &err)) {
        status = app_fail(&err);
        goto done;
    }
    if (app_apply_common(&s, &o, &err)) {
        status = app_fail(&err);
        goto done;
    }
    session_set_verify(&s, verify);
    if (vo.view.split) // the twin steps with the session from the first step on
        session_set_twin(&s, true);
    if (pool) { // the serving session, N steps on, drawn by the pool view
        Serve srv;
        if (app_serve_open(&srv, &model, &tok, &so, &err)) {
            status = app_fail(&err);
            goto done;
        }
        for (long k = 0; k < steps && serve_step(&srv); k++)
            ;
        if (srv.fault) {
            engine_fault(&srv.eng, &err);
            status = app_fail(&err);
        }
        vo.view.serve = &srv;
        if (!status && export_frame(&s, &vo.view, w, h, t_anim, out, &err))
            status = app_fail(&err);
        serve_free(&srv);
        goto done;
    }
    if (video) {
        ExportClipOptions co = {.w = w,
                                .h = h,
                                .fps = (int)fps,
                                .tok_s = speed,
                                .hold_start = 1.0,
                                .hold_end = 2.0,
                                .progress = app_progress,
                                .progress_ctx = (void *)out};
        int done = 0;
        if (export_clip_run(&s, &vo.view, (int)steps, &co, out, &done, &err)) {
            app_progress_end();
            status = app_fail(&err);
            goto done;
        }
        app_progress_end();
        if (session_fault(&s, &err)) {
            status = app_fail(&err);
            goto done;
        }
        if (done < steps)
            fprintf(stderr, "kvscope: render: stopped at the model's context of %d tokens\n",
                    model.cfg.seq_len);
        goto done;
    }
    if (frames) {
        int written = 0;
        if (export_frame_sequence(&s, &vo.view, w, h, (int)steps, frames, frame_fmt, &written,
                                  &err)) {
            status = app_fail(&err);
            goto done;
        }
        fprintf(stderr, "kvscope: render: %d frames in %s\n", written, frames);
    } else {
        for (long k = 0; k < steps; k++) {
            if (!session_step(&s)) {
                if (session_fault(&s, &err)) {
                    status = app_fail(&err);
                    goto done;
                }
                fprintf(stderr, "kvscope: render: stopped at %d tokens (the limit of %s)\n",
                        s.n_tokens,
                        session_limit(&s) > model.cfg.seq_len ? "sinks, twice the context"
                                                              : "the model's context");
                break;
            }
        }
    }
    view_prepare(&s, &vo.view);
    if (out && export_frame(&s, &vo.view, w, h, t_anim, out, &err))
        status = app_fail(&err);
done:
    if (inited)
        session_free(&s);
    tokenizer_free(&tok);
    model_free(&model);
    return status;
}

// ----------------------------------------------------------------------------------------------
// bench render

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// CPU time of this thread, in milliseconds: on a shared, loaded machine wall time also counts
// the time other programs had the core, so the lines give both.
static double thread_cpu_ms(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int bench_render(int argc, char **argv) {
    CommonOptions o;
    app_common_defaults(&o);
    long frames = 60;
    const char *view_name = "sequence";
    bool view_given = false;
    KvError err = {0};
    for (int i = 1; i < argc; i++) {
        int r = app_parse_common(argc, argv, &i, &o, &err);
        if (r < 0)
            return app_fail(&err);
        if (r > 0)
            continue;
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--frames") == 0) {
            if (app_parse_int("--frames", val, 3, 100000, &frames, &err))
                return app_fail(&err);
            i++;
        } else if (strcmp(argv[i], "--view") == 0 && val) {
            if (view_kind_parse(val) < 0)
                return app_usage_error("--view", "unknown view '%s'", val);
            view_name = val;
            view_given = true;
            i++;
        } else {
            return app_usage_error("bench render", "unknown option '%s'", argv[i]);
        }
    }
    Model model;
    Tokenizer tok;
    if (app_load(&model, &tok, o.model, o.tokenizer, &err))
        return app_fail(&err);
    Session s;
    int status = 0;
    if (session_init(&s, &model, &tok, &err) ||
        session_set_prompt(&s, o.prompt ? o.prompt : app_preset("fact")->prompt, &err)) {
        status = app_fail(&err);
        session_free(&s); // session_init zeroes s first: safe after either failure
        tokenizer_free(&tok);
        model_free(&model);
        return status;
    }
    o.sampler.temperature = o.sampler.temperature > 0 ? o.sampler.temperature : 0.8f;
    session_set_sampler(&s, o.sampler);

    static const int sizes[][2] = {{1920, 1080}, {3840, 2160}};
    static const int lengths[] = {32, 128, 256};
    // What is measured: the view asked for (default: the sequence view, then the 3D view), its
    // heads as their mean (the window's default) and, in the 2D views, each head in its own
    // colour (the most beams); the 3D view under each camera preset, with the whole
    // sequence in view, and after a step without the cache (every block recomputed: the
    // recompute flash mid-animation).
    typedef struct {
        int kind;
        int heads;       // 0: mean, 1: each
        const char *cam; // 3D: the camera, as --camera takes it
        bool fit;        // 3D: the whole sequence in view
        bool no_cache;   // the measured step ran without the cache
    } Config;
    Config configs[16];
    int n_configs = 0;
    int want = view_given ? view_kind_parse(view_name) : -1;
    for (int k = 0; k < VIEW_KINDS; k++) {
        if (want >= 0 ? k != want : k != VIEW_SEQUENCE && k != VIEW_3D)
            continue;
        if (k == VIEW_3D) {
            static const char *const cams[] = {"front", "top", "orbit:35,25"};
            for (int c = 0; c < 3; c++)
                configs[n_configs++] = (Config){k, 0, cams[c], false, false};
            configs[n_configs++] = (Config){k, 0, "orbit:35,25", true, false};
            configs[n_configs++] = (Config){k, 0, "front", false, true};
        } else {
            configs[n_configs++] = (Config){k, 0, NULL, false, false};
            configs[n_configs++] = (Config){k, 1, NULL, false, false};
        }
    }
    View v;
    double *ms = malloc((size_t)frames * sizeof *ms);
    double *cpu = malloc((size_t)frames * sizeof *cpu);
    for (int ci = 0; ci < n_configs && !status; ci++)
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0] && !status; si++) {
            const Config *cf = &configs[ci];
            view_init(&v);
            v.kind = (ViewKind)cf->kind;
            v.layer = VIEW_ALL_LAYERS;
            v.head = cf->heads ? VIEW_HEAD_EACH : VIEW_HEAD_MEAN;
            char camera[64] = "";
            if (cf->cam) {
                char why[160];
                view_camera_parse(cf->cam, &v, why, sizeof why); // one of ours: it parses
                v.cam_fit = cf->fit;
                snprintf(camera, sizeof camera, " camera=%s%s%s", cf->cam, cf->fit ? ",whole" : "",
                         cf->no_cache ? " mode=no-cache" : "");
            }
            int w = sizes[si][0], h = sizes[si][1];
            cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
            cairo_t *cr = cairo_create(surf);
            session_reset(&s);
            for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
                int n = lengths[li];
                if (cf->no_cache) { // with the cache up to the last step, which recomputes all
                    session_reset(&s);
                    session_set_mode(&s, CACHE_MODE_ON);
                }
                while (s.n_tokens < n - cf->no_cache && session_step(&s)) {
                }
                if (cf->no_cache && s.n_tokens == n - 1) {
                    session_set_mode(&s, CACHE_MODE_OFF);
                    session_step(&s);
                }
                if (session_fault(&s, &err)) {
                    status = app_fail(&err);
                    break;
                }
                if (s.n_tokens < n)
                    break;                         // the model's context is shorter
                scene_draw(cr, &s, &v, w, h, 1.0); // warm-up: fonts, caches
                for (long k = 0; k < frames; k++) {
                    // Half the frames mid-animation (beams fanning out), half at rest.
                    double t = k % 2 ? 1.0 : 0.5 + 0.5 * (double)k / frames;
                    uint64_t t0 = kv_now_ns();
                    double c0 = thread_cpu_ms();
                    scene_draw(cr, &s, &v, w, h, t);
                    cairo_surface_flush(surf);
                    ms[k] = (double)(kv_now_ns() - t0) / 1e6;
                    cpu[k] = thread_cpu_ms() - c0;
                }
                qsort(ms, (size_t)frames, sizeof *ms, cmp_double);
                qsort(cpu, (size_t)frames, sizeof *cpu, cmp_double);
                long p99 = (long)(0.99 * (double)(frames - 1) + 0.5);
                printf("bench render size=%dx%d tokens=%d view=%s%s layers=all heads=%s "
                       "median_ms=%.2f p99_ms=%.2f cpu_median_ms=%.2f\n",
                       w, h, s.n_tokens, view_kind_name(v.kind), camera,
                       cf->heads ? "each" : "mean", ms[frames / 2], ms[p99], cpu[frames / 2]);
                fflush(stdout);
            }
            if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
                fprintf(stderr, "kvscope: bench render: drawing failed: %s\n",
                        cairo_status_to_string(cairo_status(cr)));
                status = 1;
            }
            cairo_destroy(cr);
            cairo_surface_destroy(surf);
            session_set_mode(&s, CACHE_MODE_ON);
        }
    free(ms);
    free(cpu);
    // The clip below draws the view asked for (default: sequence), every head in its colour.
    view_init(&v);
    v.kind = (ViewKind)view_kind_parse(view_name);
    v.layer = VIEW_ALL_LAYERS;
    v.head = VIEW_HEAD_EACH;
    // Animated export: a clip of the session's last 8 steps played at 4 tok/s, 1920x1080 at 30
    // frames a second, drawn and encoded into a temporary folder that is removed after.
    char dir[] = "/tmp/kvscope-bench-XXXXXX";
    for (int k = 0; k < EXPORT_VIDEO_KINDS && !status && mkdtemp(dir); k++) {
        if (!export_video_available((ExportVideoKind)k))
            continue;
        char path[64];
        snprintf(path, sizeof path, "%s/clip.%s", dir, export_video_ext((ExportVideoKind)k));
        for (int i = 0; i < 8 && s.cursor > 0; i++)
            session_back(&s);
        ExportClipOptions co = {.w = 1920, .h = 1080, .fps = 30, .tok_s = 4.0};
        uint64_t t0 = kv_now_ns();
        int done = 0;
        if (export_clip_run(&s, &v, 8, &co, path, &done, &err)) {
            status = app_fail(&err);
        } else {
            double secs = (double)(kv_now_ns() - t0) / 1e9;
            int64_t n = export_clip_frames(done / co.tok_s, co.fps);
            struct stat sb;
            long long bytes = stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
            printf("bench render export=%s size=1920x1080 frames=%lld passes=%d fps=%.1f "
                   "bytes=%lld\n",
                   export_video_ext((ExportVideoKind)k), (long long)n,
                   k == EXPORT_VIDEO_GIF ? 2 : 1, n / secs, bytes);
            fflush(stdout);
        }
        unlink(path);
        rmdir(dir);
        memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
    }
    session_free(&s);
    tokenizer_free(&tok);
    model_free(&model);
    return status;
}
