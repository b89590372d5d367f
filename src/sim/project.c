// project.c — what a sequence's KV cache would cost on published models.
//
// kvscope's own model is tiny: its whole cache fits in a few hundred KiB. The point the cache
// makes in production is one of scale, so the memory view and `kvscope info --project` take the
// session's sequence length (or a length the teacher picks) and apply the same formulas to the
// shapes of published models: the bytes their caches would hold, beside their weights and the
// memory of common accelerators.
//
// Per token, a model whose layers attend with HKV key/value heads of HS values each (MHA: HKV =
// H; GQA: 1 < HKV < H; MQA: HKV = 1) stores 2 * L * HKV * HS values. MLA (DeepSeek-V2/V3) stores
// one compressed latent of `mla_latent` values and one rotary key of `mla_rope` values per layer,
// from which keys and values are rebuilt: L * (latent + rope). A model's own sliding window caps
// the positions held; a cache policy (window, sinks, eviction) and a stored precision chosen in
// the session apply through ProjectCache.
//
// What this file does not do: run any of these models, or draw (src/view draws the memory view).
#include "sim/sim.h"

#include <string.h>
#include <strings.h>

// ----------------------------------------------------------------------------------------------
// The table. Each row is checked against the model's published config.json (Hugging Face
// model card of the named repository) or paper; `source` names it. Parameters are the totals
// the model cards state (for mixture-of-experts models, all experts).

const PublishedModel published_models[] = {
    {"GPT-2 small", PROJECT_ATTN_MHA, 12, 12, 12, 64, 768, 3072, 0, 0, 0, 1024, 124e6,
     "openai-community/gpt2 config.json (n_layer 12, n_head 12, n_embd 768, n_ctx 1024)", "gpt2"},
    {"GPT-2 XL", PROJECT_ATTN_MHA, 48, 25, 25, 64, 1600, 6400, 0, 0, 0, 1024, 1558e6,
     "openai-community/gpt2-xl config.json (n_layer 48, n_head 25, n_embd 1600)", "gpt2-xl"},
    {"GPT-3 175B", PROJECT_ATTN_MHA, 96, 96, 96, 128, 12288, 49152, 0, 0, 0, 2048, 175e9,
     "Brown et al. 2020, Language Models are Few-Shot Learners, table 2.1", "gpt3-175b"},
    {"Llama-2-7B", PROJECT_ATTN_MHA, 32, 32, 32, 128, 4096, 11008, 0, 0, 0, 4096, 6.74e9,
     "meta-llama/Llama-2-7b-hf config.json (num_key_value_heads 32: no GQA at 7B)", "llama2-7b"},
    {"Llama-2-13B", PROJECT_ATTN_MHA, 40, 40, 40, 128, 5120, 13824, 0, 0, 0, 4096, 13.0e9,
     "meta-llama/Llama-2-13b-hf config.json", "llama2-13b"},
    {"Llama-2-70B", PROJECT_ATTN_GQA, 80, 64, 8, 128, 8192, 28672, 0, 0, 0, 4096, 69.0e9,
     "meta-llama/Llama-2-70b-hf config.json (num_key_value_heads 8)", "llama2-70b"},
    {"Llama-3-8B", PROJECT_ATTN_GQA, 32, 32, 8, 128, 4096, 14336, 0, 0, 0, 8192, 8.03e9,
     "meta-llama/Meta-Llama-3-8B config.json", "llama3-8b"},
    {"Llama-3-70B", PROJECT_ATTN_GQA, 80, 64, 8, 128, 8192, 28672, 0, 0, 0, 8192, 70.6e9,
     "meta-llama/Meta-Llama-3-70B config.json", "llama3-70b"},
    {"Mistral-7B", PROJECT_ATTN_GQA, 32, 32, 8, 128, 4096, 14336, 0, 0, 4096, 8192, 7.24e9,
     "mistralai/Mistral-7B-v0.1 config.json (sliding_window 4096); Jiang et al. 2023 (trained "
     "context 8192; max_position_embeddings 32768)",
     "mistral-7b"},
    {"Mixtral-8x7B", PROJECT_ATTN_GQA, 32, 32, 8, 128, 4096, 14336, 0, 0, 0, 32768, 46.7e9,
     "mistralai/Mixtral-8x7B-v0.1 config.json (8 experts, 2 per token, no sliding window)",
     "mixtral-8x7b"},
    {"Qwen2.5-0.5B", PROJECT_ATTN_GQA, 24, 14, 2, 64, 896, 4864, 0, 0, 0, 32768, 0.49e9,
     "Qwen/Qwen2.5-0.5B config.json", "qwen2.5-0.5b"},
    {"Qwen2.5-7B", PROJECT_ATTN_GQA, 28, 28, 4, 128, 3584, 18944, 0, 0, 0, 131072, 7.61e9,
     "Qwen/Qwen2.5-7B config.json (max_position_embeddings 131072)", "qwen2.5-7b"},
    {"Qwen2.5-72B", PROJECT_ATTN_GQA, 80, 64, 8, 128, 8192, 29568, 0, 0, 0, 131072, 72.7e9,
     "Qwen/Qwen2.5-72B config.json", "qwen2.5-72b"},
    {"DeepSeek-V3", PROJECT_ATTN_MLA, 61, 128, 128, 128, 7168, 18432, 512, 64, 0, 163840, 671e9,
     "deepseek-ai/DeepSeek-V3 config.json (kv_lora_rank 512, qk_rope_head_dim 64); "
     "DeepSeek-AI 2024, arXiv:2412.19437",
     "deepseek-v3"},
};

const int n_published_models = (int)(sizeof published_models / sizeof published_models[0]);

const ProjectAccelerator project_accelerators[] = {
    {"24 GB (RTX 4090)", 24e9},
    {"80 GB (A100/H100)", 80e9},
    {"141 GB (H200)", 141e9},
};
const int n_project_accelerators =
    (int)(sizeof project_accelerators / sizeof project_accelerators[0]);

const char *project_attn_name(ProjectAttn a) {
    switch (a) {
    case PROJECT_ATTN_MHA:
        return "MHA";
    case PROJECT_ATTN_GQA:
        return "GQA";
    case PROJECT_ATTN_MQA:
        return "MQA";
    case PROJECT_ATTN_MLA:
        return "MLA";
    }
    return "?";
}

PublishedModel project_model_of(const ModelConfig *c, const char *name) {
    const ProjectAttn attn = c->n_kv_heads == c->n_heads ? PROJECT_ATTN_MHA
                             : c->n_kv_heads == 1        ? PROJECT_ATTN_MQA
                                                         : PROJECT_ATTN_GQA;
    return (PublishedModel){.name = name,
                            .attn = attn,
                            .layers = c->n_layers,
                            .heads = c->n_heads,
                            .kv_heads = c->n_kv_heads,
                            .head_size = config_head_size(c),
                            .dim = c->dim,
                            .hidden = c->hidden_dim,
                            .context = c->seq_len,
                            .params = (double)config_param_count(c),
                            .source = "the loaded checkpoint",
                            .key = ""};
}

const PublishedModel *project_find_key(const char *key) {
    for (int i = 0; i < n_published_models; i++)
        if (strcmp(published_models[i].key, key) == 0)
            return &published_models[i];
    return NULL;
}

const PublishedModel *project_find(const char *name) {
    for (int i = 0; i < n_published_models; i++)
        if (strcasecmp(published_models[i].name, name) == 0)
            return &published_models[i];
    return NULL;
}

// ----------------------------------------------------------------------------------------------
// Formulas

uint64_t project_values_per_token(const PublishedModel *m) {
    if (m->attn == PROJECT_ATTN_MLA)
        return (uint64_t)m->layers * (uint64_t)(m->mla_latent + m->mla_rope);
    return 2ull * (uint64_t)m->layers * (uint64_t)m->kv_heads * (uint64_t)m->head_size;
}

uint64_t project_rows_per_token(const PublishedModel *m) {
    if (m->attn == PROJECT_ATTN_MLA)
        return (uint64_t)m->layers;
    return 2ull * (uint64_t)m->layers * (uint64_t)m->kv_heads;
}

void project_cache_default(ProjectCache *pc) {
    pc->value_bits = 16;
    pc->row_overhead_bytes = 0;
    pc->max_positions = 0;
}

uint64_t project_positions(const PublishedModel *m, const ProjectCache *pc, uint64_t length) {
    uint64_t n = length;
    if (m->window > 0 && n > (uint64_t)m->window)
        n = (uint64_t)m->window;
    if (pc->max_positions > 0 && n > (uint64_t)pc->max_positions)
        n = (uint64_t)pc->max_positions;
    return n;
}

double project_bytes_per_token(const PublishedModel *m, const ProjectCache *pc) {
    return (double)project_values_per_token(m) * pc->value_bits / 8.0 +
           (double)project_rows_per_token(m) * pc->row_overhead_bytes;
}

double project_kv_bytes(const PublishedModel *m, const ProjectCache *pc, uint64_t length) {
    return (double)project_positions(m, pc, length) * project_bytes_per_token(m, pc);
}

double project_weight_bytes(const PublishedModel *m) {
    return m->params * 2.0; // bfloat16, as these models are published and served
}

int64_t project_sequences_fit(const PublishedModel *m, const ProjectCache *pc, uint64_t length,
                              double memory_bytes) {
    double room = memory_bytes - project_weight_bytes(m);
    double per = project_kv_bytes(m, pc, length);
    if (room <= 0)
        return 0;
    if (per <= 0)
        return -1; // nothing to hold: unbounded
    return (int64_t)(room / per);
}

// ----------------------------------------------------------------------------------------------
// The session's cache, projected

void project_cache_of_session(const Session *s, ProjectCache *pc) {
    project_cache_default(pc);
    const KvCacheKind k = s->eng.cache.kind;
    const int bits = kv_precision_bits(k.precision);
    if (bits < 16) { // a quantized cache: its bits, and a float scale (and zero point) per row
        pc->value_bits = bits;
        pc->row_overhead_bytes = bits == 8 ? 4 : 8;
    }
    // the session's retention policy (window, sinks, h2o) keeps at most its budget of positions
    pc->max_positions = kv_kind_budget(s->cache_kind);
}

void project_cache_describe(const ProjectCache *pc, char *out, size_t cap) {
    char budget[64] = "every position kept";
    if (pc->max_positions > 0)
        snprintf(budget, sizeof budget, "at most %d positions kept", pc->max_positions);
    if (pc->value_bits >= 16)
        snprintf(out, cap,
                 "keys and values in %d bits as the models publish them; %s; weights in "
                 "bfloat16",
                 pc->value_bits, budget);
    else
        snprintf(out, cap,
                 "keys and values in %d bits (as this session's cache stores them) plus "
                 "%.0f bytes of scales per row; %s; weights in bfloat16",
                 pc->value_bits, pc->row_overhead_bytes, budget);
}
