// audio/hpss.cpp — librosa 0.10 effects.hpss on the cpu (see hpss.h for the definition), and the
// dispatch to the cuda backend (hpss_cuda.cpp).
//
// Per clip (hpss_clip): blocks of kBlock frames are framed, windowed and transformed by one
// batched FFTW r2c plan straight into the clip's complex spectrogram; each frame's magnitudes go
// to a frame-major array and, while the frame is in cache, through the percussive median (along
// bins). The harmonic median runs along time on groups of bins gathered into contiguous lines.
// Resynthesis takes the blocks again: masks, magphase, two batched c2r transforms, the Hann window
// and the overlap-add into two padded float32 buffers, then the window sum-square division.
// Threads take whole clips, or split a clip's passes when there are fewer clips than threads; the
// operations on each value are the same either way, so results do not depend on the thread count.
// Medians: windows of up to 32 values keep every value's rank and update them all with two
// compares a step (vectorised, no sort); wider windows slide a sorted array (a binary search and
// a shift of at most k floats a step). Both give the exact order statistic scipy selects.
#include "audio/hpss.h"

#include <fftw3.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <numbers>

#include <omp.h>

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
// worker thread starts, see HpssPlan), kept for the process and destroyed at exit. FFTW_ESTIMATE:
// a measured plan may pick another algorithm in the next process (timings vary on a busy
// machine) and move the signals' last bits (seen as 1e-9..1e-8 changes of the GTZAN statistics
// between runs); the estimated plan is the same every run, and no slower here (~95 ms per clip).
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
                                            FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
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
  FftwComplex spec;
  std::size_t spec_frames = 0;
  FftwFloat inv_h, inv_p;  // inner mode: the inverse transforms of every frame, [frames][n_fft]
  std::size_t inv_size = 0;
  std::vector<float> mag_t, harm_t, perc_t, out_h, out_p, wss;
  std::int64_t wss_frames = -1;
  void reserve_spec(std::size_t n_frames_padded, int odist) {
    if (spec_frames >= n_frames_padded) return;
    spec.reset(fftwf_alloc_complex(n_frames_padded * static_cast<std::size_t>(odist)));
    spec_frames = n_frames_padded;
  }
  void reserve_inverse(std::size_t n) {
    if (inv_size >= n) return;
    inv_h.reset(fftwf_alloc_real(n));
    inv_p.reset(fftwf_alloc_real(n));
    inv_size = n;
  }
};

std::int64_t hpss_frames(std::int64_t samples, const HpssParams& p) { return 1 + samples / p.hop_length; }

// The per-clip computation in four passes; the signals are left in s.out_h / s.out_p (padded: the
// clip's sample i is at index i + n_fft / 2). Magnitudes and both medians are frame-major [T][nb],
// so the percussive median and the resynthesis read contiguous rows; the harmonic median gathers
// groups of kGroup bins into bin-major lines (one cache line per frame and group) and scatters
// them back. Every pass works on independent pieces (blocks of frames, groups of bins), so a clip
// alone can also be split over the threads (`inner`): then the inverse transforms of all frames are
// kept and each output sample gathers its frames in increasing order, the same additions in the
// same order as the one-thread scatter, so both give the same bits.
constexpr int kGroup = 16;

// Per-thread buffers of the passes (the inner mode gives each thread its own).
struct PassBufs {
  FftwFloat frames, frames_p;
  FftwComplex block_h, block_p;
  std::vector<float> magrow, percrow, ext, win;
  explicit PassBufs(const HpssPlan& c)
      : frames(fftwf_alloc_real(static_cast<std::size_t>(kBlock) * c.p.n_fft)),
        frames_p(fftwf_alloc_real(static_cast<std::size_t>(kBlock) * c.p.n_fft)),
        block_h(fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * c.odist)),
        block_p(fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * c.odist)) {}
};

struct ClipView {
  std::int64_t len, T, blocks;
};

// Pass 1, one block of frames: framing, r2c into the spectrogram, magnitudes, percussive median.
__attribute__((target_clones("avx2", "default"))) void stft_block(const HpssPlan& c, PassBufs& t, HpssScratch& s,
                                                                  std::span<const float> y, const ClipView& v,
                                                                  std::int64_t b) {
  const HpssParams& p = c.p;
  const int nb = c.nb, n_fft = p.n_fft, pad = n_fft / 2;
  auto* spec = reinterpret_cast<std::complex<float>*>(s.spec.get());
  float* fr = t.frames.get();
  const std::int64_t f0 = b * kBlock;
  for (int r = 0; r < kBlock; ++r) {
    float* row = fr + static_cast<std::size_t>(r) * n_fft;
    const std::int64_t start = (f0 + r) * p.hop_length - pad;
    if (f0 + r >= v.T) {
      std::fill(row, row + n_fft, 0.0f);
      continue;
    }
    const std::int64_t j0 = std::clamp<std::int64_t>(-start, 0, n_fft);
    const std::int64_t j1 = std::clamp<std::int64_t>(v.len - start, j0, n_fft);
    std::fill(row, row + j0, 0.0f);
    for (std::int64_t j = j0; j < j1; ++j)
      row[j] = y[static_cast<std::size_t>(start + j)] * c.window[static_cast<std::size_t>(j)];
    std::fill(row + j1, row + n_fft, 0.0f);
  }
  fftwf_execute_dft_r2c(c.r2c, fr, reinterpret_cast<fftwf_complex*>(spec + f0 * c.odist));
  for (std::int64_t f = f0; f < std::min(v.T, f0 + kBlock); ++f) {
    const std::complex<float>* X = spec + f * c.odist;
    float* m = s.mag_t.data() + static_cast<std::size_t>(f) * nb;
    for (int q = 0; q < nb; ++q) m[q] = std::hypot(X[q].real(), X[q].imag());
    median_line(m, nb, 1, s.perc_t.data() + static_cast<std::size_t>(f) * nb, 1, p.kernel_size, t.ext, t.win);
  }
}

// Pass 2, one group of bins: the harmonic median along time.
void harm_group(const HpssPlan& c, PassBufs& t, HpssScratch& s, const ClipView& v, int q0) {
  const int nb = c.nb, g = std::min(kGroup, nb - q0);
  const auto nt = static_cast<std::size_t>(v.T);
  t.magrow.resize(static_cast<std::size_t>(kGroup) * nt);
  t.percrow.resize(t.magrow.size());
  for (std::size_t f = 0; f < nt; ++f)
    for (int i = 0; i < g; ++i) t.magrow[static_cast<std::size_t>(i) * nt + f] = s.mag_t[f * nb + q0 + i];
  for (int i = 0; i < g; ++i)
    median_line(t.magrow.data() + static_cast<std::size_t>(i) * nt, v.T, 1,
                t.percrow.data() + static_cast<std::size_t>(i) * nt, 1, c.p.kernel_size, t.ext, t.win);
  for (std::size_t f = 0; f < nt; ++f)
    for (int i = 0; i < g; ++i) s.harm_t[f * nb + q0 + i] = t.percrow[static_cast<std::size_t>(i) * nt + f];
}

// Pass 3, one block of frames: both masked spectra, then their c2r transforms into out_h / out_p
// ([kBlock][n_fft] each: the thread's buffers, or the block's rows of the clip-wide ones).
__attribute__((target_clones("avx2", "default"))) void mask_block(const HpssPlan& c, PassBufs& t, HpssScratch& s,
                                                                  const ClipView& v, std::int64_t b, float* out_h,
                                                                  float* out_p) {
  const HpssParams& p = c.p;
  const int nb = c.nb;
  const auto* spec = reinterpret_cast<const std::complex<float>*>(s.spec.get());
  auto* bh = reinterpret_cast<std::complex<float>*>(t.block_h.get());
  auto* bp = reinterpret_cast<std::complex<float>*>(t.block_p.get());
  const float margin = static_cast<float>(p.margin);
  const std::int64_t f0 = b * kBlock, f1 = std::min(v.T, f0 + kBlock);
  for (std::int64_t f = f0; f < f1; ++f) {
    const std::complex<float>* X = spec + f * c.odist;
    std::complex<float>* H = bh + (f - f0) * c.odist;
    std::complex<float>* P = bp + (f - f0) * c.odist;
    const float* m = s.mag_t.data() + static_cast<std::size_t>(f) * nb;
    const float* hr = s.harm_t.data() + static_cast<std::size_t>(f) * nb;
    const float* pr = s.perc_t.data() + static_cast<std::size_t>(f) * nb;
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
  fftwf_execute_dft_c2r(c.c2r, t.block_h.get(), out_h);
  fftwf_execute_dft_c2r(c.c2r, t.block_p.get(), out_p);
}

// Pass 4 (one thread): overlap-add of one block's frames into the padded signals, frame by frame.
__attribute__((target_clones("avx2", "default"))) void ola_block(const HpssPlan& c, HpssScratch& s, const ClipView& v,
                                                                 std::int64_t b, const float* th0, const float* tp0) {
  const int n_fft = c.p.n_fft;
  const float inv_n = 1.0f / static_cast<float>(n_fft);
  const double* __restrict__ wd = c.window_d.data();
  const std::int64_t f0 = b * kBlock, f1 = std::min(v.T, f0 + kBlock);
  for (std::int64_t f = f0; f < f1; ++f) {
    const float* __restrict__ th = th0 + (f - f0) * n_fft;
    const float* __restrict__ tp = tp0 + (f - f0) * n_fft;
    float* __restrict__ oh = s.out_h.data() + f * c.p.hop_length;
    float* __restrict__ op = s.out_p.data() + f * c.p.hop_length;
    // numpy's irfft (float32, 1/n inside), times the float64 window, added into float32.
    for (int j = 0; j < n_fft; ++j) {
      oh[j] = static_cast<float>(static_cast<double>(oh[j]) + wd[j] * static_cast<double>(th[j] * inv_n));
      op[j] = static_cast<float>(static_cast<double>(op[j]) + wd[j] * static_cast<double>(tp[j] * inv_n));
    }
  }
}

// Pass 4 (inner mode): padded samples [i0, i1) each gather the frames that cover them, in order.
void ola_gather(const HpssPlan& c, HpssScratch& s, const ClipView& v, std::int64_t i0, std::int64_t i1) {
  const int n_fft = c.p.n_fft, hop = c.p.hop_length;
  const float inv_n = 1.0f / static_cast<float>(n_fft);
  const double* wd = c.window_d.data();
  for (std::int64_t i = i0; i < i1; ++i) {
    const std::int64_t lo = i - n_fft + 1 <= 0 ? 0 : (i - n_fft + 1 + hop - 1) / hop;
    const std::int64_t hi = std::min(v.T - 1, i / hop);
    float ah = 0.0f, ap = 0.0f;
    for (std::int64_t f = lo; f <= hi; ++f) {
      const auto j = static_cast<std::size_t>(i - f * hop);
      const std::size_t at = static_cast<std::size_t>(f) * n_fft + j;
      ah = static_cast<float>(static_cast<double>(ah) + wd[j] * static_cast<double>(s.inv_h.get()[at] * inv_n));
      ap = static_cast<float>(static_cast<double>(ap) + wd[j] * static_cast<double>(s.inv_p.get()[at] * inv_n));
    }
    s.out_h[static_cast<std::size_t>(i)] = ah;
    s.out_p[static_cast<std::size_t>(i)] = ap;
  }
}

void hpss_clip(const HpssPlan& c, HpssScratch& s, std::span<const float> y, bool inner) {
  const HpssParams& p = c.p;
  ClipView v;
  v.len = static_cast<std::int64_t>(y.size());
  v.T = hpss_frames(v.len, p);
  v.blocks = (v.T + kBlock - 1) / kBlock;
  const int nb = c.nb, n_fft = p.n_fft, pad = n_fft / 2;
  s.reserve_spec(static_cast<std::size_t>(v.blocks * kBlock), c.odist);
  s.mag_t.resize(static_cast<std::size_t>(nb) * static_cast<std::size_t>(v.T));
  s.harm_t.resize(s.mag_t.size());
  s.perc_t.resize(s.mag_t.size());
  const std::int64_t padded = v.T * p.hop_length + n_fft;
  s.out_h.assign(static_cast<std::size_t>(padded), 0.0f);
  s.out_p.assign(static_cast<std::size_t>(padded), 0.0f);
  if (!inner) {
    thread_local std::unique_ptr<PassBufs> bufs;
    thread_local int bufs_for = 0;
    if (!bufs || bufs_for != n_fft) bufs = std::make_unique<PassBufs>(c), bufs_for = n_fft;
    PassBufs& t = *bufs;
    for (std::int64_t b = 0; b < v.blocks; ++b) stft_block(c, t, s, y, v, b);
    for (int q0 = 0; q0 < nb; q0 += kGroup) harm_group(c, t, s, v, q0);
    for (std::int64_t b = 0; b < v.blocks; ++b) {
      mask_block(c, t, s, v, b, t.frames.get(), t.frames_p.get());
      ola_block(c, s, v, b, t.frames.get(), t.frames_p.get());
    }
  } else {
    s.reserve_inverse(static_cast<std::size_t>(v.blocks * kBlock) * n_fft);
#pragma omp parallel
    {
      PassBufs t(c);
#pragma omp for schedule(dynamic, 2)
      for (std::int64_t b = 0; b < v.blocks; ++b) stft_block(c, t, s, y, v, b);
#pragma omp for schedule(dynamic, 2)
      for (int q0 = 0; q0 < nb; q0 += kGroup) harm_group(c, t, s, v, q0);
#pragma omp for schedule(dynamic, 2)
      for (std::int64_t b = 0; b < v.blocks; ++b)
        mask_block(c, t, s, v, b, s.inv_h.get() + b * kBlock * n_fft, s.inv_p.get() + b * kBlock * n_fft);
      constexpr std::int64_t kChunk = 4096;
#pragma omp for schedule(dynamic, 2)
      for (std::int64_t i0 = pad; i0 < pad + v.len; i0 += kChunk)
        ola_gather(c, s, v, i0, std::min(pad + v.len, i0 + kChunk));
    }
  }
  // window_sumsquare over the same frames (float32 accumulation, frames in order), cached per T.
  const double* wd = c.window_d.data();
  if (s.wss_frames != v.T) {
    s.wss.assign(static_cast<std::size_t>(padded), 0.0f);
    for (std::int64_t f = 0; f < v.T; ++f)
      for (int j = 0; j < n_fft; ++j) {
        float& w = s.wss[static_cast<std::size_t>(f * p.hop_length + j)];
        w = static_cast<float>(static_cast<double>(w) + wd[j] * wd[j]);
      }
    s.wss_frames = v.T;
  }
  for (std::int64_t i = pad; i < pad + v.len; ++i) {
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

// Scratch one thread needs for a clip of `samples` (spectrogram, magnitudes, medians, signals):
// ~32 MB for 30 s at the defaults, growing linearly.
std::int64_t scratch_bytes(std::int64_t samples, const HpssPlan& c) {
  const std::int64_t T = hpss_frames(samples, c.p) + kBlock;
  return T * (static_cast<std::int64_t>(c.odist) * 8 + static_cast<std::int64_t>(c.nb) * 12) +
         2 * (T * c.p.hop_length + c.p.n_fft) * 4 * 2;
}

// Thread scratch is capped at about kScratchBudget in all: long clips (whole songs) run on fewer
// threads rather than asking for gigabytes. Only the speed depends on it.
constexpr std::int64_t kScratchBudget = std::int64_t{2} << 30;

// Runs hpss_clip on every clip and hands each result to `take`: threads across clips, or, with
// fewer clips than threads, each clip split over the threads (the same bits either way).
template <class Take>
void for_each_clip(const std::vector<std::span<const float>>& clips, const HpssParams& p, Take&& take) {
  const HpssPlan c(p);  // plans made here, before the threads start
  const auto n = static_cast<std::int64_t>(clips.size());
  std::int64_t longest = 0;
  for (const auto& y : clips) longest = std::max(longest, static_cast<std::int64_t>(y.size()));
  const int max_threads = omp_get_max_threads();
  if (n < max_threads) {  // fewer clips than threads: each clip's passes split over the threads
    HpssScratch s;
    for (std::int64_t i = 0; i < n; ++i) {
      hpss_clip(c, s, clips[static_cast<std::size_t>(i)], true);
      take(static_cast<std::size_t>(i), s);
    }
    return;
  }
  const int threads = static_cast<int>(
      std::clamp<std::int64_t>(kScratchBudget / scratch_bytes(longest, c), 1, std::min<std::int64_t>(n, max_threads)));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    HpssScratch s;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t i = 0; i < n; ++i) {
      hpss_clip(c, s, clips[static_cast<std::size_t>(i)], false);
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
