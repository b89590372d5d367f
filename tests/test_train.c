// test_train.c — the trainer's tests: the backward pass against finite differences on every
// parameter tensor, the corpus generator's determinism, the BPE tokenizer's round trip and its
// agreement with the engine's encoder, the loss-curve PNG, and (when the shipped model exists)
// its fact preset.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/train.h"

// ----------------------------------------------------------------------------------------------
// Gradient check

// Central differences in float32 with h = 2e-3 on weights 3x the training init (so every path
// carries a clear gradient). The loss is about log V; its float rounding noise (~3e-7) over 2h
// is ~1e-4, and the curvature error at this h is below 1e-3 relative. An entry passes when
// |numeric - analytic| <= 1e-3 + 1e-2 * |numeric|. Checked per tensor: the entry with the
// largest analytic gradient and 10 random ones; every tensor of the checkpoint is covered.
static void gradcheck(bool shared, int heads, int kv_heads) {
    ModelConfig c = {.dim = 16,
                     .hidden_dim = 24,
                     .n_layers = 2,
                     .n_heads = heads,
                     .n_kv_heads = kv_heads,
                     .vocab_size = 37,
                     .seq_len = 8,
                     .shared_classifier = shared};
    int B = 2, T = 8;
    size_t P = config_weight_count(&c);
    float *p = calloc(P, sizeof(float)), *gb = calloc(P, sizeof(float));
    ModelWeights w, g;
    weights_carve(&w, &c, p);
    weights_carve(&g, &c, gb);
    net_init_weights(&c, &w, 7);
    // larger weights than the default init, so every path carries a visible gradient
    for (size_t i = 0; i < P; i++)
        p[i] *= 3.0f;
    uint64_t s = trng_seed(11);
    for (size_t i = 0; i < (size_t)c.n_layers * c.dim; i++) {
        w.rms_att[i] = 0.5f + trng_unit(&s);
        w.rms_ffn[i] = 0.5f + trng_unit(&s);
    }
    for (int i = 0; i < c.dim; i++)
        w.rms_final[i] = 0.5f + trng_unit(&s);
    int tok[2 * 8 + 1];
    for (int i = 0; i < B * T + 1; i++)
        tok[i] = (int)trng_below(&s, (uint32_t)c.vocab_size);
    Net net;
    net_init(&net, &c, B, T);
    net_forward(&net, &w, tok, tok + 1);
    net_backward(&net, &w, &g, tok + 1);

    size_t L = (size_t)c.n_layers, D = (size_t)c.dim, F = (size_t)c.hidden_dim;
    size_t KV = (size_t)config_kv_dim(&c), V = (size_t)c.vocab_size;
    struct {
        const char *name;
        float *w, *g;
        size_t n;
    } t[] = {
        {"token_embedding", w.token_embedding, g.token_embedding, V * D},
        {"rms_att", w.rms_att, g.rms_att, L * D},
        {"wq", w.wq, g.wq, L * D * D},
        {"wk", w.wk, g.wk, L * KV * D},
        {"wv", w.wv, g.wv, L * KV * D},
        {"wo", w.wo, g.wo, L * D * D},
        {"rms_ffn", w.rms_ffn, g.rms_ffn, L * D},
        {"w1", w.w1, g.w1, L * F * D},
        {"w2", w.w2, g.w2, L * D * F},
        {"w3", w.w3, g.w3, L * F * D},
        {"rms_final", w.rms_final, g.rms_final, D},
        {"wcls", shared ? NULL : w.wcls, g.wcls, V * D},
    };
    const float h = 2e-3f;
    int checked = 0;
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        if (!t[k].w)
            continue;
        size_t idx[11];
        idx[0] = 0;
        for (size_t i = 1; i < t[k].n; i++)
            if (fabsf(t[k].g[i]) > fabsf(t[k].g[idx[0]]))
                idx[0] = i;
        cr_assert(fabsf(t[k].g[idx[0]]) > 1e-4f, "%s: no gradient at all", t[k].name);
        for (int j = 1; j < 11; j++)
            idx[j] = trng_below(&s, (uint32_t)t[k].n);
        for (int j = 0; j < 11; j++) {
            float *x = &t[k].w[idx[j]], x0 = *x;
            *x = x0 + h;
            double lp = net_forward(&net, &w, tok, tok + 1);
            *x = x0 - h;
            double lm = net_forward(&net, &w, tok, tok + 1);
            *x = x0;
            double num = (lp - lm) / (2.0 * h), ana = t[k].g[idx[j]];
            cr_expect(fabs(num - ana) <= 1e-3 + 1e-2 * fabs(num),
                      "%s[%zu]: numeric %.6f analytic %.6f", t[k].name, idx[j], num, ana);
            checked++;
        }
    }
    cr_assert(checked >= 11 * 11);
    net_free(&net);
    free(p);
    free(gb);
}

Test(train, gradient_check_multihead_unshared) {
    gradcheck(false, 4, 4);
}
Test(train, gradient_check_grouped_query_shared) {
    gradcheck(true, 4, 2);
}

// A wrong gradient must fail the check: perturb the backward's result and compare again.
Test(train, gradient_check_detects_a_wrong_gradient) {
    ModelConfig c = {.dim = 16,
                     .hidden_dim = 24,
                     .n_layers = 1,
                     .n_heads = 2,
                     .n_kv_heads = 2,
                     .vocab_size = 20,
                     .seq_len = 4,
                     .shared_classifier = true};
    size_t P = config_weight_count(&c);
    float *p = calloc(P, sizeof(float)), *gb = calloc(P, sizeof(float));
    ModelWeights w, g;
    weights_carve(&w, &c, p);
    weights_carve(&g, &c, gb);
    net_init_weights(&c, &w, 3);
    for (size_t i = 0; i < P; i++)
        p[i] *= 3.0f;
    int tok[5] = {1, 5, 7, 9, 3};
    Net net;
    net_init(&net, &c, 1, 4);
    net_forward(&net, &w, tok, tok + 1);
    net_backward(&net, &w, &g, tok + 1);
    // the largest wq gradient, doubled, no longer matches the finite difference
    size_t i0 = 0;
    for (size_t i = 1; i < (size_t)c.dim * c.dim; i++)
        if (fabsf(g.wq[i]) > fabsf(g.wq[i0]))
            i0 = i;
    float x0 = w.wq[i0];
    w.wq[i0] = x0 + 2e-3f;
    double lp = net_forward(&net, &w, tok, tok + 1);
    w.wq[i0] = x0 - 2e-3f;
    double lm = net_forward(&net, &w, tok, tok + 1);
    double num = (lp - lm) / 4e-3, wrong = 2.0 * g.wq[i0];
    cr_assert(fabs(num - g.wq[i0]) <= 1e-3 + 1e-2 * fabs(num), "numeric %f analytic %f", num,
              g.wq[i0]);
    cr_assert(!(fabs(num - wrong) <= 1e-3 + 1e-2 * fabs(num)));
    net_free(&net);
    free(p);
    free(gb);
}

// ----------------------------------------------------------------------------------------------
// Corpus

Test(train, corpus_is_deterministic_per_seed) {
    StrBuf a = {0}, b = {0}, c = {0};
    CorpusGen g1, g2, g3;
    corpus_init(&g1, 42);
    corpus_init(&g2, 42);
    corpus_init(&g3, 43);
    for (int i = 0; i < 200; i++) {
        corpus_next(&g1, &a);
        corpus_next(&g2, &b);
        corpus_next(&g3, &c);
    }
    cr_assert_eq(a.n, b.n);
    cr_assert(memcmp(a.p, b.p, a.n) == 0, "same seed, different text");
    cr_assert(a.n != c.n || memcmp(a.p, c.p, a.n) != 0, "different seeds, same text");
    cr_assert(strchr(a.p, CORPUS_DOC_SEP) == NULL);
    sb_free(&a);
    sb_free(&b);
    sb_free(&c);
}

// The copy-generalisation prompts use names the generator never produces, in both variants.
Test(train, corpus_never_produces_the_copy_test_names) {
    for (int variant = 0; variant < 2; variant++) {
        CorpusGen g;
        corpus_init(&g, 1234);
        g.variant = variant ? CORPUS_COPY : CORPUS_BASIC;
        StrBuf s = {0};
        while (s.n < 3000000)
            corpus_next(&g, &s);
        const char *found = eval_copy_name_found(s.p);
        cr_assert(found == NULL, "variant %d produced %s", variant, found);
        sb_free(&s);
    }
    cr_assert_str_eq(eval_copy_name_found("a story about Quorbina"), "Quorbina");
}

Test(train, corpus_has_the_three_genres_and_copyable_names) {
    CorpusGen g;
    corpus_init(&g, 5);
    StrBuf s = {0};
    corpus_document(&g, GENRE_STORY, &s);
    // the hero's name (after "named" or "called", or first word) appears at least three times
    const char *at = strstr(s.p, "named ");
    at = at ? at + 6 : strstr(s.p, "called ") ? strstr(s.p, "called ") + 7 : s.p;
    char name[32] = {0};
    for (int i = 0; i < 31 && at[i] >= 'A' && at[i] <= 'z' && at[i] != '.'; i++)
        name[i] = at[i];
    int count = 0;
    for (const char *p = strstr(s.p, name); p; p = strstr(p + 1, name))
        count++;
    cr_assert(count >= 3, "name '%s' used %d times in: %s", name, count, s.p);
    s.n = 0;
    corpus_document(&g, GENRE_CODE, &s);
    cr_assert(strncmp(s.p, "def ", 4) == 0 && strstr(s.p, "    return"), "%s", s.p);
    s.n = 0;
    corpus_document(&g, GENRE_FACT, &s);
    cr_assert(s.n > 20 && strchr(s.p, '.'), "%s", s.p);
    sb_free(&s);
}

// ----------------------------------------------------------------------------------------------
// BPE

static char **sample_docs(size_t n, StrBuf *store) {
    CorpusGen g;
    corpus_init(&g, 9);
    size_t *off = malloc(n * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        off[i] = store->n;
        corpus_next(&g, store);
        sb_putn(store, "", 1); // keep the NUL inside the buffer
    }
    char **docs = malloc(n * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        docs[i] = store->p + off[i];
    free(off);
    return docs;
}

Test(train, bpe_round_trips_and_the_engine_reproduces_its_segmentation) {
    StrBuf store = {0};
    size_t nd = 600;
    char **docs = sample_docs(nd, &store);
    Bpe b;
    KvError err;
    cr_assert_eq(bpe_train(&b, docs, nd, 512, NULL, &err), KV_OK, "%s", err.msg);
    char path[] = "/tmp/kvtrain-test-tok-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(bpe_write(&b, path, &err), KV_OK, "%s", err.msg);
    Tokenizer t;
    cr_assert_eq(tokenizer_load(&t, path, 512, &err), KV_OK, "%s", err.msg);
    unlink(path);
    const char *extra[] = {"The capital of France is",
                           "def area(width, height):\n    return width *",
                           "Once upon a time, in a small kingdom, there lived a princess named "
                           "Mia. Every morning, Mia",
                           "Zqx j\xc3\xa9rome caf\xc3\xa9 \xf0\x9f\x99\x82 <0x41> ~~~", ""};
    int *mine = malloc(20000 * sizeof(int)), *eng = malloc(20000 * sizeof(int));
    int merged = 0;
    for (size_t d = 0; d < 40 + sizeof extra / sizeof extra[0]; d++) {
        const char *text = d < 40 ? docs[d * 7] : extra[d - 40];
        int n = bpe_encode(&b, text, mine), ne = 0;
        cr_assert_eq(tokenizer_encode(&t, text, false, false, eng, 20000, &ne, &err), KV_OK, "%s",
                     err.msg);
        cr_assert_eq(n, ne, "token count differs on: %s", text);
        for (int i = 0; i < n; i++)
            cr_assert_eq(mine[i], eng[i], "token %d differs on: %s", i, text);
        // round trip through the engine's decoder
        StrBuf out = {0};
        int prev = TOKEN_BOS;
        for (int i = 0; i < n; i++) {
            char bb[2];
            size_t len;
            const char *piece = tokenizer_decode(&t, prev, eng[i], bb, &len);
            sb_putn(&out, piece, len);
            prev = eng[i];
        }
        cr_assert_str_eq(out.n ? out.p : "", text);
        sb_free(&out);
        merged += n < (int)strlen(text);
    }
    cr_assert(merged >= 40, "merges shorten text");
    // the trained vocabulary's conventions
    cr_assert_str_eq(t.pieces[1], "\n<s>\n");
    cr_assert_str_eq(t.pieces[3 + 'A'], "<0x41>");
    cr_assert(tokenizer_lookup(&t, " ", 1) >= 259);
    free(mine);
    free(eng);
    tokenizer_free(&t);
    bpe_free(&b);
    free(docs);
    sb_free(&store);
}

// ----------------------------------------------------------------------------------------------
// Loss curve

Test(train, loss_curve_png_is_written) {
    char csv[] = "/tmp/kvtrain-test-csv-XXXXXX";
    int fd = mkstemp(csv);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "step,tokens,lr,train_loss,val_loss,grad_norm,step_ms\n");
    for (int i = 0; i < 100; i++)
        fprintf(f, "%d,%d,0.001,%.3f,%s,1.0,10\n", i, i * 10, 7.0 - i * 0.04,
                i % 10 == 0 ? "6.5" : "");
    fclose(f);
    char png[64];
    snprintf(png, sizeof png, "%s.png", csv);
    KvError err;
    cr_assert_eq(plot_loss_png(csv, png, "test", &err), KV_OK, "%s", err.msg);
    FILE *pf = fopen(png, "rb");
    cr_assert(pf);
    unsigned char sig[8];
    cr_assert_eq(fread(sig, 1, 8, pf), 8);
    fclose(pf);
    cr_assert(memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0);
    unlink(csv);
    unlink(png);
}

// ----------------------------------------------------------------------------------------------
// Trainer and engine: two code paths, one model

// A random model written with the engine's writer and loaded back: the trainer's batched loss
// and the engine's cached decode loss on the same tokens agree to 1e-4 relative (float32 sums
// in different orders), and every position's logits match.
Test(train, trainer_forward_matches_engine_forward) {
    ModelConfig c = {.dim = 48,
                     .hidden_dim = 80,
                     .n_layers = 3,
                     .n_heads = 6,
                     .n_kv_heads = 2,
                     .vocab_size = 97,
                     .seq_len = 40,
                     .shared_classifier = false};
    size_t P = config_weight_count(&c);
    float *p = calloc(P, sizeof(float));
    ModelWeights w;
    weights_carve(&w, &c, p);
    net_init_weights(&c, &w, 5);
    for (size_t i = 0; i < P; i++)
        p[i] *= 4.0f;
    char path[] = "/tmp/kvtrain-test-model-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    KvError err;
    cr_assert_eq(model_write(path, &c, &w, &err), KV_OK, "%s", err.msg);
    Model m;
    cr_assert_eq(model_load(&m, path, &err), KV_OK, "%s", err.msg);
    unlink(path);
    int T = c.seq_len, tok[41];
    uint64_t s = trng_seed(3);
    for (int i = 0; i <= T; i++)
        tok[i] = (int)trng_below(&s, (uint32_t)c.vocab_size);
    Net net;
    net_init(&net, &c, 1, T);
    double lt = net_forward(&net, &m.w, tok, tok + 1);
    Engine e;
    cr_assert_eq(engine_init(&e, &m, &err), KV_OK, "%s", err.msg);
    double le = 0, maxdiff = 0;
    for (int pos = 1; pos <= T; pos++) {
        engine_step(&e, tok, pos, CACHE_MODE_ON, NULL, NULL);
        const float *lg = e.logits, *ln = net.logits + (size_t)(pos - 1) * c.vocab_size;
        float mx = lg[0];
        for (int v = 0; v < c.vocab_size; v++) {
            mx = lg[v] > mx ? lg[v] : mx;
            maxdiff = fmax(maxdiff, fabs(lg[v] - ln[v]));
        }
        double sum = 0;
        for (int v = 0; v < c.vocab_size; v++)
            sum += exp((double)(lg[v] - mx));
        le += log(sum) + mx - lg[tok[pos]];
    }
    le /= T;
    cr_assert(lt > 1.0, "a random model's loss is large (%f)", lt);
    cr_assert(fabs(lt - le) <= 1e-4 * le, "trainer %.6f engine %.6f", lt, le);
    cr_assert(maxdiff <= 1e-3, "max logit difference %g", maxdiff);
    engine_free(&e);
    net_free(&net);
    model_free(&m);
    free(p);
}
// ----------------------------------------------------------------------------------------------
// The shipped model (assets/models, committed; tests run from the repository root)

static void load_shipped(Model *m, Tokenizer *t, Engine *e) {
    KvError err;
    cr_assert_eq(model_load(m, "assets/models/kvscope6.bin", &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tokenizer_load(t, "assets/models/tokenizer.bin", m->cfg.vocab_size, &err), KV_OK,
                 "%s", err.msg);
    cr_assert_eq(engine_init(e, m, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(m->cfg.n_layers, 6);
    cr_assert_eq(m->cfg.dim, 128);
    cr_assert(m->cfg.seq_len >= 256);
}

Test(train, shipped_model_continues_the_presets) {
    Model m;
    Tokenizer t;
    Engine e;
    load_shipped(&m, &t, &e);
    StrBuf out = {0};
    eval_greedy(&e, &t, "The capital of France is", 3, &out, NULL);
    cr_assert(strncmp(out.p, " Paris", 6) == 0, "fact preset gave \"%s\"", out.p);
    out.n = 0;
    eval_greedy(&e, &t, "def area(width, height):\n    return width *", 3, &out, NULL);
    cr_assert(strncmp(out.p, " height", 7) == 0, "code preset gave \"%s\"", out.p);
    out.n = 0;
    eval_greedy(&e, &t,
                "Once upon a time, in a small kingdom, there lived a princess named Mia. "
                "Every morning, Mia",
                24, &out, NULL);
    cr_assert(strstr(out.p, "Mia") != NULL, "narrative preset gave \"%s\"", out.p);
    sb_free(&out);
    engine_free(&e);
    tokenizer_free(&t);
    model_free(&m);
}

// Copy generalisation on the 40 prompts of eval.c's main set (names the corpus never holds):
// the shipped model measured 0.875 or better when it was trained (`kvtrain eval`); the floor
// catches a model that stopped copying.
Test(train, shipped_model_copies_names_it_never_saw, .timeout = 120) {
    Model m;
    Tokenizer t;
    Engine e;
    load_shipped(&m, &t, &e);
    e.instrument = false;
    int n = 0, ok = eval_copy(&e, &t, false, false, &n);
    cr_assert_eq(n, 40);
    cr_assert(ok >= 34, "copied %d of %d", ok, n);
    engine_free(&e);
    tokenizer_free(&t);
    model_free(&m);
}
