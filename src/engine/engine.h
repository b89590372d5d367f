// engine.h — the face of src/engine: a small, instrumented decoder-only transformer.
//
// What lives here: loading and writing llama2.c checkpoints and tokenizers, the forward pass
// (batched prefill, cached decode, full no-cache recompute), the KV cache object it stores keys
// and values in, the counters that measure what each of those really did, and the
// llama2.c-compatible sampler. What does not: any I/O besides
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

// Writes `n` bytes to `path` atomically: an exclusive temporary file beside it (kv_temp_create),
// renamed over path on success, nothing left behind on failure or on SIGINT/SIGTERM. Used by
// every writer in the project. A failed write (a full disk) is KV_ERR_RUNTIME; a path that
// cannot be created is KV_ERR_INPUT.
KvStatus kv_write_file_atomic(const char *path, const void *data, size_t n, KvError *err);

// ----------------------------------------------------------------------------------------------
// Parsing numbers a user typed
//
// One parser per kind of value, used by every command and by the lesson parser, so that an
// option and a lesson line accept and refuse the same words. The whole string must be the value:
// no leading or trailing spaces, no trailing letters, no overflow. `what` names the option or
// command; a refusal is KV_ERR_INPUT with "<what>: <why>" and leaves *out alone.

// A whole number in lo..hi (decimal, an optional leading '-').
KvStatus kv_parse_int(const char *what, const char *s, long lo, long hi, long *out, KvError *err);
// A finite decimal number in lo..hi.
KvStatus kv_parse_float(const char *what, const char *s, double lo, double hi, double *out,
                        KvError *err);
// A 64-bit unsigned whole number: decimal digits only (no sign, no space), at most 2^64 - 1.
KvStatus kv_parse_u64(const char *what, const char *s, uint64_t *out, KvError *err);
// A sampler seed: kv_parse_u64, except 0, which is refused: xorshift64* never leaves the state
// 0, so every draw would be 0.0 and the sampler would always pick the most probable token.
KvStatus kv_parse_seed(const char *what, const char *s, uint64_t *out, KvError *err);
// "WIDTHxHEIGHT" (an 'x' or 'X' between two runs of digits), each side in min..max and
// width * height at most max_pixels (0: no limit).
KvStatus kv_parse_size(const char *what, const char *s, int min_w, int min_h, int max_side,
                       double max_pixels, int *w, int *h, KvError *err);

// ----------------------------------------------------------------------------------------------
// Files read whole, and text: one reader and one UTF-8 walker for the whole project

// Reads the whole regular file at `path` into *out (owned, free(); NUL-terminated after its *n
// bytes, so text can be used as a string). KV_ERR_INPUT "<path>: <why>" when it cannot be
// opened or read, is not a regular file (kv_open_regular: a directory, FIFO or device is refused
// without blocking), or holds more than `max` bytes (SIZE_MAX: no limit). *out is NULL on failure.
KvStatus kv_read_file(const char *path, size_t max, unsigned char **out, size_t *n, KvError *err);

// The UTF-8 sequence at s (reading at most n bytes): its length 1..4, with its code point in
// *cp (cp may be NULL); 0 when the bytes are not valid UTF-8 (a stray continuation byte, a
// sequence cut short, an overlong form, a surrogate, past U+10FFFF) or n is 0.
int kv_utf8_next(const char *s, size_t n, uint32_t *cp);
// Code points in s[0 .. n), or -1 when those bytes are not valid UTF-8.
long kv_utf8_count(const char *s, size_t n);

// ----------------------------------------------------------------------------------------------
// Numbers for people

// Numbers as every part of kvscope prints them (the picture's counters, captions, messages,
// kvscope info): scaled to a prefix, three significant figures, then the unit. Writes at most
// cap bytes, NUL-terminated.
typedef enum {
    KV_NUM_SI,       // decimal prefixes, fixed decimals: "2.70 MFLOP", "512 FLOP" (counters)
    KV_NUM_SI_SHORT, // the same, trailing zeros dropped: "2.7 MFLOP" (captions, info)
    KV_NUM_BYTES,    // binary prefixes, zeros dropped: "512 B", "6 KiB", "1.5 MiB"
    KV_NUM_COUNT,    // counts like parameters: "6.3M", "15.2k", "7B" (unit usually "")
    KV_NUM_PLAIN,    // no prefix: "3.14", "12.5", "1234" (ratios)
    KV_NUM_STYLES
} KvNumberStyle;
void kv_format_number(char *out, size_t cap, double v, KvNumberStyle style, const char *unit);
// Bytes: kv_format_number(..., KV_NUM_BYTES, "B").
void kv_format_bytes(char *out, size_t cap, uint64_t bytes);

// ----------------------------------------------------------------------------------------------
// Files written safely

// The bytes of memory this process can count on: the smaller of the physical memory and what
// the kernel reports available (MemAvailable), and of RLIMIT_AS / RLIMIT_DATA when set.
uint64_t kv_memory_available(void);

// Opens `path` for reading only when it is a regular file (a FIFO, directory or device is
// refused without blocking). Returns the descriptor (blocking mode) and fills *size, or -1 with
// err filled: "<path>: cannot open: <why>" or "<path>: cannot read (not a regular file)".
int kv_open_regular(const char *path, uint64_t *size, KvError *err);

// Creates a fresh temporary file beside `path` (same folder, name "<base>.tmp-XXXXXX"),
// exclusively (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0644 less the umask), and registers it so
// that SIGINT, SIGTERM and SIGHUP remove it before the process dies. Writes the temporary's name
// into tmp (cap bytes). Returns the descriptor or -1 (err: "<path>: cannot write: <why>").
int kv_temp_create(const char *path, char *tmp, size_t cap, KvError *err);
// Forgets a temporary: unlinks it when `remove` is true; either way it leaves the registry.
void kv_temp_forget(const char *tmp, bool remove);
// Renames the temporary over `path` and forgets it. KV_ERR_RUNTIME on failure (tmp removed).
KvStatus kv_temp_commit(const char *tmp, const char *path, KvError *err);

// A fresh folder beside `dir` ("<dir>.tmp-XXXXXX", mode 0755 less the umask) for a set of frames
// named <prefix><index, digits wide>.<ext>, registered so that a signal removes the frames
// written so far (kv_temp_folder_count) and the folder. Returns the registry slot, or -1 (err).
int kv_temp_folder_create(const char *dir, const char *prefix, int digits, const char *ext,
                          char *tmp, size_t cap, KvError *err);
void kv_temp_folder_count(int slot, int count);
// Leaves the registry; with remove, deletes the frames and the folder first.
void kv_temp_folder_forget(int slot, bool remove);

// Writes all of data to fd, retrying short writes and EINTR. KV_ERR_RUNTIME on failure, with
// "<what>: <strerror>" (what names the file or "stdout").
KvStatus kv_write_all(int fd, const void *data, size_t n, const char *what, KvError *err);

// Checks an output path before any work: a name that fits (the path under PATH_MAX with room for
// a temporary's suffix, the file name at most NAME_MAX bytes), an extension among exts (NULL-
// terminated, without dots, case-insensitive; NULL: any) named in `kind`'s message, not a
// directory, not one of `inputs` (NULL-terminated: the run's input files, by device and inode),
// and an existing writable folder. KV_ERR_INPUT with "<path>: <why>".
KvStatus kv_check_output(const char *path, const char *const *exts, const char *const *inputs,
                         KvError *err);

// True when a and b name the same file (same device and inode); false when either is missing.
bool kv_same_file(const char *a, const char *b);

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
// KV cache bytes one position costs in kvscope's cache (f32 values): 2 * L * KV * 4. The same
// as config_kv_bytes_per_token_bits(c, kv_precision_bits(KV_PRECISION_F32)); see kvcache.c.
size_t config_kv_bytes_per_token(const ModelConfig *c);
// The memory running a model takes, in bytes: its weights (the model and the engine's packed
// copy), the engine (KV cache, no-cache working memory, activations of a pass of T positions,
// sampler) and a session's history through the whole context (a record per step, each with the
// attention row of its position for every layer and head). model_load refuses a model whose
// total exceeds kv_memory_available(), before allocating any of it.
typedef struct {
    uint64_t weights, engine, history, total;
} ModelMemory;
#define KV_STEP_RECORD_BYTES 512 // a StepRecord is smaller (a test holds it to that)
void config_memory(const ModelConfig *c, ModelMemory *mem);
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

// The matrices a pass multiplies with, each layer-stacked as in the file: as floats, or as
// bfloat16 values (uint16_t: the high half of each float, in the same order).
typedef struct {
    const void *wq, *wk, *wv, *wo; // (L, D, D), (L, KV, D), (L, KV, D), (L, D, D)
    const void *w1, *w2, *w3;      // (L, F, D), (L, D, F), (L, F, D)
    const void *wcls;              // (V, D)
    bool bf16;
} MatrixWeights;

// What every engine of a model shares (model.c): whether its matrices are exactly bfloat16
// values, and their one bfloat16 copy while an engine uses it. Opaque; thread-safe.
struct ModelShared;

typedef struct {
    ModelConfig cfg;
    ModelWeights w; // pointers into the mapped file (its tensors where the file holds them)
    void *map;      // owned: the whole file, mapped private (a write copies the page written)
    size_t map_bytes;
    struct ModelShared *shared; // owned
    char path[1024];
} Model;

// Loads a llama2.c legacy (version 0) checkpoint. Trusts nothing: every header field, the
// products that size tensors and the exact file size are checked. Errors are KV_ERR_INPUT
// with "<path>: <problem>". On success the caller owns *m (model_free). The file is mapped, not
// read into a buffer: the weights are used where the page cache holds them.
KvStatus model_load(Model *m, const char *path, KvError *err);
// Frees what model_load made. Every engine of m must have been freed before.
void model_free(Model *m);

// Copies m's weights into dst (config_weight_count floats) in the order weights_carve lays out.
void model_copy_weights(const Model *m, float *dst);

// The matrices an engine of m multiplies with: the model's own floats (the mapped file, not
// copied), or, when allow_bf16 and every one is exactly a bfloat16 value, the model's bfloat16
// copy, made by the first engine that asks and shared by every engine until the last releases
// it (model_matrices_release). Either way the same numbers.
void model_matrices(const Model *m, bool allow_bf16, MatrixWeights *out);
void model_matrices_release(const Model *m, MatrixWeights *mw);
// Engines of m holding its bfloat16 copy now (0 when there is none): what tests check.
int model_bf16_users(const Model *m);

// Rounds every weight the engine multiplies with (wq, wk, wv, wo, w1, w2, w3, wcls; the
// embedding too when the classifier is shared) to the nearest bfloat16 value, ties to even.
// An engine then keeps them in half the bytes and computes exactly what the rounded floats give
// (engine_pack). What `kvtrain bf16` does to a trained model. No engine of m may live then.
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
    char **pieces;     // owned: vocab_size NUL-terminated strings (pieces hold no NUL byte)
    int *piece_len;    // byte lengths
    float *scores;     // merge priority: higher merges first
    int *sorted;       // ids sorted by piece bytes, for lookup
    int space_id;      // id of " " (the dummy prefix)
    int min_piece_len; // bytes of the shortest piece (>= 1: a token holds at least one byte)
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
// Writes at most cap ids; more is KV_ERR_INPUT ("longer than ... tokens"), refused before any
// work when the text has more bytes than cap tokens can hold. O(n log n) in the text's length.
KvStatus tokenizer_encode(const Tokenizer *t, const char *text, bool bos, bool eos, int *out,
                          int cap, int *n_out, KvError *err);

// The text token `id` adds after token `prev`: a leading space right after BOS is dropped and
// `<0xHH>` becomes its byte. Returns a pointer into t or into byte_buf (2 bytes), NUL-terminated;
// *len receives the length (a <0x00> piece has length 1).
const char *tokenizer_decode(const Tokenizer *t, int prev, int id, char byte_buf[2], size_t *len);

// ----------------------------------------------------------------------------------------------
// Counters: what a forward pass really did, counted by the code that does it (DESIGN.md).

typedef enum {
    FLOP_QKV,    // q, k, v projections: 2*D*D + 2*2*D*KV per position and layer
    FLOP_SCORES, // attention scores: 2*D*(p+1) per position p and layer
    FLOP_VALUES, // weighted values: 2*D*(p+1)
    FLOP_OUT,    // output projection: 2*D*D
    FLOP_MLP,    // W1, W3, W2: 3*2*D*F
    FLOP_CLS,    // classifier: 2*D*V for each position whose logits are needed
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
void flops_formula(const ModelConfig *c, int pos0, int n, int logits,
                   uint64_t out[FLOP_COMPONENTS]);
// Total FLOPs of the first `steps` generation steps after a prompt of n_prompt tokens, all in
// one mode: with the cache, the prefill and then one position per step; without, step k
// recomputes all n_prompt + k positions. Each step computes the logits of one position.
uint64_t flops_formula_run(const ModelConfig *c, bool cache, int n_prompt, int steps);

// ----------------------------------------------------------------------------------------------
// The KV cache: every key and value a pass stores, where it lives, and how attention reads it
//
// A KvCache owns the keys and values of one sequence, for every (layer, kv head, position) it
// keeps. Three independent choices make its kind (DESIGN.md, "The KV cache as an object"); each
// has one value today, and every later one is a change inside kvcache.c (and the attention kernel
// for a new storage format), not in its users:
//   retention  which positions stay resident     full, window, sinks, h2o
//   precision  how a stored value is kept         f32, bf16, int8, int4, kivi2, kivi4
// bf16, int8 and int4 combine with every retention; KIVI with full only (kv_kind_combine_check).
//   layout     where a position's rows live       contiguous (later paged: blocks, block tables)
// The forward pass stores through kvcache_store and reads through kvcache_head; it never computes
// an address. The session goes back and forward through marks; the picture and the counters ask
// kvcache_resident, kvcache_slot, kvcache_precision and the byte counts, which come from the
// cache's own storage.
//
// A pass over positions pos0 .. pos0+N-1 is bracketed: kvcache_begin (positions from pos0 on
// are replaced), then per layer kvcache_store of each new position and kvcache_head for each
// query (and kvcache_observe of the attention it computed), then kvcache_end (the cache now
// describes positions 0 .. pos0+N-1).
//
// Retention (docs/cache-policies.md has each rule and its closed forms). With a bound B on the
// positions kept, each (layer, kv head) has B slots; a query at position p reads min(p+1, B) of
// them, in slot order, and KvHeadRows.pos says which position each row holds:
//   window:W    Mistral's rolling buffer: keys rotated at their absolute position before they
//               are stored, position p in slot p mod W; a query reads the W most recent. B = W.
//   sinks:S,W   StreamingLLM: the first S positions (slots 0..S-1) and the W most recent (slot
//               S + (p-S) mod W). Keys are stored unrotated and rotated by their index in the
//               cache when attention reads them (the query by its own index), so positions may
//               go past the model's context. B = S + W.
//   h2o:H,R     heavy-hitter oracle: per (layer, kv head), the R most recent positions and the
//               H others with the most attention received so far (summed over queries and the
//               query heads that read that kv head); a pass over a full cache evicts the
//               lowest-scoring non-recent position (ties: the oldest), one per position. B = H+R.
// A pass may store several positions at once only while nothing is evicted (kvcache_pass_max);
// after that, one position per pass.

typedef enum {
    KV_RETAIN_FULL = 0, // every position stays resident
    KV_RETAIN_WINDOW,   // window:W
    KV_RETAIN_SINKS,    // sinks:S,W
    KV_RETAIN_H2O,      // h2o:H,R
} KvRetention;
// How stored values are kept (rules in kvquant.h and docs/cache-precision.md): 32-bit floats;
// bfloat16; int8 per row with a scale; int4 per row with a scale and zero point; KIVI with 2 or 4
// bits (keys per channel over groups of 32 positions, values per row, the newest 32..63
// positions in f32).
typedef enum {
    KV_PRECISION_F32 = 0,
    KV_PRECISION_BF16,
    KV_PRECISION_INT8,
    KV_PRECISION_INT4,
    KV_PRECISION_KIVI2,
    KV_PRECISION_KIVI4,
    KV_PRECISIONS
} KvPrecision;
typedef enum {
    KV_LAYOUT_CONTIGUOUS = 0, // (L, HKV, slots, HS)
    KV_LAYOUT_PAGED,          // blocks of B positions in a pool, a block table (kvpaged.c)
} KvLayout;

typedef struct {
    KvRetention retention;
    KvPrecision precision;
    KvLayout layout;
    int window; // W of window and sinks
    int sinks;  // S of sinks
    int heavy;  // H of h2o
    int recent; // R of h2o
    int block;  // B of the paged layout (positions per block)
} KvCacheKind;

// The default kind: full retention, f32, contiguous (today's cache).
#define KV_CACHE_DENSE                                                                             \
    ((KvCacheKind){KV_RETAIN_FULL, KV_PRECISION_F32, KV_LAYOUT_CONTIGUOUS, 0, 0, 0, 0, 0})

// Positions a kind keeps at most per (layer, kv head): W, S+W, H+R, or 0 for full (unbounded).
int kv_kind_budget(KvCacheKind k);
// True for the kind a shadow measures against: full retention, f32.
bool kv_kind_dense(KvCacheKind k);
bool kv_kind_equal(KvCacheKind a, KvCacheKind b);
// True when a run may go past the model's context under this kind (window, sinks): every query
// reads keys no farther than the budget back, rotated by positions the model was trained on
// (window: absolute, the score depending on the distance alone; sinks: the index in the cache).
bool kv_kind_unbounded_positions(KvCacheKind k);
// The slot position p has by the kind's rule: p (full), p mod W (window), p or S + (p-S) mod W
// (sinks); -1 for h2o, whose slots depend on the attention (kvcache_slot).
int kv_kind_slot(KvCacheKind k, int p);
// "full", "window:64", "sinks:4,60", "h2o:32,32" into buf; returns buf.
const char *kv_retention_name(KvCacheKind k, char *buf, size_t cap);
// Parses full|window:W|sinks:S,W|h2o:H,R into k's retention fields (the others untouched).
// W, S, H and R are whole numbers >= 1. A refusal is KV_ERR_INPUT "<what>: <problem>".
KvStatus kv_parse_retention(const char *what, const char *s, KvCacheKind *k, KvError *err);
// Refuses a kind whose budget is larger than a context of `context` positions (it could never
// be reached, or would hold positions the model cannot rotate): "<what>: <problem>".
KvStatus kv_retention_check(const char *what, KvCacheKind k, int context, KvError *err);

// Bits one stored value takes in a precision (scales and zero points not included).
int kv_precision_bits(KvPrecision p);
// "f32", "bf16", "int8", "int4", "kivi2", "kivi4".
const char *kv_precision_name(KvPrecision p);
// A precision by name (the whole word). Unknown: KV_ERR_INPUT "<what>: unknown kind 'x' (f32,
// bf16, ...)"; *out untouched.
KvStatus kv_precision_parse(const char *what, const char *s, KvPrecision *out, KvError *err);
// Whether a model of config c can store its keys and values in p; KV_ERR_INPUT "<what>: <why>"
// when its head size cannot (kivi2 packs four values per byte: HS must be a multiple of 4).
KvStatus kv_precision_check(const ModelConfig *c, KvPrecision p, const char *what, KvError *err);
// Whether k's precision and retention can be combined (docs/cache-precision.md, "Precision and
// retention"): every precision with full retention, f32, bf16, int8 and int4 with every
// retention; KIVI with a bounded retention is
// KV_ERR_INPUT "<what>: <precision> cannot be combined with <cache_word><retention> (<why>)".
KvStatus kv_kind_combine_check(const char *what, const char *cache_word, KvCacheKind k,
                               KvError *err);
// Bytes `n` positions take in precision p, scales and zero points included, every layer and kv
// head; for the KIVI kinds n quantized positions (n a multiple of 32; the residual window in f32
// costs config_kv_bytes_per_token each). What kvscope info prints per token (divided by n).
size_t config_kv_bytes_precision(const ModelConfig *c, KvPrecision p, int n);
// KV cache bytes one position costs with values of `bits` bits: 2 * L * KV * bits / 8 (what the
// lessons quote for other precisions; a KvCache counts its own storage instead).
size_t config_kv_bytes_per_token_bits(const ModelConfig *c, int bits);

// One side (keys or values) of the rows a query reads, as they sit in the cache's storage: row i
// at (const uint8_t *)data + i * stride, HS values in one precision (F32, BF16, INT8 or INT4; the
// KIVI kinds are read back as F32 rows), with each row's scale (INT8, INT4) and zero point (INT4).
// A paged cache's rows (map not NULL) are row map[i] of data, scale and lo instead of row i: the
// rows sit where their blocks are in the pool, and attention reads them there.
typedef struct {
    KvPrecision precision;
    const void *data;
    size_t stride; // bytes
    const float *scale, *lo;
    const size_t *map; // (n) paged: the row of data (and of scale, lo) that row i is; NULL: i
} KvStoredRows;

// The rows one query of one kv head reads: n rows of keys and of values, HS floats each, rows
// `stride` floats apart. Row i holds position pos[i], or position i when pos is NULL (full).
typedef struct {
    const float *keys;   // (n, HS); NULL from kvcache_head_stored when k is packed
    const float *values; // (n, HS); NULL from kvcache_head_stored when v is packed
    KvStoredRows k, v;   // the same rows as attention reads them (F32 over keys, values) or packed
    const int *pos;      // (n) the position of each row, or NULL: row i is position i
    size_t stride;
    int n;
    uint64_t bytes; // bytes of those keys and values in the cache's storage: what attention reads
} KvHeadRows;

// Where the sequence stood: what kvcache_seek needs to put the cache back there exactly.
typedef struct {
    int len;
} KvCacheMark;

// h2o's state after a sequence of some length (kept for kvcache_seek): (L, HKV, slots) each.
typedef struct {
    int *slot_pos;
    float *score;
} KvH2oSnap;

typedef struct {
    KvCacheKind kind;
    bool scratch; // no-cache working memory: every pass starts it empty (kvcache_begin)
    int n_layers, n_kv_heads, head_size, capacity; // L, HKV, HS, T
    int slots;         // rows per (layer, kv head): T, or the kind's budget B
    float *keys;       // (L, HKV, slots, HS) owned: each head's keys one contiguous run of slots
    float *values;     // (L, HKV, slots, HS) owned
    int len;           // positions 0 .. len-1 of the sequence have been stored (some maybe evicted)
    int valid;         // what this sequence stored for positions < valid is still known (seek)
    int pass0, pass_n; // the pass under way (between kvcache_begin and kvcache_end), else 0, 0
    // precisions other than f32: the packed rows (in the retention's slots), their scales and
    // zero points, and the rows of one layer read back for attention (kvcache.c); NULL for f32.
    // keys/values are NULL for bf16, int8 and int4; the KIVI kinds keep f32 rows there.
    struct KvPacked *packed;
    // bounded kinds (every precision but KIVI)
    int *slot_pos;     // (L, HKV, slots) the position each slot holds (-1: none yet)
    int *pos_slot;     // (L, HKV, T) h2o: the slot of each position, -1 when not resident
    float *score;      // (L, HKV, slots) h2o: attention each slot's position received so far
    int *evict_slot;   // (L, HKV) h2o: the slot the pass's one position goes to
    float *rot;        // (slots, HS) sinks: keys rotated by their cache index, at read time
    const float *rope; // (T, HS/2, 2) the engine's cos and sin table (borrowed; sinks)
    // Undo for bounded kinds (not the cache's storage, not read by attention): every row this
    // sequence stored, so that a seek back and forward is exact although slots were overwritten.
    float *hist;     // (P, 2, L, HKV, HS) owned: keys then values of each position stored
    size_t hist_cap; // positions hist has room for
    KvH2oSnap *snap; // (T + 1) h2o: the state after a mark at each length (NULL: none)
    struct KvBlockTable *paged; // the paged layout's block table (kvpaged.c); NULL: contiguous
} KvCache;

// Sizes the cache for c's context (seq_len positions) and kind. A scratch cache is a no-cache
// pass's working memory: kvcache_begin always empties it, so a pass reads only what it stored.
void kvcache_init(KvCache *kc, const ModelConfig *c, KvCacheKind kind, bool scratch);
void kvcache_free(KvCache *kc);
// Stores later positions in precision p instead: the cache is emptied (its storage rebuilt).
void kvcache_set_precision(KvCache *kc, KvPrecision p);

// The sequence it describes: positions 0 .. kvcache_len-1 have been stored.
int kvcache_len(const KvCache *kc);
// Forgets every position.
void kvcache_clear(KvCache *kc);
// Keeps positions 0 .. n-1 only (n >= len changes nothing): the cache is then what storing
// 0 .. n-1 left. A bounded kind puts back the rows it had evicted since; h2o can do so only to a
// length it was marked at, and otherwise forgets everything (kvcache_len says which).
void kvcache_truncate(KvCache *kc, int n);
// Exact back and forward between steps: a mark taken after a step, and a seek to it later. A
// seek may go back, or forward again to a mark of the same history, as long as no pass has
// stored anything since the seek back. Bounded kinds keep what they need for this (hist, snap).
KvCacheMark kvcache_mark(KvCache *kc);
void kvcache_seek(KvCache *kc, KvCacheMark m);

// The most positions a pass from pos0 may store at once: up to the point where the kind would
// evict (at least 1). engine_forward splits a longer pass there.
int kvcache_pass_max(const KvCache *kc, int pos0);
// A pass: positions pos0 .. pos0+n-1 will be stored (pos0 <= len; 0 for a scratch cache;
// n <= kvcache_pass_max). h2o chooses here which position each (layer, kv head) evicts.
void kvcache_begin(KvCache *kc, int pos0, int n);
// True when keys are rotated at their position before kvcache_store (every kind but sinks).
bool kvcache_rotates_on_store(const KvCache *kc);
// The position a query at `pos` is rotated by: pos, or its index in the cache (sinks).
int kvcache_query_rotation(const KvCache *kc, int pos);
// Stores position pos of `layer` (in the pass): k and v are KV floats, every kv head's slice.
// Returns the bytes stored.
uint64_t kvcache_store(KvCache *kc, int layer, int pos, const float *k, const float *v);
// The rows a query at position pos of (layer, kv_head) reads: the resident positions <= pos.
// Under sinks the keys come rotated by their cache index (valid until the next call).
KvHeadRows kvcache_head(const KvCache *kc, int layer, int kv_head, int pos);
// The same rows where they are stored, for an attention kernel that reads packed rows itself
// (kernel_attend_rows): k and v describe bf16, int8 and int4 rows in the cache's own memory (keys
// and values NULL). Under sinks the keys are read back and rotated (k is F32, valid until the
// next call); the KIVI kinds, and a head with a row at the edge of the float range
// (kvq_rows_plain), come as kvcache_head gives them. The same n, pos and bytes as kvcache_head.
KvHeadRows kvcache_head_stored(const KvCache *kc, int layer, int kv_head, int pos);
// The attention weights (n, one per row of the last kvcache_head of this layer and kv head)
// one query head computed: h2o adds them to the rows' scores; other kinds ignore them.
void kvcache_observe(KvCache *kc, int layer, int kv_head, const float *att, int n);
// The pass is complete: the cache describes positions 0 .. pos0+n-1.
void kvcache_end(KvCache *kc);
// The pass stops before it is complete (a fault): the cache describes positions 0 .. pos0-1
// again, and what the pass stored, in some layers and not others, can never be sought back to.
void kvcache_abandon(KvCache *kc);

// What it holds, for the picture and the counters.
bool kvcache_resident(const KvCache *kc, int layer, int kv_head, int pos);
// The same for positions 0 .. n-1 of one (layer, kv head) at once: out[p] = 1 when resident.
void kvcache_resident_row(const KvCache *kc, int layer, int kv_head, int n, uint8_t *out);
// The slot that holds (layer, kv_head, pos), or -1 when it is not resident.
int kvcache_slot(const KvCache *kc, int layer, int kv_head, int pos);
// Where slot `slot` of (layer, kv_head) starts in keys and values (contiguous layout).
size_t kvcache_row(const KvCache *kc, int layer, int kv_head, int slot);
// How (layer, kv_head, pos) is held now: the cache's precision, or f32 for a KIVI position in
// the full-precision tail.
KvPrecision kvcache_precision(const KvCache *kc, int layer, int kv_head, int pos);
// h2o: the attention (layer, kv_head, pos) has received so far; 0 when not resident or not h2o.
float kvcache_score(const KvCache *kc, int layer, int kv_head, int pos);
// Positions resident in every (layer, kv head) (all hold the same number): min(len, B).
int kvcache_resident_positions(const KvCache *kc);
// Bytes of storage one resident position takes (keys and values, every layer and kv head; scales
// included; KIVI: a quantized position, its share of its key group's scales included).
size_t kvcache_bytes_per_position(const KvCache *kc);
size_t kvcache_bytes_resident(const KvCache *kc); // held by the positions resident now
size_t kvcache_bytes_reserved(const KvCache *kc); // allocated (slots and dequantization rows)
// What the positions resident now would take in f32: the picture's comparison.
size_t kvcache_bytes_resident_f32(const KvCache *kc);

// ---- The paged layout (kvpaged.c; docs/paged-cache.md)
//
// A pool of NB blocks, each holding B consecutive rows of one sequence for every layer and kv
// head: (NB, L, HKV, B) key rows and the same for values, in one precision (f32, bf16, int8 or
// int4, packed and scaled per row as a contiguous cache packs them). A sequence's cache keeps a
// block table: logical block i (rows i*B .. i*B+B-1) lives in physical block table[i]. A row is
// a position (full, window, sinks) or an h2o slot. Blocks are reference counted: several tables
// may hold one block (a shared prompt prefix, parallel samples), and a pass that would write
// into a block others hold copies it first (copy-on-write). Window and sinks give a block back
// to the pool once none of its positions is kept (KvPool.retired counts it).
//
// Attention reads a kv head's rows through the table where they lie: kvcache_head_stored gives
// the kernel a row map (KvStoredRows.map) built by walking the table, and the kernel reads each
// row in its block, in the same order and with the same arithmetic as the contiguous cache's
// rows, so every logit is the same bit for bit. kvcache_head (rows as floats) gathers them into
// the pool's reading rows. KIVI is refused (kv_paged_check says why).
//
// A cache of kind layout KV_LAYOUT_PAGED made by kvcache_init owns a pool of its own with as
// many blocks as its retention can hold at once (one sequence: run, generate, render --paged B).
// A serving session puts many caches over one pool (kvcache_init_pooled; full retention) and
// reserves their blocks before each pass (kvpaged_reserve), so that a pass never finds the pool
// empty.

#define KV_PAGED_BLOCK_DEFAULT 16

typedef struct KvPool {
    int n_blocks, block_size;                      // NB, B
    int n_layers, n_kv_heads, head_size, capacity; // L, HKV, HS, T
    KvPrecision precision; // how rows are kept (f32, bf16, int8, int4), as a contiguous cache
    size_t row_bytes;      // bytes of one packed row of HS values (its scales apart)
    // rows of (NB, L, HKV, B): row r of block b, layer l, kv head g, offset j is
    // r = ((b * L + l) * HKV + g) * B + j, at r * row_bytes in kq, vq and at r in the scales
    uint8_t *kq, *vq; // owned packed keys and values (f32 rows are floats in these bytes)
    float *ks, *kz;   // key scales (int8, int4) and zero points (int4) per row; NULL otherwise
    float *vs, *vz;   // the same for values
    int *ref;         // (NB) block tables that hold each block; 0: free
    int *free_stack;  // (NB) the free blocks; the next one taken is free_stack[n_free - 1]
    int n_free;
    // prefix sharing: a full block registered under the hash of its chain (its tokens and all
    // tokens before it), with its parent block and its tokens to make a match exact
    uint64_t *hash; // (NB) 0: not registered
    int *parent;    // (NB) the physical block before it in its chain (-1: the first block)
    int *tokens;    // (NB, B) the tokens a registered block holds
    // kvcache_head's reading rows (as floats): one layer of one sequence in row order
    float *gk, *gv;     // (HKV, T, HS)
    const void *g_seq;  // the cache whose rows they hold
    int g_layer;        // -1: none since the last store
    int *g_n;           // (HKV) rows of each kv head gathered
    uint64_t copies;    // blocks copied on write, ever
    uint64_t allocated; // blocks taken from the free stack, ever
    uint64_t retired;   // blocks given back because every position in them left the retention
    // the prefix cache (keep_freed, as vLLM's automatic prefix caching): a registered block no
    // table holds stays registered while it is free, at the bottom of the free stack (taken
    // last, the longest free first), and a later prefix that matches it takes it back
    bool keep_freed;
    uint64_t revived; // free blocks taken back by a matching prefix instead of computed, ever
} KvPool;

// The block table of one sequence (KvCache.paged). A retention that forgets positions (window,
// sinks) gives back a block once none of its positions is kept: its entry is then -1.
typedef struct KvBlockTable {
    KvPool *pool; // borrowed from a serving session, or owned (own)
    bool own;
    int *block;     // (cap) physical block of each logical block; -1: given back
    int n;          // logical blocks held or given back (block[0 .. n-1])
    int cap;        // entries block and hash have room for
    int held;       // entries of block[0 .. n-1] that are not -1
    uint64_t *hash; // (cap) chain hash of each full registered block (0: none)
    // attention's row map (KvStoredRows.map): row i of a head read is pool row map[i] (for layer
    // 0, kv head 0; other heads are a fixed offset away); valid for rows 0 .. map_n-1
    size_t *map; // (T)
    int map_n;
    int retire_next; // window, sinks: the first logical block that may still be given back
} KvBlockTable;

// A pool of n_blocks blocks of block_size positions for c's shape; every block free.
void kvpool_init(KvPool *p, const ModelConfig *c, int n_blocks, int block_size);
void kvpool_free(KvPool *p);
// The same with rows kept in precision p (f32, bf16, int8 or int4: kv_paged_check).
void kvpool_init_precision(KvPool *p, const ModelConfig *c, int n_blocks, int block_size,
                           KvPrecision precision);
// Bytes of one block (keys and values of B positions, every layer and kv head, in the pool's
// precision, scales and zero points included).
size_t kvpool_block_bytes(const KvPool *p);
int kvpool_used(const KvPool *p); // blocks some table holds

// An empty paged cache over a pool the caller owns (which outlives it). Full retention, f32.
void kvcache_init_pooled(KvCache *kc, const ModelConfig *c, KvPool *pool);
// Blocks a pass storing positions kvcache_len .. len-1 must take from the pool: new logical
// blocks, and a copy of the last block when others hold it and the pass writes into it.
int kvpaged_need(const KvCache *kc, int len);
// Takes those blocks (copying a shared last block): false, and nothing taken, when the pool
// has fewer free. kvcache_begin reserves what it needs itself from a cache's own pool.
bool kvpaged_reserve(KvCache *kc, int len);
// Gives every block back (a reference less each; a block no table holds is free again) and
// forgets every position.
void kvpaged_release(KvCache *kc);
// Prefix sharing: takes, from the pool's registered blocks, the longest chain of full blocks
// whose tokens equal tokens[0 .. B*k) and that end before position n-1 (the last token is
// always computed: its logits are wanted). The cache must be empty. Returns the positions now
// held (k * B) without computing them.
int kvpaged_share_prefix(KvCache *kc, const int *tokens, int n);
// Registers every full block of positions < kvcache_len not registered yet (tokens: the
// sequence's tokens), so that later sequences can share them.
void kvpaged_register(KvCache *kc, const int *tokens);
// dst (empty, same pool) holds every block of src, one reference more each: a parallel sample
// that continues from the same positions; its first write into a shared block copies it.
void kvpaged_fork(KvCache *dst, const KvCache *src);
// The physical block of logical block i (i < kvpaged_blocks), and how many blocks it holds.
int kvpaged_block(const KvCache *kc, int i);
int kvpaged_blocks(const KvCache *kc);
// Refuses a paged kind that cannot be kept in blocks: KV_ERR_INPUT "<what>: <why>" for a
// retention other than full or a precision other than f32 (kv_kind_combine_check calls it).
KvStatus kv_paged_check(const char *what, KvCacheKind k, KvError *err);

// The same closed form under a cache kind: a query at p reads min(p+1, B) positions (B the kind's
// budget, unbounded for full), so scores and values cost 2*D*min(p+1, B) each per layer.
void flops_formula_kind(const ModelConfig *c, KvCacheKind k, int pos0, int n, int logits,
                        uint64_t out[FLOP_COMPONENTS]);

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

// An attention probe: what one query head of one layer computed at one query position, recorded
// by the pass that computes that position (engine_set_probe; probe.c). The inspector's numbers.
// q, weights and out are the pass's own (the kernel's); keys and values are the rows the cache
// gave attention (dequantized for a quantized precision, rotated by their cache index under
// sinks); the kernel fuses scores into its softmax, so scores are q . k * scale computed by the
// probe from that q and those rows.
typedef struct {
    int layer, head, pos; // what to record (query head `head` of `layer` at query position pos)
    int capacity;         // rows the buffers hold (attn_probe_init)
    int head_size;        // HS
    bool captured;        // a pass computed (layer, head, pos) since attn_probe_arm
    int kv_head, n;       // the kv head read and the rows it gave
    float scale;          // 1 / sqrt(HS)
    float *q;             // (HS) the query as attention used it (after RoPE)
    float *keys;          // (n, HS) the rows read
    float *values;        // (n, HS)
    int *row_pos;         // (n) the position each row holds
    float *scores;        // (n) q . k * scale
    float *weights;       // (n) softmax of the scores, as the pass computed them
    float *out;           // (HS) sum of weights[i] * values[i], as the pass computed it
} AttnProbe;

// Buffers for `capacity` rows of c's head size (owned; attn_probe_free).
void attn_probe_init(AttnProbe *p, const ModelConfig *c, int capacity);
void attn_probe_free(AttnProbe *p);
// Asks for (layer, head, pos) and forgets what was captured.
void attn_probe_arm(AttnProbe *p, int layer, int head, int pos);

typedef struct {
    const Model *model;
    // The matrices one pass reads (model_matrices): the model's floats where the file holds
    // them, or the bfloat16 copy every engine of the model shares when every one of them is
    // exactly a bfloat16 value: the same numbers in half the bytes (engine_pack). Borrowed from
    // the model, which must outlive the engine; its weights must not change while it lives.
    MatrixWeights mw;
    bool packed_bf16;       // mw.bf16
    int isa;                // the matrix products' instruction set (kernels.h; kernel_isa_best)
    int threads;            // threads a pass runs on (engine_set_threads; 1 after engine_init)
    struct KvWorkers *pool; // owned: threads - 1 workers, NULL for one thread
    KvCache cache;          // the KV cache: what cached passes store and later steps read
    KvCache work; // no-cache working memory, a scratch KvCache: every pass starts it empty
    // activations of one pass of N positions, allocated for the largest pass so far (rows): a
    // decode-only run keeps one row, a prefill or no-cache recompute grows them to its length
    int rows;
    float *x;        // (rows, D) residual stream
    float *xb;       // (rows, D)
    float *xb2;      // (rows, D)
    float *qkv;      // (rows, D + 2 KV) each position's q, then k and v before the cache
    float *hb;       // (rows, 2 F) each position's W1 x, then W3 x
    float *hb2;      // (rows, F) silu(W1 x) * W3 x
    float *att;      // (H, T) scores of one query position
    float *logits;   // (V) of the last position of the last pass
    float *wide;     // (threads, 4, max(D, F)) bfloat16 weight rows widened for a batched pass
    float *rope;     // (rope_len, HS/2, 2) cos and sin of each position's rotation of each pair
    int rope_len;    // positions in rope: T, more once a rolling window has passed the context
    bool instrument; // record attention and counters (off: bench measures their cost)
    // attention reads a packed cache (bf16, int8, int4) where it is stored, dequantizing in the
    // kernel (true, after engine_init), or as rows read back into floats first (false): the same
    // bits either way (tests hold them to it; bench engine times both)
    bool attend_packed;
    // Set by every pass: 0, or where it met a value that is not a finite number (a model whose
    // huge weights overflow): fault_layer 1..L for a layer's output, L + 1 for the logits, and
    // the position of the first such row. The pass stops there; its logits are not usable and
    // the cache keeps only the positions before the pass.
    int fault_layer, fault_pos;
    AttnProbe *probe; // NULL (the default: nothing recorded), or one head's attention to record
} Engine;

KvStatus engine_init(Engine *e, const Model *m, KvError *err);
// Runs every later pass on n threads (n >= 1; the caller's thread is one of them): the rows of
// every matrix product and, with a full or windowed f32 cache, the (position, kv head) rows of
// attention are split between them. The results are bit-identical for every n: each dot product
// is summed in the same order whichever thread computes it. Returns the threads in use (fewer
// when the system refuses a thread).
int engine_set_threads(Engine *e, int n);
// The instruction set e's matrix products run on: "avx512", "avx2-fma" or "plain".
const char *engine_isa_name(const Engine *e);
// The threads engine_set_threads would use for "the machine's cores": the processors this
// The probe later passes record into (NULL: none, the default); returns the one before. The
// engine borrows it.
AttnProbe *engine_set_probe(Engine *e, AttnProbe *p);
// process may run on.
int engine_default_threads(void);
// (Re)chooses e's matrices from the model: as bfloat16 when allow_bf16 and every matrix weight is
// exactly a bfloat16 value (the low 16 bits of each float are zero; kvtrain bf16 makes a model
// so), as floats otherwise. Either way the forward pass computes the same numbers. engine_init
// calls it with allow_bf16 = true; tests and the benchmark compare both. Returns packed_bf16.
bool engine_pack(Engine *e, bool allow_bf16);
// Bytes of e's matrices: what one decode step streams from memory besides the cache.
size_t engine_packed_bytes(const Engine *e);
// Recording of attention and counters on or off (on after engine_init); returns what it was.
bool engine_set_instrument(Engine *e, bool on);
// How attention reads a packed cache (Engine.attend_packed); returns what it was.
bool engine_set_attend_packed(Engine *e, bool on);
// The cache's kind from the next pass on. A different kind starts from an empty cache: what a
// bounded kind evicted is gone, so the next cached step recomputes the whole sequence (counted).
// Returns true when the kind changed.
bool engine_set_cache_kind(Engine *e, KvCacheKind kind);
void engine_free(Engine *e);

// One pass over positions pos0 .. pos0+n-1 (tokens holds their ids), attending over 0..p for
// each p, logits of the last position into e->logits. With use_cache the pass reads positions
// < pos0 from the KV cache (which must hold them) and stores the new ones there: the cache then
// holds 0 .. pos0+n-1; without, it requires pos0 == 0 and uses the working memory, leaving the
// cache untouched. Adds what it computed to *ctr; fills *sink when not NULL. With
// e->instrument off, neither counters nor attention are recorded.
void engine_forward(Engine *e, const int *tokens, int pos0, int n, bool use_cache, AttnSink *sink,
                    Counters *ctr);

// What one generation step computes for a sequence of `len` tokens (the next token's logits),
// in the given mode. With the cache: positions kvcache_len .. len-1 (the prompt on the first
// step, one position when decoding, the whole sequence again right after the cache was turned
// on). Without: every position 0 .. len-1, recomputed; the cache is cleared.
// Returns the first position computed.
int engine_step(Engine *e, const int *tokens, int len, CacheMode mode, AttnSink *sink,
                Counters *ctr);
// "<model path>: produces non-finite values at layer L, position P" (KV_ERR_INPUT) when the last
// pass of e met one (e->fault_layer), else KV_OK.
KvStatus engine_fault(const Engine *e, KvError *err);

// ---- Many sequences in one pass (batch.c): a server's step

// Working memory of batched passes, grown to the largest so far (rows, sequences).
typedef struct {
    int rows, seqs;
    float *x, *xb, *xb2; // (rows, D)
    float *qkv;          // (rows, D + 2 KV)
    float *hb, *hb2;     // (rows, 2 F), (rows, F)
    float *att;          // (H, T)
    float *last;         // (seqs, D) each sequence's last row, normalized for the classifier
    float *logits;       // (seqs, V) each sequence's next-token logits, in row order
} EngineBatch;

void batch_init(EngineBatch *b, const ModelConfig *c);
void batch_free(EngineBatch *b);

// One pass over n rows of several sequences: row r is token tokens[r] at position pos[r] of the
// sequence whose cache is cache[r]. The rows of one sequence are consecutive, at consecutive
// positions, the first at kvcache_len of its cache (full retention; a paged cache's blocks
// reserved). Every matrix product takes all n rows at once: one stream of the weights for every
// sequence. Each sequence's next-token logits go to b->logits, one row per sequence in order.
// Adds what it computed to *ctr (may be NULL). Returns the number of sequences, or -1 when a value
// was not finite (the caches keep only what they held before when a layer overflowed).
int engine_forward_batch(Engine *e, EngineBatch *b, KvCache *const *cache, const int *tokens,
                         const int *pos, int n, Counters *ctr);

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
    float *probs;    // (V)
    int *index;      // (V) candidate ids
    float *cand;     // (V) candidate probabilities
    int *tmp_index;  // (V) merge-sort scratch
    float *tmp_cand; // (V)
    float coin;      // the uniform draw of the last sampler_sample in [0, 1), -1 when greedy
} Sampler;

void sampler_init(Sampler *s, int vocab_size, SamplerSettings settings);
void sampler_free(Sampler *s);
// Picks the next id from logits (not modified). Exactly one random draw when temperature > 0
// (kept in s->coin); the choice is sampler_explain's for that draw.
int sampler_sample(Sampler *s, const float *logits);

// One choice of the sampler taken apart, for the picture (sampler_explain). The candidates are
// listed most probable first; the walk that picks adds their probabilities in walk order until
// the sum passes target.
typedef struct {
    float coin;        // the uniform draw in [0, 1) (-1: greedy, no draw)
    int n;             // candidates listed: the whole vocabulary
    const int *id;     // (n) ids, most probable first (the sampler's scratch: valid until its next
                       // call)
    const float *prob; // (n) their probabilities, softmax(logits / T) (T <= 0 counts as 1)
    int k_keep;        // how many of them top-k keeps (n when off)
    int p_keep;        // how many of those top-p keeps (k_keep when off)
    float mass;        // the sum of what is kept, as the sampler computed it (after top-k's
                       // renormalisation: 1 unless top-p cut)
    float target;      // coin * mass: where the walk stops
    bool id_order;     // the walk goes in id order (plain multinomial), not most probable first
    int pick;          // the id chosen: what sampler_sample returns for this coin
} SamplerTrace;

// The choice s's settings make from logits for the draw `coin` (ignored when greedy), with the
// sampler's own arithmetic (sampler_sample calls the same code), taken apart into *tr. Uses s's
// scratch; draws nothing (s->rng is not touched). Returns the id chosen.
int sampler_explain(Sampler *s, const float *logits, float coin, SamplerTrace *tr);

typedef struct {
    int id;
    float prob;
} Candidate;

// The k most probable ids of softmax(logits / temperature) (temperature <= 0 counts as 1),
// most probable first. Returns how many were written.
int top_candidates(const float *logits, int vocab_size, float temperature, Candidate *out, int k);

#endif
