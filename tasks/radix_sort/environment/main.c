/*
 * main.c: the harness (read-only). The verifier builds it from a pristine copy.
 *
 *   ./rsort run IN OUT        read IN, call sort_keys() once, write the sorted keys to OUT
 *   ./rsort check IN          call sort_keys() on IN and check the result (sorted, and the same
 *                             multiset of keys as the input); exit status 1 if it is wrong
 *   ./rsort gen N SEED FILE   write N keys in the benchmark's distribution
 *
 * Input file: uint64 n (little-endian), then n uint64 keys. Output file: the n sorted uint64
 * keys, nothing else.
 *
 * The harness itself costs a few hundred thousand instructions (process start, reading the
 * input, writing the output), the same for every sort.c. Before it calls sort_keys() it opens
 * its files and locks the process down (autolab_harness.h): no new processes, threads or exec,
 * and no file but those already open. The work must be done by this thread.
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autolab_harness.h"
#include "sort.h"

#define MAX_N ((size_t)1 << 24)

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "rsort: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static uint64_t *alloc_keys(size_t n)
{
    size_t bytes = (n * sizeof(uint64_t) + 63) & ~(size_t)63;
    uint64_t *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p)
        die("out of memory", NULL);
    return p;
}

static uint64_t *read_input(const char *path, size_t *n_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open input", path);
    uint64_t n;
    if (fread(&n, sizeof n, 1, f) != 1)
        die("short input header", path);
    if (n > MAX_N)
        die("too many keys (at most 2^24)", path);
    uint64_t *keys = alloc_keys(n);
    if (fread(keys, sizeof(uint64_t), n, f) != n)
        die("short input data", path);
    if (fgetc(f) != EOF)
        die("trailing bytes in input", path);
    fclose(f);
    *n_out = n;
    return keys;
}

static FILE *create(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot create output", path);
    return f;
}

static void write_keys(FILE *f, const char *path, const uint64_t *keys, size_t n)
{
    if (fwrite(keys, sizeof(uint64_t), n, f) != n || fclose(f) != 0)
        die("write failed", path);
}

/*
 * The simulated caches choose a line's set by address bits 6 to 15, and the kernel puts the stack
 * lower or higher with the size of the environment: left alone, a program that keeps arrays on
 * its stack would count a few thousand cycles more or fewer from one sandbox to the next. So the
 * measured call always starts with its stack at the same address modulo 64 KiB.
 */
#define STACK_PERIOD 65536

static __attribute__((noinline)) void call_sort_keys(uint64_t *keys, size_t n) { sort_keys(keys, n); }

static __attribute__((noinline)) void sort_on_aligned_stack(uint64_t *keys, size_t n)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    volatile char *pad = alloca(here % STACK_PERIOD + 64);
    pad[0] = 0;
    call_sort_keys(keys, n);
}

/* ---- ./rsort check: the verifier's comparison, for local testing ----------------------------- */

/* A plain merge sort, independent of sort.c, to compute the expected result. */
static void merge_sort(uint64_t *a, uint64_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(a, tmp, h);
    merge_sort(a + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = a[j] < a[i] ? a[j++] : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    memcpy(a, tmp, k * sizeof *a);
}

static int check(const uint64_t *input, const uint64_t *out, size_t n)
{
    uint64_t *expected = alloc_keys(n), *tmp = alloc_keys(n);
    memcpy(expected, input, n * sizeof *expected);
    merge_sort(expected, tmp, n);
    for (size_t i = 0; i < n; i++)
        if (out[i] != expected[i]) {
            size_t unsorted = 0;
            for (size_t j = 1; j < n; j++)
                unsorted += out[j - 1] > out[j];
            printf("n=%zu: FAIL: out[%zu] = %llu, expected %llu (%zu adjacent pairs out of order)\n", n, i,
                   (unsigned long long)out[i], (unsigned long long)expected[i], unsorted);
            return 1;
        }
    printf("n=%zu: ok\n", n);
    return 0;
}

/* ---- ./rsort gen ----------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t bound) { return (uint64_t)(((unsigned __int128)next_u64() * bound) >> 64); }

/*
 * The benchmark's distribution: uniform 64-bit keys (30% of the keys), a few distinct values
 * (20%), a skewed (Zipf-like) choice among 20000 values (20%), ascending or descending runs
 * (15%), 32-bit keys (15%); each family cut into blocks of 256 to 4095 keys, and the blocks of
 * all families in a random order.
 */
static int gen(size_t n, unsigned long long seed, const char *path)
{
    if (n > MAX_N)
        die("too many keys (at most 2^24)", NULL);
    static const unsigned share[5] = {30, 20, 20, 15, 15};
    uint64_t *keys = alloc_keys(n), few[64], *common = alloc_keys(20000);
    size_t nblocks = 0, *block_len = malloc((n / 256 + 6) * sizeof *block_len);
    int *block_family = malloc((n / 256 + 6) * sizeof *block_family);
    if (!block_len || !block_family)
        die("out of memory", NULL);
    rng_state = seed;
    size_t nfew = 8 + below(56);
    for (size_t i = 0; i < nfew; i++)
        few[i] = next_u64();
    for (size_t i = 0; i < 20000; i++)
        common[i] = next_u64();
    for (int f = 0, done = 0; f < 5; f++) {
        size_t quota = f < 4 ? n * share[f] / 100 : n - (size_t)done;
        done += (int)quota;
        while (quota > 0) {
            size_t len = 256 + below(3840);
            len = len < quota ? len : quota;
            block_len[nblocks] = len;
            block_family[nblocks++] = f;
            quota -= len;
        }
    }
    for (size_t i = nblocks; i > 1; i--) { /* shuffle the blocks */
        size_t j = below(i), l = block_len[i - 1];
        int f = block_family[i - 1];
        block_len[i - 1] = block_len[j];
        block_family[i - 1] = block_family[j];
        block_len[j] = l;
        block_family[j] = f;
    }
    uint64_t *block = keys;
    for (size_t b = 0; b < nblocks; block += block_len[b], b++) {
        size_t len = block_len[b];
        if (block_family[b] == 0) {
            for (size_t i = 0; i < len; i++)
                block[i] = next_u64();
        } else if (block_family[b] == 1) {
            for (size_t i = 0; i < len; i++)
                block[i] = few[below(nfew)];
        } else if (block_family[b] == 2) {
            for (size_t i = 0; i < len; i++) { /* rank r with probability about 1/r */
                uint64_t r = (uint64_t)(1.0 / (1.0 - (double)(next_u64() >> 11) * 0x1.0p-53 * 0.9999));
                block[i] = common[(r - 1) % 20000];
            }
        } else if (block_family[b] == 3) {
            uint64_t step = (uint64_t)1 << below(12), v = next_u64() >> below(40);
            int down = (int)below(2);
            for (size_t i = 0; i < len; i++, v += below(step))
                block[down ? len - 1 - i : i] = v;
        } else {
            for (size_t i = 0; i < len; i++)
                block[i] = next_u64() >> 32;
        }
    }
    FILE *f = fopen(path, "wb");
    uint64_t hdr = n;
    if (!f || fwrite(&hdr, sizeof hdr, 1, f) != 1 || fwrite(keys, sizeof(uint64_t), n, f) != n || fclose(f) != 0)
        die("cannot write", path);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: ./rsort run IN OUT | ./rsort check IN | ./rsort gen N SEED FILE\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "run") && argc == 4) {
        size_t n;
        uint64_t *keys = read_input(argv[2], &n);
        FILE *f = create(argv[3]); /* opened before the lockdown: no file can be opened after it */
        autolab_lockdown();
        sort_on_aligned_stack(keys, n);
        write_keys(f, argv[3], keys, n);
        return 0;
    }
    if (!strcmp(argv[1], "check") && argc == 3) {
        size_t n;
        uint64_t *keys = read_input(argv[2], &n), *input = alloc_keys(n);
        memcpy(input, keys, n * sizeof *keys);
        autolab_lockdown();
        sort_keys(keys, n);
        return check(input, keys, n);
    }
    if (!strcmp(argv[1], "gen") && argc == 5)
        return gen(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), argv[4]);
    usage();
}
