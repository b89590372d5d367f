// test_kvquant.c — the quantization rules of the KV cache's precision kinds (src/engine/kvquant.c)
// held to rows computed by hand: ties to even, constant rows, zeros, the edges of the float range
// (FLT_MAX, denormals), finite output for finite input, the packing of values into bytes and the
// byte counts.
#include "engine/kvquant.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

TestSuite(kvquant);

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

// ----------------------------------------------------------------------------------------------
// bfloat16

Test(kvquant, bf16_rounds_to_nearest_ties_to_even) {
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3f800000u, 0x3f80}, // 1.0 exactly
        {0x3f808000u, 0x3f80}, // halfway between 0x3f80 and 0x3f81: to the even one below
        {0x3f818000u, 0x3f82}, // halfway between 0x3f81 and 0x3f82: to the even one above
        {0x3f808001u, 0x3f81}, // just past halfway: up
        {0x3f807fffu, 0x3f80}, // just before halfway: down
        {0xbf818000u, 0xbf82}, // negative tie: magnitude to even
        {0x00000000u, 0x0000}, // +0
        {0x80000000u, 0x8000}, // -0 keeps its sign
        {0x00000001u, 0x0000}, // the smallest denormal rounds to zero
        {0x00008000u, 0x0000}, // denormal tie: to even (zero)
        {0x00018000u, 0x0002}, // denormal tie: to even (up)
        {0x00010000u, 0x0001}, // a denormal bfloat16 exactly
        {0x7f7f0000u, 0x7f7f}, // the largest bfloat16
        {0x7f7f8000u, 0x7f7f}, // a tie past it would round to infinity: saturates
        {0x7f7fffffu, 0x7f7f}, // FLT_MAX: saturates (finite in, finite out)
        {0xff7fffffu, 0xff7f}, // -FLT_MAX
        {0x7f800000u, 0x7f80}, // infinity stays infinity
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t h = kvq_bf16(from_bits(cases[i].in));
        cr_assert_eq(h, cases[i].out, "bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].in, h,
                     cases[i].out);
    }
    cr_assert(isnan(kvq_bf16_value(kvq_bf16(NAN))), "NaN stays NaN");
    cr_assert_float_eq(kvq_bf16_value(0x3f82), 1.015625f, 0.0f);
    cr_assert_eq(kvq_bf16_value(0x7f7f), from_bits(0x7f7f0000u));
}

Test(kvquant, bf16_row_round_trip) {
    const float x[6] = {1.0f, -2.5f, 3.14159265f, 0.0f, FLT_MAX, 1e-40f};
    uint16_t q[6];
    float back[6];
    kvq_row_bf16(q, x, 6);
    kvq_unrow_bf16(back, q, 6);
    cr_assert_eq(back[0], 1.0f);
    cr_assert_eq(back[1], -2.5f);
    cr_assert_eq(back[2], 3.140625f); // 0x40490fdb -> 0x4049
    cr_assert_eq(back[3], 0.0f);
    cr_assert(isfinite(back[4]) && back[4] == from_bits(0x7f7f0000u));
    cr_assert(isfinite(back[5]) && fabsf(back[5] - 1e-40f) <= ldexpf(1.0f, -134)); // half a step
}

// ----------------------------------------------------------------------------------------------
// int8

Test(kvquant, int8_hand_computed_rows) {
    // max |x| = 127: scale 1, q = x rounded to even
    const float a[8] = {127.0f, 63.5f, 0.5f, 1.5f, -2.5f, -127.0f, 0.0f, 126.5f};
    const int8_t qa[8] = {127, 64, 0, 2, -2, -127, 0, 126};
    int8_t q[8];
    float back[8];
    cr_assert_eq(kvq_row_int8(q, a, 8), 1.0f);
    cr_assert(memcmp(q, qa, sizeof q) == 0);
    kvq_unrow_int8(back, q, 1.0f, 8);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(back[i], (float)qa[i]);
    // max |x| = 254 (negative): scale 2
    const float b[4] = {-254.0f, 1.0f, 3.0f, -5.0f}; // x / 2 = -127, 0.5, 1.5, -2.5
    const int8_t qb[4] = {-127, 0, 2, -2};
    const float scale = kvq_row_int8(q, b, 4);
    cr_assert_eq(scale, 2.0f);
    cr_assert(memcmp(q, qb, 4) == 0);
    kvq_unrow_int8(back, q, scale, 4);
    cr_assert(back[0] == -254.0f && back[1] == 0.0f && back[2] == 4.0f && back[3] == -4.0f);
}

Test(kvquant, int8_zeros_constant_and_extremes) {
    int8_t q[4];
    float back[4];
    const float zeros[4] = {0};
    cr_assert_eq(kvq_row_int8(q, zeros, 4), 0.0f, "a row of zeros stores scale 0");
    kvq_unrow_int8(back, q, 0.0f, 4);
    for (int i = 0; i < 4; i++)
        cr_assert(q[i] == 0 && back[i] == 0.0f);

    const float five[4] = {5.0f, 5.0f, 5.0f, 5.0f};
    float s = kvq_row_int8(q, five, 4);
    cr_assert_eq(s, 5.0f / 127.0f);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(q[i], 127);
    kvq_unrow_int8(back, q, s, 4);
    cr_assert_eq(back[0], 127.0f * (5.0f / 127.0f));
    cr_assert_float_eq(back[0], 5.0f, 1e-6f);

    const float big[4] = {FLT_MAX, -FLT_MAX, 1.0f, 0.0f};
    s = kvq_row_int8(q, big, 4);
    cr_assert_eq(s, FLT_MAX / 127.0f);
    cr_assert(q[0] == 127 && q[1] == -127 && q[2] == 0 && q[3] == 0);
    kvq_unrow_int8(back, q, s, 4);
    for (int i = 0; i < 4; i++)
        cr_assert(isfinite(back[i]), "finite read back");
    cr_assert_float_eq(back[0] / FLT_MAX, 1.0f, 1e-6f);

    // the smallest denormals: max / 127 underflows to 0, the row reads back as zeros
    const float tiny[3] = {from_bits(1), 0.0f, -from_bits(1)};
    cr_assert_eq(kvq_row_int8(q, tiny, 3), 0.0f);
    cr_assert(q[0] == 0 && q[1] == 0 && q[2] == 0);
    // larger denormals: a denormal scale, q still in range, the read back within half a step
    const float den[3] = {from_bits(0x00400000u), -from_bits(0x00200000u), 0.0f};
    s = kvq_row_int8(q, den, 3);
    cr_assert(s > 0.0f && s < FLT_MIN);
    kvq_unrow_int8(back, q, s, 3);
    cr_assert_eq(q[0], 127);
    for (int i = 0; i < 3; i++)
        cr_assert(fabsf(back[i] - den[i]) <= s, "denormal %d: %g vs %g", i, back[i], den[i]);
}

// ----------------------------------------------------------------------------------------------
// Asymmetric (int4; KIVI rows and key channels)

Test(kvquant, int4_hand_computed_row_and_packing) {
    // lo 0, hi 15: scale 1, q = x rounded to even, two per byte (low nibble first)
    const float x[8] = {0.0f, 15.0f, 7.5f, 0.5f, 1.5f, 2.5f, 14.5f, 3.0f};
    const int want[8] = {0, 15, 8, 0, 2, 2, 14, 3};
    const uint8_t bytes[4] = {0xf0, 0x08, 0x22, 0x3e};
    uint8_t q[4];
    float scale, lo, back[8];
    cr_assert_eq(kvq_asym_bytes(8, 4), 4);
    kvq_asym(q, &scale, &lo, x, 1, 8, 4);
    cr_assert(scale == 1.0f && lo == 0.0f);
    cr_assert(memcmp(q, bytes, 4) == 0, "%02x %02x %02x %02x", q[0], q[1], q[2], q[3]);
    kvq_unasym(back, 1, q, scale, lo, 8, 4);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(back[i], (float)want[i]);

    // lo -3, hi 27: scale 2; (x - lo) / 2 = 0, 15, 0.5, 1.5, 2.5, 14.5
    const float y[6] = {-3.0f, 27.0f, -2.0f, 0.0f, 2.0f, 26.0f};
    const float yb[6] = {-3.0f, 27.0f, -3.0f, 1.0f, 1.0f, 25.0f};
    kvq_asym(q, &scale, &lo, y, 1, 6, 4);
    cr_assert(scale == 2.0f && lo == -3.0f);
    kvq_unasym(back, 1, q, scale, lo, 6, 4);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(back[i], yb[i], "%d: %g", i, back[i]);
}

Test(kvquant, asym_constant_zero_and_strided) {
    uint8_t q[2];
    float scale, lo, back[4];
    const float c[4] = {3.7f, 3.7f, 3.7f, 3.7f};
    kvq_asym(q, &scale, &lo, c, 1, 4, 4);
    cr_assert(scale == 0.0f && lo == 3.7f && q[0] == 0 && q[1] == 0, "a constant row: scale 0");
    kvq_unasym(back, 1, q, scale, lo, 4, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(back[i], 3.7f, "a constant row reads back exactly");
    const float z[4] = {0};
    kvq_asym(q, &scale, &lo, z, 1, 4, 2);
    kvq_unasym(back, 1, q, scale, lo, 4, 2);
    cr_assert(scale == 0.0f && lo == 0.0f && back[3] == 0.0f);
    // 2 bits, strided (a key channel): lo 0, hi 3, scale 1; 4 values in one byte
    const float s[8] = {0.0f, 9.0f, 3.0f, 9.0f, 1.5f, 9.0f, 2.5f, 9.0f};
    kvq_asym(q, &scale, &lo, s, 2, 4, 2);
    cr_assert(scale == 1.0f && lo == 0.0f);
    cr_assert_eq(q[0], 0 | 3 << 2 | 2 << 4 | 2 << 6, "byte 0x%02x", q[0]);
}

Test(kvquant, asym_extremes_are_finite) {
    // hi - lo overflows: scale = hi/15 - lo/15, q = x/scale - lo/scale
    const float x[4] = {FLT_MAX, -FLT_MAX, 0.0f, 1.0f};
    uint8_t q[2];
    float scale, lo, back[4];
    kvq_asym(q, &scale, &lo, x, 1, 4, 4);
    cr_assert(isfinite(scale) && scale == FLT_MAX / 15.0f + FLT_MAX / 15.0f);
    cr_assert_eq(lo, -FLT_MAX);
    cr_assert_eq(q[0], 15 | 0 << 4, "hi is 15, lo is 0");
    kvq_unasym(back, 1, q, scale, lo, 4, 4);
    for (int i = 0; i < 4; i++)
        cr_assert(isfinite(back[i]), "%d: %g", i, back[i]);
    cr_assert_float_eq(back[0] / FLT_MAX, 1.0f, 1e-6f);
    cr_assert_eq(back[1], -FLT_MAX);
    // 0 and 1 sit about halfway (7.5 steps up): q 7 or 8, read back in double as q * scale - lo,
    // within half a step, where float arithmetic would have overflowed to infinity
    for (int i = 2; i < 4; i++)
        cr_assert(fabsf(back[i] - x[i]) <= scale / 2 * 1.0001f, "%d: %g", i, back[i]);
    // denormal range: the scale is a denormal, the read back within half a step
    const float d[4] = {from_bits(0x00000010u), from_bits(0x00000001u), 0.0f, from_bits(0x7u)};
    kvq_asym(q, &scale, &lo, d, 1, 4, 4);
    kvq_unasym(back, 1, q, scale, lo, 4, 4);
    cr_assert_eq(scale, from_bits(0x00000010u) / 15.0f);
    for (int i = 0; i < 4; i++)
        cr_assert(isfinite(back[i]) && fabsf(back[i] - d[i]) <= from_bits(0x10u), "%d: %g vs %g", i,
                  back[i], d[i]);
}

// Random rows over many magnitudes: every read back is finite and within half a quantization
// step of its input (plus float rounding), for every rule.
Test(kvquant, random_rows_within_half_a_step) {
    uint64_t s = 42;
    for (int trial = 0; trial < 2000; trial++) {
        float x[32], back[32];
        const float mag = ldexpf(1.0f, (trial % 250) - 125);
        for (int i = 0; i < 32; i++) {
            s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
            const float u = (float)((s * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
            x[i] = (2.0f * u - 1.0f) * mag;
        }
        int8_t q8[32];
        const float sc = kvq_row_int8(q8, x, 32);
        kvq_unrow_int8(back, q8, sc, 32);
        for (int i = 0; i < 32; i++)
            cr_assert(isfinite(back[i]) && fabsf(back[i] - x[i]) <= sc * 0.5001f + FLT_MIN,
                      "int8 trial %d [%d]: %g vs %g", trial, i, back[i], x[i]);
        for (int bits = 2; bits <= 4; bits += 2) {
            uint8_t q[16];
            float scale, lo;
            kvq_asym(q, &scale, &lo, x, 1, 32, bits);
            kvq_unasym(back, 1, q, scale, lo, 32, bits);
            for (int i = 0; i < 32; i++)
                cr_assert(isfinite(back[i]) &&
                              fabsf(back[i] - x[i]) <= scale * 0.5001f + mag * 1e-6f,
                          "%d bits, trial %d [%d]: %g vs %g", bits, trial, i, back[i], x[i]);
        }
        uint16_t h[32];
        kvq_row_bf16(h, x, 32);
        kvq_unrow_bf16(back, h, 32);
        for (int i = 0; i < 32; i++)
            cr_assert(fabsf(back[i] - x[i]) <= fabsf(x[i]) / 256.0f + FLT_MIN / 128.0f);
    }
}

// ----------------------------------------------------------------------------------------------
// KIVI key groups

Test(kvquant, kivi_key_group_per_channel) {
    enum { HS = 4, G = KVQ_KIVI_GROUP };
    float rows[G * HS], back[G * HS];
    // channel 0: i mod 4 (lo 0, hi 3, scale 1, exact); 1: constant 2.5; 2: ties; 3: lo -6, hi 0
    static const float ties[4] = {0.0f, 3.0f, 0.5f, 1.5f}, tq[4] = {0.0f, 3.0f, 0.0f, 2.0f};
    static const float neg[4] = {-6.0f, 0.0f, -3.0f, -1.0f}, nq[4] = {-6.0f, 0.0f, -2.0f, -2.0f};
    for (int i = 0; i < G; i++) {
        rows[i * HS + 0] = (float)(i % 4);
        rows[i * HS + 1] = 2.5f;
        rows[i * HS + 2] = i == 31 ? 2.5f : ties[i % 4];
        rows[i * HS + 3] = neg[i % 4];
    }
    for (int bits = 2; bits <= 4; bits += 2) {
        uint8_t q[HS * 16];
        float scale[HS], lo[HS];
        cr_assert_eq(kvq_key_group_bytes(HS, bits), HS * ((size_t)G * bits / 8 + 8));
        kvq_key_group(q, scale, lo, rows, HS, HS, bits);
        cr_assert(scale[1] == 0.0f && lo[1] == 2.5f, "constant channel");
        kvq_unkey_group(back, HS, q, scale, lo, HS, bits, 0, G);
        for (int i = 0; i < G; i++) {
            cr_assert_eq(back[i * HS + 1], 2.5f);
            if (bits == 2) {
                cr_assert(scale[0] == 1.0f && scale[2] == 1.0f && scale[3] == 2.0f);
                cr_assert_eq(back[i * HS + 0], (float)(i % 4));
                cr_assert_eq(back[i * HS + 2], i == 31 ? 2.0f : tq[i % 4], "tie at %d", i);
                cr_assert_eq(back[i * HS + 3], nq[i % 4]);
            }
        }
        if (bits == 2) // one byte per position: channels 0 1 2 3, low bits first
            for (int i = 0; i < G; i++) {
                static const int t2[4] = {0, 3, 0, 2}, n2[4] = {0, 3, 2, 2};
                const int want = i % 4 | 0 << 2 | (i == 31 ? 2 : t2[i % 4]) << 4 | n2[i % 4] << 6;
                cr_assert_eq(q[i], want, "position %d: 0x%02x, want 0x%02x", i, q[i], want);
            }
        // a part of the group: positions 5 .. 9 only
        float part[5 * HS];
        kvq_unkey_group(part, HS, q, scale, lo, HS, bits, 5, 5);
        cr_assert(memcmp(part, back + 5 * HS, sizeof part) == 0);
    }
}

// ----------------------------------------------------------------------------------------------
// The KvCache's precision kinds: what the cache stores, what attention reads, what it costs

#include "util/testutil.h"

TestSuite(kvprecision, .fini = tu_leak_check);

// dim 64, 8 heads of 8, 4 kv heads, 2 layers, context 160 (room for KIVI groups to quantize)
static const ModelConfig qshape = {64, 120, 2, 8, 4, 300, 160, false};

static void qmodel(Model *m, const ModelConfig *c) {
    KvError err = {0};
    cr_assert_eq(tu_model_random(m, c, 77, &err), KV_OK, "%s", err.msg);
}

static void qtokens(int *t, int n, int vocab) {
    uint64_t s = 99;
    t[0] = 1;
    for (int i = 1; i < n; i++)
        t[i] = 3 + (int)(kv_rng_u32(&s) % (uint32_t)(vocab - 3));
}

static void qengine(Engine *e, const Model *m, KvPrecision p) {
    KvError err = {0};
    cr_assert_eq(engine_init(e, m, &err), KV_OK, "%s", err.msg);
    kvcache_set_precision(&e->cache, p);
}

// One decode step of the cache at position p (teacher-forced).
static void qstep(Engine *e, const int *t, int p, Counters *ctr) {
    engine_forward(e, t + p, p, 1, true, NULL, ctr);
}

static bool qsame(const Engine *a, const Engine *b, int v) {
    return memcmp(a->logits, b->logits, (size_t)v * sizeof(float)) == 0;
}

// f32 stays what it was: bit-identical to the no-cache recompute (whose working memory is f32 and
// untouched by the precisions) and to a cache that went through every other kind and back.
Test(kvprecision, f32_bit_identical, .timeout = 120) {
    Model m;
    qmodel(&m, &qshape);
    const int V = qshape.vocab_size, N = 120;
    int t[120];
    qtokens(t, N, V);
    Engine a, b, ref;
    qengine(&a, &m, KV_PRECISION_F32);
    qengine(&b, &m, KV_PRECISION_INT4);
    for (int p = KV_PRECISION_BF16; p < KV_PRECISIONS; p++) {
        kvcache_set_precision(&b.cache, (KvPrecision)p);
        for (int i = 0; i < 70; i++)
            qstep(&b, t, i, NULL);
        kvcache_clear(&b.cache);
    }
    kvcache_set_precision(&b.cache, KV_PRECISION_F32);
    cr_assert(b.cache.packed == NULL && b.cache.keys != NULL);
    cr_assert_eq(kvcache_bytes_reserved(&b.cache), kvcache_bytes_reserved(&a.cache));
    qengine(&ref, &m, KV_PRECISION_F32);
    for (int p = 0; p < N; p++) {
        qstep(&a, t, p, NULL);
        qstep(&b, t, p, NULL);
        cr_assert(qsame(&a, &b, V), "step %d", p);
        if (p % 17 == 0 || p == N - 1) {
            engine_forward(&ref, t, 0, p + 1, false, NULL, NULL);
            cr_assert(qsame(&a, &ref, V), "cache and no cache differ at %d", p);
        }
    }
    engine_free(&a), engine_free(&b), engine_free(&ref);
    model_free(&m);
}

// What a precision stores, read back through kvcache_head, is exactly its rule applied to the
// f32 keys and values (layer 0's do not depend on the cache, so an f32 engine gives them).
Test(kvprecision, rows_follow_the_rule, .timeout = 120) {
    Model m;
    qmodel(&m, &qshape);
    const int N = 100, HS = 8, HKV = 4;
    int t[100];
    qtokens(t, N, qshape.vocab_size);
    Engine f;
    qengine(&f, &m, KV_PRECISION_F32);
    engine_forward(&f, t, 0, N, true, NULL, NULL);
    for (int p = KV_PRECISION_BF16; p < KV_PRECISIONS; p++) {
        Engine e;
        qengine(&e, &m, (KvPrecision)p);
        // prefill of 5, then one position per step: as generation stores them
        engine_forward(&e, t, 0, 5, true, NULL, NULL);
        for (int i = 5; i < N; i++)
            qstep(&e, t, i, NULL);
        const bool kivi = p >= KV_PRECISION_KIVI2;
        const int bits = p == KV_PRECISION_KIVI2 ? 2 : 4;
        const int nq = kivi ? (N - 32) / 32 * 32 : N; // 64: two groups quantized
        for (int g = 0; g < HKV; g++) {
            const KvHeadRows rows = kvcache_head(&e.cache, 0, g, N - 1);
            const float *fk = f.cache.keys + kvcache_row(&f.cache, 0, g, 0);
            const float *fv = f.cache.values + kvcache_row(&f.cache, 0, g, 0);
            cr_assert_eq(rows.n, N);
            for (int i = 0; i < N; i++) {
                float wk[8], wv[8];
                const float *xk = fk + i * HS, *xv = fv + i * HS;
                uint8_t q[8];
                float sc, lo;
                if (p == KV_PRECISION_BF16) {
                    uint16_t h[8];
                    kvq_row_bf16(h, xk, HS), kvq_unrow_bf16(wk, h, HS);
                    kvq_row_bf16(h, xv, HS), kvq_unrow_bf16(wv, h, HS);
                } else if (p == KV_PRECISION_INT8) {
                    int8_t q8[8];
                    sc = kvq_row_int8(q8, xk, HS), kvq_unrow_int8(wk, q8, sc, HS);
                    sc = kvq_row_int8(q8, xv, HS), kvq_unrow_int8(wv, q8, sc, HS);
                } else if (p == KV_PRECISION_INT4) {
                    kvq_asym(q, &sc, &lo, xk, 1, HS, 4), kvq_unasym(wk, 1, q, sc, lo, HS, 4);
                    kvq_asym(q, &sc, &lo, xv, 1, HS, 4), kvq_unasym(wv, 1, q, sc, lo, HS, 4);
                } else if (i < nq) { // KIVI, quantized: keys by channel over the group
                    uint8_t kq[8 * 16];
                    float ks[8], kz[8], grp[32 * 8];
                    kvq_key_group(kq, ks, kz, fk + (i / 32 * 32) * HS, HS, HS, bits);
                    kvq_unkey_group(grp, HS, kq, ks, kz, HS, bits, 0, 32);
                    memcpy(wk, grp + (i % 32) * HS, sizeof wk);
                    kvq_asym(q, &sc, &lo, xv, 1, HS, bits), kvq_unasym(wv, 1, q, sc, lo, HS, bits);
                } else { // KIVI's full-precision tail
                    memcpy(wk, xk, sizeof wk), memcpy(wv, xv, sizeof wv);
                }
                cr_assert(memcmp(rows.keys + i * rows.stride, wk, sizeof wk) == 0,
                          "%s key of position %d, kv head %d", kv_precision_name(p), i, g);
                cr_assert(memcmp(rows.values + i * rows.stride, wv, sizeof wv) == 0,
                          "%s value of position %d, kv head %d", kv_precision_name(p), i, g);
                cr_assert_eq(kvcache_precision(&e.cache, 0, g, i),
                             kivi && i >= nq ? KV_PRECISION_F32 : (KvPrecision)p);
            }
        }
        engine_free(&e);
    }
    engine_free(&f);
    model_free(&m);
}

// The bytes resident, stored and read equal the closed forms of docs/cache-precision.md.
Test(kvprecision, bytes_equal_the_formula, .timeout = 120) {
    Model m;
    qmodel(&m, &qshape);
    const ModelConfig *c = &m.cfg;
    const uint64_t L = 2, HKV = 4, HS = 8, N = 130;
    int t[130];
    qtokens(t, (int)N, c->vocab_size);
    const uint64_t row[KV_PRECISIONS] = {4 * HS,     2 * HS,     HS + 4,
                                         HS / 2 + 8, HS / 4 + 8, HS / 2 + 8};
    for (int p = 0; p < KV_PRECISIONS; p++) {
        Engine e;
        qengine(&e, &m, (KvPrecision)p);
        const bool kivi = p >= KV_PRECISION_KIVI2;
        const uint64_t bits = p == KV_PRECISION_KIVI2 ? 2 : 4;
        const uint64_t group = HS * (32 * bits / 8 + 8); // one channel: 32 values, scale, zero
        if (kivi)
            cr_assert_eq(config_kv_bytes_precision(c, (KvPrecision)p, 32),
                         L * HKV * (group + 32 * row[p]));
        else
            cr_assert_eq(config_kv_bytes_precision(c, (KvPrecision)p, 1), L * HKV * 2 * row[p]);
        for (uint64_t len = 1; len <= N; len++) {
            Counters ctr = {0};
            qstep(&e, t, (int)len - 1, &ctr);
            uint64_t want = L * HKV * 2 * row[p] * len, read = 0;
            if (kivi) {
                const uint64_t nq = len > 32 ? (len - 32) / 32 * 32 : 0;
                want = L * HKV * (nq / 32 * group + nq * row[p] + (len - nq) * 2 * 4 * HS);
                read = L * HKV * ((nq + 31) / 32 * group + nq * row[p] + (len - nq) * 2 * 4 * HS);
            } else {
                read = want;
            }
            cr_assert_eq(kvcache_bytes_resident(&e.cache), want, "%s at %llu: %zu, want %llu",
                         kv_precision_name(p), (unsigned long long)len,
                         kvcache_bytes_resident(&e.cache), (unsigned long long)want);
            cr_assert_eq(kvcache_bytes_resident_f32(&e.cache), L * HKV * 2 * 4 * HS * len);
            cr_assert_eq(ctr.kv_bytes_read, read, "%s read at %llu", kv_precision_name(p),
                         (unsigned long long)len);
            uint64_t written = kivi ? L * HKV * 2 * 4 * HS : L * HKV * 2 * row[p];
            if (kivi && len >= 64 && (len - 32) % 32 == 0) // this store quantized a group
                written += L * HKV * (group + 32 * row[p]);
            cr_assert_eq(ctr.kv_bytes_written, written, "%s written at %llu", kv_precision_name(p),
                         (unsigned long long)len);
        }
        engine_free(&e);
    }
    model_free(&m);
}

// Attention really reads the stored precision: logits move away from f32 (KIVI: only once a group
// is quantized, bit-identical before), and for the row kinds a prefill gives exactly what
// storing one position per step gives.
Test(kvprecision, attention_reads_the_stored_rows, .timeout = 120) {
    Model m;
    qmodel(&m, &qshape);
    const int V = qshape.vocab_size, N = 100;
    int t[100];
    qtokens(t, N, V);
    Engine f;
    qengine(&f, &m, KV_PRECISION_F32);
    for (int p = KV_PRECISION_BF16; p < KV_PRECISIONS; p++) {
        Engine e, pre;
        qengine(&e, &m, (KvPrecision)p);
        qengine(&pre, &m, (KvPrecision)p);
        kvcache_clear(&f.cache);
        int differ = 0;
        for (int i = 0; i < N; i++) {
            qstep(&e, t, i, NULL);
            qstep(&f, t, i, NULL);
            const bool same = qsame(&e, &f, V);
            if (p >= KV_PRECISION_KIVI2 && i < 63) // storing 63 quantizes group 0
                cr_assert(same, "%s differs from f32 at %d, before any group", kv_precision_name(p),
                          i);
            differ += !same;
        }
        cr_assert(differ > 0, "%s: logits never moved", kv_precision_name(p));
        if (p < KV_PRECISION_KIVI2) {
            engine_forward(&pre, t, 0, N, true, NULL, NULL);
            cr_assert(qsame(&pre, &e, V), "%s: prefill and decode differ", kv_precision_name(p));
        }
        engine_free(&e), engine_free(&pre);
    }
    engine_free(&f);
    model_free(&m);
}

// Going back and forward is exact for every kind, KIVI included across a group's quantization.
Test(kvprecision, seek_is_exact, .timeout = 120) {
    Model m;
    qmodel(&m, &qshape);
    const int V = qshape.vocab_size, N = 110;
    int t[110];
    qtokens(t, N, V);
    static float first[110][300];
    for (int p = KV_PRECISION_BF16; p < KV_PRECISIONS; p++) {
        Engine e;
        qengine(&e, &m, (KvPrecision)p);
        KvCacheMark marks[111];
        marks[0] = kvcache_mark(&e.cache);
        for (int i = 0; i < N; i++) {
            qstep(&e, t, i, NULL);
            memcpy(first[i], e.logits, sizeof first[i]);
            marks[i + 1] = kvcache_mark(&e.cache);
        }
        const size_t bytes = kvcache_bytes_resident(&e.cache);
        kvcache_seek(&e.cache, marks[60]); // back before two groups were quantized
        cr_assert_eq(kvcache_len(&e.cache), 60);
        if (p >= KV_PRECISION_KIVI2)
            cr_assert_eq(kvcache_precision(&e.cache, 0, 0, 40), KV_PRECISION_F32);
        kvcache_seek(&e.cache, marks[N]); // forward again
        cr_assert_eq(kvcache_bytes_resident(&e.cache), bytes);
        kvcache_seek(&e.cache, marks[60]);
        for (int i = 60; i < N; i++) { // and computed again: the same logits, bit for bit
            qstep(&e, t, i, NULL);
            cr_assert(memcmp(first[i], e.logits, (size_t)V * sizeof(float)) == 0, "%s at %d",
                      kv_precision_name(p), i);
        }
        engine_free(&e);
    }
    model_free(&m);
}

Test(kvprecision, bad_kinds_refused) {
    KvError err = {0};
    KvPrecision p = KV_PRECISION_INT8;
    cr_assert_eq(kv_precision_parse("--kv", "int3", &p, &err), KV_ERR_INPUT);
    cr_assert_eq(p, KV_PRECISION_INT8, "left alone");
    cr_assert_str_eq(err.msg, "--kv: unknown kind 'int3' (f32, bf16, int8, int4, kivi2 or kivi4)");
    cr_assert_eq(kv_precision_parse("--kv", "INT8", &p, &err), KV_ERR_INPUT, "whole word, exact");
    cr_assert_eq(kv_precision_parse("--kv", "", &p, &err), KV_ERR_INPUT);
    for (int k = 0; k < KV_PRECISIONS; k++) {
        cr_assert_eq(kv_precision_parse("--kv", kv_precision_name(k), &p, &err), KV_OK);
        cr_assert_eq(p, k);
    }
    const ModelConfig hs6 = {36, 64, 2, 6, 2, 300, 96, false}; // head size 6
    cr_assert_eq(kv_precision_check(&hs6, KV_PRECISION_KIVI2, "--kv", &err), KV_ERR_INPUT);
    cr_assert_str_eq(err.msg, "--kv: kivi2 packs 4 values into each byte of a row, and this "
                              "model's head size 6 is not a multiple of 4");
    for (int k = 0; k < KV_PRECISIONS; k++)
        if (k != KV_PRECISION_KIVI2)
            cr_assert_eq(kv_precision_check(&hs6, k, "--kv", &err), KV_OK, "%d", k);
    cr_assert_eq(kv_precision_check(&qshape, KV_PRECISION_KIVI2, "--kv", &err), KV_OK);
}

// ----------------------------------------------------------------------------------------------
// --kv on the command line: one line `kvscope: --kv: <problem>`, exit 2, for each bad case

TestSuite(kvcli, .fini = tu_leak_check);

// A random model (head size hs: dim 4*hs, 4 heads, 2 kv heads) and a tokenizer in a fresh folder.
static char *kv_files(int hs, char **model, char **tok) {
    if (!tu_kvscope_bin())
        cr_skip_test("KVSCOPE_BIN not set");
    char *dir = tu_tmpdir();
    cr_assert_not_null(dir);
    *model = tu_join(dir, "model.bin");
    *tok = tu_join(dir, "tok.bin");
    const ModelConfig c = tu_config(4 * hs, 64, 2, 4, 2, 400, 48, false);
    KvError err = {0};
    cr_assert_eq(tu_write_random_checkpoint(*model, &c, 5, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_write_tokenizer(*tok, 400, &err), KV_OK, "%s", err.msg);
    return dir;
}

static void kv_run(TuRun *r, const char *const *args) {
    cr_assert(tu_run_kvscope(args, 60, r), "cannot run %s", tu_kvscope_bin());
}

static void kv_bad(const char *const *args, const char *want) {
    TuRun r;
    kv_run(&r, args);
    cr_assert(!tu_has_sanitizer_report(r.err), "sanitizer report:\n%s", r.err);
    cr_assert_eq(r.status, 2, "exit status %d; stderr: %s", r.status, r.err);
    cr_assert_eq(tu_count_lines(r.err), 1, "stderr:\n%s", r.err);
    cr_assert(strncmp(r.err, "kvscope: --kv: ", 15) == 0, "stderr: %s", r.err);
    cr_assert(strstr(r.err, want), "stderr \"%s\" does not say \"%s\"", r.err, want);
    tu_run_free(&r);
}

Test(kvcli, unknown_kind, .timeout = 60) {
    char *model, *tok, *dir = kv_files(8, &model, &tok);
    for (int c = 0; c < 3; c++) {
        const char *cmd = c == 0 ? "generate" : c == 1 ? "render" : "run";
        kv_bad((const char *[]){cmd, "--kv", "int3", "--model", model, "--tokenizer", tok,
                                "--prompt", "hi", NULL},
               "unknown kind 'int3'");
    }
    kv_bad((const char *[]){"generate", "--prompt", "hi", "--kv", "KIVI2", NULL}, "unknown kind");
    free(model), free(tok), tu_rmtree(dir);
}

Test(kvcli, info_and_bench_take_no_kind, .timeout = 60) {
    kv_bad((const char *[]){"info", "--kv", "int8", NULL}, "info prints the bytes of every kind");
    kv_bad((const char *[]){"bench", "kv", "--kv", "int4", NULL}, "bench measures every kind");
}

Test(kvcli, missing_kind, .timeout = 60) {
    kv_bad((const char *[]){"generate", "--prompt", "hi", "--kv", NULL}, "needs a value");
}

Test(kvcli, head_size_cannot_use_kind, .timeout = 60) {
    char *model, *tok, *dir = kv_files(6, &model, &tok);
    kv_bad((const char *[]){"generate", "--model", model, "--tokenizer", tok, "--prompt", "hi",
                            "-n", "2", "--kv", "kivi2", NULL},
           "head size 6 is not a multiple of 4");
    kv_bad((const char *[]){"render", "--model", model, "--tokenizer", tok, "--prompt", "hi",
                            "--steps", "2", "--kv", "kivi2", "-o", "never.png", NULL},
           "kivi2 packs 4 values");
    // the same model takes the kinds its head size can use
    TuRun r;
    kv_run(&r, (const char *[]){"generate", "--model", model, "--tokenizer", tok, "--prompt", "hi",
                                "-n", "40", "--kv", "kivi4", NULL});
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    tu_run_free(&r);
    free(model), free(tok), tu_rmtree(dir);
}

Test(kvcli, no_cache_keeps_nothing_to_quantize, .timeout = 60) {
    kv_bad((const char *[]){"generate", "--prompt", "hi", "-n", "2", "--no-cache", "--kv", "int8",
                            NULL},
           "--no-cache keeps none");
}

// --kv really changes what generation computes: --verify compares every step with the f32
// no-cache recompute, which int4 cannot match bit for bit and f32 does.
Test(kvcli, kind_reaches_the_engine, .timeout = 60) {
    char *model, *tok, *dir = kv_files(8, &model, &tok);
    float diff[2];
    for (int k = 0; k < 2; k++) {
        TuRun r;
        kv_run(&r, (const char *[]){"generate", "--model", model, "--tokenizer", tok, "--prompt",
                                    "hi", "-n", "3", "--verify", "--kv", k ? "int4" : "f32", NULL});
        cr_assert_eq(r.status, 0, "stderr: %s", r.err);
        // the last table row ends with max|dlogit| (int4: then the drift's kl_full and top1,
        // and a drift line follows the table)
        char *drift = strstr(r.err, "drift cache=");
        cr_assert(k ? drift != NULL : drift == NULL, "stderr: %s", r.err);
        if (drift)
            *drift = '\0';
        size_t n = strlen(r.err);
        cr_assert(n > 1 && r.err[n - 1] == '\n', "stderr: %s", r.err);
        r.err[n - 1] = '\0';
        for (int skip = 0; skip < (k ? 2 : 0); skip++) { // top1, then kl_full
            *strrchr(r.err, ' ') = '\0';
            while (r.err[strlen(r.err) - 1] == ' ')
                r.err[strlen(r.err) - 1] = '\0';
        }
        diff[k] = strtof(strrchr(r.err, ' ') + 1, NULL);
        tu_run_free(&r);
    }
    cr_assert_eq(diff[0], 0.0f, "f32 is bit-identical to the recompute");
    cr_assert(diff[1] > 0.0f, "int4 moved the logits");
    free(model), free(tok), tu_rmtree(dir);
}

// `kvscope info` prints each kind's bytes per token from the one formula, and why a kind the
// model's head size cannot use is not usable.
Test(kvcli, info_bytes_per_token_per_kind, .timeout = 60) {
    for (int hs = 6; hs <= 8; hs += 2) {
        char *model, *tok, *dir = kv_files(hs, &model, &tok);
        TuRun r;
        kv_run(&r, (const char *[]){"info", "--model", model, "--tokenizer", tok, NULL});
        cr_assert_eq(r.status, 0, "stderr: %s", r.err);
        const ModelConfig c = tu_config(4 * hs, 64, 2, 4, 2, 400, 48, false);
        for (int k = 1; k < KV_PRECISIONS; k++) {
            char want[128];
            const bool kivi = k >= KV_PRECISION_KIVI2;
            if (hs == 6 && k == KV_PRECISION_KIVI2)
                snprintf(want, sizeof want,
                         "kv_bytes_per_token_kivi2 unusable (kivi2: kivi2 "
                         "packs 4 values");
            else
                snprintf(want, sizeof want, "kv_bytes_per_token_%s %g (", kv_precision_name(k),
                         kivi ? (double)config_kv_bytes_precision(&c, k, 32) / 32
                              : (double)config_kv_bytes_precision(&c, k, 1));
            cr_assert(strstr(r.out, want), "no \"%s\" in:\n%s", want, r.out);
        }
        tu_run_free(&r);
        free(model), free(tok), tu_rmtree(dir);
    }
}

// ----------------------------------------------------------------------------------------------
// kvtrain kv: the teacher-forced comparison behind the README's table

#include "train/train.h"

Test(kvprecision, teacher_forced_table, .timeout = 120) {
    ModelConfig c = qshape;
    c.vocab_size = 400; // tu_tokenizer's layout needs at least 354 pieces
    Model m;
    qmodel(&m, &c);
    Tokenizer t;
    KvError err = {0};
    cr_assert_eq(tu_tokenizer(&t, c.vocab_size, &err), KV_OK, "%s", err.msg);
    int n = 0, n2 = 0;
    int *tok = kveval_heldout(&t, 400, &n), *again = kveval_heldout(&t, 400, &n2);
    cr_assert(n == 400 && n2 == 400 && memcmp(tok, again, sizeof(int) * 400) == 0);
    cr_assert_eq(tok[0], TOKEN_BOS);
    KvEvalResult r[KV_PRECISIONS];
    for (int k = 0; k < KV_PRECISIONS; k++) {
        KvCacheKind kind = KV_CACHE_DENSE;
        kind.precision = (KvPrecision)k;
        cr_assert_eq(kveval_kind(&m, tok, n, kind, &r[k], &err), KV_OK, "%s", err.msg);
        cr_assert_eq(r[k].predictions, 400 - 3, "three windows of 160, 160 and 80");
        cr_assert_eq(r[k].window, 160);
        cr_assert(isfinite(r[k].nll) && r[k].nll > 0);
    }
    cr_assert(r[0].kl == 0 && r[0].agree == r[0].predictions && r[0].max_logit_diff == 0 &&
                  r[0].attn_l1_mean == 0,
              "f32 against f32 is exact");
    for (int k = 1; k < KV_PRECISIONS; k++)
        cr_assert(r[k].kl > 0 && r[k].max_logit_diff > 0 && r[k].attn_l1_mean > 0, "%s",
                  kv_precision_name(k));
    cr_assert(r[KV_PRECISION_INT4].kl > r[KV_PRECISION_INT8].kl, "fewer bits, more drift");
    cr_assert(r[KV_PRECISION_KIVI2].kl > r[KV_PRECISION_KIVI4].kl);
    cr_assert_eq(r[0].bytes_per_token, (double)config_kv_bytes_per_token(&m.cfg));
    cr_assert_eq(r[KV_PRECISION_INT8].bytes_per_token,
                 (double)config_kv_bytes_precision(&m.cfg, KV_PRECISION_INT8, 1));
    // KIVI at 160 positions: 128 quantized, 32 in f32
    cr_assert_eq(r[KV_PRECISION_KIVI2].bytes_per_token,
                 (double)(config_kv_bytes_precision(&m.cfg, KV_PRECISION_KIVI2, 128) +
                          32 * config_kv_bytes_per_token(&m.cfg)) /
                     160.0);
    // a precision with a rolling window: the window's bytes, more drift than the precision alone;
    // KIVI with a window refused
    KvCacheKind w = KV_CACHE_DENSE;
    cr_assert_eq(kv_parse_retention("cache", "window:40", &w, &err), KV_OK);
    w.precision = KV_PRECISION_INT8;
    KvEvalResult rw;
    cr_assert_eq(kveval_kind(&m, tok, n, w, &rw, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(rw.predictions, 400 - 3);
    cr_assert_eq(rw.resident_bytes, 40 * config_kv_bytes_precision(&m.cfg, KV_PRECISION_INT8, 1));
    cr_assert_gt(rw.kl, r[KV_PRECISION_INT8].kl);
    cr_assert_gt(rw.attn_l1_mean, r[KV_PRECISION_INT8].attn_l1_mean);
    w.precision = KV_PRECISION_KIVI2;
    cr_assert_eq(kveval_kind(&m, tok, n, w, &rw, &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "kivi2 cannot be combined with window:40"), "%s", err.msg);
    free(tok), free(again);
    tokenizer_free(&t);
    model_free(&m);
}

// ----------------------------------------------------------------------------------------------
// The picture: a quantized cell is cut into stripes (fewer for fewer bits), f32 cells are solid,
// KIVI's newest positions solid beside its quantized ones; the record says which

#include "view/view.h"

#include <cairo.h>

// Mean colour of band `band` of `bands` equal horizontal bands of r (its middle row, the middle
// half of its width).
static void band_rgb(cairo_surface_t *img, SceneRect r, int band, int bands, double out[3]) {
    const unsigned char *d = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    const double h = r.h / bands;
    cr_assert(h >= 2, "bands of %.1f px", h);
    const int yc = (int)floor(r.y + (band + 0.5) * h); // the row through the band's middle
    double sum[3] = {0};
    int n = 0;
    for (int y = yc; y <= yc; y++)
        for (int x = (int)ceil(r.x + r.w / 4); x < (int)floor(r.x + 3 * r.w / 4); x++) {
            uint32_t p;
            memcpy(&p, d + (size_t)y * stride + (size_t)x * 4, sizeof p);
            sum[0] += p >> 16 & 255, sum[1] += p >> 8 & 255, sum[2] += p & 255;
            n++;
        }
    cr_assert(n > 0, "band too small to sample");
    for (int k = 0; k < 3; k++)
        out[k] = sum[k] / n;
}

// Whether band 0 (a gap when striped) differs clearly from band 1 (a stripe).
static bool striped(cairo_surface_t *img, SceneRect r, int bands) {
    double a[3], b[3];
    band_rgb(img, r, 0, bands, a);
    band_rgb(img, r, 1, bands, b);
    return fabs(a[0] - b[0]) + fabs(a[1] - b[1]) + fabs(a[2] - b[2]) > 60;
}

// Drawn at 3840x2160: the classroom layout's cache blocks are short, and a block cut into five
// bands needs two pixels a band to be measured.
#define PREC_W 3840
#define PREC_H 2160
static cairo_surface_t *draw(const Session *s, const View *v) {
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PREC_W, PREC_H);
    cairo_t *cr = cairo_create(img);
    scene_draw(cr, s, v, PREC_W, PREC_H, 1.0);
    cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    cairo_surface_flush(img);
    return img;
}

Test(kvprecision, cells_look_like_their_precision, .timeout = 120) {
    static const KvPrecision kinds[] = {KV_PRECISION_F32, KV_PRECISION_INT8, KV_PRECISION_INT4,
                                        KV_PRECISION_KIVI2};
    static const int stripes[] = {0, 3, 2, 1};
    for (int k = 0; k < 4; k++) {
        Model m;
        Tokenizer t;
        Session s;
        KvError err = {0};
        const ModelConfig c = tu_config(48, 96, 3, 4, 2, 400, 256, false); // head size 12
        cr_assert_eq(tu_session_open(&m, &t, &s, &c, 7, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(session_set_prompt(&s, "the cat sat on the mat", &err), KV_OK, "%s", err.msg);
        cr_assert_eq(session_set_kv(&s, kinds[k], &err), KV_OK, "%s", err.msg);
        const int steps = kinds[k] == KV_PRECISION_KIVI2 ? 100 : 6;
        for (int i = 0; i < steps; i++)
            cr_assert(session_step(&s));
        const StepRecord *r = session_last(&s);
        const int len = r->pos + 1;
        const int q = kinds[k] == KV_PRECISION_F32     ? 0
                      : kinds[k] == KV_PRECISION_KIVI2 ? (len - 32) / 32 * 32
                                                       : len;
        cr_assert_eq(r->kv, kinds[k]);
        cr_assert_eq(r->kv_quantized, q, "%s: %d quantized, want %d", kv_precision_name(kinds[k]),
                     r->kv_quantized, q);
        cr_assert_eq(r->kv_bytes_f32, (uint64_t)len * config_kv_bytes_per_token(&c));
        cr_assert(kinds[k] == KV_PRECISION_F32 ? r->kv_bytes_resident == r->kv_bytes_f32
                                               : r->kv_bytes_resident < r->kv_bytes_f32);
        View v;
        view_init(&v);
        SceneLayout L;
        scene_layout(&s, &v, PREC_W, PREC_H, &L);
        cairo_surface_t *img = draw(&s, &v);
        for (int i = L.first; i < r->pos; i++)
            for (int l = 0; l < L.n_layers; l++) {
                SceneRect b;
                cr_assert(scene_block_box(&L, i, l, &b));
                const bool want = i < q;
                cr_assert_eq(striped(img, b, 2 * (want ? stripes[k] : 1) + 1), want,
                             "%s: cell %d, layer %d", kv_precision_name(kinds[k]), i, l);
            }
        cairo_surface_destroy(img);
        tu_session_close(&m, &t, &s);
    }
}

// ----------------------------------------------------------------------------------------------
// `kv KIND` in a lesson: parsed, checked against the model (with file and line), played

#include "lesson/lesson.h"

static const Preset kv_presets[] = {{"narrative", "Once upon a time"}, {NULL, NULL}};

static KvStatus kv_lesson(Lesson *l, const char *text, KvError *err) {
    return lesson_parse(l, "k.lesson", text, strlen(text), kv_presets, err);
}

Test(kvprecision, lesson_kv_command) {
    Lesson l;
    KvError err = {0};
    cr_assert_eq(kv_lesson(&l, "preset narrative\nkv int3\nbeat\n", &err), KV_ERR_INPUT);
    cr_assert_str_eq(err.msg,
                     "k.lesson:2: kv: unknown kind 'int3' (f32, bf16, int8, int4, kivi2 or kivi4)");
    cr_assert_eq(kv_lesson(&l, "preset narrative\n\nkv\nbeat\n", &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "k.lesson:3: kv: needs a kind"), "%s", err.msg);
    cr_assert_eq(kv_lesson(&l, "preset narrative\nkv int8 int4\nbeat\n", &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "k.lesson:2: kv: unknown kind 'int8 int4'"), "%s", err.msg);

    // a model whose head size (6) kivi2 cannot use: refused by the check, with the line
    const char *text = "preset narrative\nstep 2\nbeat\nkv kivi2\nstep 1\nbeat\n";
    cr_assert_eq(kv_lesson(&l, text, &err), KV_OK, "%s", err.msg);
    Model m;
    Tokenizer t;
    Session s;
    ModelConfig c = tu_config(24, 48, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 3, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_check(&l, &m, &t, &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "k.lesson:4: kv: kivi2 packs 4 values") &&
                  strstr(err.msg, "head size 6"),
              "%s", err.msg);
    lesson_free(&l);
    tu_session_close(&m, &t, &s);

    // played: the kind reaches the session, and going back a beat replays from f32
    c = tu_config(32, 64, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 3, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(kv_lesson(&l, "preset narrative\nstep 2\nbeat\nkv int4\nstep 3\nbeat\n", &err),
                 KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_check(&l, &m, &t, &err), KV_OK, "%s", err.msg);
    LessonPlayer p;
    lesson_player_init(&p, &l, &s);
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(s.eng.cache.kind.precision, KV_PRECISION_INT4);
    cr_assert_eq(s.cursor, 3, "kv went back to the prompt, then 3 steps");
    cr_assert_eq(session_last(&s)->kv, KV_PRECISION_INT4);
    cr_assert_eq(lesson_player_goto(&p, 0, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(s.eng.cache.kind.precision, KV_PRECISION_F32);
    cr_assert_eq(session_last(&s)->kv, KV_PRECISION_F32);
    lesson_free(&l);
    tu_session_close(&m, &t, &s);
}

// ----------------------------------------------------------------------------------------------
// Precision and retention together: every precision with full retention, f32, bf16, int8 and
// int4 with every retention; KIVI with a policy that evicts refused with one line that says why.

TestSuite(kvcombine, .fini = tu_leak_check);

static KvCacheKind kind_spec(const char *spec, KvPrecision p) {
    KvCacheKind k = KV_CACHE_DENSE;
    KvError err = {0};
    cr_assert_eq(kv_parse_retention("--cache", spec, &k, &err), KV_OK, "%s", err.msg);
    k.precision = p;
    return k;
}

Test(kvcombine, engine_refuses_each_pair_it_cannot_hold) {
    static const char *const specs[] = {"full", "window:8", "sinks:2,6", "h2o:4,4"};
    for (int p = 0; p < KV_PRECISIONS; p++)
        for (int k = 0; k < 4; k++) {
            KvError err = {0};
            const KvStatus st = kv_kind_combine_check("--kv", "--cache ",
                                                      kind_spec(specs[k], (KvPrecision)p), &err);
            const bool ok = p < KV_PRECISION_KIVI2 || k == 0;
            cr_assert_eq(st, ok ? KV_OK : KV_ERR_INPUT, "%s with %s: %s",
                         kv_precision_name((KvPrecision)p), specs[k], err.msg);
            if (!ok)
                cr_assert(strncmp(err.msg, "--kv: ", 6) == 0 && strchr(err.msg, '\n') == NULL, "%s",
                          err.msg);
        }
    KvError err = {0};
    kv_kind_combine_check("--kv", "--cache ", kind_spec("h2o:8,8", KV_PRECISION_KIVI2), &err);
    cr_assert_str_eq(err.msg, "--kv: kivi2 cannot be combined with --cache h2o:8,8 (KIVI "
                              "quantizes keys in groups of 32 consecutive positions, which "
                              "eviction breaks)");
    kv_kind_combine_check("--kv", "--cache ", kind_spec("sinks:4,12", KV_PRECISION_KIVI4), &err);
    cr_assert(strstr(err.msg, "kivi4 cannot be combined with --cache sinks:4,12 (KIVI"), "%s",
              err.msg);
}

// kv_bad's first line is "kvscope: --kv: "; each refused pair on generate and render.
Test(kvcombine, command_line_refuses_each_pair, .timeout = 120) {
    char *model, *tok, *dir = kv_files(8, &model, &tok);
    static const char *const pairs[][3] = {
        {"kivi2", "h2o:8,8", "kivi2 cannot be combined with --cache h2o:8,8 (KIVI quantizes"},
        {"kivi4", "window:16", "kivi4 cannot be combined with --cache window:16 (KIVI"},
        {"kivi2", "sinks:4,12", "kivi2 cannot be combined with --cache sinks:4,12 (KIVI"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        kv_bad((const char *[]){"generate", "--model", model, "--tokenizer", tok, "--prompt", "hi",
                                "-n", "2", "--kv", pairs[i][0], "--cache", pairs[i][1], NULL},
               pairs[i][2]);
        kv_bad((const char *[]){"render", "--cache", pairs[i][1], "--model", model, "--tokenizer",
                                tok, "--prompt", "hi", "--steps", "2", "--kv", pairs[i][0], "-o",
                                "never.png", NULL},
               pairs[i][2]);
    }
    // f32 and the row kinds with a policy, and a precision with full, run
    TuRun r;
    static const char *const ok[][2] = {
        {"f32", "h2o:2,2"}, {"int8", "sinks:4,12"}, {"bf16", "window:16"}, {"int4", "h2o:8,8"}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        kv_run(&r, (const char *[]){"generate", "--model", model, "--tokenizer", tok, "--prompt",
                                    "hi", "-n", "4", "--kv", ok[i][0], "--cache", ok[i][1], NULL});
        cr_assert_eq(r.status, 0, "%s with %s: stderr: %s", ok[i][0], ok[i][1], r.err);
        cr_assert(strstr(r.err, "kv=") && strstr(r.err, ok[i][0]), "%s", r.err);
        tu_run_free(&r);
    }
    kv_run(&r, (const char *[]){"generate", "--model", model, "--tokenizer", tok, "--prompt", "hi",
                                "-n", "4", "--kv", "kivi2", "--cache", "full", NULL});
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    tu_run_free(&r);
    free(model), free(tok), tu_rmtree(dir);
}

// The session refuses the pair whichever is set second, and changes nothing.
Test(kvcombine, session_refuses_and_keeps_its_kind, .timeout = 60) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    const ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 3, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&s, "the cat sat", &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_cache(&s, kind_spec("window:8", KV_PRECISION_F32), &err), KV_OK);
    cr_assert(session_step(&s) && session_step(&s));
    cr_assert_eq(session_set_kv(&s, KV_PRECISION_KIVI4, &err), KV_ERR_INPUT);
    cr_assert_str_eq(err.msg, "--kv: kivi4 cannot be combined with --cache window:8 (KIVI "
                              "quantizes keys in groups of 32 consecutive positions, which "
                              "eviction breaks)");
    cr_assert_eq(s.eng.cache.kind.precision, KV_PRECISION_F32);
    cr_assert_eq(s.cursor, 2, "the refusal kept the steps");
    cr_assert_eq(session_set_cache(&s, KV_CACHE_DENSE, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_kv(&s, KV_PRECISION_KIVI2, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_cache(&s, kind_spec("sinks:2,6", KV_PRECISION_F32), &err),
                 KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "--cache: with --kv: kivi2 cannot be combined with sinks:2,6 (KIVI"),
              "%s", err.msg);
    cr_assert_eq(s.cache_kind.retention, KV_RETAIN_FULL);
    cr_assert(session_step(&s));
    cr_assert_eq(s.eng.cache.kind.retention, KV_RETAIN_FULL);
    cr_assert_eq(s.eng.cache.kind.precision, KV_PRECISION_KIVI2);
    tu_session_close(&m, &t, &s);
}

// A lesson's kv and cache commands are checked together, with the file and line.
Test(kvcombine, lesson_refuses_with_file_and_line, .timeout = 60) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    const ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 3, &err), KV_OK, "%s", err.msg);
    Lesson l;
    cr_assert_eq(
        kv_lesson(&l, "preset narrative\ncache window:12\nstep 2\nbeat\nkv kivi2\nbeat\n", &err),
        KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_check(&l, &m, &t, &err), KV_ERR_INPUT);
    cr_assert_str_eq(err.msg, "k.lesson:5: kv: kivi2 cannot be combined with cache window:12 "
                              "(KIVI quantizes keys in groups of 32 consecutive positions, which "
                              "eviction breaks)");
    lesson_free(&l);
    cr_assert_eq(
        kv_lesson(&l, "preset narrative\nkv kivi2\nstep 2\nbeat\ncache h2o:8,8\nbeat\n", &err),
        KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_check(&l, &m, &t, &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "k.lesson:5: cache: with kv: kivi2 cannot be combined with h2o:8,8 "
                              "(KIVI quantizes keys in groups of 32 consecutive positions"),
              "%s", err.msg);
    lesson_free(&l);
    // back to full first, then a precision: checked and played
    cr_assert_eq(kv_lesson(&l,
                           "preset narrative\ncache window:12\nstep 2\nbeat\ncache full\nkv int8\n"
                           "step 2\nbeat\n",
                           &err),
                 KV_OK, "%s", err.msg);
    cr_assert_eq(lesson_check(&l, &m, &t, &err), KV_OK, "%s", err.msg);
    LessonPlayer p;
    lesson_player_init(&p, &l, &s);
    cr_assert_eq(lesson_player_goto(&p, 1, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(s.eng.cache.kind.precision, KV_PRECISION_INT8);
    cr_assert_eq(s.eng.cache.kind.retention, KV_RETAIN_FULL);
    lesson_free(&l);
    tu_session_close(&m, &t, &s);
}

// A quantized session measures its drift against the shadow (the full f32 cache on the same
// tokens): the record's numbers are those of an f32 engine run on the tokens here.
Test(kvcombine, quantized_session_gets_the_drift_shadow, .timeout = 60) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    const ModelConfig c = tu_config(32, 64, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 3, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&s, "the cat sat on", &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_kv(&s, KV_PRECISION_INT4, &err), KV_OK, "%s", err.msg);
    Engine ref;
    cr_assert_eq(engine_init(&ref, &m, &err), KV_OK, "%s", err.msg);
    float max_kl = 0;
    for (int i = 0; i < 6; i++) {
        cr_assert(session_step(&s));
        const StepRecord *r = session_last(&s);
        cr_assert(r->drift_measured, "step %d", i);
        cr_assert_not_null(r->attn_l1);
        const int len = r->pos + 1;
        kvcache_clear(&ref.cache);
        engine_forward(&ref, s.tokens, 0, len, true, NULL, NULL);
        float diff = 0;
        for (int v = 0; v < c.vocab_size; v++) {
            const float d = fabsf(ref.logits[v] - s.eng.logits[v]);
            diff = d > diff ? d : diff;
        }
        cr_assert_float_eq(r->drift_logit, diff, 1e-6f, "step %d: %g vs %g", i, r->drift_logit,
                           diff);
        cr_assert_gt(diff, 0.0f, "int4 moved the logits");
        max_kl = r->kl_full > max_kl ? r->kl_full : max_kl;
    }
    cr_assert_gt(max_kl, 0.0f);
    DriftSummary d;
    session_drift(&s, &d);
    cr_assert_eq(d.measured, 6);
    engine_free(&ref);
    tu_session_close(&m, &t, &s);
}
