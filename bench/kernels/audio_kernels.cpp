// bench/kernels/audio_kernels.cpp — the MFCC kernels (kernels/audio/mfcc.cuh) beside CPU loops that
// follow the launchers' contracts. The head: framing + periodic Hann window of clips of 1 s at
// 22050 Hz, centred with zero padding (n_fft 2048, hop 512, the window from audio::stft_window), one
// batch with zero-filled rows past the last frame; then power spectrum -> sparse Slaney mel filters
// (audio::mel_filters, 128 mels) -> dB per frame with its row maximum, on synthetic spectra. The
// tail: per-clip peak, the floored DCT-II of the log-mel rows and the per-clip mean/variance summary
// (double accumulation, as audio::summarize_frames), on n clips of 1292 frames (30 s, hop 512),
// 128 mels, 20 MFCCs; the log-mel values are synthetic so that the top_db floor bites in some frames.
#include <algorithm>
#include <cmath>

#include "audio/mfcc.cuh"
#include "audio/mfcc.h"
#include "harness.h"

namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;

// ---- adapter: the only lines that name launchers ------------------------------------------------
void peak_dct_summary(const Buf<float>& logmel, const Buf<float>& row_max, const Buf<std::int64_t>& frame_start,
                      int clips, std::int64_t frames, float top_db, const Buf<float>& dct, int n_mfcc, int n_mels,
                      Buf<float>& peak, Buf<float>& mfcc, Buf<float>& summary) {
  kern::launch_clip_peak(row_max.get(), frame_start.get(), clips, peak.get(), nullptr);
  kern::launch_dct(logmel.get(), frame_start.get(), clips, frames, peak.get(), top_db, dct.get(), n_mfcc, n_mels,
                   mfcc.get(), nullptr);
  kern::launch_summary(mfcc.get(), frame_start.get(), clips, n_mfcc, summary.get(), nullptr);
}
void frame_window(const Buf<float>& audio, const Buf<std::int64_t>& clip_start, const Buf<std::int64_t>& frame_start,
                  int clips, std::int64_t frames, int rows, const Buf<float>& window, const hmr::audio::MfccParams& p,
                  Buf<float>& out) {
  kern::launch_frame_window(audio.get(), clip_start.get(), frame_start.get(), clips, 0, frames, rows, window.get(),
                            p.n_fft, p.hop_length, p.n_fft / 2, out.get(), nullptr);
}
struct MelBuf {
  explicit MelBuf(const hmr::audio::MelFilters& m) : start(m.start), count(m.count), offset(m.offset), w(m.weights) {}
  Buf<int> start, count, offset;
  Buf<float> w;
};
void power_mel_log(const Buf<float2>& spec, int rows, int n_bins, float power, const MelBuf& mel, int n_mels,
                   float amin, float log_ref, Buf<float>& logmel, Buf<float>& row_max, Buf<float>& mel_power) {
  kern::launch_power_mel_log(spec.get(), n_bins, rows, n_bins, power, mel.start.get(), mel.count.get(),
                             mel.offset.get(), mel.w.get(), n_mels, amin, log_ref, logmel.get(), row_max.get(),
                             mel_power.get(), nullptr);
}
// -------------------------------------------------------------------------------------------------

void bench_frame_window(const Problem& p, Report& r) {
  const hmr::audio::MfccParams mp;
  const int clips = static_cast<int>(p.n), n_fft = mp.n_fft, hop = mp.hop_length, pad = n_fft / 2;
  std::vector<std::int64_t> cs{0}, fs{0};
  for (int c = 0; c < clips; ++c) {  // 1 s, a little shorter for some clips so the last frame varies
    const std::int64_t len = mp.sample_rate - 700 * (c % 3);
    cs.push_back(cs.back() + len);
    fs.push_back(fs.back() + hmr::audio::frame_count(len, mp));
  }
  const std::int64_t frames = fs.back();
  const int rows = static_cast<int>(frames) + 3;  // cuFFT's fixed batch: rows past the end are zero
  const auto audio = uniform(static_cast<std::size_t>(cs.back()), 83);
  const std::vector<float> window = hmr::audio::stft_window(mp);
  r.shape(std::to_string(clips) + " clips, " + std::to_string(frames) + " frames x " + std::to_string(n_fft));
  std::vector<float> want(static_cast<std::size_t>(rows) * n_fft);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    std::fill(want.begin(), want.end(), 0.0f);
    for (int c = 0; c < clips; ++c) {
      const std::int64_t len = cs[c + 1] - cs[c];
      for (std::int64_t g = fs[c]; g < fs[c + 1]; ++g)
        for (int j = 0; j < n_fft; ++j) {
          const std::int64_t at = (g - fs[c]) * hop - pad + j;
          if (at >= 0 && at < len) want[g * n_fft + j] = audio[cs[c] + at] * window[j];
        }
    }
  }));
  Buf<float> ad(audio), wd(window), out(want.size());
  Buf<std::int64_t> csd(cs), fsd(fs);
  out.fill_bytes(0x7f);  // the zero rows must be written, not left from an earlier buffer
  r.device_ms(time_device(p.repeat, [&] { frame_window(ad, csd, fsd, clips, frames, rows, wd, mp, out); }));
  r.check("windowed frames", out.host(), want, 0, 0);
}

void bench_power_mel_log(const Problem& p, Report& r) {
  const hmr::audio::MfccParams mp;
  const hmr::audio::MelFilters mel = hmr::audio::mel_filters(mp);
  const int rows = static_cast<int>(p.n), nb = hmr::audio::n_bins(mp), n_mels = mel.n_mels;
  const auto amin = static_cast<float>(mp.amin);
  constexpr float log_ref = 0.0f;  // ref 1.0
  const auto re = uniform(static_cast<std::size_t>(rows) * nb, 84, -20.0f, 20.0f),
             im = uniform(static_cast<std::size_t>(rows) * nb, 85, -20.0f, 20.0f);
  std::vector<float2> spec(re.size());
  for (std::size_t i = 0; i < spec.size(); ++i) spec[i] = float2{re[i], im[i]};
  for (int q = 0; q < rows; q += 7)  // silent frames: the amin floor
    std::fill_n(spec.begin() + static_cast<std::ptrdiff_t>(q) * nb, nb, float2{0.0f, 0.0f});
  r.shape(std::to_string(rows) + " frames x " + std::to_string(nb) + " bins -> " + std::to_string(n_mels) + " mels");
  std::vector<float> logmel(static_cast<std::size_t>(rows) * n_mels), row_max(rows), mel_power(logmel.size()),
      pw(static_cast<std::size_t>(nb));
  r.cpu_ms(time_cpu(p.repeat, [&] {
    for (int q = 0; q < rows; ++q) {
      for (int k = 0; k < nb; ++k) {
        const float2 x = spec[static_cast<std::size_t>(q) * nb + k];
        pw[k] = x.x * x.x + x.y * x.y;  // power 2
      }
      float mx = -INFINITY;
      for (int m = 0; m < n_mels; ++m) {
        float acc = 0.0f;
        for (int j = 0; j < mel.count[m]; ++j) acc += mel.weights[mel.offset[m] + j] * pw[mel.start[m] + j];
        mel_power[q * n_mels + m] = acc;
        logmel[q * n_mels + m] = 10.0f * std::log10(std::max(amin, acc)) - log_ref;
        mx = std::max(mx, logmel[q * n_mels + m]);
      }
      row_max[q] = mx;
    }
  }));
  Buf<float2> sd(spec);
  const MelBuf md(mel);
  Buf<float> lm(logmel.size()), rm(row_max.size()), mpw(mel_power.size());
  r.device_ms(
      time_device(p.repeat, [&] { power_mel_log(sd, rows, nb, mp.power, md, n_mels, amin, log_ref, lm, rm, mpw); }));
  r.check("mel power", mpw.host(), mel_power, 1e-6, 1e-5);
  r.check("log-mel dB", lm.host(), logmel, 1e-4, 1e-6);
  r.check("row maxima", rm.host(), row_max, 1e-4, 1e-6);
}

constexpr int kFrames = 1292, kMels = 128, kMfcc = 20;
constexpr float kTopDb = 80.0f;

void bench_mfcc_tail(const Problem& p, Report& r) {
  const int clips = static_cast<int>(p.n);
  std::vector<std::int64_t> fs(static_cast<std::size_t>(clips) + 1);
  for (int c = 0; c <= clips; ++c) fs[static_cast<std::size_t>(c)] = static_cast<std::int64_t>(c) * kFrames - c % 2;
  fs[0] = 0;
  const std::int64_t frames = fs.back();
  auto logmel = uniform(static_cast<std::size_t>(frames) * kMels, 81, -60.0f, 40.0f);
  for (int c = 0; c < clips; ++c)  // each clip its own loudness
    for (std::int64_t f = fs[c]; f < fs[c + 1]; ++f)
      for (int m = 0; m < kMels; ++m) logmel[f * kMels + m] += 5.0f * static_cast<float>(c % 7);
  std::vector<float> row_max(static_cast<std::size_t>(frames));
  for (std::int64_t f = 0; f < frames; ++f)
    row_max[f] = *std::max_element(logmel.begin() + f * kMels, logmel.begin() + (f + 1) * kMels);
  const auto dct = uniform(static_cast<std::size_t>(kMfcc) * kMels, 82, -0.125f, 0.125f);
  r.shape(std::to_string(clips) + " clips, " + std::to_string(frames) + " frames");
  std::vector<float> peak(clips), mfcc(static_cast<std::size_t>(frames) * kMfcc), summary(clips * 2 * kMfcc);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    for (int c = 0; c < clips; ++c) {
      peak[c] = *std::max_element(row_max.begin() + fs[c], row_max.begin() + fs[c + 1]);
      const float floor = peak[c] - kTopDb;
      for (std::int64_t f = fs[c]; f < fs[c + 1]; ++f)
        for (int k = 0; k < kMfcc; ++k) {
          float acc = 0.0f;
          for (int m = 0; m < kMels; ++m) acc += dct[k * kMels + m] * std::max(logmel[f * kMels + m], floor);
          mfcc[f * kMfcc + k] = acc;
        }
      const double nf = static_cast<double>(fs[c + 1] - fs[c]);
      for (int k = 0; k < kMfcc; ++k) {
        double s = 0, s2 = 0;
        for (std::int64_t f = fs[c]; f < fs[c + 1]; ++f) s += mfcc[f * kMfcc + k];
        const double mean = s / nf;
        for (std::int64_t f = fs[c]; f < fs[c + 1]; ++f)
          s2 += (mfcc[f * kMfcc + k] - mean) * (mfcc[f * kMfcc + k] - mean);
        summary[c * 2 * kMfcc + 2 * k] = static_cast<float>(mean);
        summary[c * 2 * kMfcc + 2 * k + 1] = static_cast<float>(s2 / nf);
      }
    }
  }));
  Buf<float> lm(logmel), rm(row_max), dd(dct), dpeak(peak.size()), dmfcc(mfcc.size()), dsum(summary.size());
  Buf<std::int64_t> dfs(fs);
  r.device_ms(time_device(
      p.repeat, [&] { peak_dct_summary(lm, rm, dfs, clips, frames, kTopDb, dd, kMfcc, kMels, dpeak, dmfcc, dsum); }));
  r.check("clip peaks", dpeak.host(), peak, 0, 0);
  // the kernel's sum order over mels differs from the loop's: float rounding of 128 terms
  r.check("mfcc", dmfcc.host(), mfcc, 1e-4, 1e-5);
  r.check("summary", dsum.host(), summary, 1e-4, 1e-4);
}

HMR_KERNEL_BENCH({"mfcc_peak_dct_summary", "launch_clip_peak, launch_dct, launch_summary",
                  "clips (x 1292 frames, 128 mels, 20 MFCCs)", 8, 1000, &bench_mfcc_tail});

HMR_KERNEL_BENCH({"mfcc_frame_window", "launch_frame_window", "clips (1 s at 22050 Hz, n_fft 2048, hop 512)", 4, 2000,
                  &bench_frame_window});
HMR_KERNEL_BENCH({"mfcc_power_mel_log", "launch_power_mel_log", "frames (x 1025 bins, 128 mels)", 64, 200000,
                  &bench_power_mel_log});

}  // namespace
