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

#include "core/error.h"
#include "core/philox.h"
#include "cuda/buffer.h"
#include "nn/vae.cuh"
#include "nn/vae.h"
#include "nn/vae_net.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/concat.h"
#include "support/emu.h"

namespace {

// Several outputs as one double vector (one comparison reports the worst element of all).
template <class... V>
std::vector<double> concat(const V&... v) {
  return hmr::test::concat_as<double>(v...);
}

using hmr::Matrix;
using namespace hmr::nn;

template <class T>
std::vector<T> random_vec(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(u(rng));
  return v;
}

Matrix random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return Matrix(rows, cols, random_vec<float>(static_cast<std::size_t>(rows * cols), seed, lo, hi));
}

// Central differences of a scalar function f at p: (f(p + h e_i) - f(p - h e_i)) / 2h for each i.
template <class F>
std::vector<double> central_differences(F&& f, const std::vector<double>& p, double h = 1e-6) {
  std::vector<double> fd(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    auto q = p;
    q[i] = p[i] + h;
    const double up = f(q);
    q[i] = p[i] - h;
    fd[i] = (up - f(q)) / (2 * h);
  }
  return fd;
}

// x [rows x cols] with about `density` non-zeros in (0, 1], and its CSR form.
template <class T>
struct SparseData {
  std::vector<T> dense;
  std::vector<std::int64_t> ptr{0};
  std::vector<std::int32_t> col;
  std::vector<T> val;
  hmr::nn::cpu::CsrRows<T> csr() const { return {ptr.data(), col.data(), val.data()}; }
};
template <class T>
SparseData<T> sparse_data(std::int64_t rows, int cols, double density, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  SparseData<T> d;
  d.dense.assign(static_cast<std::size_t>(rows * cols), T(0));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c)
      if (u(rng) < density) {
        const T v = static_cast<T>(0.05 + 0.95 * u(rng));
        d.dense[static_cast<std::size_t>(r * cols + c)] = v;
        d.col.push_back(c);
        d.val.push_back(v);
      }
    d.ptr.push_back(static_cast<std::int64_t>(d.col.size()));
  }
  return d;
}

VaeConfig tiny_config(Activation act = Activation::relu, Output out = Output::identity, Loss loss = Loss::mse) {
  VaeConfig c;
  c.input_dim = 7;
  c.hidden = {6, 5};
  c.latent = 3;
  c.activation = act;
  c.output = out;
  c.loss = loss;
  c.beta = 1.5f;
  return c;
}

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

// ---- kernels vs cpu twins under the emulator ----------------------------------------------------
namespace emu = hmr::cuda_emu;

template <class T>
emu::DeviceBuffer<T> dev(const std::vector<T>& v) {
  return emu::to_device(v, nullptr);
}

TEST(EmuVaeKernels, BiasActForwardAndBackwardMatchCpuTwin) {
  hmr::test::ExpectLaunches launched{"bias_act_forward_kernel", "act_backward_bias_grad_kernel"};
  const std::int64_t rows = 70;
  const int cols = 45;  // two column tiles, one partial
  const auto pre = random_vec<float>(static_cast<std::size_t>(rows * cols), 51, -2, 2);
  const auto b = random_vec<float>(static_cast<std::size_t>(cols), 52);
  const auto up = random_vec<float>(static_cast<std::size_t>(rows * cols), 53);
  for (Activation act : {Activation::relu, Activation::identity, Activation::sigmoid, Activation::tanh}) {
    auto y = pre;
    hmr::nn::cpu::bias_act_forward<float>(y.data(), b.data(), rows, cols, act);
    auto dy = up;
    std::vector<float> db(static_cast<std::size_t>(cols));
    hmr::nn::cpu::act_backward_bias_grad<float>(dy.data(), y.data(), rows, cols, act, db.data());
    const auto got = hmr::test::in_all_orders([&] {
      auto dy_d = dev(pre), b_d = dev(b), up_d = dev(up);
      emu::DeviceBuffer<float> db_d(static_cast<std::size_t>(cols));
      emu::kern::launch_bias_act_forward(dy_d.data(), b_d.data(), rows, cols, static_cast<int>(act), nullptr);
      emu::kern::launch_act_backward_bias_grad(up_d.data(), dy_d.data(), rows, cols, static_cast<int>(act), db_d.data(),
                                               nullptr);
      return hmr::test::concat(dy_d.to_host(nullptr), up_d.to_host(nullptr), db_d.to_host(nullptr));
    });
    const std::vector<float> want = hmr::test::concat(y, dy, db);
    EXPECT_ALLCLOSE(std::span<const float>(got), std::span<const float>(want), 1e-6, 1e-5) << to_string(act);
  }
}

TEST(EmuVaeKernels, ReparamKlAndReconMatchCpuTwin) {
  hmr::test::ExpectLaunches launched{"reparam_forward_kernel", "reparam_kl_backward_kernel", "recon_loss_grad_kernel",
                                     "batch_loss_sum_kernel"};
  const std::int64_t rows = 37;
  const int L = 40, D = 300;  // L > 32: lanes loop; D > 256: threads loop
  const auto h = random_vec<float>(static_cast<std::size_t>(rows * 2 * L), 61);
  const auto eps = random_vec<float>(static_cast<std::size_t>(rows * L), 62);
  const auto dz = random_vec<float>(static_cast<std::size_t>(rows * L), 63);
  std::vector<float> z(eps.size()), dh(h.size());
  std::vector<double> kl(static_cast<std::size_t>(rows));
  for (float fb : {0.5f, 0.0f}) {  // with and without free bits; kl of the last (fb 0) is used below
    hmr::nn::cpu::reparam_forward<float>(h.data(), eps.data(), z.data(), rows, L);
    hmr::nn::cpu::reparam_kl_backward<float>(h.data(), eps.data(), dz.data(), rows, L, 0.7f, 1.0f / rows, dh.data(),
                                             kl.data(), fb);
    const auto got = hmr::test::in_all_orders([&] {
      auto h_d = dev(h), e_d = dev(eps), dz_d = dev(dz), beta_d = dev(std::vector<float>{0.7f});
      emu::DeviceBuffer<float> z_d(z.size()), dh_d(dh.size());
      emu::DeviceBuffer<double> kl_d(kl.size());
      emu::kern::launch_reparam_forward(h_d.data(), e_d.data(), z_d.data(), rows, L, nullptr);
      emu::kern::launch_reparam_kl_backward(h_d.data(), e_d.data(), dz_d.data(), rows, L, beta_d.data(), 1.0f / rows,
                                            fb, dh_d.data(), kl_d.data(), nullptr);
      return concat(z_d.to_host(nullptr), dh_d.to_host(nullptr), kl_d.to_host(nullptr));
    });
    const std::vector<double> want = concat(z, dh, kl);
    EXPECT_ALLCLOSE(std::span<const double>(got), std::span<const double>(want), 1e-6, 1e-5) << "free bits " << fb;
  }

  const auto a = random_vec<float>(static_cast<std::size_t>(rows * D), 64, -3, 3);
  const auto x = random_vec<float>(static_cast<std::size_t>(rows * D), 65, 0, 1);
  for (auto [out, loss] : {std::pair{Output::identity, Loss::mse}, std::pair{Output::sigmoid, Loss::mse},
                           std::pair{Output::sigmoid, Loss::bce}}) {
    std::vector<float> da(a.size());
    std::vector<double> lr(static_cast<std::size_t>(rows));
    hmr::nn::cpu::recon_loss_grad<float>(a.data(), x.data(), rows, D, out, loss, 1.0f / rows, da.data(), lr.data());
    const auto g2 = hmr::test::in_all_orders([&] {
      auto a_d = dev(a), x_d = dev(x);
      emu::DeviceBuffer<float> da_d(a.size());
      emu::DeviceBuffer<double> lr_d(lr.size()), losses(2);
      emu::DeviceBuffer<int> counters = dev(std::vector<int>{0, 0});
      emu::DeviceBuffer<double> kl_d = dev(kl);
      emu::kern::launch_recon_loss_grad(a_d.data(), x_d.data(), rows, D, static_cast<int>(out), static_cast<int>(loss),
                                        1.0f / rows, da_d.data(), lr_d.data(), nullptr);
      emu::kern::launch_batch_loss_sum(lr_d.data(), kl_d.data(), rows, counters.data(), losses.data(), nullptr);
      return concat(da_d.to_host(nullptr), lr_d.to_host(nullptr), losses.to_host(nullptr));
    });
    std::vector<double> w = concat(da, lr);
    double sr = 0, sk = 0;
    for (double v : lr) sr += v;
    for (double v : kl) sk += v;
    w.push_back(sr);
    w.push_back(sk);
    EXPECT_ALLCLOSE(std::span<const double>(g2), std::span<const double>(w), 1e-6, 1e-5) << to_string(loss);
  }
}

// The csr kernels against their cpu twins: rows selected through perm and the batch counter (the
// training path) and directly; entries in CSR order on both sides.
TEST(EmuVaeKernels, CsrForwardAndWeightGradMatchCpuTwin) {
  hmr::test::ExpectLaunches launched{"csr_linear_forward_kernel", "csr_weight_grad_kernel"};
  const std::int64_t n = 23, batch = 7;
  const int in = 300, out = 260;  // out > 256 threads: two blocks of outputs
  const auto x = sparse_data<float>(n, in, 0.05, 71);
  const auto w = random_vec<float>(static_cast<std::size_t>(out * in), 72);
  const auto dy = random_vec<float>(static_cast<std::size_t>(batch * out), 73);
  std::vector<std::int32_t> perm(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) perm[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 5 + 3) % n);
  const int step = 2;  // batch rows perm[14 .. 20]
  for (bool use_perm : {true, false}) {
    // cpu twin on the selected rows, gathered into a compact CSR
    SparseData<float> sel;
    for (std::int64_t i = 0; i < batch; ++i) {
      const std::int64_t r = use_perm ? perm[static_cast<std::size_t>(step * batch + i)] : i;
      for (std::int64_t k = x.ptr[static_cast<std::size_t>(r)]; k < x.ptr[static_cast<std::size_t>(r) + 1]; ++k) {
        sel.col.push_back(x.col[static_cast<std::size_t>(k)]);
        sel.val.push_back(x.val[static_cast<std::size_t>(k)]);
      }
      sel.ptr.push_back(static_cast<std::int64_t>(sel.col.size()));
    }
    std::vector<float> y(static_cast<std::size_t>(batch * out)), dw(static_cast<std::size_t>(out * in), 9.0f);
    hmr::nn::cpu::csr_linear_forward<float>(sel.csr(), batch, w.data(), in, out, y.data());
    hmr::nn::cpu::csr_weight_grad<float>(sel.csr(), batch, dy.data(), in, out, dw.data());
    const auto got = hmr::test::in_all_orders([&] {
      auto ptr_d = dev(x.ptr);
      auto col_d = dev(x.col);
      auto val_d = dev(x.val), w_d = dev(w), dy_d = dev(dy);
      auto perm_d = dev(perm);
      auto counters = dev(std::vector<int>{step, 0});
      emu::DeviceBuffer<float> y_d(y.size()), dw_d(dw.size());
      const std::int32_t* pp = use_perm ? perm_d.data() : nullptr;
      emu::kern::launch_csr_linear_forward(ptr_d.data(), col_d.data(), val_d.data(), pp, batch, counters.data(), batch,
                                           w_d.data(), in, out, y_d.data(), nullptr);
      emu::kern::launch_csr_weight_grad(ptr_d.data(), col_d.data(), val_d.data(), pp, batch, counters.data(), batch,
                                        dy_d.data(), in, out, dw_d.data(), nullptr);
      return concat(y_d.to_host(nullptr), dw_d.to_host(nullptr));
    });
    const std::vector<double> want = concat(y, dw);
    EXPECT_ALLCLOSE(std::span<const double>(got), std::span<const double>(want), 1e-6, 1e-5) << "perm " << use_perm;
  }
}

TEST(EmuVaeKernels, GradNormAdamAndGatherMatchCpuTwin) {
  hmr::test::ExpectLaunches launched{"grad_norm_partial_kernel", "clip_finalize_kernel", "adam_kernel",
                                     "advance_counters_kernel", "gather_batch_kernel"};
  const std::size_t n = 70001;  // several blocks per norm partial and a ragged tail
  const auto g = random_vec<float>(n, 71, -2, 2);
  auto p = random_vec<float>(n, 72);
  auto m = random_vec<float>(n, 73, -0.1, 0.1);
  auto v = random_vec<float>(n, 74, 0, 0.1);
  const double norm = hmr::nn::cpu::grad_norm(g.data(), n);
  const float scale = hmr::nn::cpu::clip_scale(norm, 5.0f);
  auto pc = p, mc = m, vc = v;
  hmr::nn::cpu::adam_update(pc.data(), g.data(), mc.data(), vc.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 4, scale);
  const auto got = hmr::test::in_all_orders([&] {
    auto g_d = dev(g), p_d = dev(p), m_d = dev(m), v_d = dev(v);
    auto counters = dev(std::vector<int>{0, 3});  // 3 steps taken: this is step t = 4
    emu::DeviceBuffer<double> partial(static_cast<std::size_t>(emu::kern::norm_partials())), norm_d(1);
    emu::DeviceBuffer<float> scale_d(1);
    emu::kern::launch_grad_norm_partial(g_d.data(), static_cast<std::int64_t>(n), partial.data(), nullptr);
    emu::kern::launch_clip_finalize(partial.data(), 5.0f, norm_d.data(), scale_d.data(), nullptr);
    emu::kern::launch_adam(p_d.data(), g_d.data(), m_d.data(), v_d.data(), static_cast<std::int64_t>(n), 1e-3f, 0.9f,
                           0.999f, 1e-8f, 0.01f, counters.data(), scale_d.data(), nullptr);
    emu::kern::launch_advance_counters(counters.data(), nullptr);
    return concat(norm_d.to_host(nullptr), scale_d.to_host(nullptr), counters.to_host(nullptr), p_d.to_host(nullptr),
                  m_d.to_host(nullptr), v_d.to_host(nullptr));
  });
  const std::vector<double> want = concat(std::vector<double>{norm, scale, 1, 4}, pc, mc, vc);
  EXPECT_ALLCLOSE(std::span<const double>(got), std::span<const double>(want), 1e-7, 1e-5);

  // Gather: step 2 of batches of 4 picks perm[8..11].
  const int d = 5, L = 3;
  const auto X = random_vec<float>(20 * d, 75);
  const auto E = random_vec<float>(20 * L, 76);
  std::vector<std::int32_t> perm(20);
  for (int i = 0; i < 20; ++i) perm[static_cast<std::size_t>(i)] = (i * 7) % 20;
  auto X_d = dev(X), E_d = dev(E);
  auto perm_d = dev(perm);
  auto counters = dev(std::vector<int>{2, 0});
  emu::DeviceBuffer<float> xb(4 * d), eb(4 * L);
  emu::kern::launch_gather_batch(X_d.data(), d, perm_d.data(), E_d.data(), L, 4, 4, counters.data(), xb.data(),
                                 eb.data(), nullptr);
  const auto xh = xb.to_host(nullptr), eh = eb.to_host(nullptr);
  for (int i = 0; i < 4; ++i) {
    for (int c = 0; c < d; ++c)
      EXPECT_EQ(xh[static_cast<std::size_t>(i * d + c)], X[static_cast<std::size_t>(perm[8 + i] * d + c)]);
    for (int j = 0; j < L; ++j)
      EXPECT_EQ(eh[static_cast<std::size_t>(i * L + j)], E[static_cast<std::size_t>((8 + i) * L + j)]);
  }
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

// ---- sparse first layer (TF-IDF input) ---------------------------------------------------------

// The sparse first layer gives the dense path's loss and every gradient (double precision, so only
// the summation order differs), for relu + BCE (the text VAE) and tanh + MSE.
TEST(VaeSparse, SparseFirstLayerEqualsDenseInDouble) {
  for (auto [act, out, loss] : {std::tuple{Activation::relu, Output::sigmoid, Loss::bce},
                                std::tuple{Activation::tanh, Output::identity, Loss::mse}}) {
    VaeConfig c = tiny_config(act, out, loss);
    c.input_dim = 40;
    const NetPlan plan = make_plan(c);
    const std::int64_t B = 6;
    const VaeModel m = init_vae(c, hmr::test::test_seed(5));
    const std::vector<double> p(m.params.begin(), m.params.end());
    const auto x = sparse_data<double>(B, c.input_dim, 0.1, 17);
    const auto eps = random_vec<double>(static_cast<std::size_t>(B * c.latent), 18);
    hmr::nn::cpu::Net<double> net(plan);
    std::vector<double> gd(p.size()), gs(p.size(), 123.0);
    const auto ld = net.forward_backward(p.data(), x.dense.data(), eps.data(), B, 1.5, gd.data());
    const auto ls = net.forward_backward_sparse(p.data(), x.dense.data(), x.csr(), eps.data(), B, 1.5, gs.data());
    EXPECT_NEAR(ls.recon, ld.recon, 1e-12 * std::abs(ld.recon));
    EXPECT_NEAR(ls.kl, ld.kl, 1e-12 * std::abs(ld.kl) + 1e-15);
    EXPECT_ALLCLOSE(std::span<const double>(gs), std::span<const double>(gd), 1e-14, 1e-11);
  }
}

// BCE with CSR targets gives recon_loss_grad's loss rows and gradient on the dense targets: float
// (AVX2 lanes where available, 8-lane body and scalar tail: 203 columns) and double.
TEST(VaeSparse, BceWithSparseTargetsEqualsDenseTargets) {
  const std::int64_t rows = 7;
  const int cols = 203;
  const auto x = sparse_data<float>(rows, cols, 0.05, 151);
  auto a = random_vec<float>(static_cast<std::size_t>(rows * cols), 152);
  for (auto& v : a) v *= 12.0f;  // logits well into both tails
  const float ib = 1.0f / 9.0f;
  std::vector<float> dd(a.size()), ds(a.size(), 7.0f);
  std::vector<double> ld(rows), ls(rows);
  hmr::nn::cpu::recon_loss_grad<float>(a.data(), x.dense.data(), rows, cols, Output::sigmoid, Loss::bce, ib, dd.data(),
                                       ld.data());
  hmr::nn::cpu::bce_sparse_targets<float>(a.data(), x.csr(), rows, cols, ib, ds.data(), ls.data());
  EXPECT_ALLCLOSE(std::span<const float>(ds), std::span<const float>(dd), 1e-7, 1e-5);
  EXPECT_ALLCLOSE(std::span<const double>(ls), std::span<const double>(ld), 1e-5, 1e-6);
  const auto xd = sparse_data<double>(rows, cols, 0.05, 151);
  const std::vector<double> a2(a.begin(), a.end());
  std::vector<double> dd2(a2.size()), ds2(a2.size()), ld2(rows), ls2(rows);
  hmr::nn::cpu::recon_loss_grad<double>(a2.data(), xd.dense.data(), rows, cols, Output::sigmoid, Loss::bce, 1.0 / 9,
                                        dd2.data(), ld2.data());
  hmr::nn::cpu::bce_sparse_targets<double>(a2.data(), xd.csr(), rows, cols, 1.0 / 9, ds2.data(), ls2.data());
  EXPECT_ALLCLOSE(std::span<const double>(ds2), std::span<const double>(dd2), 1e-15, 1e-12);
  EXPECT_ALLCLOSE(std::span<const double>(ls2), std::span<const double>(ld2), 1e-12, 1e-12);
}

// A small text-VAE-like model for the sparse first-layer tests: 300 wide mostly-zero inputs.
VaeConfig sparse_config() {
  VaeConfig c = tiny_config(Activation::relu, Output::sigmoid, Loss::bce);
  c.input_dim = 300;
  c.hidden = {24};
  c.latent = 4;
  c.batch = 16;
  c.free_bits = 0.1f;
  return c;
}

// The cpu engine switches to the sparse first layer for wide, mostly-zero training rows; an epoch
// of it equals dense steps over the same batches and noise (float: summation order only).
TEST(VaeSparse, CpuEpochWithSparseRowsMatchesDenseSteps) {
  const VaeConfig c = sparse_config();
  const std::int64_t n = 50;  // 3 full batches and one of 2 rows
  const auto x = sparse_data<float>(n, c.input_dim, 0.03, 23);
  const Matrix xm(n, c.input_dim, x.dense);
  const VaeModel m = init_vae(c, hmr::test::test_seed(29));
  std::vector<std::int32_t> perm(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) perm[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 17) % n);
  auto sparse = make_cpu_engine(c), dense = make_cpu_engine(c);
  sparse->set_params(m.params);
  dense->set_params(m.params);
  // The engine keeps this first layer input-major inside; params() is PyTorch's layout again.
  EXPECT_EQ(sparse->params(), m.params);
  sparse->set_data(xm);
  const std::uint64_t noise_seed = 77;
  const StepLoss ls = sparse->epoch(perm, c.beta, noise_seed);
  std::vector<float> eps_all(static_cast<std::size_t>(n * c.latent));
  normal_noise(eps_all.data(), eps_all.size(), noise_seed);
  StepLoss ld;
  for (std::int64_t s = 0; s < n; s += c.batch) {
    const std::int64_t rows = std::min<std::int64_t>(c.batch, n - s);
    Matrix xb(rows, c.input_dim), eb(rows, c.latent);
    for (std::int64_t r = 0; r < rows; ++r) {
      const auto src = perm[static_cast<std::size_t>(s + r)];
      std::copy(xm.row(src), xm.row(src) + c.input_dim, xb.row(r));
      std::copy(eps_all.begin() + (s + r) * c.latent, eps_all.begin() + (s + r + 1) * c.latent, eb.row(r));
    }
    const StepLoss l = dense->step(xb, eb, c.beta, true);
    ld.recon += l.recon;
    ld.kl += l.kl;
  }
  EXPECT_NEAR(ls.recon, ld.recon, 1e-5 * std::abs(ld.recon));
  EXPECT_NEAR(ls.kl, ld.kl, 1e-5 * std::abs(ld.kl));
  EXPECT_ALLCLOSE(std::span<const float>(sparse->params()), std::span<const float>(dense->params()), 1e-6, 1e-4);
  EXPECT_NE(sparse->params(), m.params);
}

// Results of the cpu engine under a given OpenMP thread count (restored afterwards).
template <class F>
auto with_threads(int threads, F&& f) {
  const int old = omp_get_max_threads();
  omp_set_num_threads(threads);
  auto r = f();
  omp_set_num_threads(old);
  return r;
}

// The fused weight gradient + Adam of a sparse first layer equals csr_weight_grad_t followed by
// adam_update bit for bit (rows summed in the same order, Adam element-wise), on a chunk of CSR
// rows with absolute offsets, columns no row touches (gradient 0, Adam still moves them) and a
// repeated column within a row; 1 and 2 threads.
TEST(VaeSparse, FusedWeightGradAdamEqualsGradThenAdam) {
  const int in = 300, out = 37;
  const std::int64_t rows = 9;
  auto x = sparse_data<float>(rows + 3, in, 0.04, 131);
  x.col[1] = x.col[0];                                                                   // a repeated column in row 0
  const hmr::nn::cpu::CsrRows<float> sub{x.ptr.data() + 2, x.col.data(), x.val.data()};  // rows 2 .. 10
  const auto dy = random_vec<float>(static_cast<std::size_t>(rows * out), 132);
  const auto p0 = random_vec<float>(static_cast<std::size_t>(in * out), 133);
  const auto m0 = random_vec<float>(p0.size(), 134);
  auto v0 = random_vec<float>(p0.size(), 135);
  for (auto& v : v0) v = v * v;  // second moments are >= 0
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 1e-2f;
  const std::int64_t t = 3;
  std::vector<float> g(p0.size(), 5.0f), p = p0, m = m0, v = v0;
  hmr::nn::cpu::csr_weight_grad_t<float>(sub, rows, dy.data(), in, out, g.data());
  hmr::nn::cpu::adam_update(p.data(), g.data(), m.data(), v.data(), p.size(), lr, b1, b2, eps, wd, t, 1.0f);
  std::size_t untouched = 0;
  for (std::size_t i = 0; i < g.size(); i += out) untouched += g[i] == 0.0f;
  EXPECT_GT(untouched, 0u);
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    std::vector<float> pf = p0, mf = m0, vf = v0;
    hmr::nn::cpu::SparseWgradWork work;
    with_threads(threads, [&] {
      hmr::nn::cpu::sparse_wgrad_adam_t(sub, rows, dy.data(), in, out, pf.data(), mf.data(), vf.data(),
                                        hmr::nn::cpu::adam_step(lr, b1, b2, eps, wd, t, 1.0f), &work);
      return 0;
    });
    EXPECT_EQ(pf, p);
    EXPECT_EQ(mf, m);
    EXPECT_EQ(vf, v);
  }
  EXPECT_NE(p, p0);
}

// The fused output-layer update: Adam with dW = dy^T in formed in blocks equals a BLAS dW followed
// by adam_update up to the summation order, and gives the same bits on 1 and 2 threads. Shapes
// with ragged row blocks (out = 100: 48 + 48 + 4) and a column tail (inw = 37).
TEST(VaeFused, DenseWeightGradAdamEqualsGradThenAdam) {
  const int out = 100, inw = 37;
  const std::int64_t rows = 29;
  const auto dy = random_vec<float>(static_cast<std::size_t>(rows * out), 141);
  const auto in = random_vec<float>(static_cast<std::size_t>(rows * inw), 142);
  const auto p0 = random_vec<float>(static_cast<std::size_t>(out * inw), 143);
  const auto m0 = random_vec<float>(p0.size(), 144);
  auto v0 = random_vec<float>(p0.size(), 145);
  for (auto& v : v0) v = v * v;
  const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.0f;
  const std::int64_t t = 5;
  std::vector<float> g(p0.size()), p = p0, m = m0, v = v0;
  hmr::nn::cpu::gemm_rm<float>(true, false, out, inw, static_cast<int>(rows), 1.0f, dy.data(), out, in.data(), inw,
                               0.0f, g.data(), inw);
  hmr::nn::cpu::adam_update(p.data(), g.data(), m.data(), v.data(), p.size(), lr, b1, b2, eps, wd, t, 1.0f);
  std::vector<float> first;
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    std::vector<float> pf = p0, mf = m0, vf = v0;
    const bool ran = with_threads(threads, [&] {
      return hmr::nn::cpu::dense_wgrad_adam(dy.data(), in.data(), rows, out, inw, pf.data(), mf.data(), vf.data(),
                                            hmr::nn::cpu::adam_step(lr, b1, b2, eps, wd, t, 1.0f));
    });
    if (!ran) GTEST_SKIP() << "no AVX2 + FMA: the engine falls back to the unfused update";
    EXPECT_ALLCLOSE(std::span<const float>(mf), std::span<const float>(m), 1e-6, 1e-5);
    EXPECT_ALLCLOSE(std::span<const float>(vf), std::span<const float>(v), 1e-6, 1e-5);
    EXPECT_ALLCLOSE(std::span<const float>(pf), std::span<const float>(p), 1e-6, 1e-5);
    if (first.empty())
      first = pf;
    else
      EXPECT_EQ(pf, first);
  }
}

// Epochs with fused updates (output layer, and the sparse first layer) match the unfused engine
// up to the output layer's summation order and give the same bits on 1 and 2 threads; the fused
// engine never writes those layers' gradients (grads() reads 0 there), which shows it ran.
TEST(VaeFused, FusedEpochMatchesUnfusedEpoch) {
  const VaeConfig c = sparse_config();
  const std::int64_t n = 50;
  const Matrix xm(n, c.input_dim, sparse_data<float>(n, c.input_dim, 0.03, 137).dense);
  const VaeModel m = init_vae(c, hmr::test::test_seed(139));
  std::vector<std::int32_t> perm(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) perm[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 13) % n);
  struct Result {
    std::vector<float> params, grads;
    StepLoss loss;
  };
  auto train = [&](bool fuse) {
    CpuEngineOptions o;
    o.fuse_updates = fuse;
    auto e = make_cpu_engine(c, o);
    e->set_params(m.params);
    e->set_data(xm);
    Result r;
    for (std::uint64_t epoch = 0; epoch < 3; ++epoch) r.loss = e->epoch(perm, c.beta, 300 + epoch);
    r.params = e->params();
    r.grads = e->grads();
    return r;
  };
  const Result ref = train(false);
  const NetPlan plan = make_plan(c);
  const auto w_range = [](const DenseLayer& l) {
    return std::pair{static_cast<std::ptrdiff_t>(l.w), static_cast<std::ptrdiff_t>(l.w + std::size_t(l.in) * l.out)};
  };
  const auto zeros = [](const std::vector<float>& g, std::pair<std::ptrdiff_t, std::ptrdiff_t> r) {
    return std::count(g.begin() + r.first, g.begin() + r.second, 0.0f);
  };
  const auto first = w_range(plan.enc[0]), last = w_range(plan.dec.back());
  EXPECT_LT(zeros(ref.grads, first), first.second - first.first);
  EXPECT_LT(zeros(ref.grads, last), last.second - last.first);
  const Result f1 = with_threads(1, [&] { return train(true); });
  const Result f2 = with_threads(2, [&] { return train(true); });
  EXPECT_EQ(f1.params, f2.params);
  EXPECT_EQ(f1.loss.recon, f2.loss.recon);
  EXPECT_EQ(f1.loss.kl, f2.loss.kl);
  EXPECT_EQ(zeros(f1.grads, first), first.second - first.first);
  if (hmr::nn::cpu::dense_wgrad_adam(nullptr, nullptr, 0, 0, 0, nullptr, nullptr, nullptr, {})) {
    EXPECT_EQ(zeros(f1.grads, last), last.second - last.first);
  }
  EXPECT_NEAR(f1.loss.recon, ref.loss.recon, 1e-5 * std::abs(ref.loss.recon));
  EXPECT_NEAR(f1.loss.kl, ref.loss.kl, 1e-5 * std::abs(ref.loss.kl));
  EXPECT_ALLCLOSE(std::span<const float>(f1.params), std::span<const float>(ref.params), 1e-6, 1e-4);
  EXPECT_NE(f1.params, m.params);
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

// ---- data-parallel chunks (CpuEngineOptions) ------------------------------------------------------

// A small audio-VAE-like model with free bits, beta != 1, clipping and weight decay.
VaeConfig chunk_config() {
  VaeConfig c = tiny_config();
  c.input_dim = 24;
  c.hidden = {32, 16};
  c.latent = 5;
  c.free_bits = 0.2f;
  c.clip_norm = 5.0f;
  c.weight_decay = 1e-3f;
  return c;
}

// A batch that spans three chunks (128, 128 and a ragged 44 rows) gives the loss and gradients of
// the whole-batch step, and ten steps the same weights (float: summation order only).
TEST(VaeChunks, ChunkedStepEqualsWholeBatchStep) {
  const VaeConfig c = chunk_config();
  const auto seed = hmr::test::test_seed(101);
  const VaeModel m = init_vae(c, seed);
  auto whole = make_cpu_engine(c, CpuEngineOptions{-1}), chunked = make_cpu_engine(c, CpuEngineOptions{128});
  whole->set_params(m.params);
  chunked->set_params(m.params);
  for (int s = 0; s < 10; ++s) {
    const Matrix x = random_matrix(300, c.input_dim, seed + 10 + static_cast<std::uint64_t>(s), -2, 2);
    const Matrix eps = random_matrix(300, c.latent, seed + 100 + static_cast<std::uint64_t>(s));
    const StepLoss lw = whole->step(x, eps, c.beta, s > 0);
    const StepLoss lc = chunked->step(x, eps, c.beta, s > 0);
    if (s > 0) continue;
    EXPECT_EQ(lc.rows, 300);
    EXPECT_NEAR(lc.recon, lw.recon, 1e-5 * std::abs(lw.recon));
    EXPECT_NEAR(lc.kl, lw.kl, 1e-5 * std::abs(lw.kl));
    const auto gw = whole->grads(), gc = chunked->grads();
    double gmax = 0;
    for (float v : gw) gmax = std::max(gmax, static_cast<double>(std::abs(v)));
    EXPECT_ALLCLOSE(std::span<const float>(gc), std::span<const float>(gw), 1e-6 * gmax, 1e-5);
  }
  EXPECT_ALLCLOSE(std::span<const float>(chunked->params()), std::span<const float>(whole->params()), 1e-6, 1e-4);
  EXPECT_NE(chunked->params(), m.params);
}

// Epochs in chunks (batches of 300: 3 chunks each, and a last batch of 100 rows: one) give the
// same bits on 1 and 2 OpenMP threads, and match whole-batch epochs; dense and sparse first layer.
TEST(VaeChunks, ChunkedEpochIsThreadCountIndependent) {
  for (const bool sparse : {false, true}) {
    SCOPED_TRACE(sparse ? "sparse first layer" : "dense");
    VaeConfig c = sparse ? sparse_config() : chunk_config();
    c.batch = 300;
    const std::int64_t n = 700;
    const Matrix xm = sparse ? Matrix(n, c.input_dim, sparse_data<float>(n, c.input_dim, 0.03, 41).dense)
                             : random_matrix(n, c.input_dim, 43, -2, 2);
    const VaeModel m = init_vae(c, hmr::test::test_seed(47));
    std::vector<std::int32_t> perm(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) perm[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 37) % n);
    struct Result {
      std::vector<float> params;
      StepLoss loss;
    };
    auto train = [&](std::int64_t chunk_rows) {
      auto e = make_cpu_engine(c, CpuEngineOptions{chunk_rows});
      e->set_params(m.params);
      e->set_data(xm);
      Result r;
      for (std::uint64_t epoch = 0; epoch < 2; ++epoch) r.loss = e->epoch(perm, c.beta, 200 + epoch);
      r.params = e->params();
      return r;
    };
    const Result one = with_threads(1, [&] { return train(128); });
    const Result two = with_threads(2, [&] { return train(128); });
    const Result whole = train(-1);
    EXPECT_EQ(one.params, two.params);
    EXPECT_EQ(one.loss.recon, two.loss.recon);
    EXPECT_EQ(one.loss.kl, two.loss.kl);
    EXPECT_EQ(one.loss.rows, n);
    EXPECT_NEAR(one.loss.recon, whole.loss.recon, 1e-5 * std::abs(whole.loss.recon));
    EXPECT_NEAR(one.loss.kl, whole.loss.kl, 1e-5 * std::abs(whole.loss.kl));
    EXPECT_ALLCLOSE(std::span<const float>(one.params), std::span<const float>(whole.params), 1e-6, 1e-4);
  }
}

// ---- noise -----------------------------------------------------------------------------------------

// The AVX2 Box-Muller (float lanes, own log and sincos) against the double path on the same
// Philox draws: |g - g_double| <= 5e-7 + 2e-7 |g_double| over 1e6 + 13 draws (ragged end). The
// float path's error is rounding (the series' truncation is ~2e-9): the worst seen is 4.8e-7 at
// |g| = 2.1, 2 float ulps; 55% of the values are bitwise equal to the rounded double result.
TEST(VaeNoise, Avx2BoxMullerMatchesDoublePath) {
  const std::size_t n = 1000013;
  std::vector<float> vec(n, 0.0f), ref(n);
  if (!normal_noise_avx2(vec.data(), n, 1234)) GTEST_SKIP() << "no AVX2 + FMA";
  normal_noise_scalar(ref.data(), n, 1234);
  EXPECT_ALLCLOSE(std::span<const float>(vec), std::span<const float>(ref), 5e-7, 2e-7);
  // The reference itself: the Box-Muller pairs of the Philox draws, computed here in double.
  for (std::uint64_t blk : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{77777}, std::uint64_t{250002}}) {
    std::uint32_t u[4];
    hmr::philox::philox4x32_10(blk, 1234, u);
    for (int pair = 0; pair < 2; ++pair) {
      const double r = std::sqrt(-2.0 * std::log((u[2 * pair] + 1.0) * 0x1p-32));
      const double t = 2.0 * M_PI * u[2 * pair + 1] * 0x1p-32;
      EXPECT_NEAR(ref[blk * 4 + 2 * pair], r * std::cos(t), 1e-6 * (1 + r));
      EXPECT_NEAR(ref[blk * 4 + 2 * pair + 1], r * std::sin(t), 1e-6 * (1 + r));
    }
  }
}

// Known Philox4x32-10 answers (the Random123 known-answer vectors: counter and key 0, and all ones).
TEST(VaeNoise, PhiloxKnownAnswers) {
  std::uint32_t u[4];
  hmr::philox::philox4x32_10(0, 0, u);
  EXPECT_EQ(u[0], 0x6627e8d5u);
  EXPECT_EQ(u[1], 0xe169c58du);
  EXPECT_EQ(u[2], 0xbc57ac4cu);
  EXPECT_EQ(u[3], 0x9b00dbd8u);
}

// 1e6 draws of the dispatched generator: mean, variance and two-sided tail fractions of N(0, 1)
// within 5 standard errors, no value beyond the largest Box-Muller radius sqrt(64 ln 2).
TEST(VaeNoise, MomentsAndTails) {
  const std::size_t n = 1000000;
  std::vector<float> g(n);
  normal_noise(g.data(), n, 99);
  double s = 0, s2 = 0, amax = 0;
  std::size_t over2 = 0, over3 = 0, over4 = 0;
  for (float v : g) {
    ASSERT_TRUE(std::isfinite(v));
    s += v;
    s2 += static_cast<double>(v) * v;
    const double a = std::abs(v);
    amax = std::max(amax, a);
    over2 += a > 2;
    over3 += a > 3;
    over4 += a > 4;
  }
  const double dn = static_cast<double>(n), mean = s / dn, var = s2 / dn - mean * mean;
  EXPECT_NEAR(mean, 0.0, 5 / std::sqrt(dn));
  EXPECT_NEAR(var, 1.0, 5 * std::sqrt(2 / dn));
  for (auto [count, p] : {std::pair{over2, 0.04550026}, std::pair{over3, 0.00269980}, std::pair{over4, 6.334e-5}})
    EXPECT_NEAR(static_cast<double>(count) / dn, p, 5 * std::sqrt(p * (1 - p) / dn)) << "P(|g| > t) = " << p;
  EXPECT_LE(amax, std::sqrt(64 * std::log(2.0)) + 1e-5);
}

// Same seed -> same bits, whatever the thread count; the counter is the index, so a shorter
// request is a prefix of a longer one; another seed gives other values.
TEST(VaeNoise, DeterministicAndThreadIndependent) {
  const std::size_t n = 300007;
  std::vector<float> a(n), b(n), c(1001), d(n);
  with_threads(1, [&] {
    normal_noise(a.data(), n, 5);
    return 0;
  });
  with_threads(2, [&] {
    normal_noise(b.data(), n, 5);
    return 0;
  });
  normal_noise(c.data(), c.size(), 5);
  normal_noise(d.data(), n, 6);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(std::equal(c.begin(), c.end(), a.begin()));
  std::size_t same = 0;
  for (std::size_t i = 0; i < n; ++i) same += a[i] == d[i];
  EXPECT_LT(same, n / 1000);
}

// ---- small-matrix GEMM --------------------------------------------------------------------------

// The AVX2 small GEMM against cblas_sgemm for every transpose combination, ragged tiles (rows not a
// multiple of 6, columns not of 8 or 16), padded leading dimensions, alpha != 1 and beta != 0:
// |C - C_blas| <= 4e-7 k (inputs in [-1, 1]: both are float sums of k products, in other orders).
TEST(SmallGemm, MatchesCblasSgemm) {
  std::vector<float> dummy(1);
  if (!hmr::nn::cpu::small_gemm(false, false, 0, 1, 1, 1.0f, dummy.data(), 1, dummy.data(), 1, 0.0f, dummy.data(), 1))
    GTEST_SKIP() << "no AVX2 + FMA";
  std::uint64_t seed = 300;
  int cases = 0;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const int m : {1, 5, 6, 7, 13, 256})
        for (const int n : {1, 7, 8, 9, 15, 16, 17, 40, 128})
          for (const int k : {1, 3, 40, 128, 300}) {
            if (tb && k > 128) continue;
            for (const auto& [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{0.5f, 1.5f}}) {
              const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
              const auto a = random_vec<float>(static_cast<std::size_t>((ta ? k : m) * lda), ++seed);
              const auto b = random_vec<float>(static_cast<std::size_t>((tb ? n : k) * ldb), ++seed);
              const auto c0 = random_vec<float>(static_cast<std::size_t>(m * ldc), ++seed);
              std::vector<float> got = c0, want = c0;
              ASSERT_TRUE(hmr::nn::cpu::small_gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                                                   got.data(), ldc));
              cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                          a.data(), lda, b.data(), ldb, beta, want.data(), ldc);
              // The padding columns of C stay untouched.
              for (int i = 0; i < m; ++i)
                for (int j = n; j < ldc; ++j) ASSERT_EQ(got[i * ldc + j], c0[i * ldc + j]) << i << " " << j;
              ASSERT_ALLCLOSE(std::span<const float>(got), std::span<const float>(want), 4e-7 * k, 0)
                  << "ta " << ta << " tb " << tb << " m " << m << " n " << n << " k " << k << " alpha " << alpha;
              ++cases;
            }
          }
  EXPECT_GT(cases, 800);
  // Widths it does not take: BLAS then runs.
  EXPECT_FALSE(hmr::nn::cpu::small_gemm(false, false, 4, 129, 4, 1.0f, dummy.data(), 4, dummy.data(), 129, 0.0f,
                                        dummy.data(), 129));
  EXPECT_FALSE(hmr::nn::cpu::small_gemm(false, true, 4, 4, 129, 1.0f, dummy.data(), 129, dummy.data(), 129, 0.0f,
                                        dummy.data(), 4));
}

// ---- reparameterisation in float (AVX2 lanes where available) -----------------------------------

// reparam_forward and reparam_kl_backward in float (8 lanes and a scalar tail: latent 20) against
// the double versions, with and without free bits (some terms below the threshold, some above):
// z, dh within 2e-6 relative (+1e-7), the row KL sums within 1e-6 relative.
TEST(ReparamFloat, MatchesDouble) {
  const std::int64_t rows = 37;
  const int L = 20;
  const auto hd = random_vec<double>(static_cast<std::size_t>(rows * 2 * L), 61, -2.0, 2.0);
  const auto epsd = random_vec<double>(static_cast<std::size_t>(rows * L), 62, -2.0, 2.0);
  const auto dzd = random_vec<double>(static_cast<std::size_t>(rows * L), 63);
  // The double inputs are the float ones, exactly.
  const std::vector<float> hf(hd.begin(), hd.end()), epsf(epsd.begin(), epsd.end()), dzf(dzd.begin(), dzd.end());
  const std::vector<double> h(hf.begin(), hf.end()), eps(epsf.begin(), epsf.end()), dz(dzf.begin(), dzf.end());
  std::vector<float> zf(static_cast<std::size_t>(rows * L));
  std::vector<double> z(zf.size());
  hmr::nn::cpu::reparam_forward<float>(hf.data(), epsf.data(), zf.data(), rows, L);
  hmr::nn::cpu::reparam_forward<double>(h.data(), eps.data(), z.data(), rows, L);
  EXPECT_ALLCLOSE(std::span<const float>(zf), std::span<const float>(std::vector<float>(z.begin(), z.end())), 1e-7,
                  2e-6);
  for (const float fb : {0.0f, 0.5f}) {
    SCOPED_TRACE(fb);
    std::vector<float> dhf(hf.size());
    std::vector<double> dh(h.size()), klf(static_cast<std::size_t>(rows)), kl(klf.size());
    hmr::nn::cpu::reparam_kl_backward<float>(hf.data(), epsf.data(), dzf.data(), rows, L, 1.5f, 1.0f / 37, dhf.data(),
                                             klf.data(), fb);
    hmr::nn::cpu::reparam_kl_backward<double>(h.data(), eps.data(), dz.data(), rows, L, 1.5, 1.0 / 37, dh.data(),
                                              kl.data(), fb);
    EXPECT_ALLCLOSE(std::span<const float>(dhf), std::span<const float>(std::vector<float>(dh.begin(), dh.end())), 1e-7,
                    2e-6);
    EXPECT_ALLCLOSE(std::span<const double>(klf), std::span<const double>(kl), 1e-9, 1e-6);
  }
}

// small_linear (a dense layer's forward: bias and relu in the GEMM's store) against cblas_sgemm +
// bias_act_forward, both weight layouts, a ragged shape.
TEST(SmallGemm, LinearWithBiasAndReluMatchesBlasPlusBiasAct) {
  const int m = 37, n = 45, k = 29;
  const auto a = random_vec<float>(static_cast<std::size_t>(m * k), 401);
  const auto w = random_vec<float>(static_cast<std::size_t>(n * k), 402);
  const auto b = random_vec<float>(static_cast<std::size_t>(n), 403);
  for (const bool tb : {false, true})
    for (const bool relu : {false, true}) {
      std::vector<float> got(static_cast<std::size_t>(m * n)), want(got.size());
      if (!hmr::nn::cpu::small_linear(tb, m, n, k, a.data(), k, w.data(), tb ? k : n, b.data(), relu, got.data(), n))
        GTEST_SKIP() << "no AVX2 + FMA";
      cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a.data(), k, w.data(),
                  tb ? k : n, 0.0f, want.data(), n);
      hmr::nn::cpu::bias_act_forward<float>(want.data(), b.data(), m, n,
                                            relu ? Activation::relu : Activation::identity);
      EXPECT_ALLCLOSE(std::span<const float>(got), std::span<const float>(want), 4e-7 * k, 0) << tb << relu;
      if (relu) {
        EXPECT_GT(std::count(got.begin(), got.end(), 0.0f), m * n / 4);
      }
    }
}

HMR_INSTANTIATE_BACKENDS(ConfVae);

}  // namespace
