// train.c — the training loop: batches of random windows, AdamW with decoupled weight decay,
// linear warm-up then cosine learning rate, global gradient-norm clipping, periodic validation,
// a CSV of the losses per step, checkpoints through the engine's model_write.
//
// Parameters, gradients and both Adam moments are four buffers of config_weight_count floats
// carved with the engine's weights_carve, so the checkpoint is the parameter buffer as it is.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "train/train.h"

void train_config_default(TrainConfig *tc) {
    memset(tc, 0, sizeof *tc);
    tc->cfg = (ModelConfig){.dim = 128,
                            .hidden_dim = 344,
                            .n_layers = 6,
                            .n_heads = 4,
                            .n_kv_heads = 4,
                            .vocab_size = 1024,
                            .seq_len = 512,
                            .shared_classifier = true};
    tc->batch = 4;
    tc->seq = 512;
    tc->steps = 1000;
    tc->warmup = 50;
    tc->lr = 2e-3f;
    tc->lr_min = 2e-4f;
    tc->weight_decay = 0.1f;
    tc->beta1 = 0.9f;
    tc->beta2 = 0.95f;
    tc->clip = 1.0f;
    tc->eval_every = 100;
    tc->eval_windows = 16;
    tc->seed = 1;
}

static float lr_at(const TrainConfig *tc, int step) {
    if (step < tc->warmup)
        return tc->lr * (float)(step + 1) / (float)tc->warmup;
    double p = (double)(step - tc->warmup) /
               (double)(tc->steps - tc->warmup > 1 ? tc->steps - tc->warmup : 1);
    if (p > 1)
        p = 1;
    return tc->lr_min + (tc->lr - tc->lr_min) * (float)(0.5 * (1.0 + cos(M_PI * p)));
}

// An induction row: BOS, then random sequences of 10-100 tokens (ids from 259, past the bytes),
// each said two or three times, until T + 1 tokens. Targets are set only where the next token is
// predictable by copying (inside a repeat, after its first token); elsewhere -1 (not scored).
void train_induct_row(uint64_t *rng, int vocab, int T, int *in, int *tg) {
    int *tok = kv_malloc((size_t)(T + 1) * sizeof(int));
    bool *copy = kv_calloc((size_t)T + 1, sizeof(bool));
    int seq[100];
    tok[0] = TOKEN_BOS;
    int pos = 1;
    while (pos <= T) {
        int L = 10 + (int)trng_below(rng, 91), R = trng_below(rng, 3) == 0 ? 3 : 2;
        for (int i = 0; i < L; i++)
            seq[i] = 259 + (int)trng_below(rng, (uint32_t)(vocab - 259));
        for (int r = 0; r < R; r++)
            for (int i = 0; i < L && pos <= T; i++, pos++) {
                tok[pos] = seq[i];
                copy[pos] = r > 0 && i > 0;
            }
    }
    for (int t = 0; t < T; t++) {
        in[t] = tok[t];
        tg[t] = copy[t + 1] ? tok[t + 1] : -1;
    }
    free(tok);
    free(copy);
}

// Mean loss over evenly spaced windows of the validation stream (`windows` rounded up to a
// multiple of B, so every batch row is a real window).
static double validate(Net *net, const ModelWeights *w, const int *tok, size_t n_tok, int windows,
                       int *in, int *tg) {
    int B = net->B, T = net->T;
    if (n_tok < (size_t)T + 1)
        return NAN;
    int nw = (windows + B - 1) / B * B;
    size_t span = n_tok - (size_t)T - 1;
    double sum = 0;
    for (int w0 = 0; w0 < nw; w0 += B) {
        for (int b = 0; b < B; b++) {
            size_t off = nw > 1 ? span * (size_t)(w0 + b) / (size_t)(nw - 1) : 0;
            memcpy(in + (size_t)b * T, tok + off, (size_t)T * sizeof(int));
            memcpy(tg + (size_t)b * T, tok + off + 1, (size_t)T * sizeof(int));
        }
        sum += net_forward(net, w, in, tg);
    }
    return sum / (nw / B);
}

KvStatus train_run(const TrainConfig *tc, const int *train_tok, size_t n_train,
                   const int *valid_tok, size_t n_valid, KvError *err) {
    const ModelConfig *c = &tc->cfg;
    KvStatus st = config_validate(c, "train config", err);
    if (st != KV_OK)
        return st;
    if (n_train < (size_t)tc->seq + 2)
        return kv_error(err, KV_ERR_INPUT, "train: training stream shorter than one window");
#ifdef _OPENMP
    if (tc->threads > 0)
        omp_set_num_threads(tc->threads);
#endif
    size_t P = config_weight_count(c);
    float *params = kv_calloc(P, sizeof(float)), *grads = kv_calloc(P, sizeof(float));
    float *m1 = kv_calloc(P, sizeof(float)), *m2 = kv_calloc(P, sizeof(float));
    ModelWeights w, g;
    weights_carve(&w, c, params);
    weights_carve(&g, c, grads);
    net_init_weights(c, &w, tc->seed);
    if (tc->init_model) {
        Model m0;
        st = model_load(&m0, tc->init_model, err);
        if (st != KV_OK) {
            free(params), free(grads), free(m1), free(m2);
            return st;
        }
        bool same = m0.cfg.dim == c->dim && m0.cfg.hidden_dim == c->hidden_dim &&
                    m0.cfg.n_layers == c->n_layers && m0.cfg.n_heads == c->n_heads &&
                    m0.cfg.n_kv_heads == c->n_kv_heads && m0.cfg.vocab_size == c->vocab_size &&
                    m0.cfg.shared_classifier == c->shared_classifier;
        if (same)
            model_copy_weights(&m0, params);
        model_free(&m0);
        if (!same) {
            free(params), free(grads), free(m1), free(m2);
            return kv_error(err, KV_ERR_INPUT, "%s: shape differs from the training config",
                            tc->init_model);
        }
        fprintf(stderr, "train: continuing from %s\n", tc->init_model);
    }
    // weight decay on matrices only, not on the RMSNorm gains
    unsigned char *decay = kv_malloc(P);
    memset(decay, 1, P);
    size_t LD = (size_t)c->n_layers * (size_t)c->dim;
    memset(decay + (w.rms_att - params), 0, LD);
    memset(decay + (w.rms_ffn - params), 0, LD);
    memset(decay + (w.rms_final - params), 0, (size_t)c->dim);

    Net net;
    net_init(&net, c, tc->batch, tc->seq);
    size_t NT = (size_t)tc->batch * (size_t)tc->seq;
    int *in = kv_malloc(NT * sizeof(int)), *tg = kv_malloc(NT * sizeof(int));
    uint64_t rng = trng_seed(tc->seed ^ 0xDA7A);
    // a fixed batch of induction rows, the same in every run: the loss on repeated random tokens
    // (uniform guessing is log(vocab - 259), about 6.64 nats; copying makes it fall to 0)
    int *rep_in = kv_malloc(NT * sizeof(int)), *rep_tg = kv_malloc(NT * sizeof(int));
    uint64_t rep_rng = trng_seed(0x1DC7);
    for (int b = 0; b < tc->batch; b++)
        train_induct_row(&rep_rng, c->vocab_size, tc->seq, rep_in + (size_t)b * tc->seq,
                         rep_tg + (size_t)b * tc->seq);

    // a continued run appends to the CSV of the run it continues
    FILE *csv = tc->out_csv ? fopen(tc->out_csv, tc->step0 ? "a" : "w") : NULL;
    if (tc->out_csv && !csv) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot write", tc->out_csv);
        goto done;
    }
    if (csv && !tc->step0)
        fprintf(csv, "step,tokens,lr,train_loss,val_loss,grad_norm,step_ms,repeat_loss\n");
    int S0 = tc->step0;
    fprintf(stderr, "train: %zu parameters, %zu train tokens, %zu valid tokens, %d steps of %zu\n",
            config_param_count(c), n_train, n_valid, tc->steps, NT);
    uint64_t t_start = kv_now_ns();
    for (int step = 0; step <= tc->steps; step++) {
        double val = NAN, rep = NAN;
        if (valid_tok && (step % tc->eval_every == 0 || step == tc->steps)) {
            val = validate(&net, &w, valid_tok, n_valid, tc->eval_windows, in, tg);
            rep = net_forward(&net, &w, rep_in, rep_tg);
        }
        if (step == tc->steps) {
            if (csv)
                fprintf(csv, "%d,%zu,0,,%.5f,,,%.5f\n", S0 + step, (size_t)(S0 + step) * NT, val,
                        rep);
            fprintf(stderr, "train: step %d val %.4f repeat %.4f\n", step, val, rep);
            break;
        }
        uint64_t t0 = kv_now_ns();
        for (int b = 0; b < tc->batch; b++) {
            if (tc->induct_pct && (int)trng_below(&rng, 100) < tc->induct_pct) {
                train_induct_row(&rng, c->vocab_size, tc->seq, in + (size_t)b * tc->seq,
                                 tg + (size_t)b * tc->seq);
                continue;
            }
            size_t off = (size_t)(trng_next(&rng) % (n_train - (size_t)tc->seq - 1));
            memcpy(in + (size_t)b * tc->seq, train_tok + off, (size_t)tc->seq * sizeof(int));
            memcpy(tg + (size_t)b * tc->seq, train_tok + off + 1, (size_t)tc->seq * sizeof(int));
        }
        memset(grads, 0, P * sizeof(float));
        double loss = net_forward(&net, &w, in, tg);
        net_backward(&net, &w, &g, tg);
        // the gradient norm in fixed chunks summed in a fixed order: the same bits on every run
        // (an OpenMP reduction may combine threads in any order, and the norm decides clipping)
        double part[64] = {0}, norm2 = 0;
        size_t chunk = (P + 63) / 64;
#pragma omp parallel for schedule(static)
        for (int ch = 0; ch < 64; ch++)
            for (size_t i = (size_t)ch * chunk; i < P && i < (size_t)(ch + 1) * chunk; i++)
                part[ch] += (double)grads[i] * grads[i];
        for (int ch = 0; ch < 64; ch++)
            norm2 += part[ch];
        double norm = sqrt(norm2);
        float scale = norm > tc->clip ? (float)(tc->clip / norm) : 1.0f;
        float lr = lr_at(tc, step);
        float b1 = tc->beta1, b2 = tc->beta2, wd = tc->weight_decay;
        float c1 = 1.0f - powf(b1, (float)(step + 1)), c2 = 1.0f - powf(b2, (float)(step + 1));
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < P; i++) {
            float gi = grads[i] * scale;
            m1[i] = b1 * m1[i] + (1 - b1) * gi;
            m2[i] = b2 * m2[i] + (1 - b2) * gi * gi;
            float upd = (m1[i] / c1) / (sqrtf(m2[i] / c2) + 1e-8f);
            params[i] -= lr * (upd + (decay[i] ? wd * params[i] : 0.0f));
        }
        double ms = (double)(kv_now_ns() - t0) * 1e-6;
        if (csv) {
            fprintf(csv, "%d,%zu,%.6g,%.5f,", S0 + step, (size_t)(S0 + step) * NT, lr, loss);
            if (!isnan(val))
                fprintf(csv, "%.5f", val);
            fprintf(csv, ",%.4f,%.1f,", norm, ms);
            if (!isnan(rep))
                fprintf(csv, "%.5f", rep);
            fputc('\n', csv);
            fflush(csv);
        }
        if (step % 10 == 0 || !isnan(val)) {
            double el = (double)(kv_now_ns() - t_start) * 1e-9;
            fprintf(stderr, "train: step %d/%d loss %.4f", step, tc->steps, loss);
            if (!isnan(val))
                fprintf(stderr, " val %.4f repeat %.4f", val, rep);
            fprintf(stderr, " lr %.2e norm %.3f %.0f ms/step %.0f tok/s elapsed %.0fs eta %.0fs\n",
                    lr, norm, ms, NT / (ms * 1e-3), el, el / (step + 1) * (tc->steps - step - 1));
        }
        if (tc->out_model && step > 0 && step % 200 == 0) {
            st = model_write(tc->out_model, c, &w, err);
            if (st != KV_OK)
                goto done;
        }
        if (tc->out_model && tc->keep_every && step > 0 && step % tc->keep_every == 0) {
            char path[1100];
            snprintf(path, sizeof path, "%s.%d", tc->out_model, S0 + step);
            st = model_write(path, c, &w, err);
            if (st != KV_OK)
                goto done;
        }
    }
    fprintf(stderr, "train: done in %.1f s\n", (double)(kv_now_ns() - t_start) * 1e-9);
    if (tc->out_model)
        st = model_write(tc->out_model, c, &w, err);
    if (csv) {
        fclose(csv);
        csv = NULL;
        if (st == KV_OK && tc->out_png)
            st = plot_loss_png(tc->out_csv, tc->out_png, "kvscope training loss", err);
    }
done:
    if (csv)
        fclose(csv);
    net_free(&net);
    free(in);
    free(tg);
    free(rep_in);
    free(rep_tg);
    free(decay);
    free(params);
    free(grads);
    free(m1);
    free(m2);
    return st;
}

// ----------------------------------------------------------------------------------------------
// Grouped-query conversion: a multi-head checkpoint becomes a grouped-query one by averaging the
// key and value projections of the heads that will share a kv head (mean pooling, as in Ainslie
// et al. 2023, "GQA"); a short continued training then recovers most of the quality.

KvStatus convert_gqa(const char *in_path, int kv_heads, const char *out_path, KvError *err) {
    Model m;
    KvStatus st = model_load(&m, in_path, err);
    if (st != KV_OK)
        return st;
    ModelConfig c = m.cfg;
    if (kv_heads < 1 || c.n_kv_heads % kv_heads != 0) {
        model_free(&m);
        return kv_error(err, KV_ERR_INPUT, "gqa: %d kv heads do not divide %d", kv_heads,
                        c.n_kv_heads);
    }
    ModelConfig c2 = c;
    c2.n_kv_heads = kv_heads;
    float *data = kv_calloc(config_weight_count(&c2), sizeof(float));
    ModelWeights w2;
    weights_carve(&w2, &c2, data);
    size_t L = (size_t)c.n_layers, D = (size_t)c.dim, F = (size_t)c.hidden_dim;
    size_t V = (size_t)c.vocab_size, HS = D / (size_t)c.n_heads;
    size_t KV = (size_t)config_kv_dim(&c), KV2 = (size_t)config_kv_dim(&c2);
    size_t G = (size_t)(c.n_kv_heads / kv_heads);
    memcpy(w2.token_embedding, m.w.token_embedding, V * D * sizeof(float));
    memcpy(w2.rms_att, m.w.rms_att, L * D * sizeof(float));
    memcpy(w2.wq, m.w.wq, L * D * D * sizeof(float));
    memcpy(w2.wo, m.w.wo, L * D * D * sizeof(float));
    memcpy(w2.rms_ffn, m.w.rms_ffn, L * D * sizeof(float));
    memcpy(w2.w1, m.w.w1, L * F * D * sizeof(float));
    memcpy(w2.w2, m.w.w2, L * D * F * sizeof(float));
    memcpy(w2.w3, m.w.w3, L * F * D * sizeof(float));
    memcpy(w2.rms_final, m.w.rms_final, D * sizeof(float));
    if (!c.shared_classifier)
        memcpy(w2.wcls, m.w.wcls, V * D * sizeof(float));
    for (size_t l = 0; l < L; l++)
        for (size_t row = 0; row < KV2; row++) { // row = kv head k2, dim i
            size_t k2 = row / HS, i = row % HS;
            for (size_t j = 0; j < G; j++) {
                size_t src = (k2 * G + j) * HS + i;
                for (size_t d = 0; d < D; d++) {
                    w2.wk[(l * KV2 + row) * D + d] += m.w.wk[(l * KV + src) * D + d] / (float)G;
                    w2.wv[(l * KV2 + row) * D + d] += m.w.wv[(l * KV + src) * D + d] / (float)G;
                }
            }
        }
    st = model_write(out_path, &c2, &w2, err);
    free(data);
    model_free(&m);
    return st;
}

KvStatus convert_bf16(const char *in_path, const char *out_path, KvError *err) {
    Model m;
    KvStatus st = model_load(&m, in_path, err);
    if (st != KV_OK)
        return st;
    model_round_bf16(&m);
    st = model_write(out_path, &m.cfg, &m.w, err);
    model_free(&m);
    return st;
}
