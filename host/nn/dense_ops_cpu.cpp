// nn/dense_ops_cpu.cpp — the dense layer's cpu twins: C = alpha op(A) op(B) + beta C (row-major; an
// AVX2 + FMA small-matrix kernel in 6 x 16 register tiles for the audio VAE's 16-128 wide layers,
// OpenBLAS otherwise), y = act(y + b), and the backward dy *= act'(y) with db = column sums of dy.
// Every sum has a fixed order, so the results do not depend on the thread count.
#include <cblas.h>
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "nn/cpu_common.h"
#include "nn/vae_net.h"

namespace hmr::nn::cpu {

// ---- small-matrix GEMM (AVX2 + FMA) ---------------------------------------------------------------
// The audio VAE's layers are 16-128 wide: OpenBLAS's fixed costs per call (packing A and B, a pass
// zeroing C for beta = 0) were ~16% of an epoch. Here C = alpha op(A) B + beta C without packing:
// element (i, p) of op(A) is A[i ai + p ap] (broadcast one at a time, so any layout works) and B is
// row-major [k x n] (contiguous rows, streamed from cache); op(B) = B^T is first transposed into a
// per-thread buffer (B is a weight matrix, small next to the product). Tiles of 6 rows x 16 columns
// hold 12 accumulators in registers over the whole k; the sum over p runs in order, so each element
// is a fixed FMA chain: deterministic and independent of the thread count.
namespace {
constexpr int kSmallMaxDim = 128;  // n and the transposed B's k: the sizes the kernel is used for

// What the tile stores: act(alpha acc + beta C + bias), bias [n] or null, act relu or identity.
struct Epilogue {
  const float* bias = nullptr;
  bool relu = false;
  Epilogue shifted(int j) const { return {bias ? bias + j : nullptr, relu}; }
};

template <int MR, int NV>  // MR rows x NV vectors of 8 columns; mask: the valid lanes of the last vector
__attribute__((target("avx2,fma"))) void small_tile(int k, float alpha, const float* A, std::int64_t ai,
                                                    std::int64_t ap, const float* B, int ldb, float beta, float* C,
                                                    int ldc, __m256i mask, Epilogue ep) {
  __m256 acc[MR][NV];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int p = 0; p < k; ++p) {
    const float* b = B + static_cast<std::int64_t>(p) * ldb;
    __m256 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = v + 1 < NV ? _mm256_loadu_ps(b + 8 * v) : _mm256_maskload_ps(b + 8 * v, mask);
    const float* a = A + p * ap;
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * ai);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  const __m256 al = _mm256_set1_ps(alpha), be = _mm256_set1_ps(beta);
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    float* c = C + static_cast<std::int64_t>(r) * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      const bool last = v + 1 == NV;
      __m256 out = alpha == 1.0f ? acc[r][v] : _mm256_mul_ps(al, acc[r][v]);
      if (beta != 0.0f)
        out = _mm256_fmadd_ps(be, last ? _mm256_maskload_ps(c + 8 * v, mask) : _mm256_loadu_ps(c + 8 * v), out);
      if (ep.bias)
        out = _mm256_add_ps(out, last ? _mm256_maskload_ps(ep.bias + 8 * v, mask) : _mm256_loadu_ps(ep.bias + 8 * v));
      if (ep.relu) out = _mm256_max_ps(out, _mm256_setzero_ps());
      if (last)
        _mm256_maskstore_ps(c + 8 * v, mask, out);
      else
        _mm256_storeu_ps(c + 8 * v, out);
    }
  }
}

template <int NV>
__attribute__((target("avx2,fma"))) void small_rows(int m, int k, float alpha, const float* A, std::int64_t ai,
                                                    std::int64_t ap, const float* B, int ldb, float beta, float* C,
                                                    int ldc, __m256i mask, Epilogue ep) {
  int i = 0;
  for (; i + 6 <= m; i += 6)
    small_tile<6, NV>(k, alpha, A + i * ai, ai, ap, B, ldb, beta, C + static_cast<std::int64_t>(i) * ldc, ldc, mask,
                      ep);
  // The last 1 .. 5 rows: the tile with that many rows (MR is a compile-time register count).
  using Tile = void (*)(int, float, const float*, std::int64_t, std::int64_t, const float*, int, float, float*, int,
                        __m256i, Epilogue);
  static constexpr Tile kTail[6] = {
      nullptr, &small_tile<1, NV>, &small_tile<2, NV>, &small_tile<3, NV>, &small_tile<4, NV>, &small_tile<5, NV>};
  if (m > i)
    kTail[m - i](k, alpha, A + i * ai, ai, ap, B, ldb, beta, C + static_cast<std::int64_t>(i) * ldc, ldc, mask, ep);
}

__attribute__((target("avx2,fma"))) void small_gemm_avx2(int m, int n, int k, float alpha, const float* A,
                                                         std::int64_t ai, std::int64_t ap, const float* B, int ldb,
                                                         float beta, float* C, int ldc, Epilogue ep) {
  const __m256i all = _mm256_set1_epi32(-1);
  int j = 0;
  for (; j + 16 <= n; j += 16) small_rows<2>(m, k, alpha, A, ai, ap, B + j, ldb, beta, C + j, ldc, all, ep.shifted(j));
  if (j < n) {
    const int rest = n - j;  // 1 .. 15
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    if (rest > 8)
      small_rows<2>(m, k, alpha, A, ai, ap, B + j, ldb, beta, C + j, ldc,
                    _mm256_cmpgt_epi32(_mm256_set1_epi32(rest - 8), lane), ep.shifted(j));
    else
      small_rows<1>(m, k, alpha, A, ai, ap, B + j, ldb, beta, C + j, ldc,
                    _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), lane), ep.shifted(j));
  }
  _mm256_zeroupper();  // the callers are SSE code
}
// bt [k x n] = B^T for B [n x k] (leading dimension ldb): 8 x 8 blocks in registers, edges scalar.
__attribute__((target("avx2,fma"))) void transpose_avx2(const float* B, int ldb, int n, int k, float* bt) {
  const int n8 = n / 8 * 8, k8 = k / 8 * 8;
  for (int j0 = 0; j0 < n8; j0 += 8)
    for (int p0 = 0; p0 < k8; p0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(B + static_cast<std::int64_t>(j0 + i) * ldb + p0);
      const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
      const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
      const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
      const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
      const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);  // columns 0|4, 1|5
      const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);  // 2|6, 3|7
      const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* o = bt + static_cast<std::int64_t>(p0) * n + j0;
      _mm256_storeu_ps(o, _mm256_permute2f128_ps(s0, s4, 0x20));
      _mm256_storeu_ps(o + n, _mm256_permute2f128_ps(s1, s5, 0x20));
      _mm256_storeu_ps(o + 2 * n, _mm256_permute2f128_ps(s2, s6, 0x20));
      _mm256_storeu_ps(o + 3 * n, _mm256_permute2f128_ps(s3, s7, 0x20));
      _mm256_storeu_ps(o + 4 * n, _mm256_permute2f128_ps(s0, s4, 0x31));
      _mm256_storeu_ps(o + 5 * n, _mm256_permute2f128_ps(s1, s5, 0x31));
      _mm256_storeu_ps(o + 6 * n, _mm256_permute2f128_ps(s2, s6, 0x31));
      _mm256_storeu_ps(o + 7 * n, _mm256_permute2f128_ps(s3, s7, 0x31));
    }
  for (int j = 0; j < n; ++j)
    for (int p = j < n8 ? k8 : 0; p < k; ++p)
      bt[static_cast<std::int64_t>(p) * n + j] = B[static_cast<std::int64_t>(j) * ldb + p];
  _mm256_zeroupper();
}
}  // namespace

namespace {
bool small_gemm_epi(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
                    int ldb, float beta, float* C, int ldc, Epilogue ep) {
  if (n > kSmallMaxDim || (tb && k > kSmallMaxDim) || !have_avx2_fma()) return false;
  if (m == 0 || n == 0) return true;
  const std::int64_t ai = ta ? 1 : lda, ap = ta ? lda : 1;
  if (tb) {  // B is [n x k]: transpose it to [k x n]
    thread_local std::vector<float> bt;
    bt.resize(static_cast<std::size_t>(k) * static_cast<std::size_t>(n));
    transpose_avx2(B, ldb, n, k, bt.data());
    small_gemm_avx2(m, n, k, alpha, A, ai, ap, bt.data(), n, beta, C, ldc, ep);
  } else {
    small_gemm_avx2(m, n, k, alpha, A, ai, ap, B, ldb, beta, C, ldc, ep);
  }
  return true;
}
}  // namespace

bool small_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
                float beta, float* C, int ldc) {
  return small_gemm_epi(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, Epilogue{});
}
bool small_linear(bool tb, int m, int n, int k, const float* A, int lda, const float* B, int ldb, const float* bias,
                  bool relu, float* C, int ldc) {
  return small_gemm_epi(false, tb, m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, Epilogue{bias, relu});
}

template <>
void gemm_rm<float>(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
                    int ldb, float beta, float* C, int ldc) {
  if (m == 0 || n == 0) return;
  if (small_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)) return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B,
              ldb, beta, C, ldc);
}
template <>
void gemm_rm<double>(bool ta, bool tb, int m, int n, int k, double alpha, const double* A, int lda, const double* B,
                     int ldb, double beta, double* C, int ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A, lda, B,
              ldb, beta, C, ldc);
}

template <class T>
void bias_act_forward(T* y, const T* b, std::int64_t rows, int cols, Activation act) {
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    T* __restrict yr = y + r * cols;
    const T* __restrict br = b;
    switch (act) {  // hoisted so each loop vectorises
      case Activation::relu:
#pragma omp simd
        for (int c = 0; c < cols; ++c) {
          const T v = yr[c] + br[c];
          yr[c] = v > T(0) ? v : T(0);
        }
        break;
      case Activation::identity:
#pragma omp simd
        for (int c = 0; c < cols; ++c) yr[c] += br[c];
        break;
      default:
        for (int c = 0; c < cols; ++c) yr[c] = activate(yr[c] + br[c], act);
    }
  }
}

namespace {
// db[c] = sum_r d[r][c]: a transposed GEMV against a vector of ones (BLAS order, deterministic for
// a given thread count).
std::vector<float>& ones_f(std::size_t n) {
  thread_local std::vector<float> v;
  if (v.size() < n) v.assign(n, 1.0f);
  return v;
}
std::vector<double>& ones_d(std::size_t n) {
  thread_local std::vector<double> v;
  if (v.size() < n) v.assign(n, 1.0);
  return v;
}
void column_sums(const float* d, std::int64_t rows, int cols, float* db) {
  cblas_sgemv(CblasRowMajor, CblasTrans, static_cast<int>(rows), cols, 1.0f, d, cols,
              ones_f(static_cast<std::size_t>(rows)).data(), 1, 0.0f, db, 1);
}
void column_sums(const double* d, std::int64_t rows, int cols, double* db) {
  cblas_dgemv(CblasRowMajor, CblasTrans, static_cast<int>(rows), cols, 1.0, d, cols,
              ones_d(static_cast<std::size_t>(rows)).data(), 1, 0.0, db, 1);
}
}  // namespace

template <class T>
void act_backward_bias_grad(T* dy, const T* y, std::int64_t rows, int cols, Activation act, T* db) {
  if (act != Activation::identity) {
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
    for (std::int64_t r = 0; r < rows; ++r) {
      T* __restrict d = dy + r * cols;
      const T* __restrict yr = y + r * cols;
      if (act == Activation::relu) {
#pragma omp simd
        for (int c = 0; c < cols; ++c) d[c] = yr[c] > T(0) ? d[c] : T(0);
      } else {
        for (int c = 0; c < cols; ++c) d[c] *= activate_grad(yr[c], act);
      }
    }
  }
  if (rows > 0 && cols > 0) column_sums(dy, rows, cols, db);
}

template void bias_act_forward<float>(float*, const float*, std::int64_t, int, Activation);
template void bias_act_forward<double>(double*, const double*, std::int64_t, int, Activation);
template void act_backward_bias_grad<float>(float*, const float*, std::int64_t, int, Activation, float*);
template void act_backward_bias_grad<double>(double*, const double*, std::int64_t, int, Activation, double*);

}  // namespace hmr::nn::cpu
