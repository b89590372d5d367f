// sim.h — the face of src/sim: a generation session (prompt, history of StepRecords, cache mode,
// sampler) and its CSV trace. No drawing, no SDL: the scene, the window and the lessons read a
// `const Session *`; only the functions here change one.
#ifndef KVSCOPE_SIM_H
#define KVSCOPE_SIM_H

#include "engine/engine.h"
#include <stdio.h>

typedef enum { PHASE_PREFILL = 0, PHASE_DECODE = 1 } Phase;

#define SESSION_TOP 10 // candidates kept per step
#define SESSION_PAST 2 // a sequence under sinks may reach this many times the model's context

// What a step did to one cache cell, a (layer, kv head, position). Decided by the session from
// what the engine and its cache report; the picture only maps a state to its look.
typedef enum {
    CELL_EMPTY = 0,  // nothing held for this position (not computed yet, or the cache is off)
    CELL_CACHED,     // held in the cache from an earlier step, not touched by this one
    CELL_READ,       // held in the cache from an earlier step and read by attention in this one
    CELL_WRITTEN,    // computed for the first time in this step (stored, with the cache on)
    CELL_RECOMPUTED, // computed again in this step although an earlier step had computed it
    CELL_EVICTED,    // computed by an earlier step, no longer held: the retention policy evicted it
    // the cache kinds to come add theirs here: quantized, shared
    CELL_STATES
} CellState;

// A cell as a step found it and as the step left it.
typedef struct {
    CellState before, now;
} CellStep;

// One run of cells in a (layer, kv head) row with the same CellStep: positions lo up to the next
// run's lo (the row's last run ends at the record's pos).
typedef struct {
    int lo;
    uint8_t before, now; // CellState
} CellRun;

// A row's runs: cell_runs[first .. first + n).
typedef struct {
    int first, n;
} CellRow;

// What one generation step leaves for the picture (DESIGN.md). Owned by the session.
typedef struct {
    int step;       // 0-based index in the history
    Phase phase;    // PREFILL: the first step of a sequence (the whole prompt in one pass)
    CacheMode mode; // the mode this step ran in
    int pos;        // the query position: the last input token; its K/V are written and its
                    // attention row is recorded; the chosen token lands at pos + 1
    int first;      // first position computed this step (0 in no-cache mode and in prefill)
    int token_id;   // the chosen token
    float temperature;
    Candidate top[SESSION_TOP]; // most probable first, softmax(logits / temperature)
    int n_top;
    // Attention weights of rows attn_row0 .. pos (the whole causal matrix for prefill, the last
    // row otherwise), layout (L, H, attn_rows, pos + 1). Owned.
    float *attn;
    int attn_row0, attn_rows;
    // Cache cells this step, the same in every layer (positions, half-open ranges):
    int written_lo, written_hi;       // K/V stored into the cache (cache mode)
    int recomputed_lo, recomputed_hi; // K/V computed again that an earlier step had computed
    int read_hi;                      // attention read positions 0 .. read_hi-1
    // Every cache cell of positions 0 .. pos in this step, row (layer, kv head) by row, each row
    // as runs (a handful per row; rows with the same runs share them). When every row is the
    // same (full retention: always), cell_rows is NULL and the one row is all of cell_runs: a
    // few runs per step whatever the model's shape. Read with session_cell.
    CellRun *cell_runs; // owned
    CellRow *cell_rows; // (L, HKV) owned, or NULL
    int n_cell_runs;
    int cache_len_before, cache_len_after; // valid cache positions around the step
    KvCacheMark cache_before, cache_after; // the cache around the step (exact back and redo)
    Counters counted;                      // this step's work, counted by the forward pass
    Counters total;                        // cumulative over the history up to this step
    uint64_t kv_bytes_resident;            // cache bytes held after the step (0 with the cache off)
    uint64_t kv_bytes_f32;                 // what the same positions would take stored in f32
    KvPrecision kv;                        // the precision the cache stores in
    int kv_quantized;     // positions 0 .. kv_quantized-1 are held in kv (KIVI: the
                          // newer ones in f32)
    uint64_t step_ns;     // measured wall time of the step's forward pass
    float max_logit_diff; // |logits(cache) - logits(no cache)| max, or -1 if unmeasured
    KvCacheKind kind;     // the cache kind the step ran with
    // Drift from the reference: a shadow engine with the full f32 cache run on the same tokens
    // (session.c). Measured on every cached step whose cache kind is not full f32, else not.
    bool drift_measured;
    bool top1_agree;   // the most probable next token is the same as the reference's
    float kl_full;     // KL(p_full || p) of the next-token distributions (temperature 1), nats
    float drift_logit; // max |logits - reference logits|
    float *attn_l1;    // (L) owned: per layer, mean over heads of the L1 distance between this
                       // step's attention row and the reference's (positions 0 .. pos)
    uint64_t rng_before, rng_after; // sampler state around the step (exact back and redo)
} StepRecord;

typedef struct {
    const Model *model;   // borrowed
    const Tokenizer *tok; // borrowed
    Engine eng;
    Engine shadow;          // the other mode, for verification (only when verify is on)
    Engine reference;       // the full f32 cache on the same tokens: drift of any other cache kind
    float *ref_attn;        // (L, H, T) the reference's attention row of the written position
    KvCacheKind cache_kind; // retention of the next steps (the engine's cache takes it then;
                            // precision and layout stay what the engine's cache has)
    bool verify;            // measure max_logit_diff on every step (costs the other mode's work)
    Sampler sampler;
    SamplerSettings settings;
    CacheMode mode; // mode of the next step
    int *tokens;    // (SESSION_PAST T + 1) prompt then generated ids
    int n_prompt;
    int n_tokens;      // n_prompt + cursor
    StepRecord *steps; // history, n_steps records; steps past cursor can be redone
    int n_steps;
    int cursor;    // steps applied
    uint8_t *held; // (L, HKV, T) scratch: which cells were resident when a step began
    char prompt[4096];
} Session;

// Borrowed model and tokenizer must outlive the session.
KvStatus session_init(Session *s, const Model *m, const Tokenizer *t, KvError *err);
void session_free(Session *s);

// Starts over with a new prompt (encoded with BOS). KV_ERR_INPUT for invalid UTF-8 or a prompt
// that leaves no room to generate in the model's context.
KvStatus session_set_prompt(Session *s, const char *prompt, KvError *err);
// Resets to the current prompt with no steps (sampler reseeded).
void session_reset(Session *s);

// Generates one token. Returns false (nothing done) at the model's context limit, or when the
// model produced a value that is not a finite number (session_fault then says where).
bool session_step(Session *s);
// After session_step returned false: KV_ERR_INPUT with "<model>: produces non-finite values at
// layer L, position P" when the model overflowed, KV_OK when the context was simply full.
KvStatus session_fault(const Session *s, KvError *err);
// Undoes the last step exactly (the record stays, for redo by session_step). False at step 0.
bool session_back(Session *s);
// Mode of the next steps; works between any two steps (turning the cache on rebuilds it).
void session_set_mode(Session *s, CacheMode mode);
// Precision of the cache's keys and values (kv_precision_check must accept it for the model):
// the session goes back to its prompt (no steps) and the next steps store in p. KV_ERR_INPUT
// (nothing changed) when p cannot be combined with the session's retention
// (kv_kind_combine_check: "--kv: int8 cannot be combined with --cache window:16 (...)").
KvStatus session_set_kv(Session *s, KvPrecision p, KvError *err);
// Retention of the next steps (kind's retention fields; DESIGN.md "The KV cache as an object");
// works between any two steps. A different retention starts from an empty cache: the next step
// recomputes the whole sequence under it (counted, the cells shown recomputed), as a real system
// must to bring back what a bounded policy evicted. KV_ERR_INPUT (nothing changed) when the
// kind's budget exceeds the model's context, or when it cannot be combined with the cache's
// precision ("--cache: ...").
KvStatus session_set_cache(Session *s, KvCacheKind kind, KvError *err);
// Drift over the history up to the cursor (the steps that measured it).
typedef struct {
    int measured;           // steps measured
    double kl_mean, kl_max; // KL(p_full || p), nats
    double top1_rate;       // share of measured steps whose top-1 agreed
    double logit_max;       // largest max |logit diff|
    double attn_l1_mean;    // mean over steps and layers
} DriftSummary;
void session_drift(const Session *s, DriftSummary *out);
// Verification on or off: with it on, every step also runs the other mode (not counted) and
// records the largest logit difference.
void session_set_verify(Session *s, bool on);
// Runs another model with the same tokenizer (same vocabulary; the prompt must fit its context):
// the session starts its prompt again on m, keeping the sampler, mode, verification, precision
// and policy where m can use them. Borrowed: m must outlive the session. KV_ERR_INPUT (nothing
// changed) when m's vocabulary or context does not fit.
KvStatus session_set_model(Session *s, const Model *m, KvError *err);
// New sampler settings apply from the next step; the history after the cursor is dropped.
void session_set_sampler(Session *s, SamplerSettings settings);

const StepRecord *session_last(const Session *s); // the record at cursor-1, or NULL
// The state of cache cell (layer, kv_head, pos) in record r; positions past r->pos are empty.
CellStep session_cell(const Session *s, const StepRecord *r, int layer, int kv_head, int pos);
bool session_at_limit(const Session *s); // no room for another step
// The longest sequence the next step may feed the model: its context, or under sinks (which
// rotate keys by their index in the cache) SESSION_PAST times it, less one.
int session_limit(const Session *s);
// The text of token index i of the sequence (the piece as it reads after its predecessor).
const char *session_token_text(const Session *s, int i, char byte_buf[2], size_t *len);
// Attention weight from query position `row` to key position `col`, layer `layer`, head `head`
// (head < 0: mean over heads), from whichever record holds that row; 0 when unknown.
float session_attention(const Session *s, int row, int col, int layer, int head);
// Appends the generated text (from the prompt's end to the cursor) to buf (NUL-terminated).
size_t session_generated_text(const Session *s, char *buf, size_t cap);

// ----------------------------------------------------------------------------------------------
// Head patterns: which heads explain themselves (previous-token and induction heads).

typedef struct {
    float prev_token; // mean weight a position puts on the position just before it
    float induction;  // mean weight a repeated token puts on the token after its last earlier
                      // occurrence (the "copy what came next last time" pattern); -1 if none
} HeadScore;

// Scores every head on one pass over tokens[0..n) (n <= seq_len): out is (L, H), caller-owned.
// Uses e's working memory (no-cache pass), so it leaves e's cache alone.
void heads_score(Engine *e, const int *tokens, int n, HeadScore *out);

// ----------------------------------------------------------------------------------------------
// Trace: the per-step CSV of DESIGN.md (RFC 4180 quoting).

void trace_write_header(FILE *f);
void trace_write_step(FILE *f, const Session *s, const StepRecord *r);
// RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled.
void trace_write_field(FILE *f, const char *text, size_t len);

// ----------------------------------------------------------------------------------------------
// Projection: what a sequence's KV cache would cost on published models (project.c).

typedef enum {
    PROJECT_ATTN_MHA, // every query head has its own key/value head
    PROJECT_ATTN_GQA, // groups of query heads share one key/value head
    PROJECT_ATTN_MQA, // all query heads share one key/value head
    PROJECT_ATTN_MLA  // keys and values rebuilt from one cached latent per layer (DeepSeek)
} ProjectAttn;

typedef struct {
    const char *name;
    ProjectAttn attn;
    int layers, heads, kv_heads, head_size; // L, H, HKV, HS
    int dim, hidden;                        // D and the MLP's hidden size (F)
    int mla_latent, mla_rope;               // MLA: cached latent and rotary-key sizes per layer
    int window;                             // the model's own sliding window (0 = none)
    int context;                            // positions it was trained for
    double params;                          // parameters (all experts of a mixture)
    const char *source;                     // the config file or paper the row comes from
    const char *key;                        // its name in lesson placeholders ("llama2-7b")
} PublishedModel;

extern const PublishedModel published_models[];
extern const int n_published_models;

typedef struct {
    const char *name;
    double bytes; // as marketed: 10^9 bytes a GB
} ProjectAccelerator;

extern const ProjectAccelerator project_accelerators[];
extern const int n_project_accelerators;

// How the projected cache stores and keeps positions: the session's precision and retention.
typedef struct {
    int value_bits;            // bits per stored value (16: the models' own bfloat16 cache)
    double row_overhead_bytes; // bytes per stored row besides the values (quantization scales)
    int max_positions;         // positions a retention policy keeps at most (0 = all)
} ProjectCache;

void project_cache_default(ProjectCache *pc);            // 16 bits, no overhead, every position
const char *project_attn_name(ProjectAttn a);            // "MHA", "GQA", "MQA", "MLA"
const PublishedModel *project_find(const char *name);    // by name, any case; NULL if none
const PublishedModel *project_find_key(const char *key); // by lesson key ("llama2-7b")
// A row for a loaded model's shape (named `name`, borrowed), to stand beside the published ones.
PublishedModel project_model_of(const ModelConfig *c, const char *name);
// Values cached per token: 2*L*HKV*HS, or L*(latent + rope) for MLA.
uint64_t project_values_per_token(const PublishedModel *m);
// Rows (vectors that get their own quantization scale) per token: 2*L*HKV, or L for MLA.
uint64_t project_rows_per_token(const PublishedModel *m);
// Positions held for a sequence of `length` tokens: capped by the model's window and the policy.
uint64_t project_positions(const PublishedModel *m, const ProjectCache *pc, uint64_t length);
double project_bytes_per_token(const PublishedModel *m, const ProjectCache *pc);
double project_kv_bytes(const PublishedModel *m, const ProjectCache *pc, uint64_t length);
double project_weight_bytes(const PublishedModel *m); // bfloat16 weights
// How the session's cache stores and keeps positions, applied to the projection: its precision
// (16 bits, as published, for the engine's f32) and its retention budget.
void project_cache_of_session(const Session *s, ProjectCache *pc);
// One line for the picture: how the projection stores values and which positions it keeps.
void project_cache_describe(const ProjectCache *pc, char *out, size_t cap);
// Sequences of `length` tokens whose caches fit beside the weights in memory_bytes (0 when the
// weights alone do not fit; -1 when a cache holds nothing).
int64_t project_sequences_fit(const PublishedModel *m, const ProjectCache *pc, uint64_t length,
                              double memory_bytes);

#endif
