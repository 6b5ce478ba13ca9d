/*
 * Rung: Myers' bit-parallel algorithm without SIMD. The shorter string is the pattern; a
 * pattern of up to 64 bytes is one machine word, a longer one is processed 64 rows at a time
 * (word by word over all columns, the horizontal deltas between words kept per column).
 */
#include <stdlib.h>
#include <string.h>

#include "levenshtein.h"

#define WORDS_MAX ((LEV_MAX_LEN + 63) / 64)

static uint64_t peq[WORDS_MAX][256];
static uint8_t carry_p[LEV_MAX_LEN], carry_m[LEV_MAX_LEN];

static int32_t distance(const unsigned char *a, int m, const unsigned char *b, int n)
{
    if (m > n) {
        const unsigned char *t = a;
        a = b, b = t;
        int u = m;
        m = n, n = u;
    }
    if (m == 0)
        return n;
    int words = (m + 63) / 64;
    for (int i = 0; i < m; i++)
        peq[i >> 6][a[i]] |= 1ull << (i & 63);
    memset(carry_p, 1, (size_t)n); /* row 0 rises by one per column */
    memset(carry_m, 0, (size_t)n);
    int32_t score = n;
    for (int w = 0; w < words; w++) {
        uint64_t pv = ~0ull, mv = 0;
        const uint64_t *eqs = peq[w];
        for (int j = 0; j < n; j++) {
            uint64_t hp = carry_p[j], hm = carry_m[j];
            uint64_t eq = eqs[b[j]];
            uint64_t xv = eq | mv;
            eq |= hm;
            uint64_t xh = (((eq & pv) + pv) ^ pv) | eq;
            uint64_t ph = mv | ~(xh | pv);
            uint64_t mh = pv & xh;
            carry_p[j] = (uint8_t)(ph >> 63);
            carry_m[j] = (uint8_t)(mh >> 63);
            ph = (ph << 1) | hp;
            mh = (mh << 1) | hm;
            pv = mh | ~(xv | ph);
            mv = ph & xv;
        }
        uint64_t mask = (w == words - 1 && (m & 63)) ? (1ull << (m & 63)) - 1 : ~0ull;
        score += __builtin_popcountll(pv & mask) - __builtin_popcountll(mv & mask);
    }
    for (int i = 0; i < m; i++)
        peq[i >> 6][a[i]] = 0;
    return score;
}

void edit_distances(const unsigned char *text, const lev_pair *pairs, int npairs, int32_t *dist)
{
    for (int i = 0; i < npairs; i++)
        dist[i] = distance(text + pairs[i].a_off, (int)pairs[i].a_len, text + pairs[i].b_off, (int)pairs[i].b_len);
}
