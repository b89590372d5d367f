// fuzz_targets.c — every file or text a user can hand kvscope, as one function of raw bytes:
// the input must either load (and then work) or be refused with KV_ERR_INPUT and a message.
// Shared by the deterministic mutation tests in test_fuzz.c and the libFuzzer harness in
// tests/fuzz (`make fuzz`).
#define _GNU_SOURCE // memfd_create
#include "fuzz_targets.h"

#include "lesson/lesson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// The bytes as a file with a path (an anonymous memory file; nothing touches the disk).
static int as_file(const uint8_t *data, size_t n, char path[64]) {
    int fd = memfd_create("kvscope-fuzz", 0);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

static FuzzVerdict verdict(KvStatus st, const KvError *err) {
    if (st == KV_OK)
        return FUZZ_ACCEPTED;
    if (st == KV_ERR_INPUT && err->msg[0] != '\0')
        return FUZZ_REFUSED;
    return FUZZ_BAD;
}

FuzzVerdict fuzz_model(const uint8_t *data, size_t n) {
    char path[64];
    int fd = as_file(data, n, path);
    if (fd < 0)
        return FUZZ_BAD;
    Model m;
    KvError err = {0};
    KvStatus st = model_load(&m, path, &err);
    close(fd);
    if (st == KV_OK) { // an accepted model must run: two positions, both modes
        Engine e;
        int toks[2] = {TOKEN_BOS, m.cfg.vocab_size - 1};
        if (engine_init(&e, &m, &err) == KV_OK) {
            int len = m.cfg.seq_len < 2 ? 1 : 2;
            engine_step(&e, toks, len, CACHE_MODE_ON, NULL, NULL);
            engine_step(&e, toks, len, CACHE_MODE_OFF, NULL, NULL);
            engine_free(&e);
        }
        model_free(&m);
    }
    return verdict(st, &err);
}

FuzzVerdict fuzz_tokenizer(const uint8_t *data, size_t n, int vocab_size) {
    char path[64];
    int fd = as_file(data, n, path);
    if (fd < 0)
        return FUZZ_BAD;
    Tokenizer t;
    KvError err = {0};
    KvStatus st = tokenizer_load(&t, path, vocab_size, &err);
    close(fd);
    if (st == KV_OK) { // an accepted tokenizer must encode and decode
        int ids[64], k = 0;
        KvError e2;
        if (tokenizer_encode(&t, "Once upon a time, caf\xc3\xa9 \xf0\x9f\x99\x82", true, false, ids,
                             64, &k, &e2) == KV_OK) {
            for (int i = 1; i < k; i++) {
                char bb[2];
                size_t len;
                (void)tokenizer_decode(&t, ids[i - 1], ids[i], bb, &len);
            }
        }
        tokenizer_free(&t);
    }
    return verdict(st, &err);
}

FuzzVerdict fuzz_prompt(const Tokenizer *t, const uint8_t *data, size_t n) {
    char *text = malloc(n + 1);
    memcpy(text, data, n);
    text[n] = '\0'; // a prompt is a C string: it ends at the first NUL
    int cap = (int)n + 3, k = 0;
    int *ids = malloc((size_t)cap * sizeof(int));
    KvError err = {0};
    KvStatus st = tokenizer_encode(t, text, true, false, ids, cap, &k, &err);
    if (st == KV_OK) {
        for (int i = 0; i < k; i++)
            if (ids[i] < 0 || ids[i] >= t->vocab_size)
                st = KV_ERR_RUNTIME; // an id outside the vocabulary is a bug
    }
    free(ids);
    free(text);
    return st == KV_ERR_RUNTIME ? FUZZ_BAD : verdict(st, &err);
}

FuzzVerdict fuzz_lesson(const uint8_t *data, size_t n) {
    static const Preset presets[] = {
        {"narrative", "Once upon a time"}, {"code", "def f(x):"}, {"fact", "The capital"}, {0}};
    Lesson l;
    KvError err = {0};
    KvStatus st = lesson_parse(&l, "fuzz.lesson", (const char *)data, n, presets, &err);
    if (st == KV_OK)
        lesson_free(&l);
    else if (strncmp(err.msg, "fuzz.lesson", 11) != 0) // every message names the file
        return FUZZ_BAD;
    return verdict(st, &err);
}
