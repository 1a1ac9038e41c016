// hmr easy — lyrics (Bangla + English) -> TF-IDF -> text VAE -> K-Means, against PCA + K-Means on
// its own space; metrics against language (and genre), t-SNE plots (host/pipeline/easy.cpp).
#include "cli.h"
#include "core/error.h"
#include "pipeline/experiments.h"

namespace {

void setup(CLI::App& sub, hmr::app::Common& common) {
  static std::vector<std::string> lyrics;
  sub.add_option("--lyrics", lyrics, "lyrics CSV with a 'lyrics' column, FILE.csv:LANG (or a language column); repeat")
      ->required();
  hmr::app::experiment_footer(
      sub, hmr::pipeline::Task::easy,
      "Writes metrics.json, report.md, t-SNE plots, latents, labels, the model and config.toml into --out.");
  sub.callback([&common, &sub] {
    const auto config = hmr::app::experiment_config(sub, common, hmr::pipeline::Task::easy);
    hmr::pipeline::EasyInputs in;
    for (const auto& l : lyrics) in.lyrics.push_back(hmr::pipeline::parse_lyrics_arg(l));
    auto backend = common.backend();
    hmr::pipeline::print_summary(hmr::pipeline::run_easy(*backend, in, config, common.out));
  });
}

HMR_COMMAND("easy", "Easy experiment: lyrics TF-IDF -> text VAE -> K-Means vs PCA + K-Means (language, genre)", setup);

}  // namespace
