// kvpaged.c — the paged layout of the KV cache: a pool of fixed-size blocks, a block table per
// sequence, reference counts, copy-on-write, prefix sharing through a hash of block chains, and
// blocks given back when a retention stops keeping every position in them.
//
// A block holds B consecutive rows of one sequence for every layer and kv head, laid out
// (L, HKV, B) inside the block, so one block is one run of memory in each of the pool's arrays:
// taking, freeing and copying a block is one index and a few memcpy. Rows are kept in the cache's
// precision exactly as the contiguous cache keeps them (f32; bf16; int8 with a scale per row;
// int4 with a scale and zero point per row: kv_pack_row), the scales in arrays of one float per
// row beside the packed rows. A row is a position (full, window, sinks) or an h2o slot: h2o
// evicts a different position in each (layer, kv head), so its blocks hold the contiguous cache's
// H + R slots (the slot map is kvcache.c's) and are never given back while the sequence lives;
// window and sinks keep positions, and a block none of whose positions is kept any longer goes
// back to the pool (kvpaged_end; KvPool.retired counts it).
//
// Reading for attention: kvcache_head_stored gives the kernel a row map (row i of the head is
// pool row map[i]) built by walking the table, and the kernel reads every row in its block, in
// the contiguous cache's row order (slot order), with the same arithmetic: paged logits equal
// contiguous ones bit for bit, and no row is copied. kvcache_head (rows as floats, for the
// inspector and sinks' rotation) gathers the rows of one layer into the pool's reading rows,
// remembered while nothing is stored.
//
// Sharing: a full block is registered under the hash of its chain: hash(parent's hash, its B
// tokens). A later sequence whose first tokens equal a registered chain takes those blocks (one
// reference more each) instead of computing them; a match also compares the parent block and the
// tokens, so a hash collision can never share a wrong block. A registered block is forgotten when
// it is freed or written into, and with it the free blocks registered after it. With the prefix
// cache (KvPool.keep_freed) a freed registered block stays registered at the bottom of the free
// stack, taken only when no other block is free (the one freed longest ago first, a chain's end
// before its start), and a matching prefix takes it back (KvPool.revived). A parallel sample forks
// a table whole (kvpaged_fork). Writing into a block another table holds copies it first
// (copy-on-write), so sharing never changes what another sequence reads.
//
// What this file does not do: decide which sequences get blocks and when (src/sim/serve.c),
// which position a retention keeps or which slot h2o evicts (kvcache.c), or compute keys and
// values (forward.c).
#include "engine/engine.h"
#include "engine/kvpaged.h"
#include "engine/kvquant.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// The pool

static size_t block_rows(const KvPool *p) { // rows of one block: L * HKV * B
    return (size_t)p->n_layers * (size_t)p->n_kv_heads * (size_t)p->block_size;
}

void kvpool_init_precision(KvPool *p, const ModelConfig *c, int n_blocks, int block_size,
                           KvPrecision precision) {
    assert(n_blocks >= 1 && block_size >= 1 && block_size <= c->seq_len);
    assert(precision == KV_PRECISION_F32 || precision == KV_PRECISION_BF16 ||
           precision == KV_PRECISION_INT8 || precision == KV_PRECISION_INT4);
    memset(p, 0, sizeof *p);
    p->n_blocks = n_blocks;
    p->block_size = block_size;
    p->n_layers = c->n_layers;
    p->n_kv_heads = c->n_kv_heads;
    p->head_size = config_head_size(c);
    p->capacity = c->seq_len;
    p->precision = precision;
    p->row_bytes = kv_row_bytes(precision, p->head_size);
    const size_t rows = (size_t)n_blocks * block_rows(p);
    p->kq = kv_calloc(rows, p->row_bytes);
    p->vq = kv_calloc(rows, p->row_bytes);
    if (kv_row_scale_bytes(precision)) {
        p->ks = kv_calloc(rows, sizeof(float));
        p->vs = kv_calloc(rows, sizeof(float));
    }
    if (kv_row_scale_bytes(precision) > sizeof(float)) {
        p->kz = kv_calloc(rows, sizeof(float));
        p->vz = kv_calloc(rows, sizeof(float));
    }
    p->ref = kv_calloc((size_t)n_blocks, sizeof *p->ref);
    p->free_stack = kv_malloc((size_t)n_blocks * sizeof *p->free_stack);
    for (int i = 0; i < n_blocks; i++) // block 0 is taken first
        p->free_stack[i] = n_blocks - 1 - i;
    p->n_free = n_blocks;
    p->hash = kv_calloc((size_t)n_blocks, sizeof *p->hash);
    p->parent = kv_malloc((size_t)n_blocks * sizeof *p->parent);
    p->tokens = kv_calloc((size_t)n_blocks * (size_t)block_size, sizeof *p->tokens);
    const size_t head_rows = (size_t)p->n_kv_heads * (size_t)p->capacity * (size_t)p->head_size;
    p->gk = kv_calloc(head_rows, sizeof *p->gk);
    p->gv = kv_calloc(head_rows, sizeof *p->gv);
    p->g_n = kv_calloc((size_t)p->n_kv_heads, sizeof *p->g_n);
    p->g_layer = -1;
}

void kvpool_init(KvPool *p, const ModelConfig *c, int n_blocks, int block_size) {
    kvpool_init_precision(p, c, n_blocks, block_size, KV_PRECISION_F32);
}

void kvpool_free(KvPool *p) {
    free(p->kq), free(p->vq), free(p->ks), free(p->kz), free(p->vs), free(p->vz);
    free(p->ref), free(p->free_stack);
    free(p->hash), free(p->parent), free(p->tokens);
    free(p->gk), free(p->gv), free(p->g_n);
    memset(p, 0, sizeof *p);
}

size_t kvpool_block_bytes(const KvPool *p) {
    return 2 * block_rows(p) * (p->row_bytes + kv_row_scale_bytes(p->precision));
}

int kvpool_used(const KvPool *p) {
    return p->n_blocks - p->n_free;
}

// The pool row of row j of (layer, kv head g) of block b.
static size_t pool_row(const KvPool *p, int b, int layer, int g, int j) {
    return (((size_t)b * (size_t)p->n_layers + (size_t)layer) * (size_t)p->n_kv_heads + (size_t)g) *
               (size_t)p->block_size +
           (size_t)j;
}

// Forgets block b as a prefix, and the free blocks registered after it in a chain (nobody could
// reach them without it, and its number will name other rows).
static void unregister(KvPool *p, int b) {
    if (!p->hash[b])
        return;
    p->hash[b] = 0;
    for (int c = 0; c < p->n_blocks; c++)
        if (p->hash[c] && p->parent[c] == b && p->ref[c] == 0)
            unregister(p, c);
}

static int block_take(KvPool *p) {
    assert(p->n_free > 0);
    const int b = p->free_stack[--p->n_free];
    assert(p->ref[b] == 0);
    unregister(p, b); // a prefix the cache kept: its rows are about to be written over
    p->ref[b] = 1;
    p->allocated++;
    return b;
}

static void block_drop(KvPool *p, int b) {
    assert(p->ref[b] > 0);
    if (--p->ref[b] > 0)
        return;
    if (p->keep_freed && p->hash[b]) { // kept as a prefix: at the bottom, taken last
        memmove(p->free_stack + 1, p->free_stack, (size_t)p->n_free * sizeof *p->free_stack);
        p->free_stack[0] = b;
        p->n_free++;
        return;
    }
    unregister(p, b); // a free block is no longer a prefix anyone can find
    p->free_stack[p->n_free++] = b;
}

// A free block the prefix cache kept, taken back by a prefix that matches it.
static void block_revive(KvPool *p, int b) {
    assert(p->ref[b] == 0 && p->hash[b]);
    int k = 0;
    while (p->free_stack[k] != b)
        k++;
    memmove(p->free_stack + k, p->free_stack + k + 1,
            (size_t)(p->n_free - k - 1) * sizeof *p->free_stack);
    p->n_free--;
    p->ref[b] = 1;
    p->revived++;
}

// Block dst's rows become block src's (every array the precision has).
static void block_copy(KvPool *p, int dst, int src) {
    const size_t n = block_rows(p), d = (size_t)dst * n, s = (size_t)src * n, rb = p->row_bytes;
    memcpy(p->kq + d * rb, p->kq + s * rb, n * rb);
    memcpy(p->vq + d * rb, p->vq + s * rb, n * rb);
    float *const scales[] = {p->ks, p->kz, p->vs, p->vz};
    for (size_t i = 0; i < sizeof scales / sizeof *scales; i++)
        if (scales[i])
            memcpy(scales[i] + d, scales[i] + s, n * sizeof(float));
}

// ----------------------------------------------------------------------------------------------
// Block tables

static int blocks_for(const KvPool *p, int rows) {
    return (rows + p->block_size - 1) / p->block_size;
}

static KvBlockTable *table_new(KvPool *pool, bool own) {
    KvBlockTable *t = kv_calloc(1, sizeof *t);
    t->pool = pool;
    t->own = own;
    t->cap = blocks_for(pool, pool->capacity);
    t->block = kv_malloc((size_t)t->cap * sizeof *t->block);
    t->hash = kv_calloc((size_t)t->cap, sizeof *t->hash);
    t->map = kv_malloc((size_t)pool->capacity * sizeof *t->map);
    return t;
}

// Logical blocks 0 .. n-1 exist as entries (new ones -1: no block yet). Window and sinks keep
// positions past the context, so their tables grow.
static void table_extend(KvBlockTable *t, int n) {
    if (n > t->cap) {
        int cap = t->cap;
        while (cap < n)
            cap *= 2;
        t->block = kv_realloc(t->block, (size_t)cap * sizeof *t->block);
        t->hash = kv_realloc(t->hash, (size_t)cap * sizeof *t->hash);
        memset(t->hash + t->cap, 0, (size_t)(cap - t->cap) * sizeof *t->hash);
        t->cap = cap;
    }
    for (; t->n < n; t->n++) {
        t->block[t->n] = -1;
        t->hash[t->n] = 0;
    }
}

// Blocks a sequence of kind k holds at most at once (its own pool): every B positions of the
// context (full); those W + 1 consecutive positions can touch (window: the W kept and the one a
// pass adds, before kvpaged_end gives the oldest back), and the sinks' blocks (sinks); the
// blocks of H + R slots (h2o).
static int own_blocks(KvCacheKind k, int context) {
    const int B = k.block, recent = (k.window + 2 * B - 1) / B;
    switch (k.retention) {
    case KV_RETAIN_FULL:
        break;
    case KV_RETAIN_WINDOW:
        return recent;
    case KV_RETAIN_SINKS:
        return (k.sinks + B - 1) / B + recent;
    case KV_RETAIN_H2O:
        return (k.heavy + k.recent + B - 1) / B;
    }
    return (context + B - 1) / B;
}

void kvpaged_init_own(KvCache *kc, const ModelConfig *c) {
    KvPool *pool = kv_malloc(sizeof *pool);
    kvpool_init_precision(pool, c, own_blocks(kc->kind, c->seq_len), kc->kind.block,
                          kc->kind.precision);
    kc->paged = table_new(pool, true);
    kc->paged->retire_next = (kc->kind.sinks + kc->kind.block - 1) / kc->kind.block;
}

void kvcache_init_pooled(KvCache *kc, const ModelConfig *c, KvPool *pool) {
    KvCacheKind kind = KV_CACHE_DENSE;
    kind.layout = KV_LAYOUT_PAGED;
    kind.block = pool->block_size;
    kind.precision = pool->precision;
    memset(kc, 0, sizeof *kc);
    kc->kind = kind;
    kc->n_layers = c->n_layers;
    kc->n_kv_heads = c->n_kv_heads;
    kc->head_size = config_head_size(c);
    kc->capacity = c->seq_len;
    kc->slots = kc->capacity;
    kc->paged = table_new(pool, false);
}

// kvcache_free's part: the table's blocks back to the pool, and the pool when it is the cache's.
void kvpaged_free(KvCache *kc) {
    KvBlockTable *t = kc->paged;
    if (!t)
        return;
    kvpaged_release(kc);
    if (t->own) {
        kvpool_free(t->pool);
        free(t->pool);
    }
    free(t->block);
    free(t->hash);
    free(t->map);
    free(t);
    kc->paged = NULL;
}

int kvpaged_block(const KvCache *kc, int i) {
    assert(i >= 0 && i < kc->paged->n);
    return kc->paged->block[i];
}

int kvpaged_blocks(const KvCache *kc) {
    return kc->paged->held;
}

// Entry i gives its block back (a reference less).
static void entry_drop(KvBlockTable *t, int i) {
    if (t->block[i] < 0)
        return;
    block_drop(t->pool, t->block[i]);
    t->block[i] = -1;
    t->hash[i] = 0;
    t->held--;
    t->map_n = 0;
}

void kvpaged_drop_rows(KvCache *kc) {
    KvBlockTable *t = kc->paged;
    if (t->pool->keep_freed) // the chain's end first: a kept prefix loses its last blocks first
        for (int i = t->n - 1; i >= 0; i--)
            entry_drop(t, i);
    for (int i = 0; i < t->n; i++)
        entry_drop(t, i);
    t->retire_next = (kc->kind.sinks + t->pool->block_size - 1) / t->pool->block_size;
    if (t->pool->g_seq == kc)
        t->pool->g_layer = -1;
}

void kvpaged_release(KvCache *kc) {
    assert(kc->pass_n == 0);
    kvpaged_drop_rows(kc);
    kc->paged->n = 0;
    kc->len = kc->valid = 0;
}

// Blocks that making rows lo .. hi-1 writable takes: entries without a block, and blocks another
// table holds (copied on write).
static int need_rows(const KvBlockTable *t, int lo, int hi) {
    const int want = blocks_for(t->pool, hi);
    int need = 0;
    for (int i = lo / t->pool->block_size; i < want; i++)
        need += i >= t->n || t->block[i] < 0 || t->pool->ref[t->block[i]] > 1;
    return need;
}

// Gives logical block i a block of its own with the same rows (copy-on-write).
static void copy_block(KvBlockTable *t, int i) {
    KvPool *p = t->pool;
    const int old = t->block[i], b = block_take(p);
    block_copy(p, b, old);
    block_drop(p, old);
    t->block[i] = b;
    t->hash[i] = 0;
    t->map_n = 0;
    p->copies++;
}

// Makes rows lo .. hi-1 writable (false, nothing taken, when the pool has too few free blocks).
static bool reserve_rows(KvCache *kc, int lo, int hi) {
    KvBlockTable *t = kc->paged;
    if (need_rows(t, lo, hi) > t->pool->n_free)
        return false;
    const int want = blocks_for(t->pool, hi);
    table_extend(t, want);
    for (int i = lo / t->pool->block_size; i < want; i++) {
        if (t->block[i] < 0) {
            t->block[i] = block_take(t->pool);
            t->held++;
            t->map_n = 0;
        } else if (t->pool->ref[t->block[i]] > 1) {
            copy_block(t, i);
        }
    }
    return true;
}

int kvpaged_need(const KvCache *kc, int len) {
    return need_rows(kc->paged, kc->len, len);
}

bool kvpaged_reserve(KvCache *kc, int len) {
    assert(len <= kc->capacity);
    return reserve_rows(kc, kc->len, len);
}

void kvpaged_begin(KvCache *kc, int pos0, int n) {
    KvBlockTable *t = kc->paged;
    const int B = t->pool->block_size;
    // the rows the pass writes: its positions, or the h2o slots (any slot below H + R)
    const bool slots = kc->kind.retention == KV_RETAIN_H2O;
    const int lo = slots ? 0 : pos0, hi = slots && pos0 + n > kc->slots ? kc->slots : pos0 + n;
    const bool ok = reserve_rows(kc, lo, hi);
    assert(ok); // a cache's own pool has a block for every row it can hold; a session reserves
    (void)ok;
    for (int i = lo / B; i < t->n; i++) // registered blocks the pass writes into: forgotten
        if (t->hash[i]) {
            assert(t->block[i] >= 0 && t->pool->ref[t->block[i]] == 1);
            unregister(t->pool, t->block[i]);
            t->hash[i] = 0;
        }
    if (kv_kind_unbounded_positions(kc->kind)) // window, sinks: each row may hold a new position
        t->map_n = 0;
}

void kvpaged_end(KvCache *kc) {
    KvBlockTable *t = kc->paged;
    if (!kv_kind_unbounded_positions(kc->kind))
        return;
    // window and sinks keep positions < S and >= len - W: a block wholly between goes back
    const int B = t->pool->block_size, oldest = kc->len - kc->kind.window;
    for (; t->retire_next < t->n && (t->retire_next + 1) * B <= oldest; t->retire_next++)
        if (t->block[t->retire_next] >= 0) {
            entry_drop(t, t->retire_next);
            t->pool->retired++;
        }
}

uint64_t kvpaged_put(KvCache *kc, int layer, int g, int row, const float *k, const float *v) {
    KvBlockTable *t = kc->paged;
    KvPool *p = t->pool;
    const int i = row / p->block_size, j = row % p->block_size;
    if (i >= t->n || t->block[i] < 0) { // a rebuild putting rows back after kvpaged_drop_rows
        table_extend(t, i + 1);
        t->block[i] = block_take(p);
        t->held++;
        t->map_n = 0;
    }
    assert(p->ref[t->block[i]] == 1);
    const size_t r = pool_row(p, t->block[i], layer, g, j), rb = p->row_bytes;
    const KvPrecision pr = p->precision;
    kv_pack_row(pr, p->head_size, p->kq + r * rb, p->ks ? p->ks + r : NULL,
                p->kz ? p->kz + r : NULL, k);
    kv_pack_row(pr, p->head_size, p->vq + r * rb, p->vs ? p->vs + r : NULL,
                p->vz ? p->vz + r : NULL, v);
    p->g_layer = -1; // the gathered rows may be stale
    return 2ull * (rb + kv_row_scale_bytes(pr));
}

// The table row that row i of a head read holds: its position (window, sinks: r->pos, in slot
// order), else i (full: position i; h2o: slot i).
static int row_of(const KvCache *kc, const KvHeadRows *r, int i) {
    return r->pos && kc->kind.retention != KV_RETAIN_H2O ? r->pos[i] : i;
}

// One side of rows starting at pool row r0, as they are stored (no map).
static KvStoredRows pool_rows(const KvPool *p, bool value, size_t r0) {
    const float *scale = value ? p->vs : p->ks, *lo = value ? p->vz : p->kz;
    return (KvStoredRows){.precision = p->precision,
                          .data = (value ? p->vq : p->kq) + r0 * p->row_bytes,
                          .stride = p->row_bytes,
                          .scale = scale ? scale + r0 : NULL,
                          .lo = lo ? lo + r0 : NULL};
}

void kvpaged_head(const KvCache *kc, int layer, int g, KvHeadRows *r) {
    const KvBlockTable *t = kc->paged;
    KvPool *p = t->pool;
    const size_t hs = (size_t)p->head_size, T = (size_t)p->capacity;
    const int n = r->n, B = p->block_size;
    if (p->g_seq != (const void *)kc || p->g_layer != layer) {
        p->g_seq = kc;
        p->g_layer = layer;
        memset(p->g_n, 0, (size_t)p->n_kv_heads * sizeof *p->g_n);
    }
    float *gk = p->gk + (size_t)g * T * hs, *gv = p->gv + (size_t)g * T * hs;
    for (int s = p->g_n[g]; s < n;) { // a run of consecutive rows within one block at a time
        const int row = row_of(kc, r, s), j = row % B;
        int run = 1;
        while (s + run < n && j + run < B && row_of(kc, r, s + run) == row + run)
            run++;
        assert(t->block[row / B] >= 0);
        const size_t r0 = pool_row(p, t->block[row / B], layer, g, j);
        kv_unpack_rows(pool_rows(p, false, r0), run, (int)hs, gk + (size_t)s * hs);
        kv_unpack_rows(pool_rows(p, true, r0), run, (int)hs, gv + (size_t)s * hs);
        s += run;
    }
    if (p->g_n[g] < n)
        p->g_n[g] = n;
    r->keys = gk;
    r->values = gv;
    r->stride = hs;
}

bool kvpaged_head_stored(const KvCache *kc, int layer, int g, KvHeadRows *r) {
    KvBlockTable *t = kc->paged;
    const KvPool *p = t->pool;
    const int n = r->n, B = p->block_size;
    for (; t->map_n < n; t->map_n++) { // walk the table: pool rows of (layer 0, kv head 0)
        const int row = row_of(kc, r, t->map_n);
        assert(t->block[row / B] >= 0);
        t->map[t->map_n] = pool_row(p, t->block[row / B], 0, 0, row % B);
    }
    // (layer, g)'s row j of a block is (layer * HKV + g) * B rows past layer 0, kv head 0's
    const size_t off = ((size_t)layer * (size_t)p->n_kv_heads + (size_t)g) * (size_t)B;
    if (p->ks) { // int8, int4: rows at the edge of the float range read back through guards
        const int bits = kv_precision_bits(p->precision);
        for (int i = 0; i < n; i++) {
            const size_t ri = off + t->map[i];
            if (!kvq_rows_plain(p->ks + ri, p->kz ? p->kz + ri : NULL, 1, bits) ||
                !kvq_rows_plain(p->vs + ri, p->vz ? p->vz + ri : NULL, 1, bits))
                return false;
        }
    }
    r->k = pool_rows(p, false, off);
    r->v = pool_rows(p, true, off);
    r->k.map = r->v.map = t->map;
    r->keys = r->values = NULL;
    return true;
}

size_t kvpaged_bytes_reserved(const KvCache *kc) {
    const KvBlockTable *t = kc->paged;
    size_t n = (size_t)t->held * kvpool_block_bytes(t->pool);
    if (t->own)
        n += 2 * (size_t)t->pool->n_kv_heads * (size_t)t->pool->capacity *
             (size_t)t->pool->head_size * sizeof(float);
    return n;
}

// ----------------------------------------------------------------------------------------------
// Prefix sharing

// The hash of a chain: the parent's hash and a block's tokens, mixed (splitmix64's finalizer
// after each token); never 0, which means "not registered".
static uint64_t chain_hash(uint64_t parent, const int *tokens, int n) {
    uint64_t h = parent ^ 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uint32_t)tokens[i];
        h += 0x9e3779b97f4a7c15ull;
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
        h ^= h >> 31;
    }
    return h ? h : 1;
}

// The registered block that continues `parent` (-1: none, the first block) with these tokens.
static int find_block(const KvPool *p, uint64_t h, int parent, const int *tokens) {
    for (int b = 0; b < p->n_blocks; b++)
        if (p->hash[b] == h && p->parent[b] == parent &&
            memcmp(p->tokens + (size_t)b * (size_t)p->block_size, tokens,
                   (size_t)p->block_size * sizeof *tokens) == 0)
            return b;
    return -1;
}

int kvpaged_share_prefix(KvCache *kc, const int *tokens, int n) {
    KvBlockTable *t = kc->paged;
    KvPool *p = t->pool;
    const int B = p->block_size;
    assert(kc->len == 0 && t->n == 0 && kc->pass_n == 0);
    uint64_t h = 0;
    int parent = -1;
    while ((t->n + 1) * B <= n - 1) {
        const int *blk = tokens + (size_t)t->n * (size_t)B;
        const uint64_t hn = chain_hash(h, blk, B);
        const int b = find_block(p, hn, parent, blk);
        if (b < 0)
            break;
        if (p->ref[b] == 0) // a free block the prefix cache kept
            block_revive(p, b);
        else
            p->ref[b]++;
        t->hash[t->n] = hn;
        t->block[t->n++] = b;
        t->held++;
        h = hn, parent = b;
    }
    t->map_n = 0;
    kc->len = kc->valid = t->n * B;
    return kc->len;
}

void kvpaged_register(KvCache *kc, const int *tokens) {
    KvBlockTable *t = kc->paged;
    KvPool *p = t->pool;
    const int B = p->block_size;
    for (int i = 0; (i + 1) * B <= kc->len && i < t->n; i++) {
        if (t->hash[i])
            continue;
        const uint64_t parent_hash = i ? t->hash[i - 1] : 0;
        if (i && !parent_hash)
            break; // the chain before it is not registered: nobody could reach this block
        const int b = t->block[i];
        const uint64_t h = chain_hash(parent_hash, tokens + (size_t)i * (size_t)B, B);
        if (find_block(p, h, i ? t->block[i - 1] : -1, tokens + (size_t)i * (size_t)B) >= 0)
            break; // another block already is this chain's (this one was computed beside it)
        p->hash[b] = h;
        p->parent[b] = i ? t->block[i - 1] : -1;
        memcpy(p->tokens + (size_t)b * (size_t)B, tokens + (size_t)i * (size_t)B,
               (size_t)B * sizeof *tokens);
        t->hash[i] = h;
    }
}

void kvpaged_fork(KvCache *dst, const KvCache *src) {
    KvBlockTable *d = dst->paged;
    const KvBlockTable *s = src->paged;
    assert(d->pool == s->pool && d->n == 0 && dst->len == 0 && src->pass_n == 0);
    table_extend(d, s->n);
    for (int i = 0; i < s->n; i++) {
        d->block[i] = s->block[i];
        d->hash[i] = s->hash[i];
        if (s->block[i] >= 0)
            s->pool->ref[s->block[i]]++;
    }
    d->held = s->held;
    d->map_n = 0;
    dst->len = dst->valid = src->len;
}

KvStatus kv_paged_check(const char *what, KvCacheKind k, KvError *err) {
    if (k.layout != KV_LAYOUT_PAGED)
        return KV_OK;
    if (k.precision == KV_PRECISION_KIVI2 || k.precision == KV_PRECISION_KIVI4)
        return kv_error(err, KV_ERR_INPUT,
                        "%s: a paged cache cannot hold %s: KIVI quantizes keys per channel over "
                        "groups of 32 positions 32 steps after they are stored, so a block's rows "
                        "would change form after they are written, and a group straddles blocks "
                        "unless B is a multiple of 32",
                        what, kv_precision_name(k.precision));
    return KV_OK;
}
