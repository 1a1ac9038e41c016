// Onset strength and tempo: librosa 0.10 onset.onset_strength (mean and median over mels),
// feature.tempogram's mean and beat.beat_track's tempo on synthesised click tracks, tones and
// noise (fixtures from tests/fixtures/gen_hpss.py) over every backend, each cuda kernel against its
// cpu twin under the emulator, and three real GTZAN clips when ../shared/data is present.
// Tolerances: onset envelopes |a - b| <= 1e-4 max|b| + 1e-5 (dB differences of float32 logs);
// mean tempogram |a - b| <= 1e-5; tempo: the same lag bin as librosa (equal bpm).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>

#include "audio/decode.h"
#include "audio/tempo.h"
#include "core/error.h"
#include "hpss_signals.h"
#include "io/npy.h"
#include "support/backends.h"
#include "support/compare.h"

namespace {

namespace ha = hmr::audio;
namespace ts = hmr::test::audio;

hmr::Matrix load(const std::string& name) { return hmr::io::read_matrix(hmr::test::fixture("audio/" + name)); }

void expect_onset_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_GE(got.size(), want.size()) << what;
  const std::vector<float> head(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(want.size()));
  float peak = 0.0f;
  for (float v : want) peak = std::max(peak, std::abs(v));
  EXPECT_TRUE(hmr::test::all_close(head, want, 1e-4 * peak + 1e-5, 0.0)) << what << " (peak " << peak << ")";
}

// ---- building blocks -------------------------------------------------------------------------

TEST(AudioTempo, WindowAndLagsFollowLibrosa) {
  const ha::TempoParams p;
  EXPECT_EQ(ha::tempo_win_length(p), 344);  // time_to_frames(8.0, sr=22050, hop_length=512)
  EXPECT_DOUBLE_EQ(ha::tempo_of_lag(1, p), 2583.984375);
  EXPECT_TRUE(std::isinf(ha::tempo_of_lag(0, p)));
}

TEST(AudioTempo, OnsetEnvelopesMatchLibrosa) {
  const ha::TempoParams p;
  for (const std::string& name : ts::hpss_signal_names()) {
    const std::vector<float> y = ts::hpss_signal(name);
    expect_onset_close(ha::onset_strength_cpu(y, p), load("tempo_" + name + "_onset.npy").vec(), name + " mean");
    expect_onset_close(ha::onset_strength_cpu(y, p, ha::OnsetAggregate::median),
                       load("tempo_" + name + "_onset_median.npy").vec(), name + " median");
  }
}

TEST(AudioTempo, MeanTempogramMatchesLibrosa) {
  const ha::TempoParams p;
  for (const std::string name : {"click120", "toneclick"}) {
    const std::vector<float> env = load("tempo_" + name + "_onset_median.npy").vec();
    const std::vector<double> tg = ha::mean_tempogram_cpu(env, p);
    const std::vector<float> ref = load("tempo_" + name + "_tg.npy").vec();
    EXPECT_TRUE(hmr::test::all_close(tg, std::vector<double>(ref.begin(), ref.end()), 1e-5, 0.0)) << name;
  }
}

TEST(AudioTempo, BadInputIsRefused) {
  auto cpu = hmr::make_cpu_backend();
  const std::vector<float> empty;
  EXPECT_THROW(ha::beat_tempo(*cpu, {std::span<const float>(empty)}), hmr::Error);
  ha::TempoParams p;
  p.start_bpm = 0;
  EXPECT_THROW(ha::check_params(p), hmr::Error);
}

// ---- every backend ---------------------------------------------------------------------------

// The bpm of librosa's float64 tempo read back from a float32 fixture: the bin it names.
int lag_of(double bpm, const ha::TempoParams& p) {
  return bpm <= 0 ? 0 : static_cast<int>(std::lround(60.0 * p.sample_rate / (p.hop_length * bpm)));
}

TEST(AudioTempo, TempoFromLibrosaEnvelopeIsLibrosas) {
  const ha::TempoParams p;
  for (const std::string& name : ts::hpss_signal_names()) {
    const std::vector<float> env = load("tempo_" + name + "_onset_median.npy").vec();
    const double got = ha::tempo_from_onset_cpu(env, p), want = load("tempo_" + name + ".npy").vec()[0];
    EXPECT_EQ(lag_of(got, p), lag_of(want, p)) << name << ": " << got << " vs " << want;
    EXPECT_NEAR(got, want, 1e-5 * want) << name;
  }
}

class ConfTempo : public hmr::test::BackendTest {};

TEST_P(ConfTempo, TempoAndOnsetMatchLibrosa) {
  const bool emu = backend().kind() == hmr::BackendKind::cuda_emu;
  const ha::TempoParams p;
  std::vector<std::string> names;
  std::vector<std::vector<float>> ys;
  for (const std::string& n : ts::hpss_signal_names()) {
    if (emu && n != "click120" && n != "toneclick" && n != "silence" && n != "short") continue;
    names.push_back(n);
    ys.push_back(ts::hpss_signal(n));
  }
  std::vector<std::span<const float>> clips(ys.begin(), ys.end());
  const std::vector<double> tempo = ha::beat_tempo(backend(), clips, p);
  const auto on = ha::onset_strength(backend(), clips, p);
  const auto om = ha::onset_strength(backend(), clips, p, ha::OnsetAggregate::median);
  ASSERT_EQ(tempo.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double want = load("tempo_" + names[i] + ".npy").vec()[0];
    EXPECT_EQ(lag_of(tempo[i], p), lag_of(want, p)) << names[i] << ": " << tempo[i] << " bpm vs librosa " << want;
    expect_onset_close(on[i], load("tempo_" + names[i] + "_onset.npy").vec(), names[i] + " mean");
    expect_onset_close(om[i], load("tempo_" + names[i] + "_onset_median.npy").vec(), names[i] + " median");
  }
}

HMR_INSTANTIATE_BACKENDS(ConfTempo);

class ConfTempoReal : public hmr::test::BackendTest {};

TEST_P(ConfTempoReal, GtzanClipsMatchLibrosa) {
  if (hmr::test::shared_data("gtzan").empty()) GTEST_SKIP() << "../shared/data/gtzan is absent";
  if (backend().kind() == hmr::BackendKind::cuda_emu) GTEST_SKIP() << "30 s clips are too slow for the emulator";
  const ha::TempoParams p;
  for (const std::string rel : {"blues/blues.00000.wav", "disco/disco.00001.wav", "classical/classical.00002.wav"}) {
    const ha::AudioClip clip = ha::load_audio(hmr::test::shared_data("gtzan/genres/" + rel));
    std::string id = rel.substr(rel.find('/') + 1);
    id = id.substr(0, id.size() - 4);
    id.erase(std::remove(id.begin(), id.end(), '.'), id.end());
    const std::vector<std::span<const float>> clips = {std::span<const float>(clip.samples)};
    const double want = load("tempo_gtzan_" + id + ".npy").vec()[0];
    const double got = ha::beat_tempo(backend(), clips, p)[0];
    EXPECT_EQ(lag_of(got, p), lag_of(want, p)) << id << ": " << got << " bpm vs librosa " << want;
    expect_onset_close(ha::onset_strength(backend(), clips, p)[0], load("tempo_gtzan_" + id + "_onset.npy").vec(), id);
    expect_onset_close(ha::onset_strength(backend(), clips, p, ha::OnsetAggregate::median)[0],
                       load("tempo_gtzan_" + id + "_onset_median.npy").vec(), id + " median");
  }
}

HMR_INSTANTIATE_BACKENDS(ConfTempoReal);

}  // namespace
