// bench/kernels/prep_kernels.cpp — standardisation kernels (kernels/prep/standardize.cuh) beside
// their cpu twins (host/prep/standardize.h): the column moments + scaler finalize (fit) and the
// apply pass, on uniform data [n x 64].
#include "harness.h"
#include "prep/standardize.cuh"
#include "prep/standardize.h"

namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;

// ---- adapter: the only lines that name launchers ------------------------------------------------
struct FitWork {
  FitWork(std::int64_t rows, std::int64_t cols)
      : chunks(kern::standardize_chunks(rows)),
        partial(static_cast<std::size_t>(chunks * cols)),
        mean(cols),
        var(cols),
        mean_f(cols),
        scale_f(cols) {}
  int chunks;
  Buf<double> partial, mean, var;
  Buf<float> mean_f, scale_f;
};
void fit(const Buf<float>& x, std::int64_t rows, std::int64_t cols, FitWork& w) {
  kern::launch_col_moment_partial(x.get(), rows, cols, nullptr, 1, w.partial.get(), nullptr);
  kern::launch_col_moment_finalize(w.partial.get(), w.chunks, rows, cols, w.mean.get(), nullptr);
  kern::launch_col_moment_partial(x.get(), rows, cols, w.mean.get(), 2, w.partial.get(), nullptr);
  kern::launch_col_moment_finalize(w.partial.get(), w.chunks, rows, cols, w.var.get(), nullptr);
  kern::launch_scaler_finalize(w.mean.get(), w.var.get(), cols, w.mean_f.get(), w.scale_f.get(), nullptr);
}
void apply(const Buf<float>& x, const Buf<float>& mean, const Buf<float>& scale, Buf<float>& y, std::int64_t rows,
           std::int64_t cols) {
  kern::launch_standardize_apply(x.get(), mean.get(), scale.get(), y.get(), rows, cols, nullptr);
}
// -------------------------------------------------------------------------------------------------

constexpr std::int64_t kCols = 64;

hmr::Matrix input(std::int64_t n) {
  auto v = uniform(static_cast<std::size_t>(n * kCols), 5, -3.0f, 7.0f);
  return hmr::Matrix(n, kCols, std::move(v));
}

void bench_fit(const Problem& p, Report& r) {
  const hmr::Matrix x = input(p.n);
  r.shape(std::to_string(p.n) + "x" + std::to_string(kCols));
  hmr::prep::Scaler want;
  r.cpu_ms(time_cpu(p.repeat, [&] { want = hmr::prep::fit_scaler_cpu(x); }));
  Buf<float> dx(x.vec());
  FitWork w(p.n, kCols);
  r.device_ms(time_device(p.repeat, [&] { fit(dx, p.n, kCols, w); }));
  r.check("mean", w.mean_f.host(), want.mean, 1e-5, 1e-6);
  r.check("scale", w.scale_f.host(), want.scale, 1e-5, 1e-6);
}

void bench_apply(const Problem& p, Report& r) {
  const hmr::Matrix x = input(p.n);
  r.shape(std::to_string(p.n) + "x" + std::to_string(kCols));
  const auto sc = hmr::prep::fit_scaler_cpu(x);
  hmr::Matrix want;
  r.cpu_ms(time_cpu(p.repeat, [&] { want = hmr::prep::apply_scaler_cpu(sc, x); }));
  Buf<float> dx(x.vec()), m(sc.mean), s(sc.scale), y(x.vec().size());
  r.device_ms(time_device(p.repeat, [&] { apply(dx, m, s, y, p.n, kCols); }));
  r.check("standardized", y.host(), want.vec(), 0, 1e-6);
}

HMR_KERNEL_BENCH({"standardize_fit", "launch_col_moment_partial, launch_col_moment_finalize, launch_scaler_finalize",
                  "rows (x 64 columns)", 50000, 2000000, &bench_fit});
HMR_KERNEL_BENCH({"standardize_apply", "launch_standardize_apply", "rows (x 64 columns)", 50000, 2000000,
                  &bench_apply});

}  // namespace
