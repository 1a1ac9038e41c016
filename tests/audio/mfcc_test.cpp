// MFCC stage: librosa 0.10 parity on synthesised signals (fixtures from tests/fixtures/gen_audio.py)
// over every backend, the building blocks (mel filters, DCT) against librosa/scipy, each cuda
// kernel against its cpu twin under the emulator (bitwise across thread orders), and a real GTZAN
// clip when ../shared/data is present.
// Tolerances (issue 3): MFCC max |diff| <= 0.02 and mean |diff| <= 0.002; summaries relative
// <= 1e-4 (with an absolute floor of 2e-3, the coefficient accuracy, for means near zero);
// mel power relative <= 1e-4 above librosa's own -80 dB floor of each clip.
#include <gtest/gtest.h>

#include <sndfile.h>
#include <unistd.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <numbers>
#include <numeric>

#include "audio/decode.h"
#include "audio/mfcc.cuh"
#include "audio/mfcc.h"
#include "core/error.h"
#include "cuda/buffer.h"
#include "cuda/context.h"
#include "cuda/fft.h"
#include "cuda/select.h"
#include "io/npy.h"
#include "signals.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/concat.h"
#include "support/emu.h"

namespace {

namespace ha = hmr::audio;
namespace ts = hmr::test::audio;

hmr::Matrix load_fixture(const std::string& name) { return hmr::io::read_matrix(hmr::test::fixture("audio/" + name)); }

std::vector<float> load_vec(const std::string& name) { return load_fixture(name).vec(); }

// |got - want| statistics for the MFCC tolerance of the issue.
void expect_mfcc_close(const hmr::Matrix& got, const hmr::Matrix& want, const std::string& what) {
  ASSERT_EQ(got.rows(), want.rows()) << what;
  ASSERT_EQ(got.cols(), want.cols()) << what;
  double worst = 0.0, sum = 0.0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(static_cast<double>(got.vec()[i]) - want.vec()[i]);
    ASSERT_TRUE(std::isfinite(got.vec()[i])) << what << ": non-finite MFCC at " << i;
    sum += d;
    if (d > worst) worst = d, at = i;
  }
  const double mean = sum / static_cast<double>(got.size());
  EXPECT_LE(worst, 0.02) << what << ": worst |diff| at (" << at / got.cols() << ", " << at % got.cols()
                         << "): " << got.vec()[at] << " vs " << want.vec()[at];
  EXPECT_LE(mean, 0.002) << what << ": mean |diff|";
}

void expect_summary_close(std::span<const float> got, const std::vector<float>& want, const std::string& what) {
  EXPECT_TRUE(hmr::test::all_close(got, std::span<const float>(want), 2e-3, 1e-4)) << what;
}

ha::MfccOptions frames_opt() {
  ha::MfccOptions o;
  o.keep_frames = true;
  return o;
}

const char* kSignals[] = {"sweep", "noise", "silence", "impulse", "short"};

// ---- building blocks -------------------------------------------------------------------------

TEST(AudioMfcc, MelFiltersMatchLibrosa) {
  const ha::MelFilters m = ha::mel_filters({});
  const auto rows = hmr::io::read_npy(hmr::test::fixture("audio/mel_rows.npy"));
  ASSERT_EQ(rows.dtype, "i4");
  const auto* rv = reinterpret_cast<const std::int32_t*>(rows.bytes.data());
  ASSERT_EQ(m.n_mels, 128);
  ASSERT_EQ(m.n_bins, 1025);
  for (int i = 0; i < 128; ++i) {
    EXPECT_EQ(m.start[i], rv[2 * i]) << "mel row " << i;
    EXPECT_EQ(m.count[i], rv[2 * i + 1]) << "mel row " << i;
  }
  // Same two float32 roundings as librosa: equal to the last bit or one ulp.
  EXPECT_ALLCLOSE(std::span<const float>(m.weights), std::span<const float>(load_vec("mel_weights.npy")), 0.0, 2.5e-7);
}

TEST(AudioMfcc, DctMatchesScipyOrtho) {
  const hmr::Matrix d = ha::dct_matrix({});
  const hmr::Matrix want = load_fixture("dct.npy");
  EXPECT_ALLCLOSE(std::span<const float>(d.vec()), std::span<const float>(want.vec()), 1e-7, 1e-6);
}

TEST(AudioMfcc, FrameCountFollowsLibrosaCentering) {
  ha::MfccParams p;
  EXPECT_EQ(ha::frame_count(661794, p), 1293);  // a 30 s GTZAN clip
  EXPECT_EQ(ha::frame_count(1000, p), 2);
  EXPECT_EQ(ha::frame_count(1, p), 1);
  EXPECT_EQ(ha::frame_count(0, p), 0);
  p.center = false;
  EXPECT_EQ(ha::frame_count(1000, p), 0);
  EXPECT_EQ(ha::frame_count(2048 + 512, p), 2);
}

TEST(AudioMfcc, SummaryColumnsAreKaggleOrder) {
  const auto c = ha::summary_columns(20);
  ASSERT_EQ(c.size(), 40u);
  EXPECT_EQ(c[0], "mfcc1_mean");
  EXPECT_EQ(c[1], "mfcc1_var");
  EXPECT_EQ(c[39], "mfcc20_var");
}

TEST(AudioMfcc, RejectsBadParametersAndInput) {
  ha::MfccParams p;
  p.n_mfcc = 200;
  EXPECT_THROW(ha::check_params(p), hmr::Error);
  p = {};
  p.hop_length = 0;
  EXPECT_THROW(ha::check_params(p), hmr::Error);
  p = {};
  p.fmin = 20000;
  EXPECT_THROW(ha::check_params(p), hmr::Error);
  auto cpu = hmr::make_cpu_backend();
  std::vector<float> empty;
  EXPECT_THROW(ha::mfcc(*cpu, empty), hmr::Error);
  std::vector<float> bad(4000, 0.1f);
  bad[17] = NAN;
  EXPECT_THROW(ha::mfcc(*cpu, bad), hmr::Error);
}

TEST(AudioMfcc, MelPowerMatchesLibrosa) {
  for (const char* name : {"sweep", "noise"}) {
    const hmr::Matrix got = ha::melspectrogram_cpu(ts::signal(name), {});
    const hmr::Matrix want = load_fixture(std::string(name) + "_mel.npy");
    ASSERT_EQ(got.rows(), want.rows());
    ASSERT_EQ(got.cols(), want.cols());
    // Relative 1e-4 wherever librosa's dB value is above the clip's -80 dB floor (below it the
    // value is clamped away and float32 FFT round-off dominates).
    const float peak = *std::max_element(want.vec().begin(), want.vec().end());
    EXPECT_ALLCLOSE(std::span<const float>(got.vec()), std::span<const float>(want.vec()), 1e-8 * peak, 1e-4) << name;
  }
}

// The cpu backend's spectrum code paths (spectrum_cpu.cpp: split + power fused in AVX2, the two AVX2
// passes, the portable loops; HMR_MFCC_SIMD) do the same float operations in the same order, so
// their power spectra must agree bit for bit, every bin (the mel filters ignore the edge bins):
// direct-path sizes with full and partial split chunks, the smallest direct n_fft, and the framed
// path (win_length < n_fft).
TEST(AudioMfcc, SpectrumCodePathsGiveTheSameBits) {
  struct SimdEnv {
    explicit SimdEnv(const char* v) {
      if (v)
        ::setenv("HMR_MFCC_SIMD", v, 1);
      else
        ::unsetenv("HMR_MFCC_SIMD");
    }
    ~SimdEnv() { ::unsetenv("HMR_MFCC_SIMD"); }
  };
  if (!__builtin_cpu_supports("avx2")) std::cout << "no AVX2 on this cpu: all paths are the portable one\n";
  std::vector<float> y = ts::signal("noise");
  const std::vector<float> sweep = ts::signal("sweep");
  y.insert(y.end(), sweep.begin(), sweep.begin() + 12345);  // a length that is no multiple of a hop
  const auto params = [](int n_fft, int hop, int win, int n_mels) {
    ha::MfccParams p;
    p.n_fft = n_fft;
    p.hop_length = hop;
    p.win_length = win;
    p.n_mels = n_mels;
    p.n_mfcc = std::min(20, n_mels);
    return p;
  };
  for (const ha::MfccParams& p : {params(2048, 512, 0, 128), params(1000, 250, 0, 64), params(2048, 300, 0, 128),
                                  params(16, 4, 0, 4), params(2048, 512, 1500, 128)}) {
    const std::string what = fmt::format("n_fft {} hop {} win {}", p.n_fft, p.hop_length, p.win_length);
    hmr::Matrix fused, avx2, generic;
    {
      SimdEnv e(nullptr);
      fused = ha::spectrogram_cpu(y, p);
    }
    {
      SimdEnv e("avx2");
      avx2 = ha::spectrogram_cpu(y, p);
    }
    {
      SimdEnv e("generic");
      generic = ha::spectrogram_cpu(y, p);
    }
    ASSERT_EQ(fused.size(), generic.size()) << what;
    ASSERT_EQ(avx2.size(), generic.size()) << what;
    for (const auto* m : {&fused, &avx2}) {
      const auto [a, b] = std::mismatch(m->vec().begin(), m->vec().end(), generic.vec().begin(),
                                        [](float u, float v) { return std::memcmp(&u, &v, sizeof u) == 0; });
      EXPECT_TRUE(a == m->vec().end()) << what << (m == &fused ? " fused" : " avx2") << " vs generic differ first at "
                                       << (a - m->vec().begin()) << ": " << *a << " vs " << *b;
    }
  }
  SimdEnv e("sse");
  EXPECT_THROW(ha::spectrogram_cpu(y, {}), hmr::Error);
}

// ---- parity over every backend ---------------------------------------------------------------

class ConfMfcc : public hmr::test::BackendTest {};

TEST_P(ConfMfcc, SynthesisedSignalsMatchLibrosa) {
  std::vector<std::vector<float>> ys;
  std::vector<std::span<const float>> spans;
  for (const char* name : kSignals) ys.push_back(ts::signal(name));
  for (const auto& y : ys) spans.emplace_back(y);
  const ha::MfccResult r = ha::mfcc_clips(backend(), spans, {}, true);
  ASSERT_EQ(r.summaries.rows(), 5);
  ASSERT_EQ(r.summaries.cols(), 40);
  ASSERT_EQ(r.frames.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    const std::string name = kSignals[i];
    EXPECT_EQ(r.index[i], i);
    EXPECT_EQ(r.length[i], static_cast<std::int64_t>(ys[i].size()));
    expect_mfcc_close(r.frames[i], load_fixture(name + "_mfcc.npy"), name);
    expect_summary_close(std::span<const float>(r.summaries.row(static_cast<std::int64_t>(i)), 40),
                         load_vec(name + "_summary.npy"), name);
  }
  // Silence: every value finite (the amin floor), the constant -100 dB spectrum in c0.
  EXPECT_NEAR(r.frames[2](0, 0), -100.0 * std::sqrt(128.0), 1e-2);
}

TEST_P(ConfMfcc, StereoAt44kIsDownmixedResampledAndMatchesLibrosa) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("hmr_audio_conf_{}", ::getpid());
  std::filesystem::create_directories(dir);
  const auto path = dir / "stereo44k.wav";
  {
    SF_INFO info{};
    info.samplerate = 44100;
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
    const auto y = ts::stereo44k();
    ASSERT_EQ(sf_writef_float(f, y.data(), 44100), 44100);
    sf_close(f);
  }
  const ha::MfccResult r = ha::mfcc_files(backend(), {path}, {}, frames_opt());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(r.skipped.empty()) << r.skipped.front().reason;
  ASSERT_EQ(r.summaries.rows(), 1);
  EXPECT_EQ(r.length[0], 22050);
  expect_mfcc_close(r.frames[0], load_fixture("stereo44k_mfcc.npy"), "stereo44k");
  expect_summary_close(std::span<const float>(r.summaries.row(0), 40), load_vec("stereo44k_summary.npy"), "stereo44k");
}

TEST_P(ConfMfcc, MatchesTheCpuBackendOnLongerMixedBatches) {
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu", {"frame_window_kernel", "power_mel_log_kernel",
                                                                "clip_peak_kernel", "dct_kernel", "summary_kernel"});
  // Clips of different lengths in one batch: the offset tables and per-clip peaks must keep
  // them apart (a loud clip next to a quiet one exercises the per-clip top_db floor).
  std::vector<std::vector<float>> ys;
  ys.push_back(ts::sweep(3 * ts::kSr + 123, ts::kSr));
  ys.push_back(ts::noise(777, 5));
  auto quiet = ts::noise(2 * ts::kSr, 9);
  for (auto& v : quiet) v *= 1e-4f;
  ys.push_back(quiet);
  ys.push_back(ts::signal("impulse"));
  std::vector<std::span<const float>> spans(ys.begin(), ys.end());
  auto cpu = hmr::make_cpu_backend();
  const ha::MfccResult want = ha::mfcc_clips(*cpu, spans, {}, true);
  const ha::MfccResult got = ha::mfcc_clips(backend(), spans, {}, true);
  ASSERT_EQ(got.frames.size(), ys.size());
  for (std::size_t i = 0; i < ys.size(); ++i)
    expect_mfcc_close(got.frames[i], want.frames[i], fmt::format("clip {}", i));
  EXPECT_ALLCLOSE(std::span<const float>(got.summaries.vec()), std::span<const float>(want.summaries.vec()), 1e-3,
                  1e-4);
}

TEST_P(ConfMfcc, NonDefaultParametersMatchTheCpuBackend) {
  ha::MfccParams p;
  p.n_fft = 1024;
  p.hop_length = 256;
  p.win_length = 800;
  p.n_mels = 64;
  p.n_mfcc = 13;
  p.fmin = 50;
  p.fmax = 8000;
  p.htk = true;
  p.power = 1.0f;
  p.lifter = 22;
  p.top_db = 60;
  // A sweep over a -60 dB noise floor: with power = 1 the dB scale of magnitudes halves the
  // dynamic range, so a pure tone would expose float32 FFT round-off (about -70 dB re the
  // frame's peak) inside the 60 dB window; real audio always has such a floor.
  auto y = ts::sweep(ts::kSr, ts::kSr);
  const auto n = ts::noise(y.size(), 13);
  for (std::size_t i = 0; i < y.size(); ++i) y[i] += 1e-3f * n[i];
  auto cpu = hmr::make_cpu_backend();
  const ha::MfccResult want = ha::mfcc_clips(*cpu, {y}, p, true);
  const ha::MfccResult got = ha::mfcc_clips(backend(), {y}, p, true);
  ASSERT_EQ(got.summaries.cols(), 26);
  // The lifter scales coefficient k by up to 1 + L/2; compare on the unliftered scale.
  hmr::Matrix g = got.frames[0], w = want.frames[0];
  for (int k = 0; k < p.n_mfcc; ++k) {
    const float lift = static_cast<float>(1.0 + p.lifter / 2 * std::sin(std::numbers::pi * (k + 1) / p.lifter));
    for (std::int64_t f = 0; f < g.cols(); ++f) g(k, f) /= lift, w(k, f) /= lift;
  }
  expect_mfcc_close(g, w, "custom params");
}

HMR_INSTANTIATE_BACKENDS(ConfMfcc);

// ---- a real clip (reference numbers only; skipped without ../shared/data) --------------------

class ConfMfccReal : public hmr::test::BackendTest {};

TEST_P(ConfMfccReal, GtzanClipMatchesLibrosa) {
  const std::string clip = hmr::test::shared_data("gtzan/genres/blues/blues.00000.wav");
  if (clip.empty()) GTEST_SKIP() << "../shared/data/gtzan is absent";
  if (backend().kind() == hmr::BackendKind::cuda_emu) GTEST_SKIP() << "a 30 s clip is too slow for the emulator";
  const ha::MfccResult r = ha::mfcc_files(backend(), {clip}, {}, frames_opt());
  ASSERT_EQ(r.summaries.rows(), 1);
  const auto len = hmr::io::read_npy(hmr::test::fixture("audio/gtzan_blues00000_len.npy"));
  EXPECT_EQ(r.length[0], *reinterpret_cast<const std::int64_t*>(len.bytes.data()));
  hmr::Matrix first(20, 40);
  for (int k = 0; k < 20; ++k)
    for (int f = 0; f < 40; ++f) first(k, f) = r.frames[0](k, f);
  expect_mfcc_close(first, load_fixture("gtzan_blues00000_mfcc40.npy"), "blues.00000 frames");
  expect_summary_close(std::span<const float>(r.summaries.row(0), 40), load_vec("gtzan_blues00000_summary.npy"),
                       "blues.00000");
}

HMR_INSTANTIATE_BACKENDS(ConfMfccReal);

// ---- kernels alone against their cpu twins (emulator, every thread order) --------------------

struct Batch {
  std::vector<float> audio;
  std::vector<std::int64_t> clip_start{0}, frame_start{0};
};

Batch make_batch(const std::vector<std::vector<float>>& clips, const ha::MfccParams& p) {
  Batch b;
  for (const auto& c : clips) {
    b.audio.insert(b.audio.end(), c.begin(), c.end());
    b.clip_start.push_back(b.clip_start.back() + static_cast<std::int64_t>(c.size()));
    b.frame_start.push_back(b.frame_start.back() + ha::frame_count(static_cast<std::int64_t>(c.size()), p));
  }
  return b;
}

ha::MfccParams small_params() {
  ha::MfccParams p;  // small enough for the emulator, same code paths
  p.n_fft = 256;
  p.hop_length = 64;
  p.n_mels = 40;
  p.n_mfcc = 13;
  return p;
}

std::vector<std::vector<float>> small_clips() {
  return {ts::sweep(3000, 8000), ts::noise(700, 3), std::vector<float>(100, 0.0f), ts::noise(1500, 4)};
}

TEST(EmuMfcc, FrameWindowMatchesCpuFraming) {
  hmr::test::ExpectLaunches launched{"frame_window_kernel"};
  using namespace hmr::cuda_emu;
  const ha::MfccParams p = small_params();
  const Batch b = make_batch(small_clips(), p);
  const std::int64_t F = b.frame_start.back();
  const int rows = static_cast<int>(F) + 5;  // padding rows must come out zero
  const auto win = ha::stft_window(p);
  const auto got = hmr::test::in_all_orders([&] {
    auto a = to_device(b.audio, nullptr);
    auto cs = to_device(b.clip_start, nullptr), fs = to_device(b.frame_start, nullptr);
    auto w = to_device(win, nullptr);
    DeviceBuffer<float> fr(static_cast<std::size_t>(rows) * p.n_fft);
    kern::launch_frame_window(a.data(), cs.data(), fs.data(), 4, 0, F, rows, w.data(), p.n_fft, p.hop_length,
                              p.n_fft / 2, fr.data(), nullptr);
    return fr.to_host(nullptr);
  });
  // cpu twin: the centred, zero-padded, windowed frames
  std::vector<float> want(static_cast<std::size_t>(rows) * p.n_fft, 0.0f);
  for (int c = 0; c < 4; ++c)
    for (std::int64_t f = b.frame_start[c]; f < b.frame_start[c + 1]; ++f)
      for (int j = 0; j < p.n_fft; ++j) {
        const std::int64_t i = (f - b.frame_start[c]) * p.hop_length - p.n_fft / 2 + j;
        const std::int64_t len = b.clip_start[c + 1] - b.clip_start[c];
        want[static_cast<std::size_t>(f * p.n_fft + j)] =
            (i >= 0 && i < len)
                ? b.audio[static_cast<std::size_t>(b.clip_start[c] + i)] * win[static_cast<std::size_t>(j)]
                : 0.0f;
      }
  EXPECT_TRUE(hmr::test::bitwise_equal(got, want));
}

// Spectra of a batch (through the emulated FFT wrapper) for the mel/log kernel test.
TEST(EmuMfcc, PowerMelLogMatchesCpuTwin) {
  hmr::test::ExpectLaunches launched{"power_mel_log_kernel"};
  using namespace hmr::cuda_emu;
  const ha::MfccParams p = small_params();
  const auto clips = small_clips();
  const Batch b = make_batch(clips, p);
  const int F = static_cast<int>(b.frame_start.back()), nb = ha::n_bins(p);
  const ha::MelFilters mel = ha::mel_filters(p);
  std::vector<float> spec_host;
  {
    auto a = to_device(b.audio, nullptr);
    auto cs = to_device(b.clip_start, nullptr), fs = to_device(b.frame_start, nullptr);
    auto w = to_device(ha::stft_window(p), nullptr);
    DeviceBuffer<float> fr(static_cast<std::size_t>(F) * p.n_fft);
    kern::launch_frame_window(a.data(), cs.data(), fs.data(), 4, 0, F, F, w.data(), p.n_fft, p.hop_length, p.n_fft / 2,
                              fr.data(), nullptr);
    FftR2C fft(nullptr, p.n_fft, F, p.n_fft, nb);
    DeviceBuffer<float2> sp(static_cast<std::size_t>(F) * nb);
    fft.exec(fr.data(), sp.data());
    const auto s = sp.to_host(nullptr);
    for (const auto& z : s) spec_host.insert(spec_host.end(), {z.x, z.y});
  }
  const float amin = 1e-10f;
  const auto got = hmr::test::in_all_orders([&] {
    std::vector<float2> s(spec_host.size() / 2);
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = make_float2(spec_host[2 * i], spec_host[2 * i + 1]);
    auto sp = to_device(s, nullptr);
    auto ms = to_device(mel.start, nullptr), mc = to_device(mel.count, nullptr), mo = to_device(mel.offset, nullptr);
    auto mw = to_device(mel.weights, nullptr);
    DeviceBuffer<float> logmel(static_cast<std::size_t>(F) * p.n_mels), rmax(static_cast<std::size_t>(F)),
        mp(static_cast<std::size_t>(F) * p.n_mels);
    kern::launch_power_mel_log(sp.data(), nb, F, nb, 2.0f, ms.data(), mc.data(), mo.data(), mw.data(), p.n_mels, amin,
                               0.0f, logmel.data(), rmax.data(), mp.data(), nullptr);
    return hmr::test::concat(mp.to_host(nullptr), logmel.to_host(nullptr), rmax.to_host(nullptr));
  });
  // cpu twin from the same spectra
  std::vector<float> mp(static_cast<std::size_t>(F) * p.n_mels), lg(mp.size()), rm(static_cast<std::size_t>(F));
  for (int f = 0; f < F; ++f) {
    float mx = -INFINITY;
    for (int m = 0; m < p.n_mels; ++m) {
      float acc = 0.0f;
      for (int j = 0; j < mel.count[m]; ++j) {
        const std::size_t k = static_cast<std::size_t>(f * nb + mel.start[m] + j);
        const float pw = spec_host[2 * k] * spec_host[2 * k] + spec_host[2 * k + 1] * spec_host[2 * k + 1];
        acc += mel.weights[static_cast<std::size_t>(mel.offset[m] + j)] * pw;
      }
      mp[static_cast<std::size_t>(f * p.n_mels + m)] = acc;
      const float db = 10.0f * std::log10(std::max(amin, acc));
      lg[static_cast<std::size_t>(f * p.n_mels + m)] = db;
      mx = std::max(mx, db);
    }
    rm[static_cast<std::size_t>(f)] = mx;
  }
  const std::vector<float> want = hmr::test::concat(mp, lg, rm);
  EXPECT_ALLCLOSE(std::span<const float>(got), std::span<const float>(want), 1e-6, 1e-6);
}

TEST(EmuMfcc, PeakDctAndSummaryMatchCpuTwins) {
  hmr::test::ExpectLaunches launched{"clip_peak_kernel", "dct_kernel", "summary_kernel"};
  using namespace hmr::cuda_emu;
  const ha::MfccParams p = small_params();
  const Batch b = make_batch(small_clips(), p);
  const std::int64_t F = b.frame_start.back();
  // Synthetic log-mel rows with distinct per-clip ranges so the floor bites in some clips.
  std::vector<float> logmel(static_cast<std::size_t>(F) * p.n_mels), rmax(static_cast<std::size_t>(F));
  const auto u = ts::xorshift_uniform(logmel.size(), 77);
  for (std::int64_t f = 0; f < F; ++f) {
    float mx = -INFINITY;
    for (int m = 0; m < p.n_mels; ++m) {
      const std::size_t i = static_cast<std::size_t>(f * p.n_mels + m);
      logmel[i] = static_cast<float>(-60.0 + 200.0 * u[i]);
      mx = std::max(mx, logmel[i]);
    }
    rmax[static_cast<std::size_t>(f)] = mx;
  }
  const hmr::Matrix dct = ha::dct_matrix(p);
  const float top_db = 80.0f;
  const auto got = hmr::test::in_all_orders([&] {
    auto lm = to_device(logmel, nullptr), rm = to_device(rmax, nullptr);
    auto fs = to_device(b.frame_start, nullptr);
    auto d = to_device(dct.vec(), nullptr);
    DeviceBuffer<float> peak(4), out(static_cast<std::size_t>(F) * p.n_mfcc),
        summ(static_cast<std::size_t>(4 * 2 * p.n_mfcc));
    kern::launch_clip_peak(rm.data(), fs.data(), 4, peak.data(), nullptr);
    kern::launch_dct(lm.data(), fs.data(), 4, F, peak.data(), top_db, d.data(), p.n_mfcc, p.n_mels, out.data(),
                     nullptr);
    kern::launch_summary(out.data(), fs.data(), 4, p.n_mfcc, summ.data(), nullptr);
    return hmr::test::concat(peak.to_host(nullptr), out.to_host(nullptr), summ.to_host(nullptr));
  });
  std::vector<float> want;
  std::vector<float> coefs;
  std::vector<float> summaries;
  for (int c = 0; c < 4; ++c)
    want.push_back(*std::max_element(rmax.begin() + b.frame_start[c], rmax.begin() + b.frame_start[c + 1]));
  for (int c = 0; c < 4; ++c) {
    const std::int64_t nf = b.frame_start[c + 1] - b.frame_start[c];
    hmr::Matrix m(p.n_mfcc, nf);
    for (std::int64_t f = 0; f < nf; ++f)
      for (int k = 0; k < p.n_mfcc; ++k) {
        float acc = 0.0f;
        for (int j = 0; j < p.n_mels; ++j)
          acc += dct(k, j) * std::max(logmel[static_cast<std::size_t>((b.frame_start[c] + f) * p.n_mels + j)],
                                      want[static_cast<std::size_t>(c)] - top_db);
        m(k, f) = acc;
      }
    for (std::int64_t f = 0; f < nf; ++f)
      for (int k = 0; k < p.n_mfcc; ++k) coefs.push_back(m(k, f));
    const auto s = ha::summarize_frames(m);
    summaries.insert(summaries.end(), s.begin(), s.end());
  }
  const std::vector<float> all = hmr::test::concat(want, coefs, summaries);
  EXPECT_ALLCLOSE(std::span<const float>(got), std::span<const float>(all), 1e-4, 1e-5);
}

TEST(EmuMfcc, WholeCudaPipelineIsBitwiseReproducibleAcrossThreadOrders) {
  hmr::test::ExpectLaunches launched{"frame_window_kernel", "power_mel_log_kernel", "clip_peak_kernel", "dct_kernel",
                                     "summary_kernel"};
  const ha::MfccParams p = small_params();
  const auto clips = small_clips();
  std::vector<std::span<const float>> spans(clips.begin(), clips.end());
  auto emu = hmr::make_backend("cuda-emu");
  const auto got = hmr::test::in_all_orders([&] { return ha::mfcc_clips(*emu, spans, p).summaries.vec(); });
  auto cpu = hmr::make_cpu_backend();
  const auto want = ha::mfcc_clips(*cpu, spans, p).summaries.vec();
  EXPECT_ALLCLOSE(std::span<const float>(got), std::span<const float>(want), 1e-3, 1e-4);
}

}  // namespace
