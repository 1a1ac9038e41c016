// prep/standardize.cu — column moments and scaling for StandardScaler-style standardisation.
// Layout: x row-major [rows x cols]. A block covers 32 columns (threadIdx.x, coalesced along a
// row) and one chunk of rows split over 8 row lanes (threadIdx.y); lanes are combined in shared
// memory in a fixed order, chunks by a second kernel, so results are bitwise reproducible.
#include "prep/standardize.cuh"

#include <algorithm>
#include <cfloat>

#include "gpu/check.h"
#include "gpu/reduce.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kTileCols = 32;
constexpr int kRowLanes = 8;
constexpr std::int64_t kRowsPerChunk = 4096;

__global__ void __launch_bounds__(kTileCols* kRowLanes)
    col_moment_partial_kernel(const float* __restrict__ x, std::int64_t rows, std::int64_t cols,
                              const double* __restrict__ center, int power, double* __restrict__ partial) {
  GPU_SHARED(lanes, double[kRowLanes][kTileCols]);
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * kTileCols + threadIdx.x;
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * kRowsPerChunk;
  const std::int64_t r1 = r0 + kRowsPerChunk < rows ? r0 + kRowsPerChunk : rows;
  double acc = 0.0;
  if (c < cols) {
    const double mu = center ? center[c] : 0.0;
    for (std::int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) {
      const double v = static_cast<double>(x[r * cols + c]) - mu;
      acc += power == 2 ? v * v : v;
    }
  }
  const double s = gpu::column_lane_sum(lanes, acc);  // every thread: out-of-range columns add 0
  if (threadIdx.y == 0 && c < cols) partial[static_cast<std::int64_t>(blockIdx.y) * cols + c] = s;
}

__global__ void col_moment_finalize_kernel(const double* __restrict__ partial, int chunks, std::int64_t rows,
                                           std::int64_t cols, double* __restrict__ out) {
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  double s = 0.0;
  for (int k = 0; k < chunks; ++k) s += partial[static_cast<std::int64_t>(k) * cols + c];
  out[c] = s / static_cast<double>(rows);
}

__global__ void scaler_finalize_kernel(const double* __restrict__ mean, const double* __restrict__ var,
                                       std::int64_t cols, float* __restrict__ mean_f, float* __restrict__ scale_f) {
  const std::int64_t c = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const double s = sqrt(var[c] > 0.0 ? var[c] : 0.0);
  mean_f[c] = static_cast<float>(mean[c]);
  scale_f[c] = s < 10.0 * DBL_EPSILON ? 1.0f : static_cast<float>(s);  // sklearn _handle_zeros_in_scale
}

__global__ void standardize_apply_kernel(const float* x, const float* __restrict__ mean,
                                         const float* __restrict__ scale, float* y, std::int64_t rows,
                                         std::int64_t cols) {
  const std::int64_t n = rows * cols;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t c = i % cols;
    y[i] = (x[i] - mean[c]) / scale[c];
  }
}

constexpr int kThreads = 256;

}  // namespace

int standardize_chunks(std::int64_t rows) { return static_cast<int>((rows + kRowsPerChunk - 1) / kRowsPerChunk); }

void launch_col_moment_partial(const float* x, std::int64_t rows, std::int64_t cols, const double* center, int power,
                               double* partial, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const dim3 grid(gpu::div_up(static_cast<std::size_t>(cols), kTileCols),
                  static_cast<unsigned>(standardize_chunks(rows)));
  HMR_LAUNCH(col_moment_partial_kernel, grid, dim3(kTileCols, kRowLanes), 0, stream, x, rows, cols, center, power,
             partial);
}

void launch_col_moment_finalize(const double* partial, int chunks, std::int64_t rows, std::int64_t cols, double* out,
                                cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  HMR_LAUNCH(col_moment_finalize_kernel, gpu::div_up(static_cast<std::size_t>(cols), kThreads), kThreads, 0, stream,
             partial, chunks, rows, cols, out);
}

void launch_scaler_finalize(const double* mean, const double* var, std::int64_t cols, float* mean_f, float* scale_f,
                            cudaStream_t stream) {
  if (cols <= 0) return;
  HMR_LAUNCH(scaler_finalize_kernel, gpu::div_up(static_cast<std::size_t>(cols), kThreads), kThreads, 0, stream, mean,
             var, cols, mean_f, scale_f);
}

void launch_standardize_apply(const float* x, const float* mean, const float* scale, float* y, std::int64_t rows,
                              std::int64_t cols, cudaStream_t stream) {
  const std::int64_t n = rows * cols;
  if (n <= 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((n + kThreads - 1) / kThreads, 4096));
  HMR_LAUNCH(standardize_apply_kernel, blocks, kThreads, 0, stream, x, mean, scale, y, rows, cols);
}

}  // namespace hmr::HMR_CUDA_NS::kern
