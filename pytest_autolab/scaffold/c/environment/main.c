/* main.c: the harness (read-only). ./prog IN OUT reads the input, calls answer() once and
 * writes one answer a line. */
#include <stdio.h>
#include <stdlib.h>

#include "solve.h"

static void die(const char *msg)
{
    fprintf(stderr, "prog: %s\n", msg);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        die("usage: prog IN OUT");
    FILE *in = fopen(argv[1], "r");
    if (!in)
        die("cannot open the input");
    int n, q;
    if (fscanf(in, "%d %d", &n, &q) != 2 || n < 0 || q < 0)
        die("bad header");
    long long *a = malloc(sizeof *a * (size_t)(n + 1));
    int *l = malloc(sizeof *l * (size_t)(q + 1));
    int *r = malloc(sizeof *r * (size_t)(q + 1));
    long long *out = calloc((size_t)q + 1, sizeof *out);
    if (!a || !l || !r || !out)
        die("out of memory");
    for (int i = 0; i < n; i++)
        if (fscanf(in, "%lld", &a[i]) != 1)
            die("bad array");
    for (int k = 0; k < q; k++)
        if (fscanf(in, "%d %d", &l[k], &r[k]) != 2 || l[k] < 0 || l[k] > r[k] || r[k] > n)
            die("bad query");
    fclose(in);
    answer(a, n, l, r, q, out);
    FILE *o = fopen(argv[2], "w");
    if (!o)
        die("cannot open the output");
    for (int k = 0; k < q; k++)
        fprintf(o, "%lld\n", out[k]);
    fclose(o);
    return 0;
}
