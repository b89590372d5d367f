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

// What teacher_force's visits add up: the f32 engine and the one of the kind, after each position.
typedef struct {
    const Engine *ref, *e;
    const float *aref, *akind;
    const int *tok;
    int L, H, V;
    double *pr, *pk, *l1, nll, kl;
    long rows;
    KvEvalResult *r;
} KindRun;

static void kind_visit(void *ctx, int i, int pos, int len) {
    KindRun *k = ctx;
    const size_t row = (size_t)k->H * (size_t)(pos + 1); // (H, pos + 1) of one layer
    for (int l = 0; l < k->L; l++) { // attention of the written position, per layer
        double d = 0;
        for (size_t j = 0; j < row; j++)
            d += fabs((double)k->aref[(size_t)l * row + j] - (double)k->akind[(size_t)l * row + j]);
        k->l1[l] += d / k->H;
    }
    k->rows++;
    if (pos + 1 >= len) {         // the window's last position predicts nothing inside it
        if (len > k->r->window) { // the longest window's bytes, at its end
            k->r->window = len;
            k->r->resident_bytes = kvcache_bytes_resident(&k->e->cache);
        }
        return;
    }
    const int next = k->tok[i + 1], V = k->V;
    const float *lr = k->ref->logits, *le = k->e->logits;
    softmax_d(lr, V, k->pr);
    softmax_d(le, V, k->pk);
    double kl = 0, md = 0;
    for (int v = 0; v < V; v++) {
        if (k->pr[v] > 0)
            kl += k->pr[v] * (log(k->pr[v]) - log(k->pk[v] > 1e-300 ? k->pk[v] : 1e-300));
        md = fmax(md, fabs((double)lr[v] - (double)le[v]));
    }
    k->kl += kl;
    k->r->max_logit_diff = fmax(k->r->max_logit_diff, md);
    k->nll -= log(k->pk[next] > 1e-300 ? k->pk[next] : 1e-300);
    k->r->agree += argmax(lr, V) == argmax(le, V);
    k->r->predictions++;
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
    KindRun k = {.ref = &ref,
                 .e = &e,
                 .aref = aref,
                 .akind = akind,
                 .tok = tok,
                 .L = L,
                 .H = H,
                 .V = V,
                 .pr = kv_malloc((size_t)V * sizeof(double)),
                 .pk = kv_malloc((size_t)V * sizeof(double)),
                 .l1 = kv_calloc((size_t)L, sizeof(double)),
                 .r = r};
    Engine *const es[2] = {&ref, &e};
    float *const attn[2] = {aref, akind};
    teacher_force(es, attn, 2, tok, n, T, kind_visit, &k);
    r->bytes_per_token = r->window ? (double)r->resident_bytes / r->window : 0;
    r->nll = k.nll / (double)r->predictions;
    r->kl = k.kl / (double)r->predictions;
    for (int l = 0; l < L && l < KVEVAL_MAX_LAYERS; l++) {
        r->attn_l1[l] = k.l1[l] / (double)k.rows;
        r->attn_l1_mean += r->attn_l1[l] / L;
    }
    free(k.pr), free(k.pk), free(aref), free(akind), free(k.l1);
    engine_free(&ref), engine_free(&e);
    return KV_OK;
}

KvStatus kveval_run(const char *model_path, const char *tok_path, int n_tokens, KvError *err) {
    HeldOut h;
    KvStatus st = heldout_open(&h, model_path, tok_path, HELDOUT_SEED, n_tokens, err);
    if (st)
        return st;
    const Model *m = &h.m;
    const ModelConfig *c = &m->cfg;
    const int *tok = h.tok, n = h.n;
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
            if (kveval_kind(m, tok, n, k, &r, &why)) {
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
    heldout_close(&h);
    return KV_OK;
}
