#include "kernels.h"
#include "lanes.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Row-major C = alpha A op(B) + beta C with one operand constant (weights) quantised once to
 * int8, symmetric per output channel, and the other (activations) quantised on the fly to
 * uint8 per row of A or per column of B within each KC block of k: u = round(x / s) + 128,
 * s = max |x| / 127. AVX512-VNNI's VPDPBUSD multiplies four u8 by four s8 along k and adds
 * them to an int32 lane: 64 multiply-adds per instruction, four times an FMA's 16. Each block's
 * sums are corrected for the 128 offset with the constant's per-channel sums and scaled back to
 * float into C: c += alpha s_w s_x (acc - 128 sum_k w).
 *
 * Blocking and tiles as in gemm_bf16.c (GotoBLAS, 12 x 32 register tiles), with k in quads:
 * a packed strip or panel holds, per quad of k, one 32-bit word of four bytes per row or column.
 * Constant operands are A ([m, k], weights of convolutions) or B given as [n, k] (transposed:
 * the weights of linear layers); either way its rows are runs along k.
 */

#define MR 12
#define NR 32
#define KC 1024
#define MC 48
#define NC 512

#define I8_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

int segserve_has_avx512_vnni(void) {
    if (!segserve_has_avx512() || segserve_switched_off("SEGSERVE_NO_VNNI")) return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

static long blocks_of(long k) { return (k + KC - 1) / KC; }
static long pad_to(long x, long unit) { return (x + unit - 1) / unit * unit; }

/* Words of a packed constant: per KC block, every strip (side 0, MR rows) or panel (side 1, NR
 * columns) of quads. */
long segserve_i8_packed_words(int side, long outer, long k) {
    long pad = pad_to(outer, side == 0 ? MR : NR), words = 0;
    for (long pc = 0; pc < k; pc += KC) words += pad * ((k - pc < KC ? k - pc : KC) + 3) / 4;
    return words;
}

/* Ints of a packed constant's per-block channel sums. */
long segserve_i8_packed_sums(int side, long outer, long k) { return blocks_of(k) * pad_to(outer, side == 0 ? MR : NR); }

/* Quantises w ([outer, k], row stride ld; rows are output channels, runs along k) per row and
 * packs it: scales[outer] (s_w), words (segserve_i8_packed_words), sums (per block, per padded
 * channel: the sum of the channel's int8 values over the block). Rounds to nearest even, as
 * lrintf does; NaN and infinite weights come out as -127 (their channel is garbage anyway). */
I8_TARGET
void segserve_i8_pack(int side, const float *w, long ld, long outer, long k, uint32_t *words, float *scales, int32_t *sums) {
    long unit = side == 0 ? MR : NR, pad = pad_to(outer, unit);
    float *inv = malloc(sizeof(float) * (size_t)(outer > 0 ? outer : 1));
    for (long r = 0; r < outer; r++) {
        __m512 mx = _mm512_setzero_ps();
        /* max_ps returns its second operand when either is NaN: NaN weights are skipped, as by fmaxf. */
        for (long p = 0; p < k; p += 16) mx = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(lanes(k - p), w + r * ld + p)), mx);
        float m = _mm512_reduce_max_ps(mx);
        scales[r] = m / 127.0f;
        inv[r] = m > 0 ? 127.0f / m : 0;
    }
    const __m512i hi = _mm512_set1_epi32(127), lo = _mm512_set1_epi32(-127);
    for (long pc = 0, block = 0; pc < k; pc += KC, block++) {
        long kc = k - pc < KC ? k - pc : KC, quads = (kc + 3) / 4;
        int32_t *bsums = sums + block * pad;
        memset(words, 0, sizeof(uint32_t) * (size_t)(pad * quads));
        memset(bsums, 0, sizeof(int32_t) * (size_t)pad);
        for (long r = 0; r < outer; r++) {
            uint32_t *strip = words + (r / unit) * quads * unit + r % unit;
            const float *row = w + r * ld + pc;
            __m512 iv = _mm512_set1_ps(inv[r]);
            __m512i total = _mm512_setzero_si512();
            for (long p = 0; p < kc; p += 16) {
                __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(lanes(kc - p), row + p), iv));
                q = _mm512_max_epi32(_mm512_min_epi32(q, hi), lo);
                total = _mm512_add_epi32(total, q);
                /* 16 bytes in order along k: four quads, byte p % 4 of word p / 4. */
                uint32_t four[4];
                _mm_storeu_si128((__m128i *)four, _mm512_cvtepi32_epi8(q));
                for (long i = 0, n = ((kc - p < 16 ? kc - p : 16) + 3) / 4; i < n; i++) strip[(p / 4 + i) * unit] = four[i];
            }
            bsums[r] = _mm512_reduce_add_epi32(total);
        }
        words += pad * quads;
    }
    free(inv);
}

/* 16 floats times inv, rounded, offset by 128, saturated to bytes. */
I8_TARGET static inline __m128i to_u8(__m512 x, __m512 inv) {
    __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x, inv)), _mm512_set1_epi32(128));
    return _mm512_cvtusepi32_epi8(_mm512_max_epi32(q, _mm512_setzero_si512()));
}

/* Variable B ([kc, nc] block at b, row stride ldb) -> NR-column panels of quads, and the
 * block's per-column scales (scale[j], nc of them). Rows past kc read as zero. */
I8_TARGET static void pack_b_u8(const float *b, long ldb, long kc, long nc, uint32_t *dst, float *scale, float *inv) {
    long quads = (kc + 3) / 4;
    for (long j0 = 0; j0 < nc; j0 += 16) {
        long cols = nc - j0 < 16 ? nc - j0 : 16;
        __mmask16 m = lanes(cols);
        __m512 mx = _mm512_setzero_ps();
        for (long p = 0; p < kc; p++) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, b + p * ldb + j0)));
        __mmask16 nz = _mm512_cmp_ps_mask(mx, _mm512_setzero_ps(), _CMP_GT_OQ);
        _mm512_mask_storeu_ps(scale + j0, m, _mm512_mul_ps(mx, _mm512_set1_ps(1.0f / 127.0f)));
        _mm512_storeu_ps(inv + j0, _mm512_maskz_div_ps(nz, _mm512_set1_ps(127.0f), mx));
    }
    for (long q = 0; q < quads; q++) {
        const float *r0 = b + 4 * q * ldb;
        long rows = kc - 4 * q < 4 ? kc - 4 * q : 4;
        for (long j0 = 0; j0 < pad_to(nc, NR); j0 += 16) {
            long cols = nc - j0 < 16 ? (nc - j0 > 0 ? nc - j0 : 0) : 16;
            __mmask16 m = lanes(cols);
            __m512 iv = _mm512_maskz_loadu_ps(m, inv + j0);
            __m128i u[4];
            for (long r = 0; r < 4; r++)
                u[r] = r < rows ? to_u8(_mm512_maskz_loadu_ps(m, r0 + r * ldb + j0), iv) : _mm_setzero_si128();
            /* Four rows of 16 bytes -> 16 words of [row 0, 1, 2, 3] bytes, columns in order. */
            __m128i t0 = _mm_unpacklo_epi8(u[0], u[1]), t1 = _mm_unpackhi_epi8(u[0], u[1]);
            __m128i t2 = _mm_unpacklo_epi8(u[2], u[3]), t3 = _mm_unpackhi_epi8(u[2], u[3]);
            uint32_t *out = dst + (j0 / NR) * quads * NR + q * NR + j0 % NR;
            _mm_storeu_si128((__m128i *)out, _mm_unpacklo_epi16(t0, t2));
            _mm_storeu_si128((__m128i *)(out + 4), _mm_unpackhi_epi16(t0, t2));
            _mm_storeu_si128((__m128i *)(out + 8), _mm_unpacklo_epi16(t1, t3));
            _mm_storeu_si128((__m128i *)(out + 12), _mm_unpackhi_epi16(t1, t3));
        }
    }
}

/* Variable A ([mc, kc] block at a, row stride lda) -> MR-row strips of quads, and the block's
 * per-row scales. */
I8_TARGET static void pack_a_u8(const float *a, long lda, long mc, long kc, uint32_t *dst, float *scale) {
    long quads = (kc + 3) / 4;
    for (long r0 = 0; r0 < mc; r0 += MR) {
        long count = mc - r0 < MR ? mc - r0 : MR;
        uint32_t *strip = dst + (r0 / MR) * quads * MR;
        if (count < MR) memset(strip, 0, sizeof(uint32_t) * (size_t)(MR * quads));
        for (long r = 0; r < count; r++) {
            const float *row = a + (r0 + r) * lda;
            __m512 mx = _mm512_setzero_ps();
            for (long p = 0; p < kc; p += 16) {
                __mmask16 m = lanes(kc - p);
                mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, row + p)));
            }
            float top = _mm512_reduce_max_ps(mx);
            scale[r0 + r] = top / 127.0f;
            __m512 iv = _mm512_set1_ps(top > 0 ? 127.0f / top : 0);
            for (long p = 0; p < kc; p += 16) {
                __mmask16 m = lanes(kc - p);
                uint32_t w[4];
                _mm_storeu_si128((__m128i *)w, to_u8(_mm512_maskz_loadu_ps(m, row + p), iv));
                for (long i = 0; i < 4 && p + 4 * i < kc; i++) strip[(p / 4 + i) * MR + r] = w[i];
            }
        }
    }
}

/* One MR x NR tile: acc = sum over quads of u8 . s8; then C tile (rows x cols valid) gets
 * alpha s_a s_b (acc - 128 sums) (beta C first, or added onto C after the first block).
 * a_const: A is the s8 constant (sums per row, broadcast), else B is (sums per column). */
#define MICRO_KERNEL(NAME, DOT)                                                                           \
    I8_TARGET static void NAME(const uint32_t *pa, const uint32_t *pb, long quads, float *c, long ldc,   \
                               long rows, long cols, const float *sa, const float *sb, const int32_t *sums, \
                               float alpha, float beta, int first) {                                      \
        __m512i acc[MR][2];                                                                               \
        for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();                      \
        for (long q = 0; q < quads; q++) {                                                                \
            __m512i b0 = _mm512_loadu_si512(pb), b1 = _mm512_loadu_si512(pb + 16);                        \
            for (int r = 0; r < MR; r++) {                                                                \
                __m512i av = _mm512_set1_epi32((int)pa[r]);                                               \
                acc[r][0] = DOT(acc[r][0], av, b0);                                                       \
                acc[r][1] = DOT(acc[r][1], av, b1);                                                       \
            }                                                                                             \
            pa += MR;                                                                                     \
            pb += NR;                                                                                     \
        }                                                                                                 \
        __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);                                                \
        __m512 s0 = _mm512_maskz_loadu_ps(m0, sb), s1 = _mm512_maskz_loadu_ps(m1, sb + 16);               \
        __m512i o0 = _mm512_setzero_si512(), o1 = o0;                                                     \
        if (!A_CONST) {                                                                                   \
            o0 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m0, sums), 7);                                \
            o1 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m1, sums + 16), 7);                           \
        }                                                                                                 \
        __m512 vb = _mm512_set1_ps(beta);                                                                 \
        for (int r = 0; r < rows; r++) {                                                                  \
            float *row = c + r * ldc;                                                                     \
            if (A_CONST) o0 = o1 = _mm512_set1_epi32(sums[r] * 128);                                      \
            __m512 f = _mm512_set1_ps(alpha * sa[r]);                                                     \
            __m512 x0 = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][0], o0)), s0), f); \
            __m512 x1 = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][1], o1)), s1), f); \
            if (!first) {                                                                                 \
                x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, row));                                   \
                x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, row + 16));                              \
            } else if (beta != 0) {                                                                       \
                x0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, row), vb, x0);                             \
                x1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, row + 16), vb, x1);                        \
            }                                                                                             \
            _mm512_mask_storeu_ps(row, m0, x0);                                                           \
            _mm512_mask_storeu_ps(row + 16, m1, x1);                                                      \
        }                                                                                                 \
    }

/* VPDPBUSD takes the unsigned bytes first: B's (activations) when A is the constant. */
#define DOT_A_CONST(acc, a, b) _mm512_dpbusd_epi32(acc, b, a)
#define DOT_B_CONST(acc, a, b) _mm512_dpbusd_epi32(acc, a, b)
#define A_CONST 1
MICRO_KERNEL(micro_a_const, DOT_A_CONST)
#undef A_CONST
#define A_CONST 0
MICRO_KERNEL(micro_b_const, DOT_B_CONST)
#undef A_CONST

I8_TARGET
void segserve_gemm_i8(long m, long n, long k, float alpha, int const_side,
                      const float *x, long ldx,
                      const uint32_t *packed, const float *scales, const int32_t *sums, long packed_outer, long offset0,
                      float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return;
    }
    int a_const = const_side == 0;
    long cpad = pad_to(packed_outer, a_const ? MR : NR);
    /* The variable operand's packed block and its scales. */
    uint32_t *vp = aligned_alloc(64, sizeof(uint32_t) * (size_t)((KC / 4) * (a_const ? pad_to(NC, NR) : pad_to(MC, MR))));
    float *vscale = aligned_alloc(64, sizeof(float) * (size_t)pad_to(NC, NR));
    float *vinv = aligned_alloc(64, sizeof(float) * (size_t)pad_to(NC, NR));
    long cblock = 0;  /* word offset of the current KC block in the packed constant */
    for (long pc = 0, block = 0; pc < k; pc += KC, block++) {
        long kc = k - pc < KC ? k - pc : KC, quads = (kc + 3) / 4;
        const int32_t *bsums = sums + block * cpad + offset0;
        if (a_const) {
            for (long jc = 0; jc < n; jc += NC) {
                long nc = n - jc < NC ? n - jc : NC;
                pack_b_u8(x + pc * ldx + jc, ldx, kc, nc, vp, vscale, vinv);
                for (long ir = 0; ir < m; ir += MR) {
                    const uint32_t *ap = packed + cblock + (offset0 + ir) * quads;
                    for (long jr = 0; jr < nc; jr += NR) {
                        micro_a_const(ap, vp + jr * quads, quads, c + ir * ldc + jc + jr, ldc, m - ir < MR ? m - ir : MR,
                                      nc - jr < NR ? nc - jr : NR, scales + offset0 + ir, vscale + jr, bsums + ir,
                                      alpha, beta, pc == 0);
                    }
                }
            }
        } else {
            for (long ic = 0; ic < m; ic += MC) {
                long mc = m - ic < MC ? m - ic : MC;
                pack_a_u8(x + ic * ldx + pc, ldx, mc, kc, vp, vscale);
                for (long jr = 0; jr < n; jr += NR) {
                    const uint32_t *bp = packed + cblock + (offset0 + jr) * quads;
                    for (long ir = 0; ir < mc; ir += MR) {
                        micro_b_const(vp + ir * quads, bp, quads, c + (ic + ir) * ldc + jr, ldc, mc - ir < MR ? mc - ir : MR,
                                      n - jr < NR ? n - jr : NR, vscale + ir, scales + offset0 + jr, bsums + jr,
                                      alpha, beta, pc == 0);
                    }
                }
            }
        }
        cblock += cpad * quads;
    }
    free(vp);
    free(vscale);
    free(vinv);
}
