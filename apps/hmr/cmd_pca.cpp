// hmr pca — PCA (scikit-learn semantics: centred, svd_flip signs, explained variance) of an
// [N x d] .npy array: writes the projection [N x k] (--out), the components [k x d] and the mean
// (<out stem>_components.npy, <out stem>_mean.npy) and a JSON summary (<out stem>.json).
// Thin: parse, call decomp::fit_pca / transform, print.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "checks.h"
#include "cli.h"
#include "core/error.h"
#include "core/timer.h"
#include "decomp/pca.h"
#include "io/array.h"
#include "io/atomic_file.h"
#include "io/npy.h"
#include "io/output.h"

namespace {

struct PcaArgs {
  std::string input, solver = "auto";
  int components = 0;
  hmr::decomp::PcaOptions opt;
};

void setup(CLI::App& sub, hmr::app::Common& common) {
  auto a = std::make_shared<PcaArgs>();
  sub.add_option("--input,-i", a->input, "data [N x d]: X.npy | X.npz:name | numeric X.csv (any numeric dtype)")
      ->required();
  sub.add_option("--components,-k,--n-components", a->components, "number of components (1 <= k <= min(N, d))")
      ->required()
      ->check(hmr::app::int_range(1));
  hmr::app::add_choice(sub, "--solver,--svd-solver", a->solver, "auto | full | randomized (auto: sklearn's rule)",
                       {"auto", "full", "exact", "randomized"});
  sub.add_option("--n-iter", a->opt.n_iter, "randomized: power iterations (-1: 7 if k < 0.1 min(N, d), else 4)")
      ->check(hmr::app::int_range(-1, 1000))
      ->capture_default_str();
  sub.add_option("--oversamples,--n-oversamples", a->opt.n_oversamples, "randomized: extra columns of the test matrix")
      ->check(hmr::app::int_range(0))
      ->capture_default_str();
  sub.footer(
      "Output: --out Z.npy (float32 [N x k], required) plus <stem>_components.npy, <stem>_mean.npy, "
      "<stem>.json.");
  sub.callback([a, &common] {
    HMR_REQUIRE(!common.out.empty(), "pca: --out Z.npy is required");
    const auto comp_path = hmr::app::sibling_path(common.out, "_components.npy"),
               mean_path = hmr::app::sibling_path(common.out, "_mean.npy"),
               json_path = hmr::app::sibling_path(common.out, ".json");
    hmr::io::OutputFiles outs({{common.out, "--out"},
                               {comp_path, "--out (components)", true},
                               {mean_path, "--out (mean)", true},
                               {json_path, "--out (summary)", true}},
                              {hmr::io::array_file(a->input)});
    const hmr::Matrix x = hmr::io::read_array(a->input, "--input");
    a->opt.solver = hmr::decomp::parse_pca_solver(a->solver);
    a->opt.seed = common.seed;
    auto backend = common.backend();
    hmr::Stopwatch sw;
    hmr::decomp::Pca p;
    const hmr::Matrix z = hmr::decomp::fit_transform(*backend, x, a->components, &p, a->opt);
    const double secs = sw.seconds();
    hmr::io::write_npy(outs.path(common.out), z);
    hmr::io::write_npy(outs.path(comp_path), p.components);
    hmr::io::write_npy(outs.path(mean_path), p.mean);
    nlohmann::ordered_json j;
    j["input"] = a->input;
    hmr::app::add_run_keys(j, *backend, common.seed, x.rows());
    j["n_features"] = x.cols();
    j["n_components"] = a->components;
    j["solver"] = hmr::decomp::to_string(p.solver_used);
    j["explained_variance"] = p.explained_variance;
    j["explained_variance_ratio"] = p.explained_variance_ratio;
    j["singular_values"] = p.singular_values;
    j["total_variance"] = p.total_variance;
    j["timings_s"] = {{"pca", secs}};
    hmr::io::write_atomically(outs.path(json_path), [&](std::ostream& os) { os << j.dump(2) << "\n"; });
    outs.commit();
    double kept = 0.0;
    for (double r : p.explained_variance_ratio) kept += r;
    std::printf("PCA: %lld x %lld -> %d components (%s solver) on %s in %.3f s; explained variance ratio %.4f\n",
                static_cast<long long>(x.rows()), static_cast<long long>(x.cols()), a->components,
                hmr::decomp::to_string(p.solver_used), backend->name().c_str(), secs, kept);
    std::printf("wrote %s, %s, %s, %s\n", common.out.c_str(), comp_path.c_str(), mean_path.c_str(), json_path.c_str());
  });
}

HMR_COMMAND("pca", "PCA of an .npy array (sklearn semantics; exact or randomized; cpu or cuda)", setup);

}  // namespace
