// lesson.c — reading a lesson: the line parser (lesson_parse, lesson_load) and the check against
// the model (lesson_check). Both look at the whole file before anything runs, so a bad lesson
// never plays half-way. The parser is table-driven: each command is one row of `commands`
// (its word, op, argument kind and range, rules, and what it adds), read the same way for all.
// Playing is player.c; the deck is deck.c.
#include "lesson/lesson.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    int caption_line;          // line of this beat's caption, 0 when none yet
    int glossary_line;         // line of this beat's glossary caption, 0 when none
    size_t text_chars;         // characters of this beat's caption text so far
    int once_line[LESSON_OPS]; // line of each RULE_ONCE command so far, 0 when none
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

// Numbers go through the engine's parsers (the same words as on the command line); the message
// gets the file and line in front.
static KvStatus parse_long(Parser *p, const char *cmd, const char *w, long lo, long hi, long *out) {
    KvError e = {0};
    if (kv_parse_int(cmd, w, lo, hi, out, &e))
        return fail(p, "%s", e.msg);
    return KV_OK;
}

static KvStatus parse_double(Parser *p, const char *cmd, const char *w, double lo, double hi,
                             double *out) {
    KvError e = {0};
    if (kv_parse_float(cmd, w, lo, hi, out, &e))
        return fail(p, "%s", e.msg);
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

// ----------------------------------------------------------------------------------------------
// The commands: one row each. A line is read in one order for every command: a text argument
// that is missing, the row's rules (what must come before or after it, at most once), the
// argument of its kind, then what the command itself adds (its `after` function).

typedef enum {
    ARG_NONE,   // no argument
    ARG_TEXT,   // the rest of the line, as written
    ARG_PATH,   // the rest of the line, a file name resolved against the lesson's folder
    ARG_PROMPT, // the rest of the line, with the escapes \n, \t and \\ (a prompt is one line)
    ARG_PRESET, // one word: the name of one of the caller's presets
    ARG_INT,    // one word: a whole number in lo..hi
    ARG_FLOAT,  // one word: a number in lo..hi
    ARG_SEED,   // one word: a 64-bit whole number
    ARG_ON_OFF, // one word: on or off (n = 1 or 0)
    ARG_CACHE,  // one word: on or off (n = 1 or 0), or a policy in --cache's words (n = 2, str)
    ARG_VIEW,   // one word: a view of the view table (n = its ViewKind)
    ARG_THEME,  // one word: dark or light (n = its ThemeKind)
    ARG_CAMERA, // one word: a 3D camera as --camera takes it (str holds it, reparsed by the player)
    ARG_INDEX,  // one word: a number 1..hi (n = it - 1) or one of `words` (n = its value)
} ArgKind;

enum {
    RULE_ONCE = 1,          // at most one line of it in a lesson
    RULE_BEFORE_PROMPT = 2, // only before the first prompt or preset
    RULE_NEEDS_PROMPT = 4,  // only after a prompt or preset
    RULE_STARTS_PROMPT = 8, // it is a prompt (what RULE_NEEDS_PROMPT waits for)
};

typedef struct {
    const char *word;
    long value;
} ArgWord;

typedef struct Command {
    const char *name;
    LessonOp op;
    ArgKind arg;
    unsigned rules;        // RULE_* bits
    double lo, hi;         // ARG_INT and ARG_FLOAT: the range; ARG_INDEX: hi
    const char *need;      // what "<name>: needs ..." says when the argument is missing
    const ArgWord *words;  // ARG_INDEX: the words it takes besides numbers (ends with NULL)
    const char *not_index; // ARG_INDEX: what "'<word>' is not ..." says
    // ARG_INDEX into the model: how many there are (checked by lesson_check), or NULL.
    int (*model_count)(const ModelConfig *c);
    // What the command adds once its argument is read into c, or NULL.
    KvStatus (*after)(Parser *p, const struct Command *cmd, LessonCmd *c, const char *arg);
} Command;

static KvStatus after_title(Parser *p, const Command *cmd, LessonCmd *c, const char *arg) {
    snprintf(p->l->title, sizeof p->l->title, "%s", arg);
    return KV_OK;
}

// A beat has one caption (`caption` or `glossary`).
static KvStatus first_caption(Parser *p) {
    if (p->caption_line)
        return fail(p,
                    "a second caption for one beat (the first is line %d; put a beat between "
                    "them)",
                    p->caption_line);
    return KV_OK;
}

static KvStatus after_caption(Parser *p, const Command *cmd, LessonCmd *c, const char *arg) {
    if (first_caption(p))
        return KV_ERR_INPUT;
    long chars = kv_utf8_count(arg, strlen(arg));
    if (chars > LESSON_TITLE_MAX)
        return fail(p,
                    "caption: %ld characters, too long to read on a projector (at most %d; "
                    "put the rest in `text`)",
                    chars, LESSON_TITLE_MAX);
    char problem[200];
    const char *why = lesson_caption_problem(arg, problem, sizeof problem);
    if (why)
        return fail(p, "caption: %s", why);
    p->caption_line = p->line;
    p->text_chars = 0;
    return KV_OK;
}

static KvStatus after_text(Parser *p, const Command *cmd, LessonCmd *c, const char *arg) {
    if (p->glossary_line)
        return fail(p,
                    "text after glossary (line %d): the entry's definition is this beat's "
                    "caption text",
                    p->glossary_line);
    if (!p->caption_line)
        return fail(p, "text without a caption in this beat (start with `caption TITLE`)");
    long chars = kv_utf8_count(arg, strlen(arg));
    p->text_chars += (size_t)chars + (p->text_chars ? 1 : 0);
    if (p->text_chars > LESSON_TEXT_MAX)
        return fail(p,
                    "text: this beat's caption text is %zu characters, too long to read on a "
                    "projector (at most %d; split it over two beats)",
                    p->text_chars, LESSON_TEXT_MAX);
    char problem[200];
    const char *why = lesson_caption_problem(arg, problem, sizeof problem);
    if (why)
        return fail(p, "text: %s", why);
    return KV_OK;
}

static KvStatus after_beat(Parser *p, const Command *cmd, LessonCmd *c, const char *arg) {
    if (p->l->n_beats == LESSON_MAX_BEATS)
        return fail(p, "more than %d beats", LESSON_MAX_BEATS);
    p->l->beats = kv_realloc(p->l->beats, ((size_t)p->l->n_beats + 1) * sizeof(int));
    p->l->beats[p->l->n_beats++] = p->l->n_cmds; // the index this command gets
    p->caption_line = 0;
    p->glossary_line = 0;
    return KV_OK;
}

// project-model NAME: one of the published models of the projection table (n = its index).
static KvStatus after_project_model(Parser *p, const Command *cmd, LessonCmd *c, const char *arg) {
    const PublishedModel *m = project_find(arg);
    if (!m)
        return fail(p,
                    "project-model: '%s' is not in the table (kvscope info --project lists "
                    "them)",
                    arg);
    c->n = (long)(m - published_models);
    return KV_OK;
}

// glossary TERM: the beat's caption is the entry (looked up by lesson_bind_glossary, which has
// the glossary); here only what the file alone can say.
static KvStatus after_glossary(Parser *p, const Command *cmd, LessonCmd *c, const char *arg) {
    if (first_caption(p))
        return KV_ERR_INPUT;
    if (kv_utf8_count(arg, strlen(arg)) > 48) // the longest term is a few words
        return fail(p, "glossary: '%s' is too long to be a term", arg);
    p->caption_line = p->glossary_line = p->line;
    return KV_OK;
}

// kv KIND: the engine's own parser reads the kind, as --kv's does.
static KvStatus after_sampling_scale(Parser *p, const Command *cmd, LessonCmd *c, const char *arg) {
    int log = view_scale_parse(arg);
    if (log < 0)
        return fail(p, "%s: expected linear or log, not '%s'", cmd->name, arg);
    c->n = log;
    return KV_OK;
}

static KvStatus after_kv(Parser *p, const Command *cmd, LessonCmd *c, const char *arg) {
    KvPrecision kp;
    KvError e = {0};
    if (kv_precision_parse(cmd->name, arg, &kp, &e))
        return fail(p, "%s", e.msg);
    c->n = kp;
    return KV_OK;
}

// `serve classroom` (str NULL) or `serve FILE`, resolved against the lesson's folder.
static KvStatus after_serve(Parser *p, const Command *cmd, LessonCmd *c, const char *arg) {
    (void)cmd;
    free(c->str);
    c->str = NULL;
    if (strcmp(arg, "classroom") == 0)
        return KV_OK;
    char path[1024];
    resolve_path(p->l, arg, path, sizeof path);
    c->str = dup_str(path, strlen(path));
    return KV_OK;
}

// inspect LAYER POS [HEAD] | inspect off: layer and head 1-based as the picture numbers them,
// the position 0-based as the picture's top bar and token labels give it.
static KvStatus after_inspect(Parser *p, const Command *cmd, LessonCmd *c, const char *arg) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", arg);
    char *w[4];
    int n = split_words(buf, w, 3); // up to 3 words, and a fourth when there is one too many
    if (n == 1 && strcmp(w[0], "off") == 0) {
        c->n = -1;
        return KV_OK;
    }
    if (n < 2)
        return fail(p, "inspect: needs %s", cmd->need);
    if (n > 3)
        return fail(p, "inspect: extra argument '%s'", w[3]);
    long layer, pos, head = 0;
    if (parse_long(p, "inspect: layer", w[0], 1, KV_MAX_LAYERS, &layer) ||
        parse_long(p, "inspect: position", w[1], 0, KV_MAX_SEQ - 1, &pos) ||
        (n == 3 && parse_long(p, "inspect: head", w[2], 1, KV_MAX_HEADS, &head)))
        return KV_ERR_INPUT;
    c->n = layer - 1;
    c->x = (double)pos;
    c->n2 = head - 1;
    return KV_OK;
}

static int model_layers(const ModelConfig *c) {
    return c->n_layers;
}

static int model_heads(const ModelConfig *c) {
    return c->n_heads;
}

static const ArgWord layer_words[] = {{"all", VIEW_ALL_LAYERS}, {NULL, 0}};
static const ArgWord head_words[] = {{"mean", VIEW_HEAD_MEAN}, {"each", VIEW_HEAD_EACH}, {NULL, 0}};

#define ROW(nm, o, kind, ...)                                                                      \
    { .name = nm, .op = o, .arg = kind, __VA_ARGS__ }
static const Command commands[] = {
    ROW("title", LESSON_TITLE, ARG_TEXT, .rules = RULE_ONCE, .need = "some text",
        .after = after_title),
    ROW("model", LESSON_MODEL, ARG_PATH, .rules = RULE_ONCE | RULE_BEFORE_PROMPT,
        .need = "a file name"),
    ROW("tokenizer", LESSON_TOKENIZER, ARG_PATH, .rules = RULE_ONCE | RULE_BEFORE_PROMPT,
        .need = "a file name"),
    ROW("prompt", LESSON_PROMPT, ARG_PROMPT, .rules = RULE_STARTS_PROMPT,
        .need = "the prompt text"),
    ROW("preset", LESSON_PROMPT, ARG_PRESET, .rules = RULE_STARTS_PROMPT, .need = "a preset name"),
    ROW("temperature", LESSON_TEMPERATURE, ARG_FLOAT, .lo = 0, .hi = 100, .need = "a temperature"),
    ROW("top-k", LESSON_TOP_K, ARG_INT, .lo = 0, .hi = KV_MAX_VOCAB, .need = "a number"),
    ROW("top-p", LESSON_TOP_P, ARG_FLOAT, .lo = 0, .hi = 1, .need = "a number"),
    ROW("seed", LESSON_SEED, ARG_SEED, .need = "a number"),
    ROW("cache", LESSON_CACHE, ARG_CACHE, .need = "on, off or a policy"),
    ROW("verify", LESSON_VERIFY, ARG_ON_OFF, .need = "on or off"),
    ROW("step", LESSON_STEP, ARG_INT, .rules = RULE_NEEDS_PROMPT, .lo = 1, .hi = KV_MAX_SEQ,
        .need = "a number of steps"),
    ROW("back", LESSON_BACK, ARG_INT, .rules = RULE_NEEDS_PROMPT, .lo = 1, .hi = KV_MAX_SEQ,
        .need = "a number of steps"),
    ROW("reset", LESSON_RESET, ARG_NONE, .rules = RULE_NEEDS_PROMPT),
    ROW("view", LESSON_VIEW, ARG_VIEW, .need = "a view name"),
    ROW("camera", LESSON_CAMERA, ARG_CAMERA, .need = "front, top or orbit:AZIMUTH,ELEVATION"),
    ROW("layer", LESSON_LAYER, ARG_INDEX, .hi = KV_MAX_LAYERS, .need = "a layer number or all",
        .words = layer_words, .not_index = "a layer number (1, 2, ...) or all",
        .model_count = model_layers),
    ROW("head", LESSON_HEAD, ARG_INDEX, .hi = KV_MAX_HEADS, .need = "a head number, mean or each",
        .words = head_words, .not_index = "a head number (1, 2, ...), mean or each",
        .model_count = model_heads),
    ROW("theme", LESSON_THEME, ARG_THEME, .need = "dark or light"),
    ROW("zoom", LESSON_ZOOM, ARG_FLOAT, .lo = 1, .hi = VIEW_ZOOM_MAX, .need = "a number"),
    ROW("panels", LESSON_PANELS, ARG_ON_OFF, .need = "on or off"),
    ROW("project-model", LESSON_PROJECT_MODEL, ARG_TEXT, .need = "a published model's name",
        .after = after_project_model),
    ROW("project-length", LESSON_PROJECT_LENGTH, ARG_INT, .lo = 0, .hi = 100000000,
        .need = "a number of tokens (0: the run's own)"),
    ROW("project-log", LESSON_PROJECT_LOG, ARG_ON_OFF, .need = "on or off"),
    ROW("caption", LESSON_CAPTION, ARG_TEXT, .need = "some text", .after = after_caption),
    ROW("text", LESSON_TEXT, ARG_TEXT, .need = "some text", .after = after_text),
    ROW("beat", LESSON_BEAT, ARG_NONE, .rules = RULE_NEEDS_PROMPT, .after = after_beat),
    ROW("kv", LESSON_KV, ARG_TEXT, .need = "a kind (f32, bf16, int8, int4, kivi2 or kivi4)",
        .after = after_kv),
    ROW("split", LESSON_SPLIT, ARG_ON_OFF, .need = "on or off"),
    ROW("inspect", LESSON_INSPECT, ARG_TEXT,
        .need = "a layer and a position, optionally a head (inspect 2 5 1), or off",
        .after = after_inspect),
    ROW("glossary", LESSON_GLOSSARY, ARG_TEXT, .need = "a term of the glossary",
        .after = after_glossary),
    ROW("serve", LESSON_SERVE, ARG_TEXT, .rules = RULE_NEEDS_PROMPT,
        .need = "classroom or a request file", .after = after_serve),
    ROW("serve-step", LESSON_SERVE_STEP, ARG_INT, .lo = 1, .hi = 100000,
        .need = "a number of steps"),
    ROW("serve-blocks", LESSON_SERVE_BLOCKS, ARG_INT, .lo = 0, .hi = 65536,
        .need = "a number of blocks (0: the default)"),
    ROW("serve-sharing", LESSON_SERVE_SHARING, ARG_ON_OFF, .need = "on or off"),
    ROW("sampling-scale", LESSON_SAMPLING_SCALE, ARG_TEXT, .need = "linear or log",
        .after = after_sampling_scale),
};
#undef ROW
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

// The row of an op (its first: "prompt" for LESSON_PROMPT), or NULL.
static const Command *command_of(LessonOp op) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (commands[i].op == op)
            return &commands[i];
    return NULL;
}

const char *lesson_op_name(LessonOp op) {
    const Command *row = command_of(op);
    return row ? row->name : "?";
}

static const Command *find_command(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, commands[i].name) == 0)
            return &commands[i];
    return NULL;
}

static bool rest_of_line(ArgKind k) {
    return k == ARG_TEXT || k == ARG_PATH || k == ARG_PROMPT;
}

// ----------------------------------------------------------------------------------------------
// Arguments, by kind

static KvStatus arg_preset(Parser *p, const char *a, LessonCmd *c) {
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
    c->str = dup_str(ps->prompt, strlen(ps->prompt));
    return KV_OK;
}

static KvStatus arg_seed(Parser *p, const char *a, LessonCmd *c) {
    uint64_t seed;
    KvError e = {0};
    if (kv_parse_seed("seed", a, &seed, &e))
        return fail(p, "%s", e.msg);
    c->x = (double)seed;
    c->n = (long)(seed & 0x7fffffffffffffffULL);
    c->str = dup_str(a, strlen(a)); // the exact 64-bit value, reparsed by the player
    return KV_OK;
}

static KvStatus arg_index(Parser *p, const Command *cmd, const char *a, LessonCmd *c) {
    for (const ArgWord *w = cmd->words; w && w->word; w++)
        if (strcmp(a, w->word) == 0) {
            c->n = w->value;
            return KV_OK;
        }
    if (parse_long(p, cmd->name, a, 1, (long)cmd->hi, &c->n) == KV_OK) {
        c->n -= 1;
        return KV_OK;
    }
    return fail(p, "%s: '%s' is not %s", cmd->name, a, cmd->not_index);
}

// Reads the argument `a` (the rest of the line or the one word) of kind cmd->arg into c.
static KvStatus read_arg(Parser *p, const Command *cmd, const char *a, LessonCmd *c) {
    int k;
    switch (cmd->arg) {
    case ARG_NONE:
        return KV_OK;
    case ARG_TEXT:
        c->str = dup_str(a, strlen(a));
        return KV_OK;
    case ARG_PATH: {
        char *dst = cmd->op == LESSON_MODEL ? p->l->model : p->l->tokenizer;
        resolve_path(p->l, a, dst, sizeof p->l->model);
        c->str = dup_str(dst, strlen(dst));
        return KV_OK;
    }
    case ARG_PROMPT:
        return unescape_prompt(p, a, &c->str);
    case ARG_PRESET:
        return arg_preset(p, a, c);
    case ARG_INT:
        return parse_long(p, cmd->name, a, (long)cmd->lo, (long)cmd->hi, &c->n);
    case ARG_FLOAT:
        return parse_double(p, cmd->name, a, cmd->lo, cmd->hi, &c->x);
    case ARG_SEED:
        return arg_seed(p, a, c);
    case ARG_ON_OFF:
        if ((k = pick(a, on_off, 2)) < 0)
            return fail(p, "%s: expected on or off, not '%s'", cmd->name, a);
        c->n = k;
        return KV_OK;
    case ARG_CACHE: {
        if ((k = pick(a, on_off, 2)) >= 0) {
            c->n = k;
            return KV_OK;
        }
        KvCacheKind kind = KV_CACHE_DENSE;
        KvError e = {0};
        if (!strchr(a, ':') && kv_parse_retention("cache", a, &kind, &e))
            return fail(p,
                        "cache: expected on, off or a policy (full, window:W, sinks:S,W, "
                        "h2o:H,R), not '%s'",
                        a);
        if (kv_parse_retention("cache", a, &kind, &e))
            return fail(p, "%s", e.msg);
        c->n = 2;
        c->str = dup_str(a, strlen(a));
        return KV_OK;
    }
    case ARG_VIEW: {
        if (strcmp(a, VIEW_SPLIT_NAME) == 0) // the split screen (n past the view table)
            k = VIEW_KINDS;
        else if ((k = view_kind_parse(a)) < 0) {
            char names[160];
            view_kind_list(names, sizeof names, ", ");
            return fail(p, "view: unknown view '%s' (%s, %s)", a, names, VIEW_SPLIT_NAME);
        }
        c->n = k;
        return KV_OK;
    }
    case ARG_CAMERA: {
        View probe;
        view_init(&probe);
        char why[160];
        if (!view_camera_parse(a, &probe, why, sizeof why))
            return fail(p, "camera: %s", why);
        c->n = probe.camera;
        c->str = dup_str(a, strlen(a));
        return KV_OK;
    }
    case ARG_THEME:
        if ((k = view_theme_parse(a)) < 0)
            return fail(p, "theme: unknown theme '%s' (dark, light)", a);
        c->n = k;
        return KV_OK;
    case ARG_INDEX:
        return arg_index(p, cmd, a, c);
    }
    return KV_OK;
}

// ----------------------------------------------------------------------------------------------
// One line

// One non-blank, non-comment line: `name` is its first word, `rest` what follows (trimmed).
static KvStatus parse_line(Parser *p, const char *name, char *rest) {
    const Command *cmd = find_command(name);
    if (!cmd) {
        const char *best = NULL;
        int best_d = 3;
        for (int i = 0; i < N_COMMANDS; i++) {
            int d = edit_distance(name, commands[i].name);
            if (d < best_d)
                best_d = d, best = commands[i].name;
        }
        if (best)
            return fail(p, "unknown command '%s' (did you mean '%s'?)", name, best);
        return fail(p, "unknown command '%s' (see lessons/README.md)", name);
    }

    bool whole_line = rest_of_line(cmd->arg);
    if (whole_line && rest[0] == '\0')
        return fail(p, "%s: needs %s", name, cmd->need);

    // The rules: what must come before or after what.
    if ((cmd->rules & RULE_NEEDS_PROMPT) && !p->have_prompt)
        return fail(p, "%s before any prompt or preset", name);
    if ((cmd->rules & RULE_BEFORE_PROMPT) && p->have_prompt)
        return fail(p, "%s must come before the first prompt or preset", name);
    if (cmd->rules & RULE_ONCE) {
        if (p->once_line[cmd->op])
            return fail(p, "a second %s line (the first is line %d)", name, p->once_line[cmd->op]);
        p->once_line[cmd->op] = p->line;
    }

    // The argument: the rest of the line, or exactly the number of words the kind takes.
    const char *a = rest;
    if (!whole_line) {
        int need = cmd->arg == ARG_NONE ? 0 : 1;
        char *w[2];
        int n = split_words(rest, w, need);
        if (n < need)
            return fail(p, "%s: needs %s", name, cmd->need);
        if (n > need)
            return fail(p, "%s: extra argument '%s'", name, w[need]);
        a = need ? w[0] : "";
    }
    LessonCmd c = {.op = cmd->op, .line = p->line};
    KvStatus st = read_arg(p, cmd, a, &c);
    if (!st && cmd->after)
        st = cmd->after(p, cmd, &c, a);
    if (st) {
        free(c.str);
        return st;
    }
    if (cmd->rules & RULE_STARTS_PROMPT)
        p->have_prompt = true;
    *push(p, c.op) = c;
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
        if (kv_utf8_count(buf, n) < 0) {
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
        if (c->op == LESSON_CAPTION || c->op == LESSON_TEXT || c->op == LESSON_GLOSSARY)
            st = fail(&p, "%s without a beat: it would never be shown (add `beat` after it)",
                      lesson_op_name(c->op));
        else
            st = fail(&p, "'%s' after the last beat is never shown (add `beat` after it)",
                      lesson_op_name(c->op));
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
    unsigned char *text = NULL;
    size_t n = 0;
    KvStatus st = kv_read_file(path, LESSON_FILE_MAX, &text, &n, err);
    if (st)
        return st;
    st = lesson_parse(l, path, (const char *)text, n, presets, err);
    free(text);
    return st;
}

void lesson_free(Lesson *l) {
    for (int i = 0; i < l->n_cmds; i++)
        free(l->cmds[i].str), free(l->cmds[i].def);
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
    KvCacheKind kind = KV_CACHE_DENSE; // as the player starts every lesson: full, f32
    int serve_blocks = 0;
    bool served = false;
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
                              "%s:%d: back %ld: only %d step%s to go back at this point", l->path,
                              cmd->line, cmd->n, cursor, cursor == 1 ? "" : "s");
            else
                cursor -= (int)cmd->n;
            break;
        case LESSON_RESET:
            cursor = 0;
            break;
        case LESSON_GLOSSARY: // its entry comes from lesson_bind_glossary
            if (!cmd->def)
                st = kv_error(err, KV_ERR_INPUT,
                              "%s:%d: glossary: '%s' was not looked up (no glossary loaded)",
                              l->path, cmd->line, cmd->str);
            break;
        case LESSON_KV: { // the model's head size must fit the kind's packing, and the policy
            KvError e = {0};
            kind.precision = (KvPrecision)cmd->n;
            if (kv_precision_check(c, kind.precision, "kv", &e) ||
                kv_kind_combine_check("kv", "cache ", kind, &e))
                st = kv_error(err, KV_ERR_INPUT, "%s:%d: %s", l->path, cmd->line, e.msg);
            cursor = 0;
            break;
        }
        case LESSON_SERVE_BLOCKS:
            serve_blocks = (int)cmd->n;
            break;
        case LESSON_SERVE_STEP:
            if (!served)
                st = kv_error(err, KV_ERR_INPUT,
                              "%s:%d: serve-step: no serving session yet (serve classroom or "
                              "serve FILE first)",
                              l->path, cmd->line);
            break;
        case LESSON_SERVE: { // the requests load and fit the pool, as the player will make it
            Serve probe;
            KvError e = {0};
            served = true;
            if (serve_open(&probe, m, t, cmd->str, serve_blocks, KV_PAGED_BLOCK_DEFAULT, true, &e))
                st = kv_error(err, KV_ERR_INPUT, "%s:%d: serve: %s", l->path, cmd->line, e.msg);
            else
                serve_free(&probe);
            break;
        }
        case LESSON_INSPECT: // the cell's layer and head exist, its position is in the context
            if (cmd->n >= c->n_layers)
                st = kv_error(err, KV_ERR_INPUT,
                              "%s:%d: inspect: layer %ld: the model has %d layers", l->path,
                              cmd->line, cmd->n + 1, c->n_layers);
            else if (cmd->n2 >= c->n_heads)
                st = kv_error(err, KV_ERR_INPUT, "%s:%d: inspect: head %ld: the model has %d heads",
                              l->path, cmd->line, cmd->n2 + 1, c->n_heads);
            else if (cmd->n >= 0 && cmd->x >= T)
                st = kv_error(err, KV_ERR_INPUT,
                              "%s:%d: inspect: position %.0f: past the model's context of %d",
                              l->path, cmd->line, cmd->x, T);
            break;
        case LESSON_CACHE: { // a policy: its budget against the model's context, its precision
            KvError e = {0};
            if (cmd->n == 2 && (kv_parse_retention("cache", cmd->str, &kind, &e) ||
                                kv_retention_check("cache", kind, T, &e) ||
                                kv_kind_combine_check("cache: with kv", "", kind, &e)))
                st = kv_error(err, KV_ERR_INPUT, "%s:%d: %s", l->path, cmd->line, e.msg);
            break;
        }
        default: {
            // An index into the model (a layer, a head): its row says how many the model has.
            const Command *row = command_of(cmd->op);
            int have = row && row->model_count ? row->model_count(c) : 0;
            if (have && cmd->n >= have)
                st = kv_error(err, KV_ERR_INPUT, "%s:%d: %s %ld: the model has %d %ss", l->path,
                              cmd->line, row->name, cmd->n + 1, have, row->name);
            break;
        }
        }
    }
    free(ids);
    LessonCost cost;
    char flops[32];
    if (!st && !(st = lesson_cost(l, m, t, &cost, err)) && cost.positions > LESSON_MAX_POSITIONS) {
        kv_format_number(flops, sizeof flops, (double)cost.flops, KV_NUM_SI_SHORT, "FLOP");
        st = kv_error(err, KV_ERR_INPUT,
                      "%s: playing it computes %llu positions (%llu steps, %llu serving steps, "
                      "%s), over the budget of %d positions",
                      l->path, (unsigned long long)cost.positions, (unsigned long long)cost.steps,
                      (unsigned long long)cost.serve_steps, flops, LESSON_MAX_POSITIONS);
    }
    return st;
}

// ----------------------------------------------------------------------------------------------
// Glossary captions

KvStatus lesson_bind_glossary(Lesson *l, const Glossary *g, KvError *err) {
    for (int i = 0; i < l->n_cmds; i++) {
        LessonCmd *c = &l->cmds[i];
        if (c->op != LESSON_GLOSSARY)
            continue;
        const GlossaryEntry *e = g ? glossary_find(g, c->str) : NULL;
        if (!e)
            return kv_error(err, KV_ERR_INPUT,
                            "%s:%d: glossary: '%s' is not in the glossary (kvscope glossary "
                            "lists every term)",
                            l->path, c->line, c->str);
        free(c->str);
        free(c->def);
        c->str = dup_str(e->term, strlen(e->term));
        c->def = dup_str(e->short_text, strlen(e->short_text));
    }
    return KV_OK;
}
