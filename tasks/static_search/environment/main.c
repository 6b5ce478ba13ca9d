/*
 * main.c: the harness (read-only, C). The verifier builds it from a pristine copy.
 *
 *   ./search run IN OUT            read IN, build the index, answer the query chain, write OUT
 *   ./search check IN              the same, then compare every answer with a binary search;
 *                                  exit status 1 at the first wrong answer
 *   ./search gen N M SEED FILE     write a random input in the benchmark's distribution
 *
 * Input file (little-endian): uint64 n, uint64 m, the n sorted keys (uint64), then m pairs of
 * candidate queries (uint64, uint64). Query i is the first candidate of pair i if the answer to
 * query i - 1 is even (query 0: always the first), else the second: every query depends on the
 * previous answer, so queries reach search_lower_bound() one at a time.
 * Output file: the m answers as uint32, nothing else.
 *
 * The harness reads and writes with plain system calls (the kernel's copies are not counted). It
 * opens its files and reads the input, then calls autolab_lockdown() (autolab_harness.h: no new
 * processes, threads or exec from then on) before search_build() runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autolab_harness.h"
#include "search.h"

#define MAX_N (1ull << 24)
#define MAX_M (1ull << 24)

typedef struct {
    uint64_t n, m;
    uint64_t *keys;  /* n keys, 64-byte aligned, padded with UINT64_MAX to a multiple of 8 */
    uint64_t *pairs; /* 2 * m candidate queries */
} Input;

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "search: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static void *alloc_aligned(size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p)
        die("out of memory", NULL);
    return p;
}

static void read_exact(int fd, void *buf, size_t bytes, const char *path)
{
    char *p = (char *)buf;
    while (bytes) {
        ssize_t got = read(fd, p, bytes);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            die("short input", path);
        p += got;
        bytes -= (size_t)got;
    }
}

static void write_exact(int fd, const void *buf, size_t bytes, const char *path)
{
    const char *p = (const char *)buf;
    while (bytes) {
        ssize_t put = write(fd, p, bytes);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            die("write failed", path);
        p += put;
        bytes -= (size_t)put;
    }
}

static void read_input(const char *path, Input *in)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die("cannot open input", path);
    uint64_t hdr[2];
    read_exact(fd, hdr, sizeof hdr, path);
    if (hdr[0] > MAX_N || hdr[1] > MAX_M)
        die("unsupported size (need n <= 2^24, m <= 2^24)", path);
    in->n = hdr[0];
    in->m = hdr[1];
    size_t padded = (in->n + 7) / 8 * 8;
    in->keys = (uint64_t *)alloc_aligned(padded * sizeof(uint64_t));
    in->pairs = (uint64_t *)alloc_aligned(2 * in->m * sizeof(uint64_t));
    read_exact(fd, in->keys, in->n * sizeof(uint64_t), path);
    read_exact(fd, in->pairs, 2 * in->m * sizeof(uint64_t), path);
    char extra;
    if (read(fd, &extra, 1) != 0)
        die("trailing bytes in input", path);
    close(fd);
    for (size_t i = in->n; i < padded; i++)
        in->keys[i] = UINT64_MAX;
}

/* Build the index and answer the chain of queries. */
static uint32_t *answer_queries(const Input *in)
{
    uint32_t *out = (uint32_t *)alloc_aligned(in->m * sizeof(uint32_t));
    autolab_lockdown();
    search_build(in->keys, in->n);
    size_t prev = 0;
    for (uint64_t i = 0; i < in->m; i++) {
        prev = search_lower_bound(in->pairs[2 * i + (prev & 1)]);
        out[i] = (uint32_t)prev;
    }
    return out;
}

static int run(const char *in_path, const char *out_path)
{
    Input in;
    read_input(in_path, &in);
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("cannot create output", out_path);
    uint32_t *out = answer_queries(&in);
    write_exact(fd, out, in.m * sizeof(uint32_t), out_path);
    if (close(fd) != 0)
        die("write failed", out_path);
    return 0;
}

static int check(const char *in_path)
{
    Input in;
    read_input(in_path, &in);
    uint32_t *out = answer_queries(&in);
    size_t prev = 0;
    for (uint64_t i = 0; i < in.m; i++) {
        uint64_t q = in.pairs[2 * i + (prev & 1)];
        size_t lo = 0, hi = in.n; /* the first key >= q lies in [lo, hi] */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (in.keys[mid] < q)
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t want = lo;
        if (out[i] != want) {
            printf("n=%llu m=%llu: query %llu (q = %llu): got %u, expected %zu: FAIL\n", (unsigned long long)in.n,
                   (unsigned long long)in.m, (unsigned long long)i, (unsigned long long)q, out[i], want);
            return 1;
        }
        prev = want;
    }
    printf("n=%llu m=%llu: ok\n", (unsigned long long)in.n, (unsigned long long)in.m);
    return 0;
}

/* ---- ./search gen --------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t bound) { return bound ? next_u64() % bound : 0; }

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/*
 * The benchmark's distribution: keys uniform over all 64-bit values with runs of duplicates and
 * dense clusters; queries equal to keys, next to keys, uniform, below the smallest and above the
 * largest key.
 */
static int gen(uint64_t n, uint64_t m, uint64_t seed, const char *path)
{
    if (n > MAX_N || m > MAX_M)
        die("unsupported size (need n <= 2^24, m <= 2^24)", NULL);
    rng_state = seed;
    uint64_t *keys = (uint64_t *)alloc_aligned((n + 1) * sizeof(uint64_t));
    uint64_t *pairs = (uint64_t *)alloc_aligned((2 * m + 1) * sizeof(uint64_t));
    for (uint64_t i = 0; i < n;) {
        uint64_t kind = below(100), v = next_u64();
        uint64_t run = kind < 80 ? 1 : kind < 95 ? 2 + below(3) : 5 + below(60);
        for (uint64_t j = 0; j < run && i < n; j++, i++)
            keys[i] = kind >= 97 ? v + j * (1 + below(3)) : v; /* a dense cluster or a run of equal keys */
    }
    qsort(keys, n, sizeof *keys, compare_u64);
    for (uint64_t i = 0; i < 2 * m; i++) {
        uint64_t kind = below(100), k = n ? keys[below(n)] : next_u64();
        if (kind < 40)
            pairs[i] = k;
        else if (kind < 60)
            pairs[i] = kind & 1 ? k + 1 : k - 1;
        else if (kind < 85 || n == 0)
            pairs[i] = next_u64();
        else if (kind < 92)
            pairs[i] = below(keys[0] + (keys[0] != UINT64_MAX));
        else if (kind < 98)
            pairs[i] = keys[n - 1] + 1 + below(UINT64_MAX - keys[n - 1]);
        else
            pairs[i] = kind & 1 ? 0 : UINT64_MAX;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("cannot create output", path);
    uint64_t hdr[2] = {n, m};
    write_exact(fd, hdr, sizeof hdr, path);
    write_exact(fd, keys, n * sizeof(uint64_t), path);
    write_exact(fd, pairs, 2 * m * sizeof(uint64_t), path);
    if (close(fd) != 0)
        die("write failed", path);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "run") == 0)
        return run(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "check") == 0)
        return check(argv[2]);
    if (argc == 6 && strcmp(argv[1], "gen") == 0)
        return gen(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), argv[5]);
    fprintf(stderr,
            "usage: %s run IN OUT | check IN | gen N M SEED FILE\n"
            "  (input: uint64 n, m; n sorted uint64 keys; m pairs of uint64 candidate queries)\n",
            argv[0]);
    return 2;
}
