// history.json holds exactly the losses train_vae reported to its per-epoch callback (the values
// `hmr train` prints and the experiments plot), null validation terms without a split, and sits
// beside the model as MODEL.history.json.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include <fmt/format.h>

#include "cuda/select.h"
#include "nn/history.h"
#include "nn/vae.h"

namespace {

hmr::Matrix blobs(std::int64_t n, std::int64_t d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  hmr::Matrix x(n, d);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < d; ++j) x(i, j) = g(rng) + (i % 3 == 0 ? 3.0f : 0.0f);
  return x;
}

// Trains and returns (the callback's stats, the parsed history).
std::pair<std::vector<hmr::nn::EpochStats>, nlohmann::json> train(float val_fraction) {
  auto backend = hmr::make_backend("cpu");
  hmr::nn::VaeConfig c;
  c.hidden = {12};
  c.latent = 3;
  c.epochs = 7;
  c.batch = 16;
  c.beta = 2.0f;
  c.warmup_epochs = 3;
  c.val_fraction = val_fraction;
  c.seed = 5;
  std::vector<hmr::nn::EpochStats> seen;
  hmr::nn::TrainReport rep;
  hmr::nn::train_vae(*backend, blobs(90, 6, 3), c, &rep, [&](const hmr::nn::EpochStats& e) { seen.push_back(e); });
  return {seen, nlohmann::json::parse(hmr::nn::history_json(rep))};
}

TEST(VaeHistory, JsonHoldsTheLossesTheEngineReported) {
  const auto [seen, h] = train(0.2f);
  ASSERT_EQ(seen.size(), 7u);
  ASSERT_EQ(h["epochs"].size(), seen.size());
  EXPECT_EQ(h["backend"], "cpu");
  EXPECT_EQ(h["n_train"].get<int>() + h["n_val"].get<int>(), 90);
  EXPECT_GT(h["n_val"].get<int>(), 0);
  double worst = 0;
  std::string worst_at;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const auto& j = h["epochs"][i];
    EXPECT_EQ(j["epoch"].get<int>(), seen[i].epoch + 1);
    const std::pair<const char*, double> fields[] = {{"beta", seen[i].beta},           {"total", seen[i].total},
                                                     {"recon", seen[i].recon},         {"kl", seen[i].kl},
                                                     {"val_total", seen[i].val_total}, {"val_recon", seen[i].val_recon},
                                                     {"val_kl", seen[i].val_kl}};
    for (const auto& [k, v] : fields) {
      ASSERT_TRUE(j[k].is_number()) << "epoch " << i + 1 << " " << k;
      const double d = std::fabs(j[k].get<double>() - v);
      if (d >= worst && d > 0) worst = d, worst_at = fmt::format("epoch {} {}: {} vs {}", i + 1, k, j[k].dump(), v);
    }
  }
  // Round-trip precision: the very same doubles, not a rounding of them.
  EXPECT_EQ(worst, 0.0) << "worst: " << worst_at;
  // The warm-up shows in beta (2/3, 4/3, 2, 2, ...).
  EXPECT_NEAR(h["epochs"][0]["beta"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(h["epochs"][6]["beta"].get<double>(), 2.0);
  EXPECT_GE(h["best_epoch"].get<int>(), 1);
}

TEST(VaeHistory, NoValidationSplitGivesNullsAndTheModelSidePath) {
  const auto [seen, h] = train(0.0f);
  ASSERT_EQ(h["epochs"].size(), 7u);
  EXPECT_TRUE(h["epochs"][0]["val_total"].is_null());
  EXPECT_EQ(h["epochs"][6]["total"].get<double>(), seen.back().total);
  EXPECT_EQ(h["best_epoch"].get<int>(), 7);  // no early stopping: the last epoch's weights
  EXPECT_EQ(hmr::nn::history_path_for("runs/m.safetensors"), std::filesystem::path("runs/m.history.json"));
  EXPECT_EQ(hmr::nn::history_path_for("model_vae.safetensors"), std::filesystem::path("model_vae.history.json"));
}

}  // namespace
