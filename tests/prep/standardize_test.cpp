// Standardisation: the first stage proven through every backend. Kernels are checked alone
// against their cpu twins under the emulator (in every thread order), and the stage API is checked
// on cpu, cuda-emu and cuda against a double-precision reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "cuda/buffer.h"
#include "prep/standardize.cuh"
#include "prep/standardize.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/emu.h"

namespace {

hmr::Matrix random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  hmr::Matrix m(rows, cols);
  for (std::int64_t c = 0; c < cols; ++c) {
    const float shift = 10.0f * static_cast<float>(c) - 50.0f, spread = 0.1f + static_cast<float>(c % 7);
    for (std::int64_t r = 0; r < rows; ++r) m(r, c) = shift + spread * g(rng);
  }
  return m;
}

void reference_moments(const hmr::Matrix& x, std::vector<double>& mean, std::vector<double>& scale) {
  mean.assign(static_cast<std::size_t>(x.cols()), 0.0);
  scale.assign(static_cast<std::size_t>(x.cols()), 0.0);
  for (std::int64_t c = 0; c < x.cols(); ++c) {
    long double s = 0;
    for (std::int64_t r = 0; r < x.rows(); ++r) s += x(r, c);
    const long double mu = s / x.rows();
    long double q = 0;
    for (std::int64_t r = 0; r < x.rows(); ++r) q += (x(r, c) - mu) * (x(r, c) - mu);
    mean[static_cast<std::size_t>(c)] = static_cast<double>(mu);
    const double sd = std::sqrt(static_cast<double>(q / x.rows()));
    scale[static_cast<std::size_t>(c)] = sd < 10 * 2.220446049250313e-16 ? 1.0 : sd;
  }
}

class ConfStandardize : public hmr::test::BackendTest {};

TEST_P(ConfStandardize, FitMatchesDoublePrecisionReference) {
  const auto seed = hmr::test::test_seed();
  hmr::Matrix x = random_matrix(5000, 37, seed);
  for (std::int64_t r = 0; r < x.rows(); ++r) x(r, 3) = 4.25f;  // a constant column -> scale 1
  std::vector<double> mean, scale;
  reference_moments(x, mean, scale);
  const auto s = hmr::prep::fit_scaler(backend(), x);
  EXPECT_ALLCLOSE(s.mean, mean, 1e-5, 1e-6);
  EXPECT_ALLCLOSE(s.scale, scale, 1e-6, 1e-6);
  EXPECT_EQ(s.scale[3], 1.0f);
}

TEST_P(ConfStandardize, ApplyMatchesCpuAndGivesZeroMeanUnitVariance) {
  hmr::test::ExpectLaunches launched(
      GetParam() == "cuda-emu", {"col_moment_partial_kernel", "col_moment_finalize_kernel", "scaler_finalize_kernel",
                                 "standardize_apply_kernel"});
  const auto seed = hmr::test::test_seed(99);
  const hmr::Matrix x = random_matrix(1000, 20, seed);
  const auto s = hmr::prep::fit_scaler(backend(), x);
  const hmr::Matrix y = hmr::prep::apply_scaler(backend(), s, x);
  const hmr::Matrix want = hmr::prep::apply_scaler_cpu(hmr::prep::fit_scaler_cpu(x), x);
  EXPECT_ALLCLOSE(std::span<const float>(y.vec()), std::span<const float>(want.vec()), 1e-5, 1e-5);
  for (std::int64_t c = 0; c < y.cols(); ++c) {
    double m = 0, v = 0;
    for (std::int64_t r = 0; r < y.rows(); ++r) m += y(r, c);
    m /= y.rows();
    for (std::int64_t r = 0; r < y.rows(); ++r) v += (y(r, c) - m) * (y(r, c) - m);
    EXPECT_NEAR(m, 0.0, 1e-5);
    EXPECT_NEAR(v / y.rows(), 1.0, 1e-4);
  }
}

TEST_P(ConfStandardize, RejectsNonFiniteAndMismatchedInput) {
  hmr::Matrix x = random_matrix(10, 3, 1);
  x(4, 2) = NAN;
  EXPECT_THROW(hmr::prep::fit_scaler(backend(), x), hmr::Error);
  const auto s = hmr::prep::fit_scaler(backend(), random_matrix(10, 3, 2));
  EXPECT_THROW(hmr::prep::apply_scaler(backend(), s, random_matrix(10, 4, 3)), hmr::Error);
  EXPECT_THROW(hmr::prep::fit_scaler(backend(), hmr::Matrix()), hmr::Error);
}

HMR_INSTANTIATE_BACKENDS(ConfStandardize);

// Kernel-level: each launcher against its cpu twin, in every thread order.
TEST(EmuStandardize, MomentKernelsMatchCpuTwinBitwiseAcrossOrders) {
  hmr::test::ExpectLaunches launched{"col_moment_partial_kernel", "col_moment_finalize_kernel",
                                     "scaler_finalize_kernel"};
  using namespace hmr::cuda_emu;
  const auto seed = hmr::test::test_seed(5);
  const hmr::Matrix x = random_matrix(9000, 45, seed);  // 3 chunks, 2 column tiles (one partial)
  const auto twin = hmr::prep::fit_scaler_cpu(x);
  const auto got = hmr::test::in_all_orders([&] {
    DeviceBuffer<float> dx = to_device(x.data(), x.size(), nullptr);
    const int chunks = kern::standardize_chunks(x.rows());
    DeviceBuffer<double> partial(static_cast<std::size_t>(chunks * x.cols())), mean(45), var(45);
    kern::launch_col_moment_partial(dx.data(), x.rows(), x.cols(), nullptr, 1, partial.data(), nullptr);
    kern::launch_col_moment_finalize(partial.data(), chunks, x.rows(), x.cols(), mean.data(), nullptr);
    kern::launch_col_moment_partial(dx.data(), x.rows(), x.cols(), mean.data(), 2, partial.data(), nullptr);
    kern::launch_col_moment_finalize(partial.data(), chunks, x.rows(), x.cols(), var.data(), nullptr);
    DeviceBuffer<float> mf(45), sf(45);
    kern::launch_scaler_finalize(mean.data(), var.data(), 45, mf.data(), sf.data(), nullptr);
    auto out = mf.to_host(nullptr);
    auto sc = sf.to_host(nullptr);
    out.insert(out.end(), sc.begin(), sc.end());
    return out;
  });
  std::vector<float> want = twin.mean;
  want.insert(want.end(), twin.scale.begin(), twin.scale.end());
  EXPECT_ALLCLOSE(std::span<const float>(got), std::span<const float>(want), 1e-5, 1e-6);
}

TEST(EmuStandardize, ApplyKernelMatchesCpuTwin) {
  hmr::test::ExpectLaunches launched{"standardize_apply_kernel"};
  using namespace hmr::cuda_emu;
  const hmr::Matrix x = random_matrix(777, 13, 3);
  const auto sc = hmr::prep::fit_scaler_cpu(x);
  const hmr::Matrix want = hmr::prep::apply_scaler_cpu(sc, x);
  const auto got = hmr::test::in_all_orders([&] {
    DeviceBuffer<float> dx = to_device(x.data(), x.size(), nullptr);
    DeviceBuffer<float> m = to_device(sc.mean, nullptr), s = to_device(sc.scale, nullptr);
    DeviceBuffer<float> y(x.size());
    kern::launch_standardize_apply(dx.data(), m.data(), s.data(), y.data(), x.rows(), x.cols(), nullptr);
    return y.to_host(nullptr);
  });
  EXPECT_ALLCLOSE(std::span<const float>(got), std::span<const float>(want.vec()), 0.0, 1e-6);
}

}  // namespace
