/* Rung: a hand-written introsort (no comparison callback): median-of-three quicksort with a
 * three-way partition for duplicates, heapsort past the depth limit, insertion sort below 24. */
#include "sort.h"

static void insertion_sort(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

static void sift_down(uint64_t *a, size_t root, size_t n)
{
    uint64_t v = a[root];
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && a[child + 1] > a[child])
            child++;
        if (a[child] <= v)
            break;
        a[root] = a[child];
    }
    a[root] = v;
}

static void heap_sort(uint64_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n; end-- > 1;) {
        uint64_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

static uint64_t median3(uint64_t x, uint64_t y, uint64_t z)
{
    if (x > y) { uint64_t t = x; x = y; y = t; }
    if (y > z) y = z;
    return x > y ? x : y;
}

static void intro(uint64_t *a, size_t n, int depth)
{
    while (n > 24) {
        if (depth-- == 0) {
            heap_sort(a, n);
            return;
        }
        uint64_t p = median3(a[0], a[n / 2], a[n - 1]);
        /* Dutch-flag partition: [0, lt) < p, [lt, i) == p, (gt, n) > p. */
        size_t lt = 0, i = 0, gt = n;
        while (i < gt) {
            uint64_t v = a[i];
            if (v < p) {
                a[i++] = a[lt];
                a[lt++] = v;
            } else if (v > p) {
                a[i] = a[--gt];
                a[gt] = v;
            } else {
                i++;
            }
        }
        if (lt < n - gt) {
            intro(a, lt, depth);
            a += gt;
            n -= gt;
        } else {
            intro(a + gt, n - gt, depth);
            n = lt;
        }
    }
    insertion_sort(a, n);
}

void sort_keys(uint64_t *keys, size_t n)
{
    int depth = 0;
    for (size_t m = n; m > 1; m >>= 1)
        depth += 2;
    intro(keys, n, depth);
}
