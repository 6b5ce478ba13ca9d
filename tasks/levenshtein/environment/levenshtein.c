/*
 * levenshtein.c: the program to make faster (editable).
 *
 * The textbook dynamic programme: for each pair, a full (m+1) x (n+1) matrix where
 * D[i][j] is the distance between the first i bytes of a and the first j bytes of b.
 */
#include <stdlib.h>

#include "levenshtein.h"

static int32_t distance(const unsigned char *a, int m, const unsigned char *b, int n)
{
    size_t w = (size_t)n + 1;
    int32_t *d = malloc((size_t)(m + 1) * w * sizeof *d);
    if (!d)
        abort();
    for (int i = 0; i <= m; i++)
        d[i * w] = i;
    for (int j = 0; j <= n; j++)
        d[j] = j;
    for (int i = 1; i <= m; i++) {
        for (int j = 1; j <= n; j++) {
            int32_t best = d[(i - 1) * w + (j - 1)] + (a[i - 1] != b[j - 1]); /* substitute or match */
            if (d[(i - 1) * w + j] + 1 < best)
                best = d[(i - 1) * w + j] + 1; /* delete a[i-1] */
            if (d[i * w + (j - 1)] + 1 < best)
                best = d[i * w + (j - 1)] + 1; /* insert b[j-1] */
            d[i * w + j] = best;
        }
    }
    int32_t result = d[m * w + n];
    free(d);
    return result;
}

void edit_distances(const unsigned char *text, const lev_pair *pairs, int npairs, int32_t *dist)
{
    for (int i = 0; i < npairs; i++)
        dist[i] = distance(text + pairs[i].a_off, (int)pairs[i].a_len, text + pairs[i].b_off, (int)pairs[i].b_len);
}
