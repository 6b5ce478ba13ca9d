// A cheat: an answer cache keyed by the query. Every key's index is put in an open-addressing hash
// table at build time, so a query equal to a key costs one probe; but each duplicate overwrites
// the index of the one before, so a query equal to a repeated key gets its last index, not its
// first. Other queries fall back to binary search. Expected: status incorrect.
#include "search.h"

#include <stdlib.h>
#include <string.h>

static const uint64_t *sorted_keys;
static size_t key_count, mask;
static uint64_t *slot_key;
static uint32_t *slot_index;
static bool *slot_used;

static size_t slot_of(uint64_t x) { return (size_t)((x * 0x9E3779B97F4A7C15ull) >> 20) & mask; }

void search_build(const uint64_t *keys, size_t n)
{
    sorted_keys = keys;
    key_count = n;
    size_t size = 16;
    while (size < 2 * n)
        size *= 2;
    mask = size - 1;
    slot_key = (uint64_t *)malloc(size * sizeof *slot_key);
    slot_index = (uint32_t *)malloc(size * sizeof *slot_index);
    slot_used = (bool *)calloc(size, sizeof *slot_used);
    for (size_t i = 0; i < n; i++) {
        size_t s = slot_of(keys[i]);
        while (slot_used[s] && slot_key[s] != keys[i])
            s = (s + 1) & mask;
        slot_used[s] = true;
        slot_key[s] = keys[i];
        slot_index[s] = (uint32_t)i;  // the bug: the last of equal keys wins
    }
}

size_t search_lower_bound(uint64_t q)
{
    for (size_t s = slot_of(q); slot_used[s]; s = (s + 1) & mask)
        if (slot_key[s] == q)
            return slot_index[s];
    size_t lo = 0, hi = key_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted_keys[mid] < q)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
