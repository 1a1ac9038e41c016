// Input checks of hmr hard on GTZAN folders the tests write themselves (sine tones as 16-bit WAV,
// text files named .wav as unreadable clips): the genres, and so k, are counted after unreadable
// clips are dropped (issue 17 defect 5), fewer than 2 genres with readable clips is one exit-2
// line naming the skipped clips, and file names repeated across genre folders give unique ids.
// And hmr medium's manifest: a row with fewer fields than the header is named as such.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/backend.h"
#include "core/error.h"
#include "io/npy.h"
#include "pipeline/experiments.h"
#include "support/compare.h"
#include "support/run.h"
#include "support/wav.h"

namespace {

namespace fs = std::filesystem;
using hmr::pipeline::Config;
using hmr::pipeline::Task;

fs::path fresh_dir(const std::string& name) {
  const fs::path d =
      fs::path(::hmr::test::binary_dir()) / "pipeline-input-checks" / fmt::format("{}_{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Small settings: a handful of 1-second clips, so every stage is quick on the cpu.
Config small_hard() {
  Config c = Config::defaults(Task::hard);
  for (const char* s : {"vae.epochs=5", "vae.batch=4", "tsne.iters=250", "tsne.exag_iters=50", "kmeans.n_init=2"})
    c.set(s);
  return c;
}

// A clip libsndfile cannot read (text under an audio name).
void write_unreadable(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "not audio at all";
}

// root/rock: readable tones; root/jazz: only unreadable clips. Two genre folders, one genre.
fs::path one_readable_genre(const fs::path& root) {
  hmr::test::write_tone_wav(root / "rock" / "a.wav", 220.0);
  hmr::test::write_tone_wav(root / "rock" / "b.wav", 330.0);
  write_unreadable(root / "jazz" / "c.wav");
  write_unreadable(root / "jazz" / "d.wav");
  return root;
}

TEST(E2eHardInputs, OneGenreWithReadableClipsIsAnErrorNamingTheSkippedClips) {
  const fs::path root = fresh_dir("one_genre");
  one_readable_genre(root / "gtzan");
  auto cpu = hmr::make_cpu_backend();
  const fs::path out = root / "out";
  try {
    hmr::pipeline::run_hard(*cpu, {root / "gtzan", {}}, small_hard(), out);
    ADD_FAILURE() << "ran with a single genre of readable clips";
  } catch (const hmr::Error& e) {
    const std::string w = e.what();
    EXPECT_EQ(e.exit_code(), 2) << w;
    EXPECT_EQ(w.find('\n'), std::string::npos) << w;
    EXPECT_NE(w.find("only 1 genre ('rock')"), std::string::npos) << w;
    EXPECT_NE(w.find("2 of 4 clips skipped as unreadable"), std::string::npos) << w;
    EXPECT_NE(w.find("2 in 'jazz'"), std::string::npos) << w;
  }
  EXPECT_TRUE(!fs::exists(out) || fs::is_empty(out));
  fs::remove_all(root);
}

TEST(E2eHardInputs, OneGenreWithReadableClipsExitsWithCodeTwoFromTheCommandLine) {
  const fs::path root = fresh_dir("one_genre_cli");
  one_readable_genre(root / "gtzan");
  const auto r = hmr::test::run_hmr(fmt::format(
      "-q --device cpu hard --gtzan '{}' --out '{}' --set vae.epochs=5 --set tsne.iters=250 --set tsne.exag_iters=50",
      (root / "gtzan").string(), (root / "out").string()));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("hmr: error: --gtzan"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("only 1 genre"), std::string::npos) << r.output;
  fs::remove_all(root);
}

// Three genre folders, one without a readable clip, and the same file names in every folder: k
// and the truth labels count the two genres that have clips, and each clip has its own id.
TEST(E2eHardInputs, GenresWithoutReadableClipsAreNotCountedAndRepeatedNamesGetUniqueIds) {
  const fs::path root = fresh_dir("three_folders");
  const fs::path g = root / "gtzan";
  for (int i = 0; i < 4; ++i) {
    const std::string name = fmt::format("{:02d}.wav", i + 1);
    hmr::test::write_tone_wav(g / "blues" / name, 200.0 + 10.0 * i);
    hmr::test::write_tone_wav(g / "rock" / name, 2000.0 + 100.0 * i);
  }
  write_unreadable(g / "jazz" / "01.wav");
  write_unreadable(g / "jazz" / "02.wav");
  auto cpu = hmr::make_cpu_backend();
  const fs::path out = root / "out";
  const auto r = hmr::pipeline::run_hard(*cpu, {g, {}}, small_hard(), out);
  EXPECT_EQ(r.k, 2) << "k counted a genre folder with no readable clip";
  EXPECT_EQ(r.n_samples, 8);
  EXPECT_EQ(lines_of(out / "truth_genre_names.txt"), (std::vector<std::string>{"blues", "rock"}));
  const auto truth = hmr::io::read_labels(out / "truth_genre.npy");
  EXPECT_EQ(truth, (std::vector<std::int32_t>{0, 0, 0, 0, 1, 1, 1, 1}));
  const auto ids = lines_of(out / "ids.txt");
  ASSERT_EQ(ids.size(), 8u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 8u) << "repeated ids";
  EXPECT_EQ(ids.front(), "blues/01.wav");
  EXPECT_EQ(ids.back(), "rock/04.wav");
  EXPECT_EQ(r.excluded.size(), 2u);
  fs::remove_all(root);
}

// A manifest row cut short is a malformed line, not a track quietly left out for "no language".
TEST(E2eMediumInputs, ShortManifestRowNamesTheLineAndBothWidths) {
  const fs::path root = fresh_dir("medium_short");
  hmr::test::write_tone_wav(root / "a.wav", 220.0);
  hmr::test::write_tone_wav(root / "b.wav", 330.0);
  std::ofstream(root / "m.csv") << "id,audio,lyrics,language\nx,a.wav,\"some words\",en\ny,b.wav\n";
  auto cpu = hmr::make_cpu_backend();
  try {
    hmr::pipeline::run_medium(*cpu, {root / "m.csv"}, Config::defaults(Task::medium), root / "out");
    ADD_FAILURE() << "a short manifest row was accepted";
  } catch (const hmr::Error& e) {
    const std::string w = e.what();
    EXPECT_EQ(e.exit_code(), 2) << w;
    EXPECT_NE(w.find("m.csv: line 3 has 2 fields, the header has 4 (no value for column 'language')"),
              std::string::npos)
        << w;
  }
  fs::remove_all(root);
}

}  // namespace
