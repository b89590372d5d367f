// kvquant.c — how the KV cache's precision kinds turn a row of floats into fewer bits and back.
//
// Each function applies one rule of kvquant.h to one row (or one KIVI key group) and nothing
// else: where rows live, when a group is quantized and what attention reads are kvcache.c's.
// What this file does not do: allocate, keep state, or decide anything about positions.
#include "engine/kvquant.h"

#include <assert.h>
#include <float.h>
#include <stdbool.h>
#include <math.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// Helpers

// A read-back value: a product that overflowed is the largest float of its sign.
static inline float saturate(float v) {
    if (v > FLT_MAX)
        return FLT_MAX;
    if (v < -FLT_MAX)
        return -FLT_MAX;
    return v;
}

// nearbyintf(r) clamped to [lo, hi] as an int; NaN gives 0 (a float-to-int conversion of NaN or
// of a value out of range would be undefined).
static inline int round_clamp(float r, int lo, int hi) {
    if (r != r)
        return 0;
    r = nearbyintf(r);
    if (r < (float)lo)
        return lo;
    if (r > (float)hi)
        return hi;
    return (int)r;
}

// True when q * scale may overflow a float for some q in [0, 2^bits - 1]: the read back of such a
// row is computed in double (q * scale is exact there) and rounded once to float.
static inline bool wide_scale(float scale, int bits) {
    return scale > FLT_MAX / (float)((1 << bits) - 1);
}

static inline float unasym_wide(int q, float scale, float lo) {
    double v = (double)q * (double)scale + (double)lo;
    v = v > FLT_MAX ? FLT_MAX : v < -FLT_MAX ? -FLT_MAX : v;
    return (float)v;
}

// ----------------------------------------------------------------------------------------------
// bfloat16: the high half of a float, rounded to nearest, ties to even

uint16_t kvq_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) // NaN: keep it, quiet
        return (uint16_t)((u >> 16) | 0x0040u);
    const bool finite = (u & 0x7f800000u) != 0x7f800000u;
    // adding 0x7fff plus the lowest kept bit rounds the dropped half to nearest, ties to even
    uint32_t r = u + 0x7fffu + ((u >> 16) & 1u);
    uint16_t h = (uint16_t)(r >> 16);
    if (finite && (h & 0x7f80u) == 0x7f80u) // rounded past the largest bfloat16: saturate
        h = (uint16_t)((u >> 16 & 0x8000u) | 0x7f7fu);
    return h;
}

float kvq_bf16_value(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

void kvq_row_bf16(uint16_t *q, const float *x, int n) {
    for (int i = 0; i < n; i++)
        q[i] = kvq_bf16(x[i]);
}

void kvq_unrow_bf16(float *out, const uint16_t *q, int n) {
    for (int i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)q[i] << 16;
        memcpy(out + i, &u, sizeof u);
    }
}

// ----------------------------------------------------------------------------------------------
// int8: symmetric, one scale per row

float kvq_row_int8(int8_t *q, const float *x, int n) {
    float m = 0.0f;
    for (int i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        if (a > m) // NaN never compares greater
            m = a;
    }
    const float scale = m / 127.0f;
    for (int i = 0; i < n; i++)
        q[i] = scale == 0.0f ? 0 : (int8_t)round_clamp(x[i] / scale, -127, 127);
    return scale;
}

void kvq_unrow_int8(float *out, const int8_t *q, float scale, int n) {
    for (int i = 0; i < n; i++)
        out[i] = saturate((float)q[i] * scale);
}

// ----------------------------------------------------------------------------------------------
// Asymmetric min/max with 2 or 4 bits (int4 rows, KIVI rows and key channels)

size_t kvq_asym_bytes(int n, int bits) {
    assert((bits == 2 || bits == 4) && n % (8 / bits) == 0);
    return (size_t)n * (size_t)bits / 8;
}

void kvq_asym(uint8_t *q, float *scale_out, float *lo_out, const float *x, size_t stride, int n,
              int bits) {
    const int per = 8 / bits, levels = (1 << bits) - 1;
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        const float v = x[(size_t)i * stride];
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
    }
    float scale = (hi - lo) / (float)levels;
    const bool wide = scale > FLT_MAX; // hi - lo overflowed: the guard of kvquant.h
    if (wide)
        scale = hi / (float)levels - lo / (float)levels;
    memset(q, 0, kvq_asym_bytes(n, bits));
    if (scale == 0.0f || scale != scale) { // a constant row (or a NaN bound): q = 0, reads lo
        *scale_out = 0.0f;
        *lo_out = lo;
        return;
    }
    for (int i = 0; i < n; i++) {
        const float v = x[(size_t)i * stride];
        const float r = wide ? v / scale - lo / scale : (v - lo) / scale;
        const int qi = round_clamp(r, 0, levels);
        q[i / per] |= (uint8_t)(qi << ((i % per) * bits));
    }
    *scale_out = scale;
    *lo_out = lo;
}

void kvq_unasym(float *out, size_t stride, const uint8_t *q, float scale, float lo, int n,
                int bits) {
    const int per = 8 / bits, mask = (1 << bits) - 1;
    if (wide_scale(scale, bits)) {
        for (int i = 0; i < n; i++)
            out[(size_t)i * stride] =
                unasym_wide((q[i / per] >> ((i % per) * bits)) & mask, scale, lo);
        return;
    }
    for (int i = 0; i < n; i++) {
        const int qi = (q[i / per] >> ((i % per) * bits)) & mask;
        out[(size_t)i * stride] = saturate((float)qi * scale + lo);
    }
}

// ----------------------------------------------------------------------------------------------
// KIVI key groups: each channel quantized over G consecutive positions

size_t kvq_key_group_bytes(int hs, int bits) {
    return (size_t)hs * (kvq_asym_bytes(KVQ_KIVI_GROUP, bits) + 2 * sizeof(float));
}

void kvq_key_group(uint8_t *q, float *scale, float *lo, const float *rows, size_t stride, int hs,
                   int bits) {
    const size_t run = kvq_asym_bytes(KVQ_KIVI_GROUP, bits);
    for (int c = 0; c < hs; c++)
        kvq_asym(q + (size_t)c * run, scale + c, lo + c, rows + c, stride, KVQ_KIVI_GROUP, bits);
}

void kvq_unkey_group(float *rows, size_t stride, const uint8_t *q, const float *scale,
                     const float *lo, int hs, int bits, int i0, int n) {
    assert(i0 >= 0 && n >= 0 && i0 + n <= KVQ_KIVI_GROUP);
    const size_t run = kvq_asym_bytes(KVQ_KIVI_GROUP, bits);
    const int per = 8 / bits, mask = (1 << bits) - 1;
    for (int c = 0; c < hs; c++) {
        const uint8_t *qc = q + (size_t)c * run;
        const float s = scale[c], z = lo[c];
        const bool wide = wide_scale(s, bits);
        for (int i = i0; i < i0 + n; i++) {
            const int qi = (qc[i / per] >> ((i % per) * bits)) & mask;
            rows[(size_t)(i - i0) * stride + (size_t)c] =
                wide ? unasym_wide(qi, s, z) : saturate((float)qi * s + z);
        }
    }
}
