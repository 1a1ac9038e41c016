// hmr cluster — one front end for the clustering methods, with scikit-learn's parameter names:
//   hmr cluster --method kmeans --n-clusters K [--random-state S] --input X --out L.npy
//   hmr cluster --method dbscan --eps E|auto --min-samples M [--metric euclidean|manhattan|cosine] ...
// Writes int32 labels (--out; DBSCAN noise = -1), the method's fitted attributes beside them
// (<stem>_centers.npy for kmeans = cluster_centers_, <stem>_core_sample_indices.npy for dbscan =
// core_sample_indices_) and <stem>.json (n_clusters, n_noise, parameters, timings). Methods are a
// table (kMethods): adding one is one entry. `--eps auto` picks eps at the knee of the k-distance
// curve (cluster::dbscan_propose_eps) and prints it. Thin: parse, call the stage, write.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "checks.h"
#include "cli.h"
#include "cluster/dbscan.h"
#include "cluster/kmeans.h"
#include "core/error.h"
#include "core/timer.h"
#include "io/array.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "io/output.h"

namespace {

struct ClusterArgs {
  std::string method, input, eps = "0.5", metric = "euclidean";
  int n_clusters = 8, min_samples = 5, n_init = 10, max_iter = 300;
  std::optional<std::uint64_t> random_state;
};

struct Fit {
  std::vector<std::int32_t> labels;
  // Extra arrays written beside the labels: (suffix, writer).
  std::vector<std::pair<std::string, std::function<void(const std::filesystem::path&)>>> attributes;
  nlohmann::ordered_json parameters, summary;
};

struct Method {
  const char* name;
  std::vector<std::string> attribute_suffixes;
  Fit (*fit)(hmr::Backend&, const hmr::Matrix&, const ClusterArgs&, std::uint64_t seed);
};

Fit fit_kmeans(hmr::Backend& b, const hmr::Matrix& x, const ClusterArgs& a, std::uint64_t seed) {
  hmr::cluster::KMeansOptions o;
  o.k = a.n_clusters;
  o.n_init = a.n_init;
  o.max_iter = a.max_iter;
  o.seed = seed;
  auto r = std::make_shared<hmr::cluster::KMeansResult>(hmr::cluster::kmeans(b, x, o));
  Fit f;
  f.labels = r->labels;
  f.attributes.push_back({"_centers.npy", [r](const std::filesystem::path& p) { hmr::io::write_npy(p, r->centers); }});
  f.parameters = {{"n_clusters", o.k}, {"n_init", o.n_init}, {"max_iter", o.max_iter}, {"random_state", seed}};
  f.summary = {{"inertia", r->inertia}, {"n_iter", r->n_iter}};
  return f;
}

Fit fit_dbscan(hmr::Backend& b, const hmr::Matrix& x, const ClusterArgs& a, std::uint64_t) {
  hmr::cluster::DbscanOptions o;
  o.min_samples = a.min_samples;
  o.metric = hmr::cluster::dbscan_metric(a.metric);
  Fit f;
  if (a.eps == "auto") {
    const auto p = hmr::cluster::dbscan_propose_eps(x, a.min_samples, o.metric);
    o.eps = p.eps;
    std::printf("eps auto: %.9g (knee of the sorted %d-distances at rank %lld of %lld)\n", p.eps, a.min_samples - 1,
                static_cast<long long>(p.knee_rank), static_cast<long long>(x.rows()));
    f.summary["eps_auto"] = {{"k", a.min_samples - 1}, {"knee_rank", p.knee_rank}, {"eps", p.eps}};
  } else {
    std::size_t used = 0;
    try {
      o.eps = std::stod(a.eps, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    HMR_REQUIRE(used == a.eps.size() && used > 0, "cluster: --eps must be a number > 0 or 'auto' (got '{}')", a.eps);
  }
  auto r = std::make_shared<hmr::cluster::DbscanResult>(hmr::cluster::dbscan(b, x, o));
  f.labels = r->labels;
  f.attributes.push_back({"_core_sample_indices.npy",
                          [r](const std::filesystem::path& p) { hmr::io::write_npy(p, r->core_sample_indices); }});
  f.parameters = {
      {"eps", o.eps}, {"min_samples", o.min_samples}, {"metric", hmr::cluster::dbscan_metric_name(o.metric)}};
  f.summary["n_core_samples"] = r->core_sample_indices.size();
  return f;
}

const std::vector<Method>& methods() {
  static const std::vector<Method> m = {{"kmeans", {"_centers.npy"}, fit_kmeans},
                                        {"dbscan", {"_core_sample_indices.npy"}, fit_dbscan}};
  return m;
}

const Method& find_method(const std::string& name) {
  std::string known;
  for (const auto& m : methods()) {
    if (m.name == name) return m;
    known += (known.empty() ? "" : ", ") + std::string(m.name);
  }
  hmr::input_error("cluster: unknown --method '{}' (known: {})", name, known);
}

void setup(CLI::App& sub, hmr::app::Common& common) {
  auto a = std::make_shared<ClusterArgs>();
  sub.add_option("--method", a->method, "clustering method: kmeans | dbscan")->required();
  sub.add_option("--input,-i", a->input, "data [N x d]: X.npy | X.npz:name | numeric X.csv (any numeric dtype)")
      ->required();
  sub.add_option("--n-clusters", a->n_clusters, "kmeans: number of clusters")
      ->check(hmr::app::int_range(2))
      ->capture_default_str();
  sub.add_option("--n-init", a->n_init, "kmeans: k-means++ restarts")
      ->check(hmr::app::int_range(1))
      ->capture_default_str();
  sub.add_option("--max-iter", a->max_iter, "kmeans: Lloyd iterations per run at most")
      ->check(hmr::app::int_range(1))
      ->capture_default_str();
  sub.add_option("--random-state", a->random_state, "kmeans: seed of numpy's RandomState stream (default: --seed)");
  sub.add_option("--eps", a->eps, "dbscan: neighbourhood radius (> 0), or 'auto' (knee of the k-distance curve)")
      ->capture_default_str();
  sub.add_option("--min-samples", a->min_samples, "dbscan: neighbours (the point itself included) of a core point")
      ->check(hmr::app::int_range(1))
      ->capture_default_str();
  sub.add_option("--metric", a->metric, "dbscan: euclidean | manhattan | cosine")->capture_default_str();
  sub.footer(
      "Output: --out labels.npy (int32, -1 = noise), <stem>_centers.npy (kmeans) or "
      "<stem>_core_sample_indices.npy (dbscan), <stem>.json.");
  sub.callback([a, &common] {
    const Method& method = find_method(a->method);  // an unknown method is one line, before any file is touched
    HMR_REQUIRE(!common.out.empty(), "cluster: --out labels.npy is required");
    const auto json_path = hmr::app::sibling_path(common.out, ".json");
    std::vector<hmr::io::OutputFiles::Target> targets{{common.out, "--out"}, {json_path, "--out (summary)", true}};
    // Every method's attribute files are targets: a previous run's with another method is removed
    // at commit, so the files beside L.npy always belong to it.
    for (const auto& m : methods())
      for (const auto& s : m.attribute_suffixes)
        targets.push_back({hmr::app::sibling_path(common.out, s), "--out (fitted attribute)", true});
    hmr::io::OutputFiles outs(targets, {hmr::io::array_file(a->input)});
    const hmr::Matrix x = hmr::io::read_array(a->input, "--input");
    auto backend = common.backend();
    const std::uint64_t seed = a->random_state.value_or(common.seed);
    hmr::Stopwatch sw;
    Fit f = method.fit(*backend, x, *a, seed);
    const double secs = sw.seconds();
    int n_clusters = 0;
    std::int64_t n_noise = 0;
    for (auto l : f.labels) {
      n_clusters = std::max(n_clusters, l + 1);
      n_noise += l < 0;
    }
    hmr::io::write_npy(outs.path(common.out), f.labels);
    std::string wrote = common.out;
    for (const auto& [suffix, write] : f.attributes) {
      const auto p = hmr::app::sibling_path(common.out, suffix);
      write(outs.path(p));
      wrote += ", " + p.string();
    }
    nlohmann::ordered_json j;
    j["method"] = method.name;
    j["input"] = a->input;
    hmr::app::add_run_keys(j, *backend, seed, x.rows());
    j["n_features"] = x.cols();
    j["parameters"] = f.parameters;
    j["n_clusters"] = n_clusters;
    j["n_noise"] = n_noise;
    for (const auto& [k, v] : f.summary.items()) j[k] = v;
    j["timings_s"] = {{method.name, secs}};
    j["labels"] = common.out;
    hmr::io::write_atomically(outs.path(json_path), [&](std::ostream& os) { os << j.dump(2) << "\n"; });
    outs.commit();
    std::printf("%s: %lld points x %lld on %s: %d clusters, %lld noise, %.3f s\nwrote %s, %s\n", method.name,
                static_cast<long long>(x.rows()), static_cast<long long>(x.cols()), backend->name().c_str(), n_clusters,
                static_cast<long long>(n_noise), secs, wrote.c_str(), json_path.c_str());
  });
}

HMR_COMMAND("cluster", "clustering of an array with scikit-learn's parameters: --method kmeans | dbscan", setup);

}  // namespace
