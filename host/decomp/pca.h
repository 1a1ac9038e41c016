// decomp/pca.h — principal component analysis with scikit-learn's semantics (sklearn PCA):
// x is centred by its column means; components are the top right singular vectors of the centred
// matrix, signs fixed by svd_flip(u_based_decision=False) (the largest-|.| entry of each
// component is positive); explained_variance = s^2 / (n - 1); explained_variance_ratio divides by
// the total variance (ddof 1) of all columns.
// Solvers: exact (eigen-decomposition of the smaller of the covariance X^T X [d x d] and the Gram
// matrix X X^T [n x n], in double, via LAPACK syevd / cuSOLVER syevd) and randomized (Halko,
// Martinsson & Tropp 2011, as sklearn's randomized_svd: n_oversamples 10, power iterations 7 when
// k < 0.1 min(n, d) else 4, re-orthonormalised every step). `auto` picks as sklearn does:
// randomized when max(n, d) > 500 and k < 0.8 min(n, d), else exact.
// Data: x row-major [n x d] float32; components [k x d]; transform output [n x k].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::decomp {

enum class PcaSolver { automatic, exact, randomized };
PcaSolver parse_pca_solver(const std::string& s);  // "auto" | "full"/"exact" | "randomized"
const char* to_string(PcaSolver s);

struct PcaOptions {
  PcaSolver solver = PcaSolver::automatic;
  int n_oversamples = 10;
  int n_iter = -1;  // power iterations for randomized; -1 = sklearn's auto (7 or 4)
  std::uint64_t seed = 0;
};

struct Pca {
  Matrix components;                             // [k x d], rows unit-norm, svd_flip signs
  std::vector<float> mean;                       // [d]
  std::vector<double> explained_variance;        // [k]
  std::vector<double> explained_variance_ratio;  // [k]
  std::vector<double> singular_values;           // [k]
  double total_variance = 0.0;                   // sum of column variances (ddof 1)
  std::int64_t n_samples = 0;
  PcaSolver solver_used = PcaSolver::exact;
};

// Throws Error(input) for empty / non-finite x, n < 2, or n_components outside [1, min(n, d)].
Pca fit_pca(Backend& backend, ConstMatrixView x, int n_components, const PcaOptions& opt = {});
// (x - mean) @ components^T -> [n x k]
Matrix transform(Backend& backend, const Pca& pca, ConstMatrixView x);
// z @ components + mean -> [n x d]
Matrix inverse_transform(Backend& backend, const Pca& pca, ConstMatrixView z);
// fit then transform the same data.
Matrix fit_transform(Backend& backend, ConstMatrixView x, int n_components, Pca* out, const PcaOptions& opt = {});

}  // namespace hmr::decomp
