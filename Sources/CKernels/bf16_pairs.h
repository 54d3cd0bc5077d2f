#ifndef SEGSERVE_BF16_PAIRS_H
#define SEGSERVE_BF16_PAIRS_H
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* Two float rows of 16 lanes (masked to `valid`) -> 16 words [lo[j], hi[j]] in bf16. */
BF16_TARGET static inline __m512i pair_rows(const float *lo, const float *hi, __mmask16 valid) {
    static const short interleave[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                         8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    __m512 l = _mm512_maskz_loadu_ps(valid, lo);
    __m512 h = hi ? _mm512_maskz_loadu_ps(valid, hi) : _mm512_setzero_ps();
    /* cvtne2ps: words 0-15 from the second operand, 16-31 from the first. */
    __m512i both = (__m512i)_mm512_cvtne2ps_pbh(h, l);
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(interleave), both);
}

#endif
