// serve.c — a serving session: many requests over one paged KV pool, scheduled step by step as
// a server does it (continuous batching), on the real engine.
//
// Each step: requests that have arrived join the queue; waiting sequences are admitted first
// come first served while their prompt (after the blocks prefix sharing gives them) fits in free
// blocks; each admission is one prefill pass that also samples the sequence's first new token;
// then every other running sequence decodes one token, all in one batched pass. Before that
// pass each sequence reserves the block its new position needs (a new block at a block
// boundary, a copy of a shared last block); when the pool has too few, the most recently
// admitted running sequence is preempted: its blocks go back, it goes to the head of the queue,
// and its tokens are recomputed when it is admitted again (counted apart). A sequence finishes
// at EOS or BOS, at its limit of new tokens or at the model's context, and frees its blocks.
//
// Every figure is counted where the work is done: the passes' Counters, the pool's blocks and
// references. What is not computed because of sharing is counted by the closed form of the
// positions skipped (flops_formula), and tests hold it to the difference of two real runs.
//
// What this file does not do: draw (src/view/pool.c), parse options (src/app/cmd_serve.c).
#include "sim/sim.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// Life

void serve_init(Serve *s, const Model *m, const Tokenizer *t, int blocks, int block_size,
                bool sharing) {
    memset(s, 0, sizeof *s);
    s->model = m;
    s->tok = t;
    KvError err;
    engine_init(&s->eng, m, &err);
    engine_set_instrument(&s->eng, true);
    batch_init(&s->batch, &m->cfg);
    kvpool_init(&s->pool, &m->cfg, blocks, block_size);
    s->sharing = sharing;
}

void serve_free(Serve *s) {
    for (int i = 0; i < s->n_seq; i++) {
        kvcache_free(&s->seq[i].cache);
        sampler_free(&s->seq[i].sampler);
        free(s->seq[i].tokens);
    }
    free(s->seq);
    free(s->req);
    free(s->queue);
    free(s->run);
    free(s->log);
    kvpool_free(&s->pool);
    batch_free(&s->batch);
    engine_free(&s->eng);
    memset(s, 0, sizeof *s);
}

bool serve_done(const Serve *s) {
    return s->n_finished == s->n_seq;
}

// One line of the scheduler's log: "step N: <what>".
static void note(Serve *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(Serve *s, const char *fmt, ...) {
    char line[256];
    int k = snprintf(line, sizeof line, "step %d: ", s->step);
    va_list ap;
    va_start(ap, fmt);
    k += vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
    va_end(ap);
    if (k >= (int)sizeof line - 1)
        k = (int)sizeof line - 2;
    line[k++] = '\n';
    if (s->log_len + (size_t)k + 1 > s->log_cap) {
        s->log_cap = (s->log_cap + (size_t)k + 1) * 2;
        s->log = kv_realloc(s->log, s->log_cap);
    }
    memcpy(s->log + s->log_len, line, (size_t)k);
    s->log_len += (size_t)k;
    s->log[s->log_len] = '\0';
}

// ----------------------------------------------------------------------------------------------
// Requests

static int blocks_for(const KvPool *p, int positions) {
    return (positions + p->block_size - 1) / p->block_size;
}

KvStatus serve_add(Serve *s, const ServeRequest *r, const char *what, KvError *err) {
    const ModelConfig *c = &s->model->cfg;
    const int T = c->seq_len;
    assert(r->samples >= 1 && r->samples <= SERVE_MAX_SAMPLES && r->max_new >= 1);
    if (s->n_req >= SERVE_MAX_REQUESTS)
        return kv_error(err, KV_ERR_INPUT, "%s: more than %d requests", what, SERVE_MAX_REQUESTS);
    if (s->n_req > 0 && r->arrival < s->req[s->n_req - 1].arrival)
        return kv_error(err, KV_ERR_INPUT,
                        "%s: arrives at step %d, before the request above it (%d): requests are "
                        "listed in the order they arrive",
                        what, r->arrival, s->req[s->n_req - 1].arrival);
    int *tokens = kv_malloc((size_t)T * sizeof *tokens), n = 0;
    KvError e2;
    if (tokenizer_encode(s->tok, r->prompt, true, false, tokens, T, &n, &e2)) {
        free(tokens);
        return kv_error(err, KV_ERR_INPUT, "%s: prompt: %s", what,
                        strstr(e2.msg, ": ") ? strstr(e2.msg, ": ") + 2 : e2.msg);
    }
    if (n >= T) {
        free(tokens);
        return kv_error(err, KV_ERR_INPUT,
                        "%s: the prompt is %d tokens, and the model's context of %d leaves no "
                        "room for a new one",
                        what, n, T);
    }
    const int run = n + r->max_new < T ? n + r->max_new : T; // positions it may ever hold
    const int need = blocks_for(&s->pool, run);
    if (need > s->pool.n_blocks) {
        free(tokens);
        return kv_error(err, KV_ERR_INPUT,
                        "%s: needs %d blocks of %d positions (a prompt of %d tokens and %d new), "
                        "and the pool has %d: it could never run (--blocks)",
                        what, need, s->pool.block_size, n, run - n, s->pool.n_blocks);
    }
    s->req = kv_realloc(s->req, (size_t)(s->n_req + 1) * sizeof *s->req);
    s->req[s->n_req] = *r;
    s->seq = kv_realloc(s->seq, (size_t)(s->n_seq + r->samples) * sizeof *s->seq);
    for (int k = 0; k < r->samples; k++) {
        ServeSeq *q = &s->seq[s->n_seq + k];
        memset(q, 0, sizeof *q);
        q->request = s->n_req;
        q->sample = k;
        q->tokens = kv_malloc((size_t)T * sizeof *q->tokens);
        memcpy(q->tokens, tokens, (size_t)n * sizeof *tokens);
        q->n_prompt = q->n_tokens = n;
        q->admitted = -1;
        q->finished_step = -1;
        SamplerSettings ss = r->sampler;
        ss.seed += (uint64_t)k;
        ss.seed += ss.seed == 0; // (a seed of 2^64 - 1 + k wraps past 0, which the rng refuses)
        sampler_init(&q->sampler, c->vocab_size, ss);
        kvcache_init_pooled(&q->cache, c, &s->pool);
    }
    s->n_seq += r->samples;
    s->n_req++;
    s->queue = kv_realloc(s->queue, (size_t)s->n_seq * sizeof *s->queue);
    s->run = kv_realloc(s->run, (size_t)s->n_seq * sizeof *s->run);
    free(tokens);
    return KV_OK;
}

size_t serve_text(const Serve *s, int seq, char *buf, size_t cap) {
    const ServeSeq *q = &s->seq[seq];
    size_t n = 0;
    for (int i = q->n_prompt; i < q->n_tokens && cap > 0; i++) {
        const int id = q->tokens[i];
        if (id == TOKEN_EOS || id == TOKEN_BOS)
            continue;
        char bb[2];
        size_t len;
        const char *piece = tokenizer_decode(s->tok, q->tokens[i - 1], id, bb, &len);
        if (n + len + 1 > cap)
            break;
        memcpy(buf + n, piece, len);
        n += len;
    }
    if (cap > 0)
        buf[n] = '\0';
    return n;
}

// ----------------------------------------------------------------------------------------------
// The scheduler

static const char *name(const Serve *s, int i, char buf[24]) {
    snprintf(buf, 24, "r%d.%d", s->seq[i].request, s->seq[i].sample);
    return buf;
}

static uint64_t formula_total(const ModelConfig *c, int pos0, int n, int logits) {
    uint64_t f[FLOP_COMPONENTS], sum = 0;
    flops_formula(c, pos0, n, logits, f);
    for (int k = 0; k < FLOP_COMPONENTS; k++)
        sum += f[k];
    return sum;
}

static void run_remove(Serve *s, int i) {
    int k = 0;
    while (k < s->n_run && s->run[k] != i)
        k++;
    assert(k < s->n_run);
    memmove(s->run + k, s->run + k + 1, (size_t)(s->n_run - k - 1) * sizeof *s->run);
    s->n_run--;
}

static void finish(Serve *s, int i, FinishReason why) {
    static const char *const words[] = {"", "eos", "limit", "context"};
    ServeSeq *q = &s->seq[i];
    char nb[24];
    kvpaged_release(&q->cache);
    q->state = SEQ_FINISHED;
    q->why = why;
    q->finished_step = s->step;
    s->n_finished++;
    run_remove(s, i);
    note(s, "finish %s %s tokens=%d", name(s, i, nb), words[why], q->n_tokens - q->n_prompt);
}

// Appends the token sampled from `logits` and says whether the sequence is done.
static FinishReason take_token(Serve *s, int i, const float *logits) {
    ServeSeq *q = &s->seq[i];
    const int id = sampler_sample(&q->sampler, logits);
    q->tokens[q->n_tokens++] = id;
    s->total.tokens++;
    s->last.tokens++;
    if (id == TOKEN_EOS || id == TOKEN_BOS)
        return FINISH_EOS;
    if (q->n_tokens - q->n_prompt >= s->req[q->request].max_new)
        return FINISH_LIMIT;
    if (q->n_tokens >= s->model->cfg.seq_len)
        return FINISH_CONTEXT;
    return FINISH_NONE;
}

static void add_counters(Serve *s, const Counters *c, bool recompute) {
    const uint64_t f = counters_flops(c);
    s->total.flops += f;
    s->last.flops += f;
    if (recompute)
        s->total.flops_recompute += f;
    s->total.passes++;
}

// Admits sequence i (the queue's head), whose blocks are reserved: one prefill pass over the
// positions it does not share, then its first new token.
static void prefill(Serve *s, int i, int shared) {
    ServeSeq *q = &s->seq[i];
    const int n = q->n_tokens, rows = n - shared;
    const bool again = q->computed > 0;
    KvCache **cache = kv_malloc((size_t)rows * sizeof *cache);
    int *pos = kv_malloc((size_t)rows * sizeof *pos);
    for (int k = 0; k < rows; k++)
        cache[k] = &q->cache, pos[k] = shared + k;
    Counters c = {0};
    const int ok =
        engine_forward_batch(&s->eng, &s->batch, cache, q->tokens + shared, pos, rows, &c);
    free(cache);
    free(pos);
    if (ok != 1) { // a model whose values overflow: the session stops (serve_fault)
        s->fault = true;
        return;
    }
    add_counters(s, &c, again);
    s->total.prefill += (uint64_t)rows;
    s->total.shared += (uint64_t)shared;
    s->total.flops_saved += formula_total(&s->model->cfg, 0, shared, 0);
    const int redo = (q->computed < n ? q->computed : n) - shared;
    if (redo > 0)
        s->total.recomputed += (uint64_t)redo;
    q->computed = n;
}

static void admit_fork(Serve *s, int parent, int i, const float *logits) {
    ServeSeq *q = &s->seq[i], *p = &s->seq[parent];
    char nb[24], pb[24];
    kvpaged_fork(&q->cache, &p->cache);
    q->computed = q->n_tokens;
    q->state = SEQ_RUNNING;
    q->admitted = s->admissions++;
    s->run[s->n_run++] = i;
    s->last.admitted++;
    s->total.flops_saved += formula_total(&s->model->cfg, 0, q->n_tokens, 1);
    s->total.shared += (uint64_t)q->n_tokens;
    note(s, "fork %s from %s blocks=%d", name(s, i, nb), name(s, parent, pb),
         kvpaged_blocks(&q->cache));
    const FinishReason why = take_token(s, i, logits);
    if (why)
        finish(s, i, why);
}

static void admit(Serve *s) {
    const ModelConfig *c = &s->model->cfg;
    while (s->n_queue > 0) {
        const int i = s->queue[0];
        ServeSeq *q = &s->seq[i];
        char nb[24];
        const int n = q->n_tokens;
        const int shared = s->sharing ? kvpaged_share_prefix(&q->cache, q->tokens, n) : 0;
        const int need = kvpaged_need(&q->cache, n);
        if (need > s->pool.n_free) { // first come first served: the head waits, and all behind
            kvpaged_release(&q->cache);
            break;
        }
        memmove(s->queue, s->queue + 1, (size_t)(s->n_queue - 1) * sizeof *s->queue);
        s->n_queue--;
        const bool again = q->computed > 0;
        kvpaged_reserve(&q->cache, n);
        prefill(s, i, shared);
        if (s->fault)
            return;
        q->state = SEQ_RUNNING;
        q->admitted = s->admissions++;
        s->run[s->n_run++] = i;
        s->last.admitted++;
        note(s, "admit %s %s=%d shared=%d blocks=%d free=%d", name(s, i, nb),
             again ? "recompute" : "prefill", n - shared, shared, kvpaged_blocks(&q->cache),
             s->pool.n_free);
        if (s->sharing)
            kvpaged_register(&q->cache, q->tokens);
        // the first new token; parallel samples waiting behind it fork its table and its logits
        const size_t v = (size_t)c->vocab_size;
        float *logits = kv_malloc(v * sizeof *logits);
        memcpy(logits, s->batch.logits, v * sizeof *logits);
        const FinishReason why = take_token(s, i, logits);
        while (s->sharing && !again && s->n_queue > 0) {
            const int j = s->queue[0];
            const ServeSeq *sib = &s->seq[j];
            if (sib->request != q->request || sib->computed > 0)
                break;
            memmove(s->queue, s->queue + 1, (size_t)(s->n_queue - 1) * sizeof *s->queue);
            s->n_queue--;
            admit_fork(s, i, j, logits);
        }
        free(logits);
        if (why)
            finish(s, i, why);
    }
}

// The running sequence admitted last (the one to preempt).
static int newest_running(const Serve *s) {
    int best = -1;
    for (int k = 0; k < s->n_run; k++)
        if (best < 0 || s->seq[s->run[k]].admitted > s->seq[best].admitted)
            best = s->run[k];
    return best;
}

static void preempt(Serve *s, int i) {
    ServeSeq *q = &s->seq[i];
    char nb[24];
    kvpaged_release(&q->cache);
    run_remove(s, i);
    q->state = SEQ_WAITING;
    q->preempted++;
    memmove(s->queue + 1, s->queue, (size_t)s->n_queue * sizeof *s->queue);
    s->queue[0] = i;
    s->n_queue++;
    s->total.preemptions++;
    s->last.preempted++;
    note(s, "preempt %s free=%d", name(s, i, nb), s->pool.n_free);
}

// One token for every running sequence admitted before this step, in one batched pass.
static void decode(Serve *s, int admitted_before) {
    for (;;) { // blocks for every new position, preempting the newest while there are too few
        int need = 0, decoding = 0;
        for (int k = 0; k < s->n_run; k++) {
            const ServeSeq *q = &s->seq[s->run[k]];
            if (q->admitted < admitted_before) {
                need += kvpaged_need(&q->cache, q->n_tokens);
                decoding++;
            }
        }
        if (decoding == 0)
            return;
        if (need <= s->pool.n_free)
            break;
        preempt(s, newest_running(s));
    }
    const int n = s->n_run;
    KvCache **cache = kv_malloc((size_t)n * sizeof *cache);
    int *tok = kv_malloc((size_t)n * sizeof *tok), *pos = kv_malloc((size_t)n * sizeof *pos);
    int *who = kv_malloc((size_t)n * sizeof *who), rows = 0;
    for (int k = 0; k < n; k++) {
        const int i = s->run[k];
        ServeSeq *q = &s->seq[i];
        if (q->admitted >= admitted_before)
            continue;
        char nb[24];
        const int had = kvpaged_blocks(&q->cache),
                  last = had ? kvpaged_block(&q->cache, had - 1) : -1;
        const uint64_t copies = s->pool.copies;
        const bool ok = kvpaged_reserve(&q->cache, q->n_tokens);
        assert(ok);
        (void)ok;
        if (kvpaged_blocks(&q->cache) > had)
            note(s, "block %s +%d", name(s, i, nb), kvpaged_block(&q->cache, had));
        if (s->pool.copies > copies)
            note(s, "copy %s %d->%d", name(s, i, nb), last, kvpaged_block(&q->cache, had - 1));
        cache[rows] = &q->cache;
        tok[rows] = q->tokens[q->n_tokens - 1];
        pos[rows] = q->n_tokens - 1;
        who[rows++] = i;
    }
    Counters c = {0};
    const int ok = engine_forward_batch(&s->eng, &s->batch, cache, tok, pos, rows, &c);
    if (ok != rows) {
        s->fault = true;
        free(cache), free(tok), free(pos), free(who);
        return;
    }
    add_counters(s, &c, false);
    s->total.decoded += (uint64_t)rows;
    s->last.decoded = rows;
    const size_t v = (size_t)s->model->cfg.vocab_size;
    for (int r = 0; r < rows; r++) {
        ServeSeq *q = &s->seq[who[r]];
        q->computed = q->n_tokens;
        if (s->sharing)
            kvpaged_register(&q->cache, q->tokens);
        const FinishReason why = take_token(s, who[r], s->batch.logits + (size_t)r * v);
        if (why)
            finish(s, who[r], why);
    }
    free(cache), free(tok), free(pos), free(who);
}

// The pool and the contiguous preallocation after a step.
static void measure(Serve *s) {
    ServeStepStats *st = &s->last;
    const KvPool *p = &s->pool;
    const uint64_t T = (uint64_t)s->model->cfg.seq_len, B = (uint64_t)p->block_size;
    st->step = s->step;
    st->running = s->n_run;
    st->waiting = s->n_queue;
    st->finished = s->n_finished;
    st->pending = s->n_seq - s->next_arrival;
    st->blocks_free = p->n_free;
    st->blocks_used = kvpool_used(p);
    st->blocks_shared = st->blocks_saved = 0;
    for (int b = 0; b < p->n_blocks; b++)
        if (p->ref[b] > 1) {
            st->blocks_shared++;
            st->blocks_saved += p->ref[b] - 1;
        }
    // positions each block holds: the most any table holding it stores there
    uint64_t held = 0;
    st->positions = 0;
    int *fill = kv_calloc((size_t)p->n_blocks, sizeof *fill);
    for (int k = 0; k < s->n_run; k++) {
        const KvCache *kc = &s->seq[s->run[k]].cache;
        const int len = kvcache_len(kc);
        st->positions += (uint64_t)len;
        for (int i = 0; i < kvpaged_blocks(kc); i++) {
            const int in = len - i * (int)B < (int)B ? len - i * (int)B : (int)B;
            const int b = kvpaged_block(kc, i);
            fill[b] = in > fill[b] ? in : fill[b];
        }
    }
    for (int b = 0; b < p->n_blocks; b++)
        held += (uint64_t)fill[b];
    free(fill);
    st->slots_used = (uint64_t)st->blocks_used * B;
    st->slots_unused = st->slots_used - held;
    st->contig_reserved = (uint64_t)s->n_run * T;
    st->contig_unused = st->contig_reserved - st->positions;
    st->contig_fit = (int)((uint64_t)p->n_blocks * B / T);
}

bool serve_step(Serve *s) {
    if (s->fault || serve_done(s))
        return false;
    memset(&s->last, 0, sizeof s->last);
    char nb[24];
    // arrivals (sequences are in arrival order) join the queue behind whoever waits
    for (; s->next_arrival < s->n_seq && s->req[s->seq[s->next_arrival].request].arrival <= s->step;
         s->next_arrival++) {
        const int i = s->next_arrival;
        s->seq[i].state = SEQ_WAITING;
        s->queue[s->n_queue++] = i;
        note(s, "arrive %s", name(s, i, nb));
    }
    const int admitted_before = s->admissions;
    admit(s);
    if (!s->fault)
        decode(s, admitted_before);
    if (s->fault)
        return false;
    s->total.copies = s->pool.copies;
    measure(s);
    s->step++;
    return true;
}

// ----------------------------------------------------------------------------------------------
// Request files (docs/serving.md)

// Forgets requests from n_req on (a file that failed part way adds nothing).
static void drop_requests(Serve *s, int n_req) {
    while (s->n_seq > 0 && s->seq[s->n_seq - 1].request >= n_req) {
        ServeSeq *q = &s->seq[--s->n_seq];
        kvcache_free(&q->cache);
        sampler_free(&q->sampler);
        free(q->tokens);
    }
    s->n_req = n_req;
}

// "t=0.8,p=0.9,k=40,seed=7,n=3" or "greedy" (with settings after it: "greedy,n=2").
static KvStatus parse_sampler(const char *word, ServeRequest *r, int vocab, KvError *err) {
    char buf[256];
    if (strlen(word) >= sizeof buf)
        return kv_error(err, KV_ERR_INPUT, "sampler: longer than %zu characters", sizeof buf - 1);
    snprintf(buf, sizeof buf, "%s", word);
    for (char *item = buf, *next; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        if (strcmp(item, "greedy") == 0) {
            r->sampler.temperature = 0.0f;
            continue;
        }
        char *eq = strchr(item, '=');
        if (!eq)
            return kv_error(err, KV_ERR_INPUT,
                            "sampler: '%s' is not greedy or KEY=VALUE (t, p, k, seed, n)", item);
        *eq = '\0';
        const char *v = eq + 1;
        double d;
        long l;
        uint64_t u;
        KvStatus st;
        if (strcmp(item, "t") == 0) {
            if (!(st = kv_parse_float("sampler t", v, 0.0, 100.0, &d, err)))
                r->sampler.temperature = (float)d;
        } else if (strcmp(item, "p") == 0) {
            if (!(st = kv_parse_float("sampler p", v, 0.0, 1.0, &d, err)))
                r->sampler.top_p = (float)d;
        } else if (strcmp(item, "k") == 0) {
            if (!(st = kv_parse_int("sampler k", v, 0, vocab, &l, err)))
                r->sampler.top_k = (int)l;
        } else if (strcmp(item, "seed") == 0) {
            if (!(st = kv_parse_seed("sampler seed", v, &u, err)))
                r->sampler.seed = u;
        } else if (strcmp(item, "n") == 0) {
            if (!(st = kv_parse_int("sampler n", v, 1, SERVE_MAX_SAMPLES, &l, err)))
                r->samples = (int)l;
        } else {
            return kv_error(err, KV_ERR_INPUT, "sampler: unknown setting '%s' (t, p, k, seed, n)",
                            item);
        }
        if (st)
            return st;
    }
    return KV_OK;
}

// The prompt: the rest of the line, with \n, \t and \\ for a newline, a tab and a backslash.
static KvStatus parse_prompt(const char *s, size_t n, char *out, size_t cap, KvError *err) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\\') {
            const char e = i + 1 < n ? s[++i] : '\0';
            if (e == 'n')
                ch = '\n';
            else if (e == 't')
                ch = '\t';
            else if (e == '\\')
                ch = '\\';
            else
                return kv_error(err, KV_ERR_INPUT,
                                "prompt: unknown escape '\\%c' (\\n, \\t and \\\\ are known)",
                                e ? e : ' ');
        }
        if (k + 1 >= cap)
            return kv_error(err, KV_ERR_INPUT, "prompt: longer than %zu bytes", cap - 1);
        out[k++] = ch;
    }
    out[k] = '\0';
    if (k == 0)
        return kv_error(err, KV_ERR_INPUT, "prompt: empty");
    return KV_OK;
}

// One line that is not blank or a comment: "ARRIVAL MAX_NEW SAMPLER PROMPT".
static KvStatus parse_line(const char *line, size_t n, ServeRequest *r, int vocab, KvError *err) {
    char word[3][256];
    size_t at = 0;
    for (int f = 0; f < 3; f++) {
        while (at < n && line[at] == ' ')
            at++;
        size_t k = 0;
        while (at < n && line[at] != ' ' && line[at] != '\t') {
            if (k + 1 >= sizeof word[f])
                return kv_error(err, KV_ERR_INPUT, "field %d is too long", f + 1);
            word[f][k++] = line[at++];
        }
        word[f][k] = '\0';
        if (k == 0 || at >= n || line[at] == '\t')
            return kv_error(err, KV_ERR_INPUT,
                            "expected ARRIVAL MAX_NEW SAMPLER PROMPT, separated by spaces");
    }
    at++; // the one space before the prompt
    long l;
    KvStatus st;
    if ((st = kv_parse_int("arrival", word[0], 0, 1000000, &l, err)))
        return st;
    r->arrival = (int)l;
    if ((st = kv_parse_int("max new tokens", word[1], 1, KV_MAX_SEQ, &l, err)))
        return st;
    r->max_new = (int)l;
    if ((st = parse_sampler(word[2], r, vocab, err)))
        return st;
    return parse_prompt(line + at, n - at, r->prompt, sizeof r->prompt, err);
}

KvStatus serve_load(Serve *s, const char *path, KvError *err) {
    unsigned char *data;
    size_t size;
    KvStatus st = kv_read_file(path, 16u << 20, &data, &size, err);
    if (st)
        return st;
    const int n_req = s->n_req;
    const char *text = (const char *)data;
    int lineno = 0, added = 0;
    for (size_t at = 0; at < size && !st;) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : size - at;
        const char *line = text + at;
        at += n + (nl != NULL);
        lineno++;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        char where[1100];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (memchr(line, '\0', n)) {
            st = kv_error(err, KV_ERR_INPUT, "%s: holds a NUL byte", where);
            break;
        }
        size_t lead = 0;
        while (lead < n && (line[lead] == ' ' || line[lead] == '\t'))
            lead++;
        if (lead == n || line[lead] == '#')
            continue;
        ServeRequest r = {.samples = 1, .line = lineno, .sampler = {0.0f, 0.9f, 0, 42}};
        KvError e2;
        if (parse_line(line, n, &r, s->model->cfg.vocab_size, &e2)) {
            st = kv_error(err, KV_ERR_INPUT, "%s: %s", where, e2.msg);
            break;
        }
        st = serve_add(s, &r, where, err);
        added += !st;
    }
    if (!st && added == 0)
        st = kv_error(err, KV_ERR_INPUT,
                      "%s: holds no request (one a line: ARRIVAL MAX_NEW SAMPLER PROMPT)", path);
    if (st)
        drop_requests(s, n_req);
    free(data);
    return st;
}

// ----------------------------------------------------------------------------------------------
// The classroom scenario

// A shared opening (the system prompt every story request starts with), parallel samples of
// one request, two unrelated prompts, then a burst of five stories that the pool cannot hold
// all at once: preemption and recompute.
#define SERVE_OPENING                                                                              \
    "Once upon a time, in a small kingdom, there lived a princess named Mia. She had a little "    \
    "cat and a big garden."
static const struct {
    int arrival, max_new, samples;
    float temperature;
    const char *prompt;
} classroom[] = {
    {0, 40, 1, 0.0f, SERVE_OPENING " Every morning, Mia"},
    {0, 32, 3, 0.8f, SERVE_OPENING " One day, Mia found"},
    {2, 16, 1, 0.0f, "The capital of France is"},
    {3, 20, 1, 0.0f, "def area(width, height):\n    return width *"},
    {8, 120, 1, 0.0f, SERVE_OPENING " The king"},
    {8, 120, 1, 0.7f, SERVE_OPENING " A little dragon"},
    {8, 120, 1, 0.0f, SERVE_OPENING " Her best friend"},
    {9, 120, 1, 0.7f, SERVE_OPENING " In the forest"},
    {9, 120, 1, 0.0f, SERVE_OPENING " At night, Mia"},
    {9, 120, 1, 0.7f, SERVE_OPENING " The cat"},
};

KvStatus serve_classroom(Serve *s, KvError *err) {
    for (size_t i = 0; i < sizeof classroom / sizeof classroom[0]; i++) {
        ServeRequest r = {.arrival = classroom[i].arrival,
                          .max_new = classroom[i].max_new,
                          .samples = classroom[i].samples,
                          .sampler = {classroom[i].temperature, 0.9f, 0, 42 + i}};
        snprintf(r.prompt, sizeof r.prompt, "%s", classroom[i].prompt);
        char what[48];
        snprintf(what, sizeof what, "the classroom scenario's request %zu", i + 1);
        const KvStatus st = serve_add(s, &r, what, err);
        if (st) { // a model with a short context, or a pool too small (--blocks)
            drop_requests(s, 0);
            return st;
        }
    }
    return KV_OK;
}

// ----------------------------------------------------------------------------------------------
// A session with its requests, in one call

KvStatus serve_open(Serve *s, const Model *m, const Tokenizer *t, const char *requests, int blocks,
                    int block, bool sharing, KvError *err) {
    memset(s, 0, sizeof *s);
    if (block < 1 || block > m->cfg.seq_len)
        return kv_error(err, KV_ERR_INPUT,
                        "--block-size: %d positions is more than the model's context of %d", block,
                        m->cfg.seq_len);
    if (!blocks)
        blocks = requests ? SERVE_DEFAULT_BLOCKS
                          : (SERVE_CLASSROOM_BLOCKS * KV_PAGED_BLOCK_DEFAULT + block - 1) / block;
    const uint64_t bytes =
        (uint64_t)blocks * (uint64_t)block * (uint64_t)config_kv_bytes_per_token(&m->cfg);
    if (bytes > kv_memory_available() / 2)
        return kv_error(err, KV_ERR_INPUT,
                        "--blocks: a pool of %d blocks takes %llu bytes, more than half the "
                        "memory available",
                        blocks, (unsigned long long)bytes);
    serve_init(s, m, t, blocks, block, sharing);
    const KvStatus st = requests ? serve_load(s, requests, err) : serve_classroom(s, err);
    if (st)
        serve_free(s);
    return st;
}
