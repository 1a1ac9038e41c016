// nn/net_cpu.cpp — the VAE as a stack of dense layers on the cpu (nn/vae_net.h: NetPlan lays the
// layers out in one flat parameter buffer; Net<T> runs forward and backward of a batch through the
// twins in dense_ops_cpu, vae_loss_cpu and sparse_layer_cpu), in float for the engine and double
// for the gradient checks.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "nn/cpu_common.h"
#include "nn/vae_net.h"

namespace hmr::nn {

namespace cpu {

// ---- the whole network ----------------------------------------------------------------------
template <class T>
void Net<T>::reserve(std::int64_t rows) {
  if (rows <= cap_) return;
  cap_ = rows;
  const std::size_t nl = plan_.enc.size() + 1 + plan_.dec.size();
  act_.resize(nl);
  std::size_t i = 0;
  for (const auto& l : plan_.enc) act_[i++].assign(static_cast<std::size_t>(rows * l.out), T(0));
  act_[i++].assign(static_cast<std::size_t>(rows * plan_.head.out), T(0));
  for (const auto& l : plan_.dec) act_[i++].assign(static_cast<std::size_t>(rows * l.out), T(0));
  const std::size_t lat = static_cast<std::size_t>(rows * plan_.latent);
  z_.assign(lat, T(0));
  dz_.assign(lat, T(0));
  dh_.assign(2 * lat, T(0));
  da_.assign(static_cast<std::size_t>(rows * plan_.widest), T(0));
  db_.assign(static_cast<std::size_t>(rows * plan_.widest), T(0));
  rows_a_.assign(static_cast<std::size_t>(rows), 0.0);
  rows_b_.assign(static_cast<std::size_t>(rows), 0.0);
}

namespace {
template <class T>
void dense_forward(const DenseLayer& l, const T* params, const T* in, std::int64_t rows, T* out, Activation act) {
  if constexpr (std::is_same_v<T, float>)  // bias and relu in the small GEMM's store
    if ((act == Activation::relu || act == Activation::identity) &&
        small_linear(!l.input_major, static_cast<int>(rows), l.out, l.in, in, l.in, params + l.w,
                     l.input_major ? l.out : l.in, params + l.b, act == Activation::relu, out, l.out))
      return;
  // A linear layer (the logits) gets its bias in C first and the GEMM adds to it (beta = 1): BLAS
  // skips its pass scaling C and no bias pass follows; the sum is the same, b + (x W^T). With an
  // activation the bias rides along in the activation's pass.
  const bool linear = act == Activation::identity;
  if (linear) {
    const T* bias = params + l.b;
#pragma omp parallel for schedule(static) if (rows * l.out > kParallelMin)
    for (std::int64_t r = 0; r < rows; ++r) std::copy(bias, bias + l.out, out + r * l.out);
  }
  const T beta = linear ? T(1) : T(0);
  if (l.input_major)
    gemm_rm<T>(false, false, static_cast<int>(rows), l.out, l.in, T(1), in, l.in, params + l.w, l.out, beta, out,
               l.out);
  else
    gemm_rm<T>(false, true, static_cast<int>(rows), l.out, l.in, T(1), in, l.in, params + l.w, l.in, beta, out, l.out);
  if (!linear) bias_act_forward<T>(out, params + l.b, rows, l.out, act);
}
// d: gradient w.r.t. the layer's activated output (modified in place into the pre-activation
// gradient); writes the weight and bias gradients, and d(input) into din unless din is null.
template <class T>
void dense_backward(const DenseLayer& l, const T* params, const T* in, const T* out, std::int64_t rows, T* d, T* grad,
                    T* din, bool skip_wgrad = false) {
  act_backward_bias_grad<T>(d, out, rows, l.out, l.act, grad + l.b);
  if (skip_wgrad) {
    if (din)
      gemm_rm<T>(false, l.input_major, static_cast<int>(rows), l.in, l.out, T(1), d, l.out, params + l.w,
                 l.input_major ? l.out : l.in, T(0), din, l.in);
    return;
  }
  if (l.input_major) {
    gemm_rm<T>(true, false, l.in, l.out, static_cast<int>(rows), T(1), in, l.in, d, l.out, T(0), grad + l.w, l.out);
    if (din)
      gemm_rm<T>(false, true, static_cast<int>(rows), l.in, l.out, T(1), d, l.out, params + l.w, l.out, T(0), din,
                 l.in);
    return;
  }
  gemm_rm<T>(true, false, l.out, l.in, static_cast<int>(rows), T(1), d, l.out, in, l.in, T(0), grad + l.w, l.in);
  if (din)
    gemm_rm<T>(false, false, static_cast<int>(rows), l.in, l.out, T(1), d, l.out, params + l.w, l.in, T(0), din, l.in);
}
}  // namespace

template <class T>
void Net<T>::encode(const T* params, const T* x, std::int64_t rows, T* h) {
  reserve(rows);
  const T* in = x;
  for (std::size_t i = 0; i < plan_.enc.size(); ++i) {
    const DenseLayer& l = plan_.enc[i];
    if (i == 0 && sparse_) {
      if (l.input_major)
        csr_linear_forward_t<T>(*sparse_, rows, params + l.w, l.in, l.out, act_[i].data());
      else
        csr_linear_forward<T>(*sparse_, rows, params + l.w, l.in, l.out, act_[i].data());
      bias_act_forward<T>(act_[i].data(), params + l.b, rows, l.out, l.act);
    } else {
      dense_forward(l, params, in, rows, act_[i].data(), l.act);
    }
    in = act_[i].data();
  }
  dense_forward(plan_.head, params, in, rows, h, Activation::identity);
}

template <class T>
void Net<T>::decode(const T* params, const T* z, std::int64_t rows, T* logits) {
  reserve(rows);
  const std::size_t base = plan_.enc.size() + 1;
  const T* in = z;
  for (std::size_t i = 0; i < plan_.dec.size(); ++i) {
    T* out = i + 1 == plan_.dec.size() ? logits : act_[base + i].data();
    dense_forward(plan_.dec[i], params, in, rows, out, plan_.dec[i].act);
    in = out;
  }
}

template <class T>
StepLoss Net<T>::forward_backward(const T* params, const T* x, const T* eps, std::int64_t rows, T beta, T* grad,
                                  std::int64_t norm_rows) {
  reserve(rows);
  const std::size_t ne = plan_.enc.size(), nd = plan_.dec.size(), base = ne + 1;
  const int L = plan_.latent;
  T* h = act_[ne].data();
  encode(params, x, rows, h);
  reparam_forward<T>(h, eps, z_.data(), rows, L);
  decode(params, z_.data(), rows, act_[base + nd - 1].data());

  const T inv_batch = T(1) / static_cast<T>(norm_rows > 0 ? norm_rows : rows);
  T* d = da_.data();
  T* other = db_.data();
  if (sparse_ && plan_.loss == Loss::bce)  // the targets from the CSR rows: x is not read
    bce_sparse_targets<T>(act_[base + nd - 1].data(), *sparse_, rows, plan_.input_dim, inv_batch, d, rows_a_.data());
  else
    recon_loss_grad<T>(act_[base + nd - 1].data(), x, rows, plan_.input_dim, plan_.output, plan_.loss, inv_batch, d,
                       rows_a_.data());
  for (std::size_t i = nd; i-- > 0;) {
    const T* in = i == 0 ? z_.data() : act_[base + i - 1].data();
    T* din = i == 0 ? dz_.data() : other;
    const bool hook = i + 1 == nd && output_wgrad_;
    dense_backward(plan_.dec[i], params, in, act_[base + i].data(), rows, d, grad, din, hook);
    if (hook) output_wgrad_(d, in, rows);  // d is overwritten further down
    std::swap(d, other);
  }
  reparam_kl_backward<T>(h, eps, dz_.data(), rows, L, beta, inv_batch, dh_.data(), rows_b_.data(), plan_.free_bits);
  dense_backward(plan_.head, params, ne ? act_[ne - 1].data() : x, h, rows, dh_.data(), grad,
                 ne ? da_.data() : nullptr);
  d = da_.data();
  other = db_.data();
  for (std::size_t i = ne; i-- > 0;) {
    const T* in = i == 0 ? x : act_[i - 1].data();
    if (i == 0 && sparse_) {  // no input gradient for the first layer
      const DenseLayer& l = plan_.enc[0];
      act_backward_bias_grad<T>(d, act_[0].data(), rows, l.out, l.act, grad + l.b);
      first_dy_ = d;
      if (!defer_sparse_wgrad_) {  // deferred: the caller forms it from first_dy(), fused with Adam
        if (l.input_major)
          csr_weight_grad_t<T>(*sparse_, rows, d, l.in, l.out, grad + l.w);
        else
          csr_weight_grad<T>(*sparse_, rows, d, l.in, l.out, grad + l.w);
      }
    } else {
      dense_backward(plan_.enc[i], params, in, act_[i].data(), rows, d, grad, i == 0 ? nullptr : other);
    }
    std::swap(d, other);
  }
  StepLoss s;
  s.rows = rows;
  for (std::int64_t r = 0; r < rows; ++r) {
    s.recon += rows_a_[static_cast<std::size_t>(r)];
    s.kl += rows_b_[static_cast<std::size_t>(r)];
  }
  return s;
}

template <class T>
StepLoss Net<T>::forward_backward_sparse(const T* params, const T* x, const CsrRows<T>& xs, const T* eps,
                                         std::int64_t rows, T beta, T* grad, std::int64_t norm_rows) {
  sparse_ = plan_.enc.empty() ? nullptr : &xs;  // without hidden layers the head is dense
  const StepLoss l = forward_backward(params, x, eps, rows, beta, grad, norm_rows);
  sparse_ = nullptr;
  return l;
}

template class Net<float>;
template class Net<double>;

}  // namespace cpu
}  // namespace hmr::nn
