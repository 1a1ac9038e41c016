// VAE engine tests: double-precision finite-difference checks of every layer, activation, loss
// and the reparameterisation/KL backward (the cpu twins in double); each kernel against its cpu
// twin under the emulator in every thread order; cpu vs cuda-emu (vs cuda) for one full training
// step (loss and gradients, 1e-5 relative) and ten steps (weights, 1e-4); training behaviour
// (loss decreases, same seed -> same weights, early stopping); configuration parsing and bad
// inputs.
#include <cblas.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "core/philox.h"
#include "vae_test_util.h"

namespace {

// ---- finite differences in double -------------------------------------------------------------

struct NetCase {
  Activation act;
  Output out;
  Loss loss;
  float free_bits = 0.0f;  // 0.02: some latent dimensions below, some above (KL per dimension 0.003-0.06)
};

class GradCheck : public ::testing::TestWithParam<NetCase> {};

TEST_P(GradCheck, WholeNetworkMatchesCentralDifferences) {
  const auto [act, out, loss, free_bits] = GetParam();
  VaeConfig c = tiny_config(act, out, loss);
  c.free_bits = free_bits;
  const NetPlan plan = make_plan(c);
  const std::int64_t B = 4;
  const auto seed = hmr::test::test_seed(7);
  const VaeModel m = init_vae(c, seed);
  std::vector<double> p(m.params.begin(), m.params.end());
  const auto x =
      random_vec<double>(static_cast<std::size_t>(B * c.input_dim), seed + 1, loss == Loss::bce ? 0.0 : -1.0, 1.0);
  const auto eps = random_vec<double>(static_cast<std::size_t>(B * c.latent), seed + 2);
  // Spread the log-variances so exp() terms matter: bias of fc_logvar.
  const auto& lvb = m.find("fc_logvar.bias");
  for (std::size_t i = 0; i < lvb.size; ++i) p[lvb.offset + i] = -0.5 + 0.4 * static_cast<double>(i);
  const double beta = 1.5;
  hmr::nn::cpu::Net<double> net(plan);
  std::vector<double> grad(p.size());
  auto loss_at = [&](const std::vector<double>& q) {
    std::vector<double> g(q.size());
    const auto l = net.forward_backward(q.data(), x.data(), eps.data(), B, beta, g.data());
    return (l.recon + beta * l.kl) / static_cast<double>(B);
  };
  net.forward_backward(p.data(), x.data(), eps.data(), B, beta, grad.data());
  const auto fd = central_differences(loss_at, p);
  EXPECT_ALLCLOSE(std::span<const double>(grad), std::span<const double>(fd), 1e-7, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Activations, GradCheck,
                         ::testing::Values(NetCase{Activation::relu, Output::identity, Loss::mse},
                                           NetCase{Activation::identity, Output::identity, Loss::mse},
                                           NetCase{Activation::sigmoid, Output::sigmoid, Loss::mse},
                                           NetCase{Activation::tanh, Output::sigmoid, Loss::bce},
                                           NetCase{Activation::relu, Output::sigmoid, Loss::bce},
                                           NetCase{Activation::relu, Output::identity, Loss::mse, 0.02f},
                                           NetCase{Activation::tanh, Output::sigmoid, Loss::bce, 0.02f}));

// d/dh of (sum(w . z) + beta * mean_r kl_r): the fused reparameterisation/KL backward alone, without
// and with free bits (kl_r = sum_j max(fb, kl_rj)).
class GradCheckFreeBits : public ::testing::TestWithParam<float> {};
TEST_P(GradCheckFreeBits, ReparamKlBackwardMatchesCentralDifferences) {
  const float fb = GetParam();
  const std::int64_t B = 3;
  const int L = 5;
  auto h = random_vec<double>(static_cast<std::size_t>(B * 2 * L), 11);
  const auto eps = random_vec<double>(static_cast<std::size_t>(B * L), 12);
  const auto w = random_vec<double>(static_cast<std::size_t>(B * L), 13);  // upstream dz
  const double beta = 2.5, inv = 1.0 / B;
  auto f = [&](const std::vector<double>& hh) {
    std::vector<double> z(static_cast<std::size_t>(B * L)), dh(hh.size()), kl(static_cast<std::size_t>(B));
    hmr::nn::cpu::reparam_forward<double>(hh.data(), eps.data(), z.data(), B, L);
    hmr::nn::cpu::reparam_kl_backward<double>(hh.data(), eps.data(), w.data(), B, L, beta, inv, dh.data(), kl.data(),
                                              fb);
    double s = 0;
    for (std::size_t i = 0; i < z.size(); ++i) s += w[i] * z[i];
    for (double k : kl) s += beta * k * inv;
    return s;
  };
  std::vector<double> dh(h.size()), kl(static_cast<std::size_t>(B));
  hmr::nn::cpu::reparam_kl_backward<double>(h.data(), eps.data(), w.data(), B, L, beta, inv, dh.data(), kl.data(), fb);
  int below = 0;
  for (std::int64_t r = 0; r < B; ++r) {  // closed-form KL
    double want = 0;
    for (int j = 0; j < L; ++j) {
      const double mu = h[static_cast<std::size_t>(r * 2 * L + j)], lv = h[static_cast<std::size_t>(r * 2 * L + L + j)];
      const double k = -0.5 * (1 + lv - mu * mu - std::exp(lv));
      below += k < fb;
      want += std::max(k, static_cast<double>(fb));
    }
    EXPECT_NEAR(kl[static_cast<std::size_t>(r)], want, 1e-12);
  }
  const auto fd = central_differences(f, h);
  EXPECT_ALLCLOSE(std::span<const double>(dh), std::span<const double>(fd), 1e-8, 1e-6);
  if (fb > 0) {
    EXPECT_GT(below, 0) << "the free-bits case should clamp some dimensions";
    EXPECT_LT(below, B * L) << "the free-bits case should leave some dimensions active";
  }
}
INSTANTIATE_TEST_SUITE_P(FreeBits, GradCheckFreeBits, ::testing::Values(0.0f, 0.2f));

TEST(GradCheckOps, ReconLossAndActivationsMatchCentralDifferences) {
  const std::int64_t B = 3;
  const int D = 6;
  const auto a = random_vec<double>(static_cast<std::size_t>(B * D), 21, -3, 3);
  const auto x = random_vec<double>(static_cast<std::size_t>(B * D), 22, 0, 1);
  const std::pair<Output, Loss> cases[] = {
      {Output::identity, Loss::mse}, {Output::sigmoid, Loss::mse}, {Output::sigmoid, Loss::bce}};
  for (auto [out, loss] : cases) {
    auto f = [&](const std::vector<double>& aa) {
      std::vector<double> da(aa.size()), rows(static_cast<std::size_t>(B));
      hmr::nn::cpu::recon_loss_grad<double>(aa.data(), x.data(), B, D, out, loss, 0.25, da.data(), rows.data());
      double s = 0;
      for (double r : rows) s += 0.25 * r;
      return s;
    };
    std::vector<double> da(a.size()), rows(static_cast<std::size_t>(B));
    hmr::nn::cpu::recon_loss_grad<double>(a.data(), x.data(), B, D, out, loss, 0.25, da.data(), rows.data());
    const auto fd = central_differences(f, a);
    EXPECT_ALLCLOSE(std::span<const double>(da), std::span<const double>(fd), 1e-8, 1e-6)
        << to_string(out) << "/" << to_string(loss);
  }
  // Activation backward: d/dpre of sum(w . act(pre + b)) and the bias gradient (= column sums).
  for (Activation act : {Activation::relu, Activation::identity, Activation::sigmoid, Activation::tanh}) {
    const auto pre = random_vec<double>(static_cast<std::size_t>(B * D), 23, -2, 2);
    const auto b = random_vec<double>(static_cast<std::size_t>(D), 24);
    const auto w = random_vec<double>(static_cast<std::size_t>(B * D), 25);
    auto f = [&](const std::vector<double>& bb) {
      auto y = pre;
      hmr::nn::cpu::bias_act_forward<double>(y.data(), bb.data(), B, D, act);
      double s = 0;
      for (std::size_t i = 0; i < y.size(); ++i) s += w[i] * y[i];
      return s;
    };
    auto y = pre;
    hmr::nn::cpu::bias_act_forward<double>(y.data(), b.data(), B, D, act);
    auto dy = w;
    std::vector<double> db(static_cast<std::size_t>(D));
    hmr::nn::cpu::act_backward_bias_grad<double>(dy.data(), y.data(), B, D, act, db.data());
    const auto fd = central_differences(f, b);
    EXPECT_ALLCLOSE(std::span<const double>(db), std::span<const double>(fd), 1e-8, 1e-6) << to_string(act);
  }
}

// Adam against the update rule written out from the torch.optim.Adam documentation, in double.
TEST(AdamRule, MatchesTorchAdamWithWeightDecayAndClipping) {
  const std::size_t n = 50;
  auto p = random_vec<float>(n, 31);
  std::vector<float> m(n, 0.0f), v(n, 0.0f);
  std::vector<double> pd(p.begin(), p.end()), md(n, 0.0), vd(n, 0.0);
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  for (int t = 1; t <= 5; ++t) {
    const auto g = random_vec<float>(n, 40 + static_cast<std::uint64_t>(t), -3, 3);
    const double norm = hmr::nn::cpu::grad_norm(g.data(), n);
    double want_norm = 0;
    for (float gi : g) want_norm += static_cast<double>(gi) * gi;
    EXPECT_NEAR(norm, std::sqrt(want_norm), 1e-9 * std::sqrt(want_norm));
    const float scale = hmr::nn::cpu::clip_scale(norm, 1.0f);
    EXPECT_NEAR(scale, 1.0 / (norm + 1e-6), 1e-6);
    hmr::nn::cpu::adam_update(p.data(), g.data(), m.data(), v.data(), n, static_cast<float>(lr), 0.9f, 0.999f, 1e-8f,
                              0.1f, t, scale);
    for (std::size_t i = 0; i < n; ++i) {
      const double gi = static_cast<double>(scale) * g[i] + wd * pd[i];
      md[i] = b1 * md[i] + (1 - b1) * gi;
      vd[i] = b2 * vd[i] + (1 - b2) * gi * gi;
      const double mhat = md[i] / (1 - std::pow(b1, t)), vhat = vd[i] / (1 - std::pow(b2, t));
      pd[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
  EXPECT_ALLCLOSE(p, pd, 1e-6, 1e-5);
  EXPECT_EQ(hmr::nn::cpu::clip_scale(0.5, 1.0f), 1.0f);
  EXPECT_EQ(hmr::nn::cpu::clip_scale(100.0, 0.0f), 1.0f);
}

// The vectorised Adam loop equals the plain float loop bit for bit (odd length: lanes and tail),
// over several steps with weight decay and a clipping factor.
TEST(AdamRule, VectorisedLoopEqualsScalarFloatLoop) {
  const std::size_t n = 2 * 4096 + 7;
  auto p = random_vec<float>(n, 81), m = std::vector<float>(n, 0.0f), v = std::vector<float>(n, 0.0f);
  auto ps = p, ms = m, vs = v;
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 1e-2f, scale = 0.75f;
  for (std::int64_t t = 1; t <= 3; ++t) {
    const auto g = random_vec<float>(n, 90 + static_cast<std::uint64_t>(t));
    hmr::nn::cpu::adam_update(p.data(), g.data(), m.data(), v.data(), n, lr, b1, b2, eps, wd, t, scale);
    const double bc1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(t));
    const double bc2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(t));
    const float step = static_cast<float>(static_cast<double>(lr) / bc1);
    const float ib = static_cast<float>(1.0 / std::sqrt(bc2));
    for (std::size_t i = 0; i < n; ++i) {
      const float gi = scale * g[i] + wd * ps[i];
      const float mi = b1 * ms[i] + (1.0f - b1) * gi;
      const float vi = b2 * vs[i] + (1.0f - b2) * gi * gi;
      ms[i] = mi;
      vs[i] = vi;
      ps[i] -= step * mi / (std::sqrt(vi) * ib + eps);
    }
  }
  EXPECT_EQ(p, ps);
  EXPECT_EQ(m, ms);
  EXPECT_EQ(v, vs);
}

// The float BCE-with-logits loss and gradient (AVX2 lanes where the CPU has them, else the scalar
// loop) against the same formulas in double, over logits from 0 to far past float exp's range and
// targets 0, 1 and in between; columns not a multiple of 8 so the scalar tail runs too.
TEST(ReconLoss, FloatBceMatchesDoubleReference) {
  const std::int64_t rows = 6;
  const int cols = 8 * 41 + 5;
  const std::vector<float> special = {0.0f,   1e-8f,  -1e-8f,  0.5f,  -0.5f,  0.881f,  -0.881f, 3.0f,
                                      -3.0f,  15.0f,  -15.0f,  20.0f, -20.0f, 87.0f,   -87.0f,  88.5f,
                                      -88.5f, 104.0f, -104.0f, 1e4f,  -1e4f,  0.3466f, -0.3466f};
  auto a = random_vec<float>(static_cast<std::size_t>(rows * cols), 95, -30, 30);
  auto x = random_vec<float>(static_cast<std::size_t>(rows * cols), 96, 0, 1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (i % 3 == 0) a[i] = special[(i / 3) % special.size()];
    if (i % 5 == 0) x[i] = 0.0f;
    if (i % 7 == 0) x[i] = 1.0f;
  }
  const float inv_batch = 1.0f / rows;
  std::vector<float> da(a.size());
  std::vector<double> rows_loss(static_cast<std::size_t>(rows));
  hmr::nn::cpu::recon_loss_grad<float>(a.data(), x.data(), rows, cols, Output::sigmoid, Loss::bce, inv_batch, da.data(),
                                       rows_loss.data());
  std::vector<double> want_d(a.size()), want_l(static_cast<std::size_t>(rows), 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r * cols + c);
      const double v = a[i], t = x[i];
      want_l[static_cast<std::size_t>(r)] += std::max(v, 0.0) - v * t + std::log1p(std::exp(-std::abs(v)));
      want_d[i] = (1.0 / (1.0 + std::exp(-v)) - t) * inv_batch;
    }
  std::printf("AVX2+FMA: %s\n", __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? "yes" : "no");
  // float rounding of sigmoid (~1 ulp) and of each loss term; the row sums accumulate in double.
  EXPECT_ALLCLOSE(da, want_d, 3e-8, 1e-6);
  EXPECT_ALLCLOSE(std::span<const double>(rows_loss), std::span<const double>(want_l), 1e-4, 1e-6);

  // Rows of 9 terms that are all softplus values (v <= 0 with x = 0, v >= 0 with x = 1), so the row
  // sums show the accuracy of the exp and log1p parts themselves (~a few float ulps).
  const std::int64_t n2 = 96;
  const int c2 = 9;
  std::vector<float> a2(static_cast<std::size_t>(n2 * c2)), x2(a2.size());
  std::vector<double> want2(static_cast<std::size_t>(n2), 0.0);
  for (std::int64_t r = 0; r < n2; ++r)
    for (int c = 0; c < c2; ++c) {
      const std::size_t i = static_cast<std::size_t>(r * c2 + c);
      const float mag = 0.2f * static_cast<float>(r) + 0.021f * static_cast<float>(c);  // 0 .. ~19
      const bool pos = (r + c) % 2 == 1;
      a2[i] = pos ? mag : -mag;
      x2[i] = pos ? 1.0f : 0.0f;
      want2[static_cast<std::size_t>(r)] += std::log1p(std::exp(-static_cast<double>(mag)));
    }
  std::vector<float> d2(a2.size());
  std::vector<double> got2(static_cast<std::size_t>(n2));
  hmr::nn::cpu::recon_loss_grad<float>(a2.data(), x2.data(), n2, c2, Output::sigmoid, Loss::bce, 1.0f, d2.data(),
                                       got2.data());
  EXPECT_ALLCLOSE(std::span<const double>(got2), std::span<const double>(want2), 1e-12, 4e-7);
}

TEST(VaeInit, TorchLinearBoundsAndLayout) {
  VaeConfig c = tiny_config();
  const VaeModel m = init_vae(c, 3);
  const std::vector<std::string> names = {"encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                                          "fc_mu.weight",     "fc_mu.bias",     "fc_logvar.weight", "fc_logvar.bias",
                                          "decoder.0.weight", "decoder.0.bias", "decoder.2.weight", "decoder.2.bias",
                                          "decoder.4.weight", "decoder.4.bias"};
  ASSERT_EQ(m.layout.size(), names.size());
  std::size_t total = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& p = m.layout[i];
    EXPECT_EQ(p.name, names[i]);
    total += p.size;
    const std::string wname = p.name.ends_with(".bias") ? p.name.substr(0, p.name.size() - 4) + "weight" : p.name;
    const double bound = 1.0 / std::sqrt(static_cast<double>(m.find(wname).shape[1]));
    double lo = 1, hi = -1;
    for (std::size_t k = 0; k < p.size; ++k) {
      lo = std::min<double>(lo, m.params[p.offset + k]);
      hi = std::max<double>(hi, m.params[p.offset + k]);
    }
    EXPECT_GE(lo, -bound) << p.name;
    EXPECT_LE(hi, bound) << p.name;
  }
  EXPECT_EQ(total, m.params.size());
  EXPECT_EQ(m.find("encoder.0.weight").shape, (std::vector<std::int64_t>{6, 7}));
  EXPECT_EQ(m.find("fc_logvar.weight").shape, (std::vector<std::int64_t>{3, 5}));
  EXPECT_EQ(m.find("decoder.4.weight").shape, (std::vector<std::int64_t>{7, 6}));
  EXPECT_EQ(init_vae(c, 3).params, m.params);
  EXPECT_NE(init_vae(c, 4).params, m.params);
}

// ---- backends: one step, ten steps, training ------------------------------------------------------
class ConfVae : public hmr::test::BackendTest {};

TEST_P(ConfVae, OneStepLossAndGradientsMatchCpu) {
  hmr::test::ExpectLaunches launched(
      GetParam() == "cuda-emu",
      {"bias_act_forward_kernel", "reparam_forward_kernel", "recon_loss_grad_kernel", "batch_loss_sum_kernel",
       "reparam_kl_backward_kernel", "act_backward_bias_grad_kernel"});
  for (const NetCase nc : {NetCase{Activation::relu, Output::identity, Loss::mse},
                           NetCase{Activation::tanh, Output::sigmoid, Loss::bce}}) {
    VaeConfig c = tiny_config(nc.act, nc.out, nc.loss);
    c.input_dim = 33;
    c.hidden = {40, 20};
    c.latent = 6;
    const auto seed = hmr::test::test_seed(81);
    const VaeModel m = init_vae(c, seed);
    const Matrix x = random_matrix(48, c.input_dim, seed + 1, nc.loss == Loss::bce ? 0.0 : -2.0, 1.0);
    const Matrix eps = random_matrix(48, c.latent, seed + 2);
    auto ref = make_cpu_engine(c);
    auto eng = make_engine(backend(), c);
    ref->set_params(m.params);
    eng->set_params(m.params);
    const auto lr = ref->step(x, eps, c.beta, false);
    const auto lg = eng->step(x, eps, c.beta, false);
    EXPECT_NEAR(lg.recon, lr.recon, 1e-5 * std::abs(lr.recon));
    EXPECT_NEAR(lg.kl, lr.kl, 1e-5 * std::abs(lr.kl) + 1e-9);
    const auto gr = ref->grads(), gg = eng->grads();
    double gmax = 0;
    for (float v : gr) gmax = std::max(gmax, static_cast<double>(std::abs(v)));
    // 1e-5 relative, with an absolute floor at 1e-6 of the largest gradient for entries that cancel.
    EXPECT_ALLCLOSE(std::span<const float>(gg), std::span<const float>(gr), 1e-6 * gmax, 1e-5);
  }
}

TEST_P(ConfVae, TenStepsWeightsMatchCpu) {
  VaeConfig c = tiny_config();
  c.input_dim = 20;
  c.hidden = {32, 16};
  c.latent = 4;
  c.clip_norm = 5.0f;
  c.weight_decay = 1e-3f;
  const auto seed = hmr::test::test_seed(91);
  const VaeModel m = init_vae(c, seed);
  auto ref = make_cpu_engine(c);
  auto eng = make_engine(backend(), c);
  ref->set_params(m.params);
  eng->set_params(m.params);
  for (int s = 0; s < 10; ++s) {
    const Matrix x = random_matrix(32, c.input_dim, seed + 10 + static_cast<std::uint64_t>(s), -2, 2);
    const Matrix eps = random_matrix(32, c.latent, seed + 100 + static_cast<std::uint64_t>(s));
    ref->step(x, eps, c.beta, true);
    eng->step(x, eps, c.beta, true);
  }
  EXPECT_ALLCLOSE(std::span<const float>(eng->params()), std::span<const float>(ref->params()), 1e-6, 1e-4);
  EXPECT_NE(ref->params(), m.params);
}

// The sparse first layer on each backend: an epoch over wide 3%-dense rows equals the same epoch
// with sparse_input = false (same backend, so the same noise), and the csr kernels run.
TEST_P(ConfVae, SparseInputEpochMatchesDenseEpoch) {
  hmr::test::ExpectLaunches launched(GetParam() == "cuda-emu", {"csr_linear_forward_kernel", "csr_weight_grad_kernel"});
  const VaeConfig c = sparse_config();
  const std::int64_t n = 50;
  const auto x = sparse_data<float>(n, c.input_dim, 0.03, 31);
  const Matrix xm(n, c.input_dim, x.dense);
  const VaeModel m = init_vae(c, hmr::test::test_seed(37));
  VaeConfig cd = c;
  cd.sparse_input = false;
  auto sparse = make_engine(backend(), c), dense = make_engine(backend(), cd);
  for (auto* e : {sparse.get(), dense.get()}) {
    e->set_params(m.params);
    e->set_data(xm);
  }
  std::vector<std::int32_t> perm(static_cast<std::size_t>(n));
  StepLoss ls, ld;
  for (std::uint64_t epoch = 0; epoch < 3; ++epoch) {
    for (std::int64_t i = 0; i < n; ++i)
      perm[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 17 + static_cast<std::int64_t>(epoch)) % n);
    ls = sparse->epoch(perm, c.beta, 100 + epoch);
    ld = dense->epoch(perm, c.beta, 100 + epoch);
  }
  EXPECT_NEAR(ls.recon, ld.recon, 1e-5 * std::abs(ld.recon));
  EXPECT_NEAR(ls.kl, ld.kl, 1e-5 * std::abs(ld.kl));
  EXPECT_ALLCLOSE(std::span<const float>(sparse->params()), std::span<const float>(dense->params()), 1e-6, 1e-4);
}

// The dense training runs below: default loss and output, the shape and schedule given.
VaeConfig train_config(std::vector<int> hidden, int latent, int epochs, int batch) {
  VaeConfig c;
  c.hidden = std::move(hidden);
  c.latent = latent;
  c.epochs = epochs;
  c.batch = batch;
  return c;
}

Matrix blobs(std::int64_t n, int d, std::uint64_t seed) {
  // Three clusters on a 2-D manifold embedded in d dimensions plus noise.
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> proj(static_cast<std::size_t>(2 * d));
  for (auto& v : proj) v = g(rng);
  Matrix x(n, d);
  for (std::int64_t r = 0; r < n; ++r) {
    const int k = static_cast<int>(r % 3);
    const float a = 3.0f * static_cast<float>(k) + 0.3f * g(rng), b = -2.0f * static_cast<float>(k) + 0.3f * g(rng);
    for (int c = 0; c < d; ++c)
      x(r, c) = a * proj[static_cast<std::size_t>(c)] + b * proj[static_cast<std::size_t>(d + c)] + 0.05f * g(rng);
  }
  return x;
}

TEST_P(ConfVae, TrainingLowersTheLossAndIsReproducible) {
  hmr::test::ExpectLaunches launched(
      GetParam() == "cuda-emu",
      {"gather_batch_kernel", "bias_act_forward_kernel", "reparam_forward_kernel", "recon_loss_grad_kernel",
       "batch_loss_sum_kernel", "reparam_kl_backward_kernel", "act_backward_bias_grad_kernel",
       "grad_norm_partial_kernel", "clip_finalize_kernel", "adam_kernel", "advance_counters_kernel"});
  VaeConfig c = train_config({32, 16}, 2, 8, 32);
  c.lr = 3e-3f;
  c.warmup_epochs = 3;
  c.seed = hmr::test::test_seed(5);
  const Matrix x = blobs(300, 12, c.seed);
  TrainReport rep;
  const VaeModel m = train_vae(backend(), x, c, &rep);
  ASSERT_EQ(rep.epochs.size(), 8u);
  EXPECT_LT(rep.epochs.back().total, 0.6 * rep.epochs.front().total);
  EXPECT_NEAR(rep.epochs[0].beta, 1.0 / 3.0, 1e-6);
  EXPECT_EQ(rep.epochs[5].beta, 1.0);
  const VaeModel again = train_vae(backend(), x, c, nullptr);
  EXPECT_TRUE(hmr::test::bitwise_equal(m.params, again.params));
  EXPECT_TRUE(m.standardized);
  const Matrix mu = encode_mu(backend(), m, x);
  EXPECT_EQ(mu.rows(), 300);
  EXPECT_EQ(mu.cols(), 2);
  const Matrix rec = reconstruct(backend(), m, x);
  double err = 0, var = 0;
  for (std::int64_t r = 0; r < x.rows(); ++r)
    for (std::int64_t k = 0; k < x.cols(); ++k) {
      err += (rec(r, k) - x(r, k)) * (rec(r, k) - x(r, k));
      var += x(r, k) * x(r, k);
    }
  EXPECT_LT(err, 0.5 * var);  // reconstruction in the original units explains most of the signal
  const Matrix z1 = sample_z(backend(), m, x, 1), z2 = sample_z(backend(), m, x, 1);
  EXPECT_EQ(z1.vec(), z2.vec());
}

TEST_P(ConfVae, ValidationAndEarlyStopping) {
  VaeConfig c = train_config({16}, 2, 200, 50);
  c.lr = 2e-2f;
  c.val_fraction = 0.25f;
  c.patience = 3;
  const Matrix x = blobs(200, 8, 3);
  TrainReport rep;
  const VaeModel m = train_vae(backend(), x, c, &rep);
  EXPECT_EQ(rep.n_val, 50);
  EXPECT_EQ(rep.n_train, 150);
  EXPECT_TRUE(rep.stopped_early);
  EXPECT_LT(rep.epochs.size(), 200u);
  EXPECT_EQ(static_cast<int>(rep.epochs.size()) - 1, rep.best_epoch + c.patience);
  for (const auto& e : rep.epochs) EXPECT_GE(e.val_total, 0.0);
  (void)m;
}

TEST_P(ConfVae, BadInputsGiveClearErrors) {
  VaeConfig c = train_config({8}, 2, 1, 10);
  Matrix x = random_matrix(20, 5, 1);
  x(3, 2) = NAN;
  EXPECT_THROW(train_vae(backend(), x, c), hmr::Error);
  x(3, 2) = INFINITY;
  EXPECT_THROW(train_vae(backend(), x, c), hmr::Error);
  EXPECT_THROW(train_vae(backend(), Matrix(), c), hmr::Error);
  c.batch = 21;
  EXPECT_THROW(train_vae(backend(), random_matrix(20, 5, 1), c), hmr::Error);
  c.batch = 10;
  c.input_dim = 6;
  EXPECT_THROW(train_vae(backend(), random_matrix(20, 5, 1), c), hmr::Error);
  c.input_dim = 0;
  const VaeModel m = train_vae(backend(), random_matrix(20, 5, 1), c);
  EXPECT_THROW(encode_mu(backend(), m, random_matrix(4, 6, 2)), hmr::Error);
  try {
    encode_mu(backend(), m, random_matrix(4, 6, 2));
  } catch (const hmr::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expects 5 features"), std::string::npos) << e.what();
    EXPECT_EQ(e.exit_code(), 2);
  }
  c.loss = Loss::bce;
  EXPECT_THROW(train_vae(backend(), random_matrix(20, 5, 1), c), hmr::Error);  // bce needs sigmoid output
}

HMR_INSTANTIATE_BACKENDS(ConfVae);

}  // namespace
