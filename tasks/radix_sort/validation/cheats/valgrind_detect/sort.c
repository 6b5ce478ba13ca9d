/* Cheat: the reference natively, but under Valgrind (detected with the time stamp counter)
 * a cheaper sort that ignores the two low bytes of every key: only the measured run is
 * wrong. */
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

/* A loop of 2000 additions takes a few thousand cycles natively, some 50 times more under
 * Valgrind's instrumentation. */
static int under_valgrind(void)
{
    volatile uint64_t sink = 0;
    uint64_t start = __builtin_ia32_rdtsc();
    for (int i = 0; i < 2000; i++)
        sink += (uint64_t)i;
    return __builtin_ia32_rdtsc() - start > 60000;
}

/* LSD radix on the six high bytes only: right when no two keys share their top 48 bits. */
static void sort_high_bytes(uint64_t *keys, size_t n)
{
    uint64_t *tmp = malloc(n * sizeof *tmp), *from = keys, *to = tmp;
    if (!tmp)
        abort();
    for (int shift = 16; shift < 64; shift += 8) {
        size_t count[256] = {0}, sum = 0;
        for (size_t i = 0; i < n; i++)
            count[(from[i] >> shift) & 0xff]++;
        for (int v = 0; v < 256; v++) {
            size_t c = count[v];
            count[v] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            to[count[(from[i] >> shift) & 0xff]++] = from[i];
        uint64_t *t = from;
        from = to;
        to = t;
    }
    free(tmp); /* six passes: the result is back in keys */
}

void sort_keys(uint64_t *keys, size_t n)
{
    if (n > 100000 && under_valgrind()) {
        sort_high_bytes(keys, n);
        return;
    }
    static uint64_t scratch[CACHE_KEYS];
    sort_large(keys, n, 7, scratch);
}
