// Progress of a whole experiment as a user sees it: `hmr easy` on the generated sample, piped
// into a file (plain lines: the training stage starts and ends with a line, no carriage
// returns), under a pseudo-terminal (`script`: the bar, redrawn in place), and with -q (nothing);
// and the metrics are the same whichever way progress is shown.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/compare.h"
#include "support/files.h"
#include "support/run.h"

using hmr::test::slurp;
namespace {

namespace fs = std::filesystem;

int run_shell(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The sample the pipeline suite uses (same folder and size; the script skips when it is there).
fs::path sample() {
  static const fs::path dir = [] {
    const fs::path d = fs::path(hmr::test::binary_dir()) / "pipeline-sample";
    const std::string cmd =
        "'" + hmr::test::repo_dir() + "/data/make-sample.sh' '" + d.string() + "' --if-missing --songs 4 >/dev/null";
    return run_shell(cmd) == 0 ? d : fs::path();
  }();
  return dir;
}

class E2eProgress : public ::testing::Test {
 protected:
  void SetUp() override {
    if (run_shell("command -v sox >/dev/null && command -v espeak-ng >/dev/null") != 0)
      GTEST_SKIP() << "sox / espeak-ng not installed (install-deps.sh)";
    ASSERT_FALSE(sample().empty()) << "data/make-sample.sh failed";
    base_ = fs::path(hmr::test::binary_dir()) / "progress-e2e" / std::to_string(::getpid());
    fs::remove_all(base_);
    fs::create_directories(base_);
  }
  void TearDown() override {
    if (!base_.empty()) fs::remove_all(base_);
  }
  // The hmr easy command line; HMR_PROGRESS is cleared so the test sees the automatic choice.
  std::string easy(const std::string& flags, const std::string& out) const {
    return "env -u HMR_PROGRESS '" + hmr::test::hmr_exe() + "' --device cpu --seed 7 " + flags + " easy --lyrics '" +
           (sample() / "lyrics_bn.csv").string() + ":bn' --lyrics '" + (sample() / "lyrics_en.csv").string() +
           ":en' --set vae.epochs=40 --set vae.batch=16 --set tsne.iters=300 --set tsne.exag_iters=100 --out '" +
           (base_ / out).string() + "'";
  }
  nlohmann::json results(const std::string& out) const {
    return nlohmann::json::parse(slurp(base_ / out / "metrics.json"))["results"];
  }
  fs::path base_;
};

TEST_F(E2eProgress, PipedToAFileTheTrainingStagePrintsPlainLines) {
  const fs::path log = base_ / "log.txt";
  ASSERT_EQ(run_shell(easy("", "piped") + " >'" + log.string() + "' 2>&1"), 0) << slurp(log);
  const std::string text = slurp(log);
  EXPECT_NE(text.find("hmr: train_text_vae: started, 40 epochs\n"), std::string::npos) << text;
  EXPECT_NE(text.find("hmr: train_text_vae: done, 40/40 epochs in "), std::string::npos) << text;
  EXPECT_NE(text.find(" epochs/s)"), std::string::npos) << "the final line carries the rate\n" << text;
  EXPECT_NE(text.find("hmr: tsne_vae: started, 300 iterations\n"), std::string::npos) << text;
  // One-step stages that take seconds on real corpora announce themselves too.
  EXPECT_NE(text.find("hmr: tfidf: started, 1 fits\n"), std::string::npos) << text;
  EXPECT_NE(text.find("hmr: tfidf: done, 1/1 fits in "), std::string::npos) << text;
  EXPECT_NE(text.find("hmr: pca: started, 1 fits\n"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << "a file must not get a bar's carriage returns\n" << text;
}

TEST_F(E2eProgress, UnderATerminalTheBarIsDrawnAndQuietSilencesIt) {
  if (run_shell("command -v script >/dev/null") != 0) GTEST_SKIP() << "script (util-linux) not installed";
  // script runs the command on a pseudo-terminal and copies what it printed to its stdout.
  const fs::path log = base_ / "tty.txt";
  const std::string cmd = easy("", "tty");
  ASSERT_EQ(run_shell("script -q -e -c \"" + cmd + "\" /dev/null >'" + log.string() + "' 2>&1"), 0) << slurp(log);
  const std::string tty = slurp(log);
  EXPECT_NE(tty.find("\rtrain_text_vae ["), std::string::npos) << tty;
  EXPECT_NE(tty.find("40/40 epochs"), std::string::npos) << tty;
  EXPECT_NE(tty.find("\033[K"), std::string::npos) << "the bar clears the rest of its line\n" << tty;
  EXPECT_EQ(tty.find("hmr: train_text_vae: started"), std::string::npos) << "no plain lines on a terminal\n" << tty;

  const fs::path qlog = base_ / "quiet.txt";
  ASSERT_EQ(run_shell("script -q -e -c \"" + easy("-q", "quiet") + "\" /dev/null >'" + qlog.string() + "' 2>&1"), 0)
      << slurp(qlog);
  const std::string quiet = slurp(qlog);
  EXPECT_EQ(quiet.find("train_text_vae"), std::string::npos) << "-q shows no progress\n" << quiet;
  // Progress only observes: the same seed gives the same metrics with and without it.
  EXPECT_EQ(results("tty"), results("quiet"));
}

}  // namespace
