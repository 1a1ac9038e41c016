// VAE model files and configuration: .safetensors save -> load is exact (weights, architecture,
// scaler), strict loading rejects truncated or mismatched files with clear errors, and the
// PyTorch evidence fixture (tests/fixtures/nn, made by tests/fixtures/gen_nn.py) shows a file
// hmr wrote loads into torch with load_state_dict(strict=True) and gives the same latents.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "core/error.h"
#include "io/npy.h"
#include "nn/vae.h"
#include "nn/vae_net.h"
#include "support/backends.h"
#include "support/compare.h"

namespace {

using namespace hmr::nn;
namespace fs = std::filesystem;

fs::path temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("hmr_nn_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

VaeModel sample_model(bool standardized) {
  VaeConfig c;
  c.input_dim = 9;
  c.hidden = {7, 5};
  c.latent = 3;
  c.activation = Activation::tanh;
  c.output = Output::sigmoid;
  c.loss = Loss::bce;
  c.beta = 4.0f;
  c.epochs = 17;
  c.lr = 3.3e-4f;
  VaeModel m = init_vae(c, 77);
  if (standardized) {
    m.standardized = true;
    std::mt19937 rng(5);
    std::normal_distribution<float> g;
    for (int i = 0; i < 9; ++i) {
      m.scaler.mean.push_back(g(rng) * 1e3f);
      m.scaler.scale.push_back(std::abs(g(rng)) * 1e-3f + 1e-7f);
    }
  }
  return m;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_all(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

std::string error_of(const fs::path& p) {
  try {
    load_safetensors(p);
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  return "(no error)";
}

TEST(VaeSafetensors, SaveLoadRoundTripIsExact) {
  for (bool std_ : {false, true}) {
    const VaeModel m = sample_model(std_);
    const fs::path p = temp_path("roundtrip.safetensors");
    save_safetensors(p, m);
    const VaeModel back = load_safetensors(p);
    EXPECT_TRUE(hmr::test::bitwise_equal(back.params, m.params));
    EXPECT_EQ(back.standardized, std_);
    EXPECT_TRUE(hmr::test::bitwise_equal(back.scaler.mean, m.scaler.mean));
    EXPECT_TRUE(hmr::test::bitwise_equal(back.scaler.scale, m.scaler.scale));
    EXPECT_EQ(back.config.hidden, m.config.hidden);
    EXPECT_EQ(back.config.input_dim, 9);
    EXPECT_EQ(back.config.latent, 3);
    EXPECT_EQ(back.config.activation, Activation::tanh);
    EXPECT_EQ(back.config.output, Output::sigmoid);
    EXPECT_EQ(back.config.loss, Loss::bce);
    EXPECT_EQ(back.config.beta, 4.0f);
    EXPECT_EQ(back.config.epochs, 17);
    EXPECT_EQ(back.config.lr, 3.3e-4f);
    // The file layout: 8-byte length, header padded to 8, data = all tensors back to back.
    const std::string bytes = read_all(p);
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
    EXPECT_EQ(n % 8, 0u);
    // The scaler statistics are two more F32 tensors [9] after the model's (issue 18).
    EXPECT_EQ(bytes.size(), 8 + n + 4 * m.params.size() + (std_ ? 2 * 4 * 9 : 0));
    EXPECT_EQ(bytes.find("hmr.scaler_mean"), std::string::npos) << "statistics still written as JSON";
    if (std_) {
      EXPECT_NE(bytes.find("\"scaler.mean\":{\"dtype\":\"F32\",\"shape\":[9]"), std::string::npos);
    }
    EXPECT_NE(bytes.find("\"encoder.0.weight\":{\"dtype\":\"F32\",\"shape\":[7,9]"), std::string::npos);
  }
}

TEST(VaeSafetensors, StrictLoadingRejectsBrokenFiles) {
  const VaeModel m = sample_model(true);
  const fs::path good = temp_path("good.safetensors"), bad = temp_path("bad.safetensors");
  save_safetensors(good, m);
  const std::string bytes = read_all(good);

  write_all(bad, bytes.substr(0, bytes.size() - 10));
  EXPECT_NE(error_of(bad).find("truncated"), std::string::npos) << error_of(bad);
  write_all(bad, bytes.substr(0, 5));
  EXPECT_NE(error_of(bad).find("truncated"), std::string::npos) << error_of(bad);
  write_all(bad, bytes.substr(0, 40));
  EXPECT_NE(error_of(bad).find("truncated"), std::string::npos) << error_of(bad);

  // The file with `from` replaced by `to` is rejected with a message that contains `why`.
  auto rejects_edit = [&](const std::string& from, const std::string& to, const std::string& why) {
    std::string s = bytes;
    const auto at = s.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    s.replace(at, from.size(), to);
    write_all(bad, s);
    EXPECT_NE(error_of(bad).find(why), std::string::npos) << error_of(bad);
  };
  rejects_edit("\"shape\":[7,9]", "\"shape\":[9,7]", "shape [9, 7]");
  rejects_edit("\"F32\"", "\"I32\"", "dtype I32");  // F16, BF16 and F64 are read (converted)
  rejects_edit("\"fc_mu.bias\"", "\"fc_mu.bian\"", "'fc_mu.bias' is missing");
  rejects_edit("\"hmr.arch\"", "\"hmr.arcx\"", "hmr.arch");

  EXPECT_NE(error_of(temp_path("absent.safetensors")).find("cannot open"), std::string::npos);
}

TEST(VaeConfigToml, ParsesOverridesAndRejectsUnknownKeys) {
  const toml::table t = toml::parse(R"(
    hidden = [512, 256]
    latent = 32
    activation = "relu"
    output = "sigmoid"
    loss = "bce"
    beta = 4.0
    warmup_epochs = 10
    epochs = 50
    batch = 128
    lr = 0.0005
    adam_betas = [0.8, 0.99]
    weight_decay = 1e-5
    val_fraction = 0.1
    patience = 5
    clip_norm = 1.0
    standardize = false
    seed = 7
  )");
  VaeConfig c = vae_config_from_toml(t);
  EXPECT_EQ(c.hidden, (std::vector<int>{512, 256}));
  EXPECT_EQ(c.latent, 32);
  EXPECT_EQ(c.output, Output::sigmoid);
  EXPECT_EQ(c.loss, Loss::bce);
  EXPECT_EQ(c.beta, 4.0f);
  EXPECT_EQ(c.warmup_epochs, 10);
  EXPECT_EQ(c.batch, 128);
  EXPECT_EQ(c.lr, 0.0005f);
  EXPECT_EQ(c.adam_beta1, 0.8f);
  EXPECT_EQ(c.adam_beta2, 0.99f);
  EXPECT_EQ(c.weight_decay, 1e-5f);
  EXPECT_EQ(c.patience, 5);
  EXPECT_FALSE(c.standardize);
  EXPECT_EQ(c.seed, 7u);
  c.validate();
  apply_override(c, "hidden", "64,32,16");
  apply_override(c, "vae.beta", "2");
  EXPECT_EQ(c.hidden, (std::vector<int>{64, 32, 16}));
  EXPECT_EQ(c.beta, 2.0f);
  EXPECT_THROW(apply_override(c, "hiden", "3"), hmr::Error);
  EXPECT_THROW(apply_override(c, "latent", "three"), hmr::Error);
  EXPECT_THROW(apply_override(c, "loss", "l1"), hmr::Error);
  // to_toml -> parse gives the same configuration back.
  const VaeConfig back = vae_config_from_toml(*toml::parse(to_toml(c))["vae"].as_table());
  EXPECT_EQ(to_toml(back), to_toml(c));
  VaeConfig bad = c;
  bad.output = Output::identity;  // bce needs probabilities
  EXPECT_THROW(bad.validate(), hmr::Error);
  bad = c;
  bad.patience = 3;
  bad.val_fraction = 0;
  EXPECT_THROW(bad.validate(), hmr::Error);
}

// PyTorch interoperability evidence (tests/fixtures/gen_nn.py): torch loaded the committed
// hmr-written model strictly and computed mu and the reconstruction of the committed inputs.
TEST(VaeSafetensors, TorchLoadsHmrFilesAndAgrees) {
  const std::string model = hmr::test::fixture("nn/tiny_vae.safetensors");
  if (!fs::exists(model)) GTEST_SKIP() << "fixture " << model << " absent";
  const VaeModel m = load_safetensors(model);
  const hmr::Matrix x = hmr::io::read_matrix(hmr::test::fixture("nn/tiny_x.npy"));
  const hmr::Matrix mu_torch = hmr::io::read_matrix(hmr::test::fixture("nn/tiny_mu_torch.npy"));
  const hmr::Matrix rec_torch = hmr::io::read_matrix(hmr::test::fixture("nn/tiny_recon_torch.npy"));
  auto cpu = hmr::make_cpu_backend();
  const hmr::Matrix mu = encode_mu(*cpu, m, x);
  const hmr::Matrix rec = reconstruct(*cpu, m, x);
  EXPECT_ALLCLOSE(std::span<const float>(mu.vec()), std::span<const float>(mu_torch.vec()), 1e-5, 1e-4);
  EXPECT_ALLCLOSE(std::span<const float>(rec.vec()), std::span<const float>(rec_torch.vec()), 1e-4, 1e-4);
}

// Gradients and Adam steps against PyTorch autograd + torch.optim.Adam on the same weights,
// batch and noise (fixture from gen_nn.py).
TEST(VaeTorchParity, GradientsAndAdamStepsMatchPyTorch) {
  const std::string dir = hmr::test::fixture("nn/torch_step");
  if (!fs::exists(dir + "/init.safetensors")) GTEST_SKIP() << "fixture " << dir << " absent";
  const VaeModel m = load_safetensors(dir + "/init.safetensors");
  const VaeModel after = load_safetensors(dir + "/after3.safetensors");
  const hmr::Matrix x = hmr::io::read_matrix(dir + "/x.npy");
  const hmr::Matrix eps = hmr::io::read_matrix(dir + "/eps.npy");
  const hmr::Matrix loss_torch = hmr::io::read_matrix(dir + "/loss.npy");  // [recon_mean, kl_mean]
  const hmr::Matrix grad_torch = hmr::io::read_matrix(dir + "/grad.npy");  // flat, in hmr layout order
  auto engine = hmr::nn::make_cpu_engine(m.config);
  engine->set_params(m.params);
  const auto l = engine->step(x, eps, m.config.beta, false);
  EXPECT_NEAR(l.recon / x.rows(), loss_torch.vec()[0], 1e-5 * std::abs(loss_torch.vec()[0]));
  EXPECT_NEAR(l.kl / x.rows(), loss_torch.vec()[1], 1e-5 * std::abs(loss_torch.vec()[1]));
  const auto g = engine->grads();
  EXPECT_ALLCLOSE(std::span<const float>(g), std::span<const float>(grad_torch.vec()), 1e-6, 1e-4);
  engine->set_params(m.params);
  for (int s = 0; s < 3; ++s) engine->step(x, eps, m.config.beta, true);
  EXPECT_ALLCLOSE(std::span<const float>(engine->params()), std::span<const float>(after.params), 1e-6, 1e-4);
}

}  // namespace

// The file with its JSON header rewritten by `edit` (the 8-byte length updated to match).
std::string with_header(const std::string& bytes, const std::function<void(std::string&)>& edit) {
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  std::string header = bytes.substr(8, n);
  edit(header);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + bytes.substr(8 + n);
}

std::string parse_error_of(const std::string& bytes) {
  try {
    parse_safetensors(bytes, "mem.safetensors");
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  return "(no error)";
}

TEST(VaeSafetensors, InMemoryParseIsTheFileReader) {
  const VaeModel m = sample_model(true);
  const fs::path p = temp_path("mem.safetensors");
  save_safetensors(p, m);
  const VaeModel back = parse_safetensors(read_all(p), "mem.safetensors");
  EXPECT_TRUE(hmr::test::bitwise_equal(back.params, m.params));
  EXPECT_EQ(back.layout.size(), m.layout.size());
}

TEST(VaeSafetensors, LyingArchitectureIsRefusedBeforeAllocating) {
  // Issue 17: the metadata's architecture sized the parameter buffer before any tensor was
  // checked; input_dim 2^30 in a 2 KiB file asked for tens of gigabytes (and 2 * latent near
  // 2^31 overflowed int). Both are refused from the size of the data section alone.
  const VaeModel m = sample_model(false);
  const fs::path p = temp_path("liar.safetensors");
  save_safetensors(p, m);
  const std::string bytes = read_all(p);
  const auto replace = [](const std::string& from, const std::string& to) {
    return [from, to](std::string& h) {
      const auto at = h.find(from);
      ASSERT_NE(at, std::string::npos) << from;
      h.replace(at, from.size(), to);
    };
  };
  for (const auto& [from, to] :
       {std::pair<std::string, std::string>{"\\\"input_dim\\\":9", "\\\"input_dim\\\":1073741824"},
        std::pair<std::string, std::string>{"\\\"latent\\\":3", "\\\"latent\\\":2147483647"},
        std::pair<std::string, std::string>{"\\\"hidden\\\":[7,5]", "\\\"hidden\\\":[2147483647,2147483647]"}}) {
    // Past 2^31 - 1 parameters VaeConfig::validate refuses first; either way nothing was allocated.
    const std::string e = parse_error_of(with_header(bytes, replace(from, to)));
    EXPECT_TRUE(e.find("needs more parameters than the") != std::string::npos ||
                e.find("more than the 2147483647 hmr supports") != std::string::npos)
        << to << ": " << e;
  }
  // Under that limit, the data section is what gives the lie away.
  {
    const std::string e =
        parse_error_of(with_header(bytes, replace("\\\"input_dim\\\":9", "\\\"input_dim\\\":100000")));
    EXPECT_NE(e.find("needs more parameters than the"), std::string::npos) << e;
  }
  // Offsets past the data section, and offsets that disagree with the shape.
  EXPECT_NE(
      parse_error_of(with_header(bytes, replace("\"data_offsets\":[0,252]", "\"data_offsets\":[9999744,9999996]")))
          .find("truncated file"),
      std::string::npos);
  EXPECT_NE(parse_error_of(with_header(bytes, replace("\"data_offsets\":[0,252]", "\"data_offsets\":[0,248]")))
                .find("do not match its shape"),
            std::string::npos);
  // A header length beyond the file.
  std::string longer = bytes;
  longer[5] = 1;
  EXPECT_NE(parse_error_of(longer).find("truncated"), std::string::npos) << parse_error_of(longer);
}
