// probe.h — internal to src/engine: how the forward pass hands one head's attention to an
// AttnProbe (probe.c). Only forward.c and probe.c include it.
#ifndef KVSCOPE_PROBE_H
#define KVSCOPE_PROBE_H

#include "engine/engine.h"

// Copies what one head's attention computed for the probe's (layer, head, pos): the query q (HS),
// the rows kv gave it (kv_head's), its weights (kv->n) and its output (HS); scores from q and
// the keys times scale.
void attn_probe_record(AttnProbe *p, const KvHeadRows *kv, int kv_head, const float *q,
                       const float *weights, const float *out, float scale);

#endif
