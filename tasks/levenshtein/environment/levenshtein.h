/* levenshtein.h: the interface of the task (read-only). */
#ifndef LEVENSHTEIN_H
#define LEVENSHTEIN_H

#include <stdint.h>

/* One pair of strings: a is text[a_off .. a_off + a_len), b is text[b_off .. b_off + b_len). */
typedef struct {
    uint32_t a_off, a_len, b_off, b_len;
} lev_pair;

/* The longest string the harness accepts. */
#define LEV_MAX_LEN 8192

/*
 * dist[i] = the Levenshtein distance between the two strings of pairs[i]: the least number of
 * single-byte insertions, deletions and substitutions that turn a into b.
 *
 * Strings are arbitrary bytes (0..255, including 0; no terminator), 0 <= length <= LEV_MAX_LEN.
 * Strings may overlap or be the same bytes. 1 <= npairs <= 1,000,000.
 * text is 64-byte aligned and followed by at least 64 readable bytes; pairs and dist are
 * 64-byte aligned.
 */
void edit_distances(const unsigned char *text, const lev_pair *pairs, int npairs, int32_t *dist);

#endif
