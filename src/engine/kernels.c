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
// Vectors and matrix products
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

// One packed bfloat16 row back to `in` floats in order (the inverse of kernel_pack_row_bf16).
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

void kernel_matmul(float *restrict out, const float *restrict x, const void *w, bool bf16, int n,
                   int in, int out_dim, float *restrict wide) {
    if (bf16)
        matmul_bf16(out, x, w, n, in, out_dim, wide);
    else
        matmul_f32(out, x, w, n, in, out_dim);
}

// ---- Independent rows (a server's decode step): kernel_matmul_rows
//
// out (N, O) = x (N, I) · W (O, I)^T where the N rows belong to N different sequences. Every
// output gets exactly the bits matvec_body gives its row alone: per (weight row, input) one
// accumulator takes the products eight elements at a time in order, then hsum8, then the
// scalar tail, as matvec_body does (its sum4x8 associates as hsum8). What changes is the order
// of the loops: four weight rows are read once and applied to two inputs at a time, and stay in
// L1 while all N inputs go by, so the weights stream from memory once per pass, not N times.

// The products of four weight rows r[0..3] with one input, added to acc[0..3] in matvec order.
KV_INLINE void rows_pair(v8f acc[2][4], const float *restrict xa, const float *restrict xb,
                         const void *w, const size_t r[4], int in, const int two, const int bf16) {
    const int in8 = in & ~7;
    int i = 0;
    for (; i + 16 <= in8; i += 16) {
        const v8f a0 = load8(xa + i), a1 = load8(xa + i + 8);
        const v8f b0 = two ? load8(xb + i) : a0, b1 = two ? load8(xb + i + 8) : a1;
        KV_UNROLL
        for (int k = 0; k < 4; k++) {
            v8f lo, hi;
            loadw16(w, r[k] + (size_t)i, &lo, &hi, bf16);
            acc[0][k] += lo * a0;
            acc[0][k] += hi * a1;
            if (two) {
                acc[1][k] += lo * b0;
                acc[1][k] += hi * b1;
            }
        }
    }
    if (i < in8) {
        const v8f a0 = load8(xa + i), b0 = two ? load8(xb + i) : a0;
        KV_UNROLL
        for (int k = 0; k < 4; k++) {
            const v8f wv = loadw8(w, r[k] + (size_t)i, bf16);
            acc[0][k] += wv * a0;
            if (two)
                acc[1][k] += wv * b0;
        }
    }
}

KV_INLINE void rows_body(float *restrict out, const float *restrict x, const void *w, int n, int in,
                         int out_dim, const int bf16) {
    const int in8 = in & ~7;
    for (int o = 0; o < out_dim; o += 4) {
        const int rows = out_dim - o < 4 ? out_dim - o : 4;
        size_t r[4]; // a last group of fewer than four rows repeats its last (not stored)
        for (int k = 0; k < 4; k++)
            r[k] = (size_t)(o + (k < rows ? k : rows - 1)) * (size_t)in;
        for (int t = 0; t < n; t += 2) {
            const int two = t + 1 < n;
            const float *xa = x + (size_t)t * in, *xb = two ? xa + in : xa;
            v8f acc[2][4] = {{{0}}};
            if (two)
                rows_pair(acc, xa, xb, w, r, in, 1, bf16);
            else
                rows_pair(acc, xa, xb, w, r, in, 0, bf16);
            for (int j = 0; j <= two; j++) {
                const float *xj = j ? xb : xa;
                for (int k = 0; k < rows; k++) {
                    float sum = hsum8(acc[j][k]);
                    for (int i = in8; i < in; i++)
                        sum += loadw1(w, r[k] + (size_t)i, bf16) * xj[i];
                    out[(size_t)(t + j) * out_dim + o + k] = sum;
                }
            }
        }
    }
}

KV_CLONES
static void rows_f32(float *restrict out, const float *restrict x, const float *w, int n, int in,
                     int out_dim) {
    rows_body(out, x, w, n, in, out_dim, 0);
}

KV_CLONES
static void rows_bf16(float *restrict out, const float *restrict x, const uint16_t *w, int n,
                      int in, int out_dim) {
    rows_body(out, x, w, n, in, out_dim, 1);
}

void kernel_matmul_rows(float *restrict out, const float *restrict x, const void *w, bool bf16,
                        int n, int in, int out_dim) {
    if (bf16)
        rows_bf16(out, x, w, n, in, out_dim);
    else
        rows_f32(out, x, w, n, in, out_dim);
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

static inline const uint8_t *row_at(const KernelRows *r, int s) {
    return (const uint8_t *)r->data + (size_t)s * r->stride;
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
        return __builtin_convertvector(w, v8f) * splat8(r->scale[s]);
    }
    case KERNEL_INT4: { // eight nibbles, value c + i in bits 4i of the four bytes from c / 2
        const uint8_t *b = p + c / 2;
        const uint32_t w =
            (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        const v8u q = ((v8u){w, w, w, w, w, w, w, w} >> (v8u){0, 4, 8, 12, 16, 20, 24, 28}) & 15u;
        return __builtin_convertvector((v8i)q, v8f) * splat8(r->scale[s]) + splat8(r->lo[s]);
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
        return (float)(int8_t)p[i] * r->scale[s];
    case KERNEL_INT4:
        return (float)((p[i / 2] >> (4 * (i % 2))) & 15) * r->scale[s] + r->lo[s];
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

// g = silu(h1) * h3 elementwise, silu(v) = v / (1 + e^-v) (as llama2.c computes it)
void kernel_swiglu(float *g, const float *h1, const float *h3, int n) {
    for (int i = 0; i < n; i++) {
        float v = h1[i];
        v *= 1.0f / (1.0f + expf(-v));
        g[i] = v * h3[i];
    }
}

// ----------------------------------------------------------------------------------------------
// bfloat16 rows in the order the matrix products read them

static uint16_t bf16_bits(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (uint16_t)(u >> 16);
}

// One row of n weights (each exactly a bfloat16) in the order loadw16 and loadw8 read; returns
// the end of what was written.
uint16_t *kernel_pack_row_bf16(uint16_t *h, const float *row, size_t n) {
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
