// pass.h — what the two forward passes (forward.c: one sequence; batch.c: many) share. Internal
// to src/engine.
#ifndef KVSCOPE_PASS_H
#define KVSCOPE_PASS_H

#include "engine/engine.h"
#include "engine/kernels.h"

// Element `i` of matrix w (one of e->mw's), whichever its format.
const void *engine_mat_at(const Engine *e, const void *w, size_t i);
// One side of a head's rows (kvcache_head_stored) as the attention kernel reads them.
KernelRows engine_kernel_rows(const KvStoredRows *s);

#endif
