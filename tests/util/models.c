// models.c — checkpoints and tokenizers the tests make themselves (through the engine's own
// writers), llama2.c's generation loop as a reference, and DESIGN.md's FLOP closed form.
//
// The golden rule (../shared/golden/README.md) is reproduced byte for byte: one xorshift64*
// stream seeded with 1, one draw per element of every random tensor in file order, scales
// computed in float as `(2f - 1) * scale` with scale = 0.02f * sqrtf(3.0f) (wo and w3:
// (0.02f / sqrtf(2 * L)) * sqrtf(3.0f)), RMSNorm weights 1 + (2f - 1) * 0.1f, then the edits.
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// Shapes

ModelConfig tu_config(int dim, int hidden, int layers, int heads, int kv_heads, int vocab,
                      int seq_len, bool shared) {
    ModelConfig c = {.dim = dim,
                     .hidden_dim = hidden,
                     .n_layers = layers,
                     .n_heads = heads,
                     .n_kv_heads = kv_heads,
                     .vocab_size = vocab,
                     .seq_len = seq_len,
                     .shared_classifier = shared};
    return c;
}

ModelConfig tu_golden_config(bool shared) {
    return tu_config(64, 172, 5, 8, 4, 512, 512, shared);
}

// Sizes of the tensors in file order, as DESIGN.md lists them.
typedef struct {
    float *p;
    size_t n;
    int kind; // 0 matrix, 1 wo/w3 (residual-scaled), 2 RMSNorm weights
    int fan_in;
} Tensor;

static int tensors_of(const ModelConfig *c, ModelWeights *w, Tensor t[12]) {
    size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim, L = (size_t)c->n_layers;
    size_t V = (size_t)c->vocab_size, KV = (size_t)config_kv_dim(c);
    Tensor list[12] = {
        {w->token_embedding, V * D, 0, 0}, {w->rms_att, L * D, 2, 0},
        {w->wq, L * D * D, 0, (int)D},     {w->wk, L * KV * D, 0, (int)D},
        {w->wv, L * KV * D, 0, (int)D},    {w->wo, L * D * D, 1, (int)D},
        {w->rms_ffn, L * D, 2, 0},         {w->w1, L * F * D, 0, (int)D},
        {w->w2, L * D * F, 0, (int)F},     {w->w3, L * F * D, 1, (int)D},
        {w->rms_final, D, 2, 0},           {w->wcls, V * D, 0, 0},
    };
    int n = c->shared_classifier ? 11 : 12;
    memcpy(t, list, sizeof list);
    return n;
}

// ----------------------------------------------------------------------------------------------
// Weights

void tu_golden_fill(const ModelConfig *c, float *data) {
    ModelWeights w;
    weights_carve(&w, c, data);
    Tensor t[12];
    int n = tensors_of(c, &w, t);
    const float scale = 0.02f * sqrtf(3.0f);
    const float scale_res = (0.02f / sqrtf(2.0f * (float)c->n_layers)) * sqrtf(3.0f);
    uint64_t rng = 1;
    for (int k = 0; k < n; k++) {
        for (size_t i = 0; i < t[k].n; i++) {
            float f = kv_rng_f32(&rng);
            float u = 2.0f * f - 1.0f;
            if (t[k].kind == 2)
                t[k].p[i] = 1.0f + u * 0.1f;
            else
                t[k].p[i] = u * (t[k].kind == 1 ? scale_res : scale);
        }
    }
    // The edits: BOS can never be sampled.
    size_t D = (size_t)c->dim, F = (size_t)c->hidden_dim;
    for (int i = 0; i < c->vocab_size; i++)
        if (i != TOKEN_BOS)
            w.token_embedding[(size_t)i * D] = 0.1f;
    if (c->shared_classifier) {
        w.token_embedding[D] = -8.0f;
    } else {
        w.token_embedding[D] = 0.1f;
        w.wcls[D] = -8.0f;
    }
    for (int l = 0; l < c->n_layers; l++) {
        memset(w.wo + (size_t)l * D * D, 0, D * sizeof(float));
        memset(w.w2 + (size_t)l * D * F, 0, F * sizeof(float));
    }
}

void tu_random_fill(const ModelConfig *c, uint64_t seed, float gain, float *data) {
    ModelWeights w;
    weights_carve(&w, c, data);
    Tensor t[12];
    int n = tensors_of(c, &w, t);
    uint64_t rng = seed ? seed : 1;
    for (int k = 0; k < n; k++) {
        // Uniform on [-a, a] has variance a^2 / 3.
        float a = t[k].fan_in ? gain * sqrtf(3.0f / (float)t[k].fan_in) : sqrtf(3.0f);
        for (size_t i = 0; i < t[k].n; i++) {
            float u = 2.0f * kv_rng_f32(&rng) - 1.0f;
            t[k].p[i] = t[k].kind == 2 ? 1.0f + 0.2f * u : a * u;
        }
    }
}

KvStatus tu_write_checkpoint(const char *path, const ModelConfig *c, float *data, KvError *err) {
    ModelWeights w;
    weights_carve(&w, c, data);
    return model_write(path, c, &w, err);
}

KvStatus tu_write_random_checkpoint(const char *path, const ModelConfig *c, uint64_t seed,
                                    KvError *err) {
    float *data = malloc(config_weight_count(c) * sizeof(float));
    tu_random_fill(c, seed, 1.0f, data);
    KvStatus st = tu_write_checkpoint(path, c, data, err);
    free(data);
    return st;
}

// Writes data into a temporary file and loads it back.
static KvStatus write_and_load(Model *m, const ModelConfig *c, float *data, KvError *err) {
    char *dir = tu_tmpdir();
    if (!dir)
        return kv_error(err, KV_ERR_RUNTIME, "tmpdir: cannot create");
    char *path = tu_join(dir, "model.bin");
    KvStatus st = tu_write_checkpoint(path, c, data, err);
    if (st == KV_OK)
        st = model_load(m, path, err);
    free(path);
    tu_rmtree(dir);
    return st;
}

KvStatus tu_model_random(Model *m, const ModelConfig *c, uint64_t seed, KvError *err) {
    float *data = malloc(config_weight_count(c) * sizeof(float));
    tu_random_fill(c, seed, 1.0f, data);
    KvStatus st = write_and_load(m, c, data, err);
    free(data);
    return st;
}

KvStatus tu_session_open(Model *m, Tokenizer *t, Session *s, const ModelConfig *c, uint64_t seed,
                         KvError *err) {
    KvStatus st = tu_model_random(m, c, seed, err);
    if (st)
        return st;
    if ((st = tu_tokenizer(t, c->vocab_size, err))) {
        model_free(m);
        return st;
    }
    if ((st = session_init(s, m, t, err))) {
        tokenizer_free(t);
        model_free(m);
    }
    return st;
}

void tu_session_close(Model *m, Tokenizer *t, Session *s) {
    session_free(s);
    tokenizer_free(t);
    model_free(m);
}

KvStatus tu_model_golden(Model *m, bool shared, KvError *err) {
    ModelConfig c = tu_golden_config(shared);
    float *data = malloc(config_weight_count(&c) * sizeof(float));
    tu_golden_fill(&c, data);
    KvStatus st = write_and_load(m, &c, data, err);
    free(data);
    return st;
}

// ----------------------------------------------------------------------------------------------
// Tokenizers

void tu_tok_pieces(int vocab, const char **pieces, float *scores, char *buf) {
    int n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        snprintf(buf + 64 * n, 64, __VA_ARGS__);                                                   \
        pieces[n] = buf + 64 * n;                                                                  \
        n++;                                                                                       \
    } while (0)
    PUT("<unk>");
    PUT("\n<s>\n");
    PUT("\n</s>\n");
    for (int b = 0; b < 256; b++)
        PUT("<0x%02X>", b);
    int merges = vocab - 259 - 95;
    for (int m = 0; m < merges; m++) {
        if (m < 26)
            PUT(" %c", 'a' + m);
        else
            PUT("%c%c", 'a' + (m - 26) / 26, 'a' + (m - 26) % 26);
    }
    for (int ch = 32; ch < 127; ch++)
        PUT("%c", ch);
#undef PUT
    for (int i = 0; i < n; i++)
        scores[i] = i < 259 ? 0.0f : (float)(259 - i);
}

KvStatus tu_tokenizer(Tokenizer *t, int vocab, KvError *err) {
    const char **pieces = malloc((size_t)vocab * sizeof *pieces);
    float *scores = malloc((size_t)vocab * sizeof *scores);
    char *buf = malloc((size_t)vocab * 64);
    tu_tok_pieces(vocab, pieces, scores, buf);
    KvStatus st = tokenizer_build(t, vocab, pieces, scores, err);
    free(pieces);
    free(scores);
    free(buf);
    return st;
}

KvStatus tu_write_tokenizer(const char *path, int vocab, KvError *err) {
    Tokenizer t;
    KvStatus st = tu_tokenizer(&t, vocab, err);
    if (st != KV_OK)
        return st;
    st = tokenizer_write(&t, path, err);
    tokenizer_free(&t);
    return st;
}

// ----------------------------------------------------------------------------------------------
// llama2.c's generate()

void tu_buf_add(TuBuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

// run.c prints pieces with printf("%s"): a piece ends at its first NUL. A one-byte piece is
// printed only when isprint or isspace holds in the C locale.
void tu_safe_print(TuBuf *b, const char *piece, size_t len) {
    if (!piece)
        return;
    size_t n = strnlen(piece, len);
    if (n == 0)
        return;
    if (n == 1) {
        unsigned char ch = (unsigned char)piece[0];
        bool printable = ch >= 0x20 && ch <= 0x7e;
        bool space = ch == ' ' || (ch >= '\t' && ch <= '\r');
        if (!printable && !space)
            return;
    }
    tu_buf_add(b, piece, n);
}

char *tu_runc_generate(const Model *m, const Tokenizer *t, SamplerSettings ss, const char *prompt,
                       int steps, int **ids_out, int *n_ids, int *n_prompt_out) {
    KvError err;
    int cap = (int)strlen(prompt) + 3;
    int *prompt_ids = malloc((size_t)cap * sizeof(int));
    int np = 0;
    if (tokenizer_encode(t, prompt, true, false, prompt_ids, cap, &np, &err) != KV_OK || np < 1) {
        free(prompt_ids);
        return NULL;
    }
    Engine e;
    if (engine_init(&e, m, &err) != KV_OK) {
        free(prompt_ids);
        return NULL;
    }
    Sampler smp;
    sampler_init(&smp, m->cfg.vocab_size, ss);
    int *ids = malloc((size_t)(steps + np + 1) * sizeof(int));
    int n = 0;
    ids[n++] = prompt_ids[0];
    TuBuf out = {0};
    tu_buf_add(&out, "", 0);
    Counters ctr;
    memset(&ctr, 0, sizeof ctr);
    int token = prompt_ids[0], pos = 0;
    while (pos < steps) {
        engine_forward(&e, &token, pos, 1, true, NULL, &ctr);
        int next = pos < np - 1 ? prompt_ids[pos + 1] : sampler_sample(&smp, e.logits);
        pos++;
        if (next == TOKEN_BOS)
            break;
        char bb[2];
        size_t len = 0;
        const char *piece = tokenizer_decode(t, token, next, bb, &len);
        tu_safe_print(&out, piece, len);
        ids[n++] = next;
        token = next;
    }
    tu_buf_add(&out, "\n", 1);
    sampler_free(&smp);
    engine_free(&e);
    free(prompt_ids);
    if (ids_out) {
        *ids_out = ids;
        *n_ids = n;
    } else {
        free(ids);
    }
    if (n_prompt_out)
        *n_prompt_out = np;
    return out.s;
}

int tu_golden_token(int p) {
    return p == 0 ? TOKEN_BOS : (p * 7919 + 13) % 512;
}

// ----------------------------------------------------------------------------------------------
// DESIGN.md's closed form

void tu_flops(const ModelConfig *c, int pos0, int n, int logits, uint64_t out[FLOP_COMPONENTS]) {
    uint64_t d = (uint64_t)c->dim, h = (uint64_t)c->hidden_dim, L = (uint64_t)c->n_layers;
    uint64_t k = (uint64_t)config_kv_dim(c), V = (uint64_t)c->vocab_size;
    memset(out, 0, FLOP_COMPONENTS * sizeof(uint64_t));
    for (int p = pos0; p < pos0 + n; p++) {
        out[FLOP_QKV] += L * (2 * d * d + 2 * 2 * d * k);
        out[FLOP_SCORES] += L * 2 * d * (uint64_t)(p + 1);
        out[FLOP_VALUES] += L * 2 * d * (uint64_t)(p + 1);
        out[FLOP_OUT] += L * 2 * d * d;
        out[FLOP_MLP] += L * 3 * 2 * d * h;
    }
    out[FLOP_CLS] = 2 * d * V * (uint64_t)logits;
}
