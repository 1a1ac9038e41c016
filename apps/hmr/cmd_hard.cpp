// hmr hard — genre clustering of audio features: a GTZAN-layout folder (labels = folder names) or
// a Kaggle-layout features CSV -> beta-VAE -> K-Means (k = genres), against raw-feature K-Means,
// PCA + K-Means and a plain VAE on the same rows (host/pipeline/hard.cpp).
#include "cli.h"
#include "core/error.h"
#include "pipeline/experiments.h"

namespace {

struct Args {
  std::string gtzan, features;
};

void setup(CLI::App& sub, hmr::app::Common& common) {
  static Args a;
  sub.add_option("--gtzan", a.gtzan, "GTZAN-layout folder: ROOT/<genre>/*.wav|au|flac|mp3 (label = folder)");
  sub.add_option("--features", a.features, "Kaggle-layout features CSV (filename,...,mfcc1_mean,...,label)");
  sub.footer(
      "Writes metrics.json, report.md, t-SNE plots, latents, labels, models and config.toml into --out.\n"
      "Defaults: data/configs/hard.toml; override any key with --set section.key=value.");
  sub.callback([&common, &sub] {
    const CLI::Option* seed_opt = sub.get_parent()->get_option("--seed");
    const auto config =
        hmr::pipeline::Config::resolve(hmr::pipeline::Task::hard, common.config, common.sets,
                                       seed_opt->count() ? std::optional<std::uint64_t>(common.seed) : std::nullopt);
    HMR_REQUIRE(!common.out.empty(), "hard: --out DIR is required");
    auto backend = common.backend();
    const auto r = hmr::pipeline::run_hard(*backend, {a.gtzan, a.features}, config, common.out);
    hmr::pipeline::print_summary(r);
  });
}

HMR_COMMAND("hard", "Hard experiment: beta-VAE genre clustering of a GTZAN folder or a Kaggle features CSV", setup);

}  // namespace
