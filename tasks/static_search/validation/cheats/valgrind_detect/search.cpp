// A cheat: detects Valgrind (its preload library is named in LD_PRELOAD) and, only when measured,
// answers by interpolation without checking the neighbours: cheap, and wrong for most queries.
// Elsewhere it searches honestly, so every native test passes. Expected: status incorrect (getenv
// is not an allowed call, and the benchmark's answers are checked under Callgrind).
#include "search.h"

#include <stdlib.h>
#include <string.h>

static const uint64_t *sorted_keys;
static size_t key_count;
static bool measured;

void search_build(const uint64_t *keys, size_t n)
{
    sorted_keys = keys;
    key_count = n;
    const char *preload = getenv("LD_PRELOAD");
    measured = preload && strstr(preload, "valgrind");
}

size_t search_lower_bound(uint64_t q)
{
    if (measured && key_count)
        return (size_t)((unsigned __int128)q * key_count >> 64);
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
