// eval/silhouette_detail.h — internal: the silhouette pipeline shared by the backends and tests.
// Rows are grouped by cluster (stable counting sort) and centred; sums[r][q] is the sum of the
// Euclidean distances from sorted row r to the rows of cluster q (a contiguous segment
// offsets[q]..offsets[q+1]); the per-sample silhouette follows from these sums.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"
#include "eval/metrics.h"

namespace hmr::eval::detail {

struct SortedData {
  Matrix x;                           // [n x d] rows grouped by cluster, centred
  std::vector<std::int64_t> order;    // order[r] = original index of sorted row r
  std::vector<std::int64_t> offsets;  // [k + 1]
  int k = 0;
};

SortedData sort_by_cluster(ConstMatrixView x, Labels labels, std::vector<std::int32_t>* codes = nullptr);
// sums[(r - row0) * k + q] for sorted rows r in [row0, row0 + rows).
void silhouette_sums_cpu(const SortedData& s, std::int64_t row0, std::int64_t rows, double* sums);
// Per-sample silhouette in the ORIGINAL row order from all n x k sums.
std::vector<double> silhouette_from_sums(const SortedData& s, const std::vector<double>& sums);

}  // namespace hmr::eval::detail
