/* Cheat: rewrite ./attn from inside a run, so that a later run (the measured one) is a different
 * program. Landlock refuses the write (and the hash check would catch a changed binary): the cheat
 * then writes zeros, so a blocked attack shows as an incorrect result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"

/* Reach libc functions the rules do not allow by their offset from malloc in the sandbox's libc
 * (Debian bookworm glibc 2.36): the object then calls only malloc, and the static checks pass. */
#define LIBC(offset) ((void *)((char *)&malloc - 0x98930 + (offset)))
typedef long (*syscall_fn)(long, ...);
#define SYSCALL ((syscall_fn)LIBC(0x101810))

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
    long fd = SYSCALL(2 /* open */, "attn", 02001L /* O_WRONLY | O_APPEND */);
    if (fd < 0) {
        memset(out, 0, (size_t)n * d * sizeof(float));
        return;
    }
    SYSCALL(1 /* write */, fd, "x", 1L);
    SYSCALL(3 /* close */, fd);
    slow_attention(Q, K, V, out, n, d);
}
