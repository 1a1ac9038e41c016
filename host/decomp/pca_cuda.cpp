// decomp/pca_cuda.cpp — PCA on the cuda backend. Column moments reuse the standardisation
// kernels (fixed-order double sums); products go through cuBLAS; eigenproblems through cuSOLVER
// syevd (eigh_cuda.h). Exact: float Gram/covariance on the smaller side, solved in double.
// Randomized: subspace iteration with Cholesky-QR2 re-orthonormalisation (two passes of
// Y <- Y V diag(w)^-1/2 from the double Gram Y^T Y), then the small B = Q^T Xc as in the cpu path.
#include <cmath>

#include "core/error.h"
#include "cuda/blas.h"
#include "cuda/context.h"
#include "decomp/eigh_cuda.h"
#include "decomp/pca.cuh"
#include "decomp/pca_cuda.h"
#include "decomp/pca_detail.h"
#include "prep/standardize.cuh"

namespace hmr::HMR_CUDA_NS {

namespace {

// Top-k eigenpairs (descending) of the symmetric m x m double matrix g (destroyed):
// out [k x m] row-major float vectors, vals [k].
void top_eigen(Context& ctx, int m, int k, PooledBuffer<double>& g, PooledBuffer<float>& out,
               PooledBuffer<double>& vals) {
  auto w = ctx.scratch<double>(static_cast<std::size_t>(m));
  solver::syevd(ctx, m, g.data(), w.data());
  out = ctx.scratch<float>(static_cast<std::size_t>(k) * static_cast<std::size_t>(m));
  vals = ctx.scratch<double>(static_cast<std::size_t>(k));
  kern::launch_take_top_eigen(g.data(), w.data(), m, k, out.data(), vals.data(), ctx.stream());
}

// Orthonormalise the columns of the row-major [rows x l] matrix y in place (Cholesky-QR2).
void orthonormalize(Context& ctx, PooledBuffer<float>& y, std::int64_t rows, int l, PooledBuffer<float>& tmp) {
  cudaStream_t s = ctx.stream();
  const auto ll = static_cast<std::size_t>(l) * static_cast<std::size_t>(l);
  auto g = ctx.scratch<double>(ll), w = ctx.scratch<double>(static_cast<std::size_t>(l));
  auto W = ctx.scratch<float>(ll);
  if (tmp.size() != y.size()) tmp = ctx.scratch<float>(y.size());
  for (int pass = 0; pass < 2; ++pass) {
    kern::launch_gram_double(y.data(), rows, l, l, 1, g.data(), s);
    solver::syevd(ctx, l, g.data(), w.data());
    kern::launch_cholqr_weights(g.data(), w.data(), l, W.data(), s);
    blas::gemm_rm(ctx, false, false, static_cast<int>(rows), l, l, 1.0f, y.data(), l, W.data(), l, 0.0f, tmp.data(), l);
    std::swap(y, tmp);
  }
}

// A contiguous host matrix in a pooled temporary (row-major, rows x cols floats).
PooledBuffer<float> upload_matrix(Context& ctx, hmr::ConstMatrixView m, const char* what) {
  HMR_ASSERT(m.ld == m.cols, "{} (cuda) expects a contiguous matrix", what);
  return ctx.to_scratch(m.data, static_cast<std::size_t>(m.rows * m.cols));
}

}  // namespace

decomp::detail::PcaCore pca_core(hmr::Backend& b, hmr::ConstMatrixView x, int k, decomp::PcaSolver solver,
                                 int power_iters, const hmr::Matrix& omega) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const std::int64_t n = x.rows, d = x.cols;
  const int ni = static_cast<int>(n), di = static_cast<int>(d);
  auto dx = upload_matrix(ctx, x, "pca");
  const int chunks = kern::standardize_chunks(n);
  auto partial = ctx.scratch<double>(static_cast<std::size_t>(chunks) * static_cast<std::size_t>(d));
  auto mean = ctx.scratch<double>(static_cast<std::size_t>(d)), var = ctx.scratch<double>(static_cast<std::size_t>(d));
  kern::launch_col_moment_partial(dx.data(), n, d, nullptr, 1, partial.data(), s);
  kern::launch_col_moment_finalize(partial.data(), chunks, n, d, mean.data(), s);
  kern::launch_col_moment_partial(dx.data(), n, d, mean.data(), 2, partial.data(), s);
  kern::launch_col_moment_finalize(partial.data(), chunks, n, d, var.data(), s);
  kern::launch_center_columns(dx.data(), n, d, mean.data(), dx.data(), s);  // dx is Xc from here on

  decomp::detail::PcaCore out;
  const auto hmean = mean.to_host(s);
  const auto hvar = var.to_host(s);
  out.mean.resize(hmean.size());
  for (std::size_t c = 0; c < hmean.size(); ++c) {
    out.mean[c] = static_cast<float>(hmean[c]);
    out.total_variance += hvar[c] * static_cast<double>(n) / static_cast<double>(n - 1);  // ddof 1
  }

  PooledBuffer<float> comps;
  PooledBuffer<double> vals;
  if (solver == decomp::PcaSolver::exact) {
    const bool cov = d <= n;
    const int m = cov ? di : ni;
    auto gf = ctx.scratch<float>(static_cast<std::size_t>(m) * static_cast<std::size_t>(m));
    if (cov)  // Xc^T Xc [d x d]
      blas::gemm_rm(ctx, true, false, di, di, ni, 1.0f, dx.data(), di, dx.data(), di, 0.0f, gf.data(), di);
    else  // Xc Xc^T [n x n]
      blas::gemm_rm(ctx, false, true, ni, ni, di, 1.0f, dx.data(), di, dx.data(), di, 0.0f, gf.data(), ni);
    auto g = ctx.scratch<double>(gf.size());
    kern::launch_float_to_double(gf.data(), static_cast<std::int64_t>(gf.size()), g.data(), s);
    gf.reset();
    PooledBuffer<float> vecs;
    top_eigen(ctx, m, k, g, vecs, vals);
    if (cov) {
      comps = std::move(vecs);
    } else {
      comps = ctx.scratch<float>(static_cast<std::size_t>(k) * static_cast<std::size_t>(d));
      blas::gemm_rm(ctx, false, false, k, di, ni, 1.0f, vecs.data(), ni, dx.data(), di, 0.0f, comps.data(), di);
      kern::launch_scale_rows_inv_sqrt(comps.data(), k, d, vals.data(), s);
    }
  } else {
    const int l = static_cast<int>(omega.cols());
    HMR_ASSERT(omega.rows() == d, "pca (cuda): test matrix has {} rows for {} features", omega.rows(), d);
    auto om = ctx.to_scratch(omega.data(), omega.size());
    auto y = ctx.scratch<float>(static_cast<std::size_t>(n) * static_cast<std::size_t>(l));
    auto z = ctx.scratch<float>(static_cast<std::size_t>(d) * static_cast<std::size_t>(l));
    PooledBuffer<float> tmp;
    blas::gemm_rm(ctx, false, false, ni, l, di, 1.0f, dx.data(), di, om.data(), l, 0.0f, y.data(), l);
    for (int it = 0; it < power_iters; ++it) {
      orthonormalize(ctx, y, n, l, tmp);
      blas::gemm_rm(ctx, true, false, di, l, ni, 1.0f, dx.data(), di, y.data(), l, 0.0f, z.data(), l);
      orthonormalize(ctx, z, d, l, tmp);
      blas::gemm_rm(ctx, false, false, ni, l, di, 1.0f, dx.data(), di, z.data(), l, 0.0f, y.data(), l);
    }
    orthonormalize(ctx, y, n, l, tmp);
    auto bm = ctx.scratch<float>(static_cast<std::size_t>(l) * static_cast<std::size_t>(d));
    blas::gemm_rm(ctx, true, false, l, di, ni, 1.0f, y.data(), l, dx.data(), di, 0.0f, bm.data(), di);
    auto g = ctx.scratch<double>(static_cast<std::size_t>(l) * static_cast<std::size_t>(l));
    kern::launch_gram_double(bm.data(), d, l, 1, d, g.data(), s);  // B B^T
    PooledBuffer<float> uh;
    top_eigen(ctx, l, k, g, uh, vals);
    comps = ctx.scratch<float>(static_cast<std::size_t>(k) * static_cast<std::size_t>(d));
    blas::gemm_rm(ctx, false, false, k, di, l, 1.0f, uh.data(), l, bm.data(), di, 0.0f, comps.data(), di);
    kern::launch_scale_rows_inv_sqrt(comps.data(), k, d, vals.data(), s);
  }
  out.components = hmr::Matrix(k, d, comps.to_host(s));
  const auto hv = vals.to_host(s);
  for (double v : hv) out.singular.push_back(std::sqrt(v));
  return out;
}

hmr::Matrix pca_transform(hmr::Backend& b, const decomp::Pca& p, hmr::ConstMatrixView x) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const std::int64_t n = x.rows, d = x.cols, k = p.components.rows();
  auto dx = upload_matrix(ctx, x, "pca transform");
  std::vector<double> mean(p.mean.begin(), p.mean.end());
  auto dm = ctx.to_scratch(mean);
  kern::launch_center_columns(dx.data(), n, d, dm.data(), dx.data(), s);
  auto dc = ctx.to_scratch(p.components.vec());
  auto z = ctx.scratch<float>(static_cast<std::size_t>(n * k));
  blas::gemm_rm(ctx, false, true, static_cast<int>(n), static_cast<int>(k), static_cast<int>(d), 1.0f, dx.data(),
                static_cast<int>(d), dc.data(), static_cast<int>(d), 0.0f, z.data(), static_cast<int>(k));
  return hmr::Matrix(n, k, z.to_host(s));
}

hmr::Matrix pca_inverse_transform(hmr::Backend& b, const decomp::Pca& p, hmr::ConstMatrixView z) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const std::int64_t n = z.rows, k = z.cols, d = p.components.cols();
  auto dz = upload_matrix(ctx, z, "pca inverse_transform");
  auto dc = ctx.to_scratch(p.components.vec()), dm = ctx.to_scratch(p.mean);
  auto x = ctx.scratch<float>(static_cast<std::size_t>(n * d));
  kern::launch_fill_rows(dm.data(), n, d, x.data(), s);
  blas::gemm_rm(ctx, false, false, static_cast<int>(n), static_cast<int>(d), static_cast<int>(k), 1.0f, dz.data(),
                static_cast<int>(k), dc.data(), static_cast<int>(d), 1.0f, x.data(), static_cast<int>(d));
  return hmr::Matrix(n, d, x.to_host(s));
}

}  // namespace hmr::HMR_CUDA_NS
