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
  hmr::app::experiment_footer(sub, hmr::pipeline::Task::medium,
                              "Tracks with a missing or unreadable modality are listed in excluded.txt and left out.");
  sub.callback([&common, &sub] {
    const auto config = hmr::app::experiment_config(sub, common, hmr::pipeline::Task::medium);
    auto backend = common.backend();
    hmr::pipeline::print_summary(hmr::pipeline::run_medium(*backend, {manifest}, config, common.out));
  });
}

HMR_COMMAND("medium", "Medium experiment: fused lyrics + audio latents of paired tracks -> K-Means", setup);

}  // namespace
