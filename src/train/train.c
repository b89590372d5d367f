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
    tc->cfg = (ModelConfig){.dim = 128, .hidden_dim = 344, .n_layers = 6, .n_heads = 4,
                            .n_kv_heads = 4, .vocab_size = 1024, .seq_len = 512,
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
    double p = (double)(step - tc->warmup) / (double)(tc->steps - tc->warmup > 1 ? tc->steps - tc->warmup : 1);
    if (p > 1)
        p = 1;
    return tc->lr_min + (tc->lr - tc->lr_min) * (float)(0.5 * (1.0 + cos(M_PI * p)));
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

    FILE *csv = tc->out_csv ? fopen(tc->out_csv, "w") : NULL;
    if (tc->out_csv && !csv) {
        st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot write", tc->out_csv);
        goto done;
    }
    if (csv)
        fprintf(csv, "step,tokens,lr,train_loss,val_loss,grad_norm,step_ms\n");
    fprintf(stderr, "train: %zu parameters, %zu train tokens, %zu valid tokens, %d steps of %zu\n",
            config_param_count(c), n_train, n_valid, tc->steps, NT);
    uint64_t t_start = kv_now_ns();
    for (int step = 0; step <= tc->steps; step++) {
        double val = NAN;
        if (valid_tok && (step % tc->eval_every == 0 || step == tc->steps))
            val = validate(&net, &w, valid_tok, n_valid, tc->eval_windows, in, tg);
        if (step == tc->steps) {
            if (csv)
                fprintf(csv, "%d,%zu,0,,%.5f,,\n", step, (size_t)step * NT, val);
            fprintf(stderr, "train: step %d val %.4f\n", step, val);
            break;
        }
        uint64_t t0 = kv_now_ns();
        for (int b = 0; b < tc->batch; b++) {
            size_t off = (size_t)(trng_next(&rng) % (n_train - (size_t)tc->seq - 1));
            memcpy(in + (size_t)b * tc->seq, train_tok + off, (size_t)tc->seq * sizeof(int));
            memcpy(tg + (size_t)b * tc->seq, train_tok + off + 1, (size_t)tc->seq * sizeof(int));
        }
        memset(grads, 0, P * sizeof(float));
        double loss = net_forward(&net, &w, in, tg);
        net_backward(&net, &w, &g, tg);
        double norm2 = 0;
        #pragma omp parallel for schedule(static) reduction(+ : norm2)
        for (size_t i = 0; i < P; i++)
            norm2 += (double)grads[i] * grads[i];
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
            fprintf(csv, "%d,%zu,%.6g,%.5f,", step, (size_t)step * NT, lr, loss);
            if (!isnan(val))
                fprintf(csv, "%.5f", val);
            fprintf(csv, ",%.4f,%.1f\n", norm, ms);
            fflush(csv);
        }
        if (step % 10 == 0 || !isnan(val)) {
            double el = (double)(kv_now_ns() - t_start) * 1e-9;
            fprintf(stderr, "train: step %d/%d loss %.4f", step, tc->steps, loss);
            if (!isnan(val))
                fprintf(stderr, " val %.4f", val);
            fprintf(stderr, " lr %.2e norm %.3f %.0f ms/step %.0f tok/s elapsed %.0fs eta %.0fs\n",
                    lr, norm, ms, NT / (ms * 1e-3), el, el / (step + 1) * (tc->steps - step - 1));
        }
        if (tc->out_model && step > 0 && step % 200 == 0) {
            st = model_write(tc->out_model, c, &w, err);
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
    free(decay);
    free(params);
    free(grads);
    free(m1);
    free(m2);
    return st;
}
