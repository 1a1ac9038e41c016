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
  sub.footer(
      "Writes metrics.json, report.md, t-SNE plots, latents, labels, the model and config.toml into --out.\n"
      "Defaults: data/configs/easy.toml; override any key with --set section.key=value.");
  sub.callback([&common, &sub] {
    const CLI::Option* seed_opt = sub.get_parent()->get_option("--seed");
    const auto config =
        hmr::pipeline::Config::resolve(hmr::pipeline::Task::easy, common.config, common.sets,
                                       seed_opt->count() ? std::optional<std::uint64_t>(common.seed) : std::nullopt);
    HMR_REQUIRE(!common.out.empty(), "easy: --out DIR is required");
    hmr::pipeline::EasyInputs in;
    for (const auto& l : lyrics) in.lyrics.push_back(hmr::pipeline::parse_lyrics_arg(l));
    auto backend = common.backend();
    hmr::pipeline::print_summary(hmr::pipeline::run_easy(*backend, in, config, common.out));
  });
}

HMR_COMMAND("easy", "Easy experiment: lyrics TF-IDF -> text VAE -> K-Means vs PCA + K-Means (language, genre)", setup);

}  // namespace
