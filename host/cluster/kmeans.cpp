// cluster/kmeans.cpp — K-Means as scikit-learn's KMeans(algorithm="lloyd"): the numpy-compatible
// random stream, greedy k-means++ (sklearn.cluster._kmeans._kmeans_plusplus), the cpu Lloyd
// iteration (BLAS distance trick ||c||^2 - 2 x.c for the assignment, fixed-order double sums for
// the update, sklearn's empty-cluster relocation) and the n_init driver that both backends share.
// Source: sklearn/cluster/_kmeans.py and _k_means_common.pyx (1.x); Arthur & Vassilvitskii 2007.
#include "cluster/kmeans.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "cluster/kmeans_cuda.h"
#include "cluster/kmeans_lloyd.h"
#include "cluster/panel_dots.h"
#include "core/error.h"
#include "core/log.h"
#include "core/nvtx.h"
#include "prep/column_stats.h"

namespace hmr::cluster {

using detail::make_panel;
using detail::Panel;
using detail::panel_dots;

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
  // Squared distances are float32: finite values near 1e38 overflow them, and Lloyd went on with
  // NaN inertia and one cluster (exit 0). The widest squared distance is at most the sum of the
  // squared column ranges; a margin of 10 leaves room for the ||x||^2 - 2 x.c + ||c||^2 terms.
  std::vector<float> lo(x.row(0), x.row(0) + x.cols), hi = lo;
  for (std::int64_t i = 1; i < x.rows; ++i) {  // row by row: one pass over the data in memory order
    const float* r = x.row(i);
    for (std::int64_t j = 0; j < x.cols; ++j) {
      lo[static_cast<std::size_t>(j)] = std::min(lo[static_cast<std::size_t>(j)], r[j]);
      hi[static_cast<std::size_t>(j)] = std::max(hi[static_cast<std::size_t>(j)], r[j]);
    }
  }
  double span2 = 0.0;
  for (std::size_t j = 0; j < lo.size(); ++j) {
    const double w = static_cast<double>(hi[j]) - static_cast<double>(lo[j]);
    span2 += w * w;
  }
  HMR_REQUIRE(span2 < std::numeric_limits<float>::max() / 10.0,
              "{}: the values span up to {:.3g} in squared distance, beyond float32 range (max {:.3g}); scale the data "
              "(e.g. standardise it) first",
              what, span2, static_cast<double>(std::numeric_limits<float>::max()));
}

// Index of the first element of the ascending `cdf` that is >= v (np.searchsorted side='left').
std::int64_t search_left(const std::vector<double>& cdf, double v) {
  return std::lower_bound(cdf.begin(), cdf.end(), v) - cdf.begin();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Greedy k-means++.

namespace {

std::vector<float> row_norms(ConstMatrixView x) {
  std::vector<float> xn(static_cast<std::size_t>(x.rows));
#pragma omp parallel for schedule(static) if (x.rows * x.cols >= kOmpMinWork && !omp_in_parallel())
  for (std::int64_t i = 0; i < x.rows; ++i) {
    double q = 0.0;
    for (std::int64_t c = 0; c < x.cols; ++c) q += static_cast<double>(x(i, c)) * x(i, c);
    xn[static_cast<std::size_t>(i)] = static_cast<float>(q);
  }
  return xn;
}

// The k-means++ inits of rngs.size() runs advanced in lockstep: at every step the candidates of
// all runs form one panel and share one pass over x (the pass is bound by reading x, so this
// saves that many passes). Each run's numbers are exactly those it would get alone: its own
// stream, its own potentials summed over fixed 4096-row chunks in order. xn: squared row norms.
std::vector<Matrix> kmeans_plusplus_batch(ConstMatrixView x, int k, std::vector<KMeansRng>& rngs,
                                          const std::vector<float>& xn) {
  const std::int64_t n = x.rows, d = x.cols;
  const int nb = static_cast<int>(rngs.size());
  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  const auto N = static_cast<std::size_t>(n);
  std::vector<Matrix> centers(static_cast<std::size_t>(nb), Matrix(k, d));

  // First centre: RandomState.choice(n, p=w / w.sum()) with unit weights. numpy builds the cdf from
  // the float32 probabilities promoted to double, normalises by its last entry and searches right.
  std::vector<double> cdf(N);
  {
    const double p = static_cast<double>(1.0f / static_cast<float>(n));
    double acc = 0.0;
    for (std::int64_t i = 0; i < n; ++i) cdf[static_cast<std::size_t>(i)] = (acc += p);
    for (auto& v : cdf) v /= acc;
  }
  constexpr std::int64_t kChunk = 4096, kBlock = 256;  // fixed chunks: potentials independent of threads
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  // Candidate row t of run b is panel column b * m + t (m = 1 for the first centre, else trials).
  const int max_cols = nb * trials;
  std::vector<float> closest(static_cast<std::size_t>(nb) * N);
  std::vector<float> cand_dist(static_cast<std::size_t>(max_cols) * N);
  std::vector<double> part(static_cast<std::size_t>(chunks) * static_cast<std::size_t>(max_cols));
  std::vector<double> cand_pot(static_cast<std::size_t>(max_cols)), pot(static_cast<std::size_t>(nb));
  std::vector<std::int64_t> cand(static_cast<std::size_t>(max_cols));
  Matrix crow(max_cols, d);

  // cand_dist[col][i] = min(closest_b[i], ||x_i - crow_col||^2) by the distance trick
  // ||x||^2 + ||c||^2 - 2 x.c clamped at 0 (as sklearn's _euclidean_distances); closest ignored
  // on the first step. Potentials sum_i cand_dist[col][i] -> cand_pot.
  auto candidate_distances = [&](int m, bool first_step) {
    const int cols = nb * m;
    const Panel panel = make_panel(crow.data(), crow.cols(), cols, d);
    const int mp = panel.mp;
#pragma omp parallel if (chunks > 1 && !omp_in_parallel())
    {
      std::vector<float> dots(static_cast<std::size_t>(kBlock * mp));
      std::vector<double> acc(static_cast<std::size_t>(cols));
#pragma omp for schedule(static)
      for (std::int64_t ch = 0; ch < chunks; ++ch) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (std::int64_t b0 = ch * kChunk; b0 < std::min(n, (ch + 1) * kChunk); b0 += kBlock) {
          const std::int64_t rows = std::min({kBlock, n - b0, (ch + 1) * kChunk - b0});
          panel_dots(x.row(b0), x.ld, rows, d, panel, dots.data());
          for (int col = 0; col < cols; ++col) {
            const float cn = panel.cn[static_cast<std::size_t>(col)];
            const float* cl = closest.data() + static_cast<std::size_t>(col / m) * N;
            float* out = cand_dist.data() + static_cast<std::size_t>(col) * N;
            double a = 0.0;
            for (std::int64_t r = 0; r < rows; ++r) {
              const std::int64_t i = b0 + r;
              float v = xn[static_cast<std::size_t>(i)] + cn - 2.0f * dots[static_cast<std::size_t>(r * mp + col)];
              v = v > 0.0f ? v : 0.0f;
              if (!first_step) v = std::min(cl[i], v);
              out[i] = v;
              a += v;
            }
            acc[static_cast<std::size_t>(col)] += a;
          }
        }
        for (int col = 0; col < cols; ++col)
          part[static_cast<std::size_t>(ch * cols + col)] = acc[static_cast<std::size_t>(col)];
      }
    }
    for (int col = 0; col < cols; ++col) {
      double sum = 0.0;
      for (std::int64_t ch = 0; ch < chunks; ++ch) sum += part[static_cast<std::size_t>(ch * cols + col)];
      cand_pot[static_cast<std::size_t>(col)] = sum;
    }
  };
  HMR_ASSERT(trials <= 16, "kmeans++: {} local trials", trials);

  for (int b = 0; b < nb; ++b) {
    const double u0 = rngs[static_cast<std::size_t>(b)].uniform();
    std::int64_t first = std::upper_bound(cdf.begin(), cdf.end(), u0) - cdf.begin();
    first = std::min(first, n - 1);
    std::copy_n(x.row(first), d, centers[static_cast<std::size_t>(b)].row(0));
    std::copy_n(x.row(first), d, crow.row(b));
  }
  candidate_distances(1, true);
  std::copy_n(cand_dist.data(), static_cast<std::size_t>(nb) * N, closest.data());
  for (int b = 0; b < nb; ++b) pot[static_cast<std::size_t>(b)] = cand_pot[static_cast<std::size_t>(b)];

  for (int c = 1; c < k; ++c) {
    for (int b = 0; b < nb; ++b) {
      const float* cl = closest.data() + static_cast<std::size_t>(b) * N;
      double acc = 0.0;
      for (std::int64_t i = 0; i < n; ++i) cdf[static_cast<std::size_t>(i)] = (acc += cl[i]);
      for (int t = 0; t < trials; ++t) {
        const double v = rngs[static_cast<std::size_t>(b)].uniform() * pot[static_cast<std::size_t>(b)];
        const std::int64_t pick = std::min(search_left(cdf, v), n - 1);  // np.clip as sklearn
        cand[static_cast<std::size_t>(b * trials + t)] = pick;
        std::copy_n(x.row(pick), d, crow.row(b * trials + t));
      }
    }
    candidate_distances(trials, false);
    for (int b = 0; b < nb; ++b) {
      const std::size_t c0 = static_cast<std::size_t>(b * trials);
      int best = 0;
      for (int t = 1; t < trials; ++t)
        if (cand_pot[c0 + static_cast<std::size_t>(t)] < cand_pot[c0 + static_cast<std::size_t>(best)])
          best = t;  // first min
      pot[static_cast<std::size_t>(b)] = cand_pot[c0 + static_cast<std::size_t>(best)];
      std::copy_n(cand_dist.data() + (c0 + static_cast<std::size_t>(best)) * N, n,
                  closest.data() + static_cast<std::size_t>(b) * N);
      std::copy_n(x.row(cand[c0 + static_cast<std::size_t>(best)]), d, centers[static_cast<std::size_t>(b)].row(c));
    }
  }
  return centers;
}

}  // namespace

Matrix kmeans_plusplus(ConstMatrixView x, int k, KMeansRng& rng) {
  std::vector<KMeansRng> rngs{rng};
  auto c = kmeans_plusplus_batch(x, k, rngs, row_norms(x));
  rng = rngs[0];
  return std::move(c[0]);
}

// ---------------------------------------------------------------------------------------------
// cpu Lloyd pieces.

namespace {

constexpr std::int64_t kSumChunk = 4096;  // fixed row chunks of the double sums (thread-count independent)
constexpr std::int64_t kRowBlock = 256;   // rows per panel product

// Nearest centre of each of `rows` rows from their dots with the panel (ties -> lowest index, as
// sklearn): argmin ||c||^2 - 2 x.c.
inline std::int32_t nearest(const Panel& p, const float* dr) {
  std::int32_t best = 0;
  float bv = p.cn[0] - 2.0f * dr[0];
  for (int j = 1; j < p.m; ++j) {
    const float v = p.cn[static_cast<std::size_t>(j)] - 2.0f * dr[j];
    if (v < bv) {
      bv = v;
      best = static_cast<std::int32_t>(j);
    }
  }
  return best;
}

bool use_panel(std::int64_t k, std::int64_t d) { return k * d <= 8192; }

// Labels of rows [r0, r1) by the panel (block by block).
void assign_rows(ConstMatrixView x, const Panel& p, std::int64_t r0, std::int64_t r1, std::int32_t* labels,
                 std::vector<float>& dots) {
  dots.resize(static_cast<std::size_t>(kRowBlock * p.mp));
  for (std::int64_t b0 = r0; b0 < r1; b0 += kRowBlock) {
    const std::int64_t rows = std::min(kRowBlock, r1 - b0);
    panel_dots(x.row(b0), x.ld, rows, x.cols, p, dots.data());
    for (std::int64_t r = 0; r < rows; ++r) labels[b0 + r] = nearest(p, dots.data() + r * p.mp);
  }
}

}  // namespace

void kmeans_assign_cpu(ConstMatrixView x, ConstMatrixView centers, std::int32_t* labels, float* dist) {
  const std::int64_t n = x.rows, d = x.cols, k = centers.rows;
  if (use_panel(k, d)) {
    const Panel p = make_panel(centers.data, centers.ld, static_cast<int>(k), d);
    const std::int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
#pragma omp parallel if (n * k * d >= kOmpMinWork && !omp_in_parallel())
    {
      std::vector<float> dots;
#pragma omp for schedule(static)
      for (std::int64_t b = 0; b < blocks; ++b)
        assign_rows(x, p, b * kRowBlock, std::min(n, (b + 1) * kRowBlock), labels, dots);
    }
  } else {
    // Large centre sets: a GEMM per chunk.
    std::vector<float> cnorm(static_cast<std::size_t>(k));
    for (std::int64_t j = 0; j < k; ++j) {
      double s = 0.0;
      for (std::int64_t c = 0; c < d; ++c) s += static_cast<double>(centers(j, c)) * centers(j, c);
      cnorm[static_cast<std::size_t>(j)] = static_cast<float>(s);
    }
    constexpr std::int64_t kChunk = 16384;
    std::vector<float> dots(static_cast<std::size_t>(std::min(n, kChunk) * k));
    for (std::int64_t r0 = 0; r0 < n; r0 += kChunk) {
      const std::int64_t rows = std::min(kChunk, n - r0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(k),
                  static_cast<int>(d), 1.0f, x.row(r0), static_cast<int>(x.ld), centers.data,
                  static_cast<int>(centers.ld), 0.0f, dots.data(), static_cast<int>(k));
#pragma omp parallel for schedule(static) if (rows * k >= kOmpMinWork && !omp_in_parallel())
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* dr = dots.data() + r * k;
        std::int32_t best = 0;
        float bv = cnorm[0] - 2.0f * dr[0];
        for (std::int64_t j = 1; j < k; ++j) {
          const float v = cnorm[static_cast<std::size_t>(j)] - 2.0f * dr[j];
          if (v < bv) {
            bv = v;
            best = static_cast<std::int32_t>(j);
          }
        }
        labels[r0 + r] = best;
      }
    }
  }
  if (dist) {
#pragma omp parallel for schedule(static) if (n * d >= kOmpMinWork && !omp_in_parallel())
    for (std::int64_t i = 0; i < n; ++i) dist[i] = sq_dist(x.row(i), centers.row(labels[i]), d);
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
#pragma omp parallel for schedule(static) if (n * d >= kOmpMinWork && !omp_in_parallel())
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

// Adds the rows [r0, r1) into the double sums s [k x d] and counts cnt [k] of their labels.
void add_rows(ConstMatrixView x, const std::int32_t* labels, std::int64_t r0, std::int64_t r1, double* s,
              std::int64_t* cnt) {
  const std::int64_t d = x.cols;
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int32_t j = labels[r];
    double* sj = s + static_cast<std::size_t>(j) * static_cast<std::size_t>(d);
    const float* xr = x.row(r);
#pragma omp simd
    for (std::int64_t c = 0; c < d; ++c) sj[c] += xr[c];
    ++cnt[j];
  }
}

// Per-cluster sums of fixed 4096-row chunks added in chunk order (thread-count independent). When
// `assign` is given, each chunk's labels are first recomputed from that panel (one fused pass of
// sklearn's lloyd_iter) and `changed` counts the labels that differ from the previous ones.
void cluster_sums(ConstMatrixView x, std::int32_t* labels, int k, const Panel* assign, std::vector<double>& sum,
                  std::vector<std::int64_t>& counts, std::int64_t* changed) {
  const std::int64_t n = x.rows, d = x.cols;
  const std::int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  const std::size_t kd = static_cast<std::size_t>(k) * static_cast<std::size_t>(d);
  std::vector<double> part(static_cast<std::size_t>(chunks) * kd, 0.0);
  std::vector<std::int64_t> pcount(static_cast<std::size_t>(chunks) * static_cast<std::size_t>(k), 0);
  std::vector<std::int64_t> pchanged(static_cast<std::size_t>(chunks), 0);
#pragma omp parallel if (chunks > 1 && n * d * k >= kOmpMinWork && !omp_in_parallel())
  {
    std::vector<float> dots;
    std::vector<std::int32_t> old;
#pragma omp for schedule(static)
    for (std::int64_t ch = 0; ch < chunks; ++ch) {
      const std::int64_t r0 = ch * kSumChunk, r1 = std::min(n, r0 + kSumChunk);
      if (assign) {
        old.assign(labels + r0, labels + r1);
        assign_rows(x, *assign, r0, r1, labels, dots);
        std::int64_t c = 0;
        for (std::int64_t r = r0; r < r1; ++r) c += labels[r] != old[static_cast<std::size_t>(r - r0)];
        pchanged[static_cast<std::size_t>(ch)] = c;
      }
      add_rows(x, labels, r0, r1, part.data() + static_cast<std::size_t>(ch) * kd, pcount.data() + ch * k);
    }
  }
  sum.assign(kd, 0.0);
  counts.assign(static_cast<std::size_t>(k), 0);
  if (changed) *changed = 0;
  for (std::int64_t ch = 0; ch < chunks; ++ch) {
    for (std::size_t o = 0; o < kd; ++o) sum[o] += part[static_cast<std::size_t>(ch) * kd + o];
    for (int j = 0; j < k; ++j) counts[static_cast<std::size_t>(j)] += pcount[static_cast<std::size_t>(ch * k + j)];
    if (changed) *changed += pchanged[static_cast<std::size_t>(ch)];
  }
}

// New centres from the sums (after relocation); returns the summed squared shift.
double finish_update(ConstMatrixView x, const std::int32_t* labels, const float* dist, ConstMatrixView old_centers,
                     std::vector<double>& sum, std::vector<std::int64_t>& counts, Matrix& centers) {
  const std::int64_t d = x.cols;
  const int k = static_cast<int>(old_centers.rows);
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

}  // namespace

double kmeans_update_cpu(ConstMatrixView x, const std::int32_t* labels, const float* dist, ConstMatrixView old_centers,
                         Matrix& centers, std::vector<std::int64_t>& counts) {
  std::vector<double> sum;
  cluster_sums(x, const_cast<std::int32_t*>(labels), static_cast<int>(old_centers.rows), nullptr, sum, counts, nullptr);
  return finish_update(x, labels, dist, old_centers, sum, counts, centers);
}

double inertia(ConstMatrixView x, ConstMatrixView centers, const std::vector<std::int32_t>& labels) {
  const std::int64_t n = x.rows, d = x.cols;
  HMR_REQUIRE(static_cast<std::int64_t>(labels.size()) == n, "inertia: {} labels for {} rows", labels.size(), n);
  constexpr std::int64_t kChunk = 4096;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<std::size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1 && !omp_in_parallel())
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
  const std::int64_t n = xc.rows, d = xc.cols;
  const int k = static_cast<int>(init.rows());
  LloydRun run;
  Matrix centers = init;
  run.labels.assign(static_cast<std::size_t>(n), -1);
  std::vector<std::int64_t> counts;
  std::vector<double> sum;
  const bool fused = use_panel(k, d);
  int it = 0;
  for (; it < max_iter; ++it) {
    // One iteration = labels from the centres, then the centres from the labels (sklearn's
    // lloyd_iter); strict convergence when no label changed.
    std::int64_t changed = 0;
    if (fused) {
      const Panel p = make_panel(centers.data(), centers.cols(), k, d);
      cluster_sums(xc, run.labels.data(), k, &p, sum, counts, &changed);
    } else {
      const std::vector<std::int32_t> old = run.labels;
      kmeans_assign_cpu(xc, centers, run.labels.data(), nullptr);
      for (std::int64_t i = 0; i < n; ++i)
        changed += run.labels[static_cast<std::size_t>(i)] != old[static_cast<std::size_t>(i)];
      cluster_sums(xc, run.labels.data(), k, nullptr, sum, counts, nullptr);
    }
    Matrix next;
    const double shift = finish_update(xc, run.labels.data(), nullptr, centers, sum, counts, next);
    centers = std::move(next);
    if (changed == 0) {
      run.strict = true;
      break;
    }
    if (shift <= tol) break;
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
  const prep::ColumnStats stats = prep::column_stats_cpu(x, n * d >= kOmpMinWork);
  const std::vector<double>& mean = stats.mean;
  std::vector<double> var(static_cast<std::size_t>(d));
  for (std::size_t c = 0; c < var.size(); ++c) var[c] = stats.m2[c] / static_cast<double>(n);
  const double tol =
      opt.tol == 0.0 ? 0.0 : opt.tol * std::accumulate(var.begin(), var.end(), 0.0) / static_cast<double>(d);
  std::vector<float> meanf(static_cast<std::size_t>(d));
  for (std::size_t c = 0; c < meanf.size(); ++c) meanf[c] = static_cast<float>(mean[c]);
  Matrix xc(n, d);
#pragma omp parallel for schedule(static) if (n * d >= kOmpMinWork)
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < d; ++c) xc(r, c) = x(r, c) - meanf[static_cast<std::size_t>(c)];

  // Inits are drawn in sklearn's order from one stream. Each init consumes a fixed number of
  // draws (one uniform for the first centre, 2 + floor(ln k) per further centre) and the runs
  // draw nothing, so init i starts from the stream advanced past i inits, and the inits can be
  // made in lockstep (kmeans_plusplus_batch) with the same picks as one after the other.
  const std::vector<float> xn = row_norms(xc);
  std::vector<Matrix> inits;
  {
    NvtxRange r2("kmeans/init");
    const int trials = 2 + static_cast<int>(std::log(static_cast<double>(opt.k)));
    const std::uint64_t draws_per_init = 2ULL * (1ULL + static_cast<std::uint64_t>(opt.k - 1) * trials);
    // Batches of inits share the passes over x; their candidate distances take 4 x trials x n
    // bytes each, so batches are capped at ~256 MB of them.
    const std::int64_t per_init = static_cast<std::int64_t>(trials) * n * 4;
    const int batch =
        static_cast<int>(std::clamp<std::int64_t>((256LL << 20) / std::max<std::int64_t>(per_init, 1), 1, opt.n_init));
    for (int i0 = 0; i0 < opt.n_init; i0 += batch) {
      std::vector<KMeansRng> rngs;
      for (int i = i0; i < std::min(opt.n_init, i0 + batch); ++i) {
        rngs.emplace_back(static_cast<std::uint32_t>(opt.seed & 0xffffffffULL));
        rngs.back().discard(draws_per_init * static_cast<std::uint64_t>(i));
      }
      for (auto& m : kmeans_plusplus_batch(xc, opt.k, rngs, xn)) inits.push_back(std::move(m));
    }
  }
  std::vector<LloydRun> runs;
  if (!backend.is_cuda()) {
    // The Lloyd runs go to separate threads (each run alone computes exactly what it would on all
    // threads: its loops use fixed chunks), so no fork/join per iteration.
    runs.resize(static_cast<std::size_t>(opt.n_init));
    const bool by_run = opt.n_init > 1 && omp_get_max_threads() > 1;
    int finished = 0;
#pragma omp parallel for schedule(dynamic, 1) if (by_run)
    for (int i = 0; i < opt.n_init; ++i) {
      runs[static_cast<std::size_t>(i)] = lloyd_cpu(xc, inits[static_cast<std::size_t>(i)], opt.max_iter, tol);
      if (opt.progress) {
#pragma omp critical(hmr_kmeans_progress)
        opt.progress(++finished, opt.n_init);
      }
    }
  } else {
    runs = HMR_CUDA_CALL(backend, kmeans_lloyd_runs(backend, xc, inits, opt.max_iter, tol));
    if (opt.progress) opt.progress(opt.n_init, opt.n_init);
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
