// cluster/dbscan.cpp — DBSCAN with scikit-learn's semantics (see dbscan.h; sklearn/cluster/_dbscan.py,
// _dbscan_inner.pyx): blocked brute-force eps-neighbourhoods on threads, then sklearn's
// dbscan_inner DFS. dbscan() builds the CSR in one pass (each row's list written by the one thread
// owning its block, j increasing: the same bytes at any thread count); the two-pass twins (counts,
// then fill) mirror the cuda kernels. Pairs are screened by a float sum with a proven error bound
// and only the narrow band around eps is decided by the double sum, so every decision is the double
// one. The cuda backend computes the same counts and CSR with kernels (dbscan_cuda.cpp) and
// expands here. Memory: x + 4 bytes per neighbour pair (the CSR, as sklearn's neighbourhood
// arrays) + O(n); never an n x n matrix. Time: n^2 * d float terms.
#include "cluster/dbscan.h"

#include <omp.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>

#include "cluster/dbscan_cuda.h"
#include "core/error.h"
#include "core/log.h"

namespace hmr::cluster {
namespace {

constexpr std::int64_t kBlock = 64;  // rows per block: a block of rows stays in cache while columns stream

void check_input(ConstMatrixView x, const char* what) {
  HMR_REQUIRE(x.rows > 0 && x.cols > 0, "{}: empty input ({} x {})", what, x.rows, x.cols);
  for (std::int64_t i = 0; i < x.rows; ++i)
    for (std::int64_t c = 0; c < x.cols; ++c)
      HMR_REQUIRE(std::isfinite(x.data[i * x.ld + c]), "{}: non-finite value at row {}, column {}", what, i, c);
}

std::vector<double> row_norms(ConstMatrixView x, DbscanMetric m) {
  std::vector<double> n(static_cast<std::size_t>(x.rows), 0.0);
  if (m != DbscanMetric::cosine) return n;
  for (std::int64_t i = 0; i < x.rows; ++i) {
    double s = 0.0;
    for (std::int64_t c = 0; c < x.cols; ++c) s += static_cast<double>(x.data[i * x.ld + c]) * x.data[i * x.ld + c];
    n[static_cast<std::size_t>(i)] = std::sqrt(s);
  }
  return n;
}

double reduced_distance(const float* a, const float* b, std::int64_t d, DbscanMetric m, double na, double nb) {
  double s = 0.0;
  switch (m) {
    case DbscanMetric::euclidean:
      for (std::int64_t c = 0; c < d; ++c) {
        const double v = static_cast<double>(a[c]) - b[c];
        s += v * v;
      }
      return s;
    case DbscanMetric::manhattan:
      for (std::int64_t c = 0; c < d; ++c) s += std::fabs(static_cast<double>(a[c]) - b[c]);
      return s;
    case DbscanMetric::cosine: {
      if (na == 0.0 || nb == 0.0) return 1.0;
      for (std::int64_t c = 0; c < d; ++c) s += static_cast<double>(a[c]) * b[c];
      return std::clamp(1.0 - s / (na * nb), 0.0, 2.0);
    }
  }
  return s;
}

// The prefilter's float sum of squared (or absolute) differences, in 8 lanes (two SSE registers:
// the x86-64 baseline), lanes added pairwise at the end.
[[gnu::always_inline]] inline float float_sum(const float* a, const float* b, std::int64_t d, bool squared) {
  std::int64_t c = 0;
  float tail = 0.0f;
#if defined(__SSE2__)
  __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
  const __m128 abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  for (; c + 8 <= d; c += 8) {
    const __m128 v0 = _mm_sub_ps(_mm_loadu_ps(a + c), _mm_loadu_ps(b + c));
    const __m128 v1 = _mm_sub_ps(_mm_loadu_ps(a + c + 4), _mm_loadu_ps(b + c + 4));
    s0 = _mm_add_ps(s0, squared ? _mm_mul_ps(v0, v0) : _mm_and_ps(v0, abs_mask));
    s1 = _mm_add_ps(s1, squared ? _mm_mul_ps(v1, v1) : _mm_and_ps(v1, abs_mask));
  }
  alignas(16) float l[8];
  _mm_store_ps(l, s0);
  _mm_store_ps(l + 4, s1);
#else
  float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (; c + 8 <= d; c += 8)
    for (int t = 0; t < 8; ++t) {
      const float v = a[c + t] - b[c + t];
      l[t] += squared ? v * v : std::fabs(v);
    }
#endif
  for (; c < d; ++c) {
    const float v = a[c] - b[c];
    tail += squared ? v * v : std::fabs(v);
  }
  return (((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))) + tail;
}

// fd[jj] = the float sum of squared (absolute) differences between xi and column jj of the
// transposed block pt [d x kBlock], summed over features in order, 4 columns per SSE lane group.
// Same error bound as float_sum (non-negative terms, any order).
[[gnu::always_inline]] inline void panel_sums(const float* xi, const float* pt, std::int64_t d, bool squared,
                                              float* fd) {
#if defined(__SSE2__)
  static_assert(kBlock == 64);
  const __m128 abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  __m128 acc[16];
  for (auto& x : acc) x = _mm_setzero_ps();
  for (std::int64_t c = 0; c < d; ++c) {
    const __m128 v = _mm_set1_ps(xi[c]);
    const float* row = pt + c * kBlock;
    for (int t = 0; t < 16; ++t) {
      const __m128 diff = _mm_sub_ps(_mm_loadu_ps(row + 4 * t), v);
      acc[t] = _mm_add_ps(acc[t], squared ? _mm_mul_ps(diff, diff) : _mm_and_ps(diff, abs_mask));
    }
  }
  for (int t = 0; t < 16; ++t) _mm_storeu_ps(fd + 4 * t, acc[t]);
#else
  for (int j = 0; j < kBlock; ++j) fd[j] = 0.0f;
  for (std::int64_t c = 0; c < d; ++c)
    for (int j = 0; j < kBlock; ++j) {
      const float diff = pt[c * kBlock + j] - xi[c];
      fd[j] += squared ? diff * diff : std::fabs(diff);
    }
#endif
}

// reduced_distance(...) <= lim, with the same sums: for euclidean and manhattan the partial sums
// of non-negative terms never decrease under round-to-nearest, so once one exceeds lim the full
// sum does too and the pair can be dropped early (checked every 8 terms to keep the loop simple).
[[gnu::always_inline]] inline bool within_limit(const float* a, const float* b, std::int64_t d, DbscanMetric m,
                                                double na, double nb, double lim, double reject_above,
                                                double accept_below) {
  if (m == DbscanMetric::cosine) return reduced_distance(a, b, d, m, na, nb) <= lim;
  // Float prefilter with 8 independent sums (vectorisable, no long dependency chain). Every term is
  // non-negative, so the float result is within a relative (d + 3) * 2^-24 of the exact sum (plus
  // an absolute d * 2^-140 for underflow), whatever the order: reject_above (accept_below) is lim
  // widened (narrowed) by 4x that, so a pair it rejects (accepts) is outside (inside) in exact
  // arithmetic and in the double sum below, whose error is ~1e-16 relative; only the pairs in the
  // narrow band between are decided by that double sum (the cuda kernel's arithmetic).
  if (reject_above > 0.0) {
    const float f = float_sum(a, b, d, m == DbscanMetric::euclidean);
    if (static_cast<double>(f) > reject_above) return false;
    if (static_cast<double>(f) < accept_below) return true;
  }
  double s = 0.0;
  for (std::int64_t c0 = 0; c0 < d; c0 += 8) {
    const std::int64_t c1 = std::min(d, c0 + 8);
    if (m == DbscanMetric::euclidean) {
      for (std::int64_t c = c0; c < c1; ++c) {
        const double v = static_cast<double>(a[c]) - b[c];
        s += v * v;
      }
    } else {
      for (std::int64_t c = c0; c < c1; ++c) s += std::fabs(static_cast<double>(a[c]) - b[c]);
    }
    if (s > lim) return false;
  }
  return true;
}

// Calls f(b, i, j) for every pair within eps, the row blocks b (rows i) in parallel, j increasing
// within each row.
template <class F>
void for_each_neighbour(ConstMatrixView x, double eps, DbscanMetric m, F&& f) {
  const std::int64_t n = x.rows, d = x.cols;
  const auto norms = row_norms(x, m);
  const double lim = m == DbscanMetric::euclidean ? eps * eps : eps;  // on reduced_distance's scale
  // Prefilter threshold (see within_limit): 4x the float error bound; off (0) where float could
  // overflow, i.e. for limits near float's range.
  const double rel = 4.0 * static_cast<double>(d + 3) * 0x1p-24, abs_slack = static_cast<double>(d) * 0x1p-138;
  const double reject_above = lim < 1e30 && rel < 0.5 ? lim * (1.0 + rel) + abs_slack : 0.0;
  const double accept_below = reject_above > 0.0 ? lim * (1.0 - rel) - abs_slack : -1.0;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  const bool panel = reject_above > 0.0 && m != DbscanMetric::cosine;
#pragma omp parallel
  {
    // Column block transposed ([d x kBlock], zero padded): the float prefilter of one row against
    // the kBlock columns then runs across columns in SIMD lanes, with no horizontal sums.
    std::vector<float> pt(panel ? static_cast<std::size_t>(d * kBlock) : 0), fd(kBlock);
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t i0 = b * kBlock, i1 = std::min(n, i0 + kBlock);
      for (std::int64_t j0 = 0; j0 < n; j0 += kBlock) {
        const std::int64_t j1 = std::min(n, j0 + kBlock);
        if (panel) {
          std::fill(pt.begin(), pt.end(), 0.0f);
          for (std::int64_t j = j0; j < j1; ++j)
            for (std::int64_t c = 0; c < d; ++c)
              pt[static_cast<std::size_t>(c * kBlock + (j - j0))] = x.data[j * x.ld + c];
          for (std::int64_t i = i0; i < i1; ++i) {
            const float* xi = x.data + i * x.ld;
            panel_sums(xi, pt.data(), d, m == DbscanMetric::euclidean, fd.data());
            for (std::int64_t j = j0; j < j1; ++j) {
              const double g = fd[static_cast<std::size_t>(j - j0)];
              if (i == j || g < accept_below ||
                  (g <= reject_above && reduced_distance(xi, x.data + j * x.ld, d, m, 0.0, 0.0) <= lim))
                f(b, i, j);
            }
          }
          continue;
        }
        for (std::int64_t i = i0; i < i1; ++i) {
          const float* xi = x.data + i * x.ld;
          const double ni = norms[static_cast<std::size_t>(i)];
          for (std::int64_t j = j0; j < j1; ++j) {
            if (i == j || within_limit(xi, x.data + j * x.ld, d, m, ni, norms[static_cast<std::size_t>(j)], lim,
                                       reject_above, accept_below))
              f(b, i, j);
          }
        }
      }
    }
  }
}

}  // namespace

DbscanMetric dbscan_metric(const std::string& name) {
  if (name == "euclidean" || name == "l2") return DbscanMetric::euclidean;
  if (name == "manhattan" || name == "cityblock" || name == "l1") return DbscanMetric::manhattan;
  if (name == "cosine") return DbscanMetric::cosine;
  input_error("dbscan: unknown metric '{}' (known: euclidean, manhattan, cosine)", name);
}

const char* dbscan_metric_name(DbscanMetric m) {
  switch (m) {
    case DbscanMetric::euclidean:
      return "euclidean";
    case DbscanMetric::manhattan:
      return "manhattan";
    case DbscanMetric::cosine:
      return "cosine";
  }
  return "?";
}

double dbscan_distance(const float* a, const float* b, std::int64_t d, DbscanMetric m, double na, double nb) {
  const double r = reduced_distance(a, b, d, m, na, nb);
  return m == DbscanMetric::euclidean ? std::sqrt(r) : r;
}

std::vector<std::int32_t> dbscan_counts_cpu(ConstMatrixView x, double eps, DbscanMetric m) {
  std::vector<std::int32_t> counts(static_cast<std::size_t>(x.rows), 0);
  // Each row belongs to one block and one thread: plain increments are race-free.
  for_each_neighbour(x, eps, m,
                     [&](std::int64_t, std::int64_t i, std::int64_t) { ++counts[static_cast<std::size_t>(i)]; });
  return counts;
}

void dbscan_neighbourhoods_cpu(ConstMatrixView x, double eps, DbscanMetric m, const std::vector<std::int32_t>& counts,
                               std::vector<std::int64_t>& off, std::vector<std::int32_t>& idx) {
  const std::int64_t n = x.rows;
  off.assign(static_cast<std::size_t>(n + 1), 0);
  for (std::int64_t i = 0; i < n; ++i)
    off[static_cast<std::size_t>(i + 1)] = off[static_cast<std::size_t>(i)] + counts[static_cast<std::size_t>(i)];
  idx.assign(static_cast<std::size_t>(off.back()), 0);
  std::vector<std::int64_t> pos(off.begin(), off.end() - 1);
  for_each_neighbour(x, eps, m, [&](std::int64_t, std::int64_t i, std::int64_t j) {
    idx[static_cast<std::size_t>(pos[static_cast<std::size_t>(i)]++)] = static_cast<std::int32_t>(j);
  });
}

void dbscan_csr_cpu(ConstMatrixView x, double eps, DbscanMetric m, std::vector<std::int32_t>& counts,
                    std::vector<std::int64_t>& off, std::vector<std::int32_t>& idx) {
  const std::int64_t n = x.rows;
  // One pass: each row block (one thread) keeps its rows' lists; the CSR is assembled after.
  std::vector<std::vector<std::vector<std::int32_t>>> lists(static_cast<std::size_t>((n + kBlock - 1) / kBlock));
  for (std::size_t b = 0; b < lists.size(); ++b)
    lists[b].resize(
        static_cast<std::size_t>(std::min<std::int64_t>(kBlock, n - static_cast<std::int64_t>(b) * kBlock)));
  for_each_neighbour(x, eps, m, [&](std::int64_t b, std::int64_t i, std::int64_t j) {
    lists[static_cast<std::size_t>(b)][static_cast<std::size_t>(i - b * kBlock)].push_back(
        static_cast<std::int32_t>(j));
  });
  counts.assign(static_cast<std::size_t>(n), 0);
  off.assign(static_cast<std::size_t>(n + 1), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& l = lists[static_cast<std::size_t>(i / kBlock)][static_cast<std::size_t>(i % kBlock)];
    counts[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(l.size());
    off[static_cast<std::size_t>(i + 1)] = off[static_cast<std::size_t>(i)] + static_cast<std::int64_t>(l.size());
  }
  idx.resize(static_cast<std::size_t>(off.back()));
  for (std::int64_t i = 0; i < n; ++i) {
    auto& l = lists[static_cast<std::size_t>(i / kBlock)][static_cast<std::size_t>(i % kBlock)];
    std::copy(l.begin(), l.end(), idx.begin() + off[static_cast<std::size_t>(i)]);
    std::vector<std::int32_t>().swap(l);  // release as we go: peak ~ 2 x the CSR
  }
}

std::vector<std::int32_t> dbscan_expand(const std::vector<std::uint8_t>& is_core, const std::vector<std::int64_t>& off,
                                        const std::vector<std::int32_t>& idx) {
  const std::int64_t n = static_cast<std::int64_t>(is_core.size());
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n), -1);
  std::vector<std::int32_t> stack;
  std::int32_t label_num = 0;
  for (std::int64_t start = 0; start < n; ++start) {
    if (labels[static_cast<std::size_t>(start)] != -1 || !is_core[static_cast<std::size_t>(start)]) continue;
    // dbscan_inner: depth-first search from `start`, expanding only core points.
    std::int64_t i = start;
    for (;;) {
      const auto ui = static_cast<std::size_t>(i);
      if (labels[ui] == -1) {
        labels[ui] = label_num;
        if (is_core[ui])
          for (std::int64_t p = off[ui]; p < off[ui + 1]; ++p)
            if (labels[static_cast<std::size_t>(idx[static_cast<std::size_t>(p)])] == -1)
              stack.push_back(idx[static_cast<std::size_t>(p)]);
      }
      if (stack.empty()) break;
      i = stack.back();
      stack.pop_back();
    }
    ++label_num;
  }
  return labels;
}

DbscanResult dbscan(Backend& backend, ConstMatrixView x, const DbscanOptions& opt) {
  HMR_REQUIRE(std::isfinite(opt.eps) && opt.eps > 0.0, "dbscan: eps must be a finite number > 0 (got {})", opt.eps);
  HMR_REQUIRE(opt.min_samples >= 1, "dbscan: min_samples must be >= 1 (got {})", opt.min_samples);
  HMR_REQUIRE(x.rows < (std::int64_t{1} << 31), "dbscan: at most 2^31 - 1 points (got {})", x.rows);
  check_input(x, "dbscan");
  std::vector<std::int32_t> counts;
  std::vector<std::int64_t> off;
  std::vector<std::int32_t> idx;
  if (backend.is_cuda() && x.cols <= 8192 && x.ld == x.cols) {
    const auto norms = opt.metric == DbscanMetric::cosine ? row_norms(x, opt.metric) : std::vector<double>{};
    HMR_CUDA_CALL(backend, dbscan_neighbourhoods(backend, x, norms, opt.metric, opt.eps, counts, off, idx));
  } else {
    if (backend.is_cuda()) spdlog::info("dbscan: {} features (> 8192): neighbourhoods on the cpu", x.cols);
    dbscan_csr_cpu(x, opt.eps, opt.metric, counts, off, idx);
  }
  DbscanResult r;
  std::vector<std::uint8_t> is_core(counts.size());
  for (std::size_t i = 0; i < counts.size(); ++i) {
    is_core[i] = counts[i] >= opt.min_samples;
    if (is_core[i]) r.core_sample_indices.push_back(static_cast<std::int64_t>(i));
  }
  r.labels = dbscan_expand(is_core, off, idx);
  for (auto l : r.labels) {
    if (l < 0) ++r.n_noise;
    r.n_clusters = std::max(r.n_clusters, l + 1);
  }
  return r;
}

EpsProposal dbscan_propose_eps(ConstMatrixView x, int min_samples, DbscanMetric metric) {
  HMR_REQUIRE(min_samples >= 2, "dbscan --eps auto: min_samples must be >= 2 (k = min_samples - 1; got {})",
              min_samples);
  HMR_REQUIRE(x.rows >= min_samples, "dbscan --eps auto: needs at least min_samples = {} points (got {})", min_samples,
              x.rows);
  check_input(x, "dbscan --eps auto");
  const std::int64_t n = x.rows, d = x.cols;
  const auto norms = row_norms(x, metric);
  const auto k = static_cast<std::size_t>(min_samples - 1);
  EpsProposal p;
  p.sorted_kdist.assign(static_cast<std::size_t>(n), 0.0);
#pragma omp parallel
  {
    std::vector<double> row(static_cast<std::size_t>(n));
#pragma omp for schedule(dynamic, 16)
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < n; ++j)
        row[static_cast<std::size_t>(j)] =
            i == j ? 0.0
                   : dbscan_distance(x.data + i * x.ld, x.data + j * x.ld, d, metric,
                                     norms[static_cast<std::size_t>(i)], norms[static_cast<std::size_t>(j)]);
      // The point itself is the 0th neighbour (distance 0), the k-th other point is element k.
      std::nth_element(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(k), row.end());
      p.sorted_kdist[static_cast<std::size_t>(i)] = row[k];
    }
  }
  auto& v = p.sorted_kdist;
  std::sort(v.begin(), v.end());
  const double lo = v.front(), hi = v.back();
  if (n < 3 || hi <= lo) {
    p.knee_rank = n - 1;
    p.eps = hi;
    return p;
  }
  // Scaled points (t, y) with t = r / (n-1), y = (v - lo) / (hi - lo); the chord is y = t. For a
  // convex increasing curve the knee lies below the chord: maximise t - y (the distance to the
  // chord up to the constant 1/sqrt(2)).
  double best = -1.0;
  for (std::int64_t r = 0; r < n; ++r) {
    const double t = static_cast<double>(r) / static_cast<double>(n - 1);
    const double y = (v[static_cast<std::size_t>(r)] - lo) / (hi - lo);
    if (t - y > best) {
      best = t - y;
      p.knee_rank = r;
    }
  }
  p.eps = v[static_cast<std::size_t>(p.knee_rank)];
  if (!(p.eps > 0.0)) p.eps = hi;  // duplicates below the knee: a zero eps is not a valid DBSCAN radius
  return p;
}

}  // namespace hmr::cluster
