// format.c — numbers as every part of kvscope prints them (the picture's counters and chart,
// lesson captions, `kvscope info`): scaled to a prefix, three significant figures. One
// function with a few styles, so a FLOP count reads the same on screen, in a caption and in a
// terminal. No drawing here.
#include "view/view.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    double base;               // 1000 or 1024 per prefix step
    const char *const *prefix; // "" first
    int n_prefix;
    const char *sep; // between the number and prefix + unit
    bool trim;       // drop trailing zeros after the decimal point
} Style;

static const char *const si[] = {"", "k", "M", "G", "T", "P", "E"};
static const char *const binary[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
static const char *const count[] = {"", "k", "M", "B"};
static const char *const plain[] = {""};

static const Style styles[VIEW_NUM_STYLES] = {
    [VIEW_NUM_SI] = {1000, si, 7, " ", false},       [VIEW_NUM_SI_SHORT] = {1000, si, 7, " ", true},
    [VIEW_NUM_BYTES] = {1024, binary, 6, " ", true}, [VIEW_NUM_COUNT] = {1000, count, 4, "", true},
    [VIEW_NUM_PLAIN] = {1000, plain, 1, "", true},
};

void view_format_number(char *out, size_t cap, double v, ViewNumberStyle style, const char *unit) {
    if (cap == 0)
        return;
    const Style *st = &styles[(unsigned)style < VIEW_NUM_STYLES ? style : VIEW_NUM_SI];
    if (!unit)
        unit = "";
    if (!isfinite(v)) {
        snprintf(out, cap, "%s%s%s",
                 isnan(v) ? "?"
                 : v > 0  ? "\xe2\x88\x9e"
                          : "-\xe2\x88\x9e",
                 st->sep, unit);
        return;
    }
    // Scale while the number would round to the next prefix's 1 (999.7 k is "1 M", not
    // "1000 k"; for bytes 1023.6 KiB is "1 MiB", not "1024 KiB").
    double a = fabs(v);
    int k = 0;
    while (a >= st->base - 0.5 && k + 1 < st->n_prefix) {
        a /= st->base;
        v /= st->base;
        k++;
    }
    char num[48];
    if (k == 0 && a == floor(a))
        snprintf(num, sizeof num, "%.0f", v);
    else
        snprintf(num, sizeof num, "%.*f", a >= 99.95 ? 0 : a >= 9.995 ? 1 : 2, v);
    char *dot = strchr(num, '.');
    if (st->trim && dot) {
        char *e = num + strlen(num) - 1;
        while (e > dot && *e == '0')
            *e-- = '\0';
        if (e == dot)
            *e = '\0';
    }
    snprintf(out, cap, "%s%s%s%s", num, st->sep, st->prefix[k], unit);
}

void view_format_bytes(char *out, size_t cap, uint64_t bytes) {
    view_format_number(out, cap, (double)bytes, VIEW_NUM_BYTES, "B");
}
