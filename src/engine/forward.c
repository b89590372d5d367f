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
                                                           "out", "mlp",    "classifier"};

// ----------------------------------------------------------------------------------------------
// Kernels
//
// out (N, O) = x (N, I) · W(O, I)^T, the only heavy loop. Eight-wide vectors (GCC vector
// extensions: two SSE registers on a plain x86-64, one AVX register in the AVX2+FMA clone that
// the loader picks at run time where the CPU has it). Decode (N = 1) walks four weight rows at
// once against one input and prefetches the next four: it streams every weight once per token
// and is bound by memory bandwidth, which is why the weights may be kept as bfloat16 (half the
// bytes, the same numbers: see loadw16). Prefill and no-cache passes walk four weight rows
// against three inputs, so each weight is read once per three positions: bound by arithmetic.

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KV_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
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

// The four horizontal sums of a0..a3 in lanes 0..3, associated as hsum8 does.
static inline v8f sum4x8(v8f a0, v8f a1, v8f a2, v8f a3) {
    v8f u0 = SHUF8(a0, a1, 0, 1, 2, 3, 8, 9, 10, 11) + SHUF8(a0, a1, 4, 5, 6, 7, 12, 13, 14, 15);
    v8f u1 = SHUF8(a2, a3, 0, 1, 2, 3, 8, 9, 10, 11) + SHUF8(a2, a3, 4, 5, 6, 7, 12, 13, 14, 15);
    v8f v = SHUF8(u0, u1, 0, 2, 4, 6, 8, 10, 12, 14) + SHUF8(u0, u1, 1, 3, 5, 7, 9, 11, 13, 15);
    return SHUF8(v, v, 0, 2, 4, 6, 0, 2, 4, 6) + SHUF8(v, v, 1, 3, 5, 7, 1, 3, 5, 7);
}

// Weights come as floats or as bfloat16 values (the high sixteen bits of a float: see
// engine_pack). Widening a bfloat16 to a float is exact, so both give the same numbers to the
// same arithmetic; bfloat16 halves the bytes a decode step streams from memory. A row of
// bfloat16 weights is stored in blocks of sixteen, element j and element j + 8 of a block in one
// 32-bit word: one load then gives sixteen floats with one shift (elements 0..7) and one mask
// (elements 8..15). What is left of a row after its last whole block is stored in order.
typedef uint32_t v8u __attribute__((vector_size(32)));

// Weights i .. i+15 of a row as two vectors (i a multiple of 16 from the row's start).
KV_INLINE void loadw16(const void *w, size_t i, v8f *lo, v8f *hi, const int bf16) {
    if (bf16) {
        v8u u;
        memcpy(&u, (const uint16_t *)w + i, sizeof u);
        *lo = (v8f)(u << 16);
        *hi = (v8f)(u & 0xffff0000u);
    } else {
        *lo = load8((const float *)w + i);
        *hi = load8((const float *)w + i + 8);
    }
}

// Weights i .. i+7 of a row stored in order (the part after the last whole block).
KV_INLINE v8f loadw8(const void *w, size_t i, const int bf16) {
    if (bf16) {
        uint32_t u[8];
        for (int j = 0; j < 8; j++)
            u[j] = (uint32_t)((const uint16_t *)w)[i + j] << 16;
        v8f v;
        memcpy(&v, u, sizeof v);
        return v;
    }
    return load8((const float *)w + i);
}

KV_INLINE float loadw1(const void *w, size_t i, const int bf16) {
    if (bf16) {
        uint32_t u = (uint32_t)((const uint16_t *)w)[i] << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    return ((const float *)w)[i];
}

// out[0 .. rows) = W (rows, in) · x for one position, four weight rows at a time.
KV_INLINE void matvec_body(float *restrict out, const float *restrict x, const void *w, int in,
                           int rows, const int bf16) {
    const int in8 = in & ~7, in16 = in & ~15;
    const size_t es = bf16 ? sizeof(uint16_t) : sizeof(float);
    int o = 0;
    for (; o + 4 <= rows; o += 4) {
        const size_t r0 = (size_t)o * in, r1 = r0 + in, r2 = r1 + in, r3 = r2 + in;
        // the next four rows, as fast as these are read: the weights stream from the shared
        // cache once per token, and the hardware prefetcher alone leaves the loads waiting
        const char *next = (const char *)w + (r3 + in) * es;
        v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        int i = 0;
        for (; bf16 && i < in16; i += 16) {
            for (size_t b = 0; b < 64 * es; b += 64)
                __builtin_prefetch(next + 4 * es * (size_t)i + b);
            const v8f xa = load8(x + i), xb = load8(x + i + 8);
            v8f lo, hi;
            loadw16(w, r0 + i, &lo, &hi, bf16);
            a0 += lo * xa;
            a0 += hi * xb;
            loadw16(w, r1 + i, &lo, &hi, bf16);
            a1 += lo * xa;
            a1 += hi * xb;
            loadw16(w, r2 + i, &lo, &hi, bf16);
            a2 += lo * xa;
            a2 += hi * xb;
            loadw16(w, r3 + i, &lo, &hi, bf16);
            a3 += lo * xa;
            a3 += hi * xb;
        }
        for (; i < in8; i += 8) { // floats: eight at a time
            for (size_t b = 0; b < 32 * es; b += 64)
                __builtin_prefetch(next + 4 * es * (size_t)i + b);
            const v8f xa = load8(x + i);
            a0 += loadw8(w, r0 + i, bf16) * xa;
            a1 += loadw8(w, r1 + i, bf16) * xa;
            a2 += loadw8(w, r2 + i, bf16) * xa;
            a3 += loadw8(w, r3 + i, bf16) * xa;
        }
        v8f r = sum4x8(a0, a1, a2, a3);
        float s0 = r[0], s1 = r[1], s2 = r[2], s3 = r[3];
        for (i = in8; i < in; i++) {
            s0 += loadw1(w, r0 + i, bf16) * x[i];
            s1 += loadw1(w, r1 + i, bf16) * x[i];
            s2 += loadw1(w, r2 + i, bf16) * x[i];
            s3 += loadw1(w, r3 + i, bf16) * x[i];
        }
        out[o] = s0, out[o + 1] = s1, out[o + 2] = s2, out[o + 3] = s3;
    }
    for (; o < rows; o++) {
        const size_t r = (size_t)o * in;
        v8f a = {0};
        int i = 0;
        for (; i + 16 <= in8; i += 16) { // the same adds in the same order as eight at a time
            v8f lo, hi;
            loadw16(w, r + i, &lo, &hi, bf16);
            a += lo * load8(x + i);
            a += hi * load8(x + i + 8);
        }
        if (i < in8)
            a += loadw8(w, r + i, bf16) * load8(x + i);
        float s = hsum8(a);
        for (i = in8; i < in; i++)
            s += loadw1(w, r + i, bf16) * x[i];
        out[o] = s;
    }
}

// out (N, rows), rows `ostride` apart, = x (N, I) · W (rows, I)^T for float weights: 4 weight
// rows x 3 positions per tile, so each weight is read once per three positions.
KV_INLINE void batch_body(float *restrict out, size_t ostride, const float *restrict x,
                          const float *restrict w, int n, int in, int rows) {
    const int in8 = in & ~7;
    int o = 0;
    for (; o + 4 <= rows; o += 4) {
        const float *w0 = w + (size_t)o * in, *w1 = w0 + in, *w2 = w1 + in, *w3 = w2 + in;
        int t = 0;
        for (; t + 3 <= n; t += 3) {
            const float *x0 = x + (size_t)t * in, *x1 = x0 + in, *x2 = x1 + in;
            v8f a00 = {0}, a01 = {0}, a02 = {0}, a10 = {0}, a11 = {0}, a12 = {0};
            v8f a20 = {0}, a21 = {0}, a22 = {0}, a30 = {0}, a31 = {0}, a32 = {0};
            for (int i = 0; i < in8; i += 8) { // twelve accumulators, three inputs, one weight
                v8f xa = load8(x0 + i), xb = load8(x1 + i), xc = load8(x2 + i);
                v8f wv = load8(w0 + i);
                a00 += wv * xa, a01 += wv * xb, a02 += wv * xc;
                wv = load8(w1 + i);
                a10 += wv * xa, a11 += wv * xb, a12 += wv * xc;
                wv = load8(w2 + i);
                a20 += wv * xa, a21 += wv * xb, a22 += wv * xc;
                wv = load8(w3 + i);
                a30 += wv * xa, a31 += wv * xb, a32 += wv * xc;
            }
            float s[4][3] = {{hsum8(a00), hsum8(a01), hsum8(a02)},
                             {hsum8(a10), hsum8(a11), hsum8(a12)},
                             {hsum8(a20), hsum8(a21), hsum8(a22)},
                             {hsum8(a30), hsum8(a31), hsum8(a32)}};
            const float *wr[4] = {w0, w1, w2, w3}, *xr[3] = {x0, x1, x2};
            for (int i = in8; i < in; i++)
                for (int r = 0; r < 4; r++)
                    for (int c = 0; c < 3; c++)
                        s[r][c] += wr[r][i] * xr[c][i];
            for (int c = 0; c < 3; c++)
                for (int r = 0; r < 4; r++)
                    out[(size_t)(t + c) * ostride + o + r] = s[r][c];
        }
        for (; t < n; t++)
            matvec_body(out + (size_t)t * ostride + o, x + (size_t)t * in, w0, in, 4, 0);
    }
    if (o < rows)
        for (int t = 0; t < n; t++)
            matvec_body(out + (size_t)t * ostride + o, x + (size_t)t * in, w + (size_t)o * in, in,
                        rows - o, 0);
}

// One packed bfloat16 row back to `in` floats in order (the inverse of pack_row_bf16).
static void widen_row_bf16(float *restrict dst, const uint16_t *restrict src, int in) {
    const int in8 = in & ~7;
    int i = 0;
    for (; i + 16 <= in8; i += 16) {
        v8f lo, hi;
        loadw16(src, (size_t)i, &lo, &hi, 1);
        memcpy(dst + i, &lo, sizeof lo);
        memcpy(dst + i + 8, &hi, sizeof hi);
    }
    for (; i < in; i++)
        dst[i] = loadw1(src, (size_t)i, 1);
}

KV_CLONES
static void matmul_f32(float *restrict out, const float *restrict x, const float *w, int n, int in,
                       int out_dim) {
    if (n == 1)
        matvec_body(out, x, w, in, out_dim, 0);
    else
        batch_body(out, (size_t)out_dim, x, w, n, in, out_dim);
}

// bfloat16 weights: a decode streams them as they are; a batched pass widens four rows at a
// time into `wide` (4 x I floats) once and uses them for every position.
KV_CLONES
static void matmul_bf16(float *restrict out, const float *restrict x, const uint16_t *w, int n,
                        int in, int out_dim, float *restrict wide) {
    if (n == 1) {
        matvec_body(out, x, w, in, out_dim, 1);
        return;
    }
    for (int o = 0; o < out_dim; o += 4) {
        const int rows = out_dim - o < 4 ? out_dim - o : 4;
        for (int r = 0; r < rows; r++)
            widen_row_bf16(wide + (size_t)r * in, w + (size_t)(o + r) * in, in);
        batch_body(out + o, (size_t)out_dim, x, wide, n, in, rows);
    }
}

// out (N, O) = x (N, I) · W (O, I)^T, counted as 2 N I O FLOPs in *flops.
static void matmul(Engine *e, float *restrict out, const float *restrict x, const void *w, int n,
                   int in, int out_dim, uint64_t *flops) {
    if (e->packed_bf16)
        matmul_bf16(out, x, w, n, in, out_dim, e->wide);
    else
        matmul_f32(out, x, w, n, in, out_dim);
    if (flops)
        *flops += 2ull * (uint64_t)n * (uint64_t)in * (uint64_t)out_dim;
}

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

static inline float dot_inline(const float *restrict a, const float *restrict b, int n) {
    const int n8 = n & ~7;
    v8f acc = {0};
    for (int i = 0; i < n8; i += 8)
        acc += load8(a + i) * load8(b + i);
    float s = hsum8(acc);
    for (int i = n8; i < n; i++)
        s += a[i] * b[i];
    return s;
}

// One head's attention for one query: att[0..n) = softmax(q . k_s * scale), out = sum att_s v_s.
// Keys and values are rows `stride` floats apart. The head size comes in as a constant where it
// is a common one (see attend_head), so that the chunk loops unroll and every accumulator stays
// in a register. Every order of summation here is fixed by (q, keys, values, n) alone, so the
// cached decode of position p and the no-cache recompute of the same row give identical bits.
KV_INLINE void attend_sized(float *restrict out, float *restrict att, const float *restrict q,
                            const float *restrict keys, const float *restrict values, size_t stride,
                            const int hs, int n, float scale) {
    const int hs8 = hs & ~7, nc = hs8 / 8;
    float mx = -INFINITY;
    int s = 0;
    // scores, eight keys at a time: eight partial vectors, their eight sums reduced together
    if (nc > 0 && hs8 == hs) {
        v8f mx8 = splat8(-INFINITY);
        const v8f scale8 = splat8(scale);
        for (; s + 8 <= n; s += 8) {
            const float *k0 = keys + (size_t)s * stride;
            v8f acc[8];
            KV_UNROLL
            for (int j = 0; j < 8; j++)
                acc[j] = load8(q) * load8(k0 + (size_t)j * stride);
            KV_UNROLL
            for (int c = 1; c < nc; c++) {
                const v8f qv = load8(q + 8 * c);
                KV_UNROLL
                for (int j = 0; j < 8; j++)
                    acc[j] += qv * load8(k0 + (size_t)j * stride + 8 * c);
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
        float v = dot_inline(q, keys + (size_t)s * stride, hs) * scale;
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
        const float *v_ = vb + (size_t)(s + j) * stride;                                           \
        KV_UNROLL                                                                                  \
        for (int c = 0; c < nv; c++)                                                               \
            acc[c] += a_ * load8(v_ + 8 * c);                                                      \
    } while (0)
    // weighted values, up to four vectors of the output at a time, held in registers. Weights come
    // eight at a time, each broadcast by a lane shuffle; even and odd positions go to separate
    // accumulators so that consecutive adds do not wait on each other.
    for (int b = 0; b < hs8; b += 32) {
        const int nv = hs8 - b < 32 ? (hs8 - b) / 8 : 4;
        v8f ev[4] = {{0}}, od[4] = {{0}};
        const float *vb = values + b;
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
                ev[c] += a * load8(vb + (size_t)s * stride + 8 * c);
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
            acc += att[s] * values[(size_t)s * stride + i];
        out[i] = acc;
    }
    if (!scores_finite) // the scores overflowed: say so in the output, which the layer checks
        out[0] = NAN;
}

KV_CLONES
static void attend_head(float *restrict out, float *restrict att, const float *restrict q,
                        const float *restrict keys, const float *restrict values, size_t stride,
                        int hs, int n, float scale) {
    switch (hs) {
    case 16:
        attend_sized(out, att, q, keys, values, stride, 16, n, scale);
        break;
    case 32:
        attend_sized(out, att, q, keys, values, stride, 32, n, scale);
        break;
    case 64:
        attend_sized(out, att, q, keys, values, stride, 64, n, scale);
        break;
    default:
        attend_sized(out, att, q, keys, values, stride, hs, n, scale);
    }
}

// out = weight * x / sqrt(mean(x^2) + 1e-5), as llama2.c computes it
static void rmsnorm(float *out, const float *x, const float *weight, int size) {
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
static void rope(float *q, float *k, const float *cs, int dim, int kv_dim, int head_size) {
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

// ----------------------------------------------------------------------------------------------
// Engine

size_t engine_cache_offset(const ModelConfig *c, int layer, int kv_head, int pos) {
    const size_t hs = (size_t)config_head_size(c), t = (size_t)c->seq_len;
    return (((size_t)layer * (size_t)c->n_kv_heads + (size_t)kv_head) * t + (size_t)pos) * hs;
}

// The matrices of m in the order one pass reads them (see Engine.packed): pointers, sizes in
// floats and row lengths; returns how many.
static int packed_parts(const Model *m, const float *part[], size_t len[], size_t cols[]) {
    const ModelConfig *c = &m->cfg;
    const ModelWeights *w = &m->w;
    const size_t d = (size_t)c->dim, f = (size_t)c->hidden_dim, kv = (size_t)config_kv_dim(c);
    int k = 0;
    for (size_t l = 0; l < (size_t)c->n_layers; l++) {
        part[k] = w->wq + l * d * d, len[k] = d * d, cols[k++] = d;
        part[k] = w->wk + l * kv * d, len[k] = kv * d, cols[k++] = d;
        part[k] = w->wv + l * kv * d, len[k] = kv * d, cols[k++] = d;
        part[k] = w->wo + l * d * d, len[k] = d * d, cols[k++] = d;
        part[k] = w->w1 + l * f * d, len[k] = f * d, cols[k++] = d;
        part[k] = w->w3 + l * f * d, len[k] = f * d, cols[k++] = d;
        part[k] = w->w2 + l * d * f, len[k] = d * f, cols[k++] = f;
    }
    part[k] = w->wcls, len[k] = (size_t)c->vocab_size * d, cols[k++] = d;
    return k;
}

static uint16_t bf16_bits(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (uint16_t)(u >> 16);
}

// One row of n weights (each exactly a bfloat16) in the order loadw16 and loadw8 read; returns
// the end of what was written.
static uint16_t *pack_row_bf16(uint16_t *h, const float *row, size_t n) {
    size_t i = 0;
    for (; i + 16 <= (n & ~(size_t)7); i += 16)
        for (size_t j = 0; j < 8; j++) {
            *h++ = bf16_bits(row[i + j]);
            *h++ = bf16_bits(row[i + 8 + j]);
        }
    for (; i < n; i++)
        *h++ = bf16_bits(row[i]);
    return h;
}

bool engine_pack(Engine *e, bool allow_bf16) {
    const ModelConfig *c = &e->model->cfg;
    const int max_parts = 7 * c->n_layers + 1;
    const float **part = kv_malloc((size_t)max_parts * sizeof *part);
    size_t *len = kv_malloc((size_t)max_parts * sizeof *len), total = 0;
    size_t *cols = kv_malloc((size_t)max_parts * sizeof *cols);
    const int k = packed_parts(e->model, part, len, cols);
    const bool bf16 = allow_bf16 && model_weights_bf16(e->model);
    for (int i = 0; i < k; i++)
        total += len[i];
    free(e->packed);
    e->packed_bf16 = bf16;
    e->packed = kv_malloc_aligned(total * (bf16 ? sizeof(uint16_t) : sizeof(float)));
    uint16_t *h = e->packed;
    float *f = e->packed;
    for (int i = 0; i < k; i++) {
        if (!bf16) {
            memcpy(f, part[i], len[i] * sizeof(float));
            f += len[i];
            continue;
        }
        for (size_t r = 0; r < len[i] / cols[i]; r++) // see loadw16 for the order in a row
            h = pack_row_bf16(h, part[i] + r * cols[i], cols[i]);
    }
    e->packed_layer = 0; // the seven matrices of one layer, as packed_parts lists them
    for (int i = 0; i < 7; i++)
        e->packed_layer += len[i];
    free(part);
    free(len);
    free(cols);
    return bf16;
}

size_t engine_packed_bytes(const Engine *e) {
    const ModelConfig *c = &e->model->cfg;
    size_t n = (size_t)c->n_layers * e->packed_layer + (size_t)c->vocab_size * (size_t)c->dim;
    return n * (e->packed_bf16 ? sizeof(uint16_t) : sizeof(float));
}

// Element `i` of the packed stream, whichever its format.
static const void *packed_at(const Engine *e, size_t i) {
    return (const char *)e->packed + i * (e->packed_bf16 ? sizeof(uint16_t) : sizeof(float));
}

KvStatus engine_init(Engine *e, const Model *m, KvError *err) {
    memset(e, 0, sizeof *e);
    const ModelConfig *c = &m->cfg;
    size_t t = (size_t)c->seq_len, d = (size_t)c->dim, f = (size_t)c->hidden_dim;
    size_t kv = (size_t)config_kv_dim(c), l = (size_t)c->n_layers, v = (size_t)c->vocab_size;
    e->model = m;
    engine_pack(e, true);
    e->key_cache = kv_calloc(l * t * kv, sizeof(float));
    e->value_cache = kv_calloc(l * t * kv, sizeof(float));
    e->work_k = kv_calloc(l * t * kv, sizeof(float));
    e->work_v = kv_calloc(l * t * kv, sizeof(float));
    e->x = kv_calloc(t * d, sizeof(float));
    e->xb = kv_calloc(t * d, sizeof(float));
    e->xb2 = kv_calloc(t * d, sizeof(float));
    e->qkv = kv_calloc(t * (d + 2 * kv), sizeof(float));
    e->hb = kv_calloc(t * 2 * f, sizeof(float));
    e->hb2 = kv_calloc(t * f, sizeof(float));
    e->att = kv_calloc((size_t)c->n_heads * t, sizeof(float));
    e->logits = kv_calloc(v, sizeof(float));
    e->wide = kv_malloc_aligned(4 * (d > f ? d : f) * sizeof(float));
    // RoPE: for each position and pair (i, i+1) of a head, cos and sin of pos * freq_i, with
    // freq_i = 10000^(-i/HS) computed as llama2.c computes it (the same floats, once)
    const int hs = config_head_size(c);
    e->rope = kv_malloc(t * (size_t)hs * sizeof(float));
    for (size_t pos = 0; pos < t; pos++)
        for (int i = 0; i < hs; i += 2) {
            float freq = 1.0f / powf(10000.0f, (float)i / (float)hs);
            float val = (float)pos * freq;
            e->rope[pos * (size_t)hs + (size_t)i] = cosf(val);
            e->rope[pos * (size_t)hs + (size_t)i + 1] = sinf(val);
        }
    e->instrument = true;
    (void)err;
    return KV_OK;
}

void engine_free(Engine *e) {
    free(e->packed);
    free(e->key_cache);
    free(e->value_cache);
    free(e->work_k);
    free(e->work_v);
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

void engine_forward(Engine *e, const int *tokens, int pos0, int n, bool use_cache, AttnSink *sink,
                    Counters *ctr) {
    const ModelConfig *c = &e->model->cfg;
    const ModelWeights *w = &e->model->w;
    const int D = c->dim, F = c->hidden_dim, KV = config_kv_dim(c), HS = config_head_size(c);
    const int H = c->n_heads, T = c->seq_len, group = c->n_heads / c->n_kv_heads;
    const int QKV = D + 2 * KV;
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
    e->fault_layer = 0;
    e->fault_pos = -1;

    // x (N, D) = embedding rows of the tokens
    for (int t = 0; t < n; t++)
        memcpy(e->x + (size_t)t * D, w->token_embedding + (size_t)tokens[t] * D, D * sizeof(float));

    for (int l = 0; l < c->n_layers; l++) {
        const size_t base = (size_t)l * e->packed_layer;
        const void *wqkv = packed_at(e, base);                               // (D + 2 KV, D)
        const void *wo = packed_at(e, base + (size_t)QKV * D);               // (D, D)
        const void *w13 = packed_at(e, base + (size_t)(QKV + D) * D);        // (2 F, D)
        const void *w2 = packed_at(e, base + (size_t)(QKV + D + 2 * F) * D); // (D, F)

        // attention: xb = rmsnorm(x); q, k, v in one product; rotate q and k by their positions
        for (int t = 0; t < n; t++)
            rmsnorm(e->xb + (size_t)t * D, e->x + (size_t)t * D, w->rms_att + (size_t)l * D, D);
        matmul(e, e->qkv, e->xb, wqkv, n, D, QKV, f_qkv);
        for (int t = 0; t < n; t++) {
            float *q = e->qkv + (size_t)t * QKV;
            rope(q, q + D, e->rope + (size_t)(pos0 + t) * HS, D, KV, HS);
        }
        // each key/value head's slice goes to its slot: that head's keys are one contiguous run
        for (int g = 0; g < c->n_kv_heads; g++)
            for (int t = 0; t < n; t++) {
                const float *k = e->qkv + (size_t)t * QKV + D + (size_t)g * HS;
                const size_t slot = engine_cache_offset(c, l, g, pos0 + t);
                memcpy(kbase + slot, k, HS * sizeof(float));
                memcpy(vbase + slot, k + KV, HS * sizeof(float));
            }
        if (ctr)
            ctr->kv_bytes_written += 2ull * (uint64_t)n * (uint64_t)KV * sizeof(float);

        // one attention row per query position p, every head: softmax(q·k / sqrt(HS)) · v
        for (int t = 0; t < n; t++) {
            const int p = pos0 + t;
            float *out = e->xb + (size_t)t * D;
            for (int h = 0; h < H; h++) {
                const float *qh = e->qkv + (size_t)t * QKV + (size_t)h * HS;
                const size_t head0 = engine_cache_offset(c, l, h / group, 0);
                float *att = e->att + (size_t)h * T;
                attend_head(out + (size_t)h * HS, att, qh, kbase + head0, vbase + head0, (size_t)HS,
                            HS, p + 1, inv_sqrt_hs);
                if (sink && p >= sink->row0 && p < sink->row0 + sink->rows) {
                    float *row = sink->w +
                                 (((size_t)l * H + h) * sink->rows + (p - sink->row0)) * sink->cols;
                    memcpy(row, att, (size_t)(p + 1) * sizeof(float));
                }
            }
            if (ctr) {
                ctr->flops[FLOP_SCORES] += 2ull * (uint64_t)HS * H * (uint64_t)(p + 1);
                ctr->flops[FLOP_VALUES] += 2ull * (uint64_t)HS * H * (uint64_t)(p + 1);
                ctr->kv_bytes_read += 2ull * (uint64_t)(p + 1) * (uint64_t)KV * sizeof(float);
            }
        }
        matmul(e, e->xb2, e->xb, wo, n, D, D, f_out);
        for (size_t i = 0; i < (size_t)n * D; i++)
            e->x[i] += e->xb2[i];

        // MLP: x += W2 (silu(W1 xb) * W3 xb), W1 and W3 in one product
        for (int t = 0; t < n; t++)
            rmsnorm(e->xb + (size_t)t * D, e->x + (size_t)t * D, w->rms_ffn + (size_t)l * D, D);
        matmul(e, e->hb, e->xb, w13, n, D, 2 * F, f_mlp);
        for (int t = 0; t < n; t++) {
            const float *h1 = e->hb + (size_t)t * 2 * F, *h3 = h1 + F;
            float *g = e->hb2 + (size_t)t * F;
            for (int i = 0; i < F; i++) {
                float v = h1[i];
                v *= 1.0f / (1.0f + expf(-v));
                g[i] = v * h3[i];
            }
        }
        matmul(e, e->xb2, e->hb2, w2, n, F, D, f_mlp);
        for (size_t i = 0; i < (size_t)n * D; i++)
            e->x[i] += e->xb2[i];
        // a model with huge weights overflows: stop at the first layer whose output is not
        // finite (every later value would be meaningless), keeping the cache as it was
        const int bad = first_nonfinite_row(e->x, n, D);
        if (bad >= 0) {
            e->fault_layer = l + 1;
            e->fault_pos = pos0 + bad;
            if (use_cache && e->cache_len > pos0)
                e->cache_len = pos0;
            return;
        }
    }
    if (ctr)
        ctr->positions += (uint64_t)n;
    if (use_cache) // the cache now holds exactly positions 0 .. pos0+n-1 of this sequence
        e->cache_len = pos0 + n;

    // logits of the last position only: the one whose next token is wanted
    const float *xl = e->x + (size_t)(n - 1) * D;
    rmsnorm(e->xb, xl, w->rms_final, D);
    const void *wcls = packed_at(e, (size_t)c->n_layers * e->packed_layer);
    matmul(e, e->logits, e->xb, wcls, 1, D, c->vocab_size, f_cls);
    if (first_nonfinite_row(e->logits, 1, c->vocab_size) >= 0) {
        e->fault_layer = c->n_layers + 1;
        e->fault_pos = pos0 + n - 1;
    }
}

int engine_step(Engine *e, const int *tokens, int len, CacheMode mode, AttnSink *sink,
                Counters *ctr) {
    assert(len >= 1 && len <= e->model->cfg.seq_len);
    if (mode == CACHE_MODE_ON) {
        int first = e->cache_len < len ? e->cache_len : len - 1;
        engine_forward(e, tokens + first, first, len - first, true, sink, ctr);
        if (!e->fault_layer)
            e->cache_len = len;
        return first;
    }
    e->cache_len = 0; // a model without a cache keeps nothing between steps
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
