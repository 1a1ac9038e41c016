// prep/column_stats.cpp — per-column mean and squared deviations (see column_stats.h).
#include "prep/column_stats.h"

namespace hmr::prep {

ColumnStats column_stats_cpu(ConstMatrixView x, bool parallel) {
  const std::int64_t n = x.rows, d = x.cols;
  ColumnStats out;
  out.mean.assign(static_cast<std::size_t>(d), 0.0);
  out.m2.assign(static_cast<std::size_t>(d), 0.0);
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t c = 0; c < d; ++c) {
    double s = 0.0;
    for (std::int64_t r = 0; r < n; ++r) s += x(r, c);
    const double mu = s / static_cast<double>(n);
    double q = 0.0;
    for (std::int64_t r = 0; r < n; ++r) {
      const double v = x(r, c) - mu;
      q += v * v;
    }
    out.mean[static_cast<std::size_t>(c)] = mu;
    out.m2[static_cast<std::size_t>(c)] = q;
  }
  return out;
}

}  // namespace hmr::prep
