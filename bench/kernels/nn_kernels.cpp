// bench/kernels/nn_kernels.cpp — VAE training kernels (kernels/nn/vae.cuh) beside their cpu twins
// (hmr::nn::cpu in host/nn) or loops that state the launcher's contract: the fused bias + activation
// forward and its backward with the bias gradient on a [batch x 512] hidden layer; the gradient
// norm + clip + Adam step over a flat parameter buffer (the text VAE 5000-512-32 has about 2.6M
// parameters); the reparameterisation with its fused KL backward (latent 32); the BCE
// reconstruction loss and gradient on [batch x 5000] logits with the per-batch loss sums; the
// sparse first layer (TF-IDF rows with ~1% non-zeros, 5000 -> 512) forward and weight gradient on a
// permuted minibatch; and the minibatch gather of dense rows and noise.
#include <algorithm>
#include <cfloat>

#include "harness.h"
#include "nn/vae.cuh"
#include "nn/vae_net.h"

namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;

// ---- adapter: the only lines that name launchers ------------------------------------------------
void bias_act(Buf<float>& y, const Buf<float>& b, std::int64_t rows, int cols, Buf<float>& dy, Buf<float>& db) {
  kern::launch_bias_act_forward(y.get(), b.get(), rows, cols, kern::kActRelu, nullptr);
  kern::launch_act_backward_bias_grad(dy.get(), y.get(), rows, cols, kern::kActRelu, db.get(), nullptr);
}
struct AdamWork {
  AdamWork() : partial(static_cast<std::size_t>(kern::norm_partials())), norm(1), scale(1), counters({0, 3}) {}
  Buf<double> partial, norm;
  Buf<float> scale;
  Buf<int> counters;  // {batch, Adam steps taken}: 3 steps taken, this is step t = 4
};
void clip_adam(Buf<float>& p, const Buf<float>& g, Buf<float>& m, Buf<float>& v, std::int64_t n, float max_norm,
               AdamWork& w) {
  kern::launch_grad_norm_partial(g.get(), n, w.partial.get(), nullptr);
  kern::launch_clip_finalize(w.partial.get(), max_norm, w.norm.get(), w.scale.get(), nullptr);
  kern::launch_adam(p.get(), g.get(), m.get(), v.get(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, w.counters.get(),
                    w.scale.get(), nullptr);
}
void reparam(const Buf<float>& h, const Buf<float>& eps, const Buf<float>& dz, std::int64_t rows, int latent,
             const Buf<float>& beta, float free_bits, Buf<float>& z, Buf<float>& dh, Buf<double>& kl_rows) {
  kern::launch_reparam_forward(h.get(), eps.get(), z.get(), rows, latent, nullptr);
  kern::launch_reparam_kl_backward(h.get(), eps.get(), dz.get(), rows, latent, beta.get(),
                                   1.0f / static_cast<float>(rows), free_bits, dh.get(), kl_rows.get(), nullptr);
}
void recon_bce(const Buf<float>& a, const Buf<float>& x, std::int64_t rows, int cols, const Buf<double>& kl_rows,
               const Buf<int>& counters, Buf<float>& da, Buf<double>& loss_rows, Buf<double>& losses) {
  kern::launch_recon_loss_grad(a.get(), x.get(), rows, cols, kern::kOutSigmoid, kern::kLossBce,
                               1.0f / static_cast<float>(rows), da.get(), loss_rows.get(), nullptr);
  kern::launch_batch_loss_sum(loss_rows.get(), kl_rows.get(), rows, counters.get(), losses.get(), nullptr);
}
struct CsrBuf {
  Buf<std::int64_t> ptr;
  Buf<std::int32_t> col;
  Buf<float> val;
};
void csr_layer(const CsrBuf& x, const Buf<std::int32_t>& perm, std::int64_t batch, const Buf<int>& counters,
               const Buf<float>& w, const Buf<float>& dy, int in, int out, Buf<float>& y, Buf<float>& dw) {
  kern::launch_csr_linear_forward(x.ptr.get(), x.col.get(), x.val.get(), perm.get(), batch, counters.get(), batch,
                                  w.get(), in, out, y.get(), nullptr);
  kern::launch_csr_weight_grad(x.ptr.get(), x.col.get(), x.val.get(), perm.get(), batch, counters.get(), batch,
                               dy.get(), in, out, dw.get(), nullptr);
}
void gather(const Buf<float>& X, int d, const Buf<std::int32_t>& perm, const Buf<float>& eps_all, int latent,
            std::int64_t batch, Buf<int>& counters, Buf<float>& xb, Buf<float>& epsb) {
  kern::launch_gather_batch(X.get(), d, perm.get(), eps_all.get(), latent, batch, batch, counters.get(), xb.get(),
                            epsb.get(), nullptr);
  kern::launch_advance_counters(counters.get(), nullptr);
}
// -------------------------------------------------------------------------------------------------

void bench_bias_act(const Problem& p, Report& r) {
  constexpr int cols = 512;
  const std::size_t size = static_cast<std::size_t>(p.n) * cols;
  const auto pre = uniform(size, 61, -2.0f, 2.0f), b = uniform(cols, 62), up = uniform(size, 63);
  r.shape(std::to_string(p.n) + "x" + std::to_string(cols) + " relu");
  std::vector<float> y, dy, db(cols);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    y = pre;
    dy = up;
    hmr::nn::cpu::bias_act_forward<float>(y.data(), b.data(), p.n, cols, hmr::nn::Activation::relu);
    hmr::nn::cpu::act_backward_bias_grad<float>(dy.data(), y.data(), p.n, cols, hmr::nn::Activation::relu, db.data());
  }));
  Buf<float> dy_d(pre), b_d(b), up_d(up), db_d(cols);
  // both passes work in place: restore their inputs before every call
  r.device_ms(time_device(
      p.repeat, [&] { bias_act(dy_d, b_d, p.n, cols, up_d, db_d); },
      [&] {
        dy_d.upload(pre);
        up_d.upload(up);
      }));
  r.check("activations", dy_d.host(), y, 1e-6, 1e-5);
  r.check("upstream gradient", up_d.host(), dy, 1e-6, 1e-5);
  r.check("bias gradient", db_d.host(), db, 1e-6, 1e-5);
}

void bench_adam(const Problem& p, Report& r) {
  const auto n = static_cast<std::size_t>(p.n);
  const auto g = uniform(n, 71, -2.0f, 2.0f), p0 = uniform(n, 72), m0 = uniform(n, 73, -0.1f, 0.1f),
             v0 = uniform(n, 74, 0.0f, 0.1f);
  constexpr float max_norm = 5.0f;
  r.shape(std::to_string(p.n) + " parameters");
  std::vector<float> pc, mc, vc;
  r.cpu_ms(time_cpu(p.repeat, [&] {
    pc = p0, mc = m0, vc = v0;
    const float scale = hmr::nn::cpu::clip_scale(hmr::nn::cpu::grad_norm(g.data(), n), max_norm);
    hmr::nn::cpu::adam_update(pc.data(), g.data(), mc.data(), vc.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 4,
                              scale);
  }));
  Buf<float> gd(g), pd(p0), md(m0), vd(v0);
  AdamWork w;
  r.device_ms(time_device(
      p.repeat, [&] { clip_adam(pd, gd, md, vd, p.n, max_norm, w); },
      [&] {
        pd.upload(p0);
        md.upload(m0);
        vd.upload(v0);
      }));
  r.check("parameters", pd.host(), pc, 1e-7, 1e-5);
  r.check("first moments", md.host(), mc, 1e-7, 1e-5);
  r.check("second moments", vd.host(), vc, 1e-7, 1e-5);
}

// A fixed permutation of n rows (xorshift-driven Fisher-Yates), as a training epoch draws one.
std::vector<std::int32_t> permutation(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int32_t> perm(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) perm[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
  const auto u = uniform(static_cast<std::size_t>(n), seed, 0.0f, 1.0f);
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = std::min<std::int64_t>(i, static_cast<std::int64_t>(u[static_cast<std::size_t>(i)] * (i + 1)));
    std::swap(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(j)]);
  }
  return perm;
}

void bench_reparam(const Problem& p, Report& r) {
  constexpr int latent = 32;
  constexpr float beta = 0.5f, free_bits = 0.05f;  // free bits on: both branches of the KL gradient run
  const auto rows = static_cast<std::size_t>(p.n);
  auto h = uniform(rows * 2 * latent, 91, -1.5f, 1.5f);
  const auto eps = uniform(rows * latent, 92, -2.0f, 2.0f), dz = uniform(rows * latent, 93, -0.1f, 0.1f);
  r.shape(std::to_string(p.n) + "x" + std::to_string(latent) + " latent");
  std::vector<float> z(rows * latent), dh(rows * 2 * latent);
  std::vector<double> kl(rows);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    hmr::nn::cpu::reparam_forward<float>(h.data(), eps.data(), z.data(), p.n, latent);
    hmr::nn::cpu::reparam_kl_backward<float>(h.data(), eps.data(), dz.data(), p.n, latent, beta,
                                             1.0f / static_cast<float>(p.n), dh.data(), kl.data(), free_bits);
  }));
  Buf<float> hd(h), ed(eps), dzd(dz), bd(std::vector<float>{beta}), zd(z.size()), dhd(dh.size());
  Buf<double> kld(kl.size());
  r.device_ms(time_device(p.repeat, [&] { reparam(hd, ed, dzd, p.n, latent, bd, free_bits, zd, dhd, kld); }));
  r.check("z", zd.host(), z, 1e-6, 1e-5);
  r.check("d[mu | logvar]", dhd.host(), dh, 1e-7, 1e-5);
  r.check("KL rows", kld.host(), kl, 1e-6, 1e-5);
}

void bench_recon(const Problem& p, Report& r) {
  constexpr int cols = 5000;
  const auto rows = static_cast<std::size_t>(p.n);
  const auto a = uniform(rows * cols, 101, -6.0f, 6.0f);
  auto x = uniform(rows * cols, 102, -60.0f, 1.0f);  // TF-IDF-like targets: mostly 0, some in (0, 1]
  for (auto& v : x) v = std::max(v, 0.0f);
  const auto klf = uniform(rows, 103, 0.0f, 4.0f);
  const std::vector<double> kl(klf.begin(), klf.end());
  constexpr int step = 2;  // the batch's slot in the epoch's loss array
  r.shape(std::to_string(p.n) + "x" + std::to_string(cols) + " bce");
  std::vector<float> da(rows * cols);
  std::vector<double> loss_rows(rows), losses(2 * (step + 1), 0.0);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    hmr::nn::cpu::recon_loss_grad<float>(a.data(), x.data(), p.n, cols, hmr::nn::Output::sigmoid, hmr::nn::Loss::bce,
                                         1.0f / static_cast<float>(p.n), da.data(), loss_rows.data());
    double recon = 0, kls = 0;
    for (std::size_t i = 0; i < rows; ++i) recon += loss_rows[i], kls += kl[i];
    losses[2 * step] = recon;
    losses[2 * step + 1] = kls;
  }));
  Buf<float> ad(a), xd(x), dad(da.size());
  Buf<double> kld(kl), lrd(rows), lsd(losses.size());
  lsd.fill_bytes(0);
  Buf<int> counters(std::vector<int>{step, 0});
  r.device_ms(time_device(p.repeat, [&] { recon_bce(ad, xd, p.n, cols, kld, counters, dad, lrd, lsd); }));
  // (sigmoid(a) - x) / B cancels where sigmoid(a) ~ x: the error is a float ulp of 1 over B, not relative
  r.check("dL/da", dad.host(), da, 2 * FLT_EPSILON / static_cast<double>(p.n), 1e-5);
  r.check("loss rows", lrd.host(), loss_rows, 1e-4, 1e-6);
  r.check("batch losses", lsd.host(), losses, 1e-3, 1e-6);
}

void bench_csr(const Problem& p, Report& r) {
  constexpr int in = 5000, out = 512;
  const std::int64_t n = 2 * p.n, batch = p.n;  // an epoch of two batches; this is the second
  // rows with 20..80 entries at distinct sorted columns (TF-IDF rows of a few dozen terms)
  std::vector<std::int64_t> ptr{0};
  std::vector<std::int32_t> col;
  const auto u = uniform(static_cast<std::size_t>(n) * 81, 111, 0.0f, 1.0f);
  for (std::int64_t i = 0; i < n; ++i) {
    const float* ui = u.data() + i * 81;
    const int nnz = 20 + static_cast<int>(ui[0] * 60);
    const int stride = in / nnz;
    for (int e = 0; e < nnz; ++e) col.push_back(e * stride + static_cast<int>(ui[1 + e] * (stride - 1)));
    ptr.push_back(static_cast<std::int64_t>(col.size()));
  }
  const auto val = uniform(col.size(), 112, 0.01f, 0.5f);
  const auto perm = permutation(n, 113);
  const auto w = uniform(static_cast<std::size_t>(out) * in, 114, -0.05f, 0.05f);
  const auto dy = uniform(static_cast<std::size_t>(batch) * out, 115, -0.1f, 0.1f);
  // the cpu twins take the batch's rows as CSR: gather them the way the launchers index them
  std::vector<std::int64_t> bptr{0};
  std::vector<std::int32_t> bcol;
  std::vector<float> bval;
  for (std::int64_t i = 0; i < batch; ++i) {
    const auto row = static_cast<std::size_t>(perm[static_cast<std::size_t>(batch + i)]);
    for (auto e = ptr[row]; e < ptr[row + 1]; ++e) {
      bcol.push_back(col[static_cast<std::size_t>(e)]);
      bval.push_back(val[static_cast<std::size_t>(e)]);
    }
    bptr.push_back(static_cast<std::int64_t>(bcol.size()));
  }
  r.shape(std::to_string(batch) + " of " + std::to_string(n) + " rows, " + std::to_string(bcol.size()) + " nnz, " +
          std::to_string(in) + "->" + std::to_string(out));
  std::vector<float> y(static_cast<std::size_t>(batch) * out), dw(static_cast<std::size_t>(out) * in);
  const hmr::nn::cpu::CsrRows<float> xb{bptr.data(), bcol.data(), bval.data()};
  r.cpu_ms(time_cpu(p.repeat, [&] {
    hmr::nn::cpu::csr_linear_forward<float>(xb, batch, w.data(), in, out, y.data());
    hmr::nn::cpu::csr_weight_grad<float>(xb, batch, dy.data(), in, out, dw.data());
  }));
  const CsrBuf x{Buf<std::int64_t>(ptr), Buf<std::int32_t>(col), Buf<float>(val)};
  Buf<std::int32_t> permd(perm);
  Buf<int> counters(std::vector<int>{1, 0});
  Buf<float> wd(w), dyd(dy), yd(y.size()), dwd(dw.size());
  r.device_ms(time_device(p.repeat, [&] { csr_layer(x, permd, batch, counters, wd, dyd, in, out, yd, dwd); }));
  // same terms in the same order as the twins
  r.check("y = X W^T", yd.host(), y, 1e-7, 1e-5);
  r.check("dW = dy^T X", dwd.host(), dw, 1e-7, 1e-5);
}

void bench_gather(const Problem& p, Report& r) {
  constexpr int d = 64, latent = 32;  // the audio VAE's input width
  const std::int64_t batch = p.n, n = 4 * p.n;
  constexpr int step = 3;  // the last batch of the epoch
  const auto X = uniform(static_cast<std::size_t>(n) * d, 121),
             eps = uniform(static_cast<std::size_t>(n) * latent, 122);
  const auto perm = permutation(n, 123);
  r.shape(std::to_string(batch) + " of " + std::to_string(n) + " rows x " + std::to_string(d));
  std::vector<float> xb(static_cast<std::size_t>(batch) * d), epsb(static_cast<std::size_t>(batch) * latent);
  r.cpu_ms(time_cpu(p.repeat, [&] {
    for (std::int64_t i = 0; i < batch; ++i) {
      const auto src = static_cast<std::size_t>(perm[static_cast<std::size_t>(step * batch + i)]);
      std::copy_n(X.begin() + static_cast<std::ptrdiff_t>(src * d), d, xb.begin() + i * d);
      std::copy_n(eps.begin() + (step * batch + i) * latent, latent, epsb.begin() + i * latent);
    }
  }));
  const std::vector<int> counters0{step, 7};
  Buf<float> Xd(X), ed(eps), xbd(xb.size()), ebd(epsb.size());
  Buf<std::int32_t> permd(perm);
  Buf<int> counters(counters0);
  // the counters advance after each gather: restore them before every call
  r.device_ms(time_device(
      p.repeat, [&] { gather(Xd, d, permd, ed, latent, batch, counters, xbd, ebd); },
      [&] { counters.upload(counters0); }));
  r.check("rows", xbd.host(), xb, 0, 0);
  r.check("noise", ebd.host(), epsb, 0, 0);
  r.check("counters", counters.host(), std::vector<int>{step + 1, 8}, 0, 0);
}

HMR_KERNEL_BENCH({"vae_bias_act", "launch_bias_act_forward, launch_act_backward_bias_grad",
                  "batch rows (x 512 hidden units)", 256, 4096, &bench_bias_act});
HMR_KERNEL_BENCH({"vae_clip_adam", "launch_grad_norm_partial, launch_clip_finalize, launch_adam", "parameters", 300000,
                  2600000, &bench_adam});

HMR_KERNEL_BENCH({"vae_reparam_kl", "launch_reparam_forward, launch_reparam_kl_backward", "batch rows (x 32 latent)",
                  512, 65536, &bench_reparam});
HMR_KERNEL_BENCH({"vae_recon_bce", "launch_recon_loss_grad, launch_batch_loss_sum", "batch rows (x 5000 outputs)", 16,
                  1024, &bench_recon});
HMR_KERNEL_BENCH({"vae_csr_layer", "launch_csr_linear_forward, launch_csr_weight_grad",
                  "batch rows (of 2x as many CSR rows, 5000 -> 512)", 32, 1024, &bench_csr});
HMR_KERNEL_BENCH({"vae_gather_batch", "launch_gather_batch, launch_advance_counters", "batch rows (of 4x, x 64)", 256,
                  65536, &bench_gather});

}  // namespace
