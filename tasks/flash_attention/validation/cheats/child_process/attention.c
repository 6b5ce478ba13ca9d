/* Cheat: do the work in a child process, which Callgrind does not count (no --trace-children).
 * The harness's seccomp filter refuses fork: the cheat then writes zeros, so a blocked attack
 * shows as an incorrect result. */
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
    size_t bytes = (size_t)n * d * sizeof(float);
    float *shared = (float *)SYSCALL(9 /* mmap */, 0L, (long)bytes, 3L /* rw */, 0x21L /* shared|anon */, -1L, 0L);
    long pid = (long)shared == -1 ? -1 : SYSCALL(57 /* fork */);
    if (pid < 0) {
        memset(out, 0, bytes);
        return;
    }
    if (pid == 0) {
        slow_attention(Q, K, V, shared, n, d);
        SYSCALL(60 /* exit */, 0L);
    }
    SYSCALL(61 /* wait4 */, pid, 0L, 0L, 0L);
    memcpy(out, shared, bytes);
}
