// kvcache.c — the KV cache as an object: the keys and values of one sequence, where each
// (layer, kv head, position) lives, in which precision, and which rows attention reads.
//
// Today's one kind: full retention, f32 values, contiguous layout (L, HKV, T, HS). Each kv
// head's keys are one contiguous run of HS-float rows, slot p holding position p, so attention
// over positions 0 .. p streams one block of memory per head (kernel_attend). The same object,
// as a scratch cache, is the working memory of a no-cache pass: kvcache_begin empties it, so
// such a pass can read only the keys and values it has just computed.
//
// Precisions (the rules are kvquant.c's; docs/cache-precision.md): bf16, int8 and int4 pack each
// row as kvcache_store receives it, into `packed` (rows plus their scales and zero points; the
// float arrays are not allocated). The KIVI kinds store every row in f32 and, when position
// G + R - 1 past a key group's first is stored, quantize that group (keys per channel, values
// per row) into `packed`; attention then reads the group from there, and the newest positions
// (32..63 of them) from the f32 rows. A KIVI cache keeps the f32 rows of its quantized groups
// only so that going back a step is exact (kvcache_seek); attention never reads them and they
// are not resident. kvcache_head gives attention a kv head's rows as floats: for f32 the rows
// themselves; for the others one layer's rows dequantized into rows the cache owns (only rows not
// already dequantized since the last store), so the attention kernel is the same for every kind.
//
// Later kinds live here too: a retention policy decides residency in kvcache_begin/kvcache_end
// and answers kvcache_resident/kvcache_slot from its own table; a paged layout maps positions to
// blocks in kvcache_slot and kvcache_head. What this file does not do: compute keys and values
// (forward.c), or decide how a cell looks (src/sim records its state, src/view draws it).
#include "engine/engine.h"
#include "engine/kvquant.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define G KVQ_KIVI_GROUP
#define R KVQ_KIVI_RESIDUAL

// The storage of a precision other than f32 (KvCache.packed). Rows are indexed as the float
// arrays are, r = (layer * HKV + kv_head) * T + slot; KIVI key groups as (layer * HKV + kv_head)
// * (T / G) + group.
struct KvPacked {
    size_t row_bytes;  // packed bytes of one row of HS values (keys and values; KIVI: values)
    uint8_t *kq, *vq;  // packed keys (KIVI: key groups of G packed rows), packed values
    float *ks, *kz;    // key scales and zero points: per row (int8: no zero point); KIVI: per
                       // (group, channel)
    float *vs, *vz;    // value scales and zero points, per row
    float *dk, *dv;    // (HKV, T, HS) one layer's rows as attention reads them
    int d_layer, d_nq; // the layer dk/dv hold (-1: none since the last store), KIVI's
                       // quantized count they were read with
    int *d_n;          // (HKV) rows of each kv head that are in dk/dv
};

// ----------------------------------------------------------------------------------------------
// Sizes

int kv_precision_bits(KvPrecision p) {
    switch (p) {
    case KV_PRECISION_F32:
        return 8 * (int)sizeof(float);
    case KV_PRECISION_BF16:
        return 16;
    case KV_PRECISION_INT8:
        return 8;
    case KV_PRECISION_INT4:
    case KV_PRECISION_KIVI4:
        return 4;
    case KV_PRECISION_KIVI2:
        return 2;
    case KV_PRECISIONS:
        break;
    }
    assert(!"unknown precision");
    return 0;
}

static const char *const precision_names[KV_PRECISIONS] = {"f32",  "bf16",  "int8",
                                                           "int4", "kivi2", "kivi4"};

const char *kv_precision_name(KvPrecision p) {
    assert(p >= 0 && p < KV_PRECISIONS);
    return precision_names[p];
}

KvStatus kv_precision_parse(const char *what, const char *s, KvPrecision *out, KvError *err) {
    for (int p = 0; p < KV_PRECISIONS; p++)
        if (strcmp(s, precision_names[p]) == 0) {
            *out = (KvPrecision)p;
            return KV_OK;
        }
    return kv_error(err, KV_ERR_INPUT,
                    "%s: unknown kind '%.64s' (f32, bf16, int8, int4, kivi2 or kivi4)", what, s);
}

static bool is_kivi(KvPrecision p) {
    return p == KV_PRECISION_KIVI2 || p == KV_PRECISION_KIVI4;
}

KvStatus kv_precision_check(const ModelConfig *c, KvPrecision p, const char *what, KvError *err) {
    const int hs = config_head_size(c), per = 8 / kv_precision_bits(p);
    if (kv_precision_bits(p) < 8 && hs % per != 0)
        return kv_error(err, KV_ERR_INPUT,
                        "%s: %s packs %d values into each byte of a row, and this model's head "
                        "size %d is not a multiple of %d",
                        what, kv_precision_name(p), per, hs, per);
    return KV_OK;
}

// Bytes one row of HS values takes packed (without its scales).
static size_t row_bytes(KvPrecision p, int hs) {
    return (size_t)hs * (size_t)kv_precision_bits(p) / 8;
}

// Bytes of the scales and zero points of one row.
static size_t row_scale_bytes(KvPrecision p) {
    switch (p) {
    case KV_PRECISION_INT8:
        return sizeof(float);
    case KV_PRECISION_INT4:
    case KV_PRECISION_KIVI2:
    case KV_PRECISION_KIVI4:
        return 2 * sizeof(float);
    default:
        return 0;
    }
}

size_t config_kv_bytes_precision(const ModelConfig *c, KvPrecision p, int n) {
    const size_t heads = (size_t)c->n_layers * (size_t)c->n_kv_heads,
                 hs = (size_t)config_head_size(c);
    const size_t row = row_bytes(p, (int)hs) + row_scale_bytes(p);
    if (!is_kivi(p)) // a key row and a value row per position
        return heads * (size_t)n * 2 * row;
    assert(n % G == 0);
    const int bits = kv_precision_bits(p);
    return heads * ((size_t)(n / G) * kvq_key_group_bytes((int)hs, bits) + (size_t)n * row);
}

size_t config_kv_bytes_per_token_bits(const ModelConfig *c, int bits) {
    return 2 * (size_t)c->n_layers * (size_t)config_kv_dim(c) * (size_t)bits / 8;
}

size_t config_kv_bytes_per_token(const ModelConfig *c) {
    return config_kv_bytes_per_token_bits(c, kv_precision_bits(KV_PRECISION_F32));
}

// ----------------------------------------------------------------------------------------------
// Life

// The packed storage of precision p for kc's shape.
static struct KvPacked *packed_new(const KvCache *kc, KvPrecision p) {
    struct KvPacked *q = kv_calloc(1, sizeof *q);
    const size_t heads = (size_t)kc->n_layers * (size_t)kc->n_kv_heads, t = (size_t)kc->capacity;
    const size_t rows = heads * t, hs = (size_t)kc->head_size;
    q->row_bytes = row_bytes(p, kc->head_size);
    q->vq = kv_calloc(rows, q->row_bytes);
    if (is_kivi(p)) {
        const size_t groups = heads * (t / G);
        q->kq = kv_calloc(groups * hs, kvq_asym_bytes(G, kv_precision_bits(p)));
        q->ks = kv_calloc(groups * hs, sizeof(float));
        q->kz = kv_calloc(groups * hs, sizeof(float));
    } else {
        q->kq = kv_calloc(rows, q->row_bytes);
        if (row_scale_bytes(p))
            q->ks = kv_calloc(rows, sizeof(float));
        if (p == KV_PRECISION_INT4)
            q->kz = kv_calloc(rows, sizeof(float));
    }
    if (row_scale_bytes(p))
        q->vs = kv_calloc(rows, sizeof(float));
    if (row_scale_bytes(p) > sizeof(float))
        q->vz = kv_calloc(rows, sizeof(float));
    q->dk = kv_calloc((size_t)kc->n_kv_heads * t * hs, sizeof(float));
    q->dv = kv_calloc((size_t)kc->n_kv_heads * t * hs, sizeof(float));
    q->d_n = kv_calloc((size_t)kc->n_kv_heads, sizeof(int));
    q->d_layer = -1;
    return q;
}

static void packed_free(struct KvPacked *q) {
    if (!q)
        return;
    free(q->kq), free(q->vq), free(q->ks), free(q->kz), free(q->vs), free(q->vz);
    free(q->dk), free(q->dv), free(q->d_n);
    free(q);
}

// The storage of kc->kind for kc's shape (fields other than storage already set).
static void storage_init(KvCache *kc) {
    const size_t rows = (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->capacity;
    const KvPrecision p = kc->kind.precision;
    if (p == KV_PRECISION_F32 || is_kivi(p)) { // f32 rows: the cache, or KIVI's full precision
        kc->keys = kv_calloc(rows * (size_t)kc->head_size, sizeof *kc->keys);
        kc->values = kv_calloc(rows * (size_t)kc->head_size, sizeof *kc->values);
    }
    if (p != KV_PRECISION_F32)
        kc->packed = packed_new(kc, p);
}

static void storage_free(KvCache *kc) {
    free(kc->keys);
    free(kc->values);
    packed_free(kc->packed);
    kc->keys = kc->values = NULL;
    kc->packed = NULL;
}

void kvcache_init(KvCache *kc, const ModelConfig *c, KvCacheKind kind, bool scratch) {
    memset(kc, 0, sizeof *kc);
    assert(kind.retention == KV_RETAIN_FULL && kind.precision >= 0 &&
           kind.precision < KV_PRECISIONS && kind.layout == KV_LAYOUT_CONTIGUOUS);
    assert(!scratch || kind.precision == KV_PRECISION_F32); // working memory stays f32
    assert(kv_precision_check(c, kind.precision, "kv", NULL) == KV_OK);
    kc->kind = kind;
    kc->scratch = scratch;
    kc->n_layers = c->n_layers;
    kc->n_kv_heads = c->n_kv_heads;
    kc->head_size = config_head_size(c);
    kc->capacity = c->seq_len;
    storage_init(kc);
}

void kvcache_free(KvCache *kc) {
    storage_free(kc);
    memset(kc, 0, sizeof *kc);
}

void kvcache_set_precision(KvCache *kc, KvPrecision p) {
    assert(kc->pass_n == 0 && !kc->scratch && p >= 0 && p < KV_PRECISIONS);
    assert(kc->head_size % (kv_precision_bits(p) < 8 ? 8 / kv_precision_bits(p) : 1) == 0);
    storage_free(kc);
    kc->kind.precision = p;
    kc->len = kc->valid = 0;
    storage_init(kc);
}

// ----------------------------------------------------------------------------------------------
// The sequence it describes, and going back and forward in it

int kvcache_len(const KvCache *kc) {
    return kc->len;
}

void kvcache_clear(KvCache *kc) {
    assert(kc->pass_n == 0);
    kc->len = 0;
}

void kvcache_truncate(KvCache *kc, int n) {
    assert(kc->pass_n == 0 && n >= 0);
    if (n < kc->len)
        kc->len = n;
}

KvCacheMark kvcache_mark(const KvCache *kc) {
    assert(kc->pass_n == 0);
    return (KvCacheMark){.len = kc->len};
}

// Full retention is append-only: the state after positions 0 .. n-1 is their rows and nothing
// else, so a mark is a length. Going forward again is exact while the rows past the current
// length are still the ones this sequence stored (no pass has written over them).
void kvcache_seek(KvCache *kc, KvCacheMark m) {
    assert(kc->pass_n == 0 && m.len >= 0 && m.len <= kc->valid);
    kc->len = m.len;
}

// ----------------------------------------------------------------------------------------------
// A pass: store, read, complete

void kvcache_begin(KvCache *kc, int pos0, int n) {
    assert(kc->pass_n == 0 && n >= 1 && pos0 >= 0 && pos0 + n <= kc->capacity);
    assert(kc->scratch ? pos0 == 0 : pos0 <= kc->len);
    // positions from pos0 on are replaced; the scratch cache starts empty
    kc->len = pos0;
    kc->valid = pos0;
    kc->pass0 = pos0;
    kc->pass_n = n;
}

size_t kvcache_row(const KvCache *kc, int layer, int kv_head, int slot) {
    const size_t t = (size_t)kc->capacity, hs = (size_t)kc->head_size;
    return (((size_t)layer * (size_t)kc->n_kv_heads + (size_t)kv_head) * t + (size_t)slot) * hs;
}

// ---- KIVI: which positions are quantized

// Positions 0 .. n-1 of a sequence of len positions are held quantized: every whole group of G
// that ends at least R positions before the newest one. The rest (R .. R+G-1 positions) is f32.
static int kivi_quantized(int len) {
    return len > R ? (len - R) / G * G : 0;
}

// The length attention sees: during a pass, every position the pass stores (kvcache_head is called
// after the layer's stores), else the sequence's.
static int seen_len(const KvCache *kc) {
    return kc->pass_n ? kc->pass0 + kc->pass_n : kc->len;
}

// Quantizes KIVI group j of `layer` (every kv head): keys per channel over its G positions,
// values per row. Returns the bytes written.
static uint64_t kivi_quantize_group(KvCache *kc, int layer, int j) {
    struct KvPacked *q = kc->packed;
    const int hs = kc->head_size, bits = kv_precision_bits(kc->kind.precision);
    const size_t run = kvq_asym_bytes(G, bits), groups = (size_t)kc->capacity / G;
    uint64_t bytes = 0;
    for (int g = 0; g < kc->n_kv_heads; g++) {
        const size_t gi = ((size_t)layer * (size_t)kc->n_kv_heads + (size_t)g) * groups + (size_t)j;
        const size_t r0 = kvcache_row(kc, layer, g, j * G);
        kvq_key_group(q->kq + gi * (size_t)hs * run, q->ks + gi * (size_t)hs,
                      q->kz + gi * (size_t)hs, kc->keys + r0, (size_t)hs, hs, bits);
        for (int i = 0; i < G; i++) {
            const size_t r = r0 / (size_t)hs + (size_t)i;
            kvq_asym(q->vq + r * q->row_bytes, q->vs + r, q->vz + r,
                     kc->values + r0 + (size_t)i * hs, 1, hs, bits);
        }
        bytes += kvq_key_group_bytes(hs, bits) + (uint64_t)G * (q->row_bytes + 2 * sizeof(float));
    }
    return bytes;
}

uint64_t kvcache_store(KvCache *kc, int layer, int pos, const float *k, const float *v) {
    assert(pos >= kc->pass0 && pos < kc->pass0 + kc->pass_n);
    const size_t hs = (size_t)kc->head_size;
    const KvPrecision p = kc->kind.precision;
    if (p == KV_PRECISION_F32 || is_kivi(p)) {
        for (int g = 0; g < kc->n_kv_heads; g++) { // kv head g is the slice g*HS .. (g+1)*HS-1
            const size_t row = kvcache_row(kc, layer, g, pos);
            memcpy(kc->keys + row, k + (size_t)g * hs, hs * sizeof *kc->keys);
            memcpy(kc->values + row, v + (size_t)g * hs, hs * sizeof *kc->values);
        }
        uint64_t bytes = 2ull * (uint64_t)kc->n_kv_heads * hs * sizeof *kc->keys;
        if (p == KV_PRECISION_F32)
            return bytes;
        kc->packed->d_layer = -1;
        // storing position j*G + G + R - 1 makes group j old enough: quantize it now
        const int done = pos + 1 - R;
        if (done >= G && done % G == 0)
            bytes += kivi_quantize_group(kc, layer, done / G - 1);
        return bytes;
    }
    struct KvPacked *q = kc->packed;
    q->d_layer = -1; // the dequantized rows may now be stale
    for (int g = 0; g < kc->n_kv_heads; g++) {
        const size_t r = kvcache_row(kc, layer, g, pos) / hs;
        const float *kg = k + (size_t)g * hs, *vg = v + (size_t)g * hs;
        uint8_t *kr = q->kq + r * q->row_bytes, *vr = q->vq + r * q->row_bytes;
        switch (p) {
        case KV_PRECISION_BF16:
            kvq_row_bf16((uint16_t *)(void *)kr, kg, (int)hs);
            kvq_row_bf16((uint16_t *)(void *)vr, vg, (int)hs);
            break;
        case KV_PRECISION_INT8:
            q->ks[r] = kvq_row_int8((int8_t *)kr, kg, (int)hs);
            q->vs[r] = kvq_row_int8((int8_t *)vr, vg, (int)hs);
            break;
        case KV_PRECISION_INT4:
            kvq_asym(kr, q->ks + r, q->kz + r, kg, 1, (int)hs, 4);
            kvq_asym(vr, q->vs + r, q->vz + r, vg, 1, (int)hs, 4);
            break;
        default:
            assert(!"not a row-packed precision");
        }
    }
    return 2ull * (uint64_t)kc->n_kv_heads * (q->row_bytes + row_scale_bytes(p));
}

// Rows lo .. hi-1 of (layer, kv_head) as floats into dk/dv (HS apart).
static void dequantize_rows(const KvCache *kc, int layer, int g, int lo, int hi, int nq) {
    struct KvPacked *q = kc->packed;
    const size_t hs = (size_t)kc->head_size;
    const KvPrecision p = kc->kind.precision;
    float *dk = q->dk + (size_t)g * (size_t)kc->capacity * hs;
    float *dv = q->dv + (size_t)g * (size_t)kc->capacity * hs;
    const size_t r0 = kvcache_row(kc, layer, g, 0) / hs;
    if (is_kivi(p)) {
        const int bits = kv_precision_bits(p);
        const size_t run = kvq_asym_bytes(G, bits), groups = (size_t)kc->capacity / G;
        const size_t g0 = ((size_t)layer * (size_t)kc->n_kv_heads + (size_t)g) * groups;
        for (int i = lo; i < hi && i < nq;) { // quantized: keys by group, values by row
            const int j = i / G, n = (j + 1) * G < hi ? (j + 1) * G - i : hi - i;
            const size_t gi = g0 + (size_t)j;
            kvq_unkey_group(dk + (size_t)i * hs, hs, q->kq + gi * hs * run, q->ks + gi * hs,
                            q->kz + gi * hs, (int)hs, bits, i - j * G, n);
            i += n;
        }
        const int vq_hi = hi < nq ? hi : nq;
        if (lo < vq_hi)
            kvq_unrows_asym(dv + (size_t)lo * hs, q->vq + (r0 + (size_t)lo) * q->row_bytes,
                            q->vs + r0 + lo, q->vz + r0 + lo, vq_hi - lo, (int)hs, bits);
        const int f0 = lo > nq ? lo : nq; // the f32 tail
        if (f0 < hi) {
            memcpy(dk + (size_t)f0 * hs, kc->keys + (r0 + (size_t)f0) * hs,
                   (size_t)(hi - f0) * hs * sizeof(float));
            memcpy(dv + (size_t)f0 * hs, kc->values + (r0 + (size_t)f0) * hs,
                   (size_t)(hi - f0) * hs * sizeof(float));
        }
        return;
    }
    const size_t r = r0 + (size_t)lo, n = (size_t)(hi - lo);
    float *ko = dk + (size_t)lo * hs, *vo = dv + (size_t)lo * hs;
    switch (p) {
    case KV_PRECISION_BF16:
        kvq_unrows_bf16(ko, (const uint16_t *)(const void *)(q->kq + r * q->row_bytes), n * hs);
        kvq_unrows_bf16(vo, (const uint16_t *)(const void *)(q->vq + r * q->row_bytes), n * hs);
        break;
    case KV_PRECISION_INT8:
        kvq_unrows_int8(ko, (const int8_t *)(q->kq + r * q->row_bytes), q->ks + r, (int)n, (int)hs);
        kvq_unrows_int8(vo, (const int8_t *)(q->vq + r * q->row_bytes), q->vs + r, (int)n, (int)hs);
        break;
    case KV_PRECISION_INT4:
        kvq_unrows_asym(ko, q->kq + r * q->row_bytes, q->ks + r, q->kz + r, (int)n, (int)hs, 4);
        kvq_unrows_asym(vo, q->vq + r * q->row_bytes, q->vs + r, q->vz + r, (int)n, (int)hs, 4);
        break;
    default:
        assert(!"not a row-packed precision");
    }
}

// Bytes of the cache's storage that rows 0 .. n-1 of one kv head take (what attention reads).
static uint64_t head_bytes(const KvCache *kc, int n, int nq) {
    const KvPrecision p = kc->kind.precision;
    const uint64_t hs = (uint64_t)kc->head_size, f32_row = hs * sizeof(float);
    if (p == KV_PRECISION_F32)
        return 2ull * (uint64_t)n * f32_row;
    const uint64_t row = kc->packed->row_bytes + row_scale_bytes(p);
    if (!is_kivi(p))
        return 2ull * (uint64_t)n * row;
    const int q = n < nq ? n : nq; // quantized rows read: their key groups, whole
    const uint64_t groups = (uint64_t)(q + G - 1) / G;
    return groups * kvq_key_group_bytes(kc->head_size, kv_precision_bits(p)) + (uint64_t)q * row +
           2ull * (uint64_t)(n - q) * f32_row;
}

KvHeadRows kvcache_head(const KvCache *kc, int layer, int kv_head, int pos) {
    // a query reads positions the cache held before the pass, or that this pass has stored
    assert(pos >= 0 && pos < (kc->pass_n ? kc->pass0 + kc->pass_n : kc->len));
    const int n = pos + 1;
    if (kc->kind.precision == KV_PRECISION_F32) {
        const size_t row0 = kvcache_row(kc, layer, kv_head, 0);
        return (KvHeadRows){
            .keys = kc->keys + row0,
            .values = kc->values + row0,
            .stride = (size_t)kc->head_size,
            .n = n,
            .bytes = 2ull * (uint64_t)n * (uint64_t)kc->head_size * sizeof *kc->keys,
        };
    }
    // the rows dequantized since the last store are kept (a memo of what the storage holds, not
    // part of it): a prefill dequantizes each row once per layer, a decode step each row once
    struct KvPacked *q = kc->packed;
    const int nq = is_kivi(kc->kind.precision) ? kivi_quantized(seen_len(kc)) : 0;
    if (q->d_layer != layer || q->d_nq != nq) {
        q->d_layer = layer;
        q->d_nq = nq;
        memset(q->d_n, 0, (size_t)kc->n_kv_heads * sizeof *q->d_n);
    }
    if (q->d_n[kv_head] < n) {
        dequantize_rows(kc, layer, kv_head, q->d_n[kv_head], n, nq);
        q->d_n[kv_head] = n;
    }
    const size_t off = (size_t)kv_head * (size_t)kc->capacity * (size_t)kc->head_size;
    return (KvHeadRows){
        .keys = q->dk + off,
        .values = q->dv + off,
        .stride = (size_t)kc->head_size,
        .n = n,
        .bytes = head_bytes(kc, n, nq),
    };
}

void kvcache_end(KvCache *kc) {
    assert(kc->pass_n > 0);
    kc->len = kc->valid = kc->pass0 + kc->pass_n;
    kc->pass0 = kc->pass_n = 0;
}

void kvcache_abandon(KvCache *kc) {
    assert(kc->pass_n > 0);
    kc->len = kc->valid = kc->pass0; // rows from pass0 on hold a mix of this pass and older ones
    kc->pass0 = kc->pass_n = 0;
}

// ----------------------------------------------------------------------------------------------
// What it holds

bool kvcache_resident(const KvCache *kc, int layer, int kv_head, int pos) {
    assert(layer >= 0 && layer < kc->n_layers && kv_head >= 0 && kv_head < kc->n_kv_heads);
    return pos >= 0 && pos < kc->len;
}

void kvcache_resident_row(const KvCache *kc, int layer, int kv_head, int n, uint8_t *out) {
    assert(layer >= 0 && layer < kc->n_layers && kv_head >= 0 && kv_head < kc->n_kv_heads);
    const int held = n < kc->len ? n : kc->len; // full retention: positions 0 .. len-1
    memset(out, 1, (size_t)held);
    memset(out + held, 0, (size_t)(n - held));
}

int kvcache_slot(const KvCache *kc, int layer, int kv_head, int pos) {
    return kvcache_resident(kc, layer, kv_head, pos) ? pos : -1;
}

KvPrecision kvcache_precision(const KvCache *kc, int layer, int kv_head, int pos) {
    (void)layer, (void)kv_head;
    const KvPrecision p = kc->kind.precision;
    if (is_kivi(p) && pos >= kivi_quantized(seen_len(kc)))
        return KV_PRECISION_F32;
    return p;
}

// A configuration with the cache's L, HKV and HS (all config_kv_bytes_precision looks at).
static ModelConfig cache_config(const KvCache *kc) {
    return (ModelConfig){.dim = kc->head_size * kc->n_kv_heads,
                         .n_heads = kc->n_kv_heads,
                         .n_kv_heads = kc->n_kv_heads,
                         .n_layers = kc->n_layers};
}

size_t kvcache_bytes_per_position(const KvCache *kc) {
    const KvPrecision p = kc->kind.precision;
    if (p == KV_PRECISION_F32)
        return 2 * (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->head_size *
               sizeof *kc->keys;
    const ModelConfig c = cache_config(kc);
    return is_kivi(p) ? config_kv_bytes_precision(&c, p, G) / G
                      : config_kv_bytes_precision(&c, p, 1);
}

size_t kvcache_bytes_resident_f32(const KvCache *kc) {
    return (size_t)kc->len * 2 * (size_t)kc->n_layers * (size_t)kc->n_kv_heads *
           (size_t)kc->head_size * sizeof(float);
}

size_t kvcache_bytes_resident(const KvCache *kc) {
    const KvPrecision p = kc->kind.precision;
    if (!is_kivi(p))
        return (size_t)kc->len * kvcache_bytes_per_position(kc);
    const int nq = kivi_quantized(kc->len);
    const ModelConfig c = cache_config(kc);
    const size_t f32_pos =
        2 * (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->head_size * sizeof(float);
    return config_kv_bytes_precision(&c, p, nq) + (size_t)(kc->len - nq) * f32_pos;
}

size_t kvcache_bytes_reserved(const KvCache *kc) {
    const size_t rows = (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->capacity;
    const size_t hs = (size_t)kc->head_size;
    size_t n = kc->keys ? 2 * rows * hs * sizeof(float) : 0;
    const struct KvPacked *q = kc->packed;
    if (!q)
        return n;
    const KvPrecision p = kc->kind.precision;
    n += 2 * rows * q->row_bytes; // key rows or groups take as many bytes as value rows
    const size_t scales = (is_kivi(p) ? rows * hs / G : rows) * sizeof(float); // of keys
    n += (q->ks ? scales : 0) + (q->kz ? scales : 0);
    n += (q->vs ? rows * sizeof(float) : 0) + (q->vz ? rows * sizeof(float) : 0);
    n += 2 * (size_t)kc->n_kv_heads * (size_t)kc->capacity * hs * sizeof(float); // dk, dv
    return n;
}
