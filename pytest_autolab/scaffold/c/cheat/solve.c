/* A cheat: answers the first queries honestly and guesses 0 for the rest (skipped work). */
#include "solve.h"

void answer(const long long *a, int n, const int *l, const int *r, int q, long long *out)
{
    (void)n;
    for (int k = 0; k < q; k++) {
        long long sum = 0;
        if (k < 64)
            for (int i = l[k]; i < r[k]; i++)
                sum += a[i];
        out[k] = sum;
    }
}
