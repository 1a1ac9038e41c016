// Kaggle feature table (audio/features.h, audio/features_job.h, `hmr features`): the column names
// and order, every column of the row against librosa 0.10 as the public GTZAN notebooks compute it
// (fixtures from tests/fixtures/gen_features.py) on every backend, segments, the extras (delta
// MFCCs, spectral contrast), and the command end to end (CSV layout, reading it back, bad inputs,
// silent / too-short / stereo 44.1 kHz clips).
// Tolerance per column j (the MFCC parity test's relative criterion, with a per-column scale):
//   |got - want| <= rtol * scale_j + 1e-9, scale_j = max over the compared rows of |want| (and,
//   for a *_mean column, of sqrt(its *_var)), so a mean near zero is judged on the spread of its
//   signal. rtol = 1e-4; harmony_* and perceptr_* (HPSS) 1e-3; tempo equal to librosa's (to the
//   float32 rounding of the stored row, 1e-7).
#include <gtest/gtest.h>

#include <omp.h>
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <numbers>

#include "audio/features.h"
#include "audio/features_job.h"
#include "audio/sources.h"
#include "core/error.h"
#include "io/npy.h"
#include "signals.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/errors.h"
#include "support/files.h"
#include "support/run.h"

namespace {

namespace ha = hmr::audio;
namespace ts = hmr::test::audio;
namespace fs = std::filesystem;

// A float64 fixture as [rows x cols] doubles (a 1-D array is one row).
struct Rows {
  std::int64_t rows = 0, cols = 0;
  std::vector<double> v;
  const double* row(std::int64_t r) const { return v.data() + r * cols; }
};

Rows load_rows(const std::string& name) {
  const auto a = hmr::io::read_npy(hmr::test::fixture("audio/" + name));
  EXPECT_EQ(a.dtype, "f8") << name;
  Rows r;
  r.rows = a.shape.size() == 1 ? 1 : a.shape[0];
  r.cols = a.shape.back();
  r.v.resize(static_cast<std::size_t>(r.rows * r.cols));
  std::memcpy(r.v.data(), a.bytes.data(), r.v.size() * sizeof(double));
  return r;
}

Rows stack(const std::vector<Rows>& parts) {
  Rows r;
  for (const auto& p : parts) {
    r.cols = p.cols;
    r.rows += p.rows;
    r.v.insert(r.v.end(), p.v.begin(), p.v.end());
  }
  return r;
}

double rtol_of(const std::string& column) {
  if (column.rfind("harmony", 0) == 0 || column.rfind("perceptr", 0) == 0) return 1e-3;
  if (column == "tempo") return 1e-7;  // equal: the float32 rounding of the column
  return 1e-4;
}

// Every column of got (float rows, [n x cols]) against want with the per-column scale above;
// reports the worst column (relative to its scale) on failure and prints it always.
void expect_rows_close(const hmr::Matrix& got, const Rows& want, const std::vector<std::string>& columns,
                       const std::string& what) {
  ASSERT_EQ(got.rows(), want.rows) << what;
  ASSERT_EQ(got.cols(), want.cols) << what;
  ASSERT_EQ(static_cast<std::int64_t>(columns.size()), want.cols) << what;
  double worst = 0.0;
  std::string worst_at;
  int failed = 0;
  for (std::int64_t j = 0; j < want.cols; ++j) {
    double scale = 0.0;
    for (std::int64_t r = 0; r < want.rows; ++r) scale = std::max(scale, std::abs(want.row(r)[j]));
    const std::string& c = columns[static_cast<std::size_t>(j)];
    if (c.size() > 5 && c.compare(c.size() - 5, 5, "_mean") == 0 && j + 1 < want.cols)
      for (std::int64_t r = 0; r < want.rows; ++r) scale = std::max(scale, std::sqrt(std::abs(want.row(r)[j + 1])));
    for (std::int64_t r = 0; r < want.rows; ++r) {
      const double g = got(r, j), w = want.row(r)[j];
      ASSERT_TRUE(std::isfinite(g)) << what << ": row " << r << " " << c << " is " << g;
      const double d = std::abs(g - w);
      const double rel = scale > 0 ? d / scale : d;
      if (d > rtol_of(c) * scale + 1e-9) {
        ++failed;
        ADD_FAILURE() << what << ": row " << r << " " << c << ": " << g << " vs librosa " << w << " (|diff| " << d
                      << ", column scale " << scale << ", rtol " << rtol_of(c) << ")";
      }
      if (rel > worst && c != "tempo")
        worst = rel, worst_at = fmt::format("row {} {}: {} vs {} (scale {})", r, c, g, w, scale);
    }
  }
  std::cout << what << ": worst relative difference (per-column scale) " << worst << " at " << worst_at << ", "
            << failed << " failing\n";
}

// "beats" of gen_features.py: a 220 Hz tone under decaying noise bursts every 0.5 s, over a
// -56 dB noise floor, 4 s.
std::vector<float> beats() {
  const std::size_t n = 4 * ts::kSr;
  const auto u = ts::noise(n, 31);
  std::vector<double> y(n);
  for (std::size_t i = 0; i < n; ++i)
    y[i] = 0.2 * std::sin(2 * std::numbers::pi * 220.0 * (static_cast<double>(i) / ts::kSr));
  for (std::size_t k = 0; k < 8; ++k) {
    const std::size_t b = k * ts::kSr / 2;
    for (std::size_t j = b; j < b + ts::kSr / 10; ++j)
      y[j] += 0.8 * static_cast<double>(u[j]) * std::exp(-static_cast<double>(j - b) / (0.02 * ts::kSr));
  }
  const auto floor = ts::noise(n, 32);
  for (std::size_t i = 0; i < n; ++i) y[i] += 0.003 * static_cast<double>(floor[i]);
  return std::vector<float>(y.begin(), y.end());
}

std::vector<float> synthetic(const std::string& name) { return name == "beats" ? beats() : ts::signal(name); }

const std::vector<std::string> kSynthetic = {"sweep", "noise", "silence", "beats"};

void write_wav(const fs::path& path, const std::vector<float>& y, int sr = ts::kSr, int channels = 1) {
  fs::create_directories(path.parent_path());
  SF_INFO info{};
  info.samplerate = sr;
  info.channels = channels;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  const auto frames = static_cast<sf_count_t>(y.size() / static_cast<std::size_t>(channels));
  ASSERT_EQ(sf_writef_float(f, y.data(), frames), frames);
  sf_close(f);
}

// ---- columns and building blocks -------------------------------------------------------------

TEST(AudioFeatures, ColumnsAreTheKaggleOnesInKaggleOrder) {
  const auto c = ha::kaggle_feature_columns();
  ASSERT_EQ(c.size(), 57u);
  EXPECT_EQ(c[0], "chroma_stft_mean");
  EXPECT_EQ(c[16], "tempo");
  EXPECT_EQ(c[17], "mfcc1_mean");
  EXPECT_EQ(c[56], "mfcc20_var");
  // The real Kaggle-layout CSV (development data): its header minus filename, length and label.
  const std::string csv = hmr::test::shared_data("features/banglabeats_features_30_sec.csv");
  if (csv.empty()) GTEST_SKIP() << "no ../shared/data/features: the Kaggle-layout header check is skipped";
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  if (!header.empty() && header.back() == '\r') header.pop_back();
  std::string want = "filename,length";
  for (const auto& n : c) want += "," + n;
  EXPECT_EQ(header, want + ",label");
}

TEST(AudioFeatures, ExtrasFollowTheKaggleColumns) {
  ha::FeatureParams p;
  p.deltas = p.contrast = true;
  const auto c = ha::feature_columns(p);
  ASSERT_EQ(c.size(), 57u + 80u + 14u);
  EXPECT_EQ(c[57], "mfcc1_delta_mean");
  EXPECT_EQ(c[58], "mfcc1_delta_var");
  EXPECT_EQ(c[97], "mfcc1_delta2_mean");
  EXPECT_EQ(c[137], "spectral_contrast1_mean");
  EXPECT_EQ(c[150], "spectral_contrast7_var");
}

TEST(AudioFeatures, SegmentsAreWholeAndStartAtZero) {
  const auto s = ha::cut_segments(661794, 3.0, 22050);  // a GTZAN clip: 10 segments of 66150
  ASSERT_EQ(s.size(), 10u);
  EXPECT_EQ(s[0].start, 0);
  EXPECT_EQ(s[9].start, 9 * 66150);
  EXPECT_EQ(s[9].length, 66150);
  const auto one = ha::cut_segments(1000, 3.0, 22050);  // shorter than a segment: the whole clip
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].length, 1000);
  EXPECT_TRUE(ha::cut_segments(0, 3.0, 22050).empty());
  EXPECT_NE(hmr::test::input_error_of([] { ha::cut_segments(10, 0.0, 22050); }).find("must be > 0"), std::string::npos);
}

TEST(AudioFeatures, MeanVarIsNumpysPopulationVariance) {
  const std::vector<float> v = {1.0f, 2.0f, 4.0f, 7.0f};
  const auto m = ha::mean_var(v);
  EXPECT_DOUBLE_EQ(m.mean, 3.5);
  EXPECT_DOUBLE_EQ(m.var, (6.25 + 2.25 + 0.25 + 12.25) / 4.0);
}

TEST(AudioFeatures, SegmentFileNamesFollowKaggle) {
  EXPECT_EQ(ha::segment_csv_name(3.0), "features_3_sec.csv");
  EXPECT_EQ(ha::segment_csv_name(1.5), "features_1.5_sec.csv");
}

// ---- librosa parity over the backends ---------------------------------------------------------

class ConfFeatures : public hmr::test::BackendTest {};

TEST_P(ConfFeatures, SyntheticRowsMatchLibrosa) {
  std::vector<std::vector<float>> ys;
  std::vector<std::span<const float>> clips;
  std::vector<Rows> want;
  for (const auto& n : kSynthetic) {
    ys.push_back(synthetic(n));
    want.push_back(load_rows("features_" + n + "_row.npy"));
  }
  for (const auto& y : ys) clips.emplace_back(y);
  const hmr::Matrix got = ha::feature_rows(backend(), clips);
  expect_rows_close(got, stack(want), ha::kaggle_feature_columns(),
                    GetParam() + " synthetic (sweep, noise, silence, beats)");
}

TEST_P(ConfFeatures, ExtrasMatchLibrosa) {
  ha::FeatureParams p;
  p.deltas = p.contrast = true;
  std::vector<std::vector<float>> ys;
  std::vector<std::span<const float>> clips;
  std::vector<Rows> want;
  // (Not the pure sweep: with no noise floor its far bins hold only FFT round-off, which the
  // contrast valleys measure; docs/audio.md.)
  for (const std::string n : {"noise", "beats"}) {
    ys.push_back(synthetic(n));
    want.push_back(load_rows("features_" + n + "_extras.npy"));
  }
  for (const auto& y : ys) clips.emplace_back(y);
  const hmr::Matrix all = ha::feature_rows(backend(), clips, p);
  hmr::Matrix extras(all.rows(), all.cols() - 57);
  for (std::int64_t r = 0; r < all.rows(); ++r)
    for (std::int64_t c = 57; c < all.cols(); ++c) extras(r, c - 57) = all(r, c);
  const auto cols = ha::feature_columns(p);
  expect_rows_close(extras, stack(want), std::vector<std::string>(cols.begin() + 57, cols.end()),
                    GetParam() + " extras (deltas, contrast)");
}

TEST_P(ConfFeatures, SegmentsOfAFileMatchLibrosaOnEachSegment) {
  hmr::test::ScratchDir dir("features_seg");
  write_wav(dir.p / "beats.wav", beats());
  ha::FeatureOptions o;
  o.whole = false;
  o.segment_seconds = 1.0;
  o.chunk = 3;  // segments of one clip split across chunks must not matter
  const auto r = ha::features_files(backend(), {dir.p / "beats.wav"}, {}, o);
  ASSERT_TRUE(r.skipped.empty()) << r.skipped.front().reason;
  ASSERT_EQ(r.seg_rows.rows(), 4);
  EXPECT_EQ(r.seg_number[3], 3);
  EXPECT_EQ(r.seg_length[0], 22050);
  expect_rows_close(r.seg_rows, load_rows("features_beats_seg1s.npy"), r.columns, GetParam() + " beats 1 s segments");
}

TEST_P(ConfFeatures, StereoAt44kIsDownmixedResampledAndMatchesLibrosa) {
  hmr::test::ScratchDir dir("features_stereo");
  write_wav(dir.p / "stereo44k.wav", ts::stereo44k(), 44100, 2);
  const auto r = ha::features_files(backend(), {dir.p / "stereo44k.wav"});
  ASSERT_TRUE(r.skipped.empty()) << r.skipped.front().reason;
  EXPECT_EQ(r.length[0], 22050);
  expect_rows_close(r.rows, load_rows("features_stereo44k_row.npy"), r.columns, GetParam() + " stereo 44.1 kHz");
}

TEST_P(ConfFeatures, RealGtzanClipsMatchLibrosa) {
  const std::string root = hmr::test::shared_data("gtzan/genres");
  if (root.empty()) GTEST_SKIP() << "no ../shared/data/gtzan: the real-clip parity test is skipped";
  if (GetParam() == "cuda-emu")
    GTEST_SKIP() << "three 30 s clips are too slow under the emulator; cuda-emu meets librosa in the synthetic tests";
  std::vector<fs::path> paths;
  std::vector<Rows> want;
  for (const std::string g : {"blues", "classical", "metal"}) {
    paths.push_back(fs::path(root) / g / (g + ".00000.wav"));
    want.push_back(load_rows("features_gtzan_" + g + "00000_row.npy"));
  }
  ha::FeatureOptions o;
  o.segment_seconds = 3.0;
  const auto r = ha::features_files(backend(), paths, {}, o);
  ASSERT_TRUE(r.skipped.empty()) << r.skipped.front().reason;
  const auto len = hmr::io::read_npy(hmr::test::fixture("audio/features_gtzan_len.npy"));
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(r.length[i], reinterpret_cast<const std::int64_t*>(len.bytes.data())[i]);
  expect_rows_close(r.rows, stack(want), r.columns, GetParam() + " GTZAN blues/classical/metal .00000");
  // blues.00000's ten 3 s segments (the first rows of seg_rows).
  hmr::Matrix blues(10, r.seg_rows.cols());
  ASSERT_GE(r.seg_rows.rows(), 10);
  for (std::int64_t s = 0; s < 10; ++s) {
    ASSERT_EQ(r.seg_of[static_cast<std::size_t>(s)], 0);
    std::copy_n(r.seg_rows.row(s), r.seg_rows.cols(), blues.row(s));
  }
  EXPECT_EQ(r.seg_of[10], 1);
  expect_rows_close(blues, load_rows("features_gtzan_blues00000_seg3s.npy"), r.columns,
                    GetParam() + " GTZAN blues.00000 3 s segments");
  // The extras of blues.00000 (delta MFCCs, spectral contrast).
  ha::FeatureParams p;
  p.deltas = p.contrast = true;
  const auto e = ha::features_files(backend(), {paths[0]}, p);
  ASSERT_TRUE(e.skipped.empty()) << e.skipped.front().reason;
  hmr::Matrix extras(1, e.rows.cols() - 57);
  std::copy_n(e.rows.row(0) + 57, extras.cols(), extras.row(0));
  expect_rows_close(extras, load_rows("features_gtzan_blues00000_extras.npy"),
                    std::vector<std::string>(e.columns.begin() + 57, e.columns.end()),
                    GetParam() + " GTZAN blues.00000 extras");
}

TEST_P(ConfFeatures, ResultsDoNotDependOnTheChunkSizeOrThreads) {
  hmr::test::ScratchDir dir("features_chunk");
  std::vector<fs::path> paths;
  for (const auto& n : kSynthetic) {
    paths.push_back(dir.p / (n + ".wav"));
    write_wav(paths.back(), synthetic(n));
  }
  ha::FeatureOptions a, b;
  a.chunk = 1;
  b.chunk = 3;
  a.segment_seconds = b.segment_seconds = 0.5;
  const auto ra = ha::features_files(backend(), paths, {}, a), rb = ha::features_files(backend(), paths, {}, b);
  ASSERT_TRUE(ra.skipped.empty()) << ra.skipped.front().reason;
  ASSERT_EQ(ra.rows.rows(), 4);
  ASSERT_EQ(ra.seg_rows.rows(), 4 + 3 + 2 + 8);  // sweep 2 s, noise 1.5 s, silence 1 s, beats 4 s
  EXPECT_TRUE(hmr::test::bitwise_equal(ra.rows.vec(), rb.rows.vec()));
  EXPECT_TRUE(hmr::test::bitwise_equal(ra.seg_rows.vec(), rb.seg_rows.vec()));
  // ... nor on the thread count.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(threads == 1 ? 3 : 1);
  const auto rc = ha::features_files(backend(), paths, {}, b);
  omp_set_num_threads(threads);
  EXPECT_TRUE(hmr::test::bitwise_equal(ra.rows.vec(), rc.rows.vec()));
  EXPECT_TRUE(hmr::test::bitwise_equal(ra.seg_rows.vec(), rc.seg_rows.vec()));
}

HMR_INSTANTIATE_BACKENDS(ConfFeatures);

// ---- bad and odd inputs ------------------------------------------------------------------------

TEST(AudioFeatures, SilentClipHasNoNaN) {
  auto cpu = hmr::make_cpu_backend();
  const auto y = ts::signal("silence");
  const hmr::Matrix m = ha::feature_rows(*cpu, {std::span<const float>(y)});
  for (std::int64_t c = 0; c < m.cols(); ++c) EXPECT_TRUE(std::isfinite(m(0, c))) << "column " << c;
  EXPECT_EQ(m(0, 16), 0.0f) << "silence: librosa's beat_track tempo is 0";
}

TEST(AudioFeatures, ClipShorterThanOneFrameIsComputedAsLibrosaComputesIt) {
  // 1000 samples (< n_fft): centred zero padding, 2 frames. Every column is librosa's but the
  // HPSS ones: librosa 0.10.2's istft of a 2-frame spectrogram (centred, length given) returns
  // values that change from call to call (NaN on some: the same y gave NaN on 3 of 6 calls), so
  // its harmony/perceptr of such clips are not a reference: hmr's must be finite, not compared.
  auto cpu = hmr::make_cpu_backend();
  const auto y = ts::signal("short");
  const hmr::Matrix m = ha::feature_rows(*cpu, {std::span<const float>(y)});
  Rows want = load_rows("features_short_row.npy");
  const auto cols = ha::kaggle_feature_columns();
  for (std::int64_t c = 0; c < m.cols(); ++c) {
    const std::string& name = cols[static_cast<std::size_t>(c)];
    ASSERT_TRUE(std::isfinite(m(0, c))) << name;
    if (name.rfind("harmony", 0) == 0 || name.rfind("perceptr", 0) == 0) {
      std::cout << "short: " << name << " hmr " << m(0, c) << ", librosa " << want.v[static_cast<std::size_t>(c)]
                << " (not compared)\n";
      want.v[static_cast<std::size_t>(c)] = m(0, c);
    }
  }
  expect_rows_close(m, want, cols, "short (1000 samples)");
  // delta's window (9 frames) does not fit 2 frames: librosa refuses it, so does hmr.
  ha::FeatureParams p;
  p.deltas = true;
  EXPECT_FALSE(hmr::test::input_error_of([&] { ha::feature_rows(*cpu, {std::span<const float>(y)}, p); }).empty());
  const std::vector<float> empty;
  EXPECT_NE(hmr::test::input_error_of([&] { ha::feature_rows(*cpu, {std::span<const float>(empty)}); }).find("empty"),
            std::string::npos);
}

// ---- the job end to end ------------------------------------------------------------------------

struct Folder {
  hmr::test::ScratchDir dir{"features_e2e"};
  fs::path root() const { return dir.p / "genres"; }
  Folder() {
    write_wav(root() / "a" / "beats.wav", beats());
    write_wav(root() / "a" / "silence.wav", ts::signal("silence"));
    write_wav(root() / "b" / "noise.wav", ts::signal("noise"));
    write_wav(root() / "b" / "sweep.wav", ts::signal("sweep"));
    write_wav(root() / "b" / "short.wav", ts::signal("short"));
    std::ofstream(root() / "b" / "zbad.wav") << "not audio at all";
  }
};

TEST(AudioFeaturesE2e, WritesTheKaggleCsvsThatReadBack) {
  Folder f;
  auto cpu = hmr::make_cpu_backend();
  ha::FeaturesJob job;
  job.inputs = {f.root().string()};
  job.options.segment_seconds = 1.0;
  job.logmel = true;
  job.out = (f.dir.p / "out").string();
  const auto rep = ha::run_features_job(*cpu, job);
  EXPECT_EQ(rep.source, "gtzan");
  EXPECT_EQ(rep.inputs, 6u);
  EXPECT_EQ(rep.processed, 5u);
  ASSERT_EQ(rep.skipped.size(), 1u);
  EXPECT_NE(rep.skipped[0].reason.find("zbad.wav"), std::string::npos) << rep.skipped[0].reason;
  const fs::path out(job.out);
  for (const char* name : {"features_30_sec.csv", "features_1_sec.csv", "features_run.json"})
    EXPECT_TRUE(fs::exists(out / name)) << name;
  EXPECT_TRUE(fs::exists(out / "logmel" / "00000_beats.npy"));
  EXPECT_FALSE(fs::exists(out / "logmel" / "00005_zbad.npy")) << "a skipped file has no log-mel file";
  const auto patches = hmr::io::read_npy(out / "logmel" / "00000_beats_segments.npy");
  EXPECT_EQ(patches.shape, (std::vector<std::int64_t>{4, 128, 44}));
  // log-mel in dB: librosa's own to 2e-3 dB absolute (the MFCC stage's mel power parity, 1e-4
  // relative, is ~4e-4 dB) + 1e-4 relative.
  const hmr::Matrix lm = hmr::io::read_matrix(out / "logmel" / "00004_sweep.npy");
  const hmr::Matrix lm_want = hmr::io::read_matrix(hmr::test::fixture("audio/features_sweep_logmel.npy"));
  ASSERT_EQ(lm.rows(), lm_want.rows());
  ASSERT_EQ(lm.cols(), lm_want.cols());
  EXPECT_ALLCLOSE(std::span<const float>(lm.vec()), std::span<const float>(lm_want.vec()), 2e-3, 1e-4);

  // Header: exactly Kaggle's.
  std::ifstream in(out / "features_30_sec.csv");
  std::string header;
  std::getline(in, header);
  std::string want = "filename,length";
  for (const auto& n : ha::kaggle_feature_columns()) want += "," + n;
  EXPECT_EQ(header, want + ",label");

  // hmr's own features-CSV reader, with hmr hard's default column selection (all 57).
  const auto t = ha::read_features_csv(out / "features_30_sec.csv", "_mean$|_var$|^tempo$");
  EXPECT_EQ(t.columns, ha::kaggle_feature_columns());
  EXPECT_EQ(t.ids, (std::vector<std::string>{"beats.wav", "silence.wav", "noise.wav", "short.wav", "sweep.wav"}));
  EXPECT_EQ(t.label_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.labels, (std::vector<std::int32_t>{0, 0, 1, 1, 1}));
  // The CSV holds librosa's numbers (shortest round-trip floats).
  hmr::Matrix four(4, 57);  // all but short.wav (its librosa HPSS may be NaN; tested above)
  for (std::int64_t r = 0, o = 0; r < 5; ++r)
    if (r != 3) std::copy_n(t.features.row(r), 57, four.row(o++));
  expect_rows_close(four,
                    stack({load_rows("features_beats_row.npy"), load_rows("features_silence_row.npy"),
                           load_rows("features_noise_row.npy"), load_rows("features_sweep_row.npy")}),
                    t.columns, "features_30_sec.csv");

  const auto s = ha::read_features_csv(out / "features_1_sec.csv", "_mean$|_var$|^tempo$");
  EXPECT_EQ(s.ids,
            (std::vector<std::string>{"beats.0.wav", "beats.1.wav", "beats.2.wav", "beats.3.wav", "silence.0.wav",
                                      "noise.0.wav", "short.0.wav", "sweep.0.wav", "sweep.1.wav"}));
  hmr::Matrix beats_rows(4, 57);
  std::copy_n(s.features.data(), 4 * 57, beats_rows.data());
  expect_rows_close(beats_rows, load_rows("features_beats_seg1s.npy"), s.columns, "features_1_sec.csv beats");
  std::ifstream seg(out / "features_1_sec.csv");
  std::string line;
  std::getline(seg, line);
  std::getline(seg, line);
  EXPECT_EQ(line.rfind("beats.0.wav,22050,", 0), 0u) << line;
}

TEST(AudioFeaturesE2e, NothingReadableIsOneClearError) {
  hmr::test::ScratchDir dir("features_bad");
  write_wav(dir.p / "empty.wav", {});  // a header and no samples
  std::ofstream(dir.p / "bad.wav") << "not audio";
  auto cpu = hmr::make_cpu_backend();
  ha::FeaturesJob job;
  job.inputs = {(dir.p / "empty.wav").string(), (dir.p / "bad.wav").string()};
  job.out = (dir.p / "out").string();
  const std::string msg = hmr::test::input_error_of([&] { ha::run_features_job(*cpu, job); });
  EXPECT_NE(msg.find("none of the 2 input file(s)"), std::string::npos) << msg;
  job.options.strict = true;
  job.inputs = {(dir.p / "bad.wav").string()};
  EXPECT_NE(hmr::test::input_error_of([&] { ha::run_features_job(*cpu, job); }).find("bad.wav"), std::string::npos);
}

TEST(AudioFeaturesE2e, TheProgramExitsTwoWithOneLineOnBadInput) {
  if (!fs::exists(hmr::test::hmr_exe())) GTEST_SKIP() << "the hmr program is not built in " << hmr::test::binary_dir();
  hmr::test::ScratchDir dir("features_cli");
  const auto missing = hmr::test::run_hmr("features " + (dir.p / "nope").string() + " --out " + (dir.p / "o").string());
  EXPECT_EQ(missing.code, 2) << missing.output;
  const auto noout = hmr::test::run_hmr("features " + (dir.p / "nope").string());
  EXPECT_EQ(noout.code, 2) << noout.output;
  EXPECT_NE(noout.output.find("--out"), std::string::npos) << noout.output;
  const auto seg = hmr::test::run_hmr("features x.wav --segment-seconds -1 --out " + (dir.p / "o").string());
  EXPECT_EQ(seg.code, 2) << seg.output;
  // A good run: the CSV and the run summary.
  write_wav(dir.p / "in" / "noise.wav", ts::signal("noise"));
  const auto ok = hmr::test::run_hmr("features " + (dir.p / "in" / "noise.wav").string() + " --device cpu -q --out " +
                                     (dir.p / "o").string());
  ASSERT_EQ(ok.code, 0) << ok.output;
  EXPECT_TRUE(fs::exists(dir.p / "o" / "features_30_sec.csv"));
  EXPECT_NE(hmr::test::slurp(dir.p / "o" / "features_run.json").find("\"files_per_s\""), std::string::npos);
}

}  // namespace
