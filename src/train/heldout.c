// heldout.c — what `kvtrain kv` (kveval.c) and `kvtrain cache` (cache_eval.c) share: a model
// loaded with its tokenizer and the corpus generator's held-out text encoded with it, and teacher
// forcing through the engine one position a step, as generation feeds it, in windows.
//
// The held-out text is the validation split corpus_write makes (every 40th document of the
// BASIC variant of a seed), documents one after another, each after a BOS, encoded with the
// engine's tokenizer, cut at the count asked for.
//
// What it does not do: decide anything from what it runs (its callers measure).
#include "train/train.h"

#include <stdlib.h>
#include <string.h>

int *heldout_tokens(const Tokenizer *t, uint64_t seed, int want, int *n) {
    CorpusGen g;
    corpus_init(&g, seed);
    g.variant = CORPUS_BASIC;
    int *out = kv_malloc((size_t)(want > 0 ? want : 1) * sizeof *out), got = 0;
    StrBuf doc = {0};
    for (size_t i = 0; got < want; i++) {
        doc.n = 0;
        corpus_next(&g, &doc); // every document, so the stream is corpus_write's
        if (i % 40 != 39)
            continue;
        sb_putn(&doc, "", 1); // NUL-terminated
        int cap = (int)doc.n + 3, k = 0;
        int *ids = kv_malloc((size_t)cap * sizeof *ids);
        KvError err;
        if (tokenizer_encode(t, doc.p, true, false, ids, cap, &k, &err) == KV_OK)
            for (int j = 0; j < k && got < want; j++)
                out[got++] = ids[j];
        free(ids);
    }
    sb_free(&doc);
    *n = got;
    return out;
}

int *kveval_heldout(const Tokenizer *t, int want, int *n) {
    return heldout_tokens(t, HELDOUT_SEED, want, n);
}

KvStatus heldout_open(HeldOut *h, const char *model_path, const char *tok_path, uint64_t seed,
                      int n_tokens, KvError *err) {
    memset(h, 0, sizeof *h);
    KvStatus st = model_load(&h->m, model_path, err);
    if (st)
        return st;
    if ((st = tokenizer_load(&h->t, tok_path, h->m.cfg.vocab_size, err))) {
        model_free(&h->m);
        return st;
    }
    h->tok = heldout_tokens(&h->t, seed, n_tokens, &h->n);
    return KV_OK;
}

void heldout_close(HeldOut *h) {
    free(h->tok);
    tokenizer_free(&h->t);
    model_free(&h->m);
    memset(h, 0, sizeof *h);
}

void teacher_force(Engine *const *es, float *const *attn, int ne, const int *tok, int n, int window,
                   TeacherVisit visit, void *ctx) {
    const int W = window > 0 ? window : n;
    for (int w0 = 0; w0 < n; w0 += W) {
        const int len = n - w0 < W ? n - w0 : W;
        for (int k = 0; k < ne; k++)
            kvcache_clear(&es[k]->cache);
        for (int pos = 0; pos < len; pos++) {
            for (int k = 0; k < ne; k++) {
                AttnSink sink = {
                    .w = attn ? attn[k] : NULL, .row0 = pos, .rows = 1, .cols = pos + 1};
                engine_step(es[k], tok + w0, pos + 1, CACHE_MODE_ON, sink.w ? &sink : NULL, NULL);
            }
            visit(ctx, w0 + pos, pos, len);
        }
    }
}
