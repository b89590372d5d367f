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
typedef struct KvWorkers KvWorkers;
// A pool of `threads` threads counting the caller (threads - 1 workers); NULL for 1. Owned.
KvWorkers *pool_new(int threads);
void pool_free(KvWorkers *p);
int pool_size(const KvWorkers *p); // threads, counting the caller; 1 for NULL
void pool_run(KvWorkers *p, int chunks, void (*fn)(void *arg, int chunk, int thread), void *arg);

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
void kernel_matmul(KernelIsa isa, KvWorkers *pool, float *restrict out, size_t ostride,
                   const float *restrict x, const void *w, bool bf16, int n, int in, int out_dim,
                   float *restrict wide);

// sum over i of exp((x[i] - max) * inv_t) in double, each exponential in float (relative error
// below 3e-7 for arguments down to -87; smaller terms count as e^-87): the softmax denominator
// for the candidate list, without a double exponential per entry.
double kernel_sum_exp(const float *x, int n, float max, float inv_t);

// The index of the first maximum of x[0 .. n) (n >= 1; x holds no NaN).
int kernel_argmax(const float *x, int n);

// Keys or values as attention reads them: n rows, row s at (const uint8_t *)data + s * stride,
// each hs values as floats, or packed as a KV cache stores them (kvquant.h's rules: bfloat16;
// int8 with a scale per row; int4, two per byte low nibble first, with a scale and a zero point
// per row). A packed row is read back inside the kernel exactly as kvquant.c's read-back functions
// compute it, so kernel_attend_rows gives the bits that kernel_attend gives on the read-back
// floats. Packed rows must be ones whose read back needs none of kvquant.h's edge-of-range guards
// (kvq_rows_plain).
typedef enum { KERNEL_F32, KERNEL_BF16, KERNEL_INT8, KERNEL_INT4 } KernelFormat;
// A paged cache's rows come with a row map: row s is then row map[s] of data, scale and lo (the
// rows stay in their blocks; the order of summation is still that of s).
typedef struct {
    const void *data;
    size_t stride;      // bytes from one row to the next
    const float *scale; // (n) int8 and int4: each row's scale
    const float *lo;    // (n) int4: each row's zero point
    KernelFormat format;
    const size_t *map; // (n) paged: where row s is among the rows of data; NULL: row s is s
} KernelRows;

// One head's attention for one query over n keys and values: att[0..n) = softmax(q · k_s *
// scale), out (HS) = sum_s att[s] v_s. Keys and values in one format, or f32 keys with packed
// values (keys rotated when they are read: sinks).
void kernel_attend_rows(float *restrict out, float *restrict att, const float *restrict q,
                        const KernelRows *keys, const KernelRows *values, int hs, int n,
                        float scale);
// The same over f32 rows `stride` floats apart.
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
