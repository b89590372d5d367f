// cmd_serve.c — `kvscope serve`: many requests over one paged KV pool on the real engine. Each
// step's pool figures (and the contiguous preallocation of the same moment) to stdout as it
// runs, then every request's text and the totals; --trace writes the figures as CSV.
#include "app/app.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double pct(uint64_t part, uint64_t whole) {
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static const char *const trace_header =
    "step,running,waiting,finished,admitted,preempted,decoded,tokens,blocks_used,blocks_free,"
    "blocks_shared,blocks_saved,positions,slots_unused,paged_waste_pct,contig_reserved,"
    "contig_unused,contig_waste_pct,contig_fit,flops,flops_saved_total\n";

static void trace_row(FILE *f, const Serve *s) {
    const ServeStepStats *st = &s->last;
    fprintf(f,
            "%d,%d,%d,%d,%d,%d,%d,%" PRIu64 ",%d,%d,%d,%d,%" PRIu64 ",%" PRIu64 ",%.2f,%" PRIu64
            ",%" PRIu64 ",%.2f,%d,%" PRIu64 ",%" PRIu64 "\n",
            st->step, st->running, st->waiting, st->finished, st->admitted, st->preempted,
            st->decoded, st->tokens, st->blocks_used, st->blocks_free, st->blocks_shared,
            st->blocks_saved, st->positions, st->slots_unused,
            pct(st->slots_unused, st->slots_used), st->contig_reserved, st->contig_unused,
            pct(st->contig_unused, st->contig_reserved), st->contig_fit, st->flops,
            s->total.flops_saved);
}

static void step_line(const Serve *s) {
    const ServeStepStats *st = &s->last;
    printf("step %3d  run %2d wait %2d done %2d | +%d admitted %d preempted %d decoded | blocks "
           "%d/%d used, %d shared | %" PRIu64 " tokens | paged waste %.1f%% | contiguous %" PRIu64
           " reserved, waste %.1f%%, fits %d\n",
           st->step, st->running, st->waiting, st->finished, st->admitted, st->preempted,
           st->decoded, st->blocks_used, s->pool.n_blocks, st->blocks_shared, st->tokens,
           pct(st->slots_unused, st->slots_used), st->contig_reserved,
           pct(st->contig_unused, st->contig_reserved), st->contig_fit);
}

// A request's text on one line: newlines and controls escaped.
static void text_line(const char *t) {
    for (; *t; t++) {
        const unsigned char ch = (unsigned char)*t;
        if (ch == '\n')
            fputs("\\n", stdout);
        else if (ch < 0x20 || ch == 0x7f)
            printf("\\x%02x", ch);
        else
            putchar(ch);
    }
    putchar('\n');
}

void app_serve_defaults(ServeOptions *o) {
    memset(o, 0, sizeof *o);
    o->block = KV_PAGED_BLOCK_DEFAULT;
    o->sharing = true;
}

int app_parse_serve(int argc, char **argv, int *i, ServeOptions *o, KvError *err) {
    const char *opt = argv[*i], *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(opt, "--no-prefix-sharing") == 0) {
        o->sharing = false;
        return 1;
    }
    if (strcmp(opt, "--prefix-cache") == 0) {
        o->keep_freed = true;
        return 1;
    }
    static const char *const with_value[] = {"--requests", "--serve", "--blocks", "--block-size"};
    size_t k = 0;
    while (k < 4 && strcmp(opt, with_value[k]) != 0)
        k++;
    if (k == 4)
        return 0;
    if (!val) {
        kv_error(err, KV_ERR_INPUT, "%s: needs a value", opt);
        return -1;
    }
    *i += 1;
    if (k <= 1) // a file, or the built-in scenario by name
        o->requests = strcmp(val, "classroom") == 0 ? NULL : val, o->given = true;
    else if (app_parse_int(opt, val, 1, k == 2 ? 1 << 20 : KV_MAX_SEQ,
                           k == 2 ? &o->blocks : &o->block, err))
        return -1;
    return 1;
}

KvStatus app_serve_open(Serve *s, const Model *m, const Tokenizer *t, const ServeOptions *o,
                        KvError *err) {
    if (o->keep_freed && !o->sharing)
        return kv_error(err, KV_ERR_INPUT,
                        "--prefix-cache: keeps freed blocks for prefix sharing, which "
                        "--no-prefix-sharing turns off");
    const KvStatus st =
        serve_open(s, m, t, o->requests, (int)o->blocks, (int)o->block, o->sharing, err);
    if (!st)
        s->pool.keep_freed = o->keep_freed; // before any step: no block freed yet
    return st;
}

int cmd_serve(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *trace_path = NULL;
    ServeOptions so;
    app_serve_defaults(&so);
    KvError err = {0};
    for (int i = 1; i < argc; i++) {
        const int r = app_parse_serve(argc, argv, &i, &so, &err);
        if (r < 0)
            return app_fail(&err);
        if (r > 0)
            continue;
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        static const char *const with_value[] = {"--model", "--tokenizer", "--trace"};
        size_t k = 0;
        while (k < 3 && strcmp(opt, with_value[k]) != 0)
            k++;
        if (k == 3)
            return app_usage_error("serve", "unknown option '%s' (see kvscope --help)", opt);
        if (!val)
            return app_usage_error(opt, "needs a value");
        i++;
        if (k == 0)
            model_path = val;
        else if (k == 1)
            tok_path = val;
        else
            trace_path = val;
    }
    static const char *const csv[] = {"csv", NULL};
    const char *inputs[] = {model_path ? model_path : app_default_model(),
                            tok_path ? tok_path : app_default_tokenizer(), so.requests, NULL};
    if (trace_path && kv_check_output(trace_path, csv, inputs, &err))
        return app_fail(&err);
    Model model;
    Tokenizer tok;
    if (app_load(&model, &tok, model_path, tok_path, &err))
        return app_fail(&err);
    int status = 0;
    Serve s;
    if (app_serve_open(&s, &model, &tok, &so, &err)) {
        status = app_fail(&err);
        goto done_model;
    }
    const uint64_t pool_bytes = (uint64_t)s.pool.n_blocks * kvpool_block_bytes(&s.pool);
    const bool sharing = s.sharing;
    char *trace_buf = NULL;
    size_t trace_len = 0;
    FILE *trace = trace_path ? open_memstream(&trace_buf, &trace_len) : NULL;
    if (trace)
        fputs(trace_header, trace);
    printf("serve: %d requests (%d sequences), a pool of %d blocks of %d positions (%" PRIu64
           " bytes), prefix sharing %s%s\n",
           s.n_req, s.n_seq, s.pool.n_blocks, s.pool.block_size, pool_bytes, sharing ? "on" : "off",
           s.pool.keep_freed ? ", prefix cache on" : "");
    while (serve_step(&s)) {
        step_line(&s);
        if (trace)
            trace_row(trace, &s);
    }
    if (s.fault) {
        engine_fault(&s.eng, &err);
        status = app_fail(&err);
    }
    for (int i = 0; i < s.n_seq && !status; i++) {
        static const char *const why[] = {"", "eos", "limit", "context"};
        const ServeSeq *q = &s.seq[i];
        char text[8192];
        serve_text(&s, i, text, sizeof text);
        printf("r%d.%d [%s, %d tokens, preempted %d]: ", q->request, q->sample, why[q->why],
               q->n_tokens - q->n_prompt, q->preempted);
        text_line(text);
    }
    if (!status)
        printf("total: steps=%d tokens=%" PRIu64 " passes=%" PRIu64 " flops=%" PRIu64
               " recomputed_positions=%" PRIu64 " flops_recompute=%" PRIu64 " preemptions=%" PRIu64
               " shared_positions=%" PRIu64 " flops_saved=%" PRIu64 " copies=%" PRIu64
               " revived_blocks=%" PRIu64 "\n",
               s.step, s.total.tokens, s.total.passes, s.total.flops, s.total.recomputed,
               s.total.flops_recompute, s.total.preemptions, s.total.shared, s.total.flops_saved,
               s.total.copies, s.pool.revived);
    if (trace) {
        fclose(trace);
        if (!status && kv_write_file_atomic(trace_path, trace_buf, trace_len, &err))
            status = app_fail(&err);
        free(trace_buf);
    }
    serve_free(&s);
done_model:
    tokenizer_free(&tok);
    model_free(&model);
    return status;
}
