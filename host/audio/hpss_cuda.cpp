// audio/hpss_cuda.cpp — the cuda backend of HPSS (host side).
//
// Clips go in batches of up to kBatchSamples samples (a longer clip alone), back to back on the
// device with clip_start / frame_start tables (kernels/audio/hpss.cuh). Per batch, on the
// Context's stream: framing + window (the MFCC stage's frame_window kernel) and cuFFT R2C in
// chunks of rows, magnitudes, both medians, both masked spectra, cuFFT C2R of each in chunks, and
// the overlap-add with librosa's window sum-square normalisation; the two signals are copied back.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "audio/hpss.cuh"
#include "audio/hpss.h"
#include "audio/hpss_cuda.h"
#include "audio/mfcc.cuh"
#include "core/error.h"
#include "core/nvtx.h"
#include "cuda/context.h"
#include "cuda/fft.h"

namespace hmr::HMR_CUDA_NS {

namespace {

constexpr std::int64_t kBatchSamples = std::int64_t{1} << 22;  // ~3 min of audio at 22050 Hz
constexpr int kChunk = 1024;                                   // frames per cuFFT batch

std::int64_t frames_of(std::int64_t samples, const audio::HpssParams& p) { return 1 + samples / p.hop_length; }

}  // namespace

std::vector<audio::HpssSignals> hpss_cuda(hmr::Backend& b, const std::vector<std::span<const float>>& clips,
                                          const audio::HpssParams& p) {
  NvtxRange range("audio/hpss_cuda");
  HMR_REQUIRE(p.kernel_size <= kern::kMaxMedianKernel, "hpss: the cuda backend takes kernel_size up to {} (got {})",
              kern::kMaxMedianKernel, p.kernel_size);
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const int n_fft = p.n_fft, nb = n_fft / 2 + 1, hop = p.hop_length;
  std::vector<float> window(static_cast<std::size_t>(n_fft));
  std::vector<double> window_d(window.size());
  for (int j = 0; j < n_fft; ++j) {
    window_d[static_cast<std::size_t>(j)] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * j / n_fft);
    window[static_cast<std::size_t>(j)] = static_cast<float>(window_d[static_cast<std::size_t>(j)]);
  }
  const DeviceBuffer<float> d_window = to_device(window, s);
  const DeviceBuffer<double> d_window_d = to_device(window_d, s);
  FftR2C& r2c = ctx.fft_r2c(n_fft, kChunk, n_fft, nb);
  FftC2R c2r(s, n_fft, kChunk, nb, n_fft);
  std::vector<audio::HpssSignals> out(clips.size());
  std::size_t next = 0;
  while (next < clips.size()) {
    // The batch [first, next): at least one clip, up to kBatchSamples samples.
    const std::size_t first = next;
    std::vector<std::int64_t> cs{0}, fs{0};
    std::vector<float> host;
    while (next < clips.size() &&
           (next == first || cs.back() + static_cast<std::int64_t>(clips[next].size()) <= kBatchSamples)) {
      host.insert(host.end(), clips[next].begin(), clips[next].end());
      cs.push_back(cs.back() + static_cast<std::int64_t>(clips[next].size()));
      fs.push_back(fs.back() + frames_of(static_cast<std::int64_t>(clips[next].size()), p));
      ++next;
    }
    const int n = static_cast<int>(next - first);
    const std::int64_t F = fs.back(), S = cs.back();
    const std::int64_t Fp = (F + kChunk - 1) / kChunk * kChunk;  // cuFFT's fixed batches
    auto audio = ctx.to_scratch(host);
    auto d_cs = ctx.to_scratch(cs);
    auto d_fs = ctx.to_scratch(fs);
    auto frames = ctx.scratch<float>(static_cast<std::size_t>(kChunk) * n_fft);
    auto spec = ctx.scratch<float2>(static_cast<std::size_t>(Fp) * nb);
    for (std::int64_t f0 = 0; f0 < F; f0 += kChunk) {
      kern::launch_frame_window(audio.data(), d_cs.data(), d_fs.data(), n, f0, F, kChunk, d_window.data(), n_fft, hop,
                                n_fft / 2, frames.data(), s);
      r2c.exec(frames.data(), spec.data() + f0 * nb);
    }
    auto mag = ctx.scratch<float>(static_cast<std::size_t>(F) * nb);
    auto harm = ctx.scratch<float>(static_cast<std::size_t>(F) * nb);
    auto perc = ctx.scratch<float>(static_cast<std::size_t>(F) * nb);
    kern::launch_hpss_magnitude(spec.data(), nb, F, nb, mag.data(), s);
    kern::launch_median_bins(mag.data(), F, nb, p.kernel_size, perc.data(), s);
    kern::launch_median_frames(mag.data(), d_fs.data(), n, F, nb, p.kernel_size, harm.data(), s);
    auto spec_h = ctx.scratch<float2>(static_cast<std::size_t>(Fp) * nb);
    auto spec_p = ctx.scratch<float2>(static_cast<std::size_t>(Fp) * nb);
    HMR_CUDA_CHECK(cudaMemsetAsync(spec_h.data(), 0, sizeof(float2) * static_cast<std::size_t>(Fp) * nb, s));
    HMR_CUDA_CHECK(cudaMemsetAsync(spec_p.data(), 0, sizeof(float2) * static_cast<std::size_t>(Fp) * nb, s));
    kern::launch_hpss_mask(spec.data(), nb, F, nb, harm.data(), perc.data(), static_cast<float>(p.power),
                           static_cast<float>(p.margin), p.margin == 1.0 ? 1 : 0, spec_h.data(), spec_p.data(), s);
    auto inv = ctx.scratch<float>(static_cast<std::size_t>(Fp) * n_fft);
    auto sig_h = ctx.scratch<float>(static_cast<std::size_t>(S));
    auto sig_p = ctx.scratch<float>(static_cast<std::size_t>(S));
    for (int which = 0; which < 2; ++which) {
      float2* X = which == 0 ? spec_h.data() : spec_p.data();
      for (std::int64_t f0 = 0; f0 < F; f0 += kChunk) c2r.exec(X + f0 * nb, inv.data() + f0 * n_fft);
      kern::launch_overlap_add(inv.data(), d_cs.data(), d_fs.data(), n, S, d_window_d.data(), n_fft, hop,
                               which == 0 ? sig_h.data() : sig_p.data(), s);
    }
    std::vector<float> h(static_cast<std::size_t>(S)), pc(static_cast<std::size_t>(S));
    sig_h.download(h.data(), h.size(), s);
    sig_p.download(pc.data(), pc.size(), s);
    ctx.sync();
    for (int c = 0; c < n; ++c) {
      auto& o = out[first + static_cast<std::size_t>(c)];
      o.harmonic.assign(h.begin() + cs[static_cast<std::size_t>(c)], h.begin() + cs[static_cast<std::size_t>(c) + 1]);
      o.percussive.assign(pc.begin() + cs[static_cast<std::size_t>(c)],
                          pc.begin() + cs[static_cast<std::size_t>(c) + 1]);
    }
  }
  return out;
}

}  // namespace hmr::HMR_CUDA_NS
