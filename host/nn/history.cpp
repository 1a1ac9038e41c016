// nn/history.cpp — TrainReport -> history.json (schema in history.h). Doubles are written by
// nlohmann::json with round-trip precision, so a reader gets back the engine's values exactly.
#include "nn/history.h"

#include <nlohmann/json.hpp>

#include "io/atomic_file.h"

namespace hmr::nn {

std::string history_json(const TrainReport& rep) {
  nlohmann::ordered_json h;
  h["backend"] = rep.backend;
  h["n_train"] = rep.n_train;
  h["n_val"] = rep.n_val;
  h["best_epoch"] = rep.best_epoch + 1;
  h["stopped_early"] = rep.stopped_early;
  h["cuda_graph"] = rep.cuda_graph;
  h["seconds"] = rep.seconds;
  h["samples_per_second"] = rep.samples_per_second;
  h["epochs"] = nlohmann::ordered_json::array();
  // -1 marks "no validation split" in EpochStats; JSON readers get null instead of a fake loss.
  auto val = [](double v) { return v < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v); };
  for (const auto& e : rep.epochs)
    h["epochs"].push_back({{"epoch", e.epoch + 1},
                           {"beta", e.beta},
                           {"total", e.total},
                           {"recon", e.recon},
                           {"kl", e.kl},
                           {"val_total", val(e.val_total)},
                           {"val_recon", val(e.val_recon)},
                           {"val_kl", val(e.val_kl)},
                           {"seconds", e.seconds}});
  return h.dump(2) + "\n";
}

void write_history(const std::filesystem::path& path, const TrainReport& report) {
  const std::string text = history_json(report);
  io::write_atomically(path, [&](std::ostream& o) { o << text; });
}

std::filesystem::path history_path_for(const std::filesystem::path& model_path) {
  std::filesystem::path p = model_path;
  return p.replace_extension(".history.json");
}

}  // namespace hmr::nn
