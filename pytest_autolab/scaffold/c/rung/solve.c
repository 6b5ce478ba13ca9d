/* A rung: sums of blocks of 1024 values, loops only over the partial blocks at the ends. */
#include <stdlib.h>

#include "solve.h"

#define B 1024

void answer(const long long *a, int n, const int *l, const int *r, int q, long long *out)
{
    int blocks = n / B + 1;
    long long *sums = calloc((size_t)blocks, sizeof *sums);
    if (!sums)
        abort();
    for (int i = 0; i < n; i++)
        sums[i / B] += a[i];
    for (int k = 0; k < q; k++) {
        long long sum = 0;
        int i = l[k], end = r[k];
        for (; i < end && i % B; i++)
            sum += a[i];
        for (; i + B <= end; i += B)
            sum += sums[i / B];
        for (; i < end; i++)
            sum += a[i];
        out[k] = sum;
    }
    free(sums);
}
