// nn/history.h — a training run's per-epoch losses as JSON (history.json), the record `hmr train`
// writes next to its model and each experiment writes per VAE: the losses exactly as train_vae
// reported them (TrainReport::epochs: per-sample means of the total, reconstruction and KL terms,
// the warm-up beta, validation terms when a split was held out), so curves can be redrawn and runs
// compared without retraining.
//
//   {"backend", "n_train", "n_val", "best_epoch" (1-based), "stopped_early", "cuda_graph",
//    "seconds", "samples_per_second",
//    "epochs": [{"epoch" (1-based), "beta", "total", "recon", "kl",
//                "val_total", "val_recon", "val_kl" (null without validation), "seconds"}]}
#pragma once

#include <filesystem>
#include <string>

#include "nn/vae.h"

namespace hmr::nn {

std::string history_json(const TrainReport& report);                               // the text above, 2-space indented
void write_history(const std::filesystem::path& path, const TrainReport& report);  // atomically

// Where `hmr train` puts the history of MODEL.safetensors: MODEL.history.json (beside it).
std::filesystem::path history_path_for(const std::filesystem::path& model_path);

}  // namespace hmr::nn
