/* attention.h: the interface of the task (read-only). */
#ifndef ATTENTION_H
#define ATTENTION_H

/*
 * out = softmax(Q K^T / sqrt(d)) V, in float32.
 *
 * Q, K, V and out are row-major n x d matrices (row i starts at i * d).
 * 1 <= n <= 4096, and d is a multiple of 8 with 8 <= d <= 128.
 * The four buffers are 64-byte aligned and do not overlap.
 * The softmax is taken over each row of Q K^T / sqrt(d).
 */
void attention(const float *Q, const float *K, const float *V, float *out, int n, int d);

#endif
