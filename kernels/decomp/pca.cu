// decomp/pca.cu — element-wise and small-reduction kernels of PCA (see pca.cuh). The heavy
// products go through cuBLAS (host/cuda/blas.h) and the eigensolver through cuSOLVER.
#include "decomp/pca.cuh"

#include <algorithm>

#include "gpu/check.h"
#include "gpu/reduce.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kThreads = 256;

__global__ void center_columns_kernel(const float* __restrict__ x, std::int64_t rows, std::int64_t cols,
                                      const double* __restrict__ mean, float* __restrict__ xc) {
  const std::int64_t total = rows * cols;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    xc[i] = x[i] - static_cast<float>(mean[i % cols]);
}

__global__ void __launch_bounds__(kThreads)
    gram_double_kernel(const float* __restrict__ a, std::int64_t len, int m, std::int64_t stride_t,
                       std::int64_t stride_m, double* __restrict__ g) {
  GPU_SHARED(red, double[kThreads]);
  const int p = static_cast<int>(blockIdx.x) / m, q = static_cast<int>(blockIdx.x) % m;
  const float* ap = a + static_cast<std::int64_t>(p) * stride_m;
  const float* aq = a + static_cast<std::int64_t>(q) * stride_m;
  double acc = 0.0;
  for (std::int64_t t = threadIdx.x; t < len; t += kThreads)
    acc += static_cast<double>(ap[t * stride_t]) * static_cast<double>(aq[t * stride_t]);
  const double total = gpu::block_sum<kThreads>(red, acc);
  if (threadIdx.x == 0) g[static_cast<std::int64_t>(p) * m + q] = total;
}

__global__ void float_to_double_kernel(const float* __restrict__ f, std::int64_t count, double* __restrict__ d) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    d[i] = static_cast<double>(f[i]);
}

__global__ void take_top_eigen_kernel(const double* __restrict__ vecs, const double* __restrict__ w, int m, int k,
                                      float* __restrict__ out, double* __restrict__ vals) {
  const std::int64_t total = static_cast<std::int64_t>(k) * m;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(e / m), r = static_cast<int>(e % m);
    const int src = m - 1 - i;
    out[e] = static_cast<float>(vecs[static_cast<std::int64_t>(src) * m + r]);
    if (r == 0) vals[i] = w[src] > 0.0 ? w[src] : 0.0;
  }
}

__global__ void scale_rows_inv_sqrt_kernel(float* a, int rows, std::int64_t cols, const double* __restrict__ vals) {
  const std::int64_t total = static_cast<std::int64_t>(rows) * cols;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const double v = vals[e / cols];
    a[e] = v > 0.0 ? static_cast<float>(static_cast<double>(a[e]) / sqrt(v)) : 0.0f;
  }
}

__global__ void cholqr_weights_kernel(const double* __restrict__ vecs, const double* __restrict__ w, int l,
                                      float* __restrict__ W) {
  double wmax = 0.0;
  for (int c = 0; c < l; ++c) wmax = w[c] > wmax ? w[c] : wmax;
  const std::int64_t total = static_cast<std::int64_t>(l) * l;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int r = static_cast<int>(e / l), c = static_cast<int>(e % l);
    const double wc = w[c];
    W[e] = wc > 1e-12 * wmax ? static_cast<float>(vecs[static_cast<std::int64_t>(c) * l + r] / sqrt(wc)) : 0.0f;
  }
}

__global__ void fill_rows_kernel(const float* __restrict__ v, std::int64_t rows, std::int64_t cols,
                                 float* __restrict__ out) {
  const std::int64_t total = rows * cols;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    out[e] = v[e % cols];
}

unsigned grid_for(std::int64_t total) {
  return static_cast<unsigned>(std::min<std::int64_t>((total + kThreads - 1) / kThreads, 4096));
}

}  // namespace

void launch_center_columns(const float* x, std::int64_t rows, std::int64_t cols, const double* mean, float* xc,
                           cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  HMR_LAUNCH(center_columns_kernel, grid_for(rows * cols), kThreads, 0, stream, x, rows, cols, mean, xc);
}

void launch_gram_double(const float* a, std::int64_t len, int m, std::int64_t stride_t, std::int64_t stride_m,
                        double* g, cudaStream_t stream) {
  if (m <= 0) return;
  HMR_LAUNCH(gram_double_kernel, static_cast<unsigned>(m) * static_cast<unsigned>(m), kThreads, 0, stream, a, len, m,
             stride_t, stride_m, g);
}

void launch_float_to_double(const float* f, std::int64_t count, double* d, cudaStream_t stream) {
  if (count <= 0) return;
  HMR_LAUNCH(float_to_double_kernel, grid_for(count), kThreads, 0, stream, f, count, d);
}

void launch_take_top_eigen(const double* vecs, const double* w, int m, int k, float* out, double* vals,
                           cudaStream_t stream) {
  if (m <= 0 || k <= 0) return;
  HMR_LAUNCH(take_top_eigen_kernel, grid_for(static_cast<std::int64_t>(k) * m), kThreads, 0, stream, vecs, w, m, k, out,
             vals);
}

void launch_scale_rows_inv_sqrt(float* a, int rows, std::int64_t cols, const double* vals, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  HMR_LAUNCH(scale_rows_inv_sqrt_kernel, grid_for(rows * cols), kThreads, 0, stream, a, rows, cols, vals);
}

void launch_cholqr_weights(const double* vecs, const double* w, int l, float* W, cudaStream_t stream) {
  if (l <= 0) return;
  HMR_LAUNCH(cholqr_weights_kernel, grid_for(static_cast<std::int64_t>(l) * l), kThreads, 0, stream, vecs, w, l, W);
}

void launch_fill_rows(const float* v, std::int64_t rows, std::int64_t cols, float* out, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  HMR_LAUNCH(fill_rows_kernel, grid_for(rows * cols), kThreads, 0, stream, v, rows, cols, out);
}

}  // namespace hmr::HMR_CUDA_NS::kern
