// nn/train_state.cpp — the optimizer file beside a model (MODEL.optim.safetensors), so that
// `hmr train --resume` continues a run: Adam's first and second moments (torch.optim.Adam's
// exp_avg / exp_avg_sq, in hmr's flat parameter order), its step count, the epochs done (they key
// every later shuffle, noise draw and warm-up beta) and the early-stopping state. A FNV-1a hash of
// the model's weights ties the file to its model: a state saved for other weights is refused.
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "core/printable.h"
#include "nn/safetensors_io.h"
#include "nn/vae.h"

namespace hmr::nn {

namespace {

std::string fnv1a(const std::vector<float>& p) {  // 64-bit FNV-1a of the float bytes
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto* b = reinterpret_cast<const unsigned char*>(p.data());
  for (std::size_t i = 0; i < 4 * p.size(); ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  return fmt::format("{:016x}", h);
}

std::int64_t meta_int(const st::File& f, const char* key, std::int64_t lo, std::int64_t hi) {
  const auto it = f.meta.find(key);
  HMR_REQUIRE(it != f.meta.end(), "{}: metadata '{}' is missing", f.where, key);
  const char* s = it->second.c_str();
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s, &end, 10);
  HMR_REQUIRE(end != s && *end == '\0' && errno == 0 && v >= lo && v <= hi,
              "{}: metadata '{}' is not an integer in [{}, {}]: '{}'", f.where, key, lo, hi, printable(it->second));
  return v;
}

}  // namespace

std::filesystem::path optimizer_path_for(const std::filesystem::path& model_path) {
  std::filesystem::path p = model_path;
  if (p.extension() == ".safetensors") p.replace_extension();
  p += ".optim.safetensors";
  return p;
}

void save_train_state(const std::filesystem::path& path, const VaeModel& m, const TrainState& s) {
  const std::int64_t n = static_cast<std::int64_t>(m.params.size());
  HMR_REQUIRE(s.adam_m.size() == m.params.size() && s.adam_v.size() == m.params.size() &&
                  (s.last_params.empty() || s.last_params.size() == m.params.size()),
              "save {}: the optimizer state does not match the model's {} parameters", path.string(), n);
  std::vector<st::OutTensor> t{{"optimizer.exp_avg", {n}, s.adam_m.data()},
                               {"optimizer.exp_avg_sq", {n}, s.adam_v.data()}};
  if (!s.last_params.empty()) t.push_back({"optimizer.last_params", {n}, s.last_params.data()});
  st::write(path, t,
            {{"format", "pt"},
             {"hmr.optimizer", "adam"},
             {"hmr.adam_step", std::to_string(s.adam_step)},
             {"hmr.epochs_done", std::to_string(s.epochs_done)},
             {"hmr.best_epoch", std::to_string(s.best_epoch)},
             {"hmr.best_val", fmt::format("{}", s.best_val)},  // shortest round trip
             {"hmr.since_best", std::to_string(s.since_best)},
             {"hmr.n_train", std::to_string(s.n_train)},
             {"hmr.model_fnv1a", fnv1a(m.params)}});
}

TrainState load_train_state(const std::filesystem::path& path, const VaeModel& m) {
  HMR_REQUIRE(std::filesystem::exists(path),
              "{}: no optimizer state beside the model (hmr train writes MODEL.optim.safetensors; --optimizer-state "
              "names another)",
              path.string());
  return parse_train_state(st::read_bytes(path), path.string(), m);
}

TrainState parse_train_state(std::string_view bytes, const std::string& where, const VaeModel& m) {
  const st::File f = st::parse(bytes, where);
  const auto opt = f.meta.find("hmr.optimizer");
  HMR_REQUIRE(opt != f.meta.end() && opt->second == "adam",
              "{}: not an hmr optimizer file (metadata 'hmr.optimizer' "
              "is not 'adam')",
              where);
  const auto hash = f.meta.find("hmr.model_fnv1a");
  HMR_REQUIRE(hash != f.meta.end() && hash->second == fnv1a(m.params),
              "{}: the optimizer state was saved with other weights than the model's (hash {}, the model's {}); "
              "resume from the model it was written with",
              where, hash != f.meta.end() ? hash->second : "missing", fnv1a(m.params));
  const std::vector<std::int64_t> shape{static_cast<std::int64_t>(m.params.size())};
  for (const auto& [name, e] : f.tensors) {
    HMR_REQUIRE(name == "optimizer.exp_avg" || name == "optimizer.exp_avg_sq" || name == "optimizer.last_params",
                "{}: unexpected tensor '{}' in an optimizer file", where, name);
    HMR_REQUIRE(e.shape == shape, "{}: tensor '{}' has {} dimensions, expected [{}] (the model's parameters)", where,
                name, e.shape.size(), m.params.size());
  }
  TrainState s;
  s.adam_m = st::read_floats(f, "optimizer.exp_avg");
  s.adam_v = st::read_floats(f, "optimizer.exp_avg_sq");
  for (std::size_t i = 0; i < s.adam_v.size(); ++i)
    HMR_REQUIRE(s.adam_v[i] >= 0.0f, "{}: tensor 'optimizer.exp_avg_sq' holds {} at element {} (must be >= 0)", where,
                s.adam_v[i], i);
  if (f.tensors.count("optimizer.last_params")) s.last_params = st::read_floats(f, "optimizer.last_params");
  s.adam_step = meta_int(f, "hmr.adam_step", 0, INT64_MAX / 2);
  s.epochs_done = static_cast<int>(meta_int(f, "hmr.epochs_done", 0, INT32_MAX / 2));
  s.best_epoch = static_cast<int>(meta_int(f, "hmr.best_epoch", -1, INT32_MAX / 2));
  s.since_best = static_cast<int>(meta_int(f, "hmr.since_best", 0, INT32_MAX / 2));
  s.n_train = meta_int(f, "hmr.n_train", 0, INT64_MAX);
  {
    const auto it = f.meta.find("hmr.best_val");
    HMR_REQUIRE(it != f.meta.end(), "{}: metadata 'hmr.best_val' is missing", where);
    char* end = nullptr;
    s.best_val = std::strtod(it->second.c_str(), &end);
    HMR_REQUIRE(end && *end == '\0' && !it->second.empty() && std::isfinite(s.best_val),
                "{}: metadata 'hmr.best_val' is not a finite number: '{}'", where, printable(it->second));
  }
  return s;
}

}  // namespace hmr::nn
