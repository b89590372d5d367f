// sim.h — the face of src/sim: a generation session (prompt, history of StepRecords, cache mode,
// sampler) and its CSV trace. No drawing, no SDL: the scene, the window and the lessons read a
// `const Session *`; only the functions here change one.
#ifndef KVSCOPE_SIM_H
#define KVSCOPE_SIM_H

#include "engine/engine.h"
#include <stdio.h>

typedef enum { PHASE_PREFILL = 0, PHASE_DECODE = 1 } Phase;

// A named prompt. The application's presets (src/app: app_presets, `--preset`, the window's
// buttons) and the ones the `preset` command of a lesson accepts are this one type; arrays of
// them end with {NULL, NULL}. (Here, below the lessons, so that the commands that only compute
// name it without the drawing layers.)
typedef struct Preset {
    const char *name;
    const char *prompt;
} Preset;

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
    uint64_t kv_bytes_per_token; // what one more resident position costs the cache as it stores
                                 // (kvcache_bytes_per_position; with the cache off too)
    KvPrecision kv;              // the precision the cache stores in
    int kv_quantized;            // positions 0 .. kv_quantized-1 are held in kv (KIVI: the
                                 // newer ones in f32)
    uint64_t step_ns;            // measured wall time of the step's forward pass
    float max_logit_diff;        // |logits(cache) - logits(no cache)| max, or -1 if unmeasured
    KvCacheKind kind;            // the cache kind the step ran with
    // Drift from the reference: a shadow engine with the full f32 cache run on the same tokens
    // (session.c). Measured on every cached step whose cache kind is not full f32, else not.
    bool drift_measured;
    bool top1_agree;   // the most probable next token is the same as the reference's
    float kl_full;     // KL(p_full || p) of the next-token distributions (temperature 1), nats
    float drift_logit; // max |logits - reference logits|
    float *attn_l1;    // (L) owned: per layer, mean over heads of the L1 distance between this
                       // step's attention row and the reference's (positions 0 .. pos)
    uint64_t rng_before, rng_after; // sampler state around the step (exact back and redo)
    // What the sampler chose from (the sampling view takes the choice apart again, and applies
    // other settings to the same step): the next token's logits, the settings and the draw.
    float *logits; // (V) owned
    int top_k;     // the step's top-k and top-p (its temperature is above)
    float top_p;
    float coin; // the sampler's uniform draw in [0, 1), -1 when greedy (no draw)
} StepRecord;

typedef struct Session {
    const Model *model;   // borrowed
    const Tokenizer *tok; // borrowed
    Engine eng;
    Engine shadow;          // the other mode, for verification (only when verify is on)
    Engine reference;       // the full f32 cache on the same tokens: drift of any other cache kind
    float *ref_attn;        // (L, H, T) the reference's attention row of the written position
    KvCacheKind cache_kind; // retention of the next steps (the engine's cache takes it then;
                            // precision and layout stay what the engine's cache has)
    bool verify;            // measure max_logit_diff on every step (costs the other mode's work)
    bool lean;   // keep no logits, and attention of the last step only (session_set_lean)
    int threads; // engine threads of eng, shadow and reference (session_set_threads)
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
    unsigned serial; // changes whenever records are dropped (an index may then name another step)
    // The inspector (inspect.c): a second engine replays the history's passes with an AttnProbe,
    // so the shown step's numbers come from a forward pass while the session's own engine is never
    // probed. Nothing of it exists until the first session_inspect.
    Engine probe_eng;
    AttnProbe probe;       // what the replay of record probe_step recorded
    int probe_step;        // that record, or -1
    int probe_at;          // records probe_eng has replayed: its cache is after record probe_at-1
    unsigned probe_serial; // serial when probe_step and probe_at were set
    // Side by side (split.c): the twin, the same model and prompt in the other cache mode with the
    // same tokens, stepped with this session (NULL: none); max |logit difference| of each step
    // between the two, -1 where not measured (both must have computed the step at once).
    struct Session *twin;
    float *twin_diff; // (SESSION_PAST T)
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
// Runs the session's engines (the main one and its verify and drift shadows) on n threads each
// (engine_set_threads: the same results for every n).
void session_set_threads(Session *s, int n);
// Precision of the cache's keys and values (kv_precision_check must accept it for the model):
// the session goes back to its prompt (no steps) and the next steps store in p. KV_ERR_INPUT
// (nothing changed) when p cannot be combined with the session's retention
// (kv_kind_combine_check: "--kv: int8 cannot be combined with --cache window:16 (...)").
KvStatus session_set_kv(Session *s, KvPrecision p, KvError *err);
// Puts the cache in the paged layout with blocks of `block` positions (0: contiguous again); the
// session starts its prompt again. KV_ERR_INPUT "--paged: <why>" for a block size outside
// 1 .. the model's context, or a cache kind paging cannot keep (kv_paged_check).
KvStatus session_set_paged(Session *s, int block, KvError *err);
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
// A lean session keeps of its past steps what a command that prints them reads (the table, the
// trace, the drift): no logits (StepRecord.logits stays NULL) and the attention rows of the last
// step only (those of earlier records are freed, NULL). Stepping back and redoing stay exact.
// For `kvscope generate`, whose 256 steps would otherwise keep 256 copies of the vocabulary's
// logits; the window and the exports keep everything (the default).
void session_set_lean(Session *s, bool on);
// Runs another model with the same tokenizer (same vocabulary; the prompt must fit its context):
// the session starts its prompt again on m, keeping the sampler, mode, verification, precision
// and policy where m can use them. Borrowed: m must outlive the session. KV_ERR_INPUT (nothing
// changed) when m's vocabulary or context does not fit.
KvStatus session_set_model(Session *s, const Model *m, KvError *err);
// New sampler settings apply from the next step; the history after the cursor is dropped.
void session_set_sampler(Session *s, SamplerSettings settings);

const StepRecord *session_last(const Session *s); // the record at cursor-1, or NULL
// The inspector's numbers for the shown step (session_last): what query head `head` of `layer`
// computed at the step's write position, recorded into s->probe by a pass of the probe engine
// that replays the history (the counters and the session's engine are untouched). Returns
// s->probe when captured (an earlier call's result when nothing changed), NULL before any step
// or when the replay met a non-finite value.
const AttnProbe *session_inspect(Session *s, int layer, int head);
// s->probe when it describes the shown step for (layer, head), else NULL (for the picture).
const AttnProbe *session_probe(const Session *s, int layer, int head);
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
// Side by side (split.c): a twin session that follows this one step for step in the other cache
// mode (cache on here: off there, per step), with this session's tokens, for the split picture.

// Creates the twin (on) or frees it (off). The twin is then brought to this session's prompt,
// settings and steps (session_twin_sync). Returns false when the twin cannot be made.
bool session_set_twin(Session *s, bool on);
// Brings the twin to this session's prompt, sampler, precision, retention and steps, each step in
// the other mode and taking this session's token. session_step calls it with its fresh logits
// (the step's logit difference is measured then); anyone may call it with NULL before drawing.
void session_twin_sync(Session *s, const float *fresh_logits);
// The shown step's max |logit difference| between the two sessions, or -1 when not measured.
float session_twin_logit_diff(const Session *s);
// What a session did so far: FLOPs counted and step time measured over steps 0 .. cursor-1.
typedef struct {
    uint64_t flops, ns;
    int steps;
} SessionTotals;
void session_totals(const Session *s, SessionTotals *out);

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

// ----------------------------------------------------------------------------------------------
// Serving many requests over one paged pool (serve.c; docs/serving.md)
//
// A serving session runs requests (a prompt, a limit of new tokens, sampler settings, an arrival
// step, a number of parallel samples) as a server does: every step it admits waiting sequences
// first come first served while their prompts fit in free blocks (prefill, which samples each
// one's first token), then decodes one token for every other running sequence in one batched
// pass (engine_forward_batch). A sequence that crosses a block boundary takes a block; when the
// pool has too few, the most recently admitted running sequence is preempted (its blocks freed,
// itself back at the head of the queue, recomputed when admitted again: counted). A sequence
// finishes at EOS or BOS, at its limit, or at the model's context, and gives its blocks back.
// Prefix sharing (on unless turned off): full prompt blocks equal to registered ones are taken
// instead of computed, and the parallel samples of a request fork the first sample's table.

#define SERVE_MAX_REQUESTS 10000
#define SERVE_MAX_SAMPLES 8

typedef struct {
    int arrival;             // the step it arrives at
    int max_new;             // new tokens at most (each sample)
    int samples;             // parallel samples of the prompt (1..SERVE_MAX_SAMPLES)
    SamplerSettings sampler; // sample i draws with seed + i
    int line;                // its line in the request file (0: built in)
    char prompt[1024];
} ServeRequest;

typedef enum { SEQ_PENDING, SEQ_WAITING, SEQ_RUNNING, SEQ_FINISHED } SeqState;
typedef enum { FINISH_NONE, FINISH_EOS, FINISH_LIMIT, FINISH_CONTEXT } FinishReason;

// One sample of one request: a sequence with a cache over the session's pool.
typedef struct {
    int request, sample;
    SeqState state;
    FinishReason why;
    int *tokens; // (T) the prompt, then what was generated
    int n_prompt, n_tokens;
    int computed;  // positions some earlier pass computed (what a recompute repeats)
    int admitted;  // admission order (larger: admitted more recently); -1 before
    int preempted; // times preempted
    int finished_step;
    Sampler sampler;
    KvCache cache; // paged, over the session's pool
} ServeSeq;

// Totals since the start (and the same per step in ServeStepStats).
typedef struct {
    uint64_t tokens;          // tokens generated
    uint64_t prefill;         // positions computed by admissions (prompts and recomputes)
    uint64_t decoded;         // positions computed by decode passes
    uint64_t recomputed;      // positions computed again after a preemption
    uint64_t shared;          // positions taken from shared blocks instead of computed
    uint64_t preemptions;     // sequences preempted
    uint64_t copies;          // blocks copied on write
    uint64_t flops;           // FLOPs the passes computed
    uint64_t flops_recompute; // of those, recomputing preempted sequences
    uint64_t flops_saved;     // FLOPs prefix sharing and forks did not need to compute
    uint64_t passes;          // engine passes (one per admission, one per decode step)
} ServeTotals;

// The pool and the contiguous preallocation of the same moment (after a step).
typedef struct {
    int step;
    int running, waiting, finished, pending; // sequences in each state
    int admitted, preempted, decoded;        // this step
    int blocks_used, blocks_free;
    int blocks_shared;     // blocks more than one table holds
    int blocks_saved;      // sum of (references - 1): blocks sharing spares
    uint64_t positions;    // positions the running sequences hold (each sequence's own count)
    uint64_t slots_used;   // B * blocks used
    uint64_t slots_unused; // unused slots in the last blocks (internal fragmentation)
    // contiguous preallocation: each running sequence reserves a whole context (T positions)
    uint64_t contig_reserved; // running * T positions
    uint64_t contig_unused;   // reserved but holding no token
    int contig_fit;           // sequences whose contexts fit in the pool's memory at once
    uint64_t tokens;          // tokens generated this step
    uint64_t flops;           // FLOPs this step
} ServeStepStats;

typedef struct Serve {
    const Model *model;   // borrowed
    const Tokenizer *tok; // borrowed
    Engine eng;
    EngineBatch batch;
    KvPool pool;
    bool sharing;
    bool fault; // a pass met a value that is not finite: the session stopped (engine_fault)
    ServeRequest *req;
    int n_req;
    ServeSeq *seq; // every sample of every request, in request order
    int n_seq;
    int *queue; // waiting sequences, the head first
    int n_queue;
    int *run; // running sequences, in admission order
    int n_run;
    int step;         // steps done
    int admissions;   // admissions so far (the next one's order)
    int next_arrival; // sequences before it have arrived
    int n_finished;
    ServeTotals total;
    ServeStepStats last; // after the last step
    char *log;           // what the scheduler decided, one line per event (owned)
    size_t log_len, log_cap;
} Serve;

// A Serve stays where it was made: its sequences' block tables point at its pool (do not copy
// one; serve_free and make it again in place).
// A session over model m and tokenizer t (borrowed) with a pool of `blocks` blocks of
// `block_size` positions. No requests yet.
void serve_init(Serve *s, const Model *m, const Tokenizer *t, int blocks, int block_size,
                bool sharing);
void serve_free(Serve *s);
// Adds a request (copied), after every request added so far: arrivals must not go back.
// KV_ERR_INPUT "<what>: <why>" when it arrives before the last one, its prompt cannot be encoded
// or leaves no room in the context, or its whole run could never fit in the pool.
KvStatus serve_add(Serve *s, const ServeRequest *r, const char *what, KvError *err);
// Reads requests from a file (docs/serving.md): one per line, "ARRIVAL MAX_NEW SAMPLER PROMPT".
// KV_ERR_INPUT "<path>:<line>: <problem>" on the first bad line (nothing added then).
KvStatus serve_load(Serve *s, const char *path, KvError *err);
// The built-in classroom scenario: a shared system prompt, parallel samples, a burst that forces
// preemption in a pool of SERVE_CLASSROOM_BLOCKS blocks of KV_PAGED_BLOCK_DEFAULT positions.
#define SERVE_CLASSROOM_BLOCKS 20
#define SERVE_DEFAULT_BLOCKS 64 // the pool for a request file, unless --blocks says
KvStatus serve_classroom(Serve *s, KvError *err); // serve_add's refusals
// serve_init, then the requests of a file (NULL: the classroom scenario), with `blocks` blocks
// (0: SERVE_DEFAULT_BLOCKS for a file, SERVE_CLASSROOM_BLOCKS x 16 positions for the scenario)
// of `block` positions. KV_ERR_INPUT (nothing left to free) for a block size past the context, a
// pool larger than half the memory available, or what serve_load and serve_classroom refuse.
KvStatus serve_open(Serve *s, const Model *m, const Tokenizer *t, const char *requests, int blocks,
                    int block, bool sharing, KvError *err);
// One scheduler step. False when every request has finished (nothing done), or when a pass met
// a value that is not finite (s->fault; engine_fault(&s->eng, ...) says where).
bool serve_step(Serve *s);
bool serve_done(const Serve *s);
// The generated text of a sequence (without its prompt) into buf; returns its length.
size_t serve_text(const Serve *s, int seq, char *buf, size_t cap);

#endif
