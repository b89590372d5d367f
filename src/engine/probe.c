// probe.c — the attention probe: one query head of one layer at one position, recorded as the
// forward pass computes it, for the inspector (src/view/inspect.c). What the pass computes is not
// changed by a probe, and a pass without one (Engine.probe NULL, the default) does nothing here.
//
// What the probe keeps is the pass's own: the rotated query, the rows kvcache_head gave attention
// (so a quantized cache's dequantized keys, the rotated keys of sinks), the softmax weights and
// the weighted sum out of kernel_attend. The kernel computes the scores inside its softmax and
// keeps none; the probe computes them from that same query and those same rows, in the order
// written here (sum over i of q[i] * k[i], times 1/sqrt(HS)).
#include "engine/probe.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void attn_probe_init(AttnProbe *p, const ModelConfig *c, int capacity) {
    memset(p, 0, sizeof *p);
    const size_t hs = (size_t)config_head_size(c), n = (size_t)capacity;
    p->capacity = capacity;
    p->head_size = (int)hs;
    p->q = kv_calloc(hs, sizeof(float));
    p->out = kv_calloc(hs, sizeof(float));
    p->keys = kv_calloc(n * hs, sizeof(float));
    p->values = kv_calloc(n * hs, sizeof(float));
    p->row_pos = kv_calloc(n, sizeof(int));
    p->scores = kv_calloc(n, sizeof(float));
    p->weights = kv_calloc(n, sizeof(float));
    p->layer = p->head = p->pos = -1;
}

void attn_probe_free(AttnProbe *p) {
    free(p->q);
    free(p->out);
    free(p->keys);
    free(p->values);
    free(p->row_pos);
    free(p->scores);
    free(p->weights);
    memset(p, 0, sizeof *p);
}

void attn_probe_arm(AttnProbe *p, int layer, int head, int pos) {
    p->layer = layer;
    p->head = head;
    p->pos = pos;
    p->captured = false;
    p->n = 0;
}

AttnProbe *engine_set_probe(Engine *e, AttnProbe *p) {
    AttnProbe *was = e->probe;
    e->probe = p;
    return was;
}

void attn_probe_record(AttnProbe *p, const KvHeadRows *kv, int kv_head, const float *q,
                       const float *weights, const float *out, float scale) {
    const int hs = p->head_size, n = kv->n;
    assert(n <= p->capacity);
    p->kv_head = kv_head;
    p->n = n;
    p->scale = scale;
    memcpy(p->q, q, (size_t)hs * sizeof *q);
    memcpy(p->out, out, (size_t)hs * sizeof *out);
    memcpy(p->weights, weights, (size_t)n * sizeof *weights);
    for (int i = 0; i < n; i++) {
        const float *k = kv->keys + (size_t)i * kv->stride,
                    *v = kv->values + (size_t)i * kv->stride;
        memcpy(p->keys + (size_t)i * hs, k, (size_t)hs * sizeof *k);
        memcpy(p->values + (size_t)i * hs, v, (size_t)hs * sizeof *v);
        p->row_pos[i] = kv->pos ? kv->pos[i] : i;
        float dot = 0.0f;
        for (int j = 0; j < hs; j++)
            dot += q[j] * k[j];
        p->scores[i] = dot * scale;
    }
    p->captured = true;
}
