/*
 * blur.c: the reference solution.
 *
 * The 2-D kernel is the outer product of the 1-D one, so the blur is two 19-tap passes: along
 * each row into a float32 intermediate, then down each column. Both passes work on eight pixels
 * per AVX2 register and spend one FMA per tap (the ten distinct weights live in registers; the
 * pixels come straight from memory as the FMA's third operand).
 *
 * - Horizontal: each row is copied into a buffer with the clamped edge pixels replicated nine
 *   times on either side (and up to a vector past the end), so the tap loop has no bounds at
 *   all. Results go into an intermediate with rows rounded up to whole vectors and nine
 *   replicated rows above and below, which is the vertical clamping done once.
 * - Vertical: 19 row pointers would not fit in registers, so the column pass walks six
 *   pointers three strides apart and addresses the others as base + stride * {1, 2}.
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blur.h"

#define R BLUR_RADIUS
#define TAPS (2 * R + 1)

/* acc += w * memory, one instruction. (Through the intrinsics GCC keeps taps of one iteration in
 * registers for the next, runs out of registers for the ten weights and spills them.) */
#define FMA_MEM(acc, w, p) __asm__("vfmadd231ps %2, %1, %0" : "+x"(acc) : "x"(w), "m"(*(const __m256_u *)(p)))

static void kernel_weights(float w[TAPS])
{
    double d[TAPS], sum = 0.0;
    for (int k = -R; k <= R; k++)
        sum += d[k + R] = exp(-(double)(k * k) / (2.0 * BLUR_SIGMA * BLUR_SIGMA));
    for (int k = 0; k < TAPS; k++)
        w[k] = (float)(d[k] / sum);
}

/* dst[x] = sum_k w[k] src[x + k], x < n (n a multiple of 8; src has n + 18 readable floats) */
static void row_pass(const float *src, float *dst, int n, const __m256 *wv)
{
    const __m256 w0 = wv[0], w1 = wv[1], w2 = wv[2], w3 = wv[3], w4 = wv[4], w5 = wv[5], w6 = wv[6], w7 = wv[7],
                 w8 = wv[8], w9 = wv[9];
    for (int x = 0; x < n; x += 8) {
        const float *s = src + x;
        __m256 acc = _mm256_mul_ps(w9, _mm256_loadu_ps(s));
        FMA_MEM(acc, w8, s + 1); FMA_MEM(acc, w7, s + 2); FMA_MEM(acc, w6, s + 3); FMA_MEM(acc, w5, s + 4);
        FMA_MEM(acc, w4, s + 5); FMA_MEM(acc, w3, s + 6); FMA_MEM(acc, w2, s + 7); FMA_MEM(acc, w1, s + 8);
        FMA_MEM(acc, w0, s + 9); FMA_MEM(acc, w1, s + 10); FMA_MEM(acc, w2, s + 11); FMA_MEM(acc, w3, s + 12);
        FMA_MEM(acc, w4, s + 13); FMA_MEM(acc, w5, s + 14); FMA_MEM(acc, w6, s + 15); FMA_MEM(acc, w7, s + 16);
        FMA_MEM(acc, w8, s + 17); FMA_MEM(acc, w9, s + 18);
        _mm256_store_ps(dst + x, acc);
    }
}

/* The 19 taps of column pass at x: rows t + k * stride, k = 0..18. */
#define COLUMN_TAPS(acc, x)                                                                                       \
    do {                                                                                                         \
        acc = _mm256_mul_ps(w9, _mm256_load_ps(t + (x)));                                                        \
        FMA_MEM(acc, w8, t + stride + (x)); FMA_MEM(acc, w7, t + 2 * stride + (x));                              \
        FMA_MEM(acc, w6, t3 + (x)); FMA_MEM(acc, w5, t3 + stride + (x)); FMA_MEM(acc, w4, t3 + 2 * stride + (x)); \
        FMA_MEM(acc, w3, t6 + (x)); FMA_MEM(acc, w2, t6 + stride + (x)); FMA_MEM(acc, w1, t6 + 2 * stride + (x)); \
        FMA_MEM(acc, w0, t9 + (x)); FMA_MEM(acc, w1, t9 + stride + (x)); FMA_MEM(acc, w2, t9 + 2 * stride + (x)); \
        FMA_MEM(acc, w3, t12 + (x)); FMA_MEM(acc, w4, t12 + stride + (x));                                       \
        FMA_MEM(acc, w5, t12 + 2 * stride + (x)); FMA_MEM(acc, w6, t15 + (x));                                   \
        FMA_MEM(acc, w7, t15 + stride + (x)); FMA_MEM(acc, w8, t15 + 2 * stride + (x));                          \
        FMA_MEM(acc, w9, t15 + 3 * stride + (x));                                                                \
    } while (0)

/* out[x] = sum_k w[k] t[x + k * stride], for the n pixels of one output row (masked tail) */
static void column_pass(const float *t, long stride, float *out, int n, const __m256 *wv)
{
    const __m256 w0 = wv[0], w1 = wv[1], w2 = wv[2], w3 = wv[3], w4 = wv[4], w5 = wv[5], w6 = wv[6], w7 = wv[7],
                 w8 = wv[8], w9 = wv[9];
    const float *t3 = t + 3 * stride, *t6 = t + 6 * stride, *t9 = t + 9 * stride, *t12 = t + 12 * stride,
                *t15 = t + 15 * stride;
    __m256 acc;
    int x = 0;
    for (; x + 8 <= n; x += 8) {
        COLUMN_TAPS(acc, x);
        _mm256_storeu_ps(out + x, acc);
    }
    if (x < n) {
        COLUMN_TAPS(acc, x);
        __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_maskstore_ps(out + x, _mm256_cmpgt_epi32(_mm256_set1_epi32(n - x), lane), acc);
    }
}

void gaussian_blur(const float *in, float *out, int width, int height)
{
    float w[TAPS];
    kernel_weights(w);
    __m256 wv[R + 1]; /* wv[j]: the weight of offset +-j, in all lanes */
    for (int j = 0; j <= R; j++)
        wv[j] = _mm256_set1_ps(w[R + j]);

    long stride = (width + 7) & ~7;
    float *t = aligned_alloc(32, (size_t)(height + 2 * R) * stride * sizeof(float));
    float *pad = aligned_alloc(32, (size_t)(stride + 2 * R + 8) * sizeof(float));
    if (!t || !pad)
        abort();
    for (int y = 0; y < height; y++) {
        const float *row = in + (long)y * width;
        __m256 first = _mm256_set1_ps(row[0]), last = _mm256_set1_ps(row[width - 1]);
        _mm256_storeu_ps(pad, first);
        _mm256_storeu_ps(pad + R - 8, first);
        memcpy(pad + R, row, (size_t)width * sizeof(float));
        for (long x = R + width; x < stride + 2 * R; x += 8)
            _mm256_storeu_ps(pad + x, last);
        row_pass(pad, t + (y + R) * stride, (int)stride, wv);
    }
    for (int k = 0; k < R; k++) {
        memcpy(t + k * stride, t + R * stride, (size_t)stride * sizeof(float));
        memcpy(t + (height + R + k) * stride, t + (height + R - 1) * stride, (size_t)stride * sizeof(float));
    }
    for (int y = 0; y < height; y++)
        column_pass(t + y * stride, stride, out + (long)y * width, width, wv);
    free(pad);
    free(t);
}
