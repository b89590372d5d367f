// kernels.c — the numeric kernels of the forward pass: matrix products over float or bfloat16
// weights, one head's attention for one query, RMSNorm, RoPE and the SwiGLU gate.
//
// Everything here is pure arithmetic on arrays the caller owns: no Engine, no cache, no
// counters (the forward pass counts what it asks for). The orders of summation are fixed by the
// shapes alone, so a row computed in a batched pass and the same row computed alone give the same
// bits: that is what lets the cached decode and the no-cache recompute agree exactly.
//
// What this file does not do: decide what is computed (forward.c) or where keys and values live
// (kvcache.c).
#include "engine/kernels.h"

#pragma GCC diagnostic ignored "-Wpsabi" // 8-wide vectors by value in static inline helpers
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// Vectors
//
// out (N, O) = x (N, I) · W(O, I)^T is the only heavy loop. It is written once (kernels_dot.h)
// and compiled for three instruction sets; kernel_isa_best picks the widest the CPU has at run
// time: AVX-512, AVX2 with fused multiply-add, or plain SSE2. Decode (N = 1) walks four weight
// rows at once against one input (four streams the hardware prefetcher follows): it streams every
// weight once per token and is bound by memory bandwidth, which is why the weights may be kept as
// bfloat16 (half the bytes, the same numbers). Prefill and no-cache passes walk tiles of rows
// against several inputs (4 x 6 with AVX-512), so each weight is read once per tile of positions:
// bound by arithmetic. The attention kernel below is compiled twice (target_clones: AVX2+FMA and
// plain).

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KV_X86 1
#define KV_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#include <immintrin.h>
#else
#define KV_X86 0
#define KV_CLONES
#endif

typedef float v8f __attribute__((vector_size(32)));

#define KV_INLINE static inline __attribute__((always_inline))
#define KV_UNROLL _Pragma("GCC unroll 8") // loops over a few vectors, unrolled into registers

static inline v8f load8(const float *p) {
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

typedef int32_t v8i __attribute__((vector_size(32)));

// Horizontal sum, in the same association as sum8x8 below, so that a dot product gives the same
// bits whichever kernel computed it (cached decode and no-cache recompute agree exactly).
static inline float hsum8(v8f v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

// Lane shuffles of two 8-float vectors by constant indices (GCC and clang spell them apart).
#if defined(__clang__)
#define SHUF8(a, b, ...) __builtin_shufflevector((a), (b), __VA_ARGS__)
#else
#define SHUF8(a, b, ...) __builtin_shuffle((a), (b), (v8i){__VA_ARGS__})
#endif

// The eight horizontal sums of a[0..7] as one vector, each associated as hsum8 does: fold the
// halves (h_k = a[k] + a[k+4]), then (h0 + h1) + (h2 + h3).
static inline v8f sum8x8(const v8f a[8]) {
    v8f u[4];
    KV_UNROLL
    for (int k = 0; k < 4; k++) // [h of a[2k] (4 lanes), h of a[2k+1] (4 lanes)]
        u[k] = SHUF8(a[2 * k], a[2 * k + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
               SHUF8(a[2 * k], a[2 * k + 1], 4, 5, 6, 7, 12, 13, 14, 15);
    // [h0+h1, h2+h3] for four vectors each
    v8f v0 =
        SHUF8(u[0], u[1], 0, 2, 4, 6, 8, 10, 12, 14) + SHUF8(u[0], u[1], 1, 3, 5, 7, 9, 11, 13, 15);
    v8f v1 =
        SHUF8(u[2], u[3], 0, 2, 4, 6, 8, 10, 12, 14) + SHUF8(u[2], u[3], 1, 3, 5, 7, 9, 11, 13, 15);
    return SHUF8(v0, v1, 0, 2, 4, 6, 8, 10, 12, 14) + SHUF8(v0, v1, 1, 3, 5, 7, 9, 11, 13, 15);
}

// ----------------------------------------------------------------------------------------------
// Matrix products: one association (kernels_dot.h), three instruction sets
//
// Weights come as floats or as bfloat16 values (the high sixteen bits of a float, in order:
// see model_matrices). Widening a bfloat16 to a float is exact, so both give the same numbers to
// the same arithmetic; bfloat16 halves the bytes a decode step streams from memory.

KV_INLINE float w1_at(const void *w, size_t i, const int bf16) {
    if (bf16) {
        uint32_t u = (uint32_t)((const uint16_t *)w)[i] << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    return ((const float *)w)[i];
}

// n bfloat16 values back to floats, in order.
static void widen_bf16(float *restrict dst, const uint16_t *restrict src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, sizeof u);
    }
}

typedef uint16_t v8h __attribute__((vector_size(16)));
typedef uint32_t v8u __attribute__((vector_size(32)));

// The plain set: SSE2 (any x86-64), or whatever the compiler makes of eight-wide vectors
// elsewhere. Multiply, then add.
typedef struct {
    v8f lo, hi;
} V16p;

KV_INLINE V16p p_zero(void) {
    return (V16p){{0}, {0}};
}
KV_INLINE V16p p_load(const float *p) {
    return (V16p){load8(p), load8(p + 8)};
}
KV_INLINE v8f p_loadh8(const uint16_t *p) {
    v8h h;
    memcpy(&h, p, sizeof h);
    return (v8f)(__builtin_convertvector(h, v8u) << 16);
}
KV_INLINE V16p p_loadw(const void *w, size_t i, const int bf16) {
    if (bf16)
        return (V16p){p_loadh8((const uint16_t *)w + i), p_loadh8((const uint16_t *)w + i + 8)};
    return p_load((const float *)w + i);
}
KV_INLINE v8f p_loadw8(const void *w, size_t i, const int bf16) {
    return bf16 ? p_loadh8((const uint16_t *)w + i) : load8((const float *)w + i);
}
KV_INLINE void p_store(float *p, V16p v) {
    memcpy(p, &v.lo, sizeof v.lo);
    memcpy(p + 8, &v.hi, sizeof v.hi);
}
KV_INLINE V16p p_fma(V16p a, V16p b, V16p acc) {
    return (V16p){acc.lo + a.lo * b.lo, acc.hi + a.hi * b.hi};
}
KV_INLINE v8f p_fold(V16p a) {
    return a.lo + a.hi;
}
KV_INLINE v8f p_fold_tail(V16p a, v8f w8, const float *x8) {
    return (a.lo + w8 * load8(x8)) + a.hi;
}
KV_INLINE float p_sfma(float a, float b, float c) {
    return c + a * b;
}

#define V16 V16p
#define v8_t v8f
#define v16_zero p_zero
#define v16_load p_load
#define v16_loadw p_loadw
#define v16_loadw8 p_loadw8
#define v16_fma p_fma
#define v16_store p_store
#define v16_fold p_fold
#define v16_fold_tail p_fold_tail
#define v8_hsum hsum8
#define s_fma p_sfma
#define KV_TR 2
#define KV_TP 3
#define DOT(name) name##_plain
#include "engine/kernels_dot.h"

#if KV_X86
// AVX2 with FMA: sixteen lanes in two registers, each step one fused multiply-add.
#pragma GCC push_options
#pragma GCC target("avx2,fma")
typedef struct {
    __m256 lo, hi;
} V16a;

KV_INLINE V16a a_zero(void) {
    return (V16a){_mm256_setzero_ps(), _mm256_setzero_ps()};
}
KV_INLINE V16a a_load(const float *p) {
    return (V16a){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
KV_INLINE __m256 a_loadh8(const uint16_t *p) {
    __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}
KV_INLINE V16a a_loadw(const void *w, size_t i, const int bf16) {
    if (bf16)
        return (V16a){a_loadh8((const uint16_t *)w + i), a_loadh8((const uint16_t *)w + i + 8)};
    return a_load((const float *)w + i);
}
KV_INLINE __m256 a_loadw8(const void *w, size_t i, const int bf16) {
    return bf16 ? a_loadh8((const uint16_t *)w + i) : _mm256_loadu_ps((const float *)w + i);
}
KV_INLINE void a_store(float *p, V16a v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
}
KV_INLINE V16a a_fma(V16a a, V16a b, V16a acc) {
    return (V16a){_mm256_fmadd_ps(a.lo, b.lo, acc.lo), _mm256_fmadd_ps(a.hi, b.hi, acc.hi)};
}
KV_INLINE __m256 a_fold(V16a a) {
    return _mm256_add_ps(a.lo, a.hi);
}
KV_INLINE __m256 a_fold_tail(V16a a, __m256 w8, const float *x8) {
    return _mm256_add_ps(_mm256_fmadd_ps(w8, _mm256_loadu_ps(x8), a.lo), a.hi);
}
// hsum8's tree on a register: (v0+v4, v1+v5, v2+v6, v3+v7), then (g0+g1) + (g2+g3).
KV_INLINE float a_hsum8(__m256 v) {
    __m128 g = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 h = _mm_add_ps(g, _mm_shuffle_ps(g, g, _MM_SHUFFLE(2, 3, 0, 1))); // g0+g1, g2+g3
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehl_ps(h, h)));
}
KV_INLINE float a_sfma(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

#define V16 V16a
#define v8_t __m256
#define v16_zero a_zero
#define v16_load a_load
#define v16_loadw a_loadw
#define v16_loadw8 a_loadw8
#define v16_fma a_fma
#define v16_store a_store
#define v16_fold a_fold
#define v16_fold_tail a_fold_tail
#define v8_hsum a_hsum8
#define s_fma a_sfma
#define KV_TR 2
#define KV_TP 3
#define DOT(name) name##_avx2
#include "engine/kernels_dot.h"
#pragma GCC pop_options

// AVX-512: the sixteen lanes in one register; the fold, the tail and the scalar steps are the
// AVX2 set's operations on the same numbers.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma")
KV_INLINE __m512 z_zero(void) {
    return _mm512_setzero_ps();
}
KV_INLINE __m512 z_load(const float *p) {
    return _mm512_loadu_ps(p);
}
KV_INLINE __m512 z_loadw(const void *w, size_t i, const int bf16) {
    if (bf16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)((const uint16_t *)w + i));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    return _mm512_loadu_ps((const float *)w + i);
}
KV_INLINE void z_store(float *p, __m512 v) {
    _mm512_storeu_ps(p, v);
}
KV_INLINE __m512 z_fma(__m512 a, __m512 b, __m512 acc) {
    return _mm512_fmadd_ps(a, b, acc);
}
KV_INLINE __m256 z_hi(__m512 a) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
}
KV_INLINE __m256 z_fold(__m512 a) {
    return _mm256_add_ps(_mm512_castps512_ps256(a), z_hi(a));
}
KV_INLINE __m256 z_fold_tail(__m512 a, __m256 w8, const float *x8) {
    return _mm256_add_ps(_mm256_fmadd_ps(w8, _mm256_loadu_ps(x8), _mm512_castps512_ps256(a)),
                         z_hi(a));
}

#define V16 __m512
#define v8_t __m256
#define v16_zero z_zero
#define v16_load z_load
#define v16_loadw z_loadw
#define v16_fma z_fma
#define v16_store z_store
#define v16_fold z_fold
#define v16_fold_tail z_fold_tail
#define v16_loadw8 a_loadw8
#define v8_hsum a_hsum8
#define s_fma a_sfma
#define KV_TR 4
#define KV_TP 6
#define DOT(name) name##_avx512
#include "engine/kernels_dot.h"
#pragma GCC pop_options
#endif

KernelIsa kernel_isa_best(void) {
#if KV_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        return KERNEL_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return KERNEL_ISA_AVX2;
#endif
    return KERNEL_ISA_PLAIN;
}

bool kernel_isa_available(KernelIsa isa) {
    switch (isa) {
    case KERNEL_ISA_PLAIN:
        return true;
    case KERNEL_ISA_AVX2:
        return kernel_isa_best() >= KERNEL_ISA_AVX2;
    case KERNEL_ISA_AVX512:
        return kernel_isa_best() >= KERNEL_ISA_AVX512;
    }
    return false;
}

const char *kernel_isa_name(KernelIsa isa) {
    static const char *const names[] = {"plain", "avx2-fma", "avx512"};
    return names[isa];
}

static void matmul_rows(KernelIsa isa, float *restrict out, size_t ostride, const float *restrict x,
                        const void *w, bool bf16, int n, int in, int r0, int r1,
                        float *restrict wide) {
    switch (isa) {
#if KV_X86
    case KERNEL_ISA_AVX512:
        matmul_rows_avx512(out, ostride, x, w, bf16, n, in, r0, r1, wide);
        return;
    case KERNEL_ISA_AVX2:
        matmul_rows_avx2(out, ostride, x, w, bf16, n, in, r0, r1, wide);
        return;
#endif
    default:
        matmul_rows_plain(out, ostride, x, w, bf16, n, in, r0, r1, wide);
    }
}

typedef struct {
    KernelIsa isa;
    float *out;
    size_t ostride;
    const float *x;
    const void *w;
    bool bf16;
    int n, in, out_dim, rows; // rows per chunk, a multiple of 16
    float *wide;
} MatmulJob;

// Chunk `chunk`: rows chunk * rows .. on, computed as they would be alone (every tile of every
// set fits in 16 rows, so the chunks cut no tile).
static void matmul_chunk(void *arg, int chunk, int thread) {
    const MatmulJob *j = arg;
    const int r0 = chunk * j->rows, r1 = r0 + j->rows < j->out_dim ? r0 + j->rows : j->out_dim;
    matmul_rows(j->isa, j->out, j->ostride, j->x, j->w, j->bf16, j->n, j->in, r0, r1,
                j->wide + (size_t)thread * KERNEL_WIDE_ROWS * (size_t)j->in);
}

void kernel_matmul(KernelIsa isa, KvWorkers *pool, float *restrict out, size_t ostride,
                   const float *restrict x, const void *w, bool bf16, int n, int in, int out_dim,
                   float *restrict wide) {
    // chunks of some tens of thousands of multiply-adds (a few microseconds: a thread the
    // scheduler stops holds up little), at most 64 of them (each costs one atomic exchange)
    const long row_work = (long)n * in, per_chunk = 32768;
    long rows = (per_chunk / (row_work ? row_work : 1) + 15) / 16 * 16;
    const long most = ((long)out_dim / 64 + 15) / 16 * 16;
    rows = rows > most ? rows : most;
    rows = rows > 16 ? rows : 16;
    MatmulJob j = {isa, out, ostride, x, w, bf16, n, in, out_dim, (int)rows, wide};
    const int chunks = (int)(((long)out_dim + rows - 1) / rows);
    if (!pool || chunks <= 1 || (long)out_dim * row_work < 2 * per_chunk)
        matmul_rows(isa, out, ostride, x, w, bf16, n, in, 0, out_dim, wide);
    else
        pool_run(pool, chunks, matmul_chunk, &j);
}

// ----------------------------------------------------------------------------------------------
// Attention
static inline v8f splat8(float a) {
    return (v8f){a, a, a, a, a, a, a, a};
}

// exp(x) for x <= 0 (scores minus their maximum), eight at a time: x = k ln2 + r with
// |r| <= ln2/2, e^r by its Taylor polynomial to degree 7 (relative error below 3e-7),
// 2^k through the exponent bits. Below -87 (e^-87 ~ 1.6e-38) inputs are clamped there.
static inline v8f exp8(v8f x) {
    const v8f lo = splat8(-87.0f);
    v8i keep = x >= lo; // false for NaN too: a NaN never reaches the float-to-int conversion
    x = (v8f)(((v8i)x & keep) | ((v8i)lo & ~keep));
    v8f y = x * splat8(1.44269504088896341f);
    v8i k = -__builtin_convertvector(splat8(0.5f) - y, v8i); // round(y), y <= 0
    v8f kf = __builtin_convertvector(k, v8f);
    v8f r = x - kf * splat8(0.693359375f) - kf * splat8(-2.12194440e-4f);
    v8f p = splat8(1.0f / 5040.0f);
    p = p * r + splat8(1.0f / 720.0f);
    p = p * r + splat8(1.0f / 120.0f);
    p = p * r + splat8(1.0f / 24.0f);
    p = p * r + splat8(1.0f / 6.0f);
    p = p * r + splat8(0.5f);
    p = p * r + splat8(1.0f);
    p = p * r + splat8(1.0f);
    return p * (v8f)((k + 127) << 23);
}

// ---- Rows of keys or values as attention reads them: f32 rows, or a cache's packed rows read
// back inside the kernel by the rules of kvquant.h (one value at a time exactly as the read-back
// functions compute it: a bfloat16 widened, q * scale for int8, q * scale + lo for int4), so that
// the same arithmetic sees the same floats whichever form the rows come in. The format is a
// constant inside each instance of attend_sized (see kernel_attend_rows): the branches fold away.

typedef uint16_t v8h __attribute__((vector_size(16)));

// Where row s is among the rows of data (and of scale, lo): s, or map[s] for a paged cache's.
static inline size_t row_index(const KernelRows *r, int s) {
    return r->map ? r->map[s] : (size_t)s;
}

static inline const uint8_t *row_at(const KernelRows *r, int s) {
    return (const uint8_t *)r->data + row_index(r, s) * r->stride;
}

// Values c .. c+7 of row s (c a multiple of 8).
KV_INLINE v8f row8(const KernelRows *r, const int fmt, int s, int c) {
    const uint8_t *p = row_at(r, s);
    switch (fmt) {
    case KERNEL_BF16: {
        v8h h;
        memcpy(&h, p + 2 * (size_t)c, sizeof h);
        return (v8f)(__builtin_convertvector(h, v8u) << 16);
    }
    case KERNEL_INT8: { // (built element by element: GCC makes this one sign-extending load)
        const int8_t *b = (const int8_t *)p + c;
        const v8i w = {b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]};
        return __builtin_convertvector(w, v8f) * splat8(r->scale[row_index(r, s)]);
    }
    case KERNEL_INT4: { // eight nibbles, value c + i in bits 4i of the four bytes from c / 2
        const uint8_t *b = p + c / 2;
        const uint32_t w =
            (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        const v8u q = ((v8u){w, w, w, w, w, w, w, w} >> (v8u){0, 4, 8, 12, 16, 20, 24, 28}) & 15u;
        const size_t k = row_index(r, s);
        return __builtin_convertvector((v8i)q, v8f) * splat8(r->scale[k]) + splat8(r->lo[k]);
    }
    default:
        return load8((const float *)(const void *)p + c);
    }
}

// Value i of row s.
KV_INLINE float row1(const KernelRows *r, const int fmt, int s, int i) {
    const uint8_t *p = row_at(r, s);
    switch (fmt) {
    case KERNEL_BF16: {
        uint16_t h;
        memcpy(&h, p + 2 * (size_t)i, sizeof h);
        const uint32_t u = (uint32_t)h << 16;
        float x;
        memcpy(&x, &u, sizeof x);
        return x;
    }
    case KERNEL_INT8:
        return (float)(int8_t)p[i] * r->scale[row_index(r, s)];
    case KERNEL_INT4:
        return (float)((p[i / 2] >> (4 * (i % 2))) & 15) * r->scale[row_index(r, s)] +
               r->lo[row_index(r, s)];
    default: {
        float x;
        memcpy(&x, p + (size_t)i * sizeof x, sizeof x);
        return x;
    }
    }
}

KV_INLINE float dot_row(const float *restrict a, const KernelRows *r, const int fmt, int s, int n) {
    const int n8 = n & ~7;
    v8f acc = {0};
    for (int i = 0; i < n8; i += 8)
        acc += load8(a + i) * row8(r, fmt, s, i);
    float sum = hsum8(acc);
    for (int i = n8; i < n; i++)
        sum += a[i] * row1(r, fmt, s, i);
    return sum;
}

// One head's attention for one query: att[0..n) = softmax(q . k_s * scale), out = sum att_s v_s.
// The head size comes in as a constant where it is a common one (see kernel_attend_rows), so
// that the chunk loops unroll and every accumulator stays in a register; so do the formats of
// keys (kf) and values (vf). Every order of summation here is fixed by (q, the values of the keys
// and values, n) alone, so the cached decode of position p and the no-cache recompute of the same
// row give identical bits, and packed rows give the bits of their read-back floats.
KV_INLINE void attend_sized(float *restrict out, float *restrict att, const float *restrict q,
                            const KernelRows *keys, const int kf, const KernelRows *values,
                            const int vf, const int hs, int n, float scale) {
    const int hs8 = hs & ~7, nc = hs8 / 8;
    float mx = -INFINITY;
    int s = 0;
    // scores, eight keys at a time: eight partial vectors, their eight sums reduced together
    if (nc > 0 && hs8 == hs) {
        v8f mx8 = splat8(-INFINITY);
        const v8f scale8 = splat8(scale);
        for (; s + 8 <= n; s += 8) {
            v8f acc[8];
            KV_UNROLL
            for (int j = 0; j < 8; j++)
                acc[j] = load8(q) * row8(keys, kf, s + j, 0);
            KV_UNROLL
            for (int c = 1; c < nc; c++) {
                const v8f qv = load8(q + 8 * c);
                KV_UNROLL
                for (int j = 0; j < 8; j++)
                    acc[j] += qv * row8(keys, kf, s + j, 8 * c);
            }
            v8f sc = sum8x8(acc) * scale8;
            memcpy(att + s, &sc, sizeof sc);
            v8i gt = sc > mx8;
            mx8 = (v8f)(((v8i)sc & gt) | ((v8i)mx8 & ~gt));
        }
        for (int j = 0; j < 8; j++)
            mx = mx8[j] > mx ? mx8[j] : mx;
    }
    for (; s < n; s++) {
        float v = dot_row(q, keys, kf, s, hs) * scale;
        att[s] = v;
        mx = v > mx ? v : mx;
    }

    // softmax: exponentials eight at a time, then one division per weight (as llama2.c divides)
    const v8f mv = splat8(mx);
    v8f sum8 = {0};
    for (s = 0; s + 8 <= n; s += 8) {
        v8f e = exp8(load8(att + s) - mv);
        memcpy(att + s, &e, sizeof e);
        sum8 += e;
    }
    float sum = hsum8(sum8);
    if (s < n) { // the last few, through one padded vector
        float tail[8];
        for (int i = 0; i < 8; i++)
            tail[i] = s + i < n ? att[s + i] - mx : -87.0f;
        v8f e = exp8(load8(tail));
        for (int i = 0; s + i < n; i++) {
            att[s + i] = e[i];
            sum += e[i];
        }
    }
    const v8f sv = splat8(sum);
    for (s = 0; s + 8 <= n; s += 8) {
        v8f a = load8(att + s) / sv;
        memcpy(att + s, &a, sizeof a);
    }
    for (; s < n; s++)
        att[s] /= sum;
    const bool scores_finite = mx - mx == 0.0f; // false for an infinite or NaN maximum

#define KV_VALUE_STEP(acc, j)                                                                      \
    do {                                                                                           \
        const v8f a_ = SHUF8(a8, a8, j, j, j, j, j, j, j, j);                                      \
        KV_UNROLL                                                                                  \
        for (int c = 0; c < nv; c++)                                                               \
            acc[c] += a_ * row8(values, vf, s + j, b + 8 * c);                                     \
    } while (0)
    // weighted values, up to four vectors of the output at a time, held in registers. Weights come
    // eight at a time, each broadcast by a lane shuffle; even and odd positions go to separate
    // accumulators so that consecutive adds do not wait on each other.
    for (int b = 0; b < hs8; b += 32) {
        const int nv = hs8 - b < 32 ? (hs8 - b) / 8 : 4;
        v8f ev[4] = {{0}}, od[4] = {{0}};
        for (s = 0; s + 8 <= n; s += 8) {
            const v8f a8 = load8(att + s);
            KV_VALUE_STEP(ev, 0);
            KV_VALUE_STEP(od, 1);
            KV_VALUE_STEP(ev, 2);
            KV_VALUE_STEP(od, 3);
            KV_VALUE_STEP(ev, 4);
            KV_VALUE_STEP(od, 5);
            KV_VALUE_STEP(ev, 6);
            KV_VALUE_STEP(od, 7);
        }
        for (; s < n; s++) {
            const v8f a = splat8(att[s]);
            KV_UNROLL
            for (int c = 0; c < nv; c++)
                ev[c] += a * row8(values, vf, s, b + 8 * c);
        }
        for (int c = 0; c < nv; c++) {
            v8f o = ev[c] + od[c];
            memcpy(out + b + 8 * c, &o, sizeof o);
        }
    }
#undef KV_VALUE_STEP
    for (int i = hs8; i < hs; i++) { // head sizes that are not a multiple of eight
        float acc = 0.0f;
        for (s = 0; s < n; s++)
            acc += att[s] * row1(values, vf, s, i);
        out[i] = acc;
    }
    if (!scores_finite) // the scores overflowed: say so in the output, which the layer checks
        out[0] = NAN;
}

// One instance per common head size, for formats kf and vf.
#define KV_ATTEND_HS(kf, vf)                                                                       \
    do {                                                                                           \
        switch (hs) {                                                                              \
        case 16:                                                                                   \
            attend_sized(out, att, q, keys, kf, values, vf, 16, n, scale);                         \
            break;                                                                                 \
        case 32:                                                                                   \
            attend_sized(out, att, q, keys, kf, values, vf, 32, n, scale);                         \
            break;                                                                                 \
        case 64:                                                                                   \
            attend_sized(out, att, q, keys, kf, values, vf, 64, n, scale);                         \
            break;                                                                                 \
        default:                                                                                   \
            attend_sized(out, att, q, keys, kf, values, vf, hs, n, scale);                         \
        }                                                                                          \
    } while (0)

KV_CLONES
void kernel_attend_rows(float *restrict out, float *restrict att, const float *restrict q,
                        const KernelRows *keys, const KernelRows *values, int hs, int n,
                        float scale) {
    const KernelFormat kf = keys->format, vf = values->format;
    // keys and values in one format, or f32 keys (rotated when read: sinks) with packed values
    assert(kf == vf || kf == KERNEL_F32);
    switch (vf) {
    case KERNEL_F32:
        KV_ATTEND_HS(KERNEL_F32, KERNEL_F32);
        break;
    case KERNEL_BF16:
        if (kf == KERNEL_F32)
            KV_ATTEND_HS(KERNEL_F32, KERNEL_BF16);
        else
            KV_ATTEND_HS(KERNEL_BF16, KERNEL_BF16);
        break;
    case KERNEL_INT8:
        if (kf == KERNEL_F32)
            KV_ATTEND_HS(KERNEL_F32, KERNEL_INT8);
        else
            KV_ATTEND_HS(KERNEL_INT8, KERNEL_INT8);
        break;
    case KERNEL_INT4:
        if (kf == KERNEL_F32)
            KV_ATTEND_HS(KERNEL_F32, KERNEL_INT4);
        else
            KV_ATTEND_HS(KERNEL_INT4, KERNEL_INT4);
        break;
    }
}
#undef KV_ATTEND_HS

void kernel_attend(float *restrict out, float *restrict att, const float *restrict q,
                   const float *restrict keys, const float *restrict values, size_t stride, int hs,
                   int n, float scale) {
    const KernelRows k = {.data = keys, .stride = stride * sizeof(float), .format = KERNEL_F32};
    const KernelRows v = {.data = values, .stride = stride * sizeof(float), .format = KERNEL_F32};
    kernel_attend_rows(out, att, q, &k, &v, hs, n, scale);
}

// ----------------------------------------------------------------------------------------------
// Normalisation, rotation, gate

// out = weight * x / sqrt(mean(x^2) + 1e-5), as llama2.c computes it
void kernel_rmsnorm(float *out, const float *x, const float *weight, int size) {
    float ss = 0.0f;
    for (int j = 0; j < size; j++)
        ss += x[j] * x[j];
    ss /= (float)size;
    ss += 1e-5f;
    ss = ss - ss == 0.0f ? 1.0f / sqrtf(ss) : NAN; // squares that overflow are not a zero row
    for (int j = 0; j < size; j++)
        out[j] = weight[j] * (ss * x[j]);
}

// Rotates adjacent pairs (i, i+1) of every head of q (D wide) and k (KV wide) by pos * freq,
// with the cosines and sines of position pos from the engine's table (engine_init).
void kernel_rope(float *q, float *k, const float *cs, int dim, int kv_dim, int head_size) {
    for (int i = 0; i < dim; i += 2) {
        const float fcr = cs[i % head_size], fci = cs[i % head_size + 1];
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

// g = silu(h1) * h3 elementwise, silu(v) = v * sigmoid(v), eight at a time: sigmoid from
// e = exp(-|v|) (exp8, relative error below 3e-7), 1 / (1 + e) for v >= 0 and e / (1 + e) below,
// so that no exponential overflows; the last few through one padded vector
KV_CLONES
void kernel_swiglu(float *g, const float *h1, const float *h3, int n) {
    const v8f one = splat8(1.0f), zero = splat8(0.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const v8f v = load8(h1 + i);
        const v8i neg = v < zero;
        const v8f e = exp8((v8f)((v8i)v | ((v8i)splat8(-0.0f) & ~neg))); // -|v|
        const v8f sig = (v8f)(((v8i)(e / (one + e)) & neg) | ((v8i)(one / (one + e)) & ~neg));
        const v8f out = v * sig * load8(h3 + i);
        memcpy(g + i, &out, sizeof out);
    }
    for (; i < n; i++) {
        float v = h1[i];
        v *= 1.0f / (1.0f + expf(-v));
        g[i] = v * h3[i];
    }
}

// ----------------------------------------------------------------------------------------------
// The softmax denominator of the candidate list

KV_CLONES
double kernel_sum_exp(const float *x, int n, float max, float inv_t) {
    const v8f mv = splat8(max), tv = splat8(inv_t);
    double lanes[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const v8f e = exp8((load8(x + i) - mv) * tv);
        for (int j = 0; j < 8; j++)
            lanes[j] += (double)e[j];
    }
    double s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
               ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    if (i < n) {
        float tail[8];
        for (int j = 0; j < 8; j++)
            tail[j] = i + j < n ? (x[i + j] - max) * inv_t : -87.0f;
        const v8f e = exp8(load8(tail));
        for (int j = 0; i + j < n; j++)
            s += (double)e[j];
    }
    return s;
}

KV_CLONES
int kernel_argmax(const float *x, int n) {
    // the maximum eight lanes at a time, then the first index that holds it
    float m = x[0];
    int i = 0;
    if (n >= 8) {
        v8f mv = load8(x);
        for (i = 8; i + 8 <= n; i += 8) {
            const v8f v = load8(x + i);
            const v8i gt = v > mv;
            mv = (v8f)(((v8i)v & gt) | ((v8i)mv & ~gt));
        }
        for (int j = 0; j < 8; j++)
            m = mv[j] > m ? mv[j] : m;
    }
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    for (i = 0; x[i] != m; i++)
        ;
    return i;
}
