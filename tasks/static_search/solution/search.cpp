// search.cpp: the reference solution. A static B+ tree whose leaves are the sorted keys themselves.
//
// The keys are read as blocks of 8 (one 64-byte cache line each: the harness aligns and pads
// them). Above them sit implicit 9-ary internal levels, each node one cache line of 8 separators:
// child c of node j is node 9j + c of the level below, and separator c (1..8) of a node is the
// first key of child c's subtree, or UINT64_MAX where that subtree is empty. A query counts the
// separators below q at each level with two AVX2 compares (no branches), and at the leaf counts
// the keys below q: that count is the answer's offset in the block. Equal keys need no care:
// counting "< q" lands on the first of them, and q never descends into an empty subtree because
// its separator UINT64_MAX is never below q.
//
// For n = 500,000 that is 6 internal levels (556 KB; the top five, 55 KB, stay in L1 for the
// most part) and the key block: 7 cache lines per query, of which usually only the key block
// and the lowest internal level miss L1, and only the key block misses the last-level cache.
// The number of levels is a template parameter, so the descent is unrolled without a loop.
#include "search.h"

#include <immintrin.h>
#include <stdlib.h>

namespace {

const int FANOUT = 9;
const int MAX_LEVELS = 8;  // n <= 2^24: at most 2^21 blocks, 7 internal levels

const uint64_t *leaf_keys;
size_t key_count;
uint64_t *level_base[MAX_LEVELS];  // level_base[0] is the root; 8 separators (64 bytes) a node
size_t (*search_fn)(uint64_t);

// Separators are stored with the sign bit flipped, so that a signed compare orders them as
// unsigned values; q is flipped the same way.
inline uint64_t flip(uint64_t x) { return x ^ 0x8000000000000000ull; }

// Four times the number of the 8 values in (lo, hi) that are below q: each compare result packs
// into 4 bits of the byte mask.
inline size_t count_below_x4(__m256i lo, __m256i hi, __m256i qf)
{
    __m256i below = _mm256_packs_epi32(_mm256_cmpgt_epi64(qf, lo), _mm256_cmpgt_epi64(qf, hi));
    return (size_t)__builtin_popcount((unsigned)_mm256_movemask_epi8(below));
}

template <int Levels>
size_t lower_bound_in_tree(uint64_t q)
{
    const __m256i qf = _mm256_set1_epi64x((long long)flip(q));
    // offset = 64 * (index of the node in its level): the next level's offset is
    // 64 * (9 * node + child) = 9 * offset + 16 * (4 * child).
    size_t offset = 0;
#pragma GCC unroll 8
    for (int d = 0; d < Levels; d++) {
        const char *node = (const char *)level_base[d] + offset;
        size_t below_x4 = count_below_x4(_mm256_load_si256((const __m256i *)node),
                                         _mm256_load_si256((const __m256i *)(node + 32)), qf);
        offset = offset * FANOUT + below_x4 * 16;
    }
    // The key block: the keys are not flipped, so flip them on the way in (padding never counts).
    const __m256i sign = _mm256_set1_epi64x((long long)0x8000000000000000ull);
    const char *line = (const char *)leaf_keys + offset;
    size_t below_x4 = count_below_x4(_mm256_xor_si256(_mm256_load_si256((const __m256i *)line), sign),
                                     _mm256_xor_si256(_mm256_load_si256((const __m256i *)(line + 32)), sign), qf);
    return offset / 8 + below_x4 / 4;
}

size_t lower_bound_in_nothing(uint64_t) { return 0; }

size_t (*const by_levels[MAX_LEVELS])(uint64_t) = {
    lower_bound_in_tree<0>, lower_bound_in_tree<1>, lower_bound_in_tree<2>, lower_bound_in_tree<3>,
    lower_bound_in_tree<4>, lower_bound_in_tree<5>, lower_bound_in_tree<6>, lower_bound_in_tree<7>,
};

}  // namespace

void search_build(const uint64_t *keys, size_t n)
{
    leaf_keys = keys;
    key_count = n;
    size_t blocks = (n + 7) / 8;
    int levels = 0;
    for (size_t span = 1; span < blocks; span *= FANOUT)  // until one node covers every block
        levels++;
    // Bottom-up: the nodes of level d (0 = root) cover FANOUT^(levels - d) blocks each.
    size_t child_span = 1;
    for (int d = levels - 1; d >= 0; d--) {
        size_t node_span = child_span * FANOUT;
        size_t nodes = (blocks + node_span - 1) / node_span;
        uint64_t *level = (uint64_t *)aligned_alloc(64, nodes * 64);
        for (size_t j = 0; j < nodes; j++)
            for (int c = 1; c < FANOUT; c++) {
                size_t block = (j * FANOUT + c) * child_span;
                level[j * 8 + c - 1] = flip(block < blocks ? keys[block * 8] : UINT64_MAX);
            }
        level_base[d] = level;
        child_span = node_span;
    }
    search_fn = n == 0 ? lower_bound_in_nothing : by_levels[levels];
}

size_t search_lower_bound(uint64_t q) { return search_fn(q); }
