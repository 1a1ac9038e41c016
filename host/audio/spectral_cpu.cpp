// audio/spectral_cpu.cpp — the cpu backend of the spectral features: one STFT per clip (the MFCC's
// FFTW plans and power blocks, host/audio/spectrum_cpu.cpp: librosa.stft with the periodic Hann
// applied in the frequency domain, |X|^2 in float32), kept frame-major [T][n_bins], from which
// every requested series is computed frame by frame (spectral_detail, spectral.cpp); rms and zcr
// come from the signal. Threads take whole clips, or a lone clip's blocks and frames; every value is
// computed by one thread in a fixed order, so results do not depend on the thread count.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

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

MfccParams stft_params(const SpectralParams& p) {
  MfccParams m;
  m.sample_rate = p.sample_rate;
  m.n_fft = p.n_fft;
  m.hop_length = p.hop_length;
  m.center = p.center;
  m.power = 2.0f;
  m.n_mels = 1;  // the plan's mel bank is not used here
  m.n_mfcc = 1;
  return m;
}

// The power spectrogram of one clip, frame-major: pw[f * nb + k].
void clip_power(const CpuPlan& c, std::span<const float> y, std::int64_t T, bool inner, std::vector<float>& pw) {
  const int nb = c.nb;
  pw.resize(static_cast<std::size_t>(T) * nb);
  const std::int64_t blocks = (T + kBlock - 1) / kBlock;
  const auto one = [&](Scratch& s, std::int64_t b) {
    const std::int64_t f0 = b * kBlock, f1 = std::min(T, f0 + kBlock);
    mfcc_detail::power_block(c, s, y, f0, f1);
    // power_t is bin-major [nb][kBlock]: transpose 4 x 4 tiles into the frame-major rows
    const float* pt = s.power_t.data();
    const int rows = static_cast<int>(f1 - f0);
    int k = 0;
    for (; k + 4 <= nb; k += 4)
      for (int r = 0; r < kBlock; r += 4) {
        __m128 a = _mm_loadu_ps(pt + static_cast<std::size_t>(k) * kBlock + r);
        __m128 b = _mm_loadu_ps(pt + static_cast<std::size_t>(k + 1) * kBlock + r);
        __m128 e = _mm_loadu_ps(pt + static_cast<std::size_t>(k + 2) * kBlock + r);
        __m128 d = _mm_loadu_ps(pt + static_cast<std::size_t>(k + 3) * kBlock + r);
        _MM_TRANSPOSE4_PS(a, b, e, d);
        const __m128 v[4] = {a, b, e, d};
        for (int i = 0; i < 4 && r + i < rows; ++i) _mm_storeu_ps(pw.data() + (f0 + r + i) * nb + k, v[i]);
      }
    for (; k < nb; ++k)
      for (int r = 0; r < rows; ++r)
        pw[static_cast<std::size_t>((f0 + r) * nb + k)] = pt[static_cast<std::size_t>(k) * kBlock + r];
  };
  if (inner) {
#pragma omp parallel
    {
      Scratch s(c);
#pragma omp for schedule(static)
      for (std::int64_t b = 0; b < blocks; ++b) one(s, b);
    }
  } else {
    thread_local std::unique_ptr<Scratch> cached;
    thread_local std::pair<int, int> cached_for{0, 0};
    if (!cached || cached_for != std::make_pair(c.p.n_fft, c.p.hop_length)) {
      cached = std::make_unique<Scratch>(c);
      cached_for = {c.p.n_fft, c.p.hop_length};
    }
    for (std::int64_t b = 0; b < blocks; ++b) one(*cached, b);
  }
}

SpectralFrames one_clip(const CpuPlan& plan, const Consts& c, std::span<const float> y, const SpectralWhat& what,
                        bool inner) {
  const std::int64_t T = frame_count(static_cast<std::int64_t>(y.size()), plan.p);
  SpectralFrames out;
  out.tuning = c.p.tuning;
  if (what.chroma || what.centroid || what.bandwidth || what.rolloff || what.contrast) {
    thread_local std::vector<float> pw;  // ~5 MB per 30 s clip, reused by the thread's next clip
    clip_power(plan, y, T, inner, pw);
    clip_from_power(c, what, pw.data(), T, inner, out);
  }
  if (what.rms) out.rms = rms_frames(y, c.p);
  if (what.zcr) out.zcr = zcr_frames(y, c.p);
  return out;
}
}  // namespace

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
  const int nb = c.nb;
  const auto frame = [&](std::int64_t t) { return pw + t * nb; };
  if (what.chroma) {
    if (std::isnan(c.p.tuning)) {
      std::vector<float> pitch, mag;
      if (inner) {
        // Candidates in frame order whatever the thread count: per-thread lists over static
        // chunks, joined in thread order (the median and histogram ignore the order anyway).
        const int nt = omp_get_max_threads();
        std::vector<std::vector<float>> tp(static_cast<std::size_t>(nt)), tm(static_cast<std::size_t>(nt));
#pragma omp parallel for schedule(static)
        for (std::int64_t t = 0; t < T; ++t) {
          const auto i = static_cast<std::size_t>(omp_get_thread_num());
          frame_piptrack(c, frame(t), tp[i], tm[i]);
        }
        for (int i = 0; i < nt; ++i) {
          pitch.insert(pitch.end(), tp[static_cast<std::size_t>(i)].begin(), tp[static_cast<std::size_t>(i)].end());
          mag.insert(mag.end(), tm[static_cast<std::size_t>(i)].begin(), tm[static_cast<std::size_t>(i)].end());
        }
      } else {
        for (std::int64_t t = 0; t < T; ++t) frame_piptrack(c, frame(t), pitch, mag);
      }
      out.tuning = tuning_from_candidates(pitch, mag, c.p.n_chroma);
    } else {
      out.tuning = c.p.tuning;
    }
    const Matrix& fb = cached_chroma_filters(c.p, out.tuning);
    out.chroma = Matrix(c.p.n_chroma, T);
    float* dst = out.chroma.data();
#pragma omp parallel for schedule(static) if (inner)
    for (std::int64_t t = 0; t < T; ++t) frame_chroma(fb, frame(t), dst + t, T);
  }
  const bool shape = what.centroid || what.bandwidth || what.rolloff;
  if (!shape && !what.contrast) return;
  const std::size_t nbands = c.bands.size(), Tn = static_cast<std::size_t>(T);
  std::vector<double> cen(shape ? Tn : 0), bw(cen.size()), ro(cen.size());
  std::vector<double> valley(what.contrast ? nbands * Tn : 0), peak(valley.size());
#pragma omp parallel if (inner)
  {
    std::vector<float> mag(static_cast<std::size_t>(nb)), scratch(mag.size());
    std::vector<double> v(nbands), pk(nbands);
#pragma omp for schedule(static)
    for (std::int64_t t = 0; t < T; ++t) {
      const float* P = frame(t);
      int k = 0;  // np.abs(stft): IEEE sqrt, 4 lanes
      for (; k + 4 <= nb; k += 4) _mm_storeu_ps(mag.data() + k, _mm_sqrt_ps(_mm_loadu_ps(P + k)));
      for (; k < nb; ++k) mag[static_cast<std::size_t>(k)] = std::sqrt(P[k]);
      const auto i = static_cast<std::size_t>(t);
      if (shape)
        frame_shape(c, mag.data(), &cen[i], what.bandwidth ? &bw[i] : nullptr, what.rolloff ? &ro[i] : nullptr);
      if (what.contrast) {
        frame_contrast(c, mag.data(), scratch.data(), v.data(), pk.data());
        for (std::size_t b = 0; b < nbands; ++b) valley[b * Tn + i] = v[b], peak[b * Tn + i] = pk[b];
      }
    }
  }
  const auto to_float = [](const std::vector<double>& d) { return std::vector<float>(d.begin(), d.end()); };
  if (what.centroid) out.centroid = to_float(cen);
  if (what.bandwidth) out.bandwidth = to_float(bw);
  if (what.rolloff) out.rolloff = to_float(ro);
  if (what.contrast) {
    power_to_db_clip(peak);
    power_to_db_clip(valley);
    out.contrast = Matrix(static_cast<std::int64_t>(nbands), T);
    for (std::size_t i = 0; i < peak.size(); ++i) out.contrast.vec()[i] = static_cast<float>(peak[i] - valley[i]);
  }
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
