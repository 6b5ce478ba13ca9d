// A rung: no index at all. Binary search (std::lower_bound) over the sorted keys themselves:
// no build cost and no pointers, but one cache line per probe below the cached top levels.
#include "search.h"

#include <algorithm>

static const uint64_t *sorted_keys;
static size_t key_count;

void search_build(const uint64_t *keys, size_t n)
{
    sorted_keys = keys;
    key_count = n;
}

size_t search_lower_bound(uint64_t q)
{
    return (size_t)(std::lower_bound(sorted_keys, sorted_keys + key_count, q) - sorted_keys);
}
