// `hmr train` and `hmr embed` end to end through the executable: config file + flag overrides,
// outputs readable as .npy / .safetensors, one-line errors with exit code 2 on bad input.
// Skips when the hmr executable has not been built in this build tree.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "io/npy.h"
#include "nn/vae.h"
#include "support/compare.h"
#include "support/run.h"

namespace {

namespace fs = std::filesystem;

using hmr::test::CommandResult;
const auto run = hmr::test::run_command;

class E2eVae : public ::testing::Test {
 protected:
  void SetUp() override {
    exe_ = ::hmr::test::binary_dir() + "/apps/hmr";
    if (!fs::exists(exe_)) GTEST_SKIP() << "hmr executable not built at " << exe_;
    dir_ = fs::temp_directory_path() / ("hmr_nn_e2e_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    hmr::Matrix x(120, 10);
    std::mt19937 rng(3);
    std::normal_distribution<float> g;
    for (std::int64_t r = 0; r < x.rows(); ++r)
      for (std::int64_t c = 0; c < x.cols(); ++c) x(r, c) = 5.0f * static_cast<float>(r % 3) + g(rng) + 100.0f * c;
    hmr::io::write_npy(dir_ / "x.npy", x);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string p(const std::string& name) const { return (dir_ / name).string(); }
  std::string exe_;
  fs::path dir_;
};

TEST_F(E2eVae, TrainThenEmbedWithConfigAndOverrides) {
  {
    std::ofstream cfg(p("vae.toml"));
    cfg << "[vae]\nhidden = [16, 8]\nlatent = 3\nepochs = 4\nbatch = 32\nbeta = 2.0\n";
  }
  const CommandResult t = run(exe_ + " -q --device cpu --seed 9 --config " + p("vae.toml") + " train --features " +
                              p("x.npy") + " --epochs 6 --history " + p("h.json") + " --out " + p("m.safetensors"));
  ASSERT_EQ(t.code, 0) << t.output;
  const auto m = hmr::nn::load_safetensors(p("m.safetensors"));
  EXPECT_EQ(m.config.hidden, (std::vector<int>{16, 8}));
  EXPECT_EQ(m.config.latent, 3);
  EXPECT_EQ(m.config.epochs, 6);  // the flag beats the config file
  EXPECT_EQ(m.config.beta, 2.0f);
  EXPECT_EQ(m.config.seed, 9u);
  EXPECT_TRUE(m.standardized);
  EXPECT_TRUE(fs::exists(p("h.json")));
  for (const char* what : {"mu", "z", "logvar", "recon"}) {
    const CommandResult e = run(exe_ + " -q --device cpu embed --model " + p("m.safetensors") + " --features " +
                                p("x.npy") + " --what " + what + " --out " + p(std::string(what) + ".npy"));
    ASSERT_EQ(e.code, 0) << e.output;
    const hmr::Matrix z = hmr::io::read_matrix(p(std::string(what) + ".npy"));
    EXPECT_EQ(z.rows(), 120);
    EXPECT_EQ(z.cols(), std::string(what) == "recon" ? 10 : 3);
  }
}

TEST_F(E2eVae, BadInputsExitWithCodeTwoAndOneLine) {
  hmr::Matrix bad(10, 10, 1.0f);
  bad(2, 3) = NAN;
  hmr::io::write_npy(dir_ / "bad.npy", bad);
  // hmr with these arguments exits with code 2 and a message that contains `why`.
  auto input_error = [&](const std::string& args, const std::string& why) {
    const CommandResult r = run(exe_ + " -q --device cpu " + args);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find(why), std::string::npos) << r.output;
  };
  input_error("train --features " + p("bad.npy") + " --out " + p("m.safetensors"), "row 2, column 3");
  input_error("train --features " + p("x.npy") + " --batch 500 --out " + p("m.safetensors"),
              "batch 500 is larger than the 120 training rows");
  const CommandResult ok =
      run(exe_ + " -q --device cpu train --features " + p("x.npy") + " --epochs 1 --out " + p("m.safetensors"));
  ASSERT_EQ(ok.code, 0) << ok.output;
  EXPECT_TRUE(fs::exists(p("m.history.json"))) << "no history beside the model";
  hmr::io::write_npy(dir_ / "wide.npy", hmr::Matrix(4, 11, 0.5f));
  input_error("embed --model " + p("m.safetensors") + " --features " + p("wide.npy") + " --out " + p("z.npy"),
              "expects 10 features");
  input_error("--set hiden=3 train --features " + p("x.npy") + " --out " + p("m.safetensors"),
              "unknown configuration key 'hiden'");
}

// Issue 18 acceptance through the command: a state_dict saved by torch (safetensors.torch.save_file,
// no metadata; tests/fixtures/gen_torch_state.py) loads in `hmr embed` and gives torch's mu.
TEST_F(E2eVae, EmbedReadsAPlainTorchStateDict) {
  const std::string dir = hmr::test::fixture("nn/torch_state");
  if (!fs::exists(dir + "/plain_f32.safetensors")) GTEST_SKIP() << "fixtures absent (gen_torch_state.py)";
  struct Case {
    std::string name, flags;
  };
  for (const Case& c :
       {Case{"plain_f32", ""}, Case{"plain_bf16", ""}, Case{"dataparallel", " --activation tanh --output sigmoid"}}) {
    SCOPED_TRACE(c.name);
    const CommandResult e = run(exe_ + " --device cpu embed --model " + dir + "/" + c.name + ".safetensors" + c.flags +
                                " --features " + dir + "/x.npy --out " + p(c.name + "_mu.npy"));
    ASSERT_EQ(e.code, 0) << e.output;
    EXPECT_NE(e.output.find("note: no hmr metadata, read as a plain PyTorch state_dict"), std::string::npos)
        << e.output;
    const hmr::Matrix mu = hmr::io::read_matrix(p(c.name + "_mu.npy"));
    const hmr::Matrix want = hmr::io::read_matrix(dir + "/" + c.name + "_mu.npy");
    EXPECT_ALLCLOSE(std::span<const float>(mu.vec()), std::span<const float>(want.vec()), 1e-6, 1e-5);
  }
  // Without the flags the tanh / sigmoid model is read as relu: the note says so, mu differs.
  const CommandResult d = run(exe_ + " --device cpu embed --model " + dir + "/dataparallel.safetensors --features " +
                              dir + "/x.npy --out " + p("default_mu.npy"));
  ASSERT_EQ(d.code, 0) << d.output;
  EXPECT_NE(d.output.find("activation relu (assumed: the default, --activation sets it)"), std::string::npos)
      << d.output;
  const CommandResult bad =
      run(exe_ + " -q --device cpu embed --model " + dir + "/plain_f32.safetensors --activation swish --features " +
          dir + "/x.npy --out " + p("bad_mu.npy"));
  EXPECT_EQ(bad.code, 2) << bad.output;
}

// hmr train for E1 + E2 epochs == E1 epochs, then --resume for E2: the same files, byte for byte.
TEST_F(E2eVae, ResumeContinuesTheRunExactly) {
  const std::string common = exe_ + " -q --device cpu --seed 5 train --features " + p("x.npy");
  const std::string arch = " --hidden 8,4 --latent 2 --batch 16 --warmup 4 --clip-norm 1";
  ASSERT_EQ(run(common + arch + " --epochs 7 --out " + p("one.safetensors")).code, 0);
  ASSERT_EQ(run(common + arch + " --epochs 3 --out " + p("half.safetensors")).code, 0);
  EXPECT_TRUE(fs::exists(p("half.optim.safetensors")));
  const CommandResult r =
      run(common + " --resume " + p("half.safetensors") + " --epochs 4 --out " + p("two.safetensors"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto bytes = [](const std::string& f) {
    std::ifstream in(f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_TRUE(bytes(p("one.safetensors")) == bytes(p("two.safetensors"))) << "models differ";
  EXPECT_TRUE(bytes(p("one.optim.safetensors")) == bytes(p("two.optim.safetensors"))) << "optimizer states differ";
  const auto one = hmr::nn::load_safetensors(p("one.safetensors"));
  const auto two = hmr::nn::load_safetensors(p("two.safetensors"));
  EXPECT_TRUE(hmr::test::bitwise_equal(two.params, one.params));
  // Refusals: the architecture is the model's; no optimizer file beside the model.
  const CommandResult wide =
      run(common + " --resume " + p("half.safetensors") + " --hidden 9,4 --out " + p("w.safetensors"));
  EXPECT_EQ(wide.code, 2) << wide.output;
  EXPECT_NE(wide.output.find("architecture of a resumed model cannot change"), std::string::npos) << wide.output;
  fs::remove(p("half.optim.safetensors"));
  const CommandResult lost = run(common + " --resume " + p("half.safetensors") + " --out " + p("l.safetensors"));
  EXPECT_EQ(lost.code, 2) << lost.output;
  EXPECT_NE(lost.output.find("no optimizer state beside the model"), std::string::npos) << lost.output;
}

}  // namespace
