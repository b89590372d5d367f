// kvquant.h — the quantization rules of the KV cache's precision kinds (kvquant.c). Internal to
// src/engine: kvcache.c stores and reads rows through these functions, tests/test_kvquant.c holds
// each rule to hand-computed rows. Pure functions: no state, no allocation.
//
// The rules, exactly (docs/cache-precision.md says the same in prose, with when KIVI quantizes a
// group). All arithmetic is IEEE binary32 (float) in the order written, rounding to nearest:
//   bf16   the nearest bfloat16 (the high 16 bits of a float), ties to even.
//   int8   per row of n values: scale = max|x| / 127; q = nearbyintf(x / scale) clamped to
//          [-127, 127]; read back q * scale. A row whose scale is 0 (zeros, or values so small
//          that max|x| / 127 underflows) stores q = 0 and reads back 0.
//   asym   (int4 with 4 bits; KIVI's groups with 2 or 4 bits) over n values, M = 2^bits - 1:
//          lo = min x, hi = max x, scale = (hi - lo) / M; q = nearbyintf((x - lo) / scale) clamped
//          to [0, M]; read back q * scale + lo. A constant row stores scale 0, q = 0, reads lo.
//          Packed 8 / bits values per byte, value i in bits (i mod per) * bits up (low bits first).
// Finite inputs give finite outputs: three guards at the edge of the float range, which ordinary
// keys and values never reach, and which the rules as written would turn into infinities:
//   - bf16: a finite value that rounds past the largest bfloat16 (3.3895e38) becomes that value
//     with its sign (saturation) instead of infinity;
//   - asym: when hi - lo overflows, scale = hi / M - lo / M and q = nearbyintf(x / scale -
//     lo / scale) (each term finite);
//   - asym: when M * scale overflows (such a wide row), the read back q * scale + lo is computed
//     in double and rounded once to float;
//   - a read-back value that still overflows is FLT_MAX with its sign.
// A NaN input (the forward pass stops at non-finite values and discards what it stored) is kept
// as a quiet NaN in bf16 and stored as q = 0 by the integer rules: never undefined behaviour.
#ifndef KVSCOPE_KVQUANT_H
#define KVSCOPE_KVQUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVQ_KIVI_GROUP 32    // G: positions per key group (per channel)
#define KVQ_KIVI_RESIDUAL 32 // R: the most recent positions kept in full precision

// ---- bfloat16
uint16_t kvq_bf16(float x);
float kvq_bf16_value(uint16_t h);
void kvq_row_bf16(uint16_t *q, const float *x, int n);
void kvq_unrow_bf16(float *out, const uint16_t *q, int n);

// ---- int8, symmetric per row: returns the scale
float kvq_row_int8(int8_t *q, const float *x, int n);
void kvq_unrow_int8(float *out, const int8_t *q, float scale, int n);

// ---- asymmetric min/max with `bits` bits (2 or 4), n values `stride` floats apart (1 for a row,
// HS for a key channel over a group of positions). Writes kvq_asym_bytes(n, bits) bytes of q.
size_t kvq_asym_bytes(int n, int bits);
void kvq_asym(uint8_t *q, float *scale, float *lo, const float *x, size_t stride, int n, int bits);
void kvq_unasym(float *out, size_t stride, const uint8_t *q, float scale, float lo, int n,
                int bits);

// ---- many rows at once (what attention's read back runs on): `rows` rows of hs values, packed
// rows contiguous, one scale (and zero point) per row; the same numbers as row by row.
void kvq_unrows_bf16(float *out, const uint16_t *q, size_t n_values);
void kvq_unrows_int8(float *out, const int8_t *q, const float *scale, int rows, int hs);
void kvq_unrows_asym(float *out, const uint8_t *q, const float *scale, const float *lo, int rows,
                     int hs, int bits);

// True when rows 0 .. n-1 (their scales, and zero points lo unless NULL) read back by the plain
// arithmetic, q * scale (bits 8) or q * scale + lo (bits 4), without any guard: what an
// attention kernel that reads packed rows itself applies (kernels.h, kernel_attend_rows).
bool kvq_rows_plain(const float *scale, const float *lo, int n, int bits);

// ---- KIVI key group: G positions (rows `stride` floats apart) of hs channels, each channel
// quantized over the G positions with kvq_asym (its scale and lo: hs floats each). q holds the
// values position by position: G rows of kvq_asym_bytes(hs, bits) bytes, channel c of position i
// at value index c of row i (packed as a row is), so a position reads back as one row does.
size_t kvq_key_group_bytes(int hs, int bits); // q bytes plus scales and zero points
void kvq_key_group(uint8_t *q, float *scale, float *lo, const float *rows, size_t stride, int hs,
                   int bits);
// Reads positions i0 .. i0+n-1 of the group (0 <= i0, i0 + n <= G) into rows (stride apart).
void kvq_unkey_group(float *rows, size_t stride, const uint8_t *q, const float *scale,
                     const float *lo, int hs, int bits, int i0, int n);

#endif
