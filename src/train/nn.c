// nn.c — forward and backward of the DESIGN.md transformer on a batch of B rows of T tokens.
//
// The architecture is exactly the engine's (src/engine): RMSNorm (eps 1e-5), RoPE on adjacent
// pairs with theta 10000, grouped-query attention, SwiGLU MLP, no biases, optional shared
// classifier. Every activation the backward pass needs is kept (see Net in train.h); the
// backward pass walks the same steps in reverse, each with its derivative written out below.
// Gradients are *added* into a ModelWeights carved like the parameters (weights_carve), so a
// shared classifier receives both its embedding and its classifier gradient.
//
// What it does not do: optimisation (train.c) or sampling (the engine).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

#define RMS_EPS 1e-5f

// ----------------------------------------------------------------------------------------------
// Set-up

void net_init(Net *n, const ModelConfig *c, int B, int T) {
    memset(n, 0, sizeof *n);
    n->cfg = *c;
    n->B = B;
    n->T = T;
    size_t L = (size_t)c->n_layers, D = (size_t)c->dim, F = (size_t)c->hidden_dim;
    size_t KV = (size_t)config_kv_dim(c), V = (size_t)c->vocab_size, H = (size_t)c->n_heads;
    size_t N = (size_t)B * (size_t)T, HS = D / H;
    size_t sizes[] = {
        (L + 1) * N * D,
        L * N * D,
        L * N,
        L * N * D,
        L * N * KV,
        L * N * KV,
        L * (size_t)B * H * (size_t)T * (size_t)T,
        L * N * D,
        L * N * D,
        L * N * D,
        L * N,
        L * N * F,
        L * N * F,
        L * N * F,
        N * D,
        N,
        N * V,
        N * D,
        N * D,
        N * D,
        N * KV,
        N * KV,
        N * D,
        N * F,
        N * F,
        N * F,
        (size_t)T * T,
        (size_t)T * T,
        HS * (size_t)T,
        (size_t)T * HS / 2,
        (size_t)T * HS / 2,
    };
    float **ptrs[] = {&n->x,  &n->xn1,      &n->rstd1,   &n->q,     &n->k,   &n->v,    &n->att,
                      &n->ao, &n->x2,       &n->xn2,     &n->rstd2, &n->h1,  &n->h3,   &n->g,
                      &n->xf, &n->rstdf,    &n->logits,  &n->dx,    &n->dxn, &n->dq,   &n->dk,
                      &n->dv, &n->dao,      &n->dg,      &n->dh1,   &n->dh3, &n->dtmp, &n->datt,
                      &n->tT, &n->rope_cos, &n->rope_sin};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += sizes[i];
    n->mem = kv_calloc(total, sizeof(float));
    float *p = n->mem;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *ptrs[i] = sizes[i] ? p : NULL;
        p += sizes[i];
    }
    // RoPE: pair (i, i+1) of a head, i even, turns by pos * 10000^(-i/HS)
    for (int t = 0; t < T; t++)
        for (size_t i = 0; i < HS; i += 2) {
            double freq = pow(10000.0, -(double)i / (double)HS);
            double ang = t * freq;
            n->rope_cos[(size_t)t * HS / 2 + i / 2] = (float)cos(ang);
            n->rope_sin[(size_t)t * HS / 2 + i / 2] = (float)sin(ang);
        }
}

void net_free(Net *n) {
    free(n->mem);
    memset(n, 0, sizeof *n);
}

static double gauss(uint64_t *s) { // Box-Muller
    double u1 = ((double)(trng_next(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = (double)(trng_next(s) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void net_init_weights(const ModelConfig *c, ModelWeights *w, uint64_t seed) {
    uint64_t s = trng_seed(seed);
    size_t L = (size_t)c->n_layers, D = (size_t)c->dim, F = (size_t)c->hidden_dim;
    size_t KV = (size_t)config_kv_dim(c), V = (size_t)c->vocab_size;
    double resid = 0.02 / sqrt(2.0 * (double)L);
    struct {
        float *p;
        size_t n;
        double std;
    } t[] = {
        {w->token_embedding, V * D, 0.02},
        {w->wq, L * D * D, 0.02},
        {w->wk, L * KV * D, 0.02},
        {w->wv, L * KV * D, 0.02},
        {w->wo, L * D * D, resid},
        {w->w1, L * F * D, 0.02},
        {w->w2, L * D * F, resid},
        {w->w3, L * F * D, 0.02},
        {c->shared_classifier ? NULL : w->wcls, V * D, 0.02},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].p)
            for (size_t j = 0; j < t[i].n; j++)
                t[i].p[j] = (float)(gauss(&s) * t[i].std);
    for (size_t j = 0; j < L * D; j++)
        w->rms_att[j] = w->rms_ffn[j] = 1.0f;
    for (size_t j = 0; j < D; j++)
        w->rms_final[j] = 1.0f;
}

// ----------------------------------------------------------------------------------------------
// Pieces: RMSNorm, RoPE, attention, SwiGLU, cross-entropy (each with its backward)

// out(N,D) = x * rstd * gain, rstd(N) = 1/sqrt(mean(x^2) + eps)
static void rmsnorm_fwd(float *out, float *rstd, const float *x, const float *gain, int N, int D) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D;
        float ss = 0;
        for (int i = 0; i < D; i++)
            ss += xr[i] * xr[i];
        float r = 1.0f / sqrtf(ss / (float)D + RMS_EPS);
        rstd[n] = r;
        for (int i = 0; i < D; i++)
            out[(size_t)n * D + i] = xr[i] * r * gain[i];
    }
}

// y = x*r*g with r = (mean(x^2)+eps)^-1/2:
//   dg_i += sum_n dy_i x_i r;   dx_i += r dy_i g_i - x_i r^3 / D * sum_j dy_j g_j x_j
static void rmsnorm_bwd(float *dx, float *dgain, const float *dy, const float *x, const float *rstd,
                        const float *gain, int N, int D) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D, *dyr = dy + (size_t)n * D;
        float r = rstd[n], dot = 0;
        for (int i = 0; i < D; i++)
            dot += dyr[i] * gain[i] * xr[i];
        float c = dot * r * r * r / (float)D;
        for (int i = 0; i < D; i++)
            dx[(size_t)n * D + i] += r * dyr[i] * gain[i] - xr[i] * c;
    }
    for (int n = 0; n < N; n++) // serial: a reduction over rows (cheap: N*D)
        for (int i = 0; i < D; i++)
            dgain[i] += dy[(size_t)n * D + i] * x[(size_t)n * D + i] * rstd[n];
}

// Rotates (or, with sign -1, rotates back: the backward pass) the pairs of `width` columns of
// x (N rows, stride width) by position (row % T).
static void rope(const Net *n, float *x, int width, float sign) {
    int HS = n->cfg.dim / n->cfg.n_heads, N = n->B * n->T;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        int t = r % n->T;
        float *row = x + (size_t)r * width;
        for (int i = 0; i < width; i += 2) {
            int j = (i % HS) / 2;
            float c = n->rope_cos[(size_t)t * HS / 2 + j],
                  s = sign * n->rope_sin[(size_t)t * HS / 2 + j];
            float a = row[i], b = row[i + 1];
            row[i] = a * c - b * s;
            row[i + 1] = a * s + b * c;
        }
    }
}

// Causal attention of layer l, head by head as small matrix products (matmul.c does the
// threading): S = Q K^T / sqrt(HS) on and below the diagonal, P = softmax(S) row-wise (zero above
// the diagonal), O = P V. Query head h reads kv head h / (H / HKV).
static void attention_fwd(Net *n, int l) {
    const ModelConfig *c = &n->cfg;
    int B = n->B, T = n->T, D = c->dim, H = c->n_heads, HKV = c->n_kv_heads, HS = D / H;
    int KV = HKV * HS, G = H / HKV;
    size_t N = (size_t)B * T;
    const float *q = n->q + (size_t)l * N * D, *k = n->k + (size_t)l * N * KV;
    const float *v = n->v + (size_t)l * N * KV;
    float *ao = n->ao + (size_t)l * N * D;
    float scale = 1.0f / sqrtf((float)HS);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            int kh = h / G;
            const float *kb = k + (size_t)b * T * KV + kh * HS;
// K^T of this head: (HS, T)
#pragma omp parallel for schedule(static)
            for (int i = 0; i < HS; i++)
                for (int u = 0; u < T; u++)
                    n->tT[(size_t)i * T + u] = kb[(size_t)u * KV + i];
            float *P = n->att + (((size_t)l * B + b) * H + h) * T * T;
            mm_strided(P, T, q + (size_t)b * T * D + h * HS, D, false, n->tT, T, T, T, HS, false,
                       MM_OUT_LOWER);
#pragma omp parallel for schedule(static)
            for (int t = 0; t < T; t++) {
                float *p = P + (size_t)t * T;
                float mx = -INFINITY;
                for (int u = 0; u <= t; u++) {
                    p[u] *= scale;
                    mx = p[u] > mx ? p[u] : mx;
                }
                float sum = 0;
                for (int u = 0; u <= t; u++) {
                    p[u] = expf(p[u] - mx);
                    sum += p[u];
                }
                float inv = 1.0f / sum;
                for (int u = 0; u <= t; u++)
                    p[u] *= inv;
                for (int u = t + 1; u < T; u++)
                    p[u] = 0;
            }
            mm_strided(ao + (size_t)b * T * D + h * HS, D, P, T, false,
                       v + (size_t)b * T * KV + kh * HS, KV, T, HS, T, false, MM_A_LOWER);
        }
    }
}

// O = P V, P = softmax(S), S = scale Q K^T:
//   dV += P^T dO;  dP = dO V^T;  dS = P * (dP - rowsum(P * dP));
//   dQ = scale dS K;  dK += scale dS^T Q      (dK, dV summed over the heads sharing them)
static void attention_bwd(Net *n, int l) {
    const ModelConfig *c = &n->cfg;
    int B = n->B, T = n->T, D = c->dim, H = c->n_heads, HKV = c->n_kv_heads, HS = D / H;
    int KV = HKV * HS, G = H / HKV;
    size_t N = (size_t)B * T;
    const float *q = n->q + (size_t)l * N * D, *k = n->k + (size_t)l * N * KV;
    const float *v = n->v + (size_t)l * N * KV;
    float scale = 1.0f / sqrtf((float)HS);
    memset(n->dk, 0, N * (size_t)KV * sizeof(float));
    memset(n->dv, 0, N * (size_t)KV * sizeof(float));
    float *dS = n->datt;
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            int kh = h / G;
            const float *P = n->att + (((size_t)l * B + b) * H + h) * T * T;
            const float *dO = n->dao + (size_t)b * T * D + h * HS;
            const float *Qh = q + (size_t)b * T * D + h * HS;
            const float *Kh = k + (size_t)b * T * KV + kh * HS;
            const float *Vh = v + (size_t)b * T * KV + kh * HS;
            float *dVh = n->dv + (size_t)b * T * KV + kh * HS;
            float *dKh = n->dk + (size_t)b * T * KV + kh * HS;
            // dV += P^T dO
            mm_strided(dVh, KV, P, T, true, dO, D, T, HS, T, true, MM_A_UPPER);
// dP = dO V^T (lower triangle)
#pragma omp parallel for schedule(static)
            for (int i = 0; i < HS; i++)
                for (int u = 0; u < T; u++)
                    n->tT[(size_t)i * T + u] = Vh[(size_t)u * KV + i];
            mm_strided(dS, T, dO, D, false, n->tT, T, T, T, HS, false, MM_OUT_LOWER);
#pragma omp parallel for schedule(static)
            for (int t = 0; t < T; t++) {
                const float *p = P + (size_t)t * T;
                float *ds = dS + (size_t)t * T;
                float sum = 0;
                for (int u = 0; u <= t; u++)
                    sum += p[u] * ds[u];
                for (int u = 0; u <= t; u++)
                    ds[u] = p[u] * (ds[u] - sum) * scale;
                for (int u = t + 1; u < T; u++)
                    ds[u] = 0;
            }
            // dQ = dS K (each query head owns its slice); dK += dS^T Q
            mm_strided(n->dq + (size_t)b * T * D + h * HS, D, dS, T, false, Kh, KV, T, HS, T, false,
                       MM_A_LOWER);
            mm_strided(dKh, KV, dS, T, true, Qh, D, T, HS, T, true, MM_A_UPPER);
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Forward

double net_forward(Net *n, const ModelWeights *w, const int *tokens, const int *targets) {
    const ModelConfig *c = &n->cfg;
    int D = c->dim, F = c->hidden_dim, KV = config_kv_dim(c), V = c->vocab_size, L = c->n_layers;
    int N = n->B * n->T;
    size_t ND = (size_t)N * D, NF = (size_t)N * F, NKV = (size_t)N * KV;
    n->tokens = tokens;
    for (int r = 0; r < N; r++)
        memcpy(n->x + (size_t)r * D, w->token_embedding + (size_t)tokens[r] * D,
               (size_t)D * sizeof(float));
    for (int l = 0; l < L; l++) {
        float *x = n->x + l * ND, *xn1 = n->xn1 + l * ND, *q = n->q + l * ND;
        float *k = n->k + l * NKV, *v = n->v + l * NKV;
        rmsnorm_fwd(xn1, n->rstd1 + (size_t)l * N, x, w->rms_att + (size_t)l * D, N, D);
        mm_nt(q, xn1, w->wq + (size_t)l * D * D, N, D, D, false);
        mm_nt(k, xn1, w->wk + (size_t)l * KV * D, N, KV, D, false);
        mm_nt(v, xn1, w->wv + (size_t)l * KV * D, N, KV, D, false);
        rope(n, q, D, 1.0f);
        rope(n, k, KV, 1.0f);
        attention_fwd(n, l);
        float *x2 = n->x2 + l * ND;
        mm_nt(x2, n->ao + l * ND, w->wo + (size_t)l * D * D, N, D, D, false);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < ND; i++)
            x2[i] += x[i];
        float *xn2 = n->xn2 + l * ND, *h1 = n->h1 + l * NF, *h3 = n->h3 + l * NF,
              *g = n->g + l * NF;
        rmsnorm_fwd(xn2, n->rstd2 + (size_t)l * N, x2, w->rms_ffn + (size_t)l * D, N, D);
        mm_nt(h1, xn2, w->w1 + (size_t)l * F * D, N, F, D, false);
        mm_nt(h3, xn2, w->w3 + (size_t)l * F * D, N, F, D, false);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < NF; i++)
            g[i] = h1[i] / (1.0f + expf(-h1[i])) * h3[i];
        float *xo = n->x + (l + 1) * ND;
        mm_nt(xo, g, w->w2 + (size_t)l * D * F, N, D, F, false);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < ND; i++)
            xo[i] += x2[i];
    }
    rmsnorm_fwd(n->xf, n->rstdf, n->x + (size_t)L * ND, w->rms_final, N, D);
    mm_nt(n->logits, n->xf, w->wcls, N, V, D, false);
    if (!targets)
        return 0;
    double loss = 0;
    int counted = 0; // positions with a target (a negative target is not scored)
    for (int r = 0; r < N; r++)
        counted += targets[r] >= 0;
#pragma omp parallel for schedule(static) reduction(+ : loss)
    for (int r = 0; r < N; r++) {
        if (targets[r] < 0)
            continue;
        const float *lg = n->logits + (size_t)r * V;
        float mx = lg[0];
        for (int i = 1; i < V; i++)
            mx = lg[i] > mx ? lg[i] : mx;
        double sum = 0;
        for (int i = 0; i < V; i++)
            sum += exp((double)(lg[i] - mx));
        loss += log(sum) + mx - lg[targets[r]];
    }
    return counted ? loss / counted : 0;
}

// ----------------------------------------------------------------------------------------------
// Backward

void net_backward(Net *n, const ModelWeights *w, ModelWeights *gw, const int *targets) {
    const ModelConfig *c = &n->cfg;
    int D = c->dim, F = c->hidden_dim, KV = config_kv_dim(c), V = c->vocab_size, L = c->n_layers;
    int N = n->B * n->T;
    size_t ND = (size_t)N * D, NF = (size_t)N * F, NKV = (size_t)N * KV;

    // loss = mean_r (lse(z_r) - z_r[target]) over the rows with a target (C of them):
    // dz = (softmax(z) - onehot) / C, in place; 0 for a row without one
    int counted = 0;
    for (int r = 0; r < N; r++)
        counted += targets[r] >= 0;
    float C = (float)(counted ? counted : 1);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        float *lg = n->logits + (size_t)r * V;
        if (targets[r] < 0) {
            memset(lg, 0, (size_t)V * sizeof(float));
            continue;
        }
        float mx = lg[0];
        for (int i = 1; i < V; i++)
            mx = lg[i] > mx ? lg[i] : mx;
        float sum = 0;
        for (int i = 0; i < V; i++) {
            lg[i] = expf(lg[i] - mx);
            sum += lg[i];
        }
        float inv = 1.0f / (sum * C);
        for (int i = 0; i < V; i++)
            lg[i] *= inv;
        lg[targets[r]] -= 1.0f / C;
    }
    // logits = xf Wcls^T
    mm_tn(gw->wcls, n->logits, n->xf, V, D, N, true);
    float *dxf = n->dxn;
    mm_nn(dxf, n->logits, w->wcls, N, D, V, false);
    memset(n->dx, 0, ND * sizeof(float));
    rmsnorm_bwd(n->dx, gw->rms_final, dxf, n->x + (size_t)L * ND, n->rstdf, w->rms_final, N, D);

    for (int l = L - 1; l >= 0; l--) {
        // dx holds d loss / d x[l+1] = d/d (x2 + W2 g)
        float *g = n->g + l * NF, *h1 = n->h1 + l * NF, *h3 = n->h3 + l * NF;
        const float *W1 = w->w1 + (size_t)l * F * D, *W2 = w->w2 + (size_t)l * D * F;
        const float *W3 = w->w3 + (size_t)l * F * D;
        mm_tn(gw->w2 + (size_t)l * D * F, n->dx, g, D, F, N, true);
        mm_nn(n->dg, n->dx, W2, N, F, D, false);
// g = silu(h1) h3, silu(z) = z s(z), silu'(z) = s(z) (1 + z (1 - s(z)))
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < NF; i++) {
            float z = h1[i], s = 1.0f / (1.0f + expf(-z));
            n->dh3[i] = n->dg[i] * z * s;
            n->dh1[i] = n->dg[i] * h3[i] * s * (1.0f + z * (1.0f - s));
        }
        float *xn2 = n->xn2 + l * ND;
        mm_tn(gw->w1 + (size_t)l * F * D, n->dh1, xn2, F, D, N, true);
        mm_tn(gw->w3 + (size_t)l * F * D, n->dh3, xn2, F, D, N, true);
        mm_nn(n->dxn, n->dh1, W1, N, D, F, false);
        mm_nn(n->dxn, n->dh3, W3, N, D, F, true);
        // x[l+1] = x2 + mlp(norm(x2)): dx2 = dx + norm_bwd(dxn)
        rmsnorm_bwd(n->dx, gw->rms_ffn + (size_t)l * D, n->dxn, n->x2 + l * ND,
                    n->rstd2 + (size_t)l * N, w->rms_ffn + (size_t)l * D, N, D);
        // x2 = x + Wo ao
        mm_tn(gw->wo + (size_t)l * D * D, n->dx, n->ao + l * ND, D, D, N, true);
        mm_nn(n->dao, n->dx, w->wo + (size_t)l * D * D, N, D, D, false);
        attention_bwd(n, l);
        rope(n, n->dq, D, -1.0f);
        rope(n, n->dk, KV, -1.0f);
        float *xn1 = n->xn1 + l * ND;
        mm_tn(gw->wq + (size_t)l * D * D, n->dq, xn1, D, D, N, true);
        mm_tn(gw->wk + (size_t)l * KV * D, n->dk, xn1, KV, D, N, true);
        mm_tn(gw->wv + (size_t)l * KV * D, n->dv, xn1, KV, D, N, true);
        mm_nn(n->dxn, n->dq, w->wq + (size_t)l * D * D, N, D, D, false);
        mm_nn(n->dxn, n->dk, w->wk + (size_t)l * KV * D, N, D, KV, true);
        mm_nn(n->dxn, n->dv, w->wv + (size_t)l * KV * D, N, D, KV, true);
        // x2 = x + attn(norm(x)): dx = dx2 + norm_bwd(dxn)
        rmsnorm_bwd(n->dx, gw->rms_att + (size_t)l * D, n->dxn, n->x + l * ND,
                    n->rstd1 + (size_t)l * N, w->rms_att + (size_t)l * D, N, D);
        (void)NKV;
    }
    for (int r = 0; r < N; r++) { // serial: tokens repeat
        float *e = gw->token_embedding + (size_t)n->tokens[r] * D;
        const float *d = n->dx + (size_t)r * D;
        for (int i = 0; i < D; i++)
            e[i] += d[i];
    }
}
