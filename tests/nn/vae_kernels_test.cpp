// VAE engine tests, kernels and numerics: each kernel against its cpu twin under the emulator,
// the AVX2 Box-Muller and Philox noise (known answers, moments, determinism), the small-matrix
// GEMM against cblas_sgemm and the float reparameterisation against the double one.
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

// ---- kernels vs cpu twins under the emulator ----------------------------------------------------

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

}  // namespace
