// audio/spectral_cuda.cpp — the cuda backend of the spectral features (host side).
//
// Clips are processed in batches (up to kBatchSamples samples / kBatchClips clips) laid out back to
// back on the device with offset tables (kernels/audio/spectral.cuh). Per batch, on the Context's
// stream: the STFT once (framing + window and cuFFT R2C per chunk of frames, the MFCC's kernels and
// cached plan) into a frame-major power spectrogram, then the shape kernel (centroid, bandwidth,
// rolloff, contrast band means) and the per-clip contrast dB; piptrack candidates go to the host,
// where each clip's tuning (median + histogram: a few hundred values) and chroma filter bank are
// made as on the cpu, and the chroma kernel applies them; rms and zcr come from the samples.
#include <algorithm>
#include <cmath>

#include "audio/mfcc.cuh"
#include "audio/mfcc.h"
#include "audio/spectral.cuh"
#include "audio/spectral_cpu.h"
#include "audio/spectral_cuda.h"
#include "audio/stft_batches.h"
#include "core/error.h"
#include "core/nvtx.h"
#include "cuda/context.h"
#include "cuda/fft.h"

namespace hmr::HMR_CUDA_NS {

namespace {

using audio::SpectralFrames;
using audio::SpectralParams;
using audio::SpectralWhat;

using audio::stft_batches::chunk_rows;
using audio::stft_batches::kBatchClips;
using audio::stft_batches::kBatchSamples;

std::int64_t series_count(std::int64_t len, const SpectralParams& p) {
  const std::int64_t padded = len + (p.center ? 2 * (p.frame_length / 2) : 0);
  return padded < p.frame_length ? 0 : 1 + (padded - p.frame_length) / p.hop_length;
}

// Column t of a frame-major [T][rows] block as the librosa layout [rows x T].
Matrix transpose_rows(const float* src, int rows, std::int64_t T) {
  Matrix m(rows, T);
  for (std::int64_t t = 0; t < T; ++t)
    for (int r = 0; r < rows; ++r) m(r, t) = src[t * rows + r];
  return m;
}

void run_batch(Context& ctx, const audio::spectral_detail::Consts& c, const SpectralWhat& what,
               const std::vector<std::span<const float>>& clips, std::size_t first, std::size_t last,
               std::vector<SpectralFrames>& out) {
  NvtxRange range("audio/spectral_batch");
  const SpectralParams& p = c.p;
  cudaStream_t s = ctx.stream();
  const int n = static_cast<int>(last - first), nb = c.nb;
  const audio::MfccParams sp = audio::spectral_detail::stft_params(p);
  std::vector<std::int64_t> clip_start{0}, frame_start{0}, series_start{0};
  for (std::size_t i = first; i < last; ++i) {
    const auto len = static_cast<std::int64_t>(clips[i].size());
    clip_start.push_back(clip_start.back() + len);
    frame_start.push_back(frame_start.back() + audio::frame_count(len, sp));
    series_start.push_back(series_start.back() + series_count(len, p));
  }
  const std::int64_t F = frame_start.back(), S = series_start.back();
  std::vector<float> host_audio(static_cast<std::size_t>(clip_start.back()));
  for (std::size_t i = first; i < last; ++i)
    std::copy(clips[i].begin(), clips[i].end(), host_audio.begin() + clip_start[i - first]);
  auto d_audio = ctx.to_scratch(host_audio);
  auto d_clip = ctx.to_scratch(clip_start), d_frame = ctx.to_scratch(frame_start),
       d_series = ctx.to_scratch(series_start);
  for (std::size_t i = first; i < last; ++i) out[i].tuning = p.tuning;

  const bool shape = what.centroid || what.bandwidth || what.rolloff;
  if (what.chroma || shape || what.contrast) {
    auto power = ctx.scratch<float>(static_cast<std::size_t>(std::max<std::int64_t>(F, 1)) * nb);
    {
      const int rows = chunk_rows(F);
      auto frames = ctx.scratch<float>(static_cast<std::size_t>(rows) * p.n_fft);
      auto spec = ctx.scratch<float2>(static_cast<std::size_t>(rows) * nb);
      auto window = ctx.to_scratch(audio::stft_window(sp));
      FftR2C& fft = ctx.fft_r2c(p.n_fft, rows, p.n_fft, nb);
      const int pad = p.center ? p.n_fft / 2 : 0;
      for (std::int64_t f0 = 0; f0 < F; f0 += rows) {
        const int valid = static_cast<int>(std::min<std::int64_t>(rows, F - f0));
        kern::launch_frame_window(d_audio.data(), d_clip.data(), d_frame.data(), n, f0, F, rows, window.data(), p.n_fft,
                                  p.hop_length, pad, frames.data(), s);
        fft.exec(frames.data(), spec.data());
        kern::launch_spectral_power(spec.data(), nb, valid, nb, power.data() + f0 * nb, s);
      }
    }
    if (shape || what.contrast) {
      const std::size_t nbands = c.bands.size();
      std::vector<int> lo, hi, nq;
      for (const auto& b : c.bands) lo.push_back(b.lo), hi.push_back(b.hi), nq.push_back(b.n_q);
      auto d_freq = ctx.to_scratch(c.freq);
      auto d_lo = ctx.to_scratch(lo), d_hi = ctx.to_scratch(hi), d_nq = ctx.to_scratch(nq);
      const std::size_t Fz = static_cast<std::size_t>(std::max<std::int64_t>(F, 1));
      auto cen = ctx.scratch<double>(Fz), bw = ctx.scratch<double>(Fz), ro = ctx.scratch<double>(Fz);
      auto valley = ctx.scratch<double>(Fz * nbands), peak = ctx.scratch<double>(Fz * nbands);
      auto contrast = ctx.scratch<float>(Fz * nbands);
      kern::launch_spectral_shape(power.data(), F, nb, d_freq.data(), static_cast<float>(p.roll_percent), d_lo.data(),
                                  d_hi.data(), d_nq.data(), static_cast<int>(nbands), shape ? cen.data() : nullptr,
                                  what.bandwidth ? bw.data() : nullptr, what.rolloff ? ro.data() : nullptr,
                                  what.contrast ? valley.data() : nullptr, what.contrast ? peak.data() : nullptr, s);
      if (what.contrast)
        kern::launch_contrast_db(valley.data(), peak.data(), d_frame.data(), n, static_cast<int>(nbands),
                                 contrast.data(), s);
      const auto hc = shape ? cen.to_host(s) : std::vector<double>{};
      const auto hb = what.bandwidth ? bw.to_host(s) : std::vector<double>{};
      const auto hr = what.rolloff ? ro.to_host(s) : std::vector<double>{};
      const auto hk = what.contrast ? contrast.to_host(s) : std::vector<float>{};
      for (int i = 0; i < n; ++i) {
        SpectralFrames& o = out[first + static_cast<std::size_t>(i)];
        const std::int64_t f0 = frame_start[static_cast<std::size_t>(i)],
                           f1 = frame_start[static_cast<std::size_t>(i) + 1];
        const auto slice = [&](const std::vector<double>& v) {
          return std::vector<float>(v.begin() + f0, v.begin() + f1);
        };
        if (what.centroid) o.centroid = slice(hc);
        if (what.bandwidth) o.bandwidth = slice(hb);
        if (what.rolloff) o.rolloff = slice(hr);
        if (what.contrast)
          o.contrast =
              transpose_rows(hk.data() + f0 * static_cast<std::int64_t>(nbands), static_cast<int>(nbands), f1 - f0);
      }
    }
    if (what.chroma) {
      std::vector<double> tuning(static_cast<std::size_t>(n), p.tuning);
      if (std::isnan(p.tuning)) {
        const int width = std::max(0, c.pip_hi - c.pip_lo), cap = (width + 1) / 2 + 1;
        const std::size_t Fz = static_cast<std::size_t>(std::max<std::int64_t>(F, 1));
        auto pitch = ctx.scratch<float>(Fz * static_cast<std::size_t>(cap));
        auto mag = ctx.scratch<float>(Fz * static_cast<std::size_t>(cap));
        auto count = ctx.scratch<int>(Fz);
        kern::launch_piptrack(power.data(), F, nb, c.pip_lo, std::max(c.pip_lo, c.pip_hi), p.sample_rate, p.n_fft, cap,
                              pitch.data(), mag.data(), count.data(), s);
        const auto hp = pitch.to_host(s), hm = mag.to_host(s);
        const auto hn = count.to_host(s);
        for (int i = 0; i < n; ++i) {
          std::vector<float> cp, cm;
          for (std::int64_t f = frame_start[static_cast<std::size_t>(i)];
               f < frame_start[static_cast<std::size_t>(i) + 1]; ++f)
            for (int j = 0; j < hn[static_cast<std::size_t>(f)]; ++j) {
              cp.push_back(hp[static_cast<std::size_t>(f * cap + j)]);
              cm.push_back(hm[static_cast<std::size_t>(f * cap + j)]);
            }
          tuning[static_cast<std::size_t>(i)] = audio::spectral_detail::tuning_from_candidates(cp, cm, p.n_chroma);
        }
      }
      const std::size_t per = static_cast<std::size_t>(p.n_chroma) * nb;
      std::vector<float> fbs(per * static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) {
        const Matrix& fb = audio::spectral_detail::cached_chroma_filters(p, tuning[static_cast<std::size_t>(i)]);
        std::copy(fb.vec().begin(), fb.vec().end(), fbs.begin() + static_cast<std::ptrdiff_t>(per * i));
        out[first + static_cast<std::size_t>(i)].tuning = tuning[static_cast<std::size_t>(i)];
      }
      auto d_fb = ctx.to_scratch(fbs);
      auto chroma = ctx.scratch<float>(static_cast<std::size_t>(std::max<std::int64_t>(F, 1)) * p.n_chroma);
      kern::launch_chroma(power.data(), d_frame.data(), n, F, nb, d_fb.data(), p.n_chroma, chroma.data(), s);
      const auto hch = chroma.to_host(s);
      for (int i = 0; i < n; ++i) {
        const std::int64_t f0 = frame_start[static_cast<std::size_t>(i)],
                           f1 = frame_start[static_cast<std::size_t>(i) + 1];
        out[first + static_cast<std::size_t>(i)].chroma =
            transpose_rows(hch.data() + f0 * p.n_chroma, p.n_chroma, f1 - f0);
      }
    }
  }
  if (what.rms || what.zcr) {
    const std::size_t Sz = static_cast<std::size_t>(std::max<std::int64_t>(S, 1));
    auto rms = ctx.scratch<float>(Sz), zcr = ctx.scratch<float>(Sz);
    kern::launch_rms_zcr(d_audio.data(), d_clip.data(), d_series.data(), n, S, p.frame_length, p.hop_length,
                         p.center ? p.frame_length / 2 : 0, what.rms ? rms.data() : nullptr,
                         what.zcr ? zcr.data() : nullptr, s);
    const auto hr = what.rms ? rms.to_host(s) : std::vector<float>{};
    const auto hz = what.zcr ? zcr.to_host(s) : std::vector<float>{};
    for (int i = 0; i < n; ++i) {
      SpectralFrames& o = out[first + static_cast<std::size_t>(i)];
      const std::int64_t s0 = series_start[static_cast<std::size_t>(i)],
                         s1 = series_start[static_cast<std::size_t>(i) + 1];
      if (what.rms) o.rms.assign(hr.begin() + s0, hr.begin() + s1);
      if (what.zcr) o.zcr.assign(hz.begin() + s0, hz.begin() + s1);
    }
  }
  ctx.sync();  // the scratch buffers go back to the pool in stream order; the host copies are done
}

}  // namespace

std::vector<SpectralFrames> spectral_frames_cuda(hmr::Backend& b, const std::vector<std::span<const float>>& clips,
                                                 const SpectralParams& p, const SpectralWhat& what) {
  Context& ctx = context(b);
  const audio::spectral_detail::Consts c(p, what.contrast);
  std::vector<SpectralFrames> out(clips.size());
  std::size_t next = 0;
  while (next < clips.size()) {
    std::size_t last = next;
    std::int64_t samples = 0;
    while (last < clips.size() && last - next < kBatchClips &&
           (last == next || samples + static_cast<std::int64_t>(clips[last].size()) <= kBatchSamples)) {
      samples += static_cast<std::int64_t>(clips[last].size());
      ++last;
    }
    run_batch(ctx, c, what, clips, next, last, out);
    next = last;
  }
  return out;
}

}  // namespace hmr::HMR_CUDA_NS
