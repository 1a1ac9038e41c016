// eval/silhouette.cuh — tiled exact silhouette on the device. The rows are grouped by cluster
// (host side), so a row's distance sum to cluster q is a sum over a contiguous column segment.
// A tile covers `rows` consecutive rows against all n columns; nothing n x n is ever stored.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

// tile[r][j] = ||x[row0 + r] - x[j]|| for r < rows, j < n (differences and squares in double).
// x: row-major [n x d] float.
void launch_silhouette_dist_tile(const float* x, std::int64_t n, int d, std::int64_t row0, int rows, double* tile,
                                 cudaStream_t stream);
// sums[r][q] = sum over j in [offsets[q], offsets[q+1]) of tile[r][j], fixed-order reduction.
void launch_silhouette_cluster_sums(const double* tile, int rows, std::int64_t n, const std::int64_t* offsets, int k,
                                    double* sums, cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
