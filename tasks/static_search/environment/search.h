/*
 * search.h: the interface (read-only).
 *
 * The harness calls search_build() once with the sorted keys, then search_lower_bound() once per
 * query, each query chosen by the answer to the previous one (so queries arrive one at a time).
 */
#ifndef SEARCH_H
#define SEARCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * keys[0..n) is sorted in non-decreasing order and may hold duplicates; 0 <= n <= 1 << 24.
 * The array is 64-byte aligned and followed by padding up to the next multiple of 8 elements
 * (keys[n..(n + 7) / 8 * 8), filled with UINT64_MAX; not keys). It stays valid and unchanged
 * until the process exits, so the index may point into it.
 */
void search_build(const uint64_t *keys, size_t n);

/* The index of the first key >= q, or n if every key is < q (std::lower_bound's answer). */
size_t search_lower_bound(uint64_t q);

#ifdef __cplusplus
}
#endif

#endif
