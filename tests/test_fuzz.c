// test_fuzz.c — deterministic mutation fuzzing of everything a user can hand kvscope:
// checkpoints, tokenizers, prompts and lessons. Each mutant must be accepted (and then work) or
// refused with KV_ERR_INPUT and a message; under `make check SANITIZE=1` any overflow or UB fails
// the run.
// Seeds are fixed, so a failure reproduces; `make fuzz` runs the same targets under libFuzzer.
#include "util/fuzz_targets.h"
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

TestSuite(fuzz, .fini = tu_leak_check, .timeout = 240);

static uint32_t rnd(uint64_t *s, uint32_t n) {
    return n ? kv_rng_u32(s) % n : 0;
}

// One mutant of seed into out (cap bytes); returns its length.
static size_t mutate(const uint8_t *seed, size_t n, uint8_t *out, size_t cap, uint64_t *s,
                     size_t header) {
    size_t len = n < cap ? n : cap;
    memcpy(out, seed, len);
    switch (rnd(s, 6)) {
    case 0: // a header field set to a boundary value
        if (header >= 4) {
            static const int32_t special[] = {0, -1, 1, 2, 3, INT_MAX, INT_MIN, 1 << 30, -512, 7};
            int32_t v = special[rnd(s, sizeof special / sizeof special[0])];
            memcpy(out + 4 * rnd(s, (uint32_t)(header / 4)), &v, 4);
        }
        break;
    case 1: // a few random bytes anywhere
        for (int k = 1 + (int)rnd(s, 4); k > 0 && len; k--)
            out[rnd(s, (uint32_t)len)] = (uint8_t)rnd(s, 256);
        break;
    case 2: // truncated
        len = rnd(s, (uint32_t)len + 1);
        break;
    case 3: // extended
        for (int k = 1 + (int)rnd(s, 64); k > 0 && len < cap; k--)
            out[len++] = (uint8_t)rnd(s, 256);
        break;
    case 4: // a NaN or an infinity among the weights
        if (len > header + 4) {
            uint32_t bits = rnd(s, 2) ? 0x7fc00000u : 0x7f800000u;
            memcpy(out + header + 4 * rnd(s, (uint32_t)((len - header) / 4)), &bits, 4);
        }
        break;
    default: // a random bit in the header
        if (header && len)
            out[rnd(s, (uint32_t)(header < len ? header : len))] ^= (uint8_t)(1u << rnd(s, 8));
    }
    return len;
}

static void check_mutants(const char *what, const uint8_t *seed, size_t n, size_t header, int count,
                          FuzzVerdict (*target)(const uint8_t *, size_t, void *), void *ctx) {
    uint8_t *buf = malloc(n + 64);
    uint64_t s = 0x5eed;
    int refused = 0, accepted = 0;
    for (int i = 0; i < count; i++) {
        size_t len = mutate(seed, n, buf, n + 64, &s, header);
        FuzzVerdict v = target(buf, len, ctx);
        cr_assert_neq(v, FUZZ_BAD,
                      "%s mutant %d (%zu bytes) neither loaded nor was refused cleanly", what, i,
                      len);
        refused += v == FUZZ_REFUSED;
        accepted += v == FUZZ_ACCEPTED;
    }
    free(buf);
    // the mutations must reach both outcomes, or this test is not exercising the loader
    cr_assert_gt(refused, count / 10, "%s: only %d of %d mutants refused", what, refused, count);
    cr_assert_gt(accepted, 0, "%s: no mutant was accepted", what);
}

static FuzzVerdict model_target(const uint8_t *d, size_t n, void *ctx) {
    (void)ctx;
    return fuzz_model(d, n);
}

static FuzzVerdict tokenizer_target(const uint8_t *d, size_t n, void *ctx) {
    return fuzz_tokenizer(d, n, *(int *)ctx);
}

static FuzzVerdict lesson_target(const uint8_t *d, size_t n, void *ctx) {
    (void)ctx;
    return fuzz_lesson(d, n);
}

Test(fuzz, checkpoints) {
    char *dir = tu_tmpdir(), *path = tu_join(dir, "m.bin");
    ModelConfig c = tu_config(16, 24, 2, 4, 2, 400, 8, false);
    KvError err;
    cr_assert_eq(tu_write_random_checkpoint(path, &c, 3, &err), KV_OK, "%s", err.msg);
    size_t n;
    uint8_t *seed = tu_read_file(path, &n);
    cr_assert_not_null(seed);
    cr_assert_eq(fuzz_model(seed, n), FUZZ_ACCEPTED, "the unmutated checkpoint loads");
    check_mutants("checkpoint", seed, n, 28, 600, model_target, NULL);
    free(seed);
    free(path);
    tu_rmtree(dir);
}

Test(fuzz, tokenizers) {
    char *dir = tu_tmpdir(), *path = tu_join(dir, "t.bin");
    KvError err;
    cr_assert_eq(tu_write_tokenizer(path, 400, &err), KV_OK, "%s", err.msg);
    size_t n;
    uint8_t *seed = tu_read_file(path, &n);
    cr_assert_not_null(seed);
    int vocab = 400;
    cr_assert_eq(fuzz_tokenizer(seed, n, vocab), FUZZ_ACCEPTED);
    check_mutants("tokenizer", seed, n, 12, 600, tokenizer_target, &vocab);
    free(seed);
    free(path);
    tu_rmtree(dir);
}

Test(fuzz, prompts) {
    Tokenizer t;
    KvError err;
    cr_assert_eq(tu_tokenizer(&t, 400, &err), KV_OK, "%s", err.msg);
    uint64_t s = 99;
    uint8_t buf[96];
    int refused = 0;
    for (int i = 0; i < 3000; i++) {
        size_t len = 1 + rnd(&s, sizeof buf - 1);
        for (size_t k = 0; k < len; k++) // mostly text, some high bytes to break UTF-8
            buf[k] = rnd(&s, 4) ? (uint8_t)(32 + rnd(&s, 95)) : (uint8_t)(128 + rnd(&s, 128));
        FuzzVerdict v = fuzz_prompt(&t, buf, len);
        cr_assert_neq(v, FUZZ_BAD, "prompt %d: an id outside the vocabulary or an unclean error",
                      i);
        refused += v == FUZZ_REFUSED;
    }
    cr_assert_gt(refused, 100, "invalid UTF-8 is refused");
    tokenizer_free(&t);
}

Test(fuzz, lessons) {
    static const char *const files[] = {"lessons/01-one-token-at-a-time.lesson",
                                        "lessons/03-cache-off.lesson"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n;
        uint8_t *seed = tu_read_file(files[f], &n);
        cr_assert_not_null(seed, "%s", files[f]);
        cr_assert_eq(fuzz_lesson(seed, n), FUZZ_ACCEPTED, "%s parses", files[f]);
        check_mutants(files[f], seed, n, 0, 400, lesson_target, NULL);
        free(seed);
    }
}

// The two targets that run things, on random inputs (fixed seeds): a model built from bytes run
// through the sampler, and lessons played. Both must see every outcome the bytes can lead to.
Test(fuzz, models_run_through_the_sampler) {
    uint64_t s = 4242;
    uint8_t buf[160];
    int verdicts[3] = {0};
    for (int i = 0; i < 1500; i++) {
        size_t len = 12 + rnd(&s, sizeof buf - 12);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rnd(&s, 256);
        if (i % 3 == 0)
            buf[8] = (uint8_t)(40 + rnd(&s, 8)); // gains near 1: models that run
        FuzzVerdict v = fuzz_run(buf, len);
        cr_assert_neq(v, FUZZ_BAD, "input %d: a step that neither worked nor stopped cleanly", i);
        verdicts[v]++;
    }
    cr_assert_gt(verdicts[FUZZ_ACCEPTED], 100, "few models ran");
    cr_assert_gt(verdicts[FUZZ_REFUSED], 100, "few models were refused or overflowed");
}

Test(fuzz, lessons_played) {
    static const char *const files[] = {"tests/fuzz/corpus/player/mixed.lesson",
                                        "lessons/01-one-token-at-a-time.lesson"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n;
        uint8_t *seed = tu_read_file(files[f], &n);
        cr_assert_not_null(seed, "%s", files[f]);
        cr_assert_eq(fuzz_player(seed, n), FUZZ_ACCEPTED, "%s plays", files[f]);
        uint8_t *buf = malloc(n + 64);
        uint64_t s = 0x91a7;
        for (int i = 0; i < 150; i++) {
            size_t len = mutate(seed, n, buf, n + 64, &s, 0);
            cr_assert_neq(fuzz_player(buf, len), FUZZ_BAD, "%s mutant %d", files[f], i);
        }
        free(buf);
        free(seed);
    }
}
