// tokenizer.c — llama2.c's tokenizer.bin: reading, writing, and the encoder and decoder that
// give the same ids and text as llama2.c (DESIGN.md). Does not train a tokenizer (src/train).
#define _GNU_SOURCE // qsort_r
#include "engine/engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PIECE_BYTES 4096

// ----------------------------------------------------------------------------------------------
// Lookup: ids sorted by their bytes

static int cmp_bytes(const char *a, int alen, const char *b, int blen) {
    int n = alen < blen ? alen : blen;
    int r = memcmp(a, b, (size_t)n);
    if (r)
        return r;
    return (alen > blen) - (alen < blen);
}

static int cmp_ids(const void *a, const void *b, void *ctx) {
    const Tokenizer *t = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    int r = cmp_bytes(t->pieces[x], t->piece_len[x], t->pieces[y], t->piece_len[y]);
    return r ? r : (x > y) - (x < y); // equal pieces: the lower id first, found first
}

static void index_pieces(Tokenizer *t) {
    t->sorted = kv_malloc((size_t)t->vocab_size * sizeof(int));
    for (int i = 0; i < t->vocab_size; i++)
        t->sorted[i] = i;
    qsort_r(t->sorted, (size_t)t->vocab_size, sizeof(int), cmp_ids, t);
    t->max_token_length = 0;
    for (int i = 0; i < t->vocab_size; i++)
        if ((unsigned)t->piece_len[i] > t->max_token_length)
            t->max_token_length = (unsigned)t->piece_len[i];
    t->space_id = tokenizer_lookup(t, " ", 1);
    t->min_piece_len = t->vocab_size > 0 ? t->piece_len[0] : 0;
    for (int i = 1; i < t->vocab_size; i++)
        if (t->piece_len[i] < t->min_piece_len)
            t->min_piece_len = t->piece_len[i];
}

int tokenizer_lookup(const Tokenizer *t, const char *s, size_t len) {
    int lo = 0, hi = t->vocab_size - 1, found = -1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, id = t->sorted[mid];
        int r = cmp_bytes(t->pieces[id], t->piece_len[id], s, (int)len);
        if (r < 0) {
            lo = mid + 1;
        } else {
            if (r == 0)
                found = id;
            hi = mid - 1;
        }
    }
    return found;
}

// ----------------------------------------------------------------------------------------------
// Loading, building, writing

static void alloc_tables(Tokenizer *t, int n) {
    memset(t, 0, sizeof *t);
    t->vocab_size = n;
    t->pieces = kv_calloc((size_t)n, sizeof(char *));
    t->piece_len = kv_calloc((size_t)n, sizeof(int));
    t->scores = kv_calloc((size_t)n, sizeof(float));
    t->space_id = -1;
}

KvStatus tokenizer_load(Tokenizer *t, const char *path, int vocab_size, KvError *err) {
    alloc_tables(t, vocab_size);
    KvStatus st = KV_OK;
    // only a regular file (a FIFO would block forever, a directory or device is no tokenizer)
    uint64_t fsize;
    int fd = kv_open_regular(path, &fsize, err);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd >= 0) {
            st = kv_error(err, KV_ERR_RUNTIME, "%s: cannot open: %s", path, strerror(errno));
            close(fd);
        } else {
            st = err ? err->code : KV_ERR_INPUT;
        }
        goto fail;
    }
    uint32_t max_len;
    if (fread(&max_len, 4, 1, f) != 1) {
        st = kv_error(err, KV_ERR_INPUT, "%s: %s", path,
                      feof(f) ? "file is empty or truncated" : strerror(errno));
        goto fail;
    }
    for (int i = 0; i < vocab_size; i++) {
        float score;
        int32_t len;
        if (fread(&score, 4, 1, f) != 1 || fread(&len, 4, 1, f) != 1) {
            st = kv_error(err, KV_ERR_INPUT,
                          "%s: ends after %d of the model's %d tokens: the vocabulary does not "
                          "match the model",
                          path, i, vocab_size);
            goto fail;
        }
        if (len < 0 || len > MAX_PIECE_BYTES) {
            st = kv_error(err, KV_ERR_INPUT, "%s: token %d has length %d (allowed 0..%d)", path, i,
                          len, MAX_PIECE_BYTES);
            goto fail;
        }
        t->pieces[i] = kv_malloc((size_t)len + 1);
        if (fread(t->pieces[i], 1, (size_t)len, f) != (size_t)len) {
            st =
                kv_error(err, KV_ERR_INPUT, "%s: truncated in token %d of %d", path, i, vocab_size);
            goto fail;
        }
        t->pieces[i][len] = '\0';
        if (memchr(t->pieces[i], 0, (size_t)len)) {
            st = kv_error(err, KV_ERR_INPUT, "%s: token %d contains a NUL byte", path, i);
            goto fail;
        }
        t->piece_len[i] = len;
        t->scores[i] = score;
    }
    if (fgetc(f) != EOF) {
        st = kv_error(err, KV_ERR_INPUT,
                      "%s: has more tokens than the model's vocabulary of %d: the vocabulary "
                      "does not match the model",
                      path, vocab_size);
        goto fail;
    }
    fclose(f);
    index_pieces(t);
    if (t->space_id < 0) {
        st = kv_error(err, KV_ERR_INPUT, "%s: has no \" \" piece (needed as the dummy prefix)",
                      path);
        tokenizer_free(t);
        return st;
    }
    return KV_OK;
fail:
    if (f)
        fclose(f);
    tokenizer_free(t);
    return st;
}

KvStatus tokenizer_build(Tokenizer *t, int n, const char *const *pieces, const float *scores,
                         KvError *err) {
    alloc_tables(t, n);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(pieces[i]);
        t->pieces[i] = kv_malloc(len + 1);
        memcpy(t->pieces[i], pieces[i], len + 1);
        t->piece_len[i] = (int)len;
        t->scores[i] = scores[i];
    }
    index_pieces(t);
    if (t->space_id < 0) {
        tokenizer_free(t);
        return kv_error(err, KV_ERR_INPUT, "tokenizer: has no \" \" piece");
    }
    return KV_OK;
}

KvStatus tokenizer_write(const Tokenizer *t, const char *path, KvError *err) {
    size_t total = 4;
    for (int i = 0; i < t->vocab_size; i++)
        total += 8 + (size_t)t->piece_len[i];
    unsigned char *buf = kv_malloc(total), *p = buf;
    uint32_t max_len = t->max_token_length;
    memcpy(p, &max_len, 4), p += 4;
    for (int i = 0; i < t->vocab_size; i++) {
        int32_t len = t->piece_len[i];
        memcpy(p, &t->scores[i], 4), p += 4;
        memcpy(p, &len, 4), p += 4;
        memcpy(p, t->pieces[i], (size_t)len), p += len;
    }
    KvStatus st = kv_write_file_atomic(path, buf, total, err);
    free(buf);
    return st;
}

void tokenizer_free(Tokenizer *t) {
    if (t->pieces)
        for (int i = 0; i < t->vocab_size; i++)
            free(t->pieces[i]);
    free(t->pieces);
    free(t->piece_len);
    free(t->scores);
    free(t->sorted);
    memset(t, 0, sizeof *t);
    t->space_id = -1;
}

// ----------------------------------------------------------------------------------------------
// Encoding

// The merges, in O(n log n): the symbols are a doubly linked list over the initial ids, and every
// adjacent pair whose concatenation is a piece waits in a binary heap ordered by the piece's
// score (highest first) and then by the left symbol's position (leftmost first). Popping the
// top gives the pair llama2.c's scan would pick: the best score, the leftmost on ties. A merge
// removes the right symbol, and only the two pairs around the merged one are new; heap entries
// that no longer describe two neighbours with those ids are stale and skipped when popped.
typedef struct {
    float score;
    int left, right; // symbol indices (positions in the initial sequence)
    int left_id, right_id, merged;
} Pair;

typedef struct {
    Pair *a;
    size_t n, cap;
} PairHeap;

static bool pair_before(const Pair *x, const Pair *y) {
    return x->score > y->score || (x->score == y->score && x->left < y->left);
}

static void heap_push(PairHeap *h, Pair p) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->a = kv_realloc(h->a, h->cap * sizeof *h->a);
    }
    size_t i = h->n++;
    while (i > 0 && pair_before(&p, &h->a[(i - 1) / 2])) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = p;
}

static Pair heap_pop(PairHeap *h) {
    Pair top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && pair_before(&h->a[c + 1], &h->a[c]))
            c++;
        if (!pair_before(&h->a[c], &last))
            break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0)
        h->a[i] = last;
    return top;
}

// Pushes the pair (left, right) when their concatenation is a piece that can merge (a score
// above -1e10, as llama2.c's scan starts from; a NaN score never merges).
static void consider(const Tokenizer *t, PairHeap *h, char *buf, const int *ids, int left,
                     int right) {
    if (left < 0 || right < 0)
        return;
    int a = ids[left], b = ids[right];
    int la = t->piece_len[a], lb = t->piece_len[b];
    memcpy(buf, t->pieces[a], (size_t)la);
    memcpy(buf + la, t->pieces[b], (size_t)lb);
    int id = tokenizer_lookup(t, buf, (size_t)(la + lb));
    if (id >= 0 && t->scores[id] > -1e10f)
        heap_push(h, (Pair){t->scores[id], left, right, a, b, id});
}

KvStatus tokenizer_encode(const Tokenizer *t, const char *text, bool bos, bool eos, int *out,
                          int cap, int *n_out, KvError *err) {
    size_t tlen = strlen(text);
    // A text that cannot fit is refused before any work: when every piece holds at least one
    // byte, a token stands for at most max_token_length bytes of the text (merging concatenates
    // pieces; a byte-fallback or <unk> piece stands for one byte), so the dummy prefix and the
    // text need at least (tlen + 1) / max_token_length tokens.
    int fixed = (bos ? 1 : 0) + (eos ? 1 : 0);
    if (tlen > 0 && t->min_piece_len >= 1 && t->max_token_length > 0) {
        uint64_t room = cap > fixed ? (uint64_t)(cap - fixed) : 0;
        if ((uint64_t)tlen + 1 > room * t->max_token_length)
            return kv_error(err, KV_ERR_INPUT,
                            "prompt: %zu bytes, longer than the %d tokens that fit (a token "
                            "holds at most %u bytes)",
                            tlen, cap, t->max_token_length);
    }
    for (size_t i = 0; i < tlen;) {
        int n = kv_utf8_next(text + i, tlen - i, NULL);
        if (n == 0)
            return kv_error(err, KV_ERR_INPUT, "prompt: invalid UTF-8 at byte %zu", i);
        i += (size_t)n;
    }
    // Before merging, at most one id per byte plus BOS, prefix and EOS.
    int *ids = kv_malloc((tlen + 3) * sizeof(int));
    int n = 0;
    if (bos)
        ids[n++] = TOKEN_BOS;
    if (tlen > 0)
        ids[n++] = t->space_id;
    for (size_t i = 0; i < tlen;) {
        int len = kv_utf8_next(text + i, tlen - i, NULL);
        int id = tokenizer_lookup(t, text + i, (size_t)len);
        if (id >= 0) {
            ids[n++] = id;
        } else {
            for (int b = 0; b < len; b++) { // byte fallback (<unk> if there are no byte pieces)
                int id_b = (unsigned char)text[i + (size_t)b] + 3;
                ids[n++] = id_b < t->vocab_size ? id_b : TOKEN_UNK;
            }
        }
        i += (size_t)len;
    }
    // Merge the adjacent pair with the best score (the leftmost on ties) until none merges.
    int *next = kv_malloc(((size_t)n + 1) * sizeof(int));
    int *prev = kv_malloc(((size_t)n + 1) * sizeof(int));
    char *pair = kv_malloc(2 * (size_t)t->max_token_length + 1);
    PairHeap heap = {0};
    for (int i = 0; i < n; i++) {
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    // every adjacent pair, BOS included, as llama2.c's scan sees them
    for (int i = 0; i + 1 < n; i++)
        consider(t, &heap, pair, ids, i, i + 1);
    while (heap.n > 0) {
        Pair p = heap_pop(&heap);
        if (ids[p.left] < 0 || ids[p.right] < 0 || next[p.left] != p.right ||
            ids[p.left] != p.left_id || ids[p.right] != p.right_id)
            continue; // stale: one of them merged since
        ids[p.left] = p.merged;
        ids[p.right] = -1;
        next[p.left] = next[p.right];
        if (next[p.right] >= 0)
            prev[next[p.right]] = p.left;
        consider(t, &heap, pair, ids, prev[p.left], p.left);
        consider(t, &heap, pair, ids, p.left, next[p.left]);
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0)
            ids[m++] = ids[i];
    n = m;
    free(heap.a);
    free(pair);
    free(next);
    free(prev);
    if (eos)
        ids[n++] = TOKEN_EOS;
    if (n > cap) {
        free(ids);
        return kv_error(err, KV_ERR_INPUT, "prompt: %d tokens, longer than the %d that fit", n,
                        cap);
    }
    memcpy(out, ids, (size_t)n * sizeof(int));
    free(ids);
    *n_out = n;
    return KV_OK;
}

// ----------------------------------------------------------------------------------------------
// Decoding

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

const char *tokenizer_decode(const Tokenizer *t, int prev, int id, char byte_buf[2], size_t *len) {
    const char *piece = t->pieces[id];
    size_t n = (size_t)t->piece_len[id];
    if (prev == TOKEN_BOS && n > 0 && piece[0] == ' ') {
        piece++;
        n--;
    }
    if (n == 6 && memcmp(piece, "<0x", 3) == 0 && piece[5] == '>') {
        int hi = hexval(piece[3]), lo = hexval(piece[4]);
        if (hi >= 0 && lo >= 0) {
            byte_buf[0] = (char)(hi * 16 + lo);
            byte_buf[1] = '\0';
            *len = 1;
            return byte_buf;
        }
    }
    *len = n;
    return piece;
}
