// nn/vae.h — the VAE engine's public API: a variational autoencoder (Kingma & Welling, ICLR 2014;
// beta-VAE: Higgins et al., ICLR 2017) built as the PyTorch module users know:
//
//   encoder = Sequential(Linear(D, h0), act, Linear(h0, h1), act, ...)      encoder.{2i}.weight [h_i, h_{i-1}]
//   fc_mu, fc_logvar = Linear(h_last, L)                                      fc_mu.weight [L, h_last]
//   decoder = Sequential(Linear(L, h_last), act, ..., Linear(h0, D)[, Sigmoid])  decoder.{2i}.weight
//   z = mu + exp(0.5 logvar) * eps,  eps ~ N(0, I)
//   loss = mean over the batch of [ recon(x, x_hat) + beta * sum_j max(free_bits, KL_j(q(z|x) || N(0, I))) ]
//          recon = sum over features of (x_hat - x)^2 (mse) or of BCE(x_hat, x) (bce, sigmoid output)
//
// Weights are initialised like torch.nn.Linear (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and
// bias), trained with Adam (PyTorch semantics, L2 weight decay coupled to the gradient) on seeded
// per-epoch shuffles, with optional KL warm-up, gradient-norm clipping and early stopping on a
// validation split. Dense inputs are standardised (StandardScaler, fitted on the training rows) and
// the statistics travel with the model; TF-IDF-like inputs are used as they are (standardize=false).
//
// Backends: cpu (OpenBLAS sgemm + OpenMP loops) and cuda/cuda-emu (cuBLAS + kernels/nn, CUDA Graph
// replay of the training step on real GPUs). Same seed + same backend -> identical weights.
// Models are saved as .safetensors with PyTorch names and shapes (see save_safetensors).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>
#include "core/backend.h"
#include "core/matrix.h"
#include "prep/standardize.h"

namespace hmr::nn {

enum class Activation { relu, identity, sigmoid, tanh };  // hidden layers
enum class Output { identity, sigmoid };                  // decoder output
enum class Loss { mse, bce };                             // reconstruction term

const char* to_string(Activation a);
const char* to_string(Output o);
const char* to_string(Loss l);
Activation parse_activation(const std::string& s);  // input error on an unknown name
Output parse_output(const std::string& s);
Loss parse_loss(const std::string& s);

struct VaeConfig {
  // architecture
  int input_dim = 0;                    // 0: taken from the training data
  std::vector<int> hidden = {128, 64};  // encoder widths; the decoder mirrors them
  int latent = 16;
  Activation activation = Activation::relu;
  Output output = Output::identity;
  Loss loss = Loss::mse;
  bool standardize = true;  // fit a StandardScaler on the training rows (dense features)
  // objective
  float beta = 1.0f;
  // Free bits (Kingma et al., NeurIPS 2016), per sample and latent dimension: the KL term is
  // sum_j max(free_bits, KL_j), so a dimension below free_bits nats costs a constant and gets no KL
  // gradient. Keeps the latent dimensions of a beta-VAE from collapsing to the prior; 0 = off.
  float free_bits = 0.5f;
  int warmup_epochs = 0;  // beta ramps linearly: beta * min(1, (epoch + 1) / warmup_epochs)
  // optimisation
  int epochs = 100;
  int batch = 64;
  float lr = 1e-3f;
  float adam_beta1 = 0.9f, adam_beta2 = 0.999f, adam_eps = 1e-8f;
  float weight_decay = 0.0f;  // L2 added to the gradient (torch.optim.Adam weight_decay)
  float clip_norm = 0.0f;     // max global gradient L2 norm; 0 = no clipping
  float val_fraction = 0.0f;  // rows held out (seeded) for validation; 0 = none
  int patience = 0;           // early stopping after this many epochs without val improvement; 0 = off
  std::uint64_t seed = 42;
  bool cuda_graph = true;  // replay the fixed-shape training step as a CUDA Graph (real GPUs only)
  // Wide, mostly-zero training rows (>= 256 columns, <= 10% non-zeros, e.g. TF-IDF) run the first
  // encoder layer sparse (CSR); false keeps it dense. Same results up to the summation order.
  bool sparse_input = true;

  // Throws an input error naming the field when a value is impossible.
  void validate() const;
};

// Reads the keys above (same names; `hidden` is an array, enums are strings, `adam_betas` may be a
// two-element array) from a TOML table; keys not present keep their value in `base`. Unknown keys
// are an input error (a typo should not silently train the default model).
VaeConfig vae_config_from_toml(const toml::table& t, VaeConfig base = {});
VaeConfig vae_config_from_file(const std::filesystem::path& path, VaeConfig base = {});  // [vae] table or root
// `key=value` override (the --set syntax), e.g. "hidden=512,256", "loss=bce", "beta=4".
void apply_override(VaeConfig& c, const std::string& key, const std::string& value);
// The resolved configuration as a TOML [vae] table (for config.toml in experiment outputs).
std::string to_toml(const VaeConfig& c);

// One tensor of the model in the flat parameter buffer.
struct ParamInfo {
  std::string name;                  // PyTorch state_dict name, e.g. "encoder.0.weight"
  std::vector<std::int64_t> shape;   // [out, in] or [out]
  std::size_t offset = 0, size = 0;  // in floats, within VaeModel::params
};

// The tensors of an architecture, in state_dict order, with their place in the flat buffer.
// (The flat buffer keeps fc_mu and fc_logvar weights adjacent so both heads are one GEMM.)
std::vector<ParamInfo> param_layout(const VaeConfig& c);
std::size_t param_count(const VaeConfig& c);

struct VaeModel {
  VaeConfig config;               // architecture + the hyper-parameters it was trained with
  std::vector<ParamInfo> layout;  // param_layout(config)
  std::vector<float> params;      // all tensors, one flat float32 buffer
  bool standardized = false;
  prep::Scaler scaler;  // [input_dim] each when standardized

  const ParamInfo& find(const std::string& name) const;  // input error if absent
  int input_dim() const { return config.input_dim; }
  int latent_dim() const { return config.latent; }
};

// A freshly initialised model (torch.nn.Linear default init from `seed`); input_dim must be set.
VaeModel init_vae(const VaeConfig& c, std::uint64_t seed);

struct EpochStats {
  int epoch = 0;
  double beta = 0;                                     // the warm-up beta used this epoch
  double total = 0, recon = 0, kl = 0;                 // per-sample means over the epoch's batches
  double val_total = -1, val_recon = -1, val_kl = -1;  // -1 without a validation split
  double seconds = 0;
};

struct TrainReport {
  std::string backend;
  std::vector<EpochStats> epochs;
  int best_epoch = -1;  // epoch whose weights were kept (early stopping), else the last
  bool stopped_early = false;
  std::int64_t n_train = 0, n_val = 0;
  bool cuda_graph = false;  // whether steps were replayed from a captured graph
  double seconds = 0;
  double samples_per_second = 0;  // training samples processed / training seconds
};

using EpochCallback = std::function<void(const EpochStats&)>;

// Trains a VAE on x [n x d] (float32, finite). config.input_dim 0 or d. Throws input errors for
// empty data, non-finite values, a batch larger than the training rows, bad settings.
// state_out (optional) receives what resume_vae needs to continue the run.
struct TrainState;
VaeModel train_vae(Backend& backend, const Matrix& x, const VaeConfig& config, TrainReport* report = nullptr,
                   const EpochCallback& on_epoch = {}, TrainState* state_out = nullptr);

// Inference. x [n x input_dim] in the original units (the model's scaler is applied).
Matrix encode_mu(Backend& backend, const VaeModel& m, const Matrix& x);                     // [n x latent]
Matrix encode_logvar(Backend& backend, const VaeModel& m, const Matrix& x);                 // [n x latent]
Matrix sample_z(Backend& backend, const VaeModel& m, const Matrix& x, std::uint64_t seed);  // mu + std * eps
Matrix reconstruct(Backend& backend, const VaeModel& m, const Matrix& x);  // decoder(mu), original units
Matrix decode(Backend& backend, const VaeModel& m, const Matrix& z);       // [n x input_dim], original units

// Per-sample loss terms of a model on data (z = mu, no sampling): the validation objective.
struct LossTerms {
  double total = 0, recon = 0, kl = 0;
};
LossTerms evaluate_vae(Backend& backend, const VaeModel& m, const Matrix& x, float beta);

// .safetensors (https://huggingface.co/docs/safetensors): F32 tensors named and shaped as the
// PyTorch module above, then, when standardised, the scaler statistics as tensors "scaler.mean"
// and "scaler.scale" [input_dim]; __metadata__ holds "format": "pt", "hmr.arch" (JSON: input_dim,
// hidden, latent, activation, output), "hmr.loss", "hmr.beta", "hmr.free_bits" (absent: 0),
// "hmr.config" (the TOML) and "hmr.standardized". Writes atomically.
void save_safetensors(const std::filesystem::path& path, const VaeModel& m);

// What a plain PyTorch state_dict (no hmr metadata) cannot say: the architecture comes from the
// tensor shapes, these settings from here (hmr embed's --activation / --output). Ignored for
// files written by hmr. Each assumption is logged as a "note:" line.
struct LoadOptions {
  Activation activation = Activation::relu;
  Output output = Output::identity;
  bool activation_given = false, output_given = false;  // false: the default above, said in the note
};

// Reads a model written by hmr (its metadata gives the architecture; scaler statistics from the
// scaler.* tensors or, in files written before them, the JSON metadata "hmr.scaler_mean" /
// "hmr.scaler_scale") or a plain state_dict of the module above (torch's save_file(state_dict):
// encoder.N.weight/bias, fc_mu.*, fc_logvar.* (or fc_var.*), decoder.N.weight/bias, optionally
// scaler.mean/scale, all optionally under a "module." prefix; docs/nn.md). Tensors F32, F64, F16
// or BF16, converted to float32 once. Strict: every expected tensor present with its shape, no
// extra tensors, offsets inside the file, finite values; a one-line input error otherwise.
VaeModel load_safetensors(const std::filesystem::path& path, const LoadOptions& opt = {});
// The same from the bytes of a model file in memory; `where` names it in messages.
VaeModel parse_safetensors(std::string_view bytes, const std::string& where, const LoadOptions& opt = {});

// ---- resuming training (hmr train --resume) ----------------------------------------------------
// Where a training run stopped: Adam's moments and step count in the flat-buffer order of
// VaeModel::params, the epochs done (they key each epoch's shuffle, noise and warm-up beta, so no
// generator state is needed beyond the seed), and the early-stopping state. Continuing from it
// with the same data, settings and backend gives the bits one longer run gives.
struct TrainState {
  std::vector<float> adam_m, adam_v;  // [param_count]
  std::int64_t adam_step = 0;         // Adam's t: steps taken
  int epochs_done = 0;
  // The weights after the last epoch when the model holds an earlier epoch's (early stopping kept
  // the best one); empty when they are the model's.
  std::vector<float> last_params;
  double best_val = 0;  // best full-beta validation loss so far (valid when best_epoch >= 0)
  int best_epoch = -1, since_best = 0;
  std::int64_t n_train = 0;  // training rows of the run (a resume on other data is noted)
};

// Trains `epochs` (config.epochs) more epochs from `model` and `state` on x (the same features
// as before for an exact continuation; the model's scaler is reused, not refitted). The config's
// architecture must be the model's. Epoch numbers in the report continue from state.epochs_done.
VaeModel resume_vae(Backend& backend, const Matrix& x, const VaeModel& model, const TrainState& state,
                    const VaeConfig& config, TrainReport* report = nullptr, const EpochCallback& on_epoch = {},
                    TrainState* state_out = nullptr);

// The optimizer file beside a model (MODEL.optim.safetensors for MODEL.safetensors): tensors
// "optimizer.exp_avg" and "optimizer.exp_avg_sq" (F32 [param_count], flat order) and, with early
// stopping, "optimizer.last_params"; metadata "hmr.optimizer" = "adam", the step, epochs done,
// early-stopping state and "hmr.model_fnv1a" (a hash of the model's weights: a state saved for
// another model is refused).
std::filesystem::path optimizer_path_for(const std::filesystem::path& model_path);
void save_train_state(const std::filesystem::path& path, const VaeModel& m, const TrainState& s);
TrainState load_train_state(const std::filesystem::path& path, const VaeModel& m);
TrainState parse_train_state(std::string_view bytes, const std::string& where, const VaeModel& m);

}  // namespace hmr::nn
