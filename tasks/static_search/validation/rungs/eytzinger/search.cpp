// A rung: the keys in Eytzinger (breadth-first) order, searched without branches and without
// prefetching, plus a parallel array of sorted positions to turn the node found into an index.
// The top levels of the implicit tree share cache lines, but every level below them is a miss of
// its own (and the position lookup one more): on the model cache, which neither prefetches nor
// overlaps misses, that is no better per query than binary search over the sorted array.
#include "search.h"

#include <stdlib.h>

static uint64_t *tree;      // tree[1..n]: the keys in Eytzinger order
static uint32_t *position;  // position[k]: the sorted index of tree[k]; position[0] = n
static size_t key_count;

void search_build(const uint64_t *keys, size_t n)
{
    key_count = n;
    tree = (uint64_t *)aligned_alloc(64, ((n + 1) * sizeof(uint64_t) + 63) / 64 * 64);
    position = (uint32_t *)aligned_alloc(64, ((n + 1) * sizeof(uint32_t) + 63) / 64 * 64);
    position[0] = (uint32_t)n;
    if (n == 0)
        return;
    // An in-order walk of the implicit tree (children of k: 2k and 2k + 1) without recursion.
    size_t k = 1, i = 0;
    while (2 * k <= n)
        k *= 2;
    for (;;) {
        tree[k] = keys[i];
        position[k] = (uint32_t)i++;
        if (2 * k + 1 <= n) {  // next: the leftmost node of the right subtree
            k = 2 * k + 1;
            while (2 * k <= n)
                k *= 2;
        } else {  // next: the first ancestor reached from a left child
            while (k & 1)
                k >>= 1;
            k >>= 1;
            if (k == 0)
                break;
        }
    }
}

size_t search_lower_bound(uint64_t q)
{
    size_t k = 1;
    while (k <= key_count)
        k = 2 * k + (tree[k] < q);
    k >>= __builtin_ffsll((long long)~k);  // undo the right turns after the last left turn
    return position[k];
}
