// decomp/pca.cpp — PCA on the cpu backend and the dispatch shared with cuda.
// Exact: the smaller of the covariance Xc^T Xc [d x d] and the Gram matrix Xc Xc^T [n x n] is
// formed in double (dsyrk) and its top-k eigenpairs found with LAPACK dsyevr; the eigenvalues are
// the squared singular values, and on the Gram side V = Xc^T U / s.
// Randomized: Halko, Martinsson & Tropp (2011), Alg. 4.4 (randomized subspace iteration) with a
// Householder QR after every product, then the SVD of the small B = Q^T Xc through the eigen-
// decomposition of B B^T [l x l] in double. sklearn: decomposition/_pca.py, utils/extmath.py.
#include "decomp/pca.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "core/nvtx.h"
#include "decomp/pca_cuda.h"
#include "decomp/pca_detail.h"
#include "prep/column_stats.h"

namespace hmr::decomp {

PcaSolver parse_pca_solver(const std::string& s) {
  if (s == "auto") return PcaSolver::automatic;
  if (s == "full" || s == "exact" || s == "covariance_eigh") return PcaSolver::exact;
  if (s == "randomized") return PcaSolver::randomized;
  input_error("pca: unknown solver '{}' (expected auto, full or randomized)", s);
}

const char* to_string(PcaSolver s) {
  switch (s) {
    case PcaSolver::automatic:
      return "auto";
    case PcaSolver::exact:
      return "full";
    case PcaSolver::randomized:
      return "randomized";
  }
  return "?";
}

namespace detail {

int auto_power_iterations(std::int64_t n, std::int64_t d, int k) {
  return static_cast<double>(k) < 0.1 * static_cast<double>(std::min(n, d)) ? 7 : 4;
}

PcaSolver resolve_solver(PcaSolver s, std::int64_t n, std::int64_t d, int k) {
  if (s != PcaSolver::automatic) return s;
  const auto lo = std::min(n, d), hi = std::max(n, d);
  return hi > 500 && static_cast<double>(k) < 0.8 * static_cast<double>(lo) ? PcaSolver::randomized : PcaSolver::exact;
}

Matrix gaussian_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  // splitmix64 per element index (counter-based: no state, same values whatever the order) and
  // Box-Muller on pairs.
  auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  Matrix m(rows, cols);
  const std::size_t total = m.size();
  for (std::size_t i = 0; i < total; i += 2) {
    const std::uint64_t a = mix(seed * 0x100000001b3ULL + i), b = mix(a ^ 0x5851f42d4c957f2dULL);
    const double u1 = (static_cast<double>(a >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(b >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1)), t = 2.0 * std::numbers::pi * u2;
    m.data()[i] = static_cast<float>(r * std::cos(t));
    if (i + 1 < total) m.data()[i + 1] = static_cast<float>(r * std::sin(t));
  }
  return m;
}

void svd_flip_rows(Matrix& v) {
  for (std::int64_t i = 0; i < v.rows(); ++i) {
    std::int64_t arg = 0;
    for (std::int64_t c = 1; c < v.cols(); ++c)
      if (std::fabs(v(i, c)) > std::fabs(v(i, arg))) arg = c;
    if (v(i, arg) < 0.0f)
      for (std::int64_t c = 0; c < v.cols(); ++c) v(i, c) = -v(i, c);
  }
}

namespace {

// Top-k eigenpairs (descending) of the symmetric m x m matrix a (row-major = column-major).
void top_eigen(std::vector<double>& a, int m, int k, std::vector<double>& vals, std::vector<double>& vecs) {
  std::vector<double> w(static_cast<std::size_t>(m)), z(static_cast<std::size_t>(m) * static_cast<std::size_t>(k));
  std::vector<lapack_int> support(2 * static_cast<std::size_t>(k));
  lapack_int found = 0;
  const lapack_int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'I', 'U', m, a.data(), m, 0.0, 0.0, m - k + 1, m, 0.0,
                                         &found, w.data(), z.data(), m, support.data());
  if (info != 0 || found != k)
    runtime_error("pca: LAPACK dsyevr failed (info {}, {} of {} eigenpairs)", info, found, k);
  vals.resize(static_cast<std::size_t>(k));
  vecs.resize(static_cast<std::size_t>(k) * static_cast<std::size_t>(m));
  for (int i = 0; i < k; ++i) {  // ascending -> descending; vecs row i = eigenvector i
    const int src = k - 1 - i;
    vals[static_cast<std::size_t>(i)] = std::max(0.0, w[static_cast<std::size_t>(src)]);
    std::copy_n(z.data() + static_cast<std::size_t>(src) * static_cast<std::size_t>(m), m,
                vecs.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(m));
  }
}

// In-place thin QR of a row-major [rows x cols] float matrix: q <- Q.
void orthonormalize(Matrix& q) {
  const auto rows = static_cast<lapack_int>(q.rows()), cols = static_cast<lapack_int>(q.cols());
  std::vector<float> tau(static_cast<std::size_t>(std::min(rows, cols)));
  lapack_int info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, rows, cols, q.data(), cols, tau.data());
  if (info == 0) info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, rows, cols, cols, q.data(), cols, tau.data());
  if (info != 0) runtime_error("pca: LAPACK QR failed (info {})", info);
}

}  // namespace

PcaCore pca_core_cpu(ConstMatrixView x, int k, PcaSolver solver, int power_iters, const Matrix& omega) {
  const std::int64_t n = x.rows, d = x.cols;
  PcaCore out;
  const prep::ColumnStats stats = prep::column_stats_cpu(x);
  const std::vector<double>& mean = stats.mean;
  std::vector<double> var(static_cast<std::size_t>(d));  // sample variance (ddof 1), as sklearn's PCA
  for (std::size_t c = 0; c < var.size(); ++c) var[c] = stats.m2[c] / static_cast<double>(n - 1);
  out.mean.resize(static_cast<std::size_t>(d));
  for (std::size_t c = 0; c < out.mean.size(); ++c) {
    out.mean[c] = static_cast<float>(mean[c]);
    out.total_variance += var[c];
  }
  out.components = Matrix(k, d);
  out.singular.resize(static_cast<std::size_t>(k));

  if (solver == PcaSolver::exact) {
    std::vector<double> xc(static_cast<std::size_t>(n) * static_cast<std::size_t>(d));
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < n; ++r)
      for (std::int64_t c = 0; c < d; ++c)
        xc[static_cast<std::size_t>(r * d + c)] = static_cast<double>(x(r, c)) - mean[static_cast<std::size_t>(c)];
    const bool cov = d <= n;
    const int m = static_cast<int>(cov ? d : n);
    std::vector<double> g(static_cast<std::size_t>(m) * static_cast<std::size_t>(m), 0.0);
    // Row-major Xc is column-major Xc^T [d x n]: cov = Xc^T Xc is syrk 'N' on it, Gram is 'T'.
    cblas_dsyrk(CblasColMajor, CblasUpper, cov ? CblasNoTrans : CblasTrans, m, static_cast<int>(cov ? n : d), 1.0,
                xc.data(), static_cast<int>(d), 0.0, g.data(), m);
    std::vector<double> vals, vecs;
    top_eigen(g, m, k, vals, vecs);
    for (int i = 0; i < k; ++i)
      out.singular[static_cast<std::size_t>(i)] = std::sqrt(vals[static_cast<std::size_t>(i)]);
    if (cov) {
      for (int i = 0; i < k; ++i)
        for (std::int64_t c = 0; c < d; ++c)
          out.components(i, c) =
              static_cast<float>(vecs[static_cast<std::size_t>(i) * static_cast<std::size_t>(d) + c]);
    } else {
      // V^T = U^T Xc / s  ([k x n] [n x d]).
      std::vector<double> vt(static_cast<std::size_t>(k) * static_cast<std::size_t>(d));
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, static_cast<int>(d), static_cast<int>(n), 1.0,
                  vecs.data(), static_cast<int>(n), xc.data(), static_cast<int>(d), 0.0, vt.data(),
                  static_cast<int>(d));
      for (int i = 0; i < k; ++i) {
        const double s = out.singular[static_cast<std::size_t>(i)];
        const double inv = s > 0.0 ? 1.0 / s : 0.0;
        for (std::int64_t c = 0; c < d; ++c)
          out.components(i, c) =
              static_cast<float>(vt[static_cast<std::size_t>(i) * static_cast<std::size_t>(d) + c] * inv);
      }
    }
    return out;
  }

  // Randomized subspace iteration on the centred float data.
  Matrix xc(n, d);
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < d; ++c) xc(r, c) = x(r, c) - out.mean[static_cast<std::size_t>(c)];
  const int l = static_cast<int>(omega.cols());
  const int ni = static_cast<int>(n), di = static_cast<int>(d);
  Matrix y(n, l), z(d, l);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, l, di, 1.0f, xc.data(), di, omega.data(), l, 0.0f,
              y.data(), l);
  for (int it = 0; it < power_iters; ++it) {
    orthonormalize(y);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, di, l, ni, 1.0f, xc.data(), di, y.data(), l, 0.0f, z.data(),
                l);
    orthonormalize(z);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, l, di, 1.0f, xc.data(), di, z.data(), l, 0.0f, y.data(),
                l);
  }
  orthonormalize(y);
  // B = Q^T Xc [l x d]; B B^T = Uh S^2 Uh^T; V^T = Uh^T B / S.
  std::vector<double> b(static_cast<std::size_t>(l) * static_cast<std::size_t>(d));
  {
    Matrix bf(l, d);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l, di, ni, 1.0f, y.data(), l, xc.data(), di, 0.0f, bf.data(),
                di);
    std::copy(bf.vec().begin(), bf.vec().end(), b.begin());
  }
  std::vector<double> g(static_cast<std::size_t>(l) * static_cast<std::size_t>(l), 0.0);
  cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, l, di, 1.0, b.data(), di, 0.0, g.data(), l);
  std::vector<double> vals, vecs;
  top_eigen(g, l, k, vals, vecs);
  std::vector<double> vt(static_cast<std::size_t>(k) * static_cast<std::size_t>(d));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, di, l, 1.0, vecs.data(), l, b.data(), di, 0.0, vt.data(),
              di);
  for (int i = 0; i < k; ++i) {
    const double s = std::sqrt(vals[static_cast<std::size_t>(i)]);
    out.singular[static_cast<std::size_t>(i)] = s;
    const double inv = s > 0.0 ? 1.0 / s : 0.0;
    for (std::int64_t c = 0; c < d; ++c)
      out.components(i, c) =
          static_cast<float>(vt[static_cast<std::size_t>(i) * static_cast<std::size_t>(d) + c] * inv);
  }
  return out;
}

}  // namespace detail

namespace {
void check_x(ConstMatrixView x, const char* what) {
  HMR_REQUIRE(x.rows > 0 && x.cols > 0, "{}: empty input ({} x {})", what, x.rows, x.cols);
  std::int64_t r = 0, c = 0;
  HMR_REQUIRE(all_finite(x, &r, &c), "{}: input contains NaN or infinity at row {}, column {}", what, r, c);
}
}  // namespace

Pca fit_pca(Backend& backend, ConstMatrixView x, int n_components, const PcaOptions& opt) {
  NvtxRange range("pca/fit");
  check_x(x, "pca");
  const std::int64_t n = x.rows, d = x.cols;
  HMR_REQUIRE(n >= 2, "pca: {} sample(s); at least 2 are needed for a variance", n);
  HMR_REQUIRE(n_components >= 1 && n_components <= std::min(n, d),
              "pca: n_components={} must be between 1 and min(n_samples, n_features)={}", n_components, std::min(n, d));
  const PcaSolver solver = detail::resolve_solver(opt.solver, n, d, n_components);
  int iters = 0;
  Matrix omega;
  if (solver == PcaSolver::randomized) {
    HMR_REQUIRE(opt.n_oversamples >= 0, "pca: n_oversamples={} must be >= 0", opt.n_oversamples);
    iters = opt.n_iter >= 0 ? opt.n_iter : detail::auto_power_iterations(n, d, n_components);
    const int l = static_cast<int>(std::min<std::int64_t>(n_components + opt.n_oversamples, std::min(n, d)));
    omega = detail::gaussian_matrix(d, l, opt.seed);
  }
  detail::PcaCore core = backend.is_cuda()
                             ? HMR_CUDA_CALL(backend, pca_core(backend, x, n_components, solver, iters, omega))
                             : detail::pca_core_cpu(x, n_components, solver, iters, omega);
  Pca p;
  p.components = std::move(core.components);
  detail::svd_flip_rows(p.components);
  p.mean = std::move(core.mean);
  p.singular_values = core.singular;
  p.total_variance = core.total_variance;
  p.n_samples = n;
  p.solver_used = solver;
  for (double s : core.singular) {
    const double ev = s * s / static_cast<double>(n - 1);
    p.explained_variance.push_back(ev);
    p.explained_variance_ratio.push_back(core.total_variance > 0.0 ? ev / core.total_variance : 0.0);
  }
  return p;
}

Matrix transform(Backend& backend, const Pca& pca, ConstMatrixView x) {
  NvtxRange range("pca/transform");
  check_x(x, "pca transform");
  HMR_REQUIRE(x.cols == pca.components.cols(), "pca transform: the model has {} features, the data {}",
              pca.components.cols(), x.cols);
  if (backend.is_cuda()) return HMR_CUDA_CALL(backend, pca_transform(backend, pca, x));
  const std::int64_t n = x.rows, d = x.cols, k = pca.components.rows();
  Matrix xc(n, d);
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < d; ++c) xc(r, c) = x(r, c) - pca.mean[static_cast<std::size_t>(c)];
  Matrix z(n, k);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(k), static_cast<int>(d),
              1.0f, xc.data(), static_cast<int>(d), pca.components.data(), static_cast<int>(d), 0.0f, z.data(),
              static_cast<int>(k));
  return z;
}

Matrix inverse_transform(Backend& backend, const Pca& pca, ConstMatrixView z) {
  NvtxRange range("pca/inverse_transform");
  check_x(z, "pca inverse_transform");
  HMR_REQUIRE(z.cols == pca.components.rows(), "pca inverse_transform: the model has {} components, the data {}",
              pca.components.rows(), z.cols);
  if (backend.is_cuda()) return HMR_CUDA_CALL(backend, pca_inverse_transform(backend, pca, z));
  const std::int64_t n = z.rows, k = z.cols, d = pca.components.cols();
  Matrix x(n, d);
  for (std::int64_t r = 0; r < n; ++r) std::copy(pca.mean.begin(), pca.mean.end(), x.row(r));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(d), static_cast<int>(k),
              1.0f, z.data, static_cast<int>(z.ld), pca.components.data(), static_cast<int>(d), 1.0f, x.data(),
              static_cast<int>(d));
  return x;
}

Matrix fit_transform(Backend& backend, ConstMatrixView x, int n_components, Pca* out, const PcaOptions& opt) {
  Pca p = fit_pca(backend, x, n_components, opt);
  Matrix z = transform(backend, p, x);
  if (out) *out = std::move(p);
  return z;
}

}  // namespace hmr::decomp
