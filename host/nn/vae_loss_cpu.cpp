// nn/vae_loss_cpu.cpp — the VAE's loss terms on the cpu (Kingma & Welling, "Auto-Encoding
// Variational Bayes", ICLR 2014): the reparameterisation z = mu + exp(lv / 2) eps, the KL term
// to N(0, I) with free bits (Kingma et al. 2016) and its gradient, and the reconstruction loss
// from logits (MSE, or BCE with the sigmoid folded in), dense or with CSR targets. Float runs in
// AVX2 + FMA lanes where the cpu has them (exp and log1p by Cephes-style polynomials, bounds
// below); double runs the scalar code the gradient checks compare against.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "nn/cpu_common.h"
#include "nn/vae_net.h"

namespace hmr::nn::cpu {

namespace {  // AVX2 versions for float (after the BCE code, which they share exp with)
bool reparam_forward_avx2(const float* h, const float* eps, float* z, std::int64_t rows, int latent);
bool reparam_kl_backward_avx2(const float* h, const float* eps, const float* dz, std::int64_t rows, int latent,
                              float beta, float inv_batch, float* dh, double* kl_rows, float free_bits);
}  // namespace

template <class T>
void reparam_forward(const T* h, const T* eps, T* z, std::int64_t rows, int latent) {
  if constexpr (std::is_same_v<T, float>)
    if (reparam_forward_avx2(h, eps, z, rows, latent)) return;
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
  if constexpr (std::is_same_v<T, float>)
    if (reparam_kl_backward_avx2(h, eps, dz, rows, latent, beta, inv_batch, dh, kl_rows, free_bits)) return;
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

// The 8 double lanes of two accumulators summed in lane order (a[0..3], then b[0..3]): the same
// order on every call, so a row's sum does not depend on anything but its data.
__attribute__((target("avx2,fma"))) inline double sum_lanes_pd(__m256d a, __m256d b) {
  alignas(32) double lanes[8];
  _mm256_store_pd(lanes, a);
  _mm256_store_pd(lanes + 4, b);
  double s = 0.0;
  for (double l : lanes) s += l;
  return s;
}

// One row of BCE with logits: loss = sum max(v, 0) - v x + ln(1 + e^-|v|), d = (sigmoid(v) - x) / B.
// kX = false: the targets are all 0 (x is not read); bce_sparse_targets adds the non-zero ones.
template <bool kX = true>
__attribute__((target("avx2,fma"))) double bce_row_avx2(const float* v, const float* x, int cols, float inv_batch,
                                                        float* d) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), ib = _mm256_set1_ps(inv_batch);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int c = 0;
  for (; c + 8 <= cols; c += 8) {
    const __m256 vv = _mm256_loadu_ps(v + c), xx = kX ? _mm256_loadu_ps(x + c) : zero;
    const __m256 e = exp_nonpos_avx2(_mm256_or_ps(vv, sign));  // e^-|v|
    const __m256 term = _mm256_add_ps(_mm256_fnmadd_ps(vv, xx, _mm256_max_ps(vv, zero)), log1p_unit_avx2(e));
    const __m256 rcp = _mm256_div_ps(one, _mm256_add_ps(one, e));
    const __m256 sg = _mm256_blendv_ps(rcp, _mm256_mul_ps(e, rcp), _mm256_cmp_ps(vv, zero, _CMP_LT_OQ));
    _mm256_storeu_ps(d + c, _mm256_mul_ps(_mm256_sub_ps(sg, xx), ib));
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(term)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(term, 1)));
  }
  double s = sum_lanes_pd(acc0, acc1);
  for (; c < cols; ++c) {
    const float w = v[c], xc = kX ? x[c] : 0.0f;
    s += static_cast<double>(std::max(w, 0.0f) - w * xc + std::log1p(std::exp(-std::abs(w))));
    d[c] = (1.0f / (1.0f + std::exp(-w)) - xc) * inv_batch;
  }
  return s;
}

// e^x for any x: e^-|x| by exp_nonpos_avx2, inverted for x > 0 (1 ulp + one division; above 87.3
// infinity, where libm's expf overflows at 88.7).
__attribute__((target("avx2,fma"), always_inline)) inline __m256 exp_avx2(__m256 x) {
  const __m256 e = exp_nonpos_avx2(_mm256_or_ps(x, _mm256_set1_ps(-0.0f)));
  return _mm256_blendv_ps(e, _mm256_div_ps(_mm256_set1_ps(1.0f), e), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GT_OQ));
}

// reparam_forward and reparam_kl_backward (the text VAE and the audio VAE: 16-32 latents) in
// 8 lanes; the KL terms and their free-bits test in double as in the scalar code. The latent
// columns past the last multiple of 8 run the scalar code.
__attribute__((target("avx2,fma"))) void reparam_forward_rows_avx2(const float* h, const float* eps, float* z,
                                                                   std::int64_t r0, std::int64_t r1, int latent) {
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* mu = h + r * 2 * latent;
    const float* lv = mu + latent;
    int j = 0;
    for (; j + 8 <= latent; j += 8) {
      const __m256 s = exp_avx2(_mm256_mul_ps(_mm256_set1_ps(0.5f), _mm256_loadu_ps(lv + j)));
      _mm256_storeu_ps(z + r * latent + j,
                       _mm256_fmadd_ps(s, _mm256_loadu_ps(eps + r * latent + j), _mm256_loadu_ps(mu + j)));
    }
    for (; j < latent; ++j) z[r * latent + j] = mu[j] + std::exp(0.5f * lv[j]) * eps[r * latent + j];
  }
  _mm256_zeroupper();
}

__attribute__((target("avx2,fma"))) double kl_row_avx2(const float* mu, const float* lv, const float* g,
                                                       const float* ep, int latent, float beta, float inv_batch,
                                                       float* dmu, float* dlv, double fb) {
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  const __m256d one_d = _mm256_set1_pd(1.0), fb_d = _mm256_set1_pd(fb), half_d = _mm256_set1_pd(-0.5);
  const __m256 ib = _mm256_set1_ps(inv_batch), vb = _mm256_set1_ps(beta), half = _mm256_set1_ps(0.5f),
               one = _mm256_set1_ps(1.0f);
  int j = 0;
  for (; j + 8 <= latent; j += 8) {
    const __m256 m = _mm256_loadu_ps(mu + j), l = _mm256_loadu_ps(lv + j), gg = _mm256_loadu_ps(g + j);
    const __m256 e = exp_avx2(l), s = exp_avx2(_mm256_mul_ps(half, l));
    __m128 on_half[2];
    for (int hf = 0; hf < 2; ++hf) {
      const __m128 mh = hf ? _mm256_extractf128_ps(m, 1) : _mm256_castps256_ps128(m);
      const __m128 lh = hf ? _mm256_extractf128_ps(l, 1) : _mm256_castps256_ps128(l);
      const __m128 eh = hf ? _mm256_extractf128_ps(e, 1) : _mm256_castps256_ps128(e);
      const __m256d md = _mm256_cvtps_pd(mh), ld = _mm256_cvtps_pd(lh), ed = _mm256_cvtps_pd(eh);
      const __m256d kj =
          _mm256_mul_pd(half_d, _mm256_sub_pd(_mm256_sub_pd(_mm256_add_pd(one_d, ld), _mm256_mul_pd(md, md)), ed));
      const __m256d on = fb <= 0.0 ? _mm256_castsi256_pd(_mm256_set1_epi64x(-1)) : _mm256_cmp_pd(kj, fb_d, _CMP_GT_OQ);
      const __m256d term = _mm256_blendv_pd(fb_d, kj, on);
      if (hf)
        acc1 = _mm256_add_pd(acc1, term);
      else
        acc0 = _mm256_add_pd(acc0, term);
      on_half[hf] = _mm256_cvtpd_ps(_mm256_and_pd(on, one_d));  // 1 or 0
    }
    const __m256 b = _mm256_mul_ps(vb, _mm256_set_m128(on_half[1], on_half[0]));
    _mm256_storeu_ps(dmu + j, _mm256_fmadd_ps(_mm256_mul_ps(b, m), ib, gg));
    const __m256 t1 = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(gg, half), s), _mm256_loadu_ps(ep + j));
    _mm256_storeu_ps(dlv + j, _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(b, half), _mm256_sub_ps(e, one)), ib, t1));
  }
  double kl = sum_lanes_pd(acc0, acc1);
  for (; j < latent; ++j) {
    const float e = std::exp(lv[j]), s = std::exp(0.5f * lv[j]);
    const double kj =
        -0.5 * (1.0 + static_cast<double>(lv[j]) - static_cast<double>(mu[j]) * mu[j] - static_cast<double>(e));
    const bool on = fb <= 0.0 || kj > fb;
    kl += on ? kj : fb;
    const float b = on ? beta : 0.0f;
    dmu[j] = g[j] + b * mu[j] * inv_batch;
    dlv[j] = g[j] * 0.5f * s * ep[j] + b * 0.5f * (e - 1.0f) * inv_batch;
  }
  _mm256_zeroupper();
  return kl;
}

bool reparam_forward_avx2(const float* h, const float* eps, float* z, std::int64_t rows, int latent) {
  if (!have_avx2_fma() || latent < 8) return false;
  constexpr std::int64_t kRows = 256;
  const std::int64_t blocks = (rows + kRows - 1) / kRows;
#pragma omp parallel for schedule(static) if (rows * latent > kParallelMin)
  for (std::int64_t b = 0; b < blocks; ++b)
    reparam_forward_rows_avx2(h, eps, z, b * kRows, std::min(rows, (b + 1) * kRows), latent);
  return true;
}

bool reparam_kl_backward_avx2(const float* h, const float* eps, const float* dz, std::int64_t rows, int latent,
                              float beta, float inv_batch, float* dh, double* kl_rows, float free_bits) {
  if (!have_avx2_fma() || latent < 8) return false;
#pragma omp parallel for schedule(static) if (rows * latent > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* mu = h + r * 2 * latent;
    float* dmu = dh + r * 2 * latent;
    kl_rows[r] = kl_row_avx2(mu, mu + latent, dz + r * latent, eps + r * latent, latent, beta, inv_batch, dmu,
                             dmu + latent, free_bits);
  }
  return true;
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
void bce_sparse_targets(const T* a, const CsrRows<T>& x, std::int64_t rows, int cols, T inv_batch, T* da,
                        double* loss_rows) {
  bool avx2 = false;
  if constexpr (std::is_same_v<T, float>) avx2 = have_avx2_fma();
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* ar = a + r * cols;
    T* dr = da + r * cols;
    double s = 0.0;
    bool done = false;
    if constexpr (std::is_same_v<T, float>)
      if (avx2) {
        s = bce_row_avx2<false>(ar, nullptr, cols, inv_batch, dr);
        done = true;
      }
    if (!done)
      for (int c = 0; c < cols; ++c) {
        const T v = ar[c];
        s += static_cast<double>(std::max(v, T(0)) + std::log1p(std::exp(-std::abs(v))));
        dr[c] = sigmoid(v) * inv_batch;
      }
    for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) {  // the non-zero targets: - v x, - x / B
      const std::int32_t c = x.col[k];
      s -= static_cast<double>(ar[c] * x.val[k]);
      dr[c] -= x.val[k] * inv_batch;
    }
    loss_rows[r] = s;
  }
}

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

#define HMR_NN_INSTANTIATE(T)                                                                                      \
  template void reparam_forward<T>(const T*, const T*, T*, std::int64_t, int);                                     \
  template void reparam_kl_backward<T>(const T*, const T*, const T*, std::int64_t, int, T, T, T*, double*, float); \
  template void recon_loss_grad<T>(const T*, const T*, std::int64_t, int, Output, Loss, T, T*, double*);           \
  template void bce_sparse_targets<T>(const T*, const CsrRows<T>&, std::int64_t, int, T, T*, double*);
HMR_NN_INSTANTIATE(float)
HMR_NN_INSTANTIATE(double)
#undef HMR_NN_INSTANTIATE

}  // namespace hmr::nn::cpu
