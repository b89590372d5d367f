// split.c — side by side: a twin session of the same model and prompt that follows a session
// step for step in the other cache mode, for the split picture (cache on one side, off the other).
//
// The twin is a whole Session with its own engine, cache and counters: its FLOPs are counted and
// its time is measured by its own passes. Each of its steps runs in the mode opposite to the
// session's step of the same index and takes the session's token (with the full f32 cache the
// two modes give bit-identical logits, so the sampler would pick it anyway; under a bounded or
// quantized cache the logits differ, and the twin is fed the same tokens so the two sides stay
// comparable). When both compute a step at once, its max |logit difference| is recorded.
// What this file does not do: draw (src/view/split.c).
#include "sim/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float max_abs_diff(const float *a, const float *b, int n) {
    float m = 0.0f;
    for (int i = 0; i < n; i++) {
        const float d = fabsf(a[i] - b[i]);
        if (d > m || d != d)
            m = d;
    }
    return m;
}

bool session_set_twin(Session *s, bool on) {
    if (!on) {
        if (s->twin) {
            session_free(s->twin);
            free(s->twin);
            free(s->twin_diff);
            s->twin = NULL;
            s->twin_diff = NULL;
        }
        return true;
    }
    if (s->twin)
        return true;
    Session *t = kv_calloc(1, sizeof *t);
    KvError err;
    if (session_init(t, s->model, s->tok, &err)) {
        free(t);
        return false;
    }
    const size_t n = (size_t)SESSION_PAST * (size_t)s->model->cfg.seq_len;
    s->twin_diff = kv_malloc(n * sizeof *s->twin_diff);
    for (size_t i = 0; i < n; i++)
        s->twin_diff[i] = -1.0f;
    s->twin = t;
    session_twin_sync(s, NULL);
    return true;
}

// Same prompt, sampler, precision and retention.
static bool same_setup(const Session *a, const Session *b) {
    const SamplerSettings x = a->settings, y = b->settings;
    return a->n_prompt == b->n_prompt &&
           memcmp(a->tokens, b->tokens, (size_t)a->n_prompt * sizeof *a->tokens) == 0 &&
           x.temperature == y.temperature && x.top_p == y.top_p && x.top_k == y.top_k &&
           x.seed == y.seed && kv_kind_equal(a->cache_kind, b->cache_kind) &&
           a->eng.cache.kind.precision == b->eng.cache.kind.precision;
}

static CacheMode other_mode(CacheMode m) {
    return m == CACHE_MODE_ON ? CACHE_MODE_OFF : CACHE_MODE_ON;
}

// The twin's step k agrees with the session's: the same token, the other mode, the same retention.
static bool step_agrees(const StepRecord *mine, const StepRecord *twin) {
    return mine->token_id == twin->token_id && twin->mode == other_mode(mine->mode) &&
           mine->kind.retention == twin->kind.retention && mine->kind.window == twin->kind.window &&
           mine->kind.sinks == twin->kind.sinks && mine->kind.heavy == twin->kind.heavy &&
           mine->kind.recent == twin->kind.recent;
}

void session_twin_sync(Session *s, const float *fresh) {
    Session *t = s->twin;
    if (!t)
        return;
    KvError err;
    if (!same_setup(s, t)) {
        t->n_prompt = t->n_tokens = s->n_prompt; // the same token ids (a prompt's text and its
        memcpy(t->tokens, s->tokens, (size_t)s->n_prompt * sizeof *t->tokens); // ids agree)
        snprintf(t->prompt, sizeof t->prompt, "%s", s->prompt);
        session_set_kv(t, s->eng.cache.kind.precision, &err);
        session_set_cache(t, s->cache_kind, &err);
        t->settings = s->settings;
        t->sampler.s = s->settings;
        session_reset(t); // no steps, the sampler at the seed
    }
    // the steps both still agree on, then the session's next ones
    int k = 0;
    while (k < t->cursor && k < s->cursor && step_agrees(&s->steps[k], &t->steps[k]))
        k++;
    while (t->cursor > k)
        session_back(t);
    while (t->cursor < s->cursor) {
        const int i = t->cursor;
        const StepRecord *r = &s->steps[i];
        session_set_mode(t, other_mode(r->mode));
        KvCacheKind kind = r->kind; // the step's retention, with the twin's own precision
        kind.precision = t->cache_kind.precision;
        if (session_set_cache(t, kind, &err))
            break;
        // the session's last step was computed just now: the twin computes it too, so that the
        // two logits can be compared
        const bool last = i == s->cursor - 1 && fresh;
        if (last && t->cursor < t->n_steps)
            session_set_sampler(t, t->settings); // drops the records after the cursor
        const unsigned serial = t->serial;
        const bool redo = t->cursor < t->n_steps;
        if (!session_step(t))
            break;
        StepRecord *tr = &t->steps[i];
        if (tr->token_id != r->token_id) { // the session's token, as the next step's input
            tr->token_id = r->token_id;
            t->tokens[t->n_tokens - 1] = r->token_id;
            t->sampler.rng = tr->rng_after = r->rng_after;
            t->n_steps = t->cursor; // what followed the twin's own token is not this sequence
            t->serial++;
        }
        if (last)
            s->twin_diff[i] = !redo || t->serial != serial
                                  ? max_abs_diff(fresh, t->eng.logits, s->model->cfg.vocab_size)
                                  : -1.0f;
    }
}

float session_twin_logit_diff(const Session *s) {
    if (!s->twin_diff || s->cursor == 0)
        return -1.0f;
    return s->twin_diff[s->cursor - 1];
}

void session_totals(const Session *s, SessionTotals *out) {
    memset(out, 0, sizeof *out);
    const StepRecord *r = session_last(s);
    if (!r)
        return;
    out->flops = counters_flops(&r->total);
    out->steps = s->cursor;
    for (int i = 0; i < s->cursor; i++)
        out->ns += s->steps[i].step_ns;
}
