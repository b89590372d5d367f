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
    fputs("step,phase,pos,token_id,token,mode,flops_step,flops_total,kv_bytes,step_ns\r\n", f);
}

void trace_write_step(FILE *f, const Session *s, const StepRecord *r) {
    char bb[2];
    size_t len;
    const char *text = tokenizer_decode(s->tok, s->tokens[r->pos], r->token_id, bb, &len);
    fprintf(f, "%d,%s,%d,%d,", r->step, r->phase == PHASE_PREFILL ? "prefill" : "decode", r->pos,
            r->token_id);
    trace_write_field(f, text, len);
    fprintf(f, ",%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\r\n",
            r->mode == CACHE_MODE_ON ? "cache" : "no-cache", counters_flops(&r->counted),
            counters_flops(&r->total), r->kv_bytes_resident, r->step_ns);
}
