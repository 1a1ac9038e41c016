// embed/bh.cpp — cpu twins of the Barnes-Hut t-SNE kernels: Morton codes, LSD radix sort,
// Karras radix tree, bottom-up centres of mass with arrival counters, per-point tree traversal
// for repulsion, CSR attraction, the gains/momentum update, and exact O(N^2) references.
// Parallel loops write disjoint outputs and every sum has a fixed order, so the result does not
// depend on the thread count.
#include "embed/bh.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/nvtx.h"
#include "embed/bh_common.cuh"
#include "embed/tsne_cuda.h"

namespace hmr::embed {

namespace {

constexpr std::int64_t kSumChunk = 4096;  // fixed chunking of Z sums (independent of threads)
// Points below which a per-iteration loop runs on one thread. Every iteration passes ~9 parallel
// regions; on a busy machine each fork/join can wait a whole time slice for the other thread
// (a 240-point run spent 96% of its time spinning in libgomp), while the O(n) loops take
// microseconds. Results do not depend on the thread count, so this only changes speed.
constexpr std::int64_t kParLight = 32768;  // O(n) loops: codes, sorting, tree, sums, update
constexpr std::int64_t kParHeavy = 4096;   // tree walks (repulsion) and CSR rows (attraction)

// Sum of v in fixed chunks of kSumChunk then sequentially over chunks, in double.
double fixed_order_sum(const float* v, std::int64_t n) {
  const std::int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> part(static_cast<std::size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (n >= kParLight)
  for (std::int64_t c = 0; c < chunks; ++c) {
    double s = 0.0;
    const std::int64_t e = std::min(n, (c + 1) * kSumChunk);
    for (std::int64_t i = c * kSumChunk; i < e; ++i) s += v[i];
    part[static_cast<std::size_t>(c)] = s;
  }
  double s = 0.0;
  for (double p : part) s += p;
  return s;
}

// Stable LSD radix sort of (code, position) pairs, 8 bits per pass.
void radix_sort(std::vector<std::uint32_t>& code, std::vector<std::int32_t>& val) {
  const std::size_t n = code.size();
  std::vector<std::uint32_t> c2(n);
  std::vector<std::int32_t> v2(n);
  for (int shift = 0; shift < 32; shift += 8) {
    std::size_t hist[257] = {};
    for (std::size_t i = 0; i < n; ++i) ++hist[((code[i] >> shift) & 255u) + 1];
    for (int b = 0; b < 256; ++b) hist[b + 1] += hist[b];
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t o = hist[(code[i] >> shift) & 255u]++;
      c2[o] = code[i];
      v2[o] = val[i];
    }
    code.swap(c2);
    val.swap(v2);
  }
}

template <int D>
void build_tree_impl(ConstMatrixView y, Tree& t) {
  const std::int64_t n = y.rows;
  std::vector<float> lo;
  float side = 0.0f;
  morton_codes_cpu(y, t.code, lo, side);
  const float scale = static_cast<float>(1u << (D == 2 ? kMortonBits2 : kMortonBits3)) / side;
  t.order.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) t.order[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
  radix_sort(t.code, t.order);
  t.ys.resize(static_cast<std::size_t>(n * D));
#pragma omp parallel for schedule(static) if (n >= kParLight)
  for (std::int64_t p = 0; p < n; ++p)
    for (int c = 0; c < D; ++c) t.ys[static_cast<std::size_t>(p * D + c)] = y(t.order[static_cast<std::size_t>(p)], c);
  const std::int64_t m = n - 1;
  t.child.resize(static_cast<std::size_t>(2 * m));
  t.first.resize(static_cast<std::size_t>(m));
  t.last.resize(static_cast<std::size_t>(m));
  t.parent.assign(static_cast<std::size_t>(m + n), -1);
#pragma omp parallel for schedule(static) if (n >= kParLight)
  for (std::int64_t i = 0; i < m; ++i) {
    std::int32_t l, r;
    bh::karras_node(t.code.data(), n, i, &l, &r, &t.first[static_cast<std::size_t>(i)],
                    &t.last[static_cast<std::size_t>(i)]);
    t.child[static_cast<std::size_t>(2 * i)] = l;
    t.child[static_cast<std::size_t>(2 * i + 1)] = r;
    t.parent[static_cast<std::size_t>(l >= 0 ? l : m + ~l)] = static_cast<std::int32_t>(i);
    t.parent[static_cast<std::size_t>(r >= 0 ? r : m + ~r)] = static_cast<std::int32_t>(i);
  }
  t.com.resize(static_cast<std::size_t>(m * D));
  t.bmin.resize(static_cast<std::size_t>(m * D));
  t.bmax.resize(static_cast<std::size_t>(m * D));
  t.size.resize(static_cast<std::size_t>(m));
  t.count.resize(static_cast<std::size_t>(m));
  // Bottom-up: each leaf walks to the root; at every node the first arrival stops and the second
  // combines the two children, so each node is written once, after both children, without locks.
  std::vector<int> arrivals(static_cast<std::size_t>(m), 0);
#pragma omp parallel for schedule(static) if (n >= kParLight)
  for (std::int64_t leaf = 0; leaf < n; ++leaf) {
    std::int32_t node = t.parent[static_cast<std::size_t>(m + leaf)];
    while (node >= 0) {
      if (__atomic_fetch_add(&arrivals[static_cast<std::size_t>(node)], 1, __ATOMIC_ACQ_REL) == 0) break;
      float cnt[2], cm[2][D], mn[2][D], mx[2][D];
      for (int s = 0; s < 2; ++s) {
        const std::int32_t c = t.child[static_cast<std::size_t>(2 * node + s)];
        if (c < 0) {
          cnt[s] = 1.0f;
          for (int d = 0; d < D; ++d) cm[s][d] = mn[s][d] = mx[s][d] = t.ys[static_cast<std::size_t>(~c) * D + d];
        } else {
          cnt[s] = t.count[static_cast<std::size_t>(c)];
          for (int d = 0; d < D; ++d) {
            cm[s][d] = t.com[static_cast<std::size_t>(c) * D + d];
            mn[s][d] = t.bmin[static_cast<std::size_t>(c) * D + d];
            mx[s][d] = t.bmax[static_cast<std::size_t>(c) * D + d];
          }
        }
      }
      const float total = cnt[0] + cnt[1];
      float side = 0.0f;
      for (int d = 0; d < D; ++d) {
        const std::size_t o = static_cast<std::size_t>(node) * D + d;
        t.com[o] = (cnt[0] * cm[0][d] + cnt[1] * cm[1][d]) / total;
        t.bmin[o] = std::min(mn[0][d], mn[1][d]);
        t.bmax[o] = std::max(mx[0][d], mx[1][d]);
        side += (t.bmax[o] - t.bmin[o]) * (t.bmax[o] - t.bmin[o]);
      }
      t.count[static_cast<std::size_t>(node)] = total;
      const float cell =
          bh::cell_width<D>(t.code[static_cast<std::size_t>(t.first[static_cast<std::size_t>(node)])],
                            t.code[static_cast<std::size_t>(t.last[static_cast<std::size_t>(node)])], scale);
      t.size[static_cast<std::size_t>(node)] = cell >= 0.0f ? cell : std::sqrt(side);
      node = t.parent[static_cast<std::size_t>(node)];
    }
  }
}

// One cache-friendly record per internal node for the traversal (32 bytes in 2-D).
template <int D>
struct PackedNode {
  float com[D];
  float size2;  // size^2
  float count;
  std::int32_t first, last, child[2];
};

#if defined(__x86_64__) && defined(__GNUC__)
bool have_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

// Exact term of leaf q (sorted position) for the 8 lanes; a lane's own point adds nothing.
__attribute__((target("avx2,fma"), always_inline)) inline void leaf_2d(const float* ys, std::int32_t q, __m256i vp,
                                                                       __m256 vx, __m256 vy, __m256& ax, __m256& ay,
                                                                       __m256& az) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 dx = _mm256_sub_ps(vx, _mm256_set1_ps(ys[2 * static_cast<std::int64_t>(q)]));
  const __m256 dy = _mm256_sub_ps(vy, _mm256_set1_ps(ys[2 * static_cast<std::int64_t>(q) + 1]));
  const __m256 d2 = _mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy));
  const __m256 self = _mm256_castsi256_ps(_mm256_cmpeq_epi32(vp, _mm256_set1_epi32(q)));
  const __m256 w = _mm256_andnot_ps(self, _mm256_div_ps(one, _mm256_add_ps(one, d2)));
  const __m256 w2 = _mm256_mul_ps(w, w);
  az = _mm256_add_ps(az, w);
  ax = _mm256_fmadd_ps(w2, dx, ax);
  ay = _mm256_fmadd_ps(w2, dy, ay);
}

// Repulsion of 8 Morton-consecutive points (sorted positions p0 .. p0 + cnt - 1) of a 2-D tree
// walked together, as the cuda kernel's warps do: the group opens a node when any of its points
// must, so each point is summed at least as exactly as alone. Lanes past cnt repeat the last
// point and are not written. Per point: f (sorted order, unnormalised) and z.
__attribute__((target("avx2,fma"))) void repulsion_group_2d(const PackedNode<2>* nodes, const float* ys,
                                                            std::int64_t p0, int cnt, float theta2, float* fx,
                                                            float* fy, float* z) {
  alignas(32) std::int32_t pl[8];
  alignas(32) float px[8], py[8];
  for (int l = 0; l < 8; ++l) {
    const std::int64_t p = p0 + std::min(l, cnt - 1);
    pl[l] = static_cast<std::int32_t>(p);
    px[l] = ys[2 * p];
    py[l] = ys[2 * p + 1];
  }
  const __m256i vp = _mm256_load_si256(reinterpret_cast<const __m256i*>(pl));
  const __m256 vx = _mm256_load_ps(px), vy = _mm256_load_ps(py), one = _mm256_set1_ps(1.0f),
               th2 = _mm256_set1_ps(theta2);
  __m256 ax = _mm256_setzero_ps(), ay = _mm256_setzero_ps(), az = _mm256_setzero_ps();
  std::int32_t stack[96];
  int sp = 0;
  stack[sp++] = 0;
  while (sp > 0) {
    const PackedNode<2>& nd = nodes[static_cast<std::size_t>(stack[--sp])];
    const __m256 dx = _mm256_sub_ps(vx, _mm256_set1_ps(nd.com[0]));
    const __m256 dy = _mm256_sub_ps(vy, _mm256_set1_ps(nd.com[1]));
    const __m256 d2 = _mm256_add_ps(_mm256_mul_ps(dx, dx), _mm256_mul_ps(dy, dy));
    // holds p: first <= p <= last, i.e. not (first > p or p > last)
    const __m256i outside = _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(nd.first), vp),
                                            _mm256_cmpgt_epi32(vp, _mm256_set1_epi32(nd.last)));
    const __m256 far = _mm256_cmp_ps(_mm256_set1_ps(nd.size2), _mm256_mul_ps(th2, d2), _CMP_LT_OQ);
    const int accept = _mm256_movemask_ps(_mm256_and_ps(_mm256_castsi256_ps(outside), far));
    if (accept == 0xFF) {
      const __m256 w = _mm256_div_ps(one, _mm256_add_ps(one, d2));
      const __m256 wm = _mm256_mul_ps(_mm256_set1_ps(nd.count), w);
      const __m256 wmw = _mm256_mul_ps(wm, w);
      az = _mm256_add_ps(az, wm);
      ax = _mm256_fmadd_ps(wmw, dx, ax);
      ay = _mm256_fmadd_ps(wmw, dy, ay);
    } else {
      const std::int32_t l = nd.child[0], r = nd.child[1];
      if (l < 0) leaf_2d(ys, ~l, vp, vx, vy, ax, ay, az);
      if (r < 0)
        leaf_2d(ys, ~r, vp, vx, vy, ax, ay, az);
      else
        stack[sp++] = r;
      if (l >= 0) stack[sp++] = l;
    }
  }
  _mm256_storeu_ps(fx, ax);
  _mm256_storeu_ps(fy, ay);
  _mm256_storeu_ps(z, az);
}
#endif

// Attraction rows to compute in the same parallel region as the repulsion (one fork/join per
// iteration instead of two).
struct AttractionJob {
  const Csr* p;
  const float* y;  // [n x 2], ld 2
  float* attr;
  float* rowlog;  // null, or per row sum_j p_ij log(1 + d_ij^2) (the KL term)
};

#if defined(__x86_64__) && defined(__GNUC__)
void attraction_2d_avx2(const Csr& p, const float* y, float* attr, float* rowlog, std::int64_t i0, std::int64_t i1);
#endif

template <int D>
double repulsion_impl(const Tree& t, double theta, std::vector<float>& rep, std::vector<float>& zi,
                      const AttractionJob* job = nullptr) {
  const std::int64_t n = t.n, m = n - 1;
  const float theta2 = static_cast<float>(theta * theta);
  rep.assign(static_cast<std::size_t>(n * D), 0.0f);
  zi.assign(static_cast<std::size_t>(n), 0.0f);
  std::vector<PackedNode<D>> nodes(static_cast<std::size_t>(m));
#pragma omp parallel for schedule(static) if (n >= kParLight)
  for (std::int64_t o = 0; o < m; ++o) {
    PackedNode<D>& q = nodes[static_cast<std::size_t>(o)];
    const auto u = static_cast<std::size_t>(o);
    for (int d = 0; d < D; ++d) q.com[d] = t.com[u * D + d];
    q.size2 = t.size[u] * t.size[u];
    q.count = t.count[u];
    q.first = t.first[u];
    q.last = t.last[u];
    q.child[0] = t.child[2 * u];
    q.child[1] = t.child[2 * u + 1];
  }
  const float* ys = t.ys.data();
  std::vector<float> zs(static_cast<std::size_t>(n));  // in sorted order, for the fixed-order sum
#if defined(__x86_64__) && defined(__GNUC__)
  if constexpr (D == 2) {
    if (have_avx2()) {
      const std::int64_t groups = (n + 7) / 8;
      constexpr std::int64_t kAttrRows = 256;
      const std::int64_t an = job ? job->p->n : 0, ablocks = (an + kAttrRows - 1) / kAttrRows;
#pragma omp parallel if (n >= kParHeavy)
      {
#pragma omp for schedule(dynamic, 8) nowait
        for (std::int64_t g = 0; g < groups; ++g) {
          const std::int64_t p0 = g * 8;
          const int cnt = static_cast<int>(std::min<std::int64_t>(8, n - p0));
          float fx[8], fy[8], z[8];
          repulsion_group_2d(nodes.data(), ys, p0, cnt, theta2, fx, fy, z);
          for (int l = 0; l < cnt; ++l) {
            const std::size_t i = static_cast<std::size_t>(t.order[static_cast<std::size_t>(p0 + l)]);
            rep[i * 2] = fx[l];
            rep[i * 2 + 1] = fy[l];
            zi[i] = z[l];
            zs[static_cast<std::size_t>(p0 + l)] = z[l];
          }
        }
#pragma omp for schedule(dynamic, 1) nowait
        for (std::int64_t b = 0; b < ablocks; ++b)
          attraction_2d_avx2(*job->p, job->y, job->attr, job->rowlog, b * kAttrRows, std::min(an, (b + 1) * kAttrRows));
      }
      return fixed_order_sum(zs.data(), n);
    }
  }
#endif
#pragma omp parallel for schedule(dynamic, 64) if (n >= kParHeavy)
  for (std::int64_t p = 0; p < n; ++p) {
    float yp[D];
    for (int d = 0; d < D; ++d) yp[d] = ys[p * D + d];
    float f[D] = {};
    float z = 0.0f;
    // exact term of one point (a leaf)
    auto leaf = [&](std::int64_t q) {
      if (q != p) z += bh::point_repulsion<D>(yp, ys + q * D, f);
    };
    std::int32_t stack[80];
    int sp = 0;
    stack[sp++] = 0;
    while (sp > 0) {
      const PackedNode<D>& nd = nodes[static_cast<std::size_t>(stack[--sp])];
      float diff[D], d2 = 0.0f;
      for (int d = 0; d < D; ++d) {
        diff[d] = yp[d] - nd.com[d];
        d2 += diff[d] * diff[d];
      }
      const bool holds_p = nd.first <= p && p <= nd.last;
      if (!holds_p && nd.size2 < theta2 * d2) {
        const float w = 1.0f / (1.0f + d2), wm = nd.count * w;
        z += wm;
        for (int d = 0; d < D; ++d) f[d] += wm * w * diff[d];
      } else {
        // leaves are summed right away; internal children go on the stack (left popped first)
        const std::int32_t l = nd.child[0], r = nd.child[1];
        if (l < 0) leaf(~l);
        if (r < 0)
          leaf(~r);
        else
          stack[sp++] = r;
        if (l >= 0) stack[sp++] = l;
      }
    }
    const std::size_t i = static_cast<std::size_t>(t.order[static_cast<std::size_t>(p)]);
    for (int d = 0; d < D; ++d) rep[i * D + d] = f[d];
    zi[i] = z;
    zs[static_cast<std::size_t>(p)] = z;
  }
  return fixed_order_sum(zs.data(), n);
}

}  // namespace

void morton_codes_cpu(ConstMatrixView y, std::vector<std::uint32_t>& codes, std::vector<float>& lo, float& side) {
  const std::int64_t n = y.rows;
  const int D = static_cast<int>(y.cols);
  lo.assign(static_cast<std::size_t>(D), std::numeric_limits<float>::infinity());
  std::vector<float> hi(static_cast<std::size_t>(D), -std::numeric_limits<float>::infinity());
  for (std::int64_t i = 0; i < n; ++i)
    for (int d = 0; d < D; ++d) {
      lo[static_cast<std::size_t>(d)] = std::min(lo[static_cast<std::size_t>(d)], y(i, d));
      hi[static_cast<std::size_t>(d)] = std::max(hi[static_cast<std::size_t>(d)], y(i, d));
    }
  side = 0.0f;
  for (int d = 0; d < D; ++d) side = std::max(side, hi[static_cast<std::size_t>(d)] - lo[static_cast<std::size_t>(d)]);
  if (!(side > 0.0f)) side = 1.0f;  // all points identical: any box will do
  const int bits = D == 2 ? kMortonBits2 : kMortonBits3;
  const float scale = static_cast<float>(1u << bits) / side;
  codes.resize(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(static) if (n >= kParLight)
  for (std::int64_t i = 0; i < n; ++i)
    codes[static_cast<std::size_t>(i)] =
        D == 2 ? bh::morton<2>(y.row(i), lo.data(), scale) : bh::morton<3>(y.row(i), lo.data(), scale);
}

Tree build_tree_cpu(ConstMatrixView y) {
  HMR_ASSERT(y.rows >= 2 && (y.cols == 2 || y.cols == 3), "build_tree: {} x {} embedding", y.rows, y.cols);
  HMR_ASSERT(y.ld == y.cols, "build_tree expects a contiguous embedding");
  Tree t;
  t.n = y.rows;
  t.dims = static_cast<int>(y.cols);
  if (t.dims == 2)
    build_tree_impl<2>(y, t);
  else
    build_tree_impl<3>(y, t);
  return t;
}

double repulsion_cpu(const Tree& t, double theta, std::vector<float>& rep, std::vector<float>& zi) {
  return t.dims == 2 ? repulsion_impl<2>(t, theta, rep, zi) : repulsion_impl<3>(t, theta, rep, zi);
}

double forces_cpu(const Tree& t, double theta, const Csr& p, ConstMatrixView y, std::vector<float>& rep,
                  std::vector<float>& zi, std::vector<float>& attr, double* plogw) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (t.dims == 2 && y.cols == 2 && y.ld == 2 && y.rows == p.n && have_avx2()) {
    attr.assign(static_cast<std::size_t>(p.n * 2), 0.0f);
    std::vector<float> rowlog(plogw ? static_cast<std::size_t>(p.n) : 0);
    const AttractionJob job{&p, y.data, attr.data(), plogw ? rowlog.data() : nullptr};
    const double z = repulsion_impl<2>(t, theta, rep, zi, &job);
    if (plogw) *plogw = fixed_order_sum(rowlog.data(), p.n);
    return z;
  }
#endif
  const double z = repulsion_cpu(t, theta, rep, zi);
  attraction_cpu(p, y, attr, plogw);
  return z;
}

namespace {

#if defined(__x86_64__) && defined(__GNUC__)
// ln(x) for x >= 1 in 8 float lanes: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s),
// s = (m - 1) / (m + 1), |s| <= 0.1716, by its Taylor series to s^9 (truncation < 5e-9 relative):
// within ~2 ulp of the float logarithm. Used only for the KL term of report iterations.
__attribute__((target("avx2,fma"), always_inline)) inline __m256 log_ge1_avx2(__m256 x) {
  const __m256i bits = _mm256_castps_si256(x);
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127));
  __m256 m = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F800000)));
  const __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
  m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
  e = _mm256_sub_epi32(e, _mm256_castps_si256(big));  // big lanes are all ones = -1
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one)), s2 = _mm256_mul_ps(s, s);
  __m256 q = _mm256_fmadd_ps(s2, _mm256_set1_ps(1.0f / 9.0f), _mm256_set1_ps(1.0f / 7.0f));
  q = _mm256_fmadd_ps(s2, q, _mm256_set1_ps(1.0f / 5.0f));
  q = _mm256_fmadd_ps(s2, q, _mm256_set1_ps(1.0f / 3.0f));
  q = _mm256_fmadd_ps(s2, q, one);
  const __m256 lnm = _mm256_mul_ps(_mm256_add_ps(s, s), q);
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(e), _mm256_set1_ps(0.693147180559945f), lnm);
}

// Attraction of CSR rows [i0, i1) of a 2-D embedding, eight neighbours at a time (AVX2 gathers;
// the per-row sum is eight lanes added in a fixed order, then the scalar tail). With rowlog, also
// each row's sum of p_ij ln(1 + d_ij^2) (the KL divergence's data term).
__attribute__((target("avx2,fma"))) void attraction_2d_avx2(const Csr& p, const float* y, float* attr, float* rowlog,
                                                            std::int64_t i0, std::int64_t i1) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (std::int64_t i = i0; i < i1; ++i) {
    const float xi = y[2 * i], yi = y[2 * i + 1];
    const __m256 vxi = _mm256_set1_ps(xi), vyi = _mm256_set1_ps(yi);
    __m256 ax = _mm256_setzero_ps(), ay = _mm256_setzero_ps(), al = _mm256_setzero_ps();
    std::int64_t e = p.indptr[static_cast<std::size_t>(i)];
    const std::int64_t end = p.indptr[static_cast<std::size_t>(i + 1)];
    for (; e + 8 <= end; e += 8) {
      const __m256i j2 =
          _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p.indices.data() + e)), 1);
      const __m256 dx = _mm256_sub_ps(vxi, _mm256_i32gather_ps(y, j2, 4));
      const __m256 dy = _mm256_sub_ps(vyi, _mm256_i32gather_ps(y + 1, j2, 4));
      const __m256 d2 = _mm256_fmadd_ps(dx, dx, _mm256_mul_ps(dy, dy));
      const __m256 pij = _mm256_loadu_ps(p.data.data() + e), w1 = _mm256_add_ps(one, d2);
      const __m256 pw = _mm256_div_ps(pij, w1);
      ax = _mm256_fmadd_ps(pw, dx, ax);
      ay = _mm256_fmadd_ps(pw, dy, ay);
      if (rowlog) al = _mm256_fmadd_ps(pij, log_ge1_avx2(w1), al);
    }
    alignas(32) float lx[8], ly[8], ll[8];
    _mm256_store_ps(lx, ax);
    _mm256_store_ps(ly, ay);
    _mm256_store_ps(ll, al);
    float fx = ((lx[0] + lx[1]) + (lx[2] + lx[3])) + ((lx[4] + lx[5]) + (lx[6] + lx[7]));
    float fy = ((ly[0] + ly[1]) + (ly[2] + ly[3])) + ((ly[4] + ly[5]) + (ly[6] + ly[7]));
    float lg = ((ll[0] + ll[1]) + (ll[2] + ll[3])) + ((ll[4] + ll[5]) + (ll[6] + ll[7]));
    for (; e < end; ++e) {
      const std::int64_t j = p.indices[static_cast<std::size_t>(e)];
      const float dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
      const float d2 = dx * dx + dy * dy;
      const float pw = p.data[static_cast<std::size_t>(e)] / (1.0f + d2);
      fx += pw * dx;
      fy += pw * dy;
      if (rowlog) lg += p.data[static_cast<std::size_t>(e)] * std::log1p(d2);
    }
    attr[2 * i] = fx;
    attr[2 * i + 1] = fy;
    if (rowlog) rowlog[i] = lg;
  }
}

#endif

}  // namespace

void attraction_cpu(const Csr& p, ConstMatrixView y, std::vector<float>& attr, double* plogw) {
  const std::int64_t n = p.n;
  const int D = static_cast<int>(y.cols);
  attr.assign(static_cast<std::size_t>(n * D), 0.0f);
  std::vector<float> rowlog(plogw ? static_cast<std::size_t>(n) : 0);
#if defined(__x86_64__) && defined(__GNUC__)
  // A 2-D embedding: the vector version.
  if (D == 2 && y.ld == 2 && have_avx2()) {
    constexpr std::int64_t kRows = 256;
    const std::int64_t blocks = (n + kRows - 1) / kRows;
#pragma omp parallel for schedule(dynamic, 1) if (n >= kParHeavy)
    for (std::int64_t b = 0; b < blocks; ++b)
      attraction_2d_avx2(p, y.data, attr.data(), plogw ? rowlog.data() : nullptr, b * kRows,
                         std::min(n, (b + 1) * kRows));
    if (plogw) *plogw = fixed_order_sum(rowlog.data(), n);
    return;
  }
#endif
#pragma omp parallel for schedule(dynamic, 256) if (n >= kParHeavy)
  for (std::int64_t i = 0; i < n; ++i) {
    float f[3] = {0.0f, 0.0f, 0.0f};
    float lg = 0.0f;
    const float* yi = y.row(i);
    for (std::int64_t e = p.indptr[static_cast<std::size_t>(i)]; e < p.indptr[static_cast<std::size_t>(i + 1)]; ++e) {
      const float* yj = y.row(p.indices[static_cast<std::size_t>(e)]);
      float diff[3], d2 = 0.0f;
      for (int d = 0; d < D; ++d) {
        diff[d] = yi[d] - yj[d];
        d2 += diff[d] * diff[d];
      }
      const float pw = p.data[static_cast<std::size_t>(e)] / (1.0f + d2);
      for (int d = 0; d < D; ++d) f[d] += pw * diff[d];
      if (plogw) lg += p.data[static_cast<std::size_t>(e)] * std::log1p(d2);
    }
    for (int d = 0; d < D; ++d) attr[static_cast<std::size_t>(i * D + d)] = f[d];
    if (plogw) rowlog[static_cast<std::size_t>(i)] = lg;
  }
  if (plogw) *plogw = fixed_order_sum(rowlog.data(), n);
}

void update_cpu(std::vector<float>& y, std::vector<float>& update, std::vector<float>& gains,
                const std::vector<float>& attr, const std::vector<float>& rep, double z, double exag, double lr,
                double momentum, double min_gain) {
  const auto m = static_cast<std::int64_t>(y.size());
  const float inv_z = static_cast<float>(1.0 / z), ex = static_cast<float>(exag), eta = static_cast<float>(lr),
              mom = static_cast<float>(momentum), gmin = static_cast<float>(min_gain);
#pragma omp parallel for simd schedule(static) if (m >= 2 * kParLight)
  for (std::int64_t e = 0; e < m; ++e) {
    const float g = ex * attr[static_cast<std::size_t>(e)] - rep[static_cast<std::size_t>(e)] * inv_z;
    float u = update[static_cast<std::size_t>(e)], gn = gains[static_cast<std::size_t>(e)];
    gn = (u * g < 0.0f) ? gn + 0.2f : gn * 0.8f;
    gn = gn < gmin ? gmin : gn;
    u = mom * u - eta * gn * g;
    gains[static_cast<std::size_t>(e)] = gn;
    update[static_cast<std::size_t>(e)] = u;
    y[static_cast<std::size_t>(e)] += u;
  }
}

std::vector<double> exact_gradient(const Csr& p, ConstMatrixView y, double exag, double* z_out) {
  const std::int64_t n = y.rows;
  const int D = static_cast<int>(y.cols);
  std::vector<double> rep(static_cast<std::size_t>(n * D), 0.0), g(static_cast<std::size_t>(n * D), 0.0);
  std::vector<double> zrow(static_cast<std::size_t>(n), 0.0);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    double z = 0.0;
    for (std::int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      double d2 = 0.0, diff[3];
      for (int d = 0; d < D; ++d) {
        diff[d] = static_cast<double>(y(i, d)) - y(j, d);
        d2 += diff[d] * diff[d];
      }
      const double w = 1.0 / (1.0 + d2);
      z += w;
      for (int d = 0; d < D; ++d) rep[static_cast<std::size_t>(i * D + d)] += w * w * diff[d];
    }
    zrow[static_cast<std::size_t>(i)] = z;
    for (std::int64_t e = p.indptr[static_cast<std::size_t>(i)]; e < p.indptr[static_cast<std::size_t>(i + 1)]; ++e) {
      const std::int64_t j = p.indices[static_cast<std::size_t>(e)];
      double d2 = 0.0, diff[3];
      for (int d = 0; d < D; ++d) {
        diff[d] = static_cast<double>(y(i, d)) - y(j, d);
        d2 += diff[d] * diff[d];
      }
      const double pw = p.data[static_cast<std::size_t>(e)] / (1.0 + d2);
      for (int d = 0; d < D; ++d) g[static_cast<std::size_t>(i * D + d)] += exag * pw * diff[d];
    }
  }
  double z = 0.0;
  for (double v : zrow) z += v;
  for (std::size_t e = 0; e < g.size(); ++e) g[e] -= rep[e] / z;
  if (z_out) *z_out = z;
  return g;
}

#if defined(__x86_64__) && defined(__GNUC__)
// Row i's sum over j > i of 1 / (1 + |y_i - y_j|^2) for a 2-D embedding in SoA form, four pairs
// per step in double (the same precision as the scalar loop; FMA in the squared distance).
static __attribute__((target("avx2,fma"))) double z_row_upper_2d_avx2(const float* xs, const float* ys, std::int64_t i,
                                                                      std::int64_t n) {
  const __m256d xi = _mm256_set1_pd(xs[i]), yi = _mm256_set1_pd(ys[i]), one = _mm256_set1_pd(1.0);
  __m256d acc = _mm256_setzero_pd();
  std::int64_t j = i + 1;
  for (; j + 4 <= n; j += 4) {
    const __m256d dx = _mm256_sub_pd(xi, _mm256_cvtps_pd(_mm_loadu_ps(xs + j)));
    const __m256d dy = _mm256_sub_pd(yi, _mm256_cvtps_pd(_mm_loadu_ps(ys + j)));
    const __m256d d2 = _mm256_fmadd_pd(dy, dy, _mm256_mul_pd(dx, dx));
    acc = _mm256_add_pd(acc, _mm256_div_pd(one, _mm256_add_pd(one, d2)));
  }
  alignas(32) double lane[4];
  _mm256_store_pd(lane, acc);
  double z = (lane[0] + lane[1]) + (lane[2] + lane[3]);
  for (; j < n; ++j) {
    const double dx = static_cast<double>(xs[i]) - xs[j], dy = static_cast<double>(ys[i]) - ys[j];
    z += 1.0 / (1.0 + (dx * dx + dy * dy));
  }
  return z;
}
#endif

// Z = sum over i != j of 1 / (1 + |y_i - y_j|^2), in double: each unordered pair once (rows sum
// over j > i; 2-D with AVX2 four pairs at a time), rows added in order, so the result does not
// depend on the thread count.
double exact_z_cpu(ConstMatrixView y) {
  const std::int64_t n = y.rows;
  const int D = static_cast<int>(y.cols);
  std::vector<double> zrow(static_cast<std::size_t>(n), 0.0);
#if defined(__x86_64__) && defined(__GNUC__)
  if (D == 2 && have_avx2()) {
    std::vector<float> xs(static_cast<std::size_t>(n)), ys(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      xs[static_cast<std::size_t>(i)] = y.row(i)[0];
      ys[static_cast<std::size_t>(i)] = y.row(i)[1];
    }
#pragma omp parallel for schedule(dynamic, 64)
    for (std::int64_t i = 0; i < n; ++i)
      zrow[static_cast<std::size_t>(i)] = z_row_upper_2d_avx2(xs.data(), ys.data(), i, n);
    double z = 0.0;
    for (double v : zrow) z += v;
    return 2.0 * z;
  }
#endif
#pragma omp parallel for schedule(dynamic, 64)
  for (std::int64_t i = 0; i < n; ++i) {
    double z = 0.0;
    const float* yi = y.row(i);
    for (std::int64_t j = i + 1; j < n; ++j) {
      const float* yj = y.row(j);
      double d2 = 0.0;
      for (int d = 0; d < D; ++d) {
        const double v = static_cast<double>(yi[d]) - yj[d];
        d2 += v * v;
      }
      z += 1.0 / (1.0 + d2);
    }
    zrow[static_cast<std::size_t>(i)] = z;
  }
  double z = 0.0;
  for (double v : zrow) z += v;
  return 2.0 * z;
}

double p_log_p(const Csr& p) {
  double s = 0.0;
  for (float v : p.data)
    if (v > 0.0f) s += static_cast<double>(v) * std::log(static_cast<double>(v));
  return s;
}

double kl_divergence(const Csr& p, double plogw, double z) { return p_log_p(p) + plogw + std::log(z); }

double exact_z(Backend& b, ConstMatrixView y) {
  NvtxRange range("tsne/exact_z");
  if (!b.is_cuda()) return exact_z_cpu(y);
  return HMR_CUDA_CALL(b, exact_z(b, y));
}

double bh_gradient(Backend& b, const Csr& p, ConstMatrixView y, double theta, double exag, std::vector<float>& grad) {
  NvtxRange range("tsne/gradient");
  HMR_REQUIRE(y.rows == p.n && (y.cols == 2 || y.cols == 3), "bh_gradient: {} x {} embedding for {} points", y.rows,
              y.cols, p.n);
  if (b.is_cuda()) return HMR_CUDA_CALL(b, bh_gradient(b, p, y, theta, exag, grad));
  const Tree t = build_tree_cpu(y);
  std::vector<float> rep, zi, attr;
  const double z = repulsion_cpu(t, theta, rep, zi);
  attraction_cpu(p, y, attr);
  grad.resize(attr.size());
  for (std::size_t e = 0; e < attr.size(); ++e)
    grad[e] = static_cast<float>(exag) * attr[e] - rep[e] * static_cast<float>(1.0 / z);
  return z;
}

}  // namespace hmr::embed
