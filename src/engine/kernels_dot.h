// kernels_dot.h — the matrix products of kernels.c, written once and compiled once per
// instruction set: kernels.c includes this file three times, each time after defining the
// vector type V16 and its operations for one set (plain SSE2, AVX2 with FMA, AVX-512) and DOT()
// to name the functions it defines. Not a header of its own: nothing else includes it. It
// undefines its parameters at the end (the next instruction set defines them afresh).
//
// Every dot product of a row of W with an input, whichever set, whichever kernel (one position
// or many, any tile, any thread), is summed in one order, the one association:
//
//   sixteen lanes: lane j accumulates w[i] * x[i] for i = j, j + 16, j + 32, ... (i < I16,
//   I16 = I rounded down to a multiple of 16), each step one multiply-add (fused where the set
//   has it); when 8 or more elements remain, lanes 0..7 take w[I16 + j] * x[I16 + j] too; then
//   the halves fold (lane j + lane j + 8) and the eight sums reduce as hsum8 does,
//   ((v0 + v4) + (v1 + v5)) + ((v2 + v6) + (v3 + v7)); then the last I mod 8 elements are added
//   one by one, in order.
//
// AVX2 holds the sixteen lanes in two registers, AVX-512 in one: the same operations on the same
// numbers, so both give the same bits (tests/test_engine.c compares them with a scalar model of
// this order). The plain set multiplies and adds separately (it has no fused multiply-add), so
// its bits differ from the other two; one machine runs one set for everything, which is what
// keeps the cached decode and the no-cache recompute identical.

// One row's dot product with x: the association above, from accumulators acc (lanes 0..15 over
// the whole blocks) and the remaining elements of w and x.
KV_INLINE float DOT(finish)(V16 acc, const void *w, size_t r, const float *x, int in, int bf16) {
    const int in16 = in & ~15, in8 = in & ~7;
    v8_t f = in8 > in16 ? v16_fold_tail(acc, v16_loadw8(w, r + (size_t)in16, bf16), x + in16)
                        : v16_fold(acc);
    float s = v8_hsum(f);
    for (int i = in8; i < in; i++)
        s = s_fma(w1_at(w, r + (size_t)i, bf16), x[i], s);
    return s;
}

// Rows r0 .. r1-1 of W (rows of `in` weights) times one input x: four rows at a time, four
// sequential streams the hardware prefetcher follows (a decode step streams every weight once
// and waits on memory; software prefetches of the next rows measured slower on AMD Zen 4).
KV_INLINE void DOT(matvec_body)(float *restrict out, const float *restrict x, const void *w, int in,
                                int r0, int r1, const int bf16) {
    const int in16 = in & ~15;
    int o = r0;
    for (; o + 4 <= r1; o += 4) {
        const size_t ra = (size_t)o * in, rb = ra + in, rc = rb + in, rd = rc + in;
        V16 a0 = v16_zero(), a1 = v16_zero(), a2 = v16_zero(), a3 = v16_zero();
        for (int i = 0; i < in16; i += 16) {
            const V16 xv = v16_load(x + i);
            a0 = v16_fma(v16_loadw(w, ra + (size_t)i, bf16), xv, a0);
            a1 = v16_fma(v16_loadw(w, rb + (size_t)i, bf16), xv, a1);
            a2 = v16_fma(v16_loadw(w, rc + (size_t)i, bf16), xv, a2);
            a3 = v16_fma(v16_loadw(w, rd + (size_t)i, bf16), xv, a3);
        }
        out[o] = DOT(finish)(a0, w, ra, x, in, bf16);
        out[o + 1] = DOT(finish)(a1, w, rb, x, in, bf16);
        out[o + 2] = DOT(finish)(a2, w, rc, x, in, bf16);
        out[o + 3] = DOT(finish)(a3, w, rd, x, in, bf16);
    }
    for (; o < r1; o++) {
        const size_t r = (size_t)o * in;
        V16 a = v16_zero();
        for (int i = 0; i < in16; i += 16)
            a = v16_fma(v16_loadw(w, r + (size_t)i, bf16), v16_load(x + i), a);
        out[o] = DOT(finish)(a, w, r, x, in, bf16);
    }
}

// A tile of TR float weight rows (w, rows `in` apart) by TP inputs (x, rows `in` apart):
// out[t * ostride + r] for r < TR, t < TP. Each weight vector loaded once for TP inputs, each
// input vector once for TR rows; TR x TP accumulators in registers.
#define KV_TILE(TR, TP)                                                                            \
    KV_INLINE void DOT(tile_##TR##x##TP)(float *restrict out, size_t ostride,                      \
                                         const float *restrict x, const float *restrict w,         \
                                         int in) {                                                 \
        const int in16 = in & ~15;                                                                 \
        V16 acc[TR][TP];                                                                           \
        KV_UNROLL for (int r = 0; r < TR; r++) KV_UNROLL for (int t = 0; t < TP; t++) acc[r][t] =  \
            v16_zero();                                                                            \
        for (int i = 0; i < in16; i += 16) {                                                       \
            V16 xv[TP];                                                                            \
            KV_UNROLL for (int t = 0; t < TP; t++) xv[t] = v16_load(x + (size_t)t * in + i);       \
            KV_UNROLL for (int r = 0; r < TR; r++) {                                               \
                const V16 wv = v16_load(w + (size_t)r * in + i);                                   \
                KV_UNROLL for (int t = 0; t < TP; t++) acc[r][t] = v16_fma(wv, xv[t], acc[r][t]);  \
            }                                                                                      \
        }                                                                                          \
        KV_UNROLL for (int t = 0; t < TP; t++) KV_UNROLL for (int r = 0; r < TR; r++)              \
            out[(size_t)t * ostride + r] =                                                         \
                DOT(finish)(acc[r][t], w, (size_t)r * in, x + (size_t)t * in, in, 0);              \
    }
#define KV_TILE_(TR, TP) KV_TILE(TR, TP) // (expands KV_TR and KV_TP before pasting)
KV_TILE_(KV_TR, KV_TP)
KV_TILE_(KV_TR, 1)
KV_TILE_(1, 1)
#undef KV_TILE_
#undef KV_TILE
#define KV_TILE_CALL(TR, TP) DOT(tile_##TR##x##TP)
#define KV_TILE_NAME(TR, TP) KV_TILE_CALL(TR, TP)

// Rows r0 .. r1-1 of float weights w times n inputs x (N, I): out (N, rows `ostride` apart).
KV_INLINE void DOT(batch_body)(float *restrict out, size_t ostride, const float *restrict x,
                               const float *restrict w, int n, int in, int r0, int r1) {
    int o = r0;
    for (; o + KV_TR <= r1; o += KV_TR) {
        const float *wr = w + (size_t)o * in;
        int t = 0;
        for (; t + KV_TP <= n; t += KV_TP)
            KV_TILE_NAME(KV_TR, KV_TP)
        (out + (size_t)t * ostride + o, ostride, x + (size_t)t * in, wr, in);
        for (; t < n; t++)
            KV_TILE_NAME(KV_TR, 1)
        (out + (size_t)t * ostride + o, ostride, x + (size_t)t * in, wr, in);
    }
    for (; o < r1; o++)
        for (int t = 0; t < n; t++)
            KV_TILE_NAME(1, 1)
    (out + (size_t)t * ostride + o, ostride, x + (size_t)t * in, w + (size_t)o * in, in);
}

// The rows r0 .. r1-1 of out (N, O) = x (N, I) · W (O, I)^T, W as floats or bfloat16; a batched
// pass over bfloat16 weights widens KV_TR rows at a time into `wide` (KV_TR x I floats, this
// part's own) once for every position.
static void DOT(matmul_rows)(float *restrict out, size_t ostride, const float *restrict x,
                             const void *w, int bf16, int n, int in, int r0, int r1,
                             float *restrict wide) {
    if (n == 1) {
        if (bf16)
            DOT(matvec_body)(out, x, w, in, r0, r1, 1);
        else
            DOT(matvec_body)(out, x, w, in, r0, r1, 0);
        return;
    }
    if (!bf16) {
        DOT(batch_body)(out, ostride, x, w, n, in, r0, r1);
        return;
    }
    for (int o = r0; o < r1; o += KV_TR) {
        const int rows = r1 - o < KV_TR ? r1 - o : KV_TR;
        const uint16_t *src = (const uint16_t *)w + (size_t)o * in;
        const size_t len = (size_t)rows * in;
        size_t i = 0;
        for (; i + 16 <= len; i += 16) // sixteen at a time, exactly (a bfloat16 is a float's top)
            v16_store(wide + i, v16_loadw(src, i, 1));
        widen_bf16(wide + i, src + i, len - i);
        DOT(batch_body)(out + o, ostride, x, wide, n, in, 0, rows);
    }
}
#undef KV_TILE_CALL
#undef KV_TILE_NAME

// The parameters of this instruction set: the next inclusion defines its own.
#undef DOT
#undef KV_TR
#undef KV_TP
#undef V16
#undef v8_t
#undef v16_zero
#undef v16_load
#undef v16_loadw
#undef v16_loadw8
#undef v16_fma
#undef v16_store
#undef v16_fold
#undef v16_fold_tail
#undef v8_hsum
#undef s_fma
