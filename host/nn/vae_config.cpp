// nn/vae_config.cpp — the VAE's configuration: the enum names, VaeConfig::validate, the TOML
// reader and `--set key=value` overrides (one table of keys, each parsed by its field's type;
// adam_betas sets two fields), and to_toml, which the reader reads back unchanged
// (tests/nn/safetensors_test.cpp). Keys and defaults: nn/vae.h and docs/nn.md.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <sstream>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/names.h"
#include "nn/vae.h"

namespace hmr::nn {

// ---- enums ------------------------------------------------------------------------------------
namespace {
// Each enum's names in the configuration (to_string gives the first of a value's names).
template <class E>
struct Name {
  E value;
  const char* name;
};
constexpr Name<Activation> kActivations[] = {{Activation::relu, "relu"},
                                             {Activation::identity, "identity"},
                                             {Activation::identity, "linear"},
                                             {Activation::sigmoid, "sigmoid"},
                                             {Activation::tanh, "tanh"}};
constexpr Name<Output> kOutputs[] = {
    {Output::identity, "identity"}, {Output::identity, "linear"}, {Output::sigmoid, "sigmoid"}};
constexpr Name<Loss> kLosses[] = {{Loss::mse, "mse"}, {Loss::bce, "bce"}};

template <class E, std::size_t N>
const char* name_of(const Name<E> (&names)[N], E v) {
  for (const auto& n : names)
    if (n.value == v) return n.name;
  return "?";
}
// what: the enum in the error message; expected: its names listed there.
template <class E, std::size_t N>
E parse_name(const Name<E> (&names)[N], const std::string& s, const char* what, const char* expected) {
  for (const auto& n : names)
    if (s == n.name) return n.value;
  input_error("vae: unknown {} '{}' ({})", what, s, expected);
}
}  // namespace

const char* to_string(Activation a) { return name_of(kActivations, a); }
const char* to_string(Output o) { return name_of(kOutputs, o); }
const char* to_string(Loss l) { return name_of(kLosses, l); }

Activation parse_activation(const std::string& s) {
  return parse_name(kActivations, s, "activation", "relu, identity, sigmoid, tanh");
}
Output parse_output(const std::string& s) { return parse_name(kOutputs, s, "output", "identity, sigmoid"); }
Loss parse_loss(const std::string& s) { return parse_name(kLosses, s, "loss", "mse, bce"); }

// ---- configuration ---------------------------------------------------------------------------
void VaeConfig::validate() const {
  HMR_REQUIRE(input_dim >= 0, "vae: input_dim must be >= 0 (0 = from the data), got {}", input_dim);
  for (std::size_t i = 0; i < hidden.size(); ++i)
    HMR_REQUIRE(hidden[i] > 0, "vae: hidden[{}] must be > 0, got {}", i, hidden[i]);
  HMR_REQUIRE(latent > 0, "vae: latent must be > 0, got {}", latent);
  HMR_REQUIRE(!(loss == Loss::bce && output != Output::sigmoid),
              "vae: loss 'bce' needs output 'sigmoid' (probabilities), got output '{}'", to_string(output));
  HMR_REQUIRE(std::isfinite(beta) && beta >= 0.0f, "vae: beta must be finite and >= 0, got {}", beta);
  HMR_REQUIRE(std::isfinite(free_bits) && free_bits >= 0.0f, "vae: free_bits must be finite and >= 0, got {}",
              free_bits);
  HMR_REQUIRE(warmup_epochs >= 0, "vae: warmup_epochs must be >= 0, got {}", warmup_epochs);
  HMR_REQUIRE(epochs > 0, "vae: epochs must be > 0, got {}", epochs);
  HMR_REQUIRE(batch > 0, "vae: batch must be > 0, got {}", batch);
  HMR_REQUIRE(std::isfinite(lr) && lr > 0.0f, "vae: lr must be > 0, got {}", lr);
  HMR_REQUIRE(adam_beta1 >= 0.0f && adam_beta1 < 1.0f && adam_beta2 >= 0.0f && adam_beta2 < 1.0f,
              "vae: adam betas must lie in [0, 1), got ({}, {})", adam_beta1, adam_beta2);
  HMR_REQUIRE(adam_eps > 0.0f, "vae: adam_eps must be > 0, got {}", adam_eps);
  HMR_REQUIRE(weight_decay >= 0.0f, "vae: weight_decay must be >= 0, got {}", weight_decay);
  HMR_REQUIRE(clip_norm >= 0.0f, "vae: clip_norm must be >= 0 (0 = off), got {}", clip_norm);
  HMR_REQUIRE(val_fraction >= 0.0f && val_fraction < 1.0f, "vae: val_fraction must lie in [0, 1), got {}",
              val_fraction);
  HMR_REQUIRE(patience >= 0, "vae: patience must be >= 0 (0 = off), got {}", patience);
  HMR_REQUIRE(!(patience > 0 && val_fraction <= 0.0f), "vae: early stopping (patience {}) needs val_fraction > 0",
              patience);
  if (input_dim > 0) {
    // The size the layers ask for, counted in double before any int or size_t product: hidden
    // widths of 2e9 ended in std::bad_alloc (exit 1) or wrapped the offsets. Training keeps four
    // floats per parameter (weight, gradient, Adam's two moments).
    double params = 0.0, prev = input_dim;
    const auto layer = [&](double out) {
      params += prev * out + out;
      prev = out;
    };
    for (int h : hidden) layer(h);
    layer(2.0 * latent);
    prev = latent;
    for (auto it = hidden.rbegin(); it != hidden.rend(); ++it) layer(*it);
    layer(input_dim);
    constexpr double kMaxParams = 2147483647.0;  // offsets and kernel indices stay 32-bit safe
    const double gib = params * 4.0 * sizeof(float) / (1024.0 * 1024.0 * 1024.0);
    HMR_REQUIRE(params <= kMaxParams,
                "vae: {} inputs, hidden [{}] and latent {} make {:.4g} parameters ({:.1f} GiB to train), more than the "
                "{:.0f} hmr supports; use narrower layers",
                input_dim, fmt::join(hidden, ", "), latent, params, gib, kMaxParams);
  }
}

namespace {

// A list value ("[1, 2]", "1,2" or "1 2") as a stream of its items.
std::istringstream list_items(const std::string& v) {
  std::string s = v;
  std::replace(s.begin(), s.end(), ',', ' ');
  s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '[' || c == ']'; }), s.end());
  return std::istringstream(s);
}

std::vector<int> parse_int_list(const std::string& key, const std::string& v) {
  std::vector<int> out;
  std::istringstream in = list_items(v);
  std::string tok;
  while (in >> tok) {
    try {
      std::size_t used = 0;
      const int x = std::stoi(tok, &used);
      HMR_REQUIRE(used == tok.size(), "vae: {} expects integers, got '{}'", key, v);
      out.push_back(x);
    } catch (const std::logic_error&) {
      input_error("vae: {} expects integers, got '{}'", key, v);
    }
  }
  return out;
}

template <class T>
T parse_number(const std::string& key, const std::string& v) {
  constexpr const char* kWhat = std::is_floating_point_v<T> ? "a number" : "an integer";
  try {
    std::size_t used = 0;
    T x;
    if constexpr (std::is_floating_point_v<T>)
      x = static_cast<T>(std::stod(v, &used));
    else
      x = static_cast<T>(std::stoll(v, &used));
    HMR_REQUIRE(used == v.size(), "vae: {} expects {}, got '{}'", key, kWhat, v);
    return x;
  } catch (const std::logic_error&) {
    input_error("vae: {} expects {}, got '{}'", key, kWhat, v);
  }
}

bool parse_bool(const std::string& key, const std::string& v) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  input_error("vae: {} expects true or false, got '{}'", key, v);
}

std::string unquote(std::string v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
  return v;
}

// One configuration key's text into its field, by the field's type.
template <class T>
void parse_into(T& field, const std::string& key, const std::string& v) {
  if constexpr (std::is_same_v<T, bool>)
    field = parse_bool(key, v);
  else if constexpr (std::is_same_v<T, Activation>)
    field = parse_activation(v);
  else if constexpr (std::is_same_v<T, Output>)
    field = parse_output(v);
  else if constexpr (std::is_same_v<T, Loss>)
    field = parse_loss(v);
  else if constexpr (std::is_same_v<T, std::vector<int>>)
    field = parse_int_list(key, v);
  else
    field = parse_number<T>(key, v);
}
template <auto Field>
void set_field(VaeConfig& c, const std::string& key, const std::string& v) {
  parse_into(c.*Field, key, v);
}
struct Key {
  const char* name;
  void (*set)(VaeConfig&, const std::string& key, const std::string& v);
};
// The keys that set one field, named as the field (adam_betas sets two: apply_override).
// clang-format off
#define HMR_VAE_KEY(field) Key{#field, set_field<&VaeConfig::field>}
// clang-format on
constexpr Key kKeys[] = {HMR_VAE_KEY(input_dim),
                         HMR_VAE_KEY(hidden),
                         HMR_VAE_KEY(latent),
                         HMR_VAE_KEY(activation),
                         HMR_VAE_KEY(output),
                         HMR_VAE_KEY(loss),
                         HMR_VAE_KEY(standardize),
                         HMR_VAE_KEY(beta),
                         HMR_VAE_KEY(free_bits),
                         HMR_VAE_KEY(warmup_epochs),
                         HMR_VAE_KEY(epochs),
                         HMR_VAE_KEY(batch),
                         {"batch_size", set_field<&VaeConfig::batch>},
                         HMR_VAE_KEY(lr),
                         {"learning_rate", set_field<&VaeConfig::lr>},      // hmr train --learning-rate
                         {"warmup", set_field<&VaeConfig::warmup_epochs>},  // hmr train --warmup
                         HMR_VAE_KEY(adam_beta1),
                         HMR_VAE_KEY(adam_beta2),
                         HMR_VAE_KEY(adam_eps),
                         HMR_VAE_KEY(weight_decay),
                         HMR_VAE_KEY(clip_norm),
                         HMR_VAE_KEY(val_fraction),
                         HMR_VAE_KEY(patience),
                         HMR_VAE_KEY(seed),
                         HMR_VAE_KEY(cuda_graph),
                         HMR_VAE_KEY(sparse_input)};
#undef HMR_VAE_KEY

// A TOML node as the text apply_override understands.
std::string node_text(const std::string& key, const toml::node& n) {
  if (auto s = n.as_string()) return s->get();
  if (auto i = n.as_integer()) return std::to_string(i->get());
  if (auto f = n.as_floating_point()) return fmt::format("{}", f->get());
  if (auto b = n.as_boolean()) return b->get() ? "true" : "false";
  if (auto a = n.as_array()) {
    std::string out;
    for (const auto& e : *a) {
      if (!out.empty()) out += ",";
      out += node_text(key, e);
    }
    return out;
  }
  input_error("vae config: key '{}' has an unsupported value type", key);
}

}  // namespace

void apply_override(VaeConfig& c, const std::string& key_in, const std::string& value_in) {
  std::string key = key_in;
  if (key.rfind("vae.", 0) == 0) key = key.substr(4);
  const std::string v = unquote(value_in);
  for (const Key& k : kKeys)
    if (key == k.name) return k.set(c, key, v);
  if (key == "adam_betas") {
    std::istringstream in = list_items(v);
    std::string a, b, extra;
    HMR_REQUIRE((in >> a >> b) && !(in >> extra), "vae: adam_betas expects two numbers, got '{}'", v);
    c.adam_beta1 = parse_number<float>(key, a);
    c.adam_beta2 = parse_number<float>(key, b);
    return;
  }
  std::vector<std::string> names{"adam_betas"};
  for (const Key& k : kKeys) names.push_back(k.name);
  const std::string guess = closest_name(key, names);
  if (!guess.empty()) input_error("vae: unknown configuration key '{}' (did you mean '{}'?)", key_in, guess);
  input_error("vae: unknown configuration key '{}'", key_in);
}

VaeConfig vae_config_from_toml(const toml::table& t, VaeConfig base) {
  for (const auto& [k, node] : t) {
    const std::string key(k.str());
    apply_override(base, key, node_text(key, node));
  }
  return base;
}

VaeConfig vae_config_from_file(const std::filesystem::path& path, VaeConfig base) {
  toml::table root;
  try {
    root = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    input_error("{}: not valid TOML: {}", path.string(), std::string(e.description()));
  }
  if (const auto* vae = root["vae"].as_table()) return vae_config_from_toml(*vae, base);
  return vae_config_from_toml(root, base);
}

std::string to_toml(const VaeConfig& c) {
  std::string hidden;
  for (int h : c.hidden) hidden += (hidden.empty() ? "" : ", ") + std::to_string(h);
  return fmt::format(
      "[vae]\ninput_dim = {}\nhidden = [{}]\nlatent = {}\nactivation = \"{}\"\noutput = \"{}\"\nloss = \"{}\"\n"
      "standardize = {}\nbeta = {}\nfree_bits = {}\nwarmup_epochs = {}\nepochs = {}\nbatch = {}\nlr = {}\nadam_beta1 = "
      "{}\n"
      "adam_beta2 = {}\nadam_eps = {}\nweight_decay = {}\nclip_norm = {}\nval_fraction = {}\npatience = {}\n"
      "seed = {}\ncuda_graph = {}\nsparse_input = {}\n",
      c.input_dim, hidden, c.latent, to_string(c.activation), to_string(c.output), to_string(c.loss), c.standardize,
      c.beta, c.free_bits, c.warmup_epochs, c.epochs, c.batch, c.lr, c.adam_beta1, c.adam_beta2, c.adam_eps,
      c.weight_decay, c.clip_norm, c.val_fraction, c.patience, c.seed, c.cuda_graph, c.sparse_input);
}

}  // namespace hmr::nn
