// eval/assignment.cpp — maximum-weight rectangular assignment (see assignment.h). Rows are the
// smaller side (the matrix is transposed otherwise); each row is added in turn and matched along a
// shortest augmenting path under reduced costs (Dijkstra over columns with potentials u, v), the
// textbook Hungarian method with Jonker-Volgenant's row-by-row augmentation. Costs are the
// negated weights, so every quantity stays an exact integer and the optimum is exact.
#include "eval/assignment.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace hmr::eval {

std::vector<std::pair<std::int64_t, std::int64_t>> max_weight_assignment(const std::vector<std::int64_t>& weight,
                                                                         std::int64_t rows, std::int64_t cols) {
  HMR_REQUIRE(rows >= 0 && cols >= 0 && static_cast<std::int64_t>(weight.size()) == rows * cols,
              "assignment: weight has {} entries for a {} x {} matrix", weight.size(), rows, cols);
  if (rows == 0 || cols == 0) return {};
  const bool transposed = rows > cols;
  const std::int64_t n = transposed ? cols : rows, m = transposed ? rows : cols;
  // cost(i, j) for 1-based i <= n, j <= m.
  auto cost = [&](std::int64_t i, std::int64_t j) -> std::int64_t {
    const std::int64_t r = transposed ? j - 1 : i - 1, c = transposed ? i - 1 : j - 1;
    return -weight[static_cast<std::size_t>(r * cols + c)];
  };
  constexpr std::int64_t kInf = std::numeric_limits<std::int64_t>::max() / 4;
  // u: row potentials, v: column potentials, p[j]: row matched to column j (0 = none; column 0 is
  // the virtual start of each augmenting path), way[j]: previous column on the path.
  std::vector<std::int64_t> u(static_cast<std::size_t>(n) + 1, 0), v(static_cast<std::size_t>(m) + 1, 0),
      p(static_cast<std::size_t>(m) + 1, 0), way(static_cast<std::size_t>(m) + 1, 0), minv;
  std::vector<char> used;
  for (std::int64_t i = 1; i <= n; ++i) {
    p[0] = i;
    std::int64_t j0 = 0;
    minv.assign(static_cast<std::size_t>(m) + 1, kInf);
    used.assign(static_cast<std::size_t>(m) + 1, 0);
    do {
      used[static_cast<std::size_t>(j0)] = 1;
      const std::int64_t i0 = p[static_cast<std::size_t>(j0)];
      std::int64_t delta = kInf, j1 = 0;
      for (std::int64_t j = 1; j <= m; ++j) {
        if (used[static_cast<std::size_t>(j)]) continue;
        const std::int64_t cur = cost(i0, j) - u[static_cast<std::size_t>(i0)] - v[static_cast<std::size_t>(j)];
        if (cur < minv[static_cast<std::size_t>(j)]) {
          minv[static_cast<std::size_t>(j)] = cur;
          way[static_cast<std::size_t>(j)] = j0;
        }
        if (minv[static_cast<std::size_t>(j)] < delta) {
          delta = minv[static_cast<std::size_t>(j)];
          j1 = j;
        }
      }
      for (std::int64_t j = 0; j <= m; ++j) {
        if (used[static_cast<std::size_t>(j)]) {
          u[static_cast<std::size_t>(p[static_cast<std::size_t>(j)])] += delta;
          v[static_cast<std::size_t>(j)] -= delta;
        } else {
          minv[static_cast<std::size_t>(j)] -= delta;
        }
      }
      j0 = j1;
    } while (p[static_cast<std::size_t>(j0)] != 0);
    do {  // flip the augmenting path
      const std::int64_t j1 = way[static_cast<std::size_t>(j0)];
      p[static_cast<std::size_t>(j0)] = p[static_cast<std::size_t>(j1)];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (std::int64_t j = 1; j <= m; ++j) {
    const std::int64_t i = p[static_cast<std::size_t>(j)];
    if (i == 0) continue;
    out.emplace_back(transposed ? j - 1 : i - 1, transposed ? i - 1 : j - 1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace hmr::eval
