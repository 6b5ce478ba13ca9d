/*
 * blur.c: the program to make faster (editable).
 *
 * The definition, computed directly: for every output pixel, the 19 x 19 kernel in double
 * precision, with the coordinates clamped to the image at every tap.
 */
#include <math.h>

#include "blur.h"

void gaussian_blur(const float *in, float *out, int width, int height)
{
    double kernel[2 * BLUR_RADIUS + 1][2 * BLUR_RADIUS + 1], w[2 * BLUR_RADIUS + 1], sum = 0.0;
    for (int k = -BLUR_RADIUS; k <= BLUR_RADIUS; k++) {
        w[k + BLUR_RADIUS] = exp(-(double)(k * k) / (2.0 * BLUR_SIGMA * BLUR_SIGMA));
        sum += w[k + BLUR_RADIUS];
    }
    for (int dy = 0; dy <= 2 * BLUR_RADIUS; dy++)
        for (int dx = 0; dx <= 2 * BLUR_RADIUS; dx++)
            kernel[dy][dx] = w[dy] / sum * (w[dx] / sum);

    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            double acc = 0.0;
            for (int dy = -BLUR_RADIUS; dy <= BLUR_RADIUS; dy++) {
                int yy = y + dy < 0 ? 0 : y + dy >= height ? height - 1 : y + dy;
                for (int dx = -BLUR_RADIUS; dx <= BLUR_RADIUS; dx++) {
                    int xx = x + dx < 0 ? 0 : x + dx >= width ? width - 1 : x + dx;
                    acc += kernel[dy + BLUR_RADIUS][dx + BLUR_RADIUS] * in[(long)yy * width + xx];
                }
            }
            out[(long)y * width + x] = (float)acc;
        }
    }
}
