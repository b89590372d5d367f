// lesson.c — reading a lesson: the line parser (lesson_parse, lesson_load) and the check against
// the model (lesson_check). Both look at the whole file before anything runs, so a bad lesson
// never plays half-way. Playing is player.c; the deck is deck.c.
#include "lesson/lesson.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const lesson_op_names[LESSON_OPS] = {
    "title", "model",  "tokenizer", "prompt", "temperature", "top-k", "top-p", "seed",
    "cache", "verify", "step",      "back",   "reset",       "view",  "layer", "head",
    "theme", "zoom",   "panels",    "caption", "text",       "beat",
};

// ----------------------------------------------------------------------------------------------
// Small helpers

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

static char *dup_str(const char *s, size_t n) {
    char *d = kv_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

// Number of UTF-8 code points, or -1 when the bytes are not valid UTF-8.
static long utf8_length(const char *s, size_t n) {
    long count = 0;
    for (size_t i = 0; i < n; count++) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || i + k > n)
            return -1;
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)s[i + j] >> 6) != 2)
                return -1;
        i += k;
    }
    return count;
}

// Levenshtein distance, capped: for "did you mean" on a misspelt command.
static int edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 31 || nb > 31)
        return 99;
    int d[32][32];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    return d[na][nb];
}

// ----------------------------------------------------------------------------------------------
// The parser. One Parser lives for one call of lesson_parse.

typedef struct {
    Lesson *l;
    const Preset *presets;
    KvError *err;
    int line;
    size_t cap;
    // structure so far
    bool have_prompt;
    int caption_line;  // line of this beat's caption, 0 when none yet
    size_t text_chars; // characters of this beat's caption text so far
    int title_line, model_line, tokenizer_line;
} Parser;

static KvStatus fail(Parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static KvStatus fail(Parser *p, const char *fmt, ...) {
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return kv_error(p->err, KV_ERR_INPUT, "%s:%d: %s", p->l->path, p->line, why);
}

static LessonCmd *push(Parser *p, LessonOp op) {
    Lesson *l = p->l;
    if ((size_t)l->n_cmds == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        l->cmds = kv_realloc(l->cmds, p->cap * sizeof *l->cmds);
    }
    LessonCmd *c = &l->cmds[l->n_cmds++];
    memset(c, 0, sizeof *c);
    c->op = op;
    c->line = p->line;
    return c;
}

// Splits word arguments in place: up to max words (a word starting with '#' ends the line).
// Returns the count, or max + 1 when there are more (words[max] is then the first extra one).
static int split_words(char *rest, char **words, int max) {
    int n = 0;
    char *s = rest;
    for (;;) {
        while (is_space(*s))
            s++;
        if (*s == '\0' || *s == '#')
            return n;
        words[n] = s;
        while (*s && !is_space(*s))
            s++;
        if (*s)
            *s++ = '\0';
        if (++n == max + 1)
            return n;
    }
}

static KvStatus parse_long(Parser *p, const char *cmd, const char *w, long lo, long hi,
                           long *out) {
    char *end;
    errno = 0;
    long v = strtol(w, &end, 10);
    if (errno == ERANGE || end == w || *end != '\0')
        return fail(p, "%s: '%s' is not a whole number", cmd, w);
    if (v < lo || v > hi)
        return fail(p, "%s: %s is out of range (%ld..%ld)", cmd, w, lo, hi);
    *out = v;
    return KV_OK;
}

static KvStatus parse_double(Parser *p, const char *cmd, const char *w, double lo, double hi,
                             double *out) {
    char *end;
    errno = 0;
    double v = strtod(w, &end);
    if (errno == ERANGE || end == w || *end != '\0' || v != v)
        return fail(p, "%s: '%s' is not a number", cmd, w);
    if (v < lo || v > hi)
        return fail(p, "%s: %s is out of range (%g..%g)", cmd, w, lo, hi);
    *out = v;
    return KV_OK;
}

// Index of w among names, or -1.
static int pick(const char *w, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(w, names[i]) == 0)
            return i;
    return -1;
}

// A prompt's escapes: \n, \t, \\ (a prompt is one line in the file).
static KvStatus unescape_prompt(Parser *p, const char *s, char **out) {
    size_t n = strlen(s);
    char *d = kv_malloc(n + 1), *o = d;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            *o++ = s[i];
            continue;
        }
        char e = s[++i];
        if (e == 'n')
            *o++ = '\n';
        else if (e == 't')
            *o++ = '\t';
        else if (e == '\\')
            *o++ = '\\';
        else {
            free(d);
            if (e == '\0')
                return fail(p, "prompt: a '\\' at the end of the line (write \\\\ for one)");
            return fail(p, "prompt: unknown escape '\\%c' (use \\n, \\t or \\\\)", e);
        }
    }
    *o = '\0';
    *out = d;
    return KV_OK;
}

static void resolve_path(const Lesson *l, const char *rel, char *out, size_t cap) {
    const char *slash = strrchr(l->path, '/');
    if (rel[0] == '/' || !slash)
        snprintf(out, cap, "%s", rel);
    else
        snprintf(out, cap, "%.*s/%s", (int)(slash - l->path), l->path, rel);
}

static const char *const on_off[] = {"off", "on"};

// One non-blank, non-comment line: `cmd` is its first word, `rest` what follows (trimmed).
static KvStatus parse_line(Parser *p, const char *cmd, char *rest) {
    int op = pick(cmd, lesson_op_names, LESSON_OPS);
    if (op < 0 && strcmp(cmd, "preset") == 0)
        op = LESSON_PROMPT;
    if (op < 0) {
        const char *best = NULL;
        int best_d = 3;
        for (int i = 0; i < LESSON_OPS; i++) {
            int d = edit_distance(cmd, lesson_op_names[i]);
            if (d < best_d)
                best_d = d, best = lesson_op_names[i];
        }
        if (best)
            return fail(p, "unknown command '%s' (did you mean '%s'?)", cmd, best);
        return fail(p, "unknown command '%s' (see lessons/README.md)", cmd);
    }

    // Commands whose argument is the rest of the line, taken as written.
    bool text_arg = op == LESSON_TITLE || op == LESSON_MODEL || op == LESSON_TOKENIZER ||
                    (op == LESSON_PROMPT && strcmp(cmd, "prompt") == 0) ||
                    op == LESSON_CAPTION || op == LESSON_TEXT;
    if (text_arg && rest[0] == '\0')
        return fail(p, "%s: needs %s", cmd,
                    op == LESSON_MODEL || op == LESSON_TOKENIZER ? "a file name"
                    : op == LESSON_PROMPT                        ? "the prompt text"
                                                                 : "some text");

    // Structure: what must come before or after what.
    bool runs = op == LESSON_STEP || op == LESSON_BACK || op == LESSON_RESET || op == LESSON_BEAT;
    if (runs && !p->have_prompt)
        return fail(p, "%s before any prompt or preset", cmd);
    if ((op == LESSON_MODEL || op == LESSON_TOKENIZER) && p->have_prompt)
        return fail(p, "%s must come before the first prompt or preset", cmd);
    int *once = op == LESSON_TITLE       ? &p->title_line
                : op == LESSON_MODEL     ? &p->model_line
                : op == LESSON_TOKENIZER ? &p->tokenizer_line
                                         : NULL;
    if (once && *once)
        return fail(p, "a second %s line (the first is line %d)", cmd, *once);
    if (once)
        *once = p->line;

    if (text_arg) {
        long chars = utf8_length(rest, strlen(rest));
        char problem[200];
        const char *why;
        switch (op) {
        case LESSON_TITLE:
            snprintf(p->l->title, sizeof p->l->title, "%s", rest);
            push(p, op)->str = dup_str(rest, strlen(rest));
            return KV_OK;
        case LESSON_MODEL:
        case LESSON_TOKENIZER: {
            char *dst = op == LESSON_MODEL ? p->l->model : p->l->tokenizer;
            resolve_path(p->l, rest, dst, sizeof p->l->model);
            push(p, op)->str = dup_str(dst, strlen(dst));
            return KV_OK;
        }
        case LESSON_PROMPT: {
            char *s = NULL;
            if (unescape_prompt(p, rest, &s))
                return p->err->code;
            push(p, op)->str = s;
            p->have_prompt = true;
            return KV_OK;
        }
        case LESSON_CAPTION:
            if (p->caption_line)
                return fail(p, "a second caption for one beat (the first is line %d; "
                               "put a beat between them)",
                            p->caption_line);
            if (chars > LESSON_TITLE_MAX)
                return fail(p, "caption: %ld characters, too long to read on a projector "
                               "(at most %d; put the rest in `text`)",
                            chars, LESSON_TITLE_MAX);
            if ((why = lesson_caption_problem(rest, problem, sizeof problem)))
                return fail(p, "caption: %s", why);
            p->caption_line = p->line;
            p->text_chars = 0;
            push(p, op)->str = dup_str(rest, strlen(rest));
            return KV_OK;
        default: // LESSON_TEXT
            if (!p->caption_line)
                return fail(p, "text without a caption in this beat (start with `caption TITLE`)");
            p->text_chars += (size_t)chars + (p->text_chars ? 1 : 0);
            if (p->text_chars > LESSON_TEXT_MAX)
                return fail(p, "text: this beat's caption text is %zu characters, too long to "
                               "read on a projector (at most %d; split it over two beats)",
                            p->text_chars, LESSON_TEXT_MAX);
            if ((why = lesson_caption_problem(rest, problem, sizeof problem)))
                return fail(p, "text: %s", why);
            push(p, op)->str = dup_str(rest, strlen(rest));
            return KV_OK;
        }
    }

    // Commands with words: exactly the number each needs.
    int need = op == LESSON_RESET || op == LESSON_BEAT ? 0 : 1;
    char *w[3];
    int n = split_words(rest, w, need);
    if (n < need) {
        static const char *const what[LESSON_OPS] = {
            [LESSON_PROMPT] = "a preset name",   [LESSON_TEMPERATURE] = "a temperature",
            [LESSON_TOP_K] = "a number",         [LESSON_TOP_P] = "a number",
            [LESSON_SEED] = "a number",          [LESSON_CACHE] = "on, off or a policy",
            [LESSON_VERIFY] = "on or off",       [LESSON_STEP] = "a number of steps",
            [LESSON_BACK] = "a number of steps", [LESSON_VIEW] = "a view name",
            [LESSON_LAYER] = "a layer number or all", [LESSON_HEAD] = "a head number, mean or each",
            [LESSON_THEME] = "dark or light",    [LESSON_ZOOM] = "a number",
            [LESSON_PANELS] = "on or off",
        };
        return fail(p, "%s: needs %s", cmd, what[op]);
    }
    if (n > need)
        return fail(p, "%s: extra argument '%s'", cmd, w[need]);

    LessonCmd c = {.op = (LessonOp)op, .line = p->line};
    const char *a = need ? w[0] : "";
    int k;
    switch (op) {
    case LESSON_PROMPT: { // preset NAME
        const Preset *ps = p->presets;
        while (ps && ps->name && strcmp(ps->name, a) != 0)
            ps++;
        if (!ps || !ps->name) {
            char names[200] = "";
            for (ps = p->presets; ps && ps->name; ps++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         ps == p->presets ? "" : ", ", ps->name);
            return fail(p, "preset: unknown preset '%s' (%s)", a, names);
        }
        c.str = dup_str(ps->prompt, strlen(ps->prompt));
        p->have_prompt = true;
        break;
    }
    case LESSON_TEMPERATURE:
        if (parse_double(p, cmd, a, 0.0, 100.0, &c.x))
            return p->err->code;
        break;
    case LESSON_TOP_P:
        if (parse_double(p, cmd, a, 0.0, 1.0, &c.x))
            return p->err->code;
        break;
    case LESSON_ZOOM:
        if (parse_double(p, cmd, a, 0.5, 3.0, &c.x))
            return p->err->code;
        break;
    case LESSON_TOP_K:
        if (parse_long(p, cmd, a, 0, KV_MAX_VOCAB, &c.n))
            return p->err->code;
        break;
    case LESSON_SEED: {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(a, &end, 10);
        if (errno || end == a || *end || a[0] == '-')
            return fail(p, "seed: '%s' is not a whole number >= 0", a);
        c.x = (double)s;
        c.n = (long)(s & 0x7fffffffffffffffULL);
        c.str = dup_str(a, strlen(a)); // the exact 64-bit value, reparsed by the player
        break;
    }
    case LESSON_STEP:
    case LESSON_BACK:
        if (parse_long(p, cmd, a, 1, KV_MAX_SEQ, &c.n))
            return p->err->code;
        break;
    case LESSON_CACHE: // on | off (the mode), or a policy in --cache's words (n = 2, str)
        if ((k = pick(a, on_off, 2)) < 0) {
            KvCacheKind kind = KV_CACHE_DENSE;
            KvError e = {0};
            if (!strchr(a, ':') && kv_parse_retention("cache", a, &kind, &e))
                return fail(p, "cache: expected on, off or a policy (full, window:W, sinks:S,W, "
                               "h2o:H,R), not '%s'", a);
            if (kv_parse_retention("cache", a, &kind, &e))
                return fail(p, "%s", e.msg);
            k = 2;
            c.str = dup_str(a, strlen(a));
        }
        c.n = k;
        break;
    case LESSON_VERIFY:
    case LESSON_PANELS:
        if ((k = pick(a, on_off, 2)) < 0)
            return fail(p, "%s: expected on or off, not '%s'", cmd, a);
        c.n = k;
        break;
    case LESSON_VIEW:
        if ((k = view_kind_parse(a)) < 0)
            return fail(p, "view: unknown view '%s' (sequence, heatmap, layers)", a);
        c.n = k;
        break;
    case LESSON_THEME: {
        static const char *const themes[] = {"dark", "light"};
        if ((k = pick(a, themes, 2)) < 0)
            return fail(p, "theme: unknown theme '%s' (dark, light)", a);
        c.n = k == 0 ? THEME_DARK : THEME_LIGHT;
        break;
    }
    case LESSON_LAYER:
        if (strcmp(a, "all") == 0)
            c.n = VIEW_ALL_LAYERS;
        else if (parse_long(p, cmd, a, 1, KV_MAX_LAYERS, &c.n) == KV_OK)
            c.n -= 1;
        else
            return fail(p, "layer: '%s' is not a layer number (1, 2, ...) or all", a);
        break;
    case LESSON_HEAD:
        if (strcmp(a, "mean") == 0)
            c.n = VIEW_HEAD_MEAN;
        else if (strcmp(a, "each") == 0)
            c.n = VIEW_HEAD_EACH;
        else if (parse_long(p, cmd, a, 1, KV_MAX_HEADS, &c.n) == KV_OK)
            c.n -= 1;
        else
            return fail(p, "head: '%s' is not a head number (1, 2, ...), mean or each", a);
        break;
    case LESSON_BEAT:
        if (p->l->n_beats == LESSON_MAX_BEATS)
            return fail(p, "more than %d beats", LESSON_MAX_BEATS);
        p->l->beats = kv_realloc(p->l->beats, ((size_t)p->l->n_beats + 1) * sizeof(int));
        p->l->beats[p->l->n_beats++] = p->l->n_cmds;
        p->caption_line = 0;
        break;
    default: // LESSON_RESET
        break;
    }
    *push(p, (LessonOp)op) = c;
    return KV_OK;
}

KvStatus lesson_parse(Lesson *l, const char *path, const char *text, size_t len,
                      const Preset *presets, KvError *err) {
    memset(l, 0, sizeof *l);
    snprintf(l->path, sizeof l->path, "%s", path);
    Parser p = {.l = l, .presets = presets, .err = err};
    char *buf = NULL;
    KvStatus st = KV_OK;
    if (memchr(text, '\0', len)) {
        p.line = 1;
        for (const char *c = text; *c; c++)
            p.line += *c == '\n';
        st = fail(&p, "a NUL byte: this is not a text file");
        goto out;
    }
    const char *s = text, *end = text + len;
    buf = kv_malloc(len + 1);
    while (s < end) {
        p.line++;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        memcpy(buf, s, n);
        buf[n] = '\0';
        s += n + (nl ? 1 : 0);
        if (utf8_length(buf, n) < 0) {
            st = fail(&p, "not valid UTF-8 text");
            goto out;
        }
        // trim both ends; skip blank lines and comments
        char *a = buf, *b = buf + n;
        while (is_space(*a))
            a++;
        while (b > a && is_space(b[-1]))
            *--b = '\0';
        if (*a == '\0' || *a == '#')
            continue;
        char *rest = a;
        while (*rest && !is_space(*rest))
            rest++;
        if (*rest) {
            *rest++ = '\0';
            while (is_space(*rest))
                rest++;
        }
        if ((st = parse_line(&p, a, rest)))
            goto out;
    }

    // The end: there must be something to show, and nothing may be left unshown.
    int last_beat = l->n_beats ? l->beats[l->n_beats - 1] : -1;
    for (int i = last_beat + 1; i < l->n_cmds; i++) {
        const LessonCmd *c = &l->cmds[i];
        if (c->op == LESSON_TITLE || c->op == LESSON_MODEL || c->op == LESSON_TOKENIZER)
            continue;
        p.line = c->line;
        if (c->op == LESSON_CAPTION || c->op == LESSON_TEXT)
            st = fail(&p, "%s without a beat: it would never be shown (add `beat` after it)",
                      lesson_op_names[c->op]);
        else
            st = fail(&p, "'%s' after the last beat is never shown (add `beat` after it)",
                      lesson_op_names[c->op]);
        goto out;
    }
    if (l->n_beats == 0) {
        p.line = 1;
        st = fail(&p, "empty lesson: no beat to show (see lessons/README.md)");
    }
out:
    free(buf);
    if (st)
        lesson_free(l);
    return st;
}

KvStatus lesson_load(Lesson *l, const char *path, const Preset *presets, KvError *err) {
    memset(l, 0, sizeof *l);
    FILE *f = fopen(path, "rb");
    if (!f)
        return kv_error(err, KV_ERR_INPUT, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *text = kv_malloc(cap);
    size_t got;
    while ((got = fread(text + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= ((size_t)1 << 22)) {
                fclose(f);
                free(text);
                return kv_error(err, KV_ERR_INPUT, "%s: larger than 4 MiB: not a lesson", path);
            }
            text = kv_realloc(text, cap *= 2);
        }
    }
    bool bad = ferror(f);
    int e = errno;
    fclose(f);
    if (bad) {
        free(text);
        return kv_error(err, KV_ERR_INPUT, "%s: %s", path, strerror(e));
    }
    KvStatus st = lesson_parse(l, path, text, n, presets, err);
    free(text);
    return st;
}

void lesson_free(Lesson *l) {
    for (int i = 0; i < l->n_cmds; i++)
        free(l->cmds[i].str);
    free(l->cmds);
    free(l->beats);
    memset(l, 0, sizeof *l);
}

// ----------------------------------------------------------------------------------------------
// The check against the model: the sequence lengths each command leads to, without running it.

KvStatus lesson_check(const Lesson *l, const Model *m, const Tokenizer *t, KvError *err) {
    const ModelConfig *c = &m->cfg;
    const int T = c->seq_len;
    int *ids = kv_malloc((size_t)T * sizeof(int));
    int n_prompt = 0, cursor = 0;
    KvStatus st = KV_OK;
    for (int i = 0; i < l->n_cmds && !st; i++) {
        const LessonCmd *cmd = &l->cmds[i];
        switch (cmd->op) {
        case LESSON_PROMPT: {
            KvError e = {0};
            if (tokenizer_encode(t, cmd->str, true, false, ids, T - 1, &n_prompt, &e))
                st = kv_error(err, KV_ERR_INPUT, "%s:%d: prompt: %s", l->path, cmd->line,
                              strstr(e.msg, "longer") || strstr(e.msg, "fit")
                                  ? "too long: it must leave room in the model's context to "
                                    "generate"
                                  : e.msg);
            cursor = 0;
            break;
        }
        case LESSON_STEP: {
            // a step needs n_prompt + cursor <= T (the chosen token may sit at position T)
            long room = (long)T - n_prompt + 1 - cursor;
            if (cmd->n > room)
                st = kv_error(err, KV_ERR_INPUT,
                              "%s:%d: step %ld: too many steps for the model's context of %d "
                              "tokens (the prompt has %d; room for %ld more step%s here)",
                              l->path, cmd->line, cmd->n, T, n_prompt, room < 0 ? 0 : room,
                              room == 1 ? "" : "s");
            else
                cursor += (int)cmd->n;
            break;
        }
        case LESSON_BACK:
            if (cmd->n > cursor)
                st = kv_error(err, KV_ERR_INPUT,
                              "%s:%d: back %ld: only %d step%s to go back at this point",
                              l->path, cmd->line, cmd->n, cursor, cursor == 1 ? "" : "s");
            else
                cursor -= (int)cmd->n;
            break;
        case LESSON_RESET:
            cursor = 0;
            break;
        case LESSON_LAYER:
            if (cmd->n >= c->n_layers)
                st = kv_error(err, KV_ERR_INPUT, "%s:%d: layer %ld: the model has %d layers",
                              l->path, cmd->line, cmd->n + 1, c->n_layers);
            break;
        case LESSON_CACHE: {
            KvCacheKind kind = KV_CACHE_DENSE;
            KvError e = {0};
            if (cmd->n == 2 && (kv_parse_retention("cache", cmd->str, &kind, &e) ||
                                kv_retention_check("cache", kind, T, &e)))
                st = kv_error(err, KV_ERR_INPUT, "%s:%d: %s", l->path, cmd->line, e.msg);
            break;
        }
        case LESSON_HEAD:
            if (cmd->n >= c->n_heads)
                st = kv_error(err, KV_ERR_INPUT, "%s:%d: head %ld: the model has %d heads",
                              l->path, cmd->line, cmd->n + 1, c->n_heads);
            break;
        default:
            break;
        }
    }
    free(ids);
    LessonCost cost;
    if (!st && !(st = lesson_cost(l, m, t, &cost, err)) && cost.positions > LESSON_MAX_POSITIONS)
        st = kv_error(err, KV_ERR_INPUT,
                      "%s: playing it computes %llu positions (%llu steps, %.3g FLOPs), over the "
                      "budget of %d positions",
                      l->path, (unsigned long long)cost.positions,
                      (unsigned long long)cost.steps, (double)cost.flops, LESSON_MAX_POSITIONS);
    return st;
}
