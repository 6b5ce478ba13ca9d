/*
 * Rung: separable in float32 with the clamping done once: each row is copied into a buffer with
 * the edge pixels replicated, the intermediate gets replicated rows above and below, so the
 * tap loops have no bounds checks. Scalar code (GCC's vectoriser is switched off).
 */
#pragma GCC optimize("no-tree-vectorize")
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blur.h"

#define R BLUR_RADIUS
#define TAPS (2 * R + 1)

void gaussian_blur(const float *in, float *out, int width, int height)
{
    double d[TAPS], sum = 0.0;
    float w[TAPS];
    for (int k = -R; k <= R; k++)
        sum += d[k + R] = exp(-(double)(k * k) / (2.0 * BLUR_SIGMA * BLUR_SIGMA));
    for (int k = 0; k < TAPS; k++)
        w[k] = (float)(d[k] / sum);
    float *t = malloc((size_t)width * (height + 2 * R) * sizeof *t);
    float *pad = malloc((size_t)(width + 2 * R) * sizeof *pad);
    if (!t || !pad)
        abort();
    for (int y = 0; y < height; y++) {
        const float *row = in + (long)y * width;
        for (int k = 0; k < R; k++) {
            pad[k] = row[0];
            pad[R + width + k] = row[width - 1];
        }
        memcpy(pad + R, row, (size_t)width * sizeof *pad);
        float *dst = t + (long)(y + R) * width;
        for (int x = 0; x < width; x++) {
            float acc = 0.0f;
            for (int k = 0; k < TAPS; k++)
                acc += w[k] * pad[x + k];
            dst[x] = acc;
        }
    }
    for (int k = 0; k < R; k++) {
        memcpy(t + (long)k * width, t + (long)R * width, (size_t)width * sizeof *t);
        memcpy(t + (long)(height + R + k) * width, t + (long)(height + R - 1) * width, (size_t)width * sizeof *t);
    }
    for (int y = 0; y < height; y++) {
        const float *src = t + (long)y * width;
        for (int x = 0; x < width; x++) {
            float acc = 0.0f;
            for (int k = 0; k < TAPS; k++)
                acc += w[k] * src[(long)k * width + x];
            out[(long)y * width + x] = acc;
        }
    }
    free(pad);
    free(t);
}
