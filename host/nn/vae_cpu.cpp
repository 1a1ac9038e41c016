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
#include <memory>
#include <type_traits>

#include "core/error.h"
#include "nn/vae_cuda.h"
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
bool have_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}
}  // namespace

void philox4x32_10(std::uint64_t counter, std::uint64_t seed, std::uint32_t out[4]) {
  std::uint32_t c[4] = {static_cast<std::uint32_t>(counter), static_cast<std::uint32_t>(counter >> 32), 0u, 0u};
  std::uint32_t k[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  for (int r = 0; r < 10; ++r) {
    philox_round(c, k);
    k[0] += 0x9E3779B9u;
    k[1] += 0xBB67AE85u;
  }
  std::memcpy(out, c, sizeof(c));
}

void normal_noise_scalar(float* out, std::size_t n, std::uint64_t seed) {
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

// The same draws, 8 Philox blocks per vector (32 normals), Box-Muller in float lanes.
//   radius: r = sqrt(-2 ln u1), u1 = (u + 1) 2^-32. ln u1 = e ln 2 + 2 atanh(s), s = (m - 1) / (m + 1)
//     with u1 = m 2^e, m in [sqrt(1/2), sqrt(2)), so |s| <= 0.1716 and the odd series to s^9 is
//     within 2.1e-9 relative. Above u1 = sqrt(1/2) the argument comes from 1 - u1 = (~u) 2^-32
//     instead (s = -(1 - u1) / (1 + u1), e = 0): exact in float up to rounding, so small radii keep
//     their relative accuracy (1 - u1 is never formed by a cancelling subtraction).
//   angle: 2 pi u2 = q pi / 2 + a with the quadrant q and |a| <= pi / 4 taken from the integer bits
//     of u (exact), sin and cos of a by their Taylor series to a^9 and a^10 (truncation < 2e-9), the
//     quadrant by swapping and negating.
// Float rounding dominates: against the double path the worst difference over 1e6 draws is 2 float
// ulps (4.8e-7 at |g| = 2.1); tests/nn/vae_test.cpp asserts 5e-7 + 2e-7 |g|.
namespace {
__attribute__((target("avx2,fma"), always_inline)) inline __m256i mul_hi_lo(__m256i a, __m256i m, __m256i* hi) {
  const __m256i pe = _mm256_mul_epu32(a, m);                         // 64-bit products of lanes 0, 2, 4, 6
  const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);  // ... of lanes 1, 3, 5, 7
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
  return _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
}

// Float of uint32 lanes, correctly rounded (cvtepi32_ps alone is signed): hi 16 bits * 2^16 + lo.
__attribute__((target("avx2,fma"), always_inline)) inline __m256 u32_to_ps(__m256i hi16, __m256i lo) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi16), _mm256_set1_ps(65536.0f), _mm256_cvtepi32_ps(lo));
}

// 2 atanh(s) for |s| <= 0.1716.
__attribute__((target("avx2,fma"), always_inline)) inline __m256 two_atanh_avx2(__m256 s) {
  const __m256 s2 = _mm256_mul_ps(s, s);
  __m256 q = _mm256_set1_ps(1.0f / 9);
  q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(1.0f / 7));
  q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(1.0f / 5));
  q = _mm256_fmadd_ps(q, s2, _mm256_set1_ps(1.0f / 3));
  q = _mm256_mul_ps(q, s2);
  const __m256 s2x = _mm256_add_ps(s, s);
  return _mm256_fmadd_ps(s2x, q, s2x);
}

// r = sqrt(-2 ln((u + 1) 2^-32)).
__attribute__((target("avx2,fma"), always_inline)) inline __m256 bm_radius_avx2(__m256i u) {
  const __m256i ffff = _mm256_set1_epi32(0xFFFF);
  // u1 <= sqrt(1/2): ln u1 = ln(u + 1) - 32 ln 2, u + 1 = m 2^e.
  const __m256 f =
      u32_to_ps(_mm256_srli_epi32(u, 16), _mm256_add_epi32(_mm256_and_si256(u, ffff), _mm256_set1_epi32(1)));
  const __m256i bits = _mm256_castps_si256(f);
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127 + 32));
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFF)),
                                                 _mm256_set1_epi32(0x3F800000)));  // [1, 2)
  const __m256 big = _mm256_cmp_ps(m, _mm256_set1_ps(1.41421356f), _CMP_GT_OQ);
  m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
  e = _mm256_sub_epi32(e, _mm256_castps_si256(big));  // big is all ones (-1): e + 1
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sb = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
  const __m256 ef = _mm256_cvtepi32_ps(e);
  const __m256 lnb = _mm256_fmadd_ps(ef, _mm256_set1_ps(0.693359375f),  // ln 2 in two parts
                                     _mm256_fmadd_ps(ef, _mm256_set1_ps(-2.12194440e-4f), two_atanh_avx2(sb)));
  // u1 > sqrt(1/2): w = 1 - u1 = (~u) 2^-32 < 0.2929, ln u1 = 2 atanh(-w / (2 - w)).
  const __m256i nu = _mm256_xor_si256(u, _mm256_set1_epi32(-1));
  const __m256 w =
      _mm256_mul_ps(u32_to_ps(_mm256_srli_epi32(nu, 16), _mm256_and_si256(nu, ffff)), _mm256_set1_ps(0x1p-32f));
  const __m256 sa = _mm256_div_ps(_mm256_sub_ps(_mm256_setzero_ps(), w), _mm256_sub_ps(_mm256_set1_ps(2.0f), w));
  const __m256 lna = two_atanh_avx2(sa);
  const __m256 near1 = _mm256_cmp_ps(w, _mm256_set1_ps(0.29289322f), _CMP_LT_OQ);
  const __m256 ln = _mm256_blendv_ps(lnb, lna, near1);
  return _mm256_sqrt_ps(_mm256_max_ps(_mm256_mul_ps(ln, _mm256_set1_ps(-2.0f)), _mm256_setzero_ps()));
}

// (cos, sin)(2 pi u 2^-32).
__attribute__((target("avx2,fma"), always_inline)) inline void bm_sincos_avx2(__m256i u, __m256* c, __m256* s) {
  const __m256i q = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(1 << 29)), 30);  // nearest quarter turn
  const __m256i frac = _mm256_sub_epi32(u, _mm256_slli_epi32(q, 30));                        // in [-2^29, 2^29)
  const __m256 a = _mm256_mul_ps(_mm256_cvtepi32_ps(frac), _mm256_set1_ps(static_cast<float>(2.0 * M_PI * 0x1p-32)));
  const __m256 z = _mm256_mul_ps(a, a);
  __m256 ps = _mm256_set1_ps(1.0f / 362880);
  ps = _mm256_fmadd_ps(ps, z, _mm256_set1_ps(-1.0f / 5040));
  ps = _mm256_fmadd_ps(ps, z, _mm256_set1_ps(1.0f / 120));
  ps = _mm256_fmadd_ps(ps, z, _mm256_set1_ps(-1.0f / 6));
  const __m256 sa = _mm256_fmadd_ps(_mm256_mul_ps(a, z), ps, a);
  __m256 pc = _mm256_set1_ps(-1.0f / 3628800);
  pc = _mm256_fmadd_ps(pc, z, _mm256_set1_ps(1.0f / 40320));
  pc = _mm256_fmadd_ps(pc, z, _mm256_set1_ps(-1.0f / 720));
  pc = _mm256_fmadd_ps(pc, z, _mm256_set1_ps(1.0f / 24));
  pc = _mm256_fmadd_ps(pc, z, _mm256_set1_ps(-0.5f));
  const __m256 ca = _mm256_fmadd_ps(pc, z, _mm256_set1_ps(1.0f));
  // q = 0: (c, s); 1: (-s, c); 2: (-c, -s); 3: (s, -c).
  const __m256 odd =
      _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(q, _mm256_set1_epi32(1)), _mm256_set1_epi32(1)));
  const __m256 cc = _mm256_blendv_ps(ca, sa, odd), ss = _mm256_blendv_ps(sa, ca, odd);
  const __m256i two = _mm256_set1_epi32(2);
  const __m256 flip_c =
      _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(_mm256_add_epi32(q, _mm256_set1_epi32(1)), two), 30));
  const __m256 flip_s = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_and_si256(q, two), 30));
  *c = _mm256_xor_ps(cc, flip_c);
  *s = _mm256_xor_ps(ss, flip_s);
}

// The 32 normals of blocks blk0 .. blk0 + 7 in output order (block-major, 4 per block).
__attribute__((target("avx2,fma"))) void normal_group_avx2(std::uint64_t blk0, std::uint64_t seed, float* out) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lo0 = _mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(blk0)));
  __m256i c0 = _mm256_add_epi32(lo0, lane);
  // Carry into the high word where the low word wrapped (unsigned c0 < lo0).
  const __m256i sign = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i wrapped = _mm256_cmpgt_epi32(_mm256_xor_si256(lo0, sign), _mm256_xor_si256(c0, sign));
  __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(blk0 >> 32))), wrapped);
  __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
  std::uint32_t k0 = static_cast<std::uint32_t>(seed), k1 = static_cast<std::uint32_t>(seed >> 32);
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u)),
                m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  for (int r = 0; r < 10; ++r) {
    __m256i hi0, hi1;
    const __m256i lo0r = mul_hi_lo(c0, m0, &hi0), lo1r = mul_hi_lo(c2, m1, &hi1);
    const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c0 = n0;
    c1 = lo1r;
    c2 = n2;
    c3 = lo0r;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  const __m256 r0 = bm_radius_avx2(c0), r1 = bm_radius_avx2(c2);
  __m256 cos0, sin0, cos1, sin1;
  bm_sincos_avx2(c1, &cos0, &sin0);
  bm_sincos_avx2(c3, &cos1, &sin1);
  const __m256 g0 = _mm256_mul_ps(r0, cos0), g1 = _mm256_mul_ps(r0, sin0);
  const __m256 g2 = _mm256_mul_ps(r1, cos1), g3 = _mm256_mul_ps(r1, sin1);
  // 4 x 8 -> 8 x 4: out[4 b + j] = g_j[b].
  const __m256 t0 = _mm256_unpacklo_ps(g0, g1), t1 = _mm256_unpackhi_ps(g0, g1);
  const __m256 t2 = _mm256_unpacklo_ps(g2, g3), t3 = _mm256_unpackhi_ps(g2, g3);
  const __m256 v0 = _mm256_shuffle_ps(t0, t2, 0x44), v1 = _mm256_shuffle_ps(t0, t2, 0xEE);  // blocks 0|4, 1|5
  const __m256 v2 = _mm256_shuffle_ps(t1, t3, 0x44), v3 = _mm256_shuffle_ps(t1, t3, 0xEE);  // blocks 2|6, 3|7
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(v0, v1, 0x20));
  _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(v2, v3, 0x20));
  _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(v0, v1, 0x31));
  _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(v2, v3, 0x31));
  _mm256_zeroupper();  // the callers are SSE code
}
}  // namespace

bool normal_noise_avx2(float* out, std::size_t n, std::uint64_t seed) {
  if (!have_avx2_fma()) return false;
  const std::int64_t groups = static_cast<std::int64_t>((n + 31) / 32);
#pragma omp parallel for schedule(static) if (groups > 512)
  for (std::int64_t g = 0; g < groups; ++g) {
    const std::size_t i0 = static_cast<std::size_t>(g) * 32;
    if (i0 + 32 <= n) {
      normal_group_avx2(static_cast<std::uint64_t>(g) * 8, seed, out + i0);
    } else {
      float tmp[32];
      normal_group_avx2(static_cast<std::uint64_t>(g) * 8, seed, tmp);
      std::memcpy(out + i0, tmp, sizeof(float) * (n - i0));
    }
  }
  return true;
}

void normal_noise(float* out, std::size_t n, std::uint64_t seed) {
  if (!normal_noise_avx2(out, n, seed)) normal_noise_scalar(out, n, seed);
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
      // Each entry reads a row of Wt at a random place (W is ~10 MB for the text VAE, out of
      // cache): request the row kAhead entries on now, so its lines arrive while this one is summed
      // (the loop was bound by those misses: ~8 GB/s).
      constexpr std::int64_t kAhead = 4;
      if (k + kAhead < x.ptr[rows]) {
        const char* next = reinterpret_cast<const char*>(wt + static_cast<std::int64_t>(x.col[k + kAhead]) * out);
        for (std::size_t b = 0; b < sizeof(T) * static_cast<std::size_t>(out); b += 64) __builtin_prefetch(next + b);
      }
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

AdamStep adam_step(float lr, float b1, float b2, float eps, float wd, std::int64_t t, float scale) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(t));
  AdamStep k;
  k.b1 = b1;
  k.b2 = b2;
  k.eps = eps;
  k.wd = wd;
  k.scale = scale;
  k.step = static_cast<float>(static_cast<double>(lr) / bc1);
  k.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  return k;
}

void adam_range(float* p, const float* g, float* m, float* v, std::int64_t n, const AdamStep& k) {
  auto scalar = [&](std::int64_t i) {
    const float gi = k.scale * g[i] + k.wd * p[i];
    const float mi = k.b1 * m[i] + (1.0f - k.b1) * gi;
    const float vi = k.b2 * v[i] + (1.0f - k.b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= k.step * mi / (std::sqrt(vi) * k.inv_sqrt_bc2 + k.eps);
  };
  std::int64_t i = 0;
#if defined(__SSE2__)
  // Four lanes with the same operations in the same order (IEEE sqrt and division are correctly
  // rounded, and nothing is fused), so the result equals the scalar loop bit for bit. The compiler
  // keeps the scalar loop scalar: std::sqrt may set errno. The text VAE's 5.1 M parameters made
  // the scalar sqrt + division a third of a training step.
  const __m128 vb1 = _mm_set1_ps(k.b1), vb2 = _mm_set1_ps(k.b2), v1b1 = _mm_set1_ps(1.0f - k.b1),
               v1b2 = _mm_set1_ps(1.0f - k.b2), vscale = _mm_set1_ps(k.scale), vwd = _mm_set1_ps(k.wd),
               vstep = _mm_set1_ps(k.step), vbc2 = _mm_set1_ps(k.inv_sqrt_bc2), veps = _mm_set1_ps(k.eps);
  for (; i + 4 <= n; i += 4) {
    const __m128 pi = _mm_loadu_ps(p + i);
    const __m128 gi = _mm_add_ps(_mm_mul_ps(vscale, _mm_loadu_ps(g + i)), _mm_mul_ps(vwd, pi));
    const __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(v1b1, gi));
    const __m128 vi = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(v1b2, gi), gi));
    _mm_storeu_ps(m + i, mi);
    _mm_storeu_ps(v + i, vi);
    const __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vi), vbc2), veps);
    _mm_storeu_ps(p + i, _mm_sub_ps(pi, _mm_div_ps(_mm_mul_ps(vstep, mi), den)));
  }
#endif
  for (; i < n; ++i) scalar(i);
}

void adam_update(float* p, const float* g, float* m, float* v, std::size_t n, float lr, float b1, float b2, float eps,
                 float wd, std::int64_t t, float scale) {
  const AdamStep k = adam_step(lr, b1, b2, eps, wd, t, scale);
  const std::int64_t nn = static_cast<std::int64_t>(n);
  constexpr std::int64_t kBlock = 4096;  // elements per parallel chunk
  const std::int64_t blocks = (nn + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (nn > kParallelMin)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t i0 = blk * kBlock, i1 = std::min(nn, i0 + kBlock);
    adam_range(p + i0, g + i0, m + i0, v + i0, i1 - i0, k);
  }
}

void sparse_wgrad_adam_t(const CsrRows<float>& x, std::int64_t rows, const float* dy, int in, int out, float* wt,
                         float* m, float* v, const AdamStep& k, SparseWgradWork* work) {
  // The batch's entries by column (counting sort, stable: batch-row order within a column), so
  // each row of dWt is summed in the order csr_weight_grad_t sums it.
  auto& ptr = work->col_ptr;
  ptr.assign(static_cast<std::size_t>(in) + 1, 0);
  const std::int64_t nnz = x.ptr[rows] - x.ptr[0];
  for (std::int64_t e = x.ptr[0]; e < x.ptr[rows]; ++e) ++ptr[static_cast<std::size_t>(x.col[e]) + 1];
  for (int c = 0; c < in; ++c) ptr[static_cast<std::size_t>(c) + 1] += ptr[static_cast<std::size_t>(c)];
  work->row.resize(static_cast<std::size_t>(nnz));
  work->val.resize(static_cast<std::size_t>(nnz));
  work->fill.assign(ptr.begin(), ptr.end() - 1);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t e = x.ptr[r]; e < x.ptr[r + 1]; ++e) {
      const auto at = static_cast<std::size_t>(work->fill[static_cast<std::size_t>(x.col[e])]++);
      work->row[at] = static_cast<std::int32_t>(r);
      work->val[at] = x.val[e];
    }
  constexpr int kRowsPerTask = 64;
  const int tasks = (in + kRowsPerTask - 1) / kRowsPerTask;
#pragma omp parallel if (static_cast <std::int64_t>(in) * out > kParallelMin)
  {
    std::vector<float> g(static_cast<std::size_t>(out));
#pragma omp for schedule(static)
    for (int task = 0; task < tasks; ++task)
      for (int c = task * kRowsPerTask; c < std::min(in, (task + 1) * kRowsPerTask); ++c) {
        float* gc = g.data();
        std::fill(gc, gc + out, 0.0f);
        for (std::int64_t e = ptr[static_cast<std::size_t>(c)]; e < ptr[static_cast<std::size_t>(c) + 1]; ++e) {
          constexpr std::int64_t kAhead = 4;  // dy's rows are read in random order: request them early
          if (e + kAhead < nnz) {
            const char* next = reinterpret_cast<const char*>(
                dy + static_cast<std::int64_t>(work->row[static_cast<std::size_t>(e + kAhead)]) * out);
            for (std::size_t b = 0; b < sizeof(float) * static_cast<std::size_t>(out); b += 64)
              __builtin_prefetch(next + b);
          }
          const float val = work->val[static_cast<std::size_t>(e)];
          const float* d = dy + static_cast<std::int64_t>(work->row[static_cast<std::size_t>(e)]) * out;
#pragma omp simd
          for (int o = 0; o < out; ++o) gc[o] += d[o] * val;
        }
        const std::int64_t at = static_cast<std::int64_t>(c) * out;
        adam_range(wt + at, gc, m + at, v + at, out, k);
      }
  }
}

namespace {
// in [rows x inw] -> panels of 16 columns, each [rows x 16] contiguous (zero-padded at the edge).
void pack_panels16(const float* in, std::int64_t rows, int inw, float* out) {
  const int panels = (inw + 15) / 16;
#pragma omp parallel for schedule(static) if (rows * inw > kParallelMin)
  for (int pn = 0; pn < panels; ++pn) {
    const int c0 = pn * 16, nc = std::min(16, inw - c0);
    float* o = out + static_cast<std::int64_t>(pn) * rows * 16;
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* src = in + r * inw + c0;
      for (int c = 0; c < 16; ++c) o[r * 16 + c] = c < nc ? src[c] : 0.0f;
    }
  }
}

// C [6 x 8 NV] = A B (+ C when accumulate): A packed [k][6], B packed [k][16] (zero-padded), both
// contiguous, so the strides are constants and the k loop runs 4 steps per iteration. Each
// element is one FMA chain over k in order. mask: the valid lanes of the last vector's store.
template <int NV>
__attribute__((target("avx2,fma"), always_inline)) inline void packed_step(const float* ap, const float* bp,
                                                                           __m256 (&acc)[6][NV]) {
  __m256 bv[NV];
#pragma GCC unroll 2
  for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(bp + 8 * v);
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r) {
    const __m256 av = _mm256_broadcast_ss(ap + r);
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
  }
}

template <int NV>
__attribute__((target("avx2,fma"))) void packed_tile6(int k, const float* a, const float* b, bool accumulate, float* C,
                                                      int ldc, __m256i mask) {
  __m256 acc[6][NV];
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  int p = 0;
  for (; p + 4 <= k; p += 4, a += 24, b += 64) {
    packed_step<NV>(a, b, acc);
    packed_step<NV>(a + 6, b + 16, acc);
    packed_step<NV>(a + 12, b + 32, acc);
    packed_step<NV>(a + 18, b + 48, acc);
  }
  for (; p < k; ++p, a += 6, b += 16) packed_step<NV>(a, b, acc);
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r) {
    float* c = C + static_cast<std::int64_t>(r) * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      const bool last = v + 1 == NV;
      __m256 out = acc[r][v];
      if (accumulate) out = _mm256_add_ps(last ? _mm256_maskload_ps(c + 8 * v, mask) : _mm256_loadu_ps(c + 8 * v), out);
      if (last)
        _mm256_maskstore_ps(c + 8 * v, mask, out);
      else
        _mm256_storeu_ps(c + 8 * v, out);
    }
  }
}

// buf [tiles * 6 x inw] = A B: A packed as 6-row micro-panels ([tile][row r][6], so each step of
// the sum reads 6 adjacent floats), B = in [rows x inw] packed in 16-column panels; the rows are
// summed in chunks of kc (a panel's chunk stays in L1 across the tiles).
__attribute__((target("avx2,fma"))) void wgrad_block_avx2(const float* a6, int tiles, std::int64_t rows,
                                                          const float* panels, int inw, std::int64_t kc, float* buf) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), all = _mm256_set1_epi32(-1);
  for (std::int64_t r0 = 0; r0 < rows; r0 += kc) {
    const int nk = static_cast<int>(std::min(kc, rows - r0));
    for (int c0 = 0; c0 < inw; c0 += 16) {
      const int rest = inw - c0;
      const float* bp = panels + (static_cast<std::int64_t>(c0 / 16) * rows + r0) * 16;
      for (int t = 0; t < tiles; ++t) {
        const float* at = a6 + (static_cast<std::int64_t>(t) * rows + r0) * 6;
        float* c = buf + static_cast<std::int64_t>(t) * 6 * inw + c0;
        if (rest >= 16)
          packed_tile6<2>(nk, at, bp, r0 > 0, c, inw, all);
        else if (rest > 8)
          packed_tile6<2>(nk, at, bp, r0 > 0, c, inw, _mm256_cmpgt_epi32(_mm256_set1_epi32(rest - 8), lane));
        else
          packed_tile6<1>(nk, at, bp, r0 > 0, c, inw, _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), lane));
      }
    }
  }
  _mm256_zeroupper();
}
}  // namespace

bool dense_wgrad_adam(const float* dy, const float* in, std::int64_t rows, int out, int inw, float* w, float* m,
                      float* v, const AdamStep& k) {
  if (!have_avx2_fma()) return false;
  if (out == 0 || inw == 0) return true;
  // Blocks of kBlock rows of W: the block's gradient [kBlock x inw] goes to a per-thread buffer,
  // then Adam updates the block from it while it is in cache. Both operands are packed so
  // packed_tile6's 6 x 16 tiles stream contiguous memory (dy's columns are 4 * out bytes apart: a
  // new page per batch row): `in` once per step into 16-column panels, the block's columns of dy
  // into 6-row micro-panels. The batch rows are summed in chunks of kRows (the panel chunk stays
  // in L1 across the block's tiles): per element a fixed FMA chain per chunk, chunks added in
  // order, so the same bits on any thread count.
  constexpr int kBlock = 48;  // a multiple of the tile's 6 rows
  constexpr std::int64_t kRows = 256;
  const int blocks = (out + kBlock - 1) / kBlock, panels = (inw + 15) / 16;
  thread_local std::vector<float> packed_in;
  packed_in.resize(static_cast<std::size_t>(rows) * 16 * static_cast<std::size_t>(panels));
  pack_panels16(in, rows, inw, packed_in.data());
  const float* hp = packed_in.data();
#pragma omp parallel if (static_cast <std::int64_t>(out) * inw > kParallelMin)
  {
    std::vector<float> buf(static_cast<std::size_t>(kBlock) * static_cast<std::size_t>(inw));
    std::vector<float> at(static_cast<std::size_t>(kBlock) * static_cast<std::size_t>(rows));
#pragma omp for schedule(static)
    for (int b = 0; b < blocks; ++b) {
      const int o0 = b * kBlock, no = std::min(kBlock, out - o0);
      const int tiles = (no + 5) / 6;
      // at[t][r][i] = dy[r][o0 + 6 t + i], zero past the block; one pass over dy's rows (each row
      // of the block is on its own page: 4 * out bytes apart).
      const std::size_t tile_stride = static_cast<std::size_t>(rows) * 6;
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* d = dy + r * out + o0;
        float* a = at.data() + static_cast<std::size_t>(r) * 6;
        if (no == kBlock) {
          for (int t = 0; t < kBlock / 6; ++t)
            for (int i = 0; i < 6; ++i) a[t * tile_stride + i] = d[6 * t + i];
        } else {
          for (int i = 0; i < 6 * tiles; ++i) a[(i / 6) * tile_stride + i % 6] = i < no ? d[i] : 0.0f;
        }
      }
      wgrad_block_avx2(at.data(), tiles, rows, hp, inw, kRows, buf.data());
      const std::int64_t off = static_cast<std::int64_t>(o0) * inw;
      adam_range(w + off, buf.data(), m + off, v + off, static_cast<std::int64_t>(no) * inw, k);
    }
  }
  return true;
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
  if constexpr (std::is_same_v<T, float>)  // bias and relu in the small GEMM's store
    if ((act == Activation::relu || act == Activation::identity) &&
        small_linear(!l.input_major, static_cast<int>(rows), l.out, l.in, in, l.in, params + l.w,
                     l.input_major ? l.out : l.in, params + l.b, act == Activation::relu, out, l.out))
      return;
  // A linear layer (the logits) gets its bias in C first and the GEMM adds to it (beta = 1): BLAS
  // skips its pass scaling C and no bias pass follows; the sum is the same, b + (x W^T). With an
  // activation the bias rides along in the activation's pass.
  const bool linear = act == Activation::identity;
  if (linear) {
    const T* bias = params + l.b;
#pragma omp parallel for schedule(static) if (rows * l.out > kParallelMin)
    for (std::int64_t r = 0; r < rows; ++r) std::copy(bias, bias + l.out, out + r * l.out);
  }
  const T beta = linear ? T(1) : T(0);
  if (l.input_major)
    gemm_rm<T>(false, false, static_cast<int>(rows), l.out, l.in, T(1), in, l.in, params + l.w, l.out, beta, out,
               l.out);
  else
    gemm_rm<T>(false, true, static_cast<int>(rows), l.out, l.in, T(1), in, l.in, params + l.w, l.in, beta, out, l.out);
  if (!linear) bias_act_forward<T>(out, params + l.b, rows, l.out, act);
}
// d: gradient w.r.t. the layer's activated output (modified in place into the pre-activation
// gradient); writes the weight and bias gradients, and d(input) into din unless din is null.
template <class T>
void dense_backward(const DenseLayer& l, const T* params, const T* in, const T* out, std::int64_t rows, T* d, T* grad,
                    T* din, bool skip_wgrad = false) {
  act_backward_bias_grad<T>(d, out, rows, l.out, l.act, grad + l.b);
  if (skip_wgrad) {
    if (din)
      gemm_rm<T>(false, l.input_major, static_cast<int>(rows), l.in, l.out, T(1), d, l.out, params + l.w,
                 l.input_major ? l.out : l.in, T(0), din, l.in);
    return;
  }
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
StepLoss Net<T>::forward_backward(const T* params, const T* x, const T* eps, std::int64_t rows, T beta, T* grad,
                                  std::int64_t norm_rows) {
  reserve(rows);
  const std::size_t ne = plan_.enc.size(), nd = plan_.dec.size(), base = ne + 1;
  const int L = plan_.latent;
  T* h = act_[ne].data();
  encode(params, x, rows, h);
  reparam_forward<T>(h, eps, z_.data(), rows, L);
  decode(params, z_.data(), rows, act_[base + nd - 1].data());

  const T inv_batch = T(1) / static_cast<T>(norm_rows > 0 ? norm_rows : rows);
  T* d = da_.data();
  T* other = db_.data();
  if (sparse_ && plan_.loss == Loss::bce)  // the targets from the CSR rows: x is not read
    bce_sparse_targets<T>(act_[base + nd - 1].data(), *sparse_, rows, plan_.input_dim, inv_batch, d, rows_a_.data());
  else
    recon_loss_grad<T>(act_[base + nd - 1].data(), x, rows, plan_.input_dim, plan_.output, plan_.loss, inv_batch, d,
                       rows_a_.data());
  for (std::size_t i = nd; i-- > 0;) {
    const T* in = i == 0 ? z_.data() : act_[base + i - 1].data();
    T* din = i == 0 ? dz_.data() : other;
    const bool hook = i + 1 == nd && output_wgrad_;
    dense_backward(plan_.dec[i], params, in, act_[base + i].data(), rows, d, grad, din, hook);
    if (hook) output_wgrad_(d, in, rows);  // d is overwritten further down
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
      first_dy_ = d;
      if (!defer_sparse_wgrad_) {  // deferred: the caller forms it from first_dy(), fused with Adam
        if (l.input_major)
          csr_weight_grad_t<T>(*sparse_, rows, d, l.in, l.out, grad + l.w);
        else
          csr_weight_grad<T>(*sparse_, rows, d, l.in, l.out, grad + l.w);
      }
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
                                         std::int64_t rows, T beta, T* grad, std::int64_t norm_rows) {
  sparse_ = plan_.enc.empty() ? nullptr : &xs;  // without hidden layers the head is dense
  const StepLoss l = forward_backward(params, x, eps, rows, beta, grad, norm_rows);
  sparse_ = nullptr;
  return l;
}

#define HMR_NN_INSTANTIATE(T)                                                                                      \
  template void bias_act_forward<T>(T*, const T*, std::int64_t, int, Activation);                                  \
  template void act_backward_bias_grad<T>(T*, const T*, std::int64_t, int, Activation, T*);                        \
  template void reparam_forward<T>(const T*, const T*, T*, std::int64_t, int);                                     \
  template void reparam_kl_backward<T>(const T*, const T*, const T*, std::int64_t, int, T, T, T*, double*, float); \
  template void recon_loss_grad<T>(const T*, const T*, std::int64_t, int, Output, Loss, T, T*, double*);           \
  template void bce_sparse_targets<T>(const T*, const CsrRows<T>&, std::int64_t, int, T, T*, double*);             \
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
// Models up to this many parameters train in chunks (CpuEngineOptions): each chunk needs its own
// gradient buffer, and summing them costs a pass over the parameters per chunk.
constexpr std::size_t kChunkMaxParams = std::size_t(1) << 20;
constexpr std::int64_t kFuseOutputRows = 256;

class CpuEngine final : public Engine {
 public:
  CpuEngine(const VaeConfig& c, const CpuEngineOptions& o) : cfg_(c), plan_(cpu_plan(c)), net_(plan_) {
    const std::size_t n = plan_.n_params;
    chunk_rows_ = o.chunk_rows != 0 ? o.chunk_rows : (plan_.n_params <= kChunkMaxParams ? kChunkRows : -1);
    fuse_updates_ = o.fuse_updates;
    fuse_output_ = o.fuse_output;
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
    const std::int64_t D = x.cols;
    return run_step([&](std::int64_t r0, std::int64_t) { return x.data + r0 * D; }, eps.data, x.rows, beta, update);
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
      // The batch's rows r0 .. r0 + nr - 1, gathered by the chunk that needs them.
      auto gather = [&](std::int64_t r0, std::int64_t nr) {
#pragma omp parallel for schedule(static) if (nr * D > (1 << 16))
        for (std::int64_t r = r0; r < r0 + nr; ++r)
          std::memcpy(xb_.data() + r * D, data_.row(perm[static_cast<std::size_t>(s + r)]), sizeof(float) * D);
        return static_cast<const float*>(xb_.data() + r0 * D);
      };
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
      const StepLoss l =
          run_step(gather, eps_.data() + s * L, rows, beta, true, sparse_ ? &xs : nullptr, fuse_updates_);
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

  // One step over `rows` rows; x_rows(r0, nr) returns the contiguous input rows r0 .. r0 + nr - 1
  // (the epoch gathers them there). xs: the batch's CSR rows for a sparse first layer.
  template <class XRows>
  StepLoss run_step(XRows&& x_rows, const float* eps, std::int64_t rows, float beta, bool update,
                    const cpu::CsrRows<float>* xs = nullptr, bool fuse = false) {
    const bool chunked = chunk_rows_ > 0 && rows > chunk_rows_;
    if (update && fuse && !chunked && cfg_.clip_norm <= 0.0f)
      return fused_step(xs && plan_.loss == Loss::bce ? nullptr : x_rows(0, rows), eps, rows, beta, xs);
    const StepLoss l =
        chunked ? chunked_forward_backward(x_rows, eps, rows, beta, xs)
        : xs    ? net_.forward_backward_sparse(p_.data(), plan_.loss == Loss::bce ? nullptr : x_rows(0, rows), *xs, eps,
                                               rows, beta, g_.data())
                : net_.forward_backward(p_.data(), x_rows(0, rows), eps, rows, beta, g_.data());
    if (update) {
      const float scale =
          cfg_.clip_norm > 0.0f ? cpu::clip_scale(cpu::grad_norm(g_.data(), g_.size()), cfg_.clip_norm) : 1.0f;
      ++t_;
      cpu::adam_update(p_.data(), g_.data(), m_.data(), v_.data(), p_.size(), cfg_.lr, cfg_.adam_beta1, cfg_.adam_beta2,
                       cfg_.adam_eps, cfg_.weight_decay, t_, scale);
    }
    return l;
  }

  // A step whose largest weight updates are fused with their gradients (CpuEngineOptions::
  // fuse_updates; no clipping, so nothing needs the whole gradient before Adam): the output
  // layer's W gets Adam inside the backward, right after its input gradient is formed
  // (cpu::dense_wgrad_adam), and a sparse first layer's W after it (cpu::sparse_wgrad_adam_t).
  // Those gradients never reach g_; Adam runs over the other parameters as usual.
  StepLoss fused_step(const float* x, const float* eps, std::int64_t rows, float beta, const cpu::CsrRows<float>* xs) {
    ++t_;
    const cpu::AdamStep k =
        cpu::adam_step(cfg_.lr, cfg_.adam_beta1, cfg_.adam_beta2, cfg_.adam_eps, cfg_.weight_decay, t_, 1.0f);
    const DenseLayer& o = plan_.dec.back();
    const std::size_t o0 = o.w, o1 = o.w + static_cast<std::size_t>(o.in) * static_cast<std::size_t>(o.out);
    bool out_fused = false;
    // The output layer's fused update only for batches up to kFuseOutputRows rows: its GEMM kernel
    // runs ~12% below OpenBLAS's, which the saved memory passes outweigh at batch 64 (+4-9% samples/s
    // for the text VAE) but not at 1024 (-2-3%); see docs/nn.md.
    if (fuse_output_ && rows <= kFuseOutputRows)
      net_.set_output_wgrad_hook([&](const float* dy, const float* in, std::int64_t r) {
        out_fused = cpu::dense_wgrad_adam(dy, in, r, o.out, o.in, p_.data() + o0, m_.data() + o0, v_.data() + o0, k);
        if (!out_fused)
          cpu::gemm_rm<float>(true, false, o.out, o.in, static_cast<int>(r), 1.0f, dy, o.out, in, o.in, 0.0f,
                              g_.data() + o0, o.in);
      });
    const bool sparse_fused = xs && plan_.enc[0].input_major;
    net_.set_defer_sparse_wgrad(sparse_fused);
    const StepLoss l = xs ? net_.forward_backward_sparse(p_.data(), x, *xs, eps, rows, beta, g_.data())
                          : net_.forward_backward(p_.data(), x, eps, rows, beta, g_.data());
    net_.set_defer_sparse_wgrad(false);
    net_.set_output_wgrad_hook(nullptr);
    // Adam over the parameters outside the fused ranges (sorted, disjoint).
    std::vector<std::pair<std::size_t, std::size_t>> skip;
    const DenseLayer* f = sparse_fused ? &plan_.enc[0] : nullptr;
    if (f) skip.emplace_back(f->w, f->w + static_cast<std::size_t>(f->in) * static_cast<std::size_t>(f->out));
    if (out_fused) skip.emplace_back(o0, o1);
    std::sort(skip.begin(), skip.end());
    std::size_t at = 0;
    skip.emplace_back(p_.size(), p_.size());
    for (const auto& [s0, s1] : skip) {
      if (s0 > at)
        cpu::adam_update(p_.data() + at, g_.data() + at, m_.data() + at, v_.data() + at, s0 - at, cfg_.lr,
                         cfg_.adam_beta1, cfg_.adam_beta2, cfg_.adam_eps, cfg_.weight_decay, t_, 1.0f);
      at = std::max(at, s1);
    }
    if (f)
      cpu::sparse_wgrad_adam_t(*xs, rows, net_.first_dy(), f->in, f->out, p_.data() + f->w, m_.data() + f->w,
                               v_.data() + f->w, k, &wgrad_work_);
    return l;
  }

  // CpuEngineOptions: the forward/backward of each chunk of chunk_rows_ rows on one thread (BLAS
  // runs single-threaded inside the parallel region), normalised by the whole batch's rows; the
  // chunk gradients are summed in chunk order into g_ (chunk 0 writes g_ itself).
  template <class XRows>
  StepLoss chunked_forward_backward(XRows&& x_rows, const float* eps, std::int64_t rows, float beta,
                                    const cpu::CsrRows<float>* xs) {
    const std::int64_t cr = chunk_rows_, nc = (rows + cr - 1) / cr, L = plan_.latent;
    while (static_cast<std::int64_t>(chunks_.size()) < nc) chunks_.push_back(std::make_unique<Chunk>(plan_));
    for (std::int64_t c = 1; c < nc; ++c) chunks_[static_cast<std::size_t>(c)]->g.resize(plan_.n_params);
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t c = 0; c < nc; ++c) {
      Chunk& ch = *chunks_[static_cast<std::size_t>(c)];
      const std::int64_t r0 = c * cr, nr = std::min(cr, rows - r0);
      const float* x = x_rows(r0, nr);
      float* g = c == 0 ? g_.data() : ch.g.data();
      if (xs) {
        const cpu::CsrRows<float> sub{xs->ptr + r0, xs->col, xs->val};  // ptr holds absolute offsets
        ch.loss = ch.net.forward_backward_sparse(p_.data(), x, sub, eps + r0 * L, nr, beta, g, rows);
      } else {
        ch.loss = ch.net.forward_backward(p_.data(), x, eps + r0 * L, nr, beta, g, rows);
      }
    }
    const std::int64_t np = static_cast<std::int64_t>(plan_.n_params);
    constexpr std::int64_t kBlock = 4096;
    const std::int64_t blocks = (np + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (np * (nc - 1) > (1 << 17))
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t i0 = b * kBlock, i1 = std::min(np, i0 + kBlock);
      float* __restrict g = g_.data();
      for (std::int64_t c = 1; c < nc; ++c) {
        const float* __restrict gc = chunks_[static_cast<std::size_t>(c)]->g.data();
#pragma omp simd
        for (std::int64_t i = i0; i < i1; ++i) g[i] += gc[i];
      }
    }
    StepLoss total;
    for (std::int64_t c = 0; c < nc; ++c) {
      const StepLoss& l = chunks_[static_cast<std::size_t>(c)]->loss;
      total.recon += l.recon;
      total.kl += l.kl;
      total.rows += l.rows;
    }
    return total;
  }

  struct Chunk {
    explicit Chunk(const NetPlan& p) : net(p) {}
    cpu::Net<float> net;
    std::vector<float> g;  // unused by chunk 0 (it writes g_)
    StepLoss loss;
  };

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
  std::int64_t chunk_rows_ = -1;  // > 0: batches of more rows run in chunks of this many
  bool fuse_updates_ = true;      // CpuEngineOptions::fuse_updates
  bool fuse_output_ = true;
  cpu::SparseWgradWork wgrad_work_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
};

}  // namespace

std::unique_ptr<Engine> make_cpu_engine(const VaeConfig& c) {
  return std::make_unique<CpuEngine>(c, CpuEngineOptions{});
}
std::unique_ptr<Engine> make_cpu_engine(const VaeConfig& c, const CpuEngineOptions& o) {
  return std::make_unique<CpuEngine>(c, o);
}

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
