// nn/vae.cuh — launchers of the VAE training kernels (kernels/nn/vae.cu). All matrices are
// row-major; a batch has `rows` rows. Reductions are deterministic (fixed-order trees, no float
// atomics), so a step is bit-reproducible. The cpu twins are hmr::nn::cpu::* in host/nn/vae_net.h.
// Scalars that change between replays of a captured training step (the KL weight, the step
// counters, the clipping factor) are read from device memory.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

// Activation codes, equal to the values of hmr::nn::Activation / Output / Loss.
enum : int { kActRelu = 0, kActIdentity = 1, kActSigmoid = 2, kActTanh = 3 };
enum : int { kOutIdentity = 0, kOutSigmoid = 1 };
enum : int { kLossMse = 0, kLossBce = 1 };

// y[r][c] = act(y[r][c] + b[c]), y [rows x cols] (the GEMM output, in place).
void launch_bias_act_forward(float* y, const float* b, std::int64_t rows, int cols, int act, cudaStream_t stream);
// dy *= act'(y) (derivative through the output y) and db[c] = sum_r dy[r][c] (double accumulation,
// lanes combined in a fixed order).
void launch_act_backward_bias_grad(float* dy, const float* y, std::int64_t rows, int cols, int act, float* db,
                                   cudaStream_t stream);
// z = mu + exp(0.5 logvar) * eps; h [rows x 2L] = [mu | logvar], eps, z [rows x L].
void launch_reparam_forward(const float* h, const float* eps, float* z, std::int64_t rows, int latent,
                            cudaStream_t stream);
// Fused backward of the reparameterisation and the KL term with free bits fb (beta read from *beta):
//   kl_rows[r] = sum_j max(fb, k_rj),  k_rj = -0.5 (1 + lv - mu^2 - exp(lv))  (double)
//   dmu = dz + b mu / B,  dlv = dz 0.5 exp(0.5 lv) eps + b 0.5 (exp(lv) - 1) / B,
//   b = beta where k_rj > fb (or fb <= 0), else 0
void launch_reparam_kl_backward(const float* h, const float* eps, const float* dz, std::int64_t rows, int latent,
                                const float* beta, float inv_batch, float free_bits, float* dh, double* kl_rows,
                                cudaStream_t stream);
// Fused reconstruction loss + gradient from the decoder logits a [rows x cols]:
// loss_rows[r] = sum_c l(a, x) (double), da = inv_batch * dl/da. See cpu::recon_loss_grad.
void launch_recon_loss_grad(const float* a, const float* x, std::int64_t rows, int cols, int output, int loss,
                            float inv_batch, float* da, double* loss_rows, cudaStream_t stream);
// losses[2 s] = sum_r recon_rows[r], losses[2 s + 1] = sum_r kl_rows[r], s = counters[0].
void launch_batch_loss_sum(const double* recon_rows, const double* kl_rows, std::int64_t rows, const int* counters,
                           double* losses, cudaStream_t stream);

// Global gradient norm and the clip_grad_norm_ factor: partial sums of squares over a fixed grid
// (norm_partials() doubles), then one block: *norm = sqrt(sum), *scale = min(1, max_norm / (norm
// + 1e-6)) (1 when max_norm <= 0).
int norm_partials();
void launch_grad_norm_partial(const float* g, std::int64_t n, double* partial, cudaStream_t stream);
void launch_clip_finalize(const double* partial, float max_norm, double* norm, float* scale, cudaStream_t stream);
// torch.optim.Adam over the flat buffer, step t = counters[1] + 1; g' = scale * g + wd * p.
void launch_adam(float* p, const float* g, float* m, float* v, std::int64_t n, float lr, float b1, float b2, float eps,
                 float wd, const int* counters, const float* scale, cudaStream_t stream);
// counters[0] (batch within the epoch) and counters[1] (Adam steps) advance by one.
void launch_advance_counters(int* counters, cudaStream_t stream);

// Minibatch gather for step s = counters[0]: xb[i] = X[perm[s * batch + i]] (rows of width d) and
// epsb[i] = eps_all[s * batch + i] (width latent), i < rows.
void launch_gather_batch(const float* X, int d, const std::int32_t* perm, const float* eps_all, int latent,
                         std::int64_t batch, std::int64_t rows, const int* counters, float* xb, float* epsb,
                         cudaStream_t stream);

// Sparse first layer (cpu twins: cpu::csr_linear_forward / csr_weight_grad). CSR rows ptr/col/val;
// batch row i is the CSR row perm[counters[0] * batch + i] (as launch_gather_batch), or row i when
// perm is null (counters and batch unused then).
// y [rows x out] = X W^T (no bias), W [out x in]; entries summed in CSR order.
void launch_csr_linear_forward(const std::int64_t* ptr, const std::int32_t* col, const float* val,
                               const std::int32_t* perm, std::int64_t batch, const int* counters, std::int64_t rows,
                               const float* w, int in, int out, float* y, cudaStream_t stream);
// dW [out x in] = dy^T X, overwritten (one thread per output row, batch rows and entries in order).
void launch_csr_weight_grad(const std::int64_t* ptr, const std::int32_t* col, const float* val,
                            const std::int32_t* perm, std::int64_t batch, const int* counters, std::int64_t rows,
                            const float* dy, int in, int out, float* dw, cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
