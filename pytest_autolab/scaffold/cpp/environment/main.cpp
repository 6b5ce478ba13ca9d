// main.cpp: the harness (read-only). ./prog IN OUT reads the input, calls answer() once and
// writes one answer a line.
#include <cstdio>
#include <cstdlib>

#include "solve.hpp"

static void die(const char *msg)
{
    std::fprintf(stderr, "prog: %s\n", msg);
    std::exit(2);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        die("usage: prog IN OUT");
    std::FILE *in = std::fopen(argv[1], "r");
    if (!in)
        die("cannot open the input");
    int n, q;
    if (std::fscanf(in, "%d %d", &n, &q) != 2 || n < 0 || q < 0)
        die("bad header");
    std::vector<std::int64_t> a(n);
    std::vector<std::pair<int, int>> queries(q);
    for (auto &x : a) {
        long long v;
        if (std::fscanf(in, "%lld", &v) != 1)
            die("bad array");
        x = v;
    }
    for (auto &[l, r] : queries)
        if (std::fscanf(in, "%d %d", &l, &r) != 2 || l < 0 || l > r || r > n)
            die("bad query");
    std::fclose(in);
    std::vector<std::int64_t> out = answer(a, queries);
    if (out.size() != queries.size())
        die("answer() returned the wrong number of answers");
    std::FILE *o = std::fopen(argv[2], "w");
    if (!o)
        die("cannot open the output");
    for (auto v : out)
        std::fprintf(o, "%lld\n", static_cast<long long>(v));
    std::fclose(o);
    return 0;
}
