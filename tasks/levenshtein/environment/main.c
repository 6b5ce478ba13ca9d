/*
 * main.c: the harness (read-only). The verifier builds it from a pristine copy.
 *
 *   ./lev run IN OUT        read IN, call edit_distances() once, write the distances to OUT
 *   ./lev check IN          call edit_distances() on IN and compare every distance with a plain
 *                           dynamic programme; exit status 1 on the first wrong one
 *   ./lev gen SEED FILE     write a random input in the benchmark's distribution
 *
 * Input file (little-endian): int32 npairs, uint32 text_len, then npairs records of four uint32
 * (a_off, a_len, b_off, b_len), then the text_len bytes of text.
 * Output file: the npairs int32 distances, nothing else.
 *
 * The harness itself costs a few hundred thousand instructions (process start, reading the
 * input, writing the output), the same for every levenshtein.c. Before it calls
 * edit_distances() it opens its files and locks the process down (autolab_harness.h): no new
 * processes, threads or executable memory, and no file but those already open. The work must
 * be done by this thread.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autolab_harness.h"
#include "levenshtein.h"

#define MAX_PAIRS 1000000
#define MAX_TEXT (256u << 20)

typedef struct {
    int npairs;
    uint32_t text_len;
    lev_pair *pairs;
    unsigned char *text;
} input_t;

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "lev: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static void *alloc_bytes(size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p)
        die("out of memory", NULL);
    return p;
}

static void read_input(const char *path, input_t *in)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open input", path);
    int32_t hdr[2];
    if (fread(hdr, sizeof hdr, 1, f) != 1)
        die("short input header", path);
    if (hdr[0] < 1 || hdr[0] > MAX_PAIRS)
        die("unsupported number of pairs (need 1 <= npairs <= 1000000)", path);
    in->npairs = hdr[0];
    in->text_len = (uint32_t)hdr[1];
    if (in->text_len > MAX_TEXT)
        die("text too long", path);
    in->pairs = alloc_bytes((size_t)in->npairs * sizeof(lev_pair));
    in->text = alloc_bytes((size_t)in->text_len + 64);
    memset(in->text + in->text_len, 0, 64); /* the 64 readable bytes after the text */
    if (fread(in->pairs, sizeof(lev_pair), (size_t)in->npairs, f) != (size_t)in->npairs ||
        fread(in->text, 1, in->text_len, f) != in->text_len)
        die("short input data", path);
    if (fgetc(f) != EOF)
        die("trailing bytes in input", path);
    fclose(f);
    for (int i = 0; i < in->npairs; i++) {
        const lev_pair *p = &in->pairs[i];
        if (p->a_len > LEV_MAX_LEN || p->b_len > LEV_MAX_LEN || p->a_off > in->text_len ||
            p->b_off > in->text_len || p->a_len > in->text_len - p->a_off || p->b_len > in->text_len - p->b_off)
            die("a pair lies outside the text or is longer than LEV_MAX_LEN", path);
    }
}

/* Fill with INT32_MIN, eight per store: memset is charged one instruction per byte (Valgrind
 * counts every iteration of its `rep stosb`). */
static void poison(int32_t *p, size_t count)
{
    __m256i bad = _mm256_set1_epi32(INT32_MIN);
    size_t i = 0;
    for (; i + 8 <= count; i += 8)
        _mm256_storeu_si256((__m256i *)(p + i), bad);
    for (; i < count; i++)
        p[i] = INT32_MIN;
}

static int32_t *run_distances(const input_t *in)
{
    int32_t *dist = alloc_bytes((size_t)in->npairs * sizeof(int32_t));
    poison(dist, (size_t)in->npairs); /* every distance must be written */
    autolab_lockdown();
    edit_distances(in->text, in->pairs, in->npairs, dist);
    return dist;
}

static FILE *create(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot create output", path);
    return f;
}

static void write_all(FILE *f, const char *path, const void *data, size_t bytes)
{
    if (bytes && fwrite(data, bytes, 1, f) != 1)
        die("write failed", path);
    if (fclose(f) != 0)
        die("write failed", path);
}

/* ---- ./lev check: a plain two-row dynamic programme, for local testing ---------------------- */

static int32_t plain_distance(const unsigned char *a, int m, const unsigned char *b, int n, int32_t *row)
{
    for (int j = 0; j <= n; j++)
        row[j] = j;
    for (int i = 1; i <= m; i++) {
        int32_t diag = row[0];
        row[0] = i;
        for (int j = 1; j <= n; j++) {
            int32_t up = row[j];
            int32_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[n];
}

static int check(const input_t *in, const int32_t *dist)
{
    int32_t *row = malloc((LEV_MAX_LEN + 1) * sizeof *row);
    if (!row)
        die("out of memory", NULL);
    int bad = 0;
    for (int i = 0; i < in->npairs; i++) {
        const lev_pair *p = &in->pairs[i];
        int32_t want = plain_distance(in->text + p->a_off, (int)p->a_len, in->text + p->b_off, (int)p->b_len, row);
        if (dist[i] != want) {
            if (!bad)
                fprintf(stderr, "first mismatch: pair %d (lengths %u and %u): got %d, expected %d\n", i, p->a_len,
                        p->b_len, dist[i], want);
            bad++;
        }
    }
    printf("%d pairs: %s (%d wrong)\n", in->npairs, bad ? "FAIL" : "ok", bad);
    free(row);
    return bad ? 1 : 0;
}

/* ---- ./lev gen ----------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n) { return (uint32_t)(next_u64() % n); } /* 0 <= x < n */

static uint32_t between(uint32_t lo, uint32_t hi) { return lo + below(hi - lo + 1); } /* lo <= x <= hi */

static unsigned char *gen_text;
static uint32_t gen_len, gen_cap;

static uint32_t gen_random(uint32_t len, uint32_t alphabet)
{
    uint32_t off = gen_len;
    for (uint32_t i = 0; i < len; i++)
        gen_text[gen_len++] = (unsigned char)below(alphabet);
    return off;
}

/* A copy of text[off, off+len) with `edits` random substitutions, insertions and deletions. */
static uint32_t gen_mutated(uint32_t off, uint32_t len, uint32_t edits, uint32_t alphabet, uint32_t *out_len)
{
    unsigned char *tmp = malloc(2 * (size_t)len + 2 * (size_t)edits + 1);
    memcpy(tmp, gen_text + off, len);
    uint32_t n = len;
    for (uint32_t e = 0; e < edits; e++) {
        uint32_t kind = below(3), pos = n ? below(n) : 0;
        if (kind == 0 && n) {
            tmp[pos] = (unsigned char)below(alphabet);
        } else if (kind == 1 || !n) {
            memmove(tmp + pos + 1, tmp + pos, n - pos);
            tmp[pos] = (unsigned char)below(alphabet);
            n++;
        } else {
            memmove(tmp + pos, tmp + pos + 1, n - pos - 1);
            n--;
        }
        if (n > LEV_MAX_LEN)
            n = LEV_MAX_LEN;
    }
    uint32_t out = gen_len;
    memcpy(gen_text + gen_len, tmp, n);
    gen_len += n;
    free(tmp);
    *out_len = n;
    return out;
}

/*
 * The benchmark's distribution: SHORT pairs of 1..64 bytes, MEDIUM pairs of 65..600 bytes and
 * LONG pairs of 1000..2500 bytes, over alphabets of 2, 4, 20 and 256 symbols; half of the pairs
 * are a string and a copy of it with a few edits, half are unrelated strings.
 */
#define SHORT_PAIRS 12000
#define MEDIUM_PAIRS 200
#define LONG_PAIRS 6

static int gen(unsigned long long seed, const char *path)
{
    static const uint32_t alphabets[] = {2, 4, 20, 256};
    int npairs = SHORT_PAIRS + MEDIUM_PAIRS + LONG_PAIRS;
    lev_pair *pairs = alloc_bytes((size_t)npairs * sizeof *pairs);
    gen_cap = 16u << 20;
    gen_text = malloc(gen_cap);
    gen_len = 0;
    rng_state = seed;
    for (int i = 0; i < npairs; i++) {
        uint32_t lo = 1, hi = 64;
        if (i >= SHORT_PAIRS + MEDIUM_PAIRS)
            lo = 1000, hi = 2500;
        else if (i >= SHORT_PAIRS)
            lo = 65, hi = 600;
        uint32_t alphabet = alphabets[below(4)];
        uint32_t m = between(lo, hi);
        pairs[i].a_len = m;
        pairs[i].a_off = gen_random(m, alphabet);
        if (below(2)) {
            pairs[i].b_off = gen_mutated(pairs[i].a_off, m, between(0, 1 + m / 8), alphabet, &pairs[i].b_len);
        } else {
            pairs[i].b_len = between(lo, hi);
            pairs[i].b_off = gen_random(pairs[i].b_len, alphabet);
        }
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot create output", path);
    int32_t hdr[2] = {npairs, (int32_t)gen_len};
    if (fwrite(hdr, sizeof hdr, 1, f) != 1 || fwrite(pairs, sizeof *pairs, (size_t)npairs, f) != (size_t)npairs ||
        fwrite(gen_text, 1, gen_len, f) != gen_len || fclose(f) != 0)
        die("write failed", path);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: ./lev run IN OUT | ./lev check IN | ./lev gen SEED FILE\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "run") && argc == 4) {
        input_t in;
        read_input(argv[2], &in);
        FILE *f = create(argv[3]); /* opened before the lockdown: no file can be opened after it */
        int32_t *dist = run_distances(&in);
        write_all(f, argv[3], dist, (size_t)in.npairs * sizeof(int32_t));
        return 0;
    }
    if (!strcmp(argv[1], "check") && argc == 3) {
        input_t in;
        read_input(argv[2], &in);
        return check(&in, run_distances(&in));
    }
    if (!strcmp(argv[1], "gen") && argc == 4)
        return gen(strtoull(argv[2], NULL, 10), argv[3]);
    usage();
}
