// kvpaged.h — what kvcache.c hands to the paged layout (kvpaged.c), and the row rules the two
// share. Internal to src/engine; the layout's face for everyone else is in engine.h ("The paged
// layout").
#ifndef KVSCOPE_KVPAGED_H
#define KVSCOPE_KVPAGED_H

#include "engine/engine.h"

// ---- Rows in a precision (kvcache.c; the rules are kvquant.c's)

// Bytes one row of hs values takes packed (without its scales), and its scales and zero points.
size_t kv_row_bytes(KvPrecision p, int hs);
size_t kv_row_scale_bytes(KvPrecision p);
// Packs one row x (hs floats) by p's rule (f32, bf16, int8, int4) into dst, with its scale and
// zero point where p has them (scale, lo may be NULL otherwise).
void kv_pack_row(KvPrecision p, int hs, uint8_t *dst, float *scale, float *lo, const float *x);
// Rows 0 .. n-1 of s (packed, no map) read back by their rule into out, hs floats apart.
void kv_unpack_rows(KvStoredRows s, int n, int hs, float *out);

// ---- The paged layout (kvpaged.c)

// A cache of layout paged whose shape fields kvcache_init has set: a pool of its own with as many
// blocks as the kind's retention holds at once, in the kind's precision.
void kvpaged_init_own(KvCache *kc, const ModelConfig *c);
// The table's blocks back to the pool, and the pool too when it is the cache's own.
void kvpaged_free(KvCache *kc);
// A pass storing positions pos0 .. pos0+n-1 (kc->len is pos0 already): the blocks of the rows it
// writes exist and are this table's alone; a registered block the pass writes into is forgotten.
void kvpaged_begin(KvCache *kc, int pos0, int n);
// The pass is complete: blocks none of whose positions the retention keeps go back to the pool.
void kvpaged_end(KvCache *kc);
// Every block back to the pool, the length kept: a bounded kind's rebuild puts rows back next.
void kvpaged_drop_rows(KvCache *kc);
// Row `row` (a position, or an h2o slot) of (layer, kv head g): key and value (HS floats each)
// packed into its block, which is taken from the pool if the table has none there. Returns the
// bytes written.
uint64_t kvpaged_put(KvCache *kc, int layer, int g, int row, const float *k, const float *v);
// The keys and values of r's rows (r->n, r->pos set by kvcache.c) as floats, gathered by walking
// the table into the pool's reading rows (valid until the next store).
void kvpaged_head(const KvCache *kc, int layer, int g, KvHeadRows *r);
// The same rows where they lie in the pool, for the kernel: r->k and r->v with the row map.
// False (r unchanged) when a packed row needs kvquant.h's edge-of-range guards (kvq_rows_plain).
bool kvpaged_head_stored(const KvCache *kc, int layer, int g, KvHeadRows *r);
// Bytes of the blocks the table holds (and of the reading rows when the pool is its own).
size_t kvpaged_bytes_reserved(const KvCache *kc);

#endif
