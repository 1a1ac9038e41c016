// embed/knn.cuh — launchers for t-SNE's input affinities on cuda.
//   knn: exact k nearest neighbours of every row of x [n x d] (row-major, float32) by squared
//        Euclidean distance, self excluded; one warp per query row streams 32-candidate tiles
//        (dimension chunks staged in shared memory) and keeps a sorted top-k list in shared
//        memory, so no n x n matrix exists. Output rows ascend by (d2, index): deterministic.
//   perplexity_search: per-row bisection of the Gaussian precision to the target perplexity
//        (scikit-learn's _binary_search_perplexity, double), p [n x k] rows summing to 1.
//   symmetrisation: COO (i, j, p) + (j, i, p) keys, a stable Thrust sort and reduce-by-key,
//        then CSR offsets by binary search.
#pragma once

#include <cstdint>

#include "gpu/pool.h"

namespace hmr::HMR_CUDA_NS::kern {

inline constexpr int kKnnMaxK = 512;

// idx, d2: [n x k]. Requires 1 <= k <= min(n - 1, kKnnMaxK).
void launch_knn_tiled(const float* x, std::int64_t n, std::int64_t d, int k, std::int32_t* idx, float* d2,
                      cudaStream_t stream);
// d2, p: [n x k]; tol and max_steps as scikit-learn (1e-5, 100).
void launch_perplexity_search(const float* d2, std::int64_t n, int k, double perplexity, double tol, int max_steps,
                              float* p, cudaStream_t stream);

// keys/vals: [2 n k]: keys[e] = i << 32 | j and keys[nk + e] = j << 32 | i with val p[e].
void launch_coo_build(const std::int32_t* idx, const float* p, std::int64_t n, int k, std::uint64_t* keys, float* vals,
                      cudaStream_t stream);
// Stable sort of (keys, vals) by key, then sums of equal keys: returns the number of unique keys
// written to ukeys/uvals (each sized count). Synchronises the stream.
// Thrust's temporaries and the scan positions come from pool (the Context's, ordered on stream).
std::int64_t sort_reduce_pairs(std::uint64_t* keys, float* vals, std::int64_t count, std::uint64_t* ukeys, float* uvals,
                               DevicePool& pool, cudaStream_t stream);
// Sum of v[0..count) in double (Thrust/CUB reduction: fixed order on a given device). Synchronises.
double sum_floats(const float* v, std::int64_t count, DevicePool& pool, cudaStream_t stream);
// CSR from sorted unique keys: indptr [n + 1] by binary search, indices = low 32 bits,
// data = uvals * scale.
void launch_csr_finalize(const std::uint64_t* ukeys, const float* uvals, std::int64_t u, std::int64_t n, float scale,
                         std::int64_t* indptr, std::int32_t* indices, float* data, cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
