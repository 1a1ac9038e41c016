// prep/standardize_cuda.cpp — the cuda backend's standardisation: upload, two deterministic
// moment passes, scale, download.
#include "prep/standardize_cuda.h"
#include "core/error.h"
#include "cuda/context.h"
#include "prep/standardize.cuh"
#include "prep/standardize.h"

namespace hmr::HMR_CUDA_NS {

prep::Scaler fit_scaler(hmr::Backend& b, hmr::ConstMatrixView x) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const std::int64_t n = x.rows, d = x.cols;
  HMR_ASSERT(x.ld == d, "fit_scaler expects a contiguous matrix");
  auto dx = ctx.to_scratch(x.data, static_cast<std::size_t>(n * d));
  const int chunks = kern::standardize_chunks(n);
  auto partial = ctx.scratch<double>(static_cast<std::size_t>(chunks * d));
  auto mean = ctx.scratch<double>(static_cast<std::size_t>(d)), var = ctx.scratch<double>(static_cast<std::size_t>(d));
  kern::launch_col_moment_partial(dx.data(), n, d, nullptr, 1, partial.data(), s);
  kern::launch_col_moment_finalize(partial.data(), chunks, n, d, mean.data(), s);
  kern::launch_col_moment_partial(dx.data(), n, d, mean.data(), 2, partial.data(), s);
  kern::launch_col_moment_finalize(partial.data(), chunks, n, d, var.data(), s);
  auto mean_f = ctx.scratch<float>(static_cast<std::size_t>(d)),
       scale_f = ctx.scratch<float>(static_cast<std::size_t>(d));
  kern::launch_scaler_finalize(mean.data(), var.data(), d, mean_f.data(), scale_f.data(), s);
  prep::Scaler out;
  out.mean = mean_f.to_host(s);
  out.scale = scale_f.to_host(s);
  return out;
}

hmr::Matrix apply_scaler(hmr::Backend& b, const prep::Scaler& sc, hmr::ConstMatrixView x) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  HMR_ASSERT(x.ld == x.cols, "apply_scaler expects a contiguous matrix");
  auto dx = ctx.to_scratch(x.data, static_cast<std::size_t>(x.rows * x.cols));
  auto mean = ctx.to_scratch(sc.mean), scale = ctx.to_scratch(sc.scale);
  kern::launch_standardize_apply(dx.data(), mean.data(), scale.data(), dx.data(), x.rows, x.cols, s);
  hmr::Matrix y(x.rows, x.cols);
  dx.download(y.data(), y.size(), s);
  ctx.sync();
  return y;
}

}  // namespace hmr::HMR_CUDA_NS
