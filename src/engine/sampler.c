// sampler.c — choosing the next token from logits, exactly as llama2.c's run.c does (so a seed
// gives the same text), plus top-k, which llama2.c lacks. Also the top candidates the picture
// shows. Does not compute logits.
#include "engine/engine.h"
#include "engine/kernels.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void sampler_init(Sampler *s, int vocab_size, SamplerSettings settings) {
    memset(s, 0, sizeof *s);
    s->s = settings;
    s->rng = settings.seed;
    s->vocab_size = vocab_size;
    s->coin = -1.0f;
    s->probs = kv_malloc((size_t)vocab_size * sizeof(float));
    s->index = kv_malloc((size_t)vocab_size * sizeof(int));
    s->cand = kv_malloc((size_t)vocab_size * sizeof(float));
    s->tmp_index = kv_malloc((size_t)vocab_size * sizeof(int));
    s->tmp_cand = kv_malloc((size_t)vocab_size * sizeof(float));
}

void sampler_free(Sampler *s) {
    free(s->probs);
    free(s->index);
    free(s->cand);
    free(s->tmp_index);
    free(s->tmp_cand);
    memset(s, 0, sizeof *s);
}

static void softmax_inplace(float *x, int n) {
    float max_val = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max_val)
            max_val = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max_val);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

// Stable merge sort of (cand, index) by probability, descending: equal probabilities keep their
// id order, as glibc's qsort (a merge sort) leaves llama2.c's candidates.
static void sort_desc(Sampler *s, int n) {
    int *ix = s->index, *tix = s->tmp_index;
    float *p = s->cand, *tp = s->tmp_cand;
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n;
            int hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (p[j] > p[i])
                    tp[k] = p[j], tix[k++] = ix[j++];
                else
                    tp[k] = p[i], tix[k++] = ix[i++];
            }
            while (i < mid)
                tp[k] = p[i], tix[k++] = ix[i++];
            while (j < hi)
                tp[k] = p[j], tix[k++] = ix[j++];
        }
        int *si = ix;
        ix = tix, tix = si;
        float *sp = p;
        p = tp, tp = sp;
    }
    if (p != s->cand) {
        memcpy(s->cand, p, (size_t)n * sizeof(float));
        memcpy(s->index, ix, (size_t)n * sizeof(int));
    }
}

// The whole vocabulary as candidates, most probable first (the picture's list where the walk
// itself does not sort).
static int list_all(Sampler *s, const float *probs) {
    for (int i = 0; i < s->vocab_size; i++) {
        s->index[i] = i;
        s->cand[i] = probs[i];
    }
    sort_desc(s, s->vocab_size);
    return s->vocab_size;
}

// softmax(logits / temp) into probs, as llama2.c divides. A tiny temperature (1e-40 is a positive
// float) can make that quotient overflow to infinity, and softmax would then compute inf - inf.
// Then the same softmax is computed as exp((logit - max) / T): every exponent is <= 0, the
// maximum's is exactly 0, so nothing overflows and the sum is at least 1. Temperatures whose
// quotients are finite keep llama2.c's arithmetic bit for bit.
static void tempered_softmax(float *probs, const float *logits, int n, float temp) {
    bool finite = true;
    float max_logit = logits[0];
    for (int i = 0; i < n; i++) {
        probs[i] = logits[i] / temp;
        finite = finite && isfinite(probs[i]);
        max_logit = logits[i] > max_logit ? logits[i] : max_logit;
    }
    if (!finite)
        for (int i = 0; i < n; i++)
            probs[i] = (logits[i] - max_logit) / temp;
    softmax_inplace(probs, n);
}

// The choice for a draw `coin`; *tr (when not NULL) says how it was made.
static int choose(Sampler *s, const float *logits, float coin, SamplerTrace *tr) {
    const int n = s->vocab_size;
    float *probs = s->probs;
    if (s->s.temperature == 0.0f) { // greedy: the first maximum
        const int best = kernel_argmax(logits, n);
        if (tr) {
            tempered_softmax(probs, logits, n, 1.0f);
            int m = list_all(s, probs);
            *tr = (SamplerTrace){-1.0f, m, s->index, s->cand, m, m, 1.0f, 0.0f, false, best};
        }
        return best;
    }
    tempered_softmax(probs, logits, n, s->s.temperature);
    const float top_p = s->s.top_p;
    const bool use_top_p = top_p > 0.0f && top_p < 1.0f;
    const bool use_top_k = s->s.top_k > 0 && s->s.top_k < n;

    if (!use_top_k && !use_top_p) { // multinomial over the whole vocabulary
        float cdf = 0.0f;
        int pick = n - 1;
        for (int i = 0; i < n; i++) {
            cdf += probs[i];
            if (coin < cdf) {
                pick = i;
                break;
            }
        }
        if (tr) {
            int m = list_all(s, probs);
            *tr = (SamplerTrace){coin, m, s->index, s->cand, m, m, 1.0f, coin, true, pick};
        }
        return pick;
    }
    // Candidates: with top-p alone, llama2.c's pre-filter (tokens below (1 - p)/(n - 1) cannot be
    // in the nucleus); with top-k, everything, then the k most probable.
    int n0 = 0;
    float cutoff = use_top_p && !use_top_k ? (1.0f - top_p) / (float)(n - 1) : 0.0f;
    // The most probable token is always a candidate: with a flat distribution and a tiny top-p
    // the pre-filter's bound can exceed every probability (llama2.c then reads before its array).
    float pmax = probs[0];
    for (int i = 1; i < n; i++)
        pmax = probs[i] > pmax ? probs[i] : pmax;
    if (cutoff > pmax)
        cutoff = pmax;
    for (int i = 0; i < n; i++) {
        if (probs[i] >= cutoff) {
            s->index[n0] = i;
            s->cand[n0] = probs[i];
            n0++;
        }
    }
    if (n0 == 0) { // only when the probabilities are not numbers (NaN logits): the first id
        if (tr)
            *tr = (SamplerTrace){coin, 0, s->index, s->cand, 0, 0, 0.0f, 0.0f, false, 0};
        return 0;
    }
    sort_desc(s, n0);
    if (use_top_k) {
        n0 = s->s.top_k < n0 ? s->s.top_k : n0;
        float sum = 0.0f;
        for (int i = 0; i < n0; i++)
            sum += s->cand[i];
        for (int i = 0; i < n0; i++)
            s->cand[i] /= sum;
    }
    int last = n0 - 1;
    float cumulative = 0.0f;
    if (use_top_p) {
        for (int i = 0; i < n0; i++) {
            cumulative += s->cand[i];
            if (cumulative > top_p) {
                last = i;
                break;
            }
        }
    } else {
        for (int i = 0; i < n0; i++)
            cumulative += s->cand[i];
    }
    float r = coin * cumulative, cdf = 0.0f;
    int pick = s->index[last];
    for (int i = 0; i <= last; i++) {
        cdf += s->cand[i];
        if (r < cdf) {
            pick = s->index[i];
            break;
        }
    }
    if (tr) { // the list is the whole vocabulary: what the pre-filter dropped is its tail
        int m = list_all(s, probs);
        *tr = (SamplerTrace){coin,     m,          s->index, s->cand, use_top_k ? n0 : m,
                             last + 1, cumulative, r,        false,   pick};
    }
    return pick;
}

int sampler_sample(Sampler *s, const float *logits) {
    s->coin = -1.0f;
    if (s->s.temperature == 0.0f)
        return choose(s, logits, 0.0f, NULL);
    // The draw comes after the softmax in llama2.c; nothing between them reads the generator,
    // so drawing first gives the same number.
    s->coin = kv_rng_f32(&s->rng);
    return choose(s, logits, s->coin, NULL);
}

int sampler_explain(Sampler *s, const float *logits, float coin, SamplerTrace *tr) {
    return choose(s, logits, coin, tr);
}

int top_candidates(const float *logits, int vocab_size, float temperature, Candidate *out, int k) {
    if (k > vocab_size)
        k = vocab_size;
    if (k <= 0)
        return 0;
    const float t = temperature > 0.0f ? temperature : 1.0f;
    const float max_val = logits[kernel_argmax(logits, vocab_size)];
    // the k largest logits, most probable first (ties: the lower id first); a logit enters only
    // when it beats the smallest kept, so most of the vocabulary costs one comparison
    int have = 0;
    float floor = -INFINITY; // the smallest kept once k are kept
    for (int i = 0; i < vocab_size; i++) {
        const float v = logits[i];
        if (have == k && v <= floor)
            continue;
        int j = have < k ? have++ : k - 1;
        while (j > 0 && logits[out[j - 1].id] < v) {
            out[j] = out[j - 1];
            j--;
        }
        out[j].id = i;
        if (have == k)
            floor = logits[out[k - 1].id];
    }
    // softmax of the k: the denominator from float exponentials summed in double
    // (kernel_sum_exp: relative error below 1e-6, tests/test_sampler.c holds it to that), each
    // numerator in double
    // (a temperature below 1 / FLT_MAX would make 1 / t infinite, and 0 * inf a NaN)
    const float inv_t = fminf(1.0f / t, FLT_MAX);
    const double sum = kernel_sum_exp(logits, vocab_size, max_val, inv_t);
    for (int i = 0; i < have; i++)
        out[i].prob = (float)(exp((double)((logits[out[i].id] - max_val) * inv_t)) / sum);
    return have;
}
