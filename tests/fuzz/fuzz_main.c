// fuzz_main.c — libFuzzer entry for `make fuzz`: one binary, one target per run, chosen with
// --target=NAME (libFuzzer ignores flags that start with "--"): model, tokenizer, prompt,
// lesson, run, player. The targets are in tests/util/fuzz_targets.c; each input must load (and
// then work) or be refused with a message, anything else aborts, and the build makes every
// sanitizer report (undefined behaviour included) fatal. Seed corpora: tests/fuzz/corpus/NAME.
#include "../util/fuzz_targets.h"
#include "../util/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef FuzzVerdict (*Target)(const uint8_t *, size_t);

static FuzzVerdict tokenizer_400(const uint8_t *d, size_t n) {
    return fuzz_tokenizer(d, n, 400);
}

static FuzzVerdict prompt_400(const uint8_t *d, size_t n) {
    static Tokenizer tok;
    static bool have_tok;
    if (!have_tok) {
        KvError err;
        have_tok = tu_tokenizer(&tok, 400, &err) == KV_OK;
        if (!have_tok)
            return FUZZ_BAD;
    }
    return fuzz_prompt(&tok, d, n);
}

static const struct {
    const char *name;
    Target fn;
} targets[] = {{"model", fuzz_model},  {"tokenizer", tokenizer_400},
               {"prompt", prompt_400}, {"lesson", fuzz_lesson},
               {"run", fuzz_run},      {"player", fuzz_player}};

static Target target;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *name = getenv("KVSCOPE_FUZZ_TARGET");
    for (int i = 1; i < *argc; i++)
        if (strncmp((*argv)[i], "--target=", 9) == 0)
            name = (*argv)[i] + 9;
    for (size_t i = 0; name && i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(name, targets[i].name) == 0)
            target = targets[i].fn;
    if (!target) {
        fprintf(stderr, "kvscope-fuzz: --target=NAME: model, tokenizer, prompt, lesson, run or "
                        "player\n");
        exit(2);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (target(data, n) == FUZZ_BAD)
        abort();
    return 0;
}
