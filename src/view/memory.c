// memory.c — the memory view: what this sequence's KV cache would cost on published models.
//
// One row per model of src/sim/project.c's table (this model first): a bar of its weights and,
// after them, the KV cache of a sequence of the chosen length (the session's own length unless
// the teacher picks another), against the memory of common accelerators drawn as vertical lines,
// and how many such sequences fit beside the weights. The session's cache policy and precision
// apply to every model (a window caps the positions, int4 quarters the bytes), and the heading
// says how the projection stores them. One row of the view table (views.c).
#include "view/scene_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void scene_memory_layout(const Session *s, const View *v, SceneRect area, SceneLayout *L) {
    L->beams = area; // the rows are drawn over the whole area the frame left
}

int scene_memory_hit_token(const SceneLayout *L, double x, double y) {
    return -1; // no token columns in this view
}

uint64_t view_memory_length(const Session *s, const View *v) {
    return v->memory_length > 0 ? (uint64_t)v->memory_length : (uint64_t)s->n_tokens;
}

// x of `bytes` on the axis [x0, x0 + w] up to `max` bytes (log: 1 MiB .. max).
static double axis_x(double bytes, double max, bool log_scale, double x0, double w) {
    if (log_scale) {
        const double lo = 1048576.0;
        double f = bytes <= lo ? 0 : log(bytes / lo) / log(max / lo);
        return x0 + w * (f > 1 ? 1 : f);
    }
    double f = bytes / max;
    return x0 + w * (f > 1 ? 1 : f < 0 ? 0 : f);
}

void scene_memory_draw(Frame *f) {
    const SceneLayout *L = f->lay;
    const Session *s = f->s;
    const View *v = f->v;
    const Theme *th = f->th;
    const double u = f->u;
    const SceneRect a = L->beams;
    cairo_t *cr = f->cr;
    const uint64_t len = view_memory_length(s, v);
    ProjectCache pc;
    project_cache_of_session(s, &pc);

    // this model as the engine holds it, then the published ones
    const ModelConfig *c = &s->model->cfg;
    char own[64];
    const char *slash = strrchr(s->model->path, '/');
    snprintf(own, sizeof own, "%.40s", slash ? slash + 1 : s->model->path);
    char *dot = strrchr(own, '.');
    if (dot)
        *dot = '\0';
    PublishedModel self = project_model_of(c, own);
    const int n = 1 + n_published_models;

    // heading: what is projected, at which length, stored how
    char lenbuf[32], head[256];
    kv_format_number(lenbuf, sizeof lenbuf, (double)len, KV_NUM_COUNT, "");
    snprintf(head, sizeof head, "KV cache of a %s-token sequence on published models", lenbuf);
    double y = a.y + 0.4 * u;
    scene_text_draw(&f->tx, a.x + u, y, 1.35 * u, true, ALIGN_LEFT, a.w - 2 * u, th->text, head);
    y += 1.9 * u;
    char how[256];
    project_cache_describe(&pc, how, sizeof how);
    scene_text_draw(&f->tx, a.x + u, y, 1.1 * u, false, ALIGN_LEFT, a.w - 2 * u, th->text_dim, how);
    y += 1.8 * u + 2.8 * u; // and two staggered lines for the accelerators' labels

    // columns: names | bars | figures
    const double name_w = 11.5 * u, fig_w = 15 * u;
    const double bx = a.x + u + name_w, bw = a.w - 2 * u - name_w - fig_w;
    const double row_h = fmin(2.1 * u, (a.y + a.h - y - 3.6 * u) / n); // room for the key
    // a fixed axis, so that lengths and models compare from beat to beat: twice the largest
    // accelerator (bars past it end in »), or 1 MiB .. 2 TB on the log scale
    const double max =
        v->memory_log ? 2e12 : 2 * project_accelerators[n_project_accelerators - 1].bytes;

    // accelerator lines, labelled above the rows
    for (int k = 0; k < n_project_accelerators; k++) {
        double x = axis_x(project_accelerators[k].bytes, max, v->memory_log, bx, bw);
        scene_set_rgba_a(cr, th->text_dim, 0.7);
        cairo_rectangle(cr, x - 0.06 * u, y, 0.12 * u, row_h * n);
        cairo_fill(cr);
        char label[64]; // "80 GB" on the line; the whole name in the key below
        snprintf(label, sizeof label, "%s", project_accelerators[k].name);
        char *paren = strstr(label, " (");
        if (paren)
            *paren = '\0';
        scene_text_draw(&f->tx, x, y - (k % 2 ? 2.75 : 1.55) * u, 1.05 * u, false, ALIGN_CENTER, 0,
                        th->text_dim, label);
    }
    for (int i = 0; i < n; i++) {
        const PublishedModel *m = i == 0 ? &self : &published_models[i - 1];
        const bool hi = (v->memory_model >= 0 && i == v->memory_model + 1) || i == 0;
        const double ry = y + i * row_h, bh = row_h * 0.62, by = ry + (row_h - bh) / 2;
        char name[96];
        snprintf(name, sizeof name, "%s %s", m->name, project_attn_name(m->attn));
        scene_text_draw(&f->tx, bx - 0.5 * u, ry + (row_h - 1.45 * u) / 2, 1.1 * u, hi, ALIGN_RIGHT,
                        name_w - 0.5 * u, hi ? th->text : th->text_dim, name);
        // this model's weights are as the file holds them (floats); published ones in bfloat16
        const double wbytes = i == 0 ? (double)config_param_count(c) * 4 : project_weight_bytes(m);
        // this model's cache as the engine holds it (its own storage's bytes per position)
        const double kv = i == 0 ? (double)len * (double)kvcache_bytes_per_position(&s->eng.cache)
                                 : project_kv_bytes(m, &pc, len);
        double xw = axis_x(wbytes, max, v->memory_log, bx, bw);
        if (v->memory_log) { // lengths on a log axis do not add: the two bars one above the other
            double xk = axis_x(kv, max, true, bx, bw);
            scene_set_rgba_a(cr, th->text_faint, 0.8);
            cairo_rectangle(cr, bx, by, xw - bx, bh / 2);
            cairo_fill(cr);
            scene_set_rgba(cr, hi ? th->accent : th->cache_on);
            cairo_rectangle(cr, bx, by + bh / 2, fmax(xk - bx, 0.15 * u), bh / 2);
            cairo_fill(cr);
        } else { // the cache after the weights: what one sequence adds to the memory
            double xk = axis_x(wbytes + kv, max, false, bx, bw);
            scene_set_rgba_a(cr, th->text_faint, 0.8);
            cairo_rectangle(cr, bx, by, xw - bx, bh);
            cairo_fill(cr);
            scene_set_rgba(cr, hi ? th->accent : th->cache_on);
            cairo_rectangle(cr, xw, by, fmax(xk - xw, 0.15 * u), bh);
            cairo_fill(cr);
        }
        if (wbytes + kv > max) { // past the axis: say so at the bar's end
            scene_text_draw(&f->tx, bx + bw - 0.2 * u, by + (bh - 1.35 * u) / 2, 1.05 * u, true,
                            ALIGN_RIGHT, 0, th->bg, "\u00bb");
        }
        // figures: the cache's bytes, and the sequences that fit in 80 GB beside the weights
        char kvs[32], fits[64], fig[128];
        kv_format_bytes(kvs, sizeof kvs, (uint64_t)(kv + 0.5));
        int64_t nfit = project_sequences_fit(m, &pc, len, 80e9);
        if (i == 0)
            nfit = kv > 0 ? (int64_t)((80e9 - wbytes) / kv) : -1;
        if (nfit < 0)
            snprintf(fits, sizeof fits, "any number");
        else if (nfit == 0)
            snprintf(fits, sizeof fits, "none fit");
        else
            kv_format_number(fits, sizeof fits, (double)nfit, KV_NUM_COUNT, "");
        snprintf(fig, sizeof fig, "%s%s · %s%s", kvs, len > (uint64_t)m->context ? "*" : "", fits,
                 nfit > 0 ? " in 80 GB" : "");
        scene_text_draw(&f->tx, bx + bw + 0.6 * u, ry + (row_h - 1.45 * u) / 2, 1.1 * u, hi,
                        ALIGN_LEFT, fig_w - 0.6 * u, hi ? th->text : th->text_dim, fig);
    }
    // key
    double ky = y + n * row_h + 0.4 * u;
    scene_set_rgba_a(cr, th->text_faint, 0.8);
    cairo_rectangle(cr, bx, ky + 0.3 * u, 1.2 * u, 0.8 * u);
    cairo_fill(cr);
    double kx = bx + 1.6 * u;
    kx += scene_text_draw(&f->tx, kx, ky, 1.05 * u, false, ALIGN_LEFT, 0, th->text_dim,
                          "weights (bfloat16)") +
          u;
    scene_set_rgba(cr, th->cache_on);
    cairo_rectangle(cr, kx, ky + 0.3 * u, 1.2 * u, 0.8 * u);
    cairo_fill(cr);
    kx += 1.6 * u;
    kx += scene_text_draw(&f->tx, kx, ky, 1.05 * u, false, ALIGN_LEFT, 0, th->text_dim,
                          "KV cache of the sequence") +
          u;
    scene_text_draw(&f->tx, kx, ky, 1.05 * u, false, ALIGN_LEFT, bx + bw + fig_w - kx, th->text_dim,
                    v->memory_log ? "log scale from 1 MiB · * past the context · GB = 10^9 B"
                                  : "* past the model's context · GB = 10^9 bytes");
    char acc[256] = "lines: ";
    for (int k = 0; k < n_project_accelerators; k++)
        snprintf(acc + strlen(acc), sizeof acc - strlen(acc), "%s%s", k ? ", " : "",
                 project_accelerators[k].name);
    scene_text_draw(&f->tx, bx, ky + 1.7 * u, 1.05 * u, false, ALIGN_LEFT, bw + fig_w, th->text_dim,
                    acc);
}
