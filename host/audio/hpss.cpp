// audio/hpss.cpp — librosa 0.10 effects.hpss on the cpu (see hpss.h for the definition), and the
// dispatch to the cuda backend (hpss_cuda.cpp).
//
// Per clip, on one thread (threads take whole clips, so the result does not depend on the thread
// count): blocks of kBlock frames are framed, windowed and transformed by one batched FFTW r2c
// plan straight into the clip's complex spectrogram (frame-major); each frame's magnitudes go
// to a bin-major copy and, while the frame is in cache, through the percussive median (along
// bins). The harmonic median then runs along each bin's (contiguous) row. Resynthesis takes the
// blocks again: masks, magphase, two batched c2r transforms, the Hann window and the overlap-add
// into two padded float32 buffers, then the window sum-square division.
// Medians: a sorted window of k values slides along the line; each step replaces the value that
// leaves by the one that enters (a binary search and a shift of at most k floats), so a step costs
// O(k) moves instead of a sort, and the result is the exact order statistic scipy selects.
#include "audio/hpss.h"

#include <fftw3.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <numbers>

#include "audio/decode.h"
#include "audio/hpss_cuda.h"
#include "audio/mfcc.h"
#include "audio/mfcc_cpu.h"
#include "core/error.h"
#include "core/nvtx.h"

namespace hmr::audio {

void check_params(const HpssParams& p) {
  HMR_REQUIRE(p.n_fft >= 2 && p.n_fft <= (1 << 16) && p.n_fft % 2 == 0,
              "hpss: n_fft must be even and in [2, 65536] (got {})", p.n_fft);
  HMR_REQUIRE(p.hop_length > 0 && p.hop_length <= p.n_fft, "hpss: hop_length must be in [1, n_fft={}] (got {})",
              p.n_fft, p.hop_length);
  HMR_REQUIRE(p.kernel_size >= 1 && p.kernel_size <= 4097, "hpss: kernel_size must be in [1, 4097] (got {})",
              p.kernel_size);
  HMR_REQUIRE(p.power > 0 && !std::isnan(p.power), "hpss: power must be > 0 (got {})", p.power);
  HMR_REQUIRE(std::isfinite(p.margin) && p.margin >= 1.0, "hpss: margin must be >= 1 (got {})", p.margin);
}

HpssStats signal_stats(const HpssSignals& s) {
  const auto mv = [](const std::vector<float>& v, double& mean, double& var) {
    double sum = 0.0;
    for (float x : v) sum += x;
    mean = v.empty() ? 0.0 : sum / static_cast<double>(v.size());
    double q = 0.0;
    for (float x : v) q += (x - mean) * (x - mean);
    var = v.empty() ? 0.0 : q / static_cast<double>(v.size());
  };
  HpssStats st;
  mv(s.harmonic, st.harmony_mean, st.harmony_var);
  mv(s.percussive, st.perceptr_mean, st.perceptr_var);
  return st;
}

// ---- building blocks ----------------------------------------------------------------------

namespace {

constexpr int kBlock = mfcc_detail::kBlock;

// scipy.ndimage mode "reflect" (d c b a | a b c d | d c b a), repeated for windows wider than n.
std::int64_t reflect_index(std::int64_t j, std::int64_t n) {
  if (n == 1) return 0;
  const std::int64_t period = 2 * n;
  std::int64_t m = j % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

// Windows of up to 32 values: each lane keeps its value, its arrival index and its rank in the
// window (ties ordered by arrival, so ranks are distinct); a step updates every rank with two
// compares against the value that leaves and the one that enters (fixed-length loops the compiler
// vectorises, no branches on the data), and the median is the lane of rank k/2.
constexpr int kLanes = 32;
struct RankWindow {
  alignas(64) float v[kLanes];
  alignas(64) int seq[kLanes];
  alignas(64) int rank[kLanes];
  alignas(64) int act[kLanes];
};

__attribute__((target_clones("avx2", "default"))) void median_line_ranks(const float* e, std::int64_t n, float* out,
                                                                         std::int64_t so, int k, RankWindow& w) {
  const int target = k / 2;
  for (int l = 0; l < kLanes; ++l) {
    w.act[l] = l < k ? 1 : 0;
    w.v[l] = l < k ? e[l] : 0.0f;
    w.seq[l] = l;
  }
  for (int l = 0; l < kLanes; ++l) {
    int r = 0;
    for (int m = 0; m < k; ++m) r += (w.v[m] < w.v[l]) || (w.v[m] == w.v[l] && m < l);
    w.rank[l] = l < k ? r : -1;
  }
  // The lane of rank `target` is unique: OR the bits of every lane, masked (a vectorised reduction).
  const auto emit = [&](std::int64_t i) {
    std::uint32_t bits = 0;
    for (int l = 0; l < kLanes; ++l) {
      std::uint32_t b;
      std::memcpy(&b, &w.v[l], sizeof b);
      bits |= b & (0u - static_cast<std::uint32_t>(w.rank[l] == target));
    }
    float med;
    std::memcpy(&med, &bits, sizeof med);
    out[i * so] = med;
  };
  emit(0);
  int slot = -1;
  for (std::int64_t i = 1; i < n; ++i) {
    slot = slot + 1 == k ? 0 : slot + 1;  // (i - 1) % k
    const float leave = w.v[slot], enter = e[i - 1 + k];
    const int sl = w.seq[slot];
    const int se = static_cast<int>(i - 1 + k);
    int r_new = 0;
    for (int l = 0; l < kLanes; ++l) {
      const float x = w.v[l];
      const int other = w.act[l] & (l != slot);
      const int below_leave = (leave < x) | ((leave == x) & (sl < w.seq[l]));  // leave ranked under x
      w.rank[l] += other * ((enter < x) - below_leave);
      r_new += other & (x <= enter);
    }
    w.v[slot] = enter;
    w.seq[slot] = se;
    w.rank[slot] = r_new;
    emit(i);
  }
}

// Sliding median of x[i * sx], i < n, into out[i * so]: scipy's window [i - k/2, i + k - 1 - k/2]
// and its rank k/2 (the upper middle value when k is even). Up to 32 values the rank lanes above;
// wider windows slide a sorted window (a binary search and a shift of at most k floats a step).
void median_line(const float* x, std::int64_t n, std::int64_t sx, float* out, std::int64_t so, int k,
                 std::vector<float>& ext, std::vector<float>& win) {
  const int left = k / 2, rank = k / 2;
  ext.resize(static_cast<std::size_t>(n + k - 1));
  float* e = ext.data();
  for (std::int64_t j = 0; j < n + k - 1; ++j) {  // the reflection only where the window leaves the line
    const std::int64_t i = j - left;
    e[j] = x[(i >= 0 && i < n ? i : reflect_index(i, n)) * sx];
  }
  if (k <= kLanes) {
    thread_local RankWindow rw;
    median_line_ranks(e, n, out, so, k, rw);
    return;
  }
  win.assign(ext.begin(), ext.begin() + k);
  std::sort(win.begin(), win.end());
  float* w = win.data();
  out[0] = w[rank];
  for (std::int64_t i = 1; i < n; ++i) {
    const float leave = e[i - 1], enter = e[i - 1 + k];
    int pos = static_cast<int>(std::lower_bound(w, w + k, leave) - w);
    if (enter > leave) {
      while (pos + 1 < k && w[pos + 1] < enter) {
        w[pos] = w[pos + 1];
        ++pos;
      }
    } else {
      while (pos > 0 && w[pos - 1] > enter) {
        w[pos] = w[pos - 1];
        --pos;
      }
    }
    w[pos] = enter;
    out[i * so] = w[rank];
  }
}

// librosa util.softmask, inlined into the hot loop (softmask() is the public spelling).
inline float softmask_inline(float x, float x_ref, double power, bool split_zeros) {
  if (std::isinf(power)) return x > x_ref ? 1.0f : 0.0f;
  float z = std::max(x, x_ref);
  const bool bad = z < FLT_MIN;
  if (bad) return split_zeros ? 0.5f : 0.0f;
  const float a = x / z, r = x_ref / z;
  float ma, mr;
  if (power == 2.0) {
    ma = a * a;
    mr = r * r;
  } else if (power == 1.0) {
    ma = a;
    mr = r;
  } else {
    ma = std::pow(a, static_cast<float>(power));
    mr = std::pow(r, static_cast<float>(power));
  }
  return ma / (ma + mr);
}

// librosa's complex64 magphase of one bin: the phase D / |D| (1 where |D| == 0).
struct MagPhase {
  float mag, re, im;
};
inline MagPhase magphase(float re, float im) {
  const float m = std::hypot(re, im);
  if (m == 0.0f) return {0.0f, 1.0f, 0.0f};
  return {m, re / m, im / m};
}

// FFTW's planner is not thread-safe: the c2r plans are made under this lock (and before any
// worker thread starts, see HpssPlan), kept for the process and destroyed at exit.
fftwf_plan c2r_plan(int n_fft) {
  struct Plans : std::vector<std::pair<int, fftwf_plan>> {
    ~Plans() {
      for (auto& [n, p] : *this) fftwf_destroy_plan(p);
    }
  };
  static std::mutex mu;
  static Plans plans;
  std::lock_guard<std::mutex> lock(mu);
  for (auto& [n, p] : plans)
    if (n == n_fft) return p;
  const int odist = (n_fft / 2 + 2) & ~1;
  fftwf_complex* in = fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * odist);
  float* out = fftwf_alloc_real(static_cast<std::size_t>(kBlock) * n_fft);
  int n = n_fft;
  fftwf_plan plan = fftwf_plan_many_dft_c2r(1, &n, kBlock, in, nullptr, 1, odist, out, nullptr, 1, n_fft,
                                            FFTW_MEASURE | FFTW_DESTROY_INPUT);
  fftwf_free(in);
  fftwf_free(out);
  HMR_ASSERT(plan != nullptr, "FFTW could not plan a c2r transform of {} points", n_fft);
  plans.emplace_back(n_fft, plan);
  return plan;
}

using FftwFloat = std::unique_ptr<float, mfcc_detail::FftwDeleter>;
using FftwComplex = std::unique_ptr<fftwf_complex, mfcc_detail::FftwDeleter>;

// Read-only state for one parameter set, shared by the threads.
struct HpssPlan {
  HpssParams p;
  int nb = 0, odist = 0;
  std::vector<float> window;     // periodic Hann (float32, as the analysis path uses)
  std::vector<double> window_d;  // the same in float64, as librosa's istft multiplies
  std::vector<float> win_sq;     // window_sumsquare's squared window (float64 squared, stored float32)
  fftwf_plan r2c = nullptr, c2r = nullptr;
  bool split_zeros = false;
  explicit HpssPlan(const HpssParams& params) : p(params) {
    check_params(p);
    nb = p.n_fft / 2 + 1;
    odist = (p.n_fft / 2 + 2) & ~1;
    window.resize(static_cast<std::size_t>(p.n_fft));
    window_d.resize(window.size());
    win_sq.resize(window.size());
    for (int j = 0; j < p.n_fft; ++j) {
      const double w = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * j / static_cast<double>(p.n_fft));
      window_d[static_cast<std::size_t>(j)] = w;
      window[static_cast<std::size_t>(j)] = static_cast<float>(w);
      win_sq[static_cast<std::size_t>(j)] = static_cast<float>(w * w);
    }
    r2c = mfcc_detail::block_plan(p.n_fft, p.n_fft);
    c2r = c2r_plan(p.n_fft);
    split_zeros = p.margin == 1.0;
  }
};

// Per-thread buffers, grown to the longest clip seen and reused.
struct HpssScratch {
  FftwFloat frames, frames_p;
  FftwComplex spec, block_h, block_p;
  std::size_t spec_frames = 0;
  std::vector<float> mag_t, harm_t, perc_t, magrow, percrow, ext, win, out_h, out_p, wss;
  std::int64_t wss_frames = -1;
  explicit HpssScratch(const HpssPlan& c)
      : frames(fftwf_alloc_real(static_cast<std::size_t>(kBlock) * c.p.n_fft)),
        frames_p(fftwf_alloc_real(static_cast<std::size_t>(kBlock) * c.p.n_fft)),
        block_h(fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * c.odist)),
        block_p(fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * c.odist)) {}
  void reserve_spec(std::size_t n_frames_padded, int odist) {
    if (spec_frames >= n_frames_padded) return;
    spec.reset(fftwf_alloc_complex(n_frames_padded * static_cast<std::size_t>(odist)));
    spec_frames = n_frames_padded;
  }
};

std::int64_t hpss_frames(std::int64_t samples, const HpssParams& p) { return 1 + samples / p.hop_length; }

// The whole per-clip computation; the signals are left in s.out_h / s.out_p (padded: the clip's
// sample i is at index i + n_fft / 2). Magnitudes and both medians are frame-major [T][nb], so the
// percussive median and the resynthesis read contiguous rows; the harmonic median gathers groups
// of kGroup bins into bin-major lines (one cache line per frame and group) and scatters them back.
constexpr int kGroup = 16;

// AVX2 clone where the cpu has it (no FMA: the same roundings, the same bits as the default clone).
__attribute__((target_clones("avx2", "default"))) void hpss_clip(const HpssPlan& c, HpssScratch& s,
                                                                 std::span<const float> y) {
  const HpssParams& p = c.p;
  const std::int64_t len = static_cast<std::int64_t>(y.size());
  const std::int64_t T = hpss_frames(len, p);
  const std::int64_t blocks = (T + kBlock - 1) / kBlock;
  const int nb = c.nb, n_fft = p.n_fft, pad = n_fft / 2, k = p.kernel_size;
  s.reserve_spec(static_cast<std::size_t>(blocks * kBlock), c.odist);
  const auto nt = static_cast<std::size_t>(T);
  s.mag_t.resize(static_cast<std::size_t>(nb) * nt);
  s.harm_t.resize(s.mag_t.size());
  s.perc_t.resize(s.mag_t.size());
  s.magrow.resize(static_cast<std::size_t>(kGroup) * nt);
  s.percrow.resize(static_cast<std::size_t>(kGroup) * nt);
  auto* spec = reinterpret_cast<std::complex<float>*>(s.spec.get());
  float* fr = s.frames.get();
  float* const mag = s.mag_t.data();
  float* const harm = s.harm_t.data();
  float* const perc = s.perc_t.data();
  // STFT, magnitudes and the percussive median (along bins) per frame.
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t f0 = b * kBlock;
    for (int r = 0; r < kBlock; ++r) {
      float* row = fr + static_cast<std::size_t>(r) * n_fft;
      const std::int64_t start = (f0 + r) * p.hop_length - pad;
      if (f0 + r >= T) {
        std::fill(row, row + n_fft, 0.0f);
        continue;
      }
      const std::int64_t j0 = std::clamp<std::int64_t>(-start, 0, n_fft);
      const std::int64_t j1 = std::clamp<std::int64_t>(len - start, j0, n_fft);
      std::fill(row, row + j0, 0.0f);
      for (std::int64_t j = j0; j < j1; ++j)
        row[j] = y[static_cast<std::size_t>(start + j)] * c.window[static_cast<std::size_t>(j)];
      std::fill(row + j1, row + n_fft, 0.0f);
    }
    fftwf_execute_dft_r2c(c.r2c, fr, reinterpret_cast<fftwf_complex*>(spec + f0 * c.odist));
    for (std::int64_t f = f0; f < std::min(T, f0 + kBlock); ++f) {
      const std::complex<float>* X = spec + f * c.odist;
      float* m = mag + static_cast<std::size_t>(f) * nb;
      for (int q = 0; q < nb; ++q) m[q] = std::hypot(X[q].real(), X[q].imag());
      median_line(m, nb, 1, perc + static_cast<std::size_t>(f) * nb, 1, k, s.ext, s.win);
    }
  }
  // Harmonic median along time, kGroup bins at a time.
  for (int q0 = 0; q0 < nb; q0 += kGroup) {
    const int g = std::min(kGroup, nb - q0);
    for (std::size_t t = 0; t < nt; ++t)
      for (int i = 0; i < g; ++i) s.magrow[static_cast<std::size_t>(i) * nt + t] = mag[t * nb + q0 + i];
    for (int i = 0; i < g; ++i)
      median_line(s.magrow.data() + static_cast<std::size_t>(i) * nt, T, 1,
                  s.percrow.data() + static_cast<std::size_t>(i) * nt, 1, k, s.ext, s.win);
    for (std::size_t t = 0; t < nt; ++t)
      for (int i = 0; i < g; ++i) harm[t * nb + q0 + i] = s.percrow[static_cast<std::size_t>(i) * nt + t];
  }
  // Resynthesis.
  const std::int64_t padded = T * p.hop_length + n_fft;
  s.out_h.assign(static_cast<std::size_t>(padded), 0.0f);
  s.out_p.assign(static_cast<std::size_t>(padded), 0.0f);
  const float margin = static_cast<float>(p.margin);
  auto* bh = reinterpret_cast<std::complex<float>*>(s.block_h.get());
  auto* bp = reinterpret_cast<std::complex<float>*>(s.block_p.get());
  const float inv_n = 1.0f / static_cast<float>(n_fft);
  const double* __restrict__ wd = c.window_d.data();
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t f0 = b * kBlock, f1 = std::min(T, f0 + kBlock);
    for (std::int64_t f = f0; f < f1; ++f) {
      const std::complex<float>* X = spec + f * c.odist;
      std::complex<float>* H = bh + (f - f0) * c.odist;
      std::complex<float>* P = bp + (f - f0) * c.odist;
      const float* m = mag + static_cast<std::size_t>(f) * nb;
      const float* hr = harm + static_cast<std::size_t>(f) * nb;
      const float* pr = perc + static_cast<std::size_t>(f) * nb;
      for (int q = 0; q < nb; ++q) {
        const float mh = softmask_inline(hr[q], pr[q] * margin, p.power, c.split_zeros);
        const float mp = softmask_inline(pr[q], hr[q] * margin, p.power, c.split_zeros);
        const float mq = m[q];  // |X|, as magphase computes it
        const float re = mq == 0.0f ? 1.0f : X[q].real() / mq, im = mq == 0.0f ? 0.0f : X[q].imag() / mq;
        const float ah = mq * mh, ap = mq * mp;
        H[q] = {ah * re, ah * im};
        P[q] = {ap * re, ap * im};
      }
    }
    fftwf_execute_dft_c2r(c.c2r, s.block_h.get(), s.frames.get());
    fftwf_execute_dft_c2r(c.c2r, s.block_p.get(), s.frames_p.get());
    for (std::int64_t f = f0; f < f1; ++f) {
      const float* __restrict__ th = s.frames.get() + (f - f0) * n_fft;
      const float* __restrict__ tp = s.frames_p.get() + (f - f0) * n_fft;
      float* __restrict__ oh = s.out_h.data() + f * p.hop_length;
      float* __restrict__ op = s.out_p.data() + f * p.hop_length;
      // numpy's irfft (float32, 1/n inside), times the float64 window, added into float32.
      for (int j = 0; j < n_fft; ++j) {
        oh[j] = static_cast<float>(static_cast<double>(oh[j]) + wd[j] * static_cast<double>(th[j] * inv_n));
        op[j] = static_cast<float>(static_cast<double>(op[j]) + wd[j] * static_cast<double>(tp[j] * inv_n));
      }
    }
  }
  // window_sumsquare over the same frames (float32 accumulation, frames in order), cached per T.
  if (s.wss_frames != T) {
    s.wss.assign(static_cast<std::size_t>(padded), 0.0f);
    for (std::int64_t f = 0; f < T; ++f)
      for (int j = 0; j < n_fft; ++j) {
        float& v = s.wss[static_cast<std::size_t>(f * p.hop_length + j)];
        v = static_cast<float>(static_cast<double>(v) + wd[j] * wd[j]);
      }
    s.wss_frames = T;
  }
  for (std::int64_t i = pad; i < pad + len; ++i) {
    const float w = s.wss[static_cast<std::size_t>(i)];
    if (w > FLT_MIN) {
      s.out_h[static_cast<std::size_t>(i)] /= w;
      s.out_p[static_cast<std::size_t>(i)] /= w;
    }
  }
}

void check_clip(std::span<const float> y, std::size_t i) {
  HMR_REQUIRE(!y.empty(), "hpss: clip {} is empty (zero samples)", i);
  if (count_nonfinite(y) > 0)
    for (std::size_t j = 0; j < y.size(); ++j)
      HMR_REQUIRE(std::isfinite(y[j]), "hpss: clip {} has a non-finite sample at index {}", i, j);
}

// Runs hpss_clip on every clip (threads across clips) and hands each result to `take` on the
// thread that computed it.
template <class Take>
void for_each_clip(const std::vector<std::span<const float>>& clips, const HpssParams& p, Take&& take) {
  const HpssPlan c(p);  // plans made here, before the threads start
  const auto n = static_cast<std::int64_t>(clips.size());
#pragma omp parallel if (n > 1)
  {
    HpssScratch s(c);
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t i = 0; i < n; ++i) {
      hpss_clip(c, s, clips[static_cast<std::size_t>(i)]);
      take(static_cast<std::size_t>(i), s);
    }
  }
}

}  // namespace

float softmask(float x, float x_ref, double power, bool split_zeros) {
  return softmask_inline(x, x_ref, power, split_zeros);
}

Matrix median_filter_cpu(const Matrix& x, int k, int axis) {
  HMR_REQUIRE(k >= 1, "median_filter: kernel size must be >= 1 (got {})", k);
  HMR_REQUIRE(axis == 0 || axis == 1, "median_filter: axis must be 0 or 1 (got {})", axis);
  Matrix out(x.rows(), x.cols());
  if (x.empty()) return out;
  std::vector<float> ext, win;
  if (axis == 1)
    for (std::int64_t r = 0; r < x.rows(); ++r) median_line(x.row(r), x.cols(), 1, out.row(r), 1, k, ext, win);
  else
    for (std::int64_t col = 0; col < x.cols(); ++col)
      median_line(x.data() + col, x.rows(), x.cols(), out.data() + col, x.cols(), k, ext, win);
  return out;
}

void hpss_masks_cpu(const Matrix& harm, const Matrix& perc, const HpssParams& p, Matrix& mask_h, Matrix& mask_p) {
  HMR_ASSERT(harm.rows() == perc.rows() && harm.cols() == perc.cols(), "hpss masks: shape mismatch");
  mask_h = Matrix(harm.rows(), harm.cols());
  mask_p = Matrix(harm.rows(), harm.cols());
  const float margin = static_cast<float>(p.margin);
  const bool split = p.margin == 1.0;
  for (std::size_t i = 0; i < harm.size(); ++i) {
    mask_h.vec()[i] = softmask(harm.vec()[i], perc.vec()[i] * margin, p.power, split);
    mask_p.vec()[i] = softmask(perc.vec()[i], harm.vec()[i] * margin, p.power, split);
  }
}

ComplexSpec stft_complex_cpu(std::span<const float> y, const HpssParams& p) {
  const HpssPlan c(p);
  check_clip(y, 0);
  const auto len = static_cast<std::int64_t>(y.size());
  ComplexSpec out;
  out.n_bins = c.nb;
  out.n_frames = hpss_frames(len, p);
  out.v.resize(static_cast<std::size_t>(c.nb * out.n_frames));
  std::vector<float> frame(static_cast<std::size_t>(p.n_fft));
  FftwFloat in(fftwf_alloc_real(static_cast<std::size_t>(kBlock) * p.n_fft));
  FftwComplex spec(fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * c.odist));
  for (std::int64_t f0 = 0; f0 < out.n_frames; f0 += kBlock) {
    for (int r = 0; r < kBlock; ++r)
      for (int j = 0; j < p.n_fft; ++j) {
        const std::int64_t i = (f0 + r) * p.hop_length - p.n_fft / 2 + j;
        in.get()[r * p.n_fft + j] = (i >= 0 && i < len && f0 + r < out.n_frames)
                                        ? y[static_cast<std::size_t>(i)] * c.window[static_cast<std::size_t>(j)]
                                        : 0.0f;
      }
    fftwf_execute_dft_r2c(c.r2c, in.get(), spec.get());
    for (std::int64_t f = f0; f < std::min(out.n_frames, f0 + kBlock); ++f)
      for (int q = 0; q < c.nb; ++q) {
        const fftwf_complex& z = spec.get()[(f - f0) * c.odist + q];
        out.v[static_cast<std::size_t>(q * out.n_frames + f)] = {z[0], z[1]};
      }
  }
  return out;
}

std::vector<float> istft_cpu(const ComplexSpec& s, const HpssParams& p, std::int64_t length) {
  const HpssPlan c(p);
  HMR_REQUIRE(s.n_bins == c.nb, "istft: {} bins for n_fft {} (expected {})", s.n_bins, p.n_fft, c.nb);
  const int pad = p.n_fft / 2;
  const std::int64_t T =
      std::min<std::int64_t>(s.n_frames, (length + 2 * pad + p.hop_length - 1) / p.hop_length);  // librosa's n_frames
  const std::int64_t padded = std::max<std::int64_t>(T, 1) * p.hop_length + p.n_fft;
  std::vector<float> acc(static_cast<std::size_t>(std::max(padded, length + 2 * pad)), 0.0f);
  std::vector<float> wss(acc.size(), 0.0f);
  std::vector<float> frame(static_cast<std::size_t>(p.n_fft));
  FftwComplex in(fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * c.odist));
  FftwFloat out(fftwf_alloc_real(static_cast<std::size_t>(kBlock) * p.n_fft));
  for (std::int64_t f0 = 0; f0 < T; f0 += kBlock) {
    for (int r = 0; r < kBlock; ++r)
      for (int q = 0; q < c.odist; ++q) {
        const std::complex<float> z =
            (f0 + r < T && q < c.nb) ? s.v[static_cast<std::size_t>(q * s.n_frames + f0 + r)] : std::complex<float>{};
        in.get()[r * c.odist + q][0] = z.real();
        in.get()[r * c.odist + q][1] = z.imag();
      }
    fftwf_execute_dft_c2r(c.c2r, in.get(), out.get());
    for (std::int64_t f = f0; f < std::min(T, f0 + kBlock); ++f)
      for (int j = 0; j < p.n_fft; ++j) {
        const auto i = static_cast<std::size_t>(f * p.hop_length + j);
        const double w = c.window_d[static_cast<std::size_t>(j)];
        const float v = out.get()[(f - f0) * p.n_fft + j] * (1.0f / static_cast<float>(p.n_fft));
        acc[i] = static_cast<float>(static_cast<double>(acc[i]) + w * static_cast<double>(v));
        wss[i] = static_cast<float>(static_cast<double>(wss[i]) + w * w);
      }
  }
  std::vector<float> y(static_cast<std::size_t>(length));
  for (std::int64_t i = 0; i < length; ++i) {
    const auto a = static_cast<std::size_t>(i + pad);
    y[static_cast<std::size_t>(i)] = wss[a] > FLT_MIN ? acc[a] / wss[a] : acc[a];
  }
  return y;
}

HpssSignals hpss_cpu(std::span<const float> y, const HpssParams& p) {
  check_params(p);
  check_clip(y, 0);
  const ComplexSpec S = stft_complex_cpu(y, p);
  Matrix mag(S.n_bins, S.n_frames);
  for (std::size_t i = 0; i < S.v.size(); ++i) mag.vec()[i] = std::abs(S.v[i]);
  const Matrix harm = median_filter_cpu(mag, p.kernel_size, 1);
  const Matrix perc = median_filter_cpu(mag, p.kernel_size, 0);
  Matrix mh, mp;
  hpss_masks_cpu(harm, perc, p, mh, mp);
  ComplexSpec sh = S, sp = S;
  for (std::size_t i = 0; i < S.v.size(); ++i) {
    const MagPhase z = magphase(S.v[i].real(), S.v[i].imag());
    const float ah = z.mag * mh.vec()[i], ap = z.mag * mp.vec()[i];
    sh.v[i] = {ah * z.re, ah * z.im};
    sp.v[i] = {ap * z.re, ap * z.im};
  }
  const auto len = static_cast<std::int64_t>(y.size());
  return {istft_cpu(sh, p, len), istft_cpu(sp, p, len)};
}

// ---- dispatch -----------------------------------------------------------------------------

std::vector<HpssSignals> hpss(Backend& b, const std::vector<std::span<const float>>& clips, const HpssParams& p) {
  NvtxRange range("audio/hpss");
  check_params(p);
  for (std::size_t i = 0; i < clips.size(); ++i) check_clip(clips[i], i);
  if (clips.empty()) return {};
  if (b.is_cuda()) return HMR_CUDA_CALL(b, hpss_cuda(b, clips, p));
  std::vector<HpssSignals> out(clips.size());
  const std::size_t pad = static_cast<std::size_t>(p.n_fft / 2);
  for_each_clip(clips, p, [&](std::size_t i, const HpssScratch& s) {
    const std::size_t len = clips[i].size();
    out[i].harmonic.assign(s.out_h.begin() + static_cast<std::ptrdiff_t>(pad),
                           s.out_h.begin() + static_cast<std::ptrdiff_t>(pad + len));
    out[i].percussive.assign(s.out_p.begin() + static_cast<std::ptrdiff_t>(pad),
                             s.out_p.begin() + static_cast<std::ptrdiff_t>(pad + len));
  });
  return out;
}

std::vector<HpssStats> hpss_stats(Backend& b, const std::vector<std::span<const float>>& clips, const HpssParams& p) {
  NvtxRange range("audio/hpss_stats");
  check_params(p);
  for (std::size_t i = 0; i < clips.size(); ++i) check_clip(clips[i], i);
  if (clips.empty()) return {};
  std::vector<HpssStats> out(clips.size());
  if (b.is_cuda()) {
    const std::vector<HpssSignals> sig = HMR_CUDA_CALL(b, hpss_cuda(b, clips, p));
    for (std::size_t i = 0; i < sig.size(); ++i) out[i] = signal_stats(sig[i]);
    return out;
  }
  const std::size_t pad = static_cast<std::size_t>(p.n_fft / 2);
  for_each_clip(clips, p, [&](std::size_t i, HpssScratch& s) {
    const std::size_t len = clips[i].size();
    HpssSignals v;
    v.harmonic.assign(s.out_h.begin() + static_cast<std::ptrdiff_t>(pad),
                      s.out_h.begin() + static_cast<std::ptrdiff_t>(pad + len));
    v.percussive.assign(s.out_p.begin() + static_cast<std::ptrdiff_t>(pad),
                        s.out_p.begin() + static_cast<std::ptrdiff_t>(pad + len));
    out[i] = signal_stats(v);
  });
  return out;
}

}  // namespace hmr::audio
