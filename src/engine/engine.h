// engine.h — the face of src/engine: a small, instrumented decoder-only transformer.
//
// What lives here: loading and writing llama2.c checkpoints and tokenizers, the forward pass
// (batched prefill, cached decode, full no-cache recompute), the counters that measure what
// each of those really did, and the llama2.c-compatible sampler. What does not: any I/O besides
// reading and writing model files, any drawing, any notion of "steps" (that is src/sim).
//
// Shape legend, used in every comment of this module:
//   L  layers         H  query heads      HKV  key/value heads     HS  head size (D / H)
//   D  dim            KV kv_dim = HKV*HS  F    hidden (MLP) dim    V   vocabulary size
//   T  positions (the model's context, seq_len)                    N   positions in one pass
#ifndef KVSCOPE_ENGINE_H
#define KVSCOPE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// ----------------------------------------------------------------------------------------------
// Errors and allocation

// Status codes double as the process exit status (DESIGN.md): 1 runtime failure, 2 bad input.
typedef enum { KV_OK = 0, KV_ERR_RUNTIME = 1, KV_ERR_INPUT = 2 } KvStatus;

// One line for the user, "<what>: <why>"; main prints it as "kvscope: <what>: <why>".
typedef struct {
    KvStatus code;
    char msg[512];
} KvError;

// Fills *e (when e is not NULL) and returns code, so callers can `return kv_error(...)`.
KvStatus kv_error(KvError *e, KvStatus code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Checked allocation: on failure prints "kvscope: out of memory (file:line)" and aborts.
void *kv_malloc_at(size_t n, const char *file, int line);
void *kv_calloc_at(size_t n, size_t size, const char *file, int line);
void *kv_realloc_at(void *p, size_t n, const char *file, int line);
// The same, on a 64-byte (cache line) boundary; freed with free().
void *kv_malloc_aligned_at(size_t n, const char *file, int line);
#define kv_malloc(n) kv_malloc_at((n), __FILE__, __LINE__)
#define kv_calloc(n, s) kv_calloc_at((n), (s), __FILE__, __LINE__)
#define kv_realloc(p, n) kv_realloc_at((p), (n), __FILE__, __LINE__)
#define kv_malloc_aligned(n) kv_malloc_aligned_at((n), __FILE__, __LINE__)

// Monotonic clock in nanoseconds.
uint64_t kv_now_ns(void);

// ----------------------------------------------------------------------------------------------
// Files and text: one file reader and one UTF-8 walker for the whole project

// Reads the whole regular file at `path` into *out (owned, free(); NUL-terminated after its *n
// bytes, so text can be used as a string). KV_ERR_INPUT "<path>: <why>" when it cannot be
// opened or read, is not a regular file (a directory, FIFO or device; never blocks on one), or
// holds more than `max` bytes (SIZE_MAX: no limit). *out is NULL on failure.
KvStatus kv_read_file(const char *path, size_t max, unsigned char **out, size_t *n,
                      KvError *err);

// The UTF-8 sequence at s (reading at most n bytes): its length 1..4, with its code point in
// *cp (cp may be NULL); 0 when the bytes are not valid UTF-8 (a stray continuation byte, a
// sequence cut short, an overlong form, a surrogate, past U+10FFFF) or n is 0.
int kv_utf8_next(const char *s, size_t n, uint32_t *cp);
// Code points in s[0 .. n), or -1 when those bytes are not valid UTF-8.
long kv_utf8_count(const char *s, size_t n);

// Writes `n` bytes to `path` atomically: a temporary file beside it, fsync-free rename on
// success, nothing left behind on failure. Used by every writer in the project.
KvStatus kv_write_file_atomic(const char *path, const void *data, size_t n, KvError *err);

// ----------------------------------------------------------------------------------------------
// Random numbers: llama2.c's xorshift64* (the golden checkpoints and its sampler use it)

uint32_t kv_rng_u32(uint64_t *state);
float kv_rng_f32(uint64_t *state); // in [0, 1), 24 bits

// ----------------------------------------------------------------------------------------------
// Model configuration and weights

typedef struct {
    int dim;        // D
    int hidden_dim; // F
    int n_layers;   // L
    int n_heads;    // H
    int n_kv_heads; // HKV
    int vocab_size; // V (always positive here; the file's sign lives in shared_classifier)
    int seq_len;    // T
    bool shared_classifier;
} ModelConfig;

// Limits a loader accepts; far above any model kvscope can run interactively, far below overflow.
#define KV_MAX_DIM 16384
#define KV_MAX_HIDDEN 65536
#define KV_MAX_LAYERS 256
#define KV_MAX_HEADS 256
#define KV_MAX_VOCAB 1048576
#define KV_MAX_SEQ 65536

int config_head_size(const ModelConfig *c); // HS
int config_kv_dim(const ModelConfig *c);    // KV
// Number of weight floats (the file's tensors without the RoPE tables).
size_t config_weight_count(const ModelConfig *c);
// Number of parameters a user would quote (the weights; a shared classifier counted once).
size_t config_param_count(const ModelConfig *c);
// KV cache bytes one position costs: 2 * L * KV * sizeof(float).
size_t config_kv_bytes_per_token(const ModelConfig *c);
// Checks every field and the products that size tensors; `what` names the file in the message.
KvStatus config_validate(const ModelConfig *c, const char *what, KvError *err);

// Pointers into one float buffer laid out in file order (see weights_carve). Trainer and
// engine share this struct: the trainer carves its parameters and gradients the same way.
typedef struct {
    float *token_embedding; // (V, D)
    float *rms_att;         // (L, D)
    float *wq;              // (L, D, D)
    float *wk;              // (L, KV, D)
    float *wv;              // (L, KV, D)
    float *wo;              // (L, D, D)
    float *rms_ffn;         // (L, D)
    float *w1;              // (L, F, D)
    float *w2;              // (L, D, F)
    float *w3;              // (L, F, D)
    float *rms_final;       // (D)
    float *wcls;            // (V, D); equals token_embedding when the classifier is shared
} ModelWeights;

// Points w's tensors into base, which holds config_weight_count(c) floats in file order
// (the unshared classifier last).
void weights_carve(ModelWeights *w, const ModelConfig *c, float *base);

typedef struct {
    ModelConfig cfg;
    ModelWeights w;
    float *data; // owned: config_weight_count floats
    char path[1024];
} Model;

// Loads a llama2.c legacy (version 0) checkpoint. Trusts nothing: every header field, the
// products that size tensors and the exact file size are checked. Errors are KV_ERR_INPUT
// with "<path>: <problem>". On success the caller owns *m (model_free).
KvStatus model_load(Model *m, const char *path, KvError *err);
void model_free(Model *m);

// Rounds every weight the engine multiplies with (wq, wk, wv, wo, w1, w2, w3, wcls; the
// embedding too when the classifier is shared) to the nearest bfloat16 value, ties to even.
// An engine then keeps them in half the bytes and computes exactly what the rounded floats give
// (engine_pack). What `kvtrain bf16` does to a trained model.
void model_round_bf16(Model *m);
// True when every one of those weights is exactly a bfloat16 value (its low 16 bits are zero).
bool model_weights_bf16(const Model *m);
// How many floats those weights are: what one decode step reads of the model.
size_t model_matrix_floats(const Model *m);

// Writes a legacy version-0 checkpoint (atomic). The RoPE tables, unused by the engine, are
// written as llama2.c's exporter computes them.
KvStatus model_write(const char *path, const ModelConfig *c, const ModelWeights *w, KvError *err);

// ----------------------------------------------------------------------------------------------
// Tokenizer (llama2.c tokenizer.bin)

#define TOKEN_UNK 0
#define TOKEN_BOS 1
#define TOKEN_EOS 2

typedef struct {
    int vocab_size;
    unsigned max_token_length;
    char **pieces;    // owned: vocab_size NUL-terminated strings (pieces hold no NUL byte)
    int *piece_len;   // byte lengths
    float *scores;    // merge priority: higher merges first
    int *sorted;      // ids sorted by piece bytes, for lookup
    int space_id;     // id of " " (the dummy prefix)
} Tokenizer;

// Loads vocab_size entries (the count comes from the checkpoint). KV_ERR_INPUT on a short,
// long or malformed file, naming it.
KvStatus tokenizer_load(Tokenizer *t, const char *path, int vocab_size, KvError *err);
void tokenizer_free(Tokenizer *t);
// Builds a tokenizer in memory from pieces (copied); the trainer and tests use it.
KvStatus tokenizer_build(Tokenizer *t, int n, const char *const *pieces, const float *scores,
                         KvError *err);
KvStatus tokenizer_write(const Tokenizer *t, const char *path, KvError *err);

// Id of a piece with exactly these bytes, or -1.
int tokenizer_lookup(const Tokenizer *t, const char *s, size_t len);

// Encodes UTF-8 text as llama2.c does: optional BOS, a " " dummy prefix when text is not empty,
// one id per code point (byte fallback), then best-score merges. Invalid UTF-8 is KV_ERR_INPUT.
// Writes at most cap ids; more is KV_ERR_INPUT ("longer than ... tokens").
KvStatus tokenizer_encode(const Tokenizer *t, const char *text, bool bos, bool eos, int *out,
                          int cap, int *n_out, KvError *err);

// The text token `id` adds after token `prev`: a leading space right after BOS is dropped and
// `<0xHH>` becomes its byte. Returns a pointer into t or into byte_buf (2 bytes), NUL-terminated;
// *len receives the length (a <0x00> piece has length 1).
const char *tokenizer_decode(const Tokenizer *t, int prev, int id, char byte_buf[2], size_t *len);

// ----------------------------------------------------------------------------------------------
// Counters: what a forward pass really did, counted by the code that does it (DESIGN.md).

typedef enum {
    FLOP_QKV,     // q, k, v projections: 2*D*D + 2*2*D*KV per position and layer
    FLOP_SCORES,  // attention scores: 2*D*(p+1) per position p and layer
    FLOP_VALUES,  // weighted values: 2*D*(p+1)
    FLOP_OUT,     // output projection: 2*D*D
    FLOP_MLP,     // W1, W3, W2: 3*2*D*F
    FLOP_CLS,     // classifier: 2*D*V for each position whose logits are needed
    FLOP_COMPONENTS
} FlopComponent;

extern const char *const flop_component_names[FLOP_COMPONENTS];

typedef struct {
    uint64_t flops[FLOP_COMPONENTS];
    uint64_t kv_bytes_written; // K and V values stored (cache or no-cache working memory)
    uint64_t kv_bytes_read;    // K and V values read by attention
    uint64_t positions;        // positions run through the layers
} Counters;

uint64_t counters_flops(const Counters *c); // sum over components
void counters_add(Counters *acc, const Counters *c);

// The closed forms of DESIGN.md (what tests hold the counters to, and what the picture uses to
// draw the mode that is not running). Positions pos0 .. pos0+n-1 through every layer, plus the
// classifier for `logits` positions.
void flops_formula(const ModelConfig *c, int pos0, int n, int logits, uint64_t out[FLOP_COMPONENTS]);
// Total FLOPs of the first `steps` generation steps after a prompt of n_prompt tokens, all in
// one mode: with the cache, the prefill and then one position per step; without, step k
// recomputes all n_prompt + k positions. Each step computes the logits of one position.
uint64_t flops_formula_run(const ModelConfig *c, bool cache, int n_prompt, int steps);

// ----------------------------------------------------------------------------------------------
// The engine: a model, its KV cache and its working memory.

typedef enum { CACHE_MODE_ON = 0, CACHE_MODE_OFF = 1 } CacheMode;

// Where a pass leaves attention weights: rows for query positions row0 .. row0+rows-1, each
// `cols` wide (cols = the pass's last position + 1; entries past a row's own position are 0).
// Layout (L, H, rows, cols).
typedef struct {
    float *w;
    int row0, rows, cols;
} AttnSink;

typedef struct {
    const Model *model;
    // The model's matrices copied at engine_init into the order one pass reads them, so that a
    // decode step streams them as one run: per layer wqkv (D + 2 KV, D) = the rows of wq, wk
    // and wv; wo (D, D); w13 (2 F, D) = the rows of w1 and w3; w2 (D, F); then wcls (V, D).
    // As floats, or as bfloat16 (uint16_t, the high half of each float) when every one of them
    // is exactly a bfloat16 value: the same numbers in half the bytes (engine_pack).
    // Owned. The model's weights must not change while the engine lives.
    void *packed;
    bool packed_bf16;
    size_t packed_layer; // elements per layer in packed
    float *key_cache;   // (L, HKV, T, HS) the KV cache: each head's keys one contiguous run
    float *value_cache; // (L, HKV, T, HS)
    int cache_len;      // positions 0..cache_len-1 of the cache are valid
    float *work_k;      // (L, HKV, T, HS) no-cache working memory: rebuilt every pass
    float *work_v;      // (L, HKV, T, HS)
    // activations of one pass of up to T positions
    float *x;      // (T, D) residual stream
    float *xb;     // (T, D)
    float *xb2;    // (T, D)
    float *qkv;    // (T, D + 2 KV) each position's q, then k and v before they go to the cache
    float *hb;     // (T, 2 F) each position's W1 x, then W3 x
    float *hb2;    // (T, F) silu(W1 x) * W3 x
    float *att;    // (H, T) scores of one query position
    float *logits; // (V) of the last position of the last pass
    float *wide;   // (4, max(D, F)) bfloat16 weight rows widened to floats for a batched pass
    float *rope;   // (T, HS/2, 2) cos and sin of each position's rotation of each pair
    bool instrument; // record attention and counters (off: bench measures their cost)
} Engine;

KvStatus engine_init(Engine *e, const Model *m, KvError *err);
// Where the HS floats of (layer, key/value head, position) start in key_cache, value_cache,
// work_k and work_v. Attention walks one head's positions as one contiguous stream.
size_t engine_cache_offset(const ModelConfig *c, int layer, int kv_head, int pos);
// (Re)builds e->packed from the model: as bfloat16 when allow_bf16 and every matrix weight is
// exactly a bfloat16 value (the low 16 bits of each float are zero; kvtrain bf16 makes a model
// so), as floats otherwise. Either way the forward pass computes the same numbers. engine_init
// calls it with allow_bf16 = true; tests and the benchmark compare both. Returns packed_bf16.
bool engine_pack(Engine *e, bool allow_bf16);
// Bytes of e->packed: what one decode step streams from memory besides the cache.
size_t engine_packed_bytes(const Engine *e);
void engine_free(Engine *e);

// One pass over positions pos0 .. pos0+n-1 (tokens holds their ids), attending over 0..p for
// each p, logits of the last position into e->logits. With use_cache the pass reads positions
// < pos0 from the KV cache (which must hold them), stores the new ones there and sets
// cache_len = pos0 + n; without, it requires pos0 == 0 and uses the working memory, leaving the
// cache untouched. Adds what it computed to *ctr; fills *sink when not NULL. With
// e->instrument off, neither counters nor attention are recorded.
void engine_forward(Engine *e, const int *tokens, int pos0, int n, bool use_cache, AttnSink *sink,
                    Counters *ctr);

// What one generation step computes for a sequence of `len` tokens (the next token's logits),
// in the given mode. With the cache: positions cache_len .. len-1 (the prompt on the first
// step, one position when decoding, the whole sequence again right after the cache was turned
// on). Without: every position 0 .. len-1, recomputed; the cache is dropped (cache_len = 0).
// Returns the first position computed.
int engine_step(Engine *e, const int *tokens, int len, CacheMode mode, AttnSink *sink,
                Counters *ctr);

// ----------------------------------------------------------------------------------------------
// Sampler (llama2.c's, plus top-k)

typedef struct {
    float temperature; // 0 = greedy (argmax, first maximum)
    float top_p;       // 0 or 1 = plain multinomial
    int top_k;         // 0 = off
    uint64_t seed;
} SamplerSettings;

typedef struct {
    SamplerSettings s;
    uint64_t rng;
    int vocab_size;
    float *probs;     // (V)
    int *index;       // (V) candidate ids
    float *cand;      // (V) candidate probabilities
    int *tmp_index;   // (V) merge-sort scratch
    float *tmp_cand;  // (V)
} Sampler;

void sampler_init(Sampler *s, int vocab_size, SamplerSettings settings);
void sampler_free(Sampler *s);
// Picks the next id from logits (not modified). Exactly one random draw when temperature > 0.
int sampler_sample(Sampler *s, const float *logits);

typedef struct {
    int id;
    float prob;
} Candidate;

// The k most probable ids of softmax(logits / temperature) (temperature <= 0 counts as 1),
// most probable first. Returns how many were written.
int top_candidates(const float *logits, int vocab_size, float temperature, Candidate *out, int k);

#endif
