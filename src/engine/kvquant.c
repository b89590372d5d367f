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

// The read-back loops run for every cached row on every decode step: as kernels.c does, GCC
// builds them twice, for AVX2 and for any x86-64, and the loader picks one. (The standard C
// mode keeps a * b + c two roundings in both: no fused multiply-add is contracted.)
// -O2's cost model vectorizes no loop whose trip count is not known to fit the vector width; these
// loops run over a head size known only at run time, so they ask for the full vectorizer.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KVQ_CLONES __attribute__((target_clones("arch=x86-64-v3", "default"), optimize("O3")))
#else
#define KVQ_CLONES
#endif

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

KVQ_CLONES void kvq_unrow_bf16(float *restrict out, const uint16_t *restrict q, int n) {
    kvq_unrows_bf16(out, q, (size_t)n);
}

// ----------------------------------------------------------------------------------------------
// int8: symmetric, one scale per row

KVQ_CLONES float kvq_row_int8(int8_t *q, const float *x, int n) {
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

KVQ_CLONES void kvq_unrow_int8(float *restrict out, const int8_t *restrict q, float scale, int n) {
    if (scale < FLT_MAX / 128.0f) { // 127 * scale cannot overflow: the plain loop
        for (int i = 0; i < n; i++)
            out[i] = (float)q[i] * scale;
        return;
    }
    for (int i = 0; i < n; i++)
        out[i] = saturate((float)q[i] * scale);
}

// ----------------------------------------------------------------------------------------------
// Asymmetric min/max with 2 or 4 bits (int4 rows, KIVI rows and key channels)

size_t kvq_asym_bytes(int n, int bits) {
    assert((bits == 2 || bits == 4) && n % (8 / bits) == 0);
    return (size_t)n * (size_t)bits / 8;
}

KVQ_CLONES void kvq_asym(uint8_t *q, float *scale_out, float *lo_out, const float *x, size_t stride,
                         int n, int bits) {
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

// q * scale + lo cannot overflow for any q of `bits` bits: the plain loops apply.
static inline bool asym_plain(float scale, float lo, int bits) {
    return scale < FLT_MAX / (float)(2 << bits) && fabsf(lo) < FLT_MAX / 2.0f;
}

KVQ_CLONES void kvq_unasym(float *restrict out, size_t stride, const uint8_t *restrict q,
                           float scale, float lo, int n, int bits) {
    const int per = 8 / bits, mask = (1 << bits) - 1;
    if (stride == 1 && asym_plain(scale, lo, bits)) {
        if (bits == 4)
            for (int j = 0; j < n / 2; j++) {
                out[2 * j] = (float)(q[j] & 15) * scale + lo;
                out[2 * j + 1] = (float)(q[j] >> 4) * scale + lo;
            }
        else
            for (int j = 0; j < n / 4; j++) {
                out[4 * j] = (float)(q[j] & 3) * scale + lo;
                out[4 * j + 1] = (float)(q[j] >> 2 & 3) * scale + lo;
                out[4 * j + 2] = (float)(q[j] >> 4 & 3) * scale + lo;
                out[4 * j + 3] = (float)(q[j] >> 6) * scale + lo;
            }
        return;
    }
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
// Many rows at once: one call per kv head and step instead of one per row, loops the compiler
// vectorizes; a row whose scale needs a guard goes through the row function

KVQ_CLONES void kvq_unrows_bf16(float *restrict out, const uint16_t *restrict q, size_t n) {
    for (size_t i = 0; i < n; i++) { // the bfloat16 is the float's high half
        const uint32_t u = (uint32_t)q[i] << 16;
        memcpy(out + i, &u, sizeof u);
    }
}

KVQ_CLONES void kvq_unrows_int8(float *restrict out, const int8_t *restrict q,
                                const float *restrict scale, int rows, int hs) {
    for (int r = 0; r < rows; r++) {
        const float s = scale[r];
        const int8_t *qr = q + (size_t)r * hs;
        float *o = out + (size_t)r * hs;
        if (!(s < FLT_MAX / 128.0f)) {
            kvq_unrow_int8(o, qr, s, hs);
            continue;
        }
        for (int i = 0; i < hs; i++)
            o[i] = (float)qr[i] * s;
    }
}

KVQ_CLONES void kvq_unrows_asym(float *restrict out, const uint8_t *restrict q,
                                const float *restrict scale, const float *restrict lo, int rows,
                                int hs, int bits) {
    const size_t rb = kvq_asym_bytes(hs, bits);
    for (int r = 0; r < rows; r++) {
        const float s = scale[r], z = lo[r];
        const uint8_t *qr = q + (size_t)r * rb;
        float *o = out + (size_t)r * hs;
        if (!asym_plain(s, z, bits)) {
            kvq_unasym(o, 1, qr, s, z, hs, bits);
            continue;
        }
        if (bits == 4)
            for (size_t j = 0; j < rb; j++) {
                o[2 * j] = (float)(qr[j] & 15) * s + z;
                o[2 * j + 1] = (float)(qr[j] >> 4) * s + z;
            }
        else
            for (size_t j = 0; j < rb; j++) {
                o[4 * j] = (float)(qr[j] & 3) * s + z;
                o[4 * j + 1] = (float)(qr[j] >> 2 & 3) * s + z;
                o[4 * j + 2] = (float)(qr[j] >> 4 & 3) * s + z;
                o[4 * j + 3] = (float)(qr[j] >> 6) * s + z;
            }
    }
}

bool kvq_rows_plain(const float *scale, const float *lo, int n, int bits) {
    for (int r = 0; r < n; r++)
        if (bits == 8 ? !(scale[r] < FLT_MAX / 128.0f) : !asym_plain(scale[r], lo[r], bits))
            return false;
    return true;
}

// ----------------------------------------------------------------------------------------------
// KIVI key groups: each channel quantized over G consecutive positions

size_t kvq_key_group_bytes(int hs, int bits) {
    return (size_t)hs * (kvq_asym_bytes(KVQ_KIVI_GROUP, bits) + 2 * sizeof(float));
}

KVQ_CLONES void kvq_key_group(uint8_t *q, float *scale, float *lo, const float *rows, size_t stride,
                              int hs, int bits) {
    const int per = 8 / bits, mask = (1 << bits) - 1;
    const size_t rb = kvq_asym_bytes(hs, bits);
    memset(q, 0, (size_t)KVQ_KIVI_GROUP * rb);
    for (int c = 0; c < hs; c++) { // each channel by the rule, then its values into the rows
        uint8_t ch[KVQ_KIVI_GROUP / 2];
        kvq_asym(ch, scale + c, lo + c, rows + c, stride, KVQ_KIVI_GROUP, bits);
        for (int i = 0; i < KVQ_KIVI_GROUP; i++) {
            const int qi = (ch[i / per] >> ((i % per) * bits)) & mask;
            q[(size_t)i * rb + (size_t)(c / per)] |= (uint8_t)(qi << ((c % per) * bits));
        }
    }
}

KVQ_CLONES void kvq_unkey_group(float *rows, size_t stride, const uint8_t *q, const float *scale,
                                const float *lo, int hs, int bits, int i0, int n) {
    assert(i0 >= 0 && n >= 0 && i0 + n <= KVQ_KIVI_GROUP);
    const int per = 8 / bits, mask = (1 << bits) - 1;
    const size_t rb = kvq_asym_bytes(hs, bits);
    bool plain = true;
    for (int c = 0; c < hs; c++)
        plain = plain && asym_plain(scale[c], lo[c], bits);
    for (int i = i0; i < i0 + n; i++) {
        const uint8_t *restrict qr = q + (size_t)i * rb;
        float *restrict o = rows + (size_t)(i - i0) * stride;
        if (!plain) { // a channel at the edge of the float range: the guarded read back
            for (int c = 0; c < hs; c++) {
                const int qi = (qr[c / per] >> ((c % per) * bits)) & mask;
                o[c] = wide_scale(scale[c], bits) ? unasym_wide(qi, scale[c], lo[c])
                                                  : saturate((float)qi * scale[c] + lo[c]);
            }
            continue;
        }
        if (bits == 4)
            for (size_t j = 0; j < rb; j++) {
                o[2 * j] = (float)(qr[j] & 15) * scale[2 * j] + lo[2 * j];
                o[2 * j + 1] = (float)(qr[j] >> 4) * scale[2 * j + 1] + lo[2 * j + 1];
            }
        else
            for (size_t j = 0; j < rb; j++) {
                o[4 * j] = (float)(qr[j] & 3) * scale[4 * j] + lo[4 * j];
                o[4 * j + 1] = (float)(qr[j] >> 2 & 3) * scale[4 * j + 1] + lo[4 * j + 1];
                o[4 * j + 2] = (float)(qr[j] >> 4 & 3) * scale[4 * j + 2] + lo[4 * j + 2];
                o[4 * j + 3] = (float)(qr[j] >> 6) * scale[4 * j + 3] + lo[4 * j + 3];
            }
    }
}
