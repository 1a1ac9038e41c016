// embed/knn.cu — exact kNN with per-warp top-k lists, perplexity bisection, and the symmetrised
// joint P as CSR (see knn.cuh). Layout: x [n x d] row-major; neighbour lists [n x k].
// kNN block: kKnnWarps warps, one query row each; per 32-candidate tile the block stages
// dimension chunks of the candidates and queries in shared memory, every lane accumulates the
// exact squared distance of one candidate (differences, not the |a|^2 + |b|^2 - 2ab form), and
// the warp inserts the lanes that beat its current k-th best, lowest lane first, into a sorted
// list in shared memory. Ties order by index, so the result does not depend on thread order.
#include "embed/knn.cuh"

#include <algorithm>
#include <cfloat>
#include <climits>

#include <thrust/binary_search.h>
#include <thrust/functional.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sort.h>
#include <thrust/transform_reduce.h>

#include "gpu/check.h"
#include "gpu/thrust_policy.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kKnnWarps = 8;
constexpr int kKnnThreads = kKnnWarps * 32;
constexpr int kDimChunk = 32;
constexpr unsigned kFull = 0xffffffffu;

__device__ __forceinline__ bool pair_less(float da, int ia, float db, int ib) {
  return da < db || (da == db && ia < ib);
}

__global__ void __launch_bounds__(kKnnThreads)
    knn_tiled_kernel(const float* __restrict__ x, std::int64_t n, std::int64_t d, int k, std::int32_t* __restrict__ idx,
                     float* __restrict__ d2out) {
  GPU_SHARED(cand, float[32][kDimChunk + 1]);
  GPU_SHARED(query, float[kKnnWarps][kDimChunk]);
  GPU_DYNAMIC_SHARED(float, dyn);
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  float* topd = dyn + warp * k;
  int* topi = reinterpret_cast<int*>(dyn + kKnnWarps * k) + warp * k;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kKnnWarps + warp;
  const bool live = i < n;
  for (int r = lane; r < k; r += 32) {
    topd[r] = FLT_MAX;
    topi[r] = INT_MAX;
  }
  __syncwarp();
  float wd = FLT_MAX;
  int wi = INT_MAX;
  for (std::int64_t t0 = 0; t0 < n; t0 += 32) {
    float acc = 0.0f;
    for (std::int64_t c0 = 0; c0 < d; c0 += kDimChunk) {
      __syncthreads();  // the previous chunk is consumed
      for (int e = static_cast<int>(threadIdx.x); e < 32 * kDimChunk; e += kKnnThreads) {
        const int r = e / kDimChunk, c = e % kDimChunk;
        const std::int64_t row = t0 + r, col = c0 + c;
        cand[r][c] = row < n && col < d ? x[row * d + col] : 0.0f;
      }
      for (int e = static_cast<int>(threadIdx.x); e < kKnnWarps * kDimChunk; e += kKnnThreads) {
        const int w = e / kDimChunk, c = e % kDimChunk;
        const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kKnnWarps + w, col = c0 + c;
        query[w][c] = row < n && col < d ? x[row * d + col] : 0.0f;
      }
      __syncthreads();
      const int cend = d - c0 < kDimChunk ? static_cast<int>(d - c0) : kDimChunk;
      for (int c = 0; c < cend; ++c) {
        const float v = query[warp][c] - cand[lane][c];
        acc += v * v;
      }
    }
    const std::int64_t j = t0 + lane;
    const bool valid = live && j < n && j != i;
    const int jj = static_cast<int>(j);
    unsigned m = __ballot_sync(kFull, valid && pair_less(acc, jj, wd, wi));
    while (m) {
      const int src = __ffs(static_cast<int>(m)) - 1;
      const float cd = __shfl_sync(kFull, acc, src);
      const int cj = __shfl_sync(kFull, jj, src);
      int pos = 0;
      for (int b = 0; b < k; b += 32) {
        const int e = b + lane;
        pos += __popc(__ballot_sync(kFull, e < k && pair_less(topd[e], topi[e], cd, cj)));
      }
      // shift [pos, k - 2] up by one, highest chunk first (read all, then write)
      for (int b = ((k - 1) / 32) * 32; b >= 0; b -= 32) {
        const int e = b + lane;
        const bool mv = e >= pos && e < k - 1;
        float vd = 0.0f;
        int vi = 0;
        if (mv) {
          vd = topd[e];
          vi = topi[e];
        }
        __syncwarp();
        if (mv) {
          topd[e + 1] = vd;
          topi[e + 1] = vi;
        }
        __syncwarp();
      }
      if (lane == 0) {
        topd[pos] = cd;
        topi[pos] = cj;
      }
      __syncwarp();
      wd = topd[k - 1];
      wi = topi[k - 1];
      m &= ~(1u << src);
      m &= __ballot_sync(kFull, valid && pair_less(acc, jj, wd, wi));
    }
  }
  __syncwarp();
  if (live)
    for (int r = lane; r < k; r += 32) {
      idx[i * k + r] = topi[r];
      d2out[i * k + r] = topd[r];
    }
}

constexpr int kRowThreads = 128;

__global__ void __launch_bounds__(kRowThreads)
    perplexity_search_kernel(const float* __restrict__ d2, std::int64_t n, int k, double target, double tol,
                             int max_steps, float* __restrict__ p) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float* d = d2 + i * k;
  const double d0 = d[0];
  double beta = 1.0, lo = -1.0, hi = -1.0;  // -1: unbounded (beta > 0 always)
  for (int step = 0; step < max_steps; ++step) {
    double sum = 0.0, sdp = 0.0;
    for (int r = 0; r < k; ++r) {
      const double dd = static_cast<double>(d[r]) - d0;
      const double e = expf(static_cast<float>(-dd * beta));
      sum += e;
      sdp += dd * e;
    }
    const double diff = log(sum) + beta * sdp / sum - target;
    if (fabs(diff) <= tol) break;
    if (diff > 0.0) {
      lo = beta;
      beta = hi < 0.0 ? beta * 2.0 : (beta + hi) / 2.0;
    } else {
      hi = beta;
      beta = lo < 0.0 ? beta / 2.0 : (beta + lo) / 2.0;
    }
  }
  double sum = 0.0;
  for (int r = 0; r < k; ++r) sum += expf(static_cast<float>(-(static_cast<double>(d[r]) - d0) * beta));
  for (int r = 0; r < k; ++r)
    p[i * k + r] = static_cast<float>(expf(static_cast<float>(-(static_cast<double>(d[r]) - d0) * beta)) / sum);
}

__global__ void coo_build_kernel(const std::int32_t* __restrict__ idx, const float* __restrict__ p, std::int64_t n,
                                 int k, std::uint64_t* __restrict__ keys, float* __restrict__ vals) {
  const std::int64_t nk = n * k;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < nk;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::uint64_t i = static_cast<std::uint64_t>(e / k), j = static_cast<std::uint32_t>(idx[e]);
    keys[e] = i << 32 | j;
    keys[nk + e] = j << 32 | i;
    vals[e] = p[e];
    vals[nk + e] = p[e];
  }
}

// head[e] = 1 where a run of equal keys starts (sorted keys).
__global__ void run_heads_kernel(const std::uint64_t* __restrict__ keys, std::int64_t m,
                                 std::int64_t* __restrict__ head) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < m) head[e] = (e == 0 || keys[e] != keys[e - 1]) ? 1 : 0;
}

// Each run start writes its key and the sum of its run (at most two entries: (i, j) from row i
// and the transpose of (j, i) from row j), in sorted order, at the exclusive-scan position.
__global__ void run_reduce_kernel(const std::uint64_t* __restrict__ keys, const float* __restrict__ vals,
                                  const std::int64_t* __restrict__ pos, std::int64_t m,
                                  std::uint64_t* __restrict__ ukeys, float* __restrict__ uvals) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= m || (e > 0 && keys[e] == keys[e - 1])) return;
  float v = vals[e];
  for (std::int64_t f = e + 1; f < m && keys[f] == keys[e]; ++f) v += vals[f];
  ukeys[pos[e]] = keys[e];
  uvals[pos[e]] = v;
}

__global__ void csr_finalize_kernel(const std::uint64_t* __restrict__ ukeys, const float* __restrict__ uvals,
                                    std::int64_t u, std::int64_t n, float scale, std::int64_t* __restrict__ indptr,
                                    std::int32_t* __restrict__ indices, float* __restrict__ data) {
  const std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < u) {
    indices[t] = static_cast<std::int32_t>(ukeys[t] & 0xffffffffu);
    data[t] = uvals[t] * scale;
  }
  if (t <= n) {  // first entry whose row >= t
    const std::uint64_t key = static_cast<std::uint64_t>(t) << 32;
    std::int64_t a = 0, b = u;
    while (a < b) {
      const std::int64_t mid = (a + b) / 2;
      if (ukeys[mid] < key)
        a = mid + 1;
      else
        b = mid;
    }
    indptr[t] = a;
  }
}

struct ToDouble {
  __host__ __device__ double operator()(float v) const { return static_cast<double>(v); }
};

}  // namespace

void launch_knn_tiled(const float* x, std::int64_t n, std::int64_t d, int k, std::int32_t* idx, float* d2,
                      cudaStream_t stream) {
  if (n <= 0) return;
  if (k < 1 || k > kKnnMaxK || k >= n || d < 1) {  // shape check: reported as a launch error
    check_launch(cudaErrorInvalidValue, "knn_tiled_kernel (k outside [1, min(n - 1, 512)])", __func__, __FILE__,
                 __LINE__);
    return;
  }
  const std::size_t smem = static_cast<std::size_t>(kKnnWarps) * k * (sizeof(float) + sizeof(int));
#if !defined(HMR_EMU)
  HMR_CUDA_CHECK(
      cudaFuncSetAttribute(knn_tiled_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
#endif
  HMR_LAUNCH(knn_tiled_kernel, gpu::div_up(static_cast<std::size_t>(n), kKnnWarps), kKnnThreads, smem, stream, x, n, d,
             k, idx, d2);
}

void launch_perplexity_search(const float* d2, std::int64_t n, int k, double perplexity, double tol, int max_steps,
                              float* p, cudaStream_t stream) {
  if (n <= 0 || k <= 0) return;
  HMR_LAUNCH(perplexity_search_kernel, gpu::div_up(static_cast<std::size_t>(n), kRowThreads), kRowThreads, 0, stream,
             d2, n, k, log(perplexity), tol, max_steps, p);
}

void launch_coo_build(const std::int32_t* idx, const float* p, std::int64_t n, int k, std::uint64_t* keys, float* vals,
                      cudaStream_t stream) {
  const std::int64_t nk = n * k;
  if (nk <= 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((nk + 255) / 256, 8192));
  HMR_LAUNCH(coo_build_kernel, blocks, 256, 0, stream, idx, p, n, k, keys, vals);
}

std::int64_t sort_reduce_pairs(std::uint64_t* keys, float* vals, std::int64_t count, std::uint64_t* ukeys, float* uvals,
                               DevicePool& pool, cudaStream_t stream) {
  if (count <= 0) return 0;
  ThrustPoolAllocator alloc(pool);
  thrust::stable_sort_by_key(thrust_policy(alloc, stream), keys, keys + count, vals);
  // reduce-by-key as heads -> exclusive scan -> one writer per run (Thrust's reduce_by_key
  // spills registers under sm_90, which the ptxas check rejects)
  PooledBuffer<std::int64_t> pos = pool.scratch<std::int64_t>(static_cast<std::size_t>(count));
  const unsigned blocks = gpu::div_up(static_cast<std::size_t>(count), 256);
  HMR_LAUNCH(run_heads_kernel, blocks, 256, 0, stream, keys, count, pos.data());
  std::int64_t last_head = 0;
  HMR_CUDA_CHECK(
      cudaMemcpyAsync(&last_head, pos.data() + count - 1, sizeof(last_head), cudaMemcpyDeviceToHost, stream));
  thrust::exclusive_scan(thrust_policy(alloc, stream), pos.data(), pos.data() + count, pos.data());
  HMR_LAUNCH(run_reduce_kernel, blocks, 256, 0, stream, keys, vals, pos.data(), count, ukeys, uvals);
  std::int64_t last_pos = 0;
  HMR_CUDA_CHECK(cudaMemcpyAsync(&last_pos, pos.data() + count - 1, sizeof(last_pos), cudaMemcpyDeviceToHost, stream));
  HMR_CUDA_CHECK(cudaStreamSynchronize(stream));
  return last_pos + last_head;
}

double sum_floats(const float* v, std::int64_t count, DevicePool& pool, cudaStream_t stream) {
  if (count <= 0) return 0.0;
  ThrustPoolAllocator alloc(pool);
  const double s =
      thrust::transform_reduce(thrust_policy(alloc, stream), v, v + count, ToDouble{}, 0.0, thrust::plus<double>());
  HMR_CUDA_CHECK(cudaStreamSynchronize(stream));
  return s;
}

void launch_csr_finalize(const std::uint64_t* ukeys, const float* uvals, std::int64_t u, std::int64_t n, float scale,
                         std::int64_t* indptr, std::int32_t* indices, float* data, cudaStream_t stream) {
  const std::int64_t m = std::max(u, n + 1);
  HMR_LAUNCH(csr_finalize_kernel, gpu::div_up(static_cast<std::size_t>(m), 256), 256, 0, stream, ukeys, uvals, u, n,
             scale, indptr, indices, data);
}

}  // namespace hmr::HMR_CUDA_NS::kern
