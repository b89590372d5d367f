// session.c — a generation session: the prompt, the tokens so far, the history of StepRecords,
// the cache mode and the sampler. Each step runs the engine once and records what it did; stepping
// back restores the engine and sampler state the step started from, so back and forward are exact
// and instant. Does not draw.
#include "sim/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Prefill records keep the whole causal matrix unless it would exceed this many floats.
#define PREFILL_MATRIX_MAX ((size_t)1 << 24)

KvStatus session_init(Session *s, const Model *m, const Tokenizer *t, KvError *err) {
    memset(s, 0, sizeof *s);
    s->model = m;
    s->tok = t;
    KvStatus st = engine_init(&s->eng, m, err);
    if (st)
        return st;
    const int T = SESSION_PAST * m->cfg.seq_len; // positions a sequence may reach (sinks)
    s->tokens = kv_calloc((size_t)T + 1, sizeof(int));
    s->steps = kv_calloc((size_t)T, sizeof(StepRecord));
    s->held = kv_malloc((size_t)m->cfg.n_layers * (size_t)m->cfg.n_kv_heads * (size_t)T);
    s->settings = (SamplerSettings){.temperature = 0.0f, .top_p = 0.9f, .top_k = 0, .seed = 42};
    sampler_init(&s->sampler, m->cfg.vocab_size, s->settings);
    s->mode = CACHE_MODE_ON;
    s->threads = 1;
    s->cache_kind = KV_CACHE_DENSE;
    s->tokens[0] = TOKEN_BOS;
    s->n_prompt = s->n_tokens = 1;
    s->probe_step = -1;
    return KV_OK;
}

// Frees what a record owns (it stays zeroed, ready for reuse).
static void record_free(StepRecord *r) {
    free(r->logits);
    free(r->attn);
    free(r->attn_l1);
    free(r->cell_runs);
    free(r->cell_rows);
    memset(r, 0, sizeof *r);
}

static void drop_future(Session *s) {
    s->serial++;
    for (int i = s->cursor; i < s->n_steps; i++)
        record_free(&s->steps[i]);
    s->n_steps = s->cursor;
}

void session_free(Session *s) {
    s->cursor = 0;
    drop_future(s);
    engine_free(&s->eng);
    if (s->shadow.model)
        engine_free(&s->shadow);
    if (s->reference.model)
        engine_free(&s->reference);
    free(s->ref_attn);
    session_set_twin(s, false);
    if (s->probe_eng.model)
        engine_free(&s->probe_eng);
    attn_probe_free(&s->probe);
    sampler_free(&s->sampler);
    free(s->tokens);
    free(s->steps);
    free(s->held);
    memset(s, 0, sizeof *s);
}

void session_reset(Session *s) {
    s->cursor = 0;
    drop_future(s);
    s->n_tokens = s->n_prompt;
    kvcache_clear(&s->eng.cache);
    if (s->shadow.model)
        kvcache_clear(&s->shadow.cache);
    if (s->reference.model)
        kvcache_clear(&s->reference.cache);
    s->sampler.rng = s->settings.seed;
}

KvStatus session_set_prompt(Session *s, const char *prompt, KvError *err) {
    const int T = s->model->cfg.seq_len;
    int n = 0;
    // at most T - 1 prompt tokens: the context must leave room for one generated token
    KvStatus st = tokenizer_encode(s->tok, prompt, true, false, s->tokens, T - 1, &n, err);
    if (st) {
        if (strstr(err->msg, "fit"))
            kv_error(err, KV_ERR_INPUT,
                     "prompt: longer than the model's context of %d tokens (it must leave room "
                     "for one generated token)",
                     T);
        session_reset(s); // the tokens array may be partly overwritten: keep a valid sequence
        s->tokens[0] = TOKEN_BOS;
        s->n_prompt = s->n_tokens = 1;
        s->prompt[0] = '\0';
        return st;
    }
    snprintf(s->prompt, sizeof s->prompt, "%s", prompt);
    s->n_prompt = n;
    session_reset(s);
    return KV_OK;
}

// A step needs its input positions 0 .. n_tokens-1 inside the context; its output token may land
// at position seq_len (it is shown, never fed back), as llama2.c prints it.
bool session_at_limit(const Session *s) {
    return s->n_tokens > session_limit(s);
}

int session_limit(const Session *s) {
    const int T = s->model->cfg.seq_len;
    const bool past = s->mode == CACHE_MODE_ON && kv_kind_unbounded_positions(s->cache_kind);
    return past ? SESSION_PAST * T - 1 : T;
}

const StepRecord *session_last(const Session *s) {
    return s->cursor > 0 ? &s->steps[s->cursor - 1] : NULL;
}

static float max_abs_diff(const float *a, const float *b, int n) {
    float m = 0.0f;
    for (int i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m || d != d)
            m = d;
    }
    return m;
}

// ----------------------------------------------------------------------------------------------
// Cache cells

// Which cells of positions 0 .. n-1 the engine's cache holds now, into held (L, HKV, n).
static void cells_held(const Session *s, int n, uint8_t *held) {
    const ModelConfig *c = &s->model->cfg;
    for (int l = 0; l < c->n_layers; l++)
        for (int g = 0; g < c->n_kv_heads; g++)
            kvcache_resident_row(&s->eng.cache, l, g, n,
                                 held + ((size_t)l * c->n_kv_heads + g) * (size_t)n);
}

static bool runs_equal(const CellRun *a, const CellRun *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i].lo != b[i].lo || a[i].before != b[i].before || a[i].now != b[i].now)
            return false;
    return true;
}

// Decides every cell's state for the step r has just recorded: s->held says what the cache held
// when it began (cells_held), `seen` how many positions earlier steps had computed. A position
// the step computed is written, or recomputed when an earlier step had computed it already; one
// it did not compute was read from the cache when the cache holds it (attention reads every
// position the cache holds for the kv head), else it is empty.
static void cells_record(Session *s, StepRecord *r, int seen, int computed_before) {
    const ModelConfig *c = &s->model->cfg;
    const int rows = c->n_layers * c->n_kv_heads, n = r->pos + 1;
    // the step before ran a bounded kind (what it dropped shows as evicted after a change)
    const StepRecord *last = r->step > 0 ? &s->steps[r->step - 1] : NULL;
    const bool prev_bounded = last && last->mode == CACHE_MODE_ON && kv_kind_budget(last->kind) > 0;
    CellRun *runs = kv_malloc((size_t)rows * (size_t)n * sizeof *runs); // at most; shrunk below
    uint8_t *held_after = kv_malloc((size_t)rows * (size_t)n);
    cells_held(s, n, held_after);
    r->cell_rows = kv_malloc((size_t)rows * sizeof *r->cell_rows);
    int total = 0;
    for (int row = 0; row < rows; row++) {
        const uint8_t *was = s->held + (size_t)row * n, *is = held_after + (size_t)row * n;
        const int first = total;
        for (int p = 0; p < n; p++) {
            // a position earlier steps computed that the cache does not hold was evicted by its
            // retention policy (with the cache off, or after a change of kind, nothing is held)
            const bool bounded = r->mode == CACHE_MODE_ON && kv_kind_budget(r->kind) > 0;
            CellState before = was[p] ? CELL_CACHED : CELL_EMPTY;
            if (before == CELL_EMPTY && (bounded || prev_bounded) && p < computed_before)
                before = CELL_EVICTED;
            CellState now = CELL_EMPTY;
            if (p >= r->first)
                now = p < seen ? CELL_RECOMPUTED : CELL_WRITTEN;
            else if (r->mode == CACHE_MODE_ON && is[p])
                now = CELL_READ;
            else if (bounded)
                now = CELL_EVICTED;
            if ((now == CELL_WRITTEN || now == CELL_RECOMPUTED) && bounded && !is[p])
                now = CELL_EVICTED; // stored and evicted within the step (a long prefill)
            if (total > first && runs[total - 1].before == before && runs[total - 1].now == now)
                continue;
            runs[total++] = (CellRun){.lo = p, .before = (uint8_t)before, .now = (uint8_t)now};
        }
        const CellRow mine = {first, total - first};
        const CellRow *prev = row > 0 ? &r->cell_rows[row - 1] : NULL;
        if (prev && prev->n == mine.n && runs_equal(runs + prev->first, runs + first, mine.n)) {
            total = first; // the same as the row before: share its runs
            r->cell_rows[row] = *prev;
        } else {
            r->cell_rows[row] = mine;
        }
    }
    free(held_after);
    r->cell_runs = kv_realloc(runs, (size_t)total * sizeof *runs);
    r->n_cell_runs = total;
    if (r->cell_rows[rows - 1].first == 0 && r->cell_rows[rows - 1].n == total) {
        free(r->cell_rows); // every row shares the first one's runs (each shares the one before)
        r->cell_rows = NULL;
    }
}

CellStep session_cell(const Session *s, const StepRecord *r, int layer, int kv_head, int pos) {
    const ModelConfig *c = &s->model->cfg;
    if (!r || !r->cell_runs || pos < 0 || pos > r->pos || layer < 0 || layer >= c->n_layers ||
        kv_head < 0 || kv_head >= c->n_kv_heads)
        return (CellStep){CELL_EMPTY, CELL_EMPTY};
    const CellRow row =
        r->cell_rows ? r->cell_rows[layer * c->n_kv_heads + kv_head] : (CellRow){0, r->n_cell_runs};
    const CellRun *run = r->cell_runs + row.first;
    int lo = 0, hi = row.n - 1; // the last run that starts at or before pos (run 0 starts at 0)
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (run[mid].lo <= pos)
            lo = mid;
        else
            hi = mid - 1;
    }
    return (CellStep){(CellState)run[lo].before, (CellState)run[lo].now};
}

// Same retention (policy and sizes), whatever the precision.
static bool same_retention(KvCacheKind a, KvCacheKind b) {
    return a.retention == b.retention && a.window == b.window && a.sinks == b.sinks &&
           a.heavy == b.heavy && a.recent == b.recent;
}

// ----------------------------------------------------------------------------------------------
// Drift: the reference, a shadow engine with the full f32 cache on the same tokens

// KL(p || q) of softmax(a) and softmax(b), in nats (double sums: the terms are small).
static double kl_logits(const float *a, const float *b, int n) {
    double ma = a[0], mb = b[0];
    for (int i = 1; i < n; i++) {
        ma = a[i] > ma ? a[i] : ma;
        mb = b[i] > mb ? b[i] : mb;
    }
    double sa = 0, sb = 0;
    for (int i = 0; i < n; i++) {
        sa += exp(a[i] - ma);
        sb += exp(b[i] - mb);
    }
    const double la = ma + log(sa), lb = mb + log(sb);
    double kl = 0;
    for (int i = 0; i < n; i++) {
        const double lpa = a[i] - la, lpb = b[i] - lb;
        kl += exp(lpa) * (lpa - lpb);
    }
    return kl > 0 ? kl : 0; // rounding can leave a tiny negative for equal distributions
}

static int argmax_first(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

// Runs the reference on this step's tokens when the step's cache is not full f32 (and the
// sequence fits the model's context), and records the drift. False when the reference met a
// non-finite value (session_fault says where).
static bool drift_measure(Session *s, StepRecord *r) {
    const ModelConfig *c = &s->model->cfg;
    const int len = r->pos + 1, L = c->n_layers, H = c->n_heads;
    r->drift_measured = false;
    if (r->mode != CACHE_MODE_ON || kv_kind_dense(r->kind) || len > c->seq_len)
        return true;
    if (!s->reference.model) {
        KvError err;
        engine_init(&s->reference, s->model, &err);
        engine_set_threads(&s->reference, s->threads);
        s->ref_attn = kv_malloc((size_t)L * H * (size_t)c->seq_len * sizeof(float));
    }
    kvcache_truncate(&s->reference.cache, len - 1); // what it holds of this sequence
    AttnSink sink = {.w = s->ref_attn, .row0 = r->pos, .rows = 1, .cols = len};
    engine_step(&s->reference, s->tokens, len, CACHE_MODE_ON, &sink, NULL);
    if (s->reference.fault_layer)
        return false;
    const float *pf = s->reference.logits, *pp = s->eng.logits;
    r->drift_measured = true;
    r->kl_full = (float)kl_logits(pf, pp, c->vocab_size);
    r->top1_agree = argmax_first(pf, c->vocab_size) == argmax_first(pp, c->vocab_size);
    r->drift_logit = max_abs_diff(pf, pp, c->vocab_size);
    r->attn_l1 = kv_calloc((size_t)L, sizeof(float));
    const size_t rr = (size_t)(r->pos - r->attn_row0);
    for (int l = 0; l < L; l++) {
        double sum = 0;
        for (int h = 0; h < H; h++) {
            const float *a = r->attn + (((size_t)l * H + h) * r->attn_rows + rr) * len;
            const float *b = s->ref_attn + ((size_t)l * H + h) * len;
            for (int j = 0; j < len; j++)
                sum += fabs((double)a[j] - (double)b[j]);
        }
        r->attn_l1[l] = (float)(sum / H);
    }
    return true;
}

void session_drift(const Session *s, DriftSummary *out) {
    memset(out, 0, sizeof *out);
    const int L = s->model->cfg.n_layers;
    double l1 = 0;
    int agree = 0;
    for (int i = 0; i < s->cursor; i++) {
        const StepRecord *r = &s->steps[i];
        if (!r->drift_measured)
            continue;
        out->measured++;
        out->kl_mean += r->kl_full;
        out->kl_max = r->kl_full > out->kl_max ? r->kl_full : out->kl_max;
        agree += r->top1_agree;
        out->logit_max = r->drift_logit > out->logit_max ? r->drift_logit : out->logit_max;
        for (int l = 0; l < L; l++)
            l1 += r->attn_l1[l] / L;
    }
    if (out->measured) {
        out->kl_mean /= out->measured;
        out->top1_rate = (double)agree / out->measured;
        out->attn_l1_mean = l1 / out->measured;
    }
}

// ----------------------------------------------------------------------------------------------
// Steps

bool session_step(Session *s) {
    if (session_at_limit(s))
        return false;
    if (s->cursor < s->n_steps) { // redo: the record is exact; restore what the step left
        StepRecord *r = &s->steps[s->cursor];
        if (r->mode == s->mode && same_retention(r->kind, s->cache_kind) &&
            kv_kind_equal(r->kind, s->eng.cache.kind)) {
            s->tokens[s->n_tokens++] = r->token_id;
            kvcache_seek(&s->eng.cache, r->cache_after);
            s->sampler.rng = r->rng_after;
            s->cursor++;
            session_twin_sync(s, NULL); // side by side: the twin redoes it too (split.c)
            return true;
        }
        drop_future(s);
    }
    const ModelConfig *c = &s->model->cfg;
    const int len = s->n_tokens, pos = len - 1, L = c->n_layers, H = c->n_heads;
    StepRecord *r = &s->steps[s->cursor];
    record_free(r);
    r->step = s->cursor;
    r->phase = s->cursor == 0 ? PHASE_PREFILL : PHASE_DECODE;
    r->mode = s->mode;
    r->pos = pos;
    r->temperature = s->settings.temperature;
    // a new retention starts empty: this step recomputes the sequence under it. The session
    // decides retention; precision and layout stay what the engine's cache has
    KvCacheKind kind = s->eng.cache.kind;
    kind.retention = s->cache_kind.retention;
    kind.window = s->cache_kind.window, kind.sinks = s->cache_kind.sinks;
    kind.heavy = s->cache_kind.heavy, kind.recent = s->cache_kind.recent;
    engine_set_cache_kind(&s->eng, kind);
    r->kind = kind;
    const int computed_before = len - 1; // positions earlier steps computed (0 on the first)
    r->cache_before = kvcache_mark(&s->eng.cache);
    r->cache_len_before = kvcache_len(&s->eng.cache);

    // attention rows to keep: the causal matrix on prefill (when it is not huge), else the last
    r->attn_row0 = pos;
    r->attn_rows = 1;
    if (r->phase == PHASE_PREFILL && (size_t)L * H * len * len <= PREFILL_MATRIX_MAX) {
        r->attn_row0 = 0;
        r->attn_rows = len;
    }
    size_t attn_n = (size_t)L * H * r->attn_rows * len;
    if (s->lean && s->cursor > 0) { // the record before this one: its attention has been read
        free(s->steps[s->cursor - 1].attn);
        s->steps[s->cursor - 1].attn = NULL;
        // a power of two: the block just freed takes this step's rows and the next steps' until
        // the size doubles (no step leaves a hole of its own size in the heap)
        size_t p2 = 1;
        while (p2 < attn_n)
            p2 *= 2;
        attn_n = p2;
    }
    r->attn = kv_calloc(attn_n, sizeof(float));
    AttnSink sink = {.w = r->attn, .row0 = r->attn_row0, .rows = r->attn_rows, .cols = len};

    cells_held(s, len, s->held);
    uint64_t t0 = kv_now_ns();
    r->first = engine_step(&s->eng, s->tokens, len, s->mode, &sink, &r->counted);
    r->step_ns = kv_now_ns() - t0;
    if (s->eng.fault_layer) { // the model overflowed: no step (session_fault says where)
        record_free(r);
        s->n_steps = s->cursor;
        return false;
    }

    // positions 0 .. len-2 were computed by earlier steps; computing them again is recomputation
    const int seen = s->cursor == 0 ? 0 : len - 1;
    r->recomputed_lo = r->first;
    r->recomputed_hi = r->first < seen ? seen : r->first;
    r->written_lo = r->recomputed_hi;
    r->written_hi = len;
    r->read_hi = len;
    cells_record(s, r, seen, s->cursor == 0 ? 0 : computed_before);
    r->cache_after = kvcache_mark(&s->eng.cache);
    r->cache_len_after = kvcache_len(&s->eng.cache);
    r->kv_bytes_resident = kvcache_bytes_resident(&s->eng.cache);
    r->kv_bytes_f32 = kvcache_bytes_resident_f32(&s->eng.cache);
    r->kv_bytes_per_token = kvcache_bytes_per_position(&s->eng.cache);
    r->kv = s->eng.cache.kind.precision;
    r->kv_quantized = 0;
    for (int p = kvcache_len(&s->eng.cache) - 1; p >= 0 && !r->kv_quantized; p--)
        if (kvcache_precision(&s->eng.cache, 0, 0, p) != KV_PRECISION_F32)
            r->kv_quantized = p + 1;
    if (s->cursor > 0)
        r->total = s->steps[s->cursor - 1].total;
    counters_add(&r->total, &r->counted);

    r->max_logit_diff = -1.0f;
    if (s->verify) {
        if (!s->shadow.model) {
            KvError err;
            engine_init(&s->shadow, s->model, &err);
            engine_set_threads(&s->shadow, s->threads);
        }
        kvcache_truncate(&s->shadow.cache, len - 1); // what it holds of this sequence
        CacheMode other = s->mode == CACHE_MODE_ON ? CACHE_MODE_OFF : CACHE_MODE_ON;
        engine_step(&s->shadow, s->tokens, len, other, NULL, NULL);
        if (s->shadow.fault_layer) {
            kvcache_seek(&s->eng.cache, r->cache_before);
            record_free(r); // with the cells it has recorded
            s->n_steps = s->cursor;
            return false;
        }
        r->max_logit_diff = max_abs_diff(s->eng.logits, s->shadow.logits, c->vocab_size);
    }

    if (!drift_measure(s, r)) {
        kvcache_seek(&s->eng.cache, r->cache_before);
        record_free(r);
        s->n_steps = s->cursor;
        return false;
    }

    r->n_top = top_candidates(s->eng.logits, c->vocab_size, r->temperature, r->top, SESSION_TOP);
    r->rng_before = s->sampler.rng;
    r->token_id = sampler_sample(&s->sampler, s->eng.logits);
    r->rng_after = s->sampler.rng;
    r->coin = s->sampler.coin;
    r->top_k = s->settings.top_k;
    r->top_p = s->settings.top_p;
    if (!s->lean) {
        r->logits = kv_malloc((size_t)c->vocab_size * sizeof(float));
        memcpy(r->logits, s->eng.logits, (size_t)c->vocab_size * sizeof(float));
    }
    s->tokens[s->n_tokens++] = r->token_id;
    s->cursor++;
    s->n_steps = s->cursor;
    session_twin_sync(s, s->eng.logits); // side by side: the twin computes it too (split.c)
    return true;
}

KvStatus session_fault(const Session *s, KvError *err) {
    KvStatus st = engine_fault(&s->eng, err);
    if (!st && s->verify && s->shadow.model)
        st = engine_fault(&s->shadow, err);
    return st;
}

bool session_back(Session *s) {
    if (s->cursor == 0)
        return false;
    s->cursor--;
    const StepRecord *r = &s->steps[s->cursor];
    s->n_tokens--;
    s->sampler.rng = r->rng_before;
    if (!kv_kind_equal(r->kind, s->eng.cache.kind)) {
        // the step ran under another kind than the cache has now: what that kind held is gone,
        // so the next step recomputes the sequence (counted)
        kvcache_clear(&s->eng.cache);
        drop_future(s);
        return true;
    }
    kvcache_seek(&s->eng.cache, r->cache_before);
    return true;
}

KvStatus session_set_cache(Session *s, KvCacheKind kind, KvError *err) {
    const int T = s->model->cfg.seq_len;
    KvStatus st = kv_retention_check("--cache", kind, T, err);
    if (st)
        return st;
    KvCacheKind k = kind; // the retention asked for, with the precision the cache has
    k.precision = s->eng.cache.kind.precision;
    k.layout = s->eng.cache.kind.layout, k.block = s->eng.cache.kind.block;
    if ((st = kv_kind_combine_check("--cache: with --kv", "", k, err)))
        return st;
    if (kv_kind_equal(kind, s->cache_kind))
        return KV_OK;
    if (s->n_tokens > T && !kv_kind_unbounded_positions(kind)) {
        char name[48];
        return kv_error(err, KV_ERR_INPUT,
                        "--cache: %s cannot hold this sequence: it is %d tokens, past the model's "
                        "context of %d (only window and sinks can go on)",
                        kv_retention_name(kind, name, sizeof name), s->n_tokens, T);
    }
    s->cache_kind = kind;
    drop_future(s);
    return KV_OK;
}

void session_set_threads(Session *s, int n) {
    s->threads = engine_set_threads(&s->eng, n);
    if (s->shadow.model)
        engine_set_threads(&s->shadow, s->threads);
    if (s->reference.model)
        engine_set_threads(&s->reference, s->threads);
}

void session_set_mode(Session *s, CacheMode mode) {
    if (mode == s->mode)
        return;
    s->mode = mode;
    drop_future(s);
}

void session_set_sampler(Session *s, SamplerSettings settings) {
    uint64_t rng = s->sampler.rng;
    bool reseed = settings.seed != s->settings.seed;
    s->settings = settings;
    s->sampler.s = settings;
    s->sampler.rng = reseed && s->cursor == 0 ? settings.seed : rng;
    drop_future(s);
}

KvStatus session_set_kv(Session *s, KvPrecision p, KvError *err) {
    KvCacheKind k = s->cache_kind;
    k.precision = p;
    KvStatus st = kv_kind_combine_check("--kv", "--cache ", k, err);
    if (st)
        return st;
    if (p == s->eng.cache.kind.precision)
        return KV_OK;
    session_reset(s); // the history's marks describe the old storage: start the prompt again
    // the cache may still have the retention of the last step (the session's applies at the
    // next one): take the session's with p, an empty cache
    KvCacheKind kind = s->eng.cache.kind;
    kind.retention = s->cache_kind.retention;
    kind.window = s->cache_kind.window, kind.sinks = s->cache_kind.sinks;
    kind.heavy = s->cache_kind.heavy, kind.recent = s->cache_kind.recent;
    if (kv_kind_equal(kind, s->eng.cache.kind)) {
        kvcache_set_precision(&s->eng.cache, p);
    } else {
        kind.precision = p;
        engine_set_cache_kind(&s->eng, kind);
    }
    return KV_OK;
}

KvStatus session_set_paged(Session *s, int block, KvError *err) {
    const int T = s->model->cfg.seq_len;
    if (block < 0 || block > T)
        return kv_error(err, KV_ERR_INPUT,
                        "--paged: a block of %d positions does not fit the model's context (1..%d)",
                        block, T);
    KvCacheKind kind = s->eng.cache.kind;
    kind.layout = block ? KV_LAYOUT_PAGED : KV_LAYOUT_CONTIGUOUS;
    kind.block = block;
    KvCacheKind k = s->cache_kind; // what the next step keeps: the session's retention
    k.precision = kind.precision, k.layout = kind.layout, k.block = block;
    KvStatus st = kv_paged_check("--paged", k, err);
    if (st)
        return st;
    if (kv_kind_equal(kind, s->eng.cache.kind))
        return KV_OK;
    session_reset(s); // the history's marks describe the old storage: start the prompt again
    engine_set_cache_kind(&s->eng, kind);
    return KV_OK;
}

void session_set_lean(Session *s, bool on) {
    s->lean = on;
}

void session_set_verify(Session *s, bool on) {
    s->verify = on;
    if (s->shadow.model)
        kvcache_clear(&s->shadow.cache); // steps ran without it: it may describe other tokens
}

const char *session_token_text(const Session *s, int i, char byte_buf[2], size_t *len) {
    return tokenizer_decode(s->tok, i > 0 ? s->tokens[i - 1] : -1, s->tokens[i], byte_buf, len);
}

size_t session_generated_text(const Session *s, char *buf, size_t cap) {
    size_t n = 0;
    if (cap == 0)
        return 0;
    for (int i = s->n_prompt; i < s->n_tokens; i++) {
        char bb[2];
        size_t len;
        const char *p = session_token_text(s, i, bb, &len);
        if (n + len >= cap)
            break;
        memcpy(buf + n, p, len);
        n += len;
    }
    buf[n] = '\0';
    return n;
}

// The record whose attention rows include query position `row`, or NULL.
static const StepRecord *record_for_row(const Session *s, int row) {
    if (s->cursor == 0 || row < 0)
        return NULL;
    int k = row - (s->n_prompt - 1); // record k > 0 has pos = n_prompt - 1 + k
    if (k < 0)
        k = 0;
    if (k >= s->cursor)
        return NULL;
    const StepRecord *r = &s->steps[k];
    if (row < r->attn_row0 || row >= r->attn_row0 + r->attn_rows)
        return NULL;
    return r;
}

float session_attention(const Session *s, int row, int col, int layer, int head) {
    const StepRecord *r = record_for_row(s, row);
    const ModelConfig *c = &s->model->cfg;
    if (!r || col < 0 || col > row || layer < 0 || layer >= c->n_layers || head >= c->n_heads)
        return 0.0f;
    const int H = c->n_heads, cols = r->pos + 1;
    const size_t rr = (size_t)(row - r->attn_row0);
    if (head >= 0)
        return r->attn[(((size_t)layer * H + head) * r->attn_rows + rr) * cols + col];
    float sum = 0.0f;
    for (int h = 0; h < H; h++)
        sum += r->attn[(((size_t)layer * H + h) * r->attn_rows + rr) * cols + col];
    return sum / (float)H;
}

// ----------------------------------------------------------------------------------------------
// Another model of the same vocabulary (the window's model key: the full model and its
// grouped-query and multi-query twins)

KvStatus session_set_model(Session *s, const Model *m, KvError *err) {
    const ModelConfig *c = &m->cfg, *o = &s->model->cfg;
    if (c->vocab_size != o->vocab_size)
        return kv_error(err, KV_ERR_INPUT, "%s: a vocabulary of %d, this tokenizer's is %d",
                        m->path, c->vocab_size, o->vocab_size);
    if (s->n_prompt >= c->seq_len)
        return kv_error(err, KV_ERR_INPUT, "%s: the prompt does not fit its context of %d", m->path,
                        c->seq_len);
    const Tokenizer *t = s->tok;
    const SamplerSettings settings = s->settings;
    const CacheMode mode = s->mode;
    const bool verify = s->verify;
    const KvCacheKind kind = s->cache_kind;
    const KvPrecision p = s->eng.cache.kind.precision;
    char *prompt = kv_malloc(sizeof s->prompt);
    memcpy(prompt, s->prompt, sizeof s->prompt);
    Session n;
    KvStatus st = session_init(&n, m, t, err);
    if (st) {
        free(prompt);
        return st;
    }
    session_free(s);
    *s = n;
    session_set_sampler(s, settings);
    KvError ignore;
    if (session_set_prompt(s, prompt, &ignore) != KV_OK)
        session_set_prompt(s, "", &ignore);
    free(prompt);
    session_set_mode(s, mode);
    session_set_verify(s, verify);
    // the precision and policy carry over where the new shape allows them (else f32, full)
    if (kv_precision_check(c, p, "kv", NULL) == KV_OK)
        session_set_kv(s, p, &ignore);
    session_set_cache(s, kind, &ignore);
    return KV_OK;
}
