// nn/vae.cu — the VAE training kernels (Kingma & Welling 2014; Adam: Kingma & Ba 2015, PyTorch's
// update rule). Layout: row-major activations [rows x cols], one flat float parameter buffer.
// Column reductions (bias gradients) use a 32-column x 8-lane tile per block that walks all rows,
// lanes combined in shared memory in a fixed order; row reductions (losses) use one block or one
// warp per row with fixed shuffle/tree orders; the gradient norm uses a fixed grid. No float
// atomics, so every result is bitwise reproducible whatever the thread schedule.
#include "nn/vae.cuh"

#include <algorithm>

#include "gpu/check.h"
#include "gpu/reduce.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kThreads = 256;
constexpr int kTileCols = 32;
constexpr int kRowLanes = 8;
constexpr int kRowThreads = 256;          // recon loss: threads per row
constexpr int kNormBlocks = 256;          // gradient-norm partials
constexpr int kWarpRows = kThreads / 32;  // reparam/KL: rows per block (one warp each)

__device__ __forceinline__ float act_fwd(float v, int act) {
  switch (act) {
    case kActRelu:
      return v > 0.0f ? v : 0.0f;
    case kActSigmoid:
      return 1.0f / (1.0f + expf(-v));
    case kActTanh:
      return tanhf(v);
    default:
      return v;
  }
}
__device__ __forceinline__ float act_grad(float y, int act) {
  switch (act) {
    case kActRelu:
      return y > 0.0f ? 1.0f : 0.0f;
    case kActSigmoid:
      return y * (1.0f - y);
    case kActTanh:
      return 1.0f - y * y;
    default:
      return 1.0f;
  }
}

__global__ void __launch_bounds__(kThreads)
    bias_act_forward_kernel(float* __restrict__ y, const float* __restrict__ b, std::int64_t rows, int cols, int act) {
  const std::int64_t n = rows * cols;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    y[i] = act_fwd(y[i] + b[i % cols], act);
}

__global__ void __launch_bounds__(kTileCols* kRowLanes)
    act_backward_bias_grad_kernel(float* __restrict__ dy, const float* __restrict__ y, std::int64_t rows, int cols,
                                  int act, float* __restrict__ db) {
  GPU_SHARED(lanes, double[kRowLanes][kTileCols]);
  const int c = static_cast<int>(blockIdx.x) * kTileCols + static_cast<int>(threadIdx.x);
  double acc = 0.0;
  if (c < cols) {
    for (std::int64_t r = threadIdx.y; r < rows; r += kRowLanes) {
      const std::int64_t i = r * cols + c;
      float d = dy[i];
      if (act != kActIdentity) {
        d *= act_grad(y[i], act);
        dy[i] = d;
      }
      acc += static_cast<double>(d);
    }
  }
  const double s = gpu::column_lane_sum(lanes, acc);  // every thread: out-of-range columns add 0
  if (threadIdx.y == 0 && c < cols) db[c] = static_cast<float>(s);
}

__global__ void __launch_bounds__(kThreads)
    reparam_forward_kernel(const float* __restrict__ h, const float* __restrict__ eps, float* __restrict__ z,
                           std::int64_t rows, int latent) {
  const std::int64_t n = rows * latent;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / latent;
    const int j = static_cast<int>(i - r * latent);
    const float mu = h[r * 2 * latent + j], lv = h[r * 2 * latent + latent + j];
    z[i] = mu + expf(0.5f * lv) * eps[i];
  }
}

// One warp per row; lanes stride over the latent dimensions, the KL sum is a fixed xor tree.
__global__ void __launch_bounds__(kThreads)
    reparam_kl_backward_kernel(const float* __restrict__ h, const float* __restrict__ eps, const float* __restrict__ dz,
                               std::int64_t rows, int latent, const float* __restrict__ beta_p, float inv_batch,
                               float free_bits, float* __restrict__ dh, double* __restrict__ kl_rows) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kWarpRows + threadIdx.x / 32;
  const int lane = static_cast<int>(threadIdx.x % 32);
  if (r >= rows) return;  // whole warps leave together; no barrier follows
  const float beta = *beta_p;
  const double fb = free_bits;
  const float* mu = h + r * 2 * latent;
  const float* lv = mu + latent;
  float* dmu = dh + r * 2 * latent;
  float* dlv = dmu + latent;
  double kl = 0.0;
  for (int j = lane; j < latent; j += 32) {
    const float e = expf(lv[j]), s = expf(0.5f * lv[j]), g = dz[r * latent + j];
    const double kj =
        -0.5 * (1.0 + static_cast<double>(lv[j]) - static_cast<double>(mu[j]) * mu[j] - static_cast<double>(e));
    const bool on = fb <= 0.0 || kj > fb;
    kl += on ? kj : fb;
    const float b = on ? beta : 0.0f;
    dmu[j] = g + b * mu[j] * inv_batch;
    dlv[j] = g * 0.5f * s * eps[r * latent + j] + b * 0.5f * (e - 1.0f) * inv_batch;
  }
  kl = gpu::warp_sum(kl);
  if (lane == 0) kl_rows[r] = kl;
}

__global__ void __launch_bounds__(kRowThreads)
    recon_loss_grad_kernel(const float* __restrict__ a, const float* __restrict__ x, int cols, int output, int loss,
                           float inv_batch, float* __restrict__ da, double* __restrict__ loss_rows) {
  GPU_SHARED(sh, double[kRowThreads]);
  const std::int64_t r = blockIdx.x;
  const float* ar = a + r * cols;
  const float* xr = x + r * cols;
  float* dr = da + r * cols;
  double s = 0.0;
  for (int c = static_cast<int>(threadIdx.x); c < cols; c += kRowThreads) {
    const float v = ar[c], t = xr[c];
    if (loss == kLossBce) {
      s += static_cast<double>(fmaxf(v, 0.0f) - v * t + log1pf(expf(-fabsf(v))));
      dr[c] = (1.0f / (1.0f + expf(-v)) - t) * inv_batch;
    } else if (output == kOutSigmoid) {
      const float o = 1.0f / (1.0f + expf(-v)), d = o - t;
      s += static_cast<double>(d) * d;
      dr[c] = 2.0f * d * o * (1.0f - o) * inv_batch;
    } else {
      const float d = v - t;
      s += static_cast<double>(d) * d;
      dr[c] = 2.0f * d * inv_batch;
    }
  }
  const double total = gpu::block_sum<kRowThreads>(sh, s);
  if (threadIdx.x == 0) loss_rows[r] = total;
}

__global__ void __launch_bounds__(kRowThreads)
    batch_loss_sum_kernel(const double* __restrict__ recon_rows, const double* __restrict__ kl_rows, std::int64_t rows,
                          const int* __restrict__ counters, double* __restrict__ losses) {
  GPU_SHARED(sh, double[kRowThreads]);
  double a = 0.0, b = 0.0;
  for (std::int64_t r = threadIdx.x; r < rows; r += kRowThreads) {
    a += recon_rows[r];
    b += kl_rows[r];
  }
  const double ra = gpu::block_sum<kRowThreads>(sh, a);
  const double rb = gpu::block_sum<kRowThreads>(sh, b);
  if (threadIdx.x == 0) {
    const int s = counters[0];
    losses[2 * s] = ra;
    losses[2 * s + 1] = rb;
  }
}

__global__ void __launch_bounds__(kRowThreads)
    grad_norm_partial_kernel(const float* __restrict__ g, std::int64_t n, double* __restrict__ partial) {
  GPU_SHARED(sh, double[kRowThreads]);
  double s = 0.0;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kRowThreads + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(kNormBlocks) * kRowThreads) {
    const double v = g[i];
    s += v * v;
  }
  const double t = gpu::block_sum<kRowThreads>(sh, s);
  if (threadIdx.x == 0) partial[blockIdx.x] = t;
}

__global__ void __launch_bounds__(kRowThreads)
    clip_finalize_kernel(const double* __restrict__ partial, float max_norm, double* __restrict__ norm,
                         float* __restrict__ scale) {
  GPU_SHARED(sh, double[kRowThreads]);
  double s = 0.0;
  for (int i = static_cast<int>(threadIdx.x); i < kNormBlocks; i += kRowThreads) s += partial[i];
  const double t = gpu::block_sum<kRowThreads>(sh, s);
  if (threadIdx.x == 0) {
    const double nv = sqrt(t);
    *norm = nv;
    float f = 1.0f;
    if (max_norm > 0.0f) {
      const double c = static_cast<double>(max_norm) / (nv + 1e-6);
      f = c < 1.0 ? static_cast<float>(c) : 1.0f;
    }
    *scale = f;
  }
}

__global__ void __launch_bounds__(kThreads)
    adam_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                std::int64_t n, float lr, float b1, float b2, float eps, float wd, const int* __restrict__ counters,
                const float* __restrict__ scale_p) {
  // Bias corrections in double, exactly as the cpu twin computes them.
  const double t = static_cast<double>(counters[1] + 1);
  const double bc1 = 1.0 - pow(static_cast<double>(b1), t), bc2 = 1.0 - pow(static_cast<double>(b2), t);
  const float step = static_cast<float>(static_cast<double>(lr) / bc1);
  const float inv_sqrt_bc2 = static_cast<float>(1.0 / sqrt(bc2));
  const float scale = *scale_p;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const float pi = p[i];
    const float gi = scale * g[i] + wd * pi;
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
  }
}

__global__ void advance_counters_kernel(int* counters) {
  if (threadIdx.x == 0 && blockIdx.x == 0) {
    counters[0] += 1;
    counters[1] += 1;
  }
}

__global__ void __launch_bounds__(kThreads)
    gather_batch_kernel(const float* __restrict__ X, int d, const std::int32_t* __restrict__ perm,
                        const float* __restrict__ eps_all, int latent, std::int64_t batch,
                        const int* __restrict__ counters, float* __restrict__ xb, float* __restrict__ epsb) {
  const std::int64_t i = blockIdx.x;  // one block per batch row
  const std::int64_t pos = static_cast<std::int64_t>(counters[0]) * batch + i;
  const float* src = X + static_cast<std::int64_t>(perm[pos]) * d;
  float* dst = xb + i * d;
  for (int c = static_cast<int>(threadIdx.x); c < d; c += kThreads) dst[c] = src[c];
  for (int j = static_cast<int>(threadIdx.x); j < latent; j += kThreads)
    epsb[i * latent + j] = eps_all[pos * latent + j];
}

// Batch row i of a CSR matrix: the resident row perm[counters[0] * batch + i], or row i without perm.
__device__ std::int64_t csr_source_row(const std::int32_t* perm, std::int64_t batch, const int* counters,
                                       std::int64_t i) {
  return perm ? static_cast<std::int64_t>(perm[static_cast<std::int64_t>(counters[0]) * batch + i]) : i;
}

// One block row per batch row, one thread per output: the row's entries are read by every thread
// (broadcast), W[o][col] gathered from row o of W; entry order as the cpu twin.
__global__ void __launch_bounds__(kThreads)
    csr_linear_forward_kernel(const std::int64_t* __restrict__ ptr, const std::int32_t* __restrict__ col,
                              const float* __restrict__ val, const std::int32_t* __restrict__ perm, std::int64_t batch,
                              const int* __restrict__ counters, const float* __restrict__ w, int in, int out,
                              float* __restrict__ y) {
  const std::int64_t i = blockIdx.y;
  const int o = static_cast<int>(blockIdx.x * kThreads + threadIdx.x);
  if (o >= out) return;
  const std::int64_t r = csr_source_row(perm, batch, counters, i);
  const float* wo = w + static_cast<std::int64_t>(o) * in;
  float s = 0.0f;
  for (std::int64_t k = ptr[r]; k < ptr[r + 1]; ++k) s += val[k] * wo[col[k]];
  y[i * out + o] = s;
}

// One thread per output o owns row o of dW: zeroes it, then adds dy[i][o] * val over the batch rows
// and their entries in order (no atomics: deterministic, the cpu twin's order).
__global__ void __launch_bounds__(kThreads)
    csr_weight_grad_kernel(const std::int64_t* __restrict__ ptr, const std::int32_t* __restrict__ col,
                           const float* __restrict__ val, const std::int32_t* __restrict__ perm, std::int64_t batch,
                           const int* __restrict__ counters, std::int64_t rows, const float* __restrict__ dy, int in,
                           int out, float* __restrict__ dw) {
  const int o = static_cast<int>(blockIdx.x * kThreads + threadIdx.x);
  if (o >= out) return;
  float* g = dw + static_cast<std::int64_t>(o) * in;
  for (int c = 0; c < in; ++c) g[c] = 0.0f;
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::int64_t r = csr_source_row(perm, batch, counters, i);
    const float d = dy[i * out + o];
    for (std::int64_t k = ptr[r]; k < ptr[r + 1]; ++k) g[col[k]] += d * val[k];
  }
}

unsigned elementwise_blocks(std::int64_t n) {
  return static_cast<unsigned>(std::min<std::int64_t>((n + kThreads - 1) / kThreads, 8192));
}

}  // namespace

void launch_bias_act_forward(float* y, const float* b, std::int64_t rows, int cols, int act, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  HMR_LAUNCH(bias_act_forward_kernel, elementwise_blocks(rows * cols), kThreads, 0, stream, y, b, rows, cols, act);
}

void launch_act_backward_bias_grad(float* dy, const float* y, std::int64_t rows, int cols, int act, float* db,
                                   cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  HMR_LAUNCH(act_backward_bias_grad_kernel, gpu::div_up(static_cast<std::size_t>(cols), kTileCols),
             dim3(kTileCols, kRowLanes), 0, stream, dy, y, rows, cols, act, db);
}

void launch_reparam_forward(const float* h, const float* eps, float* z, std::int64_t rows, int latent,
                            cudaStream_t stream) {
  if (rows <= 0 || latent <= 0) return;
  HMR_LAUNCH(reparam_forward_kernel, elementwise_blocks(rows * latent), kThreads, 0, stream, h, eps, z, rows, latent);
}

void launch_reparam_kl_backward(const float* h, const float* eps, const float* dz, std::int64_t rows, int latent,
                                const float* beta, float inv_batch, float free_bits, float* dh, double* kl_rows,
                                cudaStream_t stream) {
  if (rows <= 0 || latent <= 0) return;
  HMR_LAUNCH(reparam_kl_backward_kernel, gpu::div_up(static_cast<std::size_t>(rows), kWarpRows), kThreads, 0, stream, h,
             eps, dz, rows, latent, beta, inv_batch, free_bits, dh, kl_rows);
}

void launch_recon_loss_grad(const float* a, const float* x, std::int64_t rows, int cols, int output, int loss,
                            float inv_batch, float* da, double* loss_rows, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  HMR_LAUNCH(recon_loss_grad_kernel, static_cast<unsigned>(rows), kRowThreads, 0, stream, a, x, cols, output, loss,
             inv_batch, da, loss_rows);
}

void launch_batch_loss_sum(const double* recon_rows, const double* kl_rows, std::int64_t rows, const int* counters,
                           double* losses, cudaStream_t stream) {
  if (rows <= 0) return;
  HMR_LAUNCH(batch_loss_sum_kernel, 1, kRowThreads, 0, stream, recon_rows, kl_rows, rows, counters, losses);
}

int norm_partials() { return kNormBlocks; }

void launch_grad_norm_partial(const float* g, std::int64_t n, double* partial, cudaStream_t stream) {
  if (n <= 0) return;
  HMR_LAUNCH(grad_norm_partial_kernel, kNormBlocks, kRowThreads, 0, stream, g, n, partial);
}

void launch_clip_finalize(const double* partial, float max_norm, double* norm, float* scale, cudaStream_t stream) {
  HMR_LAUNCH(clip_finalize_kernel, 1, kRowThreads, 0, stream, partial, max_norm, norm, scale);
}

void launch_adam(float* p, const float* g, float* m, float* v, std::int64_t n, float lr, float b1, float b2, float eps,
                 float wd, const int* counters, const float* scale, cudaStream_t stream) {
  if (n <= 0) return;
  HMR_LAUNCH(adam_kernel, elementwise_blocks(n), kThreads, 0, stream, p, g, m, v, n, lr, b1, b2, eps, wd, counters,
             scale);
}

void launch_advance_counters(int* counters, cudaStream_t stream) {
  HMR_LAUNCH(advance_counters_kernel, 1, 32, 0, stream, counters);
}

void launch_gather_batch(const float* X, int d, const std::int32_t* perm, const float* eps_all, int latent,
                         std::int64_t batch, std::int64_t rows, const int* counters, float* xb, float* epsb,
                         cudaStream_t stream) {
  if (rows <= 0) return;
  HMR_LAUNCH(gather_batch_kernel, static_cast<unsigned>(rows), kThreads, 0, stream, X, d, perm, eps_all, latent, batch,
             counters, xb, epsb);
}

void launch_csr_linear_forward(const std::int64_t* ptr, const std::int32_t* col, const float* val,
                               const std::int32_t* perm, std::int64_t batch, const int* counters, std::int64_t rows,
                               const float* w, int in, int out, float* y, cudaStream_t stream) {
  if (rows <= 0 || out <= 0) return;
  const dim3 grid(gpu::div_up(static_cast<std::size_t>(out), kThreads), static_cast<unsigned>(rows));
  HMR_LAUNCH(csr_linear_forward_kernel, grid, kThreads, 0, stream, ptr, col, val, perm, batch, counters, w, in, out, y);
}

void launch_csr_weight_grad(const std::int64_t* ptr, const std::int32_t* col, const float* val,
                            const std::int32_t* perm, std::int64_t batch, const int* counters, std::int64_t rows,
                            const float* dy, int in, int out, float* dw, cudaStream_t stream) {
  if (out <= 0) return;
  HMR_LAUNCH(csr_weight_grad_kernel, gpu::div_up(static_cast<std::size_t>(out), kThreads), kThreads, 0, stream, ptr,
             col, val, perm, batch, counters, rows, dy, in, out, dw);
}

}  // namespace hmr::HMR_CUDA_NS::kern
