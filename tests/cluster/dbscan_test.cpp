// DBSCAN against scikit-learn's sklearn.cluster.DBSCAN (tests/fixtures/gen_dbscan.py): identical
// labels (cluster numbering included), core_sample_indices_ and ARI 1.0 on synthetic sets (blobs
// with noise, rings, duplicates, a border point shared by two clusters, all noise, one cluster,
// manhattan, cosine) and on the real features; the k-distance eps proposal against the same rule
// computed with sklearn's NearestNeighbors; thread-count independence; bad input.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cluster/cluster_fixtures.h"
#include "cluster/dbscan.cuh"
#include "cluster/dbscan.h"
#include "cluster/dbscan_cuda.h"
#include "core/error.h"
#include "cuda/buffer.h"
#include "cuda/select.h"
#include "eval/metrics.h"
#include "io/csv.h"
#include "io/npy.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/emu.h"

namespace {

const nlohmann::json& dbscan_ref() {
  static const nlohmann::json j = [] {
    std::ifstream f(hmr::test::fixture("dbscan/reference.json"));
    return nlohmann::json::parse(f);
  }();
  return j;
}

hmr::cluster::DbscanOptions case_options(const nlohmann::json& c) {
  hmr::cluster::DbscanOptions o;
  o.eps = c["eps"].get<double>();
  o.min_samples = c["min_samples"].get<int>();
  o.metric = hmr::cluster::dbscan_metric(c["metric"].get<std::string>());
  return o;
}

// Exact label comparison; prints the number of mismatches and the first one.
void expect_same_labels(const std::vector<std::int32_t>& got, const std::vector<std::int32_t>& want,
                        const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  std::size_t bad = 0, first = got.size();
  for (std::size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i] && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " labels differ; first at row " << first << " (got "
                     << (first < got.size() ? got[first] : 0) << ", sklearn " << (first < got.size() ? want[first] : 0)
                     << ")";
  EXPECT_EQ(hmr::eval::adjusted_rand(want, got), 1.0) << what << " (ARI, noise as one more label)";
}

class ConfDbscan : public hmr::test::BackendTest {};

TEST_P(ConfDbscan, LabelsAndCoreSamplesEqualScikitLearnOnEveryCase) {
  hmr::test::ExpectLaunches launched{GetParam() == "cuda-emu", {"dbscan_counts_kernel", "dbscan_neighbours_kernel"}};
  for (const auto& [name, c] : dbscan_ref()["cases"].items()) {
    SCOPED_TRACE(name);
    const hmr::Matrix x = hmr::io::read_matrix(hmr::test::fixture("dbscan/" + name + "_x.npy"));
    const auto want = hmr::io::read_labels(hmr::test::fixture("dbscan/" + name + "_labels.npy"));
    const auto core = hmr::io::read_labels(hmr::test::fixture("dbscan/" + name + "_core.npy"));
    const auto r = hmr::cluster::dbscan(backend(), x, case_options(c));
    expect_same_labels(r.labels, want, name);
    std::vector<std::int64_t> want_core;
    for (auto v : core) want_core.push_back(v);
    EXPECT_EQ(r.core_sample_indices, want_core);
    EXPECT_EQ(r.n_clusters, c["n_clusters"].get<int>());
    EXPECT_EQ(r.n_noise, c["n_noise"].get<std::int64_t>());
  }
}
HMR_INSTANTIATE_BACKENDS(ConfDbscan);

TEST(Dbscan, SharedBorderPointGoesToTheClusterWithTheLowerCoreIndex) {
  // Fixture: row 0 is a non-core point within eps of a core of each cluster. In "shared_border" the
  // right cluster is listed first (rows 1-5), in "_swapped" the left one: sklearn's DFS gives the
  // border to whichever cluster it starts first.
  auto cpu_owner = hmr::make_cpu_backend();
  hmr::Backend& cpu = *cpu_owner;
  for (const std::string name : {"shared_border", "shared_border_swapped"}) {
    const auto c = dbscan_ref()["cases"][name];
    const hmr::Matrix x = hmr::io::read_matrix(hmr::test::fixture("dbscan/" + name + "_x.npy"));
    const auto r = hmr::cluster::dbscan(cpu, x, case_options(c));
    const auto want = hmr::io::read_labels(hmr::test::fixture("dbscan/" + name + "_labels.npy"));
    expect_same_labels(r.labels, want, name);
  }
}

TEST(Dbscan, ExpansionDoesNotDependOnTheOrderInsideNeighbourhoods) {
  const auto seed = hmr::test::test_seed(11);
  const auto c = dbscan_ref()["cases"]["blobs_noise"];
  const hmr::Matrix x = hmr::io::read_matrix(hmr::test::fixture("dbscan/blobs_noise_x.npy"));
  const auto o = case_options(c);
  const auto counts = hmr::cluster::dbscan_counts_cpu(x, o.eps, o.metric);
  std::vector<std::int64_t> off;
  std::vector<std::int32_t> idx;
  hmr::cluster::dbscan_neighbourhoods_cpu(x, o.eps, o.metric, counts, off, idx);
  std::vector<std::uint8_t> core(counts.size());
  for (std::size_t i = 0; i < counts.size(); ++i) core[i] = counts[i] >= o.min_samples;
  const auto base = hmr::cluster::dbscan_expand(core, off, idx);
  std::mt19937 rng(static_cast<std::uint32_t>(seed));
  for (std::size_t i = 0; i + 1 < off.size(); ++i)
    std::shuffle(idx.begin() + off[i], idx.begin() + off[i + 1], rng);  // as a kd-tree's unsorted order
  expect_same_labels(hmr::cluster::dbscan_expand(core, off, idx), base, "shuffled neighbourhoods");
}

TEST(Dbscan, SameLabelsAtAnyThreadCount) {
  auto cpu_owner = hmr::make_cpu_backend();
  hmr::Backend& cpu = *cpu_owner;
  const auto c = dbscan_ref()["cases"]["rings"];
  const hmr::Matrix x = hmr::io::read_matrix(hmr::test::fixture("dbscan/rings_x.npy"));
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = hmr::cluster::dbscan(cpu, x, case_options(c));
  omp_set_num_threads(3);
  const auto three = hmr::cluster::dbscan(cpu, x, case_options(c));
  omp_set_num_threads(saved);
  EXPECT_EQ(one.labels, three.labels);
  EXPECT_EQ(one.core_sample_indices, three.core_sample_indices);
}

TEST(Dbscan, EpsProposalIsTheKneeOfTheKDistanceCurve) {
  for (const std::string key : {"eps_auto", "eps_auto_manhattan"}) {
    const auto& e = dbscan_ref()[key];
    const hmr::Matrix x = hmr::io::read_matrix(hmr::test::fixture("dbscan/" + e["case"].get<std::string>() + "_x.npy"));
    const auto p = hmr::cluster::dbscan_propose_eps(x, e["min_samples"].get<int>(),
                                                    hmr::cluster::dbscan_metric(e["metric"].get<std::string>()));
    const double want = e["eps"].get<double>();
    // |a - b| <= 1e-9 |b|: both evaluate the same distance in double from the same float32 data.
    EXPECT_LE(std::fabs(p.eps - want), 1e-9 * std::fabs(want)) << key << ": got " << p.eps << ", sklearn " << want;
    EXPECT_EQ(p.knee_rank, e["knee_rank"].get<std::int64_t>()) << key;
    EXPECT_TRUE(std::is_sorted(p.sorted_kdist.begin(), p.sorted_kdist.end()));
  }
}

TEST(Dbscan, RejectsBadInput) {
  auto cpu_owner = hmr::make_cpu_backend();
  hmr::Backend& cpu = *cpu_owner;
  hmr::Matrix x(4, 2);
  hmr::cluster::DbscanOptions o;
  o.eps = 0.0;
  EXPECT_THROW(hmr::cluster::dbscan(cpu, x, o), hmr::Error);
  o.eps = std::nan("");
  EXPECT_THROW(hmr::cluster::dbscan(cpu, x, o), hmr::Error);
  o.eps = 0.5;
  o.min_samples = 0;
  EXPECT_THROW(hmr::cluster::dbscan(cpu, x, o), hmr::Error);
  o.min_samples = 2;
  x(2, 1) = std::nanf("");
  try {
    hmr::cluster::dbscan(cpu, x, o);
    ADD_FAILURE() << "NaN accepted";
  } catch (const hmr::Error& err) {
    EXPECT_EQ(err.kind(), hmr::ErrorKind::input);
    EXPECT_NE(std::string(err.what()).find("row 2, column 1"), std::string::npos) << err.what();
  }
  EXPECT_THROW(hmr::cluster::dbscan(cpu, hmr::Matrix(0, 2), o), hmr::Error);
  EXPECT_THROW(hmr::cluster::dbscan_metric("chebyshev"), hmr::Error);
  EXPECT_THROW(hmr::cluster::dbscan_propose_eps(hmr::Matrix(3, 2), 5, hmr::cluster::DbscanMetric::euclidean),
               hmr::Error);
}

TEST(Dbscan, RealFeaturesEqualScikitLearn) {
  const std::string path = hmr::test::shared_data("features/banglabeats_features_30_sec.csv");
  if (path.empty()) GTEST_SKIP() << "../shared/data is absent: skipping the real-features check";
  if (!dbscan_ref().contains("real")) GTEST_SKIP() << "fixtures made without the real data";
  const auto& ref = dbscan_ref()["real"];
  const auto t = hmr::io::read_csv(path);
  std::vector<std::size_t> cols;
  for (std::size_t i = 0; i < t.header.size(); ++i)
    if (t.header[i] != "label" && t.header[i] != "filename") cols.push_back(i);
  const auto n = static_cast<std::int64_t>(t.rows.size()), d = static_cast<std::int64_t>(cols.size());
  // As the generator: float32 values, standardised in double (population std, 0 -> 1), cast back.
  std::vector<double> v(static_cast<std::size_t>(n * d));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < d; ++c)
      v[static_cast<std::size_t>(i * d + c)] = static_cast<float>(
          std::strtod(t.rows[static_cast<std::size_t>(i)][cols[static_cast<std::size_t>(c)]].c_str(), nullptr));
  hmr::Matrix z(n, d);
  for (std::int64_t c = 0; c < d; ++c) {
    double mean = 0.0, var = 0.0;
    for (std::int64_t i = 0; i < n; ++i) mean += v[static_cast<std::size_t>(i * d + c)];
    mean /= static_cast<double>(n);
    for (std::int64_t i = 0; i < n; ++i) var += std::pow(v[static_cast<std::size_t>(i * d + c)] - mean, 2);
    double sd = std::sqrt(var / static_cast<double>(n));
    if (sd == 0.0) sd = 1.0;
    for (std::int64_t i = 0; i < n; ++i)
      z(i, c) = static_cast<float>((v[static_cast<std::size_t>(i * d + c)] - mean) / sd);
  }
  auto cpu_owner = hmr::make_cpu_backend();
  hmr::Backend& cpu = *cpu_owner;
  hmr::cluster::DbscanOptions o;
  o.eps = ref["eps"].get<double>();
  o.min_samples = ref["min_samples"].get<int>();
  const auto r = hmr::cluster::dbscan(cpu, z, o);
  const auto want = hmr::io::read_labels(hmr::test::fixture("dbscan/real_labels.npy"));
  expect_same_labels(r.labels, want, "real features");
  EXPECT_EQ(r.n_clusters, ref["n_clusters"].get<int>());
}

// Each kernel against its cpu twin, every metric, in every thread order of the emulator; the
// columns span several shared-memory tiles (d = 700 -> 11 rows per tile) in the wide case.
TEST(EmuDbscan, CountsAndNeighbourhoodsMatchCpuTwinAcrossOrders) {
  hmr::test::ExpectLaunches launched{"dbscan_counts_kernel", "dbscan_neighbours_kernel"};
  using namespace hmr::cuda_emu;
  struct Case {
    std::string name;
    hmr::cluster::DbscanMetric metric;
  };
  for (const auto& [name, metric] :
       {Case{"blobs_noise", hmr::cluster::DbscanMetric::euclidean},
        Case{"manhattan", hmr::cluster::DbscanMetric::manhattan}, Case{"cosine", hmr::cluster::DbscanMetric::cosine}}) {
    SCOPED_TRACE(name);
    const auto& c = dbscan_ref()["cases"][name];
    const double eps = c["eps"].get<double>();
    hmr::Matrix full = hmr::io::read_matrix(hmr::test::fixture("dbscan/" + name + "_x.npy"));
    const std::int64_t n = std::min<std::int64_t>(full.rows(), 150), d = full.cols();
    hmr::Matrix x(n, d);
    std::copy_n(full.data(), n * d, x.data());
    const auto want_counts = hmr::cluster::dbscan_counts_cpu(x, eps, metric);
    std::vector<std::int64_t> want_off;
    std::vector<std::int32_t> want_idx;
    hmr::cluster::dbscan_neighbourhoods_cpu(x, eps, metric, want_counts, want_off, want_idx);
    std::vector<double> norms(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      double s = 0.0;
      for (std::int64_t k = 0; k < d; ++k) s += static_cast<double>(x(i, k)) * x(i, k);
      norms[static_cast<std::size_t>(i)] = std::sqrt(s);
    }
    const auto got = hmr::test::in_all_orders([&] {
      DeviceBuffer<float> dx = to_device(x.vec(), nullptr);
      DeviceBuffer<double> dn = to_device(norms, nullptr);
      DeviceBuffer<std::int32_t> cnt(static_cast<std::size_t>(n));
      const double* np = metric == hmr::cluster::DbscanMetric::cosine ? dn.data() : nullptr;
      kern::launch_dbscan_counts(dx.data(), n, static_cast<int>(d), np, static_cast<int>(metric), eps, cnt.data(),
                                 nullptr);
      DeviceBuffer<std::int64_t> doff = to_device(want_off, nullptr);
      DeviceBuffer<std::int32_t> didx(want_idx.size());
      kern::launch_dbscan_neighbours(dx.data(), n, static_cast<int>(d), np, static_cast<int>(metric), eps, doff.data(),
                                     didx.data(), nullptr);
      auto out = cnt.to_host(nullptr);  // counts then the CSR indices, one vector for in_all_orders
      const auto idx = didx.to_host(nullptr);
      out.insert(out.end(), idx.begin(), idx.end());
      return out;
    });
    auto want = want_counts;
    want.insert(want.end(), want_idx.begin(), want_idx.end());
    EXPECT_EQ(got, want);
  }
}

TEST(EmuDbscan, WideRowsSpanSeveralTilesAndTheSeamMatchesCpu) {
  hmr::test::ExpectLaunches launched{"dbscan_counts_kernel", "dbscan_neighbours_kernel"};
  const auto seed = hmr::test::test_seed(21);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const std::int64_t n = 40, d = 700;  // 8192 / 700 = 11 rows per tile: 4 tiles
  hmr::Matrix x(n, d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = 0; k < d; ++k) x(i, k) = static_cast<float>(i % 3) * 3.0f + 0.02f * g(rng);
  auto emu = hmr::make_backend("cuda-emu");
  hmr::cluster::DbscanOptions o;
  o.eps = 2.0;
  o.min_samples = 3;
  auto cpu = hmr::make_cpu_backend();
  const auto want = hmr::cluster::dbscan(*cpu, x, o);
  const auto got = hmr::cluster::dbscan(*emu, x, o);
  EXPECT_EQ(want.n_clusters, 3);
  EXPECT_EQ(got.labels, want.labels);
  EXPECT_EQ(got.core_sample_indices, want.core_sample_indices);
}

}  // namespace
