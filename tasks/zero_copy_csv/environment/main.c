/*
 * main.c: the harness (read-only, C). The verifier builds it from a pristine copy and links it
 * with the Rust crate (libcsvagg.a: src/lib.rs and your src/csv.rs).
 *
 *   ./csvagg run IN OUT       aggregate the document IN, write the result (text) to OUT
 *   ./csvagg batch IN OUT     IN holds several documents, each preceded by its length (uint64,
 *                             little-endian); OUT gets "document K" and the result of each
 *
 * The result of a document is a line "columns N", then one line per column (src/lib.rs formats
 * it). On stderr the harness reports the heap allocations made inside csv::aggregate. The input
 * is read with plain system calls (the kernel's copies are not counted). The harness opens its
 * files and reads the input, then calls autolab_lockdown() (autolab_harness.h: no new processes,
 * threads or exec from then on) before any Rust code runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autolab_harness.h"

/* src/lib.rs */
const unsigned char *csvagg_aggregate(const unsigned char *doc, size_t len, size_t *out_len, uint64_t *allocations,
                                      uint64_t *allocated_bytes);

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "csvagg: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static unsigned char *read_file(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die("cannot open input", path);
    size_t bytes = (size_t)st.st_size, done = 0;
    unsigned char *data = malloc(bytes ? bytes : 1);
    if (!data)
        die("out of memory", NULL);
    while (done < bytes) {
        ssize_t got = read(fd, data + done, bytes - done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            die("short read", path);
        done += (size_t)got;
    }
    close(fd);
    *size = bytes;
    return data;
}

static void write_exact(int fd, const void *buf, size_t bytes, const char *path)
{
    const char *p = buf;
    while (bytes) {
        ssize_t put = write(fd, p, bytes);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            die("write failed", path);
        p += put;
        bytes -= (size_t)put;
    }
}

int main(int argc, char **argv)
{
    int batch = argc == 4 && strcmp(argv[1], "batch") == 0;
    if (!batch && !(argc == 4 && strcmp(argv[1], "run") == 0)) {
        fprintf(stderr, "usage: %s run IN OUT | batch IN OUT\n", argv[0]);
        return 2;
    }
    size_t size;
    unsigned char *input = read_file(argv[2], &size);
    int out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0)
        die("cannot create output", argv[3]);
    autolab_lockdown();

    uint64_t total_allocations = 0, total_bytes = 0, documents = 0;
    size_t pos = 0;
    do {
        const unsigned char *doc = input;
        size_t len = size;
        if (batch) {
            uint64_t n;
            if (size - pos < sizeof n)
                die("truncated batch (a length is missing)", argv[2]);
            memcpy(&n, input + pos, sizeof n);
            pos += sizeof n;
            if (n > size - pos)
                die("truncated batch (a document is shorter than its length)", argv[2]);
            doc = input + pos;
            len = (size_t)n;
            pos += len;
            char header[64];
            int hl = snprintf(header, sizeof header, "document %llu\n", (unsigned long long)documents);
            write_exact(out, header, (size_t)hl, argv[3]);
        }
        size_t text_len;
        uint64_t allocations, allocated_bytes;
        const unsigned char *text = csvagg_aggregate(doc, len, &text_len, &allocations, &allocated_bytes);
        write_exact(out, text, text_len, argv[3]);
        total_allocations += allocations;
        total_bytes += allocated_bytes;
        documents++;
    } while (batch && pos < size);
    if (close(out) != 0)
        die("write failed", argv[3]);
    fprintf(stderr, "heap: %llu allocations, %llu bytes in csv::aggregate over %llu document(s)\n",
            (unsigned long long)total_allocations, (unsigned long long)total_bytes, (unsigned long long)documents);
    return 0;
}
