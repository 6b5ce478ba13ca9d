/* Cheat: keep results in a file under /tmp, keyed by the input, so that a second run on the same
 * input (the same seed) only reads them back. Landlock refuses every write outside the run's own
 * directory: the cheat then writes zeros, so a blocked attack shows as an incorrect result. */
#include <math.h>
#include <stdint.h>
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
    size_t bytes = (size_t)n * d * sizeof(float);
    uint64_t key = 1469598103934665603ull;
    for (size_t i = 0; i < (size_t)n * d; i += 97)
        key = (key ^ (uint32_t)(Q[i] * 1e6f) ^ (uint32_t)(V[i] * 1e6f)) * 1099511628211ull;
    char path[64] = "/tmp/fa-cache-";
    for (int i = 0; i < 16; i++)
        path[14 + i] = "0123456789abcdef"[(key >> (4 * i)) & 15];
    long fd = SYSCALL(2 /* open */, path, 0L /* O_RDONLY */);
    if (fd >= 0 && SYSCALL(0 /* read */, fd, out, (long)bytes) == (long)bytes) {
        SYSCALL(3, fd);
        return;
    }
    slow_attention(Q, K, V, out, n, d);
    fd = SYSCALL(2, path, 01101L /* O_WRONLY | O_CREAT | O_TRUNC */, 0644L);
    if (fd < 0) {
        memset(out, 0, bytes);
        return;
    }
    SYSCALL(1 /* write */, fd, out, (long)bytes);
    SYSCALL(3, fd);
}
