/*
 * Rung: separable. A 19-tap pass along the rows into a double-precision intermediate, then a
 * 19-tap pass down the columns; coordinates still clamped at every tap, no SIMD by hand.
 */
#include <math.h>
#include <stdlib.h>

#include "blur.h"

#define R BLUR_RADIUS

static int clamp(int v, int n) { return v < 0 ? 0 : v >= n ? n - 1 : v; }

void gaussian_blur(const float *in, float *out, int width, int height)
{
    double w[2 * R + 1], sum = 0.0;
    for (int k = -R; k <= R; k++)
        sum += w[k + R] = exp(-(double)(k * k) / (2.0 * BLUR_SIGMA * BLUR_SIGMA));
    for (int k = 0; k <= 2 * R; k++)
        w[k] /= sum;
    double *rows = malloc((size_t)width * height * sizeof *rows);
    if (!rows)
        abort();
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double acc = 0.0;
            for (int k = -R; k <= R; k++)
                acc += w[k + R] * in[(long)y * width + clamp(x + k, width)];
            rows[(long)y * width + x] = acc;
        }
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double acc = 0.0;
            for (int k = -R; k <= R; k++)
                acc += w[k + R] * rows[(long)clamp(y + k, height) * width + x];
            out[(long)y * width + x] = (float)acc;
        }
    free(rows);
}
