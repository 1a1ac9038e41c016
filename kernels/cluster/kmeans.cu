// cluster/kmeans.cu — Lloyd's K-Means kernels: assignment with the centres held in shared memory,
// centre update by fixed-order partial sums (no float atomics), empty-cluster relocation and the
// convergence decision on the device, inertia. Semantics follow scikit-learn's lloyd_iter_chunked
// _dense + _relocate_empty_clusters_dense (sklearn/cluster/_k_means_lloyd.pyx, _k_means_common.pyx).
// Layout: x row-major [n x d], centres [k x d], labels int32 [n]; one thread per row in the
// assignment, one block per chunk of kChunkRows rows in the partial sums.
#include "cluster/kmeans.cuh"

#include <cfloat>

#include "gpu/check.h"
#include "gpu/reduce.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kThreads = 256;
constexpr int kChunkRows = 512;
constexpr int kCenterTileFloats = 8192;  // 32 KB of centres per shared-memory tile

// Relocation candidate: the farthest point (distance descending, index ascending); i < 0: none.
struct Far {
  float v;
  long long i;
};
struct FartherOf {
  __device__ Far operator()(Far a, Far b) const {
    return (b.i >= 0 && (a.i < 0 || b.v > a.v || (b.v == a.v && b.i < a.i))) ? b : a;
  }
};

__global__ void __launch_bounds__(kThreads)
    kmeans_assign_kernel(const float* __restrict__ x, std::int64_t n, int d, const float* __restrict__ centers, int k,
                         int tile_k, std::int32_t* __restrict__ labels, float* __restrict__ dist, int* status) {
  GPU_DYNAMIC_SHARED(float, sc);
  if (status != nullptr && status[kDone] != 0) return;  // uniform across the grid: no barrier skipped
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const bool valid = i < n;
  const float* xi = x + (valid ? i : 0) * d;
  float best = FLT_MAX;
  int bj = 0;
  for (int j0 = 0; j0 < k; j0 += tile_k) {
    const int kt = k - j0 < tile_k ? k - j0 : tile_k;
    __syncthreads();  // the previous tile has been consumed
    for (int t = threadIdx.x; t < kt * d; t += kThreads) sc[t] = centers[static_cast<std::int64_t>(j0) * d + t];
    __syncthreads();
    if (valid) {
      for (int j = 0; j < kt; ++j) {
        const float* cj = sc + j * d;
        float s = 0.0f;
        for (int c = 0; c < d; ++c) {
          const float v = xi[c] - cj[c];
          s = fmaf(v, v, s);
        }
        if (s < best) {  // strict: ties keep the lowest index
          best = s;
          bj = j0 + j;
        }
      }
    }
  }
  int changed = 0;
  if (valid) {
    changed = labels[i] != bj;
    labels[i] = bj;
    if (dist != nullptr) dist[i] = best;
  }
  if (status != nullptr) {
    const int cnt = __syncthreads_count(changed);
    if (threadIdx.x == 0 && cnt != 0) atomicAdd(&status[kChanged], cnt);  // integer: order-free
  }
}

__global__ void __launch_bounds__(kThreads)
    kmeans_update_partial_kernel(const float* __restrict__ x, std::int64_t n, int d,
                                 const std::int32_t* __restrict__ labels, int k, double* __restrict__ psum,
                                 long long* __restrict__ pcount, const int* status) {
  if (status != nullptr && status[kDone] != 0) return;
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.x) * kChunkRows;
  const std::int64_t r1 = r0 + kChunkRows < n ? r0 + kChunkRows : n;
  const int kd = k * d;
  // Thread o owns output (j, c) = (o / d, o % d) and adds the chunk's rows in row order; a warp
  // reads one row's consecutive columns (coalesced) and the same label (broadcast).
  for (int o = threadIdx.x; o < kd; o += kThreads) {
    const int j = o / d, c = o - j * d;
    double s = 0.0;
    for (std::int64_t r = r0; r < r1; ++r)
      if (labels[r] == j) s += static_cast<double>(x[r * d + c]);
    psum[static_cast<std::int64_t>(blockIdx.x) * kd + o] = s;
  }
  for (int j = threadIdx.x; j < k; j += kThreads) {
    long long cnt = 0;
    for (std::int64_t r = r0; r < r1; ++r) cnt += labels[r] == j;
    pcount[static_cast<std::int64_t>(blockIdx.x) * k + j] = cnt;
  }
}

__global__ void __launch_bounds__(kThreads)
    kmeans_update_finalize_kernel(const double* __restrict__ psum, const long long* __restrict__ pcount, int chunks,
                                  const float* __restrict__ x, std::int64_t n, int d,
                                  const std::int32_t* __restrict__ labels, const float* __restrict__ dist, int k,
                                  float* centers, double* sums, long long* counts, int* empty, double tol, int max_iter,
                                  int* status) {
  GPU_SHARED(red, double[kThreads]);
  GPU_SHARED(arg, Far[kThreads]);
  GPU_SHARED(ctl, long long[4]);   // n_empty, chosen index, its distance (bits), relocation on
  if (status[kDone] != 0) return;  // one block: uniform
  const int kd = k * d;
  for (int o = threadIdx.x; o < kd; o += kThreads) {
    double s = 0.0;
    for (int ch = 0; ch < chunks; ++ch) s += psum[static_cast<std::int64_t>(ch) * kd + o];
    sums[o] = s;
  }
  for (int j = threadIdx.x; j < k; j += kThreads) {
    long long s = 0;
    for (int ch = 0; ch < chunks; ++ch) s += pcount[static_cast<std::int64_t>(ch) * k + j];
    counts[j] = s;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int m = 0;
    for (int j = 0; j < k; ++j)
      if (counts[j] == 0) empty[m++] = j;  // fixed before any relocation changes the counts
    ctl[0] = m;
  }
  __syncthreads();
  const int n_empty = static_cast<int>(ctl[0]);
  // Relocation (rare): the e-th farthest point (distance descending, index ascending) moves to
  // the e-th empty cluster. Each pick is the best point strictly after the previous pick in that
  // order, so no list of taken points is needed.
  float prev_v = FLT_MAX;
  long long prev_i = -1;
  for (int e = 0; e < n_empty; ++e) {
    float bv = -1.0f;
    long long bi = -1;
    for (std::int64_t i = threadIdx.x; i < n; i += kThreads) {
      const float v = dist[i];
      const bool after = v < prev_v || (v == prev_v && i > prev_i);
      if (after && (v > bv || (v == bv && i < bi))) {
        bv = v;
        bi = i;
      }
    }
    const Far best = gpu::block_reduce<kThreads>(arg, Far{bv, bi}, FartherOf{});
    const long long far = best.i;
    const float far_v = best.v;
    // sklearn skips relocation altogether when every point sits on its centre.
    const bool go = far >= 0 && !(e == 0 && far_v == 0.0f);
    if (go) {
      const int nc = empty[e], oc = labels[far];
      for (int c = threadIdx.x; c < d; c += kThreads) {
        const double v = static_cast<double>(x[far * d + c]);
        sums[static_cast<std::int64_t>(oc) * d + c] -= v;
        sums[static_cast<std::int64_t>(nc) * d + c] = v;
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        counts[nc] = 1;
        counts[oc] -= 1;
      }
    }
    prev_v = far_v;
    prev_i = far;
    __syncthreads();
    if (!go) break;  // `go` is the same in every thread
  }
  // New centres and the squared shift (per element, then a fixed-order block sum).
  double part = 0.0;
  for (int o = threadIdx.x; o < kd; o += kThreads) {
    const int j = o / d;
    const long long cnt = counts[j];
    const float nv = cnt > 0 ? static_cast<float>(sums[o] * (1.0 / static_cast<double>(cnt))) : 0.0f;
    const double diff = static_cast<double>(nv) - static_cast<double>(centers[o]);
    centers[o] = nv;
    part += diff * diff;
  }
  const double shift = gpu::block_sum<kThreads>(red, part);
  if (threadIdx.x == 0) {
    const int it = status[kIter] + 1;
    status[kIter] = it;
    if (status[kChanged] == 0) {
      status[kStrict] = 1;
      status[kDone] = 1;
    } else if (shift <= tol || it >= max_iter) {
      status[kDone] = 1;
    }
    status[kChanged] = 0;
  }
}

__global__ void __launch_bounds__(kThreads)
    kmeans_inertia_partial_kernel(const float* __restrict__ x, std::int64_t n, int d, const float* __restrict__ centers,
                                  const std::int32_t* __restrict__ labels, double* __restrict__ partial) {
  GPU_SHARED(red, double[kThreads]);
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.x) * kChunkRows;
  const std::int64_t r1 = r0 + kChunkRows < n ? r0 + kChunkRows : n;
  double acc = 0.0;
  for (std::int64_t r = r0 + threadIdx.x; r < r1; r += kThreads) {
    const float* xr = x + r * d;
    const float* cr = centers + static_cast<std::int64_t>(labels[r]) * d;
    float s = 0.0f;
    for (int c = 0; c < d; ++c) {
      const float v = xr[c] - cr[c];
      s = fmaf(v, v, s);
    }
    acc += static_cast<double>(s);
  }
  const double total = gpu::block_sum<kThreads>(red, acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void __launch_bounds__(kThreads)
    sum_partials_kernel(const double* __restrict__ partial, int count, double* __restrict__ out) {
  GPU_SHARED(red, double[kThreads]);
  double acc = 0.0;
  for (int i = threadIdx.x; i < count; i += kThreads) acc += partial[i];
  const double total = gpu::block_sum<kThreads>(red, acc);
  if (threadIdx.x == 0) out[0] = total;
}

}  // namespace

int kmeans_chunks(std::int64_t n) { return static_cast<int>((n + kChunkRows - 1) / kChunkRows); }

void launch_kmeans_assign(const float* x, std::int64_t n, int d, const float* centers, int k, std::int32_t* labels,
                          float* dist, int* status, cudaStream_t stream) {
  if (n <= 0 || k <= 0 || d <= 0) return;
  HMR_LAUNCHER_ASSERT(d <= kCenterTileFloats, "kmeans (cuda): more features than a centre tile of 8192 floats holds");
  const int tile_k = kCenterTileFloats / d < k ? kCenterTileFloats / d : k;
  const std::size_t smem = static_cast<std::size_t>(tile_k) * static_cast<std::size_t>(d) * sizeof(float);
  HMR_LAUNCH(kmeans_assign_kernel, gpu::div_up(static_cast<std::size_t>(n), kThreads), kThreads, smem, stream, x, n, d,
             centers, k, tile_k, labels, dist, status);
}

void launch_kmeans_update_partial(const float* x, std::int64_t n, int d, const std::int32_t* labels, int k,
                                  double* psum, long long* pcount, const int* status, cudaStream_t stream) {
  if (n <= 0 || k <= 0 || d <= 0) return;
  HMR_LAUNCH(kmeans_update_partial_kernel, static_cast<unsigned>(kmeans_chunks(n)), kThreads, 0, stream, x, n, d,
             labels, k, psum, pcount, status);
}

void launch_kmeans_update_finalize(const double* psum, const long long* pcount, int chunks, const float* x,
                                   std::int64_t n, int d, const std::int32_t* labels, const float* dist, int k,
                                   float* centers, double* sums, long long* counts, int* empty, double tol,
                                   int max_iter, int* status, cudaStream_t stream) {
  if (n <= 0 || k <= 0 || d <= 0) return;
  HMR_LAUNCH(kmeans_update_finalize_kernel, 1, kThreads, 0, stream, psum, pcount, chunks, x, n, d, labels, dist, k,
             centers, sums, counts, empty, tol, max_iter, status);
}

void launch_kmeans_inertia_partial(const float* x, std::int64_t n, int d, const float* centers,
                                   const std::int32_t* labels, double* partial, cudaStream_t stream) {
  if (n <= 0 || d <= 0) return;
  HMR_LAUNCH(kmeans_inertia_partial_kernel, static_cast<unsigned>(kmeans_chunks(n)), kThreads, 0, stream, x, n, d,
             centers, labels, partial);
}

void launch_sum_partials(const double* partial, int count, double* out, cudaStream_t stream) {
  if (count <= 0) return;
  HMR_LAUNCH(sum_partials_kernel, 1, kThreads, 0, stream, partial, count, out);
}

}  // namespace hmr::HMR_CUDA_NS::kern
