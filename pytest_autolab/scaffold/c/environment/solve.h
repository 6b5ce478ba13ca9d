/* solve.h (read-only): the function to write in solve.c. */
#ifndef SOLVE_H
#define SOLVE_H

/* out[k] = a[l[k]] + ... + a[r[k] - 1], for k < q; 0 <= l[k] <= r[k] <= n. */
void answer(const long long *a, int n, const int *l, const int *r, int q, long long *out);

#endif
