// test_tokenizer.c — encoding and decoding as llama2.c does them: the BOS and dummy-prefix
// rules, merges by best score (leftmost on ties), byte fallback, round trips on ASCII,
// accented text and emoji, and what invalid input gets.
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(tokenizer, .fini = tu_leak_check);

static Tokenizer tok512(void) {
    Tokenizer t;
    KvError err = {0};
    cr_assert_eq(tu_tokenizer(&t, 512, &err), KV_OK, "%s", err.msg);
    return t;
}

static int encode(const Tokenizer *t, const char *text, bool bos, bool eos, int *ids, int cap) {
    int n = -1;
    KvError err = {0};
    KvStatus st = tokenizer_encode(t, text, bos, eos, ids, cap, &n, &err);
    cr_assert_eq(st, KV_OK, "encode \"%s\": %s", text, err.msg);
    return n;
}

static int id_of(const Tokenizer *t, const char *piece) {
    int id = tokenizer_lookup(t, piece, strlen(piece));
    cr_assert_geq(id, 0, "no piece \"%s\"", piece);
    return id;
}

static void assert_ids(const int *got, int n, const int *want, int nw, const char *what) {
    cr_assert_eq(n, nw, "%s: %d ids, want %d", what, n, nw);
    for (int i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "%s: id %d is %d, want %d", what, i, got[i], want[i]);
}

// Decodes ids[1..n) after ids[0] the way a reader sees them.
static char *decode_all(const Tokenizer *t, const int *ids, int n, size_t *out_len) {
    TuBuf b = {0};
    tu_buf_add(&b, "", 0);
    for (int i = 1; i < n; i++) {
        char bb[2];
        size_t len = 0;
        const char *p = tokenizer_decode(t, ids[i - 1], ids[i], bb, &len);
        tu_buf_add(&b, p, len);
    }
    *out_len = b.len;
    return b.s;
}

Test(tokenizer, lookup_and_conventions) {
    Tokenizer t = tok512();
    cr_assert_eq(t.vocab_size, 512);
    cr_assert_eq(tokenizer_lookup(&t, "\n<s>\n", 5), TOKEN_BOS);
    cr_assert_eq(tokenizer_lookup(&t, "\n</s>\n", 6), TOKEN_EOS);
    cr_assert_eq(tokenizer_lookup(&t, "<0x00>", 6), 3);
    cr_assert_eq(tokenizer_lookup(&t, "<0xFF>", 6), 258);
    cr_assert_eq(tokenizer_lookup(&t, " a", 2), 259);
    cr_assert_eq(tokenizer_lookup(&t, "fb", 2), 416);
    cr_assert_eq(tokenizer_lookup(&t, "~", 1), 511);
    cr_assert_eq(tokenizer_lookup(&t, "fc", 2), -1);
    cr_assert_eq(tokenizer_lookup(&t, " a", 1), 417, "a prefix of a piece is its own lookup");
    cr_assert_eq(tokenizer_lookup(&t, "zz", 2), -1);
    cr_assert_eq(t.space_id, 417);
    tokenizer_free(&t);
}

Test(tokenizer, bos_and_dummy_prefix) {
    Tokenizer t = tok512();
    int ids[64];
    int n = encode(&t, "", true, false, ids, 64);
    assert_ids(ids, n, (int[]){TOKEN_BOS}, 1, "empty text: BOS only, no prefix");
    n = encode(&t, "", false, false, ids, 64);
    cr_assert_eq(n, 0, "empty text without BOS: nothing");
    n = encode(&t, "", true, true, ids, 64);
    assert_ids(ids, n, (int[]){TOKEN_BOS, TOKEN_EOS}, 2, "empty with BOS and EOS");
    // "a": BOS, " " + "a" merge into " a"
    n = encode(&t, "a", true, false, ids, 64);
    assert_ids(ids, n, (int[]){TOKEN_BOS, 259}, 2, "\"a\"");
    n = encode(&t, "a", false, true, ids, 64);
    assert_ids(ids, n, (int[]){259, TOKEN_EOS}, 2, "\"a\" without BOS, with EOS");
    // "A": " A" is not a piece: the prefix stays alone
    n = encode(&t, "A", true, false, ids, 64);
    assert_ids(ids, n, (int[]){TOKEN_BOS, 417, id_of(&t, "A")}, 3, "\"A\"");
    // decoding drops the prefix's space right after BOS only
    char bb[2];
    size_t len;
    const char *p = tokenizer_decode(&t, TOKEN_BOS, 259, bb, &len);
    cr_assert(len == 1 && memcmp(p, "a", 1) == 0, "\" a\" after BOS reads \"a\"");
    p = tokenizer_decode(&t, 300, 259, bb, &len);
    cr_assert(len == 2 && memcmp(p, " a", 2) == 0, "\" a\" elsewhere keeps its space");
    p = tokenizer_decode(&t, TOKEN_BOS, 417, bb, &len);
    cr_assert_eq(len, 0u, "\" \" after BOS reads as nothing");
    tokenizer_free(&t);
}

Test(tokenizer, merges_best_score_first) {
    Tokenizer t = tok512();
    int ids[64];
    // " ab": pairs " a" (score 0) and "ab" (-27): " a" wins, then " ab" is no piece
    int n = encode(&t, "ab", true, false, ids, 64);
    assert_ids(ids, n, (int[]){TOKEN_BOS, 259, id_of(&t, "b")}, 3, "\"ab\"");
    // "bad": " b" (-1), "ba" (-52), "ad" (-29): " b" first, then "ad"
    n = encode(&t, "bad", true, false, ids, 64);
    assert_ids(ids, n, (int[]){TOKEN_BOS, id_of(&t, " b"), id_of(&t, "ad")}, 3, "\"bad\"");
    tokenizer_free(&t);
}

// A small vocabulary with chosen scores, for ties and multi-level merges.
static void custom(Tokenizer *t, const char *const *extra, const float *extra_scores, int n_extra) {
    int n = 259 + n_extra;
    const char **pieces = malloc((size_t)n * sizeof *pieces);
    float *scores = malloc((size_t)n * sizeof *scores);
    char *buf = malloc(259 * 8);
    pieces[0] = "<unk>", pieces[1] = "\n<s>\n", pieces[2] = "\n</s>\n";
    for (int b = 0; b < 256; b++) {
        snprintf(buf + 8 * b, 8, "<0x%02X>", b);
        pieces[3 + b] = buf + 8 * b;
    }
    for (int i = 0; i < 259; i++)
        scores[i] = 0;
    for (int i = 0; i < n_extra; i++) {
        pieces[259 + i] = extra[i];
        scores[259 + i] = extra_scores[i];
    }
    KvError err = {0};
    cr_assert_eq(tokenizer_build(t, n, pieces, scores, &err), KV_OK, "%s", err.msg);
    free(pieces);
    free(scores);
    free(buf);
}

Test(tokenizer, merges_leftmost_on_ties) {
    Tokenizer t;
    const char *extra[] = {" ", "a", "b", "ab", "ba"};
    const float sc[] = {-10, -10, -10, 1, 1}; // "ab" and "ba" tie
    custom(&t, extra, sc, 5);
    int ids[16];
    // " aba": "ab" (at 1) and "ba" (at 2) tie: the leftmost merges
    int n = encode(&t, "aba", true, false, ids, 16);
    assert_ids(ids, n, (int[]){TOKEN_BOS, 259, 262, 260}, 4, "\"aba\" with a tie");
    // " bab": "ba" at 1 and "ab" at 2 tie: "ba" first
    n = encode(&t, "bab", true, false, ids, 16);
    assert_ids(ids, n, (int[]){TOKEN_BOS, 259, 263, 261}, 4, "\"bab\" with a tie");
    tokenizer_free(&t);
}

Test(tokenizer, merges_repeat_until_none) {
    Tokenizer t;
    const char *extra[] = {" ", "a", "b", "c", "bc", "abc", "ab", " abc"};
    const float sc[] = {-10, -10, -10, -10, 5, 4, 1, 3};
    custom(&t, extra, sc, 8);
    int ids[16];
    // " abc": "bc" (5) beats "ab" (1); then "a"+"bc" = "abc" (4); then " "+"abc" (3)
    int n = encode(&t, "abc", true, false, ids, 16);
    assert_ids(ids, n, (int[]){TOKEN_BOS, 266}, 2, "\"abc\" merges three times");
    // "cab": " c" is no piece; "ab" merges; "cab" is no piece
    n = encode(&t, "cab", true, false, ids, 16);
    assert_ids(ids, n, (int[]){TOKEN_BOS, 259, 262, 265}, 4, "\"cab\"");
    tokenizer_free(&t);
}

Test(tokenizer, byte_fallback_and_code_point_pieces) {
    Tokenizer t;
    const char *extra[] = {" ", "é", "a"};
    const float sc[] = {-1, -1, -1};
    custom(&t, extra, sc, 3);
    int ids[32];
    // é (U+00E9) is a piece; ü is not: its two bytes, each + 3
    int n = encode(&t, "éü", true, false, ids, 32);
    assert_ids(ids, n, (int[]){TOKEN_BOS, 259, 260, 0xC3 + 3, 0xBC + 3}, 5, "\"éü\"");
    // an emoji: four bytes
    n = encode(&t, "🙂", false, false, ids, 32);
    assert_ids(ids, n, (int[]){259, 0xF0 + 3, 0x9F + 3, 0x99 + 3, 0x82 + 3}, 5, "emoji");
    // decode turns <0xHH> into its byte, a <0x00> piece into one NUL byte
    char bb[2];
    size_t len;
    const char *p = tokenizer_decode(&t, 5, 0xC3 + 3, bb, &len);
    cr_assert(len == 1 && (unsigned char)p[0] == 0xC3);
    p = tokenizer_decode(&t, 5, 3, bb, &len);
    cr_assert(len == 1 && p[0] == '\0');
    tokenizer_free(&t);
}

static void round_trip(const Tokenizer *t, const char *text) {
    int cap = (int)strlen(text) + 3;
    int *ids = malloc((size_t)cap * sizeof(int));
    int n = encode(t, text, true, false, ids, cap);
    for (int i = 0; i < n; i++)
        cr_assert(ids[i] >= 0 && ids[i] < t->vocab_size);
    size_t len;
    char *back = decode_all(t, ids, n, &len);
    cr_assert_eq(len, strlen(text), "round trip of \"%s\": %zu bytes back", text, len);
    cr_assert(memcmp(back, text, len) == 0, "round trip of \"%s\" gave \"%s\"", text, back);
    free(back);
    free(ids);
}

Test(tokenizer, round_trips) {
    Tokenizer t = tok512();
    const char *texts[] = {
        "Once upon a time, in a small kingdom, there lived a princess named Mia.",
        "def area(width, height):\n    return width * height\n",
        "  two leading spaces and trailing  ",
        "tab\tcarriage\rreturn\x01\x7f",
        "Crème brûlée à la française, naïve façade, Ærøskøbing, Øresund",
        "Emoji: 🙂🚀👩‍👩‍👧 and flags 🇫🇷; CJK 漢字かな; Greek λόγος",
        "\xF4\x8F\xBF\xBF max code point",
        "a",
        " ",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        round_trip(&t, texts[i]);
    tokenizer_free(&t);
}

Test(tokenizer, invalid_utf8_rejected) {
    Tokenizer t = tok512();
    const char *bad[] = {
        "\x80",                    // lone continuation byte
        "ab\xC3",                  // truncated two-byte sequence
        "\xE2\x82",                // truncated three-byte sequence
        "\xC0\xAF",                // overlong '/'
        "\xE0\x80\xAF",            // overlong, three bytes
        "\xED\xA0\x80",            // UTF-16 surrogate
        "\xF4\x90\x80\x80",        // past U+10FFFF
        "\xFF",                    // never valid
        "ok \xF8\x88\x80\x80\x80", // five-byte form
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int ids[32], n = 0;
        KvError err = {0};
        cr_assert_eq(tokenizer_encode(&t, bad[i], true, false, ids, 32, &n, &err), KV_ERR_INPUT,
                     "case %zu accepted", i);
        cr_assert(strstr(err.msg, "UTF-8") != NULL, "case %zu: message \"%s\"", i, err.msg);
    }
    tokenizer_free(&t);
}

Test(tokenizer, capacity) {
    Tokenizer t = tok512();
    int ids[4], n = 0;
    KvError err = {0};
    cr_assert_eq(tokenizer_encode(&t, "A A A", true, false, ids, 4, &n, &err), KV_ERR_INPUT);
    cr_assert(strlen(err.msg) > 0);
    // exactly at the capacity is fine: BOS " " "A" " A"? " A" is no piece: BOS, " ", "A", " ", "A"
    int ids5[5];
    cr_assert_eq(tokenizer_encode(&t, "A A", true, false, ids5, 5, &n, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(n, 5);
    tokenizer_free(&t);
}

// A vocabulary without the 256 byte pieces: a character that is not a piece must not turn into
// an id past the vocabulary.
Test(tokenizer, small_vocabulary_without_byte_pieces) {
    const char *pieces[] = {"<unk>", "\n<s>\n", "\n</s>\n", " ", "a"};
    const float scores[] = {0, 0, 0, 0, 0};
    Tokenizer t;
    KvError err = {0};
    if (tokenizer_build(&t, 5, pieces, scores, &err) != KV_OK)
        return; // rejecting it is fine
    int ids[16], n = 0;
    KvStatus st = tokenizer_encode(&t, "ab", true, false, ids, 16, &n, &err);
    if (st == KV_OK)
        for (int i = 0; i < n; i++)
            cr_assert(ids[i] >= 0 && ids[i] < t.vocab_size, "id %d = %d past a vocabulary of 5", i,
                      ids[i]);
    tokenizer_free(&t);
}

// Writing and loading keep every piece and score.
Test(tokenizer, write_load_round_trip) {
    char *dir = tu_tmpdir();
    char *path = tu_join(dir, "tok.bin");
    KvError err = {0};
    cr_assert_eq(tu_write_tokenizer(path, 400, &err), KV_OK, "%s", err.msg);
    Tokenizer a, b;
    cr_assert_eq(tu_tokenizer(&a, 400, &err), KV_OK, "%s", err.msg);
    cr_assert_eq(tokenizer_load(&b, path, 400, &err), KV_OK, "%s", err.msg);
    for (int i = 0; i < 400; i++) {
        cr_assert_eq(a.piece_len[i], b.piece_len[i]);
        cr_assert(memcmp(a.pieces[i], b.pieces[i], (size_t)a.piece_len[i]) == 0);
        cr_assert_eq(a.scores[i], b.scores[i]);
    }
    // the count comes from the model: one more or one fewer does not match
    Tokenizer c;
    cr_assert_eq(tokenizer_load(&c, path, 401, &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, path) != NULL, "message names the file: %s", err.msg);
    cr_assert_eq(tokenizer_load(&c, path, 399, &err), KV_ERR_INPUT);
    cr_assert(strstr(err.msg, path) != NULL, "message names the file: %s", err.msg);
    tokenizer_free(&a);
    tokenizer_free(&b);
    free(path);
    tu_rmtree(dir);
}
