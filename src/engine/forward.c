// forward.c — the transformer's forward pass, and the counters that say what it computed.
//
// One function does all the work: engine_forward runs positions pos0 .. pos0+N-1 through every
// layer at once (matrix-matrix products for the projections and the MLP, one attention row
// per query position). The three ways kvscope computes a generation step are three calls:
//
//   prefill            engine_forward(prompt, pos0 = 0, N = prompt length, cache)
//   decode, cached     engine_forward(last token, pos0 = p, N = 1, cache): K/V of 0..p-1 are read
//   no cache           engine_forward(all tokens, pos0 = 0, N = p + 1, working memory): every key
//                      and value is computed again, nothing from an earlier step is used
//
// Counters are added by the loops that do the work: every matmul adds 2*N*in*out to the
// component it serves, every attention row adds 2*HS*(p+1) per head for scores and again for the
// weighted values. Tests hold them to flops_formula, which is DESIGN.md's table.
//
// What this file does not do: choose tokens (sampler.c), keep a history (src/sim).
#include "engine/engine.h"

#pragma GCC diagnostic ignored "-Wpsabi" // 8-wide vectors by value in static inline helpers
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const flop_component_names[FLOP_COMPONENTS] = {"qkv", "scores", "values",
                                                           "out",  "mlp",    "classifier"};

// ----------------------------------------------------------------------------------------------
// Kernels
//
// out (N, O) = x (N, I) · W(O, I)^T, the only heavy loop. Eight-wide vectors (GCC vector
// extensions: two SSE registers on a plain x86-64, one AVX register in the AVX2+FMA clone that
// the loader picks at run time where the CPU has it). Decode (N = 1) walks four weight rows at
// once against one input; prefill and no-cache passes walk one weight row against four inputs,
// so each weight row is read from memory once per four positions.

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KV_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define KV_CLONES
#endif

typedef float v8f __attribute__((vector_size(32)));

static inline v8f load8(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float hsum8(v8f v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

KV_CLONES
static void matmul(float *restrict out, const float *restrict x, const float *restrict w, int n,
                   int in, int out_dim, uint64_t *flops) {
    const int in8 = in & ~7;
    if (n == 1) {
        int o = 0;
        for (; o + 4 <= out_dim; o += 4) {
            const float *w0 = w + (size_t)o * in, *w1 = w0 + in, *w2 = w1 + in, *w3 = w2 + in;
            v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            for (int i = 0; i < in8; i += 8) {
                v8f xv = load8(x + i);
                a0 += load8(w0 + i) * xv;
                a1 += load8(w1 + i) * xv;
                a2 += load8(w2 + i) * xv;
                a3 += load8(w3 + i) * xv;
            }
            float s0 = hsum8(a0), s1 = hsum8(a1), s2 = hsum8(a2), s3 = hsum8(a3);
            for (int i = in8; i < in; i++) {
                s0 += w0[i] * x[i];
                s1 += w1[i] * x[i];
                s2 += w2[i] * x[i];
                s3 += w3[i] * x[i];
            }
            out[o] = s0, out[o + 1] = s1, out[o + 2] = s2, out[o + 3] = s3;
        }
        for (; o < out_dim; o++) {
            const float *wr = w + (size_t)o * in;
            v8f a = {0};
            for (int i = 0; i < in8; i += 8)
                a += load8(wr + i) * load8(x + i);
            float s = hsum8(a);
            for (int i = in8; i < in; i++)
                s += wr[i] * x[i];
            out[o] = s;
        }
    } else {
        for (int o = 0; o < out_dim; o++) {
            const float *wr = w + (size_t)o * in;
            int t = 0;
            for (; t + 4 <= n; t += 4) {
                const float *x0 = x + (size_t)t * in, *x1 = x0 + in, *x2 = x1 + in, *x3 = x2 + in;
                v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                for (int i = 0; i < in8; i += 8) {
                    v8f wv = load8(wr + i);
                    a0 += wv * load8(x0 + i);
                    a1 += wv * load8(x1 + i);
                    a2 += wv * load8(x2 + i);
                    a3 += wv * load8(x3 + i);
                }
                float s0 = hsum8(a0), s1 = hsum8(a1), s2 = hsum8(a2), s3 = hsum8(a3);
                for (int i = in8; i < in; i++) {
                    s0 += wr[i] * x0[i];
                    s1 += wr[i] * x1[i];
                    s2 += wr[i] * x2[i];
                    s3 += wr[i] * x3[i];
                }
                out[(size_t)t * out_dim + o] = s0;
                out[(size_t)(t + 1) * out_dim + o] = s1;
                out[(size_t)(t + 2) * out_dim + o] = s2;
                out[(size_t)(t + 3) * out_dim + o] = s3;
            }
            for (; t < n; t++) {
                const float *xr = x + (size_t)t * in;
                v8f a = {0};
                for (int i = 0; i < in8; i += 8)
                    a += load8(wr + i) * load8(xr + i);
                float s = hsum8(a);
                for (int i = in8; i < in; i++)
                    s += wr[i] * xr[i];
                out[(size_t)t * out_dim + o] = s;
            }
        }
    }
    if (flops)
        *flops += 2ull * (uint64_t)n * (uint64_t)in * (uint64_t)out_dim;
}

KV_CLONES
static float dot(const float *restrict a, const float *restrict b, int n) {
    const int n8 = n & ~7;
    v8f acc = {0};
    for (int i = 0; i < n8; i += 8)
        acc += load8(a + i) * load8(b + i);
    float s = hsum8(acc);
    for (int i = n8; i < n; i++)
        s += a[i] * b[i];
    return s;
}

// out = weight * x / sqrt(mean(x^2) + 1e-5), as llama2.c computes it
static void rmsnorm(float *out, const float *x, const float *weight, int size) {
    float ss = 0.0f;
    for (int j = 0; j < size; j++)
        ss += x[j] * x[j];
    ss /= (float)size;
    ss += 1e-5f;
    ss = 1.0f / sqrtf(ss);
    for (int j = 0; j < size; j++)
        out[j] = weight[j] * (ss * x[j]);
}

static void softmax(float *x, int size) {
    float max_val = x[0];
    for (int i = 1; i < size; i++)
        if (x[i] > max_val)
            max_val = x[i];
    float sum = 0.0f;
    for (int i = 0; i < size; i++) {
        x[i] = expf(x[i] - max_val);
        sum += x[i];
    }
    for (int i = 0; i < size; i++)
        x[i] /= sum;
}

// Rotates adjacent pairs (i, i+1) of every head of q (D wide) and k (KV wide) by pos * freq.
static void rope(float *q, float *k, int pos, int dim, int kv_dim, int head_size) {
    for (int i = 0; i < dim; i += 2) {
        float freq = 1.0f / powf(10000.0f, (float)(i % head_size) / (float)head_size);
        float val = (float)pos * freq;
        float fcr = cosf(val), fci = sinf(val);
        float q0 = q[i], q1 = q[i + 1];
        q[i] = q0 * fcr - q1 * fci;
        q[i + 1] = q0 * fci + q1 * fcr;
        if (i < kv_dim) {
            float k0 = k[i], k1 = k[i + 1];
            k[i] = k0 * fcr - k1 * fci;
            k[i + 1] = k0 * fci + k1 * fcr;
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Engine

KvStatus engine_init(Engine *e, const Model *m, KvError *err) {
    memset(e, 0, sizeof *e);
    const ModelConfig *c = &m->cfg;
    size_t t = (size_t)c->seq_len, d = (size_t)c->dim, f = (size_t)c->hidden_dim;
    size_t kv = (size_t)config_kv_dim(c), l = (size_t)c->n_layers;
    e->model = m;
    e->key_cache = kv_calloc(l * t * kv, sizeof(float));
    e->value_cache = kv_calloc(l * t * kv, sizeof(float));
    e->work_k = kv_calloc(l * t * kv, sizeof(float));
    e->work_v = kv_calloc(l * t * kv, sizeof(float));
    e->x = kv_calloc(t * d, sizeof(float));
    e->xb = kv_calloc(t * d, sizeof(float));
    e->xb2 = kv_calloc(t * d, sizeof(float));
    e->q = kv_calloc(t * d, sizeof(float));
    e->hb = kv_calloc(t * f, sizeof(float));
    e->hb2 = kv_calloc(t * f, sizeof(float));
    e->att = kv_calloc((size_t)c->n_heads * t, sizeof(float));
    e->logits = kv_calloc((size_t)c->vocab_size, sizeof(float));
    e->instrument = true;
    (void)err;
    return KV_OK;
}

void engine_free(Engine *e) {
    free(e->key_cache);
    free(e->value_cache);
    free(e->work_k);
    free(e->work_v);
    free(e->x);
    free(e->xb);
    free(e->xb2);
    free(e->q);
    free(e->hb);
    free(e->hb2);
    free(e->att);
    free(e->logits);
    memset(e, 0, sizeof *e);
}

void engine_forward(Engine *e, const int *tokens, int pos0, int n, bool use_cache, AttnSink *sink,
                    Counters *ctr) {
    const ModelConfig *c = &e->model->cfg;
    const ModelWeights *w = &e->model->w;
    const int D = c->dim, F = c->hidden_dim, KV = config_kv_dim(c), HS = config_head_size(c);
    const int H = c->n_heads, T = c->seq_len, group = c->n_heads / c->n_kv_heads;
    assert(n >= 1 && pos0 >= 0 && pos0 + n <= T);
    assert(use_cache ? pos0 <= e->cache_len : pos0 == 0);
    if (!e->instrument)
        sink = NULL, ctr = NULL;
    uint64_t *fl = ctr ? ctr->flops : NULL;
    uint64_t *f_qkv = fl ? &fl[FLOP_QKV] : NULL, *f_out = fl ? &fl[FLOP_OUT] : NULL;
    uint64_t *f_mlp = fl ? &fl[FLOP_MLP] : NULL, *f_cls = fl ? &fl[FLOP_CLS] : NULL;
    float *kbase = use_cache ? e->key_cache : e->work_k;
    float *vbase = use_cache ? e->value_cache : e->work_v;
    const float inv_sqrt_hs = 1.0f / sqrtf((float)HS);

    // x (N, D) = embedding rows of the tokens
    for (int t = 0; t < n; t++)
        memcpy(e->x + (size_t)t * D, w->token_embedding + (size_t)tokens[t] * D, D * sizeof(float));

    for (int l = 0; l < c->n_layers; l++) {
        float *kc = kbase + (size_t)l * T * KV; // (T, KV) this layer's keys
        float *vc = vbase + (size_t)l * T * KV; // (T, KV) this layer's values

        // attention: xb = rmsnorm(x); q, k, v projections; k and v go straight to their slots
        for (int t = 0; t < n; t++)
            rmsnorm(e->xb + (size_t)t * D, e->x + (size_t)t * D, w->rms_att + (size_t)l * D, D);
        matmul(e->q, e->xb, w->wq + (size_t)l * D * D, n, D, D, f_qkv);
        matmul(kc + (size_t)pos0 * KV, e->xb, w->wk + (size_t)l * KV * D, n, D, KV, f_qkv);
        matmul(vc + (size_t)pos0 * KV, e->xb, w->wv + (size_t)l * KV * D, n, D, KV, f_qkv);
        for (int t = 0; t < n; t++)
            rope(e->q + (size_t)t * D, kc + (size_t)(pos0 + t) * KV, pos0 + t, D, KV, HS);
        if (ctr)
            ctr->kv_bytes_written += 2ull * (uint64_t)n * (uint64_t)KV * sizeof(float);

        // one attention row per query position p, every head: softmax(q·k / sqrt(HS)) · v
        for (int t = 0; t < n; t++) {
            const int p = pos0 + t;
            float *out = e->xb + (size_t)t * D;
            for (int h = 0; h < H; h++) {
                const float *qh = e->q + (size_t)t * D + (size_t)h * HS;
                const int kvo = (h / group) * HS;
                float *att = e->att + (size_t)h * T;
                for (int s = 0; s <= p; s++)
                    att[s] = dot(qh, kc + (size_t)s * KV + kvo, HS) * inv_sqrt_hs;
                softmax(att, p + 1);
                float *oh = out + (size_t)h * HS;
                memset(oh, 0, HS * sizeof(float));
                for (int s = 0; s <= p; s++) {
                    const float a = att[s], *vs = vc + (size_t)s * KV + kvo;
                    for (int i = 0; i < HS; i++)
                        oh[i] += a * vs[i];
                }
                if (sink && p >= sink->row0 && p < sink->row0 + sink->rows) {
                    float *row = sink->w + (((size_t)l * H + h) * sink->rows + (p - sink->row0)) *
                                               sink->cols;
                    memcpy(row, att, (size_t)(p + 1) * sizeof(float));
                }
            }
            if (ctr) {
                ctr->flops[FLOP_SCORES] += 2ull * (uint64_t)HS * H * (uint64_t)(p + 1);
                ctr->flops[FLOP_VALUES] += 2ull * (uint64_t)HS * H * (uint64_t)(p + 1);
                ctr->kv_bytes_read += 2ull * (uint64_t)(p + 1) * (uint64_t)KV * sizeof(float);
            }
        }
        matmul(e->xb2, e->xb, w->wo + (size_t)l * D * D, n, D, D, f_out);
        for (size_t i = 0; i < (size_t)n * D; i++)
            e->x[i] += e->xb2[i];

        // MLP: x += W2 (silu(W1 xb) * W3 xb)
        for (int t = 0; t < n; t++)
            rmsnorm(e->xb + (size_t)t * D, e->x + (size_t)t * D, w->rms_ffn + (size_t)l * D, D);
        matmul(e->hb, e->xb, w->w1 + (size_t)l * F * D, n, D, F, f_mlp);
        matmul(e->hb2, e->xb, w->w3 + (size_t)l * F * D, n, D, F, f_mlp);
        for (size_t i = 0; i < (size_t)n * F; i++) {
            float v = e->hb[i];
            v *= 1.0f / (1.0f + expf(-v));
            e->hb[i] = v * e->hb2[i];
        }
        matmul(e->xb2, e->hb, w->w2 + (size_t)l * D * F, n, F, D, f_mlp);
        for (size_t i = 0; i < (size_t)n * D; i++)
            e->x[i] += e->xb2[i];
    }
    if (ctr)
        ctr->positions += (uint64_t)n;
    if (use_cache) // the cache now holds exactly positions 0 .. pos0+n-1 of this sequence
        e->cache_len = pos0 + n;

    // logits of the last position only: the one whose next token is wanted
    const float *xl = e->x + (size_t)(n - 1) * D;
    rmsnorm(e->xb, xl, w->rms_final, D);
    matmul(e->logits, e->xb, w->wcls, 1, D, c->vocab_size, f_cls);
}

int engine_step(Engine *e, const int *tokens, int len, CacheMode mode, AttnSink *sink,
                Counters *ctr) {
    assert(len >= 1 && len <= e->model->cfg.seq_len);
    if (mode == CACHE_MODE_ON) {
        int first = e->cache_len < len ? e->cache_len : len - 1;
        engine_forward(e, tokens + first, first, len - first, true, sink, ctr);
        e->cache_len = len;
        return first;
    }
    e->cache_len = 0; // a model without a cache keeps nothing between steps
    engine_forward(e, tokens, 0, len, false, sink, ctr);
    return 0;
}

// ----------------------------------------------------------------------------------------------
// Counters and their closed forms

uint64_t counters_flops(const Counters *c) {
    uint64_t s = 0;
    for (int i = 0; i < FLOP_COMPONENTS; i++)
        s += c->flops[i];
    return s;
}

void counters_add(Counters *acc, const Counters *c) {
    for (int i = 0; i < FLOP_COMPONENTS; i++)
        acc->flops[i] += c->flops[i];
    acc->kv_bytes_written += c->kv_bytes_written;
    acc->kv_bytes_read += c->kv_bytes_read;
    acc->positions += c->positions;
}

void flops_formula(const ModelConfig *c, int pos0, int n, int logits,
                   uint64_t out[FLOP_COMPONENTS]) {
    const uint64_t d = (uint64_t)c->dim, kv = (uint64_t)config_kv_dim(c);
    const uint64_t f = (uint64_t)c->hidden_dim, l = (uint64_t)c->n_layers;
    const uint64_t un = (uint64_t)n;
    // sum over p = pos0 .. pos0+n-1 of (p + 1)
    const uint64_t span = un * (uint64_t)pos0 + un * (un + 1) / 2;
    out[FLOP_QKV] = l * un * (2 * d * d + 2 * 2 * d * kv);
    out[FLOP_SCORES] = l * 2 * d * span;
    out[FLOP_VALUES] = l * 2 * d * span;
    out[FLOP_OUT] = l * un * 2 * d * d;
    out[FLOP_MLP] = l * un * 3 * 2 * d * f;
    out[FLOP_CLS] = (uint64_t)logits * 2 * d * (uint64_t)c->vocab_size;
}

static uint64_t formula_total(const ModelConfig *c, int pos0, int n, int logits) {
    uint64_t f[FLOP_COMPONENTS];
    flops_formula(c, pos0, n, logits, f);
    uint64_t s = 0;
    for (int i = 0; i < FLOP_COMPONENTS; i++)
        s += f[i];
    return s;
}

uint64_t flops_formula_run(const ModelConfig *c, bool cache, int n_prompt, int steps) {
    if (steps <= 0)
        return 0;
    if (cache) // prefill of the prompt, then one position per step
        return formula_total(c, 0, n_prompt + steps - 1, steps);
    uint64_t s = 0; // step k recomputes the whole sequence of n_prompt + k tokens
    for (int k = 0; k < steps; k++)
        s += formula_total(c, 0, n_prompt + k, 1);
    return s;
}
