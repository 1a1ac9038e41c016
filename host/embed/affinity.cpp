// embed/affinity.cpp — cpu backend and dispatch for t-SNE's input affinities: exact kNN by
// blocked BLAS distances with partial selection, perplexity bisection (scikit-learn's
// _binary_search_perplexity in double) and the symmetrised joint P in CSR.
#include "embed/affinity.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "core/nvtx.h"
#include "embed/tsne_cuda.h"

namespace hmr::embed {

namespace {

struct Cand {
  float d;
  std::int32_t j;
};
inline bool cand_less(const Cand& a, const Cand& b) { return a.d < b.d || (a.d == b.d && a.j < b.j); }

// Squared distance summed in float in dimension order: the same arithmetic as the cuda kernel.
inline float direct_d2(const float* a, const float* b, std::int64_t d) {
  float s = 0.0f;
  for (std::int64_t c = 0; c < d; ++c) {
    const float v = a[c] - b[c];
    s += v * v;
  }
  return s;
}

}  // namespace

int default_neighbours(std::int64_t n, double perplexity, int requested) {
  if (requested > 0) return static_cast<int>(std::min<std::int64_t>(requested, n - 1));
  const auto k = static_cast<std::int64_t>(std::floor(3.0 * perplexity));
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(n - 1, k)));
}

Knn knn_cpu(ConstMatrixView x, int k) {
  const std::int64_t n = x.rows, d = x.cols;
  HMR_REQUIRE(k >= 1 && k < n, "t-SNE kNN: k = {} must be in [1, N - 1] for N = {}", k, n);
  // Keep a few spare candidates: the BLAS form |a|^2 + |b|^2 - 2ab loses digits to cancellation,
  // so the final order comes from distances recomputed directly.
  const int kc = static_cast<int>(std::min<std::int64_t>(n - 1, k + 8));
  std::vector<float> norms(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const float* r = x.row(i);
    float s = 0.0f;
    for (std::int64_t c = 0; c < d; ++c) s += r[c] * r[c];
    norms[static_cast<std::size_t>(i)] = s;
  }
  constexpr std::int64_t kRowBlock = 512, kColBlock = 4096;
  std::vector<Cand> heaps(static_cast<std::size_t>(n * kc));
  std::vector<int> fill(static_cast<std::size_t>(n), 0);
  std::vector<float> tile(static_cast<std::size_t>(kRowBlock * kColBlock));
  for (std::int64_t r0 = 0; r0 < n; r0 += kRowBlock) {
    const std::int64_t rb = std::min(kRowBlock, n - r0);
    for (std::int64_t c0 = 0; c0 < n; c0 += kColBlock) {
      const std::int64_t cb = std::min(kColBlock, n - c0);
      // tile[rb x cb] = X[r0:r0+rb] * X[c0:c0+cb]^T (OpenBLAS threads the GEMM)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rb), static_cast<int>(cb),
                  static_cast<int>(d), 1.0f, x.row(r0), static_cast<int>(x.ld), x.row(c0), static_cast<int>(x.ld), 0.0f,
                  tile.data(), static_cast<int>(cb));
#pragma omp parallel for schedule(static)
      for (std::int64_t r = 0; r < rb; ++r) {
        const std::int64_t i = r0 + r;
        Cand* h = heaps.data() + i * kc;  // max-heap on (d, j) once full
        int& f = fill[static_cast<std::size_t>(i)];
        const float* t = tile.data() + r * cb;
        const float ni = norms[static_cast<std::size_t>(i)];
        auto heap_less = [](const Cand& a, const Cand& b) { return cand_less(a, b); };
        for (std::int64_t c = 0; c < cb; ++c) {
          const std::int64_t j = c0 + c;
          if (j == i) continue;
          const Cand cand{std::max(0.0f, ni + norms[static_cast<std::size_t>(j)] - 2.0f * t[c]),
                          static_cast<std::int32_t>(j)};
          if (f < kc) {
            h[f++] = cand;
            if (f == kc) std::make_heap(h, h + kc, heap_less);
          } else if (cand_less(cand, h[0])) {
            std::pop_heap(h, h + kc, heap_less);
            h[kc - 1] = cand;
            std::push_heap(h, h + kc, heap_less);
          }
        }
      }
    }
  }
  Knn out;
  out.n = n;
  out.k = k;
  out.idx.resize(static_cast<std::size_t>(n * k));
  out.dist2.resize(static_cast<std::size_t>(n * k));
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    Cand* h = heaps.data() + i * kc;
    for (int r = 0; r < kc; ++r) h[r].d = direct_d2(x.row(i), x.row(h[r].j), d);
    std::sort(h, h + kc, cand_less);
    for (int r = 0; r < k; ++r) {
      out.idx[static_cast<std::size_t>(i * k + r)] = h[r].j;
      out.dist2[static_cast<std::size_t>(i * k + r)] = h[r].d;
    }
  }
  return out;
}

std::vector<float> conditional_p_cpu(const Knn& nn, double perplexity) {
  const std::int64_t n = nn.n;
  const int k = nn.k;
  std::vector<float> p(static_cast<std::size_t>(n * k));
  const double target = std::log(perplexity);
#pragma omp parallel for schedule(dynamic, 256)
  for (std::int64_t i = 0; i < n; ++i) {
    const float* d = nn.dist2.data() + i * k;
    // The exponentials are float (the cuda twin's double exp would spill registers); sums,
    // entropy and the bisection stay in double. Distances are shifted by the row minimum: P and the entropy are
    // unchanged, but exp() cannot underflow to an all-zero row for far-away points.
    const double d0 = d[0];
    double beta = 1.0, lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    double sum = 0.0;
    for (int step = 0; step < kPerplexitySteps; ++step) {
      sum = 0.0;
      double sdp = 0.0;
      for (int r = 0; r < k; ++r) {
        const double dd = static_cast<double>(d[r]) - d0;
        const double e = std::exp(static_cast<float>(-dd * beta));
        sum += e;
        sdp += dd * e;
      }
      const double entropy = std::log(sum) + beta * sdp / sum;
      const double diff = entropy - target;
      if (std::fabs(diff) <= kPerplexityTol) break;
      if (diff > 0.0) {
        lo = beta;
        beta = std::isinf(hi) ? beta * 2.0 : (beta + hi) / 2.0;
      } else {
        hi = beta;
        beta = std::isinf(lo) ? beta / 2.0 : (beta + lo) / 2.0;
      }
    }
    sum = 0.0;
    for (int r = 0; r < k; ++r) sum += std::exp(static_cast<float>(-(static_cast<double>(d[r]) - d0) * beta));
    for (int r = 0; r < k; ++r)
      p[static_cast<std::size_t>(i * k + r)] =
          static_cast<float>(std::exp(static_cast<float>(-(static_cast<double>(d[r]) - d0) * beta)) / sum);
  }
  return p;
}

Csr symmetrize_cpu(const Knn& nn, const std::vector<float>& cond_p) {
  const std::int64_t n = nn.n;
  const int k = nn.k;
  // Row i of P + P^T holds i's own neighbours and every j that lists i. Count, place in a fixed
  // order (own entries first, then incoming by source row), then sort each row by column and
  // merge the (at most two) entries of a column.
  std::vector<std::int64_t> cnt(static_cast<std::size_t>(n + 1), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    cnt[static_cast<std::size_t>(i + 1)] += k;
    for (int r = 0; r < k; ++r) cnt[static_cast<std::size_t>(nn.idx[static_cast<std::size_t>(i * k + r)]) + 1] += 1;
  }
  std::partial_sum(cnt.begin(), cnt.end(), cnt.begin());
  std::vector<Cand> ent(static_cast<std::size_t>(cnt[static_cast<std::size_t>(n)]));
  std::vector<std::int64_t> pos(cnt.begin(), cnt.end() - 1);
  for (std::int64_t i = 0; i < n; ++i)
    for (int r = 0; r < k; ++r) {
      const auto e = static_cast<std::size_t>(i * k + r);
      ent[static_cast<std::size_t>(pos[static_cast<std::size_t>(i)]++)] = {cond_p[e], nn.idx[e]};
    }
  for (std::int64_t i = 0; i < n; ++i)
    for (int r = 0; r < k; ++r) {
      const auto e = static_cast<std::size_t>(i * k + r);
      const auto j = static_cast<std::size_t>(nn.idx[e]);
      ent[static_cast<std::size_t>(pos[j]++)] = {cond_p[e], static_cast<std::int32_t>(i)};
    }
  Csr out;
  out.n = n;
  out.indptr.assign(static_cast<std::size_t>(n + 1), 0);
  std::vector<std::int64_t> rowlen(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    Cand* b = ent.data() + cnt[static_cast<std::size_t>(i)];
    Cand* e = ent.data() + cnt[static_cast<std::size_t>(i + 1)];
    std::stable_sort(b, e, [](const Cand& a, const Cand& c) { return a.j < c.j; });
    std::int64_t w = 0;
    for (Cand* q = b; q < e; ++q) {
      if (w > 0 && b[w - 1].j == q->j)
        b[w - 1].d += q->d;
      else
        b[w++] = *q;
    }
    rowlen[static_cast<std::size_t>(i)] = w;
  }
  for (std::int64_t i = 0; i < n; ++i)
    out.indptr[static_cast<std::size_t>(i + 1)] =
        out.indptr[static_cast<std::size_t>(i)] + rowlen[static_cast<std::size_t>(i)];
  const auto nnz = static_cast<std::size_t>(out.indptr[static_cast<std::size_t>(n)]);
  out.indices.resize(nnz);
  out.data.resize(nnz);
  double total = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const Cand* b = ent.data() + cnt[static_cast<std::size_t>(i)];
    for (std::int64_t w = 0; w < rowlen[static_cast<std::size_t>(i)]; ++w) total += b[w].d;
  }
  const double inv = 1.0 / std::max(total, std::numeric_limits<double>::min());
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const Cand* b = ent.data() + cnt[static_cast<std::size_t>(i)];
    const std::int64_t o = out.indptr[static_cast<std::size_t>(i)];
    for (std::int64_t w = 0; w < rowlen[static_cast<std::size_t>(i)]; ++w) {
      out.indices[static_cast<std::size_t>(o + w)] = b[w].j;
      out.data[static_cast<std::size_t>(o + w)] = static_cast<float>(b[w].d * inv);
    }
  }
  return out;
}

Knn knn(Backend& b, ConstMatrixView x, int k) {
  NvtxRange range("tsne/knn");
  HMR_REQUIRE(x.rows >= 2 && x.cols >= 1, "t-SNE kNN: need at least 2 points ({} x {})", x.rows, x.cols);
  HMR_REQUIRE(k >= 1 && k < x.rows, "t-SNE kNN: k = {} must be in [1, N - 1] for N = {}", k, x.rows);
  if (!b.is_cuda()) return knn_cpu(x, k);
  return HMR_CUDA_CALL(b, knn(b, x, k));
}

std::vector<float> conditional_p(Backend& b, const Knn& nn, double perplexity) {
  NvtxRange range("tsne/perplexity");
  HMR_REQUIRE(perplexity > 0.0 && perplexity <= nn.k, "t-SNE: perplexity {} must be in (0, k = {}]", perplexity, nn.k);
  if (!b.is_cuda()) return conditional_p_cpu(nn, perplexity);
  return HMR_CUDA_CALL(b, conditional_p(b, nn, perplexity));
}

Csr symmetrize(Backend& b, const Knn& nn, const std::vector<float>& cond_p) {
  NvtxRange range("tsne/symmetrize");
  HMR_ASSERT(cond_p.size() == nn.idx.size(), "symmetrize: {} probabilities for {} neighbours", cond_p.size(),
             nn.idx.size());
  if (!b.is_cuda()) return symmetrize_cpu(nn, cond_p);
  return HMR_CUDA_CALL(b, symmetrize(b, nn, cond_p));
}

}  // namespace hmr::embed
