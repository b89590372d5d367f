// cmd_info.c — `kvscope info`: what the model is, in the numbers the counters use.
#include "app/app.h"

#include <stdio.h>
#include <string.h>

static void si(double v, const char *unit, char *buf, size_t cap) {
    const char *pre[] = {"", "k", "M", "G", "T", "P"};
    int i = 0;
    while (v >= 1000.0 && i < 5)
        v /= 1000.0, i++;
    snprintf(buf, cap, "%.3g %s%s", v, pre[i], unit);
}

int cmd_info(int argc, char **argv) {
    CommonOptions o;
    app_common_defaults(&o);
    KvError err = {0};
    for (int i = 1; i < argc; i++) {
        int r = app_parse_common(argc, argv, &i, &o, &err);
        if (r < 0)
            return app_fail(&err);
        if (r == 0)
            return app_usage_error("info", "unknown option '%s' (see kvscope --help)", argv[i]);
    }
    Model m;
    Tokenizer t;
    if (app_load(&m, &t, o.model, o.tokenizer, &err))
        return app_fail(&err);
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
    si((double)config_param_count(c), "", a, sizeof a);
    printf("parameters   %zu (%s)\n", config_param_count(c), a);
    si((double)per_tok, "B", b, sizeof b);
    si((double)per_tok * c->seq_len, "B", d, sizeof d);
    printf("kv_bytes_per_token %zu (%s; 2 x %d layers x %d kv_dim x 4 bytes)\n", per_tok, b,
           c->n_layers, config_kv_dim(c));
    printf("kv_bytes_full_context %zu (%s at %d tokens)\n", per_tok * (size_t)c->seq_len, d,
           c->seq_len);
    si((double)decode_last, "FLOP", a, sizeof a);
    printf("flops_decode_last_position %llu (%s)\n", (unsigned long long)decode_last, a);
    printf("tokenizer    %d pieces, longest %u bytes\n", t.vocab_size, t.max_token_length);
    tokenizer_free(&t);
    model_free(&m);
    return 0;
}
