// inspect.c — the numbers behind one cache cell, for the inspector: what one query head of one
// layer computed at the shown step's write position (its query, the keys and values it read, the
// scores, the softmax weights and the weighted sum), recorded by a real forward pass.
//
// The history keeps attention weights, not queries, and a step back does not run the model; so
// the numbers come from a second engine, the probe engine, that replays the history's passes as
// the session ran them (each record's mode, cache kind and sequence length, in order) and records
// the shown step with an AttnProbe. The engine is deterministic, so the replay computes exactly
// what the step computed (tests hold the weights to the record's). The session's own engine, its
// cache and its counters are never touched: a closed inspector costs nothing, an open one adds
// nothing to what the counters or the step time say. What this file does not do: draw the
// numbers (src/view/inspect.c).
#include "sim/sim.h"

#include <string.h>

// The first record a replay of record k must run from: every cached record between it and k
// read what the ones before had stored, and it started from an empty cache (the first step, a
// step after a change of kind, or a step without the cache, which keeps nothing).
static int replay_start(const Session *s, int k) {
    int j = k;
    while (j > 0 && s->steps[j].mode == CACHE_MODE_ON && s->steps[j].cache_len_before > 0)
        j--;
    return j;
}

const AttnProbe *session_probe(const Session *s, int layer, int head) {
    const AttnProbe *p = &s->probe;
    if (s->cursor == 0 || s->probe_step != s->cursor - 1 || s->probe_serial != s->serial ||
        !p->captured || p->layer != layer || p->head != head)
        return NULL;
    return p;
}

const AttnProbe *session_inspect(Session *s, int layer, int head) {
    const ModelConfig *c = &s->model->cfg;
    if (s->cursor == 0 || layer < 0 || layer >= c->n_layers || head < 0 || head >= c->n_heads)
        return NULL;
    const AttnProbe *done = session_probe(s, layer, head);
    if (done)
        return done;
    if (!s->probe_eng.model) {
        KvError err;
        if (engine_init(&s->probe_eng, s->model, &err))
            return NULL;
        attn_probe_init(&s->probe, c, SESSION_PAST * c->seq_len);
        s->probe_at = 0;
    }
    const int k = s->cursor - 1;
    int from = replay_start(s, k);
    // the probe engine's cache is already after record probe_at-1 of this history: go on from
    // there when that is on the way to k
    const bool on_the_way = s->probe_serial == s->serial && s->probe_at > from && s->probe_at <= k;
    if (on_the_way)
        from = s->probe_at;
    else
        kvcache_clear(&s->probe_eng.cache);
    Engine *e = &s->probe_eng;
    s->probe_step = -1;
    s->probe_serial = s->serial;
    for (int i = from; i <= k; i++) {
        const StepRecord *r = &s->steps[i];
        engine_set_cache_kind(e, r->kind); // as session_step set it (a new kind starts empty)
        if (i == k) {
            attn_probe_arm(&s->probe, layer, head, r->pos);
            engine_set_probe(e, &s->probe);
        }
        engine_step(e, s->tokens, r->pos + 1, r->mode, NULL, NULL);
        engine_set_probe(e, NULL);
        if (e->fault_layer) {
            s->probe_at = 0;
            return NULL;
        }
        kvcache_mark(&e->cache); // as the session marks after each step (h2o keeps a snapshot)
        s->probe_at = i + 1;
    }
    if (!s->probe.captured)
        return NULL;
    s->probe_step = k;
    return &s->probe;
}
