// kveval.c — `kvtrain kv`: what each precision of the KV cache costs in quality and saves in
// bytes, teacher-forced over held-out text.
//
// The text is the corpus generator's held-out split as `make model` draws it (seed 2024, basic
// variant, every 40th document: corpus_write), its first documents encoded with the model's
// tokenizer (BOS, then the text, llama2.c's encoder) until n tokens, cut into windows of the
// model's context. Each window runs through an engine whose cache stores in one precision (with
// full retention, or a rolling window or sinks at a quarter of the context), one position per
// step (as generation stores them: every KIVI group is quantized when it becomes old enough), and
// through a full f32 engine on the same tokens. Printed per kind, one line each:
//   NLL per predicted position (nats), mean KL(p_f32 || p_kind), top-1 agreement with f32, the
//   largest |logit difference|, the mean L1 distance between the two engines' attention rows of
//   the position being written (over heads and positions, per layer), and the bytes per token
//   the cache holds at the end of the longest window (kvcache_bytes_resident / its length).
// What it does not do: choose a kind for anything, or measure time (kvscope bench engine does).
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HELDOUT_SEED 2024 // scripts/make_model.sh: the corpus whose held-out split is validation

static void softmax_d(const float *x, int n, double *p) {
    float mx = x[0];
    for (int i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += p[i] = exp((double)(x[i] - mx));
    for (int i = 0; i < n; i++)
        p[i] /= s;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

KvStatus kveval_kind(const Model *m, const int *tok, int n, KvCacheKind kind, KvEvalResult *r,
                     KvError *err) {
    const ModelConfig *c = &m->cfg;
    const int V = c->vocab_size, L = c->n_layers, H = c->n_heads, T = c->seq_len;
    const KvPrecision p = kind.precision;
    memset(r, 0, sizeof *r);
    KvStatus st = kv_precision_check(c, p, kv_precision_name(p), err);
    if (!st)
        st = kv_kind_combine_check(kv_precision_name(p), "", kind, err);
    if (!st)
        st = kv_retention_check("cache", kind, T, err);
    if (st)
        return st;
    Engine ref, e;
    engine_init(&ref, m, err);
    engine_init(&e, m, err);
    engine_set_cache_kind(&e, kind);
    float *aref = kv_malloc((size_t)L * H * T * sizeof(float));
    float *akind = kv_malloc((size_t)L * H * T * sizeof(float));
    double *pr = kv_malloc((size_t)V * sizeof(double)), *pk = kv_malloc((size_t)V * sizeof(double));
    double *l1 = kv_calloc((size_t)L, sizeof(double)), nll = 0, kl = 0;
    long rows = 0;
    for (int w = 0; w * T < n; w++) {
        const int *win = tok + (size_t)w * T, len = n - w * T < T ? n - w * T : T;
        kvcache_clear(&ref.cache);
        kvcache_clear(&e.cache);
        for (int pos = 0; pos < len; pos++) {
            AttnSink sr = {.w = aref, .row0 = pos, .rows = 1, .cols = pos + 1};
            AttnSink sk = {.w = akind, .row0 = pos, .rows = 1, .cols = pos + 1};
            engine_forward(&ref, win + pos, pos, 1, true, &sr, NULL);
            engine_forward(&e, win + pos, pos, 1, true, &sk, NULL);
            const size_t row = (size_t)H * (size_t)(pos + 1); // (H, pos + 1) of one layer
            for (int l = 0; l < L; l++) { // attention of the written position, per layer
                double d = 0;
                for (size_t i = 0; i < row; i++)
                    d += fabs((double)aref[(size_t)l * row + i] -
                              (double)akind[(size_t)l * row + i]);
                l1[l] += d / H;
            }
            rows++;
            if (pos + 1 >= len)
                break;
            const int next = win[pos + 1];
            softmax_d(ref.logits, V, pr);
            softmax_d(e.logits, V, pk);
            double k = 0, md = 0;
            for (int v = 0; v < V; v++) {
                if (pr[v] > 0)
                    k += pr[v] * (log(pr[v]) - log(pk[v] > 1e-300 ? pk[v] : 1e-300));
                md = fmax(md, fabs((double)ref.logits[v] - (double)e.logits[v]));
            }
            kl += k;
            r->max_logit_diff = fmax(r->max_logit_diff, md);
            nll -= log(pk[next] > 1e-300 ? pk[next] : 1e-300);
            r->agree += argmax(ref.logits, V) == argmax(e.logits, V);
            r->predictions++;
        }
        if (len > r->window) {
            r->window = len;
            r->bytes_per_token = (double)kvcache_bytes_resident(&e.cache) / len;
            r->resident_bytes = kvcache_bytes_resident(&e.cache);
        }
    }
    r->nll = nll / (double)r->predictions;
    r->kl = kl / (double)r->predictions;
    for (int l = 0; l < L && l < KVEVAL_MAX_LAYERS; l++) {
        r->attn_l1[l] = l1[l] / (double)rows;
        r->attn_l1_mean += r->attn_l1[l] / L;
    }
    free(pr), free(pk), free(aref), free(akind), free(l1);
    engine_free(&ref), engine_free(&e);
    return KV_OK;
}

KvStatus kveval_run(const char *model_path, const char *tok_path, int n_tokens, KvError *err) {
    Model m;
    KvStatus st = model_load(&m, model_path, err);
    if (st)
        return st;
    Tokenizer t;
    if ((st = tokenizer_load(&t, tok_path, m.cfg.vocab_size, err))) {
        model_free(&m);
        return st;
    }
    const ModelConfig *c = &m.cfg;
    int n = 0;
    int *tok = kveval_heldout(&t, n_tokens, &n);
    printf("kv model=%s dim=%d layers=%d heads=%d kv_heads=%d head_size=%d seq_len=%d "
           "text=heldout(seed=%d) tokens=%d windows=%d\n",
           model_path, c->dim, c->n_layers, c->n_heads, c->n_kv_heads, config_head_size(c),
           c->seq_len, HELDOUT_SEED, n, (n + c->seq_len - 1) / c->seq_len);
    const double f32_bpt = (double)config_kv_bytes_per_token(c);
    // each precision with full retention, then with a rolling window and with sinks at one budget,
    // a quarter of the context (128 of 512 positions)
    const int B = c->seq_len / 4 > 8 ? c->seq_len / 4 : 8;
    for (int pol = 0; pol < 3; pol++)
        for (int kind = 0; kind < KV_PRECISIONS; kind++) {
            const KvPrecision p = (KvPrecision)kind;
            char spec[32], name[32];
            snprintf(spec, sizeof spec, "%s",
                     pol == 0   ? "full"
                     : pol == 1 ? "window:"
                                : "sinks:4,");
            if (pol)
                snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%d",
                         pol == 1 ? B : B - 4);
            KvCacheKind k = KV_CACHE_DENSE;
            KvError why;
            kv_parse_retention("cache", spec, &k, &why);
            k.precision = p;
            kv_retention_name(k, name, sizeof name);
            KvEvalResult r;
            if (kveval_kind(&m, tok, n, k, &r, &why)) {
                printf("kv kind=%s cache=%s unusable=\"%s\"\n", kv_precision_name(p), name,
                       why.msg);
                continue;
            }
            char layers[512] = "";
            for (int l = 0; l < c->n_layers && l < KVEVAL_MAX_LAYERS; l++) {
                size_t u = strlen(layers);
                snprintf(layers + u, sizeof layers - u, "%s%.2e", l ? "," : "", r.attn_l1[l]);
            }
            printf(
                "kv kind=%s cache=%s nll=%.4f kl_mean=%.3e top1_agree=%.4f max_logit_diff=%.3e "
                "attn_l1_mean=%.3e bytes_per_token=%.1f pct_f32=%.1f resident_bytes=%zu window=%d "
                "predictions=%ld attn_l1_layers=%s\n",
                kv_precision_name(p), name, r.nll, r.kl, (double)r.agree / (double)r.predictions,
                r.max_logit_diff, r.attn_l1_mean, r.bytes_per_token,
                100.0 * r.bytes_per_token / f32_bpt, r.resident_bytes, r.window, r.predictions,
                layers);
        }
    free(tok);
    tokenizer_free(&t);
    model_free(&m);
    return KV_OK;
}
