// Issue 18 part 6: models from PyTorch and resumed training.
//  * Plain state_dicts written by torch (tests/fixtures/gen_torch_state.py: safetensors.torch.save_file
//    of a module matching hmr's VAE, no metadata) load with the architecture from their shapes and
//    give torch's mu and reconstruction; F16 / BF16 / F64 tensors are converted; the other
//    nn.Sequential numbering, the "module." prefix and fc_var are read; broken shape chains are
//    one-line errors naming the tensor and the expected shape.
//  * Scaler statistics are tensors; a file with the older JSON statistics still loads (a
//    committed file written by hmr before, and one this test writes the old way).
//  * Training E1 + E2 epochs in one run equals E1 epochs, then resume_vae for E2 from the saved
//    optimizer file: bit for bit (cpu backend, same seed), also with warm-up, a validation split
//    with early stopping, clipping and a sparse first layer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "core/error.h"
#include "io/npy.h"
#include "nn/vae.h"
#include "support/backends.h"
#include "support/compare.h"

namespace {

using namespace hmr::nn;
namespace fs = std::filesystem;

fs::path temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("hmr_torch_state_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The file's JSON header and data section, and the file rebuilt from them.
std::pair<nlohmann::ordered_json, std::string> split(const std::string& bytes) {
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return {nlohmann::ordered_json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}
std::string join(const nlohmann::ordered_json& header, const std::string& data) {
  const std::string h = header.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((h.size() >> (8 * i)) & 0xFF);
  return out + h + data;
}

std::string parse_error_of(const std::string& bytes, const LoadOptions& o = {}) {
  try {
    parse_safetensors(bytes, "mem.safetensors", o);
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  return "(no error)";
}

std::string torch_state(const std::string& name) { return hmr::test::fixture("nn/torch_state/" + name); }

std::span<const float> span(const hmr::Matrix& m) { return std::span<const float>(m.vec()); }

// Acceptance: a state_dict saved by torch from a matching module loads and gives torch's mu.
TEST(VaeTorchState, PlainStateDictsGiveTorchsMu) {
  if (!fs::exists(torch_state("plain_f32.safetensors"))) GTEST_SKIP() << "fixtures absent (gen_torch_state.py)";
  const hmr::Matrix x = hmr::io::read_matrix(torch_state("x.npy"));
  auto cpu = hmr::make_cpu_backend();
  struct Case {
    std::string name;
    std::vector<int> hidden;
    int latent;
    LoadOptions opt;
    bool standardized;
  };
  LoadOptions tanh_sigmoid;
  tanh_sigmoid.activation = Activation::tanh;
  tanh_sigmoid.output = Output::sigmoid;
  tanh_sigmoid.activation_given = tanh_sigmoid.output_given = true;
  const std::vector<Case> cases = {{"plain_f32", {6, 5}, 3, {}, false},
                                   {"plain_f16", {6, 5}, 3, {}, false},
                                   {"plain_bf16", {6, 5}, 3, {}, false},
                                   {"plain_f64", {6, 5}, 3, {}, false},
                                   {"dropout", {6, 5}, 3, {}, false},
                                   {"nohidden", {}, 3, {}, false},
                                   {"dataparallel", {7, 4}, 4, tanh_sigmoid, true}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const VaeModel m = load_safetensors(torch_state(c.name + ".safetensors"), c.opt);
    EXPECT_EQ(m.config.input_dim, 8);
    EXPECT_EQ(m.config.hidden, c.hidden);
    EXPECT_EQ(m.config.latent, c.latent);
    EXPECT_EQ(m.config.activation, c.opt.activation);
    EXPECT_EQ(m.config.output, c.opt.output);
    EXPECT_EQ(m.standardized, c.standardized);
    const hmr::Matrix mu_torch = hmr::io::read_matrix(torch_state(c.name + "_mu.npy"));
    const hmr::Matrix rec_torch = hmr::io::read_matrix(torch_state(c.name + "_recon.npy"));
    // float32 sums in another order than torch's (F64: torch summed in double).
    EXPECT_ALLCLOSE(span(encode_mu(*cpu, m, x)), span(mu_torch), 1e-6, 1e-5);
    EXPECT_ALLCLOSE(span(reconstruct(*cpu, m, x)), span(rec_torch), 1e-6, 1e-5);
  }
}

TEST(VaeTorchState, BrokenStateDictsAreOneLineErrorsNamingTheTensor) {
  if (!fs::exists(torch_state("plain_f32.safetensors"))) GTEST_SKIP() << "fixtures absent (gen_torch_state.py)";
  const std::string bytes = read_all(torch_state("plain_f32.safetensors"));
  const auto [header, data] = split(bytes);
  // The file with header edited by `edit` is refused with a message containing `why`.
  auto refused = [&](const std::function<void(nlohmann::ordered_json&)>& edit, const std::string& why) {
    nlohmann::ordered_json h = header;
    edit(h);
    const std::string e = parse_error_of(join(h, data));
    EXPECT_NE(e.find(why), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  };
  const auto rename = [](const std::string& from, const std::string& to) {
    return [from, to](nlohmann::ordered_json& h) {
      h[to] = h[from];
      h.erase(from);
    };
  };
  const auto reshape = [](const std::string& name, std::vector<int> shape) {
    return [name, shape](nlohmann::ordered_json& h) { h[name]["shape"] = shape; };
  };
  // Same element count, wrong chain: the second encoder layer must take the first one's 6 outputs.
  refused(reshape("encoder.2.weight", {6, 5}), "tensor 'encoder.2.weight' has shape [6, 5], expected [6, 6]");
  refused(reshape("decoder.2.weight", {5, 6}), "tensor 'decoder.2.weight' has shape [5, 6], expected [6, 5]");
  refused(reshape("fc_logvar.weight", {5, 3}), "tensor 'fc_logvar.weight' has shape [5, 3], expected [3, 5]");
  refused(rename("fc_logvar.bias", "fc_logvar.bias2"), "tensor 'fc_logvar.bias' is missing (a 8-6-5-3 VAE");
  refused(rename("decoder.4.bias", "decoder.5.bias"), "'decoder.4' has a weight but no bias");
  refused(rename("fc_mu.weight", "mu.weight"), "no tensor 'fc_mu.weight'");
  refused(
      [](nlohmann::ordered_json& h) {
        h.erase("decoder.4.weight");
        h.erase("decoder.4.bias");
      },
      "the decoder has 2 Linear layers, a VAE whose encoder has 2 needs 3");
  refused([](nlohmann::ordered_json& h) { h["encoder.0.weight"]["dtype"] = "I32"; },
          "tensor 'encoder.0.weight' has dtype I32, expected F32 (or F64, F16, BF16)");
  // A tensor of another module (BatchNorm's running_mean) in 24 more bytes of data.
  {
    nlohmann::ordered_json h = header;
    h["encoder.0.running_mean"] = {{"dtype", "F32"}, {"shape", {6}}, {"data_offsets", {data.size(), data.size() + 24}}};
    const std::string e = parse_error_of(join(h, data + std::string(24, '\0')));
    EXPECT_NE(e.find("unexpected tensor 'encoder.0.running_mean'"), std::string::npos) << e;
  }
  // Two entries on the same bytes.
  refused([](nlohmann::ordered_json& h) { h["encoder.0.running_mean"] = h["encoder.0.bias"]; },
          "(overlapping entries)");
  // A NaN weight.
  {
    std::string d = data;
    const auto at = header["fc_mu.bias"]["data_offsets"][0].get<std::size_t>();
    const float nan = NAN;
    std::memcpy(d.data() + at + 4, &nan, 4);
    const std::string e = parse_error_of(join(header, d));
    EXPECT_NE(e.find("tensor 'fc_mu.bias' holds nan at element 1"), std::string::npos) << e;
  }
}

// Scaler statistics: tensors now; the JSON metadata of older files still read.
TEST(VaeSafetensors, OlderFilesWithJsonScalerStatisticsStillLoad) {
  // (a) committed: written by `hmr train` before this change (a copy of the first tiny_vae.safetensors).
  const std::string legacy = hmr::test::fixture("nn/legacy_json_scaler.safetensors");
  if (fs::exists(legacy)) {
    ASSERT_NE(read_all(legacy).find("hmr.scaler_mean"), std::string::npos) << "not an old-format file";
    const VaeModel m = load_safetensors(legacy);
    EXPECT_TRUE(m.standardized);
    auto cpu = hmr::make_cpu_backend();
    const hmr::Matrix x = hmr::io::read_matrix(hmr::test::fixture("nn/tiny_x.npy"));
    const hmr::Matrix mu_torch = hmr::io::read_matrix(hmr::test::fixture("nn/legacy_json_scaler_mu_torch.npy"));
    EXPECT_ALLCLOSE(span(encode_mu(*cpu, m, x)), span(mu_torch), 1e-5, 1e-4);
  }
  // (b) written the old way here: the scaler tensors taken out, the statistics as JSON arrays.
  VaeConfig c;
  c.input_dim = 5;
  c.hidden = {4};
  c.latent = 2;
  VaeModel m = init_vae(c, 9);
  m.standardized = true;
  m.scaler.mean = {1.5f, -2.25f, 1e-7f, 3e8f, 0.1f};
  m.scaler.scale = {0.3f, 7.0f, 1e-3f, 2.5e6f, 1.0f / 3.0f};
  const fs::path p = temp_path("new.safetensors");
  save_safetensors(p, m);
  auto [header, data] = split(read_all(p));
  ASSERT_TRUE(header.contains("scaler.mean") && header.contains("scaler.scale"));
  header.erase("scaler.mean");
  header.erase("scaler.scale");
  header["__metadata__"]["hmr.scaler_mean"] = "[1.5, -2.25, 1e-07, 300000000, 0.1]";
  header["__metadata__"]["hmr.scaler_scale"] = "[0.3, 7, 0.001, 2500000, 0.33333334]";
  const VaeModel back = parse_safetensors(join(header, data), "old.safetensors");
  EXPECT_TRUE(back.standardized);
  EXPECT_TRUE(hmr::test::bitwise_equal(back.scaler.mean, m.scaler.mean));
  EXPECT_TRUE(hmr::test::bitwise_equal(back.scaler.scale, m.scaler.scale));
  EXPECT_TRUE(hmr::test::bitwise_equal(back.params, m.params));
  // Statistics as tensors but the metadata says not standardised: refused, not guessed.
  auto [h2, d2] = split(read_all(p));
  h2["__metadata__"]["hmr.standardized"] = "false";
  EXPECT_NE(parse_error_of(join(h2, d2)).find("hmr.standardized = false"), std::string::npos);
}

// ---- resume ----------------------------------------------------------------------------------
// Bitwise, printing the worst element when not.
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  const auto eq = hmr::test::bitwise_equal(got, want);
  EXPECT_TRUE(eq) << what;
  if (!eq) {
    EXPECT_ALLCLOSE(std::span<const float>(got), std::span<const float>(want), 0.0, 0.0) << what;
  }
}

hmr::Matrix random_rows(std::int64_t n, std::int64_t d, double density, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  hmr::Matrix x(n, d);
  for (auto& v : x.vec()) v = u(rng) < density ? u(rng) : 0.0f;
  return x;
}

TEST(VaeResume, SplitRunEqualsOneRunBitForBit) {
  const std::uint64_t seed = hmr::test::test_seed(18);
  auto cpu = hmr::make_cpu_backend();
  struct Case {
    std::string name;
    VaeConfig cfg;
    hmr::Matrix x;
    int e1, e2;
  };
  std::vector<Case> cases;
  {
    Case c{"dense mse", {}, random_rows(90, 7, 1.0, seed), 3, 4};
    c.cfg.hidden = {8, 5};
    c.cfg.latent = 3;
    c.cfg.batch = 16;
    cases.push_back(c);
  }
  {  // warm-up straddling the split, clipping, weight decay, validation + early stopping
    Case c{"warmup val patience clip", {}, random_rows(90, 7, 1.0, seed + 1), 2, 6};
    c.cfg.hidden = {8};
    c.cfg.latent = 2;
    c.cfg.batch = 16;
    c.cfg.warmup_epochs = 5;
    c.cfg.clip_norm = 0.5f;
    c.cfg.weight_decay = 0.01f;
    c.cfg.val_fraction = 0.2f;
    c.cfg.patience = 2;
    c.cfg.lr = 0.02f;
    cases.push_back(c);
  }
  {  // wide, 3%-dense rows: the sparse first layer kept input-major, fused updates
    Case c{"sparse bce", {}, random_rows(64, 300, 0.03, seed + 2), 2, 3};
    c.cfg.hidden = {16};
    c.cfg.latent = 4;
    c.cfg.batch = 16;
    c.cfg.output = Output::sigmoid;
    c.cfg.loss = Loss::bce;
    c.cfg.standardize = false;
    cases.push_back(c);
  }
  for (auto& c : cases) {
    SCOPED_TRACE(c.name + ", seed " + std::to_string(seed));
    c.cfg.seed = seed;
    VaeConfig all = c.cfg, first = c.cfg, second = c.cfg;
    all.epochs = c.e1 + c.e2;
    first.epochs = c.e1;
    second.epochs = c.e2;
    TrainReport rep_all, rep1, rep2;
    TrainState st_all, st1, st2;
    const VaeModel one = train_vae(*cpu, c.x, all, &rep_all, {}, &st_all);
    const VaeModel half = train_vae(*cpu, c.x, first, &rep1, {}, &st1);
    // Through the files, as hmr train --resume goes.
    const fs::path mp = temp_path("half.safetensors"), sp = optimizer_path_for(mp);
    save_safetensors(mp, half);
    save_train_state(sp, half, st1);
    const VaeModel loaded = load_safetensors(mp);
    const TrainState state = load_train_state(sp, loaded);
    EXPECT_EQ(state.adam_step, st1.adam_step);
    EXPECT_EQ(state.epochs_done, rep1.epochs.size());
    const VaeModel two = resume_vae(*cpu, c.x, loaded, state, second, &rep2, {}, &st2);
    expect_same_bits(two.params, one.params, "weights");
    expect_same_bits(st2.adam_m, st_all.adam_m, "Adam exp_avg");
    expect_same_bits(st2.adam_v, st_all.adam_v, "Adam exp_avg_sq");
    expect_same_bits(two.scaler.mean, one.scaler.mean, "scaler mean");
    EXPECT_EQ(st2.adam_step, st_all.adam_step);
    EXPECT_EQ(st2.epochs_done, st_all.epochs_done);
    EXPECT_EQ(two.config.epochs, all.epochs);
    EXPECT_EQ(rep2.best_epoch, rep_all.best_epoch);
    EXPECT_EQ(rep2.stopped_early, rep_all.stopped_early);
    ASSERT_EQ(rep1.epochs.size() + rep2.epochs.size(), rep_all.epochs.size());
    for (std::size_t i = 0; i < rep2.epochs.size(); ++i) {  // the same losses, epoch numbers continued
      const auto& a = rep2.epochs[i];
      const auto& b = rep_all.epochs[rep1.epochs.size() + i];
      EXPECT_EQ(a.epoch, b.epoch);
      EXPECT_EQ(a.total, b.total);
      EXPECT_EQ(a.val_total, b.val_total);
      EXPECT_EQ(a.beta, b.beta);
    }
  }
}

// Every backend: Engine::adam_state / set_adam_state carry Adam's moments and step (on cuda the
// step lives in a device counter), so a split run equals one run on the same backend.
class ConfVaeResume : public hmr::test::BackendTest {};

TEST_P(ConfVaeResume, SplitRunEqualsOneRunOnTheSameBackend) {
  const std::uint64_t seed = hmr::test::test_seed(19);
  const hmr::Matrix x = random_rows(48, 6, 1.0, seed);
  VaeConfig c;
  c.hidden = {8};
  c.latent = 2;
  c.batch = 16;
  c.warmup_epochs = 2;
  c.seed = seed;
  VaeConfig all = c, first = c, second = c;  // few epochs: the emulator runs every launch on the cpu
  all.epochs = 3;
  first.epochs = 1;
  second.epochs = 2;
  TrainState st_all, st1, st2;
  const VaeModel one = train_vae(backend(), x, all, nullptr, {}, &st_all);
  const VaeModel half = train_vae(backend(), x, first, nullptr, {}, &st1);
  const VaeModel two = resume_vae(backend(), x, half, st1, second, nullptr, {}, &st2);
  EXPECT_EQ(st1.adam_step, 3);  // 1 epoch of 3 batches: the step counter came back
  EXPECT_EQ(st2.adam_step, st_all.adam_step);
  expect_same_bits(two.params, one.params, "weights");
  expect_same_bits(st2.adam_m, st_all.adam_m, "Adam exp_avg");
  expect_same_bits(st2.adam_v, st_all.adam_v, "Adam exp_avg_sq");
}

HMR_INSTANTIATE_BACKENDS(ConfVaeResume);

TEST(VaeResume, RefusesAnotherModelsStateAndArchitectureChanges) {
  auto cpu = hmr::make_cpu_backend();
  const hmr::Matrix x = random_rows(40, 5, 1.0, 3);
  VaeConfig c;
  c.hidden = {4};
  c.latent = 2;
  c.batch = 8;
  c.epochs = 2;
  TrainState st;
  const VaeModel m = train_vae(*cpu, x, c, nullptr, {}, &st);
  const fs::path sp = temp_path("m.optim.safetensors");
  save_train_state(sp, m, st);
  VaeModel other = m;
  other.params[0] += 1.0f;
  try {
    load_train_state(sp, other);
    ADD_FAILURE() << "state of other weights accepted";
  } catch (const hmr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("saved with other weights"), std::string::npos) << e.what();
  }
  VaeConfig wider = m.config;
  wider.hidden = {6};
  try {
    resume_vae(*cpu, x, m, st, wider);
    ADD_FAILURE() << "architecture change accepted";
  } catch (const hmr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("architecture of a resumed model cannot change"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(optimizer_path_for("dir/model.safetensors"), fs::path("dir/model.optim.safetensors"));
}

}  // namespace
