// A rung: sums of blocks of 1024 values, loops only over the partial blocks at the ends.
#include "solve.hpp"

std::vector<std::int64_t> answer(const std::vector<std::int64_t> &a,
                                 const std::vector<std::pair<int, int>> &queries)
{
    const int B = 1024;
    const int n = static_cast<int>(a.size());
    std::vector<std::int64_t> sums(n / B + 1, 0);
    for (int i = 0; i < n; i++)
        sums[i / B] += a[i];
    std::vector<std::int64_t> out;
    out.reserve(queries.size());
    for (auto [l, r] : queries) {
        std::int64_t sum = 0;
        int i = l;
        for (; i < r && i % B; i++)
            sum += a[i];
        for (; i + B <= r; i += B)
            sum += sums[i / B];
        for (; i < r; i++)
            sum += a[i];
        out.push_back(sum);
    }
    return out;
}
