#ifndef SEGSERVE_KERNELS_H
#define SEGSERVE_KERNELS_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/// A spin-wait hint to the CPU (x86 PAUSE, ARM YIELD): polls without giving the core away.
static inline void segserve_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// 1 when the environment variable `name` is set to anything but "" or "0": a switch that lets
/// a host with some instructions run (and test) the paths of a CPU without them.
static inline int segserve_switched_off(const char *name) {
    const char *value = getenv(name);
    return value != NULL && *value != '\0' && *value != '0';
}

/// 1 when the CPU runs the AVX-512 kernels below and SEGSERVE_NO_AVX512 is unset (or 0).
int segserve_has_avx512(void);

/// One query row of attention over a narrow head (d <= 16 channels), AVX-512:
/// scores = scale * q . kt[:, j] for j < nk, softmax over j, out[t] = sum_j p_j vt[t, j];
/// kt and vt are [d, padded] (keys and values transposed), padded % 16 == 0, scores holds padded floats.
void segserve_attention_row_avx512(const float *q, const float *kt, const float *vt, long nk, long padded, long d,
                                   float scale, float *scores, float *out);

/// Floats of 64-byte-aligned scratch one thread needs for segserve_winograd43_avx512.
long segserve_winograd43_scratch_floats(long cin);

/// Winograd F(4x4, 3x3) weight transform, portable: u[k][i][o] = (G g G^T)[k] of the 3x3
/// kernel g = weight[o][i] (u is [36, cin, cout]), computed in double.
void segserve_winograd43_weights(const float *weight, long cout, long cin, float *u);

/// 3x3 stride-1 padding-1 convolution of x ([cin, h, w]) by Winograd F(4x4, 3x3), AVX-512:
/// out ([cout, h, w]) = act(conv + bias + residual) over output rows [4 ty0, 4 ty1), with
/// bias and residual ([cout, h, w]) optional (NULL), act ReLU when relu != 0. Consecutive
/// channel planes of x, out and residual lie plane_stride floats apart (h * w for one map,
/// more for one map of a [C, B, H, W] batch). u from segserve_winograd43_weights;
/// cout % 4 == 0; scratch 64-byte aligned.
void segserve_winograd43_avx512(const float *x, long cin, long h, long w, long plane_stride, const float *u, long cout,
                                const float *bias, const float *residual, int relu, float *out,
                                long ty0, long ty1, float *scratch);
/// 1 when the CPU has AVX512-BF16 (with the AVX-512 kernels on) and SEGSERVE_NO_BF16 is unset (or 0).
int segserve_has_avx512_bf16(void);

/// Words (uint32) of a packed bf16 copy of a [m, k] left operand, and of a [k, n] right one.
long segserve_bf16_packed_a_words(long m, long k);
long segserve_bf16_packed_b_words(long k, long n);
/// Packs a constant operand once for segserve_gemm_bf16: a is [m, k] (row stride lda); b is
/// [k, n], or [n, k] when trans_b != 0. Needs AVX512-BF16.
void segserve_bf16_pack_a(const float *a, long lda, long m, long k, uint32_t *out);
void segserve_bf16_pack_b(int trans_b, const float *b, long ldb, long k, long n, uint32_t *out);

/// Row-major c = alpha a op(b) + beta c, single-threaded, a and b rounded to bfloat16 and the
/// products summed in float (AVX512-BF16). a is [m, k] (row stride lda), or, when packed_a is
/// not NULL, rows [row0, row0 + m) of a packed [packed_a_rows, k] (row0 % 12 == 0). b is
/// [k, n], or [n, k] when trans_b != 0 (row stride ldb), or, when packed_b is not NULL, columns
/// [col0, col0 + n) of a packed [k, packed_b_cols] (col0 % 32 == 0). beta == 0 never reads c.
void segserve_gemm_bf16(long m, long n, long k, float alpha,
                        const float *a, long lda, const uint32_t *packed_a, long packed_a_rows, long row0,
                        int trans_b, const float *b, long ldb, const uint32_t *packed_b, long packed_b_cols, long col0,
                        float beta, float *c, long ldc);

/// Words (uint32) of one head's keys, and of its values, packed for segserve_attention_bf16_rows.
long segserve_attention_bf16_keys_words(long nk, long d);
long segserve_attention_bf16_values_words(long nk, long d);
/// Packs one head's keys and values, each [nk, d] with row stride ld. Needs AVX512-BF16.
void segserve_attention_bf16_pack(const float *k, const float *v, long ld, long nk, long d, uint32_t *kp, uint32_t *vp);
/// out[i] = softmax(scale * q[i] . k) v for `count` query rows of one head (row strides ldq and
/// ldo), single-threaded, with both products in bf16 as segserve_gemm_bf16 rounds them; the
/// scores of a few rows at a time stay in cache. Needs AVX512-BF16.
void segserve_attention_bf16_rows(const float *q, long ldq, long count, const uint32_t *kp, const uint32_t *vp,
                                  long nk, long d, float scale, float *out, long ldo);

/// 1 when the CPU has AVX512-VNNI (with the AVX-512 kernels on) and SEGSERVE_NO_VNNI is unset (or 0).
int segserve_has_avx512_vnni(void);

/// Words (uint32, four int8 each) and per-block channel sums (int32) of a packed int8 constant:
/// side 0 is a left operand [outer = m, k], side 1 a right one given as [outer = n, k].
long segserve_i8_packed_words(int side, long outer, long k);
long segserve_i8_packed_sums(int side, long outer, long k);
/// Quantises a constant operand (rows of w are output channels, runs along k; row stride ld)
/// to int8 per row, scales[outer] = max |row| / 127, and packs it for segserve_gemm_i8.
/// Needs AVX512-VNNI's companions (AVX512-BW and -VL), as the product does.
void segserve_i8_pack(int side, const float *w, long ld, long outer, long k, uint32_t *words, float *scales, int32_t *sums);

/// Row-major c = alpha a b + beta c, single-threaded (AVX512-VNNI), one operand a packed int8
/// constant and the other, x, quantised to uint8 on the fly per KC block of k. const_side 0: a
/// is rows [offset0, offset0 + m) of the packed constant (offset0 % 12 == 0) and x is b, [k, n]
/// (row stride ldx). const_side 1: b is columns [offset0, offset0 + n) of the packed constant
/// (given as [n, k]; offset0 % 32 == 0) and x is a, [m, k]. beta == 0 never reads c.
void segserve_gemm_i8(long m, long n, long k, float alpha, int const_side,
                      const float *x, long ldx,
                      const uint32_t *packed, const float *scales, const int32_t *sums, long packed_outer, long offset0,
                      float beta, float *c, long ldc);

/// glibc only: serve every allocation from the heap and never trim it (see HeapTuning).
void segserve_keep_large_blocks(void);
#endif
