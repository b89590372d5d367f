// cmd_bench.c — `kvscope bench [engine|render]`: performance figures, one line each
// (`bench <what> key=value ...`). Medians of repeated runs measured in one process, so ratios
// between lines are fair even on a noisy shared machine. The render figures are in the scene's
// module (bench_render).
//
// Engine figures: cached decode and no-cache recompute at several context lengths, their measured
// time ratio next to the FLOP ratio, prefill throughput, the cost of instrumentation, GFLOP/s
// against one core's fp32 peak, and a plain C loop implementation of the same decode step (the
// way llama2.c writes it) as the baseline the engine must beat; each cache policy's decode at the
// end of the context and (sinks) past it, and what the drift shadow adds to a session step.
#include "app/app.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// The benchmark's clock: this thread's CPU time, so that time the scheduler gives to other
// processes on a shared machine is not counted (every figure here is single-threaded work).
static uint64_t bench_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t median(uint64_t *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_u64);
    return v[n / 2];
}

static uint64_t formula_sum(const ModelConfig *c, int pos0, int n) {
    uint64_t f[FLOP_COMPONENTS], s = 0;
    flops_formula(c, pos0, n, 1, f);
    for (int i = 0; i < FLOP_COMPONENTS; i++)
        s += f[i];
    return s;
}

// Repetitions that fit about `budget_ns`, at least `min_reps`, at most 2001.
static int reps_for(uint64_t one_ns, uint64_t budget_ns, int min_reps) {
    uint64_t r = one_ns ? budget_ns / one_ns : 2001;
    if (r < (uint64_t)min_reps)
        r = (uint64_t)min_reps;
    return r > 2001 ? 2001 : (int)r;
}

// One cached decode step at position pos (the cache must hold 0..pos-1); returns ns.
static uint64_t time_decode(Engine *e, const int *tokens, int pos, AttnSink *sink, Counters *ctr) {
    kvcache_truncate(&e->cache, pos);
    uint64_t t0 = bench_ns();
    engine_forward(e, tokens + pos, pos, 1, true, sink, ctr);
    return bench_ns() - t0;
}

static uint64_t time_recompute(Engine *e, const int *tokens, int len) {
    uint64_t t0 = bench_ns();
    engine_forward(e, tokens, 0, len, false, NULL, NULL);
    return bench_ns() - t0;
}

// ----------------------------------------------------------------------------------------------
// The baseline: one decode step written as plain loops (one accumulator, no blocking), the way
// a careful first implementation (llama2.c's run.c) writes it, with llama2.c's cache layout
// (L, T, KV).

typedef struct {
    float *x, *xb, *xb2, *q, *hb, *hb2, *att, *logits;
} Plain;

static void plain_matvec(float *out, const float *x, const float *w, int n, int d) {
    for (int i = 0; i < d; i++) {
        float v = 0.0f;
        for (int j = 0; j < n; j++)
            v += w[(size_t)i * n + j] * x[j];
        out[i] = v;
    }
}

static void plain_rmsnorm(float *o, const float *x, const float *w, int n) {
    float ss = 0.0f;
    for (int j = 0; j < n; j++)
        ss += x[j] * x[j];
    ss = 1.0f / sqrtf(ss / (float)n + 1e-5f);
    for (int j = 0; j < n; j++)
        o[j] = w[j] * (ss * x[j]);
}

static void plain_decode(Plain *p, const Model *m, float *kcache, float *vcache, int token,
                         int pos) {
    const ModelConfig *c = &m->cfg;
    const ModelWeights *w = &m->w;
    const int D = c->dim, F = c->hidden_dim, KV = config_kv_dim(c), HS = config_head_size(c);
    const int T = c->seq_len, group = c->n_heads / c->n_kv_heads;
    memcpy(p->x, w->token_embedding + (size_t)token * D, (size_t)D * sizeof(float));
    for (int l = 0; l < c->n_layers; l++) {
        float *kc = kcache + (size_t)l * T * KV, *vc = vcache + (size_t)l * T * KV;
        plain_rmsnorm(p->xb, p->x, w->rms_att + (size_t)l * D, D);
        plain_matvec(p->q, p->xb, w->wq + (size_t)l * D * D, D, D);
        plain_matvec(kc + (size_t)pos * KV, p->xb, w->wk + (size_t)l * KV * D, D, KV);
        plain_matvec(vc + (size_t)pos * KV, p->xb, w->wv + (size_t)l * KV * D, D, KV);
        float *k = kc + (size_t)pos * KV;
        for (int i = 0; i < D; i += 2) {
            float freq = 1.0f / powf(10000.0f, (float)(i % HS) / (float)HS);
            float fcr = cosf((float)pos * freq), fci = sinf((float)pos * freq);
            float q0 = p->q[i], q1 = p->q[i + 1];
            p->q[i] = q0 * fcr - q1 * fci, p->q[i + 1] = q0 * fci + q1 * fcr;
            if (i < KV) {
                float k0 = k[i], k1 = k[i + 1];
                k[i] = k0 * fcr - k1 * fci, k[i + 1] = k0 * fci + k1 * fcr;
            }
        }
        for (int h = 0; h < c->n_heads; h++) {
            const float *q = p->q + h * HS;
            float *att = p->att + (size_t)h * T;
            int kvo = (h / group) * HS;
            float mx = -INFINITY, sum = 0.0f;
            for (int s = 0; s <= pos; s++) {
                float v = 0.0f;
                for (int i = 0; i < HS; i++)
                    v += q[i] * kc[(size_t)s * KV + kvo + i];
                att[s] = v / sqrtf((float)HS);
                mx = att[s] > mx ? att[s] : mx;
            }
            for (int s = 0; s <= pos; s++)
                sum += att[s] = expf(att[s] - mx);
            float *o = p->xb + h * HS;
            memset(o, 0, (size_t)HS * sizeof(float));
            for (int s = 0; s <= pos; s++)
                for (int i = 0; i < HS; i++)
                    o[i] += att[s] / sum * vc[(size_t)s * KV + kvo + i];
        }
        plain_matvec(p->xb2, p->xb, w->wo + (size_t)l * D * D, D, D);
        for (int i = 0; i < D; i++)
            p->x[i] += p->xb2[i];
        plain_rmsnorm(p->xb, p->x, w->rms_ffn + (size_t)l * D, D);
        plain_matvec(p->hb, p->xb, w->w1 + (size_t)l * F * D, D, F);
        plain_matvec(p->hb2, p->xb, w->w3 + (size_t)l * F * D, D, F);
        for (int i = 0; i < F; i++)
            p->hb[i] = p->hb[i] / (1.0f + expf(-p->hb[i])) * p->hb2[i];
        plain_matvec(p->xb2, p->hb, w->w2 + (size_t)l * D * F, F, D);
        for (int i = 0; i < D; i++)
            p->x[i] += p->xb2[i];
    }
    plain_rmsnorm(p->xb, p->x, w->rms_final, D);
    plain_matvec(p->logits, p->xb, w->wcls, D, c->vocab_size);
}

// One core's fp32 peak from /proc/cpuinfo: cycles/s x 32 FLOP, two 8-wide fused multiply-add
// units (AVX2 machines, and AMD's Zen 4, which runs a 16-wide AVX-512 instruction on both
// halves of them: 16 multiply-adds per cycle either way).
static double core_peak_gflops(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    double mhz = 0.0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
            break;
    if (f)
        fclose(f);
    return mhz * 1e6 * 32.0 / 1e9;
}

// The cached decode and the no-cache recompute at context 64, 256 and the model's maximum: one
// line each, with the measured time ratio next to the FLOP ratio.
static void bench_contexts(Engine *e, const int *tokens, uint64_t *ts, uint64_t *ts2, double peak) {
    const ModelConfig *c = &e->model->cfg;
    const int T = c->seq_len;
    const char *weights = e->packed_bf16 ? "bf16" : "fp32";
    int contexts[3] = {64, 256, T}, nctx = 0;
    for (int i = 0; i < 3; i++)
        if (contexts[i] <= T && (nctx == 0 || contexts[i] != contexts[nctx - 1]))
            contexts[nctx++] = contexts[i];
    for (int k = 0; k < nctx; k++) {
        const int ctx = contexts[k], pos = ctx - 1;
        // Rounds of one recompute and a burst of cached decodes, so that both see the same
        // machine; the ratio is the median of the rounds' ratios.
        engine_forward(e, tokens, 0, pos, true, NULL, NULL); // cache holds 0..pos-1
        uint64_t one = time_recompute(e, tokens, ctx);
        int rounds = reps_for(one, 700000000ull, 5), burst = 31;
        if (rounds > 41)
            rounds = 41;
        uint64_t ratio_x1000[41], decs[41];
        for (int r = 0; r < rounds; r++) {
            ts2[r] = time_recompute(e, tokens, ctx);
            for (int b = 0; b < burst; b++)
                ts[b] = time_decode(e, tokens, pos, NULL, NULL);
            decs[r] = median(ts, burst);
            ratio_x1000[r] = ts2[r] * 1000 / (decs[r] ? decs[r] : 1);
        }
        uint64_t rec = median(ts2, rounds), dec = median(decs, rounds);
        double time_ratio = (double)median(ratio_x1000, rounds) / 1000.0;
        double fd = (double)formula_sum(c, pos, 1), fr = (double)formula_sum(c, 0, ctx);
        double flop_ratio = fr / fd;
        // what one cached decode moves: every weight once, and the cache it reads and writes
        Counters moved = {0};
        time_decode(e, tokens, pos, NULL, &moved);
        double bytes = (double)engine_packed_bytes(e) + (double)moved.kv_bytes_read +
                       (double)moved.kv_bytes_written;
        printf(
            "bench engine weights=%s context=%d cache_tok_s=%.0f nocache_tok_s=%.1f cache_us=%.1f "
            "nocache_us=%.1f time_ratio=%.1f flop_ratio=%.1f ratio_off_pct=%.1f "
            "cache_gflops=%.2f nocache_gflops=%.2f nocache_pct_of_peak=%.1f cache_mb_per_step=%.2f "
            "cache_gb_s=%.1f\n",
            weights, ctx, 1e9 / (double)dec, 1e9 / (double)rec, (double)dec / 1e3,
            (double)rec / 1e3, time_ratio, flop_ratio,
            100.0 * (time_ratio - flop_ratio) / flop_ratio, fd / (double)dec, fr / (double)rec,
            peak > 0 ? 100.0 * fr / (double)rec / peak : 0.0, bytes / 1e6, bytes / (double)dec);
    }
}

// Decode with each precision of the cache (--kv), interleaved round by round so that every kind
// sees the same machine: tok/s over the 32 steps before each context, the cost against f32 and
// the bytes a step moves (weights, plus the cache's bytes attention read and the step stored, as
// the forward pass counts them from the cache's storage). bf16, int8 and int4 run twice: with
// attention reading the packed rows where they are stored (attend=packed, the engine's way), and
// with the rows read back into floats first (attend=read_back, how attention read them before
// the packed kernel): the same bits, the difference is the time the read back costs.
#define BENCH_VARIANTS (KV_PRECISIONS + 3)
static void bench_kinds(const Model *m, const int *tokens, uint64_t *ts) {
    const ModelConfig *c = &m->cfg;
    Engine e[BENCH_VARIANTS];
    KvPrecision prec[BENCH_VARIANTS];
    bool usable[BENCH_VARIANTS];
    KvError err;
    for (int k = 0; k < BENCH_VARIANTS; k++) {
        prec[k] = k < KV_PRECISIONS ? (KvPrecision)k
                                    : (KvPrecision)(KV_PRECISION_BF16 + k - KV_PRECISIONS);
        usable[k] = kv_precision_check(c, prec[k], "--kv", &err) == KV_OK;
        engine_init(&e[k], m, &err);
        engine_set_instrument(&e[k], false);
        engine_set_attend_packed(&e[k], k < KV_PRECISIONS);
        if (usable[k])
            kvcache_set_precision(&e[k].cache, prec[k]);
    }
    const int contexts[2] = {64, c->seq_len};
    for (int ci = 0; ci < 2; ci++) {
        const int ctx = contexts[ci] < c->seq_len ? contexts[ci] : c->seq_len, pos = ctx - 1;
        if (ci == 1 && ctx == contexts[0])
            break;
        for (int k = 0; k < BENCH_VARIANTS; k++) // the cache holds 0..pos-1, stored one by one
            for (int p = 0; usable[k] && p < pos; p++)
                engine_forward(&e[k], tokens + p, p, 1, true, NULL, NULL);
        // each round decodes the 32 positions up to pos in turn and keeps their mean: one KIVI
        // group is quantized in every 32 steps, so its cost is in the mean as often as it occurs
        // (after one step not counted, which brings this engine's cache back into the caches)
        const int rounds = 41, burst = 32;
        uint64_t med[BENCH_VARIANTS][41], typ[BENCH_VARIANTS][41];
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < BENCH_VARIANTS; k++) {
                if (!usable[k])
                    continue;
                uint64_t sum = 0;
                time_decode(&e[k], tokens, pos - burst, NULL, NULL);
                for (int b = 0; b < burst; b++)
                    sum += ts[b] = time_decode(&e[k], tokens, pos - burst + 1 + b, NULL, NULL);
                med[k][r] = sum / burst;
                typ[k][r] = median(ts, burst);
            }
        const double f32_ns = (double)median(med[0], rounds);
        for (int k = 0; k < BENCH_VARIANTS; k++) {
            const char *attend = k == 0 || k >= KV_PRECISIONS ? "read_back" : "packed";
            if (prec[k] >= KV_PRECISION_KIVI2 || k == 0) // f32 rows, or KIVI's read back
                attend = prec[k] == KV_PRECISION_F32 ? "f32" : "read_back";
            if (!usable[k]) {
                printf("bench engine kv=%s attend=%s unusable\n", kv_precision_name(prec[k]),
                       attend);
                continue;
            }
            const double ns = (double)median(med[k], rounds);
            const double typical = (double)median(typ[k], rounds);
            Counters moved = {0};
            engine_set_instrument(&e[k], true);
            time_decode(&e[k], tokens, pos, NULL, &moved);
            engine_set_instrument(&e[k], false);
            const double bytes = (double)engine_packed_bytes(&e[k]) + (double)moved.kv_bytes_read +
                                 (double)moved.kv_bytes_written;
            printf("bench engine kv=%s attend=%s context=%d decode_tok_s=%.0f decode_us=%.1f "
                   "median_step_us=%.1f vs_f32_pct=%+.1f kv_read_bytes=%llu kv_written_bytes=%llu "
                   "mb_per_step=%.3f resident_bytes=%zu\n",
                   kv_precision_name(prec[k]), attend, ctx, 1e9 / ns, ns / 1e3, typical / 1e3,
                   100.0 * (ns - f32_ns) / f32_ns, (unsigned long long)moved.kv_bytes_read,
                   (unsigned long long)moved.kv_bytes_written, bytes / 1e6,
                   kvcache_bytes_resident(&e[k].cache));
        }
        for (int k = 0; k < BENCH_VARIANTS; k++)
            kvcache_clear(&e[k].cache);
    }
    for (int k = 0; k < BENCH_VARIANTS; k++)
        engine_free(&e[k]);
}
#undef BENCH_VARIANTS

// ----------------------------------------------------------------------------------------------
// Cache policies: decode at the end of the context and, for sinks, past it; the drift shadow

// Median ns of k cached decode steps at positions pos .. pos+k-1 of e (which holds 0..pos-1).
static uint64_t time_steps(Engine *e, const int *tokens, int pos, int k, uint64_t *ts) {
    for (int i = 0; i < k; i++) {
        uint64_t t0 = bench_ns();
        engine_forward(e, tokens + pos + i, pos + i, 1, true, NULL, NULL);
        ts[i] = bench_ns() - t0;
    }
    return median(ts, k);
}

// Median ns of k session steps after the session has taken `warm` steps.
static uint64_t time_session(Session *s, int warm, int k, uint64_t *ts) {
    for (int i = 0; i < warm; i++)
        session_step(s);
    for (int i = 0; i < k; i++) {
        uint64_t t0 = bench_ns();
        session_step(s);
        ts[i] = bench_ns() - t0;
    }
    return median(ts, k);
}

static void bench_policies(const Model *m, const Tokenizer *tok, uint64_t *ts) {
    // each policy in f32, then the budget of 128 with packed rows (what a quantized rolling
    // window costs and moves)
    static const char *const specs[] = {"full",
                                        "window:64",
                                        "sinks:4,60",
                                        "h2o:32,32",
                                        "window:128",
                                        "sinks:4,124",
                                        "h2o:64,64",
                                        "window:128/int8",
                                        "sinks:4,124/int8",
                                        "window:128/int4",
                                        "sinks:4,124/int4"};
    const ModelConfig *c = &m->cfg;
    const int T = c->seq_len, K = 64, PAST = 3 * T; // decode steps timed; a position past T
    int *tokens = kv_malloc((size_t)(PAST + K + 1) * sizeof(int));
    uint64_t rng = 11;
    tokens[0] = TOKEN_BOS;
    for (int i = 1; i <= PAST + K; i++)
        tokens[i] = 3 + (int)(kv_rng_u32(&rng) % (uint32_t)(c->vocab_size - 3));
    KvError err;
    double full_us = 0;
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        KvCacheKind kind = KV_CACHE_DENSE;
        char spec[32];
        snprintf(spec, sizeof spec, "%s", specs[k]);
        char *slash = strchr(spec, '/');
        if (slash) { // policy/precision
            *slash = '\0';
            kv_precision_parse("--kv", slash + 1, &kind.precision, &err);
        }
        kv_parse_retention("--cache", spec, &kind, &err);
        if (kv_retention_check("--cache", kind, T, &err) ||
            kv_precision_check(c, kind.precision, "--kv", &err))
            continue;
        Engine e;
        engine_init(&e, m, &err);
        engine_set_cache_kind(&e, kind);
        engine_forward(&e, tokens, 0, T - K, true, NULL, NULL);
        const uint64_t ns = time_steps(&e, tokens, T - K, K, ts);
        if (k == 0)
            full_us = (double)ns / 1e3;
        printf("bench engine policy=%s kv=%s positions=%d..%d decode_tok_s=%.0f decode_us=%.1f "
               "vs_full=%.2f resident_kib=%.0f\n",
               spec, kv_precision_name(kind.precision), T - K, T - 1, 1e9 / (double)ns,
               (double)ns / 1e3, full_us / ((double)ns / 1e3),
               (double)kvcache_bytes_resident(&e.cache) / 1024.0);
        if (kv_kind_unbounded_positions(kind)) { // on to three contexts, then K more steps
            for (int p = T; p < PAST; p++)
                engine_forward(&e, tokens + p, p, 1, true, NULL, NULL);
            const uint64_t past = time_steps(&e, tokens, PAST, K, ts);
            printf("bench engine policy=%s kv=%s positions=%d..%d past_context=1 "
                   "decode_tok_s=%.0f decode_us=%.1f resident_kib=%.0f\n",
                   spec, kv_precision_name(kind.precision), PAST, PAST + K - 1, 1e9 / (double)past,
                   (double)past / 1e3, (double)kvcache_bytes_resident(&e.cache) / 1024.0);
        }
        engine_free(&e);
        fflush(stdout);
    }
    // the shadow: a session step under a bounded policy also runs the full f32 reference on the
    // same tokens (drift); against a session step under full, which runs none
    const char *const shadowed[] = {"full", "window:64"};
    uint64_t step_ns[2];
    for (int k = 0; k < 2; k++) {
        Session s;
        session_init(&s, m, tok, &err);
        session_set_prompt(&s, "Once upon a time", &err);
        KvCacheKind kind = KV_CACHE_DENSE;
        kv_parse_retention("--cache", shadowed[k], &kind, &err);
        session_set_cache(&s, kind, &err);
        step_ns[k] = time_session(&s, T - K - s.n_prompt, K - 1, ts);
        session_free(&s);
    }
    printf("bench engine shadow=full_f32 positions=%d..%d session_step_full_us=%.1f "
           "session_step_window64_with_shadow_us=%.1f shadow_cost_pct=%.0f\n",
           T - K, T - 2, (double)step_ns[0] / 1e3, (double)step_ns[1] / 1e3,
           100.0 * ((double)step_ns[1] - (double)step_ns[0]) / (double)step_ns[0]);
    free(tokens);
}

// What the picture needs of a step's logits, against the step: the candidate list
// (top_candidates, SESSION_TOP of them, the probabilities from the softmax denominator) and the
// greedy pick (sampler_sample at temperature 0), interleaved with cached decodes at the middle
// of the context.
static void bench_candidates(Engine *e, const int *tokens, uint64_t *ts, uint64_t *ts2) {
    const ModelConfig *c = &e->model->cfg;
    const int pos = c->seq_len / 2, V = c->vocab_size;
    engine_forward(e, tokens, 0, pos, true, NULL, NULL);
    Sampler s;
    sampler_init(&s, V, (SamplerSettings){.temperature = 0.0f, .top_p = 0.9f, .seed = 1});
    Candidate top[SESSION_TOP];
    int sink = 0;
    const int reps = 201;
    for (int r = 0; r < reps; r++) {
        ts2[r] = time_decode(e, tokens, pos, NULL, NULL);
        const uint64_t t0 = bench_ns();
        sink += top_candidates(e->logits, V, 1.0f, top, SESSION_TOP);
        sink += sampler_sample(&s, e->logits);
        ts[r] = bench_ns() - t0;
    }
    const double cand = (double)median(ts, reps), step = (double)median(ts2, reps);
    printf("bench engine candidates vocab=%d top=%d context=%d candidates_us=%.1f decode_us=%.1f "
           "pct_of_step=%.2f check=%d\n",
           V, SESSION_TOP, pos + 1, cand / 1e3, step / 1e3, 100.0 * cand / step, sink % 7);
    sampler_free(&s);
}

// Wall-clock nanoseconds (the threaded figures: the work of every thread, start to end).
static uint64_t wall_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

// Decode, prefill and the no-cache recompute on one thread and on `threads`, in alternate
// rounds (wall clock: other processes' load shows in both alike); the results are the same
// bits (tests/test_engine.c), so only the time differs.
static void bench_threads(const Model *m, const int *tokens, int threads) {
    const ModelConfig *c = &m->cfg;
    const int T = c->seq_len, np = T < 256 ? T : 256, pos = np - 1;
    Engine e[2];
    KvError err;
    for (int k = 0; k < 2; k++) {
        engine_init(&e[k], m, &err);
        engine_set_instrument(&e[k], false);
        engine_set_threads(&e[k], k ? threads : 1);
    }
    const int rounds = 15, burst = 16;
    uint64_t dec[2][15], pre[2][15], rec[2][15], one[16];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 2; k++) {
            kvcache_clear(&e[k].cache);
            uint64_t t0 = wall_ns();
            engine_forward(&e[k], tokens, 0, pos, true, NULL, NULL); // prefill of pos positions
            pre[k][r] = wall_ns() - t0;
            for (int b = 0; b < burst; b++) {
                kvcache_truncate(&e[k].cache, pos);
                t0 = wall_ns();
                engine_forward(&e[k], tokens + pos, pos, 1, true, NULL, NULL);
                one[b] = wall_ns() - t0;
            }
            dec[k][r] = median(one, burst);
            t0 = wall_ns();
            engine_forward(&e[k], tokens, 0, np, false, NULL, NULL);
            rec[k][r] = wall_ns() - t0;
        }
    double d[2], p[2], n[2];
    for (int k = 0; k < 2; k++) {
        d[k] = (double)median(dec[k], rounds);
        p[k] = (double)median(pre[k], rounds);
        n[k] = (double)median(rec[k], rounds);
    }
    printf("bench engine threads=%d clock=wall context=%d decode_tok_s_1=%.0f decode_tok_s_n=%.0f "
           "decode_speedup=%.2f prefill_tok_s_1=%.0f prefill_tok_s_n=%.0f prefill_speedup=%.2f "
           "nocache_ms_1=%.2f nocache_ms_n=%.2f nocache_speedup=%.2f\n",
           e[1].threads, np, 1e9 / d[0], 1e9 / d[1], d[0] / d[1], pos * 1e9 / p[0],
           pos * 1e9 / p[1], p[0] / p[1], n[0] / 1e6, n[1] / 1e6, n[0] / n[1]);
    for (int k = 0; k < 2; k++)
        engine_free(&e[k]);
}

// The shared objects this process has mapped (/proc/self/maps, each path once), and how many of
// them are drawing libraries (SDL, cairo, pango, glib, FFmpeg): a command that only computes
// loads none (the drawing half is the module kvscope-ui.so, app.h). -1, -1 without /proc.
static void process_objects(int *objects, int *drawing) {
    *objects = *drawing = -1;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return;
    char line[4096], last[4096] = "";
    *objects = *drawing = 0;
    static const char *const libs[] = {"libSDL", "libcairo",   "libpango",     "libglib",
                                       "libav",  "libswscale", "kvscope-ui.so"};
    while (fgets(line, sizeof line, f)) {
        const char *path = strchr(line, '/');
        if (!path || !strstr(path, ".so"))
            continue;
        if (strcmp(path, last) == 0) // a library's mappings follow one another
            continue;
        snprintf(last, sizeof last, "%s", path);
        ++*objects;
        for (size_t k = 0; k < sizeof libs / sizeof libs[0]; k++)
            if (strstr(path, libs[k])) {
                ++*drawing;
                break;
            }
    }
    fclose(f);
}

static int bench_engine(int argc, char **argv, bool kinds_only) {
    CommonOptions o;
    app_common_defaults(&o);
    KvError err = {0};
    for (int i = 1; i < argc; i++) {
        int r = app_parse_common(argc, argv, &i, &o, &err);
        if (r < 0)
            return app_fail(&err);
        if (r == 0)
            return app_usage_error("bench engine", "unknown option '%s'", argv[i]);
    }
    if (o.kv != KV_PRECISION_F32)
        return app_usage_error("--kv", "bench measures every kind; it takes no --kv");
    const int threads = o.threads ? o.threads : 1; // figures on one thread unless asked
    Model m;
    Tokenizer tok;
    const uint64_t load0 = kv_now_ns();
    if (app_load(&m, &tok, o.model, o.tokenizer, &err))
        return app_fail(&err);
    const double load_ms = (double)(kv_now_ns() - load0) / 1e6;
    const ModelConfig *c = &m.cfg;
    const int T = c->seq_len, L = c->n_layers, H = c->n_heads;
    Engine e;
    engine_init(&e, &m, &err);
    int *tokens = kv_malloc((size_t)T * sizeof(int));
    uint64_t rng = 7;
    tokens[0] = TOKEN_BOS;
    for (int i = 1; i < T; i++)
        tokens[i] = 3 + (int)(kv_rng_u32(&rng) % (uint32_t)(c->vocab_size - 3));
    uint64_t *ts = kv_malloc(2002 * sizeof(uint64_t)), *ts2 = kv_malloc(2002 * sizeof(uint64_t));
    const double peak = core_peak_gflops();
    printf("bench engine model=%s params=%zu layers=%d dim=%d weights=%s weight_bytes=%zu "
           "threads=1 clock=thread_cpu isa=%s peak_gflops_core=%.1f peak=cpu_mhz*32\n",
           m.path, config_param_count(c), L, c->dim, e.packed_bf16 ? "bf16" : "fp32",
           engine_packed_bytes(&e), engine_isa_name(&e), peak);
    int objects, drawing;
    process_objects(&objects, &drawing);
    printf("bench engine process shared_objects=%d drawing_libraries=%d load_ms=%.1f clock=wall\n",
           objects, drawing, load_ms);
    if (kinds_only) {
        bench_kinds(&m, tokens, ts);
        free(ts), free(ts2), free(tokens);
        engine_free(&e);
        tokenizer_free(&tok);
        model_free(&m);
        return 0;
    }

    bench_contexts(&e, tokens, ts, ts2, peak);
    if (e.packed_bf16) { // the same model's weights kept as floats: twice the bytes per decode
        engine_pack(&e, false);
        bench_contexts(&e, tokens, ts, ts2, peak);
        engine_pack(&e, true);
    }

    bench_kinds(&m, tokens, ts);

    // prefill: the whole of a prompt in one pass
    const int np = T < 256 ? T : 256;
    int reps = reps_for(time_recompute(&e, tokens, np), 400000000ull, 5);
    for (int r = 0; r < reps; r++) {
        kvcache_clear(&e.cache);
        uint64_t t0 = bench_ns();
        engine_forward(&e, tokens, 0, np, true, NULL, NULL);
        ts[r] = bench_ns() - t0;
    }
    uint64_t pf = median(ts, reps);
    const double pf_gflops = (double)formula_sum(c, 0, np) / (double)pf;
    printf("bench engine prefill tokens=%d tok_s=%.0f ms=%.3f gflops=%.2f pct_of_peak=%.1f\n", np,
           np * 1e9 / (double)pf, (double)pf / 1e6, pf_gflops,
           peak > 0 ? 100.0 * pf_gflops / peak : 0.0);

    bench_candidates(&e, tokens, ts, ts2);
    if (threads > 1)
        bench_threads(&m, tokens, threads);

    // instrumentation: attention rows and counters recorded, against neither (interleaved)
    const int ictx = T < 256 ? T : 256, ipos = ictx - 1;
    float *attn = kv_calloc((size_t)L * H * ictx, sizeof(float));
    AttnSink sink = {.w = attn, .row0 = ipos, .rows = 1, .cols = ictx};
    engine_forward(&e, tokens, 0, ipos, true, NULL, NULL);
    reps = reps_for(time_decode(&e, tokens, ipos, NULL, NULL), 200000000ull, 51);
    for (int r = 0; r < reps; r++) {
        Counters ctr = {0};
        engine_set_instrument(&e, true);
        ts[r] = time_decode(&e, tokens, ipos, &sink, &ctr);
        engine_set_instrument(&e, false);
        ts2[r] = time_decode(&e, tokens, ipos, &sink, &ctr);
    }
    engine_set_instrument(&e, true);
    uint64_t on = median(ts, reps), off = median(ts2, reps);
    printf("bench engine instrumentation context=%d on_us=%.1f off_us=%.1f overhead_pct=%.1f\n",
           ictx, (double)on / 1e3, (double)off / 1e3,
           100.0 * ((double)on - (double)off) / (double)off);

    // the plain-loop baseline on the same step, same cache contents
    const size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim;
    Plain p = {kv_malloc(D * 4),
               kv_malloc(D * 4),
               kv_malloc(D * 4),
               kv_malloc(D * 4),
               kv_malloc(F * 4),
               kv_malloc(F * 4),
               kv_malloc((size_t)H * T * 4),
               kv_malloc((size_t)c->vocab_size * 4)};
    size_t cache_floats = (size_t)L * T * config_kv_dim(c);
    float *kc = kv_malloc(cache_floats * 4), *vc = kv_malloc(cache_floats * 4);
    // the baseline keeps llama2.c's layout, (L, T, KV): a row of every head per position
    const int HS = config_head_size(c);
    for (int l = 0; l < L; l++)
        for (int g = 0; g < c->n_kv_heads; g++) {
            const KvHeadRows rows = kvcache_head(&e.cache, l, g, ipos - 1); // positions 0..ipos-1
            for (int s = 0; s < ipos; s++) {
                size_t to = ((size_t)l * T + (size_t)s) * config_kv_dim(c) + (size_t)g * HS;
                memcpy(kc + to, rows.keys + (size_t)s * rows.stride, (size_t)HS * sizeof(float));
                memcpy(vc + to, rows.values + (size_t)s * rows.stride, (size_t)HS * sizeof(float));
            }
        }
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = bench_ns();
        plain_decode(&p, &m, kc, vc, tokens[ipos], ipos);
        ts[r] = bench_ns() - t0;
        ts2[r] = time_decode(&e, tokens, ipos, NULL, NULL);
    }
    uint64_t plain = median(ts, reps), eng = median(ts2, reps);
    float maxd = 0.0f;
    for (int i = 0; i < c->vocab_size; i++)
        maxd = fmaxf(maxd, fabsf(p.logits[i] - e.logits[i]));
    double fd = (double)formula_sum(c, ipos, 1);
    printf("bench engine baseline=plain_c_loops context=%d plain_us=%.1f engine_us=%.1f "
           "speedup=%.2f plain_gflops=%.2f engine_gflops=%.2f engine_pct_of_peak=%.1f "
           "max_logit_diff=%.2e\n",
           ictx, (double)plain / 1e3, (double)eng / 1e3, (double)plain / (double)eng,
           fd / (double)plain, fd / (double)eng, peak > 0 ? 100.0 * fd / (double)eng / peak : 0.0,
           (double)maxd);

    bench_policies(&m, &tok, ts);

    free(p.x), free(p.xb), free(p.xb2), free(p.q), free(p.hb), free(p.hb2), free(p.att);
    free(p.logits), free(kc), free(vc), free(attn), free(ts), free(ts2), free(tokens);
    engine_free(&e);
    tokenizer_free(&tok);
    model_free(&m);
    return 0;
}

// ----------------------------------------------------------------------------------------------
// Checkpoints of llama2.c's published shapes with random weights, for speed comparisons

// The shapes of llama2.c's stories15M, 42M and 110M (their vocabulary and context).
static const struct {
    const char *name;
    int dim, hidden, layers, heads, seq_len;
} bench_shapes[] = {
    {"15m", 288, 768, 6, 6, 256},
    {"42m", 512, 1376, 8, 8, 1024},
    {"110m", 768, 2048, 12, 12, 1024},
};

// kvscope bench checkpoint 15m|42m|110m MODEL.bin TOKENIZER.bin: a version-0 checkpoint of that
// shape (shared classifier, 32,000 pieces) with uniform random weights of unit gain (seed 1; the
// BOS row zero, so that greedy decoding runs to the length asked),
// through the engine's own writer, and a tokenizer of 32,000 distinct pieces (the reserved ids,
// the 256 byte pieces, printable ASCII, then letter pairs, triples, ...) that both kvscope and
// llama2.c read.
static int bench_checkpoint(int argc, char **argv) {
    if (argc != 4)
        return app_usage_error("bench checkpoint", "usage: bench checkpoint 15m|42m|110m "
                                                   "MODEL.bin TOKENIZER.bin");
    size_t k = 0, n = sizeof bench_shapes / sizeof bench_shapes[0];
    while (k < n && strcmp(argv[1], bench_shapes[k].name) != 0)
        k++;
    if (k == n)
        return app_usage_error("bench checkpoint", "unknown shape '%s' (15m, 42m, 110m)", argv[1]);
    KvError err = {0};
    const char *const outs[] = {"bin", NULL};
    if (kv_check_output(argv[2], outs, NULL, &err) || kv_check_output(argv[3], outs, NULL, &err))
        return app_fail(&err);
    const int V = 32000;
    ModelConfig c = {bench_shapes[k].dim,     bench_shapes[k].hidden,
                     bench_shapes[k].layers,  bench_shapes[k].heads,
                     bench_shapes[k].heads,   V,
                     bench_shapes[k].seq_len, true};
    const size_t nw = config_weight_count(&c);
    float *data = kv_malloc(nw * sizeof(float));
    ModelWeights w;
    weights_carve(&w, &c, data);
    uint64_t rng = 1;
    const float *norms[3] = {w.rms_att, w.rms_ffn, w.rms_final};
    for (size_t i = 0; i < nw; i++) { // uniform on [-a, a], a = sqrt(3 / D): unit-variance rows
        const float u = 2.0f * kv_rng_f32(&rng) - 1.0f;
        data[i] = u * sqrtf(3.0f / (float)c.dim);
    }
    memset(w.token_embedding + c.dim, 0, (size_t)c.dim * sizeof(float)); // BOS: logit 0, never
    // the largest of 32,000 (kvscope and llama2.c both stop when they pick it)
    for (int t = 0; t < 3; t++) { // RMSNorm gains near 1
        const size_t len = t == 2 ? (size_t)c.dim : (size_t)c.n_layers * c.dim;
        for (size_t i = 0; i < len; i++)
            ((float *)norms[t])[i] = 1.0f + 0.1f * (2.0f * kv_rng_f32(&rng) - 1.0f);
    }
    KvStatus st = model_write(argv[2], &c, &w, &err);
    free(data);
    if (st)
        return app_fail(&err);
    char *buf = kv_malloc((size_t)V * 8);
    const char **pieces = kv_malloc((size_t)V * sizeof *pieces);
    float *scores = kv_malloc((size_t)V * sizeof *scores);
    int np = 0;
#define PIECE(...) (snprintf(buf + 8 * np, 8, __VA_ARGS__), pieces[np] = buf + 8 * np, np++)
    PIECE("<unk>");
    PIECE("\n<s>\n");
    PIECE("\n</s>\n");
    for (int b = 0; b < 256; b++)
        PIECE("<0x%02X>", b);
    for (int ch = 32; ch < 127; ch++)
        PIECE("%c", ch);
    for (int len = 2; np < V; len++) // every string of len lowercase letters, in order
        for (long code = 0; np < V; code++) {
            char word[8];
            long v = code;
            for (int i = len - 1; i >= 0; i--, v /= 26)
                word[i] = (char)('a' + v % 26);
            if (v) // all of this length done
                break;
            word[len] = 0;
            PIECE("%s", word);
        }
#undef PIECE
    for (int i = 0; i < V; i++)
        scores[i] = i < 259 + 95 ? 0.0f : (float)(-i);
    Tokenizer tok;
    st = tokenizer_build(&tok, V, pieces, scores, &err);
    if (!st)
        st = tokenizer_write(&tok, argv[3], &err), tokenizer_free(&tok);
    free(buf), free(pieces), free(scores);
    if (st)
        return app_fail(&err);
    printf("bench checkpoint shape=%s params=%zu bytes=%zu model=%s tokenizer=%s\n", argv[1],
           config_param_count(&c), nw * sizeof(float), argv[2], argv[3]);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "checkpoint") == 0)
        return bench_checkpoint(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "engine") == 0)
        return bench_engine(argc - 1, argv + 1, false);
    if (argc >= 2 && strcmp(argv[1], "kv") == 0) // the precision lines of bench engine alone
        return bench_engine(argc - 1, argv + 1, true);
    if (argc >= 2 && strcmp(argv[1], "render") == 0)
        return bench_render(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return bench_serve(argc - 1, argv + 1);
    if (argc >= 2 && argv[1][0] != '-')
        return app_usage_error("bench", "unknown benchmark '%s' (engine, kv, render, serve)",
                               argv[1]);
    int st = bench_engine(argc, argv, false);
    return st ? st : bench_render(argc, argv);
}
