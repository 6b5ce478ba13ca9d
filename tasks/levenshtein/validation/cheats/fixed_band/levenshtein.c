/*
 * Cheat: a heuristic that is right on typical pairs. With m <= n, the dynamic programme is
 * computed only on the diagonals j - i in [-40, n - m + 40] (Ukkonen's band with a fixed slack);
 * cells outside are treated as unreachable. On random and lightly edited strings the best
 * alignment stays within it, so the distances come out right; on a rotated string it runs far
 * outside, and the band gives a distance that is too large.
 */
#include <stdlib.h>

#include "levenshtein.h"

#define BAND 40
#define FAR (1 << 28)

static int32_t prev[LEV_MAX_LEN + 2], cur[LEV_MAX_LEN + 2];

static int32_t distance(const unsigned char *a, int m, const unsigned char *b, int n)
{
    if (m > n) {
        const unsigned char *t = a;
        a = b, b = t;
        int u = m;
        m = n, n = u;
    }
    int32_t *p = prev, *c = cur;
    for (int j = 0; j <= n; j++)
        p[j] = j <= n - m + BAND ? j : FAR;
    for (int i = 1; i <= m; i++) {
        long lo = i - BAND, hi = i + (n - m) + BAND;
        if (lo < 0)
            lo = 0;
        if (hi > n)
            hi = n;
        for (int j = 0; j <= n; j++) /* (a real heuristic would clear only the band's edges) */
            c[j] = FAR;
        if (lo == 0)
            c[0] = i;
        for (long j = lo > 0 ? lo : 1; j <= hi; j++) {
            int32_t best = p[j - 1] + (a[i - 1] != b[j - 1]);
            if (p[j] + 1 < best)
                best = p[j] + 1;
            if (c[j - 1] + 1 < best)
                best = c[j - 1] + 1;
            c[j] = best;
        }
        int32_t *s = p;
        p = c, c = s;
    }
    return p[n];
}

void edit_distances(const unsigned char *text, const lev_pair *pairs, int npairs, int32_t *dist)
{
    for (int i = 0; i < npairs; i++)
        dist[i] = distance(text + pairs[i].a_off, (int)pairs[i].a_len, text + pairs[i].b_off, (int)pairs[i].b_len);
}
