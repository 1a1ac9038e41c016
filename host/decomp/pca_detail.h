// decomp/pca_detail.h — internal pieces of PCA shared by the cpu path, the cuda path and the
// tests: the solver choice, the Gaussian test matrix of the randomized solver (made on the host so
// both backends use the same one) and svd_flip.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"
#include "decomp/pca.h"

namespace hmr::decomp::detail {

// Power iterations as sklearn's randomized_svd with n_iter='auto'.
int auto_power_iterations(std::int64_t n, std::int64_t d, int k);
// sklearn PCA's svd_solver='auto' rule (exact or randomized).
PcaSolver resolve_solver(PcaSolver s, std::int64_t n, std::int64_t d, int k);
// Standard normal test matrix [rows x cols] (row-major) from a counter-based Box-Muller stream.
Matrix gaussian_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed);
// svd_flip(u_based_decision=False): each row's largest-|.| entry (first of equals) made positive.
void svd_flip_rows(Matrix& components);

// What a backend computes: the top-k right singular vectors (rows, descending order, any sign)
// and singular values of the centred data, plus the column means and the total variance.
struct PcaCore {
  Matrix components;             // [k x d]
  std::vector<double> singular;  // [k]
  std::vector<float> mean;       // [d]
  double total_variance = 0.0;   // sum of column variances, ddof 1
};

PcaCore pca_core_cpu(ConstMatrixView x, int k, PcaSolver solver, int power_iters, const Matrix& omega);

}  // namespace hmr::decomp::detail
