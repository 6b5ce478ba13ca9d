/*
 * Rung: the same dynamic programme, but two rows instead of the whole matrix (one buffer for
 * all pairs), the shorter string along the row, and each row in two passes: first what comes
 * from the row above (a loop without a carried dependency, which GCC vectorises), then the
 * running minimum along the row.
 */
#pragma GCC optimize("O3")
#include <stdlib.h>

#include "levenshtein.h"

static int32_t prev[LEV_MAX_LEN + 1], cur[LEV_MAX_LEN + 1], from_above[LEV_MAX_LEN + 1];

static int32_t distance(const unsigned char *a, int m, const unsigned char *b, int n)
{
    if (m < n) {
        const unsigned char *t = a;
        a = b, b = t;
        int u = m;
        m = n, n = u;
    }
    int32_t *restrict p = prev, *restrict c = cur, *restrict t = from_above;
    for (int j = 0; j <= n; j++)
        p[j] = j;
    for (int i = 1; i <= m; i++) {
        unsigned char ch = a[i - 1];
        for (int j = 1; j <= n; j++) {
            int32_t diag = p[j - 1] + (ch != b[j - 1]), up = p[j] + 1;
            t[j] = diag < up ? diag : up;
        }
        int32_t left = i;
        c[0] = i;
        for (int j = 1; j <= n; j++) {
            left = t[j] < left + 1 ? t[j] : left + 1;
            c[j] = left;
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
