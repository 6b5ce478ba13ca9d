/* join.c: the only file you may change. A chained hash table, one malloc per row of r. */
#include <stdlib.h>

#include "join.h"

typedef struct node {
    uint64_t key, payload;
    struct node *next;
} node_t;

static size_t bucket_of(uint64_t key, int bits)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

join_result_t hash_join(const tuple_t *r, size_t nr, const tuple_t *s, size_t ns)
{
    join_result_t result = {0, 0, 0};
    int bits = 1;
    while (((size_t)1 << bits) < nr)
        bits++;
    node_t **buckets = calloc((size_t)1 << bits, sizeof *buckets);
    if (!buckets)
        abort();
    for (size_t i = 0; i < nr; i++) {
        node_t *n = malloc(sizeof *n);
        if (!n)
            abort();
        n->key = r[i].key;
        n->payload = r[i].payload;
        size_t b = bucket_of(n->key, bits);
        n->next = buckets[b];
        buckets[b] = n;
    }
    for (size_t j = 0; j < ns; j++) {
        for (node_t *n = buckets[bucket_of(s[j].key, bits)]; n; n = n->next) {
            if (n->key == s[j].key) {
                result.matches++;
                result.payload_sum += n->payload + s[j].payload;
                result.checksum += pair_hash(n->payload, s[j].payload);
            }
        }
    }
    for (size_t b = 0; b < ((size_t)1 << bits); b++) {
        for (node_t *n = buckets[b]; n;) {
            node_t *next = n->next;
            free(n);
            n = next;
        }
    }
    free(buckets);
    return result;
}
