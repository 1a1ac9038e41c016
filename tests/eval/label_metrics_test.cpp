// Label-based metrics beside ARI / NMI / purity (AMI, homogeneity / completeness / V-measure,
// Fowlkes-Mallows, clustering accuracy) against scikit-learn / scipy values made by
// tests/fixtures/gen_metrics.py: random rectangular tables, ties, a single cluster or class,
// singletons, noise (-1) counted as a cluster and excluded, n = 20000 and n = 100000 for AMI's
// expected mutual information. Tolerance |a - b| <= 1e-9 (atol; rtol 0), worst case printed.
// Also the assignment solver against brute force, and bad input.
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "core/error.h"
#include "eval/assignment.h"
#include "eval/metrics.h"
#include "io/npy.h"
#include "support/compare.h"
#include "support/run.h"

namespace {

constexpr double kAtol = 1e-9;

const nlohmann::json& ref() {
  static const nlohmann::json j = [] {
    std::ifstream f(hmr::test::fixture("metrics/reference.json"));
    return nlohmann::json::parse(f);
  }();
  return j;
}
std::vector<std::int32_t> labels(const std::string& name) {
  return hmr::io::read_labels(hmr::test::fixture("metrics/" + name));
}

// Worst |got - want| over every (case, metric) compared, reported once at the end of a test.
struct Worst {
  double err = 0.0;
  std::string where;
  void check(double got, double want, const std::string& what) {
    const double e = std::fabs(got - want);
    EXPECT_LE(e, kAtol) << what << ": " << got << " vs sklearn " << want;
    if (e >= err) {
      err = e;
      where = what;
    }
  }
  ~Worst() { std::printf("worst |hmr - sklearn| = %.3g (%s), atol %.0g\n", err, where.c_str(), kAtol); }
};

void check_scores(const std::vector<std::int32_t>& t, const std::vector<std::int32_t>& p, const nlohmann::json& want,
                  const std::string& name, Worst& w) {
  hmr::eval::ClusterScores s;
  hmr::eval::score_labels(t, p, s);
  w.check(*s.ami, want["ami"], name + " ami");
  w.check(*s.homogeneity, want["homogeneity"], name + " homogeneity");
  w.check(*s.completeness, want["completeness"], name + " completeness");
  w.check(*s.v_measure, want["v_measure"], name + " v_measure");
  w.check(*s.fowlkes_mallows, want["fowlkes_mallows"], name + " fowlkes_mallows");
  w.check(*s.accuracy, want["accuracy"], name + " accuracy");
  w.check(*s.ari, want["ari"], name + " ari");
  w.check(*s.nmi, want["nmi"], name + " nmi");
  // The one-call forms agree with score_labels.
  EXPECT_EQ(hmr::eval::adjusted_mutual_info(t, p), *s.ami);
  EXPECT_EQ(hmr::eval::clustering_accuracy(t, p), *s.accuracy);
}

TEST(LabelMetrics, MatchScikitLearnOnEveryCase) {
  Worst w;
  int cases = 0;
  for (const auto& [name, c] : ref()["cases"].items()) {
    if (c.contains("seed")) std::printf("case %s: generator seed %lld\n", name.c_str(), c["seed"].get<long long>());
    const auto t = labels(name + "_truth.npy"), p = labels(name + "_pred.npy");
    ASSERT_EQ(static_cast<std::int64_t>(t.size()), c["n"].get<std::int64_t>()) << name;
    EXPECT_EQ(hmr::eval::count_noise(p), c["n_noise"].get<std::int64_t>()) << name;
    check_scores(t, p, c["cluster"], name, w);  // -1 as one more cluster: sklearn's own numbers
    ++cases;
  }
  EXPECT_GE(cases, 14);
}

TEST(LabelMetrics, AmiIsStableAndFastAtN1e5) {
  const auto& c = ref()["formula_1e5"];
  const std::int64_t n = c["n"];
  std::vector<std::int32_t> t(static_cast<std::size_t>(n)), p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {  // the generator's formula
    t[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * i + 3 * i) % 10);
    p[static_cast<std::size_t>(i)] =
        static_cast<std::int32_t>(i % 3 == 0 ? t[static_cast<std::size_t>(i)] % 6 : (i / 7) % 12);
  }
  const auto t0 = std::chrono::steady_clock::now();
  Worst w;
  check_scores(t, p, c["cluster"], "formula_1e5", w);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("all label metrics twice at n = %lld: %.3f s\n", static_cast<long long>(n), secs);
}

TEST(LabelMetrics, NoiseExcludedMatchesScikitLearnOnTheNonNoisePoints) {
  const auto& c = ref()["cases"]["noise"];
  const auto t = labels("noise_truth.npy"), p = labels("noise_pred.npy");
  const auto seed = hmr::test::test_seed(2020);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  hmr::Matrix x(static_cast<std::int64_t>(p.size()), 3);
  for (std::int64_t i = 0; i < x.rows(); ++i)
    for (int d = 0; d < 3; ++d) x(i, d) = g(rng) + static_cast<float>(p[static_cast<std::size_t>(i)] == d);
  const auto backend = hmr::make_cpu_backend();
  hmr::Backend& cpu = *backend;
  hmr::eval::ScoreOptions so;
  so.noise = hmr::eval::NoisePolicy::exclude;
  const auto ex = hmr::eval::score_all(cpu, x, p, hmr::eval::Labels(t), so);
  EXPECT_EQ(ex.n_noise, c["n_noise"].get<std::int64_t>());
  EXPECT_EQ(ex.noise, hmr::eval::NoisePolicy::exclude);
  Worst w;
  const auto& want = c["exclude"];
  for (const char* key :
       {"ami", "homogeneity", "completeness", "v_measure", "fowlkes_mallows", "accuracy", "ari", "nmi"}) {
    const auto j = nlohmann::json::parse(hmr::eval::to_json(ex));
    w.check(j[key].get<double>(), want[key].get<double>(), std::string("exclude ") + key);
  }
  // Default: -1 is a cluster, the counts are reported either way.
  const auto cl = hmr::eval::score_all(cpu, x, p, hmr::eval::Labels(t));
  EXPECT_EQ(cl.n_noise, ex.n_noise);
  EXPECT_EQ(cl.noise, hmr::eval::NoisePolicy::cluster);
  w.check(*cl.ami, c["cluster"]["ami"], "cluster ami via score_all");
  const auto j = nlohmann::json::parse(hmr::eval::to_json(cl));
  EXPECT_EQ(j["noise"], "cluster");
  EXPECT_EQ(j["n_noise"].get<std::int64_t>(), c["n_noise"].get<std::int64_t>());
  // Everything noise: nothing left to score under exclude.
  const std::vector<std::int32_t> all_noise(p.size(), -1);
  EXPECT_THROW(hmr::eval::score_all(cpu, x, all_noise, hmr::eval::Labels(t), so), hmr::Error);
}

TEST(LabelMetrics, AssignmentIsOptimalAgainstBruteForce) {
  const auto seed = hmr::test::test_seed(606);
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 300; ++trial) {
    const std::int64_t r = 1 + static_cast<std::int64_t>(rng() % 6), c = 1 + static_cast<std::int64_t>(rng() % 6);
    std::vector<std::int64_t> w(static_cast<std::size_t>(r * c));
    for (auto& v : w) v = static_cast<std::int64_t>(rng() % (trial % 2 ? 4 : 1000));  // odd trials: many ties
    const auto got = hmr::eval::max_weight_assignment(w, r, c);
    ASSERT_EQ(static_cast<std::int64_t>(got.size()), std::min(r, c));
    std::int64_t total = 0;
    std::vector<char> rows(static_cast<std::size_t>(r)), cols(static_cast<std::size_t>(c));
    for (const auto& [i, j] : got) {
      ASSERT_FALSE(rows[static_cast<std::size_t>(i)]++ || cols[static_cast<std::size_t>(j)]++) << "not one-to-one";
      total += w[static_cast<std::size_t>(i * c + j)];
    }
    // Brute force over injective maps of the smaller side into the larger.
    const bool tr = r > c;
    const std::int64_t small = tr ? c : r, big = tr ? r : c;
    std::vector<std::int64_t> perm(static_cast<std::size_t>(big));
    std::iota(perm.begin(), perm.end(), 0);
    std::int64_t best = 0;
    do {
      std::int64_t s = 0;
      for (std::int64_t a = 0; a < small; ++a) {
        const std::int64_t b = perm[static_cast<std::size_t>(a)];
        s += tr ? w[static_cast<std::size_t>(b * c + a)] : w[static_cast<std::size_t>(a * c + b)];
      }
      best = std::max(best, s);
    } while (std::next_permutation(perm.begin(), perm.end()));
    ASSERT_EQ(total, best) << "trial " << trial << " (" << r << " x " << c << ")";
  }
}

TEST(LabelMetrics, RejectsBadInputWithOneLine) {
  const std::vector<std::int32_t> empty, two{0, 1}, three{0, 1, 1};
  auto expect_input_error = [](auto&& f, const char* what) {
    try {
      f();
      ADD_FAILURE() << what << ": no error";
    } catch (const hmr::Error& e) {
      EXPECT_EQ(e.exit_code(), 2) << what;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << what << ": " << e.what();
    }
  };
  expect_input_error([&] { hmr::eval::adjusted_mutual_info(empty, empty); }, "ami empty");
  expect_input_error([&] { hmr::eval::homogeneity_completeness_v(empty, empty); }, "hcv empty");
  expect_input_error([&] { hmr::eval::fowlkes_mallows(empty, empty); }, "fmi empty");
  expect_input_error([&] { hmr::eval::clustering_accuracy(empty, empty); }, "accuracy empty");
  expect_input_error([&] { hmr::eval::adjusted_mutual_info(two, three); }, "ami lengths");
  expect_input_error([&] { hmr::eval::clustering_accuracy(two, three); }, "accuracy lengths");
  expect_input_error([&] { hmr::eval::parse_noise_policy("drop"); }, "noise policy");
  EXPECT_EQ(hmr::eval::parse_noise_policy("exclude"), hmr::eval::NoisePolicy::exclude);
}

// hmr metrics: the new metrics in the table and the JSON, the noise count, --noise exclude.
TEST(E2eLabelMetrics, MetricsCommandReportsNoiseAndNewScores) {
  if (!std::filesystem::exists(hmr::test::hmr_exe())) GTEST_SKIP() << "the hmr program is not built";
  const auto dir = std::filesystem::temp_directory_path() / ("hmr_label_metrics_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto& c = ref()["cases"]["noise"];
  const auto p = labels("noise_pred.npy");
  hmr::Matrix x(static_cast<std::int64_t>(p.size()), 2);
  for (std::int64_t i = 0; i < x.rows(); ++i) {
    x(i, 0) = static_cast<float>(p[static_cast<std::size_t>(i)]) + 0.01f * static_cast<float>(i % 7);
    x(i, 1) = static_cast<float>(i % 5);
  }
  hmr::io::write_npy(dir / "x.npy", x);
  const std::string args = "--device cpu metrics --input " + (dir / "x.npy").string() + " --pred " +
                           hmr::test::fixture("metrics/noise_pred.npy") + " --truth " +
                           hmr::test::fixture("metrics/noise_truth.npy");
  for (const std::string policy : {"cluster", "exclude"}) {
    const auto out = dir / (policy + ".json");
    const auto r = hmr::test::run_hmr(args + " --noise " + policy + " --out " + out.string());
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("noise: 113 of 600 points labelled -1"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("fowlkes_mallows"), std::string::npos) << r.output;
    std::ifstream f(out);
    const auto j = nlohmann::json::parse(f);
    const auto& m = j["results"]["kmeans"];
    EXPECT_EQ(m["n_noise"].get<std::int64_t>(), c["n_noise"].get<std::int64_t>());
    EXPECT_EQ(m["noise"], policy);
    Worst w;
    for (const char* key : {"ami", "homogeneity", "completeness", "v_measure", "fowlkes_mallows", "accuracy"})
      w.check(m[key].get<double>(), c[policy][key].get<double>(), policy + " " + key);
  }
  const auto r = hmr::test::run_hmr(args + " --noise drop");
  EXPECT_EQ(r.code, 2) << r.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
