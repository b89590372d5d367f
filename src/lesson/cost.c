// cost.c — what playing a lesson costs, estimated before anything runs: the positions the model
// computes (the counters' `positions`) and the FLOPs of DESIGN.md's closed forms, for one play
// from the first beat to the last (what --pdf, --frames and a presenter going forward do). A
// serving session's steps are counted too, at their bound: which requests run, finish or are
// preempted depends on the tokens sampled, but every position a step computes is stored in the
// pool, so a step computes at most the pool's positions (blocks * B), each at most a position at
// the end of the context.
// lesson_check refuses a lesson over LESSON_MAX_POSITIONS. Does not parse (lesson.c) or play
// (player.c); it follows the session's rules for what a step recomputes (src/sim/session.c).
#include "lesson/lesson.h"

#include <stdlib.h>
#include <string.h>

// One generation step of a sequence of `len` tokens in mode `cache` with `*cache_len` positions
// cached: the positions computed (engine_step's rule), added to *c.
static void step_cost(const ModelConfig *mc, bool cache, int len, int *cache_len, LessonCost *c) {
    int first = 0;
    if (cache) {
        first = *cache_len < len ? *cache_len : len - 1;
        *cache_len = len;
    } else {
        *cache_len = 0;
    }
    uint64_t fl[FLOP_COMPONENTS];
    flops_formula(mc, first, len - first, 1, fl);
    c->positions += (uint64_t)(len - first);
    for (int k = 0; k < FLOP_COMPONENTS; k++)
        c->flops += fl[k];
}

// The positions the pool of a lesson's `serve` holds (0 when its requests do not load:
// lesson_check says why).
static uint64_t serve_pool_positions(const Model *m, const Tokenizer *t, const char *requests,
                                     int blocks) {
    Serve probe;
    KvError e = {0};
    if (serve_open(&probe, m, t, requests, blocks, KV_PAGED_BLOCK_DEFAULT, true, &e))
        return 0;
    const uint64_t n = (uint64_t)probe.pool.n_blocks * (uint64_t)probe.pool.block_size;
    serve_free(&probe);
    return n;
}

KvStatus lesson_cost(const Lesson *l, const Model *m, const Tokenizer *t, LessonCost *out,
                     KvError *err) {
    const ModelConfig *mc = &m->cfg;
    const int T = mc->seq_len;
    memset(out, 0, sizeof *out);
    int *ids = kv_malloc((size_t)T * sizeof(int));
    bool *rec_cache = kv_calloc((size_t)T + 1, sizeof(bool)); // the mode each kept record ran in
    int n_prompt = 1, cursor = 0, records = 0, cache_len = 0, shadow_len = 0;
    bool cache = true, verify = false;
    int serve_blocks = 0;
    uint64_t serve_rows = 0;                        // positions the serving session's pool holds
    uint64_t fl_last[FLOP_COMPONENTS], per_row = 0; // a position at T - 1, with its logits
    flops_formula(mc, T - 1, 1, 1, fl_last);
    for (int k = 0; k < FLOP_COMPONENTS; k++)
        per_row += fl_last[k];
    KvStatus st = KV_OK;
    for (int i = 0; i < l->n_cmds && !st; i++) {
        const LessonCmd *cmd = &l->cmds[i];
        switch (cmd->op) {
        case LESSON_PROMPT: {
            KvError e = {0};
            st = tokenizer_encode(t, cmd->str, true, false, ids, T - 1, &n_prompt, &e);
            if (st)
                kv_error(err, st, "%s:%d: prompt: %s", l->path, cmd->line, e.msg);
            cursor = records = cache_len = shadow_len = 0;
            break;
        }
        case LESSON_TEMPERATURE:
        case LESSON_TOP_K:
        case LESSON_TOP_P:
        case LESSON_SEED: // new sampler settings drop the steps after the cursor
            records = cursor;
            break;
        case LESSON_CACHE:
            if (cmd->n == 2) // a policy: the next step recomputes the sequence under it
                cache_len = 0, records = cursor;
            if ((cmd->n != 0) != cache) {
                cache = cmd->n != 0;
                records = cursor;
            }
            break;
        case LESSON_VERIFY:
            verify = cmd->n != 0;
            shadow_len = 0;
            break;
        case LESSON_RESET:
        case LESSON_KV: // a new precision starts from the prompt, with an empty cache
            cursor = records = cache_len = shadow_len = 0;
            break;
        case LESSON_BACK: {
            int back = (int)(cmd->n < cursor ? cmd->n : cursor);
            cursor -= back;
            // the cache as the step now next began: it held every earlier position if it ran
            // with the cache
            cache_len = cursor > 0 && rec_cache[cursor] ? n_prompt + cursor - 1 : 0;
            break;
        }
        case LESSON_STEP:
            for (long k = 0; k < cmd->n && n_prompt + cursor <= T; k++) {
                const int len = n_prompt + cursor;
                if (cursor < records && rec_cache[cursor] == cache) { // redone from its record
                    cache_len = cache ? len : 0;
                    cursor++;
                    continue;
                }
                records = cursor;
                step_cost(mc, cache, len, &cache_len, out);
                if (verify) { // the other mode runs too, on the shadow engine
                    if (shadow_len > len - 1)
                        shadow_len = len - 1;
                    step_cost(mc, !cache, len, &shadow_len, out);
                }
                rec_cache[cursor] = cache;
                cursor++;
                records = cursor;
                out->steps++;
            }
            break;
        case LESSON_SERVE_BLOCKS:
            serve_blocks = (int)cmd->n;
            break;
        case LESSON_SERVE:
            serve_rows = serve_pool_positions(m, t, cmd->str, serve_blocks);
            break;
        case LESSON_SERVE_STEP:
            out->serve_steps += (uint64_t)cmd->n;
            out->positions += (uint64_t)cmd->n * serve_rows;
            out->flops += (uint64_t)cmd->n * serve_rows * per_row;
            break;
        default:
            break;
        }
    }
    free(rec_cache);
    free(ids);
    return st;
}
