// eval/silhouette.cu — distance tiles (16 x 16 threads, features staged through shared memory
// 16 at a time) and per-cluster segment sums (one block per (row, cluster), tree reduction in a
// fixed order) for the exact silhouette (Rousseeuw 1987, sklearn silhouette_samples).
#include "eval/silhouette.cuh"

#include "gpu/check.h"
#include "gpu/reduce.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kTile = 16;
constexpr int kThreads = 256;

__global__ void __launch_bounds__(kTile* kTile)
    silhouette_dist_tile_kernel(const float* __restrict__ x, std::int64_t n, int d, std::int64_t row0, int rows,
                                double* __restrict__ tile) {
  GPU_SHARED(a, float[kTile][kTile + 1]);
  GPU_SHARED(b, float[kTile][kTile + 1]);
  const int ty = threadIdx.y, tx = threadIdx.x;
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.y) * kTile + ty;   // tile row of this thread
  const std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * kTile + tx;   // column of this thread
  const std::int64_t ra = static_cast<std::int64_t>(blockIdx.y) * kTile + ty;  // row this thread loads into a
  const std::int64_t jb = static_cast<std::int64_t>(blockIdx.x) * kTile + ty;  // row this thread loads into b
  double acc = 0.0;
  for (int c0 = 0; c0 < d; c0 += kTile) {
    const int c = c0 + tx;
    a[ty][tx] = (ra < rows && c < d) ? x[(row0 + ra) * d + c] : 0.0f;
    b[ty][tx] = (jb < n && c < d) ? x[jb * d + c] : 0.0f;
    __syncthreads();
    const int cn = d - c0 < kTile ? d - c0 : kTile;
    for (int cc = 0; cc < cn; ++cc) {
      const double v = static_cast<double>(a[ty][cc]) - static_cast<double>(b[tx][cc]);
      acc += v * v;
    }
    __syncthreads();
  }
  if (r < rows && j < n) tile[r * n + j] = sqrt(acc);
}

__global__ void __launch_bounds__(kThreads)
    silhouette_cluster_sums_kernel(const double* __restrict__ tile, std::int64_t n,
                                   const std::int64_t* __restrict__ offsets, int k, double* __restrict__ sums) {
  GPU_SHARED(red, double[kThreads]);
  const int r = static_cast<int>(blockIdx.x) / k, q = static_cast<int>(blockIdx.x) % k;
  const double* row = tile + static_cast<std::int64_t>(r) * n;
  double acc = 0.0;
  for (std::int64_t j = offsets[q] + threadIdx.x; j < offsets[q + 1]; j += kThreads) acc += row[j];
  const double total = gpu::block_sum<kThreads>(red, acc);
  if (threadIdx.x == 0) sums[static_cast<std::int64_t>(r) * k + q] = total;
}

}  // namespace

void launch_silhouette_dist_tile(const float* x, std::int64_t n, int d, std::int64_t row0, int rows, double* tile,
                                 cudaStream_t stream) {
  if (n <= 0 || d <= 0 || rows <= 0) return;
  const dim3 grid(gpu::div_up(static_cast<std::size_t>(n), kTile), gpu::div_up(static_cast<std::size_t>(rows), kTile));
  HMR_LAUNCH(silhouette_dist_tile_kernel, grid, dim3(kTile, kTile), 0, stream, x, n, d, row0, rows, tile);
}

void launch_silhouette_cluster_sums(const double* tile, int rows, std::int64_t n, const std::int64_t* offsets, int k,
                                    double* sums, cudaStream_t stream) {
  if (rows <= 0 || k <= 0) return;
  HMR_LAUNCH(silhouette_cluster_sums_kernel, static_cast<unsigned>(rows) * static_cast<unsigned>(k), kThreads, 0,
             stream, tile, n, offsets, k, sums);
}

}  // namespace hmr::HMR_CUDA_NS::kern
