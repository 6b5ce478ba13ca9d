// solve.hpp (read-only): the function to write in solve.cpp.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

// out[k] = a[l] + ... + a[r - 1] for queries[k] = (l, r), 0 <= l <= r <= a.size().
std::vector<std::int64_t> answer(const std::vector<std::int64_t> &a,
                                 const std::vector<std::pair<int, int>> &queries);
