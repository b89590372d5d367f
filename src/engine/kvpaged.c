// kvpaged.c — the paged layout of the KV cache: a pool of fixed-size blocks, a block table per
// sequence, reference counts, copy-on-write, and prefix sharing through a hash of block chains.
//
// A block holds B consecutive positions of one sequence for every layer and kv head, laid out
// (L, HKV, B, HS) inside the block, so one block is one run of memory: taking, freeing and
// copying a block is one index and one memcpy. A sequence's KvCache keeps a KvBlockTable (its
// logical blocks in order, each naming a physical block); kvcache.c hands every paged operation
// to the functions here, which are the only code that computes an address in the pool.
//
// Reading for attention: the rows of one (layer, kv head) are gathered from the blocks the table
// names into the pool's reading rows gk/gv, in position order, and attention runs the contiguous
// kernel over them. That keeps one attention kernel (and its fixed order of summation, so paged
// logits equal contiguous ones bit for bit), at the price of copying each row a query reads once
// per layer. The gather is remembered while nothing is stored: a prefill of N positions copies
// each row once per layer, not N times.
//
// Sharing: a full block is registered under the hash of its chain: hash(parent's hash, its B
// tokens). A later sequence whose first tokens equal a registered chain takes those blocks (one
// reference more each) instead of computing them; a match also compares the parent block and the
// tokens, so a hash collision can never share a wrong block. A registered block is forgotten when
// it is freed or written into. A parallel sample forks a table whole (kvpaged_fork). Writing
// into a block another table holds copies it first (copy-on-write), so sharing never changes what
// another sequence reads.
//
// What this file does not do: decide which sequences get blocks and when (src/sim/serve.c), or
// compute keys and values (forward.c).
#include "engine/engine.h"
#include "engine/kvpaged.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// The pool

void kvpool_init(KvPool *p, const ModelConfig *c, int n_blocks, int block_size) {
    assert(n_blocks >= 1 && block_size >= 1 && block_size <= c->seq_len);
    memset(p, 0, sizeof *p);
    p->n_blocks = n_blocks;
    p->block_size = block_size;
    p->n_layers = c->n_layers;
    p->n_kv_heads = c->n_kv_heads;
    p->head_size = config_head_size(c);
    p->capacity = c->seq_len;
    const size_t floats = (size_t)n_blocks * kvpool_block_bytes(p) / (2 * sizeof(float));
    p->keys = kv_calloc(floats, sizeof(float));
    p->values = kv_calloc(floats, sizeof(float));
    p->ref = kv_calloc((size_t)n_blocks, sizeof *p->ref);
    p->free_stack = kv_malloc((size_t)n_blocks * sizeof *p->free_stack);
    for (int i = 0; i < n_blocks; i++) // block 0 is taken first
        p->free_stack[i] = n_blocks - 1 - i;
    p->n_free = n_blocks;
    p->hash = kv_calloc((size_t)n_blocks, sizeof *p->hash);
    p->parent = kv_malloc((size_t)n_blocks * sizeof *p->parent);
    p->tokens = kv_calloc((size_t)n_blocks * (size_t)block_size, sizeof *p->tokens);
    const size_t rows = (size_t)p->n_kv_heads * (size_t)p->capacity * (size_t)p->head_size;
    p->gk = kv_calloc(rows, sizeof *p->gk);
    p->gv = kv_calloc(rows, sizeof *p->gv);
    p->g_n = kv_calloc((size_t)p->n_kv_heads, sizeof *p->g_n);
    p->g_layer = -1;
}

void kvpool_free(KvPool *p) {
    free(p->keys), free(p->values), free(p->ref), free(p->free_stack);
    free(p->hash), free(p->parent), free(p->tokens);
    free(p->gk), free(p->gv), free(p->g_n);
    memset(p, 0, sizeof *p);
}

size_t kvpool_block_bytes(const KvPool *p) {
    return 2 * (size_t)p->n_layers * (size_t)p->n_kv_heads * (size_t)p->block_size *
           (size_t)p->head_size * sizeof(float);
}

int kvpool_used(const KvPool *p) {
    return p->n_blocks - p->n_free;
}

// Where row j of (layer, kv head g) of block b starts, in floats from keys (or values).
static size_t block_row(const KvPool *p, int b, int layer, int g, int j) {
    return ((((size_t)b * (size_t)p->n_layers + (size_t)layer) * (size_t)p->n_kv_heads +
             (size_t)g) *
                (size_t)p->block_size +
            (size_t)j) *
           (size_t)p->head_size;
}

static int block_take(KvPool *p) {
    assert(p->n_free > 0);
    const int b = p->free_stack[--p->n_free];
    assert(p->ref[b] == 0);
    p->ref[b] = 1;
    p->hash[b] = 0;
    p->allocated++;
    return b;
}

static void block_drop(KvPool *p, int b) {
    assert(p->ref[b] > 0);
    if (--p->ref[b] > 0)
        return;
    p->hash[b] = 0; // a free block is no longer a prefix anyone can find
    p->free_stack[p->n_free++] = b;
}

// ----------------------------------------------------------------------------------------------
// Block tables

static int blocks_for(const KvPool *p, int positions) {
    return (positions + p->block_size - 1) / p->block_size;
}

static KvBlockTable *table_new(KvPool *pool, bool own) {
    KvBlockTable *t = kv_calloc(1, sizeof *t);
    t->pool = pool;
    t->own = own;
    const size_t cap = (size_t)blocks_for(pool, pool->capacity);
    t->block = kv_malloc(cap * sizeof *t->block);
    t->hash = kv_calloc(cap, sizeof *t->hash);
    return t;
}

// A cache of layout paged whose fields kvcache_init has set: a pool of its own, a block for
// every B positions of the context (kvcache.c calls this).
void kvpaged_init_own(KvCache *kc, const ModelConfig *c) {
    KvPool *pool = kv_malloc(sizeof *pool);
    const int b = kc->kind.block;
    kvpool_init(pool, c, (c->seq_len + b - 1) / b, b);
    kc->paged = table_new(pool, true);
}

void kvcache_init_pooled(KvCache *kc, const ModelConfig *c, KvPool *pool) {
    KvCacheKind kind = KV_CACHE_DENSE;
    kind.layout = KV_LAYOUT_PAGED;
    kind.block = pool->block_size;
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
    free(t);
    kc->paged = NULL;
}

int kvpaged_block(const KvCache *kc, int i) {
    assert(i >= 0 && i < kc->paged->n);
    return kc->paged->block[i];
}

int kvpaged_blocks(const KvCache *kc) {
    return kc->paged->n;
}

void kvpaged_release(KvCache *kc) {
    KvBlockTable *t = kc->paged;
    assert(kc->pass_n == 0);
    for (int i = 0; i < t->n; i++)
        block_drop(t->pool, t->block[i]);
    t->n = 0;
    kc->len = kc->valid = 0;
    if (t->pool->g_seq == kc)
        t->pool->g_layer = -1;
}

// The logical block position `pos` falls in must be written: true when another table holds it.
static bool shared_at(const KvBlockTable *t, int pos) {
    const int i = pos / t->pool->block_size;
    return i < t->n && t->pool->ref[t->block[i]] > 1;
}

int kvpaged_need(const KvCache *kc, int len) {
    const KvBlockTable *t = kc->paged;
    const int have = t->n, want = blocks_for(t->pool, len);
    int need = want > have ? want - have : 0;
    // the blocks a pass from kc->len writes into: a shared one among those already held is copied
    for (int i = kc->len / t->pool->block_size; i < have && i < want; i++)
        need += t->pool->ref[t->block[i]] > 1;
    return need;
}

// Gives logical block i a block of its own with the same rows (copy-on-write).
static void copy_block(KvBlockTable *t, int i) {
    KvPool *p = t->pool;
    const int old = t->block[i], b = block_take(p);
    const size_t n = kvpool_block_bytes(p) / 2;
    memcpy((char *)p->keys + (size_t)b * n, (const char *)p->keys + (size_t)old * n, n);
    memcpy((char *)p->values + (size_t)b * n, (const char *)p->values + (size_t)old * n, n);
    block_drop(p, old);
    t->block[i] = b;
    t->hash[i] = 0;
    p->copies++;
}

bool kvpaged_reserve(KvCache *kc, int len) {
    KvBlockTable *t = kc->paged;
    assert(len <= kc->capacity);
    if (kvpaged_need(kc, len) > t->pool->n_free)
        return false;
    const int want = blocks_for(t->pool, len);
    for (int i = kc->len / t->pool->block_size; i < t->n && i < want; i++)
        if (t->pool->ref[t->block[i]] > 1)
            copy_block(t, i);
    while (t->n < want)
        t->block[t->n++] = block_take(t->pool);
    return true;
}

// kvcache_begin's part: the blocks positions pos0 .. pos0+n-1 go to exist and are this table's
// alone; a registered block the pass writes into is forgotten (its tokens change).
void kvpaged_begin(KvCache *kc, int pos0, int n) {
    KvBlockTable *t = kc->paged;
    const bool ok = kvpaged_reserve(kc, pos0 + n);
    assert(ok); // a cache's own pool has a block for every B positions; a session reserves first
    (void)ok;
    for (int i = pos0 / t->pool->block_size; i < t->n; i++)
        if (t->hash[i]) {
            assert(t->pool->ref[t->block[i]] == 1 && !shared_at(t, i * t->pool->block_size));
            t->pool->hash[t->block[i]] = 0;
            t->hash[i] = 0;
        }
}

// kvcache_store's part: position pos of `layer`, every kv head's slice of k and v.
void kvpaged_store(KvCache *kc, int layer, int pos, const float *k, const float *v) {
    KvBlockTable *t = kc->paged;
    KvPool *p = t->pool;
    const int i = pos / p->block_size, j = pos % p->block_size;
    assert(i < t->n && p->ref[t->block[i]] == 1);
    const size_t hs = (size_t)p->head_size;
    for (int g = 0; g < p->n_kv_heads; g++) {
        const size_t r = block_row(p, t->block[i], layer, g, j);
        memcpy(p->keys + r, k + (size_t)g * hs, hs * sizeof(float));
        memcpy(p->values + r, v + (size_t)g * hs, hs * sizeof(float));
    }
    p->g_layer = -1; // the gathered rows may be stale
}

// kvcache_head's part: rows 0 .. pos of (layer, kv head g) in position order, walking the table.
KvHeadRows kvpaged_head(const KvCache *kc, int layer, int g, int pos) {
    const KvBlockTable *t = kc->paged;
    KvPool *p = t->pool;
    const size_t hs = (size_t)p->head_size, T = (size_t)p->capacity;
    const int n = pos + 1, B = p->block_size;
    if (p->g_seq != (const void *)kc || p->g_layer != layer) {
        p->g_seq = kc;
        p->g_layer = layer;
        memset(p->g_n, 0, (size_t)p->n_kv_heads * sizeof *p->g_n);
    }
    float *gk = p->gk + (size_t)g * T * hs, *gv = p->gv + (size_t)g * T * hs;
    for (int s = p->g_n[g]; s < n;) { // a run of rows within one block at a time
        const int i = s / B, j = s % B, run = B - j < n - s ? B - j : n - s;
        const size_t r = block_row(p, t->block[i], layer, g, j);
        memcpy(gk + (size_t)s * hs, p->keys + r, (size_t)run * hs * sizeof(float));
        memcpy(gv + (size_t)s * hs, p->values + r, (size_t)run * hs * sizeof(float));
        s += run;
    }
    if (p->g_n[g] < n)
        p->g_n[g] = n;
    return (KvHeadRows){
        .keys = gk,
        .values = gv,
        .k = {.precision = KV_PRECISION_F32, .data = gk, .stride = hs * sizeof(float)},
        .v = {.precision = KV_PRECISION_F32, .data = gv, .stride = hs * sizeof(float)},
        .stride = hs,
        .n = n,
        .bytes = 2ull * (uint64_t)n * (uint64_t)hs * sizeof(float),
    };
}

// Bytes of the blocks the table holds (and of the reading rows when the pool is its own).
size_t kvpaged_bytes_reserved(const KvCache *kc) {
    const KvBlockTable *t = kc->paged;
    size_t n = (size_t)t->n * kvpool_block_bytes(t->pool);
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
        p->ref[b]++;
        t->hash[t->n] = hn;
        t->block[t->n++] = b;
        h = hn, parent = b;
    }
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
    for (int i = 0; i < s->n; i++) {
        d->block[i] = s->block[i];
        d->hash[i] = s->hash[i];
        s->pool->ref[s->block[i]]++;
    }
    d->n = s->n;
    dst->len = dst->valid = src->len;
}

KvStatus kv_paged_check(const char *what, KvCacheKind k, KvError *err) {
    if (k.layout != KV_LAYOUT_PAGED)
        return KV_OK;
    if (k.retention != KV_RETAIN_FULL)
        return kv_error(err, KV_ERR_INPUT,
                        "%s: a paged cache keeps every position (full retention): a block holds "
                        "B consecutive positions, and eviction drops single positions",
                        what);
    if (k.precision != KV_PRECISION_F32)
        return kv_error(err, KV_ERR_INPUT,
                        "%s: a paged cache keeps f32 rows (%s is kept in its own packed storage)",
                        what, kv_precision_name(k.precision));
    return KV_OK;
}
