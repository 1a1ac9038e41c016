// bench/kernels/nn_kernels.cpp — VAE training kernels (kernels/nn/vae.cuh) beside their cpu twins
// (hmr::nn::cpu in host/nn): the fused bias + activation forward and its backward with the bias
// gradient on a [batch x 512] hidden layer, and the gradient norm + clip + Adam step over a flat
// parameter buffer (the text VAE 5000-512-32 has about 2.6M parameters).
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

HMR_KERNEL_BENCH({"vae_bias_act", "launch_bias_act_forward, launch_act_backward_bias_grad",
                  "batch rows (x 512 hidden units)", 256, 4096, &bench_bias_act});
HMR_KERNEL_BENCH({"vae_clip_adam", "launch_grad_norm_partial, launch_clip_finalize, launch_adam", "parameters", 300000,
                  2600000, &bench_adam});

}  // namespace
