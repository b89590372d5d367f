// kvpaged.h — what kvcache.c hands to the paged layout (kvpaged.c). Internal to src/engine;
// the layout's face for everyone else is in engine.h ("The paged layout").
#ifndef KVSCOPE_KVPAGED_H
#define KVSCOPE_KVPAGED_H

#include "engine/engine.h"

// A cache of layout paged whose shape fields kvcache_init has set: a pool of its own, one block
// for every B positions of the context.
void kvpaged_init_own(KvCache *kc, const ModelConfig *c);
// The table's blocks back to the pool, and the pool too when it is the cache's own.
void kvpaged_free(KvCache *kc);
// The blocks positions pos0 .. pos0+n-1 go to exist and are this table's alone (kc->len is
// pos0 already); a registered block the pass writes into is forgotten.
void kvpaged_begin(KvCache *kc, int pos0, int n);
// Position pos of `layer`: every kv head's slice of k and v into its block.
void kvpaged_store(KvCache *kc, int layer, int pos, const float *k, const float *v);
// Rows 0 .. pos of (layer, kv head g) in position order, gathered by walking the table.
KvHeadRows kvpaged_head(const KvCache *kc, int layer, int g, int pos);
// Bytes of the blocks the table holds (and of the reading rows when the pool is its own).
size_t kvpaged_bytes_reserved(const KvCache *kc);

#endif
