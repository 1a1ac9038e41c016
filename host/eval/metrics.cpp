// eval/metrics.cpp — clustering metrics with scikit-learn's definitions, accumulated in double.
// Sources: sklearn/metrics/cluster/_unsupervised.py (silhouette_samples, calinski_harabasz_score,
// davies_bouldin_score) and _supervised.py (contingency_matrix, pair_confusion_matrix,
// adjusted_rand_score, mutual_info_score, entropy, normalized_mutual_info_score).
// Silhouette: rows are grouped by cluster (a stable counting sort), so each row's per-cluster
// distance sums are sums over contiguous segments; the cpu backend forms row tiles of distances
// with one dgemm each (||a||^2 + ||b||^2 - 2 a.b on centred data, in double, as sklearn's float64
// upcast), the cuda backend tiles exact differences on the device (silhouette_cuda.cpp). Neither
// stores the n x n matrix.
#include "eval/metrics.h"

#include <cblas.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "cluster/kmeans.h"
#include "cluster/panel_dots.h"
#include "core/error.h"
#include "core/nvtx.h"
#include "eval/silhouette_cuda.h"
#include "eval/silhouette_detail.h"

namespace hmr::eval {

namespace {

void check_x(ConstMatrixView x, const char* what) {
  HMR_REQUIRE(x.rows > 0 && x.cols > 0, "{}: empty input ({} x {})", what, x.rows, x.cols);
  std::int64_t r = 0, c = 0;
  HMR_REQUIRE(all_finite(x, &r, &c), "{}: input contains NaN or infinity at row {}, column {}", what, r, c);
}

// Labels -> codes 0..k-1 in sorted order of the distinct values (np.unique's return_inverse).
struct Encoded {
  std::vector<std::int32_t> values;  // distinct, sorted
  std::vector<std::int32_t> code;    // [n]
  std::vector<std::int64_t> count;   // [k]
  int k() const { return static_cast<int>(values.size()); }
};

Encoded encode(Labels l) {
  Encoded e;
  e.values.assign(l.begin(), l.end());
  std::sort(e.values.begin(), e.values.end());
  e.values.erase(std::unique(e.values.begin(), e.values.end()), e.values.end());
  e.code.resize(l.size());
  e.count.assign(e.values.size(), 0);
  for (std::size_t i = 0; i < l.size(); ++i) {
    const auto c =
        static_cast<std::int32_t>(std::lower_bound(e.values.begin(), e.values.end(), l[i]) - e.values.begin());
    e.code[i] = c;
    ++e.count[static_cast<std::size_t>(c)];
  }
  return e;
}

Encoded check_internal(ConstMatrixView x, Labels labels, const char* what) {
  check_x(x, what);
  HMR_REQUIRE(static_cast<std::int64_t>(labels.size()) == x.rows, "{}: {} labels for {} samples", what, labels.size(),
              x.rows);
  Encoded e = encode(labels);
  HMR_REQUIRE(e.k() >= 2 && e.k() <= x.rows - 1,
              "{}: number of labels is {}. Valid values are 2 to n_samples - 1 (inclusive)", what, e.k());
  return e;
}

void check_pair(Labels truth, Labels pred, const char* what) {
  HMR_REQUIRE(truth.size() == pred.size(), "{}: labels_true and labels_pred must have same size, got {} and {}", what,
              truth.size(), pred.size());
  HMR_REQUIRE(!truth.empty(), "{}: empty label arrays", what);
}

// Cluster centroids in double [k x d].
std::vector<double> centroids(ConstMatrixView x, const Encoded& e) {
  const std::int64_t d = x.cols;
  std::vector<double> c(static_cast<std::size_t>(e.k()) * static_cast<std::size_t>(d), 0.0);
  for (std::int64_t i = 0; i < x.rows; ++i) {
    double* ci = c.data() + static_cast<std::size_t>(e.code[static_cast<std::size_t>(i)]) * static_cast<std::size_t>(d);
    for (std::int64_t j = 0; j < d; ++j) ci[j] += x(i, j);
  }
  for (int q = 0; q < e.k(); ++q)
    for (std::int64_t j = 0; j < d; ++j)
      c[static_cast<std::size_t>(q) * static_cast<std::size_t>(d) + j] /=
          static_cast<double>(e.count[static_cast<std::size_t>(q)]);
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Silhouette.

namespace detail {

SortedData sort_by_cluster(ConstMatrixView x, Labels labels, std::vector<std::int32_t>* codes_out) {
  const Encoded e = encode(labels);
  SortedData s;
  s.k = e.k();
  s.offsets.assign(static_cast<std::size_t>(s.k) + 1, 0);
  for (int q = 0; q < s.k; ++q)
    s.offsets[static_cast<std::size_t>(q) + 1] =
        s.offsets[static_cast<std::size_t>(q)] + e.count[static_cast<std::size_t>(q)];
  std::vector<std::int64_t> next(s.offsets.begin(), s.offsets.end() - 1);
  s.order.resize(static_cast<std::size_t>(x.rows));
  for (std::int64_t i = 0; i < x.rows; ++i)
    s.order[static_cast<std::size_t>(next[static_cast<std::size_t>(e.code[static_cast<std::size_t>(i)])]++)] = i;
  // Centre (in double, then float) so that the distance formulas lose less to cancellation.
  std::vector<double> mean(static_cast<std::size_t>(x.cols), 0.0);
  for (std::int64_t i = 0; i < x.rows; ++i)
    for (std::int64_t c = 0; c < x.cols; ++c) mean[static_cast<std::size_t>(c)] += x(i, c);
  for (auto& m : mean) m /= static_cast<double>(x.rows);
  s.x = Matrix(x.rows, x.cols);
  for (std::int64_t r = 0; r < x.rows; ++r) {
    const std::int64_t src = s.order[static_cast<std::size_t>(r)];
    for (std::int64_t c = 0; c < x.cols; ++c)
      s.x(r, c) = static_cast<float>(static_cast<double>(x(src, c)) - mean[static_cast<std::size_t>(c)]);
  }
  if (codes_out) *codes_out = e.code;
  return s;
}

namespace {

// g[j] <- sqrt(max(0, ni + norm[j] - 2 g[j])) for j < count; two lanes at a time (SSE2 is in every
// x86-64 baseline, and the scalar std::sqrt keeps an errno branch that blocks vectorisation).
void distances_from_dots(double ni, const double* norm, double* g, std::int64_t count) {
  std::int64_t j = 0;
#if defined(__SSE2__)
  const __m128d vi = _mm_set1_pd(ni), two = _mm_set1_pd(2.0), zero = _mm_setzero_pd();
  for (; j + 2 <= count; j += 2) {
    const __m128d v = _mm_sub_pd(_mm_add_pd(vi, _mm_loadu_pd(norm + j)), _mm_mul_pd(two, _mm_loadu_pd(g + j)));
    _mm_storeu_pd(g + j, _mm_sqrt_pd(_mm_max_pd(v, zero)));
  }
#endif
  for (; j < count; ++j) {
    const double v = ni + norm[j] - 2.0 * g[j];
    g[j] = v > 0.0 ? std::sqrt(v) : 0.0;
  }
}

// ---- all rows at once: cluster-pair tasks with a fused distance kernel ----------------------
//
// Rows are sorted by cluster, so the block of distances between clusters p <= q is a contiguous
// rectangle. Task (p, q, chunk) takes a chunk of rows [a, b) of cluster p and the columns of q
// (for q == p only the columns j >= a: the distance matrix is symmetric). The kernel forms 4 x 8
// tiles of dot products in registers (AVX2+FMA, double), turns them into distances and adds them
// both into the rows' sums (-> sums[i][q]) and, by symmetry, into a per-task column vector (->
// sums[j][p] for the columns). Nothing larger than a tile is materialised and every sum is taken
// in an order fixed by the task layout, so the result does not depend on the thread count.

struct SilTask {
  int p = 0, q = 0;
  std::int64_t a = 0, b = 0;             // rows (sorted order)
  std::int64_t c0 = 0, c1 = 0;           // columns
  std::size_t row_off = 0, col_off = 0;  // into the row-sum and column-sum buffers
};

#if defined(__x86_64__) && defined(__GNUC__)
template <int R>
__attribute__((target("avx2,fma"), always_inline)) inline void sil_tile_avx2(const double* x, std::int64_t d,
                                                                             const double* xt, std::int64_t ldt,
                                                                             const double* norm, std::int64_t i,
                                                                             std::int64_t j, std::int64_t c1, bool diag,
                                                                             __m256d* rowacc, double* colsum) {
  __m256d acc[R][2];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_pd();
  for (std::int64_t c = 0; c < d; ++c) {
    const __m256d t0 = _mm256_loadu_pd(xt + c * ldt + j), t1 = _mm256_loadu_pd(xt + c * ldt + j + 4);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __m256d xv = _mm256_broadcast_sd(x + (i + r) * d + c);
      acc[r][0] = _mm256_fmadd_pd(xv, t0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_pd(xv, t1, acc[r][1]);
    }
  }
  const __m256d nj0 = _mm256_loadu_pd(norm + j), nj1 = _mm256_loadu_pd(norm + j + 4);
  const __m256d two = _mm256_set1_pd(2.0), zero = _mm256_setzero_pd();
  const __m256d j0 = _mm256_set_pd(static_cast<double>(j + 3), static_cast<double>(j + 2), static_cast<double>(j + 1),
                                   static_cast<double>(j));
  const __m256d j1 = _mm256_add_pd(j0, _mm256_set1_pd(4.0));
  const __m256d end = _mm256_set1_pd(static_cast<double>(c1));
  const __m256d in0 = _mm256_cmp_pd(j0, end, _CMP_LT_OQ), in1 = _mm256_cmp_pd(j1, end, _CMP_LT_OQ);
  __m256d cs0 = zero, cs1 = zero;
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    const __m256d ni = _mm256_broadcast_sd(norm + i + r);
    __m256d v0 = _mm256_sub_pd(_mm256_add_pd(ni, nj0), _mm256_mul_pd(two, acc[r][0]));
    __m256d v1 = _mm256_sub_pd(_mm256_add_pd(ni, nj1), _mm256_mul_pd(two, acc[r][1]));
    v0 = _mm256_and_pd(_mm256_sqrt_pd(_mm256_max_pd(v0, zero)), in0);
    v1 = _mm256_and_pd(_mm256_sqrt_pd(_mm256_max_pd(v1, zero)), in1);
    if (diag) {  // sklearn zeroes the diagonal of X-vs-X distances
      const __m256d ii = _mm256_set1_pd(static_cast<double>(i + r));
      v0 = _mm256_andnot_pd(_mm256_cmp_pd(j0, ii, _CMP_EQ_OQ), v0);
      v1 = _mm256_andnot_pd(_mm256_cmp_pd(j1, ii, _CMP_EQ_OQ), v1);
    }
    rowacc[r] = _mm256_add_pd(rowacc[r], _mm256_add_pd(v0, v1));
    cs0 = _mm256_add_pd(cs0, v0);
    cs1 = _mm256_add_pd(cs1, v1);
  }
  _mm256_storeu_pd(colsum, _mm256_add_pd(_mm256_loadu_pd(colsum), cs0));
  _mm256_storeu_pd(colsum + 4, _mm256_add_pd(_mm256_loadu_pd(colsum + 4), cs1));
}

template <int R>
__attribute__((target("avx2,fma"), always_inline)) inline void sil_rows_avx2(
    const double* x, std::int64_t d, const double* xt, std::int64_t ldt, const double* norm, std::int64_t i,
    std::int64_t jb, std::int64_t je, std::int64_t c1, std::int64_t c0, bool diag, double* rowsum, double* colsum) {
  __m256d rowacc[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) rowacc[r] = _mm256_setzero_pd();
  for (std::int64_t j = jb; j < je; j += 8) {
    const bool dg = diag && j < i + R && i < j + 8;
    sil_tile_avx2<R>(x, d, xt, ldt, norm, i, j, c1, dg, rowacc, colsum + (j - c0));
  }
  alignas(32) double tmp[4];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    _mm256_store_pd(tmp, rowacc[r]);
    rowsum[r] += (tmp[0] + tmp[1]) + (tmp[2] + tmp[3]);
  }
}

__attribute__((target("avx2,fma"))) void sil_task_avx2(const double* x, std::int64_t d, const double* xt,
                                                       std::int64_t ldt, const double* norm, const SilTask& t,
                                                       double* rowsum, double* colsum) {
  constexpr std::int64_t kColBlock = 512;  // columns of xt per pass over the rows (L2-resident)
  const bool diag = t.p == t.q;
  for (std::int64_t jb = t.c0; jb < t.c1; jb += kColBlock) {
    const std::int64_t je = std::min(t.c1, jb + kColBlock);
    std::int64_t i = t.a;
    for (; i + 4 <= t.b; i += 4)
      sil_rows_avx2<4>(x, d, xt, ldt, norm, i, jb, je, t.c1, t.c0, diag, rowsum + (i - t.a), colsum);
    for (; i < t.b; ++i) sil_rows_avx2<1>(x, d, xt, ldt, norm, i, jb, je, t.c1, t.c0, diag, rowsum + (i - t.a), colsum);
  }
}
#endif

// Portable version of the same task (same structure, scalar).
void sil_task_scalar(const double* x, std::int64_t d, const double* norm, const SilTask& t, double* rowsum,
                     double* colsum) {
  for (std::int64_t i = t.a; i < t.b; ++i) {
    double rs = 0.0;
    for (std::int64_t j = t.c0; j < t.c1; ++j) {
      double g = 0.0;
      for (std::int64_t c = 0; c < d; ++c) g += x[i * d + c] * x[j * d + c];
      const double v = norm[i] + norm[j] - 2.0 * g;
      const double dist = (i == j || v <= 0.0) ? 0.0 : std::sqrt(v);
      rs += dist;
      colsum[j - t.c0] += dist;
    }
    rowsum[i - t.a] += rs;
  }
}

// The sorted rows in double (row-major [n x d]), their squared norms (ld entries, zero past n)
// and, when xt is given, the transposed copy [d x ld] (zero columns past n).
void rows_in_double(const SortedData& s, std::vector<double>& xd, std::vector<double>& norm, std::int64_t ld,
                    std::vector<double>* xt) {
  const std::int64_t n = s.x.rows(), d = s.x.cols();
  xd.assign(static_cast<std::size_t>(n * d), 0.0);
  norm.assign(static_cast<std::size_t>(ld), 0.0);
  if (xt) xt->assign(static_cast<std::size_t>(d * ld), 0.0);
  double* t = xt ? xt->data() : nullptr;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    double q = 0.0;
    for (std::int64_t c = 0; c < d; ++c) {
      const double v = s.x(i, c);
      xd[static_cast<std::size_t>(i * d + c)] = v;
      if (t) t[c * ld + i] = v;
      q += v * v;
    }
    norm[static_cast<std::size_t>(i)] = q;
  }
}

void silhouette_sums_all(const SortedData& s, double* sums) {
  const std::int64_t n = s.x.rows(), d = s.x.cols();
  const int k = s.k;
  const auto& off = s.offsets;
  // Sorted rows in double, their squared norms, and the transposed copy the kernel streams
  // (padded by 8 zero columns so the last tile's loads stay in bounds).
  const std::int64_t ldt = n + 8;
  std::vector<double> xd, norm, xt;
  rows_in_double(s, xd, norm, ldt, &xt);
  // Row chunks: small enough for load balance, large enough that the column sums stay ~64n
  // doubles in all.
  const std::int64_t chunk = std::max<std::int64_t>(128, (n / 128 + 3) / 4 * 4);
  std::vector<SilTask> tasks;
  std::vector<std::size_t> first(static_cast<std::size_t>(k) * static_cast<std::size_t>(k));  // first task of (p, q)
  std::size_t rows_total = 0, cols_total = 0;
  for (int p = 0; p < k; ++p)
    for (int q = p; q < k; ++q) {
      first[static_cast<std::size_t>(p * k + q)] = tasks.size();
      for (std::int64_t a = off[static_cast<std::size_t>(p)]; a < off[static_cast<std::size_t>(p) + 1]; a += chunk) {
        SilTask t;
        t.p = p;
        t.q = q;
        t.a = a;
        t.b = std::min(a + chunk, off[static_cast<std::size_t>(p) + 1]);
        t.c0 = q == p ? a : off[static_cast<std::size_t>(q)];
        t.c1 = off[static_cast<std::size_t>(q) + 1];
        t.row_off = rows_total;
        t.col_off = cols_total;
        rows_total += static_cast<std::size_t>(t.b - t.a);
        cols_total += static_cast<std::size_t>(t.c1 - t.c0) + 8;  // + padding for the last tile
        tasks.push_back(t);
      }
    }
  std::vector<double> rowsum(rows_total, 0.0), colsum(cols_total, 0.0);
  const bool avx2 = cluster::detail::have_avx2_fma();
  // Largest tasks first for load balance (the results do not depend on the schedule).
  std::vector<std::size_t> order(tasks.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t u, std::size_t v) {
    return (tasks[u].b - tasks[u].a) * (tasks[u].c1 - tasks[u].c0) >
           (tasks[v].b - tasks[v].a) * (tasks[v].c1 - tasks[v].c0);
  });
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t o = 0; o < order.size(); ++o) {
    const SilTask& t = tasks[order[o]];
#if defined(__x86_64__) && defined(__GNUC__)
    if (avx2) {
      sil_task_avx2(xd.data(), d, xt.data(), ldt, norm.data(), t, rowsum.data() + t.row_off, colsum.data() + t.col_off);
      continue;
    }
#endif
    (void)avx2;
    sil_task_scalar(xd.data(), d, norm.data(), t, rowsum.data() + t.row_off, colsum.data() + t.col_off);
  }
  // Assemble sums[i][q] in a fixed order (see the task layout above).
  std::vector<int> code(static_cast<std::size_t>(n));
  for (int q = 0; q < k; ++q)
    for (std::int64_t j = off[static_cast<std::size_t>(q)]; j < off[static_cast<std::size_t>(q) + 1]; ++j)
      code[static_cast<std::size_t>(j)] = q;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const int p = code[static_cast<std::size_t>(i)];
    const std::int64_t ci = (i - off[static_cast<std::size_t>(p)]) / chunk;
    double* out = sums + i * k;
    for (int q = 0; q < k; ++q) {
      double acc = 0.0;
      if (q >= p) {
        const SilTask& t = tasks[first[static_cast<std::size_t>(p * k + q)] + static_cast<std::size_t>(ci)];
        acc = rowsum[t.row_off + static_cast<std::size_t>(i - t.a)];
        if (q == p)  // the earlier chunks of the same cluster, by symmetry
          for (std::int64_t c = 0; c < ci; ++c) {
            const SilTask& u = tasks[first[static_cast<std::size_t>(p * k + p)] + static_cast<std::size_t>(c)];
            acc += colsum[u.col_off + static_cast<std::size_t>(i - u.c0)];
          }
      } else {  // all chunks of cluster q against this row's cluster, by symmetry
        const std::size_t f = first[static_cast<std::size_t>(q * k + p)];
        const std::int64_t nq = off[static_cast<std::size_t>(q) + 1] - off[static_cast<std::size_t>(q)];
        for (std::int64_t c = 0; c < (nq + chunk - 1) / chunk; ++c) {
          const SilTask& u = tasks[f + static_cast<std::size_t>(c)];
          acc += colsum[u.col_off + static_cast<std::size_t>(i - u.c0)];
        }
      }
      out[q] = acc;
    }
  }
}

}  // namespace

void silhouette_sums_cpu(const SortedData& s, std::int64_t row0, std::int64_t rows, double* sums) {
  const std::int64_t n = s.x.rows(), d = s.x.cols();
  const int k = s.k;
  if (row0 == 0 && rows == n) {
    silhouette_sums_all(s, sums);
    return;
  }
  // A block of rows (the kernel tests' reference): row tiles of distances through DGEMM.
  std::vector<double> xd, norm;
  rows_in_double(s, xd, norm, n, nullptr);
  std::vector<int> code(static_cast<std::size_t>(n));
  for (int q = 0; q < k; ++q)
    for (std::int64_t j = s.offsets[static_cast<std::size_t>(q)]; j < s.offsets[static_cast<std::size_t>(q) + 1]; ++j)
      code[static_cast<std::size_t>(j)] = q;
  // All rows: the distance matrix is symmetric, so a tile of rows [t0, t0 + tr) only needs the
  // columns j >= t0. Its rows get their sums over those columns directly; the columns beyond the
  // tile get the tile's contribution "by transposition" (rows before t0 were added by earlier
  // tiles). Every sum is accumulated in a fixed order, whatever the thread count.
  const bool symmetric = row0 == 0 && rows == n;
  std::fill(sums, sums + rows * k, 0.0);
  // Row tiles of at most ~32 MB of doubles.
  const std::int64_t tile =
      std::max<std::int64_t>(1, std::min<std::int64_t>(rows, (4 << 20) / std::max<std::int64_t>(n, 1)));
  std::vector<double> g(static_cast<std::size_t>(tile) * static_cast<std::size_t>(n));
  for (std::int64_t t0 = row0; t0 < row0 + rows; t0 += tile) {
    const std::int64_t tr = std::min(tile, row0 + rows - t0);
    const std::int64_t c0 = symmetric ? t0 : 0, cols = n - c0;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(tr), static_cast<int>(cols),
                static_cast<int>(d), 1.0, xd.data() + t0 * d, static_cast<int>(d), xd.data() + c0 * d,
                static_cast<int>(d), 0.0, g.data(), static_cast<int>(cols));
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < tr; ++r) {
      const std::int64_t i = t0 + r;
      double* gr = g.data() + r * cols;  // gr[j - c0]
      distances_from_dots(norm[static_cast<std::size_t>(i)], norm.data() + c0, gr, cols);
      gr[i - c0] = 0.0;  // sklearn zeroes the diagonal of X-vs-X distances
      double* out = sums + (i - row0) * k;
      for (int q = 0; q < k; ++q) {
        const std::int64_t lo = std::max(s.offsets[static_cast<std::size_t>(q)], c0),
                           hi = s.offsets[static_cast<std::size_t>(q) + 1];
        double acc = 0.0;
        for (std::int64_t j = lo; j < hi; ++j) acc += gr[j - c0];
        out[q] += acc;
      }
    }
    if (!symmetric || t0 + tr >= n) continue;
    // Transposed contributions to the columns after the tile, in blocks of columns.
    constexpr std::int64_t kBlock = 256;
    const std::int64_t j0 = t0 + tr, blocks = (n - j0 + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
    for (std::int64_t bl = 0; bl < blocks; ++bl) {
      const std::int64_t jb = j0 + bl * kBlock, je = std::min(n, jb + kBlock);
      std::vector<double> acc(static_cast<std::size_t>(je - jb));
      std::int64_t r = 0;
      while (r < tr) {  // rows of the tile come in runs of one cluster
        const int q = code[static_cast<std::size_t>(t0 + r)];
        const std::int64_t rend = std::min(tr, s.offsets[static_cast<std::size_t>(q) + 1] - t0);
        std::fill(acc.begin(), acc.end(), 0.0);
        for (; r < rend; ++r) {
          const double* gr = g.data() + r * cols + (jb - c0);
          for (std::int64_t j = 0; j < je - jb; ++j) acc[static_cast<std::size_t>(j)] += gr[j];
        }
        for (std::int64_t j = jb; j < je; ++j) sums[j * k + q] += acc[static_cast<std::size_t>(j - jb)];
      }
    }
  }
}

std::vector<double> silhouette_from_sums(const SortedData& s, const std::vector<double>& sums) {
  const std::int64_t n = s.x.rows();
  const int k = s.k;
  std::vector<double> sil(static_cast<std::size_t>(n), 0.0);
  for (int q = 0; q < k; ++q) {
    const std::int64_t size = s.offsets[static_cast<std::size_t>(q) + 1] - s.offsets[static_cast<std::size_t>(q)];
    for (std::int64_t r = s.offsets[static_cast<std::size_t>(q)]; r < s.offsets[static_cast<std::size_t>(q) + 1]; ++r) {
      if (size <= 1) continue;  // singleton clusters score 0
      const double* row = sums.data() + r * k;
      const double a = row[q] / static_cast<double>(size - 1);
      double b = std::numeric_limits<double>::infinity();
      for (int o = 0; o < k; ++o) {
        if (o == q) continue;
        const double m = row[o] / static_cast<double>(s.offsets[static_cast<std::size_t>(o) + 1] -
                                                      s.offsets[static_cast<std::size_t>(o)]);
        b = std::min(b, m);
      }
      const double den = std::max(a, b);
      sil[static_cast<std::size_t>(s.order[static_cast<std::size_t>(r)])] = den > 0.0 ? (b - a) / den : 0.0;
    }
  }
  return sil;
}

}  // namespace detail

std::vector<double> silhouette_samples(Backend& backend, ConstMatrixView x, Labels labels) {
  NvtxRange range("metrics/silhouette");
  check_internal(x, labels, "silhouette");
  const detail::SortedData s = detail::sort_by_cluster(x, labels, nullptr);
  std::vector<double> sums;
  if (backend.is_cuda()) {
    sums = HMR_CUDA_CALL(backend, silhouette_sums(backend, s));
  } else {
    sums.resize(static_cast<std::size_t>(x.rows) * static_cast<std::size_t>(s.k));
    detail::silhouette_sums_cpu(s, 0, x.rows, sums.data());
  }
  return detail::silhouette_from_sums(s, sums);
}

double silhouette(Backend& backend, ConstMatrixView x, Labels labels, const SilhouetteOptions& opt) {
  check_x(x, "silhouette");
  HMR_REQUIRE(static_cast<std::int64_t>(labels.size()) == x.rows, "silhouette: {} labels for {} samples", labels.size(),
              x.rows);
  std::vector<double> sil;
  if (opt.sample_size > 0 && opt.sample_size < x.rows) {
    // sklearn: indices = RandomState(seed).permutation(n)[:sample_size]
    cluster::KMeansRng rng(static_cast<std::uint32_t>(opt.seed & 0xffffffffULL));
    const auto perm = rng.permutation(x.rows);
    Matrix sub(opt.sample_size, x.cols);
    std::vector<std::int32_t> sl(static_cast<std::size_t>(opt.sample_size));
    for (std::int64_t i = 0; i < opt.sample_size; ++i) {
      const std::int64_t src = perm[static_cast<std::size_t>(i)];
      std::copy_n(x.row(src), x.cols, sub.row(i));
      sl[static_cast<std::size_t>(i)] = labels[static_cast<std::size_t>(src)];
    }
    sil = silhouette_samples(backend, sub, sl);
  } else {
    HMR_REQUIRE(opt.sample_size >= 0, "silhouette: sample_size={} must be positive", opt.sample_size);
    sil = silhouette_samples(backend, x, labels);
  }
  double acc = 0.0;
  for (double v : sil) acc += v;
  return acc / static_cast<double>(sil.size());
}

// ---------------------------------------------------------------------------------------------
// Calinski-Harabasz and Davies-Bouldin.

double calinski_harabasz(ConstMatrixView x, Labels labels) {
  NvtxRange range("metrics/calinski_harabasz");
  const Encoded e = check_internal(x, labels, "calinski_harabasz");
  const std::int64_t n = x.rows, d = x.cols;
  const int k = e.k();
  const std::vector<double> cen = centroids(x, e);
  std::vector<double> mean(static_cast<std::size_t>(d), 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < d; ++c) mean[static_cast<std::size_t>(c)] += x(i, c);
  for (auto& m : mean) m /= static_cast<double>(n);
  double extra = 0.0, intra = 0.0;
  for (int q = 0; q < k; ++q) {
    double s = 0.0;
    for (std::int64_t c = 0; c < d; ++c) {
      const double v =
          cen[static_cast<std::size_t>(q) * static_cast<std::size_t>(d) + c] - mean[static_cast<std::size_t>(c)];
      s += v * v;
    }
    extra += static_cast<double>(e.count[static_cast<std::size_t>(q)]) * s;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const double* ci =
        cen.data() + static_cast<std::size_t>(e.code[static_cast<std::size_t>(i)]) * static_cast<std::size_t>(d);
    for (std::int64_t c = 0; c < d; ++c) {
      const double v = x(i, c) - ci[c];
      intra += v * v;
    }
  }
  if (intra == 0.0) return 1.0;
  return extra * static_cast<double>(n - k) / (intra * static_cast<double>(k - 1));
}

double davies_bouldin(ConstMatrixView x, Labels labels) {
  NvtxRange range("metrics/davies_bouldin");
  const Encoded e = check_internal(x, labels, "davies_bouldin");
  const std::int64_t n = x.rows, d = x.cols;
  const int k = e.k();
  const std::vector<double> cen = centroids(x, e);
  std::vector<double> intra(static_cast<std::size_t>(k), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    const int q = e.code[static_cast<std::size_t>(i)];
    const double* ci = cen.data() + static_cast<std::size_t>(q) * static_cast<std::size_t>(d);
    double s = 0.0;
    for (std::int64_t c = 0; c < d; ++c) {
      const double v = x(i, c) - ci[c];
      s += v * v;
    }
    intra[static_cast<std::size_t>(q)] += std::sqrt(s);
  }
  for (int q = 0; q < k; ++q)
    intra[static_cast<std::size_t>(q)] /= static_cast<double>(e.count[static_cast<std::size_t>(q)]);
  std::vector<double> cd(static_cast<std::size_t>(k) * static_cast<std::size_t>(k), 0.0);
  bool all_intra_zero = true, all_cd_zero = true;
  for (int q = 0; q < k; ++q) all_intra_zero = all_intra_zero && std::fabs(intra[static_cast<std::size_t>(q)]) <= 1e-8;
  for (int p = 0; p < k; ++p)
    for (int q = 0; q < k; ++q) {
      double s = 0.0;
      for (std::int64_t c = 0; c < d; ++c) {
        const double v = cen[static_cast<std::size_t>(p) * static_cast<std::size_t>(d) + c] -
                         cen[static_cast<std::size_t>(q) * static_cast<std::size_t>(d) + c];
        s += v * v;
      }
      cd[static_cast<std::size_t>(p * k + q)] = std::sqrt(s);
      all_cd_zero = all_cd_zero && cd[static_cast<std::size_t>(p * k + q)] <= 1e-8;
    }
  if (all_intra_zero || all_cd_zero) return 0.0;  // np.allclose(..., 0) as sklearn
  double total = 0.0;
  for (int p = 0; p < k; ++p) {
    double best = 0.0;
    for (int q = 0; q < k; ++q) {
      const double dist = cd[static_cast<std::size_t>(p * k + q)];
      const double v =
          dist == 0.0 ? 0.0 : (intra[static_cast<std::size_t>(p)] + intra[static_cast<std::size_t>(q)]) / dist;
      best = std::max(best, v);
    }
    total += best;
  }
  return total / static_cast<double>(k);
}

// ---------------------------------------------------------------------------------------------
// Label-based metrics.

Contingency contingency(Labels truth, Labels pred) {
  check_pair(truth, pred, "contingency");
  const Encoded t = encode(truth), p = encode(pred);
  Contingency c;
  c.classes = t.values;
  c.clusters = p.values;
  c.counts.assign(t.values.size() * p.values.size(), 0);
  for (std::size_t i = 0; i < truth.size(); ++i)
    ++c.counts[static_cast<std::size_t>(t.code[i]) * p.values.size() + static_cast<std::size_t>(p.code[i])];
  return c;
}

double adjusted_rand(Labels truth, Labels pred) {
  check_pair(truth, pred, "adjusted_rand");
  const Contingency c = contingency(truth, pred);
  const std::size_t r = c.classes.size(), q = c.clusters.size();
  using I = __int128;
  const I n = static_cast<I>(truth.size());
  std::vector<I> nc(r, 0), nk(q, 0);
  I sum_sq = 0;
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < q; ++j) {
      const I v = c.at(i, j);
      nc[i] += v;
      nk[j] += v;
      sum_sq += v * v;
    }
  I dot_k = 0, dot_c = 0;
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < q; ++j) {
      dot_k += static_cast<I>(c.at(i, j)) * nk[j];
      dot_c += static_cast<I>(c.at(i, j)) * nc[i];
    }
  // sklearn pair_confusion_matrix (ordered pairs), then adjusted_rand_score.
  const I tp = sum_sq - n, fp = dot_k - sum_sq, fn = dot_c - sum_sq, tn = n * n - fp - fn - sum_sq;
  if (fn == 0 && fp == 0) return 1.0;
  const long double num = 2.0L * static_cast<long double>(tp * tn - fn * fp);
  const long double den = static_cast<long double>((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn));
  return static_cast<double>(num / den);
}

namespace {
double entropy(const std::vector<std::int64_t>& counts) {
  double total = 0.0;
  for (auto v : counts) total += static_cast<double>(v);
  if (total == 0.0) return 1.0;
  double h = 0.0;
  const double lt = std::log(total);
  for (auto v : counts)
    if (v > 0) h -= (static_cast<double>(v) / total) * (std::log(static_cast<double>(v)) - lt);
  return h;
}
}  // namespace

double nmi(Labels truth, Labels pred) {
  check_pair(truth, pred, "nmi");
  const Contingency c = contingency(truth, pred);
  const std::size_t r = c.classes.size(), q = c.clusters.size();
  if (r == q && (r == 1 || r == 0)) return 1.0;
  std::vector<std::int64_t> pi(r, 0), pj(q, 0);
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < q; ++j) {
      pi[i] += c.at(i, j);
      pj[j] += c.at(i, j);
    }
  double mi = 0.0;
  if (r > 1 && q > 1) {
    const double total = static_cast<double>(truth.size());
    const double log_total = std::log(total);
    // Nonzero entries in sklearn's order (sp.find on a CSR matrix: row by row).
    for (std::size_t i = 0; i < r; ++i)
      for (std::size_t j = 0; j < q; ++j) {
        const std::int64_t v = c.at(i, j);
        if (v == 0) continue;
        const double nm = static_cast<double>(v) / total;
        const double outer = static_cast<double>(pi[i] * pj[j]);
        const double log_outer = -std::log(outer) + std::log(total) + std::log(total);
        double term = nm * (std::log(static_cast<double>(v)) - log_total) + nm * log_outer;
        if (std::fabs(term) < std::numeric_limits<double>::epsilon()) term = 0.0;
        mi += term;
      }
    mi = std::max(mi, 0.0);
  }
  if (mi == 0.0) return 0.0;
  const double h_true = entropy(pi), h_pred = entropy(pj);
  return mi / ((h_true + h_pred) / 2.0);
}

double purity(Labels truth, Labels pred) {
  check_pair(truth, pred, "purity");
  const Contingency c = contingency(truth, pred);
  std::int64_t s = 0;
  for (std::size_t j = 0; j < c.clusters.size(); ++j) {
    std::int64_t best = 0;
    for (std::size_t i = 0; i < c.classes.size(); ++i) best = std::max(best, c.at(i, j));
    s += best;
  }
  return static_cast<double>(s) / static_cast<double>(truth.size());
}

}  // namespace hmr::eval
