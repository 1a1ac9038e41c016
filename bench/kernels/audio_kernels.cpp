// bench/kernels/audio_kernels.cpp — the MFCC tail kernels (kernels/audio/mfcc.cuh): per-clip peak,
// the floored DCT-II of the log-mel rows and the per-clip mean/variance summary, beside CPU loops
// that follow the launchers' contracts (double accumulation for the summary, as
// audio::summarize_frames). n clips of 1292 frames (30 s at 22050 Hz, hop 512), 128 mels, 20 MFCCs;
// the log-mel values are synthetic so that the top_db floor bites in some frames.
#include <algorithm>
#include <cmath>

#include "audio/mfcc.cuh"
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
// -------------------------------------------------------------------------------------------------

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

}  // namespace
