// bpe.c — a byte-pair-encoding trainer and a fast encoder, both agreeing exactly with the engine's
// llama2.c-style encoder (DESIGN.md: " " prefix, one id per code point, then repeatedly merge the
// adjacent pair whose concatenated text is a piece of highest score, leftmost on ties).
//
// Why the trainer segments with the engine's own rule: classic BPE replays merges by pair, the
// engine merges by the concatenated *text*, and the two can disagree ("a"+"bc" makes "abc" for
// the engine even when training only ever merged "ab"+"c"). So here the segmentation of the
// corpus at every moment *is* the engine's greedy fixed point for the vocabulary so far. Each new
// piece gets the lowest score yet (-rank), so adding it can only continue the greedy run from the
// previous fixed point: the corpus is updated by running the greedy (a heap of candidate pairs)
// from the new piece's occurrences, cascading into any older merges the new piece enables.
// Merge ids are allocated in rank order, so "highest score" is "smallest merge id".
//
// What it does not do: read or write files other than through the engine's Tokenizer.
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

// ----------------------------------------------------------------------------------------------
// UTF-8 and a string -> id map

// Length of the UTF-8 sequence starting at s (1 for an invalid lead byte).
static int utf8_len(const unsigned char *s) {
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0 && (s[1] & 0xC0) == 0x80)
        return 2;
    if ((s[0] & 0xF0) == 0xE0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80)
        return 3;
    if ((s[0] & 0xF8) == 0xF0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 &&
        (s[3] & 0xC0) == 0x80)
        return 4;
    return 1;
}

static uint32_t utf8_code(const unsigned char *s, int n) {
    if (n == 1)
        return s[0];
    if (n == 2)
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    if (n == 3)
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
           ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

typedef struct {
    int cap;   // power of two
    int *slot; // id or -1
    char **pieces;
    int *len;
} PieceMap;

static uint32_t hash_bytes(const char *s, int n) {
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void map_init(PieceMap *m, int cap, char **pieces, int *len) {
    m->cap = cap;
    m->slot = kv_malloc((size_t)cap * sizeof(int));
    for (int i = 0; i < cap; i++)
        m->slot[i] = -1;
    m->pieces = pieces;
    m->len = len;
}

static int map_find(const PieceMap *m, const char *s, int n) {
    for (uint32_t h = hash_bytes(s, n) & (uint32_t)(m->cap - 1);;
         h = (h + 1) & (uint32_t)(m->cap - 1)) {
        int id = m->slot[h];
        if (id < 0)
            return -1;
        if (m->len[id] == n && memcmp(m->pieces[id], s, (size_t)n) == 0)
            return id;
    }
}

static void map_add(PieceMap *m, int id) {
    uint32_t h = hash_bytes(m->pieces[id], m->len[id]) & (uint32_t)(m->cap - 1);
    while (m->slot[h] >= 0)
        h = (h + 1) & (uint32_t)(m->cap - 1);
    m->slot[h] = id;
}

// Registers piece `id` in the merge table: every split of its text into two pieces (at code
// point boundaries) is a pair the encoder merges into it.
static void register_merges(Bpe *b, const PieceMap *m, int id) {
    const char *s = b->pieces[id];
    int n = b->piece_len[id];
    for (int k = utf8_len((const unsigned char *)s); k < n;
         k += utf8_len((const unsigned char *)s + k)) {
        int x = map_find(m, s, k), y = map_find(m, s + k, n - k);
        if (x >= 0 && y >= 0) {
            int *slot = &b->merge_of[(size_t)x * (size_t)b->vocab_size + (size_t)y];
            // two pieces with the same text cannot exist; keep the higher-scoring one
            if (*slot < 0 || b->scores[id] > b->scores[*slot])
                *slot = id;
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Which pieces the trainer may create (a pre-tokenisation rule, as SentencePiece's "word" rule):
// optional leading spaces, then a body of one character class (letters/digits/_, newlines, or
// other symbols). So " Mia" and "    return" are pieces, "Mia." and "of France" are not: a name
// is the same tokens wherever it stands, and a prompt ending before a space tokenises as the
// training text did.

typedef struct {
    bool all_space, lead_space;
    int cls; // class of the body: 1 word, 2 newline, 3 other; 0 when all spaces
} Shape;

static int char_class(unsigned char c) {
    if (c == ' ')
        return 0;
    if (c == '\n')
        return 2;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
        c >= 0x80)
        return 1;
    return 3;
}

static Shape piece_shape(const char *s, int n) {
    Shape sh = {true, n > 0 && s[0] == ' ', 0};
    for (int i = 0; i < n; i++)
        if (s[i] != ' ') {
            sh.all_space = false;
            sh.cls = char_class((unsigned char)s[i]);
            break;
        }
    return sh;
}

static bool may_merge(Shape x, Shape y) {
    return x.all_space || (!y.lead_space && y.cls == x.cls);
}

// ----------------------------------------------------------------------------------------------
// A binary heap of candidate merges: highest score first, then leftmost position.

typedef struct {
    float score;
    int pos, id;
} Cand;

typedef struct {
    Cand *a;
    size_t n, cap;
} Heap;

static bool cand_before(Cand x, Cand y) {
    return x.score > y.score || (x.score == y.score && x.pos < y.pos);
}

static void heap_push(Heap *h, Cand c) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1024;
        h->a = kv_realloc(h->a, h->cap * sizeof(Cand));
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_before(c, h->a[p]))
            break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = c;
}

static Cand heap_pop(Heap *h) {
    Cand top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, best = i;
        Cand bc = last;
        if (l < h->n && cand_before(h->a[l], bc)) {
            best = l;
            bc = h->a[l];
        }
        if (r < h->n && cand_before(h->a[r], bc))
            best = r;
        if (best == i)
            break;
        h->a[i] = h->a[best];
        i = best;
    }
    if (h->n)
        h->a[i] = last;
    return top;
}

// ----------------------------------------------------------------------------------------------
// A symbol sequence as a doubly linked list; -1 in sym separates documents (never merged across).

typedef struct {
    int *sym, *prv, *nxt;
    size_t n;
} Seq;

static int merge_at(const Bpe *b, const Seq *s, int i) { // merge id of the pair at i, or -1
    if (i < 0 || s->sym[i] < 0)
        return -1;
    int j = s->nxt[i];
    if (j < 0 || s->sym[j] < 0)
        return -1;
    return b->merge_of[(size_t)s->sym[i] * (size_t)b->vocab_size + (size_t)s->sym[j]];
}

static void push_if(const Bpe *b, const Seq *s, Heap *h, int i) {
    int id = merge_at(b, s, i);
    if (id >= 0)
        heap_push(h, (Cand){b->scores[id], i, id});
}

// Runs the greedy from the heap's candidates to a fixed point. When count is not NULL it keeps
// the pair counts (V x V) up to date.
static void greedy_run(const Bpe *b, Seq *s, Heap *h, int *count) {
    size_t V = (size_t)b->vocab_size;
    while (h->n) {
        Cand c = heap_pop(h);
        int i = c.pos;
        if (s->sym[i] < 0 || merge_at(b, s, i) != c.id)
            continue; // stale: the pair changed since it was pushed
        int j = s->nxt[i];
        int a = s->prv[i] >= 0 ? s->sym[s->prv[i]] : -1;
        int z = s->nxt[j] >= 0 ? s->sym[s->nxt[j]] : -1;
        int x = s->sym[i], y = s->sym[j];
        if (count) {
            if (a >= 0)
                count[(size_t)a * V + (size_t)x]--;
            count[(size_t)x * V + (size_t)y]--;
            if (z >= 0)
                count[(size_t)y * V + (size_t)z]--;
            if (a >= 0)
                count[(size_t)a * V + (size_t)c.id]++;
            if (z >= 0)
                count[(size_t)c.id * V + (size_t)z]++;
        }
        s->sym[i] = c.id;
        s->nxt[i] = s->nxt[j];
        if (s->nxt[j] >= 0)
            s->prv[s->nxt[j]] = i;
        s->sym[j] = -2; // dead
        push_if(b, s, h, s->prv[i]);
        push_if(b, s, h, i);
    }
}

// Appends the initial symbols of text (" " prefix, code points, byte fallback) to s.
static void seq_append_text(const Bpe *b, Seq *s, size_t *cap, const char *text) {
    size_t need = s->n + strlen(text) + 2;
    if (need > *cap) {
        while (*cap < need)
            *cap = *cap ? *cap * 2 : 1024;
        s->sym = kv_realloc(s->sym, *cap * sizeof(int));
        s->prv = kv_realloc(s->prv, *cap * sizeof(int));
        s->nxt = kv_realloc(s->nxt, *cap * sizeof(int));
    }
    size_t start = s->n;
    if (*text)
        s->sym[s->n++] = b->char_id[' '];
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        int n = utf8_len(p);
        uint32_t cp = utf8_code(p, n);
        int id = cp < 0x10000 ? b->char_id[cp] : -1;
        if (id >= 0) {
            s->sym[s->n++] = id;
        } else {
            for (int k = 0; k < n; k++)
                s->sym[s->n++] = p[k] + 3;
        }
        p += n;
    }
    for (size_t i = start; i < s->n; i++) {
        s->prv[i] = i > start ? (int)i - 1 : -1;
        s->nxt[i] = i + 1 < s->n ? (int)i + 1 : -1;
    }
}

// ----------------------------------------------------------------------------------------------
// Building vocabularies

static void bpe_alloc(Bpe *b, int vocab_size) {
    memset(b, 0, sizeof *b);
    b->vocab_size = vocab_size;
    b->pieces = kv_calloc((size_t)vocab_size, sizeof(char *));
    b->piece_len = kv_calloc((size_t)vocab_size, sizeof(int));
    b->scores = kv_calloc((size_t)vocab_size, sizeof(float));
    b->merge_of = kv_malloc((size_t)vocab_size * (size_t)vocab_size * sizeof(int));
    for (size_t i = 0; i < (size_t)vocab_size * (size_t)vocab_size; i++)
        b->merge_of[i] = -1;
    b->char_id = kv_malloc(0x10000 * sizeof(int));
    for (int i = 0; i < 0x10000; i++)
        b->char_id[i] = -1;
}

void bpe_free(Bpe *b) {
    if (b->pieces)
        for (int i = 0; i < b->vocab_size; i++)
            free(b->pieces[i]);
    free(b->pieces);
    free(b->piece_len);
    free(b->scores);
    free(b->merge_of);
    free(b->char_id);
    memset(b, 0, sizeof *b);
}

static void set_piece(Bpe *b, int id, const char *s, int n, float score) {
    b->pieces[id] = kv_malloc((size_t)n + 1);
    memcpy(b->pieces[id], s, (size_t)n);
    b->pieces[id][n] = 0;
    b->piece_len[id] = n;
    b->scores[id] = score;
}

KvStatus bpe_train(Bpe *b, char *const *docs, size_t n_docs, int vocab_size, FILE *log,
                   KvError *err) {
    if (vocab_size < 300 || vocab_size > 4096)
        return kv_error(err, KV_ERR_INPUT, "bpe: vocabulary size %d outside 300..4096", vocab_size);
    bpe_alloc(b, vocab_size);
    set_piece(b, 0, "<unk>", 5, 0);
    set_piece(b, 1, "\n<s>\n", 5, 0);
    set_piece(b, 2, "\n</s>\n", 6, 0);
    for (int i = 0; i < 256; i++) {
        char t[8];
        snprintf(t, sizeof t, "<0x%02X>", i);
        set_piece(b, 3 + i, t, 6, 0);
    }
    // every code point of the corpus (and " ") is a piece, in code point order
    bool *seen = kv_calloc(0x10000, sizeof(bool));
    seen[' '] = true;
    for (size_t d = 0; d < n_docs; d++) {
        for (const unsigned char *p = (const unsigned char *)docs[d]; *p;) {
            int n = utf8_len(p);
            uint32_t cp = utf8_code(p, n);
            if (cp < 0x10000)
                seen[cp] = true;
            p += n;
        }
    }
    int id = 259;
    for (uint32_t cp = 1; cp < 0x10000; cp++) {
        if (!seen[cp])
            continue;
        if (id >= vocab_size) {
            free(seen);
            bpe_free(b);
            return kv_error(err, KV_ERR_INPUT, "bpe: more characters than vocabulary");
        }
        char t[4];
        int n;
        if (cp < 0x80) {
            t[0] = (char)cp;
            n = 1;
        } else if (cp < 0x800) {
            t[0] = (char)(0xC0 | (cp >> 6));
            t[1] = (char)(0x80 | (cp & 0x3F));
            n = 2;
        } else {
            t[0] = (char)(0xE0 | (cp >> 12));
            t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            t[2] = (char)(0x80 | (cp & 0x3F));
            n = 3;
        }
        set_piece(b, id, t, n, 0);
        b->char_id[cp] = id++;
    }
    free(seen);
    b->n_base = id;
    PieceMap map;
    int mcap = 1;
    while (mcap < 2 * vocab_size)
        mcap *= 2;
    map_init(&map, mcap, b->pieces, b->piece_len);
    for (int i = 3 + 256; i < id; i++)
        map_add(&map, i);

    // the corpus, as one list with -1 between documents
    Seq s = {0};
    size_t cap = 0;
    for (size_t d = 0; d < n_docs; d++) {
        seq_append_text(b, &s, &cap, docs[d]);
        if (s.n + 1 > cap) {
            cap *= 2;
            s.sym = kv_realloc(s.sym, cap * sizeof(int));
            s.prv = kv_realloc(s.prv, cap * sizeof(int));
            s.nxt = kv_realloc(s.nxt, cap * sizeof(int));
        }
        s.sym[s.n] = -1;
        s.prv[s.n] = s.nxt[s.n] = -1;
        s.n++;
    }
    size_t V = (size_t)vocab_size;
    int *count = kv_calloc(V * V, sizeof(int));
    for (size_t i = 0; i + 1 < s.n; i++)
        if (s.sym[i] >= 0 && s.sym[i + 1] >= 0)
            count[(size_t)s.sym[i] * V + (size_t)s.sym[i + 1]]++;

    Shape *shape = kv_malloc(V * sizeof(Shape));
    for (int i = 0; i < id; i++)
        shape[i] = piece_shape(b->pieces[i], b->piece_len[i]);
    Heap h = {0};
    int rank = 0;
    for (; id < vocab_size; id++, rank++) {
        // the most frequent allowed adjacent pair (smallest ids on ties, for determinism)
        int best = -1, bx = -1, by = -1;
        for (int x = 3; x < id; x++) {
            const int *row = count + (size_t)x * V;
            for (int y = 3; y < id; y++)
                if (row[y] > best && may_merge(shape[x], shape[y])) {
                    best = row[y];
                    bx = x;
                    by = y;
                }
        }
        if (best < 2)
            break;
        int nx = b->piece_len[bx], ny = b->piece_len[by];
        char *t = kv_malloc((size_t)(nx + ny));
        memcpy(t, b->pieces[bx], (size_t)nx);
        memcpy(t + nx, b->pieces[by], (size_t)ny);
        set_piece(b, id, t, nx + ny, -(float)rank);
        shape[id] = piece_shape(t, nx + ny);
        free(t);
        map_add(&map, id);
        register_merges(b, &map, id);
        // compact the list: merges keep the left symbol in its slot, so array order is text
        // order; drop the dead ones and relink, then seed the heap with the new piece's pairs
        size_t w = 0;
        for (size_t i = 0; i < s.n; i++)
            if (s.sym[i] != -2)
                s.sym[w++] = s.sym[i];
        s.n = w;
        for (size_t i = 0; i < s.n; i++) {
            s.prv[i] = i > 0 && s.sym[i - 1] >= 0 && s.sym[i] >= 0 ? (int)i - 1 : -1;
            s.nxt[i] = i + 1 < s.n && s.sym[i + 1] >= 0 && s.sym[i] >= 0 ? (int)i + 1 : -1;
        }
        for (size_t i = 0; i + 1 < s.n; i++)
            if (merge_at(b, &s, (int)i) == id)
                heap_push(&h, (Cand){b->scores[id], (int)i, id});
        greedy_run(b, &s, &h, count);
        if (log && rank % 100 == 0)
            fprintf(log, "bpe: merge %d: '%s' (%d pairs), %zu symbols\n", rank, b->pieces[id], best,
                    s.n);
    }
    if (id < vocab_size) {
        // Not enough distinct pairs: fill with unused, unreachable filler pieces so the vocabulary
        // keeps its size (never produced by merges: their text holds a NUL-free marker).
        for (; id < vocab_size; id++) {
            char t[32];
            snprintf(t, sizeof t, "<unused%d>", id);
            set_piece(b, id, t, (int)strlen(t), -1e9f);
        }
    }
    free(shape);
    free(h.a);
    free(count);
    free(s.sym);
    free(s.prv);
    free(s.nxt);
    free(map.slot);
    return KV_OK;
}

KvStatus bpe_from_tokenizer(Bpe *b, const Tokenizer *t, KvError *err) {
    bpe_alloc(b, t->vocab_size);
    for (int i = 0; i < t->vocab_size; i++)
        set_piece(b, i, t->pieces[i], t->piece_len[i], t->scores[i]);
    PieceMap map;
    int mcap = 1;
    while (mcap < 2 * t->vocab_size)
        mcap *= 2;
    map_init(&map, mcap, b->pieces, b->piece_len);
    b->n_base = t->vocab_size;
    for (int i = 0; i < t->vocab_size; i++) {
        if (map_find(&map, b->pieces[i], b->piece_len[i]) < 0)
            map_add(&map, i);
        const unsigned char *p = (const unsigned char *)b->pieces[i];
        int n = b->piece_len[i];
        if (n > 0 && utf8_len(p) == n && i >= 3) {
            uint32_t cp = utf8_code(p, n);
            if (cp < 0x10000 && b->char_id[cp] < 0)
                b->char_id[cp] = i;
        }
    }
    for (int i = 0; i < t->vocab_size; i++)
        if (b->piece_len[i] > 1)
            register_merges(b, &map, i);
    free(map.slot);
    if (b->char_id[' '] < 0) {
        bpe_free(b);
        return kv_error(err, KV_ERR_INPUT, "tokenizer: no \" \" piece");
    }
    return KV_OK;
}

int bpe_encode(const Bpe *b, const char *text, int *out) {
    Seq s = {0};
    size_t cap = 0;
    seq_append_text(b, &s, &cap, text);
    Heap h = {0};
    for (size_t i = 0; i + 1 < s.n; i++)
        push_if(b, &s, &h, (int)i);
    greedy_run(b, &s, &h, NULL);
    int n = 0;
    for (int i = s.n ? 0 : -1; i >= 0; i = s.nxt[i])
        out[n++] = s.sym[i];
    free(h.a);
    free(s.sym);
    free(s.prv);
    free(s.nxt);
    return n;
}

KvStatus bpe_write(const Bpe *b, const char *path, KvError *err) {
    Tokenizer t;
    KvStatus st =
        tokenizer_build(&t, b->vocab_size, (const char *const *)b->pieces, b->scores, err);
    if (st != KV_OK)
        return st;
    st = tokenizer_write(&t, path, err);
    tokenizer_free(&t);
    return st;
}

size_t encode_stream(const Bpe *b, char *const *docs, size_t n_docs, int **out) {
    size_t cap = 1 << 20, n = 0;
    int *tok = kv_malloc(cap * sizeof(int));
    for (size_t d = 0; d < n_docs; d++) {
        size_t need = n + strlen(docs[d]) + 3;
        if (need > cap) {
            while (cap < need)
                cap *= 2;
            tok = kv_realloc(tok, cap * sizeof(int));
        }
        tok[n++] = TOKEN_BOS;
        n += (size_t)bpe_encode(b, docs[d], tok + n);
    }
    *out = tok;
    return n;
}
