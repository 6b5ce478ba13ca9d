/* join.h: the interface of the task (read-only). */
#ifndef JOIN_H
#define JOIN_H

#include <stddef.h>
#include <stdint.h>

/* One row of a relation: a join key and a payload, both arbitrary 64-bit values. */
typedef struct {
    uint64_t key;
    uint64_t payload;
} tuple_t;

/* What the join returns. Sums wrap around modulo 2^64. */
typedef struct {
    uint64_t matches;     /* the number of pairs (r, s) with r.key == s.key */
    uint64_t payload_sum; /* the sum over those pairs of r.payload + s.payload */
    uint64_t checksum;    /* the sum over those pairs of pair_hash(r.payload, s.payload) */
} join_result_t;

/* The checksum's mixing function: the result must match it exactly. */
static inline uint64_t pair_hash(uint64_t r_payload, uint64_t s_payload)
{
    uint64_t x = r_payload + s_payload * 0x9E3779B97F4A7C15ull;
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ull;
    x ^= x >> 32;
    return x;
}

/*
 * The inner equi-join of r[0..nr) (the build side) and s[0..ns) (the probe side) on key:
 * every pair of rows with equal keys counts once, so a key that occurs a times in r and b times
 * in s contributes a * b pairs.
 *
 * 0 <= nr, ns <= 2^24. Both arrays are 64-byte aligned, do not overlap, and must not be changed.
 */
join_result_t hash_join(const tuple_t *r, size_t nr, const tuple_t *s, size_t ns);

#endif
