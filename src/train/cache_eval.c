// cache_eval.c — `kvtrain cache`: what each KV cache retention policy costs the model in loss, on
// text it did not train on. The held-out text is the corpus generator's validation split (every
// 40th document of the seed make_model.sh trains stage 1 on), documents one after another, each
// after a BOS, cut at N tokens. Each policy runs the engine teacher-forced, one position per
// step, exactly as generation would (the policy evicts as it goes); the mean negative
// log-likelihood of the next token is reported over the model's context and, for the policies
// that can go past it (sinks, which rotate keys by their index in the cache), over all N. Also
// measured: how much attention lands on position 0 (BOS) in each layer under the full cache, and
// on the BOS that starts the query's own document (the stream holds several).
//
// What it does not do: train, or change the policies (src/engine/kvcache.c runs them).
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// -log softmax(logits)[target], in double.
static double nll_of(const float *lg, int v, int target) {
    float mx = lg[0];
    for (int i = 1; i < v; i++)
        mx = lg[i] > mx ? lg[i] : mx;
    double sum = 0;
    for (int i = 0; i < v; i++)
        sum += exp((double)lg[i] - mx);
    return log(sum) + mx - lg[target];
}

// What run_policy gathers at each position (teacher_force's visit).
typedef struct {
    const Engine *e;
    const float *w;
    const int *stream;
    int L, H, bos, n_bos;
    double *nll, *att0, *att_bos;
} PolicyRun;

static void policy_visit(void *ctx, int p, int pos, int len) {
    PolicyRun *r = ctx;
    (void)pos, (void)len;
    if (r->stream[p] == TOKEN_BOS)
        r->bos = p;
    r->nll[p] = nll_of(r->e->logits, r->e->model->cfg.vocab_size, r->stream[p + 1]);
    if (r->att0 && p >= 1)
        for (int k = 0; k < r->L; k++)
            for (int h = 0; h < r->H; h++)
                r->att0[k] += r->w[((size_t)k * r->H + h) * (p + 1)] / r->H;
    if (r->att_bos && r->att0 && p > r->bos) {
        r->n_bos++;
        for (int k = 0; k < r->L; k++)
            for (int h = 0; h < r->H; h++)
                r->att_bos[k] += r->w[((size_t)k * r->H + h) * (p + 1) + r->bos] / r->H;
    }
}

// Runs kind over stream[0..n) (teacher-forced): nll[p] = -log p(stream[p+1] | what the policy
// kept of 0..p), for p < the return value (n - 1, or the context for kinds that cannot pass it).
// att0 (L), when not NULL, gets the mean attention (over heads and queries 1 ..) on position 0.
static int run_policy(const Model *m, KvCacheKind kind, const int *stream, int n, double *nll,
                      double *att0, double *att_bos) {
    const ModelConfig *c = &m->cfg;
    const int T = c->seq_len, L = c->n_layers, H = c->n_heads;
    const bool past = kv_kind_unbounded_positions(kind);
    const int last = past ? n - 1 : (n - 1 < T ? n - 1 : T);
    Engine e;
    KvError err;
    engine_init(&e, m, &err);
    engine_set_cache_kind(&e, kind);
    float *w = att0 ? kv_calloc((size_t)L * H * T, sizeof(float)) : NULL;
    if (att0)
        memset(att0, 0, (size_t)L * sizeof *att0);
    if (att_bos)
        memset(att_bos, 0, (size_t)L * sizeof *att_bos);
    // the BOS that starts the query's document: bos
    PolicyRun r = {.e = &e,
                   .w = w,
                   .stream = stream,
                   .L = L,
                   .H = H,
                   .nll = nll,
                   .att0 = att0,
                   .att_bos = att_bos};
    Engine *const es[1] = {&e};
    float *const attn[1] = {w};
    teacher_force(es, att0 ? attn : NULL, 1, stream, last, 0, policy_visit, &r);
    if (att0)
        for (int k = 0; k < L; k++)
            att0[k] /= (last - 1);
    if (att_bos)
        for (int k = 0; k < L; k++)
            att_bos[k] /= r.n_bos ? r.n_bos : 1;
    free(w);
    engine_free(&e);
    return last;
}

static double mean(const double *x, int lo, int hi) {
    double s = 0;
    for (int i = lo; i < hi; i++)
        s += x[i];
    return hi > lo ? s / (hi - lo) : NAN;
}

KvStatus cache_eval_run(const char *model_path, const char *tok_path, int n_tokens, uint64_t seed,
                        KvError *err) {
    HeldOut h;
    KvStatus st = heldout_open(&h, model_path, tok_path, seed, n_tokens, err);
    if (st)
        return st;
    const Model *m = &h.m;
    const int *stream = h.tok, n = h.n;
    const ModelConfig *c = &m->cfg;
    const int T = c->seq_len, L = c->n_layers;
    printf("cache text=held-out corpus_seed=%llu tokens=%d model=%s context=%d\n",
           (unsigned long long)seed, n, model_path, T);

    // the policies at equal budgets; "rolling" is sinks without sinks (S = 0, not a --cache
    // word): the same cache-index rotation, the first positions not kept: StreamingLLM's
    // window-attention baseline, which can also go past the context
    const int budgets[] = {64, 128};
    double att0[KV_MAX_LAYERS], att_bos[KV_MAX_LAYERS];
    double *ref = kv_malloc((size_t)n * sizeof *ref), *nll = kv_malloc((size_t)n * sizeof *nll);
    const int ctx =
        run_policy(m, KV_CACHE_DENSE, stream, n, ref, att0, att_bos); // predictions 0..ctx-1
    printf("cache nll policy=full budget=%d nll_ctx=%.4f nll_all=n/a\n", T, mean(ref, 0, ctx));
    for (int bi = 0; bi < 2; bi++) {
        const int B = budgets[bi];
        KvCacheKind kinds[5];
        char names[5][48];
        for (int k = 0; k < 5; k++)
            kinds[k] = KV_CACHE_DENSE;
        kinds[0].retention = KV_RETAIN_WINDOW, kinds[0].window = B;
        kinds[1].retention = KV_RETAIN_SINKS, kinds[1].sinks = 4, kinds[1].window = B - 4;
        kinds[2].retention = KV_RETAIN_SINKS, kinds[2].sinks = 1, kinds[2].window = B - 1;
        kinds[3].retention = KV_RETAIN_SINKS, kinds[3].sinks = 0, kinds[3].window = B;
        kinds[4].retention = KV_RETAIN_H2O, kinds[4].heavy = B / 2, kinds[4].recent = B / 2;
        for (int k = 0; k < 5; k++)
            kv_retention_name(kinds[k], names[k], sizeof names[k]);
        snprintf(names[3], sizeof names[3], "rolling:%d", B); // sinks:0,B
        for (int k = 0; k < 5; k++) {
            const int got = run_policy(m, kinds[k], stream, n, nll, NULL, NULL);
            char all[32] = "n/a";
            if (got > ctx)
                snprintf(all, sizeof all, "%.4f", mean(nll, 0, got));
            printf("cache nll policy=%s budget=%d nll_ctx=%.4f nll_after_budget=%.4f "
                   "full_after_budget=%.4f nll_all=%s\n",
                   names[k], B, mean(nll, 0, ctx), mean(nll, B, ctx), mean(ref, B, ctx), all);
            fflush(stdout);
        }
    }
    free(ref);
    free(nll);
    double uniform = 0; // what position 0 would get if attention were spread evenly
    for (int p = 1; p < (n - 1 < T ? n - 1 : T); p++)
        uniform += 1.0 / (p + 1);
    uniform /= ((n - 1 < T ? n - 1 : T) - 1);
    printf("cache sink policy=full on=position0 uniform_share=%.4f", uniform);
    for (int k = 0; k < L; k++)
        printf(" layer%d=%.4f", k + 1, att0[k]);
    printf("\ncache sink policy=full on=document_bos");
    for (int k = 0; k < L; k++)
        printf(" layer%d=%.4f", k + 1, att_bos[k]);
    printf("\n");
    heldout_close(&h);
    return KV_OK;
}
