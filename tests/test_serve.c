// test_serve.c — the serving session (src/sim/serve.c) on small random models: the scheduler's
// decisions on scripted workloads equal hand-written traces (admission, blocks, preemption and
// recompute, prefix sharing, forks and copy-on-write, completion); a preempted request's text is
// the text it gets without preemption; the FLOPs sharing saves are the difference of two real runs
// and their closed form; the pool's figures each step; 10,000 random requests leave every
// reference at zero and no block behind; and a lesson's cost counts its serving steps.
#include "lesson/lesson.h"
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(serve, .fini = tu_leak_check);

static const ModelConfig small = {32, 64, 2, 4, 2, 400, 64, false};

typedef struct {
    Model m;
    Tokenizer t;
} Bench;

static void open_bench(Bench *b, const ModelConfig *c, uint64_t seed) {
    KvError err = {0};
    cr_assert_eq(tu_model_random(&b->m, c, seed, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tu_tokenizer(&b->t, c->vocab_size, &err), KV_OK, "%s", err.msg);
}

static void close_bench(Bench *b) {
    tokenizer_free(&b->t);
    model_free(&b->m);
}

static void add(Serve *s, int arrival, int max_new, int samples, float temperature,
                const char *prompt) {
    ServeRequest r = {.arrival = arrival,
                      .max_new = max_new,
                      .samples = samples,
                      .sampler = {temperature, 0.9f, 0, 42}};
    snprintf(r.prompt, sizeof r.prompt, "%s", prompt);
    KvError err = {0};
    cr_assert_eq(serve_add(s, &r, "request", &err), KV_OK, "%s", err.msg);
}

// One request of a script: arrival step, new tokens at most, samples, temperature, prompt.
typedef struct {
    int arrival, max_new, samples;
    float temperature;
    const char *prompt;
} Req;

// A serving session over `blocks` blocks of `block` positions with the n requests of a script.
static void open_script(Serve *s, const Bench *b, int blocks, int block, bool sharing,
                        const Req *req, int n) {
    serve_init(s, &b->m, &b->t, blocks, block, sharing);
    for (int i = 0; i < n; i++)
        add(s, req[i].arrival, req[i].max_new, req[i].samples, req[i].temperature, req[i].prompt);
}

static void run_all(Serve *s) {
    for (int guard = 0; serve_step(s); guard++)
        cr_assert(guard < 100000, "the session does not end");
    cr_assert(!s->fault);
}

// ----------------------------------------------------------------------------------------------
// Scripted workloads

// Three requests over 6 blocks of 4 positions, no sharing. Prompts of 5, 5 and 3 tokens
// (BOS, the dummy space, the merged pieces). By hand:
//   step 0  r0, r1 admitted: 5 positions each, 2 blocks each (0..3, 4..7); 2 left
//   step 1  r2 arrives, admitted: 1 block; r0, r1 decode position 5 (in their second block)
//   step 2  everyone decodes in the blocks they hold (r0, r1 at 6; r2 at 3)
//   step 3  r0, r1 at 7; r2 at 4 crosses a boundary: the last free block (5)
//   step 4  r0 and r1 at 8 need a block each, none is free: r2, admitted last, is preempted
//           (blocks 4 and 5 back, 5 on top); r0 takes 5, r1 takes 4
//   step 5  r0, r1 at 9: their sixth new token, the limit: finished. r2 still waits: the pool
//           was full when this step admitted
//   step 6  r2 admitted again: its 6 tokens recomputed (2 blocks), its fourth new token: done
Test(serve, preemption_trace_equals_the_hand_written_one, .timeout = 60) {
    Bench b;
    open_bench(&b, &small, 7);
    static const Req three[] = {
        {0, 6, 1, 0.0f, "ab ab"}, {0, 6, 1, 0.0f, "ba bab"}, {1, 4, 1, 0.0f, "cd"}};
    Serve s;
    open_script(&s, &b, 6, 4, false, three, 3);
    const int used[] = {4, 5, 5, 6, 6, 0, 0}, running[] = {2, 3, 3, 3, 2, 0, 0};
    const int waiting[] = {0, 0, 0, 0, 1, 1, 0}, tokens[] = {2, 3, 3, 3, 2, 2, 1};
    for (int k = 0; k < 7; k++) {
        cr_assert(serve_step(&s));
        cr_assert_eq(s.last.blocks_used, used[k], "step %d", k);
        cr_assert_eq(s.last.blocks_free, 6 - used[k], "step %d", k);
        cr_assert_eq(s.last.running, running[k], "step %d", k);
        cr_assert_eq(s.last.waiting, waiting[k], "step %d", k);
        cr_assert_eq(s.last.tokens, (uint64_t)tokens[k], "step %d", k);
    }
    cr_assert(!serve_step(&s));
    cr_assert_str_eq(s.log, "step 0: arrive r0.0\n"
                            "step 0: arrive r1.0\n"
                            "step 0: admit r0.0 prefill=5 shared=0 blocks=2 free=4\n"
                            "step 0: admit r1.0 prefill=5 shared=0 blocks=2 free=2\n"
                            "step 1: arrive r2.0\n"
                            "step 1: admit r2.0 prefill=3 shared=0 blocks=1 free=1\n"
                            "step 3: block r2.0 +5\n"
                            "step 4: preempt r2.0 free=2\n"
                            "step 4: block r0.0 +5\n"
                            "step 4: block r1.0 +4\n"
                            "step 5: finish r0.0 limit tokens=6\n"
                            "step 5: finish r1.0 limit tokens=6\n"
                            "step 6: admit r2.0 recompute=6 shared=0 blocks=2 free=4\n"
                            "step 6: finish r2.0 limit tokens=4\n");
    cr_assert_eq(s.total.preemptions, 1ull);
    cr_assert_eq(s.total.recomputed, 5ull); // positions 0..4 again; 5 was never stored
    cr_assert_eq(s.total.tokens, 16ull);
    cr_assert_eq(s.total.prefill, 5ull + 5 + 3 + 6);
    cr_assert_eq(s.total.decoded, 2ull + 3 + 3 + 2 + 2); // steps 1..5
    // the recompute pass: positions 0..5 and one classifier row, the closed form
    uint64_t f[FLOP_COMPONENTS], redo = 0;
    tu_flops(&small, 0, 6, 1, f);
    for (int k = 0; k < FLOP_COMPONENTS; k++)
        redo += f[k];
    cr_assert_eq(s.total.flops_recompute, redo);
    // the preempted request's text is the one it gets in a pool that never preempts
    char with[256], without[256];
    serve_text(&s, 2, with, sizeof with);
    Serve big;
    open_script(&big, &b, 16, 4, false, three, 3);
    run_all(&big);
    cr_assert_eq(big.total.preemptions, 0ull);
    serve_text(&big, 2, without, sizeof without);
    cr_assert_str_eq(with, without);
    cr_assert_eq(s.seq[2].n_tokens, big.seq[2].n_tokens);
    cr_assert(memcmp(s.seq[2].tokens, big.seq[2].tokens, (size_t)s.seq[2].n_tokens * 4) == 0);
    serve_free(&big);
    serve_free(&s);
    close_bench(&b);
}

// Prefix sharing and parallel samples over 12 blocks of 4. Prompts: r0 = BOS + 8 tokens (9),
// r1 = r0's 9 + 2 more (11), r2 = r0's first 7, three samples at temperature 1. By hand:
//   step 0  r0 admitted: 3 blocks (0, 1 full and registered; 2 holds position 8)
//   step 1  r1 shares r0's blocks 0 and 1 (positions 0..7; its 11 tokens may share full blocks
//           inside 0..9), computes 8..10 in a block of its own (3). r2.0 shares block 0 and
//           computes 4..6 (block 4); r2.1 and r2.2 fork its table: blocks 0 and 4 held 5 and 3
//           times
//   step 2  r2.0 writes position 7 into block 4, which r2.1 and r2.2 hold: copied to 5; r2.1
//           then copies it too (6); r2.2 holds block 4 alone and writes in place. r0 finishes
//   step 3  position 12 of r1 and 8 of each sample cross a boundary: blocks 2 (r0's, free
//           again), 7, 8, 9. Everyone reaches three new tokens (r2.1 by drawing EOS)
Test(serve, sharing_trace_equals_the_hand_written_one, .timeout = 60) {
    Bench b;
    open_bench(&b, &small, 7);
    static const Req three[] = {{0, 3, 1, 0.0f, "ab ab ab ab"},
                                {1, 3, 1, 0.0f, "ab ab ab ab cd"},
                                {1, 3, 3, 1.0f, "ab ab ab"}};
    Serve s;
    open_script(&s, &b, 12, 4, true, three, 3);
    const int used[] = {3, 5, 6, 0}, shared[] = {0, 3, 1, 0}, saved[] = {0, 7, 3, 0};
    const int unused[] = {3, 4, 0, 0};
    for (int k = 0; k < 4; k++) {
        cr_assert(serve_step(&s));
        cr_assert_eq(s.last.blocks_used, used[k], "step %d", k);
        cr_assert_eq(s.last.blocks_shared, shared[k], "step %d", k);
        cr_assert_eq(s.last.blocks_saved, saved[k], "step %d", k);
        cr_assert_eq(s.last.slots_unused, (uint64_t)unused[k], "step %d", k);
    }
    cr_assert(!serve_step(&s));
    cr_assert_str_eq(s.log, "step 0: arrive r0.0\n"
                            "step 0: admit r0.0 prefill=9 shared=0 blocks=3 free=9\n"
                            "step 1: arrive r1.0\n"
                            "step 1: arrive r2.0\n"
                            "step 1: arrive r2.1\n"
                            "step 1: arrive r2.2\n"
                            "step 1: admit r1.0 prefill=3 shared=8 blocks=3 free=8\n"
                            "step 1: admit r2.0 prefill=3 shared=4 blocks=2 free=7\n"
                            "step 1: fork r2.1 from r2.0 blocks=2\n"
                            "step 1: fork r2.2 from r2.0 blocks=2\n"
                            "step 2: copy r2.0 4->5\n"
                            "step 2: copy r2.1 4->6\n"
                            "step 2: finish r0.0 limit tokens=3\n"
                            "step 3: block r1.0 +2\n"
                            "step 3: block r2.0 +7\n"
                            "step 3: block r2.1 +8\n"
                            "step 3: block r2.2 +9\n"
                            "step 3: finish r1.0 limit tokens=3\n"
                            "step 3: finish r2.0 limit tokens=3\n"
                            "step 3: finish r2.1 eos tokens=3\n"
                            "step 3: finish r2.2 limit tokens=3\n");
    cr_assert_eq(s.total.copies, 2ull);
    cr_assert_eq(s.total.shared, 8ull + 4 + 7 + 7);
    // FLOPs not computed: positions 0..7 of r1, 0..3 of r2.0, and each fork's whole prompt with
    // its classifier row
    uint64_t f[FLOP_COMPONENTS], want = 0;
    const int spans[4][3] = {{0, 8, 0}, {0, 4, 0}, {0, 7, 1}, {0, 7, 1}};
    for (int i = 0; i < 4; i++) {
        tu_flops(&small, spans[i][0], spans[i][1], spans[i][2], f);
        for (int k = 0; k < FLOP_COMPONENTS; k++)
            want += f[k];
    }
    cr_assert_eq(s.total.flops_saved, want);
    // and the same workload without sharing computes exactly that much more, for the same texts
    Serve alone;
    open_script(&alone, &b, 20, 4, false, three, 3);
    run_all(&alone);
    cr_assert_eq(alone.total.preemptions, 0ull);
    cr_assert_eq(alone.total.flops_saved, 0ull);
    cr_assert_eq(alone.total.flops - s.total.flops, s.total.flops_saved);
    for (int i = 0; i < s.n_seq; i++) {
        char x[256], y[256];
        serve_text(&s, i, x, sizeof x);
        serve_text(&alone, i, y, sizeof y);
        cr_assert_str_eq(x, y, "sequence %d", i);
    }
    serve_free(&alone);
    serve_free(&s);
    close_bench(&b);
}

// The contiguous preallocation of the same moment: every running sequence a whole context.
Test(serve, contiguous_accounting_follows_its_closed_form, .timeout = 60) {
    Bench b;
    open_bench(&b, &small, 7);
    static const Req two[] = {{0, 5, 1, 0.0f, "ab ab"}, {0, 5, 1, 0.0f, "ba bab"}};
    Serve s;
    open_script(&s, &b, 12, 4, false, two, 2);
    while (serve_step(&s)) {
        const ServeStepStats *st = &s.last;
        uint64_t held = 0;
        for (int k = 0; k < s.n_run; k++)
            held += (uint64_t)kvcache_len(&s.seq[s.run[k]].cache);
        cr_assert_eq(st->positions, held);
        cr_assert_eq(st->contig_reserved, (uint64_t)st->running * 64);
        cr_assert_eq(st->contig_unused, st->contig_reserved - held);
        cr_assert_eq(st->contig_fit, 12 * 4 / 64);
        // no sharing: each block's unused slots are those past its table's length
        uint64_t unused = 0;
        for (int k = 0; k < s.n_run; k++)
            unused += (uint64_t)kvpaged_blocks(&s.seq[s.run[k]].cache) * 4 -
                      (uint64_t)kvcache_len(&s.seq[s.run[k]].cache);
        cr_assert_eq(st->slots_unused, unused);
        cr_assert(st->slots_unused < 4ull * (uint64_t)(st->running > 0 ? st->running : 1));
    }
    serve_free(&s);
    close_bench(&b);
}

// ----------------------------------------------------------------------------------------------
// Many random requests

// The references the pool records equal the tables that hold each block, every step.
static void expect_consistent(const Serve *s) {
    const KvPool *p = &s->pool;
    int *refs = calloc((size_t)p->n_blocks, sizeof *refs);
    for (int k = 0; k < s->n_run; k++) {
        const KvCache *kc = &s->seq[s->run[k]].cache;
        cr_assert_eq(kvpaged_blocks(kc), (kvcache_len(kc) + p->block_size - 1) / p->block_size);
        for (int i = 0; i < kvpaged_blocks(kc); i++)
            refs[kvpaged_block(kc, i)]++;
    }
    int used = 0;
    for (int b = 0; b < p->n_blocks; b++) {
        cr_assert_eq(p->ref[b], refs[b], "block %d: %d references, %d tables", b, p->ref[b],
                     refs[b]);
        used += refs[b] > 0;
    }
    cr_assert_eq(used, p->n_blocks - p->n_free);
    free(refs);
}

Test(serve, ten_thousand_random_requests_leave_no_block_behind, .timeout = 600) {
    const ModelConfig tiny = {16, 16, 1, 2, 1, 400, 48, false};
    Bench b;
    open_bench(&b, &tiny, 3);
    uint64_t rng = 99;
    for (int round = 0; round < 2; round++) { // with sharing, then without
        Serve s;
        serve_init(&s, &b.m, &b.t, round ? 12 : 24, round ? 4 : 2, round == 0); // 48 positions
        int arrival = 0;
        for (int i = 0; i < 5000; i++) {
            char prompt[64];
            const int len = 1 + (int)(kv_rng_u32(&rng) % 20);
            for (int k = 0; k < len; k++) // a few letters and spaces: prompts share prefixes
                prompt[k] = "ab c"[kv_rng_u32(&rng) % 4];
            prompt[len] = '\0';
            arrival += (int)(kv_rng_u32(&rng) % 3 == 0);
            add(&s, arrival, 1 + (int)(kv_rng_u32(&rng) % 12), 1 + (int)(kv_rng_u32(&rng) % 3),
                (float)(kv_rng_u32(&rng) % 2), prompt);
        }
        for (int guard = 0; serve_step(&s); guard++) {
            cr_assert(guard < 200000, "the session does not end");
            expect_consistent(&s);
        }
        cr_assert(!s.fault);
        cr_assert(serve_done(&s));
        cr_assert_gt(s.total.preemptions, 0ull, "the pool should have been too small at times");
        cr_assert_eq(s.pool.n_free, s.pool.n_blocks);
        for (int blk = 0; blk < s.pool.n_blocks; blk++) {
            cr_assert_eq(s.pool.ref[blk], 0);
            cr_assert_eq(s.pool.hash[blk], 0ull);
        }
        for (int i = 0; i < s.n_seq; i++) {
            cr_assert_eq(s.seq[i].state, SEQ_FINISHED);
            cr_assert_eq(kvpaged_blocks(&s.seq[i].cache), 0);
        }
        serve_free(&s);
    }
    close_bench(&b);
}

// A request whose whole run could never fit in the pool is refused when it is added.
Test(serve, a_request_larger_than_the_pool_is_refused) {
    Bench b;
    open_bench(&b, &small, 7);
    Serve s;
    serve_init(&s, &b.m, &b.t, 2, 4, true);
    ServeRequest r = {.arrival = 0, .max_new = 20, .samples = 1, .sampler = {0, 0.9f, 0, 42}};
    snprintf(r.prompt, sizeof r.prompt, "ab ab");
    KvError err = {0};
    cr_assert_eq(serve_add(&s, &r, "x:3", &err), KV_ERR_INPUT);
    cr_assert_str_eq(err.msg, "x:3: needs 7 blocks of 4 positions (a prompt of 5 tokens and 20 "
                              "new), and the pool has 2: it could never run (--blocks)");
    cr_assert_eq(s.n_req, 0);
    r.max_new = 3; // 8 positions: two blocks
    cr_assert_eq(serve_add(&s, &r, "x:4", &err), KV_OK, "%s", err.msg);
    serve_free(&s);
    close_bench(&b);
}

// ----------------------------------------------------------------------------------------------
// What a lesson's serving steps cost

// serve-step N counts N serving steps, each at its bound: the pool's positions (the classroom's
// 20 blocks of 16), each at the end of the context with its logits; the steps really computed
// stay under it; and a lesson whose serving steps pass the budget is refused, saying so.
Test(serve, lesson_cost_counts_serving_steps_at_their_bound, .timeout = 120) {
    const ModelConfig wide = {32, 64, 2, 4, 2, 400, 512, false}; // the classroom's prompts fit
    Bench b;
    open_bench(&b, &wide, 3);
    static const Preset presets[] = {{0}};
    KvError err = {0};
    Lesson l;
    const char *text = "prompt ab ba\nserve classroom\nserve-step 6\ncaption A\ntext B.\nbeat\n";
    cr_assert_eq(lesson_parse(&l, "x.lesson", text, strlen(text), presets, &err), KV_OK, "%s",
                 err.msg);
    cr_assert_eq(lesson_check(&l, &b.m, &b.t, &err), KV_OK, "%s", err.msg);
    LessonCost cost;
    cr_assert_eq(lesson_cost(&l, &b.m, &b.t, &cost, &err), KV_OK, "%s", err.msg);
    const uint64_t rows = SERVE_CLASSROOM_BLOCKS * KV_PAGED_BLOCK_DEFAULT;
    uint64_t fl[FLOP_COMPONENTS], per_row = 0;
    flops_formula(&wide, wide.seq_len - 1, 1, 1, fl);
    for (int k = 0; k < FLOP_COMPONENTS; k++)
        per_row += fl[k];
    cr_assert_eq(cost.serve_steps, 6ull);
    cr_assert_eq(cost.steps, 0ull);
    cr_assert_eq(cost.positions, 6 * rows);
    cr_assert_eq(cost.flops, 6 * rows * per_row);
    lesson_free(&l);
    Serve s;
    cr_assert_eq(serve_open(&s, &b.m, &b.t, NULL, 0, KV_PAGED_BLOCK_DEFAULT, true, &err), KV_OK,
                 "%s", err.msg);
    for (int k = 0; k < 6; k++) {
        cr_assert(serve_step(&s));
        cr_assert_leq(s.last.flops, rows * per_row, "step %d", k);
    }
    cr_assert_gt(s.total.prefill + s.total.decoded, 0ull);
    cr_assert_leq(s.total.prefill + s.total.decoded, 6 * rows);
    cr_assert_leq(s.total.flops, cost.flops);
    serve_free(&s);
    const char *big = "prompt ab ba\nserve classroom\nserve-step 5000\ncaption A\nbeat\n";
    cr_assert_eq(lesson_parse(&l, "big.lesson", big, strlen(big), presets, &err), KV_OK, "%s",
                 err.msg);
    cr_assert_eq(lesson_check(&l, &b.m, &b.t, &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "big.lesson: playing it computes 1600000 positions (0 steps, 5000 "
                              "serving steps") != NULL,
              "%s", err.msg);
    lesson_free(&l);
    close_bench(&b);
}
