// prep/standardize.cpp — cpu backend and dispatch for StandardScaler-style standardisation.
#include "prep/standardize.h"

#include <cfloat>
#include <cmath>

#include "core/error.h"
#include "core/nvtx.h"
#include "prep/column_stats.h"
#include "prep/standardize_cuda.h"

namespace hmr::prep {

namespace {
void check_input(ConstMatrixView x) {
  HMR_REQUIRE(x.rows > 0 && x.cols > 0, "standardise: empty input ({} x {})", x.rows, x.cols);
  std::int64_t r = 0, c = 0;
  HMR_REQUIRE(all_finite(x, &r, &c), "standardise: non-finite value at row {}, column {}", r, c);
}
}  // namespace

Scaler fit_scaler_cpu(ConstMatrixView x) {
  const std::int64_t n = x.rows, d = x.cols;
  // Population variance (ddof 0), as StandardScaler.
  const ColumnStats st = column_stats_cpu(x);
  Scaler out;
  out.mean.resize(static_cast<std::size_t>(d));
  out.scale.resize(static_cast<std::size_t>(d));
  for (std::size_t c = 0; c < static_cast<std::size_t>(d); ++c) {
    const double s = std::sqrt(st.m2[c] / static_cast<double>(n));
    out.mean[c] = static_cast<float>(st.mean[c]);
    out.scale[c] = s < 10.0 * DBL_EPSILON ? 1.0f : static_cast<float>(s);
  }
  return out;
}

Matrix apply_scaler_cpu(const Scaler& s, ConstMatrixView x) {
  Matrix y(x.rows, x.cols);
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < x.rows; ++r)
    for (std::int64_t c = 0; c < x.cols; ++c)
      y(r, c) = (x(r, c) - s.mean[static_cast<std::size_t>(c)]) / s.scale[static_cast<std::size_t>(c)];
  return y;
}

Scaler fit_scaler(Backend& b, ConstMatrixView x) {
  NvtxRange range("standardize/fit");
  check_input(x);
  if (!b.is_cuda()) return fit_scaler_cpu(x);
  return HMR_CUDA_CALL(b, fit_scaler(b, x));
}

Matrix apply_scaler(Backend& b, const Scaler& s, ConstMatrixView x) {
  NvtxRange range("standardize/apply");
  check_input(x);
  HMR_REQUIRE(static_cast<std::int64_t>(s.mean.size()) == x.cols,
              "standardise: the scaler was fitted on {} columns, the data has {}", s.mean.size(), x.cols);
  if (!b.is_cuda()) return apply_scaler_cpu(s, x);
  return HMR_CUDA_CALL(b, apply_scaler(b, s, x));
}

Matrix inverse_scaler(const Scaler& s, ConstMatrixView z) {
  Matrix x(z.rows, z.cols);
  for (std::int64_t r = 0; r < z.rows; ++r)
    for (std::int64_t c = 0; c < z.cols; ++c)
      x(r, c) = z(r, c) * s.scale[static_cast<std::size_t>(c)] + s.mean[static_cast<std::size_t>(c)];
  return x;
}

}  // namespace hmr::prep
