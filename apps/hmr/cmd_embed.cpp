// hmr embed — apply a trained VAE (.safetensors from `hmr train`, or a plain PyTorch state_dict of
// the same module) to features: the latent mean
// (mu), a sample z = mu + exp(0.5 logvar) * eps (seeded), logvar, or the reconstruction (decoder of
// mu, in the features' original units). Writes float32 .npy. Thin: parse, call hmr::nn, write.
#include <cstdio>

#include "cli.h"
#include "core/error.h"
#include "core/log.h"
#include "io/array.h"
#include "io/npy.h"
#include "io/output.h"
#include "nn/vae.h"

namespace hmr::app {
Matrix read_vae_features(const std::string& path, const std::string& columns, bool* sparse_text);  // cmd_train.cpp
}

namespace {

struct EmbedArgs {
  std::string model, features, what = "mu", columns = "mfcc", activation, output;
};

void setup(CLI::App& sub, hmr::app::Common& common) {
  auto a = std::make_shared<EmbedArgs>();
  sub.add_option("--model", a->model,
                 "model.safetensors written by hmr train, or a PyTorch state_dict of the same module saved with "
                 "safetensors.torch.save_file (docs/nn.md)")
      ->required();
  sub.add_option("--features", a->features,
                 "X.npy | X.npz:name | numeric X.csv | features.csv (Kaggle layout, --columns) | tfidf.npz (sparse)")
      ->required();
  hmr::app::add_choice(sub, "--what", a->what, "mu | z | logvar | recon", {"mu", "z", "logvar", "recon"});
  sub.add_option("--columns", a->columns, "features.csv: regex selecting the feature columns")->capture_default_str();
  sub.add_option("--activation", a->activation,
                 "plain state_dict only: hidden activation relu | identity | sigmoid | tanh (default relu)");
  sub.add_option("--output", a->output, "plain state_dict only: decoder output identity | sigmoid (default identity)");
  sub.footer(
      "--out Z.npy is required; --seed sets the noise of --what z. A state_dict without hmr's metadata gets its\n"
      "architecture from the tensor shapes and the activations from --activation / --output (a note says so).");
  sub.callback([a, &common] {
    HMR_REQUIRE(!common.out.empty(), "embed: --out Z.npy is required");
    hmr::io::OutputFiles outs({{common.out, "--out"}}, {a->model, hmr::io::array_file(a->features)});
    hmr::nn::LoadOptions lo;
    if (!a->activation.empty()) {
      lo.activation = hmr::nn::parse_activation(a->activation);
      lo.activation_given = true;
    }
    if (!a->output.empty()) {
      lo.output = hmr::nn::parse_output(a->output);
      lo.output_given = true;
    }
    const hmr::nn::VaeModel m = hmr::nn::load_safetensors(a->model, lo);
    // hmr's own files carry their activations; a flag that disagrees is said to be ignored.
    if ((lo.activation_given && lo.activation != m.config.activation) ||
        (lo.output_given && lo.output != m.config.output))
      spdlog::warn(
          "embed: note: {} states activation {} and output {} in its metadata; --activation / --output "
          "apply to plain state_dicts only and were ignored",
          a->model, hmr::nn::to_string(m.config.activation), hmr::nn::to_string(m.config.output));
    const hmr::Matrix x = hmr::app::read_vae_features(a->features, a->columns, nullptr);
    auto backend = common.backend();
    hmr::Matrix out;
    if (a->what == "mu")
      out = hmr::nn::encode_mu(*backend, m, x);
    else if (a->what == "z")
      out = hmr::nn::sample_z(*backend, m, x, common.seed);
    else if (a->what == "logvar")
      out = hmr::nn::encode_logvar(*backend, m, x);
    else
      out = hmr::nn::reconstruct(*backend, m, x);
    hmr::io::write_npy(outs.path(common.out), out);
    outs.commit();
    std::printf("%s: %lld x %lld -> %s\n", a->what.c_str(), static_cast<long long>(out.rows()),
                static_cast<long long>(out.cols()), common.out.c_str());
  });
}

HMR_COMMAND("embed", "apply a trained VAE: latent mu | z | logvar | reconstruction -> .npy", setup);

}  // namespace
