// fuzz_main.c — libFuzzer entry for `make fuzz`: the first byte picks the target (checkpoint,
// tokenizer, prompt, lesson), the rest is the input. Targets are in tests/util/fuzz_targets.c.
#include "../util/fuzz_targets.h"
#include "../util/testutil.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    static Tokenizer tok;
    static bool have_tok;
    if (n == 0)
        return 0;
    FuzzVerdict v = FUZZ_REFUSED;
    switch (data[0] % 4) {
    case 0: v = fuzz_model(data + 1, n - 1); break;
    case 1: v = fuzz_tokenizer(data + 1, n - 1, 400); break;
    case 2:
        if (!have_tok) {
            KvError err;
            have_tok = tu_tokenizer(&tok, 400, &err) == KV_OK;
        }
        if (have_tok)
            v = fuzz_prompt(&tok, data + 1, n - 1);
        break;
    default: v = fuzz_lesson(data + 1, n - 1);
    }
    if (v == FUZZ_BAD)
        abort();
    return 0;
}
