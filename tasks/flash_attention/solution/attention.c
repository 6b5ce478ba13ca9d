/*
 * attention.c: the reference solution (flash-attention style, AVX2 + FMA).
 *
 * - Q is scaled once by log2(e)/sqrt(d), so that softmax needs only 2^x.
 * - K is repacked into panels of 16 keys, transposed (for each of the d features the 16 keys'
 *   values are contiguous), so that a 4 x 16 block of scores is 4 broadcasts, 2 loads and 8 FMAs
 *   per feature, all kept in registers.
 * - Queries are processed 4 at a time against key blocks of 16 with an online softmax: a running
 *   maximum m and sum l per query; when the maximum grows, the partial output row and l are
 *   rescaled by 2^(m_old - m_new). The n x n matrix never exists: memory is O(n d).
 * - 2^x is a vector polynomial (degree 5 on [-1/2, 1/2], relative error < 3e-7) times 2^round(x)
 *   built in the exponent bits.
 * - The output row accumulators (up to 8 ymm registers of 8 floats) stay in registers while a
 *   block of 16 keys is accumulated into them.
 * n need not be a multiple of the block sizes: queries and keys are padded with zeros, and padded
 * keys are masked to -inf before the softmax. d is any multiple of 8 up to 128.
 */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"

#define BR 4  /* queries per block */
#define BC 16 /* keys per block */

static inline __m256 exp2_ps(__m256 x)
{
    x = _mm256_max_ps(x, _mm256_set1_ps(-126.0f)); /* also maps -inf (masked keys) to ~0 */
    __m256 r = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 f = _mm256_sub_ps(x, r); /* f in [-1/2, 1/2] */
    __m256 p = _mm256_set1_ps(0x1.5c08dcp-10f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0x1.3d0c54p-7f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0x1.c6b6e6p-5f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0x1.ebf918p-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0x1.62e428p-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0x1.000002p+0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(r), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline float hmax_ps(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* o[0 .. 8W) = alpha * o + sum_j p[j] * v[j*ldv .. j*ldv + 8W), for the BC keys of a block. */
static inline __attribute__((always_inline)) void pv_block(float *o, const float *p, const float *v, int ldv,
                                                          __m256 alpha, const int W)
{
    __m256 acc[8];
#pragma GCC unroll 8
    for (int w = 0; w < W; w++)
        acc[w] = _mm256_mul_ps(_mm256_load_ps(o + 8 * w), alpha);
#pragma GCC unroll 16
    for (int j = 0; j < BC; j++) {
        __m256 pj = _mm256_broadcast_ss(p + j);
#pragma GCC unroll 8
        for (int w = 0; w < W; w++)
            acc[w] = _mm256_fmadd_ps(pj, _mm256_load_ps(v + (size_t)j * ldv + 8 * w), acc[w]);
    }
#pragma GCC unroll 8
    for (int w = 0; w < W; w++)
        _mm256_store_ps(o + 8 * w, acc[w]);
}

static void pv_row(float *o, const float *p, const float *v, int d, __m256 alpha)
{
    for (int c = 0; c < d; c += 64, o += 64, v += 64) {
        switch ((d - c) >= 64 ? 8 : (d - c) / 8) {
        case 8: pv_block(o, p, v, d, alpha, 8); break;
        case 7: pv_block(o, p, v, d, alpha, 7); break;
        case 6: pv_block(o, p, v, d, alpha, 6); break;
        case 5: pv_block(o, p, v, d, alpha, 5); break;
        case 4: pv_block(o, p, v, d, alpha, 4); break;
        case 3: pv_block(o, p, v, d, alpha, 3); break;
        case 2: pv_block(o, p, v, d, alpha, 2); break;
        default: pv_block(o, p, v, d, alpha, 1); break;
        }
    }
}

static void *xalloc(size_t floats)
{
    void *p = aligned_alloc(64, (floats * sizeof(float) + 63) & ~(size_t)63);
    if (!p)
        abort();
    return p;
}

void attention(const float *Q, const float *K, const float *V, float *out, int n, int d)
{
    const int nq = (n + BR - 1) / BR * BR, nk = (n + BC - 1) / BC * BC, nblocks = nk / BC;
    float *qs = xalloc((size_t)nq * d);      /* Q * log2(e)/sqrt(d), zero-padded rows */
    float *kp = xalloc((size_t)nk * d);      /* K in transposed panels: kp[b][c][16] */
    float *vp = xalloc((size_t)nk * d);      /* V, zero-padded rows */
    float *o = xalloc((size_t)BR * d);       /* unnormalised output rows of a query block */
    float p[BR][BC] __attribute__((aligned(32)));

    const float scale = (float)(1.4426950408889634 / sqrt((double)d));
    for (size_t i = 0; i < (size_t)n * d; i++)
        qs[i] = Q[i] * scale;
    memset(qs + (size_t)n * d, 0, (size_t)(nq - n) * d * sizeof(float));
    memcpy(vp, V, (size_t)n * d * sizeof(float));
    memset(vp + (size_t)n * d, 0, (size_t)(nk - n) * d * sizeof(float));
    for (int b = 0; b < nblocks; b++)
        for (int j = 0; j < BC; j++) {
            int key = b * BC + j;
            float *dst = kp + (size_t)b * BC * d + j;
            if (key < n)
                for (int c = 0; c < d; c++)
                    dst[(size_t)c * BC] = K[(size_t)key * d + c];
            else
                for (int c = 0; c < d; c++)
                    dst[(size_t)c * BC] = 0.0f;
        }

    /* lanes of the last key block that are padding: -inf, else 0 */
    float tail[BC] __attribute__((aligned(32)));
    for (int j = 0; j < BC; j++)
        tail[j] = (nk - BC + j < n) ? 0.0f : -INFINITY;
    const __m256 tail0 = _mm256_load_ps(tail), tail1 = _mm256_load_ps(tail + 8);

    for (int i0 = 0; i0 < nq; i0 += BR) {
        const float *q = qs + (size_t)i0 * d;
        float m[BR];
        __m256 l[BR];
        for (int r = 0; r < BR; r++) {
            m[r] = -INFINITY;
            l[r] = _mm256_setzero_ps();
        }
        memset(o, 0, (size_t)BR * d * sizeof(float));

        for (int b = 0; b < nblocks; b++) {
            const float *kb = kp + (size_t)b * BC * d;
            __m256 s[BR][2];
            for (int r = 0; r < BR; r++)
                s[r][0] = s[r][1] = _mm256_setzero_ps();
            for (int c = 0; c < d; c++) {
                __m256 k0 = _mm256_load_ps(kb + (size_t)c * BC), k1 = _mm256_load_ps(kb + (size_t)c * BC + 8);
                for (int r = 0; r < BR; r++) {
                    __m256 qv = _mm256_broadcast_ss(q + (size_t)r * d + c);
                    s[r][0] = _mm256_fmadd_ps(qv, k0, s[r][0]);
                    s[r][1] = _mm256_fmadd_ps(qv, k1, s[r][1]);
                }
            }
            if (b == nblocks - 1)
                for (int r = 0; r < BR; r++) {
                    s[r][0] = _mm256_add_ps(s[r][0], tail0);
                    s[r][1] = _mm256_add_ps(s[r][1], tail1);
                }
            for (int r = 0; r < BR; r++) {
                float mnew = fmaxf(m[r], hmax_ps(_mm256_max_ps(s[r][0], s[r][1])));
                __m256 mv = _mm256_set1_ps(mnew);
                __m256 alpha = exp2_ps(_mm256_set1_ps(m[r] - mnew)); /* m = -inf at first: alpha = ~0 */
                m[r] = mnew;
                __m256 p0 = exp2_ps(_mm256_sub_ps(s[r][0], mv)), p1 = exp2_ps(_mm256_sub_ps(s[r][1], mv));
                l[r] = _mm256_fmadd_ps(l[r], alpha, _mm256_add_ps(p0, p1));
                _mm256_store_ps(p[r], p0);
                _mm256_store_ps(p[r] + 8, p1);
                pv_row(o + (size_t)r * d, p[r], vp + (size_t)b * BC * d, d, alpha);
            }
        }

        for (int r = 0; r < BR && i0 + r < n; r++) {
            __m256 inv = _mm256_set1_ps(1.0f / hsum_ps(l[r]));
            for (int c = 0; c < d; c += 8)
                _mm256_store_ps(out + (size_t)(i0 + r) * d + c,
                                _mm256_mul_ps(_mm256_load_ps(o + (size_t)r * d + c), inv));
        }
    }

    free(qs);
    free(kp);
    free(vp);
    free(o);
}
