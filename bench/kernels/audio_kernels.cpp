// bench/kernels/audio_kernels.cpp — the MFCC kernels (kernels/audio/mfcc.cuh) beside CPU loops that
// follow the launchers' contracts. The head: framing + periodic Hann window of clips of 1 s at
// 22050 Hz, centred with zero padding (n_fft 2048, hop 512, the window from audio::stft_window), one
// batch with zero-filled rows past the last frame; then power spectrum -> sparse Slaney mel filters
// (audio::mel_filters, 128 mels) -> dB per frame with its row maximum, on synthetic spectra. The
// tail: per-clip peak, the floored DCT-II of the log-mel rows and the per-clip mean/variance summary
// (double accumulation, as audio::summarize_frames), on n clips of 1292 frames (30 s, hop 512),
// 128 mels, 20 MFCCs; the log-mel values are synthetic so that the top_db floor bites in some frames.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numbers>

#include "audio/hpss.cuh"
#include "audio/hpss.h"
#include "audio/mfcc.cuh"
#include "audio/mfcc.h"
#include "audio/tempo.cuh"
#include "audio/tempo.h"
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

// ---- HPSS and tempo (kernels/audio/hpss.cuh, tempo.cuh) -----------------------------------------
// The HPSS kernels on the spectrogram of frames x 1025 bins (n_fft 2048) with the librosa kernel
// of 31: magnitude + both medians against audio::median_filter_cpu (bitwise), the masks against
// audio::softmask with magphase, the overlap-add against the sequential float32 loop of hpss.cpp;
// the onset flux (128 mels, mean and median) against audio::onset_from_mel_cpu and the tempogram
// (344 lags, 8 s at hop 512) with its per-clip mean against audio::mean_tempogram_cpu.
namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;
namespace ha = hmr::audio;

// ---- adapter: the only lines of this section that name launchers --------------------------------
void hpss_mag_medians(const Buf<float2>& spec, std::int64_t rows, int nb, int k, const Buf<std::int64_t>& fs,
                      Buf<float>& mag, Buf<float>& harm, Buf<float>& perc) {
  kern::launch_hpss_magnitude(spec.get(), nb, rows, nb, mag.get(), nullptr);
  kern::launch_median_bins(mag.get(), rows, nb, k, perc.get(), nullptr);
  kern::launch_median_frames(mag.get(), fs.get(), 1, rows, nb, k, harm.get(), nullptr);
}
void hpss_mask(const Buf<float2>& spec, std::int64_t rows, int nb, const Buf<float>& harm, const Buf<float>& perc,
               Buf<float2>& out_h, Buf<float2>& out_p) {
  kern::launch_hpss_mask(spec.get(), nb, rows, nb, harm.get(), perc.get(), 2.0f, 1.0f, 1, out_h.get(), out_p.get(),
                         nullptr);
}
void overlap_add(const Buf<float>& frames, const Buf<std::int64_t>& cs, const Buf<std::int64_t>& fs, int clips,
                 std::int64_t samples, const Buf<double>& window, int n_fft, int hop, Buf<float>& out) {
  kern::launch_overlap_add(frames.get(), cs.get(), fs.get(), clips, samples, window.get(), n_fft, hop, out.get(),
                           nullptr);
}
void onset_flux(const Buf<float>& logmel, const Buf<std::int64_t>& fs, std::int64_t rows, int n_mels,
                const Buf<float>& peak, int median, Buf<float>& onset) {
  kern::launch_onset_flux(logmel.get(), fs.get(), 1, rows, n_mels, peak.get(), 80.0f, 1, 3, median, onset.get(),
                          nullptr);
}
void tempogram_mean(const Buf<float>& onset, const Buf<std::int64_t>& fs, std::int64_t rows, const Buf<double>& hann,
                    int win, Buf<double>& tg, Buf<double>& mean) {
  kern::launch_tempogram(onset.get(), fs.get(), 1, rows, hann.get(), win, tg.get(), nullptr);
  kern::launch_tempogram_mean(tg.get(), fs.get(), 1, win, mean.get(), nullptr);
}
// -------------------------------------------------------------------------------------------------

constexpr int kBins = 1025, kKernel = 31;

std::vector<float2> random_spec(std::int64_t rows, std::uint64_t seed) {
  const auto re = uniform(static_cast<std::size_t>(rows) * kBins, seed, -20.0f, 20.0f),
             im = uniform(static_cast<std::size_t>(rows) * kBins, seed + 1, -20.0f, 20.0f);
  std::vector<float2> spec(re.size());
  for (std::size_t i = 0; i < spec.size(); ++i) spec[i] = float2{re[i], im[i]};
  for (std::size_t i = 0; i < spec.size(); i += 13) spec[i] = float2{0.0f, 0.0f};  // zero bins
  return spec;
}

void bench_hpss_medians(const Problem& p, Report& r) {
  const std::int64_t rows = p.n;
  const auto spec = random_spec(rows, 91);
  r.shape(std::to_string(rows) + " frames x " + std::to_string(kBins) + " bins, kernel " + std::to_string(kKernel));
  hmr::Matrix mag(kBins, rows), harm, perc;
  std::vector<float> mag_f, harm_f, perc_f;
  r.cpu_ms(time_cpu(p.repeat, [&] {
    for (std::int64_t f = 0; f < rows; ++f)
      for (int q = 0; q < kBins; ++q) {
        const float2 x = spec[static_cast<std::size_t>(f * kBins + q)];
        mag(q, f) = std::hypot(x.x, x.y);
      }
    harm = ha::median_filter_cpu(mag, kKernel, 1);
    perc = ha::median_filter_cpu(mag, kKernel, 0);
  }));
  for (std::int64_t f = 0; f < rows; ++f)
    for (int q = 0; q < kBins; ++q)
      mag_f.push_back(mag(q, f)), harm_f.push_back(harm(q, f)), perc_f.push_back(perc(q, f));
  Buf<float2> sd(spec);
  Buf<std::int64_t> fs(std::vector<std::int64_t>{0, rows});
  Buf<float> m(mag_f.size()), h(mag_f.size()), pc(mag_f.size());
  r.device_ms(time_device(p.repeat, [&] { hpss_mag_medians(sd, rows, kBins, kKernel, fs, m, h, pc); }));
  r.check("magnitude", m.host(), mag_f, 0, 0);
  r.check("harmonic median", h.host(), harm_f, 0, 0);
  r.check("percussive median", pc.host(), perc_f, 0, 0);
}

void bench_hpss_mask(const Problem& p, Report& r) {
  const std::int64_t rows = p.n;
  const auto spec = random_spec(rows, 93);
  const auto h = uniform(static_cast<std::size_t>(rows) * kBins, 95, 0.0f, 10.0f),
             pc = uniform(static_cast<std::size_t>(rows) * kBins, 96, 0.0f, 10.0f);
  r.shape(std::to_string(rows) + " frames x " + std::to_string(kBins) + " bins");
  std::vector<float> want_h(spec.size() * 2), want_p(spec.size() * 2);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    for (std::size_t i = 0; i < spec.size(); ++i) {
      const float m = std::hypot(spec[i].x, spec[i].y);
      const float re = m == 0.0f ? 1.0f : spec[i].x / m, im = m == 0.0f ? 0.0f : spec[i].y / m;
      const float ah = m * ha::softmask(h[i], pc[i], 2.0, true), ap = m * ha::softmask(pc[i], h[i], 2.0, true);
      want_h[2 * i] = ah * re, want_h[2 * i + 1] = ah * im;
      want_p[2 * i] = ap * re, want_p[2 * i + 1] = ap * im;
    }
  }));
  Buf<float2> sd(spec), oh(spec.size()), op(spec.size());
  Buf<float> hd(h), pd(pc);
  r.device_ms(time_device(p.repeat, [&] { hpss_mask(sd, rows, kBins, hd, pd, oh, op); }));
  const auto flat = [](const std::vector<float2>& v) {
    std::vector<float> f;
    for (const float2 z : v) f.push_back(z.x), f.push_back(z.y);
    return f;
  };
  r.check("harmonic spectrum", flat(oh.host()), want_h, 1e-6, 1e-6);
  r.check("percussive spectrum", flat(op.host()), want_p, 1e-6, 1e-6);
}

void bench_overlap_add(const Problem& p, Report& r) {
  const int clips = static_cast<int>(p.n), n_fft = 2048, hop = 512;
  std::vector<std::int64_t> cs{0}, fs{0};
  for (int c = 0; c < clips; ++c) {
    const std::int64_t len = 22050 - 333 * (c % 3);
    cs.push_back(cs.back() + len);
    fs.push_back(fs.back() + 1 + len / hop);
  }
  const auto frames = uniform(static_cast<std::size_t>(fs.back()) * n_fft, 97, -1000.0f, 1000.0f);
  std::vector<double> w(n_fft);
  for (int j = 0; j < n_fft; ++j) w[j] = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * j / n_fft);
  r.shape(std::to_string(clips) + " clips of 1 s, " + std::to_string(fs.back()) + " frames x " + std::to_string(n_fft));
  std::vector<float> want;
  r.cpu_ms(time_cpu(p.repeat, [&] {
    want.clear();
    for (int c = 0; c < clips; ++c) {
      const std::int64_t T = fs[c + 1] - fs[c];
      std::vector<float> acc(static_cast<std::size_t>(T * hop + n_fft)), wss(acc.size());
      for (std::int64_t t = 0; t < T; ++t)
        for (int j = 0; j < n_fft; ++j) {
          const auto i = static_cast<std::size_t>(t * hop + j);
          const float v = frames[static_cast<std::size_t>((fs[c] + t) * n_fft + j)] * (1.0f / n_fft);
          acc[i] = static_cast<float>(static_cast<double>(acc[i]) + w[j] * static_cast<double>(v));
          wss[i] = static_cast<float>(static_cast<double>(wss[i]) + w[j] * w[j]);
        }
      for (std::int64_t i = 0; i < cs[c + 1] - cs[c]; ++i) {
        const auto a = static_cast<std::size_t>(i + n_fft / 2);
        want.push_back(wss[a] > FLT_MIN ? acc[a] / wss[a] : acc[a]);
      }
    }
  }));
  Buf<float> fd(frames), out(static_cast<std::size_t>(cs.back()));
  Buf<std::int64_t> csd(cs), fsd(fs);
  Buf<double> wd(w);
  r.device_ms(time_device(p.repeat, [&] { overlap_add(fd, csd, fsd, clips, cs.back(), wd, n_fft, hop, out); }));
  r.check("signal", out.host(), want, 0, 0);
}

void bench_onset_flux(const Problem& p, Report& r) {
  const std::int64_t rows = p.n;
  const int nm = 128;
  const auto u = uniform(static_cast<std::size_t>(rows) * nm, 98, -6.0f, 6.0f);
  hmr::Matrix mel(nm, rows);
  std::vector<float> logmel;
  float peak = -INFINITY;
  for (std::int64_t t = 0; t < rows; ++t)
    for (int m = 0; m < nm; ++m) {
      mel(m, t) = (m % 9 == 0) ? 0.0f : std::pow(10.0f, 2.0f * u[static_cast<std::size_t>(t * nm + m)]);
      logmel.push_back(10.0f * std::log10(std::max(1e-10f, mel(m, t))));
      peak = std::max(peak, logmel.back());
    }
  r.shape(std::to_string(rows) + " frames x " + std::to_string(nm) + " mels, mean and median");
  std::vector<float> want_mean, want_median;
  const ha::TempoParams tp;
  r.cpu_ms(time_cpu(p.repeat, [&] {
    want_mean = ha::onset_from_mel_cpu(mel, tp, ha::OnsetAggregate::mean);
    want_median = ha::onset_from_mel_cpu(mel, tp, ha::OnsetAggregate::median);
  }));
  Buf<float> lm(logmel), pk(std::vector<float>{peak}), on_mean(static_cast<std::size_t>(rows)),
      on_median(static_cast<std::size_t>(rows));
  Buf<std::int64_t> fs(std::vector<std::int64_t>{0, rows});
  r.device_ms(time_device(p.repeat, [&] {
    onset_flux(lm, fs, rows, nm, pk, 0, on_mean);
    onset_flux(lm, fs, rows, nm, pk, 1, on_median);
  }));
  r.check("onset (mean)", on_mean.host(), want_mean, 0, 0);
  r.check("onset (median)", on_median.host(), want_median, 0, 0);
}

void bench_tempogram(const Problem& p, Report& r) {
  const std::int64_t rows = p.n;
  const ha::TempoParams tp;
  const int win = ha::tempo_win_length(tp);
  auto env = uniform(static_cast<std::size_t>(rows), 99, -1.0f, 3.0f);
  for (auto& v : env) v = std::max(0.0f, v);
  std::vector<double> hann(static_cast<std::size_t>(win));
  for (int j = 0; j < win; ++j) hann[j] = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * j / win);
  r.shape(std::to_string(rows) + " frames x " + std::to_string(win) + " lags");
  std::vector<double> want;
  r.cpu_ms(time_cpu(p.repeat, [&] { want = ha::mean_tempogram_cpu(env, tp); }));
  Buf<float> on(env);
  Buf<std::int64_t> fs(std::vector<std::int64_t>{0, rows});
  Buf<double> hd(hann), tg(static_cast<std::size_t>(rows) * win), mean(static_cast<std::size_t>(win));
  r.device_ms(time_device(p.repeat, [&] { tempogram_mean(on, fs, rows, hd, win, tg, mean); }));
  r.check("mean tempogram", mean.host(), want, 1e-13, 1e-12);  // the cpu dot products are vectorised
}

HMR_KERNEL_BENCH({"hpss_magnitude_medians", "launch_hpss_magnitude, launch_median_bins, launch_median_frames",
                  "frames (x 1025 bins, kernel 31)", 40, 20000, &bench_hpss_medians});
HMR_KERNEL_BENCH({"hpss_mask", "launch_hpss_mask", "frames (x 1025 bins)", 16, 20000, &bench_hpss_mask});
HMR_KERNEL_BENCH({"hpss_overlap_add", "launch_overlap_add", "clips (1 s at 22050 Hz, n_fft 2048, hop 512)", 2, 200,
                  &bench_overlap_add});
HMR_KERNEL_BENCH({"tempo_onset_flux", "launch_onset_flux", "frames (x 128 mels)", 300, 100000, &bench_onset_flux});
HMR_KERNEL_BENCH({"tempo_tempogram", "launch_tempogram, launch_tempogram_mean", "frames of one clip (x 344 lags)", 24,
                  20000, &bench_tempogram});

}  // namespace
