// nn/safetensors.cpp — VAE models as .safetensors (https://huggingface.co/docs/safetensors):
//   [u64 little-endian N][N bytes of JSON header, space padded to 8][tensor bytes]
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end)} (offsets
// relative to the byte buffer, tensors contiguous in state_dict order) plus "__metadata__", a
// string -> string map. Names and shapes are those of the equivalent PyTorch module, so
// `model.load_state_dict(safetensors.torch.load_file(path))` works; the architecture, loss, beta,
// the full config and the scaler statistics live in the metadata.
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "io/atomic_file.h"
#include "nn/vae.h"

namespace hmr::nn {

namespace {

std::string float_list(const std::vector<float>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", v[i]);  // shortest round trip
  return s + "]";
}

// Parses "[a, b, ...]" with strtof so every float comes back bit-exact.
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
  const auto layout = param_layout(m.config);
  nlohmann::ordered_json h;
  std::size_t off = 0;
  for (const auto& p : layout) {
    h[p.name] = {{"dtype", "F32"}, {"shape", p.shape}, {"data_offsets", {off, off + 4 * p.size}}};
    off += 4 * p.size;
  }
  nlohmann::ordered_json meta;
  meta["format"] = "pt";
  meta["hmr.arch"] = arch_json(m.config);
  meta["hmr.loss"] = to_string(m.config.loss);
  meta["hmr.beta"] = fmt::format("{}", m.config.beta);
  meta["hmr.free_bits"] = fmt::format("{}", m.config.free_bits);
  meta["hmr.config"] = to_toml(m.config);
  meta["hmr.standardized"] = m.standardized ? "true" : "false";
  if (m.standardized) {
    HMR_REQUIRE(m.scaler.mean.size() == static_cast<std::size_t>(m.config.input_dim) &&
                    m.scaler.scale.size() == m.scaler.mean.size(),
                "save {}: scaler statistics have {} entries, input_dim is {}", path.string(), m.scaler.mean.size(),
                m.config.input_dim);
    meta["hmr.scaler_mean"] = float_list(m.scaler.mean);
    meta["hmr.scaler_scale"] = float_list(m.scaler.scale);
  }
  h["__metadata__"] = meta;
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // the reference writer aligns the data to 8 bytes
  io::write_atomically(path, [&](std::ostream& out) {
    unsigned char len[8];
    std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& p : layout)  // little-endian float32, as on every platform hmr targets
      out.write(reinterpret_cast<const char*>(m.params.data() + p.offset), static_cast<std::streamsize>(4 * p.size));
  });
}

namespace {

// An integer of the JSON header inside [lo, hi]. nlohmann's get<int>() converts 1e123 or -1
// with a plain cast (undefined for a float out of range, found by fuzz_safetensors), so the type
// and range are checked first; nullopt when the value is not such an integer.
std::optional<std::int64_t> json_int(const nlohmann::json& v, std::int64_t lo, std::int64_t hi) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (!v.is_number_integer()) return std::nullopt;
  const auto x = v.get<std::int64_t>();
  if (x < lo || x > hi) return std::nullopt;
  return x;
}

// A JSON array of such integers, or nullopt.
std::optional<std::vector<std::int64_t>> json_ints(const nlohmann::json& v, std::int64_t lo, std::int64_t hi) {
  if (!v.is_array()) return std::nullopt;
  std::vector<std::int64_t> out;
  for (const auto& e : v) {
    const auto x = json_int(e, lo, hi);
    if (!x) return std::nullopt;
    out.push_back(*x);
  }
  return out;
}

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

}  // namespace

VaeModel load_safetensors(const std::filesystem::path& path) {
  const std::string ps = path.string();
  std::ifstream in(path, std::ios::binary);
  HMR_REQUIRE(in.good(), "{}: cannot open the model file", ps);
  // Models are megabytes: read whole, then parse the bytes (the one path the fuzzer also takes).
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  HMR_REQUIRE(!in.bad(), "{}: could not read the model file", ps);
  return parse_safetensors(bytes, ps);
}

VaeModel parse_safetensors(std::string_view bytes, const std::string& ps) {
  const std::uint64_t file_size = bytes.size();
  HMR_REQUIRE(file_size >= 8, "{}: truncated safetensors file ({} bytes, no header length)", ps, file_size);
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  HMR_REQUIRE(n <= file_size - 8, "{}: truncated safetensors file (header of {} bytes, file has {} after the length)",
              ps, n, file_size - 8);
  HMR_REQUIRE(n <= (100u << 20), "{}: safetensors header of {} bytes is implausibly large", ps, n);
  const std::string_view header = bytes.substr(8, static_cast<std::size_t>(n));
  const std::string_view data = bytes.substr(8 + static_cast<std::size_t>(n));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    input_error("{}: the safetensors header is not valid JSON: {}", ps, e.what());
  }
  HMR_REQUIRE(h.is_object(), "{}: the safetensors header is not a JSON object", ps);
  const std::uint64_t data_size = data.size();

  // Architecture and settings from the metadata.
  HMR_REQUIRE(h.contains("__metadata__") && h["__metadata__"].is_object(),
              "{}: no __metadata__ (not written by hmr; the architecture is unknown)", ps);
  const auto& meta = h["__metadata__"];
  auto meta_str = [&](const char* key) -> std::string {
    HMR_REQUIRE(meta.contains(key) && meta[key].is_string(), "{}: metadata '{}' is missing", ps, key);
    return meta[key].get<std::string>();
  };
  VaeConfig cfg;
  if (meta.contains("hmr.config") && meta["hmr.config"].is_string()) {
    try {
      const toml::table t = toml::parse(meta["hmr.config"].get<std::string>());
      if (const auto* v = t["vae"].as_table()) cfg = vae_config_from_toml(*v);
    } catch (const toml::parse_error& e) {
      input_error("{}: metadata 'hmr.config' is not valid TOML: {}", ps, std::string(e.description()));
    }
  }
  try {
    const auto a = nlohmann::json::parse(meta_str("hmr.arch"));
    const auto input_dim = json_int(a.at("input_dim"), INT32_MIN, INT32_MAX);
    const auto latent = json_int(a.at("latent"), INT32_MIN, INT32_MAX);
    const auto hidden = json_ints(a.at("hidden"), INT32_MIN, INT32_MAX);
    HMR_REQUIRE(input_dim && latent && hidden,
                "{}: metadata 'hmr.arch' is malformed: input_dim, latent and hidden must be (lists of) 32-bit integers",
                ps);
    cfg.input_dim = static_cast<int>(*input_dim);
    cfg.latent = static_cast<int>(*latent);
    cfg.hidden.assign(hidden->begin(), hidden->end());
    cfg.activation = parse_activation(a.at("activation").get<std::string>());
    cfg.output = parse_output(a.at("output").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    input_error("{}: metadata 'hmr.arch' is malformed: {}", ps, e.what());
  }
  cfg.loss = parse_loss(meta_str("hmr.loss"));
  {
    const std::string b = meta_str("hmr.beta");
    char* end = nullptr;
    cfg.beta = std::strtof(b.c_str(), &end);
    HMR_REQUIRE(end && *end == '\0' && !b.empty(), "{}: metadata 'hmr.beta' is not a number: '{}'", ps, b);
  }
  // A file without hmr.free_bits (PyTorch, or hmr before free bits) was trained with the plain KL.
  cfg.free_bits = 0.0f;
  if (meta.contains("hmr.free_bits")) {
    const std::string b = meta_str("hmr.free_bits");
    char* end = nullptr;
    cfg.free_bits = std::strtof(b.c_str(), &end);
    HMR_REQUIRE(end && *end == '\0' && !b.empty(), "{}: metadata 'hmr.free_bits' is not a number: '{}'", ps, b);
  }
  HMR_REQUIRE(cfg.input_dim > 0, "{}: metadata gives input_dim {}", ps, cfg.input_dim);
  cfg.validate();
  // The tensors the architecture needs must fit in the data section before anything of their
  // size is allocated: metadata claiming input_dim 2^30 in a 1 KiB file is refused here.
  const auto need = checked_param_count(cfg, data_size / 4);
  HMR_REQUIRE(need.has_value(),
              "{}: truncated file or lying metadata: the architecture in the metadata needs more parameters than the "
              "{}-byte data section holds",
              ps, data_size);

  VaeModel m;
  m.config = cfg;
  m.layout = param_layout(cfg);
  m.params.assign(param_count(cfg), 0.0f);
  m.standardized = meta_str("hmr.standardized") == "true";
  if (m.standardized) {
    m.scaler.mean = parse_float_list(ps, "hmr.scaler_mean", meta_str("hmr.scaler_mean"));
    m.scaler.scale = parse_float_list(ps, "hmr.scaler_scale", meta_str("hmr.scaler_scale"));
    HMR_REQUIRE(m.scaler.mean.size() == static_cast<std::size_t>(cfg.input_dim) &&
                    m.scaler.scale.size() == m.scaler.mean.size(),
                "{}: scaler statistics have {} / {} entries, input_dim is {}", ps, m.scaler.mean.size(),
                m.scaler.scale.size(), cfg.input_dim);
  }

  // Tensors: exactly the expected names, F32, expected shapes, inside the file.
  std::size_t tensors = 0;
  for (const auto& [name, t] : h.items())
    if (name != "__metadata__") ++tensors;
  for (const auto& p : m.layout) {
    HMR_REQUIRE(h.contains(p.name), "{}: tensor '{}' is missing", ps, p.name);
    const auto& t = h[p.name];
    HMR_REQUIRE(t.is_object() && t.contains("dtype") && t.contains("shape") && t.contains("data_offsets"),
                "{}: tensor '{}' has a malformed entry", ps, p.name);
    const std::string dtype = t["dtype"].is_string() ? t["dtype"].get<std::string>() : "?";
    HMR_REQUIRE(dtype == "F32", "{}: tensor '{}' has dtype {}, expected F32", ps, p.name, dtype);
    const auto dims = json_ints(t["shape"], 0, INT64_MAX);
    const auto offsets = json_ints(t["data_offsets"], 0, INT64_MAX);
    HMR_REQUIRE(dims && offsets, "{}: tensor '{}' has a malformed shape or data_offsets", ps, p.name);
    const std::vector<std::int64_t>& shape = *dims;
    const std::vector<std::uint64_t> offs(offsets->begin(), offsets->end());
    HMR_REQUIRE(shape == p.shape, "{}: tensor '{}' has shape [{}], the architecture needs [{}]", ps, p.name,
                fmt::join(shape, ", "), fmt::join(p.shape, ", "));
    HMR_REQUIRE(offs.size() == 2 && offs[0] <= offs[1] && offs[1] - offs[0] == 4 * p.size,
                "{}: tensor '{}' has data_offsets that do not match its shape", ps, p.name);
    HMR_REQUIRE(offs[1] <= data_size, "{}: truncated file: tensor '{}' ends at byte {} of a {}-byte data section", ps,
                p.name, offs[1], data_size);
    std::memcpy(m.params.data() + p.offset, data.data() + offs[0], 4 * p.size);
  }
  HMR_REQUIRE(tensors == m.layout.size(), "{}: {} tensors in the file, the architecture has {} (unexpected extras)", ps,
              tensors, m.layout.size());
  return m;
}

}  // namespace hmr::nn
