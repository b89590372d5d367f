// plot.c — the loss curve as a PNG, drawn with cairo from the CSV train_run writes: training
// loss per step (faint) with its running mean, validation loss as points joined by a line,
// axes with tick labels in nats per token. Teachers put it on slides, so it is plain and legible.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>

#include "train/train.h"

typedef struct {
    double *step, *train, *val;
    int n;
} Curve;

static void read_csv(const char *text, Curve *c) {
    int cap = 1024;
    c->step = kv_malloc((size_t)cap * sizeof(double));
    c->train = kv_malloc((size_t)cap * sizeof(double));
    c->val = kv_malloc((size_t)cap * sizeof(double));
    c->n = 0;
    const char *p = strchr(text, '\n'); // skip the header
    while (p && *++p) {
        // step,tokens,lr,train_loss,val_loss,...
        char field[5][64] = {{0}};
        int f = 0, k = 0;
        for (; *p && *p != '\n'; p++) {
            if (*p == ',') {
                f++;
                k = 0;
                continue;
            }
            if (f < 5 && k < 63)
                field[f][k++] = *p;
        }
        if (c->n == cap) {
            cap *= 2;
            c->step = kv_realloc(c->step, (size_t)cap * sizeof(double));
            c->train = kv_realloc(c->train, (size_t)cap * sizeof(double));
            c->val = kv_realloc(c->val, (size_t)cap * sizeof(double));
        }
        c->step[c->n] = atof(field[0]);
        c->train[c->n] = field[3][0] ? atof(field[3]) : NAN;
        c->val[c->n] = field[4][0] ? atof(field[4]) : NAN;
        c->n++;
        if (!*p)
            break;
    }
}

KvStatus plot_loss_png(const char *csv_path, const char *png_path, const char *title,
                       KvError *err) {
    char *text;
    size_t len;
    KvStatus st = read_whole_file(csv_path, &text, &len, err);
    if (st != KV_OK)
        return st;
    Curve c;
    read_csv(text, &c);
    free(text);
    const int W = 960, H = 600, ml = 80, mr = 30, mt = 60, mb = 70;
    double xmax = 1, ymin = 1e9, ymax = -1e9;
    for (int i = 0; i < c.n; i++) {
        xmax = fmax(xmax, c.step[i]);
        double v[2] = {c.train[i], c.val[i]};
        for (int k = 0; k < 2; k++)
            if (!isnan(v[k])) {
                ymin = fmin(ymin, v[k]);
                ymax = fmax(ymax, v[k]);
            }
    }
    if (ymin > ymax) {
        ymin = 0;
        ymax = 1;
    }
    ymin = floor(ymin * 2) / 2;
    ymax = ceil(ymax);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    double pw = W - ml - mr, ph = H - mt - mb;
#define PX(x) (ml + (x) / xmax * pw)
#define PY(y) (mt + ph - ((y)-ymin) / (ymax - ymin) * ph)
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 14);
    // grid and ticks
    cairo_set_line_width(cr, 1);
    for (double y = ymin; y <= ymax + 1e-9; y += (ymax - ymin) > 4 ? 1 : 0.5) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, ml, PY(y));
        cairo_line_to(cr, W - mr, PY(y));
        cairo_stroke(cr);
        char t[32];
        snprintf(t, sizeof t, "%.1f", y);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, ml - 40, PY(y) + 5);
        cairo_show_text(cr, t);
    }
    double xstep = pow(10, floor(log10(xmax)));
    if (xmax / xstep < 4)
        xstep /= 2;
    for (double x = 0; x <= xmax + 1e-9; x += xstep) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, PX(x), mt);
        cairo_line_to(cr, PX(x), mt + ph);
        cairo_stroke(cr);
        char t[32];
        snprintf(t, sizeof t, "%.0f", x);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, PX(x) - 12, mt + ph + 20);
        cairo_show_text(cr, t);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, ml, mt, pw, ph);
    cairo_stroke(cr);
    // training loss: raw (faint) and running mean
    cairo_set_line_width(cr, 1);
    cairo_set_source_rgba(cr, 0.2, 0.4, 0.9, 0.25);
    bool first = true;
    for (int i = 0; i < c.n; i++) {
        if (isnan(c.train[i]))
            continue;
        if (first)
            cairo_move_to(cr, PX(c.step[i]), PY(c.train[i]));
        else
            cairo_line_to(cr, PX(c.step[i]), PY(c.train[i]));
        first = false;
    }
    cairo_stroke(cr);
    cairo_set_line_width(cr, 2);
    cairo_set_source_rgb(cr, 0.1, 0.3, 0.85);
    double ema = NAN;
    first = true;
    for (int i = 0; i < c.n; i++) {
        if (isnan(c.train[i]))
            continue;
        ema = isnan(ema) ? c.train[i] : 0.9 * ema + 0.1 * c.train[i];
        if (first)
            cairo_move_to(cr, PX(c.step[i]), PY(ema));
        else
            cairo_line_to(cr, PX(c.step[i]), PY(ema));
        first = false;
    }
    cairo_stroke(cr);
    // validation loss
    cairo_set_source_rgb(cr, 0.85, 0.3, 0.1);
    first = true;
    for (int i = 0; i < c.n; i++) {
        if (isnan(c.val[i]))
            continue;
        if (first)
            cairo_move_to(cr, PX(c.step[i]), PY(c.val[i]));
        else
            cairo_line_to(cr, PX(c.step[i]), PY(c.val[i]));
        first = false;
    }
    cairo_stroke(cr);
    for (int i = 0; i < c.n; i++)
        if (!isnan(c.val[i])) {
            cairo_arc(cr, PX(c.step[i]), PY(c.val[i]), 3, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    // labels and legend
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 20);
    cairo_move_to(cr, ml, 36);
    cairo_show_text(cr, title);
    cairo_set_font_size(cr, 14);
    cairo_move_to(cr, ml + pw / 2 - 20, H - 25);
    cairo_show_text(cr, "step");
    cairo_save(cr);
    cairo_move_to(cr, 24, mt + ph / 2 + 80);
    cairo_rotate(cr, -M_PI / 2);
    cairo_show_text(cr, "loss (nats per token)");
    cairo_restore(cr);
    double lx = W - mr - 260, ly = mt + 24;
    cairo_set_source_rgb(cr, 0.1, 0.3, 0.85);
    cairo_rectangle(cr, lx, ly - 8, 24, 4);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, lx + 32, ly);
    cairo_show_text(cr, "training (running mean)");
    cairo_set_source_rgb(cr, 0.85, 0.3, 0.1);
    cairo_rectangle(cr, lx, ly + 14, 24, 4);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, lx + 32, ly + 22);
    cairo_show_text(cr, "validation");
#undef PX
#undef PY
    st = KV_OK;
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        st = kv_error(err, KV_ERR_RUNTIME, "%s: drawing failed", png_path);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    if (st == KV_OK && cairo_surface_write_to_png(s, png_path) != CAIRO_STATUS_SUCCESS)
        st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot write PNG", png_path);
    cairo_surface_destroy(s);
    free(c.step);
    free(c.train);
    free(c.val);
    return st;
}
