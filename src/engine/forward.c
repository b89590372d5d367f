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
// Keys and values live in a KvCache (kvcache.c): the pass stores each position's k and v there
// and attends over the rows the cache gives each kv head; it never computes an address. With the
// cache off, the same code runs on the engine's scratch KvCache, which every pass starts empty.
//
// Counters are added by the loops that do the work: every matmul adds 2*N*in*out to the
// component it serves, every attention row adds 2*HS per key it reads, per head, for scores and
// again for the weighted values (2*HS*(p+1) under full retention), and the bytes the cache says
// it stored and gave to attention. Tests hold them to flops_formula, which is DESIGN.md's table.
//
// What this file does not do: the arithmetic of each operation (kernels.c: matrix products,
// attention, RMSNorm, RoPE), choose tokens (sampler.c), keep a history (src/sim).
#define _GNU_SOURCE // sched_getaffinity: the processors this process may run on
#include "engine/engine.h"
#include "engine/kernels.h"
#include "engine/pass.h"
#include "engine/probe.h"

#include <assert.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const flop_component_names[FLOP_COMPONENTS] = {"qkv", "scores", "values",
                                                           "out", "mlp",    "classifier"};

// ----------------------------------------------------------------------------------------------
// Matrix products, counted

// out (N, O), rows `ostride` apart, = x (N, I) · W (O, I)^T on the engine's threads, counted as
// 2 N I O FLOPs in *flops.
static void matmul(Engine *e, float *restrict out, size_t ostride, const float *restrict x,
                   const void *w, int n, int in, int out_dim, uint64_t *flops) {
    kernel_matmul((KernelIsa)e->isa, e->pool, out, ostride, x, w, e->packed_bf16, n, in, out_dim,
                  e->wide);
    if (flops)
        *flops += 2ull * (uint64_t)n * (uint64_t)in * (uint64_t)out_dim;
}

// ----------------------------------------------------------------------------------------------
// Engine

bool engine_pack(Engine *e, bool allow_bf16) {
    model_matrices_release(e->model, &e->mw);
    model_matrices(e->model, allow_bf16, &e->mw);
    e->packed_bf16 = e->mw.bf16;
    return e->packed_bf16;
}

size_t engine_packed_bytes(const Engine *e) {
    return model_matrix_floats(e->model) * (e->packed_bf16 ? sizeof(uint16_t) : sizeof(float));
}

bool engine_set_instrument(Engine *e, bool on) {
    const bool was = e->instrument;
    e->instrument = on;
    return was;
}

bool engine_set_attend_packed(Engine *e, bool on) {
    const bool was = e->attend_packed;
    e->attend_packed = on;
    return was;
}

KernelRows engine_kernel_rows(const KvStoredRows *s) {
    static const KernelFormat format[KV_PRECISIONS] = {
        [KV_PRECISION_F32] = KERNEL_F32,
        [KV_PRECISION_BF16] = KERNEL_BF16,
        [KV_PRECISION_INT8] = KERNEL_INT8,
        [KV_PRECISION_INT4] = KERNEL_INT4,
    };
    assert(s->precision == KV_PRECISION_F32 || format[s->precision] != KERNEL_F32);
    return (KernelRows){.data = s->data,
                        .stride = s->stride,
                        .scale = s->scale,
                        .lo = s->lo,
                        .format = format[s->precision],
                        .map = s->map};
}

#define ENGINE_MAX_THREADS 64

const void *engine_mat_at(const Engine *e, const void *w, size_t i) {
    return (const char *)w + i * (e->packed_bf16 ? sizeof(uint16_t) : sizeof(float));
}

static size_t wide_floats(const ModelConfig *c, int threads) {
    const size_t d = (size_t)c->dim, f = (size_t)c->hidden_dim;
    return (size_t)threads * KERNEL_WIDE_ROWS * (d > f ? d : f);
}

// Scores of one query position for every head, one set per thread: (threads, H, T).
static size_t att_floats(const ModelConfig *c, int threads) {
    return (size_t)threads * (size_t)c->n_heads * (size_t)c->seq_len;
}

int engine_set_threads(Engine *e, int n) {
    assert(n >= 1);
    n = n < ENGINE_MAX_THREADS ? n : ENGINE_MAX_THREADS;
    if (n == e->threads)
        return n;
    pool_free(e->pool);
    e->pool = pool_new(n);
    e->threads = pool_size(e->pool);
    free(e->wide);
    e->wide = kv_malloc_aligned(wide_floats(&e->model->cfg, e->threads) * sizeof(float));
    free(e->att);
    e->att = kv_calloc(att_floats(&e->model->cfg, e->threads), sizeof(float));
    return e->threads;
}

const char *engine_isa_name(const Engine *e) {
    return kernel_isa_name((KernelIsa)e->isa);
}

int engine_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        n = CPU_COUNT(&set);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

// The activation buffers hold at least n positions: grown (never shrunk) to the largest pass,
// so a run allocates what it uses, not a whole context's worth up front.
static void ensure_rows(Engine *e, int n) {
    if (n <= e->rows)
        return;
    const ModelConfig *c = &e->model->cfg;
    const size_t t = (size_t)n, d = (size_t)c->dim, f = (size_t)c->hidden_dim;
    const size_t kv = (size_t)config_kv_dim(c);
    free(e->x), free(e->xb), free(e->xb2), free(e->qkv), free(e->hb), free(e->hb2);
    e->x = kv_calloc(t * d, sizeof(float));
    e->xb = kv_calloc(t * d, sizeof(float));
    e->xb2 = kv_calloc(t * d, sizeof(float));
    e->qkv = kv_calloc(t * (d + 2 * kv), sizeof(float));
    e->hb = kv_calloc(t * 2 * f, sizeof(float));
    e->hb2 = kv_calloc(t * f, sizeof(float));
    e->rows = n;
}

// RoPE: for each position and pair (i, i+1) of a head, cos and sin of pos * freq_i, with
// freq_i = 10000^(-i/HS) computed as llama2.c computes it (the same floats, once), for positions
// 0 .. n-1. The model's context at engine_init; a rolling window that runs past the context
// (window:W) grows it: its keys are rotated at their absolute positions, and a query at p meets
// keys of positions p-W+1 .. p only, so every angle between a query and a key it reads is one the
// model was trained on (RoPE's score depends on p - j alone).
static void ensure_rope(Engine *e, int n) {
    if (n <= e->rope_len)
        return;
    const int hs = config_head_size(&e->model->cfg);
    int cap = e->rope_len ? e->rope_len : n;
    while (cap < n)
        cap *= 2;
    e->rope = kv_realloc(e->rope, (size_t)cap * (size_t)hs * sizeof(float));
    for (size_t pos = (size_t)e->rope_len; pos < (size_t)cap; pos++)
        for (int i = 0; i < hs; i += 2) {
            float freq = 1.0f / powf(10000.0f, (float)i / (float)hs);
            float val = (float)pos * freq;
            e->rope[pos * (size_t)hs + (size_t)i] = cosf(val);
            e->rope[pos * (size_t)hs + (size_t)i + 1] = sinf(val);
        }
    e->rope_len = cap;
    e->cache.rope = e->rope;
}

KvStatus engine_init(Engine *e, const Model *m, KvError *err) {
    memset(e, 0, sizeof *e);
    const ModelConfig *c = &m->cfg;
    size_t t = (size_t)c->seq_len, v = (size_t)c->vocab_size;
    e->model = m;
    e->isa = (int)kernel_isa_best();
    e->threads = 1;
    engine_pack(e, true);
    kvcache_init(&e->cache, c, KV_CACHE_DENSE, false);
    kvcache_init(&e->work, c, KV_CACHE_DENSE, true);
    ensure_rows(e, 1); // a decode step's; a longer pass grows them (engine_forward)
    e->att = kv_calloc(att_floats(c, 1), sizeof(float));
    e->logits = kv_calloc(v, sizeof(float));
    e->wide = kv_malloc_aligned(wide_floats(c, 1) * sizeof(float));
    ensure_rope(e, (int)t);
    e->instrument = true;
    e->attend_packed = true;
    (void)err;
    return KV_OK;
}

bool engine_set_cache_kind(Engine *e, KvCacheKind kind) {
    if (kv_kind_equal(kind, e->cache.kind))
        return false;
    kvcache_free(&e->cache);
    kvcache_init(&e->cache, &e->model->cfg, kind, false);
    e->cache.rope = e->rope;
    return true;
}

void engine_free(Engine *e) {
    model_matrices_release(e->model, &e->mw);
    pool_free(e->pool);
    kvcache_free(&e->cache);
    kvcache_free(&e->work);
    free(e->x);
    free(e->xb);
    free(e->xb2);
    free(e->qkv);
    free(e->hb);
    free(e->hb2);
    free(e->att);
    free(e->logits);
    free(e->wide);
    free(e->rope);
    memset(e, 0, sizeof *e);
}

// The first of rows 0..n-1 (each `width` floats) holding a value that is not a finite number,
// or -1. An integer OR over the exponent bits: cheap beside the products that made the rows.
static int first_nonfinite_row(const float *x, int n, int width) {
    for (int t = 0; t < n; t++) {
        const float *row = x + (size_t)t * width;
        uint32_t bad = 0;
        for (int i = 0; i < width; i++) {
            uint32_t u;
            memcpy(&u, row + i, sizeof u);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
        }
        if (bad)
            return t;
    }
    return -1;
}

// ----------------------------------------------------------------------------------------------
// The forward pass

// Attention of one layer for the pass's query positions: items (t, g), t < N, g < HKV, in
// order, item k = t * HKV + g; chunk c is items c * per .. (c + 1) * per - 1, run with its
// thread's own scores buffer and counters (summed by the caller: integer sums, the same totals
// whoever ran what).
typedef struct {
    Engine *e;
    KvCache *kc;
    AttnSink *sink;
    int l, pos0, n, per;
    uint64_t flops[ENGINE_MAX_THREADS]; // scores (and as many for values) per thread
    uint64_t bytes[ENGINE_MAX_THREADS]; // cache bytes read per thread
} AttendJob;

// Threads may share a layer's attention when reading the cache changes nothing in it: f32 rows
// under full or windowed retention in the contiguous layout (h2o adds to scores, sinks rotates
// keys into one buffer, the quantized kinds dequantize into one and a paged cache extends its
// row map, as they read).
static bool attend_parallel(const KvCache *kc) {
    return kc->kind.precision == KV_PRECISION_F32 && !kc->paged &&
           (kc->kind.retention == KV_RETAIN_FULL || kc->kind.retention == KV_RETAIN_WINDOW);
}

static void attend_chunk(void *arg, int chunk, int thread) {
    AttendJob *j = arg;
    Engine *e = j->e;
    KvCache *kc = j->kc;
    AttnSink *sink = j->sink;
    const ModelConfig *c = &e->model->cfg;
    const int D = c->dim, KV = config_kv_dim(c), HS = config_head_size(c), l = j->l;
    const int H = c->n_heads, T = c->seq_len, HKV = c->n_kv_heads, group = H / HKV;
    const int QKV = D + 2 * KV, items = j->n * HKV;
    const float inv_sqrt_hs = 1.0f / sqrtf((float)HS);
    float *att0 = e->att + (size_t)thread * H * T; // (H, T) this thread's scores
    uint64_t flops = 0, bytes = 0;
    const int k1 = (chunk + 1) * j->per < items ? (chunk + 1) * j->per : items;
    for (int k = chunk * j->per; k < k1; k++) {
        const int t = k / HKV, g = k % HKV, p = j->pos0 + t;
        float *out = e->xb + (size_t)t * D; // (D) every head's weighted values
        // (kv.n, HS) keys and values, packed where the cache packs them
        const KvHeadRows kv =
            e->attend_packed ? kvcache_head_stored(kc, l, g, p) : kvcache_head(kc, l, g, p);
        const KernelRows kr = engine_kernel_rows(&kv.k), vr = engine_kernel_rows(&kv.v);
        for (int h = g * group; h < (g + 1) * group; h++) {
            const float *qh = e->qkv + (size_t)t * QKV + (size_t)h * HS; // (HS)
            float *att = att0 + (size_t)h * T;                           // (kv.n)
            kernel_attend_rows(out + (size_t)h * HS, att, qh, &kr, &vr, HS, kv.n, inv_sqrt_hs);
            if (e->probe && l == e->probe->layer && h == e->probe->head && p == e->probe->pos) {
                // the inspector's numbers (probe.c), from the rows as floats: packed rows read
                // back give the bits the kernel computed with
                const KvHeadRows f = kv.keys && kv.values ? kv : kvcache_head(kc, l, g, p);
                attn_probe_record(e->probe, &f, g, qh, att, out + (size_t)h * HS, inv_sqrt_hs);
            }
            kvcache_observe(kc, l, g, att, kv.n); // h2o: attention received
            if (sink && p >= sink->row0 && p < sink->row0 + sink->rows) {
                float *row =
                    sink->w + (((size_t)l * H + h) * sink->rows + (p - sink->row0)) * sink->cols;
                if (!kv.pos) { // row i is position i
                    memcpy(row, att, (size_t)kv.n * sizeof(float));
                } else { // row i is position kv.pos[i]; positions not read get 0
                    memset(row, 0, (size_t)sink->cols * sizeof(float));
                    for (int i = 0; i < kv.n; i++)
                        if (kv.pos[i] < sink->cols)
                            row[kv.pos[i]] = att[i];
                }
            }
            flops += 2ull * (uint64_t)HS * (uint64_t)kv.n;
        }
        bytes += kv.bytes; // each kv head's rows once, however many query heads share them
    }
    j->flops[thread] += flops;
    j->bytes[thread] += bytes;
}

// One pass of the layers over positions pos0 .. pos0+n-1 through cache kc, as many as kc can
// store at once (kvcache_pass_max). Leaves the last position's final residual in x row n-1.
// Returns false when a layer's output was not finite (fault_layer and fault_pos set).
static bool forward_layers(Engine *e, KvCache *kc, const int *tokens, int pos0, int n,
                           AttnSink *sink, Counters *ctr) {
    const ModelConfig *c = &e->model->cfg;
    const ModelWeights *w = &e->model->w;
    const int D = c->dim, F = c->hidden_dim, KV = config_kv_dim(c), HS = config_head_size(c);
    const int QKV = D + 2 * KV;
    uint64_t *fl = ctr ? ctr->flops : NULL;
    uint64_t *f_qkv = fl ? &fl[FLOP_QKV] : NULL, *f_out = fl ? &fl[FLOP_OUT] : NULL;
    uint64_t *f_mlp = fl ? &fl[FLOP_MLP] : NULL;
    kvcache_begin(kc, pos0, n);
    const bool rotate_keys = kvcache_rotates_on_store(kc);

    // x (N, D) = the embedding rows of the tokens: the residual stream every layer adds to
    for (int t = 0; t < n; t++)
        memcpy(e->x + (size_t)t * D, w->token_embedding + (size_t)tokens[t] * D, D * sizeof(float));

    for (int l = 0; l < c->n_layers; l++) {
        const size_t l_dd = (size_t)l * D * D, l_kd = (size_t)l * KV * D, l_fd = (size_t)l * F * D;
        const MatrixWeights *mw = &e->mw;

        // attention, 1: xb (N, D) = rmsnorm(x); qkv (N, D + 2 KV) = each position's query (D),
        // key (KV) and value (KV): xb · Wq^T, xb · Wk^T, xb · Wv^T side by side in one row; q and
        // k rotated by their positions
        for (int t = 0; t < n; t++)
            kernel_rmsnorm(e->xb + (size_t)t * D, e->x + (size_t)t * D, w->rms_att + (size_t)l * D,
                           D);
        matmul(e, e->qkv, QKV, e->xb, engine_mat_at(e, mw->wq, l_dd), n, D, D, f_qkv);
        matmul(e, e->qkv + D, QKV, e->xb, engine_mat_at(e, mw->wk, l_kd), n, D, KV, f_qkv);
        matmul(e, e->qkv + D + KV, QKV, e->xb, engine_mat_at(e, mw->wv, l_kd), n, D, KV, f_qkv);
        // (sinks: keys go in unrotated, the cache rotates them by their index when they are
        // read, and the query turns by its own index in the cache)
        for (int t = 0; t < n; t++) {
            float *q = e->qkv + (size_t)t * QKV;
            if (rotate_keys)
                kernel_rope(q, q + D, e->rope + (size_t)(pos0 + t) * HS, D, KV, HS);
            else
                kernel_rope(q, q + D, e->rope + (size_t)kvcache_query_rotation(kc, pos0 + t) * HS,
                            D, 0, HS);
        }
        // attention, 2: each position's k (KV) and v (KV) into the cache, every kv head's slice
        // (HS) to its slot
        for (int t = 0; t < n; t++) {
            const float *k = e->qkv + (size_t)t * QKV + D, *v = k + KV;
            const uint64_t stored = kvcache_store(kc, l, pos0 + t, k, v);
            if (ctr)
                ctr->kv_bytes_written += stored;
        }

        // attention, 3: one row per query position p and head h, over the keys and values the
        // cache gives h's kv head g = h / group: att (kv.n) = softmax(q · k / sqrt(HS)),
        // xb (HS of head h) = att · v. The (position, kv head) pairs are independent: split
        // between the threads where reading the cache changes nothing in it (attend_parallel)
        const int items = n * c->n_kv_heads;
        AttendJob job = {e, kc, sink, l, pos0, n, items, {0}, {0}};
        if (e->pool && attend_parallel(kc) && items > 1) {
            job.per = (items + 63) / 64; // at most 64 chunks
            pool_run(e->pool, (items + job.per - 1) / job.per, attend_chunk, &job);
        } else {
            attend_chunk(&job, 0, 0);
        }
        if (ctr)
            for (int i = 0; i < e->threads; i++) {
                ctr->flops[FLOP_SCORES] += job.flops[i];
                ctr->flops[FLOP_VALUES] += job.flops[i];
                ctr->kv_bytes_read += job.bytes[i];
            }
        // attention, 4: x (N, D) += xb · Wo^T
        matmul(e, e->xb2, D, e->xb, engine_mat_at(e, mw->wo, l_dd), n, D, D, f_out);
        for (size_t i = 0; i < (size_t)n * D; i++)
            e->x[i] += e->xb2[i];

        // MLP: xb (N, D) = rmsnorm(x); hb (N, 2 F) = xb · [W1; W3]^T in one product;
        // hb2 (N, F) = silu(W1 xb) * W3 xb; x (N, D) += hb2 · W2^T
        for (int t = 0; t < n; t++)
            kernel_rmsnorm(e->xb + (size_t)t * D, e->x + (size_t)t * D, w->rms_ffn + (size_t)l * D,
                           D);
        matmul(e, e->hb, 2 * (size_t)F, e->xb, engine_mat_at(e, mw->w1, l_fd), n, D, F, f_mlp);
        matmul(e, e->hb + F, 2 * (size_t)F, e->xb, engine_mat_at(e, mw->w3, l_fd), n, D, F, f_mlp);
        for (int t = 0; t < n; t++) {
            const float *h1 = e->hb + (size_t)t * 2 * F; // (F) W1 x, then (F) W3 x
            kernel_swiglu(e->hb2 + (size_t)t * F, h1, h1 + F, F);
        }
        matmul(e, e->xb2, D, e->hb2, engine_mat_at(e, mw->w2, l_fd), n, F, D, f_mlp);
        for (size_t i = 0; i < (size_t)n * D; i++)
            e->x[i] += e->xb2[i];
        // a model with huge weights overflows: stop at the first layer whose output is not
        // finite (every later value would be meaningless), keeping the cache as it was
        const int bad = first_nonfinite_row(e->x, n, D);
        if (bad >= 0) {
            e->fault_layer = l + 1;
            e->fault_pos = pos0 + bad;
            kvcache_abandon(kc);
            return false;
        }
    }
    if (ctr)
        ctr->positions += (uint64_t)n;
    kvcache_end(kc); // the cache (or working memory) now holds positions 0 .. pos0+n-1
    return true;
}

void engine_forward(Engine *e, const int *tokens, int pos0, int n, bool use_cache, AttnSink *sink,
                    Counters *ctr) {
    const ModelConfig *c = &e->model->cfg;
    const ModelWeights *w = &e->model->w;
    const int D = c->dim, T = c->seq_len;
    // the cache, or the working memory of a no-cache pass (which starts empty: kvcache_begin)
    KvCache *kc = use_cache ? &e->cache : &e->work;
    assert(n >= 1 && pos0 >= 0);
    ensure_rows(e, n);
    assert(pos0 + n <= T || kv_kind_unbounded_positions(kc->kind));
    ensure_rope(e, pos0 + n);
    if (!e->instrument)
        sink = NULL, ctr = NULL;
    uint64_t *f_cls = ctr ? &ctr->flops[FLOP_CLS] : NULL;
    e->fault_layer = 0;
    e->fault_pos = -1;
    // as many positions per pass as the cache can store at once: a bounded retention takes one
    // position per pass once it evicts (each query must find its own window or heavy hitters)
    int m = 0; // positions in the last pass (x holds their residual streams)
    for (int done = 0; done < n; done += m) {
        m = kvcache_pass_max(kc, pos0 + done);
        m = m < n - done ? m : n - done;
        if (!forward_layers(e, kc, tokens + done, pos0 + done, m, sink, ctr)) {
            kvcache_truncate(kc, pos0);
            return;
        }
    }

    // logits (V) = rmsnorm(x of the last position) · Wcls^T: only the position whose next token
    // is wanted
    const float *xl = e->x + (size_t)(m - 1) * D;
    kernel_rmsnorm(e->xb, xl, w->rms_final, D);
    matmul(e, e->logits, (size_t)c->vocab_size, e->xb, e->mw.wcls, 1, D, c->vocab_size, f_cls);
    if (first_nonfinite_row(e->logits, 1, c->vocab_size) >= 0) {
        e->fault_layer = c->n_layers + 1;
        e->fault_pos = pos0 + n - 1;
        kvcache_truncate(kc, pos0);
    }
}

int engine_step(Engine *e, const int *tokens, int len, CacheMode mode, AttnSink *sink,
                Counters *ctr) {
    assert(len >= 1);
    assert(len <= e->model->cfg.seq_len ||
           (mode == CACHE_MODE_ON && kv_kind_unbounded_positions(e->cache.kind)));
    if (mode == CACHE_MODE_ON) {
        const int held = kvcache_len(&e->cache);
        int first = held < len ? held : len - 1;
        kvcache_truncate(&e->cache, first); // (h2o may forget all: then it starts over)
        first = kvcache_len(&e->cache);
        engine_forward(e, tokens + first, first, len - first, true, sink, ctr);
        return first;
    }
    kvcache_clear(&e->cache); // a model without a cache keeps nothing between steps
    engine_forward(e, tokens, 0, len, false, sink, ctr);
    return 0;
}

KvStatus engine_fault(const Engine *e, KvError *err) {
    if (!e->fault_layer)
        return KV_OK;
    const int L = e->model->cfg.n_layers;
    if (e->fault_layer > L)
        return kv_error(err, KV_ERR_INPUT,
                        "%s: produces non-finite values at layer %d (the classifier), position %d",
                        e->model->path, e->fault_layer, e->fault_pos);
    return kv_error(err, KV_ERR_INPUT, "%s: produces non-finite values at layer %d, position %d",
                    e->model->path, e->fault_layer, e->fault_pos);
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

void flops_formula_kind(const ModelConfig *c, KvCacheKind k, int pos0, int n, int logits,
                        uint64_t out[FLOP_COMPONENTS]) {
    flops_formula(c, pos0, n, logits, out);
    const uint64_t b = (uint64_t)kv_kind_budget(k);
    if (b == 0)
        return;
    // sum over p = pos0 .. pos0+n-1 of min(p + 1, B): (p + 1) up to p = B - 1, then B
    uint64_t span = 0;
    const uint64_t lo = (uint64_t)pos0 + 1, hi = (uint64_t)pos0 + (uint64_t)n; // p + 1 in lo..hi
    const uint64_t grow_hi = hi < b ? hi : b; // terms below the budget: lo .. grow_hi
    if (lo <= grow_hi)
        span += (lo + grow_hi) * (grow_hi - lo + 1) / 2;
    const uint64_t flat_lo = lo > b + 1 ? lo : b + 1; // terms at the budget: flat_lo .. hi
    if (flat_lo <= hi)
        span += b * (hi - flat_lo + 1);
    const uint64_t d = (uint64_t)c->dim, l = (uint64_t)c->n_layers;
    out[FLOP_SCORES] = l * 2 * d * span;
    out[FLOP_VALUES] = l * 2 * d * span;
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
