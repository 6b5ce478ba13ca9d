/* Rung: float32, one score row at a time, loops shaped so that GCC vectorises them at -O2 (eight
 * partial sums for each dot product, the output row accumulated contiguously); expf from libm,
 * no intrinsics, no tiling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"

void attention(const float *Q, const float *K, const float *V, float *out, int n, int d)
{
    float *s = malloc((size_t)n * sizeof *s);
    if (!s)
        abort();
    float scale = 1.0f / sqrtf((float)d);
    for (int i = 0; i < n; i++) {
        const float *q = Q + (size_t)i * d;
        float m = -INFINITY;
        for (int j = 0; j < n; j++) {
            const float *k = K + (size_t)j * d;
            float acc[8] = {0};
            for (int c = 0; c < d; c += 8)
                for (int u = 0; u < 8; u++)
                    acc[u] += q[c + u] * k[c + u];
            float t = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            s[j] = t * scale;
            m = s[j] > m ? s[j] : m;
        }
        float l = 0.0f;
        for (int j = 0; j < n; j++)
            l += (s[j] = expf(s[j] - m));
        float *o = out + (size_t)i * d;
        memset(o, 0, (size_t)d * sizeof *o);
        for (int j = 0; j < n; j++) {
            const float *v = V + (size_t)j * d;
            float p = s[j] / l;
            for (int c = 0; c < d; c++)
                o[c] += p * v[c];
        }
    }
    free(s);
}
