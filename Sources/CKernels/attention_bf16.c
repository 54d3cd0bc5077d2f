#include "kernels.h"
#include "lanes.h"
#include "bf16_pairs.h"
#include "exp16.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * One head of attention with its two products in bf16 (AVX512-BF16 VDPBF16PS), fused: a block
 * of ROWS query rows is scored against every key into ROWS x nk floats that stay in cache, the
 * softmax's exponentials are rounded to bf16 pairs along the keys as they are made, and their
 * product with the values accumulates in float. Keys and values are packed once per head.
 * Rounding is that of the two products run as bf16 GEMMs: q, k, p and v round to bf16; scores,
 * the softmax and the sums stay in float.
 *
 * Packed keys: per tile of KEYS keys, per channel pair p, KEYS words [k(j, 2p), k(j, 2p + 1)].
 * Packed values: per key pair q, round_up(d, 16) words [v(2q, t), v(2q + 1, t)].
 * Keys past nk are zero, and their scores -inf, so the kernel never branches on nk.
 */

#define ROWS 8
#define KEYS 32

static long padded_keys(long nk) { return (nk + KEYS - 1) / KEYS * KEYS; }
static long channel_pairs(long d) { return (d + 1) / 2; }
static long value_lanes(long d) { return (d + 15) / 16 * 16; }

long segserve_attention_bf16_keys_words(long nk, long d) { return padded_keys(nk) * channel_pairs(d); }
long segserve_attention_bf16_values_words(long nk, long d) { return padded_keys(nk) / 2 * value_lanes(d); }

/* A row of d floats -> its (d + 1) / 2 neighbouring pairs in bf16 (rounded to nearest even),
 * pair p at dst[p * stride]. */
BF16_TARGET static inline void row_pairs(const float *row, long d, uint32_t *dst, long stride) {
    for (long t = 0; t < d; t += 32) {
        long count = d - t < 32 ? d - t : 32;
        uint32_t words[16];
        _mm512_storeu_si512(words, (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(lanes(count - 16), row + t + 16),
                                                                 _mm512_maskz_loadu_ps(lanes(count), row + t)));
        for (long p = 0; p < (count + 1) / 2; p++) dst[(t / 2 + p) * stride] = words[p];
    }
}

BF16_TARGET
void segserve_attention_bf16_pack(const float *k, const float *v, long ld, long nk, long d, uint32_t *kp, uint32_t *vp) {
    long nkp = padded_keys(nk), dp = channel_pairs(d), dv = value_lanes(d);
    memset(kp, 0, sizeof(uint32_t) * nkp * dp);
    for (long j = 0; j < nk; j++) row_pairs(k + j * ld, d, kp + (j / KEYS) * dp * KEYS + j % KEYS, KEYS);
    for (long q = 0; q < nkp / 2; q++) {
        const float *lo = 2 * q < nk ? v + 2 * q * ld : NULL, *hi = 2 * q + 1 < nk ? v + (2 * q + 1) * ld : NULL;
        for (long t = 0; t < dv; t += 16)
            _mm512_storeu_si512(vp + q * dv + t, lo ? pair_rows(lo + t, hi ? hi + t : NULL, lanes(d - t)) : _mm512_setzero_si512());
    }
}

/* o[r][t0 .. t0 + 16 nv) = sum over key pairs of pw[r] . vp, times inv[r]; nv of 1 to 3 vectors. */
BF16_TARGET static inline __attribute__((always_inline))
void values_product(int nv, const uint32_t *pw, long pairs, const uint32_t *vp, long dv, long t0, long d,
                    const float *inv, long rows, float *out, long ldo) {
    __m512 acc[ROWS][3];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < nv; c++) acc[r][c] = _mm512_setzero_ps();
    for (long q = 0; q < pairs; q++) {
        __m512bh w[3];
        for (int c = 0; c < nv; c++) w[c] = (__m512bh)_mm512_loadu_si512(vp + q * dv + t0 + 16 * c);
        for (int r = 0; r < ROWS; r++) {
            __m512bh p = (__m512bh)_mm512_set1_epi32((int)pw[r * pairs + q]);
            for (int c = 0; c < nv; c++) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], p, w[c]);
        }
    }
    for (int r = 0; r < rows; r++) {
        __m512 scale = _mm512_set1_ps(inv[r]);
        for (int c = 0; c < nv; c++) {
            long t = t0 + 16 * c;
            _mm512_mask_storeu_ps(out + r * ldo + t, lanes(d - t), _mm512_mul_ps(acc[r][c], scale));
        }
    }
}

BF16_TARGET
void segserve_attention_bf16_rows(const float *q, long ldq, long count, const uint32_t *kp, const uint32_t *vp,
                                  long nk, long d, float scale, float *out, long ldo) {
    long nkp = padded_keys(nk), dp = channel_pairs(d), dv = value_lanes(d), pairs = nkp / 2;
    float *scores = aligned_alloc(64, sizeof(float) * ROWS * nkp);
    uint32_t *pw = aligned_alloc(64, sizeof(uint32_t) * ROWS * pairs);
    uint32_t *qw = malloc(sizeof(uint32_t) * ROWS * dp);
    float inv[ROWS];
    const __m512 none = _mm512_set1_ps(-INFINITY);
    for (long r0 = 0; r0 < count; r0 += ROWS) {
        long rows = count - r0 < ROWS ? count - r0 : ROWS;
        /* Query rows as channel pairs; missing rows are zero and their results dropped. */
        memset(qw, 0, sizeof(uint32_t) * ROWS * dp);
        for (long r = 0; r < rows; r++) row_pairs(q + (r0 + r) * ldq, d, qw + r * dp, 1);
        /* Scores, KEYS keys at a time. */
        for (long j0 = 0; j0 < nkp; j0 += KEYS) {
            const uint32_t *tile = kp + (j0 / KEYS) * dp * KEYS;
            __m512 acc[ROWS][2];
            for (int r = 0; r < ROWS; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
            for (long p = 0; p < dp; p++) {
                __m512bh k0 = (__m512bh)_mm512_loadu_si512(tile + p * KEYS);
                __m512bh k1 = (__m512bh)_mm512_loadu_si512(tile + p * KEYS + 16);
                for (int r = 0; r < ROWS; r++) {
                    __m512bh a = (__m512bh)_mm512_set1_epi32((int)qw[r * dp + p]);
                    acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, k0);
                    acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, k1);
                }
            }
            __m512 vs = _mm512_set1_ps(scale);
            for (int r = 0; r < ROWS; r++) {
                _mm512_storeu_ps(scores + r * nkp + j0, _mm512_mask_mul_ps(none, lanes(nk - j0), acc[r][0], vs));
                _mm512_storeu_ps(scores + r * nkp + j0 + 16, _mm512_mask_mul_ps(none, lanes(nk - j0 - 16), acc[r][1], vs));
            }
        }
        /* Softmax numerators as bf16 pairs, and their float sums. */
        for (long r = 0; r < ROWS; r++) {
            float *s = scores + r * nkp;
            __m512 m = _mm512_set1_ps(-INFINITY);
            for (long j = 0; j < nkp; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(s + j));
            __m512 shift = _mm512_set1_ps(_mm512_reduce_max_ps(m)), sum = _mm512_setzero_ps();
            for (long j = 0; j < nkp; j += 32) {
                __m512 e0 = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j), shift));
                __m512 e1 = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j + 16), shift));
                /* exp16 clamps: -inf (a missing key) would come out near 1e-38, not 0. */
                e0 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_loadu_ps(s + j), none, _CMP_NEQ_OQ), e0);
                e1 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_loadu_ps(s + j + 16), none, _CMP_NEQ_OQ), e1);
                sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
                _mm512_storeu_si512(pw + r * pairs + j / 2, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
            }
            inv[r] = 1.0f / _mm512_reduce_add_ps(sum);
        }
        /* Values, 48 channels at a time. */
        float *o = out + r0 * ldo;
        for (long t0 = 0; t0 < dv; t0 += 48) {
            long nv = (dv - t0) / 16;
            if (nv >= 3) values_product(3, pw, pairs, vp, dv, t0, d, inv, rows, o, ldo);
            else if (nv == 2) values_product(2, pw, pairs, vp, dv, t0, d, inv, rows, o, ldo);
            else values_product(1, pw, pairs, vp, dv, t0, d, inv, rows, o, ldo);
        }
    }
    free(qw);
    free(pw);
    free(scores);
}
