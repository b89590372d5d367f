// kernels.h — the numeric kernels of the forward pass (kernels.c). Internal to src/engine (and its
// tests). Shapes use engine.h's legend.
#ifndef KVSCOPE_KERNELS_H
#define KVSCOPE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// ----------------------------------------------------------------------------------------------
// Worker threads (pool.c)
//
// A pool of threads that share the chunks of one job: pool_run calls fn(arg, chunk, thread) once
// for every chunk 0 .. chunks-1, on the caller's thread (thread 0) and on workers (1 ..
// threads-1), whichever takes it first, and returns when all have finished. `thread` selects a
// thread's own scratch memory. Workers wait on a condition variable between jobs after a short
// spin, so an idle pool costs nothing. One caller at a time per pool.
typedef struct KvPool KvPool;
// A pool of `threads` threads counting the caller (threads - 1 workers); NULL for 1. Owned.
KvPool *pool_new(int threads);
void pool_free(KvPool *p);
int pool_size(const KvPool *p); // threads, counting the caller; 1 for NULL
void pool_run(KvPool *p, int chunks, void (*fn)(void *arg, int chunk, int thread), void *arg);

// ----------------------------------------------------------------------------------------------
// Matrix products

// The instruction sets the matrix products are compiled for (kernels_dot.h): AVX2 and AVX-512
// give the same bits (fused multiply-adds in one association); the plain set multiplies and
// adds separately.
typedef enum { KERNEL_ISA_PLAIN = 0, KERNEL_ISA_AVX2 = 1, KERNEL_ISA_AVX512 = 2 } KernelIsa;
#define KERNEL_ISAS 3
KernelIsa kernel_isa_best(void); // the widest this CPU runs
bool kernel_isa_available(KernelIsa isa);
const char *kernel_isa_name(KernelIsa isa);

// Rows of bfloat16 weights a batched pass widens at once, per thread: `wide` holds
// threads x KERNEL_WIDE_ROWS x I floats.
#define KERNEL_WIDE_ROWS 4

// out (N, O), rows `ostride` floats apart, = x (N, I) · W (O, I)^T. W holds floats, or
// bfloat16 values (bf16: each the high half of a float, in order); either gives the same numbers
// for the same values. With a pool, the rows of W are split between its threads; every row is
// computed the same way whichever thread computes it, so the result does not depend on the
// number of threads.
void kernel_matmul(KernelIsa isa, KvPool *pool, float *restrict out, size_t ostride,
                   const float *restrict x, const void *w, bool bf16, int n, int in, int out_dim,
                   float *restrict wide);

// sum over i of exp((x[i] - max) * inv_t) in double, each exponential in float (relative error
// below 3e-7 for arguments down to -87; smaller terms count as e^-87): the softmax denominator
// for the candidate list, without a double exponential per entry.
double kernel_sum_exp(const float *x, int n, float max, float inv_t);

// The index of the first maximum of x[0 .. n) (n >= 1; x holds no NaN).
int kernel_argmax(const float *x, int n);

// One head's attention for one query over n keys and values (rows `stride` floats apart, HS = hs
// wide): att[0..n) = softmax(q · k_s * scale), out (HS) = sum_s att[s] v_s.
void kernel_attend(float *restrict out, float *restrict att, const float *restrict q,
                   const float *restrict keys, const float *restrict values, size_t stride, int hs,
                   int n, float scale);

// out (size) = weight * x / sqrt(mean(x^2) + 1e-5)
void kernel_rmsnorm(float *out, const float *x, const float *weight, int size);

// Rotates the pairs (i, i+1) of every head of q (D wide) and k (KV wide) by the cosines and sines
// cs (HS/2 pairs) of one position.
void kernel_rope(float *q, float *k, const float *cs, int dim, int kv_dim, int head_size);

// g (n) = silu(h1) * h3
void kernel_swiglu(float *g, const float *h1, const float *h3, int n);

#endif
