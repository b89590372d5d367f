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
// Going back and forward: full retention is append-only, so a length is enough. A bounded kind
// overwrites slots, so it keeps beside its storage every row it was given (hist) and, for h2o,
// the slot table and scores at each mark (snap): a seek rebuilds the slots from them. That undo
// history is the session's, for exact stepping; attention never reads it and the byte counts do
// not include it.
//
// What this file does not do: compute keys and values (forward.c), or decide how a cell looks
// (src/sim records its state, src/view draws it).
#include "engine/engine.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// Kinds, sizes, names

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
           a.heavy == b.heavy && a.recent == b.recent;
}

bool kv_kind_unbounded_positions(KvCacheKind k) {
    return k.retention == KV_RETAIN_SINKS;
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

// ----------------------------------------------------------------------------------------------
// Life

static bool bounded(const KvCache *kc) {
    return kc->kind.retention != KV_RETAIN_FULL;
}

// Index of (layer, kv_head) among the L x HKV heads.
static size_t head_index(const KvCache *kc, int layer, int kv_head) {
    return (size_t)layer * (size_t)kc->n_kv_heads + (size_t)kv_head;
}

void kvcache_init(KvCache *kc, const ModelConfig *c, KvCacheKind kind, bool scratch) {
    memset(kc, 0, sizeof *kc);
    assert(kind.precision == KV_PRECISION_F32 && kind.layout == KV_LAYOUT_CONTIGUOUS);
    assert(!scratch || kind.retention == KV_RETAIN_FULL);
    kc->kind = kind;
    kc->scratch = scratch;
    kc->n_layers = c->n_layers;
    kc->n_kv_heads = c->n_kv_heads;
    kc->head_size = config_head_size(c);
    kc->capacity = c->seq_len;
    const int budget = kv_kind_budget(kind);
    assert(budget >= 0 && budget <= kc->capacity);
    kc->slots = budget ? budget : kc->capacity;
    const size_t heads = (size_t)kc->n_layers * (size_t)kc->n_kv_heads;
    const size_t rows = heads * (size_t)kc->slots;
    kc->keys = kv_calloc(rows * (size_t)kc->head_size, sizeof *kc->keys);
    kc->values = kv_calloc(rows * (size_t)kc->head_size, sizeof *kc->values);
    if (!budget)
        return;
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
    free(kc->keys);
    free(kc->values);
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

// ----------------------------------------------------------------------------------------------
// Where each position goes

size_t kvcache_row(const KvCache *kc, int layer, int kv_head, int slot) {
    return (head_index(kc, layer, kv_head) * (size_t)kc->slots + (size_t)slot) *
           (size_t)kc->head_size;
}

// The slot a new position p goes to (h2o: chosen by kvcache_begin when the cache is full).
static int slot_for(const KvCache *kc, size_t head, int p) {
    const KvCacheKind k = kc->kind;
    switch (k.retention) {
    case KV_RETAIN_FULL:
        return p;
    case KV_RETAIN_WINDOW:
        return p % k.window;
    case KV_RETAIN_SINKS:
        return p < k.sinks ? p : k.sinks + (p - k.sinks) % k.window;
    case KV_RETAIN_H2O:
        return p < kc->slots ? p : kc->evict_slot[head];
    }
    return -1;
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

// Puts position p's rows back into `slot` of every head from hist (a seek).
static void restore_row(KvCache *kc, size_t head, int slot, int p) {
    const int l = (int)(head / (size_t)kc->n_kv_heads), g = (int)(head % (size_t)kc->n_kv_heads);
    const size_t row = kvcache_row(kc, l, g, slot), hs = (size_t)kc->head_size;
    memcpy(kc->keys + row, hist_row(kc, p, l, g, false), hs * sizeof *kc->keys);
    memcpy(kc->values + row, hist_row(kc, p, l, g, true), hs * sizeof *kc->values);
    kc->slot_pos[head * (size_t)kc->slots + (size_t)slot] = p;
}

// Rebuilds a bounded cache's slots as they were after positions 0 .. n-1. Window and sinks: the
// rule alone says which positions are where. h2o: the snapshot at n says it (false if none).
static bool rebuild(KvCache *kc, int n) {
    const size_t heads = (size_t)kc->n_layers * (size_t)kc->n_kv_heads;
    const size_t rows = heads * (size_t)kc->slots;
    assert(n <= kc->valid);
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

uint64_t kvcache_store(KvCache *kc, int layer, int pos, const float *k, const float *v) {
    assert(pos >= kc->pass0 && pos < kc->pass0 + kc->pass_n);
    const size_t hs = (size_t)kc->head_size;
    for (int g = 0; g < kc->n_kv_heads; g++) { // kv head g is the slice g*HS .. (g+1)*HS-1
        const size_t head = head_index(kc, layer, g);
        const int slot = slot_for(kc, head, pos);
        const size_t row = kvcache_row(kc, layer, g, slot);
        memcpy(kc->keys + row, k + (size_t)g * hs, hs * sizeof *kc->keys);
        memcpy(kc->values + row, v + (size_t)g * hs, hs * sizeof *kc->values);
        if (!bounded(kc))
            continue;
        memcpy(hist_row(kc, pos, layer, g, false), k + (size_t)g * hs, hs * sizeof *kc->keys);
        memcpy(hist_row(kc, pos, layer, g, true), v + (size_t)g * hs, hs * sizeof *kc->values);
        kc->slot_pos[head * (size_t)kc->slots + (size_t)slot] = pos;
        if (kc->kind.retention == KV_RETAIN_H2O) {
            kc->score[head * (size_t)kc->slots + (size_t)slot] = 0.0f;
            kc->pos_slot[head * (size_t)kc->capacity + (size_t)pos] = slot;
        }
    }
    return 2ull * (uint64_t)kc->n_kv_heads * hs * sizeof *kc->keys;
}

// Rotates pairs (i, i+1) of one key by the cos/sin of one position (as kernel_rope does).
static void rotate_key(float *out, const float *k, const float *cs, int hs) {
    for (int i = 0; i < hs; i += 2) {
        const float fcr = cs[i], fci = cs[i + 1], k0 = k[i], k1 = k[i + 1];
        out[i] = k0 * fcr - k1 * fci;
        out[i + 1] = k0 * fci + k1 * fcr;
    }
}

KvHeadRows kvcache_head(const KvCache *kc, int layer, int kv_head, int pos) {
    // a query reads positions the cache held before the pass, or that this pass has stored
    assert(pos >= 0 && pos < (kc->pass_n ? kc->pass0 + kc->pass_n : kc->len));
    const size_t row0 = kvcache_row(kc, layer, kv_head, 0), hs = (size_t)kc->head_size;
    // slots 0 .. n-1: while nothing was evicted they hold positions 0 .. pos in order
    const int n = pos + 1 < kc->slots ? pos + 1 : kc->slots;
    KvHeadRows r = {
        .keys = kc->keys + row0,
        .values = kc->values + row0,
        .pos =
            bounded(kc) ? kc->slot_pos + head_index(kc, layer, kv_head) * (size_t)kc->slots : NULL,
        .stride = hs,
        .n = n,
        .bytes = 2ull * (uint64_t)n * (uint64_t)hs * sizeof *kc->keys,
    };
    if (kc->kind.retention == KV_RETAIN_SINKS) {
        // StreamingLLM: a key is rotated by its index in the cache: the sinks 0 .. S-1, then the
        // recent positions in order (the oldest resident one at index S)
        const int S = kc->kind.sinks;
        const int oldest = pos + 1 <= kc->slots ? S : pos - kc->kind.window + 1;
        for (int i = 0; i < n; i++) {
            const int p = r.pos[i], idx = p < S ? p : S + (p - oldest);
            rotate_key(kc->rot + (size_t)i * hs, r.keys + (size_t)i * hs,
                       kc->rope + (size_t)idx * hs, (int)hs);
        }
        r.keys = kc->rot;
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
    (void)layer, (void)kv_head, (void)pos;
    return kc->kind.precision;
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
    return 2 * (size_t)kc->n_layers * (size_t)kc->n_kv_heads * (size_t)kc->head_size *
           sizeof *kc->keys;
}

size_t kvcache_bytes_resident(const KvCache *kc) {
    return (size_t)kvcache_resident_positions(kc) * kvcache_bytes_per_position(kc);
}

size_t kvcache_bytes_reserved(const KvCache *kc) {
    return (size_t)kc->slots * kvcache_bytes_per_position(kc);
}
