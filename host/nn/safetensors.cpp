// nn/safetensors.cpp — VAE models as .safetensors (https://huggingface.co/docs/safetensors; the
// container in safetensors_io.cpp). Names and shapes are those of the equivalent PyTorch module
// (tests/fixtures/torch_vae.py), so `model.load_state_dict(state)` works once the scaler.* tensors
// are popped; hmr's metadata holds the architecture, loss, beta and the full config. A file
// without that metadata is read as a plain PyTorch state_dict: the architecture from the shapes,
// the activations from LoadOptions, each assumption logged as a note.
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "core/log.h"
#include "core/printable.h"
#include "nn/safetensors_io.h"
#include "nn/vae.h"

namespace hmr::nn {

namespace {

// Parses the scaler statistics of files written before they were tensors: "[a, b, ...]", strtof so every float comes
// back bit-exact.
std::vector<float> parse_float_list(const std::string& path, const std::string& key, const std::string& text) {
  std::vector<float> out;
  std::string s = text;
  for (char& c : s)
    if (c == '[' || c == ']' || c == ',') c = ' ';
  const char* p = s.c_str();
  while (true) {
    while (*p == ' ') ++p;
    if (!*p) break;
    char* end = nullptr;
    errno = 0;
    const float v = std::strtof(p, &end);
    HMR_REQUIRE(end != p && errno == 0, "{}: metadata '{}' is not a list of numbers", path, key);
    out.push_back(v);
    p = end;
  }
  return out;
}

std::string arch_json(const VaeConfig& c) {
  nlohmann::ordered_json a;
  a["input_dim"] = c.input_dim;
  a["hidden"] = c.hidden;
  a["latent"] = c.latent;
  a["activation"] = to_string(c.activation);
  a["output"] = to_string(c.output);
  return a.dump();
}

}  // namespace

void save_safetensors(const std::filesystem::path& path, const VaeModel& m) {
  HMR_REQUIRE(m.params.size() == param_count(m.config),
              "save {}: the model has {} parameters, its architecture needs {}", path.string(), m.params.size(),
              param_count(m.config));
  std::vector<st::OutTensor> tensors;
  const auto layout = param_layout(m.config);
  for (const auto& p : layout) tensors.push_back({p.name, p.shape, m.params.data() + p.offset});
  if (m.standardized) {
    HMR_REQUIRE(m.scaler.mean.size() == static_cast<std::size_t>(m.config.input_dim) &&
                    m.scaler.scale.size() == m.scaler.mean.size(),
                "save {}: scaler statistics have {} entries, input_dim is {}", path.string(), m.scaler.mean.size(),
                m.config.input_dim);
    const std::vector<std::int64_t> d{m.config.input_dim};
    tensors.push_back({"scaler.mean", d, m.scaler.mean.data()});
    tensors.push_back({"scaler.scale", d, m.scaler.scale.data()});
  }
  st::write(path, tensors,
            {{"format", "pt"},
             {"hmr.arch", arch_json(m.config)},
             {"hmr.loss", to_string(m.config.loss)},
             {"hmr.beta", fmt::format("{}", m.config.beta)},
             {"hmr.free_bits", fmt::format("{}", m.config.free_bits)},
             {"hmr.config", to_toml(m.config)},
             {"hmr.standardized", m.standardized ? "true" : "false"}});
}

namespace {

// Parameters the architecture needs, or nullopt when that count exceeds `limit`: every factor
// comes from the file, so the products are checked before make_plan multiplies them unchecked
// (input_dim = hidden = 2^31 - 1 would overflow int and wrap the buffer size).
std::optional<std::uint64_t> checked_param_count(const VaeConfig& c, std::uint64_t limit) {
  std::uint64_t total = 0;
  bool over = false;
  const auto layer = [&](std::uint64_t in, std::uint64_t out) {
    // (in + 1) * out with in, out < 2^32: at most 2^64 - 2^32, no wrap.
    const std::uint64_t n = (in + 1) * out;
    if (n > limit - std::min(total, limit)) over = true;
    total = over ? limit : total + n;
  };
  std::uint64_t prev = static_cast<std::uint64_t>(c.input_dim);
  for (int h : c.hidden) {
    layer(prev, static_cast<std::uint64_t>(h));
    prev = static_cast<std::uint64_t>(h);
  }
  layer(prev, 2 * static_cast<std::uint64_t>(c.latent));
  prev = static_cast<std::uint64_t>(c.latent);
  for (auto it = c.hidden.rbegin(); it != c.hidden.rend(); ++it) {
    layer(prev, static_cast<std::uint64_t>(*it));
    prev = static_cast<std::uint64_t>(*it);
  }
  layer(prev, static_cast<std::uint64_t>(c.input_dim));
  if (over) return std::nullopt;
  return total;
}

// Before anything of the architecture's size is allocated: validate, then the parameters must fit
// the data section at the narrowest float dtype (2 bytes): input_dim 2^30 in a 1 KiB file is refused.
void check_fits(const VaeConfig& cfg, const st::File& f, const char* source) {
  cfg.validate();
  HMR_REQUIRE(checked_param_count(cfg, f.data.size() / 2).has_value(),
              "{}: truncated file or lying {}: the architecture needs more parameters than the {}-byte data section "
              "holds",
              f.where, source, f.data.size());
}

std::string shape_str(const std::vector<std::int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

// The model's tensors from the file: `names[i]` (the file's name) holds layout[i]; shapes checked.
void read_params(const st::File& f, VaeModel& m, const std::vector<std::string>& names, const std::string& why) {
  m.layout = param_layout(m.config);
  m.params.assign(param_count(m.config), 0.0f);
  for (std::size_t i = 0; i < m.layout.size(); ++i) {
    const ParamInfo& p = m.layout[i];
    const auto it = f.tensors.find(names[i]);
    HMR_REQUIRE(it != f.tensors.end(), "{}: tensor '{}' is missing{}", f.where, names[i], why);
    HMR_REQUIRE(it->second.shape == p.shape, "{}: tensor '{}' has shape {}, expected {}{}", f.where, names[i],
                shape_str(it->second.shape), shape_str(p.shape), why);
    st::read_floats(f, names[i], m.params.data() + p.offset);
  }
}

// scaler.mean / scaler.scale tensors [input_dim], when present (both or neither).
bool read_scaler_tensors(const st::File& f, const std::string& prefix, VaeModel& m) {
  const bool has_mean = f.tensors.count(prefix + "scaler.mean") > 0,
             has_scale = f.tensors.count(prefix + "scaler.scale") > 0;
  HMR_REQUIRE(has_mean == has_scale, "{}: tensor '{}scaler.{}' is missing (the scaler needs mean and scale)", f.where,
              prefix, has_mean ? "scale" : "mean");
  if (!has_mean) return false;
  const std::vector<std::int64_t> d{m.config.input_dim};
  for (const char* k : {"scaler.mean", "scaler.scale"}) {
    const auto& e = f.tensors.at(prefix + k);
    HMR_REQUIRE(e.shape == d, "{}: tensor '{}{}' has shape {}, expected {} (one value per input feature)", f.where,
                prefix, k, shape_str(e.shape), shape_str(d));
  }
  m.scaler.mean = st::read_floats(f, prefix + "scaler.mean");
  m.scaler.scale = st::read_floats(f, prefix + "scaler.scale");
  for (std::size_t i = 0; i < m.scaler.scale.size(); ++i)
    HMR_REQUIRE(m.scaler.scale[i] > 0.0f, "{}: tensor '{}scaler.scale' holds {} at element {} (must be > 0)", f.where,
                prefix, m.scaler.scale[i], i);
  return true;
}

// Tensors the model does not use are refused, named.
void refuse_extras(const st::File& f, const std::vector<std::string>& names, const std::string& prefix, bool scaler,
                   const char* layout) {
  for (const auto& [name, e] : f.tensors) {
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    if (scaler && (name == prefix + "scaler.mean" || name == prefix + "scaler.scale")) continue;
    input_error("{}: unexpected tensor '{}' ({})", f.where, name, layout);
  }
}

std::string converted_note(const st::File& f) {
  const std::size_t n = st::converted_count(f);
  return n ? fmt::format("; {} tensor{} converted to float32", n, n == 1 ? "" : "s") : std::string();
}

// ---- files written by hmr ---------------------------------------------------------------------
VaeModel from_hmr(const st::File& f) {
  const std::string& ps = f.where;
  auto meta_str = [&](const char* key) -> const std::string& {
    const auto it = f.meta.find(key);
    HMR_REQUIRE(it != f.meta.end(), "{}: metadata '{}' is missing", ps, key);
    return it->second;
  };
  VaeConfig cfg;
  if (const auto it = f.meta.find("hmr.config"); it != f.meta.end()) {
    try {
      const toml::table t = toml::parse(it->second);
      if (const auto* v = t["vae"].as_table()) cfg = vae_config_from_toml(*v);
    } catch (const toml::parse_error& e) {
      input_error("{}: metadata 'hmr.config' is not valid TOML: {}", ps, std::string(e.description()));
    }
  }
  try {
    const auto a = nlohmann::json::parse(meta_str("hmr.arch"));
    const auto int_of = [](const nlohmann::json& v) -> std::optional<int> {
      if (!v.is_number_integer()) return std::nullopt;
      if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        return u > INT32_MAX ? std::nullopt : std::optional<int>(static_cast<int>(u));
      }
      const auto x = v.get<std::int64_t>();
      return x < INT32_MIN || x > INT32_MAX ? std::nullopt : std::optional<int>(static_cast<int>(x));
    };
    const auto input_dim = int_of(a.at("input_dim"));
    const auto latent = int_of(a.at("latent"));
    const auto& hid = a.at("hidden");
    bool hidden_ok = hid.is_array();
    std::vector<int> hidden;
    if (hidden_ok)
      for (const auto& v : hid) {
        const auto h = int_of(v);
        hidden_ok = hidden_ok && h.has_value();
        if (h) hidden.push_back(*h);
      }
    HMR_REQUIRE(input_dim && latent && hidden_ok,
                "{}: metadata 'hmr.arch' is malformed: input_dim, latent and hidden must be (lists of) 32-bit integers",
                ps);
    cfg.input_dim = *input_dim;
    cfg.latent = *latent;
    cfg.hidden = hidden;
    cfg.activation = parse_activation(a.at("activation").get<std::string>());
    cfg.output = parse_output(a.at("output").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    input_error("{}: metadata 'hmr.arch' is malformed: {}", ps, e.what());
  }
  cfg.loss = parse_loss(meta_str("hmr.loss"));
  {
    const std::string& b = meta_str("hmr.beta");
    char* end = nullptr;
    cfg.beta = std::strtof(b.c_str(), &end);
    HMR_REQUIRE(end && *end == '\0' && !b.empty(), "{}: metadata 'hmr.beta' is not a number: '{}'", ps, printable(b));
  }
  // A file without hmr.free_bits (hmr before free bits) was trained with the plain KL.
  cfg.free_bits = 0.0f;
  if (f.meta.count("hmr.free_bits")) {
    const std::string& b = meta_str("hmr.free_bits");
    char* end = nullptr;
    cfg.free_bits = std::strtof(b.c_str(), &end);
    HMR_REQUIRE(end && *end == '\0' && !b.empty(), "{}: metadata 'hmr.free_bits' is not a number: '{}'", ps,
                printable(b));
  }
  HMR_REQUIRE(cfg.input_dim > 0, "{}: metadata gives input_dim {}", ps, cfg.input_dim);
  check_fits(cfg, f, "metadata");

  VaeModel m;
  m.config = cfg;
  std::vector<std::string> names;
  for (const auto& p : param_layout(cfg)) names.push_back(p.name);
  read_params(f, m, names, "");
  const bool said = meta_str("hmr.standardized") == "true";
  const bool tensors = read_scaler_tensors(f, "", m);
  HMR_REQUIRE(!tensors || said, "{}: scaler.* tensors in a model whose metadata says hmr.standardized = {}", ps,
              printable(meta_str("hmr.standardized")));
  if (said && !tensors) {  // written before the statistics were tensors: JSON arrays in the metadata
    m.scaler.mean = parse_float_list(ps, "hmr.scaler_mean", meta_str("hmr.scaler_mean"));
    m.scaler.scale = parse_float_list(ps, "hmr.scaler_scale", meta_str("hmr.scaler_scale"));
    HMR_REQUIRE(m.scaler.mean.size() == static_cast<std::size_t>(cfg.input_dim) &&
                    m.scaler.scale.size() == m.scaler.mean.size(),
                "{}: scaler statistics have {} / {} entries, input_dim is {}", ps, m.scaler.mean.size(),
                m.scaler.scale.size(), cfg.input_dim);
  }
  m.standardized = said;
  m.config.standardize = said;
  refuse_extras(f, names, "", true, "not part of the architecture in the metadata");
  if (st::converted_count(f)) spdlog::info("{}: note: {}", ps, converted_note(f).substr(2));
  return m;
}

// ---- plain PyTorch state_dicts ----------------------------------------------------------------
constexpr const char* kLayouts =
    "a plain state_dict must hold encoder.N.weight/bias, fc_mu.weight/bias, fc_logvar.weight/bias (or fc_var.*), "
    "decoder.N.weight/bias and optionally scaler.mean/scaler.scale; see docs/nn.md";

// "encoder.12.weight" -> 12 (index) and "weight"; nullopt for another pattern.
std::optional<std::pair<int, std::string>> sequential_index(const std::string& name, const std::string& seq) {
  if (name.rfind(seq + ".", 0) != 0) return std::nullopt;
  const std::string rest = name.substr(seq.size() + 1);
  const auto dot = rest.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 9) return std::nullopt;
  int idx = 0;
  for (std::size_t i = 0; i < dot; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return std::nullopt;
    idx = idx * 10 + (rest[i] - '0');
  }
  const std::string leaf = rest.substr(dot + 1);
  if (leaf != "weight" && leaf != "bias") return std::nullopt;
  return std::make_pair(idx, leaf);
}

// The 2-D shape of a weight tensor, dimensions within int; nullopt otherwise.
std::optional<std::pair<int, int>> weight_shape(const st::File& f, const std::string& name) {
  const auto it = f.tensors.find(name);
  HMR_REQUIRE(it != f.tensors.end(), "{}: tensor '{}' is missing ({})", f.where, name, kLayouts);
  const auto& s = it->second.shape;
  HMR_REQUIRE(s.size() == 2 && s[0] > 0 && s[1] > 0 && s[0] <= INT32_MAX && s[1] <= INT32_MAX,
              "{}: tensor '{}' has shape {}, expected a Linear weight [out, in]", f.where, name, shape_str(s));
  return std::make_pair(static_cast<int>(s[0]), static_cast<int>(s[1]));
}

VaeModel from_state_dict(const st::File& f, const LoadOptions& opt) {
  const std::string& ps = f.where;
  HMR_REQUIRE(!f.tensors.empty(), "{}: no tensors and no hmr metadata: not a model", ps);
  // nn.DataParallel / DistributedDataParallel save every name under "module.".
  std::string prefix = "module.";
  for (const auto& [name, e] : f.tensors)
    if (name.rfind(prefix, 0) != 0) prefix.clear();
  HMR_REQUIRE(f.tensors.count(prefix + "fc_mu.weight") > 0,
              "{}: no hmr metadata and no tensor 'fc_mu.weight': not a VAE state_dict hmr can read ({})", ps, kLayouts);
  const std::string logvar = f.tensors.count(prefix + "fc_var.weight") && !f.tensors.count(prefix + "fc_logvar.weight")
                                 ? "fc_var"
                                 : "fc_logvar";
  // The Linear layers of each nn.Sequential, by index (the activations between them hold no
  // tensors, so the indices may step by 2 as in torch_vae.py, or by any amount).
  std::map<int, int> enc, dec;  // index -> tensors seen (weight + bias)
  for (const auto& [full, e] : f.tensors) {
    const std::string name = full.substr(prefix.size());
    if (name.rfind("fc_mu.", 0) == 0 || name.rfind(logvar + ".", 0) == 0 || name.rfind("scaler.", 0) == 0) continue;
    if (const auto a = sequential_index(name, "encoder")) {
      ++enc[a->first];
    } else if (const auto b = sequential_index(name, "decoder")) {
      ++dec[b->first];
    } else {
      input_error("{}: unexpected tensor '{}' ({})", ps, full, kLayouts);
    }
  }
  VaeConfig cfg;
  std::vector<std::string> names;  // the file's tensor for each entry of param_layout, in order
  auto linear = [&](const std::string& seq, int idx) {
    const std::string base = prefix + seq + "." + std::to_string(idx);
    HMR_REQUIRE(f.tensors.count(base + ".weight") && f.tensors.count(base + ".bias"),
                "{}: '{}' has a {} but no {} (Linear layers without bias are not supported)", ps, base,
                f.tensors.count(base + ".weight") ? "weight" : "bias",
                f.tensors.count(base + ".weight") ? "bias" : "weight");
    names.push_back(base + ".weight");
    names.push_back(base + ".bias");
  };
  const auto [L, head_in] = *weight_shape(f, prefix + "fc_mu.weight");
  cfg.latent = L;
  cfg.hidden.clear();
  for (const auto& [idx, n] : enc) {
    linear("encoder", idx);
    cfg.hidden.push_back(weight_shape(f, names[names.size() - 2])->first);
  }
  cfg.input_dim = enc.empty() ? head_in : weight_shape(f, names.front())->second;
  // param_layout's order: fc_mu.weight, fc_mu.bias, fc_logvar.weight, fc_logvar.bias.
  for (const std::string& head : {std::string("fc_mu"), logvar})
    for (const char* leaf : {".weight", ".bias"}) names.push_back(prefix + head + leaf);
  for (const auto& [idx, n] : dec) linear("decoder", idx);
  HMR_REQUIRE(dec.size() == cfg.hidden.size() + 1,
              "{}: the decoder has {} Linear layer{}, a VAE whose encoder has {} needs {} (the decoder mirrors it: "
              "{})",
              ps, dec.size(), dec.size() == 1 ? "" : "s", cfg.hidden.size(), cfg.hidden.size() + 1, kLayouts);
  cfg.activation = opt.activation;
  cfg.output = opt.output;
  cfg.free_bits = 0.0f;  // the plain KL, as PyTorch's VAE examples train
  check_fits(cfg, f, "shapes");

  VaeModel m;
  m.config = cfg;
  const std::string arch = fmt::format("{}{}-{}", cfg.input_dim,
                                       cfg.hidden.empty() ? "" : fmt::format("-{}", fmt::join(cfg.hidden, "-")), L);
  read_params(f, m, names, fmt::format(" (a {} VAE read from the shapes: {})", arch, kLayouts));
  m.standardized = read_scaler_tensors(f, prefix, m);
  m.config.standardize = m.standardized;
  refuse_extras(f, names, prefix, true, kLayouts);
  spdlog::info(
      "{}: note: no hmr metadata, read as a plain PyTorch state_dict: a {} VAE from the tensor shapes; "
      "activation {} ({}), output {} ({}); {}{}",
      ps, arch, to_string(cfg.activation),
      opt.activation_given ? "given" : "assumed: the default, --activation sets it", to_string(cfg.output),
      opt.output_given ? "given" : "assumed: the default, --output sets it",
      m.standardized ? "standardised by its scaler.* tensors" : "features used as they are (no scaler.* tensors)",
      converted_note(f));
  return m;
}

}  // namespace

VaeModel load_safetensors(const std::filesystem::path& path, const LoadOptions& opt) {
  return parse_safetensors(st::read_bytes(path), path.string(), opt);
}

VaeModel parse_safetensors(std::string_view bytes, const std::string& ps, const LoadOptions& opt) {
  const st::File f = st::parse(bytes, ps);
  bool hmr = false;
  for (const auto& [k, v] : f.meta) hmr |= k.rfind("hmr.", 0) == 0;
  return hmr ? from_hmr(f) : from_state_dict(f, opt);
}

}  // namespace hmr::nn
