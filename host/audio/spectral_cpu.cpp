// audio/spectral_cpu.cpp — the cpu backend of the spectral features: one STFT per clip (the MFCC's
// FFTW plans and power blocks, host/audio/spectrum_cpu.cpp: librosa.stft with the periodic Hann
// applied in the frequency domain, |X|^2 in float32), kept frame-major [T][n_bins], from which
// every requested series is computed frame by frame (spectral_detail, spectral.cpp); rms and zcr
// come from the signal. Threads take whole clips, or a lone clip's blocks and frames; every value is
// computed by one thread in a fixed order, so results do not depend on the thread count.
#include <fftw3.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>

#include "audio/mfcc_cpu.h"
#include "audio/spectral_cpu.h"
#include "core/backend.h"
#include "core/error.h"

namespace hmr::audio {

namespace spectral_detail {

namespace {
using mfcc_detail::CpuPlan;
using mfcc_detail::kBlock;
using mfcc_detail::Scratch;

// The float64 STFT (SpectralParams::stft_float64): librosa's arithmetic, frames of float32 samples
// times scipy's float64 periodic Hann (0.5 + 0.5 cos of linspace(-pi, pi, n + 1)), a double r2c
// FFT, each bin rounded to complex64 as librosa stores it, then |X|^2 in float32. One plan per
// n_fft (FFTW_ESTIMATE: no measuring), made under a lock and kept for the process.
struct Stft64 {
  int n_fft = 0;
  fftw_plan plan = nullptr;
  std::vector<double> window;
};
const Stft64& stft64(int n_fft) {
  struct Plans : std::map<int, Stft64> {
    ~Plans() {
      for (auto& [n, s] : *this) fftw_destroy_plan(s.plan);
    }
  };
  static std::mutex mu;
  static Plans plans;
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans.find(n_fft);
  if (it != plans.end()) return it->second;
  Stft64 s;
  s.n_fft = n_fft;
  double* in = fftw_alloc_real(static_cast<std::size_t>(n_fft));
  fftw_complex* out = fftw_alloc_complex(static_cast<std::size_t>(n_fft / 2 + 1));
  s.plan = fftw_plan_dft_r2c_1d(n_fft, in, out, FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
  fftw_free(in);
  fftw_free(out);
  HMR_ASSERT(s.plan != nullptr, "FFTW could not plan a double r2c of length {}", n_fft);
  s.window.resize(static_cast<std::size_t>(n_fft));
  const double step = 2.0 * std::numbers::pi / n_fft;
  for (int n = 0; n < n_fft; ++n)
    s.window[static_cast<std::size_t>(n)] = 0.5 + 0.5 * std::cos(static_cast<double>(n) * step + -std::numbers::pi);
  return plans.emplace(n_fft, std::move(s)).first->second;
}

// Per-thread buffers of the float64 STFT.
struct Scratch64 {
  std::unique_ptr<double, decltype(&fftw_free)> in{nullptr, &fftw_free};
  std::unique_ptr<fftw_complex, decltype(&fftw_free)> out{nullptr, &fftw_free};
  int n_fft = 0;
  void ensure(int n) {
    if (n == n_fft) return;
    in.reset(fftw_alloc_real(static_cast<std::size_t>(n)));
    out.reset(fftw_alloc_complex(static_cast<std::size_t>(n / 2 + 1)));
    n_fft = n;
  }
};

// power_t[k * kBlock + r] = |X_r[k]|^2 of frames f0 + r < f1 (as mfcc_detail::power_block lays it out).
void power_block64(const CpuPlan& plan, const Stft64& st, Scratch64& s, std::span<const float> y, std::int64_t f0,
                   std::int64_t f1, float* pt) {
  const int n_fft = plan.p.n_fft, nb = plan.nb;
  const std::int64_t pad = plan.p.center ? n_fft / 2 : 0, len = static_cast<std::int64_t>(y.size());
  s.ensure(n_fft);
  double* in = s.in.get();
  const double* w = st.window.data();
  for (std::int64_t f = f0; f < f1; ++f) {
    const std::int64_t base = f * plan.p.hop_length - pad;
    for (int j = 0; j < n_fft; ++j) {
      const std::int64_t i = base + j;
      in[j] = (i >= 0 && i < len) ? static_cast<double>(y[static_cast<std::size_t>(i)]) * w[j] : 0.0;
    }
    fftw_execute_dft_r2c(st.plan, in, s.out.get());
    const fftw_complex* X = s.out.get();
    const auto r = static_cast<std::size_t>(f - f0);
    for (int k = 0; k < nb; ++k) {
      const float re = static_cast<float>(X[k][0]), im = static_cast<float>(X[k][1]);
      pt[static_cast<std::size_t>(k) * kBlock + r] = re * re + im * im;
    }
  }
}

// The power rows of frames [f0, f1) (power_t is bin-major [nb][kBlock]) into frame-major dst rows
// dst[(f - f0) * nb + k], by 4 x 4 transposes.
void transpose_block(const float* pt, int nb, int rows, float* dst) {
  int k = 0;
  for (; k + 4 <= nb; k += 4)
    for (int r = 0; r < kBlock; r += 4) {
      __m128 a = _mm_loadu_ps(pt + static_cast<std::size_t>(k) * kBlock + r);
      __m128 b = _mm_loadu_ps(pt + static_cast<std::size_t>(k + 1) * kBlock + r);
      __m128 e = _mm_loadu_ps(pt + static_cast<std::size_t>(k + 2) * kBlock + r);
      __m128 d = _mm_loadu_ps(pt + static_cast<std::size_t>(k + 3) * kBlock + r);
      _MM_TRANSPOSE4_PS(a, b, e, d);
      const __m128 v[4] = {a, b, e, d};
      for (int i = 0; i < 4 && r + i < rows; ++i) _mm_storeu_ps(dst + static_cast<std::size_t>(r + i) * nb + k, v[i]);
    }
  for (; k < nb; ++k)
    for (int r = 0; r < rows; ++r)
      dst[static_cast<std::size_t>(r) * nb + k] = pt[static_cast<std::size_t>(k) * kBlock + r];
}

// The per-frame work that needs no tuning, done while a block's rows are in cache: piptrack's
// candidates (chroma with an estimated tuning) and the magnitude series (centroid, bandwidth,
// rolloff, contrast band ends). Each frame is computed alone; candidates are kept per thread (the
// median and the histogram do not depend on their order), so nothing depends on the thread count.
class FramePass {
 public:
  FramePass(const Consts& c, const SpectralWhat& what, std::int64_t T, int threads)
      : c_(c),
        what_(what),
        T_(T),
        pip_(what.chroma && std::isnan(c.p.tuning)),
        shape_(what.centroid || what.bandwidth || what.rolloff),
        nbands_(c.bands.size()) {
    const auto Tn = static_cast<std::size_t>(T);
    cen_.resize(shape_ ? Tn : 0);
    bw_.resize(cen_.size());
    ro_.resize(cen_.size());
    valley_.resize(what.contrast ? nbands_ * Tn : 0);
    peak_.resize(valley_.size());
    pitch_.resize(static_cast<std::size_t>(threads));
    mag_.resize(pitch_.size());
    buf_.resize(pitch_.size());
  }
  bool idle() const { return !pip_ && !shape_ && !what_.contrast; }

  void run(const float* rows, std::int64_t f0, std::int64_t f1, int th) {
    const int nb = c_.nb;
    const auto t = static_cast<std::size_t>(th);
    std::vector<float>& buf = buf_[t];
    buf.resize(2 * static_cast<std::size_t>(nb) + 2 * nbands_);
    float* mag = buf.data();
    float* scratch = mag + nb;
    for (std::int64_t f = f0; f < f1; ++f) {
      const float* P = rows + (f - f0) * nb;
      if (pip_) frame_piptrack(c_, P, pitch_[t], mag_[t]);
      if (!shape_ && !what_.contrast) continue;
      int k = 0;  // np.abs(stft): IEEE sqrt, 4 lanes
      for (; k + 4 <= nb; k += 4) _mm_storeu_ps(mag + k, _mm_sqrt_ps(_mm_loadu_ps(P + k)));
      for (; k < nb; ++k) mag[k] = std::sqrt(P[k]);
      const auto i = static_cast<std::size_t>(f);
      if (shape_)
        frame_shape(c_, mag, &cen_[i], what_.bandwidth ? &bw_[i] : nullptr, what_.rolloff ? &ro_[i] : nullptr);
      if (what_.contrast) {
        double v[64], pk[64];
        frame_contrast(c_, mag, scratch, v, pk);
        for (std::size_t b = 0; b < nbands_; ++b)
          valley_[b * static_cast<std::size_t>(T_) + i] = v[b], peak_[b * static_cast<std::size_t>(T_) + i] = pk[b];
      }
    }
  }

  double tuning() {
    if (!pip_) return c_.p.tuning;
    std::vector<float> pitch, mag;
    for (std::size_t i = 0; i < pitch_.size(); ++i) {
      pitch.insert(pitch.end(), pitch_[i].begin(), pitch_[i].end());
      mag.insert(mag.end(), mag_[i].begin(), mag_[i].end());
    }
    return tuning_from_candidates(pitch, mag, c_.p.n_chroma);
  }

  void finish(SpectralFrames& out) {
    const auto to_float = [](const std::vector<double>& d) { return std::vector<float>(d.begin(), d.end()); };
    if (what_.centroid) out.centroid = to_float(cen_);
    if (what_.bandwidth) out.bandwidth = to_float(bw_);
    if (what_.rolloff) out.rolloff = to_float(ro_);
    if (what_.contrast) {
      power_to_db_clip(peak_);
      power_to_db_clip(valley_);
      out.contrast = Matrix(static_cast<std::int64_t>(nbands_), T_);
      for (std::size_t i = 0; i < peak_.size(); ++i) out.contrast.vec()[i] = static_cast<float>(peak_[i] - valley_[i]);
    }
  }

 private:
  const Consts& c_;
  const SpectralWhat& what_;
  std::int64_t T_;
  bool pip_, shape_;
  std::size_t nbands_;
  std::vector<double> cen_, bw_, ro_, valley_, peak_;
  std::vector<std::vector<float>> pitch_, mag_, buf_;  // per thread
};

// chroma of every frame from the frame-major power pw, at `tuning`.
void chroma_pass(const Consts& c, const float* pw, std::int64_t T, double tuning, bool inner, SpectralFrames& out) {
  out.tuning = tuning;
  const Matrix& fb = cached_chroma_filters(c.p, tuning);
  out.chroma = Matrix(c.p.n_chroma, T);
  float* dst = out.chroma.data();
#pragma omp parallel for schedule(static) if (inner)
  for (std::int64_t t = 0; t < T; ++t) frame_chroma(fb, pw + t * c.nb, dst + t, T);
}

SpectralFrames one_clip(const CpuPlan& plan, const Consts& c, std::span<const float> y, const SpectralWhat& what,
                        bool inner) {
  const std::int64_t T = frame_count(static_cast<std::int64_t>(y.size()), plan.p);
  const int nb = c.nb;
  SpectralFrames out;
  out.tuning = c.p.tuning;
  const int threads = inner ? omp_get_max_threads() : 1;
  FramePass pass(c, what, T, threads);
  if (what.chroma || !pass.idle()) {
    // The power rows: all of them when chroma needs them after the tuning, else a block per thread.
    thread_local std::vector<float> pw_kept;  // ~5 MB per 30 s clip, reused by the thread's next clip
    if (what.chroma) pw_kept.resize(static_cast<std::size_t>(T) * nb);
    std::vector<float>& pw = pw_kept;  // this thread's, also when the blocks run on other threads
    const std::int64_t blocks = (T + kBlock - 1) / kBlock;
    const bool f64 = c.p.stft_float64 || what.contrast;
    const Stft64* st = f64 ? &stft64(c.p.n_fft) : nullptr;
    const auto one = [&](Scratch& s, std::vector<float>& rows, std::int64_t b, int th) {
      const std::int64_t f0 = b * kBlock, f1 = std::min(T, f0 + kBlock);
      if (st) {
        thread_local Scratch64 s64;
        power_block64(plan, *st, s64, y, f0, f1, s.power_t.data());
      } else {
        mfcc_detail::power_block(plan, s, y, f0, f1);
      }
      float* dst = what.chroma ? pw.data() + f0 * nb : rows.data();
      transpose_block(s.power_t.data(), nb, static_cast<int>(f1 - f0), dst);
      pass.run(dst, f0, f1, th);
    };
    if (inner) {
#pragma omp parallel
      {
        Scratch s(plan);
        std::vector<float> rows(what.chroma ? 0 : static_cast<std::size_t>(kBlock) * nb);
        const int th = omp_get_thread_num();
#pragma omp for schedule(static)
        for (std::int64_t b = 0; b < blocks; ++b) one(s, rows, b, th);
      }
    } else {
      thread_local std::unique_ptr<Scratch> cached;
      thread_local std::pair<int, int> cached_for{0, 0};
      if (!cached || cached_for != std::make_pair(plan.p.n_fft, plan.p.hop_length)) {
        cached = std::make_unique<Scratch>(plan);
        cached_for = {plan.p.n_fft, plan.p.hop_length};
      }
      thread_local std::vector<float> rows;
      if (!what.chroma) rows.resize(static_cast<std::size_t>(kBlock) * nb);
      for (std::int64_t b = 0; b < blocks; ++b) one(*cached, rows, b, 0);
    }
    if (what.chroma) chroma_pass(c, pw.data(), T, pass.tuning(), inner, out);
    pass.finish(out);
  }
  if (what.rms) out.rms = rms_frames(y, c.p);
  if (what.zcr) out.zcr = zcr_frames(y, c.p);
  return out;
}
}  // namespace

MfccParams stft_params(const SpectralParams& p) {
  // n_mels = n_mfcc = 1: the plan's mel bank is not used here.
  return {.sample_rate = p.sample_rate,
          .n_fft = p.n_fft,
          .hop_length = p.hop_length,
          .center = p.center,
          .power = 2.0f,
          .n_mels = 1,
          .n_mfcc = 1};
}

const Matrix& cached_chroma_filters(const SpectralParams& p, double tuning) {
  struct Key {
    int sr, n_fft, n_chroma;
    double tuning;
    bool operator<(const Key& o) const {
      return std::tie(sr, n_fft, n_chroma, tuning) < std::tie(o.sr, o.n_fft, o.n_chroma, o.tuning);
    }
  };
  thread_local std::map<Key, Matrix> cache;
  const Key k{p.sample_rate, p.n_fft, p.n_chroma, tuning};
  auto it = cache.find(k);
  if (it == cache.end()) {
    if (cache.size() > 256) cache.clear();
    it = cache.emplace(k, chroma_filters(p.sample_rate, p.n_fft, p.n_chroma, tuning)).first;
  }
  return it->second;
}

void clip_from_power(const Consts& c, const SpectralWhat& what, const float* pw, std::int64_t T, bool inner,
                     SpectralFrames& out) {
  out.tuning = c.p.tuning;
  FramePass pass(c, what, T, inner ? omp_get_max_threads() : 1);
  if (!pass.idle()) {
#pragma omp parallel for schedule(static) if (inner)
    for (std::int64_t t = 0; t < T; ++t) pass.run(pw + t * c.nb, t, t + 1, omp_get_thread_num());
  }
  if (what.chroma) chroma_pass(c, pw, T, pass.tuning(), inner, out);
  pass.finish(out);
}

std::vector<SpectralFrames> spectral_frames_cpu_batch(const std::vector<std::span<const float>>& clips,
                                                      const SpectralParams& p, const SpectralWhat& what) {
  const CpuPlan plan(stft_params(p));
  const Consts c(p, what.contrast);
  const std::int64_t n = static_cast<std::int64_t>(clips.size());
  std::vector<SpectralFrames> out(clips.size());
  if (n < cpu_threads()) {
    for (std::int64_t i = 0; i < n; ++i)
      out[static_cast<std::size_t>(i)] = one_clip(plan, c, clips[static_cast<std::size_t>(i)], what, true);
  } else {
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t i = 0; i < n; ++i)
      out[static_cast<std::size_t>(i)] = one_clip(plan, c, clips[static_cast<std::size_t>(i)], what, false);
  }
  return out;
}

}  // namespace spectral_detail

SpectralFrames spectral_frames_cpu(std::span<const float> y, const SpectralParams& p, const SpectralWhat& what) {
  const std::vector<std::span<const float>> clips{y};
  spectral_detail::check_clips(clips, p);
  return std::move(spectral_detail::spectral_frames_cpu_batch(clips, p, what).front());
}

}  // namespace hmr::audio
