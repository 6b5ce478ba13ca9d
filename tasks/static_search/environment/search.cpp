// search.cpp: the baseline (editable). A balanced binary search tree (std::map: a red-black tree
// of heap-allocated nodes) from each distinct key to the index of its first occurrence.
#include "search.h"

#include <map>

static std::map<uint64_t, size_t> *first_index;
static size_t key_count;

void search_build(const uint64_t *keys, size_t n)
{
    key_count = n;
    first_index = new std::map<uint64_t, size_t>();
    for (size_t i = 0; i < n; i++)
        first_index->emplace_hint(first_index->end(), keys[i], i);  // equal keys: keeps the first
}

size_t search_lower_bound(uint64_t q)
{
    auto it = first_index->lower_bound(q);
    return it == first_index->end() ? key_count : it->second;
}
