// batch.c — one forward pass over the rows of many sequences at once: what a server runs each
// step for every request it is decoding (and for a prompt it admits), with one stream of the
// weights for all of them.
//
// Row r of a pass is position pos[r] of the sequence whose KV cache is cache[r]. The matrix
// products take every row together (kernel_matmul over N rows reads each weight once per tile of
// rows, not once per row), and attention gives each row its own sequence: row r stores its key
// and value in its own cache and reads only that cache's positions 0 .. pos[r]. The kernels fix
// their order of summation by the shapes alone, so a row gives the same bits here as in a pass of
// its own (engine_forward): batching changes the time, never a logit (tests hold it to that).
//
// What this file does not do: instrument attention for the picture (engine_forward does, for one
// sequence), bounded retention (a server's caches are full; kvcache_pass_max is not split here),
// choose which sequences run (src/sim/serve.c).
#include "engine/engine.h"
#include "engine/kernels.h"
#include "engine/pass.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void batch_init(EngineBatch *b, const ModelConfig *c) {
    memset(b, 0, sizeof *b);
    b->att = kv_calloc((size_t)c->n_heads * (size_t)c->seq_len, sizeof *b->att);
}

// Buffers for n rows and s sequences (grown, never shrunk).
static void batch_reserve(EngineBatch *b, const ModelConfig *c, int n, int s) {
    const size_t d = (size_t)c->dim, f = (size_t)c->hidden_dim, kv = (size_t)config_kv_dim(c);
    if (n > b->rows) {
        const size_t t = (size_t)n;
        free(b->x), free(b->xb), free(b->xb2), free(b->qkv), free(b->hb), free(b->hb2);
        b->x = kv_calloc(t * d, sizeof(float));
        b->xb = kv_calloc(t * d, sizeof(float));
        b->xb2 = kv_calloc(t * d, sizeof(float));
        b->qkv = kv_calloc(t * (d + 2 * kv), sizeof(float));
        b->hb = kv_calloc(t * 2 * f, sizeof(float));
        b->hb2 = kv_calloc(t * f, sizeof(float));
        b->rows = n;
    }
    if (s > b->seqs) {
        free(b->logits), free(b->last);
        b->logits = kv_calloc((size_t)s * (size_t)c->vocab_size, sizeof(float));
        b->last = kv_calloc((size_t)s * d, sizeof(float));
        b->seqs = s;
    }
}

void batch_free(EngineBatch *b) {
    free(b->x), free(b->xb), free(b->xb2), free(b->qkv), free(b->hb), free(b->hb2);
    free(b->att), free(b->logits), free(b->last);
    memset(b, 0, sizeof *b);
}

// out (N, O), rows `ostride` apart, = x (N, I) · W (O, I)^T, counted as 2 N I O FLOPs: the
// engine's own product, which streams each weight row once for all N rows and gives every row the
// bits it gets in a pass of its own (forward.c relies on the same for cache against no cache).
static void product(const Engine *e, float *out, size_t ostride, const float *x, const void *w,
                    int n, int in, int out_dim, uint64_t *flops) {
    kernel_matmul((KernelIsa)e->isa, e->pool, out, ostride, x, w, e->packed_bf16, n, in, out_dim,
                  e->wide);
    if (flops)
        *flops += 2ull * (uint64_t)n * (uint64_t)in * (uint64_t)out_dim;
}

// The first row of x (n rows of `width`) that holds a value that is not finite, or -1.
static int first_bad_row(const float *x, int n, int width) {
    for (int t = 0; t < n; t++)
        for (int i = 0; i < width; i++)
            if (!isfinite(x[(size_t)t * width + i]))
                return t;
    return -1;
}

// Rows r0 .. of one sequence: the first row of the next one (or n).
static int segment_end(KvCache *const *cache, int n, int r0) {
    int r = r0 + 1;
    while (r < n && cache[r] == cache[r0])
        r++;
    return r;
}

int engine_forward_batch(Engine *e, EngineBatch *b, KvCache *const *cache, const int *tokens,
                         const int *pos, int n, Counters *ctr) {
    const ModelConfig *c = &e->model->cfg;
    const ModelWeights *w = &e->model->w;
    const int D = c->dim, F = c->hidden_dim, KV = config_kv_dim(c), HS = config_head_size(c);
    const int T = c->seq_len, group = c->n_heads / c->n_kv_heads, QKV = D + 2 * KV;
    const float inv_sqrt_hs = 1.0f / sqrtf((float)HS);
    assert(n >= 1);
    int s = 0; // sequences: each a run of rows at consecutive positions from its cache's length
    for (int r = 0; r < n; r = segment_end(cache, n, r), s++) {
        const int end = segment_end(cache, n, r);
        assert(pos[r] == kvcache_len(cache[r]) && pos[end - 1] < T);
        for (int k = r + 1; k < end; k++)
            assert(pos[k] == pos[k - 1] + 1);
    }
    batch_reserve(b, c, n, s);
    e->fault_layer = 0;
    e->fault_pos = -1;
    uint64_t *fl = ctr ? ctr->flops : NULL;
    for (int r = 0; r < n; r = segment_end(cache, n, r))
        kvcache_begin(cache[r], pos[r], segment_end(cache, n, r) - r);
    for (int t = 0; t < n; t++)
        memcpy(b->x + (size_t)t * D, w->token_embedding + (size_t)tokens[t] * D, D * sizeof(float));

    for (int l = 0; l < c->n_layers; l++) {
        const size_t l_dd = (size_t)l * D * D, l_kd = (size_t)l * KV * D, l_fd = (size_t)l * F * D;
        const MatrixWeights *mw = &e->mw;
        for (int t = 0; t < n; t++)
            kernel_rmsnorm(b->xb + (size_t)t * D, b->x + (size_t)t * D, w->rms_att + (size_t)l * D,
                           D);
        uint64_t *f_qkv = fl ? &fl[FLOP_QKV] : NULL, *f_mlp = fl ? &fl[FLOP_MLP] : NULL;
        product(e, b->qkv, QKV, b->xb, engine_mat_at(e, mw->wq, l_dd), n, D, D, f_qkv);
        product(e, b->qkv + D, QKV, b->xb, engine_mat_at(e, mw->wk, l_kd), n, D, KV, f_qkv);
        product(e, b->qkv + D + KV, QKV, b->xb, engine_mat_at(e, mw->wv, l_kd), n, D, KV, f_qkv);
        for (int t = 0; t < n; t++) { // rotate, then every row's k and v into its own cache
            float *q = b->qkv + (size_t)t * QKV;
            kernel_rope(q, q + D, e->rope + (size_t)pos[t] * HS, D, KV, HS);
            const uint64_t stored = kvcache_store(cache[t], l, pos[t], q + D, q + D + KV);
            if (ctr)
                ctr->kv_bytes_written += stored;
        }
        for (int t = 0; t < n; t++) { // attention: row t over its sequence's positions 0 .. pos
            float *out = b->xb + (size_t)t * D;
            for (int g = 0; g < c->n_kv_heads; g++) {
                // read where the cache keeps them (a paged cache: in its blocks, by the row map),
                // or as floats (gathered) when the engine is told so (bench serve compares both)
                const KvHeadRows kv = e->attend_packed ? kvcache_head_stored(cache[t], l, g, pos[t])
                                                       : kvcache_head(cache[t], l, g, pos[t]);
                const KernelRows kr = engine_kernel_rows(&kv.k), vr = engine_kernel_rows(&kv.v);
                for (int h = g * group; h < (g + 1) * group; h++) {
                    kernel_attend_rows(out + (size_t)h * HS, b->att + (size_t)h * T,
                                       b->qkv + (size_t)t * QKV + (size_t)h * HS, &kr, &vr, HS,
                                       kv.n, inv_sqrt_hs);
                    if (ctr) {
                        ctr->flops[FLOP_SCORES] += 2ull * (uint64_t)HS * (uint64_t)kv.n;
                        ctr->flops[FLOP_VALUES] += 2ull * (uint64_t)HS * (uint64_t)kv.n;
                    }
                }
                if (ctr)
                    ctr->kv_bytes_read += kv.bytes;
            }
        }
        product(e, b->xb2, D, b->xb, engine_mat_at(e, mw->wo, l_dd), n, D, D,
                fl ? &fl[FLOP_OUT] : NULL);
        for (size_t i = 0; i < (size_t)n * D; i++)
            b->x[i] += b->xb2[i];
        for (int t = 0; t < n; t++)
            kernel_rmsnorm(b->xb + (size_t)t * D, b->x + (size_t)t * D, w->rms_ffn + (size_t)l * D,
                           D);
        product(e, b->hb, 2 * (size_t)F, b->xb, engine_mat_at(e, mw->w1, l_fd), n, D, F, f_mlp);
        product(e, b->hb + F, 2 * (size_t)F, b->xb, engine_mat_at(e, mw->w3, l_fd), n, D, F, f_mlp);
        for (int t = 0; t < n; t++) {
            const float *h1 = b->hb + (size_t)t * 2 * F;
            kernel_swiglu(b->hb2 + (size_t)t * F, h1, h1 + F, F);
        }
        product(e, b->xb2, D, b->hb2, engine_mat_at(e, mw->w2, l_fd), n, F, D, f_mlp);
        for (size_t i = 0; i < (size_t)n * D; i++)
            b->x[i] += b->xb2[i];
        const int bad = first_bad_row(b->x, n, D);
        if (bad >= 0) { // a model that overflows: no sequence advances (engine_fault says where)
            e->fault_layer = l + 1;
            e->fault_pos = pos[bad];
            for (int r = 0; r < n; r = segment_end(cache, n, r))
                kvcache_abandon(cache[r]);
            return -1;
        }
    }
    if (ctr)
        ctr->positions += (uint64_t)n;
    // logits (S, V) of each sequence's last row, every sequence through the classifier together
    int k = 0;
    for (int r = 0; r < n; r = segment_end(cache, n, r), k++) {
        kvcache_end(cache[r]);
        const int last = segment_end(cache, n, r) - 1;
        kernel_rmsnorm(b->last + (size_t)k * D, b->x + (size_t)last * D, w->rms_final, D);
    }
    product(e, b->logits, (size_t)c->vocab_size, b->last, e->mw.wcls, s, D, c->vocab_size,
            ctr ? &ctr->flops[FLOP_CLS] : NULL);
    const int bad = first_bad_row(b->logits, s, c->vocab_size);
    if (bad < 0)
        return s;
    e->fault_layer = c->n_layers + 1;
    e->fault_pos = -1;
    return -1;
}
