/* Rung: a textbook radix join. Each relation is counted in one pass over memory and scattered
 * into 2^8 partitions in a second; each partition of r goes into a linear-probing table (at most
 * half full) that the same partition of s probes. Not tuned to the cache: a separate counting
 * pass, rows rehashed, and probe runs lengthened by duplicate keys. */
#include <stdlib.h>
#include <string.h>

#include "join.h"

#define PART_BITS 8
#define PARTS ((size_t)1 << PART_BITS)
#define ODD 0x9E3779B97F4A7C15ull

static size_t part_of(uint64_t key) { return (size_t)((key * ODD) >> (64 - PART_BITS)); }

/* Rows of t grouped by partition; start[p] .. start[p + 1] is partition p. */
static tuple_t *partition(const tuple_t *t, size_t n, size_t *start)
{
    tuple_t *out = malloc((n ? n : 1) * sizeof *out);
    size_t next[PARTS];
    if (!out)
        abort();
    memset(start, 0, (PARTS + 1) * sizeof *start);
    for (size_t i = 0; i < n; i++)
        start[part_of(t[i].key) + 1]++;
    for (size_t p = 0; p < PARTS; p++)
        start[p + 1] += start[p];
    memcpy(next, start, sizeof next);
    for (size_t i = 0; i < n; i++)
        out[next[part_of(t[i].key)]++] = t[i];
    return out;
}

join_result_t hash_join(const tuple_t *r, size_t nr, const tuple_t *s, size_t ns)
{
    join_result_t res = {0, 0, 0};
    size_t r_start[PARTS + 1], s_start[PARTS + 1];
    tuple_t *rp = partition(r, nr, r_start), *sp = partition(s, ns, s_start);
    size_t largest = 0;
    for (size_t p = 0; p < PARTS; p++)
        if (r_start[p + 1] - r_start[p] > largest)
            largest = r_start[p + 1] - r_start[p];
    size_t cap = 16;
    while (cap < 2 * largest)
        cap *= 2;
    tuple_t *table = malloc(cap * sizeof *table);
    unsigned char *used = malloc(cap);
    if (!table || !used)
        abort();
    for (size_t p = 0; p < PARTS; p++) {
        size_t size = r_start[p + 1] - r_start[p], slots = 16;
        while (slots < 2 * size)
            slots *= 2;
        size_t mask = slots - 1;
        int shift = 64 - PART_BITS - __builtin_ctzll(slots); /* the hash bits below the partition's */
        memset(used, 0, slots);
        for (size_t i = r_start[p]; i < r_start[p + 1]; i++) {
            size_t k = (size_t)((rp[i].key * ODD) >> shift) & mask;
            while (used[k])
                k = (k + 1) & mask;
            used[k] = 1;
            table[k] = rp[i];
        }
        for (size_t j = s_start[p]; j < s_start[p + 1]; j++) {
            uint64_t key = sp[j].key, spay = sp[j].payload;
            for (size_t k = (size_t)((key * ODD) >> shift) & mask; used[k]; k = (k + 1) & mask) {
                if (table[k].key == key) {
                    res.matches++;
                    res.payload_sum += table[k].payload + spay;
                    res.checksum += pair_hash(table[k].payload, spay);
                }
            }
        }
    }
    free(table);
    free(used);
    free(rp);
    free(sp);
    return res;
}
