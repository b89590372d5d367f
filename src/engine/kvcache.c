// kvcache.c — the KV cache as an object: the keys and values of one sequence, where each
// (layer, kv head, position) lives, in which precision, and which rows attention reads.
//
// Storage is contiguous (L, HKV, slots, HS): each kv head's keys one run of HS-float rows, so
// attention over a head streams one block of memory (kernel_attend). Full retention has a slot
// per position of the context (slot p = position p). A bounded retention (window, sinks, h2o;
// engine.h says their rules, docs/cache-policies.md their closed forms) has B slots per head and
// a table of which position each slot holds; a query reads the filled slots in slot order and
// the table tells the forward pass (and the picture) which position each row is. The same
// object, as a scratch cache, is the working memory of a no-cache pass: kvcache_begin empties it.
//
// Precisions (the rules are kvquant.c's; docs/cache-precision.md): bf16, int8 and int4 pack each
// row as kvcache_store receives it, into `packed` (rows plus their scales and zero points; the
// float arrays are not allocated). The KIVI kinds store every row in f32 and, when position
// G + R - 1 past a key group's first is stored, quantize that group (keys per channel, values
// per row) into `packed`; attention then reads the group from there, and the newest positions
// (32..63 of them) from the f32 rows. A KIVI cache keeps the f32 rows of its quantized groups
// only so that going back a step is exact (kvcache_seek); attention never reads them and they
// are not resident. kvcache_head_stored gives attention a kv head's rows where they are stored
// (the attention kernel reads bf16, int8 and int4 rows itself); kvcache_head gives them as floats:
// for f32 the rows themselves; for the others one layer's rows read back into rows the cache owns
// (only rows not already read back since the last store), which is also how KIVI is read.
//
// Precision and retention: bf16, int8 and int4 rows live in any retention's slots (packed when
// stored, packed again from the undo history when a seek puts a row back); KIVI keeps full
// retention (kv_kind_combine_check says why).
//
// Going back and forward: full retention is append-only, so a length is enough. A bounded kind
// overwrites slots, so it keeps beside its storage every row it was given (hist) and, for h2o,
// the slot table and scores at each mark (snap): a seek rebuilds the slots from them. That undo
// history is the session's, for exact stepping; attention never reads it and the byte counts do
// not include it.
//
// What this file does not do: compute keys and values (forward.c), or decide how a cell looks
// (src/sim records its state, src/view draws it).
#include "engine/engine.h"
#include "engine/kvpaged.h"
#include "engine/kvquant.h"

#include <assert.h>
#include <stdio.h>
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
// Kinds, sizes, names

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

size_t kv_row_bytes(KvPrecision p, int hs) {
    return (size_t)hs * (size_t)kv_precision_bits(p) / 8;
}

size_t kv_row_scale_bytes(KvPrecision p) {
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
    const size_t row = kv_row_bytes(p, (int)hs) + kv_row_scale_bytes(p);
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

int kv_kind_budget(KvCacheKind k) {
    switch (k.retention) {
    case KV_RETAIN_FULL:
        return 0;
    case KV_RETAIN_WINDOW:
        return k.window;
    case KV_RETAIN_SINKS:
        return k.sinks + k.window;
    case KV_RETAIN_H2O:
        return k.heavy + k.recent;
    }
    return 0;
}

bool kv_kind_dense(KvCacheKind k) {
    return k.retention == KV_RETAIN_FULL && k.precision == KV_PRECISION_F32;
}

bool kv_kind_equal(KvCacheKind a, KvCacheKind b) {
    return a.retention == b.retention && a.precision == b.precision && a.layout == b.layout &&
           kv_kind_budget(a) == kv_kind_budget(b) && a.window == b.window && a.sinks == b.sinks &&
           a.heavy == b.heavy && a.recent == b.recent && a.block == b.block;
}

bool kv_kind_unbounded_positions(KvCacheKind k) {
    return k.retention == KV_RETAIN_WINDOW || k.retention == KV_RETAIN_SINKS;
}

const char *kv_retention_name(KvCacheKind k, char *buf, size_t cap) {
    switch (k.retention) {
    case KV_RETAIN_FULL:
        snprintf(buf, cap, "full");
        break;
    case KV_RETAIN_WINDOW:
        snprintf(buf, cap, "window:%d", k.window);
        break;
    case KV_RETAIN_SINKS:
        snprintf(buf, cap, "sinks:%d,%d", k.sinks, k.window);
        break;
    case KV_RETAIN_H2O:
        snprintf(buf, cap, "h2o:%d,%d", k.heavy, k.recent);
        break;
    }
    return buf;
}

// One size of a spec: a whole number >= 1, all of s (the same words kv_parse_int accepts).
static KvStatus parse_size(const char *what, const char *name, const char *s, int *out,
                           KvError *err) {
    long v;
    KvError e2;
    if (!kv_parse_int(name, s, 1, KV_MAX_SEQ, &v, &e2)) {
        *out = (int)v;
        return KV_OK;
    }
    if (*s == '\0')
        return kv_error(err, KV_ERR_INPUT, "%s: %s is missing", what, name);
    const char *d = s + (*s == '-');
    bool digits = *d != '\0';
    for (; *d; d++)
        digits = digits && *d >= '0' && *d <= '9';
    if (!digits)
        return kv_error(err, KV_ERR_INPUT, "%s: %s is not a whole number: '%s'", what, name, s);
    if (*s == '-' || strspn(s, "0") == strlen(s))
        return kv_error(err, KV_ERR_INPUT, "%s: %s must be at least 1, not %s", what, name, s);
    return kv_error(err, KV_ERR_INPUT, "%s: %s %s is larger than any context (%d)", what, name, s,
                    KV_MAX_SEQ);
}

KvStatus kv_parse_retention(const char *what, const char *s, KvCacheKind *k, KvError *err) {
    static const char *const usage = "expected full, window:W, sinks:S,W or h2o:H,R";
    KvCacheKind out = *k;
    out.window = out.sinks = out.heavy = out.recent = 0;
    if (strcmp(s, "full") == 0) {
        out.retention = KV_RETAIN_FULL;
        *k = out;
        return KV_OK;
    }
    const char *colon = strchr(s, ':');
    if (!colon)
        return kv_error(err, KV_ERR_INPUT, "%s: '%s': %s", what, s, usage);
    const size_t nlen = (size_t)(colon - s);
    const char *args = colon + 1;
    char a[32] = "", b[32] = "";
    const char *comma = strchr(args, ',');
    if (strlen(args) >= sizeof a || (comma && strchr(comma + 1, ',')))
        return kv_error(err, KV_ERR_INPUT, "%s: '%s': %s", what, s, usage);
    if (comma) {
        memcpy(a, args, (size_t)(comma - args));
        a[comma - args] = '\0';
        snprintf(b, sizeof b, "%s", comma + 1);
    } else {
        snprintf(a, sizeof a, "%s", args);
    }
    KvStatus st;
    if (nlen == 6 && strncmp(s, "window", 6) == 0) {
        if (comma)
            return kv_error(err, KV_ERR_INPUT, "%s: '%s': window takes one size, window:W", what,
                            s);
        out.retention = KV_RETAIN_WINDOW;
        if ((st = parse_size(what, "W", a, &out.window, err)))
            return st;
    } else if (nlen == 5 && strncmp(s, "sinks", 5) == 0) {
        if (!comma)
            return kv_error(err, KV_ERR_INPUT, "%s: '%s': sinks takes two sizes, sinks:S,W", what,
                            s);
        out.retention = KV_RETAIN_SINKS;
        if ((st = parse_size(what, "S", a, &out.sinks, err)) ||
            (st = parse_size(what, "W", b, &out.window, err)))
            return st;
    } else if (nlen == 3 && strncmp(s, "h2o", 3) == 0) {
        if (!comma)
            return kv_error(err, KV_ERR_INPUT, "%s: '%s': h2o takes two sizes, h2o:H,R", what, s);
        out.retention = KV_RETAIN_H2O;
        if ((st = parse_size(what, "H", a, &out.heavy, err)) ||
            (st = parse_size(what, "R", b, &out.recent, err)))
            return st;
    } else {
        return kv_error(err, KV_ERR_INPUT, "%s: '%s': unknown policy; %s", what, s, usage);
    }
    *k = out;
    return KV_OK;
}

KvStatus kv_retention_check(const char *what, KvCacheKind k, int context, KvError *err) {
    const int b = kv_kind_budget(k);
    if (b > context) {
        char name[64];
        return kv_error(err, KV_ERR_INPUT,
                        "%s: %s keeps %d positions, more than the model's context of %d", what,
                        kv_retention_name(k, name, sizeof name), b, context);
    }
    return KV_OK;
}

KvStatus kv_kind_combine_check(const char *what, const char *cache_word, KvCacheKind k,
                               KvError *err) {
    const KvPrecision p = k.precision;
    const KvStatus st = kv_paged_check(what, k, err); // the paged layout's own rule (kvpaged.c)
    if (st)
        return st;
    if (!is_kivi(p) || k.retention == KV_RETAIN_FULL) // the row kinds pack each row alone
        return KV_OK;
    const char *why =
        "KIVI quantizes keys in groups of 32 consecutive positions, which eviction breaks";
    char name[64];
    return kv_error(err, KV_ERR_INPUT, "%s: %s cannot be combined with %s%s (%s)", what,
                    kv_precision_name(p), cache_word, kv_retention_name(k, name, sizeof name), why);
}

// ----------------------------------------------------------------------------------------------
// Life

// The packed storage of precision p for kc's shape.
static struct KvPacked *packed_new(const KvCache *kc, KvPrecision p) {
    struct KvPacked *q = kv_calloc(1, sizeof *q);
    // (KIVI: full retention only, so slots = T)
    const size_t heads = (size_t)kc->n_layers * (size_t)kc->n_kv_heads, t = (size_t)kc->slots;
    const size_t rows = heads * t, hs = (size_t)kc->head_size;
    q->row_bytes = kv_row_bytes(p, kc->head_size);
    q->vq = kv_calloc(rows, q->row_bytes);
    if (is_kivi(p)) {
        const size_t groups = heads * (t / G);
        q->kq = kv_calloc(groups * hs, kvq_asym_bytes(G, kv_precision_bits(p)));
        q->ks = kv_calloc(groups * hs, sizeof(float));
        q->kz = kv_calloc(groups * hs, sizeof(float));
    } else {
        q->kq = kv_calloc(rows, q->row_bytes);
        if (kv_row_scale_bytes(p))
            q->ks = kv_calloc(rows, sizeof(float));
        if (p == KV_PRECISION_INT4)
            q->kz = kv_calloc(rows, sizeof(float));
    }
    if (kv_row_scale_bytes(p))
        q->vs = kv_calloc(rows, sizeof(float));
    if (kv_row_scale_bytes(p) > sizeof(float))
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
    if (kc->kind.layout == KV_LAYOUT_PAGED) // blocks in a pool (kvpaged.c), not rows here
        return;
    const size_t rows = (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->slots;
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

static bool bounded(const KvCache *kc) {
    return kc->kind.retention != KV_RETAIN_FULL;
}

// Index of (layer, kv_head) among the L x HKV heads.
static size_t head_index(const KvCache *kc, int layer, int kv_head) {
    return (size_t)layer * (size_t)kc->n_kv_heads + (size_t)kv_head;
}

void kvcache_init(KvCache *kc, const ModelConfig *c, KvCacheKind kind, bool scratch) {
    memset(kc, 0, sizeof *kc);
    assert(kind.precision >= 0 && kind.precision < KV_PRECISIONS &&
           (kind.layout == KV_LAYOUT_CONTIGUOUS || kind.layout == KV_LAYOUT_PAGED));
    assert(!scratch || kv_kind_dense(kind)); // working memory stays full and f32
    assert(kv_precision_check(c, kind.precision, "kv", NULL) == KV_OK);
    assert(kv_kind_combine_check("kv", "", kind, NULL) == KV_OK);
    kc->kind = kind;
    kc->scratch = scratch;
    kc->n_layers = c->n_layers;
    kc->n_kv_heads = c->n_kv_heads;
    kc->head_size = config_head_size(c);
    kc->capacity = c->seq_len;
    const int budget = kv_kind_budget(kind);
    assert(budget >= 0 && budget <= kc->capacity);
    kc->slots = budget ? budget : kc->capacity;
    storage_init(kc);
    if (kind.layout == KV_LAYOUT_PAGED)
        kvpaged_init_own(kc, c);
    if (!budget)
        return;
    const size_t heads = (size_t)kc->n_layers * (size_t)kc->n_kv_heads;
    const size_t rows = heads * (size_t)kc->slots;
    kc->slot_pos = kv_malloc(rows * sizeof *kc->slot_pos);
    for (size_t i = 0; i < rows; i++)
        kc->slot_pos[i] = -1;
    if (kind.retention == KV_RETAIN_SINKS)
        kc->rot = kv_calloc((size_t)kc->slots * (size_t)kc->head_size, sizeof *kc->rot);
    if (kind.retention == KV_RETAIN_H2O) {
        kc->pos_slot = kv_malloc(heads * (size_t)kc->capacity * sizeof *kc->pos_slot);
        for (size_t i = 0; i < heads * (size_t)kc->capacity; i++)
            kc->pos_slot[i] = -1;
        kc->score = kv_calloc(rows, sizeof *kc->score);
        kc->evict_slot = kv_calloc(heads, sizeof *kc->evict_slot);
        kc->snap = kv_calloc((size_t)kc->capacity + 1, sizeof *kc->snap);
    }
}

static void snap_free(KvH2oSnap *s) {
    free(s->slot_pos);
    free(s->score);
    s->slot_pos = NULL;
    s->score = NULL;
}

void kvcache_free(KvCache *kc) {
    kvpaged_free(kc);
    storage_free(kc);
    free(kc->slot_pos);
    free(kc->pos_slot);
    free(kc->score);
    free(kc->evict_slot);
    free(kc->rot);
    free(kc->hist);
    if (kc->snap)
        for (int i = 0; i <= kc->capacity; i++)
            snap_free(&kc->snap[i]);
    free(kc->snap);
    memset(kc, 0, sizeof *kc);
}

static bool rebuild(KvCache *kc, int n);
static void forget_snaps_after(KvCache *kc, int n);
static ModelConfig cache_config(const KvCache *kc);

void kvcache_set_precision(KvCache *kc, KvPrecision p) {
    assert(kc->pass_n == 0 && !kc->scratch && p >= 0 && p < KV_PRECISIONS);
    assert(kc->head_size % (kv_precision_bits(p) < 8 ? 8 / kv_precision_bits(p) : 1) == 0);
    assert(!is_kivi(p) || !bounded(kc)); // kv_kind_combine_check
    storage_free(kc);
    kc->kind.precision = p;
    kc->len = kc->valid = 0;
    storage_init(kc);
    if (kc->paged) { // a pool of blocks in the new precision
        const ModelConfig c = cache_config(kc);
        kvpaged_free(kc);
        kvpaged_init_own(kc, &c);
    }
    if (bounded(kc)) { // the slot table (and h2o's snapshots) describe no position now
        forget_snaps_after(kc, 0);
        rebuild(kc, 0);
    }
}

// ----------------------------------------------------------------------------------------------
// Where each position goes

size_t kvcache_row(const KvCache *kc, int layer, int kv_head, int slot) {
    assert(!kc->paged); // a paged cache's rows are in its pool's blocks
    return (head_index(kc, layer, kv_head) * (size_t)kc->slots + (size_t)slot) *
           (size_t)kc->head_size;
}

int kv_kind_slot(KvCacheKind k, int p) {
    switch (k.retention) {
    case KV_RETAIN_FULL:
        return p;
    case KV_RETAIN_WINDOW:
        return p % k.window;
    case KV_RETAIN_SINKS:
        return p < k.sinks ? p : k.sinks + (p - k.sinks) % k.window;
    case KV_RETAIN_H2O:
        break;
    }
    return -1;
}

// The slot a new position p goes to (h2o: chosen by kvcache_begin when the cache is full).
static int slot_for(const KvCache *kc, size_t head, int p) {
    if (kc->kind.retention == KV_RETAIN_H2O)
        return p < kc->slots ? p : kc->evict_slot[head];
    return kv_kind_slot(kc->kind, p);
}

// Rows of (P, 2, L, HKV, HS) in hist: one position's keys and values of every head.
static size_t hist_stride(const KvCache *kc) {
    return 2 * (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->head_size;
}

static float *hist_row(const KvCache *kc, int pos, int layer, int kv_head, bool value) {
    const size_t heads = (size_t)kc->n_layers * (size_t)kc->n_kv_heads;
    return kc->hist + (size_t)pos * hist_stride(kc) +
           ((value ? heads : 0) + head_index(kc, layer, kv_head)) * (size_t)kc->head_size;
}

void kv_pack_row(KvPrecision p, int hs, uint8_t *dst, float *scale, float *lo, const float *x) {
    switch (p) {
    case KV_PRECISION_F32:
        memcpy(dst, x, (size_t)hs * sizeof *x);
        break;
    case KV_PRECISION_BF16:
        kvq_row_bf16((uint16_t *)(void *)dst, x, hs);
        break;
    case KV_PRECISION_INT8:
        *scale = kvq_row_int8((int8_t *)dst, x, hs);
        break;
    case KV_PRECISION_INT4:
        kvq_asym(dst, scale, lo, x, 1, hs, 4);
        break;
    default:
        assert(!"not a row-packed precision");
    }
}

// Writes one key row and one value row (HS floats each) of (layer, kv_head) into `slot`, which
// holds position pos, in the cache's precision: f32 rows (also KIVI's, quantized later by group),
// or packed by the row's rule; a paged cache into the block of its row (the position, or the
// slot under h2o). Returns the bytes written.
static uint64_t put_row(KvCache *kc, int layer, int g, int slot, int pos, const float *kg,
                        const float *vg) {
    if (kc->paged)
        return kvpaged_put(kc, layer, g, kv_kind_unbounded_positions(kc->kind) ? pos : slot, kg,
                           vg);
    const size_t hs = (size_t)kc->head_size, row = kvcache_row(kc, layer, g, slot);
    const KvPrecision p = kc->kind.precision;
    if (p != KV_PRECISION_F32)
        kc->packed->d_layer = -1; // the dequantized rows may now be stale
    if (p == KV_PRECISION_F32 || is_kivi(p)) {
        memcpy(kc->keys + row, kg, hs * sizeof *kc->keys);
        memcpy(kc->values + row, vg, hs * sizeof *kc->values);
        return 2ull * hs * sizeof *kc->keys;
    }
    struct KvPacked *q = kc->packed;
    const size_t r = row / hs;
    kv_pack_row(p, (int)hs, q->kq + r * q->row_bytes, q->ks ? q->ks + r : NULL,
                q->kz ? q->kz + r : NULL, kg);
    kv_pack_row(p, (int)hs, q->vq + r * q->row_bytes, q->vs ? q->vs + r : NULL,
                q->vz ? q->vz + r : NULL, vg);
    return 2ull * (q->row_bytes + kv_row_scale_bytes(p));
}

// Puts position p's rows back into `slot` of every head from hist (a seek).
// (A packed kind packs the row again: each rule is exact per row, so the slot holds the bytes it
// held when p was stored.)
static void restore_row(KvCache *kc, size_t head, int slot, int p) {
    const int l = (int)(head / (size_t)kc->n_kv_heads), g = (int)(head % (size_t)kc->n_kv_heads);
    put_row(kc, l, g, slot, p, hist_row(kc, p, l, g, false), hist_row(kc, p, l, g, true));
    kc->slot_pos[head * (size_t)kc->slots + (size_t)slot] = p;
}

// Rebuilds a bounded cache's slots as they were after positions 0 .. n-1. Window and sinks: the
// rule alone says which positions are where. h2o: the snapshot at n says it (false if none).
static bool rebuild(KvCache *kc, int n) {
    const size_t heads = (size_t)kc->n_layers * (size_t)kc->n_kv_heads;
    const size_t rows = heads * (size_t)kc->slots;
    assert(n <= kc->valid);
    if (kc->paged) // every block back; the rows kept at n are put back into blocks taken anew
        kvpaged_drop_rows(kc);
    if (kc->kind.retention == KV_RETAIN_H2O) {
        const KvH2oSnap *s = n > 0 ? &kc->snap[n] : NULL;
        if (n > 0 && !s->slot_pos)
            return false;
        for (size_t i = 0; i < heads * (size_t)kc->capacity; i++)
            kc->pos_slot[i] = -1;
        for (size_t i = 0; i < rows; i++) {
            kc->slot_pos[i] = -1;
            kc->score[i] = 0.0f;
        }
        if (n == 0)
            return true;
        memcpy(kc->score, s->score, rows * sizeof *kc->score);
        for (size_t h = 0; h < heads; h++)
            for (int slot = 0; slot < kc->slots; slot++) {
                const int p = s->slot_pos[h * (size_t)kc->slots + (size_t)slot];
                if (p < 0)
                    continue;
                restore_row(kc, h, slot, p);
                kc->pos_slot[h * (size_t)kc->capacity + (size_t)p] = slot;
            }
        return true;
    }
    for (size_t i = 0; i < rows; i++)
        kc->slot_pos[i] = -1;
    for (size_t h = 0; h < heads; h++)
        for (int p = 0; p < n; p++)
            if (kvcache_resident(kc, (int)(h / (size_t)kc->n_kv_heads),
                                 (int)(h % (size_t)kc->n_kv_heads), p)) // asks kc->len (= n)
                restore_row(kc, h, slot_for(kc, h, p), p);
    return true;
}

// ----------------------------------------------------------------------------------------------
// The sequence it describes, and going back and forward in it

int kvcache_len(const KvCache *kc) {
    return kc->len;
}

static void forget_snaps_after(KvCache *kc, int n) {
    if (!kc->snap)
        return;
    for (int i = n + 1; i <= kc->capacity; i++)
        snap_free(&kc->snap[i]);
}

void kvcache_clear(KvCache *kc) {
    assert(kc->pass_n == 0);
    kc->len = 0;
    if (bounded(kc)) {
        kc->valid = 0;
        forget_snaps_after(kc, 0);
        rebuild(kc, 0);
    }
}

// Sets the cache to describe positions 0 .. n-1 of what this sequence stored (n <= valid).
static void go_to(KvCache *kc, int n) {
    kc->len = n;
    if (!bounded(kc))
        return;
    if (!rebuild(kc, n)) { // h2o without a snapshot there: what it kept is not known
        kc->len = kc->valid = 0;
        forget_snaps_after(kc, 0);
        rebuild(kc, 0);
    }
}

void kvcache_truncate(KvCache *kc, int n) {
    assert(kc->pass_n == 0 && n >= 0);
    if (n < kc->len)
        go_to(kc, n);
}

KvCacheMark kvcache_mark(KvCache *kc) {
    assert(kc->pass_n == 0);
    if (kc->kind.retention == KV_RETAIN_H2O && kc->len > 0 && !kc->snap[kc->len].slot_pos) {
        const size_t rows = (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->slots;
        KvH2oSnap *s = &kc->snap[kc->len];
        s->slot_pos = kv_malloc(rows * sizeof *s->slot_pos);
        s->score = kv_malloc(rows * sizeof *s->score);
        memcpy(s->slot_pos, kc->slot_pos, rows * sizeof *s->slot_pos);
        memcpy(s->score, kc->score, rows * sizeof *s->score);
    }
    return (KvCacheMark){.len = kc->len};
}

// Full retention: the state after positions 0 .. n-1 is their rows and nothing else, so a mark
// is a length, and going forward again is exact while the rows past the current length are
// still the ones this sequence stored. Bounded kinds rebuild their slots from hist (and snap).
void kvcache_seek(KvCache *kc, KvCacheMark m) {
    assert(kc->pass_n == 0 && m.len >= 0 && m.len <= kc->valid);
    if (m.len != kc->len)
        go_to(kc, m.len);
}

// ----------------------------------------------------------------------------------------------
// A pass: store, read, complete

int kvcache_pass_max(const KvCache *kc, int pos0) {
    if (!bounded(kc))
        return kc->capacity - pos0;
    const int left = kc->slots - pos0;
    return left > 1 ? left : 1;
}

bool kvcache_rotates_on_store(const KvCache *kc) {
    return kc->kind.retention != KV_RETAIN_SINKS;
}

int kvcache_query_rotation(const KvCache *kc, int pos) {
    if (kc->kind.retention != KV_RETAIN_SINKS)
        return pos;
    return pos < kc->slots ? pos : kc->slots - 1; // the last of the S + W the query reads
}

// h2o over a full cache, before position p is stored: each head gives up the lowest-scoring
// position outside the R most recent (p-R+1 .. p once p is in), the oldest among equal scores.
static void h2o_choose(KvCache *kc, int p) {
    const size_t heads = (size_t)kc->n_layers * (size_t)kc->n_kv_heads;
    const int recent0 = p - kc->kind.recent + 1;
    for (size_t h = 0; h < heads; h++) {
        const int *sp = kc->slot_pos + h * (size_t)kc->slots;
        const float *sc = kc->score + h * (size_t)kc->slots;
        int best = -1;
        for (int s = 0; s < kc->slots; s++) {
            if (sp[s] >= recent0)
                continue;
            if (best < 0 || sc[s] < sc[best] || (sc[s] == sc[best] && sp[s] < sp[best]))
                best = s;
        }
        assert(best >= 0); // H >= 1 positions are not recent
        kc->pos_slot[h * (size_t)kc->capacity + (size_t)sp[best]] = -1;
        kc->evict_slot[h] = best;
    }
}

void kvcache_begin(KvCache *kc, int pos0, int n) {
    assert(kc->pass_n == 0 && n >= 1 && pos0 >= 0);
    assert(kc->scratch ? pos0 == 0 : pos0 <= kc->len);
    assert(kv_kind_unbounded_positions(kc->kind) || pos0 + n <= kc->capacity);
    assert(n <= kvcache_pass_max(kc, pos0));
    // positions from pos0 on are replaced; the scratch cache starts empty
    if (pos0 < kc->len)
        go_to(kc, pos0);
    assert(pos0 == kc->len || !bounded(kc));
    kc->len = pos0;
    kc->valid = pos0;
    forget_snaps_after(kc, pos0);
    kc->pass0 = pos0;
    kc->pass_n = n;
    if (kc->paged)
        kvpaged_begin(kc, pos0, n);
    if (!bounded(kc))
        return;
    const size_t need = (size_t)(pos0 + n);
    if (need > kc->hist_cap) {
        size_t cap = kc->hist_cap ? kc->hist_cap : 64;
        while (cap < need)
            cap *= 2;
        kc->hist = kv_realloc(kc->hist, cap * hist_stride(kc) * sizeof *kc->hist);
        kc->hist_cap = cap;
    }
    if (kc->kind.retention == KV_RETAIN_H2O && pos0 >= kc->slots)
        h2o_choose(kc, pos0);
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
    uint64_t bytes = 0;
    for (int g = 0; g < kc->n_kv_heads; g++) { // kv head g is the slice g*HS .. (g+1)*HS-1
        const size_t head = head_index(kc, layer, g);
        const int slot = slot_for(kc, head, pos);
        const float *kg = k + (size_t)g * hs, *vg = v + (size_t)g * hs;
        bytes += put_row(kc, layer, g, slot, pos, kg, vg);
        if (!bounded(kc))
            continue;
        memcpy(hist_row(kc, pos, layer, g, false), kg, hs * sizeof *kg);
        memcpy(hist_row(kc, pos, layer, g, true), vg, hs * sizeof *vg);
        kc->slot_pos[head * (size_t)kc->slots + (size_t)slot] = pos;
        if (kc->kind.retention == KV_RETAIN_H2O) {
            kc->score[head * (size_t)kc->slots + (size_t)slot] = 0.0f;
            kc->pos_slot[head * (size_t)kc->capacity + (size_t)pos] = slot;
        }
    }
    if (is_kivi(kc->kind.precision)) {
        // storing position j*G + G + R - 1 makes group j old enough: quantize it now
        const int done = pos + 1 - R;
        if (done >= G && done % G == 0)
            bytes += kivi_quantize_group(kc, layer, done / G - 1);
    }
    return bytes;
}

// One side (keys or values) of the packed rows of (layer, kv_head) of a row kind (bf16, int8,
// int4), from slot 0 on, as they are stored.
static KvStoredRows packed_rows(const KvCache *kc, int layer, int g, bool value) {
    const struct KvPacked *q = kc->packed;
    const size_t r0 = kvcache_row(kc, layer, g, 0) / (size_t)kc->head_size;
    const float *scale = value ? q->vs : q->ks, *lo = value ? q->vz : q->kz;
    return (KvStoredRows){.precision = kc->kind.precision,
                          .data = (value ? q->vq : q->kq) + r0 * q->row_bytes,
                          .stride = q->row_bytes,
                          .scale = scale ? scale + r0 : NULL,
                          .lo = lo ? lo + r0 : NULL};
}

// The same rows from row n on.
static KvStoredRows skip_rows(KvStoredRows s, int n) {
    s.data = (const uint8_t *)s.data + (size_t)n * s.stride;
    s.scale = s.scale ? s.scale + n : NULL;
    s.lo = s.lo ? s.lo + n : NULL;
    return s;
}

void kv_unpack_rows(KvStoredRows s, int n, int hs, float *out) {
    assert(!s.map);
    switch (s.precision) {
    case KV_PRECISION_F32:
        memcpy(out, s.data, (size_t)n * (size_t)hs * sizeof *out);
        break;
    case KV_PRECISION_BF16:
        kvq_unrows_bf16(out, s.data, (size_t)n * (size_t)hs);
        break;
    case KV_PRECISION_INT8:
        kvq_unrows_int8(out, s.data, s.scale, n, hs);
        break;
    case KV_PRECISION_INT4:
        kvq_unrows_asym(out, s.data, s.scale, s.lo, n, hs, 4);
        break;
    default:
        assert(!"not a row-packed precision");
    }
}

// Rows 0 .. n-1 of one side of a row kind read back by its rule (kvquant.h, guards included) into
// out, HS floats apart.
static void read_rows(const KvCache *kc, KvStoredRows s, int n, float *out) {
    kv_unpack_rows(s, n, kc->head_size, out);
}

// Rows lo .. hi-1 of (layer, kv_head) as floats into dk/dv (HS apart).
static void dequantize_rows(const KvCache *kc, int layer, int g, int lo, int hi, int nq) {
    struct KvPacked *q = kc->packed;
    const size_t hs = (size_t)kc->head_size;
    const KvPrecision p = kc->kind.precision;
    float *dk = q->dk + (size_t)g * (size_t)kc->slots * hs;
    float *dv = q->dv + (size_t)g * (size_t)kc->slots * hs;
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
    read_rows(kc, skip_rows(packed_rows(kc, layer, g, false), lo), hi - lo, dk + (size_t)lo * hs);
    read_rows(kc, skip_rows(packed_rows(kc, layer, g, true), lo), hi - lo, dv + (size_t)lo * hs);
}

// Bytes of the cache's storage that rows 0 .. n-1 of one kv head take (what attention reads).
static uint64_t head_bytes(const KvCache *kc, int n, int nq) {
    const KvPrecision p = kc->kind.precision;
    const uint64_t hs = (uint64_t)kc->head_size, f32_row = hs * sizeof(float);
    if (p == KV_PRECISION_F32)
        return 2ull * (uint64_t)n * f32_row;
    const uint64_t row = kv_row_bytes(p, kc->head_size) + kv_row_scale_bytes(p);
    if (!is_kivi(p))
        return 2ull * (uint64_t)n * row;
    const int q = n < nq ? n : nq; // quantized rows read: their key groups, whole
    const uint64_t groups = (uint64_t)(q + G - 1) / G;
    return groups * kvq_key_group_bytes(kc->head_size, kv_precision_bits(p)) + (uint64_t)q * row +
           2ull * (uint64_t)(n - q) * f32_row;
}

// Rotates pairs (i, i+1) of one key by the cos/sin of one position (as kernel_rope does).
static void rotate_key(float *out, const float *k, const float *cs, int hs) {
    for (int i = 0; i < hs; i += 2) {
        const float fcr = cs[i], fci = cs[i + 1], k0 = k[i], k1 = k[i + 1];
        out[i] = k0 * fcr - k1 * fci;
        out[i + 1] = k0 * fci + k1 * fcr;
    }
}

// The rows a query at pos reads, without their keys and values: how many, their positions, and
// the bytes of storage they take.
static KvHeadRows head_rows(const KvCache *kc, int layer, int kv_head, int pos) {
    // a query reads positions the cache held before the pass, or that this pass has stored
    assert(pos >= 0 && pos < (kc->pass_n ? kc->pass0 + kc->pass_n : kc->len));
    // slots 0 .. n-1: while nothing was evicted they hold positions 0 .. pos in order
    const int n = pos + 1 < kc->slots ? pos + 1 : kc->slots;
    const int nq = is_kivi(kc->kind.precision) ? kivi_quantized(seen_len(kc)) : 0;
    return (KvHeadRows){
        .pos =
            bounded(kc) ? kc->slot_pos + head_index(kc, layer, kv_head) * (size_t)kc->slots : NULL,
        .stride = (size_t)kc->head_size,
        .n = n,
        .bytes = head_bytes(kc, n, nq),
    };
}

// Sinks: StreamingLLM rotates a key by its index in the cache: the sinks 0 .. S-1, then the recent
// positions in order (the oldest resident one at index S). Row i of keys (HS floats apart) into
// row i of kc->rot, for the query at pos.
static void rotate_sinks(const KvCache *kc, const KvHeadRows *r, const float *keys, int pos) {
    const int S = kc->kind.sinks, hs = kc->head_size;
    const int oldest = pos + 1 <= kc->slots ? S : pos - kc->kind.window + 1;
    for (int i = 0; i < r->n; i++) {
        const int p = r->pos[i], idx = p < S ? p : S + (p - oldest);
        rotate_key(kc->rot + (size_t)i * (size_t)hs, keys + (size_t)i * (size_t)hs,
                   kc->rope + (size_t)idx * (size_t)hs, hs);
    }
}

// One side of f32 rows HS floats apart, as kernel_attend_rows reads them.
static KvStoredRows stored_f32(const float *rows, int hs) {
    return (KvStoredRows){
        .precision = KV_PRECISION_F32, .data = rows, .stride = (size_t)hs * sizeof(float)};
}

KvHeadRows kvcache_head(const KvCache *kc, int layer, int kv_head, int pos) {
    KvHeadRows r = head_rows(kc, layer, kv_head, pos);
    const size_t hs = (size_t)kc->head_size;
    if (kc->paged) {
        kvpaged_head(kc, layer, kv_head, &r); // gathered through the block table, as floats
    } else if (kc->kind.precision != KV_PRECISION_F32) {
        // the rows dequantized since the last store are kept (a memo of what the storage holds,
        // not part of it): a prefill dequantizes each row once per layer, a decode step each row
        // once
        struct KvPacked *q = kc->packed;
        const int nq = is_kivi(kc->kind.precision) ? kivi_quantized(seen_len(kc)) : 0;
        if (q->d_layer != layer || q->d_nq != nq) {
            q->d_layer = layer;
            q->d_nq = nq;
            memset(q->d_n, 0, (size_t)kc->n_kv_heads * sizeof *q->d_n);
        }
        if (q->d_n[kv_head] < r.n) {
            dequantize_rows(kc, layer, kv_head, q->d_n[kv_head], r.n, nq);
            q->d_n[kv_head] = r.n;
        }
        const size_t off = (size_t)kv_head * (size_t)kc->slots * hs;
        r.keys = q->dk + off;
        r.values = q->dv + off;
    } else {
        const size_t row0 = kvcache_row(kc, layer, kv_head, 0);
        r.keys = kc->keys + row0;
        r.values = kc->values + row0;
    }
    if (kc->kind.retention == KV_RETAIN_SINKS) {
        rotate_sinks(kc, &r, r.keys, pos);
        r.keys = kc->rot;
    }
    r.k = stored_f32(r.keys, (int)hs);
    r.v = stored_f32(r.values, (int)hs);
    return r;
}

KvHeadRows kvcache_head_stored(const KvCache *kc, int layer, int kv_head, int pos) {
    const KvPrecision p = kc->kind.precision;
    if (kc->paged) { // read in their blocks through the row map (sinks: keys rotated as floats)
        KvHeadRows r = head_rows(kc, layer, kv_head, pos);
        if (kc->kind.retention == KV_RETAIN_SINKS || !kvpaged_head_stored(kc, layer, kv_head, &r))
            return kvcache_head(kc, layer, kv_head, pos);
        return r;
    }
    if (p == KV_PRECISION_F32 || is_kivi(p)) // f32 rows (KIVI: its groups read back as floats)
        return kvcache_head(kc, layer, kv_head, pos);
    KvHeadRows r = head_rows(kc, layer, kv_head, pos);
    struct KvPacked *q = kc->packed;
    const size_t r0 = kvcache_row(kc, layer, kv_head, 0) / (size_t)kc->head_size;
    const bool asym = p == KV_PRECISION_INT4;
    // a row at the edge of the float range reads back through kvquant.h's guards, which the
    // kernel does not apply: such a head is read as floats (bf16 has no guard on reading)
    if (p != KV_PRECISION_BF16) {
        const int bits = kv_precision_bits(p);
        if (!kvq_rows_plain(q->ks + r0, asym ? q->kz + r0 : NULL, r.n, bits) ||
            !kvq_rows_plain(q->vs + r0, asym ? q->vz + r0 : NULL, r.n, bits))
            return kvcache_head(kc, layer, kv_head, pos);
    }
    r.k = packed_rows(kc, layer, kv_head, false);
    r.v = packed_rows(kc, layer, kv_head, true);
    if (kc->kind.retention == KV_RETAIN_SINKS) {
        // keys are rotated when read: each row read back by its rule, then turned; the values are
        // read packed
        float *deq = q->dk + (size_t)kv_head * (size_t)kc->slots * (size_t)kc->head_size;
        read_rows(kc, r.k, r.n, deq);
        rotate_sinks(kc, &r, deq, pos);
        r.k = stored_f32(kc->rot, kc->head_size);
        r.keys = kc->rot;
        q->d_layer = -1; // dk now holds rows of this head only
    }
    return r;
}

void kvcache_observe(KvCache *kc, int layer, int kv_head, const float *att, int n) {
    if (kc->kind.retention != KV_RETAIN_H2O)
        return;
    float *sc = kc->score + head_index(kc, layer, kv_head) * (size_t)kc->slots;
    for (int i = 0; i < n; i++)
        sc[i] += att[i];
}

void kvcache_end(KvCache *kc) {
    assert(kc->pass_n > 0);
    kc->len = kc->valid = kc->pass0 + kc->pass_n;
    kc->pass0 = kc->pass_n = 0;
    if (kc->paged) // window, sinks: blocks of positions no longer kept go back to the pool
        kvpaged_end(kc);
}

void kvcache_abandon(KvCache *kc) {
    assert(kc->pass_n > 0);
    kc->len = kc->valid = kc->pass0; // rows from pass0 on hold a mix of this pass and older ones
    kc->pass0 = kc->pass_n = 0;
    forget_snaps_after(kc, kc->len);
    if (bounded(kc)) // slots the pass overwrote in some layers: put positions < pass0 back
        go_to(kc, kc->len);
}

// ----------------------------------------------------------------------------------------------
// What it holds

bool kvcache_resident(const KvCache *kc, int layer, int kv_head, int pos) {
    assert(layer >= 0 && layer < kc->n_layers && kv_head >= 0 && kv_head < kc->n_kv_heads);
    if (pos < 0 || pos >= kc->len)
        return false;
    const KvCacheKind k = kc->kind;
    switch (k.retention) {
    case KV_RETAIN_FULL:
        return true;
    case KV_RETAIN_WINDOW:
        return pos >= kc->len - k.window;
    case KV_RETAIN_SINKS:
        return pos < k.sinks || pos >= kc->len - k.window;
    case KV_RETAIN_H2O:
        return kc->pos_slot[head_index(kc, layer, kv_head) * (size_t)kc->capacity + (size_t)pos] >=
               0;
    }
    return false;
}

void kvcache_resident_row(const KvCache *kc, int layer, int kv_head, int n, uint8_t *out) {
    assert(layer >= 0 && layer < kc->n_layers && kv_head >= 0 && kv_head < kc->n_kv_heads);
    if (bounded(kc)) { // the policy's rule (or h2o's table), position by position
        for (int p = 0; p < n; p++)
            out[p] = kvcache_resident(kc, layer, kv_head, p);
        return;
    }
    const int held = n < kc->len ? n : kc->len; // full retention: positions 0 .. len-1
    memset(out, 1, (size_t)held);
    memset(out + held, 0, (size_t)(n - held));
}

int kvcache_slot(const KvCache *kc, int layer, int kv_head, int pos) {
    if (!kvcache_resident(kc, layer, kv_head, pos))
        return -1;
    if (kc->kind.retention == KV_RETAIN_H2O)
        return kc->pos_slot[head_index(kc, layer, kv_head) * (size_t)kc->capacity + (size_t)pos];
    return slot_for(kc, head_index(kc, layer, kv_head), pos);
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
                         .n_layers = kc->n_layers,
                         .seq_len = kc->capacity};
}

float kvcache_score(const KvCache *kc, int layer, int kv_head, int pos) {
    if (kc->kind.retention != KV_RETAIN_H2O)
        return 0.0f;
    const int slot = kvcache_slot(kc, layer, kv_head, pos);
    return slot < 0 ? 0.0f : kc->score[head_index(kc, layer, kv_head) * (size_t)kc->slots + slot];
}

int kvcache_resident_positions(const KvCache *kc) {
    return kc->len < kc->slots ? kc->len : kc->slots;
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
    return (size_t)kvcache_resident_positions(kc) * 2 * (size_t)kc->n_layers *
           (size_t)kc->n_kv_heads * (size_t)kc->head_size * sizeof(float);
}

size_t kvcache_bytes_resident(const KvCache *kc) {
    const KvPrecision p = kc->kind.precision;
    if (!is_kivi(p))
        return (size_t)kvcache_resident_positions(kc) * kvcache_bytes_per_position(kc);
    const int nq = kivi_quantized(kc->len); // KIVI: full retention only
    const ModelConfig c = cache_config(kc);
    const size_t f32_pos =
        2 * (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->head_size * sizeof(float);
    return config_kv_bytes_precision(&c, p, nq) + (size_t)(kc->len - nq) * f32_pos;
}

size_t kvcache_bytes_reserved(const KvCache *kc) {
    if (kc->paged)
        return kvpaged_bytes_reserved(kc);
    const size_t rows = (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->slots;
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
    n += 2 * (size_t)kc->n_kv_heads * (size_t)kc->slots * hs * sizeof(float); // dk, dv
    return n;
}
