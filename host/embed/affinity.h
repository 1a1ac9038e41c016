// embed/affinity.h — t-SNE input affinities, each step on cpu and cuda:
//   1. exact k nearest neighbours by squared Euclidean distance (self excluded, ties broken by
//      index); cpu: blocked BLAS distances (|a|^2 + |b|^2 - 2ab) + partial selection of k + 8
//      candidates re-ranked by directly computed distances; cuda: tiled direct distances with a
//      per-row top-k list per warp (no N x N matrix anywhere);
//   2. per-point Gaussian precision by bisection to the target perplexity (scikit-learn's
//      _binary_search_perplexity: natural-log entropy, tol 1e-5, <= 100 steps, in double);
//   3. joint P = (P_cond + P_cond^T) / sum, sum = 2N up to rounding, as CSR with sorted columns.
// Layout: Knn rows [n x k] ascending by (d2, index); conditional P [n x k] aligned with Knn.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::embed {

struct Knn {
  std::int64_t n = 0;
  int k = 0;
  std::vector<std::int32_t> idx;  // [n x k]
  std::vector<float> dist2;       // [n x k] squared distances, ascending
};

struct Csr {
  std::int64_t n = 0;
  std::vector<std::int64_t> indptr;   // [n + 1]
  std::vector<std::int32_t> indices;  // [nnz] sorted within each row
  std::vector<float> data;            // [nnz]
  std::int64_t nnz() const { return static_cast<std::int64_t>(indices.size()); }
};

// Dispatching entry points (cpu or cuda by backend).
Knn knn(Backend& backend, ConstMatrixView x, int k);
std::vector<float> conditional_p(Backend& backend, const Knn& nn, double perplexity);
Csr symmetrize(Backend& backend, const Knn& nn, const std::vector<float>& cond_p);

// The cpu twins.
Knn knn_cpu(ConstMatrixView x, int k);
std::vector<float> conditional_p_cpu(const Knn& nn, double perplexity);
Csr symmetrize_cpu(const Knn& nn, const std::vector<float>& cond_p);

// k = min(N - 1, floor(3 * perplexity)) unless requested explicitly (> 0).
int default_neighbours(std::int64_t n, double perplexity, int requested = 0);

// Binary-search tolerance and step limit (scikit-learn's values).
inline constexpr double kPerplexityTol = 1e-5;
inline constexpr int kPerplexitySteps = 100;

}  // namespace hmr::embed
