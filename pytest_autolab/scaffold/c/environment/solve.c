/* solve.c: the file to improve. As shipped: a loop over each query's range. */
#include "solve.h"

void answer(const long long *a, int n, const int *l, const int *r, int q, long long *out)
{
    (void)n;
    for (int k = 0; k < q; k++) {
        long long sum = 0;
        for (int i = l[k]; i < r[k]; i++)
            sum += a[i];
        out[k] = sum;
    }
}
