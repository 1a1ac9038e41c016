// The hmr program's input checks (issue 17, weak cases): each bad option or setting below is
// refused before any work with exit code 2 and a single "hmr: error: ..." line that names the
// option or key, never a wrapped value, a crash, exit 1 or a run that succeeds. Inputs (.npy
// arrays, WAV clips, CSV files) are written by the test into a fresh folder.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/matrix.h"
#include "io/npy.h"
#include "support/cli_inputs.h"
#include "support/compare.h"
#include "support/run.h"
#include "support/wav.h"

namespace {

namespace fs = std::filesystem;
using hmr::test::run_hmr;

// The inputs of support/cli_inputs.h in a folder of this suite.
struct Inputs : hmr::test::CliInputs {
  Inputs() : CliInputs("input-checks") {}
};

// Runs hmr with `args` and checks the contract: exit 2, exactly one "hmr: error:" line or one
// CLI11 line, and that line contains `needle`. Returns the output for further checks.
std::string expect_one_line_exit_2(const std::string& args, const std::string& needle) {
  const auto r = run_hmr("-q " + args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
  std::size_t lines = 0;
  std::string last;
  std::istringstream in(r.output);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) {
      ++lines;
      last = l;
    }
  EXPECT_EQ(lines, 1u) << args << ": not one line:\n" << r.output;
  EXPECT_NE(last.find(needle), std::string::npos) << args << ": the error does not name '" << needle << "':\n"
                                                  << r.output;
  return r.output;
}

TEST(E2eInputChecks, MfccThreadsNegative) {
  Inputs in;
  expect_one_line_exit_2(fmt::format("mfcc {} --threads -1 --out {}", in.wav, in.out("o")), "--threads");
}

TEST(E2eInputChecks, PcaNegativeIterations) {
  Inputs in;
  expect_one_line_exit_2(
      fmt::format("pca --input {} -k 2 --solver randomized --n-iter -5 --out {}", in.x, in.out("z.npy")), "--n-iter");
}

TEST(E2eInputChecks, SeedNegative) {
  Inputs in;
  expect_one_line_exit_2(fmt::format("--seed -1 kmeans --input {} --k 2 --out {}", in.x, in.out("l.npy")), "--seed");
}

TEST(E2eInputChecks, SeedBeyondUint64) {
  Inputs in;
  expect_one_line_exit_2(fmt::format("--seed 1e20 kmeans --input {} --k 2 --out {}", in.x, in.out("l.npy")), "--seed");
}

TEST(E2eInputChecks, MfccSampleRateOne) {
  Inputs in;
  expect_one_line_exit_2(fmt::format("mfcc {} --sr 1 --out {}", in.wav, in.out("o")), "--sr");
}

TEST(E2eInputChecks, MfccMelBandsWithEmptyFilters) {
  Inputs in;
  expect_one_line_exit_2(fmt::format("mfcc {} --n-mels 4096 --out {}", in.wav, in.out("o")), "empty");
  EXPECT_FALSE(fs::exists(in.out("o"))) << "wrote outputs before refusing the settings";
}

// A hop of 2e9 samples used to crash (segmentation fault) allocating the framing scratch.
TEST(E2eInputChecks, MfccHopLengthTooLarge) {
  Inputs in;
  expect_one_line_exit_2(fmt::format("mfcc {} --hop-length 2000000000 --out {}", in.wav, in.out("o")), "--hop-length");
  expect_one_line_exit_2(
      fmt::format("hard --features {} --set mfcc.hop_length=2000000000 --out {}", in.out("absent.csv"), in.out("run")),
      "mfcc.hop_length");
}

TEST(E2eInputChecks, TrainZeroEpochs) {
  Inputs in;
  expect_one_line_exit_2(fmt::format("train --features {} --epochs 0 --out {}", in.x, in.out("m.safetensors")),
                         "--epochs");
}

TEST(E2eInputChecks, TrainZeroLatent) {
  Inputs in;
  expect_one_line_exit_2(fmt::format("train --features {} --latent 0 --out {}", in.x, in.out("m.safetensors")),
                         "--latent");
}

// Layers too wide for any machine: refused with the parameter count, not "std::bad_alloc" (exit 1).
TEST(E2eInputChecks, TrainLayersTooWide) {
  Inputs in;
  expect_one_line_exit_2(
      fmt::format("--device cpu train --features {} --hidden 2000000000 --batch 10 --epochs 1 --out {}", in.x,
                  in.out("m.safetensors")),
      "parameters");
}

TEST(E2eInputChecks, TsnePlotNotPng) {
  Inputs in;
  expect_one_line_exit_2(fmt::format("tsne --input {} --plot {} --out {}", in.x, in.out("x.jpg"), in.out("y.npy")),
                         "--plot");
}

TEST(E2eInputChecks, MetricsContingencyWithoutTruth) {
  Inputs in;
  expect_one_line_exit_2(fmt::format("metrics --input {} --pred {} --contingency", in.x, in.labels), "--truth");
}

// Finite values near 1e38 overflow float32 squared distances: K-Means used to finish with NaN
// inertia and exit 0.
TEST(E2eInputChecks, KmeansValuesBeyondFloatDistances) {
  Inputs in;
  hmr::Matrix big(20, 2);
  for (std::int64_t i = 0; i < 20; ++i)
    for (std::int64_t j = 0; j < 2; ++j) big(i, j) = (i % 2 ? 1.0f : -1.0f) * (1e38f - static_cast<float>(i) * 1e36f);
  hmr::io::write_npy(in.out("big.npy"), big);
  expect_one_line_exit_2(
      fmt::format("--device cpu kmeans --input {} --k 2 --out {}", in.out("big.npy"), in.out("l.npy")),
      "beyond float32 range");
}

// A learning rate so large the embedding overflows: the user's setting, named, not "internal
// error at tsne.cpp".
TEST(E2eInputChecks, TsneDivergenceNamesTheLearningRate) {
  Inputs in;
  const std::string out = expect_one_line_exit_2(
      fmt::format("--device cpu tsne --input {} --perplexity 5 --learning-rate 1e38 --iters 300 --out {}", in.x,
                  in.out("y.npy")),
      "learning rate");
  EXPECT_EQ(out.find("internal error"), std::string::npos) << out;
}

// Validated with every other setting before any input is read: the features file does not even
// exist, and the error is the setting's, not the missing file's (nor one raised after training).
TEST(E2eInputChecks, ExperimentPerplexityZeroBeforeAnyWork) {
  Inputs in;
  expect_one_line_exit_2(
      fmt::format("hard --features {} --set tsne.perplexity=0 --out {}", in.out("absent.csv"), in.out("run")),
      "tsne.perplexity = 0");
  EXPECT_FALSE(fs::exists(in.out("run")));
}

// Invalid UTF-8: hmr tfidf has --lossy and advises it; commands without the flag must not.
TEST(E2eInputChecks, LossyAdvisedOnlyByCommandsThatHaveIt) {
  Inputs in;
  std::string out =
      expect_one_line_exit_2(fmt::format("tfidf --lyrics {}:en --out {}", in.bad_lyrics, in.out("t")), "invalid UTF-8");
  EXPECT_NE(out.find("pass --lossy"), std::string::npos) << out;
  out =
      expect_one_line_exit_2(fmt::format("easy --lyrics {}:en --out {}", in.bad_lyrics, in.out("e")), "invalid UTF-8");
  EXPECT_EQ(out.find("--lossy"), std::string::npos) << "easy has no --lossy: " << out;
  const std::string manifest = in.out("m.csv");
  std::ofstream(manifest, std::ios::binary) << "id,audio,lyrics,language\nx,clip.wav,\"caf\xE9\",en\n";
  out = expect_one_line_exit_2(fmt::format("medium --manifest {} --out {}", manifest, in.out("m")), "invalid UTF-8");
  EXPECT_EQ(out.find("--lossy"), std::string::npos) << "medium has no --lossy: " << out;
}

}  // namespace
