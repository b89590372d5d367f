// glossary.c — the glossary behind every label: assets/glossary.txt parsed into entries that the
// picture's tooltips, the glossary panel, lesson captions and `kvscope glossary` look words up in.
//
// The format (documented at the top of the file itself): entries separated by blank lines, each
// a few "key: value" lines (term, also, short, long); a line starting with spaces continues the
// field above it; # starts a comment line. The parser is strict, as for lessons: an unknown key,
// an entry without a term or a short definition, or a word defined twice is an error naming the
// file and line, so a broken glossary is caught by the tests rather than by a class.
//
// What this file does not do: find the file (src/app), draw (the scene's tooltip and panel).
#include "view/view.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void glossary_free(Glossary *g) {
    free(g->entries);
    free(g->text);
    memset(g, 0, sizeof *g);
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

// True when `word` is one of the comma-separated names of list (any case, spaces trimmed).
static bool list_has(const char *list, const char *word, size_t wlen) {
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0 && n == wlen && strncasecmp(p, word, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static const GlossaryEntry *find_n(const Glossary *g, const char *word, size_t n) {
    for (int i = 0; i < g->n; i++) {
        const GlossaryEntry *e = &g->entries[i];
        if ((strlen(e->term) == n && strncasecmp(e->term, word, n) == 0) ||
            list_has(e->also, word, n))
            return e;
    }
    return NULL;
}

const GlossaryEntry *glossary_find(const Glossary *g, const char *word) {
    size_t n = strlen(word);
    while (n > 0 && (word[n - 1] == ' ' || word[n - 1] == ':'))
        n--;
    while (n > 0 && *word == ' ')
        word++, n--;
    return n ? find_n(g, word, n) : NULL;
}

// A new field value starts at *field; continuation lines are appended with one space.
static void append(char **field, char *text) {
    if (!*field) {
        *field = text;
        return;
    }
    // the text lives in g->text after *field: move it down so the value stays one run
    size_t have = strlen(*field), add = strlen(text);
    memmove(*field + have + 1, text, add + 1);
    (*field)[have] = ' ';
}

// An entry while it is parsed: its fields point into g->text, which the parser edits.
typedef struct {
    char *term, *also, *short_text, *long_text;
} Draft;

static KvStatus entry_done(Glossary *g, Draft *e, const char *what, int line, KvError *err) {
    if (!e->term && !e->also && !e->short_text && !e->long_text)
        return KV_OK; // nothing open
    if (!e->term)
        return kv_error(err, KV_ERR_INPUT, "%s:%d: an entry without a term", what, line);
    if (!e->short_text || !*e->short_text)
        return kv_error(err, KV_ERR_INPUT, "%s:%d: '%s' has no short definition", what, line,
                        e->term);
    // every name of the entry must be new
    const char *names[2] = {e->term, e->also};
    for (int k = 0; k < 2; k++)
        for (const char *p = names[k]; p && *p;) {
            while (*p == ' ' || *p == ',')
                p++;
            const char *end = strchr(p, ',');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            while (n > 0 && p[n - 1] == ' ')
                n--;
            const GlossaryEntry *dup = n ? find_n(g, p, n) : NULL;
            if (dup)
                return kv_error(err, KV_ERR_INPUT, "%s:%d: '%.*s' is already defined by '%s'", what,
                                line, (int)n, p, dup->term);
            if (k == 0)
                break; // the term is one name, commas and all
            p = end ? end + 1 : NULL;
        }
    g->entries[g->n++] = (GlossaryEntry){e->term, e->also, e->short_text, e->long_text};
    memset(e, 0, sizeof *e);
    return KV_OK;
}

KvStatus glossary_parse(Glossary *g, const char *text, size_t len, const char *what, KvError *err) {
    memset(g, 0, sizeof *g);
    g->text = kv_malloc(len + 1);
    memcpy(g->text, text, len);
    g->text[len] = '\0';
    if (memchr(text, '\0', len))
        return glossary_free(g), kv_error(err, KV_ERR_INPUT, "%s: holds a NUL byte", what);
    int cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += text[i] == '\n';
    g->entries = kv_calloc((size_t)cap, sizeof *g->entries);
    Draft cur = {0};
    char **last = NULL; // the field a continuation line extends
    int line = 0, start = 0;
    KvStatus st = KV_OK;
    for (char *p = g->text, *next; p && !st; p = next) {
        next = strchr(p, '\n');
        if (next)
            *next++ = '\0';
        line++;
        if (p[0] == '#')
            continue;
        if (*trim(p) == '\0') { // a blank line ends the entry
            st = entry_done(g, &cur, what, start, err);
            last = NULL;
            continue;
        }
        if (p[0] == ' ' || p[0] == '\t') {
            if (!last) {
                st = kv_error(err, KV_ERR_INPUT, "%s:%d: a continuation line with nothing above",
                              what, line);
                break;
            }
            append(last, trim(p));
            continue;
        }
        char *colon = strchr(p, ':');
        if (!colon) {
            st = kv_error(err, KV_ERR_INPUT, "%s:%d: expected 'key: value'", what, line);
            break;
        }
        *colon = '\0';
        char *key = trim(p), *val = trim(colon + 1);
        char **field = strcmp(key, "term") == 0    ? &cur.term
                       : strcmp(key, "also") == 0  ? &cur.also
                       : strcmp(key, "short") == 0 ? &cur.short_text
                       : strcmp(key, "long") == 0  ? &cur.long_text
                                                   : NULL;
        if (!field) {
            st = kv_error(err, KV_ERR_INPUT, "%s:%d: unknown key '%s' (term, also, short or long)",
                          what, line, key);
            break;
        }
        if (*field) {
            st = kv_error(err, KV_ERR_INPUT, "%s:%d: '%s' given twice in one entry", what, line,
                          key);
            break;
        }
        if (!cur.term && !cur.also && !cur.short_text && !cur.long_text)
            start = line; // the entry's first line, for messages about the whole entry
        if (field == &cur.term && *val == '\0') {
            st = kv_error(err, KV_ERR_INPUT, "%s:%d: an empty term", what, line);
            break;
        }
        *field = val;
        last = field;
    }
    if (!st)
        st = entry_done(g, &cur, what, start, err);
    if (!st && g->n == 0)
        st = kv_error(err, KV_ERR_INPUT, "%s: no entries", what);
    if (st)
        glossary_free(g);
    return st;
}

KvStatus glossary_load(Glossary *g, const char *path, KvError *err) {
    unsigned char *data = NULL;
    size_t n = 0;
    KvStatus st = kv_read_file(path, (size_t)4 << 20, &data, &n, err);
    if (st)
        return st;
    st = glossary_parse(g, (const char *)data, n, path, err);
    free(data);
    return st;
}

// ----------------------------------------------------------------------------------------------
// Labels: which entry a text of the picture stands for

static bool word_char(unsigned char c) {
    return isalnum(c) || c >= 0x80 || c == '-' || c == '/';
}

// True when the n bytes at p occur in text as whole words (any case).
static bool has_words(const char *text, const char *p, size_t n) {
    for (const char *t = text; *t; t++) {
        if (strncasecmp(t, p, n) != 0)
            continue;
        bool left = t == text || !word_char((unsigned char)t[-1]);
        bool right = !word_char((unsigned char)t[n]);
        if (left && right)
            return true;
    }
    return false;
}

// text without what stands in curly quotes (a token's text in a label: "after “k”"), into out.
static void unquoted(const char *text, char *out, size_t cap) {
    size_t o = 0;
    bool quoted = false;
    for (const char *p = text; *p && o + 1 < cap; p++) {
        if (strncmp(p, "\xe2\x80\x9c", 3) == 0)
            quoted = true, p += 2;
        else if (strncmp(p, "\xe2\x80\x9d", 3) == 0)
            quoted = false, p += 2;
        else if (!quoted)
            out[o++] = *p;
    }
    out[o] = '\0';
}

const GlossaryEntry *glossary_label(const Glossary *g, const char *text, const char *term) {
    if (term) {
        const GlossaryEntry *e = glossary_find(g, term);
        if (e)
            return e;
    }
    if (!text || !*text)
        return NULL;
    char plain[512];
    unquoted(text, plain, sizeof plain);
    text = plain;
    if (!*text)
        return NULL;
    const GlossaryEntry *e = glossary_find(g, text);
    if (e)
        return e;
    size_t len = strlen(text); // "L3", "head 2": the name without its number
    while (len > 0 && isdigit((unsigned char)text[len - 1]))
        len--;
    if (len > 0 && len < strlen(text) && (e = find_n(g, text, len)))
        return e;
    const GlossaryEntry *best = NULL;
    size_t best_n = 0;
    for (int i = 0; i < g->n; i++) {
        const GlossaryEntry *c = &g->entries[i];
        const char *names[2] = {c->term, c->also};
        for (int k = 0; k < 2; k++)
            for (const char *p = names[k]; p && *p;) {
                while (*p == ' ' || *p == ',')
                    p++;
                const char *end = k == 0 ? NULL : strchr(p, ',');
                size_t n = end ? (size_t)(end - p) : strlen(p);
                while (n > 0 && p[n - 1] == ' ')
                    n--;
                if (n > best_n && has_words(text, p, n))
                    best = c, best_n = n;
                p = end ? end + 1 : NULL;
            }
    }
    return best;
}

const GlossaryEntry *scene_text_entry(const Glossary *g, const SceneText *t) {
    if (t->token_text) // the words are the model's: only the term the scene gives counts
        return t->term ? glossary_find(g, t->term) : NULL;
    return glossary_label(g, t->utf8, t->term);
}
