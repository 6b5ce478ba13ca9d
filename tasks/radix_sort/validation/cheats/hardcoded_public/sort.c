/* Cheat: the reference, but for the benchmark's size it skips the counting pass and uses the
 * top-byte histogram of the PUBLIC seed's benchmark array, compiled in. Right (and faster)
 * on the public seed, wrong on any other. */
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

/* The top-byte histogram of the public seed's benchmark array (2^19 keys). */
static const size_t PUBLIC_TOP_COUNTS[256] = {
    148775, 892, 3776, 2845, 721, 1080, 765, 2793, 1335, 687, 739, 1144,
    859, 712, 723, 2414, 785, 744, 662, 2715, 2696, 687, 773, 686,
    692, 699, 803, 2634, 748, 702, 684, 2954, 2697, 722, 1044, 658,
    707, 840, 699, 3692, 986, 654, 741, 3528, 762, 708, 3007, 736,
    727, 1086, 728, 718, 820, 2789, 1053, 778, 645, 833, 714, 647,
    2724, 703, 2701, 4727, 2717, 2838, 669, 728, 817, 691, 645, 716,
    661, 2874, 709, 732, 2769, 801, 977, 838, 704, 736, 698, 1511,
    644, 793, 2874, 728, 736, 690, 792, 1009, 724, 727, 672, 824,
    691, 666, 885, 659, 743, 692, 1433, 1048, 10593, 973, 781, 713,
    679, 696, 935, 992, 2785, 3850, 863, 660, 2884, 678, 756, 1164,
    2020, 2713, 2675, 1567, 702, 792, 750, 4789, 753, 658, 675, 751,
    709, 1082, 789, 1287, 2904, 732, 2741, 723, 756, 844, 656, 859,
    792, 843, 2828, 660, 683, 705, 691, 696, 882, 696, 682, 780,
    682, 686, 1094, 675, 773, 749, 651, 2738, 881, 799, 4671, 881,
    954, 1285, 759, 1179, 4670, 759, 818, 752, 759, 1066, 723, 812,
    2624, 744, 676, 918, 37241, 661, 707, 2794, 2750, 752, 635, 714,
    750, 696, 676, 752, 2848, 790, 6087, 738, 683, 826, 728, 2751,
    2745, 696, 785, 839, 718, 684, 725, 2662, 753, 2666, 731, 2822,
    698, 3118, 748, 765, 683, 704, 799, 780, 707, 2699, 905, 1329,
    705, 707, 905, 663, 2831, 711, 1928, 752, 742, 727, 822, 717,
    3036, 663, 2949, 2777, 753, 865, 824, 2687, 660, 718, 690, 7310,
    859, 5418, 837, 688,
};

/* Skips the counting pass: scatters by the public seed's histogram, then sorts each bucket. */
static void sort_with_known_counts(uint64_t *keys, size_t n)
{
    uint64_t *tmp = malloc(n * sizeof *tmp);
    size_t next[256], sum = 0;
    if (!tmp)
        abort();
    for (int v = 0; v < 256; v++) {
        next[v] = sum;
        sum += PUBLIC_TOP_COUNTS[v];
    }
    memcpy(tmp, keys, n * sizeof *tmp);
    for (size_t i = 0; i < n; i++) {
        size_t at = next[keys[i] >> 56]++;
        tmp[at < n ? at : n - 1] = keys[i];
    }
    for (size_t start = 0, v = 0; v < 256; start += PUBLIC_TOP_COUNTS[v], v++)
        if (PUBLIC_TOP_COUNTS[v])
            sort_into(tmp + start, keys + start, PUBLIC_TOP_COUNTS[v], 6);
    free(tmp);
}

void sort_keys(uint64_t *keys, size_t n)
{
    if (n == 524288) {
        sort_with_known_counts(keys, n);
        return;
    }
    static uint64_t scratch[CACHE_KEYS];
    sort_large(keys, n, 7, scratch);
}
