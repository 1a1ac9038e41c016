// audio/mfcc_cpu.cpp — the cpu MFCC of one clip after the spectra (spectrum_cpu.cpp): mel power by
// the sparse filter rows, power_to_db with the clip's top_db floor, the orthonormal DCT-II and the
// mean/std summary (librosa.feature.mfcc parity; mfcc.h gives the definition), plus the single-clip
// entry points spectrogram_cpu, melspectrogram_cpu and mfcc_cpu. Sums run in the cuda kernels'
// order across 16 frame lanes, so the AVX2 and baseline clones give the same bits.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <utility>

#include "audio/decode.h"
#include "audio/mfcc_cpu.h"
#include "core/error.h"

namespace hmr::audio {
namespace mfcc_detail {

namespace {
// out[r] = sum over j < n of w[j] * x[j * kBlock + r], for the kBlock lanes r, each summed in
// j order (the order of the cuda kernels). The lanes are independent, so this is plain vector
// arithmetic on two 8-float vectors; it is inlined into the callers, which are compiled for AVX2
// and for the SSE2 baseline (chosen at run time). No FMA: the AVX2 and baseline clones round
// alike, so results do not depend on the CPU.
static_assert(kBlock == 16, "weighted_rows handles 16 lanes as two 8-float vectors");
typedef float v8f __attribute__((vector_size(32)));
// a0, a1 += w[j] x[j] (the two halves of the 16 lanes) for j in [j0, n), in order.
[[gnu::always_inline]] inline void accumulate_rows(const float* w, const float* x, int j0, int n, v8f& a0, v8f& a1) {
  for (int j = j0; j < n; ++j) {
    v8f x0, x1;
    std::memcpy(&x0, x + static_cast<std::size_t>(j) * kBlock, sizeof(v8f));
    std::memcpy(&x1, x + static_cast<std::size_t>(j) * kBlock + 8, sizeof(v8f));
    const float wj = w[j];
    a0 += wj * x0;
    a1 += wj * x1;
  }
}
[[gnu::always_inline]] inline void weighted_rows(const float* w, const float* x, int n, float* out) {
  v8f a0 = {}, a1 = {};
  accumulate_rows(w, x, 0, n, a0, a1);
  std::memcpy(out, &a0, sizeof(v8f));
  std::memcpy(out + 8, &a1, sizeof(v8f));
}

// weighted_rows for G weight rows at once (w + g * ldw, g < G), all over the same n rows of x.
// Each sum is the same chain of adds in j order as weighted_rows (identical results), but the G
// chains are interleaved: one chain is bound by the add latency (~3 cycles per row), G of them
// fill the pipeline. The DCT (20 coefficients over 128 mel bands per tile) runs this way.
template <int G>
[[gnu::always_inline]] inline void weighted_rows_n(const float* w, std::size_t ldw, const float* x, int n, float* out,
                                                   std::size_t ldo) {
  v8f a0[G] = {}, a1[G] = {};
  for (int j = 0; j < n; ++j) {
    v8f x0, x1;
    std::memcpy(&x0, x + static_cast<std::size_t>(j) * kBlock, sizeof(v8f));
    std::memcpy(&x1, x + static_cast<std::size_t>(j) * kBlock + 8, sizeof(v8f));
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const float wj = w[g * ldw + static_cast<std::size_t>(j)];
      a0[g] += wj * x0;
      a1[g] += wj * x1;
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    std::memcpy(out + g * ldo, &a0[g], sizeof(v8f));
    std::memcpy(out + g * ldo + 8, &a1[g], sizeof(v8f));
  }
}

// Two weighted_rows with their own weights, rows and lengths, interleaved over their common
// length (the mel filters: ~16 bins each on average, each a latency-bound chain when alone).
[[gnu::always_inline]] inline void weighted_rows_2(const float* wa, const float* xa, int na, float* outa,
                                                   const float* wb, const float* xb, int nb, float* outb) {
  v8f a0 = {}, a1 = {}, b0 = {}, b1 = {};
  const int both = std::min(na, nb);
  int j = 0;
  for (; j < both; ++j) {
    v8f x0, x1, y0, y1;
    std::memcpy(&x0, xa + static_cast<std::size_t>(j) * kBlock, sizeof(v8f));
    std::memcpy(&x1, xa + static_cast<std::size_t>(j) * kBlock + 8, sizeof(v8f));
    std::memcpy(&y0, xb + static_cast<std::size_t>(j) * kBlock, sizeof(v8f));
    std::memcpy(&y1, xb + static_cast<std::size_t>(j) * kBlock + 8, sizeof(v8f));
    a0 += wa[j] * x0;
    a1 += wa[j] * x1;
    b0 += wb[j] * y0;
    b1 += wb[j] * y1;
  }
  accumulate_rows(wa, xa, j, na, a0, a1);
  accumulate_rows(wb, xb, j, nb, b0, b1);
  std::memcpy(outa, &a0, sizeof(v8f));
  std::memcpy(outa + 8, &a1, sizeof(v8f));
  std::memcpy(outb, &b0, sizeof(v8f));
  std::memcpy(outb + 8, &b1, sizeof(v8f));
}

// Mel power of frames [f0, f1) of y (f1 - f0 <= kBlock) into one tile, tile[m * kBlock + r] =
// mel band m of frame f0 + r; lanes past f1 hold 0.
__attribute__((target_clones("avx2", "default"))) void mel_block(const CpuPlan& c, Scratch& s, std::span<const float> y,
                                                                 std::int64_t f0, std::int64_t f1, float* tile) {
  power_block(c, s, y, f0, f1);
  const int nm = c.p.n_mels;
  const float* pt = s.power_t.data();
  // Each filter's sum runs over its bins in order (as the cuda kernel does), for all kBlock
  // frames at once: the frame lanes are independent, so this vectorises without reordering.
  const auto band = [&](int m) {
    const auto u = static_cast<std::size_t>(m);
    return std::tuple{c.mel.weights.data() + c.mel.offset[u], pt + static_cast<std::size_t>(c.mel.start[u]) * kBlock,
                      c.mel.count[u], tile + u * kBlock};
  };
  int m = 0;
  for (; m + 1 < nm; m += 2) {  // two filters at a time (weighted_rows_2)
    const auto [wa, xa, na, oa] = band(m);
    const auto [wb, xb, nbb, ob] = band(m + 1);
    weighted_rows_2(wa, xa, na, oa, wb, xb, nbb, ob);
  }
  if (m < nm) {
    const auto [wa, xa, na, oa] = band(m);
    weighted_rows(wa, xa, na, oa);
  }
  // Lanes past f1 (last block): the direct path transformed whatever the span held there.
  for (int m = 0; m < nm && f1 - f0 < kBlock; ++m)
    for (std::int64_t r = f1 - f0; r < kBlock; ++r) tile[static_cast<std::size_t>(m) * kBlock + r] = 0.0f;
}

// 10 log10(x) for a normal float x > 0 without a libm call, so the dB pass vectorises 8 wide:
// x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s) = 2 (s + s^3/3 + ...) with
// s = (m - 1) / (m + 1), |s| < 0.172, summed to s^9 (the next term is < 2e-9 relative); e ln 2
// in two parts (the high part exact). Within a few float ulps of librosa's float32 log10, i.e.
// ~1e-5 dB: far inside the MFCC tolerance (0.02).
[[gnu::always_inline]] inline float db10(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  int e = static_cast<int>((bits >> 23) & 0xff) - 127;
  std::uint32_t mb = (bits & 0x7fffffu) | 0x3f800000u;  // mantissa in [1, 2)
  if (mb > 0x3fb504f3u) {                               // > sqrt(2): halve it
    mb -= 0x00800000u;
    e += 1;
  }
  float m;
  std::memcpy(&m, &mb, sizeof(m));
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float ln_m = 2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
  constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860682030941723212e-6f;
  constexpr float kTenOverLn10 = 4.3429448190325182765f;
  const float ef = static_cast<float>(e);
  return kTenOverLn10 * (ef * kLn2Hi + (ln_m + ef * kLn2Lo));
}

// dB (with the clip's top_db floor), DCT and summary from a clip's mel tiles (clip_mel). Lanes
// past the last frame hold mel power 0, i.e. the lowest possible dB value: they never raise the
// peak, and their coefficients are not used.
__attribute__((target_clones("avx2", "default"))) ClipOut finish_clip(const CpuPlan& c, std::vector<float>& mel,
                                                                      std::int64_t n_frames, bool keep_frames) {
  const int nm = c.p.n_mels, nk = c.p.n_mfcc;
  const float amin = static_cast<float>(c.p.amin), log_ref = c.log_ref;
  float peak = -INFINITY;
  const std::size_t n = mel.size();
  float* v = mel.data();
  if (amin >= FLT_MIN) {  // every input is a normal float: the vectorised log applies
#pragma omp simd reduction(max : peak)
    for (std::size_t i = 0; i < n; ++i) {
      const float d = db10(std::max(amin, v[i])) - log_ref;
      v[i] = d;
      peak = std::max(peak, d);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      v[i] = 10.0f * std::log10(std::max(amin, v[i])) - log_ref;
      peak = std::max(peak, v[i]);
    }
  }
  const float floor = c.p.top_db > 0 ? peak - static_cast<float>(c.p.top_db) : -INFINITY;
  ClipOut out;
  std::vector<double> sum(static_cast<std::size_t>(nk), 0.0);
  thread_local std::vector<float> coef;  // every element is written below
  coef.resize(static_cast<std::size_t>(n_frames) * nk);
  // DCT of a tile of kBlock frames: each coefficient summed over the mel bands in order (as the
  // cuda kernel does), vectorised across the frames; the floor is applied as the tile is used.
  const float* dct = c.dct.data();
  const std::size_t tile = static_cast<std::size_t>(nm) * kBlock;
  for (std::int64_t f0 = 0, b = 0; f0 < n_frames; f0 += kBlock, ++b) {
    const std::int64_t valid = std::min<std::int64_t>(kBlock, n_frames - f0);
    float* xt = v + static_cast<std::size_t>(b) * tile;
    if (c.p.top_db > 0) {
#pragma omp simd
      for (std::size_t i = 0; i < tile; ++i) xt[i] = std::max(xt[i], floor);
    }
    for (int k0 = 0; k0 < nk; k0 += kDctGroup) {
      float acc[kDctGroup][kBlock];
      const int g = std::min(kDctGroup, nk - k0);
      const float* dk = dct + static_cast<std::size_t>(k0) * nm;
      if (g == kDctGroup)
        weighted_rows_n<kDctGroup>(dk, static_cast<std::size_t>(nm), xt, nm, acc[0], kBlock);
      else
        for (int i = 0; i < g; ++i) weighted_rows(dk + static_cast<std::size_t>(i) * nm, xt, nm, acc[i]);
      for (int i = 0; i < g; ++i) {
        const int k = k0 + i;
        double sk = 0.0;
        for (std::int64_t r = 0; r < valid; ++r) {
          coef[static_cast<std::size_t>((f0 + r) * nk + k)] = acc[i][r];
          sk += acc[i][r];
        }
        sum[static_cast<std::size_t>(k)] += sk;
      }
    }
  }
  out.summary.resize(static_cast<std::size_t>(2 * nk));
  std::vector<double> mean(static_cast<std::size_t>(nk)), q(static_cast<std::size_t>(nk), 0.0);
  for (int k = 0; k < nk; ++k) mean[static_cast<std::size_t>(k)] = sum[static_cast<std::size_t>(k)] / n_frames;
  for (std::int64_t f = 0; f < n_frames; ++f)
    for (int k = 0; k < nk; ++k) {
      const double d = coef[static_cast<std::size_t>(f * nk + k)] - mean[static_cast<std::size_t>(k)];
      q[static_cast<std::size_t>(k)] += d * d;
    }
  for (int k = 0; k < nk; ++k) {
    out.summary[static_cast<std::size_t>(2 * k)] = static_cast<float>(mean[static_cast<std::size_t>(k)]);
    out.summary[static_cast<std::size_t>(2 * k + 1)] = static_cast<float>(q[static_cast<std::size_t>(k)] / n_frames);
  }
  if (keep_frames) {
    out.frames = Matrix(nk, n_frames);
    for (std::int64_t f = 0; f < n_frames; ++f)
      for (int k = 0; k < nk; ++k) out.frames(k, f) = coef[static_cast<std::size_t>(f * nk + k)];
  }
  return out;
}
}  // namespace

void clip_mel(const CpuPlan& c, std::span<const float> y, std::int64_t n_frames, bool inner, std::vector<float>& mel) {
  const std::int64_t blocks = (n_frames + kBlock - 1) / kBlock;
  const std::size_t tile = static_cast<std::size_t>(c.p.n_mels) * kBlock;
  mel.resize(static_cast<std::size_t>(blocks) * tile);
  if (inner) {
#pragma omp parallel
    {
      Scratch s(c);
#pragma omp for schedule(static)
      for (std::int64_t b = 0; b < blocks; ++b) {
        const std::int64_t f0 = b * kBlock, f1 = std::min(n_frames, f0 + kBlock);
        mel_block(c, s, y, f0, f1, mel.data() + static_cast<std::size_t>(b) * tile);
      }
    }
  } else {
    thread_local std::unique_ptr<Scratch> cached;       // reused across the clips of a thread
    thread_local std::pair<int, int> cached_for{0, 0};  // the sizes depend on n_fft and hop
    if (!cached || cached_for != std::make_pair(c.p.n_fft, c.p.hop_length)) {
      cached = std::make_unique<Scratch>(c);
      cached_for = {c.p.n_fft, c.p.hop_length};
    }
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t f0 = b * kBlock, f1 = std::min(n_frames, f0 + kBlock);
      mel_block(c, *cached, y, f0, f1, mel.data() + static_cast<std::size_t>(b) * tile);
    }
  }
}

void check_clip(std::span<const float> y, const MfccParams& p, const std::string& what, bool scan) {
  HMR_REQUIRE(!y.empty(), "mfcc: {} is empty (zero samples)", what);
  HMR_REQUIRE(frame_count(static_cast<std::int64_t>(y.size()), p) > 0,
              "mfcc: {} has {} samples, fewer than n_fft={} (center=false)", what, y.size(), p.n_fft);
  if (scan && count_nonfinite(y) > 0)
    for (std::size_t i = 0; i < y.size(); ++i)
      HMR_REQUIRE(std::isfinite(y[i]), "mfcc: {} has a non-finite sample at index {}", what, i);
}

// A non-finite sample makes every frame that holds it non-finite (0 * inf is NaN too), so one
// pass over the (16x smaller) mel power finds it; only then are the samples scanned for the
// message. Finite samples whose power overflows pass, as before.
ClipOut compute_clip(const CpuPlan& c, std::span<const float> y, bool keep_frames, bool inner,
                     const std::string& what) {
  const std::int64_t n_frames = frame_count(static_cast<std::int64_t>(y.size()), c.p);
  thread_local std::vector<float> mel;  // ~0.7 MB per 30 s clip, reused by the thread's next clip
  clip_mel(c, y, n_frames, inner, mel);
  if (count_nonfinite(mel) > 0) check_clip(y, c.p, what);
  return finish_clip(c, mel, n_frames, keep_frames);
}

}  // namespace mfcc_detail

using namespace mfcc_detail;

Matrix spectrogram_cpu(std::span<const float> y, const MfccParams& p) {
  const CpuPlan c(p);
  check_clip(y, p, "the clip");
  const std::int64_t n_frames = frame_count(static_cast<std::int64_t>(y.size()), p);
  Matrix out(c.nb, n_frames);
  Scratch s(c);
  for (std::int64_t f0 = 0; f0 < n_frames; f0 += kBlock) {
    const std::int64_t f1 = std::min(n_frames, f0 + kBlock);
    power_block(c, s, y, f0, f1);
    for (int k = 0; k < c.nb; ++k)
      for (std::int64_t f = f0; f < f1; ++f)
        out(k, f) = s.power_t[static_cast<std::size_t>(k) * kBlock + static_cast<std::size_t>(f - f0)];
  }
  return out;
}

Matrix melspectrogram_cpu(std::span<const float> y, const MfccParams& p) {
  const CpuPlan c(p);
  check_clip(y, p, "the clip");
  const std::int64_t n_frames = frame_count(static_cast<std::int64_t>(y.size()), p);
  std::vector<float> mel;
  clip_mel(c, y, n_frames, true, mel);
  Matrix out(p.n_mels, n_frames);
  for (std::int64_t f = 0; f < n_frames; ++f)
    for (int m = 0; m < p.n_mels; ++m)
      out(m, f) = mel[static_cast<std::size_t>(((f / kBlock) * p.n_mels + m) * kBlock + f % kBlock)];
  return out;
}

Matrix mfcc_cpu(std::span<const float> y, const MfccParams& p) {
  const CpuPlan c(p);
  check_clip(y, p, "the clip", false);
  return compute_clip(c, y, true, true, "the clip").frames;
}

}  // namespace hmr::audio
