// kvcache.c — the KV cache as an object: the keys and values of one sequence, where each
// (layer, kv head, position) lives, in which precision, and which rows attention reads.
//
// Today's one kind: full retention, f32 values, contiguous layout (L, HKV, T, HS). Each kv
// head's keys are one contiguous run of HS-float rows, slot p holding position p, so attention
// over positions 0 .. p streams one block of memory per head (kernel_attend). The same object,
// as a scratch cache, is the working memory of a no-cache pass: kvcache_begin empties it, so
// such a pass can read only the keys and values it has just computed.
//
// Later kinds live here: a retention policy decides residency in kvcache_begin/kvcache_end and
// answers kvcache_resident/kvcache_slot from its own table; a precision packs rows in
// kvcache_store and is read by its own attention kernel; a paged layout maps positions to blocks
// in kvcache_slot and kvcache_head. What this file does not do: compute keys and values
// (forward.c), or decide how a cell looks (src/sim records its state, src/view draws it).
#include "engine/engine.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// Sizes

int kv_precision_bits(KvPrecision p) {
    switch (p) {
    case KV_PRECISION_F32:
        return 8 * (int)sizeof(float);
    }
    assert(!"unknown precision");
    return 0;
}

size_t config_kv_bytes_per_token_bits(const ModelConfig *c, int bits) {
    return 2 * (size_t)c->n_layers * (size_t)config_kv_dim(c) * (size_t)bits / 8;
}

size_t config_kv_bytes_per_token(const ModelConfig *c) {
    return config_kv_bytes_per_token_bits(c, kv_precision_bits(KV_PRECISION_F32));
}

// ----------------------------------------------------------------------------------------------
// Life

void kvcache_init(KvCache *kc, const ModelConfig *c, KvCacheKind kind, bool scratch) {
    memset(kc, 0, sizeof *kc);
    assert(kind.retention == KV_RETAIN_FULL && kind.precision == KV_PRECISION_F32 &&
           kind.layout == KV_LAYOUT_CONTIGUOUS);
    kc->kind = kind;
    kc->scratch = scratch;
    kc->n_layers = c->n_layers;
    kc->n_kv_heads = c->n_kv_heads;
    kc->head_size = config_head_size(c);
    kc->capacity = c->seq_len;
    const size_t rows = (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->capacity;
    kc->keys = kv_calloc(rows * (size_t)kc->head_size, sizeof *kc->keys);
    kc->values = kv_calloc(rows * (size_t)kc->head_size, sizeof *kc->values);
}

void kvcache_free(KvCache *kc) {
    free(kc->keys);
    free(kc->values);
    memset(kc, 0, sizeof *kc);
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

uint64_t kvcache_store(KvCache *kc, int layer, int pos, const float *k, const float *v) {
    assert(pos >= kc->pass0 && pos < kc->pass0 + kc->pass_n);
    const size_t hs = (size_t)kc->head_size;
    for (int g = 0; g < kc->n_kv_heads; g++) { // kv head g is the slice g*HS .. (g+1)*HS-1
        const size_t row = kvcache_row(kc, layer, g, pos);
        memcpy(kc->keys + row, k + (size_t)g * hs, hs * sizeof *kc->keys);
        memcpy(kc->values + row, v + (size_t)g * hs, hs * sizeof *kc->values);
    }
    return 2ull * (uint64_t)kc->n_kv_heads * hs * sizeof *kc->keys;
}

KvHeadRows kvcache_head(const KvCache *kc, int layer, int kv_head, int pos) {
    // a query reads positions the cache held before the pass, or that this pass has stored
    assert(pos >= 0 && pos < (kc->pass_n ? kc->pass0 + kc->pass_n : kc->len));
    const size_t row0 = kvcache_row(kc, layer, kv_head, 0);
    const int n = pos + 1;
    return (KvHeadRows){
        .keys = kc->keys + row0,
        .values = kc->values + row0,
        .stride = (size_t)kc->head_size,
        .n = n,
        .bytes = 2ull * (uint64_t)n * (uint64_t)kc->head_size * sizeof *kc->keys,
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
    (void)layer, (void)kv_head, (void)pos;
    return kc->kind.precision;
}

size_t kvcache_bytes_per_position(const KvCache *kc) {
    return 2 * (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->head_size *
           sizeof *kc->keys;
}

size_t kvcache_bytes_resident(const KvCache *kc) {
    return (size_t)kc->len * kvcache_bytes_per_position(kc);
}

size_t kvcache_bytes_reserved(const KvCache *kc) {
    return (size_t)kc->capacity * kvcache_bytes_per_position(kc);
}
