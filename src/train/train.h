// train.h — the face of src/train: everything kvscope needs to build its own model from nothing.
//
// corpus   a seeded generator of training text in the three genres of the presets
// bpe      a byte-pair-encoding trainer whose merges the engine's greedy encoder reproduces
// nn       forward and backward of the DESIGN.md transformer on a batch (B, T)
// train    AdamW, schedule, clipping, the training loop, the loss CSV and its cairo plot
// eval     quality measurements of a trained checkpoint through the engine's own forward
//
// Shape legend (as in src/engine): L layers, H heads, HKV kv heads, HS head size, D dim,
// KV kv_dim, F hidden, V vocab, B batch rows, T positions per row, N = B*T.
#ifndef KVSCOPE_TRAIN_H
#define KVSCOPE_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"

// ----------------------------------------------------------------------------------------------
// Small shared helpers

// xorshift64* with a 64-bit output; the trainer's own stream (the engine's kv_rng_u32 is the
// sampler's). state must not be 0.
static inline uint64_t trng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}
static inline uint64_t trng_seed(uint64_t seed) {
    // splitmix64 of the seed, so nearby seeds give unrelated streams and 0 is never the state
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z ? z : 1;
}
static inline uint32_t trng_below(uint64_t *s, uint32_t n) {
    return (uint32_t)((trng_next(s) >> 32) % n);
}
static inline float trng_unit(uint64_t *s) { // [0, 1)
    return (float)(trng_next(s) >> 40) / 16777216.0f;
}

// A growable byte string (always NUL-terminated).
typedef struct {
    char *p;
    size_t n, cap;
} StrBuf;

void sb_free(StrBuf *b);
void sb_putn(StrBuf *b, const char *s, size_t n);
void sb_puts(StrBuf *b, const char *s);
void sb_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Reads a whole file; the caller owns *data (free). KV_ERR_INPUT naming the file on failure.
KvStatus read_whole_file(const char *path, char **data, size_t *n, KvError *err);

// ----------------------------------------------------------------------------------------------
// Corpus

// Documents in a corpus file are separated by this byte (it never occurs inside one).
#define CORPUS_DOC_SEP '\x1e'

typedef enum { GENRE_STORY, GENRE_CODE, GENRE_FACT, GENRE_COUNT } Genre;

// BASIC: the stage-1 mix. COPY: the same genres with more and harder-to-guess invented names
// and identifiers (80% invented, half of them random letters), so copying from the context pays
// more than guessing; stage 2 of training uses it.
// INDUCT: names and identifiers from any letters of the alphabet (q, x, j, w, z too) and some
// accented ones, one to four syllables, 85% of characters invented, magic words and roll calls
// said twice, one-line functions: what teaches copying of strings never seen (stages 5 and 6 of
// scripts/make_model.sh). HELDOUT: the basic mix with eval's reserved names rejected and fact
// questions held out, the yes/no science facts and sums stated (stage 5). BASIC and COPY
// predate the reservation and are what they always were (stages 1-4).
// DRILL: the induct variant's names, stories and functions in a mix of 25% stories, 35% code and
// 40% facts whose lines lean to the kinds eval asks about (sums, science and capital questions),
// the questions held out as in HELDOUT: what keeps the facts while the copying is learned.
typedef enum {
    CORPUS_BASIC = 0,
    CORPUS_COPY = 1,
    CORPUS_INDUCT = 2,
    CORPUS_HELDOUT = 3,
    CORPUS_DRILL = 4
} CorpusVariant;

typedef struct {
    uint64_t rng;
    CorpusVariant variant;
} CorpusGen;

void corpus_init(CorpusGen *g, uint64_t seed); // the BASIC variant
// Appends one document of the given genre (no separator).
void corpus_document(CorpusGen *g, Genre genre, StrBuf *out);
// Appends one document whose genre is drawn from the mix (stories 45%, code 30%, facts 25%).
void corpus_next(CorpusGen *g, StrBuf *out);
// Generates documents until the training text reaches train_bytes; every 40th document goes to
// the validation file instead. Both files: documents each followed by CORPUS_DOC_SEP.
KvStatus corpus_write(const char *train_path, const char *valid_path, uint64_t seed,
                      CorpusVariant variant, size_t train_bytes, KvError *err);

// Evaluation's share of the name space, kept out of every corpus by construction: a name or
// identifier is reserved when a hash of its lowercased bytes falls in one residue class (1 in 8).
// The generator rejects every invented string that is reserved (or is one of eval's fixed copy
// names); eval draws its unseen names only from the reserved class.
bool corpus_reserved(const char *s);
// An invented name from the whole alphabet and some accented letters (UTF-8), `syllables`
// syllables (1-4), capitalised or not. Not checked against the reservation.
void corpus_any_name(uint64_t *rng, int syllables, bool capital, char *out, size_t cap);
// True when s is one of the generator's fixed words (character names, identifier words, ...).
bool corpus_pool_word(const char *s);

// The fact questions held out of training by template instance (a hash of the template and its
// arguments, 1 in 8): the corpus states the fact in other templates but never asks this
// question. Fills *qa (caller frees the array, the strings are its own) with the prompt each
// greedy answer continues and the answer's expected start; returns the count.
typedef struct {
    char prompt[160], expect[48];
    int kind; // 0 capital, 1 capital yes/no, 2 animal kind yes/no, 3 legs, 4 plus, 5 science
} CorpusQA;
int corpus_heldout_questions(CorpusQA **qa);
#define CORPUS_QA_KINDS 6

// Splits a corpus file's text in place into documents: fills docs (owned by caller, free) with
// pointers into text, NUL-terminating each. Returns the count.
size_t corpus_split(char *text, size_t n, char ***docs);

// ----------------------------------------------------------------------------------------------
// BPE

typedef struct {
    int vocab_size;
    char **pieces; // owned
    int *piece_len;
    float *scores;
    int n_base;    // 3 specials + 256 bytes + single characters: ids below n_base are not merges
    int *merge_of; // (V, V): id of piece text(i)+text(j), or -1 (the encoder's lookup table)
    int *char_id;  // (0x110000 is too big) code point -> id for code points < 0x10000, or -1
} Bpe;

// Trains a vocabulary of vocab_size pieces on docs (each encoded as the engine encodes a prompt:
// a " " prefix, then code points). Merge rank r gets score -r, so greedy-highest-score-first
// encoding (DESIGN.md) reproduces the training segmentation exactly. Progress to log if not NULL.
KvStatus bpe_train(Bpe *b, char *const *docs, size_t n_docs, int vocab_size, FILE *log,
                   KvError *err);
// Builds the lookup tables of a vocabulary loaded through the engine's Tokenizer.
KvStatus bpe_from_tokenizer(Bpe *b, const Tokenizer *t, KvError *err);
void bpe_free(Bpe *b);
// Encodes text exactly as tokenizer_encode does (" " prefix, code points with byte fallback,
// greedy best-score merges), fast (a heap, O(n log n)). No BOS. Returns the count; out must
// hold strlen(text) + 2 ids.
int bpe_encode(const Bpe *b, const char *text, int *out);
KvStatus bpe_write(const Bpe *b, const char *path, KvError *err);

// ----------------------------------------------------------------------------------------------
// Matmul (cache-blocked, vectorised, OpenMP)

// C(M,N) (+)= A(M,K) . B(K,N), all row-major with the given row strides.
void mm_nn(float *C, const float *A, const float *B, int M, int N, int K, bool accumulate);
// C(M,N) (+)= A(M,K) . W(N,K)^T (W row-major N x K, as a weight matrix out x in).
void mm_nt(float *C, const float *A, const float *W, int M, int N, int K, bool accumulate);
// C(M,N) (+)= A(K,M)^T . B(K,N) (a weight gradient: dW += dY^T X).
void mm_tn(float *C, const float *A, const float *B, int M, int N, int K, bool accumulate);
// Which parts of a product are known zero or unneeded (causal attention):
//   MM_OUT_LOWER  only C[i][j] with j <= i is needed (tiles wholly above the diagonal skipped)
//   MM_A_LOWER    A[i][k] = 0 for k > i;   MM_A_UPPER  A[i][k] = 0 for k < i
typedef enum { MM_FULL, MM_OUT_LOWER, MM_A_LOWER, MM_A_UPPER } MmMask;
// C(M,N) (+)= op(A)(M,K) . B(K,N) with row strides ldc, lda, ldb; op(A) is A, or with a_trans
// the transpose of a (K,M) matrix. With MM_OUT_LOWER and !accumulate, C above the diagonal is
// left unspecified.
void mm_strided(float *C, int ldc, const float *A, int lda, bool a_trans, const float *B, int ldb,
                int M, int N, int K, bool accumulate, MmMask mask);
// out(cols, rows) = in(rows, cols)^T
void mm_transpose(float *out, const float *in, int rows, int cols);
// The matmul's speed on an (M,K)x(K,N) product, in GFLOP/s (best of a few runs).
double mm_benchmark(int M, int N, int K);

// ----------------------------------------------------------------------------------------------
// The network: forward and backward on a batch

typedef struct {
    ModelConfig cfg;
    int B, T;
    // activations, saved for the backward pass
    float *x;      // (L+1, N, D) residual stream entering each layer; [L] = final
    float *xn1;    // (L, N, D) normalised input to attention
    float *rstd1;  // (L, N)
    float *q;      // (L, N, D) after RoPE
    float *k;      // (L, N, KV) after RoPE
    float *v;      // (L, N, KV)
    float *att;    // (L, B, H, T, T) softmax weights
    float *ao;     // (L, N, D) attention output (heads concatenated)
    float *x2;     // (L, N, D) after attention residual
    float *xn2;    // (L, N, D)
    float *rstd2;  // (L, N)
    float *h1;     // (L, N, F) W1 x
    float *h3;     // (L, N, F) W3 x
    float *g;      // (L, N, F) silu(h1) * h3
    float *xf;     // (N, D) final norm output
    float *rstdf;  // (N)
    float *logits; // (N, V) then, after backward starts, dlogits
    // backward scratch
    float *dx, *dxn, *dq, *dk, *dv, *dao, *dg, *dh1, *dh3, *dtmp, *datt;
    float *tT;                  // transposes: (max(V, F, D), N)
    float *rope_cos, *rope_sin; // (T, HS/2)
    const int *tokens;          // (N) inputs of the last forward
    float *mem;
} Net;

void net_init(Net *n, const ModelConfig *c, int B, int T);
void net_free(Net *n);
// Forward over tokens (B, T); with targets, returns the mean cross-entropy (nats/token) over the
// positions whose target is not negative (a negative target is not scored), else 0.
// Leaves logits in n->logits.
double net_forward(Net *n, const ModelWeights *w, const int *tokens, const int *targets);
// Backward of the last forward (which must have had targets): adds gradients into g.
void net_backward(Net *n, const ModelWeights *w, ModelWeights *g, const int *targets);

// Standard init: normal(0, 0.02), residual projections (wo, w2) scaled by 1/sqrt(2L), gains 1.
void net_init_weights(const ModelConfig *c, ModelWeights *w, uint64_t seed);

// ----------------------------------------------------------------------------------------------
// Training

typedef struct {
    ModelConfig cfg;
    int batch, seq; // B, T
    int steps, warmup;
    float lr, lr_min, weight_decay, beta1, beta2, clip;
    int eval_every, eval_windows;
    uint64_t seed;
    const char *out_model, *out_csv, *out_png;
    int keep_every;         // also write out_model.<CSV step> every this many steps (0: never)
    const char *init_model; // start from this checkpoint's weights (same shape), not from init
    int step0;              // the first step's number in the CSV (a continued run goes on)
    int induct_pct; // this percentage of batch rows: random token sequences said twice or three
                    // times (only the repeats scored), the classic induction-head trainer
    int threads;
} TrainConfig;

void train_config_default(TrainConfig *tc);
// One induction batch row (T inputs and targets, -1 where not scored); see train.c.
void train_induct_row(uint64_t *rng, int vocab, int T, int *in, int *tg);
// Trains on the token streams (each document: BOS then its tokens). Writes the model, the CSV
// and the PNG at the end (and the model every 200 steps). Progress on stderr.
KvStatus train_run(const TrainConfig *tc, const int *train_tok, size_t n_train,
                   const int *valid_tok, size_t n_valid, KvError *err);

// Writes a grouped-query copy of a checkpoint with kv_heads kv heads, each kv head's key and
// value projections the mean of the heads it replaces.
KvStatus convert_gqa(const char *in_path, int kv_heads, const char *out_path, KvError *err);

// Writes in_path's model with every matrix weight rounded to the nearest bfloat16
// (model_round_bf16): the engine then streams half the bytes per decode step and computes
// exactly what the rounded weights give. The last step of make_model.sh.
KvStatus convert_bf16(const char *in_path, const char *out_path, KvError *err);

// Draws the loss curve (train and validation) from a CSV as written by train_run into a PNG.
KvStatus plot_loss_png(const char *csv_path, const char *png_path, const char *title, KvError *err);

// ----------------------------------------------------------------------------------------------
// Evaluation (through the engine)

// Greedy (temperature 0) continuation of prompt by n_new tokens, appended to out as text.
// *n_prompt_out (if not NULL) receives the prompt's token count (with BOS).
void eval_greedy(Engine *e, const Tokenizer *t, const char *prompt, int n_new, StrBuf *out,
                 int *n_prompt_out);
// The 40 copy cases (the main set, or with hard the q/x/j/w set): returns how many the model
// continues with the expected repeat.
int eval_copy(Engine *e, const Tokenizer *t, bool hard, bool verbose, int *n_cases);
// The first of the copy cases' novel names or identifiers (either set) that occurs in text, or
// NULL.
const char *eval_copy_name_found(const char *text);
// Issue 16's measurements. Unseen names are drawn from eval's reserved share of the name space
// (corpus_reserved), so no corpus holds them; every set is generated from a fixed seed.
typedef struct {
    int ok, n;
} EvalCount;
#define EVAL_UNSEEN_CASES 120 // per genre (stories, code): 240 copy prompts
#define EVAL_FUNCTION_CASES 120
#define EVAL_PRONOUN_CASES 60
// Greedy copy of an unseen name's (story) or identifier's (code) first repetition.
EvalCount eval_copy_unseen(Engine *e, const Tokenizer *t, bool code, int n_cases, bool verbose);
// True (and the name in found) when text holds one of the unseen names as a whole word.
bool eval_unseen_names_found(const char *text, char *found, size_t cap);
// The first story copy case's unseen name (for tests of the check above).
void eval_unseen_example(char *out, size_t cap);
// Top-1 accuracy on the second copy of `trials` random sequences of len tokens (ids from 259),
// the copy's first token excepted.
double eval_induction_top1(Engine *e, int trials, int len);
// The best head's induction score on the probe and with the measure of `kvscope info --heads`.
float eval_induction_head(Engine *e, int *layer, int *head);
// Held-out fact questions (corpus_heldout_questions), overall and per kind.
EvalCount eval_facts(Engine *e, const Tokenizer *t, EvalCount per_kind[CORPUS_QA_KINDS],
                     bool verbose);
// Functions with unseen parameter names: the greedy body uses every parameter and no other name.
EvalCount eval_functions(Engine *e, const Tokenizer *t, int n_cases, bool verbose);
// Stories about a gendered role with an unseen name: stories with no contradicting pronoun.
EvalCount eval_pronouns(Engine *e, const Tokenizer *t, int n_cases, int *right, int *wrong,
                        bool verbose);
// Share of the token n-grams of a greedy n_new-token continuation that occurred before.
double eval_loops(Engine *e, const Tokenizer *t, const char *prompt, int n_new, int ngram);

// The whole report on stdout (`eval <what> key=value ...`); valid_path and corpus_path optional;
// verbose adds one line per case.
// `kvtrain kv` (kveval.c): each KV cache precision, alone and with window and sinks at a quarter
// of the context, teacher-forced over the first n_tokens of the held-out text against a full f32
// cache; one line per kind on stdout (`kv kind=... cache=... nll=...`).
KvStatus kveval_run(const char *model_path, const char *tok_path, int n_tokens, KvError *err);
// The first held-out documents of the corpus generator (seed 2024, every 40th document, as
// corpus_write splits them), each encoded with BOS, until `want` tokens. Owned; *n the count.
int *kveval_heldout(const Tokenizer *t, int want, int *n);

// heldout.c: what `kvtrain kv` and `kvtrain cache` share.
#define HELDOUT_SEED 2024 // scripts/make_model.sh: the corpus whose held-out split is validation
// kveval_heldout for the BASIC corpus of any seed.
int *heldout_tokens(const Tokenizer *t, uint64_t seed, int want, int *n);
// A model, its tokenizer and n_tokens (or fewer, *n) of the held-out text of `seed`.
typedef struct {
    Model m;
    Tokenizer t;
    int *tok, n;
} HeldOut;
KvStatus heldout_open(HeldOut *h, const char *model_path, const char *tok_path, uint64_t seed,
                      int n_tokens, KvError *err);
void heldout_close(HeldOut *h);
// Teacher forcing: tok[0..n) through the `ne` engines in lockstep, one position a step as
// generation feeds them (engine_step on each engine's cache, so an evicting policy evicts), in
// windows of `window` positions each from an empty cache (0: one pass). After position i (pos
// within its window of len) every engine's logits predict tok[i + 1], and attn[k], when attn is
// given, holds engine k's attention of the written position as (layers, heads, pos + 1).
typedef void (*TeacherVisit)(void *ctx, int i, int pos, int len);
void teacher_force(Engine *const *es, float *const *attn, int ne, const int *tok, int n, int window,
                   TeacherVisit visit, void *ctx);
#define KVEVAL_MAX_LAYERS 64
// One kind over tok (n tokens, windows of the model's context, one position per step) against an
// f32 engine on the same tokens. KV_ERR_INPUT when the model's head size cannot use p.
typedef struct {
    double nll;            // mean over predictions, nats
    double kl;             // mean KL(p_f32 || p)
    double max_logit_diff; // largest |logit difference| over every prediction
    double attn_l1[KVEVAL_MAX_LAYERS], attn_l1_mean; // mean L1 of the written position's rows
    double bytes_per_token;  // resident bytes / positions at the end of the longest window
    size_t resident_bytes;   // resident bytes there
    long predictions, agree; // top-1 agreements with f32
    int window;              // the longest window's length
} KvEvalResult;
// The kind is a precision and a retention (window, sinks: within each window of the context);
// KV_ERR_INPUT also for a pair kv_kind_combine_check refuses.
KvStatus kveval_kind(const Model *m, const int *tok, int n, KvCacheKind kind, KvEvalResult *r,
                     KvError *err);

// The whole report on stdout (`eval <what> key=value ...`); valid_path and corpus_path optional.
KvStatus eval_run(const char *model_path, const char *tok_path, const char *valid_path,
                  const char *corpus_path, bool verbose, KvError *err);

// ----------------------------------------------------------------------------------------------
// Token streams

// Encodes every document as BOS + bpe_encode(doc) into one stream; caller owns *out (free).
size_t encode_stream(const Bpe *b, char *const *docs, size_t n_docs, int **out);

// `kvtrain cache` (cache_eval.c): teacher-forced mean NLL per position of each KV cache policy
// at budgets 64 and 128 on n_tokens of the held-out split of the corpus of `seed`, and the
// attention each layer puts on position 0; one line each on stdout.
KvStatus cache_eval_run(const char *model_path, const char *tok_path, int n_tokens, uint64_t seed,
                        KvError *err);

#endif
