// model.c — model configuration, the file-order weight layout, and the llama2.c checkpoint
// reader and writer. Reads legacy version 0 (and the fp32 version 1) files; recognises the
// quantised version 2 and says so. Does not compute anything (forward.c does).
#include "engine/engine.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(float) == 4, "kvscope reads float32 files");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kvscope reads little-endian checkpoints on a little-endian host"
#endif

#define LLAMA2C_MAGIC 0x616b3432u // "ak42", the version 1 and 2 exports
#define HEADER_V0 28              // seven int32
#define HEADER_V1 256

// ----------------------------------------------------------------------------------------------
// Configuration

int config_head_size(const ModelConfig *c) {
    return c->dim / c->n_heads;
}

int config_kv_dim(const ModelConfig *c) {
    return c->dim / c->n_heads * c->n_kv_heads;
}

// Floats of each layer-stacked tensor, in file order. Used for carving and for counting.
static size_t layer_floats(const ModelConfig *c) {
    size_t d = (size_t)c->dim, kv = (size_t)config_kv_dim(c), f = (size_t)c->hidden_dim;
    return d + d * d + 2 * kv * d + d * d + d + 3 * f * d;
}

size_t config_weight_count(const ModelConfig *c) {
    size_t emb = (size_t)c->vocab_size * (size_t)c->dim;
    return emb + (size_t)c->n_layers * layer_floats(c) + (size_t)c->dim +
           (c->shared_classifier ? 0 : emb);
}

size_t config_param_count(const ModelConfig *c) {
    return config_weight_count(c);
}

static KvStatus check_range(const char *what, const char *field, long v, long lo, long hi,
                            KvError *err) {
    if (v < lo || v > hi)
        return kv_error(err, KV_ERR_INPUT, "%s: header field %s = %ld is out of range (%ld..%ld)",
                        what, field, v, lo, hi);
    return KV_OK;
}

KvStatus config_validate(const ModelConfig *c, const char *what, KvError *err) {
    KvStatus st;
    if ((st = check_range(what, "dim", c->dim, 1, KV_MAX_DIM, err)) ||
        (st = check_range(what, "hidden_dim", c->hidden_dim, 1, KV_MAX_HIDDEN, err)) ||
        (st = check_range(what, "n_layers", c->n_layers, 1, KV_MAX_LAYERS, err)) ||
        (st = check_range(what, "n_heads", c->n_heads, 1, KV_MAX_HEADS, err)) ||
        (st = check_range(what, "n_kv_heads", c->n_kv_heads, 1, KV_MAX_HEADS, err)) ||
        (st = check_range(what, "vocab_size", c->vocab_size, 3, KV_MAX_VOCAB, err)) ||
        (st = check_range(what, "seq_len", c->seq_len, 1, KV_MAX_SEQ, err)))
        return st;
    if (c->dim % c->n_heads != 0)
        return kv_error(err, KV_ERR_INPUT, "%s: dim %d is not divisible by n_heads %d", what,
                        c->dim, c->n_heads);
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
        return kv_error(err, KV_ERR_INPUT, "%s: n_heads %d is not divisible by n_kv_heads %d", what,
                        c->n_heads, c->n_kv_heads);
    if (config_head_size(c) % 2 != 0)
        return kv_error(err, KV_ERR_INPUT,
                        "%s: head size %d (dim / n_heads) is odd; RoPE rotates pairs", what,
                        config_head_size(c));
    return KV_OK;
}

void weights_carve(ModelWeights *w, const ModelConfig *c, float *p) {
    size_t d = (size_t)c->dim, kv = (size_t)config_kv_dim(c), f = (size_t)c->hidden_dim;
    size_t l = (size_t)c->n_layers, v = (size_t)c->vocab_size;
    w->token_embedding = p, p += v * d;
    w->rms_att = p, p += l * d;
    w->wq = p, p += l * d * d;
    w->wk = p, p += l * kv * d;
    w->wv = p, p += l * kv * d;
    w->wo = p, p += l * d * d;
    w->rms_ffn = p, p += l * d;
    w->w1 = p, p += l * f * d;
    w->w2 = p, p += l * d * f;
    w->w3 = p, p += l * f * d;
    w->rms_final = p, p += d;
    w->wcls = c->shared_classifier ? w->token_embedding : p;
}

// ----------------------------------------------------------------------------------------------
// What the engines of a model share

struct ModelShared {
    pthread_mutex_t lock;
    int exact;      // every matrix weight a bfloat16 value: 1 yes, 0 no, -1 not known yet
    uint16_t *bf16; // owned: the matrices as bfloat16, in file order, while users > 0
    size_t bf16_n;  // elements of bf16
    int users;      // engines holding bf16
};

static struct ModelShared *model_shared_new(void) {
    struct ModelShared *sh = kv_calloc(1, sizeof *sh);
    pthread_mutex_init(&sh->lock, NULL);
    sh->exact = -1;
    return sh;
}

static void model_shared_free(struct ModelShared *sh) {
    assert(sh->users == 0); // every engine of the model is freed before the model
    free(sh->bf16);
    pthread_mutex_destroy(&sh->lock);
    free(sh);
}

static int matrices(const Model *m, float *p[8], size_t n[8]);

void model_matrices(const Model *m, bool allow_bf16, MatrixWeights *out) {
    const ModelWeights *w = &m->w;
    *out = (MatrixWeights){w->wq, w->wk, w->wv, w->wo, w->w1, w->w2, w->w3, w->wcls, false};
    struct ModelShared *sh = m->shared;
    if (!allow_bf16 || !sh)
        return;
    pthread_mutex_lock(&sh->lock);
    if (sh->exact < 0)
        sh->exact = model_weights_bf16(m);
    if (sh->exact && !sh->bf16) { // the first user makes the copy: the high half of each float
        float *p[8];
        size_t n[8];
        const int k = matrices(m, p, n);
        sh->bf16_n = 0;
        for (int i = 0; i < k; i++)
            sh->bf16_n += n[i];
        uint16_t *h = sh->bf16 = kv_malloc_aligned(sh->bf16_n * sizeof(uint16_t));
        for (int i = 0; i < k; i++)
            for (size_t j = 0; j < n[i]; j++) {
                uint32_t u;
                memcpy(&u, p[i] + j, sizeof u);
                *h++ = (uint16_t)(u >> 16);
            }
    }
    if (sh->exact) {
        const void **dst[8] = {&out->wq, &out->wk, &out->wv, &out->wo,
                               &out->w1, &out->w2, &out->w3, &out->wcls};
        float *p[8];
        size_t n[8], at = 0;
        const int k = matrices(m, p, n);
        for (int i = 0; i < k; i++) {
            *dst[i] = sh->bf16 + at;
            at += n[i];
        }
        out->bf16 = true;
        sh->users++;
    }
    pthread_mutex_unlock(&sh->lock);
}

void model_matrices_release(const Model *m, MatrixWeights *mw) {
    struct ModelShared *sh = m->shared;
    if (mw->bf16 && sh) {
        pthread_mutex_lock(&sh->lock);
        assert(sh->users > 0);
        if (--sh->users == 0) { // the last engine gone: the copy goes too
            free(sh->bf16);
            sh->bf16 = NULL;
        }
        pthread_mutex_unlock(&sh->lock);
    }
    memset(mw, 0, sizeof *mw);
}

int model_bf16_users(const Model *m) {
    struct ModelShared *sh = m->shared;
    if (!sh)
        return 0;
    pthread_mutex_lock(&sh->lock);
    const int n = sh->users;
    pthread_mutex_unlock(&sh->lock);
    return n;
}

// ----------------------------------------------------------------------------------------------
// Reading

static void config_from_header(ModelConfig *c, const int32_t h[7]) {
    c->dim = h[0];
    c->hidden_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    c->shared_classifier = h[5] > 0;
    c->vocab_size = h[5] == INT32_MIN ? 0 : abs(h[5]);
    c->seq_len = h[6];
}

// Version 1 stores the same fp32 tensors in another order: all norms first, then the
// embedding, then the matrices; no RoPE tables. Points w's tensors into the mapped file there.
static void carve_v1(Model *m, float *src) {
    const ModelConfig *c = &m->cfg;
    size_t d = (size_t)c->dim, kv = (size_t)config_kv_dim(c), f = (size_t)c->hidden_dim;
    size_t l = (size_t)c->n_layers, v = (size_t)c->vocab_size;
    ModelWeights *w = &m->w;
    struct {
        float **dst;
        size_t n;
    } order[] = {
        {&w->rms_att, l * d}, {&w->rms_ffn, l * d},
        {&w->rms_final, d},   {&w->token_embedding, v * d},
        {&w->wq, l * d * d},  {&w->wk, l * kv * d},
        {&w->wv, l * kv * d}, {&w->wo, l * d * d},
        {&w->w1, l * f * d},  {&w->w2, l * d * f},
        {&w->w3, l * f * d},  {&w->wcls, c->shared_classifier ? 0 : v * d},
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        *order[i].dst = src;
        src += order[i].n;
    }
    if (c->shared_classifier)
        w->wcls = w->token_embedding;
}

// The index of the first of p[0 .. n) that is not a finite number, or n. One OR over the
// exponent bits per element (all ones: an infinity or a NaN), sixteen elements per vector step:
// the check reads the whole file once at memory speed.
typedef uint32_t v16u __attribute__((vector_size(64)));

static size_t first_nonfinite(const float *p, size_t n) {
    const size_t block = 16384; // elements per check of the accumulated bits
    for (size_t b = 0; b < n; b += block) {
        const size_t e = n - b < block ? n : b + block;
        v16u bad = {0};
        size_t i = b;
        for (; i + 16 <= e; i += 16) {
            __builtin_prefetch(p + i + 1024); // 4 KiB ahead: the next page before it is needed
            v16u u;
            memcpy(&u, p + i, sizeof u);
            bad |= (u & 0x7f800000u) + 0x00800000u; // the top bit only for an exponent of all ones
        }
        uint32_t any = 0;
        for (int k = 0; k < 16; k++)
            any |= bad[k];
        for (; i < e; i++) {
            uint32_t u;
            memcpy(&u, p + i, sizeof u);
            any |= (u & 0x7f800000u) + 0x00800000u;
        }
        if (any & 0x80000000u)
            for (i = b; i < e; i++)
                if (!isfinite(p[i]))
                    return i;
    }
    return n;
}

void config_memory(const ModelConfig *c, ModelMemory *mem) {
    const uint64_t t = (uint64_t)c->seq_len, d = (uint64_t)c->dim, f = (uint64_t)c->hidden_dim;
    const uint64_t kv = (uint64_t)config_kv_dim(c), l = (uint64_t)c->n_layers;
    const uint64_t v = (uint64_t)c->vocab_size, h = (uint64_t)c->n_heads;
    const uint64_t hs = (uint64_t)config_head_size(c), fl = sizeof(float);
    uint64_t matrices = l * (d * d + 2 * kv * d + d * d + 3 * f * d) + v * d;
    // the mapped file's weights, and the engines' one shared bfloat16 copy when there is one
    mem->weights = (uint64_t)config_weight_count(c) * fl + matrices * sizeof(uint16_t);
    // engine_init: the KV cache and the no-cache working memory (two KvCaches of T positions),
    // the activations of a pass of T positions, the scores, logits, widened rows and RoPE table;
    // the sampler's five arrays
    mem->engine = 2 * t * (uint64_t)config_kv_bytes_per_token(c) +
                  t * (3 * d + d + 2 * kv + 2 * f + f) * fl + h * t * fl + v * fl +
                  4 * (d > f ? d : f) * fl + t * hs * fl + 5 * v * fl;
    // a session: one record per step, each with the attention row of its position for every
    // layer and head (the prefill's whole causal matrix when it is small enough)
    mem->history = t * (KV_STEP_RECORD_BYTES + sizeof(int)) + l * h * t * (t + 1) / 2 * fl +
                   ((uint64_t)1 << 24) * fl;
    mem->total = mem->weights + mem->engine + mem->history;
}

KvStatus model_load(Model *m, const char *path, KvError *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    // Only a regular file, opened without blocking (a FIFO would wait for a writer forever);
    // its size from fstat; then the header alone is read and checked, so a huge file with a bad
    // header costs nothing; only a file whose size matches its header is mapped and copied.
    uint64_t size = 0;
    int fd = kv_open_regular(path, &size, err);
    if (fd < 0)
        return err ? err->code : KV_ERR_INPUT;
    KvStatus st = KV_OK;
    void *map = MAP_FAILED;
    unsigned char hdr[HEADER_V1];
    size_t have = size < HEADER_V1 ? (size_t)size : HEADER_V1;
    if (size == 0) {
        st = kv_error(err, KV_ERR_INPUT, "%s: file is empty", path);
        goto fail;
    }
    if (size < HEADER_V0) {
        st = kv_error(err, KV_ERR_INPUT, "%s: truncated header (%llu bytes, need %d)", path,
                      (unsigned long long)size, HEADER_V0);
        goto fail;
    }
    for (size_t got = 0; got < have;) {
        ssize_t r = pread(fd, hdr + got, have - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            st = kv_error(err, KV_ERR_INPUT, "%s: cannot read: %s", path,
                          r < 0 ? strerror(errno) : "short read");
            goto fail;
        }
        got += (size_t)r;
    }
    uint32_t magic;
    memcpy(&magic, hdr, 4);
    int version = 0;
    size_t header = HEADER_V0;
    int32_t h[7];
    if (magic == LLAMA2C_MAGIC) {
        int32_t ver;
        memcpy(&ver, hdr + 4, 4);
        if (ver != 1) {
            st = kv_error(err, KV_ERR_INPUT,
                          "%s: llama2.c version %d checkpoint (magic \"ak42\"); kvscope reads "
                          "fp32 files: export with --version 0 or 1",
                          path, ver);
            goto fail;
        }
        if (size < HEADER_V1) {
            st = kv_error(err, KV_ERR_INPUT, "%s: truncated version 1 header (%llu bytes, need %d)",
                          path, (unsigned long long)size, HEADER_V1);
            goto fail;
        }
        version = 1;
        header = HEADER_V1;
        memcpy(h, hdr + 8, sizeof h);
        h[5] = hdr[8 + 28] ? abs(h[5]) : -abs(h[5]); // the shared flag byte replaces the sign
    } else {
        memcpy(h, hdr, sizeof h);
    }
    config_from_header(&m->cfg, h);
    if (h[5] == 0 || h[5] == INT32_MIN) {
        st = kv_error(err, KV_ERR_INPUT, "%s: header field vocab_size = %d is out of range", path,
                      h[5]);
        goto fail;
    }
    if ((st = config_validate(&m->cfg, path, err)))
        goto fail;

    // Fields are bounded by config_validate, so these products fit in 64 bits.
    uint64_t weights = config_weight_count(&m->cfg);
    uint64_t rope = version == 0 ? (uint64_t)m->cfg.seq_len * config_head_size(&m->cfg) : 0;
    uint64_t cls_after_rope =
        version == 0 && !m->cfg.shared_classifier ? (uint64_t)m->cfg.vocab_size * m->cfg.dim : 0;
    uint64_t expect = header + 4 * (weights + rope);
    if (size != expect) {
        st = kv_error(err, KV_ERR_INPUT,
                      "%s: file is %s than its header implies (%llu bytes, expected %llu)", path,
                      size < expect ? "shorter" : "longer", (unsigned long long)size,
                      (unsigned long long)expect);
        goto fail;
    }
    // What running it takes, against what the machine has, before any of it is allocated.
    ModelMemory mem;
    config_memory(&m->cfg, &mem);
    uint64_t avail = kv_memory_available();
    if (mem.total > avail) {
        char need[32], have_s[32], w[32], e[32], hist[32];
        kv_format_bytes(need, sizeof need, mem.total);
        kv_format_bytes(have_s, sizeof have_s, avail);
        kv_format_bytes(w, sizeof w, mem.weights);
        kv_format_bytes(e, sizeof e, mem.engine);
        kv_format_bytes(hist, sizeof hist, mem.history);
        st = kv_error(err, KV_ERR_INPUT,
                      "%s: needs %s of memory to run (weights %s, KV cache and work buffers %s, "
                      "step history %s); this machine has %s available",
                      path, need, w, e, hist, have_s);
        goto fail;
    }
    // The file is mapped, not copied: the weights are read where the page cache holds them
    // (populated up front: one pass of the kernel instead of a fault per few pages). Private
    // and, after the check, writable: a caller that changes weights (model_round_bf16, tests)
    // gets its own copy of the pages it writes; the file never changes.
    map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    m->map = map;
    m->map_bytes = (size_t)size;
    map = MAP_FAILED;                                         // model_free unmaps it from here on
    float *src = (float *)((unsigned char *)m->map + header); // 4-byte aligned
    size_t bad;
    if (version == 0) {
        const size_t before_rope = weights - cls_after_rope;
        weights_carve(&m->w, &m->cfg, src);
        if (cls_after_rope)
            m->w.wcls = src + before_rope + rope;
        bad = first_nonfinite(src, before_rope);
        if (bad == before_rope && cls_after_rope) {
            size_t k = first_nonfinite(m->w.wcls, cls_after_rope);
            bad = k == cls_after_rope ? weights : before_rope + k;
        }
    } else {
        carve_v1(m, src);
        bad = first_nonfinite(src, weights);
    }
    if (bad < weights) {
        st = kv_error(err, KV_ERR_INPUT, "%s: weight %zu is not a finite number", path, bad);
        goto fail;
    }
    if (mprotect(m->map, m->map_bytes, PROT_READ | PROT_WRITE) != 0) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    m->shared = model_shared_new();
    return KV_OK;
fail:
    if (map != MAP_FAILED)
        munmap(map, (size_t)size);
    if (fd >= 0)
        close(fd);
    model_free(m);
    return st;
}

void model_copy_weights(const Model *m, float *dst) {
    const ModelConfig *c = &m->cfg;
    ModelWeights to;
    weights_carve(&to, c, dst);
    const ModelWeights *w = &m->w;
    const size_t d = (size_t)c->dim, kv = (size_t)config_kv_dim(c), f = (size_t)c->hidden_dim;
    const size_t l = (size_t)c->n_layers, v = (size_t)c->vocab_size;
    const struct {
        float *dst;
        const float *src;
        size_t n;
    } t[] = {
        {to.token_embedding, w->token_embedding, v * d},
        {to.rms_att, w->rms_att, l * d},
        {to.wq, w->wq, l * d * d},
        {to.wk, w->wk, l * kv * d},
        {to.wv, w->wv, l * kv * d},
        {to.wo, w->wo, l * d * d},
        {to.rms_ffn, w->rms_ffn, l * d},
        {to.w1, w->w1, l * f * d},
        {to.w2, w->w2, l * d * f},
        {to.w3, w->w3, l * f * d},
        {to.rms_final, w->rms_final, d},
        {to.wcls, w->wcls, c->shared_classifier ? 0 : v * d},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        memcpy(t[i].dst, t[i].src, t[i].n * sizeof(float));
}

void model_free(Model *m) {
    if (m->shared)
        model_shared_free(m->shared);
    if (m->map)
        munmap(m->map, m->map_bytes);
    m->shared = NULL;
    m->map = NULL;
    m->map_bytes = 0;
}

// ----------------------------------------------------------------------------------------------
// Writing

KvStatus model_write(const char *path, const ModelConfig *c, const ModelWeights *w, KvError *err) {
    KvStatus st = config_validate(c, path, err);
    if (st)
        return st;
    size_t d = (size_t)c->dim, kv = (size_t)config_kv_dim(c), f = (size_t)c->hidden_dim;
    size_t l = (size_t)c->n_layers, v = (size_t)c->vocab_size, hs = (size_t)config_head_size(c);
    size_t t = (size_t)c->seq_len;
    size_t total = HEADER_V0 + 4 * (config_weight_count(c) + t * hs);
    unsigned char *buf = kv_malloc(total), *p = buf;
    int32_t h[7] = {c->dim,        c->hidden_dim,
                    c->n_layers,   c->n_heads,
                    c->n_kv_heads, c->shared_classifier ? c->vocab_size : -c->vocab_size,
                    c->seq_len};
    memcpy(p, h, sizeof h);
    p += sizeof h;
#define PUT(ptr, count)                                                                            \
    do {                                                                                           \
        memcpy(p, (ptr), (count) * sizeof(float));                                                 \
        p += (count) * sizeof(float);                                                              \
    } while (0)
    PUT(w->token_embedding, v * d);
    PUT(w->rms_att, l * d);
    PUT(w->wq, l * d * d);
    PUT(w->wk, l * kv * d);
    PUT(w->wv, l * kv * d);
    PUT(w->wo, l * d * d);
    PUT(w->rms_ffn, l * d);
    PUT(w->w1, l * f * d);
    PUT(w->w2, l * d * f);
    PUT(w->w3, l * f * d);
    PUT(w->rms_final, d);
    // RoPE tables (T, HS/2): cos then sin of pos * 10000^(-2i/HS), as llama2.c's exporter.
    for (int table = 0; table < 2; table++) {
        for (size_t pos = 0; pos < t; pos++) {
            for (size_t i = 0; i < hs / 2; i++) {
                float freq = 1.0f / powf(10000.0f, (float)(2 * i) / (float)hs);
                float a = (float)pos * freq;
                float val = table == 0 ? cosf(a) : sinf(a);
                PUT(&val, 1);
            }
        }
    }
    if (!c->shared_classifier)
        PUT(w->wcls, v * d);
#undef PUT
    st = kv_write_file_atomic(path, buf, total, err);
    free(buf);
    return st;
}

// ----------------------------------------------------------------------------------------------
// bfloat16 rounding

// The nearest bfloat16 value to v (ties to even), as a float; NaN stays NaN.
static float round_bf16(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu))
        u |= 0x00400000u; // a NaN keeps a mantissa bit in the high half
    else
        u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&v, &u, sizeof v);
    return v;
}

// The tensors the engine multiplies with (the embedding too, when the classifier is shared):
// pointers and sizes in floats; returns how many.
static int matrices(const Model *m, float *p[8], size_t n[8]) {
    const ModelConfig *c = &m->cfg;
    const ModelWeights *w = &m->w;
    const size_t d = (size_t)c->dim, f = (size_t)c->hidden_dim, kv = (size_t)config_kv_dim(c);
    const size_t l = (size_t)c->n_layers;
    float *ptr[8] = {w->wq, w->wk, w->wv, w->wo, w->w1, w->w2, w->w3, w->wcls};
    size_t len[8] = {l * d * d, l * kv * d, l * kv * d, l * d * d,
                     l * f * d, l * d * f,  l * f * d,  (size_t)c->vocab_size * d};
    memcpy(p, ptr, sizeof ptr);
    memcpy(n, len, sizeof len);
    return 8;
}

void model_round_bf16(Model *m) {
    if (m->shared) { // the weights change: whether they are bfloat16 is asked again
        assert(m->shared->users == 0);
        m->shared->exact = -1;
    }
    float *p[8];
    size_t n[8];
    for (int k = matrices(m, p, n), i = 0; i < k; i++)
        for (size_t j = 0; j < n[i]; j++)
            p[i][j] = round_bf16(p[i][j]);
}

size_t model_matrix_floats(const Model *m) {
    float *p[8];
    size_t n[8], total = 0;
    for (int k = matrices(m, p, n), i = 0; i < k; i++)
        total += n[i];
    return total;
}

bool model_weights_bf16(const Model *m) {
    float *p[8];
    size_t n[8];
    for (int k = matrices(m, p, n), i = 0; i < k; i++)
        for (size_t j = 0; j < n[i]; j++) {
            uint32_t u;
            memcpy(&u, &p[i][j], sizeof u);
            if (u & 0xffffu) // something in the low half: not a bfloat16 value
                return false;
        }
    return true;
}
