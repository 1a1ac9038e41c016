// The output contract of every hmr command (host/io/output.h, issue 17 defects 1 and 6): special
// files, links, inputs and missing folders refused before any work and left untouched; a re-used
// --out holds exactly the new run's files; a second run into a busy --out is refused; SIGINT and
// SIGTERM clean up; SIGKILL inside the final step (stretched by HMR_TEST_MOVE_DELAY_MS) leaves
// the old run or the new one whole, and the next run removes what the killed one left.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/compare.h"
#include "support/files.h"
#include "support/run.h"

using hmr::test::slurp;
namespace {
namespace fs = std::filesystem;
using hmr::test::hmr_exe;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::path(hmr::test::binary_dir()) / "outputs-e2e" / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void write_text(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// A float32 [n x d] .npy of three separated blobs (numpy's format, version 1.0).
void write_blobs(const fs::path& p, int n, int d) {
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", " + std::to_string(d) + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::ofstream out(p, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const unsigned short len = static_cast<unsigned short>(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out << header;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) {
      const float v = static_cast<float>((i % 3) * 10 + ((i * 7 + j * 13) % 10) * 0.1);
      out.write(reinterpret_cast<const char*>(&v), 4);
    }
}

// A one-second 16-bit mono WAV of a tone (RIFF header written by hand: test_core has no libsndfile).
void write_wav(const fs::path& p, double hz) {
  const std::uint32_t rate = 22050, n = rate, bytes = n * 2;
  std::ofstream out(p, std::ios::binary);
  const auto u32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  const auto u16 = [&](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  out.write("RIFF", 4);
  u32(36 + bytes);
  out.write("WAVEfmt ", 8);
  u32(16);
  u16(1);
  u16(1);
  u32(rate);
  u32(rate * 2);
  u16(2);
  u16(16);
  out.write("data", 4);
  u32(bytes);
  for (std::uint32_t i = 0; i < n; ++i)
    u16(static_cast<std::uint16_t>(static_cast<std::int16_t>(8000 * std::sin(2 * 3.14159265358979 * hz * i / rate))));
}

// A started hmr: pid, and where its stdout+stderr go.
struct Child {
  pid_t pid = -1;
  fs::path log;
};

// Starts hmr with `args` (split on spaces) and extra environment `env` ("K=V").
Child start(const std::string& args, const fs::path& log, const std::vector<std::string>& env = {}) {
  std::vector<std::string> words{hmr_exe()};
  std::istringstream ss(args);
  for (std::string w; ss >> w;) words.push_back(w);
  Child c;
  c.log = log;
  c.pid = ::fork();
  if (c.pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return c;
}

// Exit code (128 + signal when killed by one, like a shell).
int finish(const Child& c) {
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct Ran {
  int code;
  std::string output;
};
Ran run(const std::string& args, const fs::path& log, const std::vector<std::string>& env = {}) {
  const Child c = start(args, log, env);
  const int code = finish(c);
  return {code, slurp(log)};
}

int lines(const std::string& s) {
  int n = 0;
  for (char ch : s) n += ch == '\n';
  return n;
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> s;
  if (!fs::is_directory(dir)) return s;
  for (const auto& e : fs::directory_iterator(dir)) s.insert(e.path().filename().string());
  return s;
}

// Names beside an output that only a run in progress (or a killed one) leaves.
std::set<std::string> leftovers(const fs::path& dir) {
  std::set<std::string> s;
  for (const auto& n : names_in(dir))
    if (n.find(".hmr-stage-") != std::string::npos || n.find(".hmr-tmp-") != std::string::npos ||
        n.find(".hmr-old-") != std::string::npos || n.find(".hmr-lock") != std::string::npos ||
        n.find(".hmr-commit") != std::string::npos)
      s.insert(n);
  return s;
}

bool wait_for(const std::function<bool()>& cond, double seconds = 20) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// Two TF-IDF runs told apart by their vocabulary; B also writes tfidf.npy (one file more).
struct TfidfRuns {
  fs::path dir, a, b, out;
  std::string run_a, run_b;
  std::set<std::string> files_a, files_b;
  explicit TfidfRuns(const std::string& name) : dir(fresh_dir(name)) {
    a = dir / "a.csv";
    b = dir / "b.csv";
    out = dir / "runs" / "t";
    write_text(a, "lyrics\nalpha beta gamma\nbeta delta\n");
    write_text(b, "lyrics\nzeta eta theta\niota kappa\nmu nu\n");
    run_a = "-q --device cpu tfidf --lyrics " + a.string() + ":en --out " + out.string();
    run_b = "-q --device cpu tfidf --format both --lyrics " + b.string() + ":en --out " + out.string();
    // What hmr tfidf always wrote; the .hmr-run.json marker is checked on its own.
    files_a = {"documents.tsv", "idf.npy",   "label_names.txt",  "labels.npy",
               "summary.json",  "tfidf.npz", "tfidf_model.json", "vocabulary.txt"};
    files_b = files_a;
    files_b.insert("tfidf.npy");
  }
  std::set<std::string> outputs() const {
    auto n = names_in(out);
    n.erase(".hmr-run.json");
    return n;
  }
  bool is_a() const { return outputs() == files_a && slurp(out / "vocabulary.txt") == "alpha\nbeta\ndelta\ngamma\n"; }
  bool is_b() const {
    return outputs() == files_b && slurp(out / "vocabulary.txt") == "eta\niota\nkappa\nmu\nnu\ntheta\nzeta\n";
  }
  fs::path log(const std::string& n) const { return dir / (n + ".log"); }
  fs::path stage_of(pid_t pid) const { return out.parent_path() / (".t.hmr-stage-" + std::to_string(pid)); }
};

// ---- defect 1: special files, links, inputs, missing folders --------------------------------

TEST(E2eOutputs, FifoSymlinkAndInputAreRefusedBeforeAnyWorkAndLeftUntouched) {
  const fs::path d = fresh_dir("special");
  write_blobs(d / "x.npy", 30, 3);
  const std::string x = (d / "x.npy").string();
  ASSERT_EQ(::mkfifo((d / "fifo.npy").c_str(), 0644), 0);
  write_text(d / "target.npy", "precious");
  fs::create_symlink(d / "target.npy", d / "link.npy");
  const std::vector<std::string> commands = {"kmeans --input " + x + " --k 3", "pca --input " + x + " --components 2",
                                             "tsne --input " + x + " --perplexity 5",
                                             "embed --model " + (d / "none.safetensors").string() + " --features " + x,
                                             "train --features " + x + " --epochs 1"};
  for (const auto& cmd : commands) {
    for (const char* out : {"fifo.npy", "link.npy"}) {
      const auto r = run("-q --device cpu " + cmd + " --out " + (d / out).string(), d / "log");
      EXPECT_EQ(r.code, 2) << cmd << " --out " << out << ": " << r.output;
      EXPECT_EQ(lines(r.output), 1) << r.output;
      EXPECT_NE(r.output.find(out), std::string::npos) << "the line names the path: " << r.output;
    }
    const auto r = run("-q --device cpu " + cmd + " --out " + x, d / "log");
    EXPECT_EQ(r.code, 2) << cmd << " --out <its input>: " << r.output;
    EXPECT_NE(r.output.find("input"), std::string::npos) << r.output;
    const auto m = run("-q --device cpu " + cmd + " --out " + (d / "missing" / "y.npy").string(), d / "log");
    EXPECT_EQ(m.code, 2) << m.output;
    EXPECT_NE(m.output.find("missing does not exist"), std::string::npos) << m.output;
  }
  struct stat st {};
  ASSERT_EQ(::lstat((d / "fifo.npy").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  ASSERT_EQ(::lstat((d / "link.npy").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the symlink was replaced";
  EXPECT_EQ(slurp(d / "target.npy"), "precious");
  EXPECT_EQ(names_in(d), (std::set<std::string>{"x.npy", "fifo.npy", "target.npy", "link.npy", "log"}))
      << "nothing written beside them (fifo_centers.npy, fifo.json, temporaries, locks)";
  EXPECT_FALSE(fs::exists(d / "missing"));
}

TEST(E2eOutputs, DevNullIsRefusedAndKeptADevice) {
  const fs::path d = fresh_dir("devnull");
  write_blobs(d / "x.npy", 30, 3);
  for (const std::string cmd : {"kmeans --input " + (d / "x.npy").string() + " --k 3",
                                "pca --input " + (d / "x.npy").string() + " --components 2"}) {
    const auto r = run("-q --device cpu " + cmd + " --out /dev/null", d / "log");
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_EQ(lines(r.output), 1) << r.output;
    EXPECT_NE(r.output.find("/dev/null: is a character device"), std::string::npos) << r.output;
  }
  struct stat st {};
  ASSERT_EQ(::lstat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/null was replaced";
  for (const char* p : {"/dev/null_centers.npy", "/dev/null.json", "/dev/null_components.npy"})
    EXPECT_FALSE(fs::exists(p)) << p;
}

TEST(E2eOutputs, FolderCommandsRefuseFilesLinksAndForeignFolders) {
  TfidfRuns t("foreign");
  const std::string lyr = "-q --device cpu tfidf --lyrics " + t.a.string() + ":en --out ";
  ASSERT_EQ(::mkfifo((t.dir / "fifo").c_str(), 0644), 0);
  fs::create_directory(t.dir / "real");
  fs::create_directory_symlink(t.dir / "real", t.dir / "link");
  fs::create_directory(t.dir / "mine");
  write_text(t.dir / "mine" / "notes.txt", "mine");
  for (const char* out : {"fifo", "link", "mine", "a.csv"}) {
    const auto r = run(lyr + (t.dir / out).string(), t.log("r"));
    EXPECT_EQ(r.code, 2) << out << ": " << r.output;
    EXPECT_EQ(lines(r.output), 1) << r.output;
  }
  EXPECT_EQ(slurp(t.dir / "mine" / "notes.txt"), "mine");
  // A mount point cannot be switched by rename(2): refused, not a failure half-way.
  struct stat root {
  }, proc{};
  if (::stat("/", &root) == 0 && ::stat("/proc", &proc) == 0 && root.st_dev != proc.st_dev) {
    const auto m = run(lyr + "/proc", t.log("r"));
    EXPECT_EQ(m.code, 2) << m.output;
    EXPECT_NE(m.output.find("mount point"), std::string::npos) << m.output;
  }
  EXPECT_TRUE(fs::is_symlink(t.dir / "link"));
  EXPECT_TRUE(names_in(t.dir / "real").empty());
  // A folder hmr wrote, with a file the user added later, is refused too.
  ASSERT_EQ(run(t.run_a, t.log("a")).code, 0);
  write_text(t.out / "added.txt", "user");
  const auto r = run(t.run_b, t.log("b"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("added.txt"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(t.out / "added.txt"), "user");
  // The output of another command is not replaced either.
  fs::remove(t.out / "added.txt");
  write_blobs(t.dir / "x.npy", 30, 3);
  const auto e = run("-q --device cpu easy --lyrics " + t.a.string() + ":en --out " + t.out.string(), t.log("e"));
  EXPECT_EQ(e.code, 2) << e.output;
  EXPECT_NE(e.output.find("hmr tfidf"), std::string::npos) << e.output;
  EXPECT_TRUE(t.is_a());
}

TEST(E2eOutputs, FolderOfAnOlderHmrIsReplacedOnlyWhenItHoldsOnlyHmrFiles) {
  TfidfRuns t("legacy");
  // What hmr tfidf wrote before .hmr-run.json existed, with a temporary of a killed run.
  fs::create_directories(t.out);
  write_text(t.out / ".vocabulary.txt.tmp0a1b2c3d", "half");
  for (const char* n : {"tfidf_model.json", "vocabulary.txt", "idf.npy", "tfidf.npz", "tfidf.npy", "summary.json"})
    write_text(t.out / n, "old");
  write_text(t.out / "notes.md", "mine");
  auto r = run(t.run_a, t.log("a"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("notes.md"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(t.out / "notes.md"), "mine");
  fs::remove(t.out / "notes.md");
  r = run(t.run_a, t.log("a"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(t.is_a()) << "the old tfidf.npy or temporary survived";
  // Without the signature file it is not recognised as hmr's.
  fs::create_directories(t.dir / "other");
  write_text(t.dir / "other" / "vocabulary.txt", "mine");
  r = run("-q --device cpu tfidf --lyrics " + t.a.string() + ":en --out " + (t.dir / "other").string(), t.log("o"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_EQ(slurp(t.dir / "other" / "vocabulary.txt"), "mine");
}

// ---- defect 6: a re-used --out holds exactly the new run -------------------------------------

TEST(E2eOutputs, RerunLeavesNoFileOfTheEarlierRun) {
  TfidfRuns t("stale");
  ASSERT_EQ(run(t.run_b, t.log("b")).code, 0);
  EXPECT_TRUE(t.is_b()) << "files: " << names_in(t.out).size();
  ASSERT_EQ(run(t.run_a, t.log("a")).code, 0);
  EXPECT_TRUE(t.is_a()) << "a stale tfidf.npy or vocabulary of run B remains";
  EXPECT_NE(slurp(t.out / ".hmr-run.json").find("\"command\": \"tfidf\""), std::string::npos)
      << "no .hmr-run.json marker";
  EXPECT_TRUE(leftovers(t.out.parent_path()).empty());

  // kmeans: labels predicted from centres must not sit beside the centres of an earlier fit.
  write_blobs(t.dir / "x.npy", 30, 3);
  const std::string x = (t.dir / "x.npy").string(), y = (t.dir / "y.npy").string();
  ASSERT_EQ(run("-q --device cpu kmeans --input " + x + " --k 3 --out " + y, t.log("k")).code, 0);
  fs::copy_file(t.dir / "y_centers.npy", t.dir / "c.npy");
  ASSERT_EQ(
      run("-q --device cpu kmeans --input " + x + " --k 3 --centers-in " + (t.dir / "c.npy").string() + " --out " + y,
          t.log("k"))
          .code,
      0);
  EXPECT_TRUE(fs::exists(t.dir / "y.npy"));
  EXPECT_FALSE(fs::exists(t.dir / "y_centers.npy")) << "stale centres of the earlier fit";
  EXPECT_FALSE(fs::exists(t.dir / "y.json")) << "stale summary of the earlier fit";
}

TEST(E2eOutputs, MfccRerunDropsTheEarlierRunsLabelsAndFrames) {
  const fs::path d = fresh_dir("mfcc");
  fs::create_directories(d / "g" / "rock");
  fs::create_directories(d / "g" / "pop");
  write_wav(d / "g" / "rock" / "a.wav", 440);
  write_wav(d / "g" / "pop" / "b.wav", 880);
  const fs::path out = d / "m";
  auto r = run("-q --device cpu mfcc " + (d / "g").string() + " --frames npy --out " + out.string(), d / "1.log");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "labels.npy") && fs::is_directory(out / "frames")) << r.output;
  // Unlabelled files, no frames: nothing of the labelled run may remain.
  r = run("-q --device cpu mfcc " + (d / "g" / "rock" / "a.wav").string() + " " + (d / "g" / "pop" / "b.wav").string() +
              " --out " + out.string(),
          d / "2.log");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(names_in(out),
            (std::set<std::string>{".hmr-run.json", "mfcc_features.csv", "mfcc_run.json", "mfcc_summary.npy"}));
}

TEST(E2eOutputs, HardRerunDropsTheEarlierRunsPlotsAndEmbedding) {
  // A Kaggle-layout features CSV: 40 clips of two separated genres.
  const fs::path d = fresh_dir("hard");
  std::ofstream csv(d / "features.csv");
  csv << "filename,length";
  for (int i = 1; i <= 20; ++i) csv << ",mfcc" << i << "_mean,mfcc" << i << "_var";
  csv << ",label\n";
  for (int r = 0; r < 40; ++r) {
    const int g = r % 2;
    csv << (g ? "pop" : "rock") << "." << r << ".wav,661794";
    for (int c = 0; c < 40; ++c) csv << "," << (c % 2 ? 5 + 3 * g : 3 * g) + ((r * 37 + c * 11) % 17) / 17.0;
    csv << "," << (g ? "pop" : "rock") << "\n";
  }
  csv.close();
  const std::string base = "-q --device cpu hard --features " + (d / "features.csv").string() + " --out " +
                           (d / "hard").string() + " --set vae.epochs=20 ";
  auto r = run(base + "--set tsne.iters=250 --set tsne.exag_iters=100", d / "1.log");
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_TRUE(fs::exists(d / "hard" / "tsne_vae_genre.png") && fs::exists(d / "hard" / "embedding_vae.npy"));
  r = run(base + "--set tsne.enabled=false", d / "2.log");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const auto& n : names_in(d / "hard")) {
    EXPECT_EQ(n.rfind("tsne_", 0), std::string::npos) << "stale plot " << n;
    EXPECT_EQ(n.rfind("embedding_", 0), std::string::npos) << "stale embedding " << n;
  }
  EXPECT_TRUE(fs::exists(d / "hard" / "metrics.json"));
}

TEST(E2eOutputs, FailedRunLeavesNoFolderAndNoMainOutput) {
  TfidfRuns t("failed");
  write_text(t.dir / "empty.csv", "lyrics\n\n");
  const fs::path out = t.dir / "new" / "deep" / "t";
  const auto r =
      run("-q --device cpu tfidf --lyrics " + (t.dir / "empty.csv").string() + ":en --out " + out.string(), t.log("f"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(fs::exists(t.dir / "new")) << "a failed run left folders behind";
  write_blobs(t.dir / "x.npy", 30, 3);
  const auto k = run(
      "-q --device cpu kmeans --input " + (t.dir / "x.npy").string() + " --k 31 --out " + (t.dir / "y.npy").string(),
      t.log("k"));
  EXPECT_EQ(k.code, 2) << k.output;
  // hmr metrics --out DIR makes DIR only when the scores are there.
  const auto m = run("-q --device cpu metrics --input " + (t.dir / "x.npy").string() + " --pred " +
                         (t.dir / "none.npy").string() + " --out " + (t.dir / "scores").string(),
                     t.log("m"));
  EXPECT_EQ(m.code, 2) << m.output;
  EXPECT_EQ(names_in(t.dir),
            (std::set<std::string>{"a.csv", "b.csv", "empty.csv", "x.npy", "f.log", "k.log", "m.log"}));
}

// ---- the lock, interrupts and SIGKILL in the final step ---------------------------------------

TEST(E2eOutputs, SecondRunIntoABusyOutIsRefused) {
  TfidfRuns t("lock");
  const Child a = start(t.run_a, t.log("a"), {"HMR_TEST_MOVE_DELAY_MS=3000"});
  ASSERT_TRUE(wait_for([&] { return fs::exists(t.stage_of(a.pid) / ".hmr-run.json"); })) << slurp(t.log("a"));
  const auto b = run(t.run_b, t.log("b"));
  EXPECT_EQ(b.code, 2) << b.output;
  EXPECT_EQ(lines(b.output), 1) << b.output;
  EXPECT_NE(b.output.find("another hmr run (pid " + std::to_string(a.pid) + ")"), std::string::npos) << b.output;
  EXPECT_EQ(finish(a), 0) << slurp(t.log("a"));
  EXPECT_TRUE(t.is_a());
  EXPECT_TRUE(leftovers(t.out.parent_path()).empty()) << "the lock file is removed at the end";
}

TEST(E2eOutputs, ConcurrentRunsGiveExactlyOneRunsFiles) {
  // Both orders: without the lock, B (which writes one file more) then A would leave B's tfidf.npy.
  for (int round = 0; round < 4; ++round) {
    TfidfRuns t("concurrent");
    const bool b_first = round % 2 == 0;
    const Child first = start(b_first ? t.run_b : t.run_a, t.log("1"), {"HMR_TEST_MOVE_DELAY_MS=200"});
    std::this_thread::sleep_for(std::chrono::milliseconds(round < 2 ? 30 : 0));  // staggered, then together
    const Child second = start(b_first ? t.run_a : t.run_b, t.log("2"), {"HMR_TEST_MOVE_DELAY_MS=200"});
    const int c1 = finish(first), c2 = finish(second);
    const int ca = b_first ? c2 : c1, cb = b_first ? c1 : c2;
    EXPECT_TRUE((ca == 0 || ca == 2) && (cb == 0 || cb == 2) && (ca == 0 || cb == 0))
        << ca << " " << cb << slurp(t.log("1")) << slurp(t.log("2"));
    EXPECT_TRUE(t.is_a() || t.is_b()) << "a mix of two runs (round " << round << ")";
    if (ca != 0) EXPECT_TRUE(t.is_b());
    if (cb != 0) EXPECT_TRUE(t.is_a());
    EXPECT_TRUE(leftovers(t.out.parent_path()).empty());
  }
}

TEST(E2eOutputs, SigkillInTheFinalStepLeavesTheOldOrTheNewRunWhole) {
  TfidfRuns t("sigkill");
  ASSERT_EQ(run(t.run_a, t.log("a")).code, 0);
  // Killed before the switch: the old run, whole.
  Child b = start(t.run_b, t.log("b"), {"HMR_TEST_MOVE_DELAY_MS=2000"});
  ASSERT_TRUE(wait_for([&] { return fs::exists(t.stage_of(b.pid) / ".hmr-run.json"); })) << slurp(t.log("b"));
  ::kill(b.pid, SIGKILL);
  EXPECT_EQ(finish(b), 128 + SIGKILL);
  EXPECT_TRUE(t.is_a()) << "--out changed although the run was killed before its switch";
  EXPECT_FALSE(leftovers(t.out.parent_path()).empty()) << "the killed run's stage should still be there";
  // Killed after the switch (in the delay before the old run is removed): the new run, whole.
  b = start(t.run_b, t.log("b2"), {"HMR_TEST_MOVE_DELAY_MS=2000"});
  const std::string pid = "\"pid\": " + std::to_string(b.pid);
  ASSERT_TRUE(wait_for([&] { return slurp(t.out / ".hmr-run.json").find(pid) != std::string::npos; }))
      << slurp(t.log("b2"));
  ::kill(b.pid, SIGKILL);
  EXPECT_EQ(finish(b), 128 + SIGKILL);
  EXPECT_TRUE(t.is_b()) << "--out is not the new run whole";
  EXPECT_TRUE(fs::exists(t.stage_of(b.pid))) << "the old run, switched out, waits for removal";
  // A later run removes what the killed ones left.
  const auto c = run(t.run_a, t.log("c"));
  EXPECT_EQ(c.code, 0) << c.output;
  EXPECT_TRUE(t.is_a());
  EXPECT_TRUE(leftovers(t.out.parent_path()).empty()) << "leftovers of killed runs remain";
}

TEST(E2eOutputs, SigkilledFileCommandLeavesTheOldFilesAndTheNextRunCleansUp) {
  const fs::path d = fresh_dir("filekill");
  write_blobs(d / "x.npy", 30, 3);
  const std::string args =
      "-q --device cpu kmeans --input " + (d / "x.npy").string() + " --k 3 --out " + (d / "y.npy").string();
  write_text(d / "y.npy", "old");
  const Child k = start(args, d / "k.log", {"HMR_TEST_MOVE_DELAY_MS=2000"});
  ASSERT_TRUE(wait_for([&] { return fs::exists(d / (".hmr-tmp-" + std::to_string(k.pid) + ".y.json")); }))
      << slurp(d / "k.log");
  ::kill(k.pid, SIGKILL);
  EXPECT_EQ(finish(k), 128 + SIGKILL);
  EXPECT_EQ(slurp(d / "y.npy"), "old");
  EXPECT_FALSE(fs::exists(d / "y_centers.npy"));
  EXPECT_FALSE(leftovers(d).empty()) << "the killed run's temporaries should still be there";
  const auto r = run(args, d / "r.log");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(slurp(d / "y.npy"), "old");
  EXPECT_TRUE(fs::exists(d / "y_centers.npy") && fs::exists(d / "y.json"));
  EXPECT_TRUE(leftovers(d).empty()) << "leftovers of the killed run remain";
}

TEST(E2eOutputs, SigintAndSigtermPrintOneLineExitAndCleanUp) {
  TfidfRuns t("interrupt");
  ASSERT_EQ(run(t.run_a, t.log("a")).code, 0);
  Child b = start(t.run_b, t.log("b"), {"HMR_TEST_MOVE_DELAY_MS=2000"});
  ASSERT_TRUE(wait_for([&] { return fs::exists(t.stage_of(b.pid) / ".hmr-run.json"); })) << slurp(t.log("b"));
  ::kill(b.pid, SIGTERM);
  EXPECT_EQ(finish(b), 143);
  const std::string said = slurp(t.log("b"));
  EXPECT_EQ(lines(said), 1) << said;
  EXPECT_NE(said.find("hmr: interrupted by SIGTERM"), std::string::npos) << said;
  EXPECT_TRUE(t.is_a());
  EXPECT_TRUE(leftovers(t.out.parent_path()).empty()) << "stage or lock left after SIGTERM";

  write_blobs(t.dir / "x.npy", 30, 3);
  const fs::path y = t.dir / "y.npy";
  const Child k = start("-q --device cpu kmeans --input " + (t.dir / "x.npy").string() + " --k 3 --out " + y.string(),
                        t.log("k"), {"HMR_TEST_MOVE_DELAY_MS=2000"});
  ASSERT_TRUE(wait_for([&] {
    return fs::exists(t.dir / (".hmr-tmp-" + std::to_string(k.pid) + ".y.npy")) &&
           fs::exists(t.dir / (".hmr-tmp-" + std::to_string(k.pid) + ".y.json"));
  })) << slurp(t.log("k"));
  ::kill(k.pid, SIGINT);
  EXPECT_EQ(finish(k), 130);
  EXPECT_NE(slurp(t.log("k")).find("hmr: interrupted by SIGINT"), std::string::npos) << slurp(t.log("k"));
  EXPECT_FALSE(fs::exists(y));
  EXPECT_TRUE(leftovers(t.dir).empty()) << "temporaries or lock left after SIGINT";
}

// ---- file output sets: the commit journal ----------------------------------------------------

// kmeans fits (k = 2 or 3) and a predict run into d/y.npy; references of each run's files made by
// uninterrupted runs into their own folders, so a set is recognised as one run's, or as a mix.
struct KmeansSets {
  fs::path d, x;
  explicit KmeansSets(const std::string& name) : d(fresh_dir(name)), x(d / "x.npy") {
    write_blobs(x, 30, 3);
    for (const char* r : {"ref2", "ref3", "refp"}) fs::create_directories(d / r);
    EXPECT_EQ(run(fit(2, d / "ref2"), d / "r2.log").code, 0) << slurp(d / "r2.log");
    EXPECT_EQ(run(fit(3, d / "ref3"), d / "r3.log").code, 0) << slurp(d / "r3.log");
    EXPECT_EQ(run(predict(d / "refp"), d / "rp.log").code, 0) << slurp(d / "rp.log");
  }
  std::string fit(int k, const fs::path& dir, bool quiet = true) const {
    return std::string(quiet ? "-q " : "") + "--device cpu kmeans --input " + x.string() + " --k " + std::to_string(k) +
           " --out " + (dir / "y.npy").string();
  }
  std::string fit(int k) const { return fit(k, d); }
  std::string predict(const fs::path& dir) const {
    return "-q --device cpu kmeans --k 3 --input " + x.string() + " --centers-in " +
           (d / "ref3" / "y_centers.npy").string() + " --out " + (dir / "y.npy").string();
  }
  // 2 or 3: the fit with that k, whole; 1: the predict run, whole; 0: a mix.
  int which() const {
    const std::string y = slurp(d / "y.npy");
    if (y == slurp(d / "refp" / "y.npy") && !fs::exists(d / "y_centers.npy") && !fs::exists(d / "y.json")) return 1;
    for (int k : {2, 3}) {
      const fs::path r = d / ("ref" + std::to_string(k));
      if (y == slurp(r / "y.npy") && fs::exists(d / "y_centers.npy") &&
          slurp(d / "y_centers.npy") == slurp(r / "y_centers.npy") &&
          slurp(d / "y.json").find("\"k\": " + std::to_string(k) + ",") != std::string::npos)
        return k;
    }
    return 0;
  }
  fs::path temp(pid_t pid, const std::string& name) const {
    return d / (".hmr-tmp-" + std::to_string(pid) + "." + name);
  }
  fs::path journal() const { return d / ".y.npy.hmr-commit"; }
  fs::path log(const std::string& n) const { return d / (n + ".log"); }
};

// Kills `args` (run with the move delay) once `at(pid)` holds, i.e. inside its final step.
void kill_when(const KmeansSets& s, const std::string& args, const std::function<bool(pid_t)>& at) {
  const Child c = start(args, s.log("killed"), {"HMR_TEST_MOVE_DELAY_MS=1500"});
  ASSERT_TRUE(wait_for([&] { return at(c.pid); })) << slurp(s.log("killed"));
  ::kill(c.pid, SIGKILL);
  EXPECT_EQ(finish(c), 128 + SIGKILL);
}

TEST(E2eOutputs, SigkillBetweenTheRenamesOfAFileSetIsCompletedByTheNextReader) {
  // A fit writes y.json, y_centers.npy, then y.npy (one rename each, after the journal). Killed
  // after 0, 1 or 2 renames, the next command that reads y.npy first completes the set.
  KmeansSets s("journal_reader");
  for (int renamed = 0; renamed <= 2; ++renamed) {
    ASSERT_EQ(run(s.fit(2), s.log("old")).code, 0) << slurp(s.log("old"));
    ASSERT_EQ(s.which(), 2);
    kill_when(s, s.fit(3), [&](pid_t pid) {
      if (!fs::exists(s.journal())) return false;
      const bool json = fs::exists(s.temp(pid, "y.json")), centers = fs::exists(s.temp(pid, "y_centers.npy"));
      return renamed == 0 ? json : renamed == 1 ? !json && centers : !centers && fs::exists(s.temp(pid, "y.npy"));
    });
    ASSERT_TRUE(fs::exists(s.journal())) << "killed inside the final step, the journal stays";
    if (renamed > 0) EXPECT_EQ(s.which(), 0) << "the files on disk should be a mix until the journal is replayed";
    const auto r =
        run("--device cpu metrics --input " + s.x.string() + " --pred " + (s.d / "y.npy").string(), s.log("reader"));
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("completed the final step of an interrupted hmr run"), std::string::npos) << r.output;
    EXPECT_EQ(s.which(), 3) << "after " << renamed << " renames the reader did not see the killed run whole";
    EXPECT_TRUE(leftovers(s.d).empty()) << *leftovers(s.d).begin();
  }
}

TEST(E2eOutputs, SigkillBetweenTheStepsIsCompletedByTheNextWriter) {
  KmeansSets s("journal_writer");
  // A predict run over a fit removes the fit's y.json and y_centers.npy, then renames y.npy.
  ASSERT_EQ(run(s.fit(2), s.log("old")).code, 0) << slurp(s.log("old"));
  kill_when(s, s.predict(s.d), [&](pid_t pid) {
    return fs::exists(s.journal()) && !fs::exists(s.d / "y.json") && fs::exists(s.temp(pid, "y.npy"));
  });
  EXPECT_EQ(s.which(), 0) << "the files on disk should be a mix (centres without summary)";
  const auto r =
      run("--device cpu metrics --input " + s.x.string() + " --pred " + (s.d / "y.npy").string(), s.log("reader"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(s.which(), 1) << "the predict run is not whole";
  // A writer: killed after one rename of a fit, the next fit completes it before its own run.
  kill_when(s, s.fit(3), [&](pid_t pid) {
    return fs::exists(s.journal()) && !fs::exists(s.temp(pid, "y.json")) && fs::exists(s.temp(pid, "y_centers.npy"));
  });
  EXPECT_EQ(s.which(), 0);
  const auto w = run(s.fit(2, s.d, false), s.log("writer"));
  EXPECT_EQ(w.code, 0) << w.output;
  EXPECT_NE(w.output.find("completed the final step of an interrupted hmr run"), std::string::npos) << w.output;
  EXPECT_EQ(s.which(), 2);
  EXPECT_TRUE(leftovers(s.d).empty()) << *leftovers(s.d).begin();
}

TEST(E2eOutputs, ConcurrentFileRunsNeverInterleave) {
  KmeansSets s("journal_concurrent");
  for (int round = 0; round < 4; ++round) {
    const Child first = start(s.fit(round % 2 ? 2 : 3), s.log("1"), {"HMR_TEST_MOVE_DELAY_MS=200"});
    std::this_thread::sleep_for(std::chrono::milliseconds(round < 2 ? 30 : 0));
    const Child second = start(s.fit(round % 2 ? 3 : 2), s.log("2"), {"HMR_TEST_MOVE_DELAY_MS=200"});
    const int c1 = finish(first), c2 = finish(second);
    EXPECT_TRUE((c1 == 0 || c1 == 2) && (c2 == 0 || c2 == 2) && (c1 == 0 || c2 == 0))
        << c1 << " " << c2 << slurp(s.log("1")) << slurp(s.log("2"));
    EXPECT_NE(s.which(), 0) << "a mix of two runs (round " << round << ")";
    EXPECT_TRUE(leftovers(s.d).empty());
  }
}

TEST(E2eOutputs, AForgedJournalIsRefusedByWritersAndIgnoredByReaders) {
  KmeansSets s("journal_forged");
  ASSERT_EQ(run(s.fit(2), s.log("old")).code, 0);
  write_text(s.d / "precious.txt", "keep");
  write_text(s.journal(), "{\"hmr_commit\": 1, \"pid\": 1, \"steps\": [{\"target\": \"" + (s.d / "y.npy").string() +
                              "\", \"temp\": \"" + (s.d / "precious.txt").string() + "\"}]}");
  const auto w = run(s.fit(3), s.log("w"));
  EXPECT_EQ(w.code, 2) << w.output;
  EXPECT_EQ(lines(w.output), 1) << w.output;
  EXPECT_NE(w.output.find("not a commit journal written by hmr (a temporary that is not the target's own)"),
            std::string::npos)
      << w.output;
  const auto r =
      run("-q --device cpu metrics --input " + s.x.string() + " --pred " + (s.d / "y.npy").string(), s.log("r"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(slurp(s.d / "precious.txt"), "keep");
  EXPECT_EQ(s.which(), 2);
}

}  // namespace
