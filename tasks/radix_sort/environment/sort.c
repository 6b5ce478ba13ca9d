/* sort.c: the only file you may change. Sorts with the C library's qsort. */
#include <stdlib.h>

#include "sort.h"

static int compare_keys(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

void sort_keys(uint64_t *keys, size_t n)
{
    qsort(keys, n, sizeof *keys, compare_keys);
}
