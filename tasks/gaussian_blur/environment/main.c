/*
 * main.c: the harness (read-only). The verifier builds it from a pristine copy.
 *
 *   ./blur run IN OUT               read IN, call gaussian_blur() once, write the result to OUT
 *   ./blur check IN                 call gaussian_blur() on IN and compare it with a
 *                                   double-precision reference (the verifier's tolerance);
 *                                   exit status 1 if it fails
 *   ./blur gen WIDTH HEIGHT SEED FILE   write a random image in the benchmark's distribution
 *
 * Input file: int32 width, int32 height (little-endian), then width*height float32, row-major.
 * Output file: the width*height float32 of out, row-major, nothing else.
 *
 * The harness itself costs a few hundred thousand instructions (process start, reading the
 * input, writing the output), the same for every blur.c. Before it calls gaussian_blur() it
 * opens its files and locks the process down (autolab_harness.h): no new processes, threads or
 * executable memory, and no file but those already open. The work must be done by this thread.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autolab_harness.h"
#include "blur.h"

#define MAX_SIDE 4096

typedef struct {
    int width, height;
    float *pixels;
} image_t;

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "blur: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
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

static int valid_size(long width, long height)
{
    return width >= 1 && width <= MAX_SIDE && height >= 1 && height <= MAX_SIDE;
}

static void read_input(const char *path, image_t *img)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open input", path);
    int32_t hdr[2];
    if (fread(hdr, sizeof hdr, 1, f) != 1)
        die("short input header", path);
    if (!valid_size(hdr[0], hdr[1]))
        die("unsupported size (need 1 <= width, height <= 4096)", path);
    img->width = hdr[0];
    img->height = hdr[1];
    size_t count = (size_t)img->width * (size_t)img->height;
    img->pixels = alloc_floats(count);
    if (fread(img->pixels, sizeof(float), count, f) != count)
        die("short input data", path);
    if (fgetc(f) != EOF)
        die("trailing bytes in input", path);
    fclose(f);
}

/* Fill with NaN (0x7fc00000, not a byte pattern, so GCC does not make it a memset), eight floats
 * per store: memset is charged one instruction per byte (Valgrind counts every iteration of its
 * `rep stosb`), which would be the largest part of the harness's cost. */
static void poison(float *p, size_t count)
{
    __m256 nan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000));
    size_t i = 0;
    for (; i + 8 <= count; i += 8)
        _mm256_storeu_ps(p + i, nan);
    for (; i < count; i++)
        p[i] = _mm256_cvtss_f32(nan);
}

static float *run_blur(const image_t *img)
{
    size_t count = (size_t)img->width * img->height;
    float *out = alloc_floats(count);
    poison(out, count); /* NaN: every pixel must be written */
    autolab_lockdown();
    gaussian_blur(img->pixels, out, img->width, img->height);
    return out;
}

static FILE *create(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot create output", path);
    return f;
}

static void write_output(FILE *f, const char *path, const void *hdr, size_t hdr_bytes, const float *data,
                         size_t count)
{
    if (hdr_bytes && fwrite(hdr, hdr_bytes, 1, f) != 1)
        die("write failed", path);
    if (fwrite(data, sizeof(float), count, f) != count)
        die("write failed", path);
    if (fclose(f) != 0)
        die("write failed", path);
}

/* ---- ./blur check: the verifier's comparison, for local testing ------------------------------ */

static int clamp(int v, int n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }

/*
 * A pixel passes when |out - ref| <= 1e-5 * max|in|, where ref is computed in double precision
 * (separably, which is exact in exact arithmetic). NaN and infinities fail.
 */
static int check(const image_t *img, const float *out)
{
    int W = img->width, H = img->height, R = BLUR_RADIUS;
    double w[2 * BLUR_RADIUS + 1], sum = 0.0, vmax = 0.0;
    for (int k = -R; k <= R; k++)
        sum += w[k + R] = exp(-(double)(k * k) / (2.0 * BLUR_SIGMA * BLUR_SIGMA));
    for (int k = 0; k <= 2 * R; k++)
        w[k] /= sum;
    double *rows = malloc((size_t)W * H * sizeof *rows);
    if (!rows)
        die("out of memory", NULL);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double acc = 0.0;
            for (int k = -R; k <= R; k++)
                acc += w[k + R] * img->pixels[(size_t)y * W + clamp(x + k, W)];
            rows[(size_t)y * W + x] = acc;
            vmax = fmax(vmax, fabs(img->pixels[(size_t)y * W + x]));
        }
    double tol = 1e-5 * vmax, worst = 0.0;
    int wy = 0, wx = 0;
    size_t bad = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double ref = 0.0;
            for (int k = -R; k <= R; k++)
                ref += w[k + R] * rows[(size_t)clamp(y + k, H) * W + x];
            double got = out[(size_t)y * W + x], err = fabs(got - ref);
            if (!(err <= tol)) {
                if (!bad)
                    fprintf(stderr, "first mismatch: out[%d][%d] = %.9g, expected %.9g\n", y, x, got, ref);
                bad++;
            }
            if (!(err <= worst)) {
                worst = isnan(err) ? INFINITY : err;
                wy = y;
                wx = x;
            }
        }
    printf("%dx%d max_abs_err=%.3g at [%d][%d] tolerance=%.3g: %s (%zu of %zu pixels out of tolerance)\n", W, H, worst,
           wy, wx, tol, bad ? "FAIL" : "ok", bad, (size_t)W * H);
    free(rows);
    return bad ? 1 : 0;
}

/* ---- ./blur gen ---------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(void) { return (double)(next_u64() >> 11) * 0x1.0p-53; }

/* The benchmark's distribution: a smooth gradient, a few bright rectangles with sharp edges and
 * uniform noise, values in [0, 1]. */
static int gen(long width, long height, unsigned long long seed, const char *path)
{
    if (!valid_size(width, height))
        die("unsupported size (need 1 <= width, height <= 4096)", NULL);
    size_t count = (size_t)width * height;
    float *img = alloc_floats(count);
    rng_state = seed;
    double gx = uniform01(), gy = uniform01();
    for (long y = 0; y < height; y++)
        for (long x = 0; x < width; x++)
            img[y * width + x] = (float)(0.3 * (gx * x / width + gy * y / height) + 0.2 * uniform01());
    for (int r = 0; r < 8; r++) {
        long x0 = (long)(uniform01() * width), y0 = (long)(uniform01() * height);
        long x1 = x0 + (long)(uniform01() * width / 4), y1 = y0 + (long)(uniform01() * height / 4);
        float v = (float)(0.5 * uniform01());
        for (long y = y0; y < y1 && y < height; y++)
            for (long x = x0; x < x1 && x < width; x++)
                img[y * width + x] += v;
    }
    int32_t hdr[2] = {(int32_t)width, (int32_t)height};
    write_output(create(path), path, hdr, sizeof hdr, img, count);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: ./blur run IN OUT | ./blur check IN | ./blur gen WIDTH HEIGHT SEED FILE\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "run") && argc == 4) {
        image_t img;
        read_input(argv[2], &img);
        FILE *f = create(argv[3]); /* opened before the lockdown: no file can be opened after it */
        float *out = run_blur(&img);
        write_output(f, argv[3], NULL, 0, out, (size_t)img.width * img.height);
        return 0;
    }
    if (!strcmp(argv[1], "check") && argc == 3) {
        image_t img;
        read_input(argv[2], &img);
        return check(&img, run_blur(&img));
    }
    if (!strcmp(argv[1], "gen") && argc == 6)
        return gen(strtol(argv[2], NULL, 10), strtol(argv[3], NULL, 10), strtoull(argv[4], NULL, 10), argv[5]);
    usage();
}
