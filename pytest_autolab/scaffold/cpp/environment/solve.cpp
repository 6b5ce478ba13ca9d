// solve.cpp: the file to improve. As shipped: a loop over each query's range.
#include "solve.hpp"

std::vector<std::int64_t> answer(const std::vector<std::int64_t> &a,
                                 const std::vector<std::pair<int, int>> &queries)
{
    std::vector<std::int64_t> out;
    for (auto [l, r] : queries) {
        std::int64_t sum = 0;
        for (int i = l; i < r; i++)
            sum += a[i];
        out.push_back(sum);
    }
    return out;
}
