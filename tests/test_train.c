// test_train.c — the trainer's tests: the backward pass against finite differences on every
// parameter tensor (unscored positions too), induction rows, the corpus generator's determinism,
// its original variants byte for byte, eval's unseen names and held-out questions kept out of the
// newer variants, the BPE tokenizer's round trip and its agreement with the engine's encoder, the
// loss-curve PNG, and the shipped model and its twins held to what `kvtrain eval` measured.
#include <criterion/criterion.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/train.h"

// Floors for the shipped models (the tests at the end of this file), a little under what
// `kvtrain eval` measured on the committed files: kvscope6 copied 117/120 unseen story names,
// 93/120 identifiers and 35/40 of the hard set; its best induction head scored 0.814 and top-1
// on repeated random tokens was 0.972; 34/81 held-out questions, 68/120 functions, 31/60
// stories with consistent pronouns; 0.256 of the presets' 8-grams repeated. The twins copied
// 197/240 (gqa) and 179/240 (mqa) unseen names.
#define MIN_COPY_STORY 110
#define MIN_COPY_CODE 85
#define MIN_COPY_HARD 32
#define MIN_INDUCTION_HEAD 0.7f
#define MIN_INDUCTION_TOP1 0.9
#define MIN_FACTS_PERMILLE 380
#define MIN_FUNCTIONS_PERMILLE 500
#define MIN_PRONOUN_STORIES_PERMILLE 450
#define MAX_REPEATED_8GRAMS 0.30
#define MIN_COPY_GQA 185
#define MIN_COPY_MQA 165

// ----------------------------------------------------------------------------------------------
// Gradient check

// Central differences in float32 with h = 2e-3 on weights 3x the training init (so every path
// carries a clear gradient). The loss is about log V; its float rounding noise (~3e-7) over 2h
// is ~1e-4, and the curvature error at this h is below 1e-3 relative. An entry passes when
// |numeric - analytic| <= 1e-3 + 1e-2 * |numeric|. Checked per tensor: the entry with the
// largest analytic gradient and 10 random ones; every tensor of the checkpoint is covered.
static void gradcheck_shape(bool shared, int heads, int kv_heads, bool masked, int dim, int B,
                            int T) {
    ModelConfig c = {.dim = dim,
                     .hidden_dim = 24,
                     .n_layers = 2,
                     .n_heads = heads,
                     .n_kv_heads = kv_heads,
                     .vocab_size = 37,
                     .seq_len = T,
                     .shared_classifier = shared};
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
    int *tok = calloc((size_t)B * T + 1, sizeof(int));
    for (int i = 0; i < B * T + 1; i++)
        tok[i] = (int)trng_below(&s, (uint32_t)c.vocab_size);
    // masked: every third position has no target (-1), as in an induction row's first copy
    int *tg = calloc((size_t)B * T, sizeof(int));
    for (int i = 0; i < B * T; i++)
        tg[i] = masked && i % 3 == 0 ? -1 : tok[i + 1];
    Net net;
    net_init(&net, &c, B, T);
    net_forward(&net, &w, tok, tg);
    net_backward(&net, &w, &g, tg);

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
            double lp = net_forward(&net, &w, tok, tg);
            *x = x0 - h;
            double lm = net_forward(&net, &w, tok, tg);
            *x = x0;
            double num = (lp - lm) / (2.0 * h), ana = t[k].g[idx[j]];
            cr_expect(fabs(num - ana) <= 1e-3 + 1e-2 * fabs(num),
                      "%s[%zu]: numeric %.6f analytic %.6f", t[k].name, idx[j], num, ana);
            checked++;
        }
    }
    cr_assert(checked >= 11 * 11);
    net_free(&net);
    free(tok);
    free(tg);
    free(p);
    free(gb);
}

static void gradcheck(bool shared, int heads, int kv_heads, bool masked) {
    gradcheck_shape(shared, heads, kv_heads, masked, 16, 2, 8);
}

Test(train, gradient_check_multihead_unshared) {
    gradcheck(false, 4, 4, false);
}
Test(train, gradient_check_grouped_query_shared) {
    gradcheck(true, 4, 2, false);
}
Test(train, gradient_check_multi_query_with_unscored_positions) {
    gradcheck(true, 4, 1, true);
}
// Rows longer than the matmul's tiles (4 x 32 outputs): the causal masks' tile skipping (scores
// above the diagonal, P^T's zero rows) and the edge tiles are on the path, with a head of 16.
Test(train, gradient_check_rows_longer_than_a_tile) {
    gradcheck_shape(false, 2, 2, true, 32, 2, 70);
}

// A position without a target adds nothing: the loss is the mean over the scored positions only.
Test(train, unscored_positions_leave_the_loss_to_the_scored_ones) {
    ModelConfig c = {.dim = 16,
                     .hidden_dim = 24,
                     .n_layers = 1,
                     .n_heads = 2,
                     .n_kv_heads = 2,
                     .vocab_size = 20,
                     .seq_len = 6,
                     .shared_classifier = true};
    size_t P = config_weight_count(&c);
    float *p = calloc(P, sizeof(float));
    ModelWeights w;
    weights_carve(&w, &c, p);
    net_init_weights(&c, &w, 3);
    int tok[7] = {1, 5, 9, 4, 9, 4, 12}, tg[6];
    Net net;
    net_init(&net, &c, 1, 6);
    net_forward(&net, &w, tok, NULL);
    double row[6];
    for (int r = 0; r < 6; r++) { // each position's cross-entropy from the logits
        const float *lg = net.logits + (size_t)r * 20;
        double mx = lg[0], sum = 0;
        for (int v = 1; v < 20; v++)
            mx = lg[v] > mx ? lg[v] : mx;
        for (int v = 0; v < 20; v++)
            sum += exp(lg[v] - mx);
        row[r] = log(sum) + mx - lg[tok[r + 1]];
    }
    for (int r = 0; r < 6; r++)
        tg[r] = r == 2 || r == 4 ? tok[r + 1] : -1;
    double l = net_forward(&net, &w, tok, tg);
    cr_assert_float_eq(l, (row[2] + row[4]) / 2, 1e-5, "masked loss %f", l);
    double all = net_forward(&net, &w, tok, tok + 1);
    cr_assert(fabs(all - l) > 1e-4, "the mask changed nothing");
    net_free(&net);
    free(p);
}

// An induction row: BOS, random ids past the bytes, and targets only where the next token
// repeats what followed the same token before.
Test(train, induct_rows_score_only_the_repeats) {
    int T = 512, in[512], tg[512];
    uint64_t rng = trng_seed(4);
    train_induct_row(&rng, 1024, T, in, tg);
    cr_assert_eq(in[0], TOKEN_BOS);
    int scored = 0;
    for (int t = 0; t < T; t++) {
        if (t > 0)
            cr_assert(in[t] >= 259 && in[t] < 1024, "token %d at %d", in[t], t);
        if (tg[t] < 0)
            continue;
        scored++;
        if (t + 1 < T)
            cr_assert_eq(tg[t], in[t + 1]);
        bool copied = false; // an earlier occurrence of in[t] followed by the target
        for (int j = 1; j < t && !copied; j++)
            copied = in[j - 1] == in[t] && in[j] == tg[t];
        cr_assert(copied, "target at %d is not a copy", t);
    }
    cr_assert(scored > T / 3 && scored < 3 * T / 4, "%d of %d scored", scored, T);
}

// A tiny run with induction rows: the CSV's repeat_loss column holds the loss on the fixed
// batch of repeated random rows at every validation (about log V at the random init, where
// nothing copies yet), and a second run with the same seed and thread count writes the same
// model bit for bit (what `make model` promises of the real one), its kept checkpoints too.
static void tiny_run(const char *model, const char *csv, const int *tok, size_t n) {
    TrainConfig tc;
    train_config_default(&tc);
    tc.cfg = (ModelConfig){.dim = 16,
                           .hidden_dim = 24,
                           .n_layers = 2,
                           .n_heads = 2,
                           .n_kv_heads = 1,
                           .vocab_size = 320,
                           .seq_len = 128,
                           .shared_classifier = true};
    tc.batch = 2, tc.seq = 128, tc.steps = 6, tc.warmup = 2, tc.eval_every = 2, tc.eval_windows = 2;
    tc.induct_pct = 50, tc.threads = 2, tc.seed = 5, tc.keep_every = 3;
    tc.out_model = model, tc.out_csv = csv;
    KvError err;
    cr_assert_eq(train_run(&tc, tok, n, tok, n, &err), KV_OK, "%s", err.msg);
}

Test(train, repeat_loss_is_reported_and_runs_repeat_bit_for_bit) {
    size_t n = 2000;
    int *tok = malloc(n * sizeof(int));
    uint64_t s = trng_seed(9);
    for (size_t i = 0; i < n; i++)
        tok[i] = (int)trng_below(&s, 320);
    char m1[] = "/tmp/kvtrain_repXXXXXX", m2[] = "/tmp/kvtrain_repXXXXXX";
    char c1[] = "/tmp/kvtrain_repXXXXXX", c2[] = "/tmp/kvtrain_repXXXXXX";
    char *paths[] = {m1, m2, c1, c2};
    for (int i = 0; i < 4; i++)
        close(mkstemp(paths[i]));
    tiny_run(m1, c1, tok, n);
    tiny_run(m2, c2, tok, n);
    char *a, *b, *csv;
    size_t la, lb, lc;
    KvError err;
    cr_assert_eq(read_whole_file(m1, &a, &la, &err), KV_OK);
    cr_assert_eq(read_whole_file(m2, &b, &lb, &err), KV_OK);
    cr_assert(la == lb && la > 1000 && memcmp(a, b, la) == 0, "two runs wrote different models");
    // --keep 3: the checkpoint after step 3 beside each (the same in both runs, not the end's),
    // none at the end
    char k1[64], k2[64], k6[64];
    snprintf(k1, sizeof k1, "%s.3", m1);
    snprintf(k2, sizeof k2, "%s.3", m2);
    snprintf(k6, sizeof k6, "%s.6", m1);
    char *ka, *kb;
    size_t lka, lkb;
    cr_assert_eq(read_whole_file(k1, &ka, &lka, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(read_whole_file(k2, &kb, &lkb, &err), KV_OK, "%s", err.msg);
    cr_assert(lka == la && lkb == la && memcmp(ka, kb, la) == 0 && memcmp(ka, a, la) != 0);
    cr_assert(access(k6, F_OK) != 0, "a checkpoint at the last step");
    free(ka), free(kb);
    unlink(k1), unlink(k2);
    cr_assert_eq(read_whole_file(c1, &csv, &lc, &err), KV_OK);
    const char *hdr = "step,tokens,lr,train_loss,val_loss,grad_norm,step_ms,repeat_loss\n";
    cr_assert(strncmp(csv, hdr, strlen(hdr)) == 0, "header: %.80s", csv);
    int reported = 0;
    for (char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        const char *f = line + 1;
        for (int k = 0; k < 7 && f; k++) // the eighth field
            f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL;
        cr_assert(f, "a row without a repeat_loss field");
        if (*f == '\n' || !*f)
            continue;
        double r = atof(f);
        cr_assert(fabs(r - log(320.0)) < 0.4, "repeat loss %f, not about log V", r);
        reported++;
    }
    cr_assert_eq(reported, 4, "repeat loss at steps 0, 2, 4, 6: %d", reported);
    free(a), free(b), free(csv), free(tok);
    for (int i = 0; i < 4; i++)
        unlink(paths[i]);
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

// A variant's text of about n bytes.
static void variant_text(CorpusVariant v, uint64_t seed, size_t n, StrBuf *s) {
    CorpusGen g;
    corpus_init(&g, seed);
    g.variant = v;
    while (s->n < n)
        corpus_next(&g, s);
}

// The copy-generalisation prompts use names the generator never produces: the fixed hard and
// fair sets in every variant, and every unseen name of eval's generated sets in the variants that
// reserve them (held-out basic, induct and drill; the original two predate the reservation).
Test(train, corpus_never_produces_the_copy_test_names, .timeout = 120) {
    for (int variant = 0; variant <= CORPUS_DRILL; variant++) {
        StrBuf s = {0};
        variant_text((CorpusVariant)variant, 1234, 3000000, &s);
        const char *found = eval_copy_name_found(s.p);
        cr_assert(found == NULL, "variant %d produced %s", variant, found);
        char unseen[48];
        if (variant >= CORPUS_INDUCT)
            cr_assert(!eval_unseen_names_found(s.p, unseen, sizeof unseen),
                      "variant %d produced %s", variant, unseen);
        sb_free(&s);
    }
    cr_assert_str_eq(eval_copy_name_found("a story about Quorbina"), "Quorbina");
    // the check can fail: a text with one of the unseen names in it
    char name[48], text[96], found[48];
    eval_unseen_example(name, sizeof name);
    snprintf(text, sizeof text, "Then Tom met a fox named %s.", name);
    cr_assert(eval_unseen_names_found(text, found, sizeof found));
    cr_assert_str_eq(found, name);
    cr_assert(corpus_reserved(name));
}

static bool word_byte(char c) {
    return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

// Every word (an identifier: its stem) of every variant that falls in eval's reserved class is
// one of the generator's fixed words (which eval never uses as an unseen name): invented strings
// never are.
Test(train, corpus_rejects_every_reserved_invented_name, .timeout = 120) {
    for (int variant = CORPUS_INDUCT; variant <= CORPUS_DRILL; variant++) {
        StrBuf s = {0};
        variant_text((CorpusVariant)variant, 77, 1000000, &s);
        int words = 0;
        for (const char *p = s.p; *p;) {
            if (!word_byte(*p)) {
                p++;
                continue;
            }
            const char *w0 = p;
            while (*p && word_byte(*p))
                p++;
            char w[64];
            size_t n = (size_t)(p - w0) < sizeof w - 1 ? (size_t)(p - w0) : sizeof w - 1;
            memcpy(w, w0, n);
            w[n] = 0;
            if (isdigit((unsigned char)w[0]))
                continue;
            // an identifier counts by its stem (eval's names have no suffix): "abc" of "abc_len"
            char *u = strchr(w, '_');
            if (u && u != w)
                *u = 0;
            for (size_t k = strlen(w); k > 1 && isdigit((unsigned char)w[k - 1]); k--)
                w[k - 1] = 0;
            words++;
            cr_assert(!corpus_reserved(w) || corpus_pool_word(w), "variant %d wrote '%s'", variant,
                      w);
        }
        cr_assert(words > 100000);
        sb_free(&s);
    }
    // about one string in eight is reserved
    uint64_t rng = trng_seed(9);
    int r = 0;
    for (int i = 0; i < 4000; i++) {
        char n[48];
        corpus_any_name(&rng, 1 + i % 4, i % 2, n, sizeof n);
        r += corpus_reserved(n);
    }
    cr_assert(r > 350 && r < 650, "%d of 4000 reserved", r);
}

// The induct variant's names use the whole alphabet and accents, with 1 to 4 syllables, and it
// has roll calls and one-line functions.
Test(train, corpus_induct_variant_names_use_any_letters) {
    StrBuf s = {0};
    variant_text(CORPUS_INDUCT, 21, 1000000, &s);
    // the names: the word after "named "
    StrBuf names = {0};
    for (const char *p = strstr(s.p, "named "); p; p = strstr(p + 1, "named ")) {
        const char *e = p + 6;
        while (word_byte(*e))
            e++;
        sb_putn(&names, p + 6, (size_t)(e - p - 6));
        sb_puts(&names, " ");
    }
    const char *need[] = {"q", "x", "j", "w",        "z",        "Q",       "X",
                          "J", "W", "Z", "\xc3\xa9", "\xc3\xb6", "\xc3\xb1"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        cr_assert(strstr(names.p, need[i]), "no name with %s", need[i]);
    cr_assert(strstr(s.p, "The teacher called their names: "), "no roll call");
    cr_assert(strstr(s.p, "): return "), "no one-line function");
    // names of one syllable (3 bytes or fewer) and of four (10 bytes or more) both occur
    bool short_name = false, long_name = false;
    for (const char *p = names.p; *p;) {
        const char *e = strchr(p, ' ');
        size_t n = (size_t)(e - p);
        short_name |= n <= 3;
        long_name |= n >= 10;
        p = e + 1;
    }
    cr_assert(short_name && long_name);
    sb_free(&names);
    sb_free(&s);
}

// The drill variant: the induct variant's any-letter names, and more facts than it (40% of the
// documents against 25%), more sums among them, the drill's own sum template.
static int count_of(const char *text, const char *s) {
    int n = 0;
    for (const char *p = strstr(text, s); p; p = strstr(p + 1, s))
        n++;
    return n;
}

Test(train, corpus_drill_variant_leans_to_facts, .timeout = 60) {
    StrBuf d = {0}, i = {0};
    variant_text(CORPUS_DRILL, 5, 2000000, &d);
    variant_text(CORPUS_INDUCT, 5, 2000000, &i);
    const int dq = count_of(d.p, "\nA: "), iq = count_of(i.p, "\nA: ");
    const int ds = count_of(d.p, " plus "), is = count_of(i.p, " plus ");
    cr_assert(dq > 2 * iq, "answers: drill %d, induct %d", dq, iq);
    cr_assert(ds > 3 * is, "sums: drill %d, induct %d", ds, is);
    cr_assert(strstr(d.p, "If you add 3 and 4, you get 7. So 3 plus 4 is 7."));
    cr_assert(!strstr(i.p, "If you add "), "the template is the drill's own");
    cr_assert(strstr(d.p, "The teacher called their names: "), "no roll call");
    cr_assert(strstr(d.p, "): return "), "no one-line function");
    sb_free(&d);
    sb_free(&i);
}

// Held-out questions are never asked in the held-out basic, the induct or the drill variant, but
// their facts are stated there.
Test(train, fact_questions_are_held_out_by_instance, .timeout = 60) {
    CorpusQA *qa;
    int n = corpus_heldout_questions(&qa);
    int kinds[CORPUS_QA_KINDS] = {0};
    for (int i = 0; i < n; i++)
        kinds[qa[i].kind]++;
    for (int k = 0; k < CORPUS_QA_KINDS; k++)
        if (k != 3) // legs: no animal of the 14 falls in the held-out class
            cr_assert(kinds[k] > 0, "no held-out question of kind %d", k);
    for (int variant = CORPUS_INDUCT; variant <= CORPUS_DRILL; variant++) {
        StrBuf s = {0};
        variant_text((CorpusVariant)variant, 3, 4000000, &s);
        for (int i = 0; i < n; i++) {
            char q[160];
            snprintf(q, sizeof q, "%s", qa[i].prompt);
            *strchr(q, '\n') = 0; // the question line, which must end there in the text
            size_t ql = strlen(q);
            const char *at = strstr(s.p, q);
            while (at && at[ql] != '\n')
                at = strstr(at + 1, q);
            cr_assert(at == NULL, "variant %d asks the held-out \"%s\"", variant, q);
        }
        cr_assert(strstr(s.p, "3 plus 4 is 7."), "sums not stated");
        cr_assert(strstr(s.p, "The moon is not a star."), "science not stated");
        sb_free(&s);
    }
    free(qa);
}

static uint64_t fnv_file(const char *path, size_t *n) {
    char *text;
    KvError err;
    cr_assert_eq(read_whole_file(path, &text, n, &err), KV_OK, "%s", err.msg);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < *n; i++)
        h = (h ^ (unsigned char)text[i]) * 0x100000001b3ULL;
    free(text);
    return h;
}

// Every variant `make model` trains on is byte for byte what the generator wrote when the shipped
// models were made (the hashes of its output: the original two from the code at 26a30fb, the
// held-out basic and induct ones from the code before the drill variant, the drill variant from
// the code that made the issue 16 model), so the models can be made again.
Test(train, original_variants_write_the_same_bytes_as_before) {
    const struct {
        uint64_t seed;
        CorpusVariant v;
        uint64_t train, valid;
        size_t nt, nv;
    } c[5] = {{2024, CORPUS_BASIC, 0xfe76007e113bc21fULL, 0x6bc8e82e14a5a0e9ULL, 100233, 2347},
              {2025, CORPUS_COPY, 0x5efb914aa467ac53ULL, 0xb21d0145cc62b886ULL, 100220, 2639},
              {2028, CORPUS_HELDOUT, 0xf2e927fbc3fda2bbULL, 0x15f02c11812dfa59ULL, 100364, 2738},
              {2029, CORPUS_INDUCT, 0x5379545e2ae387a2ULL, 0x6b351e86a5d34151ULL, 100702, 3673},
              {2030, CORPUS_DRILL, 0xa9c35fbba1690613ULL, 0x797eb6e10b9b4b28ULL, 100110, 3294}};
    char tr[] = "/tmp/kvscope-corpus-XXXXXX", va[] = "/tmp/kvscope-valid-XXXXXX";
    int f1 = mkstemp(tr), f2 = mkstemp(va);
    cr_assert(f1 >= 0 && f2 >= 0);
    close(f1);
    close(f2);
    for (int i = 0; i < 5; i++) {
        KvError err;
        cr_assert_eq(corpus_write(tr, va, c[i].seed, c[i].v, 100000, &err), KV_OK, "%s", err.msg);
        size_t nt, nv;
        uint64_t ht = fnv_file(tr, &nt), hv = fnv_file(va, &nv);
        cr_assert(nt == c[i].nt && ht == c[i].train, "variant %d train: %zu bytes, %016llx", c[i].v,
                  nt, (unsigned long long)ht);
        cr_assert(nv == c[i].nv && hv == c[i].valid, "variant %d valid: %zu bytes, %016llx", c[i].v,
                  nv, (unsigned long long)hv);
    }
    unlink(tr);
    unlink(va);
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

// Issue 16's measures on the shipped model and its twins, each held to a floor a little under
// what `kvtrain eval` measured on the committed files (README, The model): a model that copies
// less, lost its induction head or its facts fails. The targets are higher; the floors
// are what the shipped files do.
static void load_file(const char *path, Model *m, Tokenizer *t, Engine *e) {
    KvError err;
    cr_assert_eq(model_load(m, path, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tokenizer_load(t, "assets/models/tokenizer.bin", m->cfg.vocab_size, &err), KV_OK,
                 "%s", err.msg);
    cr_assert_eq(engine_init(e, m, &err), KV_OK, "%s", err.msg);
    e->instrument = false;
}

static void unload(Model *m, Tokenizer *t, Engine *e) {
    engine_free(e);
    tokenizer_free(t);
    model_free(m);
}

Test(train, shipped_model_copies_unseen_names_in_stories_and_code, .timeout = 300) {
    Model m;
    Tokenizer t;
    Engine e;
    load_file("assets/models/kvscope6.bin", &m, &t, &e);
    EvalCount s = eval_copy_unseen(&e, &t, false, EVAL_UNSEEN_CASES, false);
    EvalCount c = eval_copy_unseen(&e, &t, true, EVAL_UNSEEN_CASES, false);
    cr_assert_eq(s.n + c.n, 240);
    cr_assert(s.ok >= MIN_COPY_STORY && c.ok >= MIN_COPY_CODE,
              "copied %d/%d (stories), %d/%d (code)", s.ok, s.n, c.ok, c.n);
    int n = 0, hard = eval_copy(&e, &t, true, false, &n);
    cr_assert(hard >= MIN_COPY_HARD, "hard set %d of %d", hard, n);
    unload(&m, &t, &e);
}

Test(train, shipped_model_keeps_its_induction_head_score, .timeout = 120) {
    Model m;
    Tokenizer t;
    Engine e;
    load_file("assets/models/kvscope6.bin", &m, &t, &e);
    int l, h;
    float score = eval_induction_head(&e, &l, &h);
    cr_assert(score >= MIN_INDUCTION_HEAD, "best induction head %d.%d scores %.3f", l + 1, h + 1,
              (double)score);
    double top1 = eval_induction_top1(&e, 20, 50);
    cr_assert(top1 >= MIN_INDUCTION_TOP1, "top-1 on repeated random tokens %.3f", top1);
    unload(&m, &t, &e);
}

Test(train, shipped_model_answers_held_out_questions_and_writes_functions, .timeout = 300) {
    Model m;
    Tokenizer t;
    Engine e;
    load_file("assets/models/kvscope6.bin", &m, &t, &e);
    EvalCount per[CORPUS_QA_KINDS];
    EvalCount f = eval_facts(&e, &t, per, false);
    cr_assert(f.n > 50);
    cr_assert(f.ok * 1000 >= MIN_FACTS_PERMILLE * f.n, "facts %d of %d", f.ok, f.n);
    EvalCount fn = eval_functions(&e, &t, EVAL_FUNCTION_CASES, false);
    cr_assert(fn.ok * 1000 >= MIN_FUNCTIONS_PERMILLE * fn.n, "functions %d of %d", fn.ok, fn.n);
    unload(&m, &t, &e);
}

Test(train, shipped_model_keeps_its_pronouns_and_loops_no_more, .timeout = 300) {
    Model m;
    Tokenizer t;
    Engine e;
    load_file("assets/models/kvscope6.bin", &m, &t, &e);
    int right, wrong;
    EvalCount p = eval_pronouns(&e, &t, EVAL_PRONOUN_CASES, &right, &wrong, false);
    cr_assert(right >= p.n / 2, "only %d pronouns in %d stories", right, p.n);
    cr_assert(p.ok * 1000 >= MIN_PRONOUN_STORIES_PERMILLE * p.n,
              "%d of %d stories keep the pronoun (%d wrong)", p.ok, p.n, wrong);
    const char *presets[3] = {"Once upon a time, in a small kingdom, there lived a princess named "
                              "Mia. Every morning, Mia",
                              "def area(width, height):\n    return width *",
                              "The capital of France is"};
    double sum = 0;
    for (int i = 0; i < 3; i++)
        sum += eval_loops(&e, &t, presets[i], 200, 8);
    cr_assert(sum / 3 <= MAX_REPEATED_8GRAMS, "repeated 8-grams %.3f", sum / 3);
    unload(&m, &t, &e);
}

// The twins: the same shape with 2 and 1 kv heads, so a token's cache is a half and a quarter
// of the full model's, and they still copy.
Test(train, twins_share_keys_and_values_and_still_copy, .timeout = 300) {
    const char *paths[2] = {"assets/models/kvscope6_gqa.bin", "assets/models/kvscope6_mqa.bin"};
    const int kv[2] = {2, 1}, floor[2] = {MIN_COPY_GQA, MIN_COPY_MQA};
    for (int i = 0; i < 2; i++) {
        Model m;
        Tokenizer t;
        Engine e;
        load_file(paths[i], &m, &t, &e);
        cr_assert_eq(m.cfg.n_kv_heads, kv[i]);
        cr_assert_eq(m.cfg.n_heads, 4);
        cr_assert_eq(m.cfg.dim, 128);
        EvalCount s = eval_copy_unseen(&e, &t, false, EVAL_UNSEEN_CASES, false);
        EvalCount c = eval_copy_unseen(&e, &t, true, EVAL_UNSEEN_CASES, false);
        cr_assert(s.ok + c.ok >= floor[i], "%s copied %d of %d", paths[i], s.ok + c.ok, s.n + c.n);
        StrBuf out = {0};
        eval_greedy(&e, &t, "The capital of France is", 3, &out, NULL);
        cr_assert(strncmp(out.p, " Paris", 6) == 0, "%s: fact preset gave \"%s\"", paths[i], out.p);
        sb_free(&out);
        unload(&m, &t, &e);
    }
}
