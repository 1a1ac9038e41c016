// nn/vae.cpp — the PyTorch-named parameter layout and initialisation, the training loop (seeded
// shuffles, KL warm-up, validation + early stopping) and inference. The configuration is in
// vae_config.cpp; the per-batch numerics in the engines (vae_engine_cpu.cpp with the cpu twins it
// runs, vae_cuda.cpp).
#include "nn/vae.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/log.h"
#include "core/nvtx.h"
#include "core/timer.h"
#include "nn/vae_net.h"

namespace hmr::nn {

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

namespace {

// The settings train_vae and resume_vae share: checked features and config with input_dim set.
VaeConfig checked_config(const Matrix& x, const VaeConfig& config_in, const char* what) {
  check_features(x, what);
  VaeConfig cfg = config_in;
  HMR_REQUIRE(cfg.input_dim == 0 || cfg.input_dim == x.cols(),
              "{}: the configuration says input_dim {}, the features have {} columns", what, cfg.input_dim, x.cols());
  cfg.input_dim = static_cast<int>(x.cols());
  cfg.validate();
  HMR_REQUIRE(cfg.loss != Loss::bce ||
                  std::all_of(x.vec().begin(), x.vec().end(), [](float v) { return v >= 0.0f && v <= 1.0f; }),
              "{}: loss 'bce' needs features in [0, 1]", what);
  HMR_REQUIRE(!(cfg.loss == Loss::bce && cfg.standardize),
              "{}: loss 'bce' compares with the raw [0, 1] features; set standardize = false", what);
  return cfg;
}

// The training loop from `model` (fresh: init_vae, no scaler yet; resumed: the saved model and
// its state). `cfg.epochs` epochs are run, numbered from state.epochs_done: the epoch number keys
// the shuffle, the noise and the warm-up, so a resumed run continues the longer run exactly.
VaeModel run_training(Backend& backend, const Matrix& x, const VaeConfig& cfg, VaeModel model, const TrainState* resume,
                      TrainReport* report, const EpochCallback& on_epoch, TrainState* state_out) {
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

  if (!resume && cfg.standardize) {
    model.standardized = true;
    model.scaler = prep::fit_scaler(backend, train);
  }
  if (model.standardized) {  // a resumed model keeps the statistics it was trained with
    train = prep::apply_scaler(backend, model.scaler, train);
    if (n_val > 0) val = prep::apply_scaler(backend, model.scaler, val);
  }

  auto engine = make_engine(backend, cfg);
  TrainReport rep;
  double best_val = INFINITY;
  int since_best = 0, best_val_epoch = -1;
  int e0 = 0;
  std::vector<float> best_params;
  if (resume) {
    if (resume->n_train != 0 && resume->n_train != n_train)
      spdlog::info(
          "vae resume: note: the run being resumed trained on {} rows, this one on {} (other data: not an "
          "exact continuation)",
          resume->n_train, n_train);
    engine->set_params(resume->last_params.empty() ? model.params : resume->last_params);
    engine->set_adam_state(resume->adam_m, resume->adam_v, resume->adam_step);
    e0 = resume->epochs_done;
    if (resume->best_epoch >= 0) {
      best_val = resume->best_val;
      since_best = resume->since_best;
      best_val_epoch = rep.best_epoch = resume->best_epoch;
      if (cfg.patience > 0 && n_val > 0) best_params = model.params;  // the model holds the best epoch's
    }
  } else {
    engine->set_params(model.params);
  }
  engine->set_data(train);
  const NetPlan plan = make_plan(cfg);

  rep.backend = backend.name();
  rep.n_train = n_train;
  rep.n_val = n_val;
  Stopwatch total;
  double train_seconds = 0.0;
  int e = e0;
  for (; e < e0 + cfg.epochs; ++e) {
    NvtxRange epoch_range("epoch");  // no "/" in the name: ncu --nvtx-include "hmr@epoch/" can match it
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
      // A setting, not a fault in hmr (exit 2): the steps were too large for these features.
      input_error(
          "vae train: the loss became {} in epoch {}: the learning rate lr = {:g} is too high for these features "
          "(lower lr: --lr or <vae section>.lr; or set clip_norm)",
          st.total, e + 1, cfg.lr);
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
        best_val_epoch = rep.best_epoch = e;
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
      ++e;
      break;
    }
  }
  std::vector<float> last = engine->params();
  const bool keep_best = cfg.patience > 0 && !best_params.empty();
  model.config = cfg;
  if (resume) model.config.epochs = e0 + cfg.epochs;  // as if one run had been asked for all of them
  if (keep_best) {
    model.params = best_params;
  } else {
    model.params = last;
    rep.best_epoch = e - 1;
  }
  if (state_out) {
    TrainState st;
    engine->adam_state(&st.adam_m, &st.adam_v, &st.adam_step);
    st.epochs_done = e;
    if (keep_best && last != model.params) st.last_params = std::move(last);
    st.best_epoch = best_val_epoch;
    st.best_val = best_val_epoch >= 0 ? best_val : 0.0;
    st.since_best = since_best;
    st.n_train = n_train;
    *state_out = std::move(st);
  }
  rep.cuda_graph = engine->graph_used();
  rep.seconds = total.seconds();
  rep.samples_per_second =
      train_seconds > 0 ? static_cast<double>(n_train) * static_cast<double>(rep.epochs.size()) / train_seconds : 0.0;
  if (report) *report = rep;
  return model;
}

}  // namespace

VaeModel train_vae(Backend& backend, const Matrix& x, const VaeConfig& config_in, TrainReport* report,
                   const EpochCallback& on_epoch, TrainState* state_out) {
  NvtxRange range("vae/train");
  const VaeConfig cfg = checked_config(x, config_in, "vae train");
  return run_training(backend, x, cfg, init_vae(cfg, cfg.seed), nullptr, report, on_epoch, state_out);
}

VaeModel resume_vae(Backend& backend, const Matrix& x, const VaeModel& model, const TrainState& state,
                    const VaeConfig& config_in, TrainReport* report, const EpochCallback& on_epoch,
                    TrainState* state_out) {
  NvtxRange range("vae/train");
  VaeConfig cfg = checked_config(x, config_in, "vae resume");
  const VaeConfig& mc = model.config;
  HMR_REQUIRE(cfg.input_dim == mc.input_dim && cfg.hidden == mc.hidden && cfg.latent == mc.latent &&
                  cfg.activation == mc.activation && cfg.output == mc.output,
              "vae resume: the settings give a {}-[{}]-{} {} / {} network, the model is {}-[{}]-{} {} / {}: the "
              "architecture of a resumed model cannot change",
              cfg.input_dim, fmt::join(cfg.hidden, ", "), cfg.latent, to_string(cfg.activation), to_string(cfg.output),
              mc.input_dim, fmt::join(mc.hidden, ", "), mc.latent, to_string(mc.activation), to_string(mc.output));
  cfg.standardize = model.standardized;
  const std::size_t n = param_count(cfg);
  HMR_REQUIRE(model.params.size() == n && state.adam_m.size() == n && state.adam_v.size() == n &&
                  (state.last_params.empty() || state.last_params.size() == n),
              "vae resume: the model has {} parameters and the optimizer state {}, the architecture needs {}",
              model.params.size(), state.adam_m.size(), n);
  HMR_REQUIRE(state.adam_step >= 0 && state.epochs_done >= 0, "vae resume: negative step or epoch count");
  return run_training(backend, x, cfg, model, &state, report, on_epoch, state_out);
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
