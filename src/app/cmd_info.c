// cmd_info.c — `kvscope info`: what the model is, in the numbers the counters use.
#include "app/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// --heads: the previous-token and induction heads, scored on the presets and on a probe of random
// tokens repeated twice (the standard test: in the second copy, an induction head attends to the
// token that followed the current one in the first copy).

#define PROBE_HALF 64

static int best_head(const HeadScore *sc, int n, bool induction) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        float a = induction ? sc[i].induction : sc[i].prev_token;
        float b = induction ? sc[best].induction : sc[best].prev_token;
        if (a > b)
            best = i;
    }
    return best;
}

static int info_heads(const Model *m, const Tokenizer *t, KvError *err) {
    const ModelConfig *c = &m->cfg;
    const int L = c->n_layers, H = c->n_heads, NH = L * H, n_sets = 4;
    const char *names[4] = {"repeat", "narrative", "code", "fact"};
    Engine e;
    if (engine_init(&e, m, err))
        return app_fail(err);
    int *tokens = kv_malloc((size_t)c->seq_len * sizeof(int));
    HeadScore *sc = kv_malloc((size_t)n_sets * NH * sizeof(HeadScore));
    // the probe: BOS, then PROBE_HALF random non-byte pieces, then the same again
    int half = PROBE_HALF < (c->seq_len - 1) / 2 ? PROBE_HALF : (c->seq_len - 1) / 2;
    uint64_t rng = 1234;
    int lo = c->vocab_size > 259 + 16 ? 259 : 3;
    tokens[0] = TOKEN_BOS;
    for (int i = 0; i < half; i++)
        tokens[1 + i] = tokens[1 + half + i] =
            lo + (int)(kv_rng_u32(&rng) % (uint32_t)(c->vocab_size - lo));
    for (int i = 0; i < NH; i++) // a context too short for a probe: no induction to score
        sc[i] = (HeadScore){0.0f, -1.0f};
    if (half > 0)
        heads_score(&e, tokens, 1 + 2 * half, sc);
    for (int k = 1; k < n_sets && !engine_fault(&e, err); k++) {
        // a preset longer than the context is scored on the part that fits
        const char *prompt = app_preset(names[k])->prompt;
        int cap = (int)strlen(prompt) + 3, n = 0;
        int *ids = kv_malloc((size_t)cap * sizeof(int));
        KvStatus st = tokenizer_encode(t, prompt, true, false, ids, cap, &n, err);
        if (!st) {
            n = n < c->seq_len ? n : c->seq_len;
            memcpy(tokens, ids, (size_t)n * sizeof(int));
        }
        free(ids);
        if (st) {
            free(tokens), free(sc), engine_free(&e);
            return app_fail(err);
        }
        heads_score(&e, tokens, n, sc + (size_t)k * NH);
    }
    if (engine_fault(&e, err)) { // a model that overflows has no attention to show
        free(tokens), free(sc), engine_free(&e);
        return app_fail(err);
    }
    printf("%-6s %-5s", "layer", "head");
    for (int k = 0; k < n_sets; k++)
        printf(" %9.9s.prev %9.9s.ind", names[k], names[k]);
    printf("\n");
    for (int i = 0; i < NH; i++) {
        printf("%-6d %-5d", i / H + 1, i % H + 1);
        for (int k = 0; k < n_sets; k++)
            printf(" %14.3f %13.3f", (double)sc[k * NH + i].prev_token,
                   (double)sc[k * NH + i].induction);
        printf("\n");
    }
    // previous-token: best mean over the presets; induction: best on the repeated probe
    HeadScore *mean = kv_calloc((size_t)NH, sizeof(HeadScore));
    for (int i = 0; i < NH; i++) {
        for (int k = 1; k < n_sets; k++)
            mean[i].prev_token += sc[k * NH + i].prev_token / (float)(n_sets - 1);
        mean[i].induction = sc[i].induction;
    }
    int bp = best_head(mean, NH, false), bi = best_head(mean, NH, true);
    printf("previous-token head: layer %d head %d score=%.3f (narrative %.3f, code %.3f, fact "
           "%.3f, repeat %.3f)\n",
           bp / H + 1, bp % H + 1, (double)mean[bp].prev_token, (double)sc[1 * NH + bp].prev_token,
           (double)sc[2 * NH + bp].prev_token, (double)sc[3 * NH + bp].prev_token,
           (double)sc[bp].prev_token);
    printf("induction head: layer %d head %d score=%.3f on %d random tokens repeated (narrative "
           "%.3f, code %.3f; chance %.3f)\n",
           bi / H + 1, bi % H + 1, (double)sc[bi].induction, half,
           (double)sc[1 * NH + bi].induction, (double)sc[2 * NH + bi].induction,
           1.0 / (1.5 * half + 1));
    free(mean), free(tokens), free(sc);
    engine_free(&e);
    return 0;
}

// ----------------------------------------------------------------------------------------------
// --project [LENGTH]: the KV cache of a sequence on published models (src/sim/project.c), beside
// this model's own. Without LENGTH, four lengths a class compares; with it, that length and how
// many such sequences fit beside the weights on each accelerator.

static void project_row(const PublishedModel *pm, const ProjectCache *pc, const uint64_t *lens,
                        int n_lens, bool fits) {
    char b[32], w[32], hk[16], win[16];
    snprintf(hk, sizeof hk, "%d/%d", pm->heads, pm->kv_heads);
    if (pm->window > 0)
        snprintf(win, sizeof win, "%d", pm->window);
    else
        snprintf(win, sizeof win, "-");
    kv_format_bytes(b, sizeof b, (uint64_t)(project_bytes_per_token(pm, pc) + 0.5));
    printf("%-14s %-4s %3d %8s %4d %7s %7d %10s", pm->name, project_attn_name(pm->attn), pm->layers,
           hk, pm->head_size, win, pm->context, b);
    for (int k = 0; k < n_lens; k++) {
        kv_format_bytes(b, sizeof b, (uint64_t)(project_kv_bytes(pm, pc, lens[k]) + 0.5));
        printf(" %9s%s", b, lens[k] > (uint64_t)pm->context ? "*" : " ");
    }
    kv_format_bytes(w, sizeof w, (uint64_t)(project_weight_bytes(pm) + 0.5));
    printf(" %9s", w);
    if (fits)
        for (int a = 0; a < n_project_accelerators; a++) {
            int64_t n = project_sequences_fit(pm, pc, lens[0], project_accelerators[a].bytes);
            printf(" %9lld", (long long)n);
        }
    printf("\n");
}

static int info_project(const Model *m, uint64_t length) {
    const ModelConfig *c = &m->cfg;
    const uint64_t defaults[] = {1024, 8192, 32768, 131072};
    const uint64_t *lens = length ? &length : defaults;
    const int n_lens = length ? 1 : 4;
    ProjectCache pc;
    project_cache_default(&pc);
    printf("KV cache per sequence: 2 x layers x kv_heads x head_size values per token (MLA: layers "
           "x (latent + rope)), %d-bit values; weights in bfloat16\n",
           pc.value_bits);
    printf("%-14s %-4s %3s %8s %4s %7s %7s %10s", "model", "attn", "L", "H/HKV", "HS", "window",
           "context", "per_token");
    for (int k = 0; k < n_lens; k++) {
        char h[32];
        snprintf(h, sizeof h, "at_%llu", (unsigned long long)lens[k]);
        printf(" %10s", h);
    }
    printf(" %9s", "weights");
    if (length)
        for (int a = 0; a < n_project_accelerators; a++) {
            char h[32];
            snprintf(h, sizeof h, "fit_%.0fGB", project_accelerators[a].bytes / 1e9);
            printf(" %9s", h);
        }
    printf("\n");
    // this model, as the engine stores it (float32)
    char name[64];
    const char *slash = strrchr(m->path, '/');
    snprintf(name, sizeof name, "%.63s", slash ? slash + 1 : m->path);
    char *dot = strrchr(name, '.');
    if (dot)
        *dot = '\0';
    PublishedModel self = project_model_of(c, name);
    ProjectCache own = pc;
    own.value_bits = kv_precision_bits(KV_PRECISION_F32);
    project_row(&self, &own, lens, n_lens, length != 0);
    for (int i = 0; i < n_published_models; i++)
        project_row(&published_models[i], &pc, lens, n_lens, length != 0);
    printf("(the first row: this model, float32 values as the engine stores them; * past the "
           "model's context; GB = 10^9 bytes)\n");
    return 0;
}

int cmd_info(int argc, char **argv) {
    CommonOptions o;
    app_common_defaults(&o);
    KvError err = {0};
    bool heads = false, project = false;
    uint64_t project_len = 0;
    for (int i = 1; i < argc; i++) {
        int r = app_parse_common(argc, argv, &i, &o, &err);
        if (r < 0)
            return app_fail(&err);
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--heads") == 0) {
            heads = true;
        } else if (strcmp(argv[i], "--project") == 0) {
            project = true;
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                long v;
                if (app_parse_int("--project", argv[++i], 1, 100000000, &v, &err))
                    return app_fail(&err);
                project_len = (uint64_t)v;
            }
        } else
            return app_usage_error("info", "unknown option '%s' (see kvscope --help)", argv[i]);
    }
    if (o.kv != KV_PRECISION_F32)
        return app_usage_error("--kv", "info prints the bytes of every kind; it takes no --kv");
    Model m;
    Tokenizer t;
    if (app_load(&m, &t, o.model, o.tokenizer, &err))
        return app_fail(&err);
    if (heads || project) {
        int st = heads ? info_heads(&m, &t, &err) : info_project(&m, project_len);
        tokenizer_free(&t);
        model_free(&m);
        return st;
    }
    const ModelConfig *c = &m.cfg;
    char a[32], b[32], d[32];
    size_t per_tok = config_kv_bytes_per_token(c);
    uint64_t f1[FLOP_COMPONENTS];
    flops_formula(c, c->seq_len - 1, 1, 1, f1);
    uint64_t decode_last = 0;
    for (int i = 0; i < FLOP_COMPONENTS; i++)
        decode_last += f1[i];
    printf("model        %s\n", m.path);
    printf("dim          %d\nhidden_dim   %d\nn_layers     %d\nn_heads      %d\n"
           "n_kv_heads   %d\nhead_size    %d\nkv_dim       %d\nvocab_size   %d\nseq_len      %d\n",
           c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, config_head_size(c),
           config_kv_dim(c), c->vocab_size, c->seq_len);
    printf("classifier   %s\n", c->shared_classifier ? "shared with the embedding" : "separate");
    kv_format_number(a, sizeof a, (double)config_param_count(c), KV_NUM_SI_SHORT, "");
    printf("parameters   %zu (%s)\n", config_param_count(c), a);
    kv_format_bytes(b, sizeof b, per_tok);
    kv_format_bytes(d, sizeof d, (uint64_t)per_tok * (uint64_t)c->seq_len);
    printf("kv_bytes_per_token %zu (%s; 2 x %d layers x %d kv_dim x %d bytes)\n", per_tok, b,
           c->n_layers, config_kv_dim(c), kv_precision_bits(KV_PRECISION_F32) / 8);
    printf("kv_bytes_full_context %zu (%s at %d tokens)\n", per_tok * (size_t)c->seq_len, d,
           c->seq_len);
    // every precision the cache can store in (--kv), scales and zero points included
    for (int k = 1; k < KV_PRECISIONS; k++) {
        const KvPrecision p = (KvPrecision)k;
        KvError why = {0};
        if (kv_precision_check(c, p, kv_precision_name(p), &why)) {
            printf("kv_bytes_per_token_%s unusable (%s)\n", kv_precision_name(p), why.msg);
            continue;
        }
        const bool kivi = p == KV_PRECISION_KIVI2 || p == KV_PRECISION_KIVI4;
        const int T = c->seq_len, nq = kivi ? (T > 32 ? (T - 32) / 32 * 32 : 0) : T;
        const double per = kivi ? (double)config_kv_bytes_precision(c, p, 32) / 32.0
                                : (double)config_kv_bytes_precision(c, p, 1);
        const size_t full = config_kv_bytes_precision(c, p, nq) + (size_t)(T - nq) * per_tok;
        kv_format_bytes(d, sizeof d, full);
        printf("kv_bytes_per_token_%s %g (%.1f%% of f32%s); %s at %d tokens\n",
               kv_precision_name(p), per, 100.0 * per / (double)per_tok,
               kivi ? " once quantized; the newest 32..63 positions stay f32" : "", d, T);
    }
    kv_format_number(a, sizeof a, (double)decode_last, KV_NUM_SI_SHORT, "FLOP");
    printf("flops_decode_last_position %llu (%s)\n", (unsigned long long)decode_last, a);
    const bool bf16 = model_weights_bf16(&m);
    kv_format_bytes(b, sizeof b, (uint64_t)model_matrix_floats(&m) * (bf16 ? 2 : 4));
    printf("engine_weights %s (%s a decode step streams)%s\n", bf16 ? "bfloat16" : "float32", b,
           bf16 ? ": every matrix weight is a bfloat16 value, kept in half the bytes" : "");
    printf("tokenizer    %d pieces, longest %u bytes\n", t.vocab_size, t.max_token_length);
    tokenizer_free(&t);
    model_free(&m);
    return 0;
}
