// cluster/kmeans.cpp — K-Means as scikit-learn's KMeans(algorithm="lloyd"): the numpy-compatible
// random stream, greedy k-means++ (sklearn.cluster._kmeans._kmeans_plusplus), the cpu Lloyd
// iteration (BLAS distance trick ||c||^2 - 2 x.c for the assignment, fixed-order double sums for
// the update, sklearn's empty-cluster relocation) and the n_init driver that both backends share.
// Source: sklearn/cluster/_kmeans.py and _k_means_common.pyx (1.x); Arthur & Vassilvitskii 2007.
#include "cluster/kmeans.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "cluster/kmeans_lloyd.h"
#include "core/error.h"
#include "core/log.h"
#include "core/nvtx.h"

namespace hmr::cluster {

// ---------------------------------------------------------------------------------------------
// Below this much work a parallel region costs more than it saves (fork/join, and on a busy
// machine a wait for the other thread's time slice); small inputs run on one thread.
constexpr std::int64_t kOmpMinWork = 1 << 14;

// numpy.random.RandomState compatibility (legacy MT19937 stream).

KMeansRng::KMeansRng(std::uint32_t seed) : mt_(seed) {}

double KMeansRng::uniform() {
  // numpy's random_sample: 27 + 26 high bits of two draws -> a 53-bit double in [0, 1).
  const std::uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

std::uint64_t KMeansRng::interval(std::uint64_t max) {
  // numpy legacy random_interval: rejection sampling under the smallest all-ones mask >= max.
  if (max == 0) return 0;
  std::uint64_t mask = max;
  for (int s = 1; s <= 32; s <<= 1) mask |= mask >> s;
  std::uint64_t v;
  if (max <= 0xffffffffULL) {
    while ((v = (next_u32() & mask)) > max) {
    }
  } else {
    while ((v = (((static_cast<std::uint64_t>(next_u32()) << 32) | next_u32()) & mask)) > max) {
    }
  }
  return v;
}

std::vector<std::int64_t> KMeansRng::permutation(std::int64_t n) {
  // RandomState.permutation(n) = shuffle(arange(n)): Fisher-Yates from the back.
  std::vector<std::int64_t> p(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  std::iota(p.begin(), p.end(), 0);
  for (std::int64_t i = n - 1; i >= 1; --i) {
    const auto j = static_cast<std::int64_t>(interval(static_cast<std::uint64_t>(i)));
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
  }
  return p;
}

namespace {

// The skinny products of K-Means (n x d times d x k, k and d small) are computed inside the
// OpenMP loops rather than by a multithreaded BLAS call: two thread pools (OpenMP and OpenBLAS's)
// taking turns on the same cores spend more time waiting for each other than computing.
float dot(const float* a, const float* b, std::int64_t d) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (std::int64_t c = 0; c < d; ++c) s += a[c] * b[c];
  return s;
}

float sq_dist(const float* a, const float* b, std::int64_t d) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (std::int64_t c = 0; c < d; ++c) {
    const float v = a[c] - b[c];
    s += v * v;
  }
  return s;
}

void check_data(ConstMatrixView x, const char* what) {
  HMR_REQUIRE(x.rows > 0 && x.cols > 0, "{}: empty input ({} x {})", what, x.rows, x.cols);
  std::int64_t r = 0, c = 0;
  HMR_REQUIRE(all_finite(x, &r, &c), "{}: input contains NaN or infinity at row {}, column {}", what, r, c);
}

// Index of the first element of the ascending `cdf` that is >= v (np.searchsorted side='left').
std::int64_t search_left(const std::vector<double>& cdf, double v) {
  return std::lower_bound(cdf.begin(), cdf.end(), v) - cdf.begin();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Greedy k-means++.

Matrix kmeans_plusplus(ConstMatrixView x, int k, KMeansRng& rng) {
  const std::int64_t n = x.rows, d = x.cols;
  Matrix centers(k, d);
  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));

  // First centre: RandomState.choice(n, p=w / w.sum()) with unit weights. numpy builds the cdf from
  // the float32 probabilities promoted to double, normalises by its last entry and searches right.
  const double p = static_cast<double>(1.0f / static_cast<float>(n));
  std::vector<double> cdf(static_cast<std::size_t>(n));
  double acc = 0.0;
  for (std::int64_t i = 0; i < n; ++i) cdf[static_cast<std::size_t>(i)] = (acc += p);
  for (auto& v : cdf) v /= acc;
  const double u0 = rng.uniform();
  std::int64_t first = std::upper_bound(cdf.begin(), cdf.end(), u0) - cdf.begin();
  first = std::min(first, n - 1);
  std::copy_n(x.row(first), d, centers.row(0));

  // Squared distances by the distance trick ||x||^2 + ||c||^2 - 2 x.c (as sklearn's
  // _euclidean_distances, clamped at 0).
  std::vector<float> xn(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(static) if (n * d >= kOmpMinWork)
  for (std::int64_t i = 0; i < n; ++i) {
    double q = 0.0;
    for (std::int64_t c = 0; c < d; ++c) q += static_cast<double>(x(i, c)) * x(i, c);
    xn[static_cast<std::size_t>(i)] = static_cast<float>(q);
  }
  constexpr std::int64_t kChunk = 4096;  // fixed chunks: potentials independent of the thread count
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<float> closest(static_cast<std::size_t>(n));
  std::vector<float> cand_dist(static_cast<std::size_t>(trials) * static_cast<std::size_t>(n));
  std::vector<double> part(static_cast<std::size_t>(chunks) * static_cast<std::size_t>(trials));
  std::vector<std::int64_t> cand(static_cast<std::size_t>(trials));
  std::vector<double> cand_pot(static_cast<std::size_t>(trials));
  Matrix crow(trials, d);
  // dist[t][i] = min(closest[i], ||x_i - crow_t||^2) for t < m (closest ignored when first);
  // returns the potentials sum_i dist[t][i] in cand_pot.
  auto candidate_distances = [&](int m, bool first_step) {
    std::vector<float> cn(static_cast<std::size_t>(m));
    for (int t = 0; t < m; ++t) {
      double q = 0.0;
      for (std::int64_t c = 0; c < d; ++c) q += static_cast<double>(crow(t, c)) * crow(t, c);
      cn[static_cast<std::size_t>(t)] = static_cast<float>(q);
    }
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
      double acc[16] = {};
      for (std::int64_t i = ch * kChunk; i < std::min(n, (ch + 1) * kChunk); ++i) {
        const float ci = closest[static_cast<std::size_t>(i)];
        for (int t = 0; t < m; ++t) {
          float v =
              xn[static_cast<std::size_t>(i)] + cn[static_cast<std::size_t>(t)] - 2.0f * dot(x.row(i), crow.row(t), d);
          v = v > 0.0f ? v : 0.0f;
          if (!first_step) v = std::min(ci, v);
          cand_dist[static_cast<std::size_t>(t) * static_cast<std::size_t>(n) + static_cast<std::size_t>(i)] = v;
          acc[t] += v;
        }
      }
      for (int t = 0; t < m; ++t) part[static_cast<std::size_t>(ch * m + t)] = acc[t];
    }
    for (int t = 0; t < m; ++t) {
      double sum = 0.0;
      for (std::int64_t ch = 0; ch < chunks; ++ch) sum += part[static_cast<std::size_t>(ch * m + t)];
      cand_pot[static_cast<std::size_t>(t)] = sum;
    }
  };
  HMR_ASSERT(trials <= 16, "kmeans++: {} local trials", trials);

  std::copy_n(centers.row(0), d, crow.row(0));
  candidate_distances(1, true);
  std::copy_n(cand_dist.data(), n, closest.data());
  double pot = cand_pot[0];

  for (int c = 1; c < k; ++c) {
    acc = 0.0;
    for (std::int64_t i = 0; i < n; ++i)
      cdf[static_cast<std::size_t>(i)] = (acc += closest[static_cast<std::size_t>(i)]);
    for (int t = 0; t < trials; ++t) {
      const double v = rng.uniform() * pot;
      cand[static_cast<std::size_t>(t)] = std::min(search_left(cdf, v), n - 1);  // np.clip as sklearn
      std::copy_n(x.row(cand[static_cast<std::size_t>(t)]), d, crow.row(t));
    }
    candidate_distances(trials, false);
    int best = 0;
    for (int t = 1; t < trials; ++t)
      if (cand_pot[static_cast<std::size_t>(t)] < cand_pot[static_cast<std::size_t>(best)]) best = t;  // first min
    pot = cand_pot[static_cast<std::size_t>(best)];
    std::copy_n(cand_dist.data() + static_cast<std::size_t>(best) * static_cast<std::size_t>(n), n, closest.data());
    std::copy_n(x.row(cand[static_cast<std::size_t>(best)]), d, centers.row(c));
  }
  return centers;
}

// ---------------------------------------------------------------------------------------------
// cpu Lloyd pieces.

void kmeans_assign_cpu(ConstMatrixView x, ConstMatrixView centers, std::int32_t* labels, float* dist) {
  const std::int64_t n = x.rows, d = x.cols, k = centers.rows;
  std::vector<float> cnorm(static_cast<std::size_t>(k));
  for (std::int64_t j = 0; j < k; ++j) {
    float s = 0.0f;
    for (std::int64_t c = 0; c < d; ++c) s += centers(j, c) * centers(j, c);
    cnorm[static_cast<std::size_t>(j)] = s;
  }
  // Each row takes the argmin of ||c||^2 - 2 x.c (ties -> lowest index, as sklearn). Small
  // centre sets (the usual case) are done in the OpenMP loop; large ones by a GEMM per chunk.
  auto pick = [&](std::int64_t i, const float* dr) {
    std::int32_t best = 0;
    float bv = cnorm[0] - 2.0f * dr[0];
    for (std::int64_t j = 1; j < k; ++j) {
      const float v = cnorm[static_cast<std::size_t>(j)] - 2.0f * dr[j];
      if (v < bv) {
        bv = v;
        best = static_cast<std::int32_t>(j);
      }
    }
    labels[i] = best;
    if (dist) dist[i] = sq_dist(x.row(i), centers.row(best), d);
  };
  if (k * d <= 8192 && k <= 256) {
#pragma omp parallel for schedule(static) if (n * k * d >= kOmpMinWork)
    for (std::int64_t i = 0; i < n; ++i) {
      float dr[256];
      for (std::int64_t j = 0; j < k; ++j) dr[j] = dot(x.row(i), centers.row(j), d);
      pick(i, dr);
    }
    return;
  }
  constexpr std::int64_t kChunk = 16384;
  std::vector<float> dots(static_cast<std::size_t>(std::min(n, kChunk) * k));
  for (std::int64_t r0 = 0; r0 < n; r0 += kChunk) {
    const std::int64_t rows = std::min(kChunk, n - r0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(k),
                static_cast<int>(d), 1.0f, x.row(r0), static_cast<int>(x.ld), centers.data,
                static_cast<int>(centers.ld), 0.0f, dots.data(), static_cast<int>(k));
#pragma omp parallel for schedule(static) if (rows * k >= kOmpMinWork)
    for (std::int64_t r = 0; r < rows; ++r) pick(r0 + r, dots.data() + r * k);
  }
}

namespace {

// sklearn's relocation of empty clusters, done on sums: `sum`/`counts` come from the update,
// `dist[i]` is the squared distance of row i to its label's OLD centre.
void relocate_empty(ConstMatrixView x, const std::int32_t* labels, const float* dist, ConstMatrixView old_centers,
                    int k, std::vector<double>& sum, std::vector<std::int64_t>& counts) {
  const std::int64_t n = x.rows, d = x.cols;
  std::vector<int> empty;
  for (int j = 0; j < k; ++j)
    if (counts[static_cast<std::size_t>(j)] == 0) empty.push_back(j);
  if (empty.empty()) return;
  std::vector<float> own;
  if (dist == nullptr) {  // only now (rarely) are the exact distances needed
    own.resize(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(static) if (n * d >= kOmpMinWork)
    for (std::int64_t i = 0; i < n; ++i)
      own[static_cast<std::size_t>(i)] = sq_dist(x.row(i), old_centers.row(labels[i]), d);
    dist = own.data();
  }
  float mx = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) mx = std::max(mx, dist[i]);
  if (mx == 0.0f) return;  // more clusters than distinct points: nothing to gain
  // The n_empty farthest points, farthest first (ties -> lower index).
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  const std::size_t m = std::min(empty.size(), idx.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(m), idx.end(),
                    [&](std::int64_t a, std::int64_t b) { return dist[a] > dist[b] || (dist[a] == dist[b] && a < b); });
  for (std::size_t e = 0; e < m; ++e) {
    const int nc = empty[e];
    const std::int64_t far = idx[e];
    const int oc = labels[far];
    for (std::int64_t c = 0; c < d; ++c) {
      sum[static_cast<std::size_t>(oc) * static_cast<std::size_t>(d) + c] -= x(far, c);
      sum[static_cast<std::size_t>(nc) * static_cast<std::size_t>(d) + c] = x(far, c);
    }
    counts[static_cast<std::size_t>(nc)] = 1;
    counts[static_cast<std::size_t>(oc)] -= 1;
  }
}

// Sums per cluster in fixed chunk order (see kmeans_update_cpu).
void cluster_sums(ConstMatrixView x, const std::int32_t* labels, int k, std::vector<double>& sum,
                  std::vector<std::int64_t>& counts) {
  const std::int64_t n = x.rows, d = x.cols;
  constexpr std::int64_t kChunk = 4096;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  const std::size_t kd = static_cast<std::size_t>(k) * static_cast<std::size_t>(d);
  std::vector<double> part(static_cast<std::size_t>(chunks) * kd, 0.0);
  std::vector<std::int64_t> pcount(static_cast<std::size_t>(chunks) * static_cast<std::size_t>(k), 0);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (std::int64_t ch = 0; ch < chunks; ++ch) {
    double* s = part.data() + static_cast<std::size_t>(ch) * kd;
    std::int64_t* cnt = pcount.data() + ch * k;
    for (std::int64_t r = ch * kChunk; r < std::min(n, (ch + 1) * kChunk); ++r) {
      const std::int32_t j = labels[r];
      double* sj = s + static_cast<std::size_t>(j) * static_cast<std::size_t>(d);
      const float* xr = x.row(r);
      for (std::int64_t c = 0; c < d; ++c) sj[c] += xr[c];
      ++cnt[j];
    }
  }
  sum.assign(kd, 0.0);
  counts.assign(static_cast<std::size_t>(k), 0);
  for (std::int64_t ch = 0; ch < chunks; ++ch) {
    for (std::size_t o = 0; o < kd; ++o) sum[o] += part[static_cast<std::size_t>(ch) * kd + o];
    for (int j = 0; j < k; ++j) counts[static_cast<std::size_t>(j)] += pcount[static_cast<std::size_t>(ch * k + j)];
  }
}

}  // namespace

double kmeans_update_cpu(ConstMatrixView x, const std::int32_t* labels, const float* dist, ConstMatrixView old_centers,
                         Matrix& centers, std::vector<std::int64_t>& counts) {
  const std::int64_t d = x.cols;
  const int k = static_cast<int>(old_centers.rows);
  std::vector<double> sum;
  cluster_sums(x, labels, k, sum, counts);
  relocate_empty(x, labels, dist, old_centers, k, sum, counts);
  centers = Matrix(k, d);
  double shift = 0.0;
  for (int j = 0; j < k; ++j) {
    const std::int64_t cnt = counts[static_cast<std::size_t>(j)];
    const double inv = cnt > 0 ? 1.0 / static_cast<double>(cnt) : 0.0;
    for (std::int64_t c = 0; c < d; ++c) {
      // An empty cluster that could not be relocated stays at the origin, as in sklearn.
      centers(j, c) =
          cnt > 0 ? static_cast<float>(sum[static_cast<std::size_t>(j) * static_cast<std::size_t>(d) + c] * inv) : 0.0f;
      const double v = static_cast<double>(centers(j, c)) - old_centers(j, c);
      shift += v * v;
    }
  }
  return shift;
}

double inertia(ConstMatrixView x, ConstMatrixView centers, const std::vector<std::int32_t>& labels) {
  const std::int64_t n = x.rows, d = x.cols;
  HMR_REQUIRE(static_cast<std::int64_t>(labels.size()) == n, "inertia: {} labels for {} rows", labels.size(), n);
  constexpr std::int64_t kChunk = 4096;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<std::size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (std::int64_t ch = 0; ch < chunks; ++ch) {
    double s = 0.0;
    for (std::int64_t r = ch * kChunk; r < std::min(n, (ch + 1) * kChunk); ++r)
      s += sq_dist(x.row(r), centers.row(labels[static_cast<std::size_t>(r)]), d);
    part[static_cast<std::size_t>(ch)] = s;
  }
  double s = 0.0;
  for (double v : part) s += v;
  return s;
}

LloydRun lloyd_cpu(ConstMatrixView xc, const Matrix& init, int max_iter, double tol) {
  const std::int64_t n = xc.rows;
  LloydRun run;
  Matrix centers = init;
  run.labels.assign(static_cast<std::size_t>(n), -1);
  std::vector<std::int32_t> labels_old(static_cast<std::size_t>(n), -1);
  std::vector<std::int64_t> counts;
  int it = 0;
  for (; it < max_iter; ++it) {
    kmeans_assign_cpu(xc, centers, run.labels.data(), nullptr);
    Matrix next;
    const double shift = kmeans_update_cpu(xc, run.labels.data(), nullptr, centers, next, counts);
    centers = std::move(next);
    if (run.labels == labels_old) {
      run.strict = true;
      break;
    }
    if (shift <= tol) break;
    labels_old = run.labels;
  }
  run.n_iter = std::min(it + 1, max_iter);
  if (!run.strict) kmeans_assign_cpu(xc, centers, run.labels.data(), nullptr);
  run.inertia = inertia(xc, centers, run.labels);
  run.centers = std::move(centers);
  return run;
}

// ---------------------------------------------------------------------------------------------
// Driver shared by the backends.

namespace {

// Same partition up to a renaming of the labels (sklearn _is_same_clustering).
bool same_clustering(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b, int k) {
  std::vector<std::int32_t> map(static_cast<std::size_t>(k), -1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto& m = map[static_cast<std::size_t>(a[i])];
    if (m == -1)
      m = b[i];
    else if (m != b[i])
      return false;
  }
  return true;
}

}  // namespace

KMeansResult kmeans(Backend& backend, ConstMatrixView x, const KMeansOptions& opt) {
  NvtxRange range("kmeans/fit");
  check_data(x, "kmeans");
  const std::int64_t n = x.rows, d = x.cols;
  HMR_REQUIRE(opt.k >= 2, "kmeans: k = {} but at least 2 clusters are needed", opt.k);
  HMR_REQUIRE(opt.k <= n, "kmeans: n_samples={} should be >= n_clusters={}", n, opt.k);
  HMR_REQUIRE(opt.n_init >= 1, "kmeans: n_init = {} must be at least 1", opt.n_init);
  HMR_REQUIRE(opt.max_iter >= 1, "kmeans: max_iter = {} must be at least 1", opt.max_iter);
  HMR_REQUIRE(opt.tol >= 0.0 && std::isfinite(opt.tol), "kmeans: tol = {} must be a finite number >= 0", opt.tol);

  // Centre the data (sklearn does, for accurate distances) and scale tol by the mean variance.
  std::vector<double> mean(static_cast<std::size_t>(d), 0.0), var(static_cast<std::size_t>(d), 0.0);
#pragma omp parallel for schedule(static) if (n * d >= kOmpMinWork)
  for (std::int64_t c = 0; c < d; ++c) {
    double s = 0.0;
    for (std::int64_t r = 0; r < n; ++r) s += x(r, c);
    const double mu = s / static_cast<double>(n);
    double q = 0.0;
    for (std::int64_t r = 0; r < n; ++r) q += (x(r, c) - mu) * (x(r, c) - mu);
    mean[static_cast<std::size_t>(c)] = mu;
    var[static_cast<std::size_t>(c)] = q / static_cast<double>(n);
  }
  const double tol =
      opt.tol == 0.0 ? 0.0 : opt.tol * std::accumulate(var.begin(), var.end(), 0.0) / static_cast<double>(d);
  std::vector<float> meanf(static_cast<std::size_t>(d));
  for (std::size_t c = 0; c < meanf.size(); ++c) meanf[c] = static_cast<float>(mean[c]);
  Matrix xc(n, d);
#pragma omp parallel for schedule(static) if (n * d >= kOmpMinWork)
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < d; ++c) xc(r, c) = x(r, c) - meanf[static_cast<std::size_t>(c)];

  // Inits are drawn in sklearn's order from one stream; the runs do not consume randomness, so
  // all inits can be made first and the runs batched on the device.
  KMeansRng rng(static_cast<std::uint32_t>(opt.seed & 0xffffffffULL));
  std::vector<Matrix> inits;
  {
    NvtxRange r2("kmeans/init");
    for (int i = 0; i < opt.n_init; ++i) inits.push_back(kmeans_plusplus(xc, opt.k, rng));
  }
  std::vector<LloydRun> runs;
  if (!backend.is_cuda()) {
    for (const auto& init : inits) runs.push_back(lloyd_cpu(xc, init, opt.max_iter, tol));
  } else {
    runs = HMR_CUDA_CALL(backend, kmeans_lloyd_runs(backend, xc, inits, opt.max_iter, tol));
  }

  KMeansResult out;
  int best = -1;
  for (int i = 0; i < static_cast<int>(runs.size()); ++i) {
    out.init_inertia.push_back(runs[static_cast<std::size_t>(i)].inertia);
    if (best < 0 || (runs[static_cast<std::size_t>(i)].inertia < runs[static_cast<std::size_t>(best)].inertia &&
                     !same_clustering(runs[static_cast<std::size_t>(i)].labels,
                                      runs[static_cast<std::size_t>(best)].labels, opt.k)))
      best = i;
  }
  LloydRun& w = runs[static_cast<std::size_t>(best)];
  out.labels = std::move(w.labels);
  out.centers = std::move(w.centers);
  for (std::int64_t j = 0; j < out.centers.rows(); ++j)
    for (std::int64_t c = 0; c < d; ++c) out.centers(j, c) += meanf[static_cast<std::size_t>(c)];
  out.inertia = w.inertia;
  out.n_iter = w.n_iter;
  out.best_init = best;
  std::vector<char> seen(static_cast<std::size_t>(opt.k), 0);
  for (auto l : out.labels) seen[static_cast<std::size_t>(l)] = 1;
  const int distinct = static_cast<int>(std::count(seen.begin(), seen.end(), 1));
  if (distinct < opt.k)
    spdlog::warn("kmeans: only {} distinct clusters found, fewer than k = {} (duplicate points?)", distinct, opt.k);
  return out;
}

std::vector<std::int32_t> predict(Backend& backend, ConstMatrixView centers, ConstMatrixView x) {
  NvtxRange range("kmeans/predict");
  check_data(x, "kmeans predict");
  check_data(centers, "kmeans predict (centres)");
  HMR_REQUIRE(centers.cols == x.cols, "kmeans predict: the model has {} features, the data {}", centers.cols, x.cols);
  if (backend.is_cuda()) return HMR_CUDA_CALL(backend, kmeans_predict(backend, centers, x));
  // Predict on the raw data: sklearn's model centres are in the raw frame too.
  std::vector<std::int32_t> labels(static_cast<std::size_t>(x.rows));
  Matrix c(centers.rows, centers.cols);
  for (std::int64_t j = 0; j < centers.rows; ++j) std::copy_n(centers.row(j), centers.cols, c.row(j));
  kmeans_assign_cpu(x, c, labels.data(), nullptr);
  return labels;
}

}  // namespace hmr::cluster
