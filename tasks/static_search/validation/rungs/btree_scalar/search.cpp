// A rung: the reference's memory layout (a static B+ tree of 64-byte nodes over 8-key blocks of the
// sorted keys) without SIMD: each node is scanned key by key. The cache behaviour is the
// reference's; only the instructions spent inside a node differ.
#include "search.h"

#include <stdlib.h>

static const int FANOUT = 9;
static const uint64_t *leaf_keys;
static size_t key_count;
static int levels;
static uint64_t *level_base[16];  // level_base[0] is the root; 8 separators a node

void search_build(const uint64_t *keys, size_t n)
{
    leaf_keys = keys;
    key_count = n;
    size_t blocks = (n + 7) / 8;
    levels = 0;
    for (size_t span = 1; span < blocks; span *= FANOUT)
        levels++;
    size_t child_span = 1;
    for (int d = levels - 1; d >= 0; d--) {
        size_t node_span = child_span * FANOUT, nodes = (blocks + node_span - 1) / node_span;
        uint64_t *level = (uint64_t *)aligned_alloc(64, nodes * 64);
        for (size_t j = 0; j < nodes; j++)
            for (int c = 1; c < FANOUT; c++) {
                size_t block = (j * FANOUT + c) * child_span;
                level[j * 8 + c - 1] = block < blocks ? keys[block * 8] : UINT64_MAX;
            }
        level_base[d] = level;
        child_span = node_span;
    }
}

size_t search_lower_bound(uint64_t q)
{
    if (key_count == 0)
        return 0;
    size_t j = 0;
    for (int d = 0; d < levels; d++) {
        const uint64_t *node = level_base[d] + j * 8;
        size_t c = 0;
        while (c < 8 && node[c] < q)
            c++;
        j = j * FANOUT + c;
    }
    const uint64_t *block = leaf_keys + j * 8;  // padded with UINT64_MAX, never below q
    size_t c = 0;
    while (c < 8 && block[c] < q)
        c++;
    return j * 8 + c;
}
