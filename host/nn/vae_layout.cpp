// nn/vae_layout.cpp — where each parameter of a VAE lives: the NetPlan (dense layers laid out in
// one flat buffer: encoder, the [mu; logvar] head, decoder, each weight [out x in] then its bias)
// and the PyTorch names and shapes of those tensors (encoder.0.weight, fc_mu.bias, ...). Kept apart
// from training so the model-file reader (safetensors.cpp) needs nothing else from the stage.
#include <algorithm>

#include "core/error.h"
#include "nn/vae_net.h"

namespace hmr::nn {

NetPlan make_plan(const VaeConfig& c) {
  NetPlan p;
  p.input_dim = c.input_dim;
  p.latent = c.latent;
  p.output = c.output;
  p.loss = c.loss;
  p.free_bits = c.free_bits;
  std::size_t off = 0;
  auto add = [&](int in, int out, Activation act) {
    DenseLayer l;
    l.in = in;
    l.out = out;
    l.act = act;
    l.w = off;
    off += static_cast<std::size_t>(in) * static_cast<std::size_t>(out);
    l.b = off;
    off += static_cast<std::size_t>(out);
    p.widest = std::max({p.widest, in, out});
    return l;
  };
  int prev = c.input_dim;
  for (int h : c.hidden) {
    p.enc.push_back(add(prev, h, c.activation));
    prev = h;
  }
  p.head = add(prev, 2 * c.latent, Activation::identity);  // [W_mu; W_logvar], [b_mu; b_logvar]
  prev = c.latent;
  for (auto it = c.hidden.rbegin(); it != c.hidden.rend(); ++it) {
    p.dec.push_back(add(prev, *it, c.activation));
    prev = *it;
  }
  p.dec.push_back(add(prev, c.input_dim, Activation::identity));  // logits; output act in the loss
  p.n_params = off;
  return p;
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

}  // namespace hmr::nn
