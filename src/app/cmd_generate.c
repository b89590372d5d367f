// cmd_generate.c — `kvscope generate`: the generated text to stdout, a per-step table to stderr,
// optionally the CSV trace. The same Session the window drives, without a picture.
#include "app/app.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void table_row(const Session *s, const StepRecord *r) {
    char bb[2], shown[64];
    size_t len, k = 0;
    const char *text = tokenizer_decode(s->tok, s->tokens[r->pos], r->token_id, bb, &len);
    for (size_t i = 0; i < len && k + 4 < sizeof shown; i++) { // escape controls for the table
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n')
            shown[k++] = '\\', shown[k++] = 'n';
        else if (ch < 0x20 || ch == 0x7f)
            shown[k++] = '?';
        else
            shown[k++] = (char)ch;
    }
    shown[k] = '\0';
    fprintf(stderr, "%5d %-7s %5d %-8s %6d %-14s %14" PRIu64 " %16" PRIu64 " %10" PRIu64 " %10.3f",
            r->step, r->phase == PHASE_PREFILL ? "prefill" : "decode", r->pos,
            r->mode == CACHE_MODE_ON ? "cache" : "no-cache", r->token_id, shown,
            counters_flops(&r->counted), counters_flops(&r->total), r->kv_bytes_resident,
            (double)r->step_ns / 1e6);
    if (r->max_logit_diff >= 0.0f)
        fprintf(stderr, " %9.2e", (double)r->max_logit_diff);
    if (r->drift_measured)
        fprintf(stderr, " %10.3e %4d", (double)r->kl_full, r->top1_agree ? 1 : 0);
    fputc('\n', stderr);
}

// The generated text goes to stdout as it is, for pipes and files. On a terminal, a token piece
// may hold escape sequences (a model or tokenizer is anyone's file) that would move the cursor,
// retitle the window or worse: control characters are shown as \xHH there (C1 controls as
// \u00HH), newlines and tabs as they are. Returns false when stdout fails (errno tells why).
static bool put_text(const char *text, size_t len, bool tty) {
    if (!tty)
        return fwrite(text, 1, len, stdout) == len;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        int r;
        if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f)
            r = printf("\\x%02x", ch);
        else if (ch == 0xc2 && i + 1 < len && (unsigned char)text[i + 1] >= 0x80 &&
                 (unsigned char)text[i + 1] <= 0x9f)
            r = printf("\\u%04x", (unsigned char)text[++i]);
        else
            r = putchar(ch);
        if (r < 0)
            return false;
    }
    return true;
}

int cmd_generate(int argc, char **argv) {
    CommonOptions o;
    app_common_defaults(&o);
    long n_steps = 64;
    const char *trace_path = NULL;
    bool verify = false;
    KvError err = {0};
    for (int i = 1; i < argc; i++) {
        int r = app_parse_common(argc, argv, &i, &o, &err);
        if (r < 0)
            return app_fail(&err);
        if (r > 0)
            continue;
        if (strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "--steps") == 0) {
            if (app_parse_int(argv[i], i + 1 < argc ? argv[i + 1] : NULL, 1, KV_MAX_SEQ, &n_steps,
                              &err))
                return app_fail(&err);
            i++;
        } else if (strcmp(argv[i], "--trace") == 0) {
            if (i + 1 >= argc)
                return app_usage_error("--trace", "needs a value");
            trace_path = argv[++i];
        } else if (strcmp(argv[i], "--verify") == 0) {
            verify = true;
        } else {
            return app_usage_error("generate", "unknown option '%s' (see kvscope --help)", argv[i]);
        }
    }
    if (!o.prompt)
        return app_usage_error("generate", "needs --prompt TEXT or --preset NAME");
    // the trace's path is checked before the run, not after it: a CSV name, a folder that can be
    // written, and not the model or tokenizer the run reads
    static const char *const csv[] = {"csv", NULL};
    const char *inputs[] = {o.model ? o.model : app_default_model(),
                            o.tokenizer ? o.tokenizer : app_default_tokenizer(), NULL};
    if (trace_path && kv_check_output(trace_path, csv, inputs, &err))
        return app_fail(&err);

    Model model;
    Tokenizer tok;
    if (app_load(&model, &tok, o.model, o.tokenizer, &err))
        return app_fail(&err);
    Session s;
    int status = 0;
    char *trace_buf = NULL;
    size_t trace_len = 0;
    FILE *trace = NULL;
    if (session_init(&s, &model, &tok, &err) || session_set_prompt(&s, o.prompt, &err)) {
        status = app_fail(&err);
        session_free(&s); // session_init zeroes s first, so this is safe after either failure
        goto done_model;
    }
    if (app_apply_kv(&o, &s, &err) || app_apply_common(&s, &o, &err)) {
        status = app_fail(&err);
        session_free(&s);
        goto done_model;
    }
    session_set_verify(&s, verify);
    session_set_lean(&s, true); // the table and the trace read the last step only
    KvCacheKind kind = o.cache; // the run's retention and precision: drift unless full f32
    kind.precision = o.kv;
    if (trace_path) {
        trace = open_memstream(&trace_buf, &trace_len);
        trace_write_header(trace);
    }
    fprintf(stderr, "%5s %-7s %5s %-8s %6s %-14s %14s %16s %10s %10s%s%s\n", "step", "phase", "pos",
            "mode", "id", "token", "flops_step", "flops_total", "kv_bytes", "ms",
            verify ? " max|dlogit|" : "", kv_kind_dense(kind) ? "" : "    kl_full top1");
    const bool tty = isatty(STDOUT_FILENO);
    for (long k = 0; k < n_steps; k++) {
        if (!session_step(&s)) {
            if (session_fault(&s, &err)) {
                status = app_fail(&err);
                break;
            }
            if (session_limit(&s) > model.cfg.seq_len) // sinks: past the context, to a limit
                fprintf(stderr,
                        "kvscope: generate: stopped at %d tokens (%d times the model's context "
                        "of %d)\n",
                        session_limit(&s) + 1, SESSION_PAST, model.cfg.seq_len);
            else
                fprintf(stderr, "kvscope: generate: stopped at the model's context of %d tokens\n",
                        model.cfg.seq_len);
            break;
        }
        const StepRecord *r = session_last(&s);
        table_row(&s, r);
        if (trace)
            trace_write_step(trace, &s, r);
        if (r->token_id == TOKEN_BOS)
            break; // BOS starts a new text: this one is over (as llama2.c)
        char bb[2];
        size_t len;
        const char *text = tokenizer_decode(&tok, s.tokens[r->pos], r->token_id, bb, &len);
        if (!put_text(text, len, tty) || fflush(stdout) != 0) {
            status = app_fail_stdout();
            break;
        }
    }
    if (!status && (putchar('\n') == EOF || fflush(stdout) != 0))
        status = app_fail_stdout();
    if (!kv_kind_dense(kind)) { // the drift from the full f32 cache, over the whole run
        DriftSummary d;
        session_drift(&s, &d);
        char name[64];
        kv_retention_name(o.cache, name, sizeof name);
        const StepRecord *last = session_last(&s);
        fprintf(stderr,
                "drift cache=%s steps=%d kl_mean=%.4g kl_max=%.4g top1_agree=%.3f "
                "max_logit_diff=%.4g attn_l1_mean=%.4g kv_resident_bytes=%" PRIu64 " kv=%s\n",
                name, d.measured, d.kl_mean, d.kl_max, d.top1_rate, d.logit_max, d.attn_l1_mean,
                last ? last->kv_bytes_resident : 0, kv_precision_name(o.kv));
    }
    if (trace) {
        fclose(trace);
        // the trace of a run that failed would be half a story: write it only after a good one
        if (!status && kv_write_file_atomic(trace_path, trace_buf, trace_len, &err))
            status = app_fail(&err);
        free(trace_buf);
    }
    session_free(&s);
done_model:
    tokenizer_free(&tok);
    model_free(&model);
    return status;
}
