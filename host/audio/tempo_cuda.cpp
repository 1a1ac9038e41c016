// audio/tempo_cuda.cpp — the cuda backend of onset strength and tempo (host side).
//
// Clips go in batches of up to kBatchSamples samples (a longer clip alone), back to back on the
// device (kernels/audio/mfcc.cuh layout). Per batch, on the Context's stream: the MFCC stage's
// framing, cuFFT R2C and fused power + mel + dB kernels (librosa's melspectrogram defaults are
// the MFCC defaults) in chunks of rows, the per-clip peak, then the onset flux; for the tempo the
// tempogram of every frame and its mean per clip. The prior and the argmax over 344 lags run on
// the host (tempo_from_tempogram), as does the all-zero check of beat_track.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "audio/mfcc.cuh"
#include "audio/mfcc.h"
#include "audio/tempo.cuh"
#include "audio/tempo.h"
#include "audio/tempo_cuda.h"
#include "core/error.h"
#include "core/nvtx.h"
#include "cuda/context.h"
#include "cuda/fft.h"

namespace hmr::HMR_CUDA_NS {

namespace {

constexpr std::int64_t kBatchSamples = std::int64_t{1} << 23;
constexpr int kChunk = 1024;

struct Batch {
  std::size_t first = 0;
  int n = 0;
  std::vector<std::int64_t> frame_start;  // [n + 1]
  std::vector<float> onset;               // [F]
  std::vector<double> tg_mean;            // [n][win] when asked
};

// Runs the batches; `done` gets each finished batch.
template <class Done>
void run_batches(hmr::Backend& b, const std::vector<std::span<const float>>& clips, const audio::TempoParams& tp,
                 audio::OnsetAggregate agg, bool tempogram, Done&& done) {
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  audio::MfccParams p;
  p.sample_rate = tp.sample_rate;
  p.hop_length = tp.hop_length;
  const int nb = audio::n_bins(p), n_fft = p.n_fft, nm = p.n_mels;
  const audio::MelFilters mel = audio::mel_filters(p);
  const DeviceBuffer<float> window = to_device(audio::stft_window(p), s);
  const DeviceBuffer<int> mel_start = to_device(mel.start, s), mel_count = to_device(mel.count, s),
                          mel_offset = to_device(mel.offset, s);
  std::vector<float> w = mel.weights;
  if (w.empty()) w.push_back(0.0f);
  const DeviceBuffer<float> mel_w = to_device(w, s);
  const int win = audio::tempo_win_length(tp);
  HMR_REQUIRE(!tempogram || win <= kern::kMaxTempoWindow, "tempo: the cuda backend takes up to {} lags (got {})",
              kern::kMaxTempoWindow, win);
  std::vector<double> hann(static_cast<std::size_t>(win));
  for (int j = 0; j < win; ++j)
    hann[static_cast<std::size_t>(j)] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * j / win);
  const DeviceBuffer<double> d_hann = to_device(hann, s);
  FftR2C& fft = ctx.fft_r2c(n_fft, kChunk, n_fft, nb);
  std::size_t next = 0;
  while (next < clips.size()) {
    Batch out;
    out.first = next;
    std::vector<std::int64_t> cs{0};
    out.frame_start = {0};
    std::vector<float> host;
    while (next < clips.size() &&
           (next == out.first || cs.back() + static_cast<std::int64_t>(clips[next].size()) <= kBatchSamples)) {
      host.insert(host.end(), clips[next].begin(), clips[next].end());
      cs.push_back(cs.back() + static_cast<std::int64_t>(clips[next].size()));
      out.frame_start.push_back(out.frame_start.back() +
                                audio::frame_count(static_cast<std::int64_t>(clips[next].size()), p));
      ++next;
    }
    out.n = static_cast<int>(next - out.first);
    const std::int64_t F = out.frame_start.back();
    auto audio_d = ctx.to_scratch(host);
    auto d_cs = ctx.to_scratch(cs);
    auto d_fs = ctx.to_scratch(out.frame_start);
    auto frames = ctx.scratch<float>(static_cast<std::size_t>(kChunk) * n_fft);
    auto spec = ctx.scratch<float2>(static_cast<std::size_t>(kChunk) * nb);
    auto logmel = ctx.scratch<float>(static_cast<std::size_t>(F) * nm);
    auto row_max = ctx.scratch<float>(static_cast<std::size_t>(F));
    auto peak = ctx.scratch<float>(static_cast<std::size_t>(out.n));
    for (std::int64_t f0 = 0; f0 < F; f0 += kChunk) {
      const int valid = static_cast<int>(std::min<std::int64_t>(kChunk, F - f0));
      kern::launch_frame_window(audio_d.data(), d_cs.data(), d_fs.data(), out.n, f0, F, kChunk, window.data(), n_fft,
                                p.hop_length, n_fft / 2, frames.data(), s);
      fft.exec(frames.data(), spec.data());
      kern::launch_power_mel_log(spec.data(), nb, valid, nb, p.power, mel_start.data(), mel_count.data(),
                                 mel_offset.data(), mel_w.data(), nm, static_cast<float>(p.amin), 0.0f,
                                 logmel.data() + f0 * nm, row_max.data() + f0, nullptr, s);
    }
    kern::launch_clip_peak(row_max.data(), d_fs.data(), out.n, peak.data(), s);
    auto onset = ctx.scratch<float>(static_cast<std::size_t>(F));
    const int lag = 1, shift = lag + n_fft / (2 * p.hop_length);
    kern::launch_onset_flux(logmel.data(), d_fs.data(), out.n, F, nm, peak.data(), static_cast<float>(p.top_db), lag,
                            shift, agg == audio::OnsetAggregate::median ? 1 : 0, onset.data(), s);
    out.onset.resize(static_cast<std::size_t>(F));
    onset.download(out.onset.data(), out.onset.size(), s);
    if (tempogram) {
      auto tg = ctx.scratch<double>(static_cast<std::size_t>(F) * win);
      auto mean = ctx.scratch<double>(static_cast<std::size_t>(out.n) * win);
      kern::launch_tempogram(onset.data(), d_fs.data(), out.n, F, d_hann.data(), win, tg.data(), s);
      kern::launch_tempogram_mean(tg.data(), d_fs.data(), out.n, win, mean.data(), s);
      out.tg_mean.resize(static_cast<std::size_t>(out.n) * win);
      mean.download(out.tg_mean.data(), out.tg_mean.size(), s);
      ctx.sync();
    } else {
      ctx.sync();
    }
    done(out);
  }
}

}  // namespace

std::vector<std::vector<float>> onset_strength_cuda(hmr::Backend& b, const std::vector<std::span<const float>>& clips,
                                                    const audio::TempoParams& p, audio::OnsetAggregate aggregate) {
  NvtxRange range("audio/onset_strength_cuda");
  std::vector<std::vector<float>> out(clips.size());
  run_batches(b, clips, p, aggregate, false, [&](const Batch& bt) {
    for (int c = 0; c < bt.n; ++c)
      out[bt.first + static_cast<std::size_t>(c)].assign(
          bt.onset.begin() + bt.frame_start[static_cast<std::size_t>(c)],
          bt.onset.begin() + bt.frame_start[static_cast<std::size_t>(c) + 1]);
  });
  return out;
}

std::vector<double> beat_tempo_cuda(hmr::Backend& b, const std::vector<std::span<const float>>& clips,
                                    const audio::TempoParams& p) {
  NvtxRange range("audio/beat_tempo_cuda");
  std::vector<double> out(clips.size());
  const auto win = static_cast<std::size_t>(audio::tempo_win_length(p));
  run_batches(b, clips, p, audio::OnsetAggregate::median, true, [&](const Batch& bt) {
    for (int c = 0; c < bt.n; ++c) {
      const auto f0 = bt.onset.begin() + bt.frame_start[static_cast<std::size_t>(c)];
      const auto f1 = bt.onset.begin() + bt.frame_start[static_cast<std::size_t>(c) + 1];
      const bool any = std::any_of(f0, f1, [](float v) { return v != 0.0f; });
      out[bt.first + static_cast<std::size_t>(c)] =
          any ? audio::tempo_from_tempogram(std::span<const double>(bt.tg_mean.data() + c * win, win), p) : 0.0;
    }
  });
  return out;
}

}  // namespace hmr::HMR_CUDA_NS
