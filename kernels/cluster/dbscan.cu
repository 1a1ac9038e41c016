// cluster/dbscan.cu — DBSCAN's eps-neighbourhood kernels (scikit-learn's radius_neighbors <= eps,
// sklearn/cluster/_dbscan.py): per-row neighbour counts (core flags are counts >= min_samples),
// then the CSR neighbourhood fill in increasing column order. One thread per row; column rows are
// staged in shared memory in tiles of kTileFloats floats. The distance arithmetic is written with
// __dadd_rn/__dmul_rn so nvcc cannot contract it into fma: the result is the cpu twin's, bit for bit.
#include "cluster/dbscan.cuh"

#include "gpu/check.h"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kThreads = 128;
constexpr int kTileFloats = 8192;  // 32 KB of column rows per shared-memory tile

// Reduced distance as host/cluster/dbscan.cpp's reduced_distance (squared for euclidean).
__device__ double reduced(const float* a, const float* b, int d, int metric, double na, double nb) {
  double s = 0.0;
  if (metric == 0) {
    for (int c = 0; c < d; ++c) {
      const double v = __dadd_rn(static_cast<double>(a[c]), -static_cast<double>(b[c]));
      s = __dadd_rn(s, __dmul_rn(v, v));
    }
    return s;
  }
  if (metric == 1) {
    for (int c = 0; c < d; ++c)
      s = __dadd_rn(s, fabs(__dadd_rn(static_cast<double>(a[c]), -static_cast<double>(b[c]))));
    return s;
  }
  if (na == 0.0 || nb == 0.0) return 1.0;
  for (int c = 0; c < d; ++c) s = __dadd_rn(s, __dmul_rn(static_cast<double>(a[c]), static_cast<double>(b[c])));
  const double r = 1.0 - s / __dmul_rn(na, nb);
  return r < 0.0 ? 0.0 : (r > 2.0 ? 2.0 : r);
}

// Walks the columns in shared-memory tiles for the row of this thread. kFill false: returns the
// count; true: writes the neighbours from off[i] in increasing j.
template <bool kFill>
__device__ std::int32_t scan_row(const float* __restrict__ x, std::int64_t n, int d, const double* __restrict__ norms,
                                 int metric, double eps, int tile_rows, float* sx, std::int64_t out,
                                 std::int32_t* __restrict__ idx) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const bool valid = i < n;
  const float* xi = x + (valid ? i : 0) * d;
  const double ni = norms != nullptr && valid ? norms[i] : 0.0;
  const double lim = metric == 0 ? eps * eps : eps;
  std::int32_t cnt = 0;
  for (std::int64_t j0 = 0; j0 < n; j0 += tile_rows) {
    const int jt = n - j0 < tile_rows ? static_cast<int>(n - j0) : tile_rows;
    __syncthreads();  // the previous tile has been consumed
    for (int t = threadIdx.x; t < jt * d; t += kThreads) sx[t] = x[j0 * d + t];
    __syncthreads();
    if (!valid) continue;
    for (int jj = 0; jj < jt; ++jj) {
      const std::int64_t j = j0 + jj;
      const double r = j == i ? 0.0 : reduced(xi, sx + jj * d, d, metric, ni, norms != nullptr ? norms[j] : 0.0);
      if (r <= lim) {
        if (kFill) idx[out++] = static_cast<std::int32_t>(j);
        ++cnt;
      }
    }
  }
  return cnt;
}

__global__ void __launch_bounds__(kThreads)
    dbscan_counts_kernel(const float* __restrict__ x, std::int64_t n, int d, const double* __restrict__ norms,
                         int metric, double eps, int tile_rows, std::int32_t* __restrict__ counts) {
  GPU_DYNAMIC_SHARED(float, sx);
  const std::int32_t c = scan_row<false>(x, n, d, norms, metric, eps, tile_rows, sx, 0, nullptr);
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i < n) counts[i] = c;
}

__global__ void __launch_bounds__(kThreads)
    dbscan_neighbours_kernel(const float* __restrict__ x, std::int64_t n, int d, const double* __restrict__ norms,
                             int metric, double eps, int tile_rows, const std::int64_t* __restrict__ off,
                             std::int32_t* __restrict__ idx) {
  GPU_DYNAMIC_SHARED(float, sx);
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  scan_row<true>(x, n, d, norms, metric, eps, tile_rows, sx, i < n ? off[i] : 0, idx);
}

// Rows of x per shared-memory tile (a row wider than the tile is not supported: checked by the
// launchers, which report it as a launch error).
int tile_rows_for(int d) { return kTileFloats / d; }

std::size_t tile_bytes(int tile, int d) {
  return sizeof(float) * static_cast<std::size_t>(tile) * static_cast<std::size_t>(d);
}

}  // namespace

void launch_dbscan_counts(const float* x, std::int64_t n, int d, const double* norms, int metric, double eps,
                          std::int32_t* counts, cudaStream_t stream) {
  if (n <= 0) return;
  HMR_LAUNCHER_ASSERT(d >= 1 && d <= kTileFloats, "dbscan: 1 <= d <= 8192 features");
  const int tile = tile_rows_for(d);
  HMR_LAUNCH(dbscan_counts_kernel, gpu::div_up(static_cast<std::size_t>(n), kThreads), kThreads, tile_bytes(tile, d),
             stream, x, n, d, norms, metric, eps, tile, counts);
}

void launch_dbscan_neighbours(const float* x, std::int64_t n, int d, const double* norms, int metric, double eps,
                              const std::int64_t* off, std::int32_t* idx, cudaStream_t stream) {
  if (n <= 0) return;
  HMR_LAUNCHER_ASSERT(d >= 1 && d <= kTileFloats, "dbscan: 1 <= d <= 8192 features");
  const int tile = tile_rows_for(d);
  HMR_LAUNCH(dbscan_neighbours_kernel, gpu::div_up(static_cast<std::size_t>(n), kThreads), kThreads,
             tile_bytes(tile, d), stream, x, n, d, norms, metric, eps, tile, off, idx);
}

}  // namespace hmr::HMR_CUDA_NS::kern
