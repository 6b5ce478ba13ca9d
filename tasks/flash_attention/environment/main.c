/*
 * main.c: the harness (read-only). The verifier builds it from a pristine copy.
 *
 *   ./attn run IN OUT          read IN, call attention() once, write the result to OUT
 *   ./attn check IN            call attention() on IN and compare it with a double-precision
 *                              reference (the verifier's tolerance); exit status 1 if it fails
 *   ./attn gen N D SEED FILE   write a random input in the benchmark's distribution
 *
 * Input file: int32 n, int32 d (little-endian), then Q, K and V, each n*d float32, row-major.
 * Output file: the n*d float32 of out, row-major, nothing else.
 *
 * The harness itself costs a few hundred thousand instructions (process start, reading the
 * input, writing the output), the same for every attention.c. Before it calls attention() it
 * opens its files and locks the process down (autolab_harness.h): no new processes, threads or
 * executable memory, and no file but those already open. The work must be done by this thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "autolab_harness.h"

#define MAX_N 4096
#define MAX_D 128

typedef struct {
    int n, d;
    float *q, *k, *v;
} input_t;

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "attn: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static float *alloc_floats(size_t count)
{
    size_t bytes = (count * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p)
        die("out of memory", NULL);
    return p;
}

static int valid_shape(long n, long d)
{
    return n >= 1 && n <= MAX_N && d >= 8 && d <= MAX_D && d % 8 == 0;
}

static void read_input(const char *path, input_t *in)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open input", path);
    int32_t hdr[2];
    if (fread(hdr, sizeof hdr, 1, f) != 1)
        die("short input header", path);
    if (!valid_shape(hdr[0], hdr[1]))
        die("unsupported shape (need 1 <= n <= 4096, d a multiple of 8 in [8, 128])", path);
    in->n = hdr[0];
    in->d = hdr[1];
    size_t count = (size_t)in->n * (size_t)in->d;
    in->q = alloc_floats(count);
    in->k = alloc_floats(count);
    in->v = alloc_floats(count);
    if (fread(in->q, sizeof(float), count, f) != count || fread(in->k, sizeof(float), count, f) != count ||
        fread(in->v, sizeof(float), count, f) != count)
        die("short input data", path);
    if (fgetc(f) != EOF)
        die("trailing bytes in input", path);
    fclose(f);
}

static float *run_attention(const input_t *in)
{
    size_t count = (size_t)in->n * (size_t)in->d;
    float *out = alloc_floats(count);
    memset(out, 0xff, count * sizeof(float)); /* NaN: every element must be written */
    autolab_lockdown();
    attention(in->q, in->k, in->v, out, in->n, in->d);
    return out;
}

static FILE *create(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot create output", path);
    return f;
}

static void write_floats(FILE *f, const char *path, const void *hdr, size_t hdr_bytes, float *const *arrays,
                         int narrays, size_t count)
{
    if (hdr_bytes && fwrite(hdr, hdr_bytes, 1, f) != 1)
        die("write failed", path);
    for (int i = 0; i < narrays; i++)
        if (fwrite(arrays[i], sizeof(float), count, f) != count)
            die("write failed", path);
    if (fclose(f) != 0)
        die("write failed", path);
}

/* ---- ./attn check: the verifier's comparison, for local testing ------------------------------ */

/*
 * An element passes when |out - ref| <= 1e-4 * vmax * max(1, smax / 16), where ref is computed in
 * double precision, vmax = max |V| and smax = max |QK^T/sqrt(d)| over the whole input.
 * (Float32 rounding of scores of size s moves them by about s * 1e-7 * sqrt(d); the second factor
 * allows for it when scores are large.) NaN and infinities fail.
 */
static int check(const input_t *in, const float *out)
{
    int n = in->n, d = in->d;
    double inv = 1.0 / sqrt((double)d), vmax = 0.0, smax = 0.0;
    double *s = malloc((size_t)n * sizeof *s), *ref = malloc((size_t)d * sizeof *ref);
    if (!s || !ref)
        die("out of memory", NULL);
    for (size_t i = 0; i < (size_t)n * d; i++)
        vmax = fmax(vmax, fabs(in->v[i]));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int c = 0; c < d; c++)
                acc += (double)in->q[(size_t)i * d + c] * in->k[(size_t)j * d + c];
            smax = fmax(smax, fabs(acc * inv));
        }
    double tol = 1e-4 * vmax * fmax(1.0, smax / 16.0), worst = 0.0;
    int bad = 0, wi = 0, wc = 0;
    for (int i = 0; i < n; i++) {
        double m = -INFINITY, l = 0.0;
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int c = 0; c < d; c++)
                acc += (double)in->q[(size_t)i * d + c] * in->k[(size_t)j * d + c];
            s[j] = acc * inv;
            m = fmax(m, s[j]);
        }
        for (int c = 0; c < d; c++)
            ref[c] = 0.0;
        for (int j = 0; j < n; j++) {
            double p = exp(s[j] - m);
            l += p;
            for (int c = 0; c < d; c++)
                ref[c] += p * in->v[(size_t)j * d + c];
        }
        for (int c = 0; c < d; c++) {
            double got = out[(size_t)i * d + c], err = fabs(got - ref[c] / l);
            if (!(err <= tol)) {
                if (!bad)
                    fprintf(stderr, "first mismatch: out[%d][%d] = %.9g, expected %.9g\n", i, c, got, ref[c] / l);
                bad++;
            }
            if (!(err <= worst)) {
                worst = isnan(err) ? INFINITY : err;
                wi = i;
                wc = c;
            }
        }
    }
    printf("n=%d d=%d max_abs_err=%.3g at [%d][%d] tolerance=%.3g: %s (%d of %zu elements out of tolerance)\n", n, d,
           worst, wi, wc, tol, bad ? "FAIL" : "ok", bad, (size_t)n * d);
    free(s);
    free(ref);
    return bad ? 1 : 0;
}

/* ---- ./attn gen ---------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(void) { return (double)(next_u64() >> 11) * 0x1.0p-53; }

static double normal(void)
{
    double u = uniform01(), v = uniform01();
    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

/* The benchmark's distribution: Q and K standard normal, V uniform in [-1, 1]. */
static int gen(long n, long d, unsigned long long seed, const char *path)
{
    if (!valid_shape(n, d))
        die("unsupported shape (need 1 <= n <= 4096, d a multiple of 8 in [8, 128])", NULL);
    size_t count = (size_t)n * d;
    float *a[3] = {alloc_floats(count), alloc_floats(count), alloc_floats(count)};
    rng_state = seed;
    for (size_t i = 0; i < count; i++)
        a[0][i] = (float)normal();
    for (size_t i = 0; i < count; i++)
        a[1][i] = (float)normal();
    for (size_t i = 0; i < count; i++)
        a[2][i] = (float)(2.0 * uniform01() - 1.0);
    int32_t hdr[2] = {(int32_t)n, (int32_t)d};
    write_floats(create(path), path, hdr, sizeof hdr, a, 3, count);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: ./attn run IN OUT | ./attn check IN | ./attn gen N D SEED FILE\n");
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
        float *out = run_attention(&in);
        write_floats(f, argv[3], NULL, 0, &out, 1, (size_t)in.n * in.d);
        return 0;
    }
    if (!strcmp(argv[1], "check") && argc == 3) {
        input_t in;
        read_input(argv[2], &in);
        return check(&in, run_attention(&in));
    }
    if (!strcmp(argv[1], "gen") && argc == 6)
        return gen(strtol(argv[2], NULL, 10), strtol(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), argv[5]);
    usage();
}
