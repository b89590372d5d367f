// test_engine.c — the forward pass in its three ways (prefill, cached decode, no-cache
// recompute) on random models of several shapes: the modes agree on every step, switching
// between them works, and every counter equals DESIGN.md's closed form to the FLOP and byte.
#include "util/testutil.h"

#include "engine/kernels.h" // the matrix products against a scalar model of their association

#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(engine, .fini = tu_leak_check);

// dim, hidden, layers, heads, kv heads, vocab, seq_len, shared classifier
static const ModelConfig shapes[] = {
    {64, 172, 2, 8, 8, 300, 96, true},  // multi-head attention, tied classifier
    {64, 160, 3, 8, 2, 257, 96, false}, // grouped-query (4 query heads per KV head), separate
    {36, 97, 3, 3, 3, 131, 96, false},  // odd sizes: dim 36, 3 heads of 12, hidden 97
    {36, 97, 2, 6, 2, 200, 96, true},   // odd and grouped: head size 6, 3 query heads per KV
    {32, 64, 2, 4, 1, 64, 96, false},   // multi-query: one KV head
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))
#define N_PROMPT 5
#define N_STEPS 64

static void describe(const ModelConfig *c, char *buf, size_t n) {
    snprintf(buf, n, "dim %d hidden %d L %d H %d HKV %d V %d T %d %s", c->dim, c->hidden_dim,
             c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->seq_len,
             c->shared_classifier ? "shared" : "separate");
}

static void load_shape(Model *m, int k) {
    KvError err = {0};
    cr_assert_eq(tu_model_random(m, &shapes[k], 100 + (uint64_t)k, &err), KV_OK, "%s", err.msg);
}

// Bit for bit: the promise between the modes (and between weight formats) is identical logits.
static bool same_bits(const float *a, const float *b, int n) {
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

static float max_abs_diff(const float *a, const float *b, int n) {
    float d = 0;
    for (int i = 0; i < n; i++)
        d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

static float max_abs(const float *a, int n) {
    float d = 0;
    for (int i = 0; i < n; i++)
        d = fmaxf(d, fabsf(a[i]));
    return d;
}

static int argmax(const float *a, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (a[i] > a[best])
            best = i;
    return best;
}

// A fixed prompt of N_PROMPT ids for a vocabulary of v.
static void prompt_ids(int *tokens, int v, uint64_t seed) {
    uint64_t rng = seed;
    tokens[0] = TOKEN_BOS;
    for (int i = 1; i < N_PROMPT; i++)
        tokens[i] = (int)(kv_rng_u32(&rng) % (uint32_t)v);
}

static void check_counters(const ModelConfig *c, const Counters *got, int first, int len,
                           const char *what, int step) {
    uint64_t want[FLOP_COMPONENTS], formula[FLOP_COMPONENTS];
    tu_flops(c, first, len - first, 1, want);
    flops_formula(c, first, len - first, 1, formula);
    for (int k = 0; k < FLOP_COMPONENTS; k++) {
        cr_assert_eq(formula[k], want[k], "flops_formula %s, positions %d..%d: %llu, want %llu",
                     flop_component_names[k], first, len - 1, (unsigned long long)formula[k],
                     (unsigned long long)want[k]);
        cr_assert_eq(got->flops[k], want[k],
                     "%s step %d (positions %d..%d): counted %s %llu, "
                     "closed form %llu",
                     what, step, first, len - 1, flop_component_names[k],
                     (unsigned long long)got->flops[k], (unsigned long long)want[k]);
    }
    cr_assert_eq(got->positions, (uint64_t)(len - first), "%s step %d: positions", what, step);
    // Every computed position stores its K and V once per layer.
    uint64_t per_pos = (uint64_t)config_kv_bytes_per_token(c);
    cr_assert_eq(got->kv_bytes_written, per_pos * (uint64_t)(len - first),
                 "%s step %d: kv bytes written %llu", what, step,
                 (unsigned long long)got->kv_bytes_written);
    // Attention at position p reads the K and V of positions 0..p once per layer (each KV head
    // once, however many query heads share it).
    uint64_t span = 0;
    for (int p = first; p < len; p++)
        span += (uint64_t)(p + 1);
    uint64_t want_read =
        (uint64_t)c->n_layers * 2 * (uint64_t)config_kv_dim(c) * sizeof(float) * span;
    cr_assert_eq(got->kv_bytes_read, want_read, "%s step %d: kv bytes read %llu, want %llu", what,
                 step, (unsigned long long)got->kv_bytes_read, (unsigned long long)want_read);
}

// ----------------------------------------------------------------------------------------------
// Both modes, every step

Test(engine, modes_agree_on_every_step, .timeout = 120) {
    for (int k = 0; k < N_SHAPES; k++) {
        char name[160];
        describe(&shapes[k], name, sizeof name);
        Model m;
        load_shape(&m, k);
        const ModelConfig *c = &m.cfg;
        Engine on, off;
        KvError err = {0};
        cr_assert_eq(engine_init(&on, &m, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(engine_init(&off, &m, &err), KV_OK, "%s", err.msg);
        int tokens[N_PROMPT + N_STEPS + 1];
        prompt_ids(tokens, c->vocab_size, 7 + (uint64_t)k);
        int len = N_PROMPT;
        float worst = 0, scale = 0;
        for (int step = 0; step < N_STEPS; step++, len++) {
            Counters a, b;
            memset(&a, 0, sizeof a);
            memset(&b, 0, sizeof b);
            int fa = engine_step(&on, tokens, len, CACHE_MODE_ON, NULL, &a);
            int fb = engine_step(&off, tokens, len, CACHE_MODE_OFF, NULL, &b);
            cr_assert_eq(fa, step == 0 ? 0 : len - 1, "%s: cache step %d computed from %d", name,
                         step, fa);
            cr_assert_eq(fb, 0, "%s: no-cache step %d computed from %d", name, step, fb);
            cr_assert_eq(kvcache_len(&on.cache), len);
            cr_assert_eq(kvcache_len(&off.cache), 0);
            float d = max_abs_diff(on.logits, off.logits, c->vocab_size);
            cr_assert(same_bits(on.logits, off.logits, c->vocab_size),
                      "%s: step %d (len %d): cache and no-cache logits differ (max |diff| %g)",
                      name, step, len, d);
            worst = fmaxf(worst, d);
            scale = fmaxf(scale, max_abs(on.logits, c->vocab_size));
            check_counters(c, &a, fa, len, "cache", step);
            check_counters(c, &b, fb, len, "no cache", step);
            tokens[len] = argmax(on.logits, c->vocab_size);
        }
        // The comparison means something only if the logits are not all tiny.
        cr_assert(scale > 1.0f, "%s: logits too small (%g) for the comparison to mean anything",
                  name, scale);
        cr_log_info("%s: max |cache - no cache| over %d steps = %g (largest |logit| %g)", name,
                    N_STEPS, worst, scale);
        engine_free(&on);
        engine_free(&off);
        model_free(&m);
    }
}

// Weights that are exactly bfloat16 values are kept in half the bytes: the engine must compute
// exactly what it computes from the same weights kept as floats, on every shape (row lengths
// with and without whole blocks of sixteen, odd tails), in both modes.
Test(engine, bf16_weights_same_numbers, .timeout = 120) {
    for (int k = 0; k < N_SHAPES; k++) {
        char name[160];
        describe(&shapes[k], name, sizeof name);
        Model m;
        load_shape(&m, k);
        const ModelConfig *c = &m.cfg;
        KvError err = {0};
        Engine full;
        cr_assert_eq(engine_init(&full, &m, &err), KV_OK, "%s", err.msg);
        cr_assert(!full.packed_bf16, "%s: random float weights taken for bfloat16", name);
        engine_free(&full);

        model_round_bf16(&m);
        Engine half, wide, nocache;
        cr_assert_eq(engine_init(&half, &m, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(engine_init(&wide, &m, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(engine_init(&nocache, &m, &err), KV_OK, "%s", err.msg);
        cr_assert(half.packed_bf16, "%s: rounded weights not kept as bfloat16", name);
        cr_assert(!engine_pack(&wide, false) && !wide.packed_bf16);
        int tokens[N_PROMPT + 32 + 1];
        prompt_ids(tokens, c->vocab_size, 31 + (uint64_t)k);
        for (int len = N_PROMPT; len < N_PROMPT + 32; len++) {
            engine_step(&half, tokens, len, CACHE_MODE_ON, NULL, NULL);
            engine_step(&wide, tokens, len, CACHE_MODE_ON, NULL, NULL);
            engine_step(&nocache, tokens, len, CACHE_MODE_OFF, NULL, NULL);
            size_t bytes = (size_t)c->vocab_size * sizeof(float);
            cr_assert(memcmp(half.logits, wide.logits, bytes) == 0,
                      "%s: len %d: bfloat16 and float storage differ (max %g)", name, len,
                      max_abs_diff(half.logits, wide.logits, c->vocab_size));
            cr_assert(same_bits(half.logits, nocache.logits, c->vocab_size),
                      "%s: len %d: modes disagree with bfloat16 weights (max %g)", name, len,
                      max_abs_diff(half.logits, nocache.logits, c->vocab_size));
            tokens[len] = argmax(half.logits, c->vocab_size);
        }
        engine_free(&half);
        engine_free(&wide);
        engine_free(&nocache);
        model_free(&m);
    }
}

// The mode can change between any two steps; turning the cache on rebuilds it from the tokens
// so far (and counts that work); the logits always match a cache-only run.
Test(engine, switching_modes_mid_sequence, .timeout = 120) {
    //                     0         1         2         3         4
    const char *schedule = "CCCNNCCNCNNNCCCCNCCNNCCCCCNCNCNNNNCCCCCC";
    int n_steps = (int)strlen(schedule);
    for (int k = 0; k < N_SHAPES; k++) {
        char name[160];
        describe(&shapes[k], name, sizeof name);
        Model m;
        load_shape(&m, k);
        const ModelConfig *c = &m.cfg;
        Engine ref, e;
        KvError err = {0};
        cr_assert_eq(engine_init(&ref, &m, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
        int tokens[N_PROMPT + 64];
        prompt_ids(tokens, c->vocab_size, 11 + (uint64_t)k);
        int len = N_PROMPT;
        bool cache_valid = false; // whether e's cache holds positions 0..len-2
        for (int step = 0; step < n_steps; step++, len++) {
            Counters cr_, ce;
            memset(&cr_, 0, sizeof cr_);
            memset(&ce, 0, sizeof ce);
            engine_step(&ref, tokens, len, CACHE_MODE_ON, NULL, &cr_);
            CacheMode mode = schedule[step] == 'C' ? CACHE_MODE_ON : CACHE_MODE_OFF;
            int first = engine_step(&e, tokens, len, mode, NULL, &ce);
            int want_first = mode == CACHE_MODE_ON && cache_valid ? len - 1 : 0;
            cr_assert_eq(first, want_first, "%s: step %d (%c after %c): first position %d, want %d",
                         name, step, schedule[step], step ? schedule[step - 1] : '-', first,
                         want_first);
            cr_assert_eq(kvcache_len(&e.cache), mode == CACHE_MODE_ON ? len : 0,
                         "%s: step %d cached positions", name, step);
            float d = max_abs_diff(ref.logits, e.logits, c->vocab_size);
            cr_assert(same_bits(ref.logits, e.logits, c->vocab_size),
                      "%s: step %d (%c): logits differ from a cache-only run (max |diff| %g)", name,
                      step, schedule[step], d);
            check_counters(c, &ce, first, len, schedule[step] == 'C' ? "cache" : "no cache", step);
            cache_valid = mode == CACHE_MODE_ON;
            tokens[len] = argmax(ref.logits, c->vocab_size);
        }
        engine_free(&ref);
        engine_free(&e);
        model_free(&m);
    }
}

// ----------------------------------------------------------------------------------------------
// Counters

Test(engine, flops_formula_is_the_closed_form) {
    for (int k = 0; k < N_SHAPES; k++) {
        const ModelConfig *c = &shapes[k];
        const int cases[][3] = {{0, 1, 1},  {0, 17, 1}, {5, 1, 1},   {40, 1, 0},
                                {0, 96, 1}, {95, 1, 1}, {10, 30, 3}, {0, 1, 0}};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            uint64_t want[FLOP_COMPONENTS], got[FLOP_COMPONENTS];
            tu_flops(c, cases[i][0], cases[i][1], cases[i][2], want);
            flops_formula(c, cases[i][0], cases[i][1], cases[i][2], got);
            for (int j = 0; j < FLOP_COMPONENTS; j++)
                cr_assert_eq(got[j], want[j], "shape %d case %zu %s: %llu, want %llu", k, i,
                             flop_component_names[j], (unsigned long long)got[j],
                             (unsigned long long)want[j]);
        }
    }
}

// Over a long run in each mode (a prompt of N_PROMPT tokens, then steps until the input fills the
// context), cumulative counters equal the sums of the closed form, and flops_formula_run
// agrees with them.
Test(engine, cumulative_counters_both_modes, .timeout = 120) {
    Model m;
    load_shape(&m, 1);
    const ModelConfig *c = &m.cfg;
    KvError err = {0};
    for (int mode = 0; mode < 2; mode++) {
        Engine e;
        cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
        int tokens[97];
        prompt_ids(tokens, c->vocab_size, 3);
        Counters total;
        memset(&total, 0, sizeof total);
        uint64_t want_total = 0;
        int steps = 0;
        for (int len = N_PROMPT; len <= c->seq_len; len++, steps++) {
            Counters step;
            memset(&step, 0, sizeof step);
            int first = engine_step(&e, tokens, len, (CacheMode)mode, NULL, &step);
            check_counters(c, &step, first, len, mode ? "no cache" : "cache", steps);
            counters_add(&total, &step);
            uint64_t f[FLOP_COMPONENTS];
            tu_flops(c, first, len - first, 1, f);
            for (int j = 0; j < FLOP_COMPONENTS; j++)
                want_total += f[j];
            tokens[len] = argmax(e.logits, c->vocab_size);
            if (steps % 10 == 0 || len == c->seq_len) {
                uint64_t run = flops_formula_run(c, mode == 0, N_PROMPT, steps + 1);
                cr_assert_eq(run, want_total, "flops_formula_run(%s, %d, %d) = %llu, counted %llu",
                             mode ? "no cache" : "cache", N_PROMPT, steps + 1,
                             (unsigned long long)run, (unsigned long long)want_total);
            }
        }
        cr_assert_eq(counters_flops(&total), want_total);
        cr_assert_eq(total.positions, mode == 0 ? (uint64_t)c->seq_len
                                                : (uint64_t)(c->seq_len * (c->seq_len + 1) / 2 -
                                                             (N_PROMPT - 1) * N_PROMPT / 2));
        engine_free(&e);
    }
    model_free(&m);
}

Test(engine, kv_bytes_per_token_and_params) {
    for (int k = 0; k < N_SHAPES; k++) {
        const ModelConfig *c = &shapes[k];
        size_t kv = (size_t)c->dim / (size_t)c->n_heads * (size_t)c->n_kv_heads;
        cr_assert_eq((size_t)config_kv_dim(c), kv);
        cr_assert_eq((size_t)config_head_size(c), (size_t)c->dim / (size_t)c->n_heads);
        cr_assert_eq(config_kv_bytes_per_token(c), 2 * (size_t)c->n_layers * kv * sizeof(float));
        size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, L = (size_t)c->n_layers;
        size_t V = (size_t)c->vocab_size;
        size_t weights = V * D + L * (2 * D + 2 * D * D + 2 * kv * D + 3 * D * F) + D +
                         (c->shared_classifier ? 0 : V * D);
        cr_assert_eq(config_weight_count(c), weights, "shape %d weight count", k);
        cr_assert_eq(config_param_count(c), weights, "shape %d parameter count", k);
    }
}

// ----------------------------------------------------------------------------------------------
// Honesty: no cache means nothing reused; the cache is what cached decode reads.

static void fill_nan(float *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
}

Test(engine, no_cache_reuses_nothing, .timeout = 60) {
    Model m;
    load_shape(&m, 1);
    const ModelConfig *c = &m.cfg;
    KvError err = {0};
    Engine ref, e;
    cr_assert_eq(engine_init(&ref, &m, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    int tokens[40];
    prompt_ids(tokens, c->vocab_size, 5);
    size_t plane = (size_t)c->n_layers * (size_t)c->seq_len * (size_t)config_kv_dim(c);
    for (int len = N_PROMPT; len < 30; len++) {
        Counters ctr;
        memset(&ctr, 0, sizeof ctr);
        engine_step(&ref, tokens, len, CACHE_MODE_ON, NULL, &ctr);
        // Poison everything an earlier step could have left behind.
        fill_nan(e.work.keys, plane);
        fill_nan(e.work.values, plane);
        fill_nan(e.cache.keys, plane);
        fill_nan(e.cache.values, plane);
        engine_step(&e, tokens, len, CACHE_MODE_OFF, NULL, &ctr);
        for (int i = 0; i < c->vocab_size; i++)
            cr_assert(isfinite(e.logits[i]), "len %d: no-cache logits read stale memory", len);
        cr_assert(same_bits(ref.logits, e.logits, c->vocab_size),
                  "len %d: no-cache logits differ from the cached run (max %g)", len,
                  max_abs_diff(ref.logits, e.logits, c->vocab_size));
        tokens[len] = argmax(ref.logits, c->vocab_size);
    }
    engine_free(&ref);
    engine_free(&e);
    model_free(&m);
}

Test(engine, cached_decode_reads_the_cache, .timeout = 60) {
    Model m;
    load_shape(&m, 0);
    const ModelConfig *c = &m.cfg;
    KvError err = {0};
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    int tokens[16];
    prompt_ids(tokens, c->vocab_size, 9);
    Counters ctr;
    memset(&ctr, 0, sizeof ctr);
    engine_step(&e, tokens, N_PROMPT, CACHE_MODE_ON, NULL, &ctr);
    tokens[N_PROMPT] = 3;
    // Corrupt the value cached for position 1 in every layer: the next decode must see it.
    const int hs = config_head_size(c);
    for (int l = 0; l < c->n_layers; l++)
        for (int g = 0; g < c->n_kv_heads; g++) {
            const size_t row = kvcache_row(&e.cache, l, g, kvcache_slot(&e.cache, l, g, 1));
            for (int i = 0; i < hs; i++)
                e.cache.values[row + (size_t)i] += 50.0f;
        }
    engine_step(&e, tokens, N_PROMPT + 1, CACHE_MODE_ON, NULL, &ctr);
    float *corrupt = malloc((size_t)c->vocab_size * sizeof(float));
    memcpy(corrupt, e.logits, (size_t)c->vocab_size * sizeof(float));
    engine_step(&e, tokens, N_PROMPT + 1, CACHE_MODE_OFF, NULL, &ctr);
    cr_assert(max_abs_diff(corrupt, e.logits, c->vocab_size) > 1e-2f,
              "a corrupted cache did not change the cached decode: is the cache read?");
    free(corrupt);
    engine_free(&e);
    model_free(&m);
}

// engine_forward without the cache leaves the cache as it was.
Test(engine, forward_without_cache_leaves_cache, .timeout = 60) {
    Model m;
    load_shape(&m, 2);
    const ModelConfig *c = &m.cfg;
    KvError err = {0};
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    int tokens[16];
    prompt_ids(tokens, c->vocab_size, 13);
    Counters ctr;
    memset(&ctr, 0, sizeof ctr);
    engine_forward(&e, tokens, 0, N_PROMPT, true, NULL, &ctr);
    cr_assert_eq(kvcache_len(&e.cache), N_PROMPT);
    size_t plane = (size_t)c->n_layers * (size_t)c->seq_len * (size_t)config_kv_dim(c);
    float *kc = malloc(plane * sizeof(float)), *vc = malloc(plane * sizeof(float));
    memcpy(kc, e.cache.keys, plane * sizeof(float));
    memcpy(vc, e.cache.values, plane * sizeof(float));
    tokens[N_PROMPT] = 4;
    engine_forward(&e, tokens, 0, N_PROMPT + 1, false, NULL, &ctr);
    cr_assert_eq(kvcache_len(&e.cache), N_PROMPT);
    cr_assert(memcmp(kc, e.cache.keys, plane * sizeof(float)) == 0, "key cache changed");
    cr_assert(memcmp(vc, e.cache.values, plane * sizeof(float)) == 0, "value cache changed");
    free(kc);
    free(vc);
    engine_free(&e);
    model_free(&m);
}

// Instrumentation changes nothing the model computes.
Test(engine, instrumentation_off_same_logits, .timeout = 60) {
    Model m;
    load_shape(&m, 3);
    const ModelConfig *c = &m.cfg;
    KvError err = {0};
    Engine a, b;
    cr_assert_eq(engine_init(&a, &m, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(engine_init(&b, &m, &err), KV_OK, "%s", err.msg);
    b.instrument = false;
    int tokens[40];
    prompt_ids(tokens, c->vocab_size, 17);
    for (int len = N_PROMPT; len < 30; len++) {
        Counters ca, cb;
        memset(&ca, 0, sizeof ca);
        memset(&cb, 0, sizeof cb);
        CacheMode mode = len % 7 == 3 ? CACHE_MODE_OFF : CACHE_MODE_ON;
        engine_step(&a, tokens, len, mode, NULL, &ca);
        engine_step(&b, tokens, len, mode, NULL, &cb);
        cr_assert(memcmp(a.logits, b.logits, (size_t)c->vocab_size * sizeof(float)) == 0,
                  "len %d: instrumentation changed the logits", len);
        tokens[len] = argmax(a.logits, c->vocab_size);
    }
    engine_free(&a);
    engine_free(&b);
    model_free(&m);
}

// ----------------------------------------------------------------------------------------------
// The KV cache object: what it holds, its bytes, going back and forward

// The dense f32 cache counts its bytes from its own storage; they equal the one config formula.
Test(engine, kvcache_bytes_from_its_storage, .timeout = 60) {
    cr_assert_eq(kv_precision_bits(KV_PRECISION_F32), 32);
    for (int k = 0; k < N_SHAPES; k++) {
        Model m;
        load_shape(&m, k);
        const ModelConfig *c = &m.cfg;
        KvError err = {0};
        Engine e;
        cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
        const size_t per = config_kv_bytes_per_token(c);
        cr_assert_eq(per, 2 * (size_t)c->n_layers * (size_t)config_kv_dim(c) * 4);
        cr_assert_eq(config_kv_bytes_per_token_bits(c, 16) * 2, per);
        cr_assert_eq(kvcache_bytes_per_position(&e.cache), per, "shape %d", k);
        cr_assert_eq(kvcache_bytes_reserved(&e.cache), per * (size_t)c->seq_len);
        cr_assert_eq(kvcache_bytes_reserved(&e.work), per * (size_t)c->seq_len);
        cr_assert_eq(kvcache_bytes_resident(&e.cache), 0);
        int tokens[N_PROMPT + 4];
        prompt_ids(tokens, c->vocab_size, 41 + (uint64_t)k);
        Counters ctr;
        memset(&ctr, 0, sizeof ctr);
        engine_step(&e, tokens, N_PROMPT, CACHE_MODE_ON, NULL, &ctr);
        cr_assert_eq(kvcache_bytes_resident(&e.cache), per * N_PROMPT);
        cr_assert_eq(ctr.kv_bytes_written, kvcache_bytes_resident(&e.cache));
        tokens[N_PROMPT] = 3;
        engine_step(&e, tokens, N_PROMPT + 1, CACHE_MODE_OFF, NULL, &ctr);
        cr_assert_eq(kvcache_bytes_resident(&e.cache), 0, "no cache: nothing resident");
        cr_assert_eq(kvcache_bytes_resident(&e.work), per * (N_PROMPT + 1));
        engine_free(&e);
        model_free(&m);
    }
}

// Which positions are resident, in which slot and precision, for every (layer, kv head).
Test(engine, kvcache_residency, .timeout = 60) {
    Model m;
    load_shape(&m, 1);
    const ModelConfig *c = &m.cfg;
    KvError err = {0};
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    int tokens[N_PROMPT + 8];
    prompt_ids(tokens, c->vocab_size, 43);
    for (int i = N_PROMPT; i < N_PROMPT + 8; i++)
        tokens[i] = 3 + i;
    for (int len = N_PROMPT; len <= N_PROMPT + 3; len++)
        engine_step(&e, tokens, len, CACHE_MODE_ON, NULL, NULL);
    const int held = N_PROMPT + 3;
    cr_assert_eq(kvcache_len(&e.cache), held);
    for (int l = 0; l < c->n_layers; l++)
        for (int g = 0; g < c->n_kv_heads; g++) {
            for (int p = -1; p <= held + 1; p++) {
                bool in = p >= 0 && p < held;
                cr_assert_eq(kvcache_resident(&e.cache, l, g, p), in, "(%d, %d, %d)", l, g, p);
                cr_assert_eq(kvcache_slot(&e.cache, l, g, p), in ? p : -1);
            }
            uint8_t row[N_PROMPT + 8];
            kvcache_resident_row(&e.cache, l, g, held + 2, row);
            for (int p = 0; p < held + 2; p++)
                cr_assert_eq(row[p], p < held, "row (%d, %d) position %d", l, g, p);
            cr_assert_eq(kvcache_precision(&e.cache, l, g, 0), KV_PRECISION_F32);
            // the rows attention reads for a query at position p: positions 0 .. p
            KvHeadRows rows = kvcache_head(&e.cache, l, g, held - 1);
            cr_assert_eq(rows.n, held);
            cr_assert_eq(rows.keys, e.cache.keys + kvcache_row(&e.cache, l, g, 0));
            cr_assert_eq(rows.bytes, 2ull * (uint64_t)held * (uint64_t)config_head_size(c) * 4);
        }
    kvcache_truncate(&e.cache, 2);
    cr_assert_eq(kvcache_len(&e.cache), 2);
    cr_assert(kvcache_resident(&e.cache, 0, 0, 1) && !kvcache_resident(&e.cache, 0, 0, 2));
    kvcache_truncate(&e.cache, 10); // past the length: nothing changes
    cr_assert_eq(kvcache_len(&e.cache), 2);
    kvcache_clear(&e.cache);
    cr_assert_eq(kvcache_len(&e.cache), 0);
    cr_assert(!kvcache_resident(&e.cache, 0, 0, 0));
    engine_free(&e);
    model_free(&m);
}

// A mark taken after a step and a seek back to it (or forward again to a later mark of the same
// history), or a truncation, put the cache exactly where it was: the next steps give the same
// logits, bit for bit, as a run that never went back.
Test(engine, kvcache_mark_seek_exact, .timeout = 60) {
    enum { STEPS = 24, BACK_TO = 9 };
    Model m;
    load_shape(&m, 3);
    const ModelConfig *c = &m.cfg;
    const size_t vbytes = (size_t)c->vocab_size * sizeof(float);
    KvError err = {0};
    Engine ref, e;
    cr_assert_eq(engine_init(&ref, &m, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    int tokens[N_PROMPT + STEPS + 1];
    prompt_ids(tokens, c->vocab_size, 47);
    float(*want)[512] = malloc(sizeof(float[STEPS][512]));
    cr_assert_leq(c->vocab_size, 512);
    KvCacheMark marks[STEPS];
    for (int i = 0; i < STEPS; i++) {
        engine_step(&ref, tokens, N_PROMPT + i, CACHE_MODE_ON, NULL, NULL);
        memcpy(want[i], ref.logits, vbytes);
        tokens[N_PROMPT + i] = argmax(ref.logits, c->vocab_size);
        engine_step(&e, tokens, N_PROMPT + i, CACHE_MODE_ON, NULL, NULL);
        marks[i] = kvcache_mark(&e.cache);
    }
    // back to the mark after step BACK_TO, then forward again through the steps
    kvcache_seek(&e.cache, marks[BACK_TO]);
    cr_assert_eq(kvcache_len(&e.cache), N_PROMPT + BACK_TO);
    for (int i = BACK_TO + 1; i < STEPS; i++) {
        int first = engine_step(&e, tokens, N_PROMPT + i, CACHE_MODE_ON, NULL, NULL);
        cr_assert_eq(first, N_PROMPT + i - 1, "step %d recomputed more than one position", i);
        cr_assert(memcmp(e.logits, want[i], vbytes) == 0, "step %d after a seek back", i);
    }
    // back, then forward to a later mark without computing (what redo does), then one more step
    kvcache_seek(&e.cache, marks[3]);
    kvcache_seek(&e.cache, marks[STEPS - 2]);
    engine_step(&e, tokens, N_PROMPT + STEPS - 1, CACHE_MODE_ON, NULL, NULL);
    cr_assert(memcmp(e.logits, want[STEPS - 1], vbytes) == 0, "after a seek forward");
    // a truncation to the length of an earlier step, and that step again
    kvcache_truncate(&e.cache, N_PROMPT + 4);
    engine_step(&e, tokens, N_PROMPT + 5, CACHE_MODE_ON, NULL, NULL);
    cr_assert(memcmp(e.logits, want[5], vbytes) == 0, "after a truncation");
    free(want);
    engine_free(&ref);
    engine_free(&e);
    model_free(&m);
}

// The no-cache working memory is a scratch KvCache: every pass starts it empty, so what a pass
// reads is what it stored itself; a scratch pass that does not start at position 0, or a read
// past what the pass stored, is a broken promise and stops the program.
Test(engine, kvcache_scratch_starts_empty, .timeout = 60) {
    Model m;
    load_shape(&m, 0);
    const ModelConfig *c = &m.cfg;
    KvError err = {0};
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    int tokens[12];
    prompt_ids(tokens, c->vocab_size, 53);
    for (int i = N_PROMPT; i < 12; i++)
        tokens[i] = 5 + i;
    engine_forward(&e, tokens, 0, 12, false, NULL, NULL);
    cr_assert_eq(kvcache_len(&e.work), 12);
    cr_assert_eq(kvcache_len(&e.cache), 0, "a no-cache pass stored into the cache");
    engine_forward(&e, tokens, 0, 4, false, NULL, NULL);
    cr_assert_eq(kvcache_len(&e.work), 4, "the scratch kept positions of an earlier pass");
    cr_assert(!kvcache_resident(&e.work, 0, 0, 4));
    engine_free(&e);
    model_free(&m);
}

Test(engine, kvcache_scratch_refuses_a_later_start, .signal = SIGABRT, .timeout = 30) {
    ModelConfig c = shapes[0];
    KvCache kc;
    kvcache_init(&kc, &c, KV_CACHE_DENSE, true);
    kvcache_begin(&kc, 0, 3);
    kvcache_end(&kc);
    kvcache_begin(&kc, 3, 1); // a scratch pass must compute everything from position 0
}

// A pass abandoned half way (a fault) leaves the cache as it was before the pass, and nothing of
// what it stored can be sought back to (the second test: the seek stops the program).
static KvCacheMark abandon_half_way(KvCache *kc) {
    ModelConfig c = shapes[1];
    kvcache_init(kc, &c, KV_CACHE_DENSE, false);
    float k[64] = {0}, v[64] = {0};
    kvcache_begin(kc, 0, 4);
    for (int p = 0; p < 4; p++)
        kvcache_store(kc, 0, p, k, v);
    kvcache_end(kc);
    const KvCacheMark four = kvcache_mark(kc);
    kvcache_truncate(kc, 2);
    kvcache_seek(kc, four); // forward again: the rows of 2 and 3 are still this sequence's
    cr_assert_eq(kvcache_len(kc), 4);
    kvcache_begin(kc, 2, 2);
    kvcache_store(kc, 0, 2, k, v);
    kvcache_abandon(kc);
    cr_assert_eq(kvcache_len(kc), 2);
    cr_assert(kvcache_resident(kc, 0, 0, 1) && !kvcache_resident(kc, 0, 0, 2));
    return four;
}

Test(engine, kvcache_abandon_forgets_the_pass, .timeout = 30) {
    KvCache kc;
    abandon_half_way(&kc);
    kvcache_free(&kc);
}

Test(engine, kvcache_abandon_refuses_a_seek_into_the_pass, .signal = SIGABRT, .timeout = 30) {
    KvCache kc;
    KvCacheMark four = abandon_half_way(&kc);
    kvcache_seek(&kc, four); // position 2 holds a half-done pass
}

Test(engine, kvcache_refuses_reading_past_the_pass, .signal = SIGABRT, .timeout = 30) {
    ModelConfig c = shapes[0];
    KvCache kc;
    kvcache_init(&kc, &c, KV_CACHE_DENSE, true);
    kvcache_begin(&kc, 0, 3);
    kvcache_head(&kc, 0, 0, 3); // position 3 is not part of this pass
}

// ----------------------------------------------------------------------------------------------
// Threads and instruction sets: one association, the same bits

// The shapes above and one whose matrices are large enough for a decode step to be split
// between threads (700 rows: parts end on multiples of 16 and one does not).
static const ModelConfig wide_shape = {256, 700, 2, 8, 4, 1000, 64, false};

// A cache / no-cache schedule at 1, 2 and 3 threads: logits, attention weights and counters the
// same bits and numbers as the one-thread engine's on every step, and the modes still agree.
Test(engine, threads_bit_identical, .timeout = 240) {
    for (int k = 0; k <= N_SHAPES; k++) {
        const ModelConfig *shape = k < N_SHAPES ? &shapes[k] : &wide_shape;
        char name[160];
        describe(shape, name, sizeof name);
        Model m;
        KvError err = {0};
        cr_assert_eq(tu_model_random(&m, shape, 300 + (uint64_t)k, &err), KV_OK, "%s", err.msg);
        const ModelConfig *c = &m.cfg;
        const int L = c->n_layers, H = c->n_heads, T = c->seq_len, V = c->vocab_size;
        Engine e[3];
        float *attn[3];
        for (int t = 0; t < 3; t++) {
            cr_assert_eq(engine_init(&e[t], &m, &err), KV_OK, "%s", err.msg);
            cr_assert_eq(engine_set_threads(&e[t], t + 1), t + 1, "%s: %d threads", name, t + 1);
            attn[t] = calloc((size_t)L * H * T * T, sizeof(float));
        }
        const char *schedule = "CCNCCCNNCCCCCCNC";
        int tokens[96];
        prompt_ids(tokens, V, 7 + (uint64_t)k);
        for (int step = 0, len = N_PROMPT; schedule[step]; step++, len++) {
            const CacheMode mode = schedule[step] == 'C' ? CACHE_MODE_ON : CACHE_MODE_OFF;
            Counters ctr[3];
            for (int t = 0; t < 3; t++) {
                memset(&ctr[t], 0, sizeof ctr[t]);
                const int first = mode == CACHE_MODE_ON ? kvcache_len(&e[t].cache) : 0;
                AttnSink sink = {.w = attn[t], .row0 = first, .rows = len - first, .cols = len};
                memset(attn[t], 0, (size_t)L * H * T * T * sizeof(float));
                engine_step(&e[t], tokens, len, mode, &sink, &ctr[t]);
            }
            for (int t = 1; t < 3; t++) {
                cr_assert(same_bits(e[0].logits, e[t].logits, V),
                          "%s: step %d (%c): %d threads differ from one (max %g)", name, step,
                          schedule[step], t + 1, max_abs_diff(e[0].logits, e[t].logits, V));
                cr_assert(same_bits(attn[0], attn[t], L * H * T * T),
                          "%s: step %d: attention weights at %d threads differ", name, step, t + 1);
                cr_assert(memcmp(&ctr[0], &ctr[t], sizeof ctr[0]) == 0,
                          "%s: step %d: counters at %d threads differ", name, step, t + 1);
            }
            tokens[len] = argmax(e[0].logits, V);
        }
        // and the modes agree at every thread count on the last sequence
        for (int t = 0; t < 3; t++) {
            const int len = N_PROMPT + (int)strlen(schedule);
            Engine off;
            cr_assert_eq(engine_init(&off, &m, &err), KV_OK, "%s", err.msg);
            engine_set_threads(&off, 3 - t);
            engine_step(&e[t], tokens, len, CACHE_MODE_ON, NULL, NULL);
            engine_step(&off, tokens, len, CACHE_MODE_OFF, NULL, NULL);
            cr_assert(same_bits(e[t].logits, off.logits, V),
                      "%s: cache at %d threads, no cache at %d: logits differ", name, t + 1, 3 - t);
            engine_free(&off);
        }
        for (int t = 0; t < 3; t++) {
            engine_free(&e[t]);
            free(attn[t]);
        }
        model_free(&m);
    }
}

// The association kernels_dot.h defines, written out element by element: sixteen lanes, the
// eight-wide tail in lanes 0..7, the fold, hsum8's tree, the last elements in order. `fused`:
// each step one rounding (fmaf), as the AVX2 and AVX-512 sets compute; else multiply, then add.
static float ref_dot(const float *w, const float *x, int in, bool fused) {
    float acc[16] = {0};
    const int in16 = in & ~15, in8 = in & ~7;
    for (int i = 0; i < in16; i += 16)
        for (int j = 0; j < 16; j++)
            acc[j] = fused ? fmaf(w[i + j], x[i + j], acc[j]) : acc[j] + w[i + j] * x[i + j];
    for (int j = 0; in16 + j < in8; j++)
        acc[j] =
            fused ? fmaf(w[in16 + j], x[in16 + j], acc[j]) : acc[j] + w[in16 + j] * x[in16 + j];
    float f[8];
    for (int j = 0; j < 8; j++)
        f[j] = acc[j] + acc[j + 8];
    float s = ((f[0] + f[4]) + (f[1] + f[5])) + ((f[2] + f[6]) + (f[3] + f[7]));
    for (int i = in8; i < in; i++)
        s = fused ? fmaf(w[i], x[i], s) : s + w[i] * x[i];
    return s;
}

// Every instruction set's matrix product, one position and many, float and bfloat16 weights,
// one thread and three, equals the scalar model of the association bit for bit, on row lengths
// around every boundary (whole blocks of 16, a tail of 8, a few left over).
Test(engine, matmul_is_the_one_association, .timeout = 120) {
    const int ins[] = {1, 7, 8, 9, 15, 16, 17, 24, 31, 33, 48, 100, 288};
    const int outs = 37, max_n = 14;
    KvWorkers *pool = pool_new(3);
    uint64_t rng = 5;
    float *w = malloc((size_t)outs * 288 * sizeof(float));
    uint16_t *wh = malloc((size_t)outs * 288 * sizeof(uint16_t));
    float *x = malloc((size_t)max_n * 288 * sizeof(float));
    float *got = malloc((size_t)max_n * outs * sizeof(float));
    float *wide = malloc((size_t)3 * KERNEL_WIDE_ROWS * 288 * sizeof(float));
    int tested = 0;
    for (int isa = 0; isa < KERNEL_ISAS; isa++) {
        if (!kernel_isa_available((KernelIsa)isa))
            continue;
        const bool fused = isa != KERNEL_ISA_PLAIN;
        for (size_t ii = 0; ii < sizeof ins / sizeof ins[0]; ii++) {
            const int in = ins[ii];
            for (int i = 0; i < outs * in; i++) { // bfloat16-exact weights serve both formats
                uint32_t u = kv_rng_u32(&rng) & 0xbfff0000u; // |w| < 2, any sign
                memcpy(&w[i], &u, sizeof u);
                wh[i] = (uint16_t)(u >> 16);
            }
            for (int i = 0; i < max_n * in; i++)
                x[i] = 2.0f * kv_rng_f32(&rng) - 1.0f;
            const int ns[] = {1, 2, 5, 6, 7, 13};
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
                for (int bf = 0; bf < 2; bf++)
                    for (int threads = 0; threads < 2; threads++) {
                        const int n = ns[ni];
                        kernel_matmul((KernelIsa)isa, threads ? pool : NULL, got, (size_t)outs, x,
                                      bf ? (const void *)wh : (const void *)w, bf, n, in, outs,
                                      wide);
                        for (int t = 0; t < n; t++)
                            for (int o = 0; o < outs; o++) {
                                const float want =
                                    ref_dot(w + (size_t)o * in, x + (size_t)t * in, in, fused);
                                const float g = got[(size_t)t * outs + o];
                                cr_assert(memcmp(&g, &want, sizeof g) == 0,
                                          "%s: in %d, n %d, %s weights, %s: row %d position %d: "
                                          "%.9g, want %.9g",
                                          kernel_isa_name((KernelIsa)isa), in, n,
                                          bf ? "bfloat16" : "float", threads ? "3 threads" : "1", o,
                                          t, g, want);
                            }
                        tested++;
                    }
        }
    }
    cr_assert_gt(tested, 0);
    cr_log_info("matmul: %d cases, best set %s", tested, kernel_isa_name(kernel_isa_best()));
    pool_free(pool);
    free(w), free(wh), free(x), free(got), free(wide);
}

// Engines on AVX2 and on AVX-512 (where the CPU has both) give the same logits bit for bit in
// both modes: the sets differ in width, not in what they sum.
Test(engine, avx2_and_avx512_same_bits, .timeout = 120) {
    if (!kernel_isa_available(KERNEL_ISA_AVX512)) {
        cr_log_warn("no AVX-512 on this CPU: nothing to compare");
        return;
    }
    for (int k = 0; k <= N_SHAPES; k++) {
        const ModelConfig *shape = k < N_SHAPES ? &shapes[k] : &wide_shape;
        char name[160];
        describe(shape, name, sizeof name);
        Model m;
        KvError err = {0};
        cr_assert_eq(tu_model_random(&m, shape, 500 + (uint64_t)k, &err), KV_OK, "%s", err.msg);
        Engine a, z;
        cr_assert_eq(engine_init(&a, &m, &err), KV_OK, "%s", err.msg);
        cr_assert_eq(engine_init(&z, &m, &err), KV_OK, "%s", err.msg);
        a.isa = KERNEL_ISA_AVX2;
        z.isa = KERNEL_ISA_AVX512;
        int tokens[64];
        prompt_ids(tokens, m.cfg.vocab_size, 3);
        for (int len = N_PROMPT; len < N_PROMPT + 12; len++) {
            const CacheMode mode = len % 3 ? CACHE_MODE_ON : CACHE_MODE_OFF;
            engine_step(&a, tokens, len, mode, NULL, NULL);
            engine_step(&z, tokens, len, mode, NULL, NULL);
            cr_assert(same_bits(a.logits, z.logits, m.cfg.vocab_size),
                      "%s: len %d: AVX2 and AVX-512 differ (max %g)", name, len,
                      max_abs_diff(a.logits, z.logits, m.cfg.vocab_size));
            tokens[len] = argmax(a.logits, m.cfg.vocab_size);
        }
        engine_free(&a);
        engine_free(&z);
        model_free(&m);
    }
}

// ----------------------------------------------------------------------------------------------
// One copy of the weights

// Float weights are used where the mapped file holds them (no engine copies them); bfloat16
// weights are copied once, shared by every engine of the model, and freed with the last.
Test(engine, engines_share_one_copy_of_the_weights) {
    Model m;
    load_shape(&m, 0);
    KvError err = {0};
    Engine a, b;
    cr_assert_eq(engine_init(&a, &m, &err), KV_OK, "%s", err.msg);
    cr_assert(!a.packed_bf16 && a.mw.wq == (const void *)m.w.wq && a.mw.wcls == m.w.wcls,
              "float weights are the model's own");
    const char *lo = m.map, *hi = lo + m.map_bytes;
    cr_assert((const char *)m.w.wq > lo && (const char *)m.w.wq < hi, "weights in the mapped file");
    cr_assert_eq(model_bf16_users(&m), 0);
    engine_free(&a);

    model_round_bf16(&m);
    cr_assert_eq(engine_init(&a, &m, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(engine_init(&b, &m, &err), KV_OK, "%s", err.msg);
    cr_assert(a.packed_bf16 && b.packed_bf16);
    cr_assert_eq(a.mw.wq, b.mw.wq, "two engines, one bfloat16 copy");
    cr_assert_eq(model_bf16_users(&m), 2);
    engine_pack(&b, false); // b back to the floats: one user left
    cr_assert_eq(model_bf16_users(&m), 1);
    cr_assert_eq(b.mw.wq, (const void *)m.w.wq);
    engine_free(&a);
    cr_assert_eq(model_bf16_users(&m), 0, "the last user frees the copy");
    engine_free(&b);
    model_free(&m);
}
