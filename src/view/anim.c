// anim.c — how one step unfolds over time, in one place: how long a step's animation lasts at
// a playing speed, and when within it each part moves (the pipeline stage lit, the layers
// computing their keys and values top down, the beams fanning out, the new token dropping in).
// The window, frame export and any animated export map time to t_anim through view_anim_t and
// draw with scene_draw, so they all show the same motion. No drawing here.
#include "view/scene_internal.h"

// ----------------------------------------------------------------------------------------------
// Clock time -> t_anim

// A step's animation takes most of the time between two steps at the playing speed, so playing
// looks continuous; a step taken before it ends simply starts the next animation. Prefill and
// decode unfold alike today; the phase is here so that a view can give them different motion.
double view_anim_seconds(Phase phase, double tok_s) {
    (void)phase;
    double len = 0.85 / tok_s;
    return len < 0.04 ? 0.04 : len > 0.7 ? 0.7 : len;
}

double view_anim_t(Phase phase, double tok_s, double elapsed) {
    double t = elapsed / view_anim_seconds(phase, tok_s);
    return t < 0 ? 0 : t >= 1 ? 1.0 : t;
}

// ----------------------------------------------------------------------------------------------
// t_anim -> where each part of the picture is

double scene_ease(double t) {
    if (t <= 0)
        return 0;
    if (t >= 1)
        return 1;
    return t * t * (3 - 2 * t);
}

double scene_anim_phase(double t, double a, double b) {
    if (t >= b)
        return 1;
    if (t <= a)
        return 0;
    return (t - a) / (b - a);
}

double scene_anim_layer_time(int layer, int n_layers) {
    return 0.25 + 0.35 * (n_layers > 1 ? (double)layer / (n_layers - 1) : 0);
}

double scene_anim_fan(double t) {
    return scene_ease(scene_anim_phase(t, 0.45, 0.8));
}

double scene_anim_drop(double t) {
    return scene_ease(scene_anim_phase(t, 0.78, 1.0));
}

int scene_anim_stage(double t, int n_stages) {
    return t >= 1 ? n_stages - 1 : (int)(t * n_stages);
}
