// fuzz_targets.h — raw bytes into every loader and parser a user reaches (see fuzz_targets.c).
#ifndef KVSCOPE_FUZZ_TARGETS_H
#define KVSCOPE_FUZZ_TARGETS_H

#include "engine/engine.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    FUZZ_ACCEPTED, // loaded (and then worked)
    FUZZ_REFUSED,  // KV_ERR_INPUT with a message
    FUZZ_BAD,      // anything else: a bug
} FuzzVerdict;

FuzzVerdict fuzz_model(const uint8_t *data, size_t n);
FuzzVerdict fuzz_tokenizer(const uint8_t *data, size_t n, int vocab_size);
FuzzVerdict fuzz_prompt(const Tokenizer *t, const uint8_t *data, size_t n);
FuzzVerdict fuzz_lesson(const uint8_t *data, size_t n);
// A model built from the bytes (small random shapes; weights from a seed, scaled by 10^-40 ..
// 10^40, some replaced by raw floats: huge, tiny, infinite, NaN), loaded, then a few session
// steps, backs, mode and verification changes through the sampler with fuzzed settings. Every
// step must give an id in the vocabulary and finite probabilities, or stop with the non-finite
// message; nothing else.
FuzzVerdict fuzz_run(const uint8_t *data, size_t n);
// A lesson from the bytes, parsed, checked against a small model and, when its estimated cost
// is within the per-input budget, played: every beat forward, then back to beats.
FuzzVerdict fuzz_player(const uint8_t *data, size_t n);
// Positions one fuzz_player input may compute (its time budget).
#define FUZZ_PLAYER_MAX_POSITIONS 4000

#endif
