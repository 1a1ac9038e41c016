// Spectral features (chroma_stft with estimate_tuning, rms, spectral centroid / bandwidth /
// rolloff / contrast, zero_crossing_rate, delta): librosa 0.10 parity on the signals that
// tests/fixtures/gen_spectral.py synthesises (reproduced here bit for bit), on every backend; the
// building blocks (chroma filters, tuning, delta) against librosa; each cuda kernel against its cpu
// twin under the emulator (bitwise across thread orders); three real GTZAN clips when
// ../shared/data is present (the reduced reference numbers are committed, the audio is not).
// Tolerances: |got - want| <= atol + rtol |want| per element, atol on the feature's own scale (the
// largest |value| of that feature in the reference clip), worst element printed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <numeric>

#include "audio/decode.h"
#include "audio/spectral.h"
#include "audio/spectral_cpu.h"
#include "core/error.h"
#include "io/npy.h"
#include "signals.h"
#include "support/backends.h"
#include "support/compare.h"

namespace {

namespace ha = hmr::audio;
namespace ts = hmr::test::audio;

hmr::Matrix load_fixture(const std::string& name) { return hmr::io::read_matrix(hmr::test::fixture("audio/" + name)); }

// The signals of gen_spectral.py, in its NAMES order.
const char* kNames[] = {"a440", "sharp30", "flat20", "chirp", "noise", "impulses", "silence", "short", "sr16k"};

std::vector<float> chord(std::size_t n, double sr, double cents) {
  const double k = std::pow(2.0, cents / 1200.0);
  const auto a = ts::tone(n, sr, 440.0 * k, 0.3), b = ts::tone(n, sr, 554.3653 * k, 0.2),
             c = ts::tone(n, sr, 659.2551 * k, 0.2);
  const auto z = ts::noise(n, 5);
  std::vector<float> y(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<float>(a[i] + b[i] + c[i] + 0.01 * static_cast<double>(z[i]));
  return y;
}

struct Signal {
  std::vector<float> y;
  int sr = ts::kSr;
};

Signal make_signal(const std::string& name) {
  const std::size_t n15 = static_cast<std::size_t>(1.5 * ts::kSr);
  if (name == "a440") {
    const auto t = ts::tone(n15, ts::kSr, 440.0, 0.5);
    return {{t.begin(), t.end()}};
  }
  if (name == "sharp30") return {chord(n15, ts::kSr, 30.0)};
  if (name == "flat20") return {chord(n15, ts::kSr, -20.0)};
  if (name == "chirp") return {ts::sweep(2 * ts::kSr, ts::kSr)};
  if (name == "noise") return {ts::noise(n15, 7)};
  if (name == "impulses") {
    std::vector<float> y(ts::kSr, 0.0f);
    for (std::size_t i = 1000; i < y.size(); i += 5000) y[i] = 1.0f;
    for (std::size_t i = 3500; i < y.size(); i += 5000) y[i] = -0.5f;
    return {y};
  }
  if (name == "silence") return {std::vector<float>(ts::kSr, 0.0f)};
  if (name == "short") return {ts::signal("short")};
  if (name == "sr16k") {
    const auto a = ts::tone(24000, 16000, 300.0, 0.4), b = ts::tone(24000, 16000, 2500.0, 0.1);
    const auto z = ts::noise(24000, 17);
    std::vector<float> y(24000);
    for (std::size_t i = 0; i < y.size(); ++i)
      y[i] = static_cast<float>(a[i] + b[i] + 0.05 * static_cast<double>(z[i]));
    return {y, 16000};
  }
  ADD_FAILURE() << "no signal " << name;
  return {};
}

// The 24 reference rows of gen_spectral.py from a SpectralFrames.
hmr::Matrix stack(const ha::SpectralFrames& f) {
  const std::int64_t T = static_cast<std::int64_t>(f.rms.size());
  hmr::Matrix m(24, T);
  for (std::int64_t t = 0; t < T; ++t) {
    for (int c = 0; c < 12; ++c) m(c, t) = f.chroma(c, t);
    m(12, t) = f.rms[static_cast<std::size_t>(t)];
    m(13, t) = f.centroid[static_cast<std::size_t>(t)];
    m(14, t) = f.bandwidth[static_cast<std::size_t>(t)];
    m(15, t) = f.rolloff[static_cast<std::size_t>(t)];
    m(16, t) = f.zcr[static_cast<std::size_t>(t)];
    for (int b = 0; b < 7; ++b) m(17 + b, t) = f.contrast(b, t);
  }
  return m;
}

struct Tol {
  const char* name;
  int row0, rows;
  double atol_scale, rtol;  // atol = atol_scale * (largest |reference| of the feature)
  double abs_atol = 0.0;    // > 0: this atol instead
};

// Per frame, contrast is the least stable series: a band's valley is the mean of its few smallest
// magnitudes, where float32 round-off is largest relative to the value (2e-3 relative; the clip
// summaries meet 1e-4, ConfSpectralReal).
const Tol kTol[] = {
    {"chroma", 0, 12, 1e-5, 1e-4},    {"rms", 12, 1, 1e-6, 1e-5},       {"centroid", 13, 1, 1e-4, 1e-4},
    {"bandwidth", 14, 1, 1e-4, 1e-4}, {"rolloff", 15, 1, 1e-12, 1e-12}, {"zcr", 16, 1, 1e-12, 0.0},
    {"contrast", 17, 7, 1e-4, 2e-3},
};

// The float64 reference values of a fixture (read_matrix gives float32).
std::vector<double> load_f8(const std::string& name) {
  const auto a = hmr::io::read_npy(hmr::test::fixture("audio/" + name));
  EXPECT_EQ(a.dtype, "f8") << name;
  std::vector<double> v(a.bytes.size() / sizeof(double));
  std::memcpy(v.data(), a.bytes.data(), v.size() * sizeof(double));
  return v;
}

// What a synthetic signal can be compared on. Pure tones (a440, chirp) have no noise floor: the
// float32 FFT's round-off (~1e-7 of the frame's peak in every bin, where librosa's float64 FFT
// leaves ~1e-14) then weighs in bandwidth's (f - centroid)^2 sums far from the tone (0.25% of the
// clip's bandwidth scale) and sets the valleys of the bands the tone is not in (contrast: not
// comparable). Impulses have flat spectra: piptrack's local maxima among equal bins are picked by
// round-off, so the estimated tuning is not comparable either; chroma is compared at librosa's
// tuning, and the flat bands' contrast (0 dB) within 0.01 dB.
struct SignalCase {
  bool pure = false, flat = false;
};
SignalCase signal_case(const std::string& name) { return {name == "a440" || name == "chirp", name == "impulses"}; }

// Compares rows [row0, row0 + rows) and reports the worst element.
void expect_feature_close(const hmr::Matrix& got, const hmr::Matrix& want, const Tol& t, const std::string& what) {
  ASSERT_EQ(got.cols(), want.cols()) << what << " " << t.name << ": frame count";
  double scale = 0.0;
  for (int r = t.row0; r < t.row0 + t.rows; ++r)
    for (std::int64_t c = 0; c < want.cols(); ++c) scale = std::max(scale, static_cast<double>(std::abs(want(r, c))));
  const double atol = t.abs_atol > 0 ? t.abs_atol : std::max(t.atol_scale * scale, 1e-12), rtol = t.rtol;
  double worst = -1.0;
  int wr = 0;
  std::int64_t wc = 0;
  int bad = 0;
  for (int r = t.row0; r < t.row0 + t.rows; ++r)
    for (std::int64_t c = 0; c < want.cols(); ++c) {
      const double g = got(r, c), w = want(r, c);
      ASSERT_TRUE(std::isfinite(g)) << what << " " << t.name << ": non-finite at (" << r << ", " << c << ")";
      const double excess = std::abs(g - w) / (atol + rtol * std::abs(w));
      if (excess > 1.0) ++bad;
      if (excess > worst) worst = excess, wr = r, wc = c;
    }
  EXPECT_EQ(bad, 0) << what << " " << t.name << ": " << bad << " elements off; worst at row " << wr << " frame " << wc
                    << ": " << got(wr, wc) << " vs " << want(wr, wc) << " (atol " << atol << ", rtol " << rtol << ")";
  if (bad == 0 && std::getenv("HMR_SPECTRAL_VERBOSE"))
    std::cout << what << " " << t.name << ": worst |diff|/(atol + rtol|b|) = " << worst << " at row " << wr << " frame "
              << wc << ": " << got(wr, wc) << " vs " << want(wr, wc) << "\n";
}

// ---- building blocks -------------------------------------------------------------------------

TEST(AudioSpectral, ChromaFiltersMatchLibrosa) {
  const hmr::Matrix got = ha::chroma_filters(22050, 2048, 12, 0.3);
  const hmr::Matrix want = load_fixture("spectral_chroma_fb.npy");
  ASSERT_EQ(got.rows(), 12);
  ASSERT_EQ(got.cols(), 1025);
  // Built in double as librosa, rounded once to float32: equal to a few ulp.
  EXPECT_ALLCLOSE(std::span<const float>(got.vec()), std::span<const float>(want.vec()), 1e-9, 1e-6);
}

TEST(AudioSpectral, PitchTuningPicksTheHistogramBin) {
  // 440 Hz * 2^(0.3 / 12) three times and one outlier: the mode is the 0.30 bin (float32 pitches).
  const double f = 440.0 * std::pow(2.0, 0.3 / 12.0);
  const std::vector<double> freqs{f, f, f, 300.0, 0.0, -5.0};
  EXPECT_NEAR(ha::pitch_tuning(freqs), 0.3, 1e-12);
  EXPECT_EQ(ha::pitch_tuning(std::vector<double>{}), 0.0);
  EXPECT_EQ(ha::pitch_tuning(std::vector<double>{0.0}), 0.0);
}

TEST(AudioSpectral, DeltaMatchesLibrosa) {
  const hmr::Matrix d = load_fixture("spectral_delta_in.npy");
  const struct {
    const char* file;
    int order, width;
  } cases[] = {{"spectral_delta1.npy", 1, 9}, {"spectral_delta2.npy", 2, 9}, {"spectral_delta1_w3.npy", 1, 3}};
  for (const auto& c : cases) {
    const hmr::Matrix got = ha::delta(d, c.order, c.width);
    const hmr::Matrix want = load_fixture(c.file);
    ASSERT_EQ(got.rows(), want.rows()) << c.file;
    ASSERT_EQ(got.cols(), want.cols()) << c.file;
    EXPECT_ALLCLOSE(std::span<const float>(got.vec()), std::span<const float>(want.vec()), 1e-6, 1e-5) << c.file;
  }
  EXPECT_THROW(ha::delta(hmr::Matrix(2, 8), 1, 9), hmr::Error);  // frames < width
  EXPECT_THROW(ha::delta(d, 1, 4), hmr::Error);                  // even width
  EXPECT_THROW(ha::delta(d, 0, 9), hmr::Error);                  // order < 1
}

TEST(AudioSpectral, RejectsBadParametersAndInput) {
  ha::SpectralParams p;
  p.roll_percent = 1.0;
  EXPECT_THROW(ha::check_params(p), hmr::Error);
  p = {};
  p.n_bands = 8;  // 200 * 2^7 Hz is above Nyquist
  EXPECT_THROW(ha::check_params(p), hmr::Error);
  p = {};
  p.quantile = 0.0;
  EXPECT_THROW(ha::check_params(p), hmr::Error);
  p = {};
  p.n_fft = 2047;
  EXPECT_THROW(ha::check_params(p), hmr::Error);
  auto cpu = hmr::make_cpu_backend();
  std::vector<float> empty, bad(4000, 0.1f);
  bad[17] = NAN;
  EXPECT_THROW(ha::spectral_frames(*cpu, {empty}), hmr::Error);
  EXPECT_THROW(ha::spectral_frames(*cpu, {bad}), hmr::Error);
  p = {};
  p.center = false;
  std::vector<float> tiny(1000, 0.1f);
  EXPECT_THROW(ha::spectral_frames(*cpu, {tiny}, p), hmr::Error);  // shorter than a frame, not centred
}

// ---- parity with librosa over every backend ------------------------------------------------------

class ConfSpectral : public hmr::test::BackendTest {};

TEST_P(ConfSpectral, SynthesisedSignalsMatchLibrosa) {
  const std::vector<double> tunings = load_f8("spectral_tuning.npy");
  ha::SpectralWhat all;
  all.contrast = true;
  for (std::size_t i = 0; i < std::size(kNames); ++i) {
    const std::string name = kNames[i];
    const Signal s = make_signal(name);
    const SignalCase sc = signal_case(name);
    ha::SpectralParams p;
    p.sample_rate = s.sr;
    if (sc.flat) p.tuning = tunings[i];
    const auto got = ha::spectral_frames(backend(), {s.y}, p, all);
    ASSERT_EQ(got.size(), 1u);
    // The tuning is a histogram bin (0.01 wide): it must be librosa's, or chroma moves.
    EXPECT_NEAR(got[0].tuning, tunings[i], 1e-12) << name << ": estimated tuning";
    const hmr::Matrix g = stack(got[0]), w = load_fixture("spectral_" + name + ".npy");
    for (Tol t : kTol) {
      const std::string f = t.name;
      if (sc.pure && f == "contrast") {
        std::cout << name << ": contrast not compared (a pure tone: see SignalCase)\n";
        continue;
      }
      if (sc.pure && f == "bandwidth") t.atol_scale = 5e-3;
      if (sc.flat && f == "contrast") t.abs_atol = 0.01;  // dB; the reference is ~0
      expect_feature_close(g, w, t, name);
    }
  }
}

HMR_INSTANTIATE_BACKENDS(ConfSpectral);

// ---- real clips (reference numbers only; decoding needs ../shared/data) --------------------------

// Mean and variance (numpy, ddof 0) of each of the 24 rows.
hmr::Matrix row_stats(const hmr::Matrix& m) {
  hmr::Matrix s(m.rows(), 2);
  for (std::int64_t r = 0; r < m.rows(); ++r) {
    double sum = 0.0;
    for (std::int64_t c = 0; c < m.cols(); ++c) sum += m(r, c);
    const double mean = sum / static_cast<double>(m.cols());
    double q = 0.0;
    for (std::int64_t c = 0; c < m.cols(); ++c) q += (m(r, c) - mean) * (m(r, c) - mean);
    s(r, 0) = static_cast<float>(mean);
    s(r, 1) = static_cast<float>(q / static_cast<double>(m.cols()));
  }
  return s;
}

class ConfSpectralReal : public hmr::test::BackendTest {};

TEST_P(ConfSpectralReal, GtzanClipsMatchLibrosa) {
  if (backend().kind() == hmr::BackendKind::cuda_emu) GTEST_SKIP() << "30 s clips are too slow for the emulator";
  ha::SpectralWhat all;
  all.contrast = true;
  for (const char* genre : {"blues", "classical", "metal"}) {
    const std::string tag = std::string("spectral_gtzan_") + genre + "00000";
    const std::string clip = hmr::test::shared_data(fmt::format("gtzan/genres/{0}/{0}.00000.wav", genre));
    if (clip.empty())
      GTEST_SKIP() << "../shared/data/gtzan is absent: the real-clip fixtures " << tag << "_* are not checked";
    const ha::AudioClip a = ha::load_audio(clip);
    const auto len = hmr::io::read_npy(hmr::test::fixture("audio/" + tag + "_len.npy"));
    ASSERT_EQ(static_cast<std::int64_t>(a.samples.size()), *reinterpret_cast<const std::int64_t*>(len.bytes.data()));
    const auto got = ha::spectral_frames(backend(), {a.samples}, {}, all);
    EXPECT_NEAR(got[0].tuning, load_f8(tag + "_tuning.npy")[0], 1e-12) << genre << ": estimated tuning";
    const hmr::Matrix g = stack(got[0]);
    // Per-column scale as the MFCC parity test and the issue define it: each row's mean and
    // variance (the Kaggle columns) within 1e-4 relative, an absolute floor of 1e-4 of the
    // row group's largest value.
    const hmr::Matrix gs = row_stats(g), ws = load_fixture(tag + "_stats.npy");
    for (const Tol& t : kTol) {
      for (int col = 0; col < 2; ++col) {
        hmr::Matrix gg(t.rows, 1), ww(t.rows, 1);
        for (int r = 0; r < t.rows; ++r) gg(r, 0) = gs(t.row0 + r, col), ww(r, 0) = ws(t.row0 + r, col);
        const Tol st{t.name, 0, t.rows, 1e-4, 1e-4, 0.0};
        expect_feature_close(gg, ww, st, fmt::format("{} {}", genre, col ? "var" : "mean"));
      }
    }
    // The first 40 frames, element by element.
    const hmr::Matrix wh = load_fixture(tag + "_head.npy");
    hmr::Matrix gh(24, 40);
    for (int r = 0; r < 24; ++r)
      for (int c = 0; c < 40; ++c) gh(r, c) = g(r, c);
    for (const Tol& t : kTol) expect_feature_close(gh, wh, t, std::string(genre) + " head");
  }
}

HMR_INSTANTIATE_BACKENDS(ConfSpectralReal);

}  // namespace
