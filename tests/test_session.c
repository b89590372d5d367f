// test_session.c — what a session records per step (StepRecord), stepping back and forward
// exactly, mode switches, the context limit, and the CSV trace.
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(session, .fini = tu_leak_check);
TestSuite(trace, .fini = tu_leak_check);

#define VOCAB 400

typedef struct {
    Model m;
    Tokenizer t;
    Session s;
} Fixture;

static void fixture_init(Fixture *f, int seq_len) {
    KvError err = {0};
    ModelConfig c = tu_config(48, 100, 2, 4, 2, VOCAB, seq_len, false);
    cr_assert_eq(tu_session_open(&f->m, &f->t, &f->s, &c, 21, &err), KV_OK, "%s", err.msg);
}

static void fixture_free(Fixture *f) {
    tu_session_close(&f->m, &f->t, &f->s);
}

// A deep copy of a record (the attention weights and cell states included) for later comparison.
static StepRecord record_copy(const Session *s, const StepRecord *r) {
    StepRecord c = *r;
    size_t n = (size_t)s->model->cfg.n_layers * (size_t)s->model->cfg.n_heads *
               (size_t)r->attn_rows * (size_t)(r->pos + 1);
    c.attn = malloc(n * sizeof(float));
    memcpy(c.attn, r->attn, n * sizeof(float));
    size_t rows = (size_t)s->model->cfg.n_layers * (size_t)s->model->cfg.n_kv_heads;
    c.cell_rows = NULL;
    if (r->cell_rows) {
        c.cell_rows = malloc(rows * sizeof *c.cell_rows);
        memcpy(c.cell_rows, r->cell_rows, rows * sizeof *c.cell_rows);
    }
    c.cell_runs = malloc((size_t)r->n_cell_runs * sizeof *c.cell_runs);
    memcpy(c.cell_runs, r->cell_runs, (size_t)r->n_cell_runs * sizeof *c.cell_runs);
    return c;
}

static void record_copy_free(StepRecord *c) {
    free(c->attn);
    free(c->cell_rows);
    free(c->cell_runs);
}

// The same state for every cache cell of positions 0 .. pos + 1 (one past: empty).
static void assert_same_cells(const Session *s, const StepRecord *a, const StepRecord *b,
                              const char *what) {
    const ModelConfig *c = &s->model->cfg;
    cr_assert_eq(a->n_cell_runs, b->n_cell_runs, "%s: step %d cell runs", what, a->step);
    for (int l = 0; l < c->n_layers; l++)
        for (int g = 0; g < c->n_kv_heads; g++)
            for (int p = 0; p <= a->pos + 1; p++) {
                CellStep x = session_cell(s, a, l, g, p), y = session_cell(s, b, l, g, p);
                cr_assert(x.before == y.before && x.now == y.now,
                          "%s: step %d cell (%d, %d, %d): %d/%d vs %d/%d", what, a->step, l, g, p,
                          x.before, x.now, y.before, y.now);
            }
}

static void assert_same_record(const Session *s, const StepRecord *a, const StepRecord *b,
                               bool same_time, const char *what) {
    cr_assert_eq(a->step, b->step, "%s", what);
    cr_assert_eq(a->phase, b->phase, "%s", what);
    cr_assert_eq(a->mode, b->mode, "%s", what);
    cr_assert_eq(a->pos, b->pos, "%s", what);
    cr_assert_eq(a->first, b->first, "%s", what);
    cr_assert_eq(a->token_id, b->token_id, "%s: step %d token %d vs %d", what, a->step, a->token_id,
                 b->token_id);
    cr_assert_eq(a->n_top, b->n_top, "%s", what);
    cr_assert(memcmp(a->top, b->top, sizeof a->top) == 0, "%s: top candidates", what);
    cr_assert_eq(a->attn_row0, b->attn_row0, "%s", what);
    cr_assert_eq(a->attn_rows, b->attn_rows, "%s", what);
    size_t n = (size_t)s->model->cfg.n_layers * (size_t)s->model->cfg.n_heads *
               (size_t)a->attn_rows * (size_t)(a->pos + 1);
    cr_assert(memcmp(a->attn, b->attn, n * sizeof(float)) == 0, "%s: attention", what);
    cr_assert_eq(a->written_lo, b->written_lo, "%s", what);
    cr_assert_eq(a->written_hi, b->written_hi, "%s", what);
    cr_assert_eq(a->recomputed_lo, b->recomputed_lo, "%s", what);
    cr_assert_eq(a->recomputed_hi, b->recomputed_hi, "%s", what);
    cr_assert_eq(a->read_hi, b->read_hi, "%s", what);
    cr_assert_eq(a->cache_len_before, b->cache_len_before, "%s", what);
    cr_assert_eq(a->cache_len_after, b->cache_len_after, "%s", what);
    assert_same_cells(s, a, b, what);
    cr_assert(memcmp(&a->counted, &b->counted, sizeof a->counted) == 0, "%s: counted", what);
    cr_assert(memcmp(&a->total, &b->total, sizeof a->total) == 0, "%s: total", what);
    cr_assert_eq(a->kv_bytes_resident, b->kv_bytes_resident, "%s", what);
    if (same_time)
        cr_assert_eq(a->step_ns, b->step_ns, "%s", what);
}

// Every cache cell's recorded state in r, against the rule: a position the step computed is
// written, or recomputed when one of the `seen` positions earlier steps had computed; one it did
// not compute was read from the cache, which holds it (cache mode); anything else is empty; and
// before the step, a cell is cached when it was among the `held_before` positions the cache held.
// Under full retention every (layer, kv head) row is the same: one shared row of a few runs.
static void check_cells(const Session *s, const StepRecord *r, int held_before, int seen) {
    const ModelConfig *c = &s->model->cfg;
    cr_assert_null(r->cell_rows, "step %d: rows not all shared under full retention", r->step);
    for (int l = 0; l < c->n_layers; l++)
        for (int g = 0; g < c->n_kv_heads; g++) {
            for (int p = 0; p <= r->pos + 3; p++) {
                CellState before = p <= r->pos && p < held_before ? CELL_CACHED : CELL_EMPTY;
                CellState now = CELL_EMPTY;
                if (p > r->pos)
                    now = CELL_EMPTY;
                else if (p >= r->first)
                    now = p < seen ? CELL_RECOMPUTED : CELL_WRITTEN;
                else if (r->mode == CACHE_MODE_ON)
                    now = CELL_READ;
                CellStep got = session_cell(s, r, l, g, p);
                cr_assert(got.before == before && got.now == now,
                          "step %d (%s) cell (%d, %d, %d): %d/%d, want %d/%d", r->step,
                          r->mode == CACHE_MODE_ON ? "cache" : "no cache", l, g, p, got.before,
                          got.now, before, now);
                // the cells the step leaves cached are what the engine's cache holds
                if (p <= r->pos && r == session_last(s))
                    cr_assert_eq(now != CELL_EMPTY && r->mode == CACHE_MODE_ON,
                                 kvcache_resident(&s->eng.cache, l, g, p));
            }
        }
    cr_assert_leq(r->n_cell_runs, 3, "step %d: %d runs for one row", r->step, r->n_cell_runs);
    cr_assert_eq(session_cell(s, r, -1, 0, 0).now, CELL_EMPTY);
    cr_assert_eq(session_cell(s, r, 0, c->n_kv_heads, 0).now, CELL_EMPTY);
    cr_assert_eq(session_cell(s, r, 0, 0, -1).now, CELL_EMPTY);
}

// Every field of every record, over a schedule of mode switches, with verification on.
Test(session, records_follow_the_steps, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 64);
    Session *s = &f.s;
    const ModelConfig *c = &f.m.cfg;
    KvError err = {0};
    cr_assert_eq(session_set_prompt(s, "Hello, world! Ünïcode 🙂", &err), KV_OK, "%s", err.msg);
    int np = s->n_prompt;
    cr_assert_gt(np, 10);
    session_set_verify(s, true);

    // An independent engine in cache mode gives the same greedy tokens.
    Engine ref;
    cr_assert_eq(engine_init(&ref, &f.m, &err), KV_OK, "%s", err.msg);

    const char *schedule = "CCCNNCCNCCCNNNCC";
    int n_steps = (int)strlen(schedule);
    Counters total;
    memset(&total, 0, sizeof total);
    int prev_after = 0;
    bool prev_on = false;
    for (int i = 0; i < n_steps; i++) {
        CacheMode mode = schedule[i] == 'C' ? CACHE_MODE_ON : CACHE_MODE_OFF;
        session_set_mode(s, mode);
        cr_assert(session_step(s), "step %d", i);
        const StepRecord *r = session_last(s);
        cr_assert_not_null(r);
        cr_assert_eq(s->cursor, i + 1);
        cr_assert_eq(s->n_tokens, np + i + 1);
        int pos = np - 1 + i, len = pos + 1;
        cr_assert_eq(r->step, i);
        cr_assert_eq(r->phase, i == 0 ? PHASE_PREFILL : PHASE_DECODE, "step %d phase", i);
        cr_assert_eq(r->mode, mode);
        cr_assert_eq(r->pos, pos, "step %d pos %d, want %d", i, r->pos, pos);
        int want_first = mode == CACHE_MODE_ON && prev_on ? pos : 0;
        cr_assert_eq(r->first, want_first, "step %d (%c) first %d, want %d", i, schedule[i],
                     r->first, want_first);
        cr_assert_eq(r->token_id, s->tokens[pos + 1]);
        cr_assert_float_eq(r->temperature, 0.0f, 0.0f);

        // the same token from an independent cached run (greedy)
        Counters scratch;
        memset(&scratch, 0, sizeof scratch);
        engine_step(&ref, s->tokens, len, CACHE_MODE_ON, NULL, &scratch);
        int best = 0;
        for (int v = 1; v < c->vocab_size; v++)
            if (ref.logits[v] > ref.logits[best])
                best = v;
        cr_assert_eq(r->token_id, best, "step %d: session chose %d, an engine alone %d", i,
                     r->token_id, best);

        // top candidates: softmax of the logits, most probable first, the chosen one first
        cr_assert_eq(r->n_top, SESSION_TOP);
        cr_assert_eq(r->top[0].id, r->token_id);
        float psum = 0;
        for (int k = 0; k < r->n_top; k++) {
            cr_assert(r->top[k].prob > 0 && r->top[k].prob <= 1);
            if (k)
                cr_assert(r->top[k].prob <= r->top[k - 1].prob);
            for (int j = 0; j < k; j++)
                cr_assert_neq(r->top[k].id, r->top[j].id);
            psum += r->top[k].prob;
        }
        cr_assert(psum <= 1.0f + 1e-5f);
        Candidate want_top[SESSION_TOP];
        int nt = top_candidates(ref.logits, c->vocab_size, 1.0f, want_top, SESSION_TOP);
        cr_assert_eq(nt, SESSION_TOP);
        for (int k = 0; k < nt; k++) {
            cr_assert_eq(r->top[k].id, want_top[k].id, "step %d candidate %d", i, k);
            cr_assert_float_eq(r->top[k].prob, want_top[k].prob, 1e-4f);
        }

        // attention: rows of the whole causal matrix for the prefill, the last row otherwise
        cr_assert_eq(r->attn_row0, i == 0 ? 0 : pos, "step %d attn_row0", i);
        cr_assert_eq(r->attn_rows, i == 0 ? np : 1, "step %d attn_rows", i);
        for (int l = 0; l < c->n_layers; l++)
            for (int h = 0; h < c->n_heads; h++)
                for (int rr = 0; rr < r->attn_rows; rr++) {
                    int row = r->attn_row0 + rr;
                    const float *a =
                        r->attn + (((size_t)l * c->n_heads + h) * r->attn_rows + rr) * (pos + 1);
                    double sum = 0;
                    for (int col = 0; col <= pos; col++) {
                        cr_assert(a[col] >= 0 && a[col] <= 1);
                        if (col > row)
                            cr_assert_eq(a[col], 0.0f, "step %d: weight past the row", i);
                        sum += a[col];
                        if (col <= row && (col % 3 == 0 || col == row))
                            cr_assert_eq(session_attention(s, row, col, l, h), a[col]);
                    }
                    cr_assert(fabs(sum - 1.0) <= 1e-5, "step %d layer %d head %d row %d: sum %g", i,
                              l, h, row, sum);
                }
        // head -1: the mean over heads
        float mean = 0;
        for (int h = 0; h < c->n_heads; h++)
            mean += session_attention(s, pos, 0, 1, h);
        cr_assert_float_eq(session_attention(s, pos, 0, 1, -1), mean / c->n_heads, 1e-6f);

        // cells: computed = [first, len); recomputed = the part an earlier step had computed
        int seen = i == 0 ? 0 : len - 1;
        int rec_hi = r->first < seen ? seen : r->first;
        cr_assert_eq(r->recomputed_lo, r->first, "step %d recomputed_lo", i);
        cr_assert_eq(r->recomputed_hi, rec_hi, "step %d recomputed_hi", i);
        cr_assert_eq(r->written_lo, rec_hi, "step %d written_lo", i);
        cr_assert_eq(r->written_hi, len, "step %d written_hi", i);
        cr_assert_eq(r->read_hi, len);
        cr_assert_eq(r->cache_len_before, prev_after, "step %d cache_len_before", i);
        cr_assert_eq(r->cache_len_after, mode == CACHE_MODE_ON ? len : 0);
        cr_assert_eq(r->kv_bytes_resident,
                     (uint64_t)r->cache_len_after * config_kv_bytes_per_token(c));
        check_cells(s, r, prev_after, i == 0 ? 0 : len - 1);

        // counters: the closed form, and cumulative totals
        uint64_t want[FLOP_COMPONENTS];
        tu_flops(c, r->first, len - r->first, 1, want);
        for (int k = 0; k < FLOP_COMPONENTS; k++)
            cr_assert_eq(r->counted.flops[k], want[k], "step %d %s", i, flop_component_names[k]);
        cr_assert_eq(r->counted.positions, (uint64_t)(len - r->first));
        counters_add(&total, &r->counted);
        cr_assert(memcmp(&r->total, &total, sizeof total) == 0, "step %d cumulative totals", i);
        cr_assert_gt(r->step_ns, 0);
        // the other mode, run beside it, gives the same logits: the largest difference is 0, and
        // an independent cached engine gives the same bits
        cr_assert(r->max_logit_diff == 0.0f, "step %d: max_logit_diff %g", i, r->max_logit_diff);
        cr_assert(memcmp(s->eng.logits, ref.logits, (size_t)c->vocab_size * sizeof(float)) == 0,
                  "step %d (%c): the session's logits differ from a cached engine's", i,
                  schedule[i]);

        prev_after = r->cache_len_after;
        prev_on = mode == CACHE_MODE_ON;
    }
    session_set_verify(s, false);
    session_set_mode(s, CACHE_MODE_ON);
    cr_assert(session_step(s));
    cr_assert_float_eq(session_last(s)->max_logit_diff, -1.0f, 0.0f);
    engine_free(&ref);
    fixture_free(&f);
}

// Back then forward gives back the very same records; a new session with the same settings
// gives the same records (the sampler is deterministic per seed).
Test(session, back_and_forward_exact, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 64);
    Session *s = &f.s;
    KvError err = {0};
    SamplerSettings ss = {.temperature = 0.9f, .top_p = 0.9f, .top_k = 0, .seed = 7};
    session_set_sampler(s, ss);
    cr_assert_eq(session_set_prompt(s, "the cat sat", &err), KV_OK, "%s", err.msg);
    enum { N = 14 };
    StepRecord copies[N];
    for (int i = 0; i < N; i++) {
        session_set_mode(s, i == 6 || i == 7 ? CACHE_MODE_OFF : CACHE_MODE_ON);
        cr_assert(session_step(s));
        copies[i] = record_copy(s, session_last(s));
    }
    int n_tokens = s->n_tokens;
    // back five steps, checking each time what is current
    for (int k = 0; k < 5; k++) {
        cr_assert(session_back(s));
        cr_assert_eq(s->cursor, N - 1 - k);
        cr_assert_eq(s->n_tokens, n_tokens - 1 - k);
        assert_same_record(s, session_last(s), &copies[N - 2 - k], true, "after back");
    }
    // and forward again: the same records (the mode of the next step is the last one set: on)
    for (int k = 0; k < 5; k++) {
        cr_assert(session_step(s));
        assert_same_record(s, session_last(s), &copies[N - 5 + k], false, "back then forward");
    }
    cr_assert_eq(s->n_tokens, n_tokens);

    // back into the no-cache stretch and forward through it in cache mode: the tokens and
    // logits still agree (the cache is rebuilt), the records differ in what was computed
    for (int k = 0; k < 8; k++)
        cr_assert(session_back(s));
    cr_assert_eq(s->cursor, N - 8);
    for (int k = 0; k < 8; k++) {
        cr_assert(session_step(s));
        const StepRecord *r = session_last(s);
        cr_assert_eq(r->token_id, copies[N - 8 + k].token_id, "redo step %d", N - 8 + k);
        cr_assert_eq(r->pos, copies[N - 8 + k].pos);
    }

    // an identical second session
    Session s2;
    cr_assert_eq(session_init(&s2, &f.m, &f.t, &err), KV_OK, "%s", err.msg);
    session_set_sampler(&s2, ss);
    cr_assert_eq(session_set_prompt(&s2, "the cat sat", &err), KV_OK, "%s", err.msg);
    for (int i = 0; i < N; i++) {
        session_set_mode(&s2, i == 6 || i == 7 ? CACHE_MODE_OFF : CACHE_MODE_ON);
        cr_assert(session_step(&s2));
        assert_same_record(&s2, session_last(&s2), &copies[i], false, "second session");
    }
    // reset starts over with the same seed: the same tokens again
    session_reset(&s2);
    cr_assert_eq(s2.cursor, 0);
    cr_assert_eq(s2.n_tokens, s2.n_prompt);
    cr_assert_null(session_last(&s2));
    cr_assert(!session_back(&s2));
    for (int i = 0; i < N; i++) {
        session_set_mode(&s2, i == 6 || i == 7 ? CACHE_MODE_OFF : CACHE_MODE_ON);
        cr_assert(session_step(&s2));
        cr_assert_eq(session_last(&s2)->token_id, copies[i].token_id, "after reset, step %d", i);
    }
    session_free(&s2);
    for (int i = 0; i < N; i++)
        record_copy_free(&copies[i]);
    fixture_free(&f);
}

// Generation stops at the context: the last token may sit at position seq_len (as llama2.c
// prints it), never beyond.
Test(session, context_limit, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 24);
    Session *s = &f.s;
    KvError err = {0};
    cr_assert_eq(session_set_prompt(s, "abc", &err), KV_OK, "%s", err.msg);
    int steps = 0;
    while (session_step(s))
        steps++;
    cr_assert(session_at_limit(s));
    cr_assert_eq(s->n_tokens, f.m.cfg.seq_len + 1);
    cr_assert_eq(steps, f.m.cfg.seq_len + 1 - s->n_prompt);
    cr_assert(!session_step(s));
    cr_assert_eq(s->cursor, steps);
    cr_assert_eq(session_last(s)->pos, f.m.cfg.seq_len - 1);
    fixture_free(&f);
}

Test(session, bad_prompts, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 24);
    Session *s = &f.s;
    KvError err = {0};
    cr_assert_eq(session_set_prompt(s, "ab\xff", &err), KV_ERR_INPUT, "invalid UTF-8 accepted");
    cr_assert_eq(session_set_prompt(s, "\xc3", &err), KV_ERR_INPUT, "truncated UTF-8 accepted");
    cr_assert_eq(session_set_prompt(s, "\xc0\xaf", &err), KV_ERR_INPUT, "overlong UTF-8 accepted");
    cr_assert_eq(session_set_prompt(s, "\xed\xa0\x80", &err), KV_ERR_INPUT,
                 "UTF-16 surrogate accepted");
    // 30 x "!" is 31 tokens with the dummy prefix, plus BOS: beyond a context of 24
    cr_assert_eq(session_set_prompt(s, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, "prompt") != NULL, "message names the prompt: %s", err.msg);
    // the session is still usable
    cr_assert_eq(session_set_prompt(s, "ok", &err), KV_OK, "%s", err.msg);
    cr_assert(session_step(s));
    fixture_free(&f);
}

// New sampler settings drop the history after the cursor.
Test(session, sampler_change_drops_future, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 48);
    Session *s = &f.s;
    KvError err = {0};
    cr_assert_eq(session_set_prompt(s, "xyz", &err), KV_OK, "%s", err.msg);
    for (int i = 0; i < 6; i++)
        cr_assert(session_step(s));
    cr_assert(session_back(s));
    cr_assert(session_back(s));
    cr_assert_eq(s->n_steps, 6);
    SamplerSettings ss = {.temperature = 1.0f, .top_p = 0.0f, .top_k = 5, .seed = 3};
    session_set_sampler(s, ss);
    cr_assert_eq(s->n_steps, 4);
    cr_assert(session_step(s));
    cr_assert_float_eq(session_last(s)->temperature, 1.0f, 0.0f);
    fixture_free(&f);
}

// ----------------------------------------------------------------------------------------------
// Trace CSV

// Splits one RFC 4180 record starting at *p into fields (owned strings); advances *p past the
// record's line break. Returns the number of fields, -1 on malformed quoting.
static int csv_record(const char **p, char **fields, int max) {
    int n = 0;
    const char *s = *p;
    for (;;) {
        TuBuf b = {0};
        tu_buf_add(&b, "", 0);
        if (*s == '"') {
            s++;
            for (;;) {
                if (!*s) {
                    free(b.s);
                    return -1;
                }
                if (*s == '"') {
                    if (s[1] == '"') {
                        tu_buf_add(&b, "\"", 1);
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                tu_buf_add(&b, s, 1);
                s++;
            }
        } else {
            while (*s && *s != ',' && *s != '\n' && *s != '\r')
                tu_buf_add(&b, s++, 1);
        }
        if (n < max)
            fields[n] = b.s;
        else
            free(b.s);
        n++;
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '\r')
            s++;
        if (*s == '\n')
            s++;
        break;
    }
    *p = s;
    return n;
}

static char *field_text(const char *text, size_t len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    trace_write_field(f, text, len);
    fclose(f);
    return buf;
}

Test(trace, field_quoting) {
    struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},   {" spaced ", " spaced "},
        {"a,b", "\"a,b\""},   {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"\"", "\"\"\"\""},   {"line\nbreak", "\"line\nbreak\""},
        {"cr\r", "\"cr\r\""}, {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = field_text(cases[i].in, strlen(cases[i].in));
        cr_assert_str_eq(got, cases[i].out, "field %zu", i);
        free(got);
    }
}

Test(trace, header_and_steps, .timeout = 60) {
    Fixture f;
    fixture_init(&f, 48);
    Session *s = &f.s;
    KvError err = {0};
    cr_assert_eq(session_set_prompt(s, "a, \"b\"", &err), KV_OK, "%s", err.msg);
    for (int i = 0; i < 5; i++) {
        session_set_mode(s, i == 3 ? CACHE_MODE_OFF : CACHE_MODE_ON);
        cr_assert(session_step(s));
    }
    char *buf = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&buf, &n);
    trace_write_header(out);
    for (int i = 0; i < s->cursor; i++)
        trace_write_step(out, s, &s->steps[i]);
    // Tokens that need quoting: a comma, a quote, a newline byte.
    const char *awkward[] = {",", "\"", "<0x0A>"};
    const char *awkward_text[] = {",", "\"", "\n"};
    for (int k = 0; k < 3; k++) {
        StepRecord r = s->steps[4];
        r.token_id = tokenizer_lookup(&f.t, awkward[k], strlen(awkward[k]));
        cr_assert_geq(r.token_id, 0);
        trace_write_step(out, s, &r);
    }
    fclose(out);

    const char *p = buf;
    char *fields[16];
    int nf = csv_record(&p, fields, 16);
    cr_assert_eq(nf, 15, "header has %d fields", nf);
    const char *names[] = {"step",
                           "phase",
                           "pos",
                           "token_id",
                           "token",
                           "mode",
                           "flops_step",
                           "flops_total",
                           "kv_bytes",
                           "step_ns",
                           "kv_resident_bytes",
                           "kl_full",
                           "top1_agree",
                           "max_logit_diff",
                           "attn_l1"};
    for (int i = 0; i < 15; i++) {
        cr_assert_str_eq(fields[i], names[i]);
        free(fields[i]);
    }
    for (int i = 0; i < s->cursor + 3; i++) {
        const StepRecord *r = &s->steps[i < s->cursor ? i : 4];
        nf = csv_record(&p, fields, 16);
        cr_assert_eq(nf, 15, "row %d has %d fields", i, nf);
        cr_assert_eq(atoi(fields[0]), r->step);
        cr_assert_str_eq(fields[1], r->phase == PHASE_PREFILL ? "prefill" : "decode");
        cr_assert_eq(atoi(fields[2]), r->pos);
        if (i < s->cursor) {
            cr_assert_eq(atoi(fields[3]), r->token_id);
            char bb[2];
            size_t len;
            const char *text = session_token_text(s, r->pos + 1, bb, &len);
            cr_assert_eq(strlen(fields[4]), len);
            cr_assert(memcmp(fields[4], text, len) == 0, "row %d token text", i);
        } else {
            cr_assert_str_eq(fields[4], awkward_text[i - s->cursor], "awkward token %d",
                             i - s->cursor);
        }
        cr_assert(strstr(fields[5], r->mode == CACHE_MODE_ON ? "cache" : "no") != NULL);
        cr_assert_eq(strtoull(fields[6], NULL, 10), counters_flops(&r->counted));
        cr_assert_eq(strtoull(fields[7], NULL, 10), counters_flops(&r->total));
        cr_assert_eq(strtoull(fields[9], NULL, 10), r->step_ns);
        cr_assert_eq(strtoull(fields[10], NULL, 10), r->kv_bytes_resident);
        for (int k = 11; k < 15; k++) // full f32 cache: no drift measured
            cr_assert_str_eq(fields[k], "", "row %d field %d", i, k);
        for (int k = 0; k < 15; k++)
            free(fields[k]);
    }
    cr_assert_eq(*p, '\0', "trailing bytes after the last row");
    free(buf);
    fixture_free(&f);
}
