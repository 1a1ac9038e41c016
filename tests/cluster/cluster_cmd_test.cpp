// `hmr cluster` end to end: dbscan writes sklearn's labels and core_sample_indices_ (fixtures of
// tests/fixtures/gen_dbscan.py) and the JSON summary; --eps auto prints the knee eps; kmeans through
// the same command; a later run with another method removes the first one's attribute file; an
// unknown method, a bad eps and a bad metric are one line and exit code 2.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/npy.h"
#include "support/compare.h"
#include "support/run.h"

namespace {

namespace fs = std::filesystem;
using hmr::test::run_hmr;

struct TempDir {
  TempDir() : path(fs::temp_directory_path() / ("hmr_cluster_cmd_" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

TEST(E2eClusterCmd, DbscanWritesScikitLearnLabelsCoreIndicesAndSummary) {
  TempDir t;
  const std::string x = hmr::test::fixture("dbscan/blobs_noise_x.npy"), out = (t.path / "L.npy").string();
  const auto r =
      run_hmr("cluster --device cpu --method dbscan --eps 0.5 --min-samples 5 --input " + x + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(hmr::io::read_labels(out), hmr::io::read_labels(hmr::test::fixture("dbscan/blobs_noise_labels.npy")));
  EXPECT_EQ(hmr::io::read_labels(t.path / "L_core_sample_indices.npy"),
            hmr::io::read_labels(hmr::test::fixture("dbscan/blobs_noise_core.npy")));
  std::ifstream f(t.path / "L.json");
  const auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["method"], "dbscan");
  EXPECT_EQ(j["n_clusters"], 4);
  EXPECT_EQ(j["n_noise"], 50);
  EXPECT_EQ(j["parameters"]["min_samples"], 5);
  EXPECT_EQ(j["parameters"]["metric"], "euclidean");

  // kmeans into the same --out: its centres appear, dbscan's core indices go.
  const auto k =
      run_hmr("cluster --device cpu --method kmeans --n-clusters 4 --random-state 0 --input " + x + " --out " + out);
  ASSERT_EQ(k.code, 0) << k.output;
  EXPECT_TRUE(fs::exists(t.path / "L_centers.npy"));
  EXPECT_FALSE(fs::exists(t.path / "L_core_sample_indices.npy"));
}

TEST(E2eClusterCmd, EpsAutoPrintsTheKneeOfTheKDistanceCurve) {
  TempDir t;
  std::ifstream f(hmr::test::fixture("dbscan/reference.json"));
  const auto ref = nlohmann::json::parse(f)["eps_auto"];
  const auto r = run_hmr("cluster --device cpu --method dbscan --eps auto --min-samples 5 --input " +
                         hmr::test::fixture("dbscan/blobs_noise_x.npy") + " --out " + (t.path / "A.npy").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("eps auto: "), std::string::npos) << r.output;
  std::ifstream js(t.path / "A.json");
  const auto j = nlohmann::json::parse(js);
  const double got = j["parameters"]["eps"].get<double>(), want = ref["eps"].get<double>();
  EXPECT_LE(std::fabs(got - want), 1e-9 * want) << "got " << got << ", sklearn rule " << want;
}

TEST(E2eClusterCmd, BadMethodEpsAndMetricAreOneLineExitTwo) {
  TempDir t;
  const std::string x = hmr::test::fixture("dbscan/blobs_noise_x.npy"), out = (t.path / "B.npy").string();
  auto r = run_hmr("cluster --device cpu --method spectral --input " + x + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("unknown --method 'spectral' (known: kmeans, dbscan)"), std::string::npos) << r.output;
  r = run_hmr("cluster --device cpu --method dbscan --eps abc --input " + x + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_hmr("cluster --device cpu --method dbscan --eps -1 --input " + x + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_hmr("cluster --device cpu --method dbscan --metric chebyshev --input " + x + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("unknown metric 'chebyshev'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
