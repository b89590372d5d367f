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

#endif
