// bench/kernels/audio_spectral_kernels.cpp — the spectral feature kernels (kernels/audio/spectral.cuh)
// beside their cpu twins (host/audio/spectral_cpu.h: the per-frame arithmetic of librosa's
// spectral_centroid / bandwidth / rolloff / contrast, piptrack, chroma_stft, rms and
// zero_crossing_rate), on librosa's default shapes: n_fft 2048 (1025 bins), hop 512, 22050 Hz.
// Power spectra are synthetic (a few strong partials over a noise floor, some silent frames), so
// piptrack finds peaks and normalize meets zero frames; rms/zcr run on 1 s clips of noise.
#include <algorithm>
#include <cmath>

#include "audio/spectral.cuh"
#include "audio/spectral.h"
#include "audio/spectral_cpu.h"
#include "harness.h"

namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;
namespace sd = hmr::audio::spectral_detail;

// ---- adapter: the only lines that name launchers ------------------------------------------------
void power(const Buf<float2>& spec, int rows, int nb, Buf<float>& out) {
  kern::launch_spectral_power(spec.get(), nb, rows, nb, out.get(), nullptr);
}
struct BandBuf {
  explicit BandBuf(const sd::Consts& c) : freq(c.freq), lo(field(c, 0)), hi(field(c, 1)), nq(field(c, 2)) {}
  static std::vector<int> field(const sd::Consts& c, int which) {
    std::vector<int> v;
    for (const auto& b : c.bands) v.push_back(which == 0 ? b.lo : which == 1 ? b.hi : b.n_q);
    return v;
  }
  Buf<double> freq;
  Buf<int> lo, hi, nq;
};
void shape_contrast(const Buf<float>& pw, std::int64_t frames, const sd::Consts& c, const BandBuf& b,
                    const Buf<std::int64_t>& frame_start, int clips, Buf<double>& cen, Buf<double>& bw, Buf<double>& ro,
                    Buf<double>& va, Buf<double>& pk, Buf<float>& con) {
  const int nbands = static_cast<int>(c.bands.size());
  kern::launch_spectral_shape(pw.get(), frames, c.nb, b.freq.get(), static_cast<float>(c.p.roll_percent), b.lo.get(),
                              b.hi.get(), b.nq.get(), nbands, cen.get(), bw.get(), ro.get(), va.get(), pk.get(),
                              nullptr);
  kern::launch_contrast_db(va.get(), pk.get(), frame_start.get(), clips, nbands, con.get(), nullptr);
}
void piptrack(const Buf<float>& pw, std::int64_t frames, const sd::Consts& c, int cap, Buf<float>& pitch,
              Buf<float>& mag, Buf<int>& count) {
  kern::launch_piptrack(pw.get(), frames, c.nb, c.pip_lo, c.pip_hi, c.p.sample_rate, c.p.n_fft, cap, pitch.get(),
                        mag.get(), count.get(), nullptr);
}
void chroma(const Buf<float>& pw, const Buf<std::int64_t>& frame_start, int clips, std::int64_t frames, int nb,
            const Buf<float>& fb, Buf<float>& out) {
  kern::launch_chroma(pw.get(), frame_start.get(), clips, frames, nb, fb.get(), 12, out.get(), nullptr);
}
void rms_zcr(const Buf<float>& audio, const Buf<std::int64_t>& cs, const Buf<std::int64_t>& ss, int clips,
             std::int64_t series, Buf<float>& rms, Buf<float>& zcr) {
  kern::launch_rms_zcr(audio.get(), cs.get(), ss.get(), clips, series, 2048, 512, 1024, rms.get(), zcr.get(), nullptr);
}
// -------------------------------------------------------------------------------------------------

// frames x 1025 power rows: partials on a noise floor, every 11th frame silent.
std::vector<float> power_rows(std::int64_t frames, int nb, std::uint64_t seed) {
  auto pw = uniform(static_cast<std::size_t>(frames) * nb, seed, 1e-6f, 1e-3f);
  for (std::int64_t f = 0; f < frames; ++f) {
    float* row = pw.data() + f * nb;
    if (f % 11 == 5) {
      std::fill(row, row + nb, 0.0f);
      continue;
    }
    for (int h = 1; h <= 6; ++h) {  // a harmonic series whose root moves with the frame
      const int k = static_cast<int>(20 + (f * 7) % 60) * h;
      if (k + 1 < nb) row[k] += 10.0f / static_cast<float>(h), row[k + 1] += 4.0f / static_cast<float>(h);
    }
  }
  return pw;
}

void bench_power(const Problem& p, Report& r) {
  const int rows = static_cast<int>(p.n), nb = 1025;
  const auto re = uniform(static_cast<std::size_t>(rows) * nb, 91, -20.0f, 20.0f),
             im = uniform(static_cast<std::size_t>(rows) * nb, 92, -20.0f, 20.0f);
  std::vector<float2> spec(re.size());
  for (std::size_t i = 0; i < spec.size(); ++i) spec[i] = float2{re[i], im[i]};
  r.shape(std::to_string(rows) + " frames x " + std::to_string(nb) + " bins");
  std::vector<float> want(spec.size());
  r.cpu_ms(time_cpu(p.repeat, [&] {
    for (std::size_t i = 0; i < spec.size(); ++i) want[i] = spec[i].x * spec[i].x + spec[i].y * spec[i].y;
  }));
  Buf<float2> sd_(spec);
  Buf<float> out(want.size());
  r.device_ms(time_device(p.repeat, [&] { power(sd_, rows, nb, out); }));
  r.check("power", out.host(), want, 0, 0);
}

void bench_shape_contrast(const Problem& p, Report& r) {
  const sd::Consts c(hmr::audio::SpectralParams{});
  const int clips = static_cast<int>(p.n), nb = c.nb, nbands = static_cast<int>(c.bands.size());
  std::vector<std::int64_t> fs{0};
  for (int i = 0; i < clips; ++i) fs.push_back(fs.back() + 1292 - i % 2);  // 30 s clips
  const std::int64_t F = fs.back();
  const auto pw = power_rows(F, nb, 93);
  r.shape(std::to_string(clips) + " clips, " + std::to_string(F) + " frames x " + std::to_string(nb) + " bins");
  std::vector<double> cen(F), bw(F), ro(F), va(F * nbands), pk(F * nbands);
  std::vector<float> con(F * nbands);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    std::vector<float> mag(static_cast<std::size_t>(nb)), scratch(mag.size());
    for (std::int64_t f = 0; f < F; ++f) {
      for (int k = 0; k < nb; ++k) mag[k] = std::sqrt(pw[f * nb + k]);
      sd::frame_shape(c, mag.data(), &cen[f], &bw[f], &ro[f]);
      sd::frame_contrast(c, mag.data(), scratch.data(), &va[f * nbands], &pk[f * nbands]);
    }
    for (int i = 0; i < clips; ++i) {
      std::vector<double> a(pk.begin() + fs[i] * nbands, pk.begin() + fs[i + 1] * nbands),
          b(va.begin() + fs[i] * nbands, va.begin() + fs[i + 1] * nbands);
      sd::power_to_db_clip(a);
      sd::power_to_db_clip(b);
      for (std::size_t j = 0; j < a.size(); ++j) con[fs[i] * nbands + j] = static_cast<float>(a[j] - b[j]);
    }
  }));
  Buf<float> dpw(pw), dcon(con.size());
  const BandBuf bands(c);
  Buf<std::int64_t> dfs(fs);
  Buf<double> dcen(F), dbw(F), dro(F), dva(va.size()), dpk(pk.size());
  r.device_ms(
      time_device(p.repeat, [&] { shape_contrast(dpw, F, c, bands, dfs, clips, dcen, dbw, dro, dva, dpk, dcon); }));
  // double sums: a block tree against the cpu's sequential order
  r.check("centroid", dcen.host(), cen, 1e-9, 1e-12);
  r.check("bandwidth", dbw.host(), bw, 1e-9, 1e-12);
  r.check("rolloff", dro.host(), ro, 0, 0);
  r.check("contrast valley", dva.host(), va, 0, 0);
  r.check("contrast peak", dpk.host(), pk, 0, 0);
  r.check("contrast dB", dcon.host(), con, 1e-5, 1e-6);
}

void bench_piptrack(const Problem& p, Report& r) {
  const sd::Consts c(hmr::audio::SpectralParams{});
  const std::int64_t F = p.n;
  const int nb = c.nb, cap = (c.pip_hi - c.pip_lo + 1) / 2 + 1;
  const auto pw = power_rows(F, nb, 94);
  r.shape(std::to_string(F) + " frames, bins " + std::to_string(c.pip_lo) + "-" + std::to_string(c.pip_hi));
  std::vector<float> want;
  r.cpu_ms(time_cpu(p.repeat, [&] {
    want.clear();
    std::vector<float> pt, mg;
    for (std::int64_t f = 0; f < F; ++f) {
      pt.clear(), mg.clear();
      sd::frame_piptrack(c, pw.data() + f * nb, pt, mg);
      want.push_back(static_cast<float>(pt.size()));
      for (std::size_t j = 0; j < pt.size(); ++j) want.push_back(pt[j]), want.push_back(mg[j]);
    }
  }));
  Buf<float> dpw(pw), pitch(F * cap), mag(F * cap);
  Buf<int> count(F);
  r.device_ms(time_device(p.repeat, [&] { piptrack(dpw, F, c, cap, pitch, mag, count); }));
  const auto hp = pitch.host(), hm = mag.host();
  const auto hn = count.host();
  std::vector<float> got;
  for (std::int64_t f = 0; f < F; ++f) {
    got.push_back(static_cast<float>(hn[f]));
    for (int j = 0; j < hn[f]; ++j) got.push_back(hp[f * cap + j]), got.push_back(hm[f * cap + j]);
  }
  r.check("candidates (count, pitch, magnitude per frame)", got, want, 0, 0);
}

void bench_chroma(const Problem& p, Report& r) {
  const hmr::audio::SpectralParams sp;
  const int clips = static_cast<int>(p.n), nb = 1025;
  std::vector<std::int64_t> fs{0};
  std::vector<float> banks;
  std::vector<hmr::Matrix> fbs;
  for (int i = 0; i < clips; ++i) {
    fs.push_back(fs.back() + 1292 - i % 2);
    fbs.push_back(hmr::audio::chroma_filters(sp.sample_rate, sp.n_fft, 12, -0.5 + 0.01 * (i % 100)));
    banks.insert(banks.end(), fbs.back().vec().begin(), fbs.back().vec().end());
  }
  const std::int64_t F = fs.back();
  const auto pw = power_rows(F, nb, 95);
  r.shape(std::to_string(clips) + " clips (own tunings), " + std::to_string(F) + " frames x 1025 bins -> 12");
  std::vector<float> want(static_cast<std::size_t>(F) * 12);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    for (int i = 0; i < clips; ++i)
      for (std::int64_t f = fs[i]; f < fs[i + 1]; ++f) sd::frame_chroma(fbs[i], pw.data() + f * nb, &want[f * 12], 1);
  }));
  Buf<float> dpw(pw), dfb(banks), out(want.size());
  Buf<std::int64_t> dfs(fs);
  r.device_ms(time_device(p.repeat, [&] { chroma(dpw, dfs, clips, F, nb, dfb, out); }));
  // the same 8-lane float32 sums; a GPU may fuse multiply-adds
  r.check("chroma", out.host(), want, 1e-6, 1e-5);
}

void bench_rms_zcr(const Problem& p, Report& r) {
  const hmr::audio::SpectralParams sp;
  const int clips = static_cast<int>(p.n);
  std::vector<std::int64_t> cs{0}, ss{0};
  std::vector<float> audio, want_r, want_z;
  for (int i = 0; i < clips; ++i) {
    const auto y = uniform(static_cast<std::size_t>(sp.sample_rate - 300 * (i % 3)), 96 + i, -0.5f, 0.5f);
    audio.insert(audio.end(), y.begin(), y.end());
    cs.push_back(cs.back() + static_cast<std::int64_t>(y.size()));
    ss.push_back(ss.back() + 1 + static_cast<std::int64_t>(y.size()) / sp.hop_length);
  }
  const std::int64_t S = ss.back();
  r.shape(std::to_string(clips) + " clips of ~1 s, " + std::to_string(S) + " frames of 2048");
  r.cpu_ms(time_cpu(p.repeat, [&] {
    want_r.clear(), want_z.clear();
    for (int i = 0; i < clips; ++i) {
      const std::span<const float> y(audio.data() + cs[i], static_cast<std::size_t>(cs[i + 1] - cs[i]));
      const auto a = hmr::audio::rms_frames(y, sp), b = hmr::audio::zcr_frames(y, sp);
      want_r.insert(want_r.end(), a.begin(), a.end());
      want_z.insert(want_z.end(), b.begin(), b.end());
    }
  }));
  Buf<float> da(audio), rms(S), zcr(S);
  Buf<std::int64_t> dcs(cs), dss(ss);
  r.device_ms(time_device(p.repeat, [&] { rms_zcr(da, dcs, dss, clips, S, rms, zcr); }));
  r.check("rms", rms.host(), want_r, 1e-9, 1e-6);
  r.check("zcr", zcr.host(), want_z, 0, 0);
}

HMR_KERNEL_BENCH({"spectral_power", "launch_spectral_power", "frames (x 1025 bins)", 64, 200000, &bench_power});
HMR_KERNEL_BENCH({"spectral_shape_contrast", "launch_spectral_shape, launch_contrast_db",
                  "clips (x 1292 frames, 1025 bins, 7 bands)", 1, 100, &bench_shape_contrast});
HMR_KERNEL_BENCH({"spectral_piptrack", "launch_piptrack", "frames (x 1025 bins)", 256, 200000, &bench_piptrack});
HMR_KERNEL_BENCH({"spectral_chroma", "launch_chroma", "clips (x 1292 frames, 1025 bins, 12 chroma)", 1, 100,
                  &bench_chroma});
HMR_KERNEL_BENCH({"spectral_rms_zcr", "launch_rms_zcr", "clips (~1 s at 22050 Hz, frame 2048, hop 512)", 4, 2000,
                  &bench_rms_zcr});

}  // namespace
