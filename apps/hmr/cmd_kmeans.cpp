// hmr kmeans — K-Means (scikit-learn semantics: greedy k-means++, n_init restarts, Lloyd) of an
// [N x d] .npy array: writes int32 labels (--out), the centres (<out stem>_centers.npy) and a JSON
// summary (<out stem>.json: inertia, iterations, per-init inertia, timings). With --centers-in,
// predicts labels for the input from existing centres instead of fitting. Thin: parse, call
// cluster::kmeans, print.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checks.h"
#include "cli.h"
#include "cluster/kmeans.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/timer.h"
#include "io/array.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "io/output.h"

namespace {

struct KMeansArgs {
  std::string input, centers_in, centers_out, json_out;
  hmr::cluster::KMeansOptions opt;
};

void setup(CLI::App& sub, hmr::app::Common& common) {
  auto a = std::make_shared<KMeansArgs>();
  sub.add_option("--input,-i", a->input, "data [N x d]: X.npy | X.npz:name | numeric X.csv (any numeric dtype)")
      ->required();
  sub.add_option("--k,--n-clusters", a->opt.k, "number of clusters (2 <= k <= N; sklearn n_clusters)")
      ->required()
      ->check(hmr::app::int_range(2));
  sub.add_option("--n-init", a->opt.n_init, "k-means++ restarts; the lowest inertia wins")
      ->check(hmr::app::int_range(1))
      ->capture_default_str();
  sub.add_option("--max-iter", a->opt.max_iter, "Lloyd iterations per run at most")
      ->check(hmr::app::int_range(1))
      ->capture_default_str();
  sub.add_option("--tol", a->opt.tol, "tolerance on the centre shift, relative to the mean feature variance")
      ->check(hmr::app::real_range(0, false))
      ->capture_default_str();
  sub.add_option("--centers", a->centers_out, "where to write the centres (default: <out stem>_centers.npy)");
  sub.add_option("--json", a->json_out, "where to write the summary (default: <out stem>.json)");
  sub.add_option("--centers-in", a->centers_in,
                 "predict with these centres [k x d] (.npy | .npz:name | .csv) instead of fitting");
  sub.footer(
      "Output: --out labels.npy (int32, required). --seed seeds numpy's RandomState stream as sklearn's "
      "random_state does.");
  sub.callback([a, &common] {
    HMR_REQUIRE(!common.out.empty(), "kmeans: --out labels.npy is required");
    const auto centers_path = a->centers_out.empty() ? hmr::app::sibling_path(common.out, "_centers.npy")
                                                     : std::filesystem::path(a->centers_out);
    const auto json_path =
        a->json_out.empty() ? hmr::app::sibling_path(common.out, ".json") : std::filesystem::path(a->json_out);
    // Every output is checked and locked before the input is read; the derived siblings are
    // targets even in predict mode, so a fit's centres never stay beside predicted labels.
    hmr::io::OutputFiles outs(
        {{common.out, "--out"},
         {centers_path, a->centers_out.empty() ? "--out (centres)" : "--centers", a->centers_out.empty()},
         {json_path, a->json_out.empty() ? "--out (summary)" : "--json", a->json_out.empty()}},
        {hmr::io::array_file(a->input), hmr::io::array_file(a->centers_in)});
    const hmr::Matrix x = hmr::io::read_array(a->input, "--input");
    auto backend = common.backend();
    hmr::Stopwatch sw;
    if (!a->centers_in.empty()) {
      const hmr::Matrix c = hmr::io::read_array(a->centers_in, "--centers-in");
      const auto labels = hmr::cluster::predict(*backend, c, x);
      hmr::io::write_npy(outs.path(common.out), labels);
      outs.commit();
      std::printf("predicted %lld labels from %lld centres on %s in %.3f s\nwrote %s\n",
                  static_cast<long long>(labels.size()), static_cast<long long>(c.rows()), backend->name().c_str(),
                  sw.seconds(), common.out.c_str());
      return;
    }
    a->opt.seed = common.seed;
    // Restarts are what takes long on large inputs (50k x 64, k 10, 10 restarts: ~5 s on 2 cores).
    auto sink = hmr::ProgressSink::standard();
    sink.start_at_once = false;  // kmeans checks the input first: a bad one stays one error line
    hmr::Progress bar("kmeans", a->opt.n_init, "restart", sink);
    a->opt.progress = [&bar](int done, int) { bar.update(done); };
    const auto res = hmr::cluster::kmeans(*backend, x, a->opt);
    bar.finish(fmt::format("inertia {:.6g}", res.inertia));
    const double secs = sw.seconds();
    hmr::io::write_npy(outs.path(common.out), res.labels);
    hmr::io::write_npy(outs.path(centers_path), res.centers);
    nlohmann::ordered_json j;
    j["input"] = a->input;
    hmr::app::add_run_keys(j, *backend, common.seed, x.rows());
    j["n_features"] = x.cols();
    j["k"] = a->opt.k;
    j["n_init"] = a->opt.n_init;
    j["max_iter"] = a->opt.max_iter;
    j["tol"] = a->opt.tol;
    j["inertia"] = res.inertia;
    j["n_iter"] = res.n_iter;
    j["best_init"] = res.best_init;
    j["init_inertia"] = res.init_inertia;
    j["timings_s"] = {{"kmeans", secs}};
    j["labels"] = common.out;
    j["centers"] = centers_path.string();
    hmr::io::write_atomically(outs.path(json_path), [&](std::ostream& os) { os << j.dump(2) << "\n"; });
    outs.commit();
    std::vector<std::int64_t> sizes(static_cast<std::size_t>(a->opt.k), 0);
    for (auto l : res.labels) ++sizes[static_cast<std::size_t>(l)];
    std::printf(
        "K-Means: %lld points x %lld, k = %d, n_init = %d on %s: inertia %.6g after %d iterations (run %d), "
        "%.3f s\ncluster sizes:",
        static_cast<long long>(x.rows()), static_cast<long long>(x.cols()), a->opt.k, a->opt.n_init,
        backend->name().c_str(), res.inertia, res.n_iter, res.best_init, secs);
    for (auto s : sizes) std::printf(" %lld", static_cast<long long>(s));
    std::printf("\nwrote %s, %s, %s\n", common.out.c_str(), centers_path.c_str(), json_path.c_str());
  });
}

HMR_COMMAND("kmeans", "K-Means clustering of an array (.npy/.npz/.csv) (sklearn semantics; cpu or cuda)", setup);

}  // namespace
