// heads.c — scoring attention heads for the patterns a teacher can explain: the previous-token
// head (each position looks one back) and the induction head (a token that appeared before looks
// at what followed it last time, which is how a model copies a name from earlier in a story).
// Reads the real attention weights of one forward pass; draws nothing.
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

void heads_score(Engine *e, const int *tokens, int n, HeadScore *out) {
    const ModelConfig *c = &e->model->cfg;
    const int L = c->n_layers, H = c->n_heads;
    float *w = kv_calloc((size_t)L * H * n * n, sizeof(float)); // (L, H, n, n)
    AttnSink sink = {.w = w, .row0 = 0, .rows = n, .cols = n};
    const bool instrument = engine_set_instrument(e, true);
    engine_forward(e, tokens, 0, n, false, &sink, NULL);
    engine_set_instrument(e, instrument);

    // for each position, the position after the last earlier occurrence of its token, or -1
    int *target = kv_malloc((size_t)n * sizeof(int));
    int n_targets = 0;
    for (int p = 0; p < n; p++) {
        target[p] = -1;
        for (int j = p - 1; j >= 0; j--) {
            if (tokens[j] == tokens[p]) {
                if (j + 1 < p) {
                    target[p] = j + 1;
                    n_targets++;
                }
                break;
            }
        }
    }
    for (int l = 0; l < L; l++) {
        for (int h = 0; h < H; h++) {
            const float *m = w + ((size_t)l * H + h) * n * n;
            double prev = 0.0, ind = 0.0;
            for (int p = 1; p < n; p++) {
                prev += m[(size_t)p * n + p - 1];
                if (target[p] >= 0)
                    ind += m[(size_t)p * n + target[p]];
            }
            out[l * H + h].prev_token = n > 1 ? (float)(prev / (n - 1)) : 0.0f;
            out[l * H + h].induction = n_targets ? (float)(ind / n_targets) : -1.0f;
        }
    }
    free(target);
    free(w);
}
