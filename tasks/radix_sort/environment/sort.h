/* sort.h: the interface of the task (read-only). */
#ifndef SORT_H
#define SORT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Sort keys[0..n) in place, ascending as unsigned 64-bit integers.
 *
 * 0 <= n <= 16777216 (2^24). keys is 64-byte aligned. Duplicates are common.
 */
void sort_keys(uint64_t *keys, size_t n);

#endif
