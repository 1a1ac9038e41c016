// nn/vae.cpp — VAE configuration (TOML, overrides), the PyTorch-named parameter layout and
// initialisation, the training loop (seeded shuffles, KL warm-up, validation + early stopping)
// and inference. The per-batch numerics live in the engines (vae_engine_cpu.cpp and the cpu twins it runs,
// vae_cuda.cpp).
#include "nn/vae.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>
#include <type_traits>

#include "core/error.h"
#include "core/log.h"
#include "core/nvtx.h"
#include "core/timer.h"
#include "nn/vae_net.h"

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
  try {
    std::size_t used = 0;
    T x;
    if constexpr (std::is_floating_point_v<T>)
      x = static_cast<T>(std::stod(v, &used));
    else
      x = static_cast<T>(std::stoll(v, &used));
    HMR_REQUIRE(used == v.size(), "vae: {} expects a number, got '{}'", key, v);
    return x;
  } catch (const std::logic_error&) {
    input_error("vae: {} expects a number, got '{}'", key, v);
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

// ---- parameters -------------------------------------------------------------------------------
std::vector<ParamInfo> param_layout(const VaeConfig& c) {
  const NetPlan p = make_plan(c);
  std::vector<ParamInfo> out;
  auto add = [&](std::string name, std::vector<std::int64_t> shape, std::size_t off) {
    ParamInfo i;
    i.name = std::move(name);
    i.size = 1;
    for (auto s : shape) i.size *= static_cast<std::size_t>(s);
    i.shape = std::move(shape);
    i.offset = off;
    out.push_back(std::move(i));
  };
  auto add_layer = [&](const std::string& prefix, const DenseLayer& l) {
    add(prefix + ".weight", {l.out, l.in}, l.w);
    add(prefix + ".bias", {l.out}, l.b);
  };
  // nn.Sequential numbering: Linear at even indices, the activation module in between.
  for (std::size_t i = 0; i < p.enc.size(); ++i) add_layer(fmt::format("encoder.{}", 2 * i), p.enc[i]);
  const std::int64_t L = c.latent, H = p.head.in;
  add("fc_mu.weight", {L, H}, p.head.w);
  add("fc_mu.bias", {L}, p.head.b);
  add("fc_logvar.weight", {L, H}, p.head.w + static_cast<std::size_t>(L * H));
  add("fc_logvar.bias", {L}, p.head.b + static_cast<std::size_t>(L));
  for (std::size_t i = 0; i < p.dec.size(); ++i) add_layer(fmt::format("decoder.{}", 2 * i), p.dec[i]);
  return out;
}

std::size_t param_count(const VaeConfig& c) { return make_plan(c).n_params; }

const ParamInfo& VaeModel::find(const std::string& name) const {
  for (const auto& p : layout)
    if (p.name == name) return p;
  input_error("vae model: no tensor named '{}'", name);
}

VaeModel init_vae(const VaeConfig& c, std::uint64_t seed) {
  c.validate();
  HMR_REQUIRE(c.input_dim > 0, "vae: input_dim must be known to initialise a model");
  VaeModel m;
  m.config = c;
  m.layout = param_layout(c);
  m.params.assign(param_count(c), 0.0f);
  // torch.nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in) for
  // the weight, and the bias uses the same bound. Tensors are filled in state_dict order.
  std::mt19937_64 rng(seed);
  for (const auto& p : m.layout) {
    const std::int64_t fan_in = p.name.ends_with(".weight") ? p.shape[1] : 0;
    const ParamInfo& w = p.name.ends_with(".bias") ? m.find(p.name.substr(0, p.name.size() - 4) + "weight") : p;
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in ? fan_in : w.shape[1]));
    for (std::size_t i = 0; i < p.size; ++i) {
      const double u = static_cast<double>(rng() >> 11) * 0x1p-53;  // [0, 1)
      m.params[p.offset + i] = static_cast<float>((2.0 * u - 1.0) * bound);
    }
  }
  return m;
}

// ---- training ---------------------------------------------------------------------------------
namespace {

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {  // splitmix64 of a combined key
  std::uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E5Full;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::vector<std::int32_t> permutation(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int32_t> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  std::mt19937_64 rng(seed);
  for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates, spelled out so every platform agrees
    const auto j = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(i + 1));
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
  }
  return p;
}

Matrix take_rows(const Matrix& x, const std::vector<std::int32_t>& idx, std::size_t from, std::size_t to) {
  Matrix out(static_cast<std::int64_t>(to - from), x.cols());
  for (std::size_t i = from; i < to; ++i)
    std::copy(x.row(idx[i]), x.row(idx[i]) + x.cols(), out.row(static_cast<std::int64_t>(i - from)));
  return out;
}

void check_features(const Matrix& x, const char* what) {
  HMR_REQUIRE(x.rows() > 0 && x.cols() > 0, "{}: empty feature matrix ({} x {})", what, x.rows(), x.cols());
  std::int64_t r = 0, c = 0;
  HMR_REQUIRE(all_finite(x, &r, &c), "{}: non-finite feature value at row {}, column {}", what, r, c);
}

// Loss terms (sums over rows, double) from h = [mu | logvar] and decoder logits.
LossTerms host_loss(const NetPlan& p, const Matrix& x, const Matrix& h, const Matrix& logits, float beta) {
  LossTerms t;
  const int L = p.latent;
  for (std::int64_t r = 0; r < x.rows(); ++r) {
    for (int j = 0; j < L; ++j) {
      const double mu = h(r, j), lv = h(r, L + j);
      t.kl += std::max(static_cast<double>(p.free_bits), -0.5 * (1.0 + lv - mu * mu - std::exp(lv)));
    }
    for (std::int64_t c = 0; c < x.cols(); ++c) {
      const double a = logits(r, c), xv = x(r, c);
      if (p.loss == Loss::bce) {
        t.recon += std::max(a, 0.0) - a * xv + std::log1p(std::exp(-std::abs(a)));
      } else {
        const double o = p.output == Output::sigmoid ? 1.0 / (1.0 + std::exp(-a)) : a;
        t.recon += (o - xv) * (o - xv);
      }
    }
  }
  const double n = static_cast<double>(x.rows());
  t.recon /= n;
  t.kl /= n;
  t.total = t.recon + static_cast<double>(beta) * t.kl;
  return t;
}

Matrix latent_part(const Matrix& h, int latent, int which) {  // 0: mu, 1: logvar
  Matrix out(h.rows(), latent);
  for (std::int64_t r = 0; r < h.rows(); ++r)
    std::copy(h.row(r) + which * latent, h.row(r) + (which + 1) * latent, out.row(r));
  return out;
}

}  // namespace

VaeModel train_vae(Backend& backend, const Matrix& x, const VaeConfig& config_in, TrainReport* report,
                   const EpochCallback& on_epoch) {
  NvtxRange range("vae/train");
  check_features(x, "vae train");
  VaeConfig cfg = config_in;
  HMR_REQUIRE(cfg.input_dim == 0 || cfg.input_dim == x.cols(),
              "vae train: the configuration says input_dim {}, the features have {} columns", cfg.input_dim, x.cols());
  cfg.input_dim = static_cast<int>(x.cols());
  cfg.validate();
  HMR_REQUIRE(cfg.loss != Loss::bce ||
                  std::all_of(x.vec().begin(), x.vec().end(), [](float v) { return v >= 0.0f && v <= 1.0f; }),
              "vae train: loss 'bce' needs features in [0, 1]");
  HMR_REQUIRE(!(cfg.loss == Loss::bce && cfg.standardize),
              "vae train: loss 'bce' compares with the raw [0, 1] features; set standardize = false");

  // Validation split (seeded), then the scaler is fitted on the training rows only.
  const std::int64_t n = x.rows();
  std::int64_t n_val = cfg.val_fraction > 0.0f ? static_cast<std::int64_t>(std::floor(cfg.val_fraction * n)) : 0;
  if (cfg.val_fraction > 0.0f && n_val == 0 && n >= 2) n_val = 1;
  const std::int64_t n_train = n - n_val;
  HMR_REQUIRE(n_train > 0, "vae train: no training rows left after holding out {} for validation", n_val);
  HMR_REQUIRE(cfg.batch <= n_train, "vae train: batch {} is larger than the {} training rows", cfg.batch, n_train);
  Matrix train, val;
  if (n_val > 0) {
    const auto split = permutation(n, mix(cfg.seed, 0x5EED));
    train = take_rows(x, split, static_cast<std::size_t>(n_val), static_cast<std::size_t>(n));
    val = take_rows(x, split, 0, static_cast<std::size_t>(n_val));
  } else {
    train = x;
  }

  VaeModel model = init_vae(cfg, cfg.seed);
  if (cfg.standardize) {
    model.standardized = true;
    model.scaler = prep::fit_scaler(backend, train);
    train = prep::apply_scaler(backend, model.scaler, train);
    if (n_val > 0) val = prep::apply_scaler(backend, model.scaler, val);
  }

  auto engine = make_engine(backend, cfg);
  engine->set_params(model.params);
  engine->set_data(train);
  const NetPlan plan = make_plan(cfg);

  TrainReport rep;
  rep.backend = backend.name();
  rep.n_train = n_train;
  rep.n_val = n_val;
  double best_val = INFINITY;
  int since_best = 0;
  std::vector<float> best_params;
  Stopwatch total;
  double train_seconds = 0.0;
  for (int e = 0; e < cfg.epochs; ++e) {
    Stopwatch w;
    EpochStats st;
    st.epoch = e;
    const double ramp = cfg.warmup_epochs > 0 ? std::min(1.0, (e + 1.0) / cfg.warmup_epochs) : 1.0;
    st.beta = cfg.beta * ramp;
    const auto perm = permutation(n_train, mix(cfg.seed, 1000 + static_cast<std::uint64_t>(e)));
    const StepLoss l =
        engine->epoch(perm, static_cast<float>(st.beta), mix(cfg.seed, 0xE95 + static_cast<std::uint64_t>(e)));
    st.recon = l.recon / static_cast<double>(l.rows);
    st.kl = l.kl / static_cast<double>(l.rows);
    st.total = st.recon + st.beta * st.kl;
    train_seconds += w.seconds();
    if (!std::isfinite(st.total))
      runtime_error("vae train: the loss became {} in epoch {} (lr {} too high? try clip_norm or a lower lr)", st.total,
                    e + 1, cfg.lr);
    if (n_val > 0) {
      const Matrix h = engine->encode(val);
      const Matrix logits = engine->decode_logits(latent_part(h, cfg.latent, 0));
      const LossTerms vt = host_loss(plan, val, h, logits, static_cast<float>(st.beta));
      st.val_total = vt.total;
      st.val_recon = vt.recon;
      st.val_kl = vt.kl;
      // Early stopping compares the full-beta objective so warm-up epochs are not favoured.
      const double crit = vt.recon + cfg.beta * vt.kl;
      if (crit < best_val) {
        best_val = crit;
        since_best = 0;
        rep.best_epoch = e;
        if (cfg.patience > 0) best_params = engine->params();
      } else {
        ++since_best;
      }
    }
    st.seconds = w.seconds();
    rep.epochs.push_back(st);
    spdlog::debug("vae epoch {}: loss {:.5g} (recon {:.5g}, kl {:.5g}, beta {:.3g}){}", e + 1, st.total, st.recon,
                  st.kl, st.beta, n_val > 0 ? fmt::format(", val {:.5g}", st.val_total) : std::string());
    if (on_epoch) on_epoch(st);
    if (cfg.patience > 0 && since_best >= cfg.patience) {
      rep.stopped_early = true;
      break;
    }
  }
  if (cfg.patience > 0 && !best_params.empty()) {
    model.params = best_params;
  } else {
    model.params = engine->params();
    rep.best_epoch = static_cast<int>(rep.epochs.size()) - 1;
  }
  rep.cuda_graph = engine->graph_used();
  rep.seconds = total.seconds();
  rep.samples_per_second =
      train_seconds > 0 ? static_cast<double>(n_train) * static_cast<double>(rep.epochs.size()) / train_seconds : 0.0;
  if (report) *report = rep;
  return model;
}

// ---- inference --------------------------------------------------------------------------------
namespace {

struct Prepared {
  std::unique_ptr<Engine> engine;
  Matrix x;  // standardised when the model is
};

Prepared prepare(Backend& backend, const VaeModel& m, const Matrix& x, const char* what) {
  check_features(x, what);
  HMR_REQUIRE(x.cols() == m.config.input_dim, "{}: the model expects {} features, the data has {} columns", what,
              m.config.input_dim, x.cols());
  HMR_REQUIRE(m.params.size() == param_count(m.config), "{}: the model has {} parameters, its architecture needs {}",
              what, m.params.size(), param_count(m.config));
  Prepared p;
  p.x = m.standardized ? prep::apply_scaler(backend, m.scaler, x) : x;
  p.engine = make_engine(backend, m.config);
  p.engine->set_params(m.params);
  return p;
}

Matrix to_output(const VaeModel& m, Matrix logits) {
  if (m.config.output == Output::sigmoid)
    for (auto& v : logits.vec()) v = 1.0f / (1.0f + std::exp(-v));
  if (m.standardized) return prep::inverse_scaler(m.scaler, logits);
  return logits;
}

}  // namespace

Matrix encode_mu(Backend& backend, const VaeModel& m, const Matrix& x) {
  NvtxRange range("vae/encode");
  auto p = prepare(backend, m, x, "vae encode");
  return latent_part(p.engine->encode(p.x), m.config.latent, 0);
}

Matrix encode_logvar(Backend& backend, const VaeModel& m, const Matrix& x) {
  NvtxRange range("vae/encode");
  auto p = prepare(backend, m, x, "vae encode");
  return latent_part(p.engine->encode(p.x), m.config.latent, 1);
}

Matrix sample_z(Backend& backend, const VaeModel& m, const Matrix& x, std::uint64_t seed) {
  NvtxRange range("vae/sample");
  auto p = prepare(backend, m, x, "vae sample");
  const Matrix h = p.engine->encode(p.x);
  const int L = m.config.latent;
  Matrix z(x.rows(), L);
  normal_noise(z.data(), z.size(), seed);  // eps, then z = mu + exp(0.5 logvar) * eps in place
  for (std::int64_t r = 0; r < z.rows(); ++r)
    for (int j = 0; j < L; ++j) z(r, j) = h(r, j) + std::exp(0.5f * h(r, L + j)) * z(r, j);
  return z;
}

Matrix reconstruct(Backend& backend, const VaeModel& m, const Matrix& x) {
  NvtxRange range("vae/reconstruct");
  auto p = prepare(backend, m, x, "vae reconstruct");
  const Matrix mu = latent_part(p.engine->encode(p.x), m.config.latent, 0);
  return to_output(m, p.engine->decode_logits(mu));
}

Matrix decode(Backend& backend, const VaeModel& m, const Matrix& z) {
  NvtxRange range("vae/decode");
  HMR_REQUIRE(z.rows() > 0 && z.cols() == m.config.latent, "vae decode: expected [n x {}] latents, got {} x {}",
              m.config.latent, z.rows(), z.cols());
  std::int64_t r = 0, c = 0;
  HMR_REQUIRE(all_finite(z, &r, &c), "vae decode: non-finite latent at row {}, column {}", r, c);
  auto engine = make_engine(backend, m.config);
  engine->set_params(m.params);
  return to_output(m, engine->decode_logits(z));
}

LossTerms evaluate_vae(Backend& backend, const VaeModel& m, const Matrix& x, float beta) {
  auto p = prepare(backend, m, x, "vae evaluate");
  const Matrix h = p.engine->encode(p.x);
  const Matrix logits = p.engine->decode_logits(latent_part(h, m.config.latent, 0));
  return host_loss(make_plan(m.config), p.x, h, logits, beta);
}

}  // namespace hmr::nn
