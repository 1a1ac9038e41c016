// audio/spectrum_cpu.cpp — the cpu MFCC's power spectra (librosa.stft |X|^power parity): batched
// FFTW plans with a wisdom cache, and for each block of kBlock frames the power |X|^2 stored
// bin-major, by portable loops or AVX2. The default periodic Hann window is applied in the
// frequency domain on a complex FFT of n_fft/2 points of the signal read in place, whose real
// spectrum comes from the even/odd split (fused with the power by default). Every path gives
// the same bits (tests/audio/mfcc_test.cpp checks HMR_MFCC_SIMD=fused|avx2|generic).
#include <fftw3.h>
#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "audio/mfcc_cpu.h"
#include "core/error.h"

namespace hmr::audio::mfcc_detail {

namespace {
// Where FFTW wisdom is cached between runs: $HMR_FFTW_WISDOM ("none" disables), else
// $XDG_CACHE_HOME/hmr or ~/.cache/hmr. Measuring a plan costs about a second; with the wisdom
// file every later process gets the measured plan at once.
std::filesystem::path wisdom_path() {
  if (const char* e = std::getenv("HMR_FFTW_WISDOM"); e && *e) return std::string(e) == "none" ? "" : e;
  std::filesystem::path base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    base = x;
  else if (const char* h = std::getenv("HOME"); h && *h)
    base = std::filesystem::path(h) / ".cache";
  else
    return {};
  return base / "hmr" / "fftwf-wisdom";
}
}  // namespace

fftwf_plan block_plan(int n_fft, int idist) {
  // Destroyed at exit so leak checkers see no plan left behind.
  struct Plans : std::map<std::pair<int, int>, fftwf_plan> {
    ~Plans() {
      for (auto& [n, p] : *this) fftwf_destroy_plan(p);
    }
  };
  static std::mutex mu;
  static Plans plans;
  static bool imported = false;
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans.find({n_fft, idist});
  if (it != plans.end()) return it->second;
  const std::filesystem::path wisdom = wisdom_path();
  if (!imported && !wisdom.empty()) {
    imported = true;
    std::error_code ec;
    if (std::filesystem::exists(wisdom, ec)) fftwf_import_wisdom_from_filename(wisdom.c_str());
  }
  const int odist = (n_fft / 2 + 2) & ~1;  // even, so every row keeps the buffer's alignment
  float* in = fftwf_alloc_real(static_cast<std::size_t>(kBlock - 1) * idist + n_fft);
  fftwf_complex* out = fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * odist);
  const bool cplx = idist < n_fft;
  int n = cplx ? n_fft / 2 : n_fft;
  const unsigned flags = cplx ? FFTW_PRESERVE_INPUT : FFTW_DESTROY_INPUT;
  const auto make = [&](unsigned f) {
    auto* zin = reinterpret_cast<fftwf_complex*>(in);
    return cplx ? fftwf_plan_many_dft(1, &n, kBlock, zin, nullptr, 1, idist / 2, out, nullptr, 1, odist, FFTW_FORWARD,
                                      flags | f)
                : fftwf_plan_many_dft_r2c(1, &n, kBlock, in, nullptr, 1, idist, out, nullptr, 1, odist, flags | f);
  };
  // Known from wisdom? Then no measuring happens and nothing needs saving.
  fftwf_plan plan = make(FFTW_MEASURE | FFTW_WISDOM_ONLY);
  if (!plan) {
    plan = make(FFTW_MEASURE);
    if (plan && !wisdom.empty()) {
      // Temp file + rename: concurrent processes never see a half-written file.
      std::error_code ec;
      std::filesystem::create_directories(wisdom.parent_path(), ec);
      const auto tmp = wisdom.string() + fmt::format(".{}.tmp", static_cast<long>(::getpid()));
      if (!ec && fftwf_export_wisdom_to_filename(tmp.c_str())) std::filesystem::rename(tmp, wisdom, ec);
      if (ec) std::filesystem::remove(tmp, ec);
    }
  }
  fftwf_free(in);
  fftwf_free(out);
  HMR_ASSERT(plan != nullptr, "FFTW could not plan a batched r2c of length {}", n_fft);
  plans.emplace(std::make_pair(n_fft, idist), plan);
  return plan;
}

namespace {
// |X|^2 of the kBlock spectra, stored bin-major: pt[k * kBlock + r] (portable version, 16 x 16
// tiles so the transposing stores stay in L1).
// |X_w[k]|^2 with the Hann window applied in the frequency domain: X_w[k] = X[k]/2 - (X[k-1] +
// X[k+1])/4, where X[-1] and X[nb] are the conjugates of X[1] and X[nb - 2] (real input, even n_fft).
inline float hann_power(const float* X, int k, int nb) {
  const int km = k == 0 ? 1 : k - 1, kp = k == nb - 1 ? nb - 2 : k + 1;
  const float im_m = k == 0 ? -X[2 * km + 1] : X[2 * km + 1], im_p = k == nb - 1 ? -X[2 * kp + 1] : X[2 * kp + 1];
  const float re = 0.5f * X[2 * k] - 0.25f * (X[2 * km] + X[2 * kp]);
  const float im = 0.5f * X[2 * k + 1] - 0.25f * (im_m + im_p);
  return re * re + im * im;
}

void power_tiles_generic(const fftwf_complex* spec, int odist, int nb, bool hann, float* pt) {
  for (int k0 = 0; k0 < nb; k0 += 16) {
    const int k1 = std::min(nb, k0 + 16);
    for (int r = 0; r < kBlock; ++r) {
      const float* X = reinterpret_cast<const float*>(spec + static_cast<std::size_t>(r) * odist);
      for (int k = k0; k < k1; ++k)
        pt[static_cast<std::size_t>(k) * kBlock + r] =
            hann ? hann_power(X, k, nb) : X[2 * k] * X[2 * k] + X[2 * k + 1] * X[2 * k + 1];
    }
  }
}

// 8 frames x 8 bins of |X|^2 (or of the Hann-windowed |X_w|^2) with AVX2: the bins start at
// X[r] + 2 * off for frame r, and the results go bin-major to out[j * kBlock + r]. re^2 + im^2 by a
// horizontal add: the same two products and one sum per bin as the portable loop, so the results
// are identical; then an 8 x 8 register transpose. hadd leaves the bins of a row in the order
// 0 1 4 5 2 3 6 7.
__attribute__((target("avx2"), always_inline)) inline void power_tile8_avx2(const float* const X[8], int off, bool hann,
                                                                            float* out) {
  static constexpr int kPerm[8] = {0, 1, 4, 5, 2, 3, 6, 7};
  __m256 v[8];
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) {
    __m256 a = _mm256_loadu_ps(X[r] + 2 * off), b = _mm256_loadu_ps(X[r] + 2 * off + 8);
    if (hann) {  // same operations as hann_power
      const __m256 half = _mm256_set1_ps(0.5f), quarter = _mm256_set1_ps(0.25f);
      const __m256 am = _mm256_loadu_ps(X[r] + 2 * off - 2), bm = _mm256_loadu_ps(X[r] + 2 * off + 6);
      const __m256 ap = _mm256_loadu_ps(X[r] + 2 * off + 2), bp = _mm256_loadu_ps(X[r] + 2 * off + 10);
      a = _mm256_sub_ps(_mm256_mul_ps(half, a), _mm256_mul_ps(quarter, _mm256_add_ps(am, ap)));
      b = _mm256_sub_ps(_mm256_mul_ps(half, b), _mm256_mul_ps(quarter, _mm256_add_ps(bm, bp)));
    }
    v[r] = _mm256_hadd_ps(_mm256_mul_ps(a, a), _mm256_mul_ps(b, b));
  }
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  const __m256 w[8] = {_mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
                       _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
                       _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
                       _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) _mm256_storeu_ps(out + static_cast<std::size_t>(kPerm[j]) * kBlock, w[j]);
}

// The same as power_tiles_generic with AVX2, 8 frames x 8 bins per step (power_tile8_avx2).
__attribute__((target("avx2"))) void power_tiles_avx2(const fftwf_complex* spec, int odist, int nb, bool hann,
                                                      float* pt) {
  const int nb8 = nb / 8 * 8;
  for (int r0 = 0; r0 < kBlock; r0 += 8) {
    const float* X[8];
    for (int r = 0; r < 8; ++r) X[r] = reinterpret_cast<const float*>(spec + static_cast<std::size_t>(r0 + r) * odist);
    // bin 0 (whose k - 1 load is padding) is redone below
    for (int k0 = 0; k0 < nb8; k0 += 8) power_tile8_avx2(X, k0, hann, pt + static_cast<std::size_t>(k0) * kBlock + r0);
    for (int k = nb8; k < nb; ++k)
      for (int r = 0; r < 8; ++r)
        pt[static_cast<std::size_t>(k) * kBlock + r0 + r] =
            hann ? hann_power(X[r], k, nb) : X[r][2 * k] * X[r][2 * k] + X[r][2 * k + 1] * X[r][2 * k + 1];
    if (hann && nb8 > 0)
      for (int r = 0; r < 8; ++r) pt[r0 + r] = hann_power(X[r], 0, nb);
  }
}

// The real spectrum X[0..M] of a 2M-sample frame from Z = DFT_M of its pairs z[n] = x[2n] +
// i x[2n+1], for the bins k and M - k together: E = (Z[k] + conj Z[M-k]) / 2 (even samples),
// O = -i (Z[k] - conj Z[M-k]) / 2 (odd samples), t = W^k O, X[k] = E + t, X[M-k] = conj(E - t).
// xk receives X[k], xmk X[M-k].
inline void split_pair_to(const float* Z, const float* tw, int k, int m, float* xk, float* xmk) {
  const int j = (m - k) % m;
  const float ar = Z[2 * k], ai = Z[2 * k + 1], br = Z[2 * j], bi = -Z[2 * j + 1];
  const float sr = ar + br, si = ai + bi, dr = ar - br, di = ai - bi;
  const float er = 0.5f * sr, ei = 0.5f * si, o_r = di * 0.5f, o_i = dr * -0.5f;
  const float wr = tw[2 * k], wi = tw[2 * k + 1];
  const float tr = wr * o_r - wi * o_i, ti = wr * o_i + wi * o_r;
  xk[0] = er + tr;
  xk[1] = ei + ti;
  xmk[0] = er - tr;
  xmk[1] = -(ei - ti);
}
inline void split_pair(const float* Z, const float* tw, int k, int m, float* X) {
  split_pair_to(Z, tw, k, m, X + 2 * k, X + 2 * (m - k));
}

void split_rows_generic(const fftwf_complex* zrows, int odist, int m, const float* tw, fftwf_complex* xrows) {
  for (int r = 0; r < kBlock; ++r) {
    const float* Z = reinterpret_cast<const float*>(zrows + static_cast<std::size_t>(r) * odist);
    float* X = reinterpret_cast<float*>(xrows + static_cast<std::size_t>(r) * odist);
    for (int k = 0; k <= m / 2; ++k) split_pair(Z, tw, k, m, X);
  }
}

// split_pair for the 4 bins k..k+3 (1 <= k, k + 3 < M/2) and their 4 partners, in reversed order:
// xk receives X[k..k+3], xmk X[M-k-3..M-k]. The same operations as split_pair, so the results are
// identical.
__attribute__((target("avx2"), always_inline)) inline void split4_avx2(const float* Z, const float* tw, int k, int m,
                                                                       float* xk, float* xmk) {
  const __m256 neg_im = _mm256_castsi256_ps(_mm256_setr_epi32(0, INT32_MIN, 0, INT32_MIN, 0, INT32_MIN, 0, INT32_MIN));
  const __m256 half = _mm256_set1_ps(0.5f),
               half_pm = _mm256_setr_ps(0.5f, -0.5f, 0.5f, -0.5f, 0.5f, -0.5f, 0.5f, -0.5f);
  const __m256 a = _mm256_loadu_ps(Z + 2 * k);
  __m256 b = _mm256_loadu_ps(Z + 2 * (m - k - 3));
  b = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(b), 0x1B));
  b = _mm256_xor_ps(b, neg_im);
  const __m256 sm = _mm256_add_ps(a, b), df = _mm256_sub_ps(a, b);
  const __m256 e = _mm256_mul_ps(half, sm);
  const __m256 o = _mm256_mul_ps(_mm256_permute_ps(df, 0xB1), half_pm);
  const __m256 w = _mm256_loadu_ps(tw + 2 * k);
  const __m256 wr = _mm256_moveldup_ps(w), wi = _mm256_movehdup_ps(w);
  const __m256 t = _mm256_addsub_ps(_mm256_mul_ps(wr, o), _mm256_mul_ps(wi, _mm256_permute_ps(o, 0xB1)));
  _mm256_storeu_ps(xk, _mm256_add_ps(e, t));
  __m256 q = _mm256_xor_ps(_mm256_sub_ps(e, t), neg_im);
  q = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(q), 0x1B));
  _mm256_storeu_ps(xmk, q);
}

// split_pair for the bins ka <= k <= kb (kb <= M/2): lo[2 (k - ka)] receives X[k] and
// hi[2 (kb - k)] X[M-k], i.e. hi holds X[M-kb..M-ka] in ascending bin order.
__attribute__((target("avx2"), always_inline)) inline void split_range_avx2(const float* Z, const float* tw, int m,
                                                                            int ka, int kb, float* lo, float* hi) {
  int k = ka;
  if (k == 0) split_pair_to(Z, tw, k++, m, lo, hi + 2 * kb);
  for (; k + 3 <= kb && k + 3 < m / 2; k += 4) split4_avx2(Z, tw, k, m, lo + 2 * (k - ka), hi + 2 * (kb - k - 3));
  for (; k <= kb; ++k) split_pair_to(Z, tw, k, m, lo + 2 * (k - ka), hi + 2 * (kb - k));
}

// The same as split_rows_generic with AVX2.
__attribute__((target("avx2"))) void split_rows_avx2(const fftwf_complex* zrows, int odist, int m, const float* tw,
                                                     fftwf_complex* xrows) {
  for (int r = 0; r < kBlock; ++r) {
    const float* Z = reinterpret_cast<const float*>(zrows + static_cast<std::size_t>(r) * odist);
    float* X = reinterpret_cast<float*>(xrows + static_cast<std::size_t>(r) * odist);
    split_pair(Z, tw, 0, m, X);
    int k = 1;
    for (; k + 3 < m / 2; k += 4) split4_avx2(Z, tw, k, m, X + 2 * k, X + 2 * (m - k - 3));
    for (; k <= m / 2; ++k) split_pair(Z, tw, k, m, X);
  }
}

// |X_w[k]|^2 (as hann_power) from the bins k - 1, k, k + 1 at p, c and n.
inline float hann_power3(const float* p, const float* c, const float* n) {
  const float re = 0.5f * c[0] - 0.25f * (p[0] + n[0]);
  const float im = 0.5f * c[1] - 0.25f * (p[1] + n[1]);
  return re * re + im * im;
}

// Split + Hann power fused (the direct path's default): the same values as split_rows_avx2
// followed by power_tiles_avx2(hann), bit for bit, but the real spectra never go to memory: for 8
// frames at a time, kSplitChunk bins below M/2 and their partners above it are split into two small
// buffers (with one neighbour bin on each side, for the window's 3 taps) that stay in L1, and the
// power tiles are made from those. The two passes over the block's 16 spectra (128 KiB each way,
// from L2) were ~23% of the cpu MFCC time, against ~37% for the FFT itself.
constexpr int kSplitChunk = 64;
// Hann power tiles of the bins at index 1 .. kc of the 8 buffers X[r] (with their neighbours at 0
// and kc + 1) into out[(i - 1) * kBlock + r].
__attribute__((target("avx2"), always_inline)) inline void hann_tiles_avx2(const float* const X[8], int kc,
                                                                           float* out) {
  int i = 1;
  for (; i + 7 <= kc; i += 8) power_tile8_avx2(X, i, true, out + static_cast<std::size_t>(i - 1) * kBlock);
  for (; i <= kc; ++i)
    for (int r = 0; r < 8; ++r)
      out[static_cast<std::size_t>(i - 1) * kBlock + r] =
          hann_power3(X[r] + 2 * (i - 1), X[r] + 2 * i, X[r] + 2 * (i + 1));
}
__attribute__((target("avx2"))) void split_power_avx2(const fftwf_complex* zrows, int odist, int m, const float* tw,
                                                      float* pt) {
  constexpr int C = kSplitChunk;
  alignas(32) float lo[8][2 * (C + 2)];  // lo[r][2 j] = X[k0 - 1 + j], j = 0 .. kc + 1
  alignas(32) float hi[8][2 * (C + 2)];  // hi[r][2 j] = X[M - kb + j], j = 0 .. kc + 1
  const int half = m / 2;
  const float* los[8];
  const float* his[8];
  for (int r = 0; r < 8; ++r) {
    los[r] = lo[r];
    his[r] = hi[r];
  }
  for (int r0 = 0; r0 < kBlock; r0 += 8) {
    for (int k0 = 0; k0 < half; k0 += C) {
      const int kc = std::min(C, half - k0), kb = k0 + kc, ka = k0 == 0 ? 0 : k0 - 1;
      for (int r = 0; r < 8; ++r) {
        const float* Z = reinterpret_cast<const float*>(zrows + static_cast<std::size_t>(r0 + r) * odist);
        split_range_avx2(Z, tw, m, ka, kb, lo[r] + 2 * (ka - k0 + 1), hi[r]);
        if (k0 == 0) {  // X[-1] = conj X[1] and X[M+1] = conj X[M-1] (real input)
          lo[r][0] = lo[r][4];
          lo[r][1] = -lo[r][5];
          hi[r][2 * (kc + 1)] = hi[r][2 * (kc - 1)];
          hi[r][2 * (kc + 1) + 1] = -hi[r][2 * (kc - 1) + 1];
        }
        if (kb == half) {  // X[M/2] is its own partner: split_rows keeps the partner's value
          lo[r][2 * (kc + 1)] = hi[r][0];
          lo[r][2 * (kc + 1) + 1] = hi[r][1];
        }
      }
      hann_tiles_avx2(los, kc, pt + static_cast<std::size_t>(k0) * kBlock + r0);
      hann_tiles_avx2(his, kc, pt + static_cast<std::size_t>(m - kb + 1) * kBlock + r0);
      if (kb == half)
        for (int r = 0; r < 8; ++r)
          pt[static_cast<std::size_t>(half) * kBlock + r0 + r] = hann_power3(lo[r] + 2 * kc, hi[r], hi[r] + 2);
    }
  }
}
}  // namespace

__attribute__((target_clones("avx2", "default"))) void power_block(const CpuPlan& c, Scratch& s,
                                                                   std::span<const float> y, std::int64_t f0,
                                                                   std::int64_t f1) {
  const int n_fft = c.p.n_fft, hop = c.p.hop_length;
  const std::int64_t pad = c.p.center ? n_fft / 2 : 0, len = static_cast<std::int64_t>(y.size());
  float* fr = s.frames.get();
  const float* w = c.window.data();
  const std::int64_t start = f0 * hop - pad, span = static_cast<std::int64_t>(kBlock - 1) * hop + n_fft;
  if (c.direct) {
    // In place when the block's span lies inside the signal and keeps FFTW's alignment; else a
    // zero-padded copy of the span (the clip's ends, and short clips).
    const float* in = fr;
    if (start >= 0 && start + span <= len && fftwf_alignment_of(const_cast<float*>(y.data() + start)) == 0) {
      in = y.data() + start;
    } else {
      for (std::int64_t j = 0; j < span; ++j) {
        const std::int64_t i = start + j;
        fr[j] = (i >= 0 && i < len) ? y[static_cast<std::size_t>(i)] : 0.0f;
      }
    }
    fftwf_execute_dft(c.dplan, reinterpret_cast<fftwf_complex*>(const_cast<float*>(in)), s.z.get());
    if (c.avx2 && !c.unfused)
      split_power_avx2(s.z.get(), c.odist, n_fft / 2, c.tw.data(), s.power_t.data());
    else if (c.avx2)
      split_rows_avx2(s.z.get(), c.odist, n_fft / 2, c.tw.data(), s.spec);
    else
      split_rows_generic(s.z.get(), c.odist, n_fft / 2, c.tw.data(), s.spec);
  }
  for (std::int64_t f = f0; f < f0 + kBlock && !c.direct; ++f) {
    float* dst = fr + (f - f0) * n_fft;
    if (f >= f1) {  // unused rows of the last block: transform zeros
      std::fill(dst, dst + n_fft, 0.0f);
      continue;
    }
    const std::int64_t base = f * hop - pad;
    if (base >= 0 && base + n_fft <= len) {
      const float* src = y.data() + base;
#pragma omp simd
      for (int j = 0; j < n_fft; ++j) dst[j] = src[j] * w[j];
    } else {
      for (int j = 0; j < n_fft; ++j) {
        const std::int64_t i = base + j;
        dst[j] = (i >= 0 && i < len) ? y[static_cast<std::size_t>(i)] * w[j] : 0.0f;
      }
    }
  }
  if (!c.direct) fftwf_execute_dft_r2c(c.plan, fr, s.spec);
  const int nb = c.nb;
  float* pt = s.power_t.data();
  if (c.avx2 && c.direct && !c.unfused) {
    // done by split_power_avx2
  } else if (c.avx2)
    power_tiles_avx2(s.spec, c.odist, nb, c.direct, pt);
  else
    power_tiles_generic(s.spec, c.odist, nb, c.direct, pt);
  const float power = c.p.power;
  const std::size_t np = static_cast<std::size_t>(nb) * kBlock;
  if (power == 1.0f) {
#pragma omp simd
    for (std::size_t i = 0; i < np; ++i) pt[i] = std::sqrt(pt[i]);
  } else if (power != 2.0f) {
    for (std::size_t i = 0; i < np; ++i) pt[i] = std::pow(std::sqrt(pt[i]), power);
  }
}

}  // namespace hmr::audio::mfcc_detail
