// Sources (GTZAN layout, manifest, files, Kaggle features CSV) and the whole `hmr mfcc` job
// end to end (in-process through run_mfcc_job, and through the hmr binary when it is built).
#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "audio/mfcc.h"
#include "audio/mfcc_job.h"
#include "audio/sources.h"
#include "core/error.h"
#include "io/npy.h"
#include "signals.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/files.h"

using hmr::test::slurp;
namespace {

namespace fs = std::filesystem;
namespace ha = hmr::audio;
namespace ts = hmr::test::audio;

struct Tmp : hmr::test::ScratchDir {
  Tmp() : ScratchDir("audio_src") {}
};

void write_wav(const fs::path& p, const std::vector<float>& y, int sr = 22050) {
  fs::create_directories(p.parent_path());
  SF_INFO info{};
  info.samplerate = sr;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  sf_writef_float(f, y.data(), static_cast<sf_count_t>(y.size()));
  sf_close(f);
}

// root/genres/{rock,blues}/*.wav (+ a README and a hidden file that must be ignored)
fs::path make_gtzan(const fs::path& root, bool with_bad) {
  const fs::path g = root / "genres";
  write_wav(g / "rock" / "rock.00001.wav", ts::noise(9000, 1));
  write_wav(g / "rock" / "rock.00000.wav", ts::sweep(12000, 22050));
  write_wav(g / "blues" / "blues.00000.wav", ts::noise(7000, 2));
  write_wav(g / "blues" / "blues.00001.wav", ts::sweep(5000, 22050));
  std::ofstream(g / "blues" / "notes.txt") << "not audio";
  std::ofstream(g / "blues" / ".hidden.wav") << "junk";
  if (with_bad) std::ofstream(g / "rock" / "rock.00002.wav") << "this file is not a wav";
  return root;
}

TEST(AudioSources, GtzanLayoutIsSortedLabelledAndDescendsWrappers) {
  Tmp t;
  make_gtzan(t.p, false);
  const ha::AudioSet s = ha::list_gtzan(t.p);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s.kind, "gtzan");
  EXPECT_EQ(s.ids,
            (std::vector<std::string>{"blues.00000.wav", "blues.00001.wav", "rock.00000.wav", "rock.00001.wav"}));
  EXPECT_EQ(s.label_names, (std::vector<std::string>{"blues", "rock"}));
  EXPECT_EQ(s.labels, (std::vector<std::int32_t>{0, 0, 1, 1}));
  EXPECT_THROW(ha::list_gtzan(t.p / "nope"), hmr::Error);
  Tmp empty;
  EXPECT_THROW(ha::list_gtzan(empty.p), hmr::Error);
}

TEST(AudioSources, ManifestPathsAreRelativeToTheManifest) {
  Tmp t;
  write_wav(t.p / "audio" / "a.wav", ts::noise(5000, 1));
  write_wav(t.p / "audio" / "b.wav", ts::noise(5000, 2));
  std::ofstream(t.p / "m.csv") << "id,audio,lyrics_file,language,genre\n"
                                  "one,audio/a.wav,x.txt,French,Pop\n"
                                  "two,audio/b.wav,y.txt,German,Rock\n";
  const ha::AudioSet s = ha::read_manifest(t.p / "m.csv", "language");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.paths[0], t.p / "audio" / "a.wav");
  EXPECT_EQ(s.ids, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(s.label_names, (std::vector<std::string>{"French", "German"}));
  const ha::AudioSet u = ha::read_manifest(t.p / "m.csv");
  EXPECT_FALSE(u.labelled());
  EXPECT_THROW(ha::read_manifest(t.p / "m.csv", "nope"), hmr::Error);
  const ha::AudioSet o = ha::open_audio_inputs({(t.p / "m.csv").string()}, "genre");
  EXPECT_EQ(o.kind, "manifest");
  EXPECT_EQ(o.labels, (std::vector<std::int32_t>{0, 1}));
  const ha::AudioSet f =
      ha::open_audio_inputs({(t.p / "audio" / "a.wav").string(), (t.p / "audio" / "b.wav").string()});
  EXPECT_EQ(f.kind, "files");
  EXPECT_FALSE(f.labelled());
}

TEST(AudioSources, KaggleFeaturesCsvSelectsColumnsByRegex) {
  Tmp t;
  std::ofstream(t.p / "f.csv") << "filename,length,rms_mean,mfcc1_mean,mfcc1_var,mfcc2_mean,mfcc2_var,label\n"
                                  "a.wav,661794,0.1,-60.5,3292.5,99.6,1363.6,rock\n"
                                  "b.wav,661794,0.2,-70.25,100,1e2,-3.5e-1,blues\n";
  EXPECT_TRUE(ha::is_features_csv(t.p / "f.csv"));
  const ha::FeatureTable ft = ha::read_features_csv(t.p / "f.csv");
  EXPECT_EQ(ft.columns, (std::vector<std::string>{"mfcc1_mean", "mfcc1_var", "mfcc2_mean", "mfcc2_var"}));
  ASSERT_EQ(ft.features.rows(), 2);
  EXPECT_FLOAT_EQ(ft.features(1, 0), -70.25f);
  EXPECT_FLOAT_EQ(ft.features(1, 3), -0.35f);
  EXPECT_EQ(ft.ids, (std::vector<std::string>{"a.wav", "b.wav"}));
  EXPECT_EQ(ft.label_names, (std::vector<std::string>{"blues", "rock"}));
  EXPECT_EQ(ft.labels, (std::vector<std::int32_t>{1, 0}));
  const ha::FeatureTable means = ha::read_features_csv(t.p / "f.csv", "_mean$", "");
  EXPECT_EQ(means.columns, (std::vector<std::string>{"rms_mean", "mfcc1_mean", "mfcc2_mean"}));
  EXPECT_TRUE(means.labels.empty());
  EXPECT_THROW(ha::read_features_csv(t.p / "f.csv", "nomatch"), hmr::Error);
  EXPECT_THROW(ha::read_features_csv(t.p / "f.csv", "("), hmr::Error);
  std::ofstream(t.p / "bad.csv") << "filename,mfcc1_mean,label\na.wav,abc,rock\n";
  try {
    ha::read_features_csv(t.p / "bad.csv");
    ADD_FAILURE() << "a non-numeric value was accepted";
  } catch (const hmr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2"), std::string::npos) << e.what();
  }
}

TEST(AudioSources, RealKaggleFeaturesCsvLoads) {
  const std::string csv = hmr::test::shared_data("features/banglabeats_features_30_sec.csv");
  if (csv.empty()) GTEST_SKIP() << "../shared/data/features is absent";
  const ha::FeatureTable ft = ha::read_features_csv(csv);
  EXPECT_EQ(ft.features.cols(), 40);
  EXPECT_EQ(ft.columns.front(), "mfcc1_mean");
  EXPECT_EQ(ft.columns.back(), "mfcc20_var");
  EXPECT_EQ(ft.features.rows(), static_cast<std::int64_t>(ft.labels.size()));
  EXPECT_GT(ft.label_names.size(), 1u);
}

// ---- the job end to end ------------------------------------------------------------------------

class E2eMfccJob : public hmr::test::BackendTest {};

TEST_P(E2eMfccJob, GtzanFolderWithABadFileGivesSummariesCsvLabelsAndFrames) {
  Tmp in, out;
  make_gtzan(in.p, true);
  ha::MfccJob job;
  job.inputs = {in.p.string()};
  job.out = (out.p / "run").string();
  job.frames = ha::FramesOutput::ragged;
  const ha::MfccJobReport r = ha::run_mfcc_job(backend(), job);
  EXPECT_EQ(r.inputs, 5u);
  EXPECT_EQ(r.processed, 4u);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_NE(r.skipped[0].reason.find("rock.00002.wav"), std::string::npos);
  const fs::path o = job.out;
  const hmr::Matrix x = hmr::io::read_matrix(o / "mfcc_summary.npy");
  ASSERT_EQ(x.rows(), 4);
  ASSERT_EQ(x.cols(), 40);
  // Same numbers as the library call on the decoded clips.
  auto cpu = hmr::make_cpu_backend();
  const ha::AudioClip c0 = ha::load_audio(in.p / "genres" / "blues" / "blues.00000.wav");
  const hmr::Matrix s0 = ha::mfcc_clips(*cpu, {c0.samples}).summaries;
  EXPECT_ALLCLOSE(std::span<const float>(x.row(0), 40), std::span<const float>(s0.vec()), 1e-3, 1e-4);
  EXPECT_EQ(hmr::io::read_labels(o / "labels.npy"), (std::vector<std::int32_t>{0, 0, 1, 1}));
  EXPECT_EQ(slurp(o / "label_names.txt"), "blues\nrock\n");
  const std::string csv = slurp(o / "mfcc_features.csv");
  EXPECT_EQ(csv.rfind("filename,length,mfcc1_mean,mfcc1_var,mfcc2_mean,", 0), 0u) << csv.substr(0, 200);
  EXPECT_NE(csv.find(",mfcc20_var,label\n"), std::string::npos);
  EXPECT_NE(csv.find("\nrock.00001.wav,9000,"), std::string::npos);
  // The CSV reads back as a Kaggle features CSV with the same numbers.
  const ha::FeatureTable ft = ha::read_features_csv(o / "mfcc_features.csv");
  EXPECT_ALLCLOSE(std::span<const float>(ft.features.vec()), std::span<const float>(x.vec()), 0.0, 1e-6);
  EXPECT_EQ(ft.labels, (std::vector<std::int32_t>{0, 0, 1, 1}));
  const auto idx = hmr::io::read_npy(o / "mfcc_frames_index.npy");
  ASSERT_EQ(idx.count(), 5);
  const auto* iv = reinterpret_cast<const std::int64_t*>(idx.bytes.data());
  EXPECT_EQ(iv[1], ha::frame_count(7000, {}));
  const hmr::Matrix frames = hmr::io::read_matrix(o / "mfcc_frames.npy");
  EXPECT_EQ(frames.rows(), iv[4]);
  EXPECT_EQ(frames.cols(), 20);
  const auto run = nlohmann::json::parse(slurp(o / "mfcc_run.json"));
  EXPECT_EQ(run["processed"], 4);
  EXPECT_EQ(run["skipped"].size(), 1u);
  EXPECT_EQ(run["device"], backend().name());
  EXPECT_FALSE(fs::exists(o / "frames"));
}

TEST_P(E2eMfccJob, StrictStopsAtTheFirstBadFileAndAllBadIsAnError) {
  Tmp in, out;
  make_gtzan(in.p, true);
  ha::MfccJob job;
  job.inputs = {in.p.string()};
  job.out = (out.p / "strict").string();
  job.options.strict = true;
  try {
    ha::run_mfcc_job(backend(), job);
    ADD_FAILURE() << "--strict accepted a bad file";
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("rock.00002.wav"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(fs::path(job.out) / "mfcc_summary.npy"));
  Tmp bad;
  std::ofstream(bad.p / "x.wav") << "nope";
  std::ofstream(bad.p / "y.wav").close();
  ha::MfccJob j2;
  j2.inputs = {(bad.p / "x.wav").string(), (bad.p / "y.wav").string()};
  j2.out = (out.p / "none").string();
  EXPECT_THROW(ha::run_mfcc_job(backend(), j2), hmr::Error);
  EXPECT_FALSE(fs::exists(fs::path(j2.out) / "mfcc_summary.npy"));
}

TEST_P(E2eMfccJob, PerClipFrameFilesAndFeaturesCsvInput) {
  Tmp in, out;
  make_gtzan(in.p, false);
  ha::MfccJob job;
  job.inputs = {in.p.string()};
  job.out = (out.p / "a").string();
  job.frames = ha::FramesOutput::npy;
  ha::run_mfcc_job(backend(), job);
  const hmr::Matrix f = hmr::io::read_matrix(fs::path(job.out) / "frames" / "00002_rock.00000.npy");
  EXPECT_EQ(f.rows(), 20);
  EXPECT_EQ(f.cols(), ha::frame_count(12000, {}));
  // Feeding the written CSV back in re-emits the same summaries without decoding.
  ha::MfccJob again;
  again.inputs = {(fs::path(job.out) / "mfcc_features.csv").string()};
  again.out = (out.p / "b").string();
  const auto r = ha::run_mfcc_job(backend(), again);
  EXPECT_EQ(r.source, "features-csv");
  const hmr::Matrix x1 = hmr::io::read_matrix(fs::path(job.out) / "mfcc_summary.npy");
  const hmr::Matrix x2 = hmr::io::read_matrix(fs::path(again.out) / "mfcc_summary.npy");
  EXPECT_ALLCLOSE(std::span<const float>(x2.vec()), std::span<const float>(x1.vec()), 0.0, 1e-6);
}

HMR_INSTANTIATE_BACKENDS(E2eMfccJob);

TEST(E2eMfccCli, HmrBinaryRunsOnAGtzanFolder) {
  const fs::path exe = fs::path(::hmr::test::binary_dir()) / "apps" / "hmr";
  if (!fs::exists(exe)) GTEST_SKIP() << exe << " is not built";
  Tmp in, out;
  make_gtzan(in.p, true);
  const std::string cmd = fmt::format("'{}' mfcc '{}' --device cpu --out '{}' > '{}' 2>&1", exe.string(), in.p.string(),
                                      (out.p / "o").string(), (out.p / "log.txt").string());
  EXPECT_EQ(std::system(cmd.c_str()), 0) << slurp(out.p / "log.txt");
  const std::string log = slurp(out.p / "log.txt");
  EXPECT_NE(log.find("files/s on cpu"), std::string::npos) << log;
  EXPECT_NE(log.find("skipped 1 file"), std::string::npos) << log;
  EXPECT_EQ(hmr::io::read_matrix(out.p / "o" / "mfcc_summary.npy").rows(), 4);
  // Nothing processable: exit code 2.
  std::ofstream(out.p / "bad.wav") << "x";
  const std::string bad = fmt::format("'{}' mfcc '{}' --out '{}' > /dev/null 2>&1", exe.string(),
                                      (out.p / "bad.wav").string(), (out.p / "o2").string());
  const int rc = std::system(bad.c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 2);
}

}  // namespace
