/* Rung: textbook LSD radix sort, one byte per pass, eight passes, each with its own counting
 * pass over the keys (no fused histograms, no skipped passes, no cache blocking). */
#include <stdlib.h>
#include <string.h>

#include "sort.h"

void sort_keys(uint64_t *keys, size_t n)
{
    if (n < 2)
        return;
    uint64_t *tmp = malloc(n * sizeof *tmp), *from = keys, *to = tmp;
    if (!tmp)
        abort();
    for (int shift = 0; shift < 64; shift += 8) {
        size_t count[256] = {0}, sum = 0;
        for (size_t i = 0; i < n; i++)
            count[(from[i] >> shift) & 0xff]++;
        for (int v = 0; v < 256; v++) {
            size_t c = count[v];
            count[v] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            to[count[(from[i] >> shift) & 0xff]++] = from[i];
        uint64_t *t = from;
        from = to;
        to = t;
    }
    free(tmp); /* eight passes: the result is back in keys */
}
