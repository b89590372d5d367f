// test_kvcombo.c — a packed cache (bf16, int8, int4) under every retention policy, and attention
// reading packed rows where they are stored: a policy that never evicts equals the unbounded kind
// of the same precision bit for bit; the counters and the resident bytes equal their closed forms;
// marks and seeks stay exact although packed slots are overwritten; the kernel that dequantizes
// inside the attention loop gives the bits of attention over the read-back floats, for every head
// size and every row count; a rolling window runs past the model's context; the detail layout
// shows each resident position's ring slot.
#include "engine/kernels.h"
#include "engine/kvquant.h"
#include "util/testutil.h"
#include "view/view.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

TestSuite(kvcombo, .fini = tu_leak_check);

// dim, hidden, layers, heads, kv heads, vocab, seq_len, shared classifier
static const ModelConfig hs8 = {64, 160, 3, 8, 2, 257, 96, false};   // 4 query heads per kv head
static const ModelConfig hs32 = {128, 160, 2, 4, 2, 257, 96, false}; // the shipped head size
static const ModelConfig hs12 = {48, 96, 2, 4, 4, 257, 96, true};    // not a multiple of 8

static const KvPrecision row_kinds[] = {KV_PRECISION_BF16, KV_PRECISION_INT8, KV_PRECISION_INT4};
#define N_ROW_KINDS 3

static void load(Model *m, const ModelConfig *c, uint64_t seed) {
    KvError err = {0};
    cr_assert_eq(tu_model_random(m, c, seed, &err), KV_OK, "%s", err.msg);
}

static KvCacheKind kind_of(const char *spec, KvPrecision p) {
    KvCacheKind k = KV_CACHE_DENSE;
    KvError err = {0};
    cr_assert_eq(kv_parse_retention("--cache", spec, &k, &err), KV_OK, "%s: %s", spec, err.msg);
    k.precision = p;
    cr_assert_eq(kv_kind_combine_check("--kv", "--cache ", k, &err), KV_OK, "%s", err.msg);
    return k;
}

static void engine_of(Engine *e, const Model *m, KvCacheKind k) {
    KvError err = {0};
    cr_assert_eq(engine_init(e, m, &err), KV_OK, "%s", err.msg);
    engine_set_cache_kind(e, k);
    cr_assert(kv_kind_equal(e->cache.kind, k));
}

static void ids(int *tokens, int n, int v, uint64_t seed) {
    uint64_t rng = seed;
    tokens[0] = TOKEN_BOS;
    for (int i = 1; i < n; i++)
        tokens[i] = 3 + (int)(kv_rng_u32(&rng) % (uint32_t)(v - 3));
}

// Bytes one row of HS values takes in a row kind, its scales included (docs/cache-precision.md).
static uint64_t row_bytes(KvPrecision p, int hs) {
    switch (p) {
    case KV_PRECISION_BF16:
        return 2 * (uint64_t)hs;
    case KV_PRECISION_INT8:
        return (uint64_t)hs + 4;
    default:
        return (uint64_t)hs / 2 + 8;
    }
}

// Engines a and b run kinds ka and kb teacher-forced on the same tokens, a prompt of n_prompt and
// then one position per step to len_max; every step's logits and attention rows must be equal.
static void same_bits(const ModelConfig *c, KvCacheKind ka, bool packed_a, KvCacheKind kb,
                      bool packed_b, int n_prompt, int len_max, const char *what) {
    Model m;
    load(&m, c, 11);
    Engine a, b;
    engine_of(&a, &m, ka);
    engine_of(&b, &m, kb);
    engine_set_attend_packed(&a, packed_a);
    engine_set_attend_packed(&b, packed_b);
    const int L = c->n_layers, H = c->n_heads;
    int *tokens = malloc((size_t)len_max * sizeof *tokens);
    ids(tokens, len_max, c->vocab_size, 5);
    float *wa = calloc((size_t)L * H * len_max, sizeof(float));
    float *wb = calloc((size_t)L * H * len_max, sizeof(float));
    for (int len = n_prompt; len <= len_max; len++) {
        AttnSink sa = {wa, len - 1, 1, len}, sb = {wb, len - 1, 1, len};
        engine_step(&a, tokens, len, CACHE_MODE_ON, &sa, NULL);
        engine_step(&b, tokens, len, CACHE_MODE_ON, &sb, NULL);
        cr_assert_eq(a.fault_layer + b.fault_layer, 0, "%s", what);
        cr_assert(memcmp(a.logits, b.logits, (size_t)c->vocab_size * sizeof(float)) == 0,
                  "%s: logits differ at length %d", what, len);
        cr_assert(memcmp(wa, wb, (size_t)L * H * len * sizeof(float)) == 0,
                  "%s: attention differs at length %d", what, len);
    }
    free(wa), free(wb), free(tokens);
    engine_free(&a), engine_free(&b);
    model_free(&m);
}

// ----------------------------------------------------------------------------------------------
// Bit for bit

// (Not sinks: they store keys before rotation, so a packed sinks cache rounds other numbers than
// a packed full cache, which stores rotated keys; in f32 they agree, test_kvcache.c.)
Test(kvcombo, a_policy_that_never_evicts_is_the_unbounded_kind_bit_for_bit, .timeout = 120) {
    static const char *const specs[] = {"window:40", "h2o:20,20"};
    const ModelConfig *cs[] = {&hs8, &hs32};
    for (int ci = 0; ci < 2; ci++)
        for (int k = 0; k < N_ROW_KINDS; k++)
            for (int s = 0; s < 2; s++) {
                char what[96];
                snprintf(what, sizeof what, "%s with %s, head size %d",
                         kv_precision_name(row_kinds[k]), specs[s], config_head_size(cs[ci]));
                const KvCacheKind full = kind_of("full", row_kinds[k]);
                same_bits(cs[ci], full, true, kind_of(specs[s], row_kinds[k]), true, 7, 40, what);
            }
    // W = the whole context, a long prefill inside it
    same_bits(&hs8, kind_of("full", KV_PRECISION_INT4), true,
              kind_of("window:96", KV_PRECISION_INT4), true, 45, 60, "int4 with window:96");
}

// The kernel that reads packed rows where they are stored gives what attention over the rows
// read back into floats gives, under every policy (sinks: keys read back, then rotated).
Test(kvcombo, packed_attention_is_the_read_back_attention_bit_for_bit, .timeout = 120) {
    static const char *const specs[] = {"full", "window:8", "sinks:2,6", "h2o:4,4"};
    const ModelConfig *cs[] = {&hs8, &hs32, &hs12};
    for (int ci = 0; ci < 3; ci++)
        for (int k = 0; k < N_ROW_KINDS; k++)
            for (int s = 0; s < 4; s++) {
                char what[96];
                snprintf(what, sizeof what, "%s with %s, head size %d",
                         kv_precision_name(row_kinds[k]), specs[s], config_head_size(cs[ci]));
                const KvCacheKind kind = kind_of(specs[s], row_kinds[k]);
                same_bits(cs[ci], kind, true, kind, false, 5, 30, what);
            }
}

// Rows of random values packed by a rule, and the same rows read back: kernel_attend_rows on the
// packed rows equals kernel_attend on the floats, for head sizes with and without a vector tail
// and row counts around the kernel's blocks of eight.
Test(kvcombo, kernel_reads_packed_rows_as_their_floats) {
    static const int sizes[] = {8, 12, 16, 32, 40, 64};
    static const int counts[] = {1, 7, 8, 9, 17, 33};
    uint64_t rng = 3;
    for (int si = 0; si < 6; si++)
        for (int ni = 0; ni < 6; ni++)
            for (int k = 0; k < N_ROW_KINDS; k++)
                for (int f32_keys = 0; f32_keys < 2; f32_keys++) {
                    const int hs = sizes[si], n = counts[ni];
                    const KvPrecision p = row_kinds[k];
                    float x[2][33 * 64], back[2][33 * 64], q[64], scale[2][33], lo[2][33];
                    uint8_t packed[2][33 * 128];
                    for (int i = 0; i < hs; i++)
                        q[i] = (float)(kv_rng_u32(&rng) % 2001) / 500.0f - 2.0f;
                    const size_t rb = p == KV_PRECISION_BF16   ? 2 * (size_t)hs
                                      : p == KV_PRECISION_INT8 ? (size_t)hs
                                                               : (size_t)hs / 2;
                    for (int side = 0; side < 2; side++)
                        for (int r = 0; r < n; r++) {
                            float *row = x[side] + r * hs, *b = back[side] + r * hs;
                            uint8_t *pr = packed[side] + (size_t)r * rb;
                            for (int i = 0; i < hs; i++)
                                row[i] = (float)(kv_rng_u32(&rng) % 6001) / 1000.0f - 3.0f;
                            if (r == 2) // a constant row: scale 0
                                for (int i = 0; i < hs; i++)
                                    row[i] = 0.75f;
                            if (p == KV_PRECISION_BF16) {
                                kvq_row_bf16((uint16_t *)(void *)pr, row, hs);
                                kvq_unrow_bf16(b, (const uint16_t *)(const void *)pr, hs);
                            } else if (p == KV_PRECISION_INT8) {
                                scale[side][r] = kvq_row_int8((int8_t *)pr, row, hs);
                                kvq_unrow_int8(b, (const int8_t *)pr, scale[side][r], hs);
                            } else {
                                kvq_asym(pr, &scale[side][r], &lo[side][r], row, 1, hs, 4);
                                kvq_unasym(b, 1, pr, scale[side][r], lo[side][r], hs, 4);
                            }
                        }
                    const KernelFormat fmt = p == KV_PRECISION_BF16   ? KERNEL_BF16
                                             : p == KV_PRECISION_INT8 ? KERNEL_INT8
                                                                      : KERNEL_INT4;
                    KernelRows kr = {packed[0], rb, scale[0], lo[0], fmt, NULL};
                    const KernelRows vr = {packed[1], rb, scale[1], lo[1], fmt, NULL};
                    if (f32_keys) // keys as floats (read back and rotated: sinks), values packed
                        kr = (KernelRows){
                            back[0], (size_t)hs * sizeof(float), NULL, NULL, KERNEL_F32, NULL};
                    float out_p[64], att_p[33], out_f[64], att_f[33];
                    const float sc = 1.0f / sqrtf((float)hs);
                    kernel_attend_rows(out_p, att_p, q, &kr, &vr, hs, n, sc);
                    kernel_attend(out_f, att_f, q, back[0], back[1], (size_t)hs, hs, n, sc);
                    cr_assert(memcmp(att_p, att_f, (size_t)n * sizeof(float)) == 0,
                              "%s hs %d n %d: weights", kv_precision_name(p), hs, n);
                    cr_assert(memcmp(out_p, out_f, (size_t)hs * sizeof(float)) == 0,
                              "%s hs %d n %d f32 keys %d: output", kv_precision_name(p), hs, n,
                              f32_keys);
                }
}

// A row at the edge of the float range reads back through kvquant.h's guards, which the packed
// kernel does not apply: the cache gives such a head as floats; an ordinary head stays packed.
Test(kvcombo, a_row_at_the_edge_of_the_float_range_is_read_as_floats) {
    const ModelConfig c = hs8; // 2 kv heads of 8
    const KvPrecision kinds[] = {KV_PRECISION_INT8, KV_PRECISION_INT4};
    for (int k = 0; k < 2; k++) {
        KvCache kc;
        kvcache_init(&kc, &c, kind_of("window:4", kinds[k]), false);
        float key[16], value[16];
        kvcache_begin(&kc, 0, 2);
        for (int pos = 0; pos < 2; pos++) {
            for (int i = 0; i < 16; i++)
                key[i] = value[i] = (float)(i - 5) * 0.25f;
            if (pos == 1)
                key[3] = -FLT_MAX; // kv head 0 only
            kvcache_store(&kc, 0, pos, key, value);
        }
        const KvHeadRows edge = kvcache_head_stored(&kc, 0, 0, 1);
        const KvHeadRows plain = kvcache_head_stored(&kc, 0, 1, 1);
        cr_assert_eq(edge.k.precision, KV_PRECISION_F32, "%s", kv_precision_name(kinds[k]));
        cr_assert_eq(plain.k.precision, kinds[k]);
        cr_assert_null(plain.keys);
        const KvHeadRows floats = kvcache_head(&kc, 0, 0, 1);
        cr_assert(memcmp(edge.keys, floats.keys, 2 * 8 * sizeof(float)) == 0);
        for (int i = 0; i < 2 * 8; i++)
            cr_assert(isfinite(edge.keys[i]), "row %d value %d", i / 8, i % 8);
        kvcache_end(&kc);
        kvcache_free(&kc);
    }
}

// ----------------------------------------------------------------------------------------------
// Which positions, how many bytes, how many FLOPs

static uint64_t min_u(uint64_t a, uint64_t b) {
    return a < b ? a : b;
}

Test(kvcombo, counters_and_bytes_equal_the_closed_forms, .timeout = 120) {
    static const char *const specs[] = {"window:8", "sinks:2,6", "h2o:4,4"};
    const ModelConfig *c = &hs8;
    Model m;
    load(&m, c, 7);
    const uint64_t L = (uint64_t)c->n_layers, HKV = (uint64_t)c->n_kv_heads;
    const int HS = config_head_size(c);
    for (int k = 0; k < N_ROW_KINDS; k++)
        for (int s = 0; s < 3; s++) {
            const KvPrecision p = row_kinds[k];
            const KvCacheKind kind = kind_of(specs[s], p);
            const uint64_t B = (uint64_t)kv_kind_budget(kind), row = row_bytes(p, HS);
            const uint64_t per = 2 * L * HKV * row; // bytes per resident position
            cr_assert_eq(config_kv_bytes_precision(c, p, 1), per);
            Engine e;
            engine_of(&e, &m, kind);
            int tokens[40];
            ids(tokens, 40, c->vocab_size, 14);
            for (int len = 13; len <= 40; len++) { // a prefill past every budget, then decode
                Counters got;
                memset(&got, 0, sizeof got);
                const int first = engine_step(&e, tokens, len, CACHE_MODE_ON, NULL, &got);
                uint64_t want[FLOP_COMPONENTS], span = 0;
                flops_formula_kind(c, kind, first, len - first, 1, want);
                for (int f = 0; f < FLOP_COMPONENTS; f++)
                    cr_assert_eq(got.flops[f], want[f], "%s %s: %s at %d", specs[s],
                                 kv_precision_name(p), flop_component_names[f], len);
                for (int q = first; q < len; q++)
                    span += min_u((uint64_t)q + 1, B);
                cr_assert_eq(got.kv_bytes_read, L * HKV * 2 * row * span, "%s %s: read at %d",
                             specs[s], kv_precision_name(p), len);
                cr_assert_eq(got.kv_bytes_written, per * (uint64_t)(len - first));
                cr_assert_eq(kvcache_bytes_resident(&e.cache), per * min_u((uint64_t)len, B),
                             "%s %s: resident at %d", specs[s], kv_precision_name(p), len);
                cr_assert_eq(kvcache_bytes_resident_f32(&e.cache),
                             2 * L * HKV * 4 * (uint64_t)HS * min_u((uint64_t)len, B));
                for (int l = 0; l < c->n_layers; l++) // the policy's positions, each held packed
                    for (int g = 0; g < c->n_kv_heads; g++) {
                        int held = 0;
                        for (int pos = 0; pos < len; pos++) {
                            const bool r = kvcache_resident(&e.cache, l, g, pos);
                            held += r;
                            if (kind.retention == KV_RETAIN_WINDOW)
                                cr_assert_eq(r, pos >= len - 8, "window pos %d of %d", pos, len);
                            if (kind.retention == KV_RETAIN_SINKS)
                                cr_assert_eq(r, pos < 2 || pos >= len - 6, "sinks %d", pos);
                            if (r)
                                cr_assert_eq(kvcache_precision(&e.cache, l, g, pos), p);
                        }
                        cr_assert_eq((uint64_t)held, min_u((uint64_t)len, B));
                    }
            }
            engine_free(&e);
        }
    model_free(&m);
}

// ----------------------------------------------------------------------------------------------
// Back and forward

static void seek_exact(const char *spec, KvPrecision p) {
    enum { PROMPT = 6, STEPS = 30, BACK_TO = 9 };
    const ModelConfig *c = &hs8;
    Model m;
    load(&m, c, 8);
    const size_t vbytes = (size_t)c->vocab_size * sizeof(float);
    Engine ref, e;
    engine_of(&ref, &m, kind_of(spec, p));
    engine_of(&e, &m, kind_of(spec, p));
    int tokens[PROMPT + STEPS];
    ids(tokens, PROMPT + STEPS, c->vocab_size, 15);
    float(*want)[257] = malloc(sizeof(float[STEPS][257]));
    KvCacheMark marks[STEPS];
    for (int i = 0; i < STEPS; i++) {
        engine_step(&ref, tokens, PROMPT + i, CACHE_MODE_ON, NULL, NULL);
        memcpy(want[i], ref.logits, vbytes);
        engine_step(&e, tokens, PROMPT + i, CACHE_MODE_ON, NULL, NULL);
        marks[i] = kvcache_mark(&e.cache);
    }
    kvcache_seek(&e.cache, marks[BACK_TO]);
    for (int i = BACK_TO + 1; i < STEPS; i++) {
        const int first = engine_step(&e, tokens, PROMPT + i, CACHE_MODE_ON, NULL, NULL);
        cr_assert_eq(first, PROMPT + i - 1, "%s: step %d recomputed more than one", spec, i);
        cr_assert(memcmp(e.logits, want[i], vbytes) == 0, "%s %s: step %d after a seek back", spec,
                  kv_precision_name(p), i);
    }
    kvcache_seek(&e.cache, marks[3]);
    kvcache_seek(&e.cache, marks[STEPS - 3]); // forward without computing, as redo does
    for (int i = STEPS - 2; i < STEPS; i++) {
        engine_step(&e, tokens, PROMPT + i, CACHE_MODE_ON, NULL, NULL);
        cr_assert(memcmp(e.logits, want[i], vbytes) == 0, "%s %s: step %d after a seek forward",
                  spec, kv_precision_name(p), i);
    }
    free(want);
    engine_free(&ref), engine_free(&e);
    model_free(&m);
}

Test(kvcombo, mark_and_seek_exact_with_packed_slots, .timeout = 120) {
    for (int k = 0; k < N_ROW_KINDS; k++) {
        seek_exact("window:7", row_kinds[k]);
        seek_exact("sinks:2,5", row_kinds[k]);
        seek_exact("h2o:4,3", row_kinds[k]);
    }
}

// ----------------------------------------------------------------------------------------------
// Past the context

// A rolling window goes past the model's context (its RoPE table grows), f32 or packed: the
// window's positions stay resident, the bytes flat, the logits finite; within the context it is
// the run it always was.
Test(kvcombo, window_runs_past_the_context, .timeout = 120) {
    const ModelConfig *c = &hs8; // seq_len 96
    Model m;
    load(&m, c, 10);
    enum { LEN = 250, W = 6 };
    int tokens[LEN];
    ids(tokens, LEN, c->vocab_size, 17);
    const KvPrecision kinds[] = {KV_PRECISION_F32, KV_PRECISION_INT4};
    for (int k = 0; k < 2; k++) {
        Engine e, in;
        engine_of(&e, &m, kind_of("window:6", kinds[k]));
        engine_of(&in, &m, kind_of("window:6", kinds[k]));
        for (int len = 5; len <= LEN; len++) {
            engine_step(&e, tokens, len, CACHE_MODE_ON, NULL, NULL);
            cr_assert_eq(e.fault_layer, 0);
            if (len <= c->seq_len) { // an engine that never went past gives the same bits
                engine_step(&in, tokens, len, CACHE_MODE_ON, NULL, NULL);
                cr_assert(memcmp(in.logits, e.logits, (size_t)c->vocab_size * 4) == 0);
            }
        }
        cr_assert_geq(e.rope_len, LEN);
        for (int i = 0; i < c->vocab_size; i++)
            cr_assert(isfinite(e.logits[i]));
        for (int pos = 0; pos < LEN; pos++)
            cr_assert_eq(kvcache_resident(&e.cache, 2, 1, pos), pos >= LEN - W, "pos %d", pos);
        cr_assert_eq(kvcache_bytes_resident(&e.cache),
                     W * config_kv_bytes_precision(c, kinds[k], 1));
        engine_free(&e), engine_free(&in);
    }
    model_free(&m);
}

// ----------------------------------------------------------------------------------------------
// The picture: the ring slot of each resident position in the detail layout

typedef struct {
    const SceneLayout *L;
    int in_blocks[64]; // texts "0" .. "63" drawn on the blocks' rows
} SlotTexts;

static void on_slot_text(void *ctx, const SceneText *t) {
    SlotTexts *st = ctx;
    char *end;
    const long v = strtol(t->utf8, &end, 10);
    if (*end || end == t->utf8 || v < 0 || v >= 64 || t->role == SCENE_TEXT_TOKEN)
        return; // (a token's own text may be a number, and tokens may lie inside the blocks' box)
    const SceneRect b = st->L->blocks;
    if (t->box.x >= b.x && t->box.x + t->box.w <= b.x + b.w && t->box.y >= b.y - 1 &&
        t->box.y + t->box.h <= b.y + b.h + 1)
        st->in_blocks[v]++;
}

Test(kvcombo, detail_layout_shows_each_ring_slot, .timeout = 60) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    const ModelConfig c = tu_config(48, 96, 6, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&m, &t, &s, &c, 7, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&s, "once upon a time", &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_cache(&s, kind_of("window:6", KV_PRECISION_F32), &err), KV_OK);
    for (int i = 0; i < 12; i++)
        cr_assert(session_step(&s));
    for (int layout = 0; layout < 2; layout++) {
        View v;
        view_init(&v);
        v.layout = layout ? VIEW_LAYOUT_DETAIL : VIEW_LAYOUT_PROJECTOR;
        SceneLayout L;
        scene_layout(&s, &v, 1920, 1080, &L);
        SlotTexts st = {.L = &L};
        SceneTextSink sink = {on_slot_text, &st};
        v.text_sink = &sink;
        cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1920, 1080);
        cairo_t *cr = cairo_create(img);
        scene_draw(cr, &s, &v, 1920, 1080, 1.0);
        cr_assert_eq(cairo_status(cr), CAIRO_STATUS_SUCCESS);
        cairo_destroy(cr);
        cairo_surface_destroy(img);
        int shown = 0;
        for (int k = 0; k < 64; k++)
            shown += st.in_blocks[k] > 0;
        if (!layout) {
            cr_assert_eq(shown, 0, "the projector layout shows no slots");
            continue;
        }
        // the six resident positions' slots, each once: p mod 6 for the last six of them
        for (int k = 0; k < 6; k++)
            cr_assert_leq(st.in_blocks[k], 1, "slot %d drawn %d times", k, st.in_blocks[k]);
        cr_assert_geq(shown, 4, "most of the six slots fit their cells (%d shown)", shown);
        cr_assert_eq(st.in_blocks[6] + st.in_blocks[7], 0, "no slot past W - 1");
    }
    tu_session_close(&m, &t, &s);
}
