// window_models.c — the window's model key: the shipped full model and its grouped-query and
// multi-query twins (`make model` trains all three from one recipe), one after another, so a
// class sees what sharing keys and values between heads does to the cache and to the text.
//
// The twins are found beside the model the window opened with; each is loaded on first use and
// kept until the window closes. The session keeps its prompt, sampler, mode and cache settings
// (session_set_model). What it does not do: train or convert a model (kvtrain gqa does).
#include "app/window.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const app_model_files[APP_MODELS] = {"kvscope6.bin", "kvscope6_gqa.bin",
                                                 "kvscope6_mqa.bin"};

// Which of app_model_files `path` names (its last component), or -1.
static int model_index(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (int i = 0; i < APP_MODELS; i++)
        if (strcmp(base, app_model_files[i]) == 0)
            return i;
    return -1;
}

void app_next_model(AppState *a) {
    app_at_rest(a);
    const char *path = a->s->model->path;
    const int cur = model_index(path);
    if (cur < 0) {
        app_notice(a, 5.0, "model: this window runs %s; the model key cycles %s, %s and %s", path,
                   app_model_files[0], app_model_files[1], app_model_files[2]);
        return;
    }
    const int next = (cur + 1) % APP_MODELS;
    const size_t dir = strlen(path) - strlen(app_model_files[cur]);
    char file[sizeof a->s->model->path];
    snprintf(file, sizeof file, "%.*s%s", (int)dir, path, app_model_files[next]);
    if (!a->model0)
        a->model0 = a->s->model;
    const Model *m = a->model0;
    if (model_index(a->model0->path) != next) {
        if (!a->models[next]) {
            Model *load = kv_malloc(sizeof *load);
            KvError err;
            if (model_load(load, file, &err)) {
                free(load);
                app_notice(a, 5.0, "%s", err.msg);
                return;
            }
            a->models[next] = load;
        }
        m = a->models[next];
    }
    KvError err;
    if (session_set_model(a->s, m, &err)) {
        app_notice(a, 5.0, "%s", err.msg);
        return;
    }
    a->playing = false;
    app_left_limit(a);
    const ModelConfig *c = &m->cfg;
    char bytes[32];
    kv_format_bytes(bytes, sizeof bytes, config_kv_bytes_per_token(c));
    app_notice(a, 5.0, "model: %s, %d kv head%s for %d query heads: %s of cache per token",
               app_model_files[next], c->n_kv_heads, c->n_kv_heads == 1 ? "" : "s", c->n_heads,
               bytes);
    a->dirty = true;
}

void app_free_models(AppState *a) {
    if (a->model0 && a->s && a->s->model != a->model0) {
        KvError err;
        session_set_model(a->s, a->model0, &err); // the caller's model, as it gave it
    }
    for (int i = 0; i < APP_MODELS; i++) {
        if (a->models[i])
            model_free(a->models[i]);
        free(a->models[i]);
        a->models[i] = NULL;
    }
    a->model0 = NULL;
}
