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
  hmr::app::experiment_footer(
      sub, hmr::pipeline::Task::hard,
      "Writes metrics.json, report.md, t-SNE plots, latents, labels, models and config.toml into --out.");
  sub.callback([&common, &sub] {
    const auto config = hmr::app::experiment_config(sub, common, hmr::pipeline::Task::hard);
    auto backend = common.backend();
    const auto r = hmr::pipeline::run_hard(*backend, {a.gtzan, a.features}, config, common.out);
    hmr::pipeline::print_summary(r);
  });
}

HMR_COMMAND("hard", "Hard experiment: beta-VAE genre clustering of a GTZAN folder or a Kaggle features CSV", setup);

}  // namespace
