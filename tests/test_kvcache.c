// test_kvcache.c — the KV cache's retention kinds (window, sinks, h2o) run in the engine on small
// random models: each keeps exactly the positions its rule says (hand-computable cases, h2o's
// choice among them), the counters equal the closed forms to the FLOP and the byte, a bounded
// cache that never has to evict equals the full one bit for bit, marks and seeks stay exact
// although slots are overwritten, sinks run past the model's context; and the --cache words.
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(kvcache, .fini = tu_leak_check);

// dim, hidden, layers, heads, kv heads, vocab, seq_len, shared classifier
static const ModelConfig gqa = {64, 160, 3, 8, 2, 257, 96, false}; // 4 query heads per kv head
static const ModelConfig mha = {32, 64, 2, 4, 4, 64, 96, true};

static void load(Model *m, const ModelConfig *c, uint64_t seed) {
    KvError err = {0};
    cr_assert_eq(tu_model_random(m, c, seed, &err), KV_OK, "%s", err.msg);
}

static KvCacheKind kind_of(const char *spec) {
    KvCacheKind k = KV_CACHE_DENSE;
    KvError err = {0};
    cr_assert_eq(kv_parse_retention("--cache", spec, &k, &err), KV_OK, "%s: %s", spec, err.msg);
    return k;
}

static void ids(int *tokens, int n, int v, uint64_t seed) {
    uint64_t rng = seed;
    tokens[0] = TOKEN_BOS;
    for (int i = 1; i < n; i++)
        tokens[i] = 3 + (int)(kv_rng_u32(&rng) % (uint32_t)(v - 3));
}

// ----------------------------------------------------------------------------------------------
// Bit for bit: a bounded cache that never evicts is the full cache

// Runs `steps` cached steps after a prompt of n_prompt under kind a and kind b (teacher-forced on
// the same tokens) and requires identical logits and attention rows on every step.
static void same_as_full(const ModelConfig *c, const char *spec, int n_prompt, int steps) {
    Model m;
    load(&m, c, 11);
    KvError err = {0};
    Engine full, pol;
    cr_assert_eq(engine_init(&full, &m, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(engine_init(&pol, &m, &err), KV_OK, "%s", err.msg);
    cr_assert(engine_set_cache_kind(&pol, kind_of(spec)));
    const int L = c->n_layers, H = c->n_heads, len_max = n_prompt + steps;
    int *tokens = malloc((size_t)len_max * sizeof *tokens);
    ids(tokens, len_max, c->vocab_size, 5);
    float *wa = calloc((size_t)L * H * len_max, sizeof(float));
    float *wb = calloc((size_t)L * H * len_max, sizeof(float));
    for (int len = n_prompt; len <= len_max; len++) {
        AttnSink sa = {wa, len - 1, 1, len}, sb = {wb, len - 1, 1, len};
        engine_step(&full, tokens, len, CACHE_MODE_ON, &sa, NULL);
        engine_step(&pol, tokens, len, CACHE_MODE_ON, &sb, NULL);
        cr_assert(memcmp(full.logits, pol.logits, (size_t)c->vocab_size * sizeof(float)) == 0,
                  "%s: logits differ from full at length %d", spec, len);
        cr_assert(memcmp(wa, wb, (size_t)L * H * len * sizeof(float)) == 0,
                  "%s: attention differs from full at length %d", spec, len);
    }
    free(wa);
    free(wb);
    free(tokens);
    engine_free(&full);
    engine_free(&pol);
    model_free(&m);
}

Test(kvcache, window_at_least_the_sequence_is_full_bit_for_bit, .timeout = 60) {
    same_as_full(&gqa, "window:96", 7, 89); // W = the whole context
    same_as_full(&gqa, "window:40", 7, 33); // W = the sequence's length exactly
    same_as_full(&mha, "window:50", 45, 5); // a long prefill, inside W
}

Test(kvcache, sinks_and_h2o_that_never_evict_are_full_bit_for_bit, .timeout = 60) {
    // sinks rotate keys by their cache index when reading; before any eviction that index is
    // the position, and the rotation is the same arithmetic on the same table
    same_as_full(&gqa, "sinks:4,36", 5, 35);
    same_as_full(&gqa, "h2o:20,20", 5, 35);
}

// ----------------------------------------------------------------------------------------------
// Which positions stay

static void expect_resident(const KvCache *kc, int l, int g, const bool *want, int n,
                            const char *what) {
    for (int p = 0; p < n; p++)
        cr_assert_eq(kvcache_resident(kc, l, g, p), want[p], "%s: layer %d head %d position %d",
                     what, l, g, p);
}

// The rows a query reads are the resident positions, each once, and their positions.
static void expect_rows(const KvCache *kc, int l, int g, int pos, const bool *want) {
    KvHeadRows r = kvcache_head(kc, l, g, pos);
    int count = 0;
    for (int p = 0; p <= pos; p++)
        count += want[p];
    cr_assert_eq(r.n, count, "rows read at %d: %d, resident %d", pos, r.n, count);
    cr_assert_not_null(r.pos);
    bool seen[256] = {false};
    for (int i = 0; i < r.n; i++) {
        cr_assert(r.pos[i] >= 0 && r.pos[i] <= pos && want[r.pos[i]] && !seen[r.pos[i]],
                  "row %d holds position %d", i, r.pos[i]);
        seen[r.pos[i]] = true;
        cr_assert_eq(kvcache_slot(kc, l, g, r.pos[i]), i);
    }
}

Test(kvcache, window_keeps_the_last_w_in_slot_p_mod_w, .timeout = 60) {
    Model m;
    load(&m, &mha, 3);
    KvError err = {0};
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    engine_set_cache_kind(&e, kind_of("window:3"));
    int tokens[12];
    ids(tokens, 12, mha.vocab_size, 9);
    engine_step(&e, tokens, 5, CACHE_MODE_ON, NULL, NULL); // a prefill of 5 through a window of 3
    engine_step(&e, tokens, 6, CACHE_MODE_ON, NULL, NULL);
    engine_step(&e, tokens, 7, CACHE_MODE_ON, NULL, NULL);
    cr_assert_eq(kvcache_len(&e.cache), 7);
    const bool want[7] = {false, false, false, false, true, true, true}; // 4, 5, 6
    for (int l = 0; l < mha.n_layers; l++)
        for (int g = 0; g < mha.n_kv_heads; g++) {
            expect_resident(&e.cache, l, g, want, 7, "window:3");
            cr_assert_eq(kvcache_slot(&e.cache, l, g, 4), 1); // 4 mod 3
            cr_assert_eq(kvcache_slot(&e.cache, l, g, 5), 2);
            cr_assert_eq(kvcache_slot(&e.cache, l, g, 6), 0);
            expect_rows(&e.cache, l, g, 6, want);
        }
    cr_assert_eq(kvcache_bytes_resident(&e.cache), 3 * config_kv_bytes_per_token(&mha));
    cr_assert_eq(kvcache_bytes_reserved(&e.cache), 3 * config_kv_bytes_per_token(&mha));
    engine_free(&e);
    model_free(&m);
}

Test(kvcache, sinks_keep_the_first_s_and_the_last_w, .timeout = 60) {
    Model m;
    load(&m, &gqa, 4);
    KvError err = {0};
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    engine_set_cache_kind(&e, kind_of("sinks:2,3"));
    int tokens[12];
    ids(tokens, 12, gqa.vocab_size, 10);
    for (int len = 4; len <= 9; len++)
        engine_step(&e, tokens, len, CACHE_MODE_ON, NULL, NULL);
    const bool want[9] = {true, true, false, false, false, false, true, true, true};
    for (int l = 0; l < gqa.n_layers; l++)
        for (int g = 0; g < gqa.n_kv_heads; g++) {
            expect_resident(&e.cache, l, g, want, 9, "sinks:2,3");
            cr_assert_eq(kvcache_slot(&e.cache, l, g, 0), 0);
            cr_assert_eq(kvcache_slot(&e.cache, l, g, 1), 1);
            cr_assert_eq(kvcache_slot(&e.cache, l, g, 8), 2 + (8 - 2) % 3);
            expect_rows(&e.cache, l, g, 8, want);
        }
    // the query at 8 is rotated by its index in the cache (the last of the 5), not by 8
    cr_assert_eq(kvcache_query_rotation(&e.cache, 8), 4);
    cr_assert_eq(kvcache_query_rotation(&e.cache, 3), 3);
    cr_assert(!kvcache_rotates_on_store(&e.cache));
    engine_free(&e);
    model_free(&m);
}

// With queries that are zero, every score is 0 and attention is uniform over what a head reads:
// after positions 0..2 (budget 3) position 0 has received 1 + 1/2 + 1/3, position 1 1/2 + 1/3,
// position 2 1/3. h2o:1,2 at position 3 protects 2 and 3 (the recent) and evicts the lowest of
// {0, 1}: 1. Then 0 has 1+1/2+1/3+1/3, 2 has 1/3+1/3: at 4 it evicts 2; and so on: 0 stays for
// good beside the two most recent, in every head.
Test(kvcache, h2o_evicts_the_lowest_score_outside_the_recent, .timeout = 60) {
    Model m;
    load(&m, &mha, 5);
    memset(m.w.wq, 0, (size_t)mha.n_layers * mha.dim * mha.dim * sizeof(float));
    KvError err = {0};
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    engine_set_cache_kind(&e, kind_of("h2o:1,2"));
    int tokens[12];
    ids(tokens, 12, mha.vocab_size, 12);
    engine_step(&e, tokens, 3, CACHE_MODE_ON, NULL, NULL);
    for (int l = 0; l < mha.n_layers; l++)
        for (int g = 0; g < mha.n_kv_heads; g++) {
            cr_assert_float_eq(kvcache_score(&e.cache, l, g, 0), 1.0f + 1.0f / 2 + 1.0f / 3, 1e-6);
            cr_assert_float_eq(kvcache_score(&e.cache, l, g, 1), 1.0f / 2 + 1.0f / 3, 1e-6);
            cr_assert_float_eq(kvcache_score(&e.cache, l, g, 2), 1.0f / 3, 1e-6);
        }
    for (int len = 4; len <= 10; len++) {
        engine_step(&e, tokens, len, CACHE_MODE_ON, NULL, NULL);
        bool want[10] = {false};
        want[0] = want[len - 2] = want[len - 1] = true;
        for (int l = 0; l < mha.n_layers; l++)
            for (int g = 0; g < mha.n_kv_heads; g++) {
                expect_resident(&e.cache, l, g, want, len, "h2o:1,2 uniform");
                expect_rows(&e.cache, l, g, len - 1, want);
            }
        // the new position goes to the slot of the one it evicted: 3 to 1's (slot 1), 4 to 2's
        // (slot 2), 5 to 3's (slot 1), ...: slots 1, 2, 1, 2, ...
        for (int g = 0; g < mha.n_kv_heads; g++)
            cr_assert_eq(kvcache_slot(&e.cache, 0, g, len - 1), 1 + (len - 4) % 2, "len %d", len);
    }
    cr_assert_eq(kvcache_slot(&e.cache, 0, 0, 0), 0);
    cr_assert_eq(kvcache_bytes_resident(&e.cache), 3 * config_kv_bytes_per_token(&mha));
    engine_free(&e);
    model_free(&m);
}

// On a real (random) model, replay h2o's rule from the attention the engine reported (every
// query head's row, summed per kv head) and require the same choice in every (layer, kv head);
// the heads then keep different positions.
Test(kvcache, h2o_choice_follows_the_attention_per_kv_head, .timeout = 60) {
    enum { HEAVY = 3, RECENT = 2, B = HEAVY + RECENT, LEN = 30 };
    const ModelConfig *c = &gqa;
    Model m;
    load(&m, c, 6);
    // sharper attention than the random weights give, so that heads prefer different positions
    for (size_t i = 0; i < (size_t)c->n_layers * c->dim * c->dim; i++)
        m.w.wq[i] *= 4.0f;
    KvError err = {0};
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    engine_set_cache_kind(&e, kind_of("h2o:3,2"));
    const int L = c->n_layers, H = c->n_heads, HKV = c->n_kv_heads, group = H / HKV;
    int tokens[LEN];
    ids(tokens, LEN, c->vocab_size, 13);
    // the rule, independently: per (l, g), a resident set and scores by position
    static bool res[3][2][LEN];
    static double score[3][2][LEN];
    memset(res, 0, sizeof res);
    memset(score, 0, sizeof score);
    float *w = calloc((size_t)L * H * LEN, sizeof(float));
    int differ = 0;
    for (int len = 1; len <= LEN; len++) {
        const int p = len - 1;
        for (int l = 0; l < L; l++)
            for (int g = 0; g < HKV; g++) {
                if (p >= B) { // evict the lowest score among positions < p - RECENT + 1
                    int best = -1;
                    for (int q = 0; q < p - RECENT + 1; q++)
                        if (res[l][g][q] && (best < 0 || score[l][g][q] < score[l][g][best]))
                            best = q;
                    res[l][g][best] = false;
                }
                res[l][g][p] = true;
            }
        AttnSink sk = {w, p, 1, len};
        engine_step(&e, tokens, len, CACHE_MODE_ON, &sk, NULL);
        for (int l = 0; l < L; l++)
            for (int g = 0; g < HKV; g++) {
                for (int h = g * group; h < (g + 1) * group; h++)
                    for (int q = 0; q <= p; q++) {
                        const float a = w[((size_t)l * H + h) * len + q];
                        if (!res[l][g][q])
                            cr_assert_eq(a, 0.0f, "attention to evicted %d", q);
                        score[l][g][q] += a;
                    }
                expect_resident(&e.cache, l, g, res[l][g], len, "h2o:3,2 replayed");
                for (int q = 0; q <= p; q++)
                    if (res[l][g][q])
                        cr_assert_float_eq(kvcache_score(&e.cache, l, g, q), score[l][g][q], 1e-4);
            }
    }
    for (int l = 0; l < L; l++)
        for (int q = 0; q < LEN; q++)
            differ += res[l][0][q] != res[l][1][q];
    cr_assert_gt(differ, 0, "the kv heads all kept the same positions");
    free(w);
    engine_free(&e);
    model_free(&m);
}

// ----------------------------------------------------------------------------------------------
// Counters: the closed forms, to the FLOP and the byte

static uint64_t min_u(uint64_t a, uint64_t b) {
    return a < b ? a : b;
}

Test(kvcache, counters_equal_the_closed_forms, .timeout = 60) {
    const char *specs[] = {"full", "window:8", "sinks:2,6", "h2o:4,4", "window:1"};
    const ModelConfig *c = &gqa;
    Model m;
    load(&m, c, 7);
    const uint64_t D = (uint64_t)c->dim, L = (uint64_t)c->n_layers;
    const uint64_t per = config_kv_bytes_per_token(c);
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        const KvCacheKind kind = kind_of(specs[k]);
        const uint64_t B = kv_kind_budget(kind) ? (uint64_t)kv_kind_budget(kind) : 1000000;
        KvError err = {0};
        Engine e;
        cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
        engine_set_cache_kind(&e, kind);
        int tokens[40];
        ids(tokens, 40, c->vocab_size, 14);
        for (int len = 13; len <= 40; len++) { // a prefill of 13 (past every budget), then decode
            Counters got;
            memset(&got, 0, sizeof got);
            const int first = engine_step(&e, tokens, len, CACHE_MODE_ON, NULL, &got);
            cr_assert_eq(first, len == 13 ? 0 : len - 1);
            uint64_t want[FLOP_COMPONENTS], plain[FLOP_COMPONENTS];
            flops_formula_kind(c, kind, first, len - first, 1, want);
            tu_flops(c, first, len - first, 1, plain);
            uint64_t span = 0; // written out: a query at p reads min(p + 1, B)
            for (int p = first; p < len; p++)
                span += min_u((uint64_t)p + 1, B);
            plain[FLOP_SCORES] = plain[FLOP_VALUES] = L * 2 * D * span;
            for (int f = 0; f < FLOP_COMPONENTS; f++) {
                cr_assert_eq(want[f], plain[f], "%s: formula %s at %d", specs[k],
                             flop_component_names[f], len);
                cr_assert_eq(got.flops[f], want[f], "%s: counted %s at len %d: %llu, want %llu",
                             specs[k], flop_component_names[f], len,
                             (unsigned long long)got.flops[f], (unsigned long long)want[f]);
            }
            const uint64_t hkv_bytes = 2 * (uint64_t)config_kv_dim(c) * sizeof(float);
            cr_assert_eq(got.kv_bytes_read, L * hkv_bytes * span, "%s: bytes read", specs[k]);
            cr_assert_eq(got.kv_bytes_written, per * (uint64_t)(len - first));
            cr_assert_eq(kvcache_bytes_resident(&e.cache), per * min_u((uint64_t)len, B),
                         "%s: resident bytes at %d", specs[k], len);
        }
        engine_free(&e);
    }
    model_free(&m);
}

// ----------------------------------------------------------------------------------------------
// Back and forward, exact under eviction

static void seek_exact(const char *spec) {
    enum { PROMPT = 6, STEPS = 30, BACK_TO = 9 };
    const ModelConfig *c = &gqa;
    Model m;
    load(&m, c, 8);
    const size_t vbytes = (size_t)c->vocab_size * sizeof(float);
    KvError err = {0};
    Engine ref, e;
    cr_assert_eq(engine_init(&ref, &m, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    engine_set_cache_kind(&ref, kind_of(spec));
    engine_set_cache_kind(&e, kind_of(spec));
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
        cr_assert(memcmp(e.logits, want[i], vbytes) == 0, "%s: step %d after a seek back", spec, i);
    }
    kvcache_seek(&e.cache, marks[3]);
    kvcache_seek(&e.cache, marks[STEPS - 3]); // forward without computing, as redo does
    for (int i = STEPS - 2; i < STEPS; i++) {
        engine_step(&e, tokens, PROMPT + i, CACHE_MODE_ON, NULL, NULL);
        cr_assert(memcmp(e.logits, want[i], vbytes) == 0, "%s: step %d after a seek forward", spec,
                  i);
    }
    free(want);
    engine_free(&ref);
    engine_free(&e);
    model_free(&m);
}

Test(kvcache, mark_and_seek_exact_under_eviction, .timeout = 60) {
    seek_exact("window:7");
    seek_exact("sinks:2,5");
    seek_exact("h2o:4,3");
}

// A change of kind forgets what the old one held: the next step recomputes the sequence.
Test(kvcache, a_new_kind_recomputes_the_sequence, .timeout = 60) {
    const ModelConfig *c = &gqa;
    Model m;
    load(&m, c, 9);
    KvError err = {0};
    Engine e, full;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(engine_init(&full, &m, &err), KV_OK, "%s", err.msg);
    int tokens[24];
    ids(tokens, 24, c->vocab_size, 16);
    engine_set_cache_kind(&e, kind_of("window:4"));
    for (int len = 6; len <= 20; len++)
        engine_step(&e, tokens, len, CACHE_MODE_ON, NULL, NULL);
    cr_assert(!engine_set_cache_kind(&e, kind_of("window:4")), "the same kind changes nothing");
    cr_assert_eq(kvcache_len(&e.cache), 20);
    cr_assert(engine_set_cache_kind(&e, KV_CACHE_DENSE));
    cr_assert_eq(kvcache_len(&e.cache), 0);
    Counters ctr;
    memset(&ctr, 0, sizeof ctr);
    cr_assert_eq(engine_step(&e, tokens, 21, CACHE_MODE_ON, NULL, &ctr), 0);
    cr_assert_eq(ctr.positions, 21, "every position recomputed");
    engine_step(&full, tokens, 21, CACHE_MODE_ON, NULL, NULL);
    cr_assert(memcmp(e.logits, full.logits, (size_t)c->vocab_size * sizeof(float)) == 0);
    engine_free(&e);
    engine_free(&full);
    model_free(&m);
}

// Sinks store keys unrotated and rotate by cache index: a run goes past the model's context.
Test(kvcache, sinks_run_past_the_context, .timeout = 60) {
    const ModelConfig *c = &mha; // seq_len 96
    Model m;
    load(&m, c, 10);
    KvError err = {0};
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    engine_set_cache_kind(&e, kind_of("sinks:2,6"));
    enum { LEN = 250 };
    int tokens[LEN];
    ids(tokens, LEN, c->vocab_size, 17);
    for (int len = 5; len <= LEN; len++) {
        engine_step(&e, tokens, len, CACHE_MODE_ON, NULL, NULL);
        cr_assert_eq(e.fault_layer, 0);
    }
    for (int i = 0; i < c->vocab_size; i++)
        cr_assert(isfinite(e.logits[i]));
    bool want[LEN] = {false};
    want[0] = want[1] = true;
    for (int p = LEN - 6; p < LEN; p++)
        want[p] = true;
    expect_resident(&e.cache, 1, 3, want, LEN, "sinks past the context");
    cr_assert_eq(kvcache_bytes_resident(&e.cache), 8 * config_kv_bytes_per_token(c));
    engine_free(&e);
    model_free(&m);
}

// ----------------------------------------------------------------------------------------------
// The words: one parser for every command and the lessons

Test(kvcache, parse_accepts_the_four_policies) {
    KvCacheKind k = KV_CACHE_DENSE;
    char buf[64];
    KvError err = {0};
    const char *ok[] = {"full", "window:64", "sinks:4,60", "h2o:32,32", "window:1"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        cr_assert_eq(kv_parse_retention("--cache", ok[i], &k, &err), KV_OK, "%s", err.msg);
        cr_assert_str_eq(kv_retention_name(k, buf, sizeof buf), ok[i]);
    }
    cr_assert_eq(kv_kind_budget(kind_of("sinks:4,60")), 64);
    cr_assert_eq(kv_kind_budget(kind_of("h2o:3,5")), 8);
    cr_assert_eq(kv_kind_budget(kind_of("full")), 0);
}

static void refused(const char *spec, const char *why) {
    KvCacheKind k = KV_CACHE_DENSE, before = k;
    KvError err = {0};
    cr_assert_eq(kv_parse_retention("--cache", spec, &k, &err), KV_ERR_INPUT, "'%s' accepted",
                 spec);
    cr_assert(strncmp(err.msg, "--cache: ", 9) == 0, "%s", err.msg);
    cr_assert(strstr(err.msg, why), "'%s': %s (want '%s')", spec, err.msg, why);
    cr_assert(kv_kind_equal(k, before), "a refusal leaves the kind alone");
}

Test(kvcache, parse_refuses_malformed_specs) {
    refused("", "expected full");
    refused("fulll", "expected full");
    refused("window", "expected full");
    refused("lru:4", "unknown policy");
    refused("window:", "W is missing");
    refused("window:4,5", "one size");
    refused("sinks:4", "two sizes");
    refused("sinks:4,", "W is missing");
    refused("h2o:,4", "H is missing");
    refused("h2o:1,2,3", "expected full");
    refused("h2o:4", "two sizes");
}

Test(kvcache, parse_refuses_zero_and_negative) {
    refused("window:0", "W must be at least 1");
    refused("window:-3", "W must be at least 1");
    refused("sinks:0,8", "S must be at least 1");
    refused("sinks:4,0", "W must be at least 1");
    refused("h2o:0,8", "H must be at least 1");
    refused("h2o:8,-1", "R must be at least 1");
}

Test(kvcache, parse_refuses_non_numbers) {
    refused("window:abc", "W is not a whole number");
    refused("window:4x", "W is not a whole number");
    refused("window: 4", "W is not a whole number");
    refused("sinks:4,6.5", "W is not a whole number");
    refused("h2o:1e3,4", "H is not a whole number");
    refused("window:99999999999999999999", "larger than any context");
    refused("window:0x10", "W is not a whole number");
}

Test(kvcache, budget_larger_than_the_context_is_refused) {
    KvError err = {0};
    cr_assert_eq(kv_retention_check("--cache", kind_of("window:512"), 512, &err), KV_OK);
    cr_assert_eq(kv_retention_check("--cache", kind_of("window:513"), 512, &err), KV_ERR_INPUT);
    cr_assert_str_eq(err.msg, "--cache: window:513 keeps 513 positions, more than the model's "
                              "context of 512");
    cr_assert_eq(kv_retention_check("--cache", kind_of("sinks:4,509"), 512, &err), KV_ERR_INPUT);
    cr_assert_eq(kv_retention_check("--cache", kind_of("h2o:300,300"), 512, &err), KV_ERR_INPUT);
    cr_assert_eq(kv_retention_check("--cache", kind_of("sinks:1,512"), 512, &err), KV_ERR_INPUT);
}

// ----------------------------------------------------------------------------------------------
// In a session: cells, drift against the full f32 reference, changes of kind between steps

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
} Fixture;

static void fixture_init(Fixture *f) {
    KvError err = {0};
    ModelConfig c = tu_config(48, 100, 2, 4, 2, 400, 64, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 21, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(&f->s, "the cat sat on the mat", &err), KV_OK, "%s", err.msg);
}

static void fixture_free(Fixture *f) {
    tu_session_close(&f->m, &f->t, &f->s);
}

static void set_cache(Session *s, const char *spec) {
    KvError err = {0};
    cr_assert_eq(session_set_cache(s, kind_of(spec), &err), KV_OK, "%s", err.msg);
}

Test(kvcache, session_cells_show_what_was_evicted, .timeout = 60) {
    Fixture f;
    fixture_init(&f);
    Session *s = &f.s;
    set_cache(s, "window:5");
    for (int i = 0; i < 12; i++)
        cr_assert(session_step(s));
    const StepRecord *r = session_last(s);
    const ModelConfig *c = &f.m.cfg;
    for (int l = 0; l < c->n_layers; l++)
        for (int g = 0; g < c->n_kv_heads; g++)
            for (int p = 0; p <= r->pos; p++) {
                CellStep cs = session_cell(s, r, l, g, p);
                CellState want = p == r->pos      ? CELL_WRITTEN
                                 : p > r->pos - 5 ? CELL_READ
                                                  : CELL_EVICTED;
                cr_assert_eq(cs.now, want, "cell (%d, %d, %d): %d want %d", l, g, p, cs.now, want);
                cr_assert_eq(cs.now != CELL_EVICTED, kvcache_resident(&s->eng.cache, l, g, p));
                CellState before = p == r->pos       ? CELL_EMPTY
                                   : p >= r->pos - 5 ? CELL_CACHED
                                                     : CELL_EVICTED;
                cr_assert_eq(cs.before, before, "before (%d, %d, %d)", l, g, p);
            }
    cr_assert_eq(r->kv_bytes_resident, 5 * config_kv_bytes_per_token(c));
    fixture_free(&f);
}

// KL, top-1 and the logit difference recomputed here from an independent full engine; a window
// that holds the whole sequence drifts by exactly nothing.
Test(kvcache, session_drift_against_the_full_reference, .timeout = 60) {
    Fixture f;
    fixture_init(&f);
    Session *s = &f.s;
    const ModelConfig *c = &f.m.cfg;
    set_cache(s, "window:64");
    for (int i = 0; i < 6; i++) {
        cr_assert(session_step(s));
        const StepRecord *r = session_last(s);
        cr_assert(r->drift_measured);
        cr_assert_eq(r->kl_full, 0.0f);
        cr_assert(r->top1_agree);
        cr_assert_eq(r->drift_logit, 0.0f);
        for (int l = 0; l < c->n_layers; l++)
            cr_assert_eq(r->attn_l1[l], 0.0f);
    }
    set_cache(s, "h2o:2,3");
    KvError err = {0};
    Engine full;
    cr_assert_eq(engine_init(&full, &f.m, &err), KV_OK, "%s", err.msg);
    double kl_seen = 0;
    for (int i = 0; i < 20; i++) {
        cr_assert(session_step(s));
        const StepRecord *r = session_last(s);
        cr_assert(r->drift_measured);
        engine_step(&full, s->tokens, r->pos + 1, CACHE_MODE_ON, NULL, NULL);
        // recompute: KL(p_full || p) from the two logit vectors, in double
        const float *a = full.logits, *b = s->eng.logits;
        double ma = -1e30, mb = -1e30, za = 0, zb = 0, kl = 0, dmax = 0;
        int ta = 0, tb = 0;
        for (int v = 0; v < c->vocab_size; v++) {
            ma = fmax(ma, a[v]), mb = fmax(mb, b[v]);
            if (a[v] > a[ta])
                ta = v;
            if (b[v] > b[tb])
                tb = v;
            dmax = fmax(dmax, fabs((double)a[v] - b[v]));
        }
        for (int v = 0; v < c->vocab_size; v++)
            za += exp(a[v] - ma), zb += exp(b[v] - mb);
        for (int v = 0; v < c->vocab_size; v++) {
            double la = a[v] - ma - log(za), lb = b[v] - mb - log(zb);
            kl += exp(la) * (la - lb);
        }
        cr_assert_float_eq(r->kl_full, kl, 1e-5 + 1e-4 * kl, "step %d: kl %g want %g", i,
                           r->kl_full, kl);
        cr_assert_eq(r->top1_agree, ta == tb);
        cr_assert_float_eq(r->drift_logit, dmax, 1e-6);
        kl_seen += kl;
    }
    cr_assert_gt(kl_seen, 0.0, "h2o:2,3 on 20 steps never drifted");
    DriftSummary d;
    session_drift(s, &d);
    cr_assert_eq(d.measured, 26);
    cr_assert(d.kl_max > 0 && d.top1_rate > 0 && d.top1_rate <= 1 && d.attn_l1_mean > 0);
    set_cache(s, "full");
    cr_assert(session_step(s));
    cr_assert(!session_last(s)->drift_measured, "full f32 is the reference itself");
    engine_free(&full);
    fixture_free(&f);
}

// Turning a bounded policy off recomputes the sequence (counted, shown recomputed); stepping back
// and forward under eviction is exact; back across a change of kind starts that kind over.
Test(kvcache, session_changes_of_kind_and_stepping, .timeout = 60) {
    Fixture f;
    fixture_init(&f);
    Session *s = &f.s;
    const ModelConfig *c = &f.m.cfg;
    const size_t vb = (size_t)c->vocab_size * sizeof(float);
    set_cache(s, "sinks:2,4");
    for (int i = 0; i < 14; i++)
        cr_assert(session_step(s));
    // back 5 and forward 5 (redo), then one new step: the same as never going back
    float *want = malloc(vb);
    int want_tok[6];
    for (int i = 0; i < 5; i++)
        want_tok[i] = s->steps[9 + i].token_id;
    for (int i = 0; i < 5; i++)
        cr_assert(session_back(s));
    for (int i = 0; i < 5; i++) {
        cr_assert(session_step(s));
        cr_assert_eq(session_last(s)->token_id, want_tok[i]);
    }
    cr_assert(session_step(s));
    memcpy(want, s->eng.logits, vb);
    want_tok[5] = session_last(s)->token_id;
    cr_assert(session_back(s));
    s->n_steps = s->cursor; // forget the record: compute that step again from the seek
    cr_assert(session_step(s));
    cr_assert(memcmp(s->eng.logits, want, vb) == 0, "a step after a seek back differs");
    // off again: everything is recomputed under full
    const int len = s->n_tokens;
    set_cache(s, "full");
    cr_assert(session_step(s));
    const StepRecord *r = session_last(s);
    cr_assert_eq(r->first, 0);
    cr_assert_eq(r->counted.positions, (uint64_t)len, "recomputed %llu of %d",
                 (unsigned long long)r->counted.positions, len);
    cr_assert_eq(r->recomputed_hi, len - 1);
    cr_assert_eq(session_cell(s, r, 0, 0, 3).now, CELL_RECOMPUTED);
    cr_assert_eq(session_cell(s, r, 0, 0, 3).before, CELL_EVICTED);
    cr_assert(session_step(s));
    cr_assert_eq(session_last(s)->first, len, "then one position per step again");
    // back across the change: the sinks step's cache is gone, so its kind starts over
    cr_assert(session_back(s));
    cr_assert(session_back(s));
    cr_assert_eq(kvcache_len(&s->eng.cache), 0);
    cr_assert(session_step(s));
    cr_assert_eq(session_last(s)->first, 0);
    KvError err = {0};
    cr_assert_eq(session_set_cache(s, kind_of("window:65"), &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "context of 64"), "%s", err.msg);
    free(want);
    fixture_free(&f);
}

// The picture: evicted blocks look evicted (a ghost), a block some kv head keeps looks kept, and
// the attention the beams draw goes only to positions the head can still read.
#include "view/view.h"

Test(kvcache, picture_shows_evicted_blocks_and_readable_beams, .timeout = 60) {
    Fixture f;
    fixture_init(&f);
    Session *s = &f.s;
    const ModelConfig *c = &f.m.cfg;
    set_cache(s, "window:6");
    for (int i = 0; i < 10; i++)
        cr_assert(session_step(s));
    const StepRecord *r = session_last(s);
    for (int l = 0; l < c->n_layers; l++)
        for (int p = 0; p <= r->pos; p++) {
            const bool gone = p <= r->pos - 6;
            cr_assert_eq(scene_block_state(s, p, l, 1.0) == BLOCK_EVICTED, gone, "(%d, %d)", l, p);
            double sum = 0;
            for (int h = 0; h < c->n_heads; h++) {
                const float a = session_attention(s, r->pos, p, l, h);
                if (gone)
                    cr_assert_eq(a, 0.0f, "beam to evicted %d", p);
                sum += a;
            }
            if (!gone)
                cr_assert_gt(sum, 0.0);
        }
    set_cache(s, "h2o:2,2");
    for (int i = 0; i < 12; i++)
        cr_assert(session_step(s));
    r = session_last(s);
    for (int l = 0; l < c->n_layers; l++)
        for (int p = 0; p <= r->pos; p++) {
            bool any = false;
            for (int g = 0; g < c->n_kv_heads; g++)
                any = any || kvcache_resident(&s->eng.cache, l, g, p);
            cr_assert_eq(scene_block_state(s, p, l, 1.0) != BLOCK_EVICTED, any, "(%d, %d)", l, p);
        }
    fixture_free(&f);
}

// Under sinks a session goes on past the model's context (to SESSION_PAST times it); a kind that
// cannot hold the sequence (h2o; a window can) is refused there; the drift is not measured where
// the full reference cannot follow.
Test(kvcache, session_goes_past_the_context_under_sinks, .timeout = 60) {
    Fixture f;
    fixture_init(&f);
    Session *s = &f.s;
    const int T = f.m.cfg.seq_len; // 64
    int steps = 0;
    while (session_step(s))
        steps++;
    cr_assert_eq(s->n_tokens, T + 1, "full stops at the context");
    session_reset(s);
    set_cache(s, "sinks:2,6");
    steps = 0;
    while (session_step(s)) {
        steps++;
        const StepRecord *r = session_last(s);
        cr_assert_eq(r->drift_measured, r->pos < T, "pos %d", r->pos);
        const uint64_t held = (uint64_t)(r->pos + 1 < 8 ? r->pos + 1 : 8);
        cr_assert_eq(r->kv_bytes_resident, held * config_kv_bytes_per_token(&f.m.cfg));
    }
    cr_assert_eq(s->n_tokens, SESSION_PAST * T, "sinks stop at %d", SESSION_PAST * T);
    cr_assert(session_at_limit(s));
    KvError err = {0};
    cr_assert_eq(session_set_cache(s, kind_of("h2o:3,3"), &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "past the model's context of 64 (only window and sinks can go on)"),
              "%s", err.msg);
    cr_assert_eq(session_set_cache(s, kind_of("window:6"), &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_cache(s, kind_of("sinks:2,6"), &err), KV_OK, "%s", err.msg);
    // back and forward past the context stay exact
    const int tok = session_last(s)->token_id;
    for (int i = 0; i < 20; i++)
        cr_assert(session_back(s));
    for (int i = 0; i < 20; i++)
        cr_assert(session_step(s));
    cr_assert_eq(session_last(s)->token_id, tok);
    fixture_free(&f);
}

// A pass abandoned half way (a fault) leaves a bounded cache as before it: the slots it overwrote
// in some layers are put back, and the next step is the one a run without the fault computes.
Test(kvcache, abandon_restores_the_slots, .timeout = 60) {
    const char *specs[] = {"window:5", "sinks:2,3", "h2o:3,2"};
    const ModelConfig *c = &gqa;
    Model m;
    load(&m, c, 18);
    const size_t vb = (size_t)c->vocab_size * sizeof(float);
    for (int k = 0; k < 3; k++) {
        KvError err = {0};
        Engine e, ref;
        cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(engine_init(&ref, &m, &err), KV_OK, "%s", err.msg);
        engine_set_cache_kind(&e, kind_of(specs[k]));
        engine_set_cache_kind(&ref, kind_of(specs[k]));
        int tokens[20];
        ids(tokens, 20, c->vocab_size, 19);
        for (int len = 4; len <= 15; len++) {
            engine_step(&e, tokens, len, CACHE_MODE_ON, NULL, NULL);
            engine_step(&ref, tokens, len, CACHE_MODE_ON, NULL, NULL);
            kvcache_mark(&e.cache);
        }
        // a pass over position 15 that stores garbage in layer 0 only, then stops
        float junk[2 * 64];
        for (int i = 0; i < 2 * 64; i++)
            junk[i] = 1e3f * (float)(i % 7);
        kvcache_begin(&e.cache, 15, 1);
        kvcache_store(&e.cache, 0, 15, junk, junk + config_kv_dim(c));
        kvcache_abandon(&e.cache);
        cr_assert_eq(kvcache_len(&e.cache), 15);
        engine_step(&e, tokens, 16, CACHE_MODE_ON, NULL, NULL);
        engine_step(&ref, tokens, 16, CACHE_MODE_ON, NULL, NULL);
        cr_assert(memcmp(e.logits, ref.logits, vb) == 0, "%s: the step after an abandoned pass",
                  specs[k]);
        engine_free(&e);
        engine_free(&ref);
    }
    model_free(&m);
}
