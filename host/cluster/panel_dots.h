// cluster/panel_dots.h — internal: the small dense products of K-Means (rows of x against a few
// centres) as a register-tiled kernel. The centres are stored transposed and padded to a multiple
// of 8 ("panel": ct[c * mp + j]) so the kernel broadcasts one x value and multiplies it into 8
// centres at once: no horizontal sums, no N x K matrix beyond a row block. An AVX2+FMA version is
// chosen at run time when the cpu has it (the build targets baseline x86-64), a portable loop
// otherwise. Results are the same for every thread count (rows are independent); they may differ
// in the last bits between the two code paths, i.e. between machines.
#pragma once

#include <cstdint>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HMR_PANEL_AVX2 1
#endif

namespace hmr::cluster::detail {

struct Panel {
  int m = 0;              // centres
  int mp = 0;             // padded to a multiple of 8
  std::vector<float> ct;  // [d x mp], zero padding
  std::vector<float> cn;  // [m] squared norms (double accumulation, rounded)
};

inline Panel make_panel(const float* c, std::int64_t ldc, int m, std::int64_t d) {
  Panel p;
  p.m = m;
  p.mp = (m + 7) / 8 * 8;
  p.ct.assign(static_cast<std::size_t>(d) * static_cast<std::size_t>(p.mp), 0.0f);
  p.cn.assign(static_cast<std::size_t>(m), 0.0f);
  for (int j = 0; j < m; ++j) {
    double s = 0.0;
    for (std::int64_t k = 0; k < d; ++k) {
      const float v = c[j * ldc + k];
      p.ct[static_cast<std::size_t>(k * p.mp + j)] = v;
      s += static_cast<double>(v) * v;
    }
    p.cn[static_cast<std::size_t>(j)] = static_cast<float>(s);
  }
  return p;
}

#ifdef HMR_PANEL_AVX2
// R rows x NV vectors of 8 centres.
template <int R, int NV>
__attribute__((target("avx2,fma"), always_inline)) inline void panel_tile_avx2(const float* x, std::int64_t ld,
                                                                               std::int64_t d, const float* ct, int mp,
                                                                               float* out) {
  __m256 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (std::int64_t c = 0; c < d; ++c) {
    __m256 cv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) cv[v] = _mm256_loadu_ps(ct + c * mp + 8 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_broadcast_ss(x + r * ld + c);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(xv, cv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(out + r * mp + 8 * v, acc[r][v]);
}

// Rows in steps of R (8 or 6 rows keep 8-12 independent accumulators in flight, enough to hide
// the FMA latency), then 4, then 1.
template <int R, int NV>
__attribute__((target("avx2,fma"), always_inline)) inline void panel_cols_avx2(const float* x, std::int64_t ld,
                                                                               std::int64_t rows, std::int64_t d,
                                                                               const float* ct, int mp, float* out) {
  std::int64_t r = 0;
  for (; r + R <= rows; r += R) panel_tile_avx2<R, NV>(x + r * ld, ld, d, ct, mp, out + r * mp);
  for (; r + 4 <= rows; r += 4) panel_tile_avx2<4, NV>(x + r * ld, ld, d, ct, mp, out + r * mp);
  for (; r < rows; ++r) panel_tile_avx2<1, NV>(x + r * ld, ld, d, ct, mp, out + r * mp);
}

__attribute__((target("avx2,fma"))) inline void panel_dots_avx2(const float* x, std::int64_t ld, std::int64_t rows,
                                                                std::int64_t d, const Panel& p, float* out) {
  const int mp = p.mp;
  const float* ct = p.ct.data();
  int j = 0;
  for (; j + 16 <= mp; j += 16) panel_cols_avx2<6, 2>(x, ld, rows, d, ct + j, mp, out + j);
  if (j < mp) panel_cols_avx2<8, 1>(x, ld, rows, d, ct + j, mp, out + j);
}
#endif

inline bool have_avx2_fma() {
#ifdef HMR_PANEL_AVX2
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
#else
  return false;
#endif
}

// out[r * mp + j] = x_r . c_j for `rows` rows of x (leading dimension ld); entries j >= m are 0.
inline void panel_dots(const float* x, std::int64_t ld, std::int64_t rows, std::int64_t d, const Panel& p, float* out) {
#ifdef HMR_PANEL_AVX2
  if (have_avx2_fma()) {
    panel_dots_avx2(x, ld, rows, d, p, out);
    return;
  }
#endif
  const int mp = p.mp;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* o = out + r * mp;
    for (int j = 0; j < mp; ++j) o[j] = 0.0f;
    for (std::int64_t c = 0; c < d; ++c) {
      const float xv = x[r * ld + c];
      const float* cc = p.ct.data() + c * mp;
#pragma omp simd
      for (int j = 0; j < mp; ++j) o[j] += xv * cc[j];
    }
  }
}

}  // namespace hmr::cluster::detail
