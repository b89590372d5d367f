// trace.c — the per-step CSV trace of DESIGN.md, RFC 4180 quoting (token text may hold commas,
// quotes and newlines). Writes only what the StepRecords hold.
#include "sim/sim.h"

#include <inttypes.h>
#include <string.h>

void trace_write_field(FILE *f, const char *text, size_t len) {
    bool quote = false;
    for (size_t i = 0; i < len && !quote; i++)
        quote = text[i] == ',' || text[i] == '"' || text[i] == '\n' || text[i] == '\r';
    if (!quote) {
        fwrite(text, 1, len, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '"')
            fputc('"', f);
        fputc(text[i], f);
    }
    fputc('"', f);
}

void trace_write_header(FILE *f) {
    // DESIGN.md's columns, then what the cache holds and its drift from the full f32 reference
    fputs("step,phase,pos,token_id,token,mode,flops_step,flops_total,kv_bytes,step_ns,"
          "kv_resident_bytes,kl_full,top1_agree,max_logit_diff,attn_l1\r\n",
          f);
}

void trace_write_step(FILE *f, const Session *s, const StepRecord *r) {
    char bb[2];
    size_t len;
    const char *text = tokenizer_decode(s->tok, s->tokens[r->pos], r->token_id, bb, &len);
    fprintf(f, "%d,%s,%d,%d,", r->step, r->phase == PHASE_PREFILL ? "prefill" : "decode", r->pos,
            r->token_id);
    trace_write_field(f, text, len);
    fprintf(f, ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64,
            r->mode == CACHE_MODE_ON ? "cache" : "no-cache", counters_flops(&r->counted),
            counters_flops(&r->total), r->kv_bytes_resident, r->step_ns, r->kv_bytes_resident);
    if (!r->drift_measured) { // empty where not measured
        fputs(",,,,\r\n", f);
        return;
    }
    const int L = s->model->cfg.n_layers;
    double l1 = 0; // mean over layers
    for (int l = 0; l < L; l++)
        l1 += r->attn_l1[l];
    fprintf(f, ",%.9g,%d,%.9g,%.9g\r\n", (double)r->kl_full, r->top1_agree ? 1 : 0,
            (double)r->drift_logit, l1 / L);
}
