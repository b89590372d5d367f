// bench_serve.c — `kvscope bench serve`: why servers batch. R requests decode one token each,
// either in one batched pass (engine_forward_batch: every weight streamed once for all R rows)
// or one request at a time (R passes of one row: the weights streamed R times), for R = 1, 2,
// 4, 8, 16, at the same context length, over one paged pool. Medians of repeated steps, the two
// ways interleaved within each repetition (after a step that is not measured, so that neither
// finds the caches colder) so that both see the same machine. Then the `attend=paged` lines:
// one batched step with attention reading every row in its block (the row map) against
// gathering each head's rows into contiguous reading rows first.
#include "app/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// This thread's CPU time (a shared machine's other processes are not counted).
static uint64_t cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

enum { MAX_R = 16, REPS = 31 };

// One decode step of sequences 0 .. r-1 at position pos (their caches hold 0 .. pos-1), batched
// or one at a time; returns the CPU time.
static uint64_t decode_step(Engine *e, EngineBatch *b, KvCache *kc, int tokens[][1024], int r,
                            int pos, bool batched) {
    KvCache *cache[MAX_R];
    int tok[MAX_R], at[MAX_R];
    for (int i = 0; i < r; i++) {
        kvcache_truncate(&kc[i], pos);
        cache[i] = &kc[i], tok[i] = tokens[i][pos], at[i] = pos;
    }
    const uint64_t t0 = cpu_ns();
    if (batched)
        engine_forward_batch(e, b, cache, tok, at, r, NULL);
    else
        for (int i = 0; i < r; i++)
            engine_forward_batch(e, b, cache + i, tok + i, at + i, 1, NULL);
    return cpu_ns() - t0;
}

int bench_serve(int argc, char **argv) {
    long context = 0;
    KvError err = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--context") == 0) {
            if (app_parse_int(argv[i], i + 1 < argc ? argv[i + 1] : NULL, 1, 1023, &context, &err))
                return app_fail(&err);
            i++;
        } else {
            return app_usage_error("bench serve", "unknown option '%s' (--context N)", argv[i]);
        }
    }
    Model m;
    Tokenizer t;
    if (app_load(&m, &t, NULL, NULL, &err))
        return app_fail(&err);
    const ModelConfig *c = &m.cfg;
    int pos = c->seq_len / 4 < 1023 ? c->seq_len / 4 : 1023; // the context each decodes at
    if (context)
        pos = (int)context < c->seq_len ? (int)context : c->seq_len - 1;
    Engine e;
    engine_init(&e, &m, &err);
    engine_set_instrument(&e, false);
    EngineBatch b;
    batch_init(&b, c);
    KvPool pool;
    const int B = KV_PAGED_BLOCK_DEFAULT;
    kvpool_init(&pool, c, MAX_R * ((pos + B) / B + 1), B);
    static int tokens[MAX_R][1024];
    KvCache kc[MAX_R];
    uint64_t rng = 5;
    for (int i = 0; i < MAX_R; i++) { // sixteen different sequences, prefilled to pos
        tokens[i][0] = TOKEN_BOS;
        for (int p = 1; p <= pos; p++)
            tokens[i][p] = 3 + (int)(kv_rng_u32(&rng) % (uint32_t)(c->vocab_size - 3));
        kvcache_init_pooled(&kc[i], c, &pool);
        kvpaged_reserve(&kc[i], pos + 1);
        int *at = kv_malloc((size_t)pos * sizeof *at);
        KvCache **cache = kv_malloc((size_t)pos * sizeof *cache);
        for (int p = 0; p < pos; p++)
            at[p] = p, cache[p] = &kc[i];
        engine_forward_batch(&e, &b, cache, tokens[i], at, pos, NULL);
        free(at);
        free(cache);
    }
    static const int sizes[] = {1, 2, 4, 8, 16};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    uint64_t tb[NS][REPS], ts[NS][REPS];
    // the weights as the engine keeps them (bfloat16 when the model allows), then as floats: twice
    // the bytes to stream, where batching them matters more
    const bool bf16_first = e.packed_bf16;
    for (int pass = 0; pass < (bf16_first ? 2 : 1); pass++) {
        if (pass == 1)
            engine_pack(&e, false);
        for (int rep = 0; rep < REPS; rep++)
            for (int k = 0; k < NS; k++) { // interleaved, the order alternating between repetitions
                const bool first = rep % 2 == 0;
                decode_step(&e, &b, kc, tokens, sizes[k], pos,
                            !first); // warm: both measured after it
                uint64_t x = decode_step(&e, &b, kc, tokens, sizes[k], pos, first);
                uint64_t y = decode_step(&e, &b, kc, tokens, sizes[k], pos, !first);
                tb[k][rep] = first ? x : y;
                ts[k][rep] = first ? y : x;
            }
        for (int k = 0; k < NS; k++) {
            qsort(tb[k], REPS, sizeof tb[k][0], cmp_u64);
            qsort(ts[k], REPS, sizeof ts[k][0], cmp_u64);
            const double bt = (double)tb[k][REPS / 2], st = (double)ts[k][REPS / 2];
            const double r = sizes[k];
            printf("bench serve requests=%d context=%d batched_us=%.1f one_at_a_time_us=%.1f "
                   "batched_tok_s=%.0f one_at_a_time_tok_s=%.0f speedup=%.2f weights=%s\n",
                   sizes[k], pos, bt / 1e3, st / 1e3, r * 1e9 / bt, r * 1e9 / st, st / bt,
                   e.packed_bf16 ? "bf16" : "f32");
        }
    }
    // attention reading each row in its block through the row map (the kernel's paged rows),
    // against gathering the rows of each head into contiguous reading rows first: one batched
    // decode step, the two interleaved as above
    static const int attend_sizes[] = {1, 16};
    for (int k = 0; k < 2; k++) {
        uint64_t in_place[REPS], gathered[REPS];
        for (int rep = 0; rep < REPS; rep++) {
            const bool first = rep % 2 == 0;
            engine_set_attend_packed(&e, first);
            decode_step(&e, &b, kc, tokens, attend_sizes[k], pos, true); // warm
            const uint64_t x = decode_step(&e, &b, kc, tokens, attend_sizes[k], pos, true);
            engine_set_attend_packed(&e, !first);
            const uint64_t y = decode_step(&e, &b, kc, tokens, attend_sizes[k], pos, true);
            in_place[rep] = first ? x : y;
            gathered[rep] = first ? y : x;
        }
        engine_set_attend_packed(&e, true);
        qsort(in_place, REPS, sizeof in_place[0], cmp_u64);
        qsort(gathered, REPS, sizeof gathered[0], cmp_u64);
        const double ip = (double)in_place[REPS / 2], ga = (double)gathered[REPS / 2];
        printf("bench serve attend=paged requests=%d context=%d block=%d in_place_us=%.1f "
               "gathered_us=%.1f speedup=%.2f weights=%s\n",
               attend_sizes[k], pos, B, ip / 1e3, ga / 1e3, ga / ip,
               e.packed_bf16 ? "bf16" : "f32");
    }
    for (int i = 0; i < MAX_R; i++)
        kvcache_free(&kc[i]);
    kvpool_free(&pool);
    batch_free(&b);
    engine_free(&e);
    tokenizer_free(&t);
    model_free(&m);
    return 0;
}
