// End-to-end tests of hmr easy / medium / hard on the generated sample (data/make-sample.sh,
// 4 songs per genre and language = 32 tracks), on every backend present, with small settings:
// the output files exist, metrics.json parses with the schema's keys, metrics are finite, the
// labels the generator makes separable are recovered, a run is reproducible, and the input errors
// of the issue are one clear exit-2 error that leaves nothing behind. Also checks that the
// generator is deterministic and makes the promised counts and labels. results.csv is checked
// against ids.txt, labels_*.npy, truth_*.npy and excluded.txt, and read by Python (csv, pandas).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "audio/features.h"
#include "core/error.h"
#include "io/csv.h"
#include "io/npy.h"
#include "pipeline/experiments.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/errors.h"
#include "support/files.h"

using hmr::test::input_error_of;
using hmr::test::slurp;
namespace {

namespace fs = std::filesystem;
using hmr::pipeline::Config;
using hmr::pipeline::Task;

const fs::path kRepo = fs::path(::hmr::test::repo_dir());
constexpr int kSongs = 4;  // per genre and language: 2 x 4 x 4 = 32 tracks

int run_shell(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool have_tools() { return run_shell("command -v sox >/dev/null && command -v espeak-ng >/dev/null") == 0; }

// The sample, generated once per build folder (the script locks and skips when it is there).
fs::path sample() {
  static const fs::path dir = [] {
    const fs::path d = fs::path(::hmr::test::binary_dir()) / "pipeline-sample";
    const std::string cmd = fmt::format("'{}' '{}' --if-missing --songs {} >/dev/null",
                                        (kRepo / "data" / "make-sample.sh").string(), d.string(), kSongs);
    if (run_shell(cmd) != 0) return fs::path();
    return d;
  }();
  return dir;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::path(::hmr::test::binary_dir()) / "pipeline-e2e" / fmt::format("{}_{}", name, ::getpid());
  fs::remove_all(d);
  return d;
}

// Small settings so the emulated kernels finish quickly; the defaults are exercised by run-demo.
std::vector<std::string> small(Task t) {
  std::vector<std::string> s{"tsne.iters=300", "tsne.exag_iters=100", "kmeans.n_init=4"};
  switch (t) {
    case Task::easy:  // the default 512-32 model; the vocabulary of 32 songs is small
      for (const char* v : {"vae.epochs=100", "vae.batch=16"}) s.push_back(v);
      break;
    case Task::medium:
      for (const char* v : {"text_vae.epochs=100", "text_vae.batch=16", "audio_vae.epochs=100", "audio_vae.batch=16"})
        s.push_back(v);
      break;
    case Task::hard:
      for (const char* v : {"vae.epochs=100", "vae.batch=16"}) s.push_back(v);
      break;
  }
  return s;
}

nlohmann::json check_outputs(const fs::path& out, const std::vector<std::string>& files,
                             const std::vector<std::string>& methods) {
  for (const auto& f : files) EXPECT_TRUE(fs::is_regular_file(out / f)) << "missing " << (out / f);
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().rfind(".hmr-partial", 0), std::string::npos) << "staging left behind";
  const auto j = nlohmann::json::parse(slurp(out / "metrics.json"));
  for (const char* k : {"task", "device", "seed", "n_samples", "k", "timings_s", "results"})
    EXPECT_TRUE(j.contains(k)) << "metrics.json lacks " << k;
  for (const auto& [stage, s] : j["timings_s"].items()) EXPECT_TRUE(s.is_number() && s.get<double>() >= 0) << stage;
  for (const auto& m : methods) {
    EXPECT_TRUE(j["results"].contains(m)) << "no results for " << m;
    if (!j["results"].contains(m)) continue;
    EXPECT_EQ(j["results"][m].value("n_noise", -1), 0) << m << ": K-Means labels no point as noise";
    for (const char* k : {"silhouette", "calinski_harabasz", "davies_bouldin", "ari", "nmi", "purity", "ami",
                          "homogeneity", "completeness", "v_measure", "fowlkes_mallows", "accuracy"}) {
      EXPECT_TRUE(j["results"][m].contains(k)) << m << " lacks " << k;
      EXPECT_TRUE(j["results"][m][k].is_number()) << m << "." << k << " is not a finite number";
      if (j["results"][m][k].is_number()) {
        EXPECT_TRUE(std::isfinite(j["results"][m][k].get<double>())) << m << "." << k;
      }
    }
  }
  const std::string report = slurp(out / "report.md");
  for (const auto& m : methods) EXPECT_NE(report.find("`" + m + "`"), std::string::npos) << "report lacks " << m;
  EXPECT_NE(report.find("Stage timings"), std::string::npos);
  // Every figure the report shows is there, as a PNG and an SVG with text in it.
  int figures = 0;
  for (auto at = report.find("]("); at != std::string::npos; at = report.find("](", at + 1)) {
    const std::string link = report.substr(at + 2, report.find(')', at) - at - 2);
    EXPECT_TRUE(fs::exists(out / link)) << "report links a missing file " << link;
    if (link.size() > 4 && link.substr(link.size() - 4) == ".svg") {
      ++figures;
      EXPECT_NE(slurp(out / link).find("</text>"), std::string::npos) << link << " has no text";
    }
  }
  EXPECT_GT(figures, 0);
  return j;
}

// results.csv against the other outputs: a header of id, the labels, the methods, excluded,
// excluded_reason; the first rows are ids.txt in order with each method's cluster equal to
// labels_<method>.npy and each label equal to truth_<label>.npy by name; then one row per
// excluded.txt line, flagged, with its reason and empty cluster cells. Python's csv module (and
// pandas, when installed) must read the same table without options.
void check_results_csv(const fs::path& out, const std::vector<std::string>& labels,
                       const std::vector<std::string>& methods, std::size_t n_excluded) {
  const auto t = hmr::io::read_csv(out / "results.csv", hmr::io::CsvOptions{});
  std::vector<std::string> header{"id"};
  for (const auto& l : labels) header.push_back(l);
  for (const auto& m : methods) header.push_back(m);
  header.push_back("excluded");
  header.push_back("excluded_reason");
  ASSERT_EQ(t.header, header);
  std::vector<std::string> ids;
  {
    std::istringstream in(slurp(out / "ids.txt"));
    for (std::string line; std::getline(in, line);) ids.push_back(line);
  }
  ASSERT_EQ(t.size(), ids.size() + n_excluded) << "one row per input row/track";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(t.at(i, 0), ids[i]) << "row " << i;
    EXPECT_EQ(t.at(i, t.column("excluded")), "0");
    EXPECT_EQ(t.at(i, t.column("excluded_reason")), "");
  }
  for (const auto& m : methods) {
    const auto p = hmr::io::read_labels(out / ("labels_" + m + ".npy"));
    ASSERT_EQ(p.size(), ids.size()) << m;
    const std::size_t col = t.column(m);
    for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(t.at(i, col), std::to_string(p[i])) << m << " row " << i;
    for (std::size_t i = ids.size(); i < t.size(); ++i) EXPECT_EQ(t.at(i, col), "") << "excluded row has a cluster";
  }
  for (const auto& l : labels) {
    const auto codes = hmr::io::read_labels(out / ("truth_" + l + ".npy"));
    std::vector<std::string> names;
    std::istringstream in(slurp(out / ("truth_" + l + "_names.txt")));
    for (std::string line; std::getline(in, line);) names.push_back(line);
    const std::size_t col = t.column(l);
    for (std::size_t i = 0; i < ids.size(); ++i)
      EXPECT_EQ(t.at(i, col), codes[i] >= 0 ? names[static_cast<std::size_t>(codes[i])] : "") << l << " row " << i;
  }
  const std::string excluded = n_excluded ? slurp(out / "excluded.txt") : "";
  for (std::size_t i = ids.size(); i < t.size(); ++i) {
    EXPECT_EQ(t.at(i, t.column("excluded")), "1");
    const std::string& reason = t.at(i, t.column("excluded_reason"));
    EXPECT_FALSE(reason.empty());
    EXPECT_NE(excluded.find(reason), std::string::npos) << reason << " not in excluded.txt";
    EXPECT_EQ(std::find(ids.begin(), ids.end(), t.at(i, 0)), ids.end()) << "an excluded id is in ids.txt";
  }
  // Python's stdlib csv module (always there) reads the same cells.
  const std::string py = fmt::format(
      "import csv,sys\n"
      "rows=list(csv.reader(open(sys.argv[1],newline='',encoding='utf-8')))\n"
      "assert len(rows)=={} and len(rows[0])=={}, (len(rows), rows[0])\n"
      "ids=open(sys.argv[2],encoding='utf-8').read().splitlines()\n"
      "assert [r[0] for r in rows[1:1+len(ids)]]==ids\n"
      "assert all(r[-2]=='1' and r[-1] for r in rows[1+len(ids):])\n",
      t.size() + 1, header.size());
  const fs::path script = out.parent_path() / fmt::format("check_results_{}.py", ::getpid());
  std::ofstream(script) << py;
  if (run_shell("command -v python3 >/dev/null") == 0) {
    EXPECT_EQ(run_shell(fmt::format("python3 '{}' '{}' '{}'", script.string(), (out / "results.csv").string(),
                                    (out / "ids.txt").string())),
              0)
        << "python csv module disagrees";
  }
  // pandas without options: same shape, ids as strings, excluded flags.
  if (run_shell("python3 -c 'import pandas' >/dev/null 2>&1") == 0) {
    std::ofstream(script) << fmt::format(
        "import pandas as pd,sys\n"
        "d=pd.read_csv(sys.argv[1])\n"
        "ids=open(sys.argv[2],encoding='utf-8').read().splitlines()\n"
        "assert d.shape==({}, {}), d.shape\n"
        "assert list(d['id'][:len(ids)].astype(str))==ids\n"
        "assert int(d['excluded'].sum())=={}\n",
        t.size(), header.size(), n_excluded);
    EXPECT_EQ(run_shell(fmt::format("python3 '{}' '{}' '{}'", script.string(), (out / "results.csv").string(),
                                    (out / "ids.txt").string())),
              0)
        << "pandas.read_csv disagrees";
  } else {
    std::printf("[ NOTE     ] pandas not installed: results.csv checked with io::read_csv and Python's csv only\n");
  }
  fs::remove(script);
}

#define NEED_SAMPLE()                                                                     \
  do {                                                                                    \
    if (!have_tools()) GTEST_SKIP() << "sox / espeak-ng not installed (install-deps.sh)"; \
    ASSERT_FALSE(sample().empty()) << "data/make-sample.sh failed";                       \
  } while (0)

class E2ePipeline : public hmr::test::BackendTest {};

TEST_P(E2ePipeline, EasyRecoversLanguageOnBothMethods) {
  NEED_SAMPLE();
  const fs::path out = fresh_dir("easy_" + GetParam());
  const Config c = Config::resolve(Task::easy, {}, small(Task::easy), 42);
  hmr::pipeline::EasyInputs in;
  in.lyrics.push_back(hmr::pipeline::parse_lyrics_arg((sample() / "lyrics_bn.csv").string() + ":bn"));
  in.lyrics.push_back(hmr::pipeline::parse_lyrics_arg((sample() / "lyrics_en.csv").string() + ":en"));
  const auto r = hmr::pipeline::run_easy(backend(), in, c, out);
  EXPECT_EQ(r.n_samples, 2 * 4 * kSongs);
  const auto j = check_outputs(
      out,
      {"metrics.json", "report.md", "config.toml", "latent_vae.npy", "latent_pca.npy", "labels_vae_kmeans.npy",
       "labels_pca_kmeans.npy", "truth_language.npy", "truth_genre.npy", "model_text_vae.safetensors",
       "tsne_vae_language.png", "tsne_vae_language.svg", "tsne_vae_cluster.png", "tsne_vae_cluster.svg",
       "contingency_vae_kmeans_language.png", "contingency_vae_kmeans_genre.svg", "loss_text_vae.png",
       "loss_text_vae.svg", "model_text_vae.history.json"},
      {"vae_kmeans", "pca_kmeans"});
  EXPECT_EQ(j["task"], "easy");
  EXPECT_EQ(j["device"], GetParam());
  EXPECT_GE(j["results"]["vae_kmeans"]["ari"].get<double>(), 0.9);
  EXPECT_GE(j["results"]["pca_kmeans"]["ari"].get<double>(), 0.9);
  EXPECT_TRUE(j["results"]["vae_kmeans"].contains("nmi_genre"));
  check_results_csv(out, {"language", "genre"}, {"vae_kmeans", "pca_kmeans"}, r.excluded.size());
  // The resolved configuration is the one that ran.
  const Config again = Config::resolve(Task::easy, out / "config.toml", {}, std::nullopt);
  EXPECT_EQ(again.to_toml(), c.to_toml());
  fs::remove_all(out);
}

TEST_P(E2ePipeline, MediumFusesEachTracksOwnModalitiesAndListsIncompleteOnes) {
  NEED_SAMPLE();
  const fs::path out = fresh_dir("medium_" + GetParam());
  // The sample's manifest plus three broken tracks: missing audio, empty lyrics, a file that is
  // not audio. They must be listed and left out, never paired with another track's data.
  const fs::path manifest = out.parent_path() / fmt::format("manifest_{}_{}.csv", GetParam(), ::getpid());
  fs::create_directories(out.parent_path());
  {
    std::string m = slurp(sample() / "manifest.csv");
    // Paths relative to the sample folder -> absolute, as the manifest moved.
    std::string fixed;
    std::istringstream in(m);
    std::string line;
    while (std::getline(in, line)) {
      const auto p = line.find(",gtzan/");
      if (p != std::string::npos) line.insert(p + 1, (sample() / "").string());
      fixed += line + "\n";
    }
    fixed += "ghost_track," + (sample() / "gtzan" / "rock" / "no_such.wav").string() + ",\"some words here\",en,rock\n";
    fixed += "silent_lyrics," + (sample() / "gtzan" / "folk" / "bn_folk_00.wav").string() + ",\"\",bn,folk\n";
    fixed += "not_audio," + manifest.string() + ",\"words of a song\",en,rock\n";
    std::ofstream f(manifest);
    f << fixed;
  }
  const Config c = Config::resolve(Task::medium, {}, small(Task::medium), 42);
  const auto r = hmr::pipeline::run_medium(backend(), {manifest}, c, out);
  EXPECT_EQ(r.n_samples, 2 * 4 * kSongs);
  ASSERT_EQ(r.excluded.size(), 3u);
  const std::string ex = slurp(out / "excluded.txt");
  for (const char* id : {"ghost_track", "silent_lyrics", "not_audio"}) EXPECT_NE(ex.find(id), std::string::npos) << id;
  const auto j = check_outputs(out,
                               {"metrics.json",
                                "report.md",
                                "config.toml",
                                "latent_text.npy",
                                "latent_audio.npy",
                                "latent_fused.npy",
                                "labels_fused.npy",
                                "labels_text_only.npy",
                                "labels_audio_only.npy",
                                "model_text_vae.safetensors",
                                "model_audio_vae.safetensors",
                                "tsne_fused_language.png",
                                "tsne_fused_language.svg",
                                "tsne_fused_genre.png",
                                "ids.txt",
                                "excluded.txt",
                                "contingency_fused_language.png",
                                "contingency_fused_genre.png",
                                "loss_text_vae.png",
                                "loss_audio_vae.png",
                                "model_text_vae.history.json",
                                "model_audio_vae.history.json"},
                               {"fused", "text_only", "audio_only"});
  EXPECT_GE(j["results"]["fused"]["ari"].get<double>(), 0.9) << "language not recovered by the fused latent";
  EXPECT_TRUE(j["results"]["fused"].contains("nmi_genre"));
  EXPECT_EQ(j["n_excluded"], 3);
  check_results_csv(out, {"language", "genre"}, {"fused", "text_only", "audio_only"}, 3);
  {
    // The left-out tracks keep the labels their manifest row gives.
    const auto t = hmr::io::read_csv(out / "results.csv");
    bool ghost = false;
    for (std::size_t i = 0; i < t.size(); ++i)
      if (t.at(i, 0) == "ghost_track") {
        ghost = true;
        EXPECT_EQ(t.at(i, t.column("language")), "en");
        EXPECT_EQ(t.at(i, t.column("genre")), "rock");
        EXPECT_NE(t.at(i, t.column("excluded_reason")).find("not found"), std::string::npos);
      }
    EXPECT_TRUE(ghost);
  }
  // The rows are the manifest's complete tracks in manifest order.
  const std::string ids = slurp(out / "ids.txt");
  EXPECT_EQ(ids.find("ghost_track"), std::string::npos);
  EXPECT_EQ(ids.rfind("bn_rock_00", 0), 0u);
  fs::remove_all(out);
  fs::remove(manifest);
}

TEST_P(E2ePipeline, HardRecoversGenresAndBeatsNoBaselineByChance) {
  NEED_SAMPLE();
  const fs::path out = fresh_dir("hard_" + GetParam());
  const Config c = Config::resolve(Task::hard, {}, small(Task::hard), 42);
  const auto r = hmr::pipeline::run_hard(backend(), {sample() / "gtzan", {}}, c, out);
  EXPECT_EQ(r.k, 4);
  const auto j = check_outputs(out,
                               {"metrics.json",
                                "report.md",
                                "config.toml",
                                "features.npy",
                                "latent_vae.npy",
                                "features_segments.npy",
                                "latent_plain_vae.npy",
                                "latent_pca.npy",
                                "labels_vae_kmeans.npy",
                                "labels_raw_kmeans.npy",
                                "truth_genre.npy",
                                "truth_genre_names.txt",
                                "model_vae.safetensors",
                                "model_plain_vae.safetensors",
                                "tsne_vae_genre.png",
                                "tsne_vae_genre.svg",
                                "tsne_vae_cluster.png",
                                "contingency_vae_kmeans_genre.png",
                                "contingency_vae_kmeans_genre.svg",
                                "loss_vae.png",
                                "loss_plain_vae.png",
                                "model_vae.history.json",
                                "model_plain_vae.history.json"},
                               {"vae_kmeans", "raw_kmeans", "pca_kmeans", "plain_vae_kmeans"});
  EXPECT_GE(j["results"]["vae_kmeans"]["ari"].get<double>(), 0.9);
  EXPECT_GE(j["results"]["raw_kmeans"]["ari"].get<double>(), 0.9);
  EXPECT_EQ(slurp(out / "truth_genre_names.txt"), "ballad\nelectronic\nfolk\nrock\n");
  check_results_csv(out, {"genre"}, {"raw_kmeans", "pca_kmeans", "vae_kmeans", "plain_vae_kmeans"}, r.excluded.size());
  // The VAEs train on 3 s segments (two whole ones per 6 s clip: 259 frames of 129) and a track's
  // latent is the mean over its segments: one latent row per track.
  EXPECT_EQ(hmr::io::read_matrix(out / "features_segments.npy").rows(), 2 * r.n_samples);
  EXPECT_EQ(hmr::io::read_matrix(out / "latent_vae.npy").rows(), r.n_samples);
  fs::remove_all(out);
}
HMR_INSTANTIATE_BACKENDS(E2ePipeline);

TEST(E2ePipelineRepeat, SameSeedSameBackendSameMetrics) {
  NEED_SAMPLE();
  auto cpu = hmr::make_cpu_backend();
  std::vector<std::string> sets = small(Task::hard);
  sets.push_back("tsne.enabled=false");
  const Config c = Config::resolve(Task::hard, {}, sets, 3);
  const fs::path a = fresh_dir("repeat_a"), b = fresh_dir("repeat_b");
  hmr::pipeline::run_hard(*cpu, {sample() / "gtzan", {}}, c, a);
  hmr::pipeline::run_hard(*cpu, {sample() / "gtzan", {}}, c, b);
  auto ja = nlohmann::json::parse(slurp(a / "metrics.json")), jb = nlohmann::json::parse(slurp(b / "metrics.json"));
  EXPECT_EQ(ja["results"], jb["results"]);
  EXPECT_EQ(slurp(a / "latent_vae.npy"), slurp(b / "latent_vae.npy"));
  EXPECT_EQ(slurp(a / "labels_vae_kmeans.npy"), slurp(b / "labels_vae_kmeans.npy"));
  fs::remove_all(a);
  fs::remove_all(b);
}

// features.set = kaggle57: the Kaggle table's 57 features from the audio (audio/features.h),
// segments cut from the samples; the report says which set was used.
TEST(E2ePipelineKaggle57, HardComputesTheKaggleFeaturesFromAudio) {
  NEED_SAMPLE();
  auto cpu = hmr::make_cpu_backend();
  std::vector<std::string> sets = small(Task::hard);
  sets.push_back("tsne.enabled=false");
  sets.push_back("features.set=kaggle57");
  const Config c = Config::resolve(Task::hard, {}, sets, 42);
  const fs::path out = fresh_dir("hard_kaggle57");
  const auto r = hmr::pipeline::run_hard(*cpu, {sample() / "gtzan", {}}, c, out);
  std::string columns;
  for (const auto& name : hmr::audio::kaggle_feature_columns()) columns += name + "\n";
  EXPECT_EQ(slurp(out / "feature_columns.txt"), columns);
  EXPECT_EQ(hmr::io::read_matrix(out / "features.npy").cols(), 57);
  // Two whole 3 s segments per 6 s clip, each with its own 57 features.
  EXPECT_EQ(hmr::io::read_matrix(out / "features_segments.npy").rows(), 2 * r.n_samples);
  EXPECT_NE(slurp(out / "report.md").find("features.set = kaggle57"), std::string::npos);
  EXPECT_NE(slurp(out / "config.toml").find("set = 'kaggle57'"), std::string::npos);
  const auto j = nlohmann::json::parse(slurp(out / "metrics.json"));
  EXPECT_GE(j["results"]["raw_kmeans"]["ari"].get<double>(), 0.9);
  fs::remove_all(out);
  // An unknown set is one line naming the choices.
  const std::string msg =
      input_error_of([&] { Config::resolve(Task::hard, {}, {"features.set=mfcc40"}, 42).validate(); });
  EXPECT_NE(msg.find("mfcc, kaggle57"), std::string::npos) << msg;
}

// ---- errors: one clear line, exit code 2, nothing half-written ----

bool empty_or_absent(const fs::path& d) { return !fs::exists(d) || fs::is_empty(d); }

TEST(E2ePipelineErrors, EachBadInputIsOneClearLineAndLeavesNothing) {
  NEED_SAMPLE();
  auto cpu = hmr::make_cpu_backend();
  const fs::path root = fresh_dir("errors");
  fs::create_directories(root);
  const Config hard = Config::defaults(Task::hard);

  // A missing input path.
  fs::path out = root / "out1";
  auto msg = input_error_of([&] { hmr::pipeline::run_hard(*cpu, {root / "nowhere", {}}, hard, out); });
  EXPECT_NE(msg.find("nowhere"), std::string::npos) << msg;
  EXPECT_TRUE(empty_or_absent(out));
  msg = input_error_of([&] { hmr::pipeline::run_hard(*cpu, {{}, root / "none.csv"}, hard, out); });
  EXPECT_NE(msg.find("none.csv"), std::string::npos) << msg;

  // A folder with no audio.
  fs::create_directories(root / "empty" / "rock");
  { std::ofstream(root / "empty" / "rock" / "notes.txt") << "hi"; }
  msg = input_error_of([&] { hmr::pipeline::run_hard(*cpu, {root / "empty", {}}, hard, out); });
  EXPECT_NE(msg.find("no audio"), std::string::npos) << msg;
  EXPECT_TRUE(empty_or_absent(out));

  // A single genre folder.
  fs::create_directories(root / "one" / "rock");
  fs::copy_file(sample() / "gtzan" / "rock" / "bn_rock_00.wav", root / "one" / "rock" / "a.wav");
  fs::copy_file(sample() / "gtzan" / "rock" / "bn_rock_01.wav", root / "one" / "rock" / "b.wav");
  msg = input_error_of([&] { hmr::pipeline::run_hard(*cpu, {root / "one", {}}, hard, out); });
  EXPECT_NE(msg.find("genre"), std::string::npos) << msg;

  // k larger than the number of tracks: fails after loading, and still leaves nothing.
  Config big_k = Config::defaults(Task::hard);
  big_k.set("experiment.k=1000");
  msg = input_error_of([&] { hmr::pipeline::run_hard(*cpu, {sample() / "gtzan", {}}, big_k, out); });
  EXPECT_NE(msg.find("1000"), std::string::npos) << msg;
  EXPECT_TRUE(empty_or_absent(out)) << "a failed run left files in " << out;

  // Lyrics files with no usable rows.
  { std::ofstream(root / "blank.csv") << "id,lyrics\n1,\n2,\"   \"\n"; }
  hmr::pipeline::EasyInputs easy_in;
  easy_in.lyrics = {hmr::pipeline::parse_lyrics_arg((root / "blank.csv").string() + ":en")};
  msg = input_error_of([&] { hmr::pipeline::run_easy(*cpu, easy_in, Config::defaults(Task::easy), out); });
  EXPECT_NE(msg.find("no usable rows"), std::string::npos) << msg;
  EXPECT_TRUE(empty_or_absent(out));

  // An unwritable --out (a path below a regular file).
  { std::ofstream(root / "afile") << "x"; }
  msg = input_error_of([&] { hmr::pipeline::run_hard(*cpu, {sample() / "gtzan", {}}, hard, root / "afile" / "out"); });
  EXPECT_NE(msg.find("afile"), std::string::npos) << msg;
  msg = input_error_of([&] { hmr::pipeline::run_hard(*cpu, {sample() / "gtzan", {}}, hard, root / "afile"); });
  EXPECT_NE(msg.find("afile"), std::string::npos) << msg;

  // A manifest without any complete track.
  { std::ofstream(root / "m.csv") << "id,audio,lyrics,language\nx,missing.wav,\"words\",en\n"; }
  msg = input_error_of([&] { hmr::pipeline::run_medium(*cpu, {root / "m.csv"}, Config::defaults(Task::medium), out); });
  EXPECT_NE(msg.find("m.csv"), std::string::npos) << msg;
  EXPECT_TRUE(empty_or_absent(out));
  fs::remove_all(root);
}

// The command line: the same errors reach the user as one line on stderr with exit code 2.
TEST(E2ePipelineErrors, CommandLineExitsWithCodeTwo) {
  const fs::path exe = fs::path(::hmr::test::binary_dir()) / "apps" / "hmr";
  if (!fs::exists(exe)) GTEST_SKIP() << "hmr is not built at " << exe;
  const fs::path root = fresh_dir("cli");
  fs::create_directories(root);
  const std::string err = (root / "err.txt").string();
  EXPECT_EQ(run_shell(fmt::format("'{}' hard --gtzan '{}' --out '{}' 2>'{}'", exe.string(), (root / "nope").string(),
                                  (root / "o").string(), err)),
            2);
  std::string text = slurp(err);
  EXPECT_NE(text.find("nope"), std::string::npos) << text;
  // Exactly one error line (the device choice is logged before it).
  std::size_t errors = 0;
  for (std::size_t p = text.find("hmr: error:"); p != std::string::npos; p = text.find("hmr: error:", p + 1)) ++errors;
  EXPECT_EQ(errors, 1u) << text;
  const std::size_t at = text.find("hmr: error:");
  EXPECT_EQ(text.find('\n', at), text.size() - 1) << "the error is not one last line: " << text;
  EXPECT_EQ(run_shell(fmt::format("'{}' easy --lyrics '{}' --out '{}' --set vae.latnt=2 2>'{}'", exe.string(),
                                  (root / "x.csv").string(), (root / "o").string(), err)),
            2);
  text = slurp(err);
  EXPECT_NE(text.find("latnt"), std::string::npos) << text;
  EXPECT_EQ(run_shell(fmt::format("'{}' medium --out '{}' 2>/dev/null", exe.string(), (root / "o").string())), 2);
  fs::remove_all(root);
}

// ---- the sample generator ----

TEST(E2eSample, CountsAndLabelsAreWhatTheGeneratorPromises) {
  NEED_SAMPLE();
  const auto m = hmr::io::read_csv(sample() / "manifest.csv");
  ASSERT_EQ(m.header, (std::vector<std::string>{"id", "audio", "lyrics", "language", "genre"}));
  ASSERT_EQ(m.size(), static_cast<std::size_t>(2 * 4 * kSongs));
  std::map<std::string, int> per;
  for (std::size_t r = 0; r < m.size(); ++r) {
    const std::string id = m.at(r, 0), lang = m.at(r, 3), genre = m.at(r, 4);
    per[lang + "/" + genre]++;
    EXPECT_EQ(id.rfind(lang + "_" + genre + "_", 0), 0u) << id;
    EXPECT_EQ(m.at(r, 1), "gtzan/" + genre + "/" + id + ".wav");
    EXPECT_TRUE(fs::is_regular_file(sample() / m.at(r, 1))) << m.at(r, 1);
    EXPECT_FALSE(m.at(r, 2).empty());
  }
  EXPECT_EQ(per.size(), 8u);
  for (const auto& [k, v] : per) EXPECT_EQ(v, kSongs) << k;
  for (const char* lang : {"bn", "en"}) {
    const auto l = hmr::io::read_csv(sample() / fmt::format("lyrics_{}.csv", lang));
    EXPECT_EQ(l.size(), static_cast<std::size_t>(4 * kSongs));
    EXPECT_TRUE(l.find_column("lyrics").has_value());
  }
  // Bangla lyrics are in Bengali script (U+0980..U+09FF, UTF-8 lead bytes E0 A6/A7).
  EXPECT_NE(hmr::io::read_csv(sample() / "lyrics_bn.csv").at(0, 3).find("\xE0\xA6"), std::string::npos);
}

TEST(E2eSample, TwoRunsGiveIdenticalBytes) {
  if (!have_tools()) GTEST_SKIP() << "sox / espeak-ng not installed";
  const fs::path a = fresh_dir("gen_a"), b = fresh_dir("gen_b");
  const std::string gen = (kRepo / "data" / "make-sample.sh").string();
  ASSERT_EQ(run_shell(fmt::format("'{}' '{}' --songs 1 >/dev/null", gen, a.string())), 0);
  ASSERT_EQ(run_shell(fmt::format("'{}' '{}' --songs 1 >/dev/null", gen, b.string())), 0);
  ASSERT_EQ(run_shell(fmt::format("diff -r '{}' '{}' >/dev/null", a.string(), b.string())), 0)
      << "the generator is not deterministic";
  // Regenerating in place gives the same bytes again (idempotent), and a foreign folder is refused.
  const std::string before = slurp(a / "gtzan" / "rock" / "en_rock_00.wav");
  ASSERT_EQ(run_shell(fmt::format("'{}' '{}' --songs 1 >/dev/null", gen, a.string())), 0);
  EXPECT_EQ(slurp(a / "gtzan" / "rock" / "en_rock_00.wav"), before);
  const fs::path foreign = fresh_dir("gen_foreign");
  fs::create_directories(foreign);
  { std::ofstream(foreign / "keep.txt") << "mine"; }
  EXPECT_EQ(run_shell(fmt::format("'{}' '{}' --songs 1 2>/dev/null", gen, foreign.string())), 2);
  EXPECT_TRUE(fs::exists(foreign / "keep.txt"));
  fs::remove_all(a);
  fs::remove_all(b);
  fs::remove_all(foreign);
}

}  // namespace
