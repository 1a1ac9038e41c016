// The ecosystem's names beside hmr's own (issue 18): each alias taken from scikit-learn, librosa,
// openTSNE or PyTorch gives byte for byte the output of hmr's own name; a mistyped option, command
// or --set key gets one "did you mean" line and exit 2; a --set value of the wrong type says what
// the key takes. Inputs are written by the test into a fresh folder.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/matrix.h"
#include "core/names.h"
#include "io/npy.h"
#include "support/cli_inputs.h"
#include "support/compare.h"
#include "support/files.h"
#include "support/run.h"
#include "support/wav.h"

namespace {

namespace fs = std::filesystem;
using hmr::test::run_hmr;
using hmr::test::slurp;

TEST(Names, EditDistanceCountsSwapsAsOneEdit) {
  EXPECT_EQ(hmr::edit_distance("hard", "hard"), 0);
  EXPECT_EQ(hmr::edit_distance("hrad", "hard"), 1);  // a swap, not two substitutions
  EXPECT_EQ(hmr::edit_distance("gtzn", "gtzan"), 1);
  EXPECT_EQ(hmr::edit_distance("kitten", "sitting"), 3);
  EXPECT_EQ(hmr::edit_distance("", "abc"), 3);
}

TEST(Names, ClosestNameOnlyWhenClose) {
  const std::vector<std::string> cmds{"easy", "hard", "medium", "tsne"};
  EXPECT_EQ(hmr::closest_name("hrad", cmds), "hard");
  EXPECT_EQ(hmr::closest_name("meduim", cmds), "medium");
  EXPECT_EQ(hmr::closest_name("xyzzy", cmds), "");
  EXPECT_EQ(hmr::closest_name("", cmds), "");
  // One letter is no evidence: "x" is one edit from many names and is not corrected.
  EXPECT_EQ(hmr::closest_name("--x", {"--k", "-v"}), "");
  EXPECT_EQ(hmr::closest_name("--gtzn", {"--features", "--gtzan"}), "--gtzan");
}

// The inputs of support/cli_inputs.h in a folder of this suite.
struct Inputs : hmr::test::CliInputs {
  Inputs() : CliInputs("names") {}
};

// Runs hmr twice, `ours` and `theirs` each writing `file` under a folder of its own, and expects
// both to succeed with the same bytes.
void expect_same_output(const Inputs& in, const std::string& ours, const std::string& theirs, const std::string& file) {
  fs::create_directories(in.out("ours"));
  fs::create_directories(in.out("theirs"));
  const auto a = run_hmr("-q " + fmt::format(fmt::runtime(ours), in.out("ours")));
  const auto b = run_hmr("-q " + fmt::format(fmt::runtime(theirs), in.out("theirs")));
  ASSERT_EQ(a.code, 0) << ours << "\n" << a.output;
  ASSERT_EQ(b.code, 0) << theirs << "\n" << b.output;
  const std::string x = slurp(in.out("ours/" + file)), y = slurp(in.out("theirs/" + file));
  ASSERT_FALSE(x.empty()) << ours << " wrote no " << file;
  EXPECT_TRUE(x == y) << theirs << " wrote another " << file << " than " << ours;
}

TEST(E2eNames, KMeansNClustersIsK) {
  Inputs in;
  expect_same_output(in, "kmeans -i " + in.x + " --k 3 --out {}/l.npy",
                     "kmeans -i " + in.x + " --n-clusters 3 --out {}/l.npy", "l.npy");
}

TEST(E2eNames, RandomStateIsSeed) {
  Inputs in;
  expect_same_output(in, "--seed 5 kmeans -i " + in.x + " --k 3 --n-init 1 --out {}/l.npy",
                     "--random-state 5 kmeans -i " + in.x + " --k 3 --n-init 1 --out {}/l.npy", "l.npy");
}

// A seed that differs must show: otherwise the two runs above would match whatever --random-state did.
TEST(E2eNames, RandomStateIsNotIgnored) {
  Inputs in;
  const std::string t = fmt::format("tsne -i {} --perplexity 5 --exag-iters 10 --iters 20 --init random --out ", in.x);
  const auto a = run_hmr("-q --random-state 1 " + t + in.out("a.npy"));
  const auto b = run_hmr("-q --random-state 2 " + t + in.out("b.npy"));
  ASSERT_EQ(a.code, 0) << a.output;
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_NE(slurp(in.out("a.npy")), slurp(in.out("b.npy")));
}

const std::string kTsne = "tsne -i {} --perplexity 5 ";

// openTSNE's n_iter counts the iterations after early exaggeration: 20 + 20 = hmr's 40 in all.
TEST(E2eNames, TsneNIterCountsAfterExaggeration) {
  Inputs in;
  const std::string t = fmt::format(fmt::runtime(kTsne), in.x);
  expect_same_output(in, t + "--exag-iters 20 --iters 40 --out {}/y.npy",
                     t + "--exag-iters 20 --n-iter 20 --out {}/y.npy", "y.npy");
  expect_same_output(in, t + "--exag-iters 20 --iters 40 --out {}/y.npy",
                     t + "--n-iter 20 --early-exaggeration-iter 20 --out {}/y.npy", "y.npy");
  const auto r = run_hmr(t + "--exag-iters 20 --n-iter 20 --out " + in.out("z.npy"));
  EXPECT_NE(r.output.find("40 iterations"), std::string::npos) << r.output;
  // Both lengths at once is ambiguous.
  const auto both = run_hmr(t + "--iters 40 --n-iter 20 --out " + in.out("w.npy"));
  EXPECT_EQ(both.code, 2) << both.output;
}

TEST(E2eNames, TsneMaxIterIsIters) {
  Inputs in;
  const std::string t = fmt::format(fmt::runtime(kTsne), in.x) + "--exag-iters 10 ";
  expect_same_output(in, t + "--iters 30 --out {}/y.npy", t + "--max-iter 30 --out {}/y.npy", "y.npy");
}

TEST(E2eNames, TsneEarlyExaggerationIsEarlyExag) {
  Inputs in;
  const std::string t = fmt::format(fmt::runtime(kTsne), in.x) + "--exag-iters 10 --iters 30 ";
  expect_same_output(in, t + "--early-exag 4 --out {}/y.npy", t + "--early-exaggeration 4 --out {}/y.npy", "y.npy");
}

TEST(E2eNames, TsneLearningRateAutoIsZero) {
  Inputs in;
  const std::string t = fmt::format(fmt::runtime(kTsne), in.x) + "--exag-iters 10 --iters 30 ";
  expect_same_output(in, t + "--learning-rate 0 --out {}/y.npy", t + "--learning-rate auto --out {}/y.npy", "y.npy");
  expect_same_output(in, t + "--out {}/y.npy", t + "--learning-rate auto --out {}/y.npy", "y.npy");
}

TEST(E2eNames, TsneAngleAndNComponents) {
  Inputs in;
  const std::string t = fmt::format(fmt::runtime(kTsne), in.x) + "--exag-iters 10 --iters 30 ";
  expect_same_output(in, t + "--theta 0.3 --dims 2 --out {}/y.npy", t + "--angle 0.3 --n-components 2 --out {}/y.npy",
                     "y.npy");
}

TEST(E2eNames, MfccSampleRateIsSr) {
  Inputs in;
  expect_same_output(in, "mfcc " + in.wav + " --sr 16000 --out {}/m",
                     "mfcc " + in.wav + " --sample-rate 16000 --out {}/m", "m/mfcc_summary.npy");
}

TEST(E2eNames, PcaSklearnNames) {
  Inputs in;
  expect_same_output(in, "pca -i " + in.x + " -k 2 --solver randomized --oversamples 4 --out {}/z.npy",
                     "pca -i " + in.x + " --n-components 2 --svd-solver randomized --n-oversamples 4 --out {}/z.npy",
                     "z.npy");
}

TEST(E2eNames, TrainBatchSizeAndLearningRate) {
  Inputs in;
  expect_same_output(
      in, "--device cpu train --features " + in.x + " --epochs 2 --batch 16 --lr 0.01 --out {}/m.safetensors",
      "--device cpu train --features " + in.x +
          " --epochs 2 --batch-size 16 --learning-rate 0.01 --out {}/m.safetensors",
      "m.safetensors");
}

// Runs hmr and expects exit 2 with exactly one line, "hmr: error: " + `line`.
void expect_error_line(const std::string& args, const std::string& line) {
  const auto r = run_hmr("-q " + args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
  EXPECT_EQ(r.output, "hmr: error: " + line + "\n") << args;
}

TEST(E2eNames, UnknownOptionSuggestsTheClosest) {
  Inputs in;
  expect_error_line("hard --gtzn " + in.dir.string() + " --out " + in.out("run"),
                    "hard: unknown option --gtzn (did you mean --gtzan?)");
  expect_error_line("hard --gtzn=" + in.dir.string(), "hard: unknown option --gtzn (did you mean --gtzan?)");
  // Reported before the missing --k it caused.
  expect_error_line("kmeans -i " + in.x + " --kk 2 --out " + in.out("l.npy"),
                    "kmeans: unknown option --kk (did you mean --k?)");
  // A common option misspelt after the command.
  expect_error_line("kmeans -i " + in.x + " --k 2 --sed 3 --out " + in.out("l.npy"),
                    "kmeans: unknown option --sed (did you mean --seed?)");
  expect_error_line("kmeans -i " + in.x + " --k 2 --zzzzzz --out " + in.out("l.npy"),
                    "kmeans: unknown option --zzzzzz (hmr kmeans --help lists them)");
}

TEST(E2eNames, UnknownCommandSuggestsTheClosest) {
  expect_error_line("hrad", "unknown command 'hrad' (did you mean 'hard'?)");
  expect_error_line("--seed 3 tnse --out x", "unknown command 'tnse' (did you mean 'tsne'?)");
  const auto r = run_hmr("-q xyzzy");
  EXPECT_EQ(r.code, 2);
  // The list is every command, sorted: its first line names them all, whatever commands exist.
  EXPECT_EQ(r.output.rfind("hmr: error: unknown command 'xyzzy'; commands: cluster, easy, embed, features, hard, ", 0),
            0u)
      << r.output;
  const auto none = run_hmr("-q");
  EXPECT_EQ(none.code, 2);
  EXPECT_EQ(none.output.rfind("hmr: error: a command is required: ", 0), 0u) << none.output;
  EXPECT_EQ(none.output.find("subcommand"), std::string::npos) << "CLI11's words: " << none.output;
  // An error that is not about the command keeps its own words.
  expect_error_line("--device", "--device: 1 required TEXT missing");
}

TEST(E2eNames, UnknownSetKeySuggestsTheClosest) {
  Inputs in;
  const std::string run = " --features " + in.out("absent.csv") + " --out " + in.out("run");
  expect_error_line(
      "hard --set vae.epocs=10" + run,
      "--set vae.epocs=10: unknown configuration key 'vae.epocs' for hmr hard (did you mean 'vae.epochs'?)");
  expect_error_line("hard --set tnse.perplexity=5" + run,
                    "--set tnse.perplexity=5: unknown configuration key 'tnse.perplexity' for hmr hard (did you mean "
                    "'tsne.perplexity'?)");
  expect_error_line("--set epocs=1 train --features " + in.x + " --out " + in.out("m.safetensors"),
                    "vae: unknown configuration key 'epocs' (did you mean 'epochs'?)");
}

TEST(E2eNames, SetValueOfTheWrongType) {
  Inputs in;
  const std::string run = " --features " + in.out("absent.csv") + " --out " + in.out("run");
  expect_error_line("hard --set vae.epochs=ten" + run, "--set vae.epochs=ten: expected an integer");
  expect_error_line("hard --set vae.epochs=1.5" + run, "--set vae.epochs=1.5: expected an integer (got a number)");
  expect_error_line("hard --set vae.beta=abc" + run, "--set vae.beta=abc: expected a number");
  expect_error_line("hard --set vae.cuda_graph=yes" + run, "--set vae.cuda_graph=yes: expected true or false");
  expect_error_line("hard --set vae.cuda_graph=1" + run,
                    "--set vae.cuda_graph=1: expected true or false (got an integer)");
  expect_error_line("hard --set 'pca.solver=\"full'" + run, "--set pca.solver=\"full: expected a string");
  expect_error_line("hard --set tsne.learning_rate=fast" + run,
                    "--set tsne.learning_rate=fast: expected a number or auto");
  expect_error_line("hard --set vae.hidden=ten" + run, "--set vae.hidden=ten: expected a list of integers (512,256)");
  expect_error_line("--set epochs=ten train --features " + in.x + " --out " + in.out("m.safetensors"),
                    "vae: epochs expects an integer, got 'ten'");
}

// The config keys named like the flags and the reference tools are taken (the run then stops at
// the absent input, not at a key).
TEST(E2eNames, SetKeyAliasesAreAccepted) {
  Inputs in;
  expect_error_line(
      "hard --set tsne.learning_rate=auto --set tsne.early_exaggeration=8 --set mfcc.sr=16000 "
      "--set experiment.random_state=3 --set vae.batch_size=32 --set vae.learning_rate=0.01 "
      "--set pca.n_components=8 --features " +
          in.out("absent.csv") + " --out " + in.out("run"),
      "--features " + in.out("absent.csv") + ": no such file");
}

}  // namespace
