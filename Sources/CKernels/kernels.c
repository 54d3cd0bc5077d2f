#include "kernels.h"
#include "lanes.h"
#include "exp16.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

int segserve_has_avx512(void) {
    if (segserve_switched_off("SEGSERVE_NO_AVX512")) return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

__attribute__((target("avx512f")))
void segserve_attention_row_avx512(const float *q, const float *kt, const float *vt, long nk, long padded, long d,
                                   float scale, float *scores, float *out) {
    __m512 qb[16];
    for (long t = 0; t < d; t++) qb[t] = _mm512_set1_ps(q[t] * scale);
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (long j = 0; j < padded; j += 16) {
        __m512 acc = _mm512_setzero_ps();
        for (long t = 0; t < d; t++) acc = _mm512_fmadd_ps(qb[t], _mm512_loadu_ps(kt + t * padded + j), acc);
        _mm512_storeu_ps(scores + j, acc);
        if (j + 16 <= nk) m = _mm512_max_ps(m, acc);
    }
    float mx = _mm512_reduce_max_ps(m);
    for (long j = nk / 16 * 16; j < nk; j++) mx = scores[j] > mx ? scores[j] : mx;
    /* One pass: p = exp(s - max) (0 past nk), sum p, and o[t] += p * vt[t] 16 keys at a time. */
    __m512 shift = _mm512_set1_ps(mx), sum = _mm512_setzero_ps();
    __m512 o[16];
    for (long t = 0; t < d; t++) o[t] = _mm512_setzero_ps();
    for (long j = 0; j < padded; j += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(scores + j), shift));
        if (j + 16 > nk) e = _mm512_maskz_mov_ps(lanes(nk - j), e);
        sum = _mm512_add_ps(sum, e);
        for (long t = 0; t < d; t++) o[t] = _mm512_fmadd_ps(e, _mm512_loadu_ps(vt + t * padded + j), o[t]);
    }
    float inv = 1.0f / _mm512_reduce_add_ps(sum);
    for (long t = 0; t < d; t++) out[t] = _mm512_reduce_add_ps(o[t]) * inv;
}
