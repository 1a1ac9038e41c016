// hmr medium — paired tracks (audio + lyrics) from a manifest: audio VAE on MFCC summaries, text
// VAE on TF-IDF, fused latent of each track's own two mu's -> K-Means, against text-only and
// audio-only (host/pipeline/medium.cpp).
#include "cli.h"
#include "core/error.h"
#include "pipeline/experiments.h"

namespace {

void setup(CLI::App& sub, hmr::app::Common& common) {
  static std::string manifest;
  sub.add_option("--manifest", manifest, "CSV with id,audio,lyrics|lyrics_file,language[,genre]")->required();
  sub.footer(
      "Tracks with a missing or unreadable modality are listed in excluded.txt and left out.\n"
      "Defaults: data/configs/medium.toml; override any key with --set section.key=value.");
  sub.callback([&common, &sub] {
    const CLI::Option* seed_opt = sub.get_parent()->get_option("--seed");
    const auto config =
        hmr::pipeline::Config::resolve(hmr::pipeline::Task::medium, common.config, common.sets,
                                       seed_opt->count() ? std::optional<std::uint64_t>(common.seed) : std::nullopt);
    HMR_REQUIRE(!common.out.empty(), "medium: --out DIR is required");
    auto backend = common.backend();
    hmr::pipeline::print_summary(hmr::pipeline::run_medium(*backend, {manifest}, config, common.out));
  });
}

HMR_COMMAND("medium", "Medium experiment: fused lyrics + audio latents of paired tracks -> K-Means", setup);

}  // namespace
