#include "kernels.h"
#include "lanes.h"
#include "bf16_pairs.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Row-major C = alpha A op(B) + beta C with A and B rounded to bfloat16 (round to nearest
 * even) and products summed in float by AVX512-BF16 VDPBF16PS, which multiplies pairs of
 * bf16 along k and adds both products to a float lane: 32 multiply-adds per instruction,
 * twice an FMA's 16.
 *
 * Blocking as in GotoBLAS: a KC x NC panel of B is packed once per (jc, pc) and every MC x KC
 * block of A against it; the micro-kernel keeps an MR x NR tile of C in 24 registers.
 * Packed B: per NR-column panel, k-pairs of 32-bit words [b(k, j), b(k + 1, j)], NR per pair.
 * Packed A: per MR-row strip, k-pairs of 32-bit words [a(i, k), a(i, k + 1)], MR per pair.
 * Edges are zero-padded (odd k, partial strips and panels), so the kernel never branches on
 * shape; partial tiles of C are stored through masks.
 */

#define MR 12
#define NR 32
#define KC 768
#define MC 48
#define NC 1024


int segserve_has_avx512_bf16(void) {
    if (!segserve_has_avx512() || segserve_switched_off("SEGSERVE_NO_BF16")) return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

/* B (k x n block at b, row stride ldb, no transpose) -> packed panels of NR columns. Rows
 * are read in order (a column panel walked down would stride ldb floats per row). */
BF16_TARGET static void pack_b(const float *b, long ldb, long k, long n, uint32_t *dst) {
    long pairs = (k + 1) / 2;
    for (long q = 0; q < pairs; q++) {
        const float *r0 = b + 2 * q * ldb;
        const float *r1 = 2 * q + 1 < k ? r0 + ldb : NULL;
        for (long j0 = 0; j0 < n; j0 += NR) {
            long cols = n - j0 < NR ? n - j0 : NR;
            __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
            uint32_t *panel = dst + (j0 / NR) * pairs * NR + q * NR;
            _mm512_storeu_si512(panel, pair_rows(r0 + j0, r1 ? r1 + j0 : NULL, m0));
            _mm512_storeu_si512(panel + 16, m1 ? pair_rows(r0 + j0 + 16, r1 ? r1 + j0 + 16 : NULL, m1) : _mm512_setzero_si512());
        }
    }
}

/* A run of `count` floats (count <= 32, even positions paired with odd) -> count/2 words. */
BF16_TARGET static inline void pack_run(const float *src, long count, uint32_t *words, long stride) {
    __mmask16 m0 = lanes(count), m1 = lanes(count - 16);
    __m512 lo = _mm512_maskz_loadu_ps(m0, src);
    __m512 hi = m1 ? _mm512_maskz_loadu_ps(m1, src + 16) : _mm512_setzero_ps();
    /* Words are already pairs of neighbours along the run. */
    uint32_t tmp[16];
    _mm512_storeu_si512(tmp, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    long n = (count + 1) / 2;
    for (long i = 0; i < n; i++) words[i * stride] = tmp[i];
}

/* Rows of a row-major matrix, each a run along k (A's rows; B's columns when B is transposed),
 * -> packed groups of `unit` rows (MR strips, NR panels): per k-pair, `unit` words. */
BF16_TARGET static void pack_runs(const float *src, long ld, long rows, long k, long unit, uint32_t *dst) {
    long pairs = (k + 1) / 2;
    for (long r0 = 0; r0 < rows; r0 += unit) {
        long count = rows - r0 < unit ? rows - r0 : unit;
        if (count < unit) memset(dst, 0, sizeof(uint32_t) * unit * pairs);
        for (long r = 0; r < count; r++) {
            const float *row = src + (r0 + r) * ld;
            for (long p = 0; p < k; p += 32) pack_run(row + p, k - p < 32 ? k - p : 32, dst + (p / 2) * unit + r, unit);
        }
        dst += unit * pairs;
    }
}

/* A (m x k, row stride lda) -> MR strips; B transposed (b[j * ldb + p] is element (p, j)) -> NR panels. */
BF16_TARGET static inline void pack_a(const float *a, long lda, long m, long k, uint32_t *dst) { pack_runs(a, lda, m, k, MR, dst); }
BF16_TARGET static inline void pack_bt(const float *b, long ldb, long k, long n, uint32_t *dst) { pack_runs(b, ldb, n, k, NR, dst); }

/* C tile (rows x cols valid) = alpha acc + (first ? beta C : C). */
BF16_TARGET static void micro_kernel(const uint32_t *pa, const uint32_t *pb, long pairs, float *c, long ldc,
                                     long rows, long cols, float alpha, float beta, int first) {
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (long q = 0; q < pairs; q++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(pb);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(pb + 16);
        for (int r = 0; r < MR; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)pa[r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
        }
        pa += MR;
        pb += NR;
    }
    __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < rows; r++) {
        float *row = c + r * ldc;
        __m512 x0 = _mm512_mul_ps(acc[r][0], va), x1 = _mm512_mul_ps(acc[r][1], va);
        if (!first) {
            x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, row));
            x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, row + 16));
        } else if (beta != 0) {
            /* beta == 0 never reads C, which may hold anything. */
            x0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, row), vb, x0);
            x1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, row + 16), vb, x1);
        }
        _mm512_mask_storeu_ps(row, m0, x0);
        _mm512_mask_storeu_ps(row + 16, m1, x1);
    }
}

/* Words of a whole packed A (m x k) or B (k x n): per KC block of k, every strip or panel. */
static long packed_words(long outer, long unit, long k) {
    long pad = (outer + unit - 1) / unit * unit, words = 0;
    for (long pc = 0; pc < k; pc += KC) words += pad * ((k - pc < KC ? k - pc : KC) + 1) / 2;
    return words;
}

long segserve_bf16_packed_a_words(long m, long k) { return packed_words(m, MR, k); }
long segserve_bf16_packed_b_words(long k, long n) { return packed_words(n, NR, k); }

BF16_TARGET void segserve_bf16_pack_a(const float *a, long lda, long m, long k, uint32_t *out) {
    long pad = (m + MR - 1) / MR * MR;
    for (long pc = 0; pc < k; pc += KC) {
        long kc = k - pc < KC ? k - pc : KC;
        pack_a(a + pc, lda, m, kc, out);
        out += pad * ((kc + 1) / 2);
    }
}

BF16_TARGET void segserve_bf16_pack_b(int trans_b, const float *b, long ldb, long k, long n, uint32_t *out) {
    long pad = (n + NR - 1) / NR * NR;
    for (long pc = 0; pc < k; pc += KC) {
        long kc = k - pc < KC ? k - pc : KC;
        if (trans_b) pack_bt(b + pc, ldb, kc, n, out);
        else pack_b(b + pc * ldb, ldb, kc, n, out);
        out += pad * ((kc + 1) / 2);
    }
}

BF16_TARGET
void segserve_gemm_bf16(long m, long n, long k, float alpha,
                        const float *a, long lda, const uint32_t *packed_a, long packed_a_rows, long row0,
                        int trans_b, const float *b, long ldb, const uint32_t *packed_b, long packed_b_cols, long col0,
                        float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return;
    }
    long a_pad = (packed_a_rows + MR - 1) / MR * MR, b_pad = (packed_b_cols + NR - 1) / NR * NR;
    uint32_t *pb = packed_b ? NULL : aligned_alloc(64, sizeof(uint32_t) * (KC / 2) * ((NC + NR - 1) / NR * NR));
    uint32_t *pa = packed_a ? NULL : aligned_alloc(64, sizeof(uint32_t) * (KC / 2) * ((MC + MR - 1) / MR * MR));
    long a_block = 0, b_block = 0;  /* word offsets of the current KC block in the packed wholes */
    for (long pc = 0; pc < k; pc += KC) {
        long kc = k - pc < KC ? k - pc : KC, pairs = (kc + 1) / 2;
        for (long jc = 0; jc < n; jc += NC) {
            long nc = n - jc < NC ? n - jc : NC;
            const uint32_t *bp;
            if (packed_b) {
                bp = packed_b + b_block + (col0 + jc) * pairs;
            } else {
                if (trans_b) pack_bt(b + jc * ldb + pc, ldb, kc, nc, pb);
                else pack_b(b + pc * ldb + jc, ldb, kc, nc, pb);
                bp = pb;
            }
            for (long ic = 0; ic < m; ic += MC) {
                long mc = m - ic < MC ? m - ic : MC;
                const uint32_t *ap;
                if (packed_a) {
                    ap = packed_a + a_block + (row0 + ic) * pairs;
                } else {
                    pack_a(a + ic * lda + pc, lda, mc, kc, pa);
                    ap = pa;
                }
                for (long jr = 0; jr < nc; jr += NR) {
                    for (long ir = 0; ir < mc; ir += MR) {
                        micro_kernel(ap + ir * pairs, bp + jr * pairs, pairs, c + (ic + ir) * ldc + jc + jr, ldc,
                                     mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR, alpha, beta, pc == 0);
                    }
                }
            }
        }
        a_block += a_pad * pairs;
        b_block += b_pad * pairs;
    }
    free(pa);
    free(pb);
}
