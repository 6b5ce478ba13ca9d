// The reference: prefix sums, then O(1) per query.
#include "solve.hpp"

std::vector<std::int64_t> answer(const std::vector<std::int64_t> &a,
                                 const std::vector<std::pair<int, int>> &queries)
{
    std::vector<std::int64_t> prefix(a.size() + 1, 0);
    for (std::size_t i = 0; i < a.size(); i++)
        prefix[i + 1] = prefix[i] + a[i];
    std::vector<std::int64_t> out(queries.size());
    for (std::size_t k = 0; k < queries.size(); k++)
        out[k] = prefix[queries[k].second] - prefix[queries[k].first];
    return out;
}
