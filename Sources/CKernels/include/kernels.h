#ifndef SEGSERVE_KERNELS_H
#define SEGSERVE_KERNELS_H
#include <stddef.h>

/// 1 when the CPU runs the AVX-512 kernels below.
int segserve_has_avx512(void);

/// One query row of attention over a narrow head (d = 8 or 16 channels), AVX-512:
/// scores[j] = scale * q . kt[:, j] for j < nk (kt is [d, padded], padded % 16 == 0),
/// softmax over j, out[0..d) = sum_j p_j v[j * width + c].
void segserve_attention_row_avx512(const float *q, const float *kt, const float *v, long width, long nk,
                                   long padded, long d, float scale, float *scores, float *out);
#endif
