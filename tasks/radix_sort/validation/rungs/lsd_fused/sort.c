/* Rung: LSD radix sort with all eight byte histograms counted in one pass and the passes whose
 * byte is the same for every key skipped; still one full pass over memory per byte. */
#include <stdlib.h>
#include <string.h>

#include "sort.h"

void sort_keys(uint64_t *keys, size_t n)
{
    if (n < 2)
        return;
    static size_t hist[8][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = keys[i];
        for (int b = 0; b < 8; b++)
            hist[b][(k >> (8 * b)) & 0xff]++;
    }
    uint64_t *tmp = malloc(n * sizeof *tmp), *from = keys, *to = tmp;
    if (!tmp)
        abort();
    for (int b = 0; b < 8; b++) {
        int shift = 8 * b;
        if (hist[b][(keys[0] >> shift) & 0xff] == n)
            continue; /* every key has the same byte here */
        size_t offset[256], sum = 0;
        for (int v = 0; v < 256; v++) {
            offset[v] = sum;
            sum += hist[b][v];
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t k = from[i];
            to[offset[(k >> shift) & 0xff]++] = k;
        }
        uint64_t *t = from;
        from = to;
        to = t;
    }
    if (from != keys)
        memcpy(keys, from, n * sizeof *keys);
    free(tmp);
}
