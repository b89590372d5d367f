// test_paged.c — the paged layout of the KV cache (kvpaged.c) on small random models: one
// sequence in blocks gives the contiguous cache's logits and attention bit for bit, whatever the
// block size (dividing the length or not); the pool's reference counts, prefix sharing through
// the chain hash, forks and copy-on-write; and the kinds paging refuses.
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(paged, .fini = tu_leak_check);

// dim, hidden, layers, heads, kv heads, vocab, seq_len, shared classifier
static const ModelConfig gqa = {64, 160, 3, 8, 2, 257, 96, false};
static const ModelConfig mha = {32, 64, 2, 4, 4, 64, 96, true};
static const ModelConfig texts = {32, 64, 2, 4, 4, 400, 96, true}; // tu_tokenizer's pieces

static void load(Model *m, const ModelConfig *c, uint64_t seed) {
    KvError err = {0};
    cr_assert_eq(tu_model_random(m, c, seed, &err), KV_OK, "%s", err.msg);
}

static void ids(int *tokens, int n, int v, uint64_t seed) {
    uint64_t rng = seed;
    tokens[0] = TOKEN_BOS;
    for (int i = 1; i < n; i++)
        tokens[i] = 3 + (int)(kv_rng_u32(&rng) % (uint32_t)(v - 3));
}

static KvCacheKind paged_kind(int block) {
    KvCacheKind k = KV_CACHE_DENSE;
    k.layout = KV_LAYOUT_PAGED;
    k.block = block;
    return k;
}

// ----------------------------------------------------------------------------------------------
// One sequence: paged is contiguous, bit for bit

// Blocks a table of kind k (blocks of B rows) holds after len positions: those with a row the
// retention keeps (full: every position; window: the W newest; sinks: the S first and the W
// newest; h2o: its min(len, H + R) slots).
static int blocks_held(KvCacheKind k, int len) {
    const int B = k.block;
    if (k.retention == KV_RETAIN_H2O)
        return ((len < k.heavy + k.recent ? len : k.heavy + k.recent) + B - 1) / B;
    if (k.retention == KV_RETAIN_FULL)
        return (len + B - 1) / B;
    const int sinks = k.retention == KV_RETAIN_SINKS ? k.sinks : 0, oldest = len - k.window;
    int n = 0;
    for (int i = 0; i * B < len; i++)
        n += i * B < sinks || (i + 1) * B > oldest;
    return n;
}

// Blocks given back to the pool after len positions: every block wholly between the sinks and
// the window, floor((len - W) / B) - ceil(S / B) of them (S = 0 for window); none for full, h2o.
static int blocks_retired(KvCacheKind k, int len) {
    if (!kv_kind_unbounded_positions(k) || len <= k.window)
        return 0;
    const int sink_blocks = k.retention == KV_RETAIN_SINKS ? (k.sinks + k.block - 1) / k.block : 0;
    const int n = (len - k.window) / k.block - sink_blocks;
    return n > 0 ? n : 0;
}

// Bytes of one block of B positions: key and value rows of HS values in precision p, with their
// scales (int8: one float; int4: a scale and a zero point), every layer and kv head.
static size_t block_bytes(const ModelConfig *c, KvPrecision p, int B) {
    const size_t hs = (size_t)config_head_size(c);
    const size_t row = p == KV_PRECISION_F32    ? 4 * hs
                       : p == KV_PRECISION_BF16 ? 2 * hs
                       : p == KV_PRECISION_INT8 ? hs + 4
                                                : hs / 2 + 8;
    return 2 * (size_t)c->n_layers * (size_t)c->n_kv_heads * (size_t)B * row;
}

// A prompt of n_prompt, then one cached step per token up to len_max (teacher-forced; past the
// context for window and sinks), contiguous and paged with blocks of `block`, both of kind k:
// identical logits, attention and counters on every step, the blocks held and given back and the
// bytes reserved equal to their closed forms. packed: attention reads the rows where they are
// stored (the paged row map); otherwise as floats (gathered through the table).
static void kind_same_as_contiguous(const ModelConfig *c, KvCacheKind k, int block, int n_prompt,
                                    int len_max, bool packed) {
    Model m;
    load(&m, c, 17);
    KvError err = {0};
    Engine a, b;
    cr_assert_eq(engine_init(&a, &m, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(engine_init(&b, &m, &err), KV_OK, "%s", err.msg);
    engine_set_attend_packed(&a, packed);
    engine_set_attend_packed(&b, packed);
    k.layout = KV_LAYOUT_CONTIGUOUS;
    engine_set_cache_kind(&a, k);
    k.layout = KV_LAYOUT_PAGED;
    k.block = block;
    cr_assert(engine_set_cache_kind(&b, k));
    cr_assert_not_null(b.cache.paged);
    char name[64];
    kv_retention_name(k, name, sizeof name);
    const char *prec = kv_precision_name(k.precision);
    const int L = c->n_layers, H = c->n_heads;
    int *tokens = malloc((size_t)len_max * sizeof *tokens);
    ids(tokens, len_max, c->vocab_size, 9);
    float *wa = calloc((size_t)L * H * len_max * len_max, sizeof(float));
    float *wb = calloc((size_t)L * H * len_max * len_max, sizeof(float));
    const size_t gather = 2 * (size_t)c->n_kv_heads * (size_t)c->seq_len *
                          (size_t)config_head_size(c) * sizeof(float);
    for (int len = n_prompt; len <= len_max; len++) {
        const int row0 = len == n_prompt ? 0 : len - 1, rows = len - row0;
        AttnSink sa = {wa, row0, rows, len}, sb = {wb, row0, rows, len};
        Counters ca = {0}, cb = {0};
        engine_step(&a, tokens, len, CACHE_MODE_ON, &sa, &ca);
        engine_step(&b, tokens, len, CACHE_MODE_ON, &sb, &cb);
        cr_assert(memcmp(a.logits, b.logits, (size_t)c->vocab_size * sizeof(float)) == 0,
                  "%s %s B=%d: logits differ at length %d", name, prec, block, len);
        cr_assert(memcmp(wa, wb, (size_t)L * H * rows * len * sizeof(float)) == 0,
                  "%s %s B=%d: attention differs at length %d", name, prec, block, len);
        cr_assert(memcmp(&ca, &cb, sizeof ca) == 0, "%s %s B=%d: counters differ at length %d",
                  name, prec, block, len);
        cr_assert_eq(kvpaged_blocks(&b.cache), blocks_held(k, len), "%s %s B=%d: length %d", name,
                     prec, block, len);
        cr_assert_eq(b.cache.paged->pool->retired, (uint64_t)blocks_retired(k, len),
                     "%s %s B=%d: length %d", name, prec, block, len);
        cr_assert_eq(kvcache_bytes_reserved(&b.cache),
                     (size_t)blocks_held(k, len) * block_bytes(c, k.precision, block) + gather);
        cr_assert_eq(kvcache_bytes_resident(&a.cache), kvcache_bytes_resident(&b.cache));
    }
    free(wa);
    free(wb);
    free(tokens);
    engine_free(&a);
    engine_free(&b);
    model_free(&m);
}

static void same_as_contiguous(const ModelConfig *c, int block, int n_prompt, int len_max) {
    kind_same_as_contiguous(c, KV_CACHE_DENSE, block, n_prompt, len_max, true);
}

Test(paged, one_sequence_equals_contiguous_bit_for_bit, .timeout = 120) {
    same_as_contiguous(&gqa, 16, 13, 61); // 61 = 3 * 16 + 13: the last block part full
    same_as_contiguous(&gqa, 7, 5, 50);   // 7 divides neither the prompt nor the length
    same_as_contiguous(&mha, 1, 3, 20);   // a block per position
    same_as_contiguous(&mha, 5, 29, 96);  // a long prefill over six blocks, to the context
    same_as_contiguous(&mha, 96, 4, 40);  // one block is the whole context
}

// A session's logits after `steps` steps, `back` steps back and as many forward again equal the
// logits it had: going back and forward is exact. The session is freed.
static void back_and_forward_is_exact(Model *m, Tokenizer *t, Session *s, int steps, int back) {
    for (int i = 0; i < steps; i++)
        cr_assert(session_step(s));
    cr_assert_eq(s->eng.cache.kind.layout, KV_LAYOUT_PAGED);
    const size_t v = (size_t)texts.vocab_size * sizeof(float);
    float *logits = malloc(v);
    memcpy(logits, s->eng.logits, v);
    const int n = s->n_tokens;
    for (int i = 0; i < back; i++)
        cr_assert(session_back(s));
    for (int i = 0; i < back; i++)
        cr_assert(session_step(s));
    cr_assert_eq(s->n_tokens, n);
    cr_assert(memcmp(logits, s->eng.logits, v) == 0);
    free(logits);
    tu_session_close(m, t, s);
}

// A session over a random model of shape `texts`, at the prompt "ab ba ab".
static void session_open(Model *m, Tokenizer *t, Session *s) {
    KvError err = {0};
    cr_assert_eq(tu_session_open(m, t, s, &texts, 3, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_prompt(s, "ab ba ab", &err), KV_OK, "%s", err.msg);
}

// Stepping back and forward in a session over a paged cache is exact, as in the contiguous one.
Test(paged, session_back_and_forward_is_exact, .timeout = 60) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    session_open(&m, &t, &s);
    cr_assert_eq(session_set_paged(&s, 3, &err), KV_OK, "%s", err.msg);
    back_and_forward_is_exact(&m, &t, &s, 12, 5);
}

// Every retention with every row precision, over several block sizes that divide neither the
// prompt nor the length, for a run past the context where the retention allows it.
static KvCacheKind kind_of(KvRetention r, KvPrecision p) {
    KvCacheKind k = KV_CACHE_DENSE;
    k.retention = r;
    k.precision = p;
    if (r == KV_RETAIN_WINDOW)
        k.window = 24;
    if (r == KV_RETAIN_SINKS)
        k.sinks = 6, k.window = 20;
    if (r == KV_RETAIN_H2O)
        k.heavy = 12, k.recent = 10;
    return k;
}

static void every_precision(KvRetention r, int len_max) {
    static const KvPrecision precisions[] = {KV_PRECISION_F32, KV_PRECISION_BF16, KV_PRECISION_INT8,
                                             KV_PRECISION_INT4};
    static const int blocks[] = {5, 7, 16};
    for (size_t p = 0; p < sizeof precisions / sizeof *precisions; p++)
        for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++)
            kind_same_as_contiguous(&mha, kind_of(r, precisions[p]), blocks[i], 13, len_max, true);
    // attention over the rows as floats (gathered through the table) gives the same too
    kind_same_as_contiguous(&gqa, kind_of(r, KV_PRECISION_INT4), 7, 9, len_max, false);
}

Test(paged, full_retention_every_precision_equals_contiguous, .timeout = 240) {
    every_precision(KV_RETAIN_FULL, 96);
}

Test(paged, window_every_precision_equals_contiguous_and_gives_blocks_back, .timeout = 240) {
    every_precision(KV_RETAIN_WINDOW, 150);
}

Test(paged, sinks_every_precision_equals_contiguous_and_gives_blocks_back, .timeout = 240) {
    every_precision(KV_RETAIN_SINKS, 150);
}

Test(paged, h2o_every_precision_equals_contiguous, .timeout = 240) {
    every_precision(KV_RETAIN_H2O, 96);
}

// Stepping back and forward over a windowed int8 paged cache whose first blocks went back to the
// pool: the blocks are taken again and the rows put back, exactly.
Test(paged, window_back_and_forward_is_exact, .timeout = 60) {
    Model m;
    Tokenizer t;
    Session s;
    KvError err = {0};
    session_open(&m, &t, &s);
    KvCacheKind k = kind_of(KV_RETAIN_WINDOW, KV_PRECISION_INT8);
    k.window = 10;
    cr_assert_eq(session_set_cache(&s, k, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_kv(&s, KV_PRECISION_INT8, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(session_set_paged(&s, 3, &err), KV_OK, "%s", err.msg);
    for (int i = 0; i < 30; i++)
        cr_assert(session_step(&s));
    cr_assert_eq(s.eng.cache.kind.retention, KV_RETAIN_WINDOW);
    cr_assert_gt(s.eng.cache.paged->pool->retired, 0ull);
    back_and_forward_is_exact(&m, &t, &s, 0, 12);
}

Test(paged, kivi_is_refused_with_why) {
    KvError err = {0};
    KvCacheKind k = paged_kind(16);
    cr_assert_eq(kv_kind_combine_check("--kv", "--cache ", k, &err), KV_OK);
    for (KvPrecision p = KV_PRECISION_F32; p <= KV_PRECISION_INT4; p++) {
        k.precision = p;
        for (KvRetention r = KV_RETAIN_FULL; r <= KV_RETAIN_H2O; r++) {
            k.retention = r;
            cr_assert_eq(kv_paged_check("--paged", k, &err), KV_OK);
        }
    }
    k.retention = KV_RETAIN_FULL;
    k.precision = KV_PRECISION_KIVI2;
    cr_assert_eq(kv_kind_combine_check("--kv", "--cache ", k, &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "--kv: a paged cache cannot hold kivi2: KIVI quantizes keys per "
                              "channel over groups of 32 positions") != NULL,
              "%s", err.msg);
}

// ----------------------------------------------------------------------------------------------
// The pool: blocks, references, sharing, copy-on-write

// A pass of one sequence over positions kvcache_len .. len-1 of tokens; its logits in b->logits.
static void pass(Engine *e, EngineBatch *b, KvCache *kc, const int *tokens, int len,
                 Counters *ctr) {
    const int pos0 = kvcache_len(kc), n = len - pos0;
    KvCache **cache = malloc((size_t)n * sizeof *cache);
    int *pos = malloc((size_t)n * sizeof *pos);
    for (int i = 0; i < n; i++)
        cache[i] = kc, pos[i] = pos0 + i;
    cr_assert(kvpaged_reserve(kc, len), "the pool has no room for %d positions", len);
    cr_assert_eq(engine_forward_batch(e, b, cache, tokens + pos0, pos, n, ctr), 1);
    free(cache);
    free(pos);
}

// The logits a contiguous cache gives for the sequence tokens[0 .. len).
static void reference(const Model *m, const int *tokens, int len, float *out) {
    KvError err = {0};
    Engine e;
    cr_assert_eq(engine_init(&e, m, &err), KV_OK, "%s", err.msg);
    engine_step(&e, tokens, len, CACHE_MODE_ON, NULL, NULL);
    memcpy(out, e.logits, (size_t)m->cfg.vocab_size * sizeof(float));
    engine_free(&e);
}

static void expect_all_free(const KvPool *p) {
    cr_assert_eq(p->n_free, p->n_blocks);
    for (int b = 0; b < p->n_blocks; b++) {
        cr_assert_eq(p->ref[b], 0, "block %d still held", b);
        cr_assert_eq(p->hash[b], 0ull, "block %d still registered", b);
    }
}

// A model, an engine, a batch and a pool of n_blocks blocks of `block` positions over shape c.
typedef struct {
    Model m;
    Engine e;
    EngineBatch b;
    KvPool pool;
} PoolBench;

static void pool_open(PoolBench *f, const ModelConfig *c, uint64_t seed, int n_blocks, int block) {
    load(&f->m, c, seed);
    KvError err = {0};
    cr_assert_eq(engine_init(&f->e, &f->m, &err), KV_OK, "%s", err.msg);
    batch_init(&f->b, c);
    kvpool_init(&f->pool, c, n_blocks, block);
}

static void pool_close(PoolBench *f) {
    kvpool_free(&f->pool);
    batch_free(&f->b);
    engine_free(&f->e);
    model_free(&f->m);
}

// Five sequences of different lengths over one pool: each prefilled alone, then decoded together
// one row each, for 20 steps. Every sequence's logits equal its own contiguous run bit for bit.
Test(paged, many_sequences_batched_equal_their_own_runs, .timeout = 120) {
    PoolBench f;
    pool_open(&f, &gqa, 23, 64, 5);
    enum { S = 5, STEPS = 20 };
    const int prompt[S] = {3, 11, 1, 17, 9};
    int tokens[S][64];
    KvCache kc[S];
    const size_t v = (size_t)gqa.vocab_size;
    float *want = malloc(v * sizeof(float));
    for (int i = 0; i < S; i++) {
        ids(tokens[i], 64, gqa.vocab_size, 100 + (uint64_t)i);
        kvcache_init_pooled(&kc[i], &gqa, &f.pool);
        pass(&f.e, &f.b, &kc[i], tokens[i], prompt[i], NULL);
        reference(&f.m, tokens[i], prompt[i], want);
        cr_assert(memcmp(f.b.logits, want, v * sizeof(float)) == 0, "prefill %d", i);
    }
    for (int step = 0; step < STEPS; step++) {
        KvCache *cache[S];
        int tok[S], pos[S];
        for (int i = 0; i < S; i++) {
            cache[i] = &kc[i];
            pos[i] = kvcache_len(&kc[i]);
            tok[i] = tokens[i][pos[i]];
            cr_assert(kvpaged_reserve(&kc[i], pos[i] + 1));
        }
        cr_assert_eq(engine_forward_batch(&f.e, &f.b, cache, tok, pos, S, NULL), S);
        for (int i = 0; i < S; i++) {
            reference(&f.m, tokens[i], pos[i] + 1, want);
            cr_assert(memcmp(f.b.logits + (size_t)i * v, want, v * sizeof(float)) == 0,
                      "sequence %d, step %d", i, step);
        }
    }
    int held = 0;
    for (int i = 0; i < S; i++) {
        cr_assert_eq(kvpaged_blocks(&kc[i]), (prompt[i] + STEPS + 4) / 5);
        held += kvpaged_blocks(&kc[i]);
    }
    cr_assert_eq(kvpool_used(&f.pool), held);
    for (int i = 0; i < S; i++)
        kvcache_free(&kc[i]);
    expect_all_free(&f.pool);
    free(want);
    pool_close(&f);
}

// A second sequence whose first 18 tokens equal the first's shares its full blocks (4 of 4
// positions: 0 .. 15), computes only the rest, and gets the logits of a run of its own.
Test(paged, a_shared_prefix_is_not_computed_again, .timeout = 60) {
    PoolBench f;
    pool_open(&f, &mha, 29, 32, 4);
    int ta[40], tb[40];
    ids(ta, 40, mha.vocab_size, 1);
    memcpy(tb, ta, sizeof tb);
    tb[18] = ta[18] == 5 ? 6 : 5; // differs from position 18 on
    KvCache a, c;
    kvcache_init_pooled(&a, &mha, &f.pool);
    kvcache_init_pooled(&c, &mha, &f.pool);
    Counters ca = {0}, cc = {0};
    pass(&f.e, &f.b, &a, ta, 23, &ca);
    cr_assert_eq(kvpaged_share_prefix(&c, tb, 23), 0); // nothing registered yet
    kvpaged_register(&a, ta);
    for (int i = 0; i < 5; i++) // 0..19: five full blocks of a registered
        cr_assert_neq(f.pool.hash[kvpaged_block(&a, i)], 0ull, "block %d", i);
    cr_assert_eq(kvpaged_share_prefix(&c, tb, 23), 16);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(kvpaged_block(&c, i), kvpaged_block(&a, i));
        cr_assert_eq(f.pool.ref[kvpaged_block(&a, i)], 2);
    }
    pass(&f.e, &f.b, &c, tb, 23, &cc);
    float want[64];
    reference(&f.m, tb, 23, want);
    cr_assert(memcmp(f.b.logits, want, sizeof want) == 0);
    // what it computed: positions 16 .. 22 and one classifier row, as the closed form says
    uint64_t rest[FLOP_COMPONENTS], full[FLOP_COMPONENTS];
    tu_flops(&mha, 16, 7, 1, rest);
    tu_flops(&mha, 0, 16, 0, full);
    uint64_t saved = 0;
    for (int k = 0; k < FLOP_COMPONENTS; k++) {
        cr_assert_eq(cc.flops[k], rest[k], "%s", flop_component_names[k]);
        saved += ca.flops[k] - cc.flops[k];
    }
    uint64_t closed = 0;
    for (int k = 0; k < FLOP_COMPONENTS; k++)
        closed += full[k];
    cr_assert_eq(saved, closed);               // the 16 shared positions, exactly
    cr_assert_eq(kvpool_used(&f.pool), 6 + 2); // a's 6 blocks, c's own 16..19 and 20..22
    // a prompt of exactly 16 + 1 tokens shares 16; of exactly 16 it shares 12 (one left to run)
    KvCache d;
    kvcache_init_pooled(&d, &mha, &f.pool);
    cr_assert_eq(kvpaged_share_prefix(&d, ta, 17), 16);
    kvpaged_release(&d);
    cr_assert_eq(kvpaged_share_prefix(&d, ta, 16), 12);
    kvcache_free(&d);
    kvcache_free(&a);
    kvcache_free(&c);
    expect_all_free(&f.pool);
    pool_close(&f);
}

// The prefix cache: a finished sequence's registered blocks stay findable while free, are taken
// last (other free blocks first), and a later sequence with the same prefix takes them back
// (counted) and gets the logits of a run of its own; once the pool needs them they are written
// over and no longer found.
Test(paged, the_prefix_cache_revives_freed_blocks, .timeout = 60) {
    PoolBench f;
    pool_open(&f, &mha, 29, 8, 4);
    f.pool.keep_freed = true;
    int ta[40];
    ids(ta, 40, mha.vocab_size, 1);
    KvCache a, c, d;
    kvcache_init_pooled(&a, &mha, &f.pool);
    pass(&f.e, &f.b, &a, ta, 23, NULL); // blocks 0..5, 0..4 full and registered
    kvpaged_register(&a, ta);
    kvcache_free(&a);
    cr_assert_eq(f.pool.n_free, 8);
    // another sequence takes a block: the free one that holds no prefix
    kvcache_init_pooled(&d, &mha, &f.pool);
    cr_assert(kvpaged_reserve(&d, 4));
    cr_assert_eq(f.pool.hash[kvpaged_block(&d, 0)], 0ull);
    kvcache_init_pooled(&c, &mha, &f.pool);
    cr_assert_eq(kvpaged_share_prefix(&c, ta, 23), 20);
    cr_assert_eq(f.pool.revived, 5ull);
    pass(&f.e, &f.b, &c, ta, 24, NULL);
    float want[64];
    reference(&f.m, ta, 24, want);
    cr_assert(memcmp(f.b.logits, want, sizeof want) == 0);
    kvcache_free(&c);
    // d takes every block: the kept prefixes are written over, and forgotten
    cr_assert(kvpaged_reserve(&d, 32));
    kvpaged_release(&d);
    kvcache_init_pooled(&c, &mha, &f.pool);
    cr_assert_eq(kvpaged_share_prefix(&c, ta, 23), 0);
    cr_assert_eq(f.pool.revived, 5ull);
    kvcache_free(&c);
    kvcache_free(&d);
    for (int b = 0; b < f.pool.n_blocks; b++)
        cr_assert_eq(f.pool.ref[b], 0);
    cr_assert_eq(f.pool.n_free, f.pool.n_blocks);
    pool_close(&f);
}

// A fork holds every block of its parent; the parent's next write into the shared last block
// copies it, and the fork's rows (and next logits) stay what they were.
Test(paged, copy_on_write_leaves_the_other_sequence_unchanged, .timeout = 60) {
    PoolBench f;
    pool_open(&f, &mha, 31, 16, 4);
    int ta[32], tc[32];
    ids(ta, 32, mha.vocab_size, 3);
    memcpy(tc, ta, sizeof tc);
    tc[10] = ta[10] == 7 ? 8 : 7; // the samples differ from their first generated token
    KvCache a, c;
    kvcache_init_pooled(&a, &mha, &f.pool);
    kvcache_init_pooled(&c, &mha, &f.pool);
    pass(&f.e, &f.b, &a, ta, 10, NULL); // blocks 0..7, and 8..9 of the third
    kvpaged_fork(&c, &a);
    cr_assert_eq(kvcache_len(&c), 10);
    cr_assert_eq(kvpool_used(&f.pool), 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(f.pool.ref[kvpaged_block(&a, i)], 2);
    // c's rows as attention reads them, before a writes
    const int L = mha.n_layers, G = mha.n_kv_heads, HS = config_head_size(&mha);
    const size_t per = (size_t)10 * HS;
    float *before = malloc((size_t)L * G * 2 * per * sizeof(float));
    for (int l = 0; l < L; l++)
        for (int g = 0; g < G; g++) {
            KvHeadRows r = kvcache_head(&c, l, g, 9);
            memcpy(before + ((size_t)(l * G + g) * 2) * per, r.keys, per * sizeof(float));
            memcpy(before + ((size_t)(l * G + g) * 2 + 1) * per, r.values, per * sizeof(float));
        }
    const int shared = kvpaged_block(&a, 2);
    cr_assert_eq(kvpaged_need(&a, 11), 1); // the copy of the shared last block
    pass(&f.e, &f.b, &a, ta, 11, NULL);
    cr_assert_eq(f.pool.copies, 1ull);
    cr_assert_neq(kvpaged_block(&a, 2), shared);
    cr_assert_eq(kvpaged_block(&c, 2), shared);
    cr_assert_eq(f.pool.ref[shared], 1);
    cr_assert_eq(kvpaged_block(&a, 0), kvpaged_block(&c, 0)); // the full blocks stay shared
    for (int l = 0; l < L; l++)
        for (int g = 0; g < G; g++) {
            KvHeadRows r = kvcache_head(&c, l, g, 9);
            cr_assert(
                memcmp(before + ((size_t)(l * G + g) * 2) * per, r.keys, per * sizeof(float)) == 0);
            cr_assert(memcmp(before + ((size_t)(l * G + g) * 2 + 1) * per, r.values,
                             per * sizeof(float)) == 0);
        }
    float want[64];
    reference(&f.m, ta, 11, want);
    cr_assert(memcmp(f.b.logits, want, sizeof want) == 0);
    cr_assert_eq(kvpaged_need(&c, 11), 0); // its block is its own now
    pass(&f.e, &f.b, &c, tc, 11, NULL);
    reference(&f.m, tc, 11, want);
    cr_assert(memcmp(f.b.logits, want, sizeof want) == 0);
    cr_assert_eq(f.pool.copies, 1ull);
    free(before);
    kvcache_free(&a);
    kvcache_free(&c);
    expect_all_free(&f.pool);
    pool_close(&f);
}
