/*
 * attention.c: the baseline, and the only file you may change.
 *
 * out = softmax(Q K^T / sqrt(d)) V, computed the textbook way: the n x n score matrix is
 * materialised in double precision, each row goes through a three-pass softmax (max, exp and
 * sum, divide) with the C library's exp, and the result is multiplied by V.
 */
#include <math.h>
#include <stdlib.h>

#include "attention.h"

void attention(const float *Q, const float *K, const float *V, float *out, int n, int d)
{
    double scale = 1.0 / sqrt((double)d);
    double *S = malloc((size_t)n * (size_t)n * sizeof *S);
    if (!S)
        abort();

    /* S = Q K^T / sqrt(d) */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int k = 0; k < d; k++)
                acc += (double)Q[(size_t)i * d + k] * (double)K[(size_t)j * d + k];
            S[(size_t)i * n + j] = acc * scale;
        }

    /* P = softmax(S), row by row: max, exp and sum, normalise */
    for (int i = 0; i < n; i++) {
        double *row = S + (size_t)i * n;
        double m = row[0];
        for (int j = 1; j < n; j++)
            if (row[j] > m)
                m = row[j];
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            row[j] = exp(row[j] - m);
            sum += row[j];
        }
        for (int j = 0; j < n; j++)
            row[j] /= sum;
    }

    /* out = P V */
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d; k++) {
            double acc = 0.0;
            for (int j = 0; j < n; j++)
                acc += S[(size_t)i * n + j] * (double)V[(size_t)j * d + k];
            out[(size_t)i * d + k] = (float)acc;
        }

    free(S);
}
