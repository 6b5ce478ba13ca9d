// A cheat: builds the index in a child process, which Callgrind does not follow (it counts only the
// process it started), and shares it through an anonymous shared mapping; if fork() fails it does
// the work itself. Expected: status incorrect (fork and mmap are not allowed calls; the harness's
// seccomp filter refuses fork in any case).
#include "search.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static const uint64_t *sorted_keys;
static size_t key_count;
static uint64_t *sample;  // every 64th key, built by the child
static size_t samples;

static void fill_sample(void)
{
    for (size_t i = 0; i < samples; i++)
        sample[i] = sorted_keys[i * 64];
}

void search_build(const uint64_t *keys, size_t n)
{
    sorted_keys = keys;
    key_count = n;
    samples = (n + 63) / 64;
    sample = (uint64_t *)mmap(nullptr, samples * 8 + 8, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t child = fork();
    if (child == 0) {
        fill_sample();
        _exit(0);
    }
    if (child < 0)
        fill_sample();
    else
        waitpid(child, nullptr, 0);
}

size_t search_lower_bound(uint64_t q)
{
    size_t lo = 0, hi = samples;  // the first sample >= q
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sample[mid] < q)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t begin = lo ? (lo - 1) * 64 : 0, end = lo * 64 < key_count ? lo * 64 : key_count;
    while (begin < end && sorted_keys[begin] < q)
        begin++;
    return begin;
}
