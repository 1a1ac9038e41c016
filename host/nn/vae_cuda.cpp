// nn/vae_cuda.cpp — the cuda backend of the VAE engine. Everything stays on the device: the
// training rows, the flat parameter / gradient / Adam buffers, the activations of a batch. A
// training step is: gather the minibatch (perm + step counter) -> per layer cuBLAS GEMM (row-major
// through the transpose trick, no copies) + fused bias/activation -> reparameterisation -> decoder
// -> fused reconstruction loss + gradient -> per layer fused activation backward + bias gradient
// and two GEMMs -> fused reparameterisation/KL backward -> encoder -> batch loss sums -> gradient
// norm + clip factor -> one Adam kernel over the flat buffer -> advance counters.
// The noise of an epoch comes from cuRAND (Philox) into one buffer. Every scalar that changes
// between steps lives in device memory, so on a real GPU the fixed-shape step is captured once as
// a CUDA Graph and replayed for every full batch (the emulated build runs the same launches
// uncaptured; the last, smaller batch of an epoch is always launched directly).
#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "cuda/blas.h"
#include "cuda/context.h"
#include "cuda/rng.h"
#include "nn/vae.cuh"
#include "nn/vae_cuda.h"
#include "nn/vae_net.h"

namespace hmr::HMR_CUDA_NS {

namespace {

using nn::DenseLayer;
using nn::NetPlan;
using nn::StepLoss;

class CudaEngine final : public nn::Engine {
 public:
  CudaEngine(Context& ctx, const nn::VaeConfig& c) : ctx_(ctx), cfg_(c), plan_(nn::make_plan(c)) {
    const std::size_t n = plan_.n_params;
    cudaStream_t s = ctx_.stream();
    p_.resize(n);
    g_.resize(n);
    m_.resize(n);
    v_.resize(n);
    p_.zero(s);
    g_.zero(s);
    counters_.resize(2);
    counters_.zero(s);
    beta_.resize(1);
    scale_.resize(1);
    norm_.resize(1);
    partial_.resize(static_cast<std::size_t>(kern::norm_partials()));
  }
  ~CudaEngine() override { drop_graph(); }

  void set_params(const std::vector<float>& p) override {
    HMR_ASSERT(p.size() == plan_.n_params, "parameter count {} != {}", p.size(), plan_.n_params);
    cudaStream_t s = ctx_.stream();
    p_.upload(p.data(), p.size(), s);
    m_.zero(s);
    v_.zero(s);
    counters_.zero(s);
    ctx_.sync();
  }
  std::vector<float> params() override { return p_.to_host(ctx_.stream()); }
  std::vector<float> grads() override { return g_.to_host(ctx_.stream()); }
  void adam_state(std::vector<float>* m, std::vector<float>* v, std::int64_t* t) override {
    *m = m_.to_host(ctx_.stream());
    *v = v_.to_host(ctx_.stream());
    *t = counters_.to_host(ctx_.stream())[1];
  }
  void set_adam_state(const std::vector<float>& m, const std::vector<float>& v, std::int64_t t) override {
    HMR_ASSERT(m.size() == plan_.n_params && v.size() == plan_.n_params, "Adam state of {} / {} != {}", m.size(),
               v.size(), plan_.n_params);
    HMR_REQUIRE(t >= 0 && t <= INT32_MAX, "vae resume: Adam step {} does not fit the cuda engine's counter", t);
    cudaStream_t s = ctx_.stream();
    m_.upload(m.data(), m.size(), s);
    v_.upload(v.data(), v.size(), s);
    const int counters[2] = {0, static_cast<int>(t)};
    counters_.upload(counters, 2, s);
    ctx_.sync();
  }

  StepLoss step(ConstMatrixView x, ConstMatrixView eps, float beta, bool update) override {
    HMR_ASSERT(x.ld == x.cols && eps.ld == eps.cols, "contiguous batches expected");
    cudaStream_t s = ctx_.stream();
    const std::int64_t rows = x.rows;
    reserve(rows);
    if (losses_.size() < 2) {
      drop_graph();
      losses_.resize(2);
    }
    xb_.upload(x.data, static_cast<std::size_t>(rows * plan_.input_dim), s);
    epsb_.upload(eps.data, static_cast<std::size_t>(rows * plan_.latent), s);
    set_beta(beta);
    HMR_CUDA_CHECK(cudaMemsetAsync(counters_.data(), 0, sizeof(int), s));  // batch slot 0; Adam t kept
    enqueue_forward_backward(rows);
    if (update) enqueue_update();
    double l[2];
    losses_.download(l, 2, s);
    ctx_.sync();
    StepLoss out;
    out.recon = l[0];
    out.kl = l[1];
    out.rows = rows;
    return out;
  }

  void set_data(ConstMatrixView x) override {
    HMR_ASSERT(x.ld == x.cols, "contiguous data expected");
    drop_graph();
    data_.resize(static_cast<std::size_t>(x.rows * x.cols));
    data_.upload(x.data, data_.size(), ctx_.stream());
    data_rows_ = x.rows;
    // Mostly-zero wide rows (TF-IDF): the epochs run the first encoder layer from a CSR copy.
    nn::CsrHost sp;
    sparse_ = cfg_.sparse_input && nn::sparse_rows(plan_, x, &sp);
    if (sparse_) {
      sp_ptr_.resize(sp.ptr.size());
      sp_ptr_.upload(sp.ptr.data(), sp.ptr.size(), ctx_.stream());
      sp_col_.resize(std::max<std::size_t>(1, sp.col.size()));
      sp_val_.resize(std::max<std::size_t>(1, sp.val.size()));
      if (!sp.col.empty()) {
        sp_col_.upload(sp.col.data(), sp.col.size(), ctx_.stream());
        sp_val_.upload(sp.val.data(), sp.val.size(), ctx_.stream());
      }
      ctx_.sync();  // the host vectors go out of scope
    }
  }

  StepLoss epoch(const std::vector<std::int32_t>& perm, float beta, std::uint64_t noise_seed) override {
    cudaStream_t s = ctx_.stream();
    const std::int64_t n = static_cast<std::int64_t>(perm.size()), L = plan_.latent;
    HMR_ASSERT(n <= data_rows_, "permutation longer than the data");
    const std::int64_t B = std::min<std::int64_t>(cfg_.batch, n);
    const std::int64_t full = n / B, rest = n - full * B, steps = full + (rest ? 1 : 0);
    reserve(B);
    // Buffers the captured graph reads keep their addresses from epoch to epoch.
    if (perm_.size() != perm.size()) {
      drop_graph();
      perm_.resize(perm.size());
      eps_all_.resize(static_cast<std::size_t>((n * L + 1) / 2 * 2));  // cuRAND draws normals in pairs
    }
    if (losses_.size() < static_cast<std::size_t>(2 * steps)) {
      drop_graph();
      losses_.resize(static_cast<std::size_t>(2 * steps));
    }
    perm_.upload(perm.data(), perm.size(), s);
    rng::normal(ctx_, eps_all_.data(), eps_all_.size(), noise_seed, 0);
    set_beta(beta);
    HMR_CUDA_CHECK(cudaMemsetAsync(counters_.data(), 0, sizeof(int), s));
    for (std::int64_t k = 0; k < full; ++k) run_epoch_step(B, true);
    if (rest) run_epoch_step(rest, false);
    std::vector<double> l(static_cast<std::size_t>(2 * steps));
    losses_.download(l.data(), l.size(), s);
    ctx_.sync();
    StepLoss out;
    for (std::int64_t k = 0; k < steps; ++k) {
      out.recon += l[static_cast<std::size_t>(2 * k)];
      out.kl += l[static_cast<std::size_t>(2 * k + 1)];
    }
    out.rows = n;
    return out;
  }

  Matrix encode(ConstMatrixView x) override {
    HMR_ASSERT(x.ld == x.cols, "contiguous input expected");
    Matrix h(x.rows, 2 * plan_.latent);
    cudaStream_t s = ctx_.stream();
    for_chunks(x.rows, [&](std::int64_t r0, std::int64_t rows) {
      xb_.upload(x.data + r0 * x.cols, static_cast<std::size_t>(rows * x.cols), s);
      enqueue_encoder(xb_.data(), rows);
      act_[plan_.enc.size()].download(h.row(r0), static_cast<std::size_t>(rows * 2 * plan_.latent), s);
      ctx_.sync();
    });
    return h;
  }

  Matrix decode_logits(ConstMatrixView z) override {
    HMR_ASSERT(z.ld == z.cols, "contiguous input expected");
    Matrix out(z.rows, plan_.input_dim);
    cudaStream_t s = ctx_.stream();
    for_chunks(z.rows, [&](std::int64_t r0, std::int64_t rows) {
      z_.upload(z.data + r0 * z.cols, static_cast<std::size_t>(rows * z.cols), s);
      enqueue_decoder(rows);
      act_.back().download(out.row(r0), static_cast<std::size_t>(rows * plan_.input_dim), s);
      ctx_.sync();
    });
    return out;
  }

  bool graph_used() const override { return graph_used_; }

 private:
  template <class F>
  void for_chunks(std::int64_t n, F&& f) {
    constexpr std::int64_t kChunk = 4096;
    reserve(std::min(kChunk, n));
    for (std::int64_t r0 = 0; r0 < n; r0 += kChunk) f(r0, std::min(kChunk, n - r0));
  }

  void reserve(std::int64_t rows) {
    if (rows <= cap_) return;
    drop_graph();  // the graph holds buffer addresses
    cap_ = rows;
    const std::size_t r = static_cast<std::size_t>(rows);
    act_.clear();
    for (const auto& l : plan_.enc) act_.emplace_back(r * static_cast<std::size_t>(l.out));
    act_.emplace_back(r * static_cast<std::size_t>(plan_.head.out));
    for (const auto& l : plan_.dec) act_.emplace_back(r * static_cast<std::size_t>(l.out));
    const std::size_t lat = r * static_cast<std::size_t>(plan_.latent);
    xb_.resize(r * static_cast<std::size_t>(plan_.input_dim));
    epsb_.resize(lat);
    z_.resize(lat);
    dz_.resize(lat);
    dh_.resize(2 * lat);
    d0_.resize(r * static_cast<std::size_t>(plan_.widest));
    d1_.resize(r * static_cast<std::size_t>(plan_.widest));
    recon_rows_.resize(r);
    kl_rows_.resize(r);
  }

  void set_beta(float beta) {
    // A pageable copy is staged before the call returns, so the local may go out of scope.
    HMR_CUDA_CHECK(cudaMemcpyAsync(beta_.data(), &beta, sizeof(float), cudaMemcpyHostToDevice, ctx_.stream()));
  }

  void dense_forward(const DenseLayer& l, const float* in, std::int64_t rows, float* out) {
    blas::gemm_rm(ctx_, false, true, static_cast<int>(rows), l.out, l.in, 1.0f, in, l.in, p_.data() + l.w, l.in, 0.0f,
                  out, l.out);
    kern::launch_bias_act_forward(out, p_.data() + l.b, rows, l.out, static_cast<int>(l.act), ctx_.stream());
  }
  void dense_backward(const DenseLayer& l, const float* in, const float* out, std::int64_t rows, float* d, float* din) {
    kern::launch_act_backward_bias_grad(d, out, rows, l.out, static_cast<int>(l.act), g_.data() + l.b, ctx_.stream());
    blas::gemm_rm(ctx_, true, false, l.out, l.in, static_cast<int>(rows), 1.0f, d, l.out, in, l.in, 0.0f,
                  g_.data() + l.w, l.in);
    if (din)
      blas::gemm_rm(ctx_, false, false, static_cast<int>(rows), l.in, l.out, 1.0f, d, l.out, p_.data() + l.w, l.in,
                    0.0f, din, l.in);
  }

  void enqueue_encoder(const float* x, std::int64_t rows) {
    const float* in = x;
    for (std::size_t i = 0; i < plan_.enc.size(); ++i) {
      const DenseLayer& l = plan_.enc[i];
      if (i == 0 && sparse_step_) {
        kern::launch_csr_linear_forward(sp_ptr_.data(), sp_col_.data(), sp_val_.data(), perm_.data(), cfg_.batch,
                                        counters_.data(), rows, p_.data() + l.w, l.in, l.out, act_[0].data(),
                                        ctx_.stream());
        kern::launch_bias_act_forward(act_[0].data(), p_.data() + l.b, rows, l.out, static_cast<int>(l.act),
                                      ctx_.stream());
      } else {
        dense_forward(l, in, rows, act_[i].data());
      }
      in = act_[i].data();
    }
    dense_forward(plan_.head, in, rows, act_[plan_.enc.size()].data());
  }
  void enqueue_decoder(std::int64_t rows) {
    const std::size_t base = plan_.enc.size() + 1;
    const float* in = z_.data();
    for (std::size_t i = 0; i < plan_.dec.size(); ++i) {
      dense_forward(plan_.dec[i], in, rows, act_[base + i].data());
      in = act_[base + i].data();
    }
  }

  // Forward + backward of the batch in xb_/epsb_; loss sums into losses_[2 * counters[0]].
  void enqueue_forward_backward(std::int64_t rows) {
    cudaStream_t s = ctx_.stream();
    const std::size_t ne = plan_.enc.size(), nd = plan_.dec.size(), base = ne + 1;
    const int L = plan_.latent;
    const float inv_batch = 1.0f / static_cast<float>(rows);
    float* h = act_[ne].data();
    enqueue_encoder(xb_.data(), rows);
    kern::launch_reparam_forward(h, epsb_.data(), z_.data(), rows, L, s);
    enqueue_decoder(rows);

    float* d = d0_.data();
    float* other = d1_.data();
    kern::launch_recon_loss_grad(act_[base + nd - 1].data(), xb_.data(), rows, plan_.input_dim,
                                 static_cast<int>(plan_.output), static_cast<int>(plan_.loss), inv_batch, d,
                                 recon_rows_.data(), s);
    for (std::size_t i = nd; i-- > 0;) {
      const float* in = i == 0 ? z_.data() : act_[base + i - 1].data();
      dense_backward(plan_.dec[i], in, act_[base + i].data(), rows, d, i == 0 ? dz_.data() : other);
      std::swap(d, other);
    }
    kern::launch_reparam_kl_backward(h, epsb_.data(), dz_.data(), rows, L, beta_.data(), inv_batch, plan_.free_bits,
                                     dh_.data(), kl_rows_.data(), s);
    dense_backward(plan_.head, ne ? act_[ne - 1].data() : xb_.data(), h, rows, dh_.data(), ne ? d0_.data() : nullptr);
    d = d0_.data();
    other = d1_.data();
    for (std::size_t i = ne; i-- > 0;) {
      const float* in = i == 0 ? xb_.data() : act_[i - 1].data();
      if (i == 0 && sparse_step_) {  // no input gradient for the first layer
        const DenseLayer& l = plan_.enc[0];
        kern::launch_act_backward_bias_grad(d, act_[0].data(), rows, l.out, static_cast<int>(l.act), g_.data() + l.b,
                                            s);
        kern::launch_csr_weight_grad(sp_ptr_.data(), sp_col_.data(), sp_val_.data(), perm_.data(), cfg_.batch,
                                     counters_.data(), rows, d, l.in, l.out, g_.data() + l.w, s);
      } else {
        dense_backward(plan_.enc[i], in, act_[i].data(), rows, d, i == 0 ? nullptr : other);
      }
      std::swap(d, other);
    }
    kern::launch_batch_loss_sum(recon_rows_.data(), kl_rows_.data(), rows, counters_.data(), losses_.data(), s);
  }

  void enqueue_update() {
    cudaStream_t s = ctx_.stream();
    const auto n = static_cast<std::int64_t>(plan_.n_params);
    kern::launch_grad_norm_partial(g_.data(), n, partial_.data(), s);
    kern::launch_clip_finalize(partial_.data(), cfg_.clip_norm, norm_.data(), scale_.data(), s);
    kern::launch_adam(p_.data(), g_.data(), m_.data(), v_.data(), n, cfg_.lr, cfg_.adam_beta1, cfg_.adam_beta2,
                      cfg_.adam_eps, cfg_.weight_decay, counters_.data(), scale_.data(), s);
    kern::launch_advance_counters(counters_.data(), s);
  }

  void enqueue_epoch_step(std::int64_t rows) {
    kern::launch_gather_batch(data_.data(), plan_.input_dim, perm_.data(), eps_all_.data(), plan_.latent, cfg_.batch,
                              rows, counters_.data(), xb_.data(), epsb_.data(), ctx_.stream());
    sparse_step_ = sparse_;  // the batch's CSR rows are perm[counters[0] * batch + i], as the gather's
    enqueue_forward_backward(rows);
    sparse_step_ = false;
    enqueue_update();
  }

  void run_epoch_step(std::int64_t rows, bool fixed_shape) {
#if !defined(HMR_EMU)
    if (fixed_shape && cfg_.cuda_graph) {
      if (!graph_exec_ && warm_steps_ > 0) capture(rows);
      if (graph_exec_) {
        HMR_CUDA_CHECK(cudaGraphLaunch(graph_exec_, ctx_.stream()));
        graph_used_ = true;
        return;
      }
      ++warm_steps_;  // the first step runs directly: cuBLAS sets up its kernels outside a capture
    }
#else
    (void)fixed_shape;
#endif
    enqueue_epoch_step(rows);
  }

#if !defined(HMR_EMU)
  void capture(std::int64_t rows) {
    cudaStream_t s = ctx_.stream();
    cudaGraph_t graph = nullptr;
    HMR_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    try {
      enqueue_epoch_step(rows);
    } catch (...) {
      cudaStreamEndCapture(s, &graph);
      if (graph) cudaGraphDestroy(graph);
      throw;
    }
    HMR_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
    const cudaError_t e = cudaGraphInstantiate(&graph_exec_, graph, 0);
    cudaGraphDestroy(graph);
    HMR_CUDA_CHECK(e);
  }
#endif

  void drop_graph() {
#if !defined(HMR_EMU)
    if (graph_exec_) cudaGraphExecDestroy(graph_exec_);
    graph_exec_ = nullptr;
#endif
  }

  Context& ctx_;
  nn::VaeConfig cfg_;
  NetPlan plan_;
  DeviceBuffer<float> p_, g_, m_, v_;
  DeviceBuffer<int> counters_;  // [0] batch within the epoch, [1] Adam steps taken
  DeviceBuffer<float> beta_, scale_;
  DeviceBuffer<double> norm_, partial_, losses_, recon_rows_, kl_rows_;
  std::vector<DeviceBuffer<float>> act_;
  DeviceBuffer<float> xb_, epsb_, z_, dz_, dh_, d0_, d1_;
  DeviceBuffer<float> data_, eps_all_;
  DeviceBuffer<std::int32_t> perm_;
  DeviceBuffer<std::int64_t> sp_ptr_;  // CSR of the resident rows when sparse_
  DeviceBuffer<std::int32_t> sp_col_;
  DeviceBuffer<float> sp_val_;
  bool sparse_ = false, sparse_step_ = false;
  std::int64_t cap_ = 0, data_rows_ = 0;
  bool graph_used_ = false;
#if !defined(HMR_EMU)
  cudaGraphExec_t graph_exec_ = nullptr;
  int warm_steps_ = 0;
#endif
};

}  // namespace

std::unique_ptr<nn::Engine> make_vae_engine(hmr::Backend& b, const nn::VaeConfig& c) {
  return std::make_unique<CudaEngine>(context(b), c);
}

}  // namespace hmr::HMR_CUDA_NS
