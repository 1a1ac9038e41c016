// bench/kernels/decomp_kernels.cpp — PCA helper kernels (kernels/decomp/pca.cuh) beside plain CPU
// loops that state what they compute: column centring of [n x 64] and the fixed-order double Gram
// product of a thin [n x 16] matrix (the randomized solver's Y^T Y).
#include "decomp/pca.cuh"
#include "harness.h"

namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;

// ---- adapter: the only lines that name launchers ------------------------------------------------
void center(const Buf<float>& x, std::int64_t rows, std::int64_t cols, const Buf<double>& mean, Buf<float>& xc) {
  kern::launch_center_columns(x.get(), rows, cols, mean.get(), xc.get(), nullptr);
}
void gram(const Buf<float>& a, std::int64_t len, int m, Buf<double>& g) {
  kern::launch_gram_double(a.get(), len, m, m, 1, g.get(), nullptr);
}
// -------------------------------------------------------------------------------------------------

void bench_center(const Problem& p, Report& r) {
  constexpr std::int64_t cols = 64;
  const auto x = uniform(static_cast<std::size_t>(p.n * cols), 41, -2.0f, 5.0f);
  std::vector<double> mean(cols, 0.0);
  for (std::int64_t i = 0; i < p.n; ++i)
    for (std::int64_t c = 0; c < cols; ++c) mean[c] += x[i * cols + c] / static_cast<double>(p.n);
  r.shape(std::to_string(p.n) + "x" + std::to_string(cols));
  std::vector<float> want(x.size());
  r.cpu_ms(time_cpu(p.repeat, [&] {
    for (std::int64_t i = 0; i < p.n; ++i)
      for (std::int64_t c = 0; c < cols; ++c) want[i * cols + c] = x[i * cols + c] - static_cast<float>(mean[c]);
  }));
  Buf<float> dx(x), xc(x.size());
  Buf<double> dm(mean);
  r.device_ms(time_device(p.repeat, [&] { center(dx, p.n, cols, dm, xc); }));
  r.check("centred", xc.host(), want, 0, 0);
}

void bench_gram(const Problem& p, Report& r) {
  constexpr int m = 16;
  const auto a = uniform(static_cast<std::size_t>(p.n) * m, 42);
  r.shape(std::to_string(p.n) + "x" + std::to_string(m));
  std::vector<double> want(m * m);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    std::fill(want.begin(), want.end(), 0.0);
    for (std::int64_t t = 0; t < p.n; ++t)
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j) want[i * m + j] += static_cast<double>(a[t * m + i]) * a[t * m + j];
  }));
  Buf<float> da(a);
  Buf<double> g(want.size());
  r.device_ms(time_device(p.repeat, [&] { gram(da, p.n, m, g); }));
  r.check("gram", g.host(), want, 1e-9, 1e-12);
}

HMR_KERNEL_BENCH({"pca_center_columns", "launch_center_columns", "rows (x 64 columns)", 50000, 2000000, &bench_center});
HMR_KERNEL_BENCH({"pca_gram_double", "launch_gram_double", "rows (x 16 columns)", 50000, 2000000, &bench_gram});

}  // namespace
