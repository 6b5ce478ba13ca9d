/*
 * sort.c (reference): most-significant-digit radix sort that works through memory twice and
 * does everything else in cache.
 *
 * The simulated machine has a 32 KiB L1 and a 1 MiB last-level cache, and a miss in the last
 * level costs ten times one in L1. A plain LSD radix sort of 2^19 keys (4 MiB) streams the whole
 * array through memory eight times. Here:
 *
 *   1. one pass over the keys counts the top byte and ORs together how each key differs from
 *      the first, so bytes that every key shares are skipped (they cost no pass at all);
 *   2. a second pass scatters the keys by that byte into 256 buckets of a scratch buffer;
 *   3. each bucket (about 2^11 keys = 16 KiB for uniform keys) is split the same way by its
 *      next differing byte while it is in L1, back into the caller's array, and so on until a
 *      bucket holds at most SMALL keys, which are insertion-sorted, or only equal keys.
 *
 * Buckets alternate between the caller's array and the scratch buffer, so no level copies.
 * Skewed inputs (a few distinct values, Zipf, 32-bit keys) only make buckets end sooner.
 */
#include <stdlib.h>
#include <string.h>

#include "sort.h"

#define SMALL 24
#define CACHE_KEYS 3072

static void insertion_sort(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

typedef uint64_t u64x4 __attribute__((vector_size(32), aligned(8)));

/* The bits in which some key of src[0..n) differs from src[0] (AVX2, four keys a step). */
static uint64_t differing_bits(const uint64_t *src, size_t n)
{
    uint64_t first = src[0], diff = 0;
    size_t i = 0;
    if (n >= 8) {
        u64x4 f = {first, first, first, first}, d0 = {0}, d1 = {0};
        for (; i + 8 <= n; i += 8) {
            d0 |= *(const u64x4 *)(src + i) ^ f;
            d1 |= *(const u64x4 *)(src + i + 4) ^ f;
        }
        d0 |= d1;
        diff = d0[0] | d0[1] | d0[2] | d0[3];
    }
    for (; i < n; i++)
        diff |= src[i] ^ first;
    return diff;
}

/*
 * Count the highest byte at or below `byte` in which the keys of src[0..n) differ (bytes that
 * every key shares cost nothing); returns that byte, or -1 when all keys are equal.
 */
static int count_digit(const uint64_t *src, size_t n, int byte, size_t count[256])
{
    uint64_t diff = differing_bits(src, n);
    if (diff == 0)
        return -1;
    int top = (63 - __builtin_clzll(diff)) / 8;
    if (top > byte)
        top = byte;
    u64x4 zero = {0};
    for (int v = 0; v < 256; v += 4)
        *(u64x4 *)(count + v) = zero;
    int shift = 8 * top;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        uint64_t k0 = src[i], k1 = src[i + 1];
        count[(k0 >> shift) & 0xff]++;
        count[(k1 >> shift) & 0xff]++;
    }
    if (i < n)
        count[(src[i] >> shift) & 0xff]++;
    return top;
}

/*
 * count_digit for arrays larger than the cache: counts `byte` and finds the differing bits in
 * the same pass (a second pass would cost a second trip through memory), and counts again only
 * when `byte` turns out to be shared by every key.
 */
static int count_digit_once(const uint64_t *src, size_t n, int byte, size_t count[256])
{
    uint64_t first = src[0], diff = 0;
    int shift = 8 * byte;
    memset(count, 0, 256 * sizeof *count);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = src[i];
        diff |= k ^ first;
        count[(k >> shift) & 0xff]++;
    }
    if (diff == 0)
        return -1;
    int top = (63 - __builtin_clzll(diff)) / 8;
    if (top >= byte)
        return byte;
    return count_digit(src, n, top, count);
}

static void scatter(const uint64_t *restrict src, uint64_t *restrict dst, size_t n, int byte,
                    const size_t count[256])
{
    size_t offset[256], sum = 0;
    for (int v = 0; v < 256; v++) {
        offset[v] = sum;
        sum += count[v];
    }
    int shift = 8 * byte;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = src[i];
        dst[offset[(k >> shift) & 0xff]++] = k;
    }
}

static void sort_into(uint64_t *restrict src, uint64_t *restrict dst, size_t n, int byte);

/* Sort a[0..n), whose keys agree above `byte`; tmp is scratch of n keys. */
static void sort_in_place(uint64_t *restrict a, uint64_t *restrict tmp, size_t n, int byte)
{
    if (n <= SMALL || byte < 0) {
        insertion_sort(a, n);
        return;
    }
    size_t count[256];
    byte = count_digit(a, n, byte, count);
    if (byte < 0)
        return;
    scatter(a, tmp, n, byte, count);
    for (size_t start = 0, v = 0; v < 256; start += count[v], v++)
        if (count[v])
            sort_into(tmp + start, a + start, count[v], byte - 1);
}

/* Sort src[0..n), whose keys agree above `byte`, into dst; src is scratch afterwards. */
static void sort_into(uint64_t *restrict src, uint64_t *restrict dst, size_t n, int byte)
{
    if (n <= SMALL || byte < 0) {
        memcpy(dst, src, n * sizeof *dst);
        insertion_sort(dst, n);
        return;
    }
    size_t count[256];
    byte = count_digit(src, n, byte, count);
    if (byte < 0) {
        memcpy(dst, src, n * sizeof *dst);
        return;
    }
    scatter(src, dst, n, byte, count);
    for (size_t start = 0, v = 0; v < 256; start += count[v], v++)
        if (count[v])
            sort_in_place(dst + start, src + start, count[v], byte - 1);
}

/*
 * American flag sort: permute a[0..n) in place so that the keys are grouped by their byte at
 * `byte` (count[] from count_digit). Every key is read once and written once at its place, so
 * the array goes through the cache once, and no scratch buffer is needed.
 */
static void permute_in_place(uint64_t *a, int byte, const size_t count[256])
{
    size_t head[256], end[256], sum = 0;
    int shift = 8 * byte;
    for (int v = 0; v < 256; v++) {
        head[v] = sum;
        sum += count[v];
        end[v] = sum;
    }
    for (int v = 0; v < 256; v++) {
        while (head[v] < end[v]) {
            uint64_t k = a[head[v]];
            unsigned d = (k >> shift) & 0xff;
            while (d != (unsigned)v) { /* follow the cycle until a key belongs here */
                uint64_t t = a[head[d]];
                a[head[d]++] = k;
                k = t;
                d = (k >> shift) & 0xff;
            }
            a[head[v]++] = k;
        }
    }
}

/*
 * Sort a[0..n), whose keys agree above `byte`. Buckets too large for the cache are permuted in
 * place (one trip through memory) and split further; the others are sorted in L1 with the small
 * scratch buffer.
 */
static void sort_large(uint64_t *a, size_t n, int byte, uint64_t *scratch)
{
    if (n <= CACHE_KEYS) {
        sort_in_place(a, scratch, n, byte);
        return;
    }
    size_t count[256];
    byte = count_digit_once(a, n, byte, count);
    if (byte < 0)
        return;
    permute_in_place(a, byte, count);
    if (byte == 0)
        return;
    for (size_t start = 0, v = 0; v < 256; start += count[v], v++)
        if (count[v] > 1)
            sort_large(a + start, count[v], byte - 1, scratch);
}

void sort_keys(uint64_t *keys, size_t n)
{
    static uint64_t scratch[CACHE_KEYS];
    sort_large(keys, n, 7, scratch);
}
