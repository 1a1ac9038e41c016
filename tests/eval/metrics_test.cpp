// Clustering metrics against scikit-learn (within 1e-6 relative) on random labelings, synthetic
// latents, singleton clusters and, when ../shared/data is present, real features; errors as
// sklearn raises them; the silhouette tile kernels against their cpu twin in every thread order;
// and the hmr kmeans / pca / metrics commands end to end.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "cluster/cluster_fixtures.h"
#include "core/error.h"
#include "cuda/buffer.h"
#include "eval/metrics.h"
#include "eval/silhouette.cuh"
#include "eval/silhouette_detail.h"
#include "io/csv.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/emu.h"
#include "support/run.h"

namespace {

using hmr::test::cluster_ref;
constexpr double kRtol = 1e-6;

void expect_rel(double got, double want, double rtol, const char* what) {
  EXPECT_LE(std::fabs(got - want), rtol * std::fabs(want) + 1e-12) << what << ": " << got << " vs sklearn " << want;
}

void expect_all(hmr::Backend& b, const hmr::Matrix& x, const std::vector<std::int32_t>& pred,
                const std::vector<std::int32_t>* truth, const nlohmann::json& ref) {
  expect_rel(hmr::eval::silhouette(b, x, pred), ref["silhouette"].get<double>(), kRtol, "silhouette");
  expect_rel(hmr::eval::calinski_harabasz(x, pred), ref["calinski_harabasz"].get<double>(), kRtol, "calinski_harabasz");
  expect_rel(hmr::eval::davies_bouldin(x, pred), ref["davies_bouldin"].get<double>(), kRtol, "davies_bouldin");
  if (ref.contains("silhouette_sampled")) {
    hmr::eval::SilhouetteOptions so;
    so.sample_size = ref["sample_size"].get<std::int64_t>();
    so.seed = ref["sample_seed"].get<std::uint64_t>();
    expect_rel(hmr::eval::silhouette(b, x, pred, so), ref["silhouette_sampled"].get<double>(), kRtol,
               "silhouette (sample_size)");
  }
  if (truth) {
    expect_rel(hmr::eval::adjusted_rand(*truth, pred), ref["ari"].get<double>(), kRtol, "ari");
    expect_rel(hmr::eval::nmi(*truth, pred), ref["nmi"].get<double>(), kRtol, "nmi");
    expect_rel(hmr::eval::purity(*truth, pred), ref["purity"].get<double>(), 1e-12, "purity");
    const auto c = hmr::eval::contingency(*truth, pred);
    const auto& want = ref["contingency"];
    ASSERT_EQ(c.classes.size(), want.size());
    for (std::size_t i = 0; i < c.classes.size(); ++i)
      for (std::size_t j = 0; j < c.clusters.size(); ++j) EXPECT_EQ(c.at(i, j), want[i][j].get<std::int64_t>());
  }
}

class ConfMetrics : public hmr::test::BackendTest {};

TEST_P(ConfMetrics, RandomLabelingMatchesScikitLearn) {
  const auto x = hmr::test::cluster_matrix("random_x.npy");
  const auto pred = hmr::test::cluster_labels("random_pred.npy"), truth = hmr::test::cluster_labels("random_truth.npy");
  expect_all(backend(), x, pred, &truth, cluster_ref()["metrics_random"]);
}

TEST_P(ConfMetrics, LatentsMatchScikitLearn) {
  const auto x = hmr::test::cluster_matrix("latents_x.npy");
  const auto pred = hmr::test::cluster_labels("latents_pred.npy"),
             truth = hmr::test::cluster_labels("latents_truth.npy");
  expect_all(backend(), x, pred, &truth, cluster_ref()["metrics_latents"]);
  const auto s = hmr::eval::score_all(backend(), x, pred, hmr::eval::Labels(truth));
  ASSERT_TRUE(s.ari.has_value());
  const auto j = nlohmann::json::parse(hmr::eval::to_json(s));
  for (const char* key : {"silhouette", "calinski_harabasz", "davies_bouldin", "ari", "nmi", "purity"})
    EXPECT_TRUE(j.contains(key)) << key;
  const auto no_truth = nlohmann::json::parse(hmr::eval::to_json(hmr::eval::score_all(backend(), x, pred)));
  EXPECT_FALSE(no_truth.contains("ari"));
}

TEST_P(ConfMetrics, SingletonClustersScoreZeroAsInScikitLearn) {
  const auto x = hmr::test::cluster_matrix("random_x.npy");
  const auto pred = hmr::test::cluster_labels("singleton_pred.npy");
  expect_all(backend(), x, pred, nullptr, cluster_ref()["metrics_singleton"]);
  const auto sil = hmr::eval::silhouette_samples(backend(), x, pred);
  EXPECT_EQ(sil[0], 0.0);
  EXPECT_EQ(sil[1], 0.0);
}

TEST_P(ConfMetrics, SilhouetteMatchesCpuOnLargerData) {
  HMR_SKIP_CPU_INSTANCE("RandomLabelingMatchesScikitLearn, LatentsMatchScikitLearn");
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu",
                                     {"silhouette_dist_tile_kernel", "silhouette_cluster_sums_kernel"});
  const auto seed = hmr::test::test_seed(77);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  hmr::Matrix x(700, 12);
  std::vector<std::int32_t> labels(700);
  for (std::int64_t i = 0; i < 700; ++i) {
    labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(rng() % 4);
    for (int c = 0; c < 12; ++c)
      x(i, c) = g(rng) + 2.0f * static_cast<float>(labels[static_cast<std::size_t>(i)] == c % 4);
  }
  const auto got = hmr::eval::silhouette_samples(backend(), x, labels);
  const auto want = hmr::eval::silhouette_samples(cpu(), x, labels);
  EXPECT_ALLCLOSE(std::span<const double>(got), std::span<const double>(want), 1e-7, 1e-6);
}

TEST_P(ConfMetrics, RejectsBadInputAsScikitLearn) {
  const auto x = hmr::test::cluster_matrix("random_x.npy");
  std::vector<std::int32_t> one(static_cast<std::size_t>(x.rows()), 3);
  EXPECT_THROW(hmr::eval::silhouette(backend(), x, one), hmr::Error);  // a single cluster
  std::vector<std::int32_t> all(static_cast<std::size_t>(x.rows()));
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::int32_t>(i);
  EXPECT_THROW(hmr::eval::silhouette(backend(), x, all), hmr::Error);  // n clusters
  EXPECT_THROW(hmr::eval::calinski_harabasz(x, one), hmr::Error);
  EXPECT_THROW(hmr::eval::davies_bouldin(x, one), hmr::Error);
  std::vector<std::int32_t> short_labels(10, 0);
  EXPECT_THROW(hmr::eval::silhouette(backend(), x, short_labels), hmr::Error);
  EXPECT_THROW(hmr::eval::adjusted_rand(short_labels, one), hmr::Error);
  EXPECT_THROW(hmr::eval::nmi(std::vector<std::int32_t>{}, std::vector<std::int32_t>{}), hmr::Error);
  hmr::Matrix bad = x;
  bad(5, 5) = NAN;
  try {
    hmr::eval::silhouette(backend(), bad, hmr::test::cluster_labels("random_pred.npy"));
    ADD_FAILURE() << "NaN accepted";
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
  }
}

HMR_INSTANTIATE_BACKENDS(ConfMetrics);

TEST(Metrics, LabelOnlyCasesMatchScikitLearn) {
  const auto& ref = cluster_ref()["labels_only"];
  const auto a = ref["a"].get<std::vector<std::int32_t>>(), b = ref["b"].get<std::vector<std::int32_t>>();
  expect_rel(hmr::eval::adjusted_rand(a, b), ref["ari"].get<double>(), kRtol, "ari");
  expect_rel(hmr::eval::nmi(a, b), ref["nmi"].get<double>(), kRtol, "nmi");
  expect_rel(hmr::eval::purity(a, b), ref["purity"].get<double>(), 1e-12, "purity");
  std::vector<std::int32_t> perm(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) perm[i] = (a[i] + 1) % 4;
  EXPECT_EQ(hmr::eval::adjusted_rand(a, perm), ref["ari_perm"].get<double>());
  EXPECT_EQ(hmr::eval::nmi(std::vector<std::int32_t>{0, 0, 0, 0}, std::vector<std::int32_t>{0, 1, 2, 3}),
            ref["nmi_split"].get<double>());
  EXPECT_EQ(hmr::eval::nmi(std::vector<std::int32_t>{1, 1}, std::vector<std::int32_t>{2, 2}), 1.0);
  EXPECT_EQ(hmr::eval::adjusted_rand(a, a), 1.0);
}

TEST(Metrics, RealFeaturesMatchScikitLearn) {
  const std::string path = hmr::test::shared_data("features/banglabeats_features_30_sec.csv");
  if (path.empty()) GTEST_SKIP() << "../shared/data is absent: skipping the real-features check";
  if (!cluster_ref().contains("metrics_real")) GTEST_SKIP() << "fixtures made without the real data";
  const auto t = hmr::io::read_csv(path);
  std::vector<std::size_t> cols;
  std::size_t label_col = 0;
  for (std::size_t i = 0; i < t.header.size(); ++i) {
    if (t.header[i] == "label")
      label_col = i;
    else if (t.header[i] != "filename")
      cols.push_back(i);
  }
  hmr::Matrix x(static_cast<std::int64_t>(t.rows.size()), static_cast<std::int64_t>(cols.size()));
  std::vector<std::string> names;
  for (const auto& r : t.rows) names.push_back(r[label_col]);
  std::vector<std::string> genres = names;
  std::sort(genres.begin(), genres.end());
  genres.erase(std::unique(genres.begin(), genres.end()), genres.end());
  std::vector<std::int32_t> truth;
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    for (std::size_t c = 0; c < cols.size(); ++c)
      x(static_cast<std::int64_t>(i), static_cast<std::int64_t>(c)) =
          static_cast<float>(std::strtod(t.rows[i][cols[c]].c_str(), nullptr));
    truth.push_back(
        static_cast<std::int32_t>(std::lower_bound(genres.begin(), genres.end(), names[i]) - genres.begin()));
  }
  const auto pred = hmr::test::cluster_labels("real_pred.npy");
  auto cpu = hmr::make_cpu_backend();
  expect_all(*cpu, x, pred, &truth, cluster_ref()["metrics_real"]["raw"]);
}

// ---- silhouette kernels ----------------------------------------------------------------------

TEST(EmuSilhouette, TileSumsMatchCpuTwinAcrossOrders) {
  hmr::test::ExpectLaunches launched{"silhouette_dist_tile_kernel", "silhouette_cluster_sums_kernel"};
  using namespace hmr::cuda_emu;
  const auto x = hmr::test::cluster_matrix("random_x.npy");  // 400 x 16
  const auto pred = hmr::test::cluster_labels("random_pred.npy");
  const auto s = hmr::eval::detail::sort_by_cluster(x, pred);
  const std::int64_t n = s.x.rows(), row0 = 37;
  const int rows = 45;  // a tile that starts and ends inside 16 x 16 blocks
  std::vector<double> want(static_cast<std::size_t>(rows * s.k));
  hmr::eval::detail::silhouette_sums_cpu(s, row0, rows, want.data());
  const auto got = hmr::test::in_all_orders([&] {
    DeviceBuffer<float> dx = to_device(s.x.vec(), nullptr);
    DeviceBuffer<std::int64_t> off = to_device(s.offsets, nullptr);
    DeviceBuffer<double> tile(static_cast<std::size_t>(rows * n)), sums(static_cast<std::size_t>(rows * s.k));
    kern::launch_silhouette_dist_tile(dx.data(), n, static_cast<int>(s.x.cols()), row0, rows, tile.data(), nullptr);
    kern::launch_silhouette_cluster_sums(tile.data(), rows, n, off.data(), s.k, sums.data(), nullptr);
    return sums.to_host(nullptr);
  });
  EXPECT_ALLCLOSE(std::span<const double>(got), std::span<const double>(want), 1e-9, 1e-9);
}

// ---- the commands ------------------------------------------------------------------------------

using hmr::test::run_hmr;
bool have_hmr() { return std::filesystem::exists(hmr::test::hmr_exe()); }

TEST(E2eCluster, KMeansPcaMetricsCommands) {
  if (!have_hmr()) GTEST_SKIP() << "the hmr program is not built in " << ::hmr::test::binary_dir();
  const auto dir = std::filesystem::temp_directory_path() / ("hmr_cluster_e2e_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string x = hmr::test::fixture("cluster/blobs_x.npy"),
                    truth = hmr::test::fixture("cluster/blobs_truth.npy");
  const std::string labels = (dir / "labels.npy").string();
  auto r = run_hmr("--device cpu --seed 0 kmeans --input " + x + " --k 4 --out " + labels);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "labels_centers.npy"));
  std::ifstream jf(dir / "labels.json");
  const auto j = nlohmann::json::parse(jf);
  const double want = cluster_ref()["kmeans_blobs"]["inertia"].get<double>();
  EXPECT_NEAR(j["inertia"].get<double>(), want, 1e-3 * want);
  EXPECT_EQ(hmr::io::read_labels(labels).size(), 300u);

  r = run_hmr("--device cpu pca --input " + x + " --components 3 --out " + (dir / "z.npy").string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(hmr::io::read_matrix(dir / "z.npy").cols(), 3);

  r = run_hmr("--device cpu metrics --input " + x + " --pred " + labels + " --truth " + truth + " --out " +
              dir.string());
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream mf(dir / "metrics.json");
  const auto m = nlohmann::json::parse(mf);
  for (const char* key : {"task", "device", "seed", "n_samples", "k", "timings_s", "results"})
    EXPECT_TRUE(m.contains(key)) << key;
  EXPECT_DOUBLE_EQ(m["results"]["kmeans"]["ari"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m["results"]["kmeans"]["purity"].get<double>(), 1.0);

  // Bad input: exit code 2 with one line.
  r = run_hmr("--device cpu kmeans --input " + x + " --k 1 --out " + labels);
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_hmr("--device cpu kmeans --input " + x + " --k 301 --out " + labels);
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_hmr("--device cpu metrics --input " + x + " --pred " + hmr::test::fixture("cluster/random_pred.npy"));
  EXPECT_EQ(r.code, 2) << r.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
