#include "kernels.h"
#include "lanes.h"

#include <immintrin.h>

/*
 * 3x3 stride-1 convolution with padding 1 by Winograd F(4x4, 3x3) on channel-planar maps.
 * Each 4x4 output tile takes 36 multiplies per channel pair instead of 144. Tiles are taken
 * 64 at a time along a tile row (16 per vector lane group), so the transformed inputs of a
 * chunk (36 x Cin x 64 floats) and the products of 16 output channels stay in L2, and only
 * the input and output maps touch memory.
 *
 * Transforms (Lavin & Gray, points 0, +-1, +-2):
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 */

#define CHUNK 64    /* tiles per chunk: 4 vectors */
#define GROUP 16    /* output channels whose products are kept at once */
/* Strides between the 36 planes of transformed inputs and of products, in floats: a vector
 * more than a multiple of 4 KiB, so the 36 streams of a transform do not all fall into the
 * same L1 sets. */
#define V_STRIDE(cin) ((cin) * CHUNK + 16)
#define M_STRIDE (GROUP * CHUNK + 16)

long segserve_winograd43_scratch_floats(long cin) { return 36 * V_STRIDE(cin) + 36 * M_STRIDE + 36 * CHUNK; }

void segserve_winograd43_weights(const float *weight, long cout, long cin, float *u) {
    static const double g[6][3] = {{0.25, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
    for (long o = 0; o < cout; o++) {
        for (long i = 0; i < cin; i++) {
            const float *k = weight + (o * cin + i) * 9;
            double gk[6][3];  /* G k */
            for (int r = 0; r < 6; r++)
                for (int c = 0; c < 3; c++) gk[r][c] = g[r][0] * k[c] + g[r][1] * k[3 + c] + g[r][2] * k[6 + c];
            for (int r = 0; r < 6; r++)
                for (int c = 0; c < 6; c++)
                    u[((r * 6 + c) * cin + i) * cout + o] = (float)(gk[r][0] * g[c][0] + gk[r][1] * g[c][1] + gk[r][2] * g[c][2]);
        }
    }
}

/* Lanes i of row[start + i] with 0 <= start + i < w, zero elsewhere. */
__attribute__((target("avx512f")))
static inline __m512 load_span(const float *row, long start, long w) {
    if (start >= 0 && start + 16 <= w) return _mm512_loadu_ps(row + start);
    long lo = start < 0 ? -start : 0, hi = w - start;
    if (hi > 16) hi = 16;
    if (hi <= lo) return _mm512_setzero_ps();
    __mmask16 m = (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    return _mm512_maskz_loadu_ps(m, row + start);
}

/* Prefetches columns [x0, x0 + span) of rows [y0, y0 + rows) of a [h, w] plane, clipped. */
static inline void prefetch_rows(const float *plane, long y0, long rows, long h, long w, long x0, long span, int write) {
    long lo = x0 < 0 ? 0 : x0, hi = x0 + span > w ? w : x0 + span;
    if (hi <= lo) return;
    for (long y = y0 < 0 ? 0 : y0; y < y0 + rows && y < h; y++) {
        const char *p = (const char *)(plane + y * w + lo), *end = (const char *)(plane + y * w + hi - 1);
        for (; p <= end; p += 64) {
            if (write) __builtin_prefetch(p, 1, 3);
            else __builtin_prefetch(p, 0, 3);
        }
        if (write) __builtin_prefetch(end, 1, 3);
        else __builtin_prefetch(end, 0, 3);
    }
}

/*
 * v[k][c][t] (planes V_STRIDE apart) = (B^T d B)[k] of the 6x6 patch d of tile t, for `nv` vectors of 16 tiles
 * starting at tile tx0 of tile row ty. t is scratch for 36 * CHUNK floats.
 */
__attribute__((target("avx512f"), noinline))
static void input_transform(const float *x, long cin, long h, long w, long plane_stride, long ty, long tx0, int nv, float *v, float *t) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
    long span = 64 * nv + 2;  /* input columns of the chunk */
    for (long c = 0; c < cin; c++) {
        const float *plane = x + c * plane_stride;
        /* The rows of a chunk are short runs in a map larger than the caches: fetch the next
         * channel's while this one is transformed, the hardware prefetcher does not. */
        if (c + 1 < cin) prefetch_rows(plane + plane_stride, 4 * ty - 1, 6, h, w, 4 * tx0 - 1, span, 0);
        /* Row pass: t[r][j] = (d B)[r][j] for input row r of the patches. */
        for (int r = 0; r < 6; r++) {
            long y = 4 * ty - 1 + r;
            if (y < 0 || y >= h) {
                for (int j = 0; j < 6; j++)
                    for (int q = 0; q < nv; q++) _mm512_store_ps(t + (r * 6 + j) * CHUNK + 16 * q, _mm512_setzero_ps());
                continue;
            }
            const float *row = plane + y * w;
            for (int q = 0; q < nv; q++) {
                long x0 = 4 * (tx0 + 16 * q) - 1;
                __m512 a0 = load_span(row, x0, w), a1 = load_span(row, x0 + 16, w);
                __m512 a2 = load_span(row, x0 + 32, w), a3 = load_span(row, x0 + 48, w);
                __m512 a4 = load_span(row, x0 + 64, w);
                /* Phases: dj[i] = row[x0 + 4i + j]. */
                __m512 e01 = _mm512_permutex2var_ps(a0, even, a1), o01 = _mm512_permutex2var_ps(a0, odd, a1);
                __m512 e23 = _mm512_permutex2var_ps(a2, even, a3), o23 = _mm512_permutex2var_ps(a2, odd, a3);
                __m512 d0 = _mm512_permutex2var_ps(e01, even, e23), d2 = _mm512_permutex2var_ps(e01, odd, e23);
                __m512 d1 = _mm512_permutex2var_ps(o01, even, o23), d3 = _mm512_permutex2var_ps(o01, odd, o23);
                __m512 d4 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(a4), _mm512_castps_si512(d0), 1));
                __m512 a5 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(a4), _mm512_castps_si512(a4), 1));
                __m512 d5 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(a5), _mm512_castps_si512(d1), 1));
                float *o = t + r * 6 * CHUNK + 16 * q;
                __m512 p = _mm512_fnmadd_ps(four, d2, d4), s = _mm512_fnmadd_ps(four, d1, d3);
                __m512 rr = _mm512_sub_ps(d4, d2), ss = _mm512_mul_ps(two, _mm512_sub_ps(d3, d1));
                _mm512_store_ps(o + 0 * CHUNK, _mm512_fmadd_ps(four, d0, _mm512_fnmadd_ps(five, d2, d4)));
                _mm512_store_ps(o + 1 * CHUNK, _mm512_add_ps(p, s));
                _mm512_store_ps(o + 2 * CHUNK, _mm512_sub_ps(p, s));
                _mm512_store_ps(o + 3 * CHUNK, _mm512_add_ps(rr, ss));
                _mm512_store_ps(o + 4 * CHUNK, _mm512_sub_ps(rr, ss));
                _mm512_store_ps(o + 5 * CHUNK, _mm512_fmadd_ps(four, d1, _mm512_fnmadd_ps(five, d3, d5)));
            }
        }
        /* Column pass: v[i*6 + j] = (B^T t)[i][j]. */
        long stride = V_STRIDE(cin);
        float *dst = v + c * CHUNK;
        for (int j = 0; j < 6; j++) {
            for (int q = 0; q < nv; q++) {
                const float *s0 = t + j * CHUNK + 16 * q;
                __m512 d0 = _mm512_load_ps(s0), d1 = _mm512_load_ps(s0 + 6 * CHUNK), d2 = _mm512_load_ps(s0 + 12 * CHUNK);
                __m512 d3 = _mm512_load_ps(s0 + 18 * CHUNK), d4 = _mm512_load_ps(s0 + 24 * CHUNK), d5 = _mm512_load_ps(s0 + 30 * CHUNK);
                __m512 p = _mm512_fnmadd_ps(four, d2, d4), s = _mm512_fnmadd_ps(four, d1, d3);
                __m512 rr = _mm512_sub_ps(d4, d2), ss = _mm512_mul_ps(two, _mm512_sub_ps(d3, d1));
                float *o = dst + j * stride + 16 * q;
                _mm512_store_ps(o + 0 * 6 * stride, _mm512_fmadd_ps(four, d0, _mm512_fnmadd_ps(five, d2, d4)));
                _mm512_store_ps(o + 1 * 6 * stride, _mm512_add_ps(p, s));
                _mm512_store_ps(o + 2 * 6 * stride, _mm512_sub_ps(p, s));
                _mm512_store_ps(o + 3 * 6 * stride, _mm512_add_ps(rr, ss));
                _mm512_store_ps(o + 4 * 6 * stride, _mm512_sub_ps(rr, ss));
                _mm512_store_ps(o + 5 * 6 * stride, _mm512_fmadd_ps(four, d1, _mm512_fnmadd_ps(five, d3, d5)));
            }
        }
    }
}

/*
 * m[o][t] = sum_c u[c][o] v[c][t] for 4 output channels and NV vectors of tiles:
 * 4 x NV accumulators, one broadcast weight per channel pair and vector row.
 */
#define GEMM_KERNEL(NV)                                                                                 \
    __attribute__((target("avx512f"), noinline))                                                        \
    static void gemm4x##NV(const float *v, const float *u, long cin, long cout, float *m) {             \
        __m512 acc[4][NV];                                                                              \
        for (int i = 0; i < 4; i++)                                                                     \
            for (int q = 0; q < NV; q++) acc[i][q] = _mm512_setzero_ps();                               \
        for (long c = 0; c < cin; c++) {                                                                \
            __m512 xv[NV];                                                                              \
            for (int q = 0; q < NV; q++) xv[q] = _mm512_load_ps(v + c * CHUNK + 16 * q);                \
            for (int i = 0; i < 4; i++) {                                                               \
                __m512 b = _mm512_set1_ps(u[c * cout + i]);                                             \
                for (int q = 0; q < NV; q++) acc[i][q] = _mm512_fmadd_ps(b, xv[q], acc[i][q]);          \
            }                                                                                           \
        }                                                                                               \
        for (int i = 0; i < 4; i++)                                                                     \
            for (int q = 0; q < NV; q++) _mm512_store_ps(m + i * CHUNK + 16 * q, acc[i][q]);            \
    }
GEMM_KERNEL(1)
GEMM_KERNEL(2)
GEMM_KERNEL(3)
GEMM_KERNEL(4)

/*
 * out = act(A^T m A + bias (+ residual)) for `n` output channels from o0, tiles of chunk
 * (ty, tx0); m is [36][GROUP][CHUNK] with planes M_STRIDE apart.
 */
__attribute__((target("avx512f"), noinline))
static void output_transform(const float *m, long n, long o0, long h, long w, long plane_stride, long ty, long tx0, int nv,
                             const float *bias, const float *residual, int relu, float *out) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), eight = _mm512_set1_ps(8);
    const __m512 zero = _mm512_setzero_ps();
    for (long o = 0; o < n; o++) {
        __m512 b = _mm512_set1_ps(bias ? bias[o0 + o] : 0.0f);
        float *plane = out + (o0 + o) * plane_stride;
        const float *res = residual ? residual + (o0 + o) * plane_stride : 0;
        if (o + 1 < n) {
            /* As in input_transform: the next channel's output and residual rows. */
            prefetch_rows(plane + plane_stride, 4 * ty, 4, h, w, 4 * tx0, 64 * nv, 1);
            if (res) prefetch_rows(res + plane_stride, 4 * ty, 4, h, w, 4 * tx0, 64 * nv, 0);
        }
        for (int q = 0; q < nv; q++) {
            const float *src = m + o * CHUNK + 16 * q;
            /* Column pass: s[r][j] = (A^T m)[r][j]. */
            __m512 s[4][6];
            for (int j = 0; j < 6; j++) {
                __m512 m0 = _mm512_load_ps(src + (0 * 6 + j) * M_STRIDE), m1 = _mm512_load_ps(src + (1 * 6 + j) * M_STRIDE);
                __m512 m2 = _mm512_load_ps(src + (2 * 6 + j) * M_STRIDE), m3 = _mm512_load_ps(src + (3 * 6 + j) * M_STRIDE);
                __m512 m4 = _mm512_load_ps(src + (4 * 6 + j) * M_STRIDE), m5 = _mm512_load_ps(src + (5 * 6 + j) * M_STRIDE);
                __m512 a = _mm512_add_ps(m1, m2), bb = _mm512_sub_ps(m1, m2);
                __m512 c = _mm512_add_ps(m3, m4), d = _mm512_sub_ps(m3, m4);
                s[0][j] = _mm512_add_ps(_mm512_add_ps(m0, a), c);
                s[1][j] = _mm512_fmadd_ps(two, d, bb);
                s[2][j] = _mm512_fmadd_ps(four, c, a);
                s[3][j] = _mm512_add_ps(_mm512_fmadd_ps(eight, d, bb), m5);
            }
            long xs = 4 * (tx0 + 16 * q);
            for (int r = 0; r < 4; r++) {
                long y = 4 * ty + r;
                if (y >= h) break;
                __m512 a = _mm512_add_ps(s[r][1], s[r][2]), bb = _mm512_sub_ps(s[r][1], s[r][2]);
                __m512 c = _mm512_add_ps(s[r][3], s[r][4]), d = _mm512_sub_ps(s[r][3], s[r][4]);
                __m512 y0 = _mm512_add_ps(_mm512_add_ps(s[r][0], a), _mm512_add_ps(c, b));
                __m512 y1 = _mm512_add_ps(_mm512_fmadd_ps(two, d, bb), b);
                __m512 y2 = _mm512_add_ps(_mm512_fmadd_ps(four, c, a), b);
                __m512 y3 = _mm512_add_ps(_mm512_add_ps(_mm512_fmadd_ps(eight, d, bb), s[r][5]), b);
                /* Interleave the 4 phases into 64 consecutive pixels. */
                __m512 z02l = _mm512_permutex2var_ps(y0, lo, y2), z02h = _mm512_permutex2var_ps(y0, hi, y2);
                __m512 z13l = _mm512_permutex2var_ps(y1, lo, y3), z13h = _mm512_permutex2var_ps(y1, hi, y3);
                __m512 px[4] = {_mm512_permutex2var_ps(z02l, lo, z13l), _mm512_permutex2var_ps(z02l, hi, z13l),
                                _mm512_permutex2var_ps(z02h, lo, z13h), _mm512_permutex2var_ps(z02h, hi, z13h)};
                float *line = plane + y * w;
                const float *rline = res ? res + y * w : 0;
                for (int k = 0; k < 4; k++) {
                    long x = xs + 16 * k;
                    __mmask16 mk = lanes(w - x);
                    if (!mk) break;
                    __m512 val = px[k];
                    if (rline) val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(mk, rline + x));
                    if (relu) val = _mm512_max_ps(val, zero);
                    _mm512_mask_storeu_ps(line + x, mk, val);
                }
            }
        }
    }
}

__attribute__((target("avx512f")))
void segserve_winograd43_avx512(const float *x, long cin, long h, long w, long plane_stride, const float *u, long cout,
                                const float *bias, const float *residual, int relu, float *out,
                                long ty0, long ty1, float *scratch) {
    long tw = (w + 3) / 4;
    float *v = scratch, *m = v + 36 * V_STRIDE(cin), *t = m + 36 * M_STRIDE;
    for (long ty = ty0; ty < ty1; ty++) {
        for (long tx0 = 0; tx0 < tw; tx0 += CHUNK) {
            long nt = tw - tx0 < CHUNK ? tw - tx0 : CHUNK;
            int nv = (int)((nt + 15) / 16);
            input_transform(x, cin, h, w, plane_stride, ty, tx0, nv, v, t);
            for (long g = 0; g < cout; g += GROUP) {
                long n = cout - g < GROUP ? cout - g : GROUP;
                for (int k = 0; k < 36; k++) {
                    const float *vk = v + k * V_STRIDE(cin), *uk = u + k * cin * cout + g;
                    float *mk = m + k * M_STRIDE;
                    for (long i = 0; i < n; i += 4) {
                        switch (nv) {
                        case 1: gemm4x1(vk, uk + i, cin, cout, mk + i * CHUNK); break;
                        case 2: gemm4x2(vk, uk + i, cin, cout, mk + i * CHUNK); break;
                        case 3: gemm4x3(vk, uk + i, cin, cout, mk + i * CHUNK); break;
                        default: gemm4x4(vk, uk + i, cin, cout, mk + i * CHUNK); break;
                        }
                    }
                }
                output_transform(m, n, g, h, w, plane_stride, ty, tx0, nv, bias, residual, relu, out);
            }
        }
    }
}
