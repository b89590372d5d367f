// matmul.c — the trainer's matrix products: cache-blocked, register-tiled, vectorised, OpenMP.
//
// One kernel does the work: C(M,N) += A(M,K) . B(K,N) with B row-major, computed in tiles of
// MR x NR outputs held in registers. For each k the tile takes one row segment of B (NR floats,
// contiguous: vector loads) and MR broadcasts of A, so every loaded B value feeds MR
// multiply-adds. K is walked in blocks of KC so the B panel a tile streams (KC x NR floats)
// stays in L1/L2 while the tiles of a row band reuse it. The compiler vectorises the NR loop;
// target_clones builds AVX-512, AVX2+FMA and baseline versions and picks one at load time
// (the Makefile's flags stay portable). The three layouts the network needs (NN, NT for
// x W^T, TN for dY^T X) are reduced to this one kernel by transposing the smaller operand
// first (O(NK) work against O(MNK)); A^T is read in place by the kernel.
//
// Parallelism: tiles of C are independent; OpenMP splits them statically over the threads.
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

#define MR 4
#define NR 32
#define KC 256

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define MM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MM_CLONES
#endif

// One full MR x NR tile over k in [k0, k1). A's element (r, k) is A[r*ar + k*ak], so the same
// kernel reads A or A^T (a broadcast either way). zero: start from 0 instead of C.
__attribute__((always_inline)) static inline void tile_full(float *restrict C, int ldc,
                                                            const float *restrict A, size_t ar,
                                                            size_t ak, const float *restrict B,
                                                            int ldb, int k0, int k1, bool zero) {
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            acc[r][j] = zero ? 0.0f : C[(size_t)r * ldc + j];
    for (int k = k0; k < k1; k++) {
        const float *b = B + (size_t)k * ldb;
        for (int r = 0; r < MR; r++) {
            float a = A[r * ar + (size_t)k * ak];
            for (int j = 0; j < NR; j++)
                acc[r][j] += a * b[j];
        }
    }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            C[(size_t)r * ldc + j] = acc[r][j];
}

// An edge tile of mr x nr (mr <= MR, nr <= NR).
__attribute__((always_inline)) static inline void
tile_edge(float *restrict C, int ldc, const float *restrict A, size_t ar, size_t ak,
          const float *restrict B, int ldb, int k0, int k1, int mr, int nr, bool zero) {
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * ldc;
        if (zero)
            for (int j = 0; j < nr; j++)
                c[j] = 0;
        for (int k = k0; k < k1; k++) {
            float a = A[r * ar + (size_t)k * ak];
            const float *b = B + (size_t)k * ldb;
            for (int j = 0; j < nr; j++)
                c[j] += a * b[j];
        }
    }
}

// C(M,N) (+)= op(A)(M,K) . B(K,N); op(A) = A (row stride lda) or, with a_trans, the transpose
// of a (K,M) matrix with row stride lda.
MM_CLONES
static void gemm(float *C, int ldc, const float *A, int lda, bool a_trans, const float *B, int ldb,
                 int M, int N, int K, bool accumulate, MmMask mask) {
    int mt = (M + MR - 1) / MR, nt = (N + NR - 1) / NR;
    size_t ar = a_trans ? 1 : (size_t)lda, ak = a_trans ? (size_t)lda : 1;
// one parallel region per product (barriers are costly on a busy machine); each tile walks
// K in blocks of KC so its B panel stays cache-resident
#pragma omp parallel for schedule(static) collapse(2)
    for (int ti = 0; ti < mt; ti++) {
        for (int tj = 0; tj < nt; tj++) {
            int i = ti * MR, j = tj * NR;
            int mr = M - i < MR ? M - i : MR, nr = N - j < NR ? N - j : NR;
            if (mask == MM_OUT_LOWER && j > i + mr - 1)
                continue; // a tile wholly above the diagonal: not needed, left as it is
            int kb = 0, ke = K;
            if (mask == MM_A_LOWER)
                ke = i + mr < K ? i + mr : K; // rows i.. of A are zero past column i+mr-1
            else if (mask == MM_A_UPPER)
                kb = i; // rows i.. of A are zero before column i
            float *c = C + (size_t)i * ldc + j;
            const float *a = A + (size_t)i * ar;
            const float *b = B + j;
            bool zero = !accumulate;
            if (kb >= ke && zero)
                tile_edge(c, ldc, a, ar, ak, b, ldb, 0, 0, mr, nr, true);
            for (int k0 = kb; k0 < ke; k0 += KC) {
                int k1 = k0 + KC < ke ? k0 + KC : ke;
                if (mr == MR && nr == NR)
                    tile_full(c, ldc, a, ar, ak, b, ldb, k0, k1, zero);
                else
                    tile_edge(c, ldc, a, ar, ak, b, ldb, k0, k1, mr, nr, zero);
                zero = false;
            }
        }
    }
}

void mm_strided(float *C, int ldc, const float *A, int lda, bool a_trans, const float *B, int ldb,
                int M, int N, int K, bool accumulate, MmMask mask) {
    gemm(C, ldc, A, lda, a_trans, B, ldb, M, N, K, accumulate, mask);
}

// out (cols, rows) = in (rows, cols)^T
void mm_transpose(float *out, const float *in, int rows, int cols) {
#pragma omp parallel for schedule(static)
    for (int j0 = 0; j0 < cols; j0 += 32)
        for (int i0 = 0; i0 < rows; i0 += 32)
            for (int j = j0; j < j0 + 32 && j < cols; j++)
                for (int i = i0; i < i0 + 32 && i < rows; i++)
                    out[(size_t)j * rows + i] = in[(size_t)i * cols + j];
}

void mm_nn(float *C, const float *A, const float *B, int M, int N, int K, bool accumulate) {
    gemm(C, N, A, K, false, B, N, M, N, K, accumulate, MM_FULL);
}

void mm_nt(float *C, const float *A, const float *W, int M, int N, int K, bool accumulate) {
    float *Wt = kv_malloc((size_t)N * K * sizeof(float)); // (K, N): small, a weight matrix
    mm_transpose(Wt, W, N, K);
    gemm(C, N, A, K, false, Wt, N, M, N, K, accumulate, MM_FULL);
    free(Wt);
}

void mm_tn(float *C, const float *A, const float *B, int M, int N, int K, bool accumulate) {
    gemm(C, N, A, M, true, B, N, M, N, K, accumulate, MM_FULL);
}

double mm_benchmark(int M, int N, int K) {
    float *A = kv_malloc((size_t)M * K * sizeof(float));
    float *B = kv_malloc((size_t)K * N * sizeof(float));
    float *C = kv_malloc((size_t)M * N * sizeof(float));
    uint64_t s = trng_seed(1);
    for (size_t i = 0; i < (size_t)M * K; i++)
        A[i] = trng_unit(&s) - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++)
        B[i] = trng_unit(&s) - 0.5f;
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t t0 = kv_now_ns();
        gemm(C, N, A, K, false, B, N, M, N, K, false, MM_FULL);
        double dt = (double)(kv_now_ns() - t0) * 1e-9;
        if (dt < best)
            best = dt;
    }
    free(A);
    free(B);
    free(C);
    return 2.0 * M * N * K / best * 1e-9;
}
