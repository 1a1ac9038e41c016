// cluster/dbscan.cuh — launchers for DBSCAN's eps-neighbourhoods on the device (scikit-learn
// semantics, see host/cluster/dbscan.h). Layout: x row-major [n x d] float32; norms [n] double (row
// L2 norms, cosine only, else null); metric 0 euclidean, 1 manhattan, 2 cosine (DbscanMetric order).
// One thread per row i; the rows j stream through shared memory in tiles, so nothing n x n is ever
// held. Distances are evaluated in double with the rounding of the cpu twin (no contraction), so
// the within-eps decisions are the cpu's.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

// counts[i] = |{ j : dist(x_i, x_j) <= eps }| (the point itself included).
void launch_dbscan_counts(const float* x, std::int64_t n, int d, const double* norms, int metric, double eps,
                          std::int32_t* counts, cudaStream_t stream);

// CSR neighbourhoods: idx[off[i] + t] = the t-th neighbour of i in increasing j; off [n + 1] from an
// exclusive scan of the counts.
void launch_dbscan_neighbours(const float* x, std::int64_t n, int d, const double* norms, int metric, double eps,
                              const std::int64_t* off, std::int32_t* idx, cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
