// Input checks of the audio sources (issue 17): ids stay unique when file names repeat across
// genre folders or command-line paths, a manifest with a repeated id is refused naming both lines,
// a row cut short is reported as "line N has K fields, the header has M" where the field is
// needed (manifest label, features CSV), and a ;- or tab-separated file is named as such where a
// column is missing. Every input is written by the test.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "audio/mfcc_job.h"
#include "audio/sources.h"
#include "core/backend.h"
#include "core/error.h"
#include "support/errors.h"
#include "support/files.h"
#include "support/wav.h"

using hmr::test::input_error_of;
using hmr::test::slurp;
namespace {

namespace fs = std::filesystem;
namespace ha = hmr::audio;

struct Dir : hmr::test::ScratchDir {
  Dir() : ScratchDir("source_checks") {}
};

TEST(AudioSourceChecks, GtzanFileNamesRepeatedAcrossGenresGiveGenreSlashFileIds) {
  Dir d;
  hmr::test::write_tone_wav(d.p / "rock" / "01.wav", 440.0, 0.2);
  hmr::test::write_tone_wav(d.p / "folk" / "01.wav", 220.0, 0.2);
  hmr::test::write_tone_wav(d.p / "folk" / "02.wav", 330.0, 0.2);
  const ha::AudioSet s = ha::list_gtzan(d.p);
  EXPECT_EQ(s.ids, (std::vector<std::string>{"folk/01.wav", "folk/02.wav", "rock/01.wav"}));
  // Without a repeated name the ids stay the file names (what earlier runs wrote).
  fs::remove(d.p / "rock" / "01.wav");
  hmr::test::write_tone_wav(d.p / "rock" / "03.wav", 440.0, 0.2);
  EXPECT_EQ(ha::list_gtzan(d.p).ids, (std::vector<std::string>{"01.wav", "02.wav", "03.wav"}));
}

TEST(AudioSourceChecks, MfccFeaturesCsvHasOneRowPerFileWhenNamesRepeat) {
  Dir d;
  hmr::test::write_tone_wav(d.p / "in" / "rock" / "01.wav", 440.0, 0.5);
  hmr::test::write_tone_wav(d.p / "in" / "folk" / "01.wav", 220.0, 0.5);
  auto cpu = hmr::make_cpu_backend();
  ha::MfccJob job;
  job.inputs = {(d.p / "in").string()};
  job.out = (d.p / "out").string();
  ha::run_mfcc_job(*cpu, job);
  const std::string csv = slurp(d.p / "out" / "mfcc_features.csv");
  EXPECT_NE(csv.find("\nfolk/01.wav,"), std::string::npos) << csv.substr(0, 300);
  EXPECT_NE(csv.find("\nrock/01.wav,"), std::string::npos) << csv.substr(0, 300);
}

TEST(AudioSourceChecks, FilesWithTheSameNameInTwoFoldersKeepTheirPathsAsIds) {
  const ha::AudioSet s = ha::audio_files({"a/01.wav", "b/01.wav", "c/02.wav"});
  EXPECT_EQ(s.ids, (std::vector<std::string>{"a/01.wav", "b/01.wav", "c/02.wav"}));
  EXPECT_EQ(ha::audio_files({"a/01.wav", "b/02.wav"}).ids, (std::vector<std::string>{"01.wav", "02.wav"}));
  const std::string msg = input_error_of([] { ha::audio_files({"a/01.wav", "b/01.wav", "a/./01.wav"}); });
  EXPECT_NE(msg.find("given twice (inputs 1 and 3)"), std::string::npos) << msg;
}

TEST(AudioSourceChecks, ManifestWithARepeatedIdNamesBothLines) {
  Dir d;
  std::ofstream(d.p / "m.csv") << "id,audio,label\nx,rock/01.wav,rock\ny,folk/02.wav,folk\nx,folk/01.wav,folk\n";
  std::string msg = input_error_of([&] { ha::read_manifest(d.p / "m.csv"); });
  EXPECT_NE(msg.find("m.csv: lines 2 and 4 both have the id 'x'"), std::string::npos) << msg;
  // Ids left empty fall back to the file name, which repeats here.
  std::ofstream(d.p / "n.csv") << "id,audio\n,rock/01.wav\n,folk/01.wav\n";
  msg = input_error_of([&] { ha::read_manifest(d.p / "n.csv"); });
  EXPECT_NE(msg.find("lines 2 and 3 both have the id '01.wav' (the audio file name: no id given)"), std::string::npos)
      << msg;
}

TEST(AudioSourceChecks, ShortManifestRowNamesTheMissingLabel) {
  Dir d;
  std::ofstream(d.p / "m.csv") << "id,audio,label\nx,a.wav,rock\ny,b.wav\n";
  const std::string msg = input_error_of([&] { ha::read_manifest(d.p / "m.csv"); });
  EXPECT_NE(msg.find("m.csv: line 3 has 2 fields, the header has 3 (no value for column 'label')"), std::string::npos)
      << msg;
}

// Issue 17: a Kaggle features CSV with a repeated filename gave two rows the same id.
TEST(AudioSourceChecks, FeaturesCsvRepeatedFilenameIsRefused) {
  Dir d;
  std::ofstream(d.p / "f.csv") << "filename,mfcc1_mean,label\na.wav,1,rock\nb.wav,2,jazz\na.wav,3,rock\n";
  const std::string msg = input_error_of([&] { ha::read_features_csv(d.p / "f.csv"); });
  EXPECT_NE(msg.find("f.csv: lines 2 and 4 both have the id 'a.wav' in column 'filename'"), std::string::npos) << msg;
  // distinct names are read as before
  std::ofstream(d.p / "g.csv") << "filename,mfcc1_mean,label\na.wav,1,rock\nb.wav,2,jazz\n";
  EXPECT_EQ(ha::read_features_csv(d.p / "g.csv").ids, (std::vector<std::string>{"a.wav", "b.wav"}));
}

TEST(AudioSourceChecks, ShortFeaturesRowNamesLineAndWidthsNotAnEmptyCell) {
  Dir d;
  std::ofstream(d.p / "f.csv") << "filename,mfcc1_mean,mfcc1_var,label\na.wav,1,2,rock\nb.wav,3\n";
  std::string msg = input_error_of([&] { ha::read_features_csv(d.p / "f.csv"); });
  EXPECT_NE(msg.find("f.csv: line 3 has 2 fields, the header has 4 (no value for column 'mfcc1_var')"),
            std::string::npos)
      << msg;
  // Every feature present, the label missing.
  std::ofstream(d.p / "g.csv") << "filename,mfcc1_mean,label\na.wav,1,rock\nb.wav,3\n";
  msg = input_error_of([&] { ha::read_features_csv(d.p / "g.csv"); });
  EXPECT_NE(msg.find("g.csv: line 3 has 2 fields, the header has 3 (no value for column 'label')"), std::string::npos)
      << msg;
}

TEST(AudioSourceChecks, SemicolonAndTabSeparatedFilesAreNamedAsSuch) {
  Dir d;
  const std::string hint = "hmr reads comma-separated CSV (RFC 4180)";
  std::ofstream(d.p / "semi.csv") << "filename;mfcc1_mean;mfcc1_var;label\na.wav;1;2;rock\n";
  std::string msg = input_error_of([&] { ha::read_features_csv(d.p / "semi.csv"); });
  EXPECT_NE(msg.find("looks ;-separated: " + hint), std::string::npos) << msg;
  // Decimal commas split the data rows: the error comes from the reader itself.
  std::ofstream(d.p / "dec.csv") << "filename;mfcc1_mean;label\na.wav;1,5;rock\n";
  msg = input_error_of([&] { ha::read_features_csv(d.p / "dec.csv"); });
  EXPECT_NE(msg.find("looks ;-separated"), std::string::npos) << msg;
  std::ofstream(d.p / "tab.csv") << "id\taudio\tlabel\nx\ta.wav\trock\n";
  msg = input_error_of([&] { ha::read_manifest(d.p / "tab.csv"); });
  EXPECT_NE(msg.find("looks tab-separated: " + hint), std::string::npos) << msg;
  // A comma-separated file that lacks a column gets no such hint.
  std::ofstream(d.p / "comma.csv") << "filename,mfcc1_mean\na.wav,1\n";
  msg = input_error_of([&] { ha::read_features_csv(d.p / "comma.csv"); });
  EXPECT_EQ(msg.find("separated"), std::string::npos) << msg;
}

}  // namespace
