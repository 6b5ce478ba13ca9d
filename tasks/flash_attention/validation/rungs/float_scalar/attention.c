/* Rung: float32 instead of double, one score row at a time (no n x n matrix), expf from libm;
 * plain scalar loops. */
#include <math.h>
#include <stdlib.h>

#include "attention.h"

static void slow_attention(const float *Q, const float *K, const float *V, float *out, int n, int d)
{
    float *s = malloc((size_t)n * sizeof *s);
    float scale = 1.0f / sqrtf((float)d);
    for (int i = 0; i < n; i++) {
        float m = -INFINITY, l = 0.0f;
        for (int j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int c = 0; c < d; c++)
                acc += Q[(size_t)i * d + c] * K[(size_t)j * d + c];
            s[j] = acc * scale;
            m = fmaxf(m, s[j]);
        }
        for (int j = 0; j < n; j++)
            l += (s[j] = expf(s[j] - m));
        for (int c = 0; c < d; c++) {
            float acc = 0.0f;
            for (int j = 0; j < n; j++)
                acc += s[j] * V[(size_t)j * d + c];
            out[(size_t)i * d + c] = acc / l;
        }
    }
    free(s);
}

void attention(const float *Q, const float *K, const float *V, float *out, int n, int d)
{
    slow_attention(Q, K, V, out, n, d);
}
