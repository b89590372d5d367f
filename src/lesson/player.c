// player.c — playing a lesson: the player that brings a Session and the view settings to any
// beat, the caption placeholders it fills in, and the table of published models the KV-cost
// lesson projects onto. Does not draw (deck.c and the window do) and does not parse (lesson.c).
#include "lesson/lesson.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ----------------------------------------------------------------------------------------------
// Published models: {kv:KEY} and the others name a row of src/sim/project.c's table by its key
// ("llama2-7b"); per-token bytes are computed from its shape at 16 bits, never typed in.

static uint64_t published_bytes_per_token(const PublishedModel *m) {
    ProjectCache pc;
    project_cache_default(&pc);
    return (uint64_t)(project_bytes_per_token(m, &pc) + 0.5);
}

// ----------------------------------------------------------------------------------------------
// Placeholders

static const char *const plain_names[] = {
    "tokens",
    "prompt_tokens",
    "steps",
    "layers",
    "heads",
    "kv_heads",
    "head_size",
    "dim",
    "context",
    "params",
    "kv_per_token",
    "kv_per_token16",
    "kv_total",
    "flops_step",
    "flops_total",
    "flops_cache",
    "flops_nocache",
    "flops_ratio",
    "step_ms",
    "logit_diff",
    "last_token",
    "flops_step_cache",
    "flops_step_nocache",
    "step_ratio",
    "kv_kind",
    "kv_f32",
    "cache",
    "kl",
    "top1",
    "kl_mean",
    "top1_rate",
    "kv_budget",
    "probe_read",
    "probe_top",
    "probe_weight",
    "probe_score",
    "split_flops",
    "split_time",
    "split_diff",
    NULL,
};
// A serving session's figures (the pool view; "-" while the lesson has none).
static const char *const serve_names[] = {
    "serve_step",  "running",      "waiting",     "preempted",     "finished",    "blocks_used",
    "blocks_free", "pool_blocks",  "block_size",  "blocks_shared", "paged_waste", "contig_waste",
    "contig_fit",  "serve_tokens", "flops_saved", "recomputed",    "copies",      NULL,
};
static const char *const model_prefixes[] = {"kv:", "kvseq:", "kvctx:", "sum:", "ratio:", NULL};

static bool placeholder_known(const char *name) {
    for (int i = 0; plain_names[i]; i++)
        if (strcmp(name, plain_names[i]) == 0)
            return true;
    for (int i = 0; serve_names[i]; i++)
        if (strcmp(name, serve_names[i]) == 0)
            return true;
    for (int i = 0; model_prefixes[i]; i++) {
        size_t n = strlen(model_prefixes[i]);
        if (strncmp(name, model_prefixes[i], n) == 0)
            return project_find_key(name + n) != NULL;
    }
    return false;
}

// Walks s; for each {name} calls fn. Returns NULL, or a problem (unclosed brace).
typedef void (*PlaceholderFn)(void *ctx, const char *literal, size_t n, const char *name);

static const char *walk(const char *s, PlaceholderFn fn, void *ctx) {
    while (*s) {
        const char *open = strchr(s, '{');
        if (!open) {
            fn(ctx, s, strlen(s), NULL);
            return NULL;
        }
        fn(ctx, s, (size_t)(open - s), NULL);
        if (open[1] == '{') {
            fn(ctx, "{", 1, NULL);
            s = open + 2;
            continue;
        }
        const char *close = strchr(open, '}');
        if (!close || close - open > 64)
            return "a '{' without its '}' (write {{ for a brace)";
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)(close - open - 1), open + 1);
        fn(ctx, NULL, 0, name);
        s = close + 1;
    }
    return NULL;
}

typedef struct {
    char *buf;
    size_t cap;
    const char *bad; // first unknown name
    char bad_name[80];
} CheckCtx;

static void check_fn(void *ctx, const char *lit, size_t n, const char *name) {
    CheckCtx *c = ctx;
    (void)lit, (void)n;
    if (name && !c->bad && !placeholder_known(name)) {
        snprintf(c->bad_name, sizeof c->bad_name, "%s", name);
        c->bad = c->bad_name;
    }
}

const char *lesson_caption_problem(const char *s, char *buf, size_t cap) {
    CheckCtx c = {.buf = buf, .cap = cap};
    const char *why = walk(s, check_fn, &c);
    if (why) {
        snprintf(buf, cap, "%s", why);
        return buf;
    }
    if (c.bad) {
        const char *colon = strchr(c.bad, ':');
        if (colon) {
            char names[320] = "";
            for (int i = 0; i < n_published_models; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                         published_models[i].key);
            snprintf(buf, cap, "unknown placeholder {%s} (known models: %s)", c.bad, names);
        } else {
            snprintf(buf, cap, "unknown placeholder {%s} (see lessons/README.md)", c.bad);
        }
        return buf;
    }
    return NULL;
}

typedef struct {
    const Session *s;
    const Serve *serve; // NULL: the lesson runs no serving session
    char *out;
    size_t cap, len;
} ExpandCtx;

static double percent(uint64_t part, uint64_t whole) {
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

// A serving session's figure: true when name is one (v filled).
static bool serve_value_of(const Serve *sv, const char *name, char *v, size_t cap) {
    int k = 0;
    while (serve_names[k] && strcmp(name, serve_names[k]) != 0)
        k++;
    if (!serve_names[k])
        return false;
    if (!sv) {
        snprintf(v, cap, "-");
        return true;
    }
    const ServeStepStats *st = &sv->last;
    const unsigned long long n[] = {(unsigned long long)sv->step,
                                    (unsigned long long)st->running,
                                    (unsigned long long)(st->waiting + st->pending),
                                    sv->total.preemptions,
                                    (unsigned long long)st->finished,
                                    (unsigned long long)st->blocks_used,
                                    (unsigned long long)st->blocks_free,
                                    (unsigned long long)sv->pool.n_blocks,
                                    (unsigned long long)sv->pool.block_size,
                                    (unsigned long long)st->blocks_shared};
    if (k < 10)
        snprintf(v, cap, "%llu", n[k]);
    else if (k == 10)
        snprintf(v, cap, "%.0f%%", percent(st->slots_unused, st->slots_used));
    else if (k == 11)
        snprintf(v, cap, "%.0f%%", percent(st->contig_unused, st->contig_reserved));
    else if (k == 12)
        snprintf(v, cap, "%d", st->contig_fit);
    else if (k == 13)
        snprintf(v, cap, "%llu", (unsigned long long)sv->total.tokens);
    else if (k == 14)
        kv_format_number(v, cap, (double)sv->total.flops_saved, KV_NUM_SI_SHORT, "FLOP");
    else if (k == 15)
        snprintf(v, cap, "%llu", (unsigned long long)sv->total.recomputed);
    else
        snprintf(v, cap, "%llu", (unsigned long long)sv->total.copies);
    return true;
}

static void put(ExpandCtx *c, const char *s, size_t n) {
    if (c->len + 1 >= c->cap)
        return;
    if (n > c->cap - 1 - c->len)
        n = c->cap - 1 - c->len;
    memcpy(c->out + c->len, s, n);
    c->len += n;
    c->out[c->len] = '\0';
}

static void value_of(const Session *s, const char *name, char *v, size_t cap) {
    const ModelConfig *c = &s->model->cfg;
    const StepRecord *r = session_last(s);
    const int steps = s->cursor;
    const uint64_t per_token = config_kv_bytes_per_token(c);
    const uint64_t per_token16 = config_kv_bytes_per_token_bits(c, 16);
    if (strcmp(name, "tokens") == 0)
        snprintf(v, cap, "%d", s->n_tokens);
    else if (strcmp(name, "prompt_tokens") == 0)
        snprintf(v, cap, "%d", s->n_prompt);
    else if (strcmp(name, "steps") == 0)
        snprintf(v, cap, "%d", steps);
    else if (strcmp(name, "layers") == 0)
        snprintf(v, cap, "%d", c->n_layers);
    else if (strcmp(name, "heads") == 0)
        snprintf(v, cap, "%d", c->n_heads);
    else if (strcmp(name, "kv_heads") == 0)
        snprintf(v, cap, "%d", c->n_kv_heads);
    else if (strcmp(name, "head_size") == 0)
        snprintf(v, cap, "%d", config_head_size(c));
    else if (strcmp(name, "dim") == 0)
        snprintf(v, cap, "%d", c->dim);
    else if (strcmp(name, "context") == 0)
        snprintf(v, cap, "%d", c->seq_len);
    else if (strcmp(name, "params") == 0)
        kv_format_number(v, cap, (double)config_param_count(c), KV_NUM_COUNT, "");
    else if (strcmp(name, "kv_per_token") == 0)
        kv_format_bytes(v, cap, per_token);
    else if (strcmp(name, "kv_per_token16") == 0)
        kv_format_bytes(v, cap, per_token16);
    else if (strcmp(name, "kv_total") == 0)
        kv_format_bytes(v, cap, r ? r->kv_bytes_resident : 0);
    else if (strcmp(name, "kv_f32") == 0) // what the same positions would take in f32
        kv_format_bytes(v, cap, r ? r->kv_bytes_f32 : 0);
    else if (strcmp(name, "kv_kind") == 0)
        snprintf(v, cap, "%s", kv_precision_name(s->eng.cache.kind.precision));
    else if (strcmp(name, "flops_step") == 0)
        kv_format_number(v, cap, (double)(r ? counters_flops(&r->counted) : 0), KV_NUM_SI_SHORT,
                         "FLOP");
    else if (strcmp(name, "flops_total") == 0)
        kv_format_number(v, cap, (double)(r ? counters_flops(&r->total) : 0), KV_NUM_SI_SHORT,
                         "FLOP");
    else if (strcmp(name, "flops_cache") == 0)
        kv_format_number(v, cap, (double)(flops_formula_run(c, true, s->n_prompt, steps)),
                         KV_NUM_SI_SHORT, "FLOP");
    else if (strcmp(name, "flops_nocache") == 0)
        kv_format_number(v, cap, (double)(flops_formula_run(c, false, s->n_prompt, steps)),
                         KV_NUM_SI_SHORT, "FLOP");
    else if (strcmp(name, "flops_step_cache") == 0 || strcmp(name, "flops_step_nocache") == 0 ||
             strcmp(name, "step_ratio") == 0) {
        // the last step's query position, in each mode (before any step: the prefill's)
        const int pos = r ? r->pos : s->n_tokens - 1;
        uint64_t a[FLOP_COMPONENTS], b[FLOP_COMPONENTS], fa = 0, fb = 0;
        flops_formula(c, pos, 1, 1, a);
        flops_formula(c, 0, pos + 1, 1, b);
        for (int i = 0; i < FLOP_COMPONENTS; i++)
            fa += a[i], fb += b[i];
        if (strcmp(name, "flops_step_cache") == 0)
            kv_format_number(v, cap, (double)(fa), KV_NUM_SI_SHORT, "FLOP");
        else if (strcmp(name, "flops_step_nocache") == 0)
            kv_format_number(v, cap, (double)(fb), KV_NUM_SI_SHORT, "FLOP");
        else {
            char num[32];
            kv_format_number(num, sizeof num, (double)fb / (double)(fa ? fa : 1), KV_NUM_PLAIN, "");
            snprintf(v, cap, "%sx", num);
        }
    } else if (strcmp(name, "flops_ratio") == 0) {
        uint64_t a = flops_formula_run(c, true, s->n_prompt, steps);
        uint64_t b = flops_formula_run(c, false, s->n_prompt, steps);
        char num[32];
        kv_format_number(num, sizeof num, a ? (double)b / (double)a : 1.0, KV_NUM_PLAIN, "");
        snprintf(v, cap, "%sx", num);
    } else if (strcmp(name, "step_ms") == 0)
        snprintf(v, cap, "%.2f ms", r ? (double)r->step_ns / 1e6 : 0.0);
    else if (strcmp(name, "cache") == 0)
        kv_retention_name(s->cache_kind, v, cap);
    else if (strcmp(name, "kl") == 0 || strcmp(name, "top1") == 0) {
        if (!r || !r->drift_measured)
            snprintf(v, cap, "(not measured)");
        else if (strcmp(name, "kl") == 0)
            snprintf(v, cap, "%.3g nats", (double)r->kl_full);
        else
            snprintf(v, cap, "%s", r->top1_agree ? "the same" : "a different");
    } else if (strcmp(name, "kl_mean") == 0 || strcmp(name, "top1_rate") == 0) {
        DriftSummary d;
        session_drift(s, &d);
        if (!d.measured)
            snprintf(v, cap, "(not measured)");
        else if (strcmp(name, "kl_mean") == 0)
            snprintf(v, cap, "%.3g nats", d.kl_mean);
        else
            snprintf(v, cap, "%.0f%%", 100.0 * d.top1_rate);
    } else if (strcmp(name, "kv_budget") == 0) {
        const int b = kv_kind_budget(s->cache_kind);
        kv_format_bytes(v, cap, (uint64_t)(b ? b : c->seq_len) * config_kv_bytes_per_token(c));
    } else if (strncmp(name, "split_", 6) == 0) { // side by side (split on)
        SessionTotals a, b;
        const Session *t = s->twin;
        if (!t || !r) {
            snprintf(v, cap, "(split the screen first)");
            return;
        }
        const bool on = r->mode == CACHE_MODE_ON;
        session_totals(on ? s : t, &a); // with the cache
        session_totals(on ? t : s, &b); // without
        const float d = session_twin_logit_diff(s);
        if (strcmp(name, "split_diff") == 0)
            snprintf(v, cap, d < 0 ? "(not measured)" : d == 0 ? "0" : "%.2g", (double)d);
        else if (strcmp(name, "split_flops") == 0)
            snprintf(v, cap, "%.1fx", a.flops ? (double)b.flops / (double)a.flops : 0.0);
        else
            snprintf(v, cap, "%.1fx", a.ns ? (double)b.ns / (double)a.ns : 0.0);
    } else if (strncmp(name, "probe_", 6) == 0) { // the inspector's numbers (inspect ...)
        const AttnProbe *p = session_probe(s, s->probe.layer, s->probe.head);
        if (!p || p->n == 0) {
            snprintf(v, cap, "(inspect a cell first)");
            return;
        }
        int top = 0;
        for (int i = 1; i < p->n; i++)
            if (p->weights[i] > p->weights[top])
                top = i;
        if (strcmp(name, "probe_read") == 0) {
            snprintf(v, cap, "%d", p->n);
        } else if (strcmp(name, "probe_weight") == 0) {
            snprintf(v, cap, "%.3f", (double)p->weights[top]);
        } else if (strcmp(name, "probe_score") == 0) {
            snprintf(v, cap, "%.3f", (double)p->scores[top]);
        } else {
            char bb[2];
            size_t n;
            const int at = p->row_pos[top];
            const char *t = session_token_text(s, at, bb, &n);
            char tok[64];
            size_t k = 0;
            for (size_t i = 0; i < n && k + 1 < sizeof tok; i++)
                if ((unsigned char)t[i] >= 0x20 && t[i] != 0x7f)
                    tok[k++] = t[i];
            tok[k] = '\0';
            snprintf(v, cap, "position %d \u201c%s\u201d", at, tok);
        }
    } else if (strcmp(name, "logit_diff") == 0) {
        if (r && r->max_logit_diff >= 0.0f)
            snprintf(v, cap, "%.1e", (double)r->max_logit_diff);
        else
            snprintf(v, cap, "(not measured)");
    } else if (strcmp(name, "last_token") == 0) {
        if (!r) {
            snprintf(v, cap, "(none yet)");
            return;
        }
        char bb[2];
        size_t n;
        const char *t = tokenizer_decode(s->tok, s->tokens[r->pos], r->token_id, bb, &n);
        size_t k = 0;
        if (k + 1 < cap)
            v[k++] = '"';
        for (size_t i = 0; i < n && k + 4 < cap; i++) {
            unsigned char ch = (unsigned char)t[i];
            if (ch == '\n')
                v[k++] = '\\', v[k++] = 'n';
            else if (ch >= 0x20 && ch != 0x7f)
                v[k++] = (char)ch;
        }
        if (k + 1 < cap)
            v[k++] = '"';
        v[k] = '\0';
    } else { // a known model
        const char *colon = strchr(name, ':');
        const PublishedModel *k = colon ? project_find_key(colon + 1) : NULL;
        if (!k) {
            snprintf(v, cap, "{%s}", name);
            return;
        }
        uint64_t b = published_bytes_per_token(k);
        size_t pre = (size_t)(colon - name);
        if (strncmp(name, "kv", pre) == 0 && pre == 2)
            kv_format_bytes(v, cap, b);
        else if (strncmp(name, "kvseq", pre) == 0 && pre == 5)
            kv_format_bytes(v, cap, b * (uint64_t)s->n_tokens);
        else if (strncmp(name, "kvctx", pre) == 0 && pre == 5)
            kv_format_bytes(v, cap, b * (uint64_t)k->context);
        else if (strncmp(name, "ratio", pre) == 0 && pre == 5) {
            char num[32];
            double ratio = (double)b / (double)(per_token ? per_token : 1);
            if (ratio >= 1000)
                snprintf(num, sizeof num, "%.0f", ratio);
            else
                kv_format_number(num, sizeof num, ratio, KV_NUM_PLAIN, "");
            snprintf(v, cap, "%sx", num);
        } else { // sum
            char bytes[32];
            kv_format_bytes(bytes, sizeof bytes, b);
            if (k->attn == PROJECT_ATTN_MLA)
                snprintf(v, cap, "%d x (%d + %d) x 2 bytes = %s", k->layers, k->mla_latent,
                         k->mla_rope, bytes);
            else
                snprintf(v, cap, "2 x %d x %d x %d x 2 bytes = %s", k->layers, k->kv_heads,
                         k->head_size, bytes);
        }
    }
}

static void expand_fn(void *ctx, const char *lit, size_t n, const char *name) {
    ExpandCtx *c = ctx;
    if (!name) {
        put(c, lit, n);
        return;
    }
    char v[256];
    if (!serve_value_of(c->serve, name, v, sizeof v))
        value_of(c->s, name, v, sizeof v);
    put(c, v, strlen(v));
}

static void expand_with(const Session *s, const Serve *serve, const char *in, char *out,
                        size_t cap) {
    ExpandCtx c = {.s = s, .serve = serve, .out = out, .cap = cap};
    if (cap)
        out[0] = '\0';
    walk(in, expand_fn, &c);
}

void lesson_expand(const Session *s, const char *in, char *out, size_t cap) {
    expand_with(s, NULL, in, out, cap);
}

// ----------------------------------------------------------------------------------------------
// The player

static const SamplerSettings lesson_sampler_defaults = {
    .temperature = 0.0f, .top_p = 0.9f, .top_k = 0, .seed = 42};

static void serve_drop(LessonPlayer *p) {
    if (!p->serve)
        return;
    serve_free(p->serve);
    free(p->serve);
    p->serve = NULL;
}

static void player_start(LessonPlayer *p) {
    serve_drop(p); // a replay makes its serving session again
    p->serve_blocks = 0;
    p->serve_sharing = true;
    p->beat = -1;
    p->pc = 0;
    p->vs = (LessonViewState){.kind = VIEW_SEQUENCE,
                              .layer = VIEW_ALL_LAYERS,
                              .head = VIEW_HEAD_MEAN,
                              .theme = THEME_DARK,
                              .zoom = 1.0,
                              .panels = true,
                              .memory_model = -1};
    View v0;
    view_init(&v0);
    p->vs.camera = v0.camera;
    p->vs.orbit_az = v0.orbit_az;
    p->vs.orbit_el = v0.orbit_el;
    p->sampler = lesson_sampler_defaults;
    p->raw_title[0] = p->raw_text[0] = '\0';
    p->title[0] = p->text[0] = '\0';
    session_set_verify(p->session, false);
    session_set_twin(p->session, false);                // no side by side until a `split on`
    session_set_kv(p->session, KV_PRECISION_F32, NULL); // every lesson starts in f32 (any policy)
    session_set_mode(p->session, CACHE_MODE_ON);
    KvError e; // every lesson starts with the full cache (a lesson stays inside the context)
    session_set_cache(p->session, KV_CACHE_DENSE, &e);
    session_set_sampler(p->session, p->sampler);
}

void lesson_player_init(LessonPlayer *p, const Lesson *l, Session *s) {
    memset(p, 0, sizeof *p);
    p->lesson = l;
    p->session = s;
    player_start(p);
}

// Runs one command. Only a prompt the session refuses can fail (lesson_check prevents it).
static KvStatus run(LessonPlayer *p, const LessonCmd *c, KvError *err) {
    Session *s = p->session;
    switch (c->op) {
    case LESSON_PROMPT:
        return session_set_prompt(s, c->str, err);
    case LESSON_TEMPERATURE:
        p->sampler.temperature = (float)c->x;
        session_set_sampler(s, p->sampler);
        break;
    case LESSON_TOP_K:
        p->sampler.top_k = (int)c->n;
        session_set_sampler(s, p->sampler);
        break;
    case LESSON_TOP_P:
        p->sampler.top_p = (float)c->x;
        session_set_sampler(s, p->sampler);
        break;
    case LESSON_SEED:
        kv_parse_seed("seed", c->str, &p->sampler.seed, NULL); // checked by the parser
        session_set_sampler(s, p->sampler);
        break;
    case LESSON_CACHE:
        if (c->n == 2) { // a policy: the cache on, with that retention
            KvCacheKind kind = s->cache_kind;
            KvError e = {0};
            if (kv_parse_retention("cache", c->str, &kind, &e) || session_set_cache(s, kind, &e))
                return kv_error(err, KV_ERR_INPUT, "%s:%d: %s", p->lesson->path, c->line, e.msg);
        }
        session_set_mode(s, c->n ? CACHE_MODE_ON : CACHE_MODE_OFF);
        break;
    case LESSON_VERIFY:
        session_set_verify(s, c->n != 0);
        break;
    case LESSON_KV: {
        KvError e = {0}; // lesson_check refuses a precision the lesson's policy cannot take
        if (session_set_kv(s, (KvPrecision)c->n, &e))
            return kv_error(err, KV_ERR_INPUT, "%s:%d: %s", p->lesson->path, c->line, e.msg);
        break;
    }
    case LESSON_STEP:
        for (long i = 0; i < c->n; i++)
            if (!session_step(s))
                return session_fault(s, err)
                           ? err->code
                           : kv_error(err, KV_ERR_INPUT, "%s:%d: step: the model's context is full",
                                      p->lesson->path, c->line);
        break;
    case LESSON_BACK:
        for (long i = 0; i < c->n; i++)
            session_back(s);
        break;
    case LESSON_RESET:
        session_reset(s);
        break;
    case LESSON_VIEW: { // view split: the split screen; another view: that view alone
        const bool split = c->n == VIEW_KINDS;
        p->vs.kind = split ? VIEW_SEQUENCE : (ViewKind)c->n;
        if (split != p->vs.split)
            session_set_twin(s, split);
        p->vs.split = split;
        break;
    }
    case LESSON_SAMPLING_SCALE:
        p->vs.sampling_log = c->n == 1;
        break;
    case LESSON_CAMERA: {
        View v;
        view_init(&v);
        v.orbit_az = p->vs.orbit_az;
        v.orbit_el = p->vs.orbit_el;
        char why[160];
        if (view_camera_parse(c->str, &v, why, sizeof why)) { // the parser checked it
            p->vs.camera = v.camera;
            p->vs.orbit_az = v.orbit_az;
            p->vs.orbit_el = v.orbit_el;
        }
        break;
    }
    case LESSON_LAYER:
        p->vs.layer = (int)c->n;
        break;
    case LESSON_HEAD:
        p->vs.head = (int)c->n;
        break;
    case LESSON_THEME:
        p->vs.theme = (ThemeKind)c->n;
        break;
    case LESSON_ZOOM:
        p->vs.zoom = c->x;
        break;
    case LESSON_PANELS:
        p->vs.panels = c->n != 0;
        break;
    case LESSON_PROJECT_MODEL:
        p->vs.memory_model = (int)c->n;
        break;
    case LESSON_PROJECT_LENGTH:
        p->vs.memory_length = c->n;
        break;
    case LESSON_PROJECT_LOG:
        p->vs.memory_log = c->n != 0;
        break;
    case LESSON_SPLIT: // the twin from here on, so the next steps are measured on both sides
        p->vs.split = c->n != 0;
        session_set_twin(s, p->vs.split);
        break;
    case LESSON_INSPECT:
        p->vs.inspect = c->n >= 0;
        if (c->n >= 0) {
            p->vs.inspect_layer = (int)c->n;
            p->vs.inspect_pos = (int)c->x;
            p->vs.inspect_head = (int)c->n2;
        }
        break;
    case LESSON_CAPTION:
        snprintf(p->raw_title, sizeof p->raw_title, "%s", c->str);
        p->raw_text[0] = '\0';
        break;
    case LESSON_GLOSSARY: { // the entry as the caption; its braces are not placeholders
        snprintf(p->raw_title, sizeof p->raw_title, "%s", c->str);
        size_t o = 0;
        for (const char *q = c->def ? c->def : ""; *q && o + 3 < sizeof p->raw_text; q++) {
            if (*q == '{')
                p->raw_text[o++] = '{';
            p->raw_text[o++] = *q;
        }
        p->raw_text[o] = '\0';
        break;
    }
    case LESSON_TEXT: {
        size_t n = strlen(p->raw_text);
        snprintf(p->raw_text + n, sizeof p->raw_text - n, "%s%s", n ? " " : "", c->str);
        break;
    }
    case LESSON_SERVE: { // a new serving session over the lesson's model, from its first step
        serve_drop(p);
        p->serve = kv_malloc(sizeof *p->serve);
        KvError e = {0};
        if (serve_open(p->serve, s->model, s->tok, c->str, p->serve_blocks, KV_PAGED_BLOCK_DEFAULT,
                       p->serve_sharing, &e)) { // lesson_check loaded it already
            free(p->serve);
            p->serve = NULL;
            return kv_error(err, KV_ERR_INPUT, "%s:%d: serve: %s", p->lesson->path, c->line, e.msg);
        }
        break;
    }
    case LESSON_SERVE_STEP:
        if (!p->serve)
            return kv_error(err, KV_ERR_INPUT,
                            "%s:%d: serve-step: no serving session (serve first)", p->lesson->path,
                            c->line);
        for (long i = 0; i < c->n && serve_step(p->serve); i++)
            ;
        if (p->serve->fault)
            return engine_fault(&p->serve->eng, err);
        break;
    case LESSON_SERVE_BLOCKS:
        p->serve_blocks = (int)c->n;
        break;
    case LESSON_SERVE_SHARING:
        p->serve_sharing = c->n != 0;
        break;
    case LESSON_BEAT: {
        p->beat++;
        View v; // the inspector's numbers first: {probe_*} placeholders read them
        view_init(&v);
        lesson_player_view(p, &v);
        view_prepare(s, &v);
        expand_with(s, p->serve, p->raw_title, p->title, sizeof p->title);
        expand_with(s, p->serve, p->raw_text, p->text, sizeof p->text);
        p->raw_title[0] = p->raw_text[0] = '\0'; // a caption belongs to one beat
        break;
    }
    default: // title, model, tokenizer: read by whoever loads the model
        break;
    }
    return KV_OK;
}

// What the session looks like to the lesson: FNV-1a over its tokens, cursor, mode, sampler and
// verification. Equal fingerprints mean nobody else moved it since the last goto.
static uint64_t fingerprint(const Session *s) {
    uint64_t h = 1469598103934665603ull;
    const int head[] = {s->n_prompt,  s->n_tokens,    s->cursor,
                        (int)s->mode, (int)s->verify, s->settings.top_k};
    uint64_t sampler[3] = {s->settings.seed, 0, 0}; // field by field: the struct has padding
    memcpy(&sampler[1], &s->settings.temperature, sizeof(float));
    memcpy(&sampler[2], &s->settings.top_p, sizeof(float));
    const unsigned char *parts[] = {(const unsigned char *)head, (const unsigned char *)s->tokens,
                                    (const unsigned char *)sampler};
    const size_t sizes[] = {sizeof head, (size_t)s->n_tokens * sizeof(int), sizeof sampler};
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < sizes[i]; j++)
            h = (h ^ parts[i][j]) * 1099511628211ull;
    return h;
}

KvStatus lesson_player_goto(LessonPlayer *p, int k, KvError *err) {
    const Lesson *l = p->lesson;
    if (k < 0 || k >= l->n_beats)
        return kv_error(err, KV_ERR_INPUT, "%s: no beat %d (the lesson has %d)", l->path, k + 1,
                        l->n_beats);
    // back, or the session was moved by someone else: replay from the start, which gives the
    // same state exactly (the sampler is seeded)
    if (k < p->beat || (p->beat >= 0 && fingerprint(p->session) != p->left))
        player_start(p);
    while (p->beat < k) {
        KvStatus st = run(p, &l->cmds[p->pc], err);
        if (st)
            return st;
        p->pc++;
    }
    p->left = fingerprint(p->session);
    return KV_OK;
}

void lesson_player_free(LessonPlayer *p) {
    serve_drop(p);
}

void lesson_player_view(const LessonPlayer *p, View *v) {
    v->serve = p->serve;
    v->kind = p->vs.kind;
    v->layer = p->vs.layer;
    v->head = p->vs.head;
    v->theme = p->vs.theme;
    v->zoom = p->vs.zoom;
    v->show_panels = p->vs.panels;
    v->memory_length = p->vs.memory_length;
    v->memory_model = p->vs.memory_model;
    v->memory_log = p->vs.memory_log;
    v->camera = p->vs.camera;
    v->orbit_az = p->vs.orbit_az;
    v->orbit_el = p->vs.orbit_el;
    v->inspect = p->vs.inspect;
    v->inspect_layer = p->vs.inspect_layer;
    v->inspect_pos = p->vs.inspect_pos;
    v->inspect_head = p->vs.inspect_head;
    v->split = p->vs.split;
    v->sampling_log = p->vs.sampling_log;
    v->caption_title = p->title[0] ? p->title : NULL;
    v->caption_text = p->text[0] ? p->text : NULL;
}
