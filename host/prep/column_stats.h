// prep/column_stats.h — per-column mean and sum of squared deviations of a row-major [n x d]
// float matrix, the cpu helper behind StandardScaler (prep/standardize), PCA centring
// (decomp/pca) and K-Means centring and tolerance (cluster/kmeans).
// Two passes per column in double (sum, then squared deviations from the mean), parallel over
// columns, so each column's sums have one fixed order whatever the thread count: callers divide
// m2 by n (population variance) or n - 1 (sample variance) and get the same bits as before.
#pragma once

#include <vector>

#include "core/matrix.h"

namespace hmr::prep {

struct ColumnStats {
  std::vector<double> mean;  // [d]
  std::vector<double> m2;    // [d] sum over rows of (x - mean)^2
};

// parallel = false runs on the calling thread (for inputs too small to be worth threads).
ColumnStats column_stats_cpu(ConstMatrixView x, bool parallel = true);

}  // namespace hmr::prep
