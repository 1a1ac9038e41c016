// nn/normal_noise_cpu.cpp — the cpu noise of the VAE's reparameterisation: eps ~ N(0, 1) from
// Philox4x32-10 (core/philox.h; Salmon et al., SC'11) with Box-Muller (Box & Muller 1958) on the
// pairs of each block's four draws. A double path (libm) and an AVX2 + FMA path that runs eight
// Philox blocks per vector and Box-Muller in float lanes (error bound below); runtime dispatch.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "core/philox.h"
#include "nn/cpu_common.h"
#include "nn/vae_net.h"

namespace hmr::nn {

void normal_noise_scalar(float* out, std::size_t n, std::uint64_t seed) {
  const std::int64_t blocks = static_cast<std::int64_t>((n + 3) / 4);
#pragma omp parallel for schedule(static) if (blocks > 4096)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    std::uint32_t u[4];
    philox::philox4x32_10(static_cast<std::uint64_t>(blk), seed, u);
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
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(philox::kM0)),
                m1 = _mm256_set1_epi32(static_cast<int>(philox::kM1));
  for (int r = 0; r < philox::kRounds; ++r) {  // philox::single_round in 8 lanes
    __m256i hi0, hi1;
    const __m256i lo0r = mul_hi_lo(c0, m0, &hi0), lo1r = mul_hi_lo(c2, m1, &hi1);
    const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c0 = n0;
    c1 = lo1r;
    c2 = n2;
    c3 = lo0r;
    k0 += philox::kW0;
    k1 += philox::kW1;
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

}  // namespace hmr::nn
