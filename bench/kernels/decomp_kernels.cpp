// bench/kernels/decomp_kernels.cpp — PCA helper kernels (kernels/decomp/pca.cuh) beside plain CPU
// loops that state what they compute: column centring of [n x 64]; the fixed-order double Gram
// product of a thin [n x 16] matrix (the randomized solver's Y^T Y); the float -> double copy the
// solvers take their input through; picking the top k eigenpairs of syevd's ascending output and
// scaling U^T X by 1/sqrt(eigenvalue) (V^T, zero rows for eigenvalues <= 0); the Cholesky-QR weights
// from an l x l eigensolve (tiny eigenvalues dropped); and filling rows with one vector (the mean).
#include <algorithm>
#include <cmath>

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
void to_double(const Buf<float>& f, std::int64_t count, Buf<double>& d) {
  kern::launch_float_to_double(f.get(), count, d.get(), nullptr);
}
void top_eigen_scale(const Buf<double>& vecs, const Buf<double>& w, int m, int k, Buf<float>& out, Buf<double>& vals,
                     Buf<float>& ut_x, std::int64_t cols) {
  kern::launch_take_top_eigen(vecs.get(), w.get(), m, k, out.get(), vals.get(), nullptr);
  kern::launch_scale_rows_inv_sqrt(ut_x.get(), k, cols, vals.get(), nullptr);
}
void cholqr(const Buf<double>& vecs, const Buf<double>& w, int l, Buf<float>& W) {
  kern::launch_cholqr_weights(vecs.get(), w.get(), l, W.get(), nullptr);
}
void fill(const Buf<float>& v, std::int64_t rows, std::int64_t cols, Buf<float>& out) {
  kern::launch_fill_rows(v.get(), rows, cols, out.get(), nullptr);
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

void bench_to_double(const Problem& p, Report& r) {
  const auto f = uniform(static_cast<std::size_t>(p.n), 43, -1e3f, 1e3f);
  r.shape(std::to_string(p.n) + " values");
  std::vector<double> want(f.size());
  r.cpu_ms(time_cpu(p.repeat, [&] { std::copy(f.begin(), f.end(), want.begin()); }));
  Buf<float> fd(f);
  Buf<double> dd(f.size());
  r.device_ms(time_device(p.repeat, [&] { to_double(fd, p.n, dd); }));
  r.check("doubles", dd.host(), want, 0, 0);
}

// Eigenpairs as syevd returns them: ascending values, vectors column-major (vector j at [j * m]).
void ascending_eigen(int m, int nonpositive, std::uint64_t seed, std::vector<double>* vecs, std::vector<double>* w) {
  const auto v = uniform(static_cast<std::size_t>(m) * m, seed, -1.0f, 1.0f);
  vecs->assign(v.begin(), v.end());
  w->resize(static_cast<std::size_t>(m));
  // the smallest `nonpositive` are <= 0 (round-off of a rank-deficient Gram matrix), the rest grow
  for (int j = 0; j < m; ++j)
    (*w)[static_cast<std::size_t>(j)] =
        j < nonpositive ? -1e-9 * (nonpositive - j) : 0.5 * (j - nonpositive + 1) * (j - nonpositive + 1);
}

void bench_top_eigen(const Problem& p, Report& r) {
  constexpr int m = 40, k = 32;  // 10 values <= 0: the top 32 include two of them
  std::vector<double> vecs, w;
  ascending_eigen(m, 10, 44, &vecs, &w);
  const auto ut_x = uniform(static_cast<std::size_t>(k * p.n), 45, -3.0f, 3.0f);
  r.shape(std::to_string(m) + "x" + std::to_string(m) + " -> top " + std::to_string(k) + ", " + std::to_string(k) +
          "x" + std::to_string(p.n));
  std::vector<float> out(static_cast<std::size_t>(k) * m), scaled;
  std::vector<double> vals(k);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    for (int i = 0; i < k; ++i) {
      const int src = m - 1 - i;
      for (int q = 0; q < m; ++q) out[i * m + q] = static_cast<float>(vecs[static_cast<std::size_t>(src) * m + q]);
      vals[i] = std::max(w[src], 0.0);
    }
    scaled = ut_x;
    for (int i = 0; i < k; ++i)
      for (std::int64_t c = 0; c < p.n; ++c) {
        float& a = scaled[i * p.n + c];
        a = vals[i] > 0 ? static_cast<float>(a / std::sqrt(vals[i])) : 0.0f;
      }
  }));
  Buf<double> vd(vecs), wd(w), valsd(vals.size());
  Buf<float> outd(out.size()), ad(ut_x);
  // the scaling works in place: restore U^T X before every call
  r.device_ms(time_device(
      p.repeat, [&] { top_eigen_scale(vd, wd, m, k, outd, valsd, ad, p.n); }, [&] { ad.upload(ut_x); }));
  r.check("top eigenvectors", outd.host(), out, 0, 0);
  r.check("eigenvalues", valsd.host(), vals, 0, 0);
  r.check("V^T = U^T X / s", ad.host(), scaled, 0, 1e-7);
}

void bench_cholqr(const Problem& p, Report& r) {
  const int l = static_cast<int>(p.n);
  std::vector<double> vecs, w;
  ascending_eigen(l, 3, 46, &vecs, &w);  // 3 columns dropped
  r.shape(std::to_string(l) + "x" + std::to_string(l));
  std::vector<float> W(static_cast<std::size_t>(l) * l);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    const double wmax = *std::max_element(w.begin(), w.end());
    for (int q = 0; q < l; ++q)
      for (int c = 0; c < l; ++c)
        W[static_cast<std::size_t>(q) * l + c] =
            w[c] > 1e-12 * wmax ? static_cast<float>(vecs[static_cast<std::size_t>(c) * l + q] / std::sqrt(w[c]))
                                : 0.0f;
  }));
  Buf<double> vd(vecs), wd(w);
  Buf<float> Wd(W.size());
  r.device_ms(time_device(p.repeat, [&] { cholqr(vd, wd, l, Wd); }));
  r.check("weights", Wd.host(), W, 0, 1e-7);
}

void bench_fill_rows(const Problem& p, Report& r) {
  constexpr std::int64_t cols = 64;
  const auto v = uniform(cols, 47);
  r.shape(std::to_string(p.n) + "x" + std::to_string(cols));
  std::vector<float> want(static_cast<std::size_t>(p.n * cols));
  r.cpu_ms(time_cpu(p.repeat, [&] {
    for (std::int64_t i = 0; i < p.n; ++i) std::copy(v.begin(), v.end(), want.begin() + i * cols);
  }));
  Buf<float> vd(v), out(want.size());
  r.device_ms(time_device(p.repeat, [&] { fill(vd, p.n, cols, out); }));
  r.check("rows", out.host(), want, 0, 0);
}

HMR_KERNEL_BENCH({"pca_center_columns", "launch_center_columns", "rows (x 64 columns)", 50000, 2000000, &bench_center});
HMR_KERNEL_BENCH({"pca_gram_double", "launch_gram_double", "rows (x 16 columns)", 50000, 2000000, &bench_gram});

HMR_KERNEL_BENCH({"pca_float_to_double", "launch_float_to_double", "values", 100000, 64000000, &bench_to_double});
HMR_KERNEL_BENCH({"pca_top_eigen_scale", "launch_take_top_eigen, launch_scale_rows_inv_sqrt",
                  "columns of U^T X (40x40 eigenproblem, top 32)", 5000, 2000000, &bench_top_eigen});
HMR_KERNEL_BENCH({"pca_cholqr_weights", "launch_cholqr_weights", "l (l x l eigenvectors)", 64, 512, &bench_cholqr});
HMR_KERNEL_BENCH({"pca_fill_rows", "launch_fill_rows", "rows (x 64 columns)", 50000, 2000000, &bench_fill_rows});

}  // namespace
