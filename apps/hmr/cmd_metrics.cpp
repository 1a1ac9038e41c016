// hmr metrics — clustering scores of a labelling (scikit-learn definitions): silhouette,
// Calinski-Harabasz, Davies-Bouldin on the data, and ARI, NMI, purity, AMI, homogeneity,
// completeness, V-measure, Fowlkes-Mallows and clustering accuracy against --truth. Predicted
// label -1 is noise: counted as one more cluster (scikit-learn) or, with --noise exclude, left
// out of every score; either way the noise count is printed and written. Prints a
// table and writes metrics.json in the layout of DESIGN.md ({"task", "device", "seed",
// "n_samples", "k", "timings_s", "results": {method: {...}}}). Thin: parse, call eval::, print.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "checks.h"
#include "cli.h"
#include "core/error.h"
#include "core/timer.h"
#include "eval/metrics.h"
#include "io/array.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "io/output.h"

namespace {

struct MetricsArgs {
  std::string input, pred, truth, method = "kmeans", task = "metrics", noise = "cluster";
  std::int64_t sample_size = 0;
  bool contingency = false;
};

void setup(CLI::App& sub, hmr::app::Common& common) {
  auto a = std::make_shared<MetricsArgs>();
  sub.add_option("--input,-i", a->input, "data [N x d] the labels cluster: X.npy | X.npz:name | numeric X.csv")
      ->required();
  sub.add_option("--pred,-p", a->pred, "predicted labels: N integer codes (.npy | .npz:name | .csv)")->required();
  sub.add_option("--truth,-t", a->truth,
                 "reference labels (integer codes, same forms): adds ari, nmi, purity, ami, homogeneity, "
                 "completeness, v_measure, fowlkes_mallows, accuracy (Hungarian matching of clusters to labels)");
  sub.add_option("--noise", a->noise,
                 "predicted label -1 (noise): 'cluster' counts it as one more cluster, as scikit-learn does; "
                 "'exclude' scores only the non-noise points (every metric)")
      ->check(CLI::IsMember({"cluster", "exclude"}))
      ->capture_default_str();
  sub.add_option("--method", a->method, "name of the method under \"results\"")->capture_default_str();
  sub.add_option("--task", a->task, "value of \"task\"")->capture_default_str();
  sub.add_option("--sample-size", a->sample_size, "silhouette on a random subset of this size (0: all; --seed)")
      ->check(hmr::app::int_range(0, std::numeric_limits<std::int64_t>::max()))
      ->capture_default_str();
  sub.add_flag("--contingency", a->contingency, "also print the contingency table (needs --truth)");
  sub.footer(
      "Output: prints the scores and the number of noise points (label -1); --out FILE.json or DIR "
      "(-> DIR/metrics.json) writes them, with \"n_noise\" and \"noise\": \"cluster\" | \"exclude\".\n"
      "Definitions: scikit-learn's (ami: average_method='arithmetic'; v_measure: beta = 1); accuracy is "
      "scipy.optimize.linear_sum_assignment(contingency, maximize=True) matched points / n.");
  sub.callback([a, &common] {
    HMR_REQUIRE(!a->contingency || !a->truth.empty(),
                "metrics: --contingency needs --truth LABELS.npy (the table counts truth against predicted labels)");
    // --out FILE.json, or DIR (an existing folder, or a name without .json: created) -> DIR/metrics.json.
    // A folder that does not exist yet is made only once the scores are computed, so a failed run
    // leaves none; everything else is checked (and locked) now, before any input is read.
    std::filesystem::path out_path(common.out);
    const std::vector<std::filesystem::path> inputs{hmr::io::array_file(a->input), hmr::io::array_file(a->pred),
                                                    hmr::io::array_file(a->truth)};
    std::unique_ptr<hmr::io::OutputFiles> outs;
    bool make_dir = false;
    if (!common.out.empty()) {
      if (std::filesystem::is_directory(out_path) || out_path.extension() != ".json") {
        hmr::io::check_output_path(out_path, "--out", hmr::io::OutputKind::directory, {});
        make_dir = !std::filesystem::exists(out_path);
        out_path /= "metrics.json";
      }
      if (!make_dir)
        outs = std::make_unique<hmr::io::OutputFiles>(std::vector<hmr::io::OutputFiles::Target>{{out_path, "--out"}},
                                                      inputs);
    }
    if (!outs) hmr::io::settle_inputs(inputs);  // OutputFiles settles them otherwise
    const hmr::Matrix x = hmr::io::read_array(a->input, "--input");
    const auto pred = hmr::io::read_label_array(a->pred, "--pred");
    HMR_REQUIRE(static_cast<std::int64_t>(pred.size()) == x.rows(), "metrics: {} has {} labels for the {} rows of {}",
                a->pred, pred.size(), x.rows(), a->input);
    std::vector<std::int32_t> truth;
    if (!a->truth.empty()) {
      truth = hmr::io::read_label_array(a->truth, "--truth");
      HMR_REQUIRE(truth.size() == pred.size(), "metrics: {} has {} labels but {} has {}", a->truth, truth.size(),
                  a->pred, pred.size());
    }
    // Noise: counted before anything is dropped; under --noise exclude the rows labelled -1 leave
    // the data and both labellings, so every score below sees the non-noise points only.
    const auto policy = hmr::eval::parse_noise_policy(a->noise);
    const std::int64_t n_noise = hmr::eval::count_noise(pred);
    const std::int64_t n_input = x.rows();
    hmr::Matrix kept;
    std::vector<std::int32_t> pred_kept, truth_kept;
    if (policy == hmr::eval::NoisePolicy::exclude && n_noise > 0) {
      HMR_REQUIRE(n_noise < x.rows(), "metrics: every one of the {} labels in {} is noise (-1): nothing to score",
                  x.rows(), a->pred);
      kept = hmr::Matrix(x.rows() - n_noise, x.cols());
      for (std::int64_t i = 0; i < x.rows(); ++i) {
        if (pred[static_cast<std::size_t>(i)] == hmr::eval::kNoiseLabel) continue;
        std::copy_n(x.row(i), x.cols(), kept.row(static_cast<std::int64_t>(pred_kept.size())));
        pred_kept.push_back(pred[static_cast<std::size_t>(i)]);
        if (!truth.empty()) truth_kept.push_back(truth[static_cast<std::size_t>(i)]);
      }
    }
    const bool dropped = !pred_kept.empty();
    const hmr::ConstMatrixView xs = dropped ? hmr::ConstMatrixView(kept) : hmr::ConstMatrixView(x);
    const std::span<const std::int32_t> ps = dropped ? pred_kept : pred, ts = dropped ? truth_kept : truth;
    auto backend = common.backend();
    hmr::eval::ScoreOptions so;  // what score_all would use; metrics are called one by one below
    so.silhouette.sample_size = a->sample_size;
    so.silhouette.seed = common.seed;
    // Each metric is timed on its own (silhouette dominates: O(N^2 d)).
    hmr::eval::ClusterScores scores;
    scores.n_noise = n_noise;
    scores.noise = policy;
    nlohmann::ordered_json timings;
    hmr::Stopwatch sw, total;
    scores.silhouette = hmr::eval::silhouette(*backend, xs, ps, so.silhouette);
    timings["silhouette"] = sw.seconds();
    sw.reset();
    scores.calinski_harabasz = hmr::eval::calinski_harabasz(xs, ps);
    timings["calinski_harabasz"] = sw.seconds();
    sw.reset();
    scores.davies_bouldin = hmr::eval::davies_bouldin(xs, ps);
    timings["davies_bouldin"] = sw.seconds();
    if (!ts.empty()) {
      sw.reset();
      hmr::eval::score_labels(ts, ps, scores);
      timings["label_metrics"] = sw.seconds();
    }
    const double secs = total.seconds();
    timings["metrics"] = secs;
    std::vector<std::int32_t> distinct(ps.begin(), ps.end());
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());

    std::printf("%lld samples, %zu clusters, on %s (%.3f s)\n", static_cast<long long>(xs.rows), distinct.size(),
                backend->name().c_str(), secs);
    if (policy == hmr::eval::NoisePolicy::exclude)
      std::printf("noise: %lld of %lld points labelled -1, excluded from every score (--noise exclude)\n",
                  static_cast<long long>(n_noise), static_cast<long long>(n_input));
    else
      std::printf(
          "noise: %lld of %lld points labelled -1%s\n", static_cast<long long>(n_noise),
          static_cast<long long>(n_input),
          n_noise > 0 ? ", counted as one more cluster as scikit-learn does (--noise exclude: leave them out)" : "");
    std::printf("  silhouette         %.6f\n  calinski_harabasz  %.6f\n  davies_bouldin     %.6f\n", scores.silhouette,
                scores.calinski_harabasz, scores.davies_bouldin);
    if (scores.ari) {
      std::printf("  ari                %.6f\n  nmi                %.6f\n  purity             %.6f\n", *scores.ari,
                  *scores.nmi, *scores.purity);
      std::printf("  ami                %.6f\n  homogeneity        %.6f\n  completeness       %.6f\n", *scores.ami,
                  *scores.homogeneity, *scores.completeness);
      std::printf("  v_measure          %.6f\n  fowlkes_mallows    %.6f\n  accuracy           %.6f\n",
                  *scores.v_measure, *scores.fowlkes_mallows, *scores.accuracy);
    }
    if (a->contingency) {
      const auto c = hmr::eval::contingency(ts, ps);
      std::printf("contingency (rows: truth, columns: predicted)\n%8s", "");
      for (auto v : c.clusters) std::printf(" %7d", v);
      std::printf("\n");
      for (std::size_t i = 0; i < c.classes.size(); ++i) {
        std::printf("%8d", c.classes[i]);
        for (std::size_t j = 0; j < c.clusters.size(); ++j) std::printf(" %7lld", static_cast<long long>(c.at(i, j)));
        std::printf("\n");
      }
    }
    if (make_dir) {
      hmr::io::ensure_output_dir(out_path.parent_path());
      outs = std::make_unique<hmr::io::OutputFiles>(std::vector<hmr::io::OutputFiles::Target>{{out_path, "--out"}},
                                                    inputs);
    }
    if (outs) {
      nlohmann::ordered_json j;
      j["task"] = a->task;
      hmr::app::add_run_keys(j, *backend, common.seed, n_input);
      j["k"] = distinct.size();
      j["timings_s"] = timings;
      j["results"][a->method] = nlohmann::ordered_json::parse(hmr::eval::to_json(scores));
      hmr::io::write_atomically(outs->path(out_path), [&](std::ostream& os) { os << j.dump(2) << "\n"; });
      outs->commit();
      std::printf("wrote %s\n", out_path.c_str());
    }
  });
}

HMR_COMMAND("metrics",
            "clustering scores of a labelling (silhouette, CH, DB; with --truth ARI, NMI, purity, AMI, "
            "homogeneity, completeness, V-measure, Fowlkes-Mallows, accuracy)",
            setup);

}  // namespace
