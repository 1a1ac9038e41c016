// eval/assignment.h — the linear assignment problem on an integer matrix (as
// scipy.optimize.linear_sum_assignment with maximize=True): a one-to-one matching of rows to
// columns of maximum total weight, for rectangular matrices too (min(rows, cols) pairs). Solved by
// shortest augmenting paths with dual potentials (Kuhn-Munkres, in the O(r^2 c) form of Jonker &
// Volgenant 1987), in exact int64 arithmetic. Used by the clustering accuracy metric.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace hmr::eval {

// weight: [rows x cols] row-major. Returns the matched (row, col) pairs sorted by row.
std::vector<std::pair<std::int64_t, std::int64_t>> max_weight_assignment(const std::vector<std::int64_t>& weight,
                                                                         std::int64_t rows, std::int64_t cols);

}  // namespace hmr::eval
