/* blur.h: the interface of the task (read-only). */
#ifndef BLUR_H
#define BLUR_H

/* The Gaussian: standard deviation BLUR_SIGMA, truncated at BLUR_RADIUS = 3 * BLUR_SIGMA. */
#define BLUR_SIGMA 3.0
#define BLUR_RADIUS 9

/*
 * out = in convolved with the 2-D Gaussian kernel K(dy, dx) = w[dy] * w[dx], |dy|, |dx| <= 9,
 * where w[k] = exp(-k^2 / (2 sigma^2)) / sum_{j=-9..9} exp(-j^2 / (2 sigma^2)), sigma = 3.
 * Pixels outside the image take the value of the nearest edge pixel (clamped coordinates):
 *
 *   out[y][x] = sum_{dy,dx} w[dy] w[dx] in[clamp(y + dy, 0, height - 1)][clamp(x + dx, 0, width - 1)]
 *
 * in and out are row-major float32 images (pixel (y, x) at y * width + x), 64-byte aligned, and
 * do not overlap. 1 <= width <= 4096, 1 <= height <= 4096.
 */
void gaussian_blur(const float *in, float *out, int width, int height);

#endif
