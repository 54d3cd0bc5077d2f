#ifndef SEGSERVE_KERNELS_H
#define SEGSERVE_KERNELS_H
#include <stddef.h>

/// 1 when the CPU runs the AVX-512 kernels below.
int segserve_has_avx512(void);

/// One query row of attention over a narrow head (d <= 16 channels), AVX-512:
/// scores = scale * q . kt[:, j] for j < nk, softmax over j, out[t] = sum_j p_j vt[t, j];
/// kt and vt are [d, padded] (keys and values transposed), padded % 16 == 0, scores holds padded floats.
void segserve_attention_row_avx512(const float *q, const float *kt, const float *vt, long nk, long padded, long d,
                                   float scale, float *scores, float *out);
#endif
