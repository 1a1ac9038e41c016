// embed/tsne.cpp — t-SNE driver: input checks, PCA / random initialisation, affinities, the
// optimisation loop (cpu here, cuda in tsne_cuda.cpp), the final KL, and trustworthiness.
// Defaults follow scikit-learn's TSNE (>= 1.2) and openTSNE; see tsne.h for the conventions.
#include "embed/tsne.h"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/log.h"
#include "core/nvtx.h"
#include "embed/affinity.h"
#include "embed/bh.h"
#include "embed/optimize.h"
#include "embed/tsne_cuda.h"

namespace hmr::embed {

namespace {

void check_options(ConstMatrixView x, const TsneOptions& o, Backend& b) {
  const std::int64_t n = x.rows;
  HMR_REQUIRE(n >= 4, "t-SNE: need at least 4 points, got {}", n);
  HMR_REQUIRE(x.cols >= 1, "t-SNE: the input has no columns");
  std::int64_t r = 0, c = 0;
  HMR_REQUIRE(all_finite(x, &r, &c), "t-SNE: non-finite input value at row {}, column {}", r, c);
  HMR_REQUIRE(n <= std::int64_t{1} << 30, "t-SNE: {} points is more than this implementation indexes (2^30)", n);
  HMR_REQUIRE(std::isfinite(o.perplexity) && o.perplexity > 0.0, "t-SNE: perplexity must be positive, got {}",
              o.perplexity);
  HMR_REQUIRE(o.perplexity < static_cast<double>(n), "t-SNE: perplexity {} must be less than the number of points {}",
              o.perplexity, n);
  const int k = default_neighbours(n, o.perplexity, o.neighbours);
  HMR_REQUIRE(o.perplexity <= static_cast<double>(k),
              "t-SNE: perplexity {} cannot be reached with {} neighbours (N = {}); lower the perplexity", o.perplexity,
              k, n);
  HMR_REQUIRE(o.dims == 2 || o.dims == 3, "t-SNE: dims must be 2 or 3, got {}", o.dims);
  HMR_REQUIRE(std::isfinite(o.theta) && o.theta >= 0.0, "t-SNE: theta must be >= 0, got {}", o.theta);
  HMR_REQUIRE(o.iters >= 1, "t-SNE: iters must be >= 1, got {}", o.iters);
  HMR_REQUIRE(o.exag_iters >= 0, "t-SNE: exag_iters must be >= 0, got {}", o.exag_iters);
  HMR_REQUIRE(std::isfinite(o.early_exag) && o.early_exag > 0.0, "t-SNE: early_exag must be positive, got {}",
              o.early_exag);
  HMR_REQUIRE(std::isfinite(o.learning_rate), "t-SNE: learning_rate must be finite");
  HMR_REQUIRE(o.momentum >= 0.0 && o.momentum < 1.0 && o.final_momentum >= 0.0 && o.final_momentum < 1.0,
              "t-SNE: momentum values must be in [0, 1), got {} and {}", o.momentum, o.final_momentum);
  HMR_REQUIRE(o.min_gain >= 0.0 && o.min_gain < 1.0, "t-SNE: min_gain must be in [0, 1), got {}", o.min_gain);
  if (b.is_cuda()) HMR_REQUIRE(k <= 512, "t-SNE on cuda: at most 512 neighbours (perplexity <= 170), got k = {}", k);
}

}  // namespace

Matrix initial_embedding(ConstMatrixView x, const TsneOptions& opt) {
  const std::int64_t n = x.rows, d = x.cols;
  const int dims = opt.dims;
  Matrix y(n, dims);
  bool ok = false;
  if (opt.init == TsneInit::pca) {
    // Covariance of the centred data in double, its top eigenvectors (LAPACK dsyevd), and the
    // projection. Signs: the largest |loading| of each component is positive (sklearn svd_flip).
    std::vector<double> mean(static_cast<std::size_t>(d), 0.0);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t c = 0; c < d; ++c) mean[static_cast<std::size_t>(c)] += x(i, c);
    for (auto& m : mean) m /= static_cast<double>(n);
    std::vector<double> cov(static_cast<std::size_t>(d * d), 0.0);
#pragma omp parallel for schedule(dynamic, 4)
    for (std::int64_t a = 0; a < d; ++a)
      for (std::int64_t b = 0; b <= a; ++b) {
        double s = 0.0;
        for (std::int64_t i = 0; i < n; ++i)
          s += (x(i, a) - mean[static_cast<std::size_t>(a)]) * (x(i, b) - mean[static_cast<std::size_t>(b)]);
        cov[static_cast<std::size_t>(a * d + b)] = cov[static_cast<std::size_t>(b * d + a)] = s;
      }
    std::vector<double> w(static_cast<std::size_t>(d));
    const int info =
        LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', static_cast<int>(d), cov.data(), static_cast<int>(d), w.data());
    HMR_ASSERT(info == 0, "t-SNE PCA init: dsyevd failed ({})", info);
    // Eigenvalues ascend: component q is column d - 1 - q. Fewer columns than dims: zeros.
    for (int q = 0; q < dims && q < d; ++q) {
      const std::int64_t col = d - 1 - q;
      double best = 0.0;
      for (std::int64_t c = 0; c < d; ++c)
        if (std::fabs(cov[static_cast<std::size_t>(c * d + col)]) > std::fabs(best))
          best = cov[static_cast<std::size_t>(c * d + col)];
      const double sgn = best < 0.0 ? -1.0 : 1.0;
      for (std::int64_t i = 0; i < n; ++i) {
        double s = 0.0;
        for (std::int64_t c = 0; c < d; ++c)
          s += (x(i, c) - mean[static_cast<std::size_t>(c)]) * cov[static_cast<std::size_t>(c * d + col)];
        y(i, q) = static_cast<float>(sgn * s);
      }
    }
    ok = true;
  }
  auto col0_std = [&] {
    double m = 0.0, v = 0.0;
    for (std::int64_t i = 0; i < n; ++i) m += y(i, 0);
    m /= static_cast<double>(n);
    for (std::int64_t i = 0; i < n; ++i) v += (y(i, 0) - m) * (y(i, 0) - m);
    return std::sqrt(v / static_cast<double>(n));
  };
  double sd = ok ? col0_std() : 0.0;
  if (!(sd > 1e-30)) {
    if (opt.init == TsneInit::pca) spdlog::warn("t-SNE: the input has no variance; starting from a random embedding");
    std::mt19937_64 rng(opt.seed);
    std::normal_distribution<double> g(0.0, 1.0);
    for (auto& v : y.vec()) v = static_cast<float>(g(rng));
    sd = col0_std();
  }
  const double scale = 1e-4 / sd;
  for (auto& v : y.vec()) v = static_cast<float>(v * scale);
  return y;
}

void optimize_cpu(const Csr& p, Matrix& y, const OptimizeParams& prm, const TsneProgress& progress,
                  std::vector<std::pair<int, double>>& history) {
  const std::int64_t n = y.rows();
  const std::size_t m = y.size();
  std::vector<float> update(m, 0.0f), gains(m, 1.0f), rep, zi, attr;
  auto restart = [&] {
    std::fill(update.begin(), update.end(), 0.0f);
    std::fill(gains.begin(), gains.end(), 1.0f);
  };
  auto step = [&](int it, bool report, double exag, double momentum) {
    const Tree t = build_tree_cpu(y.view());
    StepKl kl;
    kl.z = forces_cpu(t, prm.theta, p, y.view(), rep, zi, attr, report ? &kl.plogw : nullptr);
    update_cpu(y.vec(), update, gains, attr, rep, kl.z, exag, prm.learning_rate, momentum, prm.min_gain);
    if (n > 0 && !std::isfinite(y.vec()[0])) diverged(it + 1, "non-finite embedding", prm);
    return kl;
  };
  descend(p, prm, progress, history, restart, step);
}

void optimize(Backend& b, const Csr& p, Matrix& y, const OptimizeParams& prm, const TsneProgress& progress,
              std::vector<std::pair<int, double>>& history) {
  NvtxRange range("tsne/optimize");
  if (!b.is_cuda()) return optimize_cpu(p, y, prm, progress, history);
  HMR_CUDA_CALL(b, tsne_optimize(b, p, y, prm, progress, history));
}

TsneResult tsne(Backend& b, ConstMatrixView x, const TsneOptions& opt, const TsneProgress& progress) {
  NvtxRange range("tsne");
  Stopwatch total;
  check_options(x, opt, b);
  const std::int64_t n = x.rows;
  TsneResult res;
  res.neighbours = default_neighbours(n, opt.perplexity, opt.neighbours);
  Knn nn;
  {
    ScopedStage s(&res.timings, "tsne/knn");
    nn = knn(b, x, res.neighbours);
  }
  Csr p;
  {
    ScopedStage s(&res.timings, "tsne/affinities");
    const std::vector<float> cond = conditional_p(b, nn, opt.perplexity);
    p = symmetrize(b, nn, cond);
  }
  res.y = initial_embedding(x, opt);
  OptimizeParams prm;
  prm.theta = opt.theta;
  prm.iters = opt.iters;
  prm.early_exag = opt.early_exag;
  prm.exag_iters = std::min(opt.exag_iters, opt.iters);
  prm.learning_rate =
      opt.learning_rate > 0.0 ? opt.learning_rate : std::max(static_cast<double>(n) / opt.early_exag, 200.0);
  prm.momentum = opt.momentum;
  prm.final_momentum = opt.final_momentum;
  prm.min_gain = opt.min_gain;
  prm.kl_every = opt.kl_every;
  res.learning_rate = prm.learning_rate;
  {
    ScopedStage s(&res.timings, "tsne/optimize");
    optimize(b, p, res.y, prm, progress, res.kl_history);
  }
  std::int64_t br = 0, bc = 0;
  if (!all_finite(res.y.view(), &br, &bc))
    diverged(prm.iters, fmt::format("non-finite embedding at row {}, column {}", br, bc), prm);
  {
    ScopedStage s(&res.timings, "tsne/kl");
    double plogw = 0.0;
    std::vector<float> attr;
    attraction_cpu(p, res.y.view(), attr, &plogw);
    double z;
    res.kl_exact = n <= opt.exact_kl_max_n;
    if (res.kl_exact) {
      z = exact_z(b, res.y.view());
    } else {
      std::vector<float> rep, zi;
      z = repulsion_cpu(build_tree_cpu(res.y.view()), opt.theta > 0.0 ? opt.theta : 0.5, rep, zi);
    }
    res.kl = kl_divergence(p, plogw, z);
  }
  res.seconds = total.seconds();
  return res;
}

double trustworthiness(ConstMatrixView x, ConstMatrixView y, int k) {
  const std::int64_t n = x.rows;
  HMR_REQUIRE(y.rows == n, "trustworthiness: {} input rows but {} embedding rows", n, y.rows);
  HMR_REQUIRE(k >= 1 && k < static_cast<double>(n) / 2.0, "trustworthiness: k = {} must be below N / 2 = {}", k,
              n / 2.0);
  // rank of j among i's input neighbours (1 = nearest, self excluded); penalise embedding
  // neighbours whose input rank exceeds k (scikit-learn's definition, Euclidean).
  double penalty = 0.0;
  std::vector<double> pen(static_cast<std::size_t>(n), 0.0);
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, std::int64_t>> dx(static_cast<std::size_t>(n)), dy(static_cast<std::size_t>(n));
    for (std::int64_t j = 0; j < n; ++j) {
      double a = 0.0, b = 0.0;
      for (std::int64_t c = 0; c < x.cols; ++c) {
        const double v = static_cast<double>(x(i, c)) - x(j, c);
        a += v * v;
      }
      for (std::int64_t c = 0; c < y.cols; ++c) {
        const double v = static_cast<double>(y(i, c)) - y(j, c);
        b += v * v;
      }
      // self first (sklearn sets its distance to -inf / 0 so it ranks 0)
      dx[static_cast<std::size_t>(j)] = {j == i ? -1.0 : a, j};
      dy[static_cast<std::size_t>(j)] = {j == i ? -1.0 : b, j};
    }
    std::stable_sort(dx.begin(), dx.end());
    std::vector<std::int64_t> rank(static_cast<std::size_t>(n));
    for (std::int64_t r = 0; r < n; ++r) rank[static_cast<std::size_t>(dx[static_cast<std::size_t>(r)].second)] = r;
    std::partial_sort(dy.begin(), dy.begin() + k + 1, dy.end());
    double s = 0.0;
    for (int r = 1; r <= k; ++r) {
      const std::int64_t rr = rank[static_cast<std::size_t>(dy[static_cast<std::size_t>(r)].second)];
      if (rr > k) s += static_cast<double>(rr - k);
    }
    pen[static_cast<std::size_t>(i)] = s;
  }
  for (double v : pen) penalty += v;
  const double nn = static_cast<double>(n);
  return 1.0 - penalty * (2.0 / (nn * k * (2.0 * nn - 3.0 * k - 1.0)));
}

}  // namespace hmr::embed
