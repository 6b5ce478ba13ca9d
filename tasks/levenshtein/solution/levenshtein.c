/*
 * levenshtein.c: the reference solution.
 *
 * Bit-parallel edit distance (Myers 1999, in Hyyrö's formulation): a column of the DP matrix is
 * held as two bit-vectors of vertical deltas, Pv (+1) and Mv (-1), and one text byte advances a
 * whole 64-row word of the column in about 17 operations. The distance is read off the last
 * column at the end: D[m][n] = n + popcount(Pv) - popcount(Mv) over the m rows.
 *
 * - Every pair: strip the common prefix and suffix (the distance does not change), then take
 *   the shorter string as the pattern.
 * - Patterns of 1..32 bytes: eight pairs at a time in the 32-bit lanes of an AVX2 register;
 *   33..64 bytes: four pairs in the 64-bit lanes. Each lane has its own match table; the text
 *   byte and the table entry of each lane are fetched with two gathers. The pairs are sorted by
 *   text length first (a counting sort), so the lanes of a group mostly end together: up to the
 *   shortest text they run without masks, after it a lane whose text has ended keeps its state.
 * - Longer patterns: Hyyrö's blocks of 64 rows, computed four words at a time along an
 *   anti-diagonal wavefront (lane k works on word w0+k at column t-k), so the horizontal delta
 *   leaving the bottom of word k-1 enters lane k one step later. The deltas leaving a strip are
 *   kept per column and enter the next strip; a last strip of two or three words runs with idle
 *   lanes. The ramp-up and ramp-down of each strip, and a last single word, run through the
 *   scalar block step. The text is reversed once (32 bytes per shuffle) so that the four bytes
 *   the lanes need at a step are one 32-bit load.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "levenshtein.h"

#define WORDS_MAX ((LEV_MAX_LEN + 63) / 64)

/* ---- one 64-row word, one column (scalar) -------------------------------------------------- */

/* Advance word (pv, mv) by one column whose match mask is eq; the horizontal delta entering at
 * the top is +1 (hp = 1), -1 (hm = 1) or 0; the one leaving at the bottom is returned the same way. */
static inline void block_step(uint64_t eq, uint64_t *pv, uint64_t *mv, uint64_t *hp, uint64_t *hm)
{
    uint64_t Pv = *pv, Mv = *mv;
    uint64_t xv = eq | Mv;
    eq |= *hm;
    uint64_t xh = (((eq & Pv) + Pv) ^ Pv) | eq;
    uint64_t ph = Mv | ~(xh | Pv);
    uint64_t mh = Pv & xh;
    uint64_t hpo = ph >> 63, hmo = mh >> 63;
    ph = (ph << 1) | *hp;
    mh = (mh << 1) | *hm;
    *pv = mh | ~(xv | ph);
    *mv = ph & xv;
    *hp = hpo;
    *hm = hmo;
}

/* ---- long patterns: strips of four words along a wavefront ---------------------------------- */

static uint64_t peq_long[WORDS_MAX + 3][256] __attribute__((aligned(64))); /* + 3 rows that stay 0 */
/* Horizontal deltas leaving the strip above, per column: hp in lane 3 of hist_p[j + 3], ... */
static uint64_t hist[2][2][LEV_MAX_LEN + 8][4] __attribute__((aligned(64)));
static unsigned char rev_buf[32 + LEV_MAX_LEN + 32] __attribute__((aligned(64)));
#define rev (rev_buf + 32)

/* Step t of a strip, lane by lane: lane k (if 0 <= t-k < n) advances word w0+k at column t-k.
 * Lanes go from 3 down to 0 so that lane k still finds what lane k-1 sent at step t-1. */
static void strip_scalar_step(int t, int n, const unsigned char *b, int w0, uint64_t *pv, uint64_t *mv, uint64_t *hp,
                              uint64_t *hm, uint64_t (*in_p)[4], uint64_t (*in_m)[4], uint64_t (*out_p)[4],
                              uint64_t (*out_m)[4])
{
    for (int k = 3; k >= 0; k--) {
        int j = t - k;
        if (j < 0 || j >= n)
            continue;
        uint64_t p = k ? hp[k - 1] : in_p[t + 3][3], q = k ? hm[k - 1] : in_m[t + 3][3];
        block_step(peq_long[w0 + k][b[j]], &pv[k], &mv[k], &p, &q);
        hp[k] = p;
        hm[k] = q;
        if (k == 3) {
            out_p[t][3] = p;
            out_m[t][3] = q;
        }
    }
}

static int32_t long_distance(const unsigned char *a, int m, const unsigned char *b, int n)
{
    int words = (m + 63) / 64;
    for (int w = 0; w < words; w++) {
        const unsigned char *aw = a + 64 * w;
        uint64_t *row = peq_long[w];
        int len = m - 64 * w < 64 ? m - 64 * w : 64;
#pragma GCC unroll 4
        for (int i = 0; i < len; i++)
            row[aw[i]] |= 1ull << i;
    }
    /* The text reversed, so that lane k's byte b[t-k] is the k-th of four consecutive bytes. */
    {
        const __m256i flip = _mm256_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11,
                                              10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        /* 32 bytes at a time; reading past b stays in the text's padding, writing before rev[0]
         * stays in rev_buf */
        for (int j = 0; j < n; j += 32) {
            __m256i x = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(b + j)), flip);
            _mm256_storeu_si256((__m256i *)(rev + n - j - 32), _mm256_permute4x64_epi64(x, 0x4e));
        }
    }

    /* carry-in of the first strip: row 0 of the DP rises by 1 per column */
    int cur = 0;
    uint64_t (*in_p)[4] = hist[cur][0], (*in_m)[4] = hist[cur][1];
    for (int j = 0; j < n; j++) {
        in_p[j + 3][3] = 1;
        in_m[j + 3][3] = 0;
    }
    int32_t score = n;
    int w0 = 0;
    /* strips of four words; a last strip of two or three words runs with idle lanes (their match
     * masks are 0 and their results are not counted) */
    for (; words - w0 >= 2; w0 += 4) {
        uint64_t (*out_p)[4] = hist[cur ^ 1][0], (*out_m)[4] = hist[cur ^ 1][1];
        uint64_t pv[4] = {~0ull, ~0ull, ~0ull, ~0ull}, mv[4] = {0, 0, 0, 0};
        uint64_t hp[4] = {0, 0, 0, 0}, hm[4] = {0, 0, 0, 0}; /* what lane k sent at its last column */
        int vec_to = n > 3 ? n : 3;
        for (int t = 0; t < 3; t++) /* ramp-up: lane k starts at step k */
            strip_scalar_step(t, n, b, w0, pv, mv, hp, hm, in_p, in_m, out_p, out_m);
        if (n > 3) {
            __m256i Pv = _mm256_loadu_si256((const __m256i *)pv), Mv = _mm256_loadu_si256((const __m256i *)mv);
            __m256i Hp = _mm256_loadu_si256((const __m256i *)hp), Hm = _mm256_loadu_si256((const __m256i *)hm);
            const __m256i ones = _mm256_set1_epi64x(-1);
            const __m256i lanebase = _mm256_set_epi64x(3 * 256, 2 * 256, 256, 0);
            const long long *table = (const long long *)peq_long[w0];
            for (int t = 3; t < n; t++) {
                /* lane k: byte b[t-k] = rev[n-1-t+k] */
                int four;
                memcpy(&four, rev + n - 1 - t, 4);
                __m256i idx = _mm256_add_epi64(_mm256_cvtepu8_epi64(_mm_cvtsi32_si128(four)), lanebase);
                __m256i Eq = _mm256_i64gather_epi64(table, idx, 8);
                /* carries: lane 0 from the strip above, lane k from lane k-1 one step ago */
                __m256i cp = _mm256_blend_epi32(_mm256_permute4x64_epi64(Hp, 0x90),
                                                _mm256_set1_epi64x((long long)in_p[t + 3][3]), 0x03);
                __m256i cm = _mm256_blend_epi32(_mm256_permute4x64_epi64(Hm, 0x90),
                                                _mm256_set1_epi64x((long long)in_m[t + 3][3]), 0x03);
                __m256i Xv = _mm256_or_si256(Eq, Mv);
                Eq = _mm256_or_si256(Eq, cm);
                __m256i Xh = _mm256_or_si256(
                    _mm256_xor_si256(_mm256_add_epi64(_mm256_and_si256(Eq, Pv), Pv), Pv), Eq);
                __m256i Ph = _mm256_or_si256(Mv, _mm256_andnot_si256(_mm256_or_si256(Xh, Pv), ones));
                __m256i Mh = _mm256_and_si256(Pv, Xh);
                Hp = _mm256_srli_epi64(Ph, 63);
                Hm = _mm256_srli_epi64(Mh, 63);
                Ph = _mm256_or_si256(_mm256_slli_epi64(Ph, 1), cp);
                Mh = _mm256_or_si256(_mm256_slli_epi64(Mh, 1), cm);
                Pv = _mm256_or_si256(Mh, _mm256_andnot_si256(_mm256_or_si256(Xv, Ph), ones));
                Mv = _mm256_and_si256(Ph, Xv);
                /* lane 3 leaves column t-3, kept at out[(t-3)+3][3] */
                _mm256_store_si256((__m256i *)out_p[t], Hp);
                _mm256_store_si256((__m256i *)out_m[t], Hm);
            }
            _mm256_storeu_si256((__m256i *)pv, Pv);
            _mm256_storeu_si256((__m256i *)mv, Mv);
            _mm256_storeu_si256((__m256i *)hp, Hp);
            _mm256_storeu_si256((__m256i *)hm, Hm);
        }
        for (int t = vec_to; t < n + 3; t++) /* ramp-down: lane k ends at step n-1+k */
            strip_scalar_step(t, n, b, w0, pv, mv, hp, hm, in_p, in_m, out_p, out_m);
        for (int k = 0; k < 4; k++) {
            uint64_t mask = w0 + k >= words                      ? 0
                            : (w0 + k == words - 1 && (m & 63)) ? (1ull << (m & 63)) - 1
                                                                : ~0ull;
            score += __builtin_popcountll(pv[k] & mask) - __builtin_popcountll(mv[k] & mask);
        }
        cur ^= 1;
        in_p = hist[cur][0];
        in_m = hist[cur][1];
    }
    /* a last single word over all columns */
    for (int w = w0; w < words; w++) {
        uint64_t pv = ~0ull, mv = 0;
        const uint64_t *eqs = peq_long[w];
        for (int j = 0; j < n; j++) {
            uint64_t p = in_p[j + 3][3], q = in_m[j + 3][3];
            block_step(eqs[b[j]], &pv, &mv, &p, &q);
            in_p[j + 3][3] = p;
            in_m[j + 3][3] = q;
        }
        uint64_t mask = (w == words - 1 && (m & 63)) ? (1ull << (m & 63)) - 1 : ~0ull;
        score += __builtin_popcountll(pv & mask) - __builtin_popcountll(mv & mask);
    }
    for (int w = 0; w < words; w++) {
        const unsigned char *aw = a + 64 * w;
        uint64_t *row = peq_long[w];
        int len = m - 64 * w < 64 ? m - 64 * w : 64;
#pragma GCC unroll 4
        for (int i = 0; i < len; i++)
            row[aw[i]] = 0;
    }
    return score;
}

/* ---- short patterns: four pairs at once ---------------------------------------------------- */

typedef struct {
    const unsigned char *a, *b;
    int m, n, index;
} job_t;

static uint64_t peq_short[4][256] __attribute__((aligned(64)));

/* One column for four single-word patterns: hin = +1 at the top of every column. */
static inline void short_step(__m256i Eq, __m256i *Pv, __m256i *Mv)
{
    const __m256i ones = _mm256_set1_epi64x(-1), one = _mm256_set1_epi64x(1);
    __m256i Xv = _mm256_or_si256(Eq, *Mv);
    __m256i Xh = _mm256_or_si256(_mm256_xor_si256(_mm256_add_epi64(_mm256_and_si256(Eq, *Pv), *Pv), *Pv), Eq);
    __m256i Ph = _mm256_or_si256(*Mv, _mm256_andnot_si256(_mm256_or_si256(Xh, *Pv), ones));
    __m256i Mh = _mm256_slli_epi64(_mm256_and_si256(*Pv, Xh), 1);
    Ph = _mm256_or_si256(_mm256_slli_epi64(Ph, 1), one);
    *Pv = _mm256_or_si256(Mh, _mm256_andnot_si256(_mm256_or_si256(Xv, Ph), ones));
    *Mv = _mm256_and_si256(Ph, Xv);
}

/* Up to four pairs (patterns of 1..64 bytes), one per lane. The jobs come sorted by text length,
 * so the lanes mostly run together up to the shortest text without any masking; after it, a lane
 * whose text has ended keeps its state. */
static void short_group(const unsigned char *text, const job_t *jobs, int count, int32_t *dist)
{
    long long off[4], end[4], top[4];
    int minn = jobs[0].n, maxn = jobs[0].n;
    for (int k = 0; k < 4; k++) {
        const job_t *jb = &jobs[k < count ? k : 0];
        const unsigned char *a = jb->a;
        uint64_t *peq = peq_short[k];
#pragma GCC unroll 4
        for (int i = 0; i < jb->m; i++)
            peq[a[i]] |= 1ull << i;
        off[k] = jb->b - text;
        end[k] = k < count ? off[k] + jb->n : off[k];
        top[k] = jb->m == 64 ? -1 : (long long)((1ull << jb->m) - 1);
        minn = jb->n < minn ? jb->n : minn;
        maxn = jb->n > maxn ? jb->n : maxn;
    }
    if (count < 4) /* the missing lanes repeat job 0 and stop with it */
        minn = 0;
    const __m256i one = _mm256_set1_epi64x(1), low = _mm256_set1_epi64x(0xff);
    const __m256i lanebase = _mm256_set_epi64x(3 * 256, 2 * 256, 256, 0);
    const __m256i End = _mm256_loadu_si256((const __m256i *)end);
    __m256i Pos = _mm256_loadu_si256((const __m256i *)off);
    __m256i Pv = _mm256_set1_epi64x(-1), Mv = _mm256_setzero_si256();
    const long long *table = (const long long *)peq_short;
    int j = 0;
    for (; j < minn; j++) {
        __m256i bytes = _mm256_i64gather_epi64((const long long *)text, Pos, 1);
        __m256i Eq = _mm256_i64gather_epi64(table, _mm256_add_epi64(_mm256_and_si256(bytes, low), lanebase), 8);
        Pos = _mm256_add_epi64(Pos, one);
        short_step(Eq, &Pv, &Mv);
    }
    for (; j < maxn; j++) {
        __m256i active = _mm256_cmpgt_epi64(End, Pos);
        __m256i bytes = _mm256_mask_i64gather_epi64(_mm256_setzero_si256(), (const long long *)text, Pos, active, 1);
        __m256i Eq = _mm256_i64gather_epi64(table, _mm256_add_epi64(_mm256_and_si256(bytes, low), lanebase), 8);
        Pos = _mm256_add_epi64(Pos, one);
        __m256i nPv = Pv, nMv = Mv;
        short_step(Eq, &nPv, &nMv);
        Pv = _mm256_blendv_epi8(Pv, nPv, active);
        Mv = _mm256_blendv_epi8(Mv, nMv, active);
    }
    Pv = _mm256_and_si256(Pv, _mm256_loadu_si256((const __m256i *)top));
    Mv = _mm256_and_si256(Mv, _mm256_loadu_si256((const __m256i *)top));
    uint64_t pv[4], mv[4];
    _mm256_storeu_si256((__m256i *)pv, Pv);
    _mm256_storeu_si256((__m256i *)mv, Mv);
    for (int k = 0; k < 4; k++) {
        const job_t *jb = &jobs[k < count ? k : 0];
        const unsigned char *a = jb->a;
        uint64_t *peq = peq_short[k];
#pragma GCC unroll 4
        for (int i = 0; i < jb->m; i++)
            peq[a[i]] = 0;
        if (k < count)
            dist[jb->index] = jb->n + __builtin_popcountll(pv[k]) - __builtin_popcountll(mv[k]);
    }
}

/* The same for eight patterns of 1..32 bytes, one per 32-bit lane. */
static uint32_t peq_tiny[8][256] __attribute__((aligned(64)));

static inline void tiny_step(__m256i Eq, __m256i *Pv, __m256i *Mv)
{
    const __m256i ones = _mm256_set1_epi32(-1), one = _mm256_set1_epi32(1);
    __m256i Xv = _mm256_or_si256(Eq, *Mv);
    __m256i Xh = _mm256_or_si256(_mm256_xor_si256(_mm256_add_epi32(_mm256_and_si256(Eq, *Pv), *Pv), *Pv), Eq);
    __m256i Ph = _mm256_or_si256(*Mv, _mm256_andnot_si256(_mm256_or_si256(Xh, *Pv), ones));
    __m256i Mh = _mm256_slli_epi32(_mm256_and_si256(*Pv, Xh), 1);
    Ph = _mm256_or_si256(_mm256_slli_epi32(Ph, 1), one);
    *Pv = _mm256_or_si256(Mh, _mm256_andnot_si256(_mm256_or_si256(Xv, Ph), ones));
    *Mv = _mm256_and_si256(Ph, Xv);
}

static void tiny_group(const unsigned char *text, const job_t *jobs, int count, int32_t *dist)
{
    int off[8], end[8];
    uint32_t top[8];
    int minn = jobs[0].n, maxn = jobs[0].n;
    for (int k = 0; k < 8; k++) {
        const job_t *jb = &jobs[k < count ? k : 0];
        const unsigned char *a = jb->a;
        uint32_t *peq = peq_tiny[k];
#pragma GCC unroll 4
        for (int i = 0; i < jb->m; i++)
            peq[a[i]] |= 1u << i;
        off[k] = (int)(jb->b - text);
        end[k] = k < count ? off[k] + jb->n : off[k];
        top[k] = jb->m == 32 ? ~0u : (1u << jb->m) - 1;
        minn = jb->n < minn ? jb->n : minn;
        maxn = jb->n > maxn ? jb->n : maxn;
    }
    if (count < 8)
        minn = 0;
    const __m256i one = _mm256_set1_epi32(1), low = _mm256_set1_epi32(0xff);
    const __m256i lanebase = _mm256_setr_epi32(0, 256, 2 * 256, 3 * 256, 4 * 256, 5 * 256, 6 * 256, 7 * 256);
    const __m256i End = _mm256_loadu_si256((const __m256i *)end);
    __m256i Pos = _mm256_loadu_si256((const __m256i *)off);
    __m256i Pv = _mm256_set1_epi32(-1), Mv = _mm256_setzero_si256();
    const int *table = (const int *)peq_tiny;
    int j = 0;
    for (; j < minn; j++) {
        __m256i bytes = _mm256_i32gather_epi32((const int *)text, Pos, 1);
        __m256i Eq = _mm256_i32gather_epi32(table, _mm256_add_epi32(_mm256_and_si256(bytes, low), lanebase), 4);
        Pos = _mm256_add_epi32(Pos, one);
        tiny_step(Eq, &Pv, &Mv);
    }
    for (; j < maxn; j++) {
        __m256i active = _mm256_cmpgt_epi32(End, Pos);
        __m256i bytes = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int *)text, Pos, active, 1);
        __m256i Eq = _mm256_i32gather_epi32(table, _mm256_add_epi32(_mm256_and_si256(bytes, low), lanebase), 4);
        Pos = _mm256_add_epi32(Pos, one);
        __m256i nPv = Pv, nMv = Mv;
        tiny_step(Eq, &nPv, &nMv);
        Pv = _mm256_blendv_epi8(Pv, nPv, active);
        Mv = _mm256_blendv_epi8(Mv, nMv, active);
    }
    Pv = _mm256_and_si256(Pv, _mm256_loadu_si256((const __m256i *)top));
    Mv = _mm256_and_si256(Mv, _mm256_loadu_si256((const __m256i *)top));
    uint32_t pv[8], mv[8];
    _mm256_storeu_si256((__m256i *)pv, Pv);
    _mm256_storeu_si256((__m256i *)mv, Mv);
    for (int k = 0; k < 8; k++) {
        const job_t *jb = &jobs[k < count ? k : 0];
        const unsigned char *a = jb->a;
        uint32_t *peq = peq_tiny[k];
#pragma GCC unroll 4
        for (int i = 0; i < jb->m; i++)
            peq[a[i]] = 0;
        if (k < count)
            dist[jb->index] = jb->n + __builtin_popcount(pv[k]) - __builtin_popcount(mv[k]);
    }
}

/* ---- driver -------------------------------------------------------------------------------- */

static int common_prefix(const unsigned char *a, const unsigned char *b, int len)
{
    int i = 0;
    /* 32 bytes at a time: reading up to 31 bytes past a string stays in the text's padding */
    while (i + 32 <= len) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(a + i)), y = _mm256_loadu_si256((const __m256i *)(b + i));
        unsigned neq = ~(unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, y));
        if (neq)
            return i + __builtin_ctz(neq);
        i += 32;
    }
    while (i < len && a[i] == b[i])
        i++;
    return i;
}

static int common_suffix(const unsigned char *a, const unsigned char *b, int len)
{
    int i = 0;
    while (i + 8 <= len) {
        uint64_t x, y;
        memcpy(&x, a - i - 8, 8);
        memcpy(&y, b - i - 8, 8);
        if (x != y)
            return i + (__builtin_clzll(x ^ y) >> 3);
        i += 8;
    }
    while (i < len && a[-i - 1] == b[-i - 1])
        i++;
    return i;
}

void edit_distances(const unsigned char *text, const lev_pair *pairs, int npairs, int32_t *dist)
{
    job_t *jobs = malloc((size_t)npairs * sizeof *jobs);
    if (!jobs)
        abort();
    int nshort = 0;
    for (int i = 0; i < npairs; i++) {
        const unsigned char *a = text + pairs[i].a_off, *b = text + pairs[i].b_off;
        int m = (int)pairs[i].a_len, n = (int)pairs[i].b_len;
        int p = common_prefix(a, b, m < n ? m : n);
        a += p, b += p, m -= p, n -= p;
        int s = common_suffix(a + m, b + n, m < n ? m : n);
        m -= s, n -= s;
        if (m > n) {
            const unsigned char *t = a;
            a = b, b = t;
            int u = m;
            m = n, n = u;
        }
        if (m == 0)
            dist[i] = n;
        else if (m <= 64)
            jobs[nshort++] = (job_t){a, b, m, n, i};
        else
            dist[i] = long_distance(a, m, b, n);
    }
    /* counting sort of the short jobs: patterns of up to 32 bytes first, then by text length
     * (lengths above 255 share a bucket) */
    job_t *sorted = malloc((size_t)(nshort ? nshort : 1) * sizeof *sorted);
    if (!sorted)
        abort();
    int start[513] = {0};
#define BUCKET(jb) (((jb).m > 32) * 256 + ((jb).n < 255 ? (jb).n : 255))
    for (int i = 0; i < nshort; i++)
        start[BUCKET(jobs[i]) + 1]++;
    for (int k = 0; k < 512; k++)
        start[k + 1] += start[k];
    int ntiny = start[256];
    for (int i = 0; i < nshort; i++)
        sorted[start[BUCKET(jobs[i])]++] = jobs[i];
#undef BUCKET
    for (int g = 0; g < ntiny; g += 8)
        tiny_group(text, sorted + g, ntiny - g < 8 ? ntiny - g : 8, dist);
    for (int g = ntiny; g < nshort; g += 4)
        short_group(text, sorted + g, nshort - g < 4 ? nshort - g : 4, dist);
    free(sorted);
    free(jobs);
}
