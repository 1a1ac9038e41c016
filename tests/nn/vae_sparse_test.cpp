// VAE engine tests, sparse and fused paths: the sparse (CSR) first layer and BCE with sparse
// targets against the dense path, the fused weight-gradient + Adam updates against the unfused
// ones, and data-parallel chunked steps/epochs against whole-batch ones (thread-count independent).
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

}  // namespace
