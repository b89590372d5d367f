// test_sampler.c — the sampler against llama2.c's (written out here from its description in
// DESIGN.md): greedy is the first argmax, one draw per sampled token, the top-p cut, plain
// multinomial, plus top-k and top_candidates.
#include "util/testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

TestSuite(sampler, .fini = tu_leak_check);

// ----------------------------------------------------------------------------------------------
// llama2.c's sampler, as a reference

typedef struct {
    float prob;
    int index;
} RefCand;

static int ref_cmp(const void *a, const void *b) {
    const RefCand *x = a, *y = b;
    if (x->prob > y->prob)
        return -1;
    if (x->prob < y->prob)
        return 1;
    return 0;
}

static int ref_sample(const float *logits_in, int n, float temperature, float top_p,
                      uint64_t *rng) {
    if (temperature == 0.0f) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (logits_in[i] > logits_in[best])
                best = i;
        return best;
    }
    float *p = malloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++)
        p[i] = logits_in[i] / temperature;
    float max = p[0];
    for (int i = 1; i < n; i++)
        if (p[i] > max)
            max = p[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        p[i] = expf(p[i] - max);
        sum += p[i];
    }
    for (int i = 0; i < n; i++)
        p[i] /= sum;
    float coin = kv_rng_f32(rng);
    int pick = n - 1;
    if (top_p <= 0 || top_p >= 1) {
        float cdf = 0.0f;
        for (int i = 0; i < n; i++) {
            cdf += p[i];
            if (coin < cdf) {
                pick = i;
                break;
            }
        }
    } else {
        const float cutoff = (1.0f - top_p) / (float)(n - 1);
        RefCand *c = malloc((size_t)n * sizeof *c);
        int n0 = 0;
        for (int i = 0; i < n; i++)
            if (p[i] >= cutoff)
                c[n0].index = i, c[n0].prob = p[i], n0++;
        qsort(c, (size_t)n0, sizeof *c, ref_cmp);
        float cum = 0.0f;
        int last = n0 - 1;
        for (int i = 0; i < n0; i++) {
            cum += c[i].prob;
            if (cum > top_p) {
                last = i;
                break;
            }
        }
        float r = coin * cum, cdf = 0.0f;
        pick = c[last].index;
        for (int i = 0; i <= last; i++) {
            cdf += c[i].prob;
            if (r < cdf) {
                pick = c[i].index;
                break;
            }
        }
        free(c);
    }
    free(p);
    return pick;
}

// Random logits without ties (so the reference's unstable qsort cannot differ).
static void random_logits(float *l, int n, uint64_t *rng, float spread) {
    for (int i = 0; i < n; i++)
        l[i] = spread * (2.0f * kv_rng_f32(rng) - 1.0f);
}

// ----------------------------------------------------------------------------------------------

Test(sampler, matches_llama2c, .timeout = 60) {
    const struct {
        float temperature, top_p, spread;
    } cases[] = {{0.0f, 0.9f, 4}, {1.0f, 0.9f, 4},  {0.7f, 0.5f, 6}, {1.0f, 1.0f, 3},
                 {1.3f, 0.0f, 3}, {0.5f, 0.95f, 2}, {1.0f, 0.2f, 8}, {2.0f, 0.99f, 1}};
    const int V = 97;
    float logits[97], copy[97];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        SamplerSettings ss = {cases[k].temperature, cases[k].top_p, 0, 1234 + k};
        Sampler s;
        sampler_init(&s, V, ss);
        uint64_t ref_rng = ss.seed, gen = 99 + k;
        for (int i = 0; i < 3000; i++) {
            random_logits(logits, V, &gen, cases[k].spread);
            memcpy(copy, logits, sizeof logits);
            int want = ref_sample(logits, V, ss.temperature, ss.top_p, &ref_rng);
            int got = sampler_sample(&s, logits);
            cr_assert_eq(got, want, "case %zu (T %g, top-p %g) draw %d: %d, llama2.c %d", k,
                         ss.temperature, ss.top_p, i, got, want);
            cr_assert(memcmp(copy, logits, sizeof logits) == 0, "sampler modified the logits");
        }
        cr_assert_eq(s.rng, ref_rng, "case %zu: one draw per sampled token", k);
        sampler_free(&s);
    }
}

Test(sampler, greedy_first_argmax_no_draw) {
    float l[] = {1, 3, -2, 3, 0.5f, 3};
    Sampler s;
    sampler_init(&s, 6, (SamplerSettings){0.0f, 0.9f, 0, 77});
    for (int i = 0; i < 10; i++)
        cr_assert_eq(sampler_sample(&s, l), 1);
    cr_assert_eq(s.rng, 77u, "greedy draws nothing");
    sampler_free(&s);
    // top-k does not change greedy
    sampler_init(&s, 6, (SamplerSettings){0.0f, 0.0f, 2, 77});
    cr_assert_eq(sampler_sample(&s, l), 1);
    sampler_free(&s);
}

Test(sampler, deterministic_per_seed) {
    const int V = 50, N = 200;
    float l[50];
    uint64_t gen = 5;
    random_logits(l, V, &gen, 2);
    int a[200], b[200], c[200];
    Sampler s1, s2, s3;
    sampler_init(&s1, V, (SamplerSettings){1.0f, 0.9f, 0, 42});
    sampler_init(&s2, V, (SamplerSettings){1.0f, 0.9f, 0, 42});
    sampler_init(&s3, V, (SamplerSettings){1.0f, 0.9f, 0, 43});
    int same13 = 0;
    for (int i = 0; i < N; i++) {
        a[i] = sampler_sample(&s1, l);
        b[i] = sampler_sample(&s2, l);
        c[i] = sampler_sample(&s3, l);
        same13 += a[i] == c[i];
    }
    cr_assert(memcmp(a, b, sizeof a) == 0, "same seed, different ids");
    cr_assert_lt(same13, N / 2, "another seed gives (nearly) the same ids");
    sampler_free(&s1);
    sampler_free(&s2);
    sampler_free(&s3);
}

Test(sampler, top_k_keeps_k, .timeout = 60) {
    const int V = 40;
    float l[40];
    uint64_t gen = 8;
    random_logits(l, V, &gen, 1.0f); // flat: without top-k every id appears
    // the k most probable ids
    int order[40];
    for (int i = 0; i < V; i++)
        order[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i + 1; j < V; j++)
            if (l[order[j]] > l[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    const int ks[] = {1, 3, 10};
    for (size_t q = 0; q < 3; q++) {
        int k = ks[q];
        for (int with_p = 0; with_p < 2; with_p++) {
            Sampler s;
            sampler_init(&s, V, (SamplerSettings){1.0f, with_p ? 0.95f : 0.0f, k, 11});
            int seen[40] = {0};
            for (int i = 0; i < 4000; i++)
                seen[sampler_sample(&s, l)]++;
            for (int r = 0; r < V; r++) {
                if (r < k)
                    cr_assert_gt(seen[order[r]], 0, "top-%d: rank %d never drawn", k, r);
                else
                    cr_assert_eq(seen[order[r]], 0, "top-%d: rank %d drawn %d times", k, r,
                                 seen[order[r]]);
            }
            sampler_free(&s);
        }
    }
    // one draw per token with top-k too
    Sampler s;
    sampler_init(&s, V, (SamplerSettings){1.0f, 0.0f, 5, 11});
    uint64_t rng = 11;
    for (int i = 0; i < 25; i++) {
        sampler_sample(&s, l);
        kv_rng_u32(&rng);
    }
    cr_assert_eq(s.rng, rng);
    sampler_free(&s);
}

// The cut: probabilities 0.5, 0.3, 0.15, 0.05 with top-p 0.7 keep the first two (the running
// sum first exceeds 0.7 at the second) and pick with draw * 0.8.
Test(sampler, top_p_cut) {
    float l[4] = {logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f)};
    Sampler s;
    sampler_init(&s, 4, (SamplerSettings){1.0f, 0.7f, 0, 2024});
    uint64_t rng = 2024;
    int counts[4] = {0};
    for (int i = 0; i < 2000; i++) {
        float coin = kv_rng_f32(&rng);
        int want = coin * 0.8f < 0.5f ? 1 : 3;
        int got = sampler_sample(&s, l);
        cr_assert_eq(got, want, "draw %d (coin %g): %d, want %d", i, coin, got, want);
        counts[got]++;
    }
    cr_assert_eq(counts[0] + counts[2], 0);
    sampler_free(&s);
}

Test(sampler, top_candidates_sorted_softmax) {
    const int V = 30;
    float l[30];
    uint64_t gen = 3;
    random_logits(l, V, &gen, 3);
    for (int pass = 0; pass < 3; pass++) {
        float temp = pass == 0 ? 1.0f : pass == 1 ? 0.5f : 0.0f; // 0 counts as 1
        Candidate c[8];
        int n = top_candidates(l, V, temp, c, 8);
        cr_assert_eq(n, 8);
        float t = temp <= 0 ? 1.0f : temp, max = l[0];
        for (int i = 1; i < V; i++)
            max = fmaxf(max, l[i]);
        double z = 0;
        for (int i = 0; i < V; i++)
            z += exp((l[i] - max) / t);
        for (int i = 0; i < n; i++) {
            if (i)
                cr_assert(c[i].prob <= c[i - 1].prob);
            double want = exp((l[c[i].id] - max) / t) / z;
            cr_assert(fabs(c[i].prob - want) <= 1e-5, "candidate %d prob %g want %g", i, c[i].prob,
                      want);
            // nothing outside the list is more probable than its last entry
        }
        for (int v = 0; v < V; v++) {
            bool in = false;
            for (int i = 0; i < n; i++)
                in |= c[i].id == v;
            if (!in)
                cr_assert(l[v] <= l[c[n - 1].id], "id %d missing from the top", v);
        }
    }
    Candidate few[50];
    cr_assert_eq(top_candidates(l, V, 1.0f, few, 50), V, "k larger than V gives V");
}

// sampler_explain takes sampler_sample's choice apart: for the draw sampler_sample made (kept in
// Sampler.coin) it picks the same id, lists the candidates most probable first, and its cut
// counts and walk agree with the settings.
Test(sampler, explain_is_the_choice_sample_made, .timeout = 60) {
    const SamplerSettings cases[] = {{0.0f, 0.9f, 0, 5},  {1.0f, 0.0f, 0, 6},  {0.8f, 0.9f, 0, 7},
                                     {1.2f, 0.0f, 5, 8},  {0.9f, 0.6f, 12, 9}, {1.5f, 1.0f, 1, 10},
                                     {2.0f, 0.3f, 50, 11}};
    const int V = 101;
    float logits[101];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const SamplerSettings ss = cases[k];
        Sampler s, e;
        sampler_init(&s, V, ss);
        sampler_init(&e, V, ss);
        uint64_t gen = 31 + k;
        for (int i = 0; i < 500; i++) {
            random_logits(logits, V, &gen, 1 + i % 6);
            uint64_t rng = s.rng;
            int got = sampler_sample(&s, logits);
            if (ss.temperature == 0) {
                cr_assert_eq(s.coin, -1.0f, "greedy draws nothing");
                cr_assert_eq(s.rng, rng);
            } else {
                uint64_t again = rng;
                cr_assert_eq(s.coin, kv_rng_f32(&again), "the coin is the draw");
            }
            SamplerTrace tr;
            uint64_t erng = e.rng;
            int pick = sampler_explain(&e, logits, s.coin >= 0 ? s.coin : 0.5f, &tr);
            cr_assert_eq(e.rng, erng, "explaining draws nothing");
            cr_assert_eq(pick, got, "case %zu draw %d: explained %d, sampled %d", k, i, pick, got);
            cr_assert_eq(tr.pick, got);
            cr_assert_eq(tr.n, V);
            cr_assert_eq(tr.coin, ss.temperature > 0 ? s.coin : -1.0f);
            for (int j = 1; j < tr.n; j++)
                cr_assert_geq(tr.prob[j - 1], tr.prob[j], "most probable first");
            bool top_k = ss.temperature > 0 && ss.top_k > 0 && ss.top_k < V;
            bool top_p = ss.temperature > 0 && ss.top_p > 0 && ss.top_p < 1;
            cr_assert_eq(tr.k_keep, top_k ? ss.top_k : V, "case %zu", k);
            cr_assert(tr.p_keep >= 1 && tr.p_keep <= tr.k_keep);
            if (!top_p)
                cr_assert_eq(tr.p_keep, tr.k_keep);
            cr_assert_eq(tr.id_order, ss.temperature > 0 && !top_k && !top_p);
            if (ss.temperature > 0) {
                cr_assert_float_eq(tr.target, s.coin * tr.mass, 1e-6f);
                int row = 0;
                while (row < tr.n && tr.id[row] != got)
                    row++;
                cr_assert(tr.id_order || row < tr.p_keep, "the pick is among the kept");
                // the kept mass is the kept probabilities' share (after top-k's renormalising)
                double kept = 0, k_sum = 0;
                for (int j = 0; j < tr.k_keep; j++)
                    k_sum += tr.prob[j];
                for (int j = 0; j < tr.p_keep; j++)
                    kept += tr.prob[j];
                if (!tr.id_order)
                    cr_assert_float_eq(tr.mass, kept / (top_k ? k_sum : 1), 1e-4);
                if (top_p && tr.p_keep < tr.k_keep)
                    cr_assert_gt(tr.mass, ss.top_p, "top-p cuts where the sum first exceeds p");
            }
        }
        sampler_free(&s);
        sampler_free(&e);
    }
}

// The candidate list over a real vocabulary: its denominator sums float exponentials in double
// (kernel_sum_exp) instead of a double exponential per entry; every probability within a
// relative 1e-6 of the all-double softmax, at several scales and temperatures.
Test(sampler, top_candidates_float_exponentials_within_bound) {
    const int V = 32000;
    float *l = malloc((size_t)V * sizeof *l);
    uint64_t gen = 17;
    const float scales[3] = {1.0f, 6.0f, 40.0f}, temps[3] = {1.0f, 0.7f, 2.5f};
    for (int si = 0; si < 3; si++)
        for (int ti = 0; ti < 3; ti++) {
            random_logits(l, V - ti, &gen, scales[si]); // lengths not a multiple of eight
            const int n = V - ti;
            Candidate c[20];
            cr_assert_eq(top_candidates(l, n, temps[ti], c, 20), 20);
            float max = l[0];
            for (int i = 1; i < n; i++)
                max = fmaxf(max, l[i]);
            double z = 0;
            for (int i = 0; i < n; i++)
                z += exp((double)(l[i] - max) / temps[ti]);
            for (int i = 0; i < 20; i++) {
                const double want = exp((double)(l[c[i].id] - max) / temps[ti]) / z;
                cr_assert(fabs(c[i].prob - want) <= 1e-6 * want + 1e-30,
                          "scale %g temperature %g: candidate %d prob %.9g, want %.9g", scales[si],
                          temps[ti], i, c[i].prob, want);
                if (i)
                    cr_assert(l[c[i].id] < l[c[i - 1].id] ||
                                  (l[c[i].id] == l[c[i - 1].id] && c[i].id > c[i - 1].id),
                              "order at %d", i);
            }
        }
    free(l);
}

// Greedy picks the first maximum wherever it is: a tie, the tail after the last eight, the
// first element.
Test(sampler, greedy_first_maximum_everywhere) {
    SamplerSettings greedy = {.temperature = 0.0f, .top_p = 0.9f, .top_k = 0, .seed = 1};
    for (int n = 1; n <= 40; n++)
        for (int at = 0; at < n; at++) {
            float l[40];
            for (int i = 0; i < n; i++)
                l[i] = (float)(i % 7) - 10.0f;
            l[at] = 3.0f;
            if (at + 1 < n)
                l[n - 1] = 3.0f; // a later tie must lose
            Sampler s;
            sampler_init(&s, n, greedy);
            cr_assert_eq(sampler_sample(&s, l), at, "n %d, maximum at %d", n, at);
            sampler_free(&s);
        }
}

// A temperature so small that its reciprocal is not a float: the most probable candidate gets
// all of the probability, the others none, and nothing is a NaN.
Test(sampler, top_candidates_tiny_temperature) {
    float l[40];
    uint64_t gen = 9;
    random_logits(l, 40, &gen, 3.0f);
    Candidate c[5];
    cr_assert_eq(top_candidates(l, 40, 1e-40f, c, 5), 5);
    cr_assert_eq(c[0].prob, 1.0f, "the maximum: %g", c[0].prob);
    for (int i = 1; i < 5; i++)
        cr_assert(c[i].prob >= 0.0f && c[i].prob < 1e-30f, "candidate %d: %g", i, c[i].prob);
}
