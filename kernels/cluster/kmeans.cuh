// cluster/kmeans.cuh — launchers for Lloyd's K-Means on the device (sklearn semantics, see
// host/cluster/kmeans.h). Layout: x row-major [n x d] float32, centers [k x d], labels int32.
// The iteration runs without the host: every launcher that takes `status` does nothing once
// status[0] (done) is set, and the finalize step decides convergence on the device, so the host
// enqueues batches of iterations and only reads `status` between batches.
//   status (int32[4]): {done, n_iter, strict, changed-label count of the current iteration}
// All reductions run in a fixed order (per-chunk partials, then chunks in order): results are
// bitwise reproducible; no floating-point atomics.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

enum KMeansStatus { kDone = 0, kIter = 1, kStrict = 2, kChanged = 3, kStatusSize = 4 };

// Row chunks of the partial-sum passes for n rows; psum holds chunks * k * d doubles, pcount
// chunks * k, inertia partials chunks.
int kmeans_chunks(std::int64_t n);

// labels[i] = argmin_j ||x_i - c_j||^2 (ties -> lowest j), dist[i] = that squared distance.
// Centres are staged in shared memory in tiles (never an n x k matrix). dist may be null. With
// status non-null: skipped when done; counts labels that differ from their previous value into
// status[kChanged].
void launch_kmeans_assign(const float* x, std::int64_t n, int d, const float* centers, int k, std::int32_t* labels,
                          float* dist, int* status, cudaStream_t stream);

// Per-chunk sums of the rows of each label: psum[chunk][j][c], pcount[chunk][j].
void launch_kmeans_update_partial(const float* x, std::int64_t n, int d, const std::int32_t* labels, int k,
                                  double* psum, long long* pcount, const int* status, cudaStream_t stream);

// One block: sums the chunks, relocates empty clusters to the points farthest from their old
// centres (dist from the assignment against those centres), replaces `centers` by the means,
// and decides convergence (labels unchanged -> strict; summed squared shift <= tol; n_iter ==
// max_iter). Workspaces: sums [k * d] doubles, counts [k], empty [k] ints.
void launch_kmeans_update_finalize(const double* psum, const long long* pcount, int chunks, const float* x,
                                   std::int64_t n, int d, const std::int32_t* labels, const float* dist, int k,
                                   float* centers, double* sums, long long* counts, int* empty, double tol,
                                   int max_iter, int* status, cudaStream_t stream);

// partial[chunk] = sum over the chunk's rows of ||x_i - c_{labels_i}||^2 (double).
void launch_kmeans_inertia_partial(const float* x, std::int64_t n, int d, const float* centers,
                                   const std::int32_t* labels, double* partial, cudaStream_t stream);
// out[0] = sum of partial[0..count) in a fixed order.
void launch_sum_partials(const double* partial, int count, double* out, cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
