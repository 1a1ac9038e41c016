// The library wrappers of the cuda backend (host/cuda/{blas,fft,rng}.h) under the emulated build:
// they must keep cuBLAS / cuFFT / cuRAND semantics (column-major, leading dimensions, batch
// strides, unnormalised R2C with n/2+1 outputs) so host code behaves the same on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>

#include "core/philox.h"
#include "cuda/blas.h"
#include "cuda/context.h"
#include "cuda/fft.h"
#include "cuda/rng.h"
#include "cuda/select.h"
#include "support/compare.h"

namespace {
using namespace hmr::cuda_emu;

std::vector<float> randv(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

class EmuWrappers : public ::testing::Test {
 protected:
  void SetUp() override { backend_ = hmr::make_backend("cuda-emu"); }
  Context& ctx() { return context(*backend_); }
  std::unique_ptr<hmr::Backend> backend_;
};

TEST_F(EmuWrappers, RowMajorGemmWithEveryTransposeMatchesNaive) {
  const auto seed = hmr::test::test_seed();
  const int m = 7, n = 5, k = 9;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      // Stored shapes (row-major): A is m x k (or k x m), B is k x n (or n x k); padded rows.
      const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
      const int lda = a_cols + 2, ldb = b_cols + 1, ldc = n + 3;
      const auto A = randv(static_cast<std::size_t>(a_rows * lda), seed);
      const auto B = randv(static_cast<std::size_t>(b_rows * ldb), seed + 1);
      auto C0 = randv(static_cast<std::size_t>(m * ldc), seed + 2);
      auto dA = to_device(A, nullptr), dB = to_device(B, nullptr), dC = to_device(C0, nullptr);
      blas::gemm_rm(ctx(), ta, tb, m, n, k, 1.5f, dA.data(), lda, dB.data(), ldb, 0.5f, dC.data(), ldc);
      const auto got = dC.to_host(nullptr);
      std::vector<double> want(C0.begin(), C0.end());
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
          double s = 0;
          for (int p = 0; p < k; ++p) {
            const double a = ta ? A[p * lda + i] : A[i * lda + p];
            const double b = tb ? B[j * ldb + p] : B[p * ldb + j];
            s += a * b;
          }
          want[i * ldc + j] = 1.5 * s + 0.5 * C0[i * ldc + j];
        }
      EXPECT_ALLCLOSE(got, want, 1e-5, 1e-5) << "trans_a=" << ta << " trans_b=" << tb;
    }
}

TEST_F(EmuWrappers, StridedBatchedGemmIsColumnMajor) {
  const int m = 3, n = 4, k = 2, batch = 3;
  const auto A = randv(m * k * batch, 1), B = randv(k * n * batch, 2);
  auto dA = to_device(A, nullptr), dB = to_device(B, nullptr);
  DeviceBuffer<float> dC(static_cast<std::size_t>(m * n * batch));
  blas::gemm_strided_batched(ctx(), blas::Op::N, blas::Op::N, m, n, k, 1.0f, dA.data(), m, m * k, dB.data(), k, k * n,
                             0.0f, dC.data(), m, m * n, batch);
  const auto got = dC.to_host(nullptr);
  std::vector<double> want(m * n * batch);
  for (int b = 0; b < batch; ++b)
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        double s = 0;
        for (int p = 0; p < k; ++p) s += A[b * m * k + p * m + i] * B[b * k * n + j * k + p];
        want[b * m * n + j * m + i] = s;
      }
  EXPECT_ALLCLOSE(got, want, 1e-6, 1e-6);
}

TEST_F(EmuWrappers, BatchedRealFftMatchesDirectDft) {
  for (int n : {16, 2048}) {
    const int batch = 3, idist = n + 5, odist = n / 2 + 4;
    const auto x = randv(static_cast<std::size_t>(batch * idist), n);
    auto dx = to_device(x, nullptr);
    DeviceBuffer<float2> dy(static_cast<std::size_t>(batch * odist));
    ctx().fft_r2c(n, batch, idist, odist).exec(dx.data(), dy.data());
    EXPECT_EQ(&ctx().fft_r2c(n, batch, idist, odist), &ctx().fft_r2c(n, batch, idist, odist)) << "plan not cached";
    const auto y = dy.to_host(nullptr);
    std::vector<float> got;
    std::vector<double> want;
    for (int b = 0; b < batch; ++b)
      for (int f = 0; f <= n / 2; f += (n > 64 ? 37 : 1)) {
        std::complex<double> s = 0;
        for (int t = 0; t < n; ++t) s += static_cast<double>(x[b * idist + t]) * std::polar(1.0, -2 * M_PI * f * t / n);
        got.push_back(y[b * odist + f].x);
        got.push_back(y[b * odist + f].y);
        want.push_back(s.real());
        want.push_back(s.imag());
      }
    EXPECT_ALLCLOSE(got, want, 2e-4 * std::sqrt(n), 1e-4) << "n=" << n;
  }
}

TEST_F(EmuWrappers, PhiloxStreamsAreReproducibleAndWellDistributed) {
  const std::size_t n = 100001;  // odd: exercises the pairwise Box-Muller tail
  DeviceBuffer<float> a(n), b(n), c(n), u(n);
  rng::normal(ctx(), a.data(), n, 42, 0);
  rng::normal(ctx(), b.data(), n, 42, 0);
  rng::normal(ctx(), c.data(), n, 42, 1000);
  rng::uniform(ctx(), u.data(), n, 7, 0);
  const auto ha = a.to_host(nullptr), hb = b.to_host(nullptr), hc = c.to_host(nullptr), hu = u.to_host(nullptr);
  EXPECT_TRUE(hmr::test::bitwise_equal(ha, hb));
  EXPECT_FALSE(hmr::test::bitwise_equal(ha, hc));
  double mean = 0, var = 0;
  for (float v : ha) mean += v;
  mean /= n;
  for (float v : ha) var += (v - mean) * (v - mean);
  var /= n;
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 1.0, 0.02);
  for (float v : hu) {
    ASSERT_GT(v, 0.0f);
    ASSERT_LE(v, 1.0f);
  }
}

// The emulated uniform stream is core/philox.h's generator (the one the cpu noise uses): draw 4 b + q
// of a stream at offset o is (philox4x32_10(o + b, seed)[q] + 1) 2^-32, bit for bit.
TEST_F(EmuWrappers, PhiloxUniformIsTheSharedGenerator) {
  const std::size_t n = 4 * 1000 + 3;                                                       // ragged last block
  const std::uint64_t seed = 0x1234567890abcdefull, offset = (std::uint64_t(1) << 32) - 5;  // carries into hi word
  DeviceBuffer<float> u(n);
  rng::uniform(ctx(), u.data(), n, seed, offset);
  const auto got = u.to_host(nullptr);
  std::vector<float> want(n);
  for (std::size_t b = 0; b < (n + 3) / 4; ++b) {
    std::uint32_t r[4];
    hmr::philox::philox4x32_10(offset + b, seed, r);
    for (std::size_t q = 0; q < 4 && 4 * b + q < n; ++q)
      want[4 * b + q] = (static_cast<float>(r[q]) + 1.0f) * 2.3283064365386963e-10f;
  }
  EXPECT_TRUE(hmr::test::bitwise_equal(got, want));
}

TEST_F(EmuWrappers, BuffersMove) {
  DeviceBuffer<int> a(8);
  int* raw = a.data();
  DeviceBuffer<int> b(std::move(a));
  EXPECT_EQ(b.data(), raw);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_TRUE(cuemu::is_device_pointer(raw));
}
}  // namespace
