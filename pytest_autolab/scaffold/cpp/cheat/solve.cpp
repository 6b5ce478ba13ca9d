// A cheat: answers the first queries honestly and guesses 0 for the rest (skipped work).
#include "solve.hpp"

std::vector<std::int64_t> answer(const std::vector<std::int64_t> &a,
                                 const std::vector<std::pair<int, int>> &queries)
{
    std::vector<std::int64_t> out;
    for (std::size_t k = 0; k < queries.size(); k++) {
        std::int64_t sum = 0;
        if (k < 64)
            for (int i = queries[k].first; i < queries[k].second; i++)
                sum += a[i];
        out.push_back(sum);
    }
    return out;
}
