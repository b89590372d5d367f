// kernels.h — the numeric kernels of the forward pass (kernels.c). Internal to src/engine: only
// forward.c and kvcache.c include it. Shapes use engine.h's legend.
#ifndef KVSCOPE_KERNELS_H
#define KVSCOPE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// out (N, O) = x (N, I) · W (O, I)^T. W holds floats, or bfloat16 values (bf16) stored as
// kernel_pack_row_bf16 writes each row; either gives the same numbers for the same values. A
// batched pass over bfloat16 weights widens four rows at a time into `wide` (4 x I floats).
void kernel_matmul(float *restrict out, const float *restrict x, const void *w, bool bf16, int n,
                   int in, int out_dim, float *restrict wide);
// The same product for N independent rows (each its own sequence: a server's decode step): each
// output has the bits kernel_matmul gives its row in a pass of its own, and each weight is read
// from memory once for all N rows (batch.c).
void kernel_matmul_rows(float *restrict out, const float *restrict x, const void *w, bool bf16,
                        int n, int in, int out_dim);

// Keys or values as attention reads them: n rows, row s at (const uint8_t *)data + s * stride,
// each hs values as floats, or packed as a KV cache stores them (kvquant.h's rules: bfloat16;
// int8 with a scale per row; int4, two per byte low nibble first, with a scale and a zero point
// per row). A packed row is read back inside the kernel exactly as kvquant.c's read-back functions
// compute it, so kernel_attend_rows gives the bits that kernel_attend gives on the read-back
// floats. Packed rows must be ones whose read back needs none of kvquant.h's edge-of-range guards
// (kvq_rows_plain).
typedef enum { KERNEL_F32, KERNEL_BF16, KERNEL_INT8, KERNEL_INT4 } KernelFormat;
typedef struct {
    const void *data;
    size_t stride;      // bytes from one row to the next
    const float *scale; // (n) int8 and int4: each row's scale
    const float *lo;    // (n) int4: each row's zero point
    KernelFormat format;
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

// Writes one row of n weights (each exactly a bfloat16 value) in the order kernel_matmul reads
// them; returns the end of what was written.
uint16_t *kernel_pack_row_bf16(uint16_t *h, const float *row, size_t n);

#endif
