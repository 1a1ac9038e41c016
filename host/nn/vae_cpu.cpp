// nn/vae_cpu.cpp — the cpu backend of the VAE engine: OpenBLAS GEMMs (row-major, no copies) and
// OpenMP element-wise loops, templated on the precision so the gradient checks can run the very
// same code in double. Every reduction has a fixed order (per-column / per-row sums, fixed
// chunking for the gradient norm), so a run is bit-reproducible for a given thread count.
#include <cblas.h>

#include <algorithm>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <immintrin.h>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "nn/vae_net.h"

namespace hmr::nn {

NetPlan make_plan(const VaeConfig& c) {
  NetPlan p;
  p.input_dim = c.input_dim;
  p.latent = c.latent;
  p.output = c.output;
  p.loss = c.loss;
  p.free_bits = c.free_bits;
  std::size_t off = 0;
  auto add = [&](int in, int out, Activation act) {
    DenseLayer l;
    l.in = in;
    l.out = out;
    l.act = act;
    l.w = off;
    off += static_cast<std::size_t>(in) * static_cast<std::size_t>(out);
    l.b = off;
    off += static_cast<std::size_t>(out);
    p.widest = std::max({p.widest, in, out});
    return l;
  };
  int prev = c.input_dim;
  for (int h : c.hidden) {
    p.enc.push_back(add(prev, h, c.activation));
    prev = h;
  }
  p.head = add(prev, 2 * c.latent, Activation::identity);  // [W_mu; W_logvar], [b_mu; b_logvar]
  prev = c.latent;
  for (auto it = c.hidden.rbegin(); it != c.hidden.rend(); ++it) {
    p.dec.push_back(add(prev, *it, c.activation));
    prev = *it;
  }
  p.dec.push_back(add(prev, c.input_dim, Activation::identity));  // logits; output act in the loss
  p.n_params = off;
  return p;
}

// ---- noise: Philox4x32-10 (Salmon et al., SC'11) + Box-Muller -------------------------------------
namespace {
inline void philox_round(std::uint32_t c[4], const std::uint32_t k[2]) {
  const std::uint64_t p0 = static_cast<std::uint64_t>(0xD2511F53u) * c[0];
  const std::uint64_t p1 = static_cast<std::uint64_t>(0xCD9E8D57u) * c[2];
  const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
  const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
  const std::uint32_t n0 = hi1 ^ c[1] ^ k[0], n2 = hi0 ^ c[3] ^ k[1];
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}
inline void philox4x32_10(std::uint64_t counter, std::uint64_t seed, std::uint32_t out[4]) {
  std::uint32_t c[4] = {static_cast<std::uint32_t>(counter), static_cast<std::uint32_t>(counter >> 32), 0u, 0u};
  std::uint32_t k[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  for (int r = 0; r < 10; ++r) {
    philox_round(c, k);
    k[0] += 0x9E3779B9u;
    k[1] += 0xBB67AE85u;
  }
  std::memcpy(out, c, sizeof(c));
}
}  // namespace

void normal_noise(float* out, std::size_t n, std::uint64_t seed) {
  const std::int64_t blocks = static_cast<std::int64_t>((n + 3) / 4);
#pragma omp parallel for schedule(static) if (blocks > 4096)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    std::uint32_t u[4];
    philox4x32_10(static_cast<std::uint64_t>(blk), seed, u);
    double g[4];
    for (int pair = 0; pair < 2; ++pair) {
      // u1 in (0, 1] so the log is finite; u2 in [0, 1).
      const double u1 = (static_cast<double>(u[2 * pair]) + 1.0) * 0x1p-32;
      const double u2 = static_cast<double>(u[2 * pair + 1]) * 0x1p-32;
      const double r = std::sqrt(-2.0 * std::log(u1));
      g[2 * pair] = r * std::cos(2.0 * M_PI * u2);
      g[2 * pair + 1] = r * std::sin(2.0 * M_PI * u2);
    }
    for (int j = 0; j < 4; ++j) {
      const std::size_t i = static_cast<std::size_t>(blk) * 4 + static_cast<std::size_t>(j);
      if (i < n) out[i] = static_cast<float>(g[j]);
    }
  }
}

namespace cpu {

namespace {
constexpr std::int64_t kParallelMin = 1 << 17;  // elements below which threads cost more than they save

template <class T>
inline T activate(T v, Activation a) {
  switch (a) {
    case Activation::relu:
      return v > T(0) ? v : T(0);
    case Activation::sigmoid:
      return T(1) / (T(1) + std::exp(-v));
    case Activation::tanh:
      return std::tanh(v);
    case Activation::identity:
      break;
  }
  return v;
}
// Derivative expressed through the activation's output y.
template <class T>
inline T activate_grad(T y, Activation a) {
  switch (a) {
    case Activation::relu:
      return y > T(0) ? T(1) : T(0);
    case Activation::sigmoid:
      return y * (T(1) - y);
    case Activation::tanh:
      return T(1) - y * y;
    case Activation::identity:
      break;
  }
  return T(1);
}
template <class T>
inline T sigmoid(T a) {
  return T(1) / (T(1) + std::exp(-a));
}
}  // namespace

template <>
void gemm_rm<float>(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
                    int ldb, float beta, float* C, int ldc) {
  if (m == 0 || n == 0) return;
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

template <class T>
void reparam_forward(const T* h, const T* eps, T* z, std::int64_t rows, int latent) {
#pragma omp parallel for schedule(static) if (rows * latent > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* mu = h + r * 2 * latent;
    const T* lv = mu + latent;
    for (int j = 0; j < latent; ++j) z[r * latent + j] = mu[j] + std::exp(T(0.5) * lv[j]) * eps[r * latent + j];
  }
}

template <class T>
void reparam_kl_backward(const T* h, const T* eps, const T* dz, std::int64_t rows, int latent, T beta, T inv_batch,
                         T* dh, double* kl_rows, float free_bits) {
  const double fb = free_bits;
#pragma omp parallel for schedule(static) if (rows * latent > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* mu = h + r * 2 * latent;
    const T* lv = mu + latent;
    T* dmu = dh + r * 2 * latent;
    T* dlv = dmu + latent;
    double kl = 0.0;
    for (int j = 0; j < latent; ++j) {
      const T e = std::exp(lv[j]), s = std::exp(T(0.5) * lv[j]), g = dz[r * latent + j];
      const double kj =
          -0.5 * (1.0 + static_cast<double>(lv[j]) - static_cast<double>(mu[j]) * mu[j] - static_cast<double>(e));
      const bool on = fb <= 0.0 || kj > fb;
      kl += on ? kj : fb;
      const T b = on ? beta : T(0);
      dmu[j] = g + b * mu[j] * inv_batch;
      dlv[j] = g * T(0.5) * s * eps[r * latent + j] + b * T(0.5) * (e - T(1)) * inv_batch;
    }
    kl_rows[r] = kl;
  }
}

// ---- BCE with logits in AVX2 lanes ----------------------------------------------------------------
// The text VAE's loss touches B x 5000 logits per step; libm's scalar expf/log1pf made it ~30% of a
// training epoch. Here one exp(-|v|) per element (Cephes-style: 2^n by the exponent bits, a degree-6
// polynomial on |r| <= ln2/2 with the Cephes (Moshier) coefficients, ~1 ulp) gives both the sigmoid and log1p(e^-|v|),
// the latter as 2 atanh(s) with s = e / (2 + e) (exact for tiny e: no 1 + e rounding), or ln 2 + 2 atanh((e - 1) / (e +
// 3)) above e = sqrt(2) - 1, so |s| <= 0.172 and the odd series to s^9 is within 2e-9 relative. Row sums in double over
// the 8 lanes, folded in a fixed order: deterministic, thread-independent.
namespace {
bool have_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

// e^x for x <= 0 (x >= -87.3 stays normal; below, 0).
__attribute__((target("avx2,fma"), always_inline)) inline __m256 exp_nonpos_avx2(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.33654f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_max_ps(x, lo);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln 2 in two parts (Cody-Waite)
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 r2 = _mm256_mul_ps(r, r);
  p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

// ln(1 + e) for e in [0, 1].
__attribute__((target("avx2,fma"), always_inline)) inline __m256 log1p_unit_avx2(__m256 e) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 big = _mm256_cmp_ps(e, _mm256_set1_ps(0.41421356f), _CMP_GT_OQ);
  const __m256 num = _mm256_blendv_ps(e, _mm256_sub_ps(e, one), big);
  const __m256 den = _mm256_add_ps(e, _mm256_blendv_ps(_mm256_set1_ps(2.0f), _mm256_set1_ps(3.0f), big));
  const __m256 s = _mm256_div_ps(num, den), s2 = _mm256_mul_ps(s, s);
  __m256 q = _mm256_set1_ps(1.0f / 9);
  q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(1.0f / 7));
  q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(1.0f / 5));
  q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(1.0f / 3));
  q = _mm256_fmadd_ps(q, s2, one);
  const __m256 ln = _mm256_mul_ps(_mm256_add_ps(s, s), q);
  return _mm256_add_ps(ln, _mm256_and_ps(big, _mm256_set1_ps(0.693147180559945309f)));
}

// One row of BCE with logits: loss = sum max(v, 0) - v x + ln(1 + e^-|v|), d = (sigmoid(v) - x) / B.
__attribute__((target("avx2,fma"))) double bce_row_avx2(const float* v, const float* x, int cols, float inv_batch,
                                                        float* d) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), ib = _mm256_set1_ps(inv_batch);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int c = 0;
  for (; c + 8 <= cols; c += 8) {
    const __m256 vv = _mm256_loadu_ps(v + c), xx = _mm256_loadu_ps(x + c);
    const __m256 e = exp_nonpos_avx2(_mm256_or_ps(vv, sign));  // e^-|v|
    const __m256 term = _mm256_add_ps(_mm256_fnmadd_ps(vv, xx, _mm256_max_ps(vv, zero)), log1p_unit_avx2(e));
    const __m256 rcp = _mm256_div_ps(one, _mm256_add_ps(one, e));
    const __m256 sg = _mm256_blendv_ps(rcp, _mm256_mul_ps(e, rcp), _mm256_cmp_ps(vv, zero, _CMP_LT_OQ));
    _mm256_storeu_ps(d + c, _mm256_mul_ps(_mm256_sub_ps(sg, xx), ib));
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(term)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(term, 1)));
  }
  alignas(32) double lanes[8];
  _mm256_store_pd(lanes, acc0);
  _mm256_store_pd(lanes + 4, acc1);
  double s = 0.0;
  for (double l : lanes) s += l;
  for (; c < cols; ++c) {
    const float w = v[c];
    s += static_cast<double>(std::max(w, 0.0f) - w * x[c] + std::log1p(std::exp(-std::abs(w))));
    d[c] = (1.0f / (1.0f + std::exp(-w)) - x[c]) * inv_batch;
  }
  return s;
}

template <class T>
bool bce_rows_vectorised(const T*, const T*, std::int64_t, int, T, T*, double*) {
  return false;
}
template <>
bool bce_rows_vectorised<float>(const float* a, const float* x, std::int64_t rows, int cols, float inv_batch, float* da,
                                double* loss_rows) {
  if (!have_avx2_fma()) return false;
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r)
    loss_rows[r] = bce_row_avx2(a + r * cols, x + r * cols, cols, inv_batch, da + r * cols);
  return true;
}
}  // namespace

template <class T>
void recon_loss_grad(const T* a, const T* x, std::int64_t rows, int cols, Output out, Loss loss, T inv_batch, T* da,
                     double* loss_rows) {
  if (loss == Loss::bce && bce_rows_vectorised<T>(a, x, rows, cols, inv_batch, da, loss_rows)) return;
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* ar = a + r * cols;
    const T* xr = x + r * cols;
    T* dr = da + r * cols;
    double s = 0.0;
    if (loss == Loss::bce) {
      for (int c = 0; c < cols; ++c) {
        const T v = ar[c];
        s += static_cast<double>(std::max(v, T(0)) - v * xr[c] + std::log1p(std::exp(-std::abs(v))));
        dr[c] = (sigmoid(v) - xr[c]) * inv_batch;
      }
    } else if (out == Output::sigmoid) {
      for (int c = 0; c < cols; ++c) {
        const T o = sigmoid(ar[c]), d = o - xr[c];
        s += static_cast<double>(d) * d;
        dr[c] = T(2) * d * o * (T(1) - o) * inv_batch;
      }
    } else {
      for (int c = 0; c < cols; ++c) {
        const T d = ar[c] - xr[c];
        s += static_cast<double>(d) * d;
        dr[c] = T(2) * d * inv_batch;
      }
    }
    loss_rows[r] = s;
  }
}

template <class T>
void csr_linear_forward(const CsrRows<T>& x, std::int64_t rows, const T* w, int in, int out, T* y) {
  // Blocks of 8 outputs: each entry of a batch row (read once per block, not once per output)
  // gathers from 8 rows of W (8 x in floats, cache-resident) into 8 independent sums, so 8 add
  // chains are in flight. Every sum still runs over its row's entries in order.
  constexpr int kO = 8;
  const int blocks = (out + kO - 1) / kO;
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(out) * x.ptr[rows] > kParallelMin)
  for (int b = 0; b < blocks; ++b) {
    const int o0 = b * kO;
    if (o0 + kO <= out) {
      const T* w0 = w + static_cast<std::int64_t>(o0) * in;
      for (std::int64_t r = 0; r < rows; ++r) {
        T s[kO] = {};
        for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) {
          const T v = x.val[k];
          const T* wc = w0 + x.col[k];
#pragma GCC unroll 8
          for (int i = 0; i < kO; ++i) s[i] += v * wc[static_cast<std::int64_t>(i) * in];
        }
        std::copy(s, s + kO, y + r * out + o0);
      }
    } else {
      for (int o = o0; o < out; ++o) {
        const T* wo = w + static_cast<std::int64_t>(o) * in;
        for (std::int64_t r = 0; r < rows; ++r) {
          T s = T(0);
          for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) s += x.val[k] * wo[x.col[k]];
          y[r * out + o] = s;
        }
      }
    }
  }
}

template <class T>
void csr_weight_grad(const CsrRows<T>& x, std::int64_t rows, const T* dy, int in, int out, T* dw) {
  // Blocks of 8 outputs (8 rows of dW): each batch row's entries are read once per block and
  // update the 8 rows at their column; every element still sums the batch rows in order.
  constexpr int kO = 8;
  const int blocks = (out + kO - 1) / kO;
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(out) * in > kParallelMin)
  for (int b = 0; b < blocks; ++b) {
    const int o0 = b * kO, no = std::min(kO, out - o0);
    T* g0 = dw + static_cast<std::int64_t>(o0) * in;
    std::fill(g0, g0 + static_cast<std::int64_t>(no) * in, T(0));
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* d = dy + r * out + o0;
      if (no == kO) {
        for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) {
          const T v = x.val[k];
          T* gc = g0 + x.col[k];
#pragma GCC unroll 8
          for (int i = 0; i < kO; ++i) gc[static_cast<std::int64_t>(i) * in] += d[i] * v;
        }
      } else {
        for (int i = 0; i < no; ++i)
          for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k)
            g0[static_cast<std::int64_t>(i) * in + x.col[k]] += d[i] * x.val[k];
      }
    }
  }
}

template <class T>
void csr_linear_forward_t(const CsrRows<T>& x, std::int64_t rows, const T* wt, int in, int out, T* y) {
  (void)in;
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(out) * x.ptr[rows] > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    T* yr = y + r * out;
    std::fill(yr, yr + out, T(0));
    for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) {
      const T v = x.val[k];
      const T* wc = wt + static_cast<std::int64_t>(x.col[k]) * out;
#pragma omp simd
      for (int o = 0; o < out; ++o) yr[o] += v * wc[o];
    }
  }
}

template <class T>
void csr_weight_grad_t(const CsrRows<T>& x, std::int64_t rows, const T* dy, int in, int out, T* dwt) {
  // Slices of 64 outputs per task: each element of dWt is owned by one task and sums the batch
  // rows in order, so the result does not depend on the thread count.
  constexpr int kSlice = 64;
  const int slices = (out + kSlice - 1) / kSlice;
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(out) * in > kParallelMin)
  for (int sl = 0; sl < slices; ++sl) {
    const int o0 = sl * kSlice, o1 = std::min(out, o0 + kSlice);
    for (int c = 0; c < in; ++c)
      std::fill(dwt + static_cast<std::int64_t>(c) * out + o0, dwt + static_cast<std::int64_t>(c) * out + o1, T(0));
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* d = dy + r * out;
      for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) {
        const T v = x.val[k];
        T* g = dwt + static_cast<std::int64_t>(x.col[k]) * out;
#pragma omp simd
        for (int o = o0; o < o1; ++o) g[o] += d[o] * v;
      }
    }
  }
}

template <class T>
void transpose(const T* src, int rows, int cols, T* dst) {
  constexpr int kT = 32;
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(rows) * cols > kParallelMin)
  for (int i0 = 0; i0 < rows; i0 += kT)
    for (int j0 = 0; j0 < cols; j0 += kT)
      for (int i = i0; i < std::min(rows, i0 + kT); ++i)
        for (int j = j0; j < std::min(cols, j0 + kT); ++j)
          dst[static_cast<std::int64_t>(j) * rows + i] = src[static_cast<std::int64_t>(i) * cols + j];
}

double grad_norm(const float* g, std::size_t n) {
  constexpr int kChunks = 64;  // fixed, so the sum order does not depend on the thread count
  double part[kChunks];
  const std::size_t step = (n + kChunks - 1) / kChunks;
#pragma omp parallel for schedule(static) if (n > static_cast <std::size_t>(kParallelMin))
  for (int ch = 0; ch < kChunks; ++ch) {
    const std::size_t i0 = std::min(n, ch * step), i1 = std::min(n, i0 + step);
    double s = 0.0;
    for (std::size_t i = i0; i < i1; ++i) s += static_cast<double>(g[i]) * g[i];
    part[ch] = s;
  }
  double s = 0.0;
  for (double p : part) s += p;
  return std::sqrt(s);
}

float clip_scale(double norm, float max_norm) {
  if (max_norm <= 0.0f) return 1.0f;
  const double c = static_cast<double>(max_norm) / (norm + 1e-6);
  return c < 1.0 ? static_cast<float>(c) : 1.0f;
}

void adam_update(float* p, const float* g, float* m, float* v, std::size_t n, float lr, float b1, float b2, float eps,
                 float wd, std::int64_t t, float scale) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(t));
  const float step = static_cast<float>(static_cast<double>(lr) / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  const std::int64_t nn = static_cast<std::int64_t>(n);
  auto scalar = [&](std::int64_t i) {
    const float gi = scale * g[i] + wd * p[i];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= step * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  };
#if defined(__SSE2__)
  // Four lanes with the same operations in the same order (IEEE sqrt and division are correctly
  // rounded, and nothing is fused), so the result equals the scalar loop bit for bit. The compiler
  // keeps the scalar loop scalar: std::sqrt may set errno. The text VAE's 5.1 M parameters made
  // the scalar sqrt + division a third of a training step.
  constexpr std::int64_t kBlock = 4096;  // lanes per parallel chunk, a multiple of 4
  const std::int64_t blocks = (nn + kBlock - 1) / kBlock;
  const __m128 vb1 = _mm_set1_ps(b1), vb2 = _mm_set1_ps(b2), v1b1 = _mm_set1_ps(1.0f - b1),
               v1b2 = _mm_set1_ps(1.0f - b2), vscale = _mm_set1_ps(scale), vwd = _mm_set1_ps(wd),
               vstep = _mm_set1_ps(step), vbc2 = _mm_set1_ps(inv_sqrt_bc2), veps = _mm_set1_ps(eps);
#pragma omp parallel for schedule(static) if (nn > kParallelMin)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t i0 = blk * kBlock, i1 = std::min(nn, i0 + kBlock), v1 = i0 + (i1 - i0) / 4 * 4;
    for (std::int64_t i = i0; i < v1; i += 4) {
      const __m128 pi = _mm_loadu_ps(p + i);
      const __m128 gi = _mm_add_ps(_mm_mul_ps(vscale, _mm_loadu_ps(g + i)), _mm_mul_ps(vwd, pi));
      const __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(v1b1, gi));
      const __m128 vi = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(v1b2, gi), gi));
      _mm_storeu_ps(m + i, mi);
      _mm_storeu_ps(v + i, vi);
      const __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vi), vbc2), veps);
      _mm_storeu_ps(p + i, _mm_sub_ps(pi, _mm_div_ps(_mm_mul_ps(vstep, mi), den)));
    }
    for (std::int64_t i = v1; i < i1; ++i) scalar(i);
  }
#else
#pragma omp parallel for schedule(static) if (nn > kParallelMin)
  for (std::int64_t i = 0; i < nn; ++i) scalar(i);
#endif
}

// ---- the whole network ----------------------------------------------------------------------
template <class T>
void Net<T>::reserve(std::int64_t rows) {
  if (rows <= cap_) return;
  cap_ = rows;
  const std::size_t nl = plan_.enc.size() + 1 + plan_.dec.size();
  act_.resize(nl);
  std::size_t i = 0;
  for (const auto& l : plan_.enc) act_[i++].assign(static_cast<std::size_t>(rows * l.out), T(0));
  act_[i++].assign(static_cast<std::size_t>(rows * plan_.head.out), T(0));
  for (const auto& l : plan_.dec) act_[i++].assign(static_cast<std::size_t>(rows * l.out), T(0));
  const std::size_t lat = static_cast<std::size_t>(rows * plan_.latent);
  z_.assign(lat, T(0));
  dz_.assign(lat, T(0));
  dh_.assign(2 * lat, T(0));
  da_.assign(static_cast<std::size_t>(rows * plan_.widest), T(0));
  db_.assign(static_cast<std::size_t>(rows * plan_.widest), T(0));
  rows_a_.assign(static_cast<std::size_t>(rows), 0.0);
  rows_b_.assign(static_cast<std::size_t>(rows), 0.0);
}

namespace {
template <class T>
void dense_forward(const DenseLayer& l, const T* params, const T* in, std::int64_t rows, T* out, Activation act) {
  if (l.input_major)
    gemm_rm<T>(false, false, static_cast<int>(rows), l.out, l.in, T(1), in, l.in, params + l.w, l.out, T(0), out,
               l.out);
  else
    gemm_rm<T>(false, true, static_cast<int>(rows), l.out, l.in, T(1), in, l.in, params + l.w, l.in, T(0), out, l.out);
  bias_act_forward<T>(out, params + l.b, rows, l.out, act);
}
// d: gradient w.r.t. the layer's activated output (modified in place into the pre-activation
// gradient); writes the weight and bias gradients, and d(input) into din unless din is null.
template <class T>
void dense_backward(const DenseLayer& l, const T* params, const T* in, const T* out, std::int64_t rows, T* d, T* grad,
                    T* din) {
  act_backward_bias_grad<T>(d, out, rows, l.out, l.act, grad + l.b);
  if (l.input_major) {
    gemm_rm<T>(true, false, l.in, l.out, static_cast<int>(rows), T(1), in, l.in, d, l.out, T(0), grad + l.w, l.out);
    if (din)
      gemm_rm<T>(false, true, static_cast<int>(rows), l.in, l.out, T(1), d, l.out, params + l.w, l.out, T(0), din,
                 l.in);
    return;
  }
  gemm_rm<T>(true, false, l.out, l.in, static_cast<int>(rows), T(1), d, l.out, in, l.in, T(0), grad + l.w, l.in);
  if (din)
    gemm_rm<T>(false, false, static_cast<int>(rows), l.in, l.out, T(1), d, l.out, params + l.w, l.in, T(0), din, l.in);
}
}  // namespace

template <class T>
void Net<T>::encode(const T* params, const T* x, std::int64_t rows, T* h) {
  reserve(rows);
  const T* in = x;
  for (std::size_t i = 0; i < plan_.enc.size(); ++i) {
    const DenseLayer& l = plan_.enc[i];
    if (i == 0 && sparse_) {
      if (l.input_major)
        csr_linear_forward_t<T>(*sparse_, rows, params + l.w, l.in, l.out, act_[i].data());
      else
        csr_linear_forward<T>(*sparse_, rows, params + l.w, l.in, l.out, act_[i].data());
      bias_act_forward<T>(act_[i].data(), params + l.b, rows, l.out, l.act);
    } else {
      dense_forward(l, params, in, rows, act_[i].data(), l.act);
    }
    in = act_[i].data();
  }
  dense_forward(plan_.head, params, in, rows, h, Activation::identity);
}

template <class T>
void Net<T>::decode(const T* params, const T* z, std::int64_t rows, T* logits) {
  reserve(rows);
  const std::size_t base = plan_.enc.size() + 1;
  const T* in = z;
  for (std::size_t i = 0; i < plan_.dec.size(); ++i) {
    T* out = i + 1 == plan_.dec.size() ? logits : act_[base + i].data();
    dense_forward(plan_.dec[i], params, in, rows, out, plan_.dec[i].act);
    in = out;
  }
}

template <class T>
StepLoss Net<T>::forward_backward(const T* params, const T* x, const T* eps, std::int64_t rows, T beta, T* grad) {
  reserve(rows);
  const std::size_t ne = plan_.enc.size(), nd = plan_.dec.size(), base = ne + 1;
  const int L = plan_.latent;
  T* h = act_[ne].data();
  encode(params, x, rows, h);
  reparam_forward<T>(h, eps, z_.data(), rows, L);
  decode(params, z_.data(), rows, act_[base + nd - 1].data());

  const T inv_batch = T(1) / static_cast<T>(rows);
  T* d = da_.data();
  T* other = db_.data();
  recon_loss_grad<T>(act_[base + nd - 1].data(), x, rows, plan_.input_dim, plan_.output, plan_.loss, inv_batch, d,
                     rows_a_.data());
  for (std::size_t i = nd; i-- > 0;) {
    const T* in = i == 0 ? z_.data() : act_[base + i - 1].data();
    T* din = i == 0 ? dz_.data() : other;
    dense_backward(plan_.dec[i], params, in, act_[base + i].data(), rows, d, grad, din);
    std::swap(d, other);
  }
  reparam_kl_backward<T>(h, eps, dz_.data(), rows, L, beta, inv_batch, dh_.data(), rows_b_.data(), plan_.free_bits);
  dense_backward(plan_.head, params, ne ? act_[ne - 1].data() : x, h, rows, dh_.data(), grad,
                 ne ? da_.data() : nullptr);
  d = da_.data();
  other = db_.data();
  for (std::size_t i = ne; i-- > 0;) {
    const T* in = i == 0 ? x : act_[i - 1].data();
    if (i == 0 && sparse_) {  // no input gradient for the first layer
      const DenseLayer& l = plan_.enc[0];
      act_backward_bias_grad<T>(d, act_[0].data(), rows, l.out, l.act, grad + l.b);
      if (l.input_major)
        csr_weight_grad_t<T>(*sparse_, rows, d, l.in, l.out, grad + l.w);
      else
        csr_weight_grad<T>(*sparse_, rows, d, l.in, l.out, grad + l.w);
    } else {
      dense_backward(plan_.enc[i], params, in, act_[i].data(), rows, d, grad, i == 0 ? nullptr : other);
    }
    std::swap(d, other);
  }
  StepLoss s;
  s.rows = rows;
  for (std::int64_t r = 0; r < rows; ++r) {
    s.recon += rows_a_[static_cast<std::size_t>(r)];
    s.kl += rows_b_[static_cast<std::size_t>(r)];
  }
  return s;
}

template <class T>
StepLoss Net<T>::forward_backward_sparse(const T* params, const T* x, const CsrRows<T>& xs, const T* eps,
                                         std::int64_t rows, T beta, T* grad) {
  sparse_ = plan_.enc.empty() ? nullptr : &xs;  // without hidden layers the head is dense
  const StepLoss l = forward_backward(params, x, eps, rows, beta, grad);
  sparse_ = nullptr;
  return l;
}

#define HMR_NN_INSTANTIATE(T)                                                                                      \
  template void bias_act_forward<T>(T*, const T*, std::int64_t, int, Activation);                                  \
  template void act_backward_bias_grad<T>(T*, const T*, std::int64_t, int, Activation, T*);                        \
  template void reparam_forward<T>(const T*, const T*, T*, std::int64_t, int);                                     \
  template void reparam_kl_backward<T>(const T*, const T*, const T*, std::int64_t, int, T, T, T*, double*, float); \
  template void recon_loss_grad<T>(const T*, const T*, std::int64_t, int, Output, Loss, T, T*, double*);           \
  template void csr_linear_forward<T>(const CsrRows<T>&, std::int64_t, const T*, int, int, T*);                    \
  template void csr_weight_grad<T>(const CsrRows<T>&, std::int64_t, const T*, int, int, T*);                       \
  template void csr_linear_forward_t<T>(const CsrRows<T>&, std::int64_t, const T*, int, int, T*);                  \
  template void csr_weight_grad_t<T>(const CsrRows<T>&, std::int64_t, const T*, int, int, T*);                     \
  template void transpose<T>(const T*, int, int, T*);                                                              \
  template class Net<T>;
HMR_NN_INSTANTIATE(float)
HMR_NN_INSTANTIATE(double)
#undef HMR_NN_INSTANTIATE

}  // namespace cpu

// ---- the cpu training engine ------------------------------------------------------------------
namespace {

// Small models (the audio VAE at small batches) run faster on one thread: a multithreaded
// OpenBLAS call on a 64 x 128 x 40 GEMM spends more on waking and joining threads (and far more on
// a busy machine) than on arithmetic. The guard restores OpenBLAS's thread count afterwards.
class BlasThreadsGuard {
 public:
  explicit BlasThreadsGuard(bool single) : old_(single ? openblas_get_num_threads() : 0) {
    if (single && old_ > 1) openblas_set_num_threads(1);
  }
  ~BlasThreadsGuard() {
    if (old_ > 1) openblas_set_num_threads(old_);
  }
  BlasThreadsGuard(const BlasThreadsGuard&) = delete;
  BlasThreadsGuard& operator=(const BlasThreadsGuard&) = delete;

 private:
  int old_;
};

// Multiply-accumulates of one layer stack pass per row.
double macs_per_row(const NetPlan& p) {
  double s = static_cast<double>(p.head.in) * p.head.out;
  for (const auto& l : p.enc) s += static_cast<double>(l.in) * l.out;
  for (const auto& l : p.dec) s += static_cast<double>(l.in) * l.out;
  return s;
}
constexpr double kSingleThreadMacs = 8.0e6;  // per step, below which one thread is faster

class CpuEngine final : public Engine {
 public:
  explicit CpuEngine(const VaeConfig& c) : cfg_(c), plan_(cpu_plan(c)), net_(plan_) {
    const std::size_t n = plan_.n_params;
    p_.assign(n, 0.0f);
    g_.assign(n, 0.0f);
    m_.assign(n, 0.0f);
    v_.assign(n, 0.0f);
  }
  void set_params(const std::vector<float>& p) override {
    HMR_ASSERT(p.size() == plan_.n_params, "parameter count {} != {}", p.size(), plan_.n_params);
    p_ = p;
    to_internal(p_);
    std::fill(m_.begin(), m_.end(), 0.0f);
    std::fill(v_.begin(), v_.end(), 0.0f);
    t_ = 0;
  }
  // In PyTorch's layout whatever the internal one.
  std::vector<float> params() override { return external(p_); }
  std::vector<float> grads() override { return external(g_); }

  StepLoss step(ConstMatrixView x, ConstMatrixView eps, float beta, bool update) override {
    BlasThreadsGuard guard(macs_per_row(plan_) * static_cast<double>(x.rows) < kSingleThreadMacs);
    HMR_ASSERT(x.ld == x.cols && eps.ld == eps.cols, "contiguous batches expected");
    return run_step(x.data, eps.data, x.rows, beta, update);
  }

  void set_data(ConstMatrixView x) override {
    data_ = Matrix(x.rows, x.cols);
    for (std::int64_t r = 0; r < x.rows; ++r) std::memcpy(data_.row(r), x.row(r), sizeof(float) * x.cols);
    // Mostly-zero wide input (TF-IDF): keep a CSR copy and run the first layer sparse.
    sparse_ = cfg_.sparse_input && sparse_rows(plan_, x, &sp_);
  }
  bool sparse_input() const { return sparse_; }

  StepLoss epoch(const std::vector<std::int32_t>& perm, float beta, std::uint64_t noise_seed) override {
    const std::int64_t n = static_cast<std::int64_t>(perm.size()), D = plan_.input_dim, L = plan_.latent;
    const std::int64_t B = std::min<std::int64_t>(cfg_.batch, n);
    BlasThreadsGuard guard(macs_per_row(plan_) * static_cast<double>(B) < kSingleThreadMacs);
    eps_.resize(static_cast<std::size_t>(n * L));
    normal_noise(eps_.data(), eps_.size(), noise_seed);
    xb_.resize(static_cast<std::size_t>(B * D));
    StepLoss total;
    for (std::int64_t s = 0; s < n; s += B) {
      const std::int64_t rows = std::min(B, n - s);
#pragma omp parallel for schedule(static) if (rows * D > (1 << 16))
      for (std::int64_t r = 0; r < rows; ++r)
        std::memcpy(xb_.data() + r * D, data_.row(perm[static_cast<std::size_t>(s + r)]), sizeof(float) * D);
      cpu::CsrRows<float> xs;
      if (sparse_) {  // the batch's CSR rows, in batch order
        bptr_.assign(1, 0);
        bcol_.clear();
        bval_.clear();
        for (std::int64_t r = 0; r < rows; ++r) {
          const auto src = static_cast<std::size_t>(perm[static_cast<std::size_t>(s + r)]);
          bcol_.insert(bcol_.end(), sp_.col.begin() + sp_.ptr[src], sp_.col.begin() + sp_.ptr[src + 1]);
          bval_.insert(bval_.end(), sp_.val.begin() + sp_.ptr[src], sp_.val.begin() + sp_.ptr[src + 1]);
          bptr_.push_back(static_cast<std::int64_t>(bcol_.size()));
        }
        xs = {bptr_.data(), bcol_.data(), bval_.data()};
      }
      const StepLoss l = run_step(xb_.data(), eps_.data() + s * L, rows, beta, true, sparse_ ? &xs : nullptr);
      total.recon += l.recon;
      total.kl += l.kl;
      total.rows += l.rows;
    }
    return total;
  }

  Matrix encode(ConstMatrixView x) override {
    HMR_ASSERT(x.ld == x.cols, "contiguous input expected");
    Matrix h(x.rows, 2 * plan_.latent);
    forward_in_chunks(x.rows, [&](std::int64_t r0, std::int64_t rows) {
      net_.encode(p_.data(), x.data + r0 * x.cols, rows, h.row(r0));
    });
    return h;
  }
  Matrix decode_logits(ConstMatrixView z) override {
    HMR_ASSERT(z.ld == z.cols, "contiguous input expected");
    Matrix out(z.rows, plan_.input_dim);
    forward_in_chunks(z.rows, [&](std::int64_t r0, std::int64_t rows) {
      net_.decode(p_.data(), z.data + r0 * z.cols, rows, out.row(r0));
    });
    return out;
  }

 private:
  // The first layer input-major when its input may be sparse (DenseLayer::input_major).
  static NetPlan cpu_plan(const VaeConfig& c) {
    NetPlan p = make_plan(c);
    if (c.sparse_input && !p.enc.empty() && c.input_dim >= kSparseMinCols) p.enc[0].input_major = true;
    return p;
  }
  void to_internal(std::vector<float>& v) const {
    if (plan_.enc.empty() || !plan_.enc[0].input_major) return;
    const DenseLayer& l = plan_.enc[0];
    std::vector<float> w(v.begin() + static_cast<std::ptrdiff_t>(l.w),
                         v.begin() + static_cast<std::ptrdiff_t>(l.w + static_cast<std::size_t>(l.in) * l.out));
    cpu::transpose(w.data(), l.out, l.in, v.data() + l.w);
  }
  std::vector<float> external(const std::vector<float>& v) const {
    std::vector<float> out = v;
    if (plan_.enc.empty() || !plan_.enc[0].input_major) return out;
    const DenseLayer& l = plan_.enc[0];
    cpu::transpose(v.data() + l.w, l.in, l.out, out.data() + l.w);
    return out;
  }

  template <class F>
  void forward_in_chunks(std::int64_t n, F&& f) {
    constexpr std::int64_t kChunk = 4096;  // bounds the activation workspace
    for (std::int64_t r0 = 0; r0 < n; r0 += kChunk) f(r0, std::min(kChunk, n - r0));
  }

  StepLoss run_step(const float* x, const float* eps, std::int64_t rows, float beta, bool update,
                    const cpu::CsrRows<float>* xs = nullptr) {
    const StepLoss l = xs ? net_.forward_backward_sparse(p_.data(), x, *xs, eps, rows, beta, g_.data())
                          : net_.forward_backward(p_.data(), x, eps, rows, beta, g_.data());
    if (update) {
      const float scale =
          cfg_.clip_norm > 0.0f ? cpu::clip_scale(cpu::grad_norm(g_.data(), g_.size()), cfg_.clip_norm) : 1.0f;
      ++t_;
      cpu::adam_update(p_.data(), g_.data(), m_.data(), v_.data(), p_.size(), cfg_.lr, cfg_.adam_beta1, cfg_.adam_beta2,
                       cfg_.adam_eps, cfg_.weight_decay, t_, scale);
    }
    return l;
  }

  VaeConfig cfg_;
  NetPlan plan_;
  cpu::Net<float> net_;
  std::vector<float> p_, g_, m_, v_, eps_, xb_;
  std::int64_t t_ = 0;
  Matrix data_;
  bool sparse_ = false;  // resident rows also held as CSR; epochs run the first layer sparse
  CsrHost sp_;
  std::vector<std::int64_t> bptr_;
  std::vector<std::int32_t> bcol_;
  std::vector<float> bval_;
};

}  // namespace

std::unique_ptr<Engine> make_cpu_engine(const VaeConfig& c) { return std::make_unique<CpuEngine>(c); }

bool sparse_rows(const NetPlan& p, ConstMatrixView x, CsrHost* out) {
  if (p.enc.empty() || x.cols < kSparseMinCols || x.rows == 0) return false;
  std::int64_t nnz = 0;
  for (std::int64_t r = 0; r < x.rows; ++r)
    for (std::int64_t c = 0; c < x.cols; ++c) nnz += x.row(r)[c] != 0.0f;
  if (static_cast<double>(nnz) > kSparseMaxDensity * static_cast<double>(x.rows) * static_cast<double>(x.cols))
    return false;
  out->ptr.assign(1, 0);
  out->col.clear();
  out->val.clear();
  out->col.reserve(static_cast<std::size_t>(nnz));
  out->val.reserve(static_cast<std::size_t>(nnz));
  for (std::int64_t r = 0; r < x.rows; ++r) {
    const float* row = x.row(r);
    for (std::int64_t c = 0; c < x.cols; ++c)
      if (row[c] != 0.0f) {
        out->col.push_back(static_cast<std::int32_t>(c));
        out->val.push_back(row[c]);
      }
    out->ptr.push_back(static_cast<std::int64_t>(out->col.size()));
  }
  return true;
}

std::unique_ptr<Engine> make_engine(Backend& b, const VaeConfig& c) {
  if (!b.is_cuda()) return make_cpu_engine(c);
  return HMR_CUDA_CALL(b, make_vae_engine(b, c));
}

}  // namespace hmr::nn
