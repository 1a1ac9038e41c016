// embed/bh.cu — the Barnes-Hut t-SNE iteration on cuda: bounding box, Morton codes, sort,
// Karras radix tree, bottom-up centres of mass, warp-cooperative repulsion, CSR attraction
// (one row per warp), fixed-order sums and the gains/momentum update. Layouts in bh.cuh.
// Determinism: no float atomics anywhere; the only atomics are the integer arrival counters of
// the bottom-up pass, whose outcome (which thread combines a node) does not change the values
// (children are always combined left then right). Sums reduce in a fixed tree per block and
// then sequentially over blocks.
#include "embed/bh.cuh"

#include <algorithm>
#include <cfloat>

#include <thrust/sort.h>

#include "embed/bh_common.cuh"
#include "gpu/check.h"
#include "gpu/reduce.cuh"
#include "gpu/thrust_policy.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kBoxThreads = 256;
constexpr int kBoxMaxBlocks = 512;
constexpr int kThreads = 256;
constexpr int kRepWarps = 8;
constexpr int kRepThreads = kRepWarps * 32;
constexpr int kStack = 68;  // tree depth <= 64 (prefix lengths 0..63), DFS stack <= depth + 2
constexpr int kSumThreads = 256;
constexpr std::int64_t kSumChunk = 4096;

// An empty box: lower corner +FLT_MAX, upper corner -FLT_MAX in every dimension.
template <int D>
__device__ __forceinline__ void empty_box(float (&l)[D], float (&h)[D]) {
  for (int d = 0; d < D; ++d) {
    l[d] = FLT_MAX;
    h[d] = -FLT_MAX;
  }
}
// The box around the boxes of the block's kBoxThreads threads (every thread calls it and gets it).
template <int D>
__device__ __forceinline__ void block_box(float (&l)[D], float (&h)[D]) {
  GPU_SHARED(lo, float[D][kBoxThreads]);
  GPU_SHARED(hi, float[D][kBoxThreads]);
  gpu::block_reduce_n<kBoxThreads>(lo, l, gpu::Min{});
  gpu::block_reduce_n<kBoxThreads>(hi, h, gpu::Max{});
}

template <int D>
__global__ void __launch_bounds__(kBoxThreads)
    bbox_partial_kernel(const float* __restrict__ y, std::int64_t n, float* __restrict__ partial) {
  float l[D], h[D];
  empty_box(l, h);
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kBoxThreads + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * kBoxThreads)
    for (int d = 0; d < D; ++d) {
      const float v = y[i * D + d];
      l[d] = fminf(l[d], v);
      h[d] = fmaxf(h[d], v);
    }
  block_box(l, h);
  if (threadIdx.x == 0)
    for (int d = 0; d < D; ++d) {
      partial[blockIdx.x * D + d] = l[d];
      partial[(gridDim.x + blockIdx.x) * D + d] = h[d];
    }
}

template <int D>
__global__ void __launch_bounds__(kBoxThreads)
    bbox_final_kernel(const float* __restrict__ partial, int blocks, float* __restrict__ box) {
  float l[D], h[D];
  empty_box(l, h);
  for (int b = static_cast<int>(threadIdx.x); b < blocks; b += kBoxThreads)
    for (int d = 0; d < D; ++d) {
      l[d] = fminf(l[d], partial[b * D + d]);
      h[d] = fmaxf(h[d], partial[(blocks + b) * D + d]);
    }
  block_box(l, h);
  if (threadIdx.x == 0) {
    float side = 0.0f;
    for (int d = 0; d < D; ++d) {
      box[d] = l[d];
      side = fmaxf(side, h[d] - l[d]);
    }
    if (!(side > 0.0f)) side = 1.0f;  // all points identical
    const int bits = D == 2 ? 16 : 10;
    box[D] = static_cast<float>(1u << bits) / side;
  }
}

template <int D>
__global__ void morton_kernel(const float* __restrict__ y, std::int64_t n, const float* __restrict__ box,
                              std::uint32_t* __restrict__ code, std::int32_t* __restrict__ pos) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float lo[D];
  for (int d = 0; d < D; ++d) lo[d] = box[d];
  code[i] = hmr::embed::bh::morton<D>(y + i * D, lo, box[D]);
  pos[i] = static_cast<std::int32_t>(i);
}

__global__ void gather_kernel(const float* __restrict__ y, const std::int32_t* __restrict__ order, std::int64_t n,
                              int dims, float* __restrict__ ys) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n * dims) return;
  const std::int64_t p = e / dims;
  ys[e] = y[static_cast<std::int64_t>(order[p]) * dims + (e - p * dims)];
}

__global__ void karras_kernel(const std::uint32_t* __restrict__ code, std::int64_t n, std::int32_t* __restrict__ child,
                              std::int32_t* __restrict__ first, std::int32_t* __restrict__ last,
                              std::int32_t* __restrict__ parent) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t m = n - 1;
  if (i >= m) return;
  std::int32_t l, r;
  hmr::embed::bh::karras_node(code, n, i, &l, &r, &first[i], &last[i]);
  child[2 * i] = l;
  child[2 * i + 1] = r;
  parent[l >= 0 ? l : m + ~l] = static_cast<std::int32_t>(i);
  parent[r >= 0 ? r : m + ~r] = static_cast<std::int32_t>(i);
  if (i == 0) parent[0] = -1;
}

template <int D>
__global__ void bottom_up_kernel(const float* __restrict__ ys, const std::int32_t* __restrict__ child,
                                 const std::int32_t* __restrict__ parent, const std::uint32_t* __restrict__ code,
                                 const std::int32_t* __restrict__ first, const std::int32_t* __restrict__ last,
                                 const float* __restrict__ box, std::int64_t n, int* arrivals, float* com, float* bmin,
                                 float* bmax, float* size, float* count) {
  const std::int64_t leaf = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t m = n - 1;
  if (leaf >= n) return;
  // Node data written by other threads is read through volatile pointers (not the incoherent
  // L1 path); the fences order our writes before the arrival we publish.
  const volatile float* vcom = com;
  const volatile float* vmin = bmin;
  const volatile float* vmax = bmax;
  const volatile float* vcnt = count;
  std::int32_t node = parent[m + leaf];
  while (node >= 0) {
    __threadfence();
    if (atomicAdd(&arrivals[node], 1) == 0) break;  // first arrival: the sibling finishes the node
    __threadfence();
    float cnt[2], cm[2][D], mn[2][D], mx[2][D];
    for (int s = 0; s < 2; ++s) {
      const std::int32_t c = child[2 * node + s];
      if (c < 0) {
        cnt[s] = 1.0f;
        for (int d = 0; d < D; ++d) cm[s][d] = mn[s][d] = mx[s][d] = ys[static_cast<std::int64_t>(~c) * D + d];
      } else {
        cnt[s] = vcnt[c];
        for (int d = 0; d < D; ++d) {
          cm[s][d] = vcom[c * D + d];
          mn[s][d] = vmin[c * D + d];
          mx[s][d] = vmax[c * D + d];
        }
      }
    }
    const float total = cnt[0] + cnt[1];
    float side = 0.0f;
    for (int d = 0; d < D; ++d) {
      com[node * D + d] = (cnt[0] * cm[0][d] + cnt[1] * cm[1][d]) / total;
      const float a = fminf(mn[0][d], mn[1][d]), b = fmaxf(mx[0][d], mx[1][d]);
      bmin[node * D + d] = a;
      bmax[node * D + d] = b;
      side += (b - a) * (b - a);
    }
    count[node] = total;
    const float cell = hmr::embed::bh::cell_width<D>(code[first[node]], code[last[node]], box[D]);
    size[node] = cell >= 0.0f ? cell : sqrtf(side);
    node = parent[node];
  }
}

template <int D>
__global__ void __launch_bounds__(kRepThreads)
    repulsion_kernel(const float* __restrict__ ys, const std::int32_t* __restrict__ order,
                     const std::int32_t* __restrict__ child, const std::int32_t* __restrict__ first,
                     const std::int32_t* __restrict__ last, const float* __restrict__ com,
                     const float* __restrict__ size, const float* __restrict__ count, std::int64_t n, float theta2,
                     float* __restrict__ rep, float* __restrict__ zs) {
  GPU_SHARED(stack, std::int32_t[kRepWarps][kStack]);
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  const std::int64_t p = (static_cast<std::int64_t>(blockIdx.x) * kRepWarps + warp) * 32 + lane;
  const bool active = p < n;
  float yp[D], f[D];
  for (int d = 0; d < D; ++d) {
    yp[d] = active ? ys[p * D + d] : 0.0f;
    f[d] = 0.0f;
  }
  float z = 0.0f;
  int sp = 1;  // uniform across the warp: every lane pushes and pops in step
  if (lane == 0) stack[warp][0] = 0;
  __syncwarp();
  while (sp > 0) {
    --sp;
    const std::int32_t c = stack[warp][sp];
    __syncwarp();  // all lanes have read the slot before lane 0 reuses it
    if (c < 0) {
      const std::int64_t q = ~c;
      if (active && q != p) z += hmr::embed::bh::point_repulsion<D>(yp, ys + q * D, f);
    } else {
      float diff[D], d2 = 0.0f;
      for (int d = 0; d < D; ++d) {
        diff[d] = yp[d] - com[c * D + d];
        d2 += diff[d] * diff[d];
      }
      const float s = size[c];
      const bool holds = first[c] <= p && p <= last[c];
      const bool open = active && (holds || !(s * s < theta2 * d2));
      if (__any_sync(kFull, open)) {
        if (lane == 0) {
          stack[warp][sp] = child[2 * c + 1];
          stack[warp][sp + 1] = child[2 * c];
        }
        sp += 2;
        __syncwarp();
      } else if (active) {
        const float w = 1.0f / (1.0f + d2), m = count[c];
        z += m * w;
        for (int d = 0; d < D; ++d) f[d] += m * w * w * diff[d];
      }
    }
  }
  if (active) {
    const std::int64_t i = order[p];
    for (int d = 0; d < D; ++d) rep[i * D + d] = f[d];
    zs[p] = z;
  }
}

template <class T>
__global__ void __launch_bounds__(kSumThreads)
    sum_partial_kernel(const T* __restrict__ v, std::int64_t n, double* __restrict__ partial) {
  GPU_SHARED(acc, double[kSumThreads]);
  const std::int64_t b0 = static_cast<std::int64_t>(blockIdx.x) * kSumChunk;
  const std::int64_t b1 = b0 + kSumChunk < n ? b0 + kSumChunk : n;
  double s = 0.0;
  for (std::int64_t i = b0 + threadIdx.x; i < b1; i += kSumThreads) s += static_cast<double>(v[i]);
  const double total = gpu::block_sum<kSumThreads>(acc, s);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void sum_final_kernel(const double* __restrict__ partial, int blocks, double* __restrict__ out) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  double s = 0.0;
  for (int b = 0; b < blocks; ++b) s += partial[b];
  *out = s;
}

template <int D>
__global__ void __launch_bounds__(kThreads)
    attraction_kernel(const std::int64_t* __restrict__ indptr, const std::int32_t* __restrict__ indices,
                      const float* __restrict__ pval, const float* __restrict__ y, std::int64_t n,
                      float* __restrict__ attr, float* __restrict__ rowlog) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5);
  if (i >= n) return;  // whole warps leave together; no block barrier below
  float yi[D], f[D];
  for (int d = 0; d < D; ++d) {
    yi[d] = y[i * D + d];
    f[d] = 0.0f;
  }
  float lg = 0.0f;
  for (std::int64_t e = indptr[i] + lane; e < indptr[i + 1]; e += 32) {
    const std::int64_t j = indices[e];
    float diff[D], d2 = 0.0f;
    for (int d = 0; d < D; ++d) {
      diff[d] = yi[d] - y[j * D + d];
      d2 += diff[d] * diff[d];
    }
    const float pw = pval[e] / (1.0f + d2);
    for (int d = 0; d < D; ++d) f[d] += pw * diff[d];
    if (rowlog) lg += pval[e] * log1pf(d2);
  }
  for (int d = 0; d < D; ++d) f[d] = gpu::warp_sum(f[d]);  // every lane ends with the same sums
  lg = gpu::warp_sum(lg);
  if (lane == 0) {
    for (int d = 0; d < D; ++d) attr[i * D + d] = f[d];
    if (rowlog) rowlog[i] = lg;
  }
}

__global__ void update_kernel(float* __restrict__ y, float* __restrict__ update, float* __restrict__ gains,
                              const float* __restrict__ attr, const float* __restrict__ rep,
                              const double* __restrict__ z, std::int64_t m, float exag, float lr, float momentum,
                              float min_gain) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= m) return;
  const float inv_z = static_cast<float>(1.0 / *z);
  const float g = exag * attr[e] - rep[e] * inv_z;
  float u = update[e], gn = gains[e];
  gn = (u * g < 0.0f) ? gn + 0.2f : gn * 0.8f;
  gn = gn < min_gain ? min_gain : gn;
  u = momentum * u - lr * gn * g;
  gains[e] = gn;
  update[e] = u;
  y[e] += u;
}

template <int D>
__global__ void exact_z_rows_kernel(const float* __restrict__ y, std::int64_t n, double* __restrict__ zrow) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double yi[D];
  for (int d = 0; d < D; ++d) yi[d] = y[i * D + d];
  double z = 0.0;
  for (std::int64_t j = 0; j < n; ++j) {
    double d2 = 0.0;
    for (int d = 0; d < D; ++d) {
      const double v = yi[d] - static_cast<double>(y[j * D + d]);
      d2 += v * v;
    }
    if (j != i) z += 1.0 / (1.0 + d2);
  }
  zrow[i] = z;
}

unsigned grid_for(std::int64_t n, int threads) { return gpu::div_up(static_cast<std::size_t>(n), threads); }

}  // namespace

int bbox_blocks(std::int64_t n) {
  return static_cast<int>(
      std::min<std::int64_t>(std::max<std::int64_t>((n + kBoxThreads - 1) / kBoxThreads, 1), kBoxMaxBlocks));
}

void launch_bounding_box(const float* y, std::int64_t n, int dims, float* partial, float* box, cudaStream_t stream) {
  if (n <= 0) return;
  const int blocks = bbox_blocks(n);
  if (dims == 2) {
    HMR_LAUNCH(bbox_partial_kernel<2>, blocks, kBoxThreads, 0, stream, y, n, partial);
    HMR_LAUNCH(bbox_final_kernel<2>, 1, kBoxThreads, 0, stream, partial, blocks, box);
  } else {
    HMR_LAUNCH(bbox_partial_kernel<3>, blocks, kBoxThreads, 0, stream, y, n, partial);
    HMR_LAUNCH(bbox_final_kernel<3>, 1, kBoxThreads, 0, stream, partial, blocks, box);
  }
}

void launch_morton(const float* y, std::int64_t n, int dims, const float* box, std::uint32_t* code, std::int32_t* pos,
                   cudaStream_t stream) {
  if (n <= 0) return;
  if (dims == 2)
    HMR_LAUNCH(morton_kernel<2>, grid_for(n, kThreads), kThreads, 0, stream, y, n, box, code, pos);
  else
    HMR_LAUNCH(morton_kernel<3>, grid_for(n, kThreads), kThreads, 0, stream, y, n, box, code, pos);
}

void sort_codes(std::uint32_t* code, std::int32_t* pos, std::int64_t n, DevicePool& pool, cudaStream_t stream) {
  if (n <= 1) return;
  ThrustPoolAllocator alloc(pool);
  thrust::stable_sort_by_key(thrust_policy(alloc, stream), code, code + n, pos);
}

void launch_gather(const float* y, const std::int32_t* order, std::int64_t n, int dims, float* ys,
                   cudaStream_t stream) {
  if (n <= 0) return;
  HMR_LAUNCH(gather_kernel, grid_for(n * dims, kThreads), kThreads, 0, stream, y, order, n, dims, ys);
}

void launch_karras(const std::uint32_t* code, std::int64_t n, std::int32_t* child, std::int32_t* first,
                   std::int32_t* last, std::int32_t* parent, cudaStream_t stream) {
  if (n <= 1) return;
  HMR_LAUNCH(karras_kernel, grid_for(n - 1, kThreads), kThreads, 0, stream, code, n, child, first, last, parent);
}

void launch_bottom_up(const float* ys, const std::int32_t* child, const std::int32_t* parent, const std::uint32_t* code,
                      const std::int32_t* first, const std::int32_t* last, const float* box, std::int64_t n, int dims,
                      int* arrivals, float* com, float* bmin, float* bmax, float* size, float* count,
                      cudaStream_t stream) {
  if (n <= 1) return;
  if (dims == 2)
    HMR_LAUNCH(bottom_up_kernel<2>, grid_for(n, kThreads), kThreads, 0, stream, ys, child, parent, code, first, last,
               box, n, arrivals, com, bmin, bmax, size, count);
  else
    HMR_LAUNCH(bottom_up_kernel<3>, grid_for(n, kThreads), kThreads, 0, stream, ys, child, parent, code, first, last,
               box, n, arrivals, com, bmin, bmax, size, count);
}

void launch_repulsion(const float* ys, const std::int32_t* order, const std::int32_t* child, const std::int32_t* first,
                      const std::int32_t* last, const float* com, const float* size, const float* count, std::int64_t n,
                      int dims, float theta, float* rep, float* zs, cudaStream_t stream) {
  if (n <= 1) return;
  const unsigned blocks = grid_for(n, kRepThreads);
  const float theta2 = theta * theta;
  if (dims == 2)
    HMR_LAUNCH(repulsion_kernel<2>, blocks, kRepThreads, 0, stream, ys, order, child, first, last, com, size, count, n,
               theta2, rep, zs);
  else
    HMR_LAUNCH(repulsion_kernel<3>, blocks, kRepThreads, 0, stream, ys, order, child, first, last, com, size, count, n,
               theta2, rep, zs);
}

int sum_blocks(std::int64_t n) { return static_cast<int>(std::max<std::int64_t>((n + kSumChunk - 1) / kSumChunk, 1)); }

void launch_sum(const float* v, std::int64_t n, double* partial, double* out, cudaStream_t stream) {
  const int blocks = sum_blocks(n);
  HMR_LAUNCH(sum_partial_kernel<float>, blocks, kSumThreads, 0, stream, v, n, partial);
  HMR_LAUNCH(sum_final_kernel, 1, 32, 0, stream, partial, blocks, out);
}

void launch_sum(const double* v, std::int64_t n, double* partial, double* out, cudaStream_t stream) {
  const int blocks = sum_blocks(n);
  HMR_LAUNCH(sum_partial_kernel<double>, blocks, kSumThreads, 0, stream, v, n, partial);
  HMR_LAUNCH(sum_final_kernel, 1, 32, 0, stream, partial, blocks, out);
}

void launch_attraction(const std::int64_t* indptr, const std::int32_t* indices, const float* pval, const float* y,
                       std::int64_t n, int dims, float* attr, float* rowlog, cudaStream_t stream) {
  if (n <= 0) return;
  const unsigned blocks = grid_for(n, kThreads / 32);
  if (dims == 2)
    HMR_LAUNCH(attraction_kernel<2>, blocks, kThreads, 0, stream, indptr, indices, pval, y, n, attr, rowlog);
  else
    HMR_LAUNCH(attraction_kernel<3>, blocks, kThreads, 0, stream, indptr, indices, pval, y, n, attr, rowlog);
}

void launch_update(float* y, float* update, float* gains, const float* attr, const float* rep, const double* z,
                   std::int64_t m, float exag, float lr, float momentum, float min_gain, cudaStream_t stream) {
  if (m <= 0) return;
  HMR_LAUNCH(update_kernel, grid_for(m, kThreads), kThreads, 0, stream, y, update, gains, attr, rep, z, m, exag, lr,
             momentum, min_gain);
}

void launch_exact_z_rows(const float* y, std::int64_t n, int dims, double* zrow, cudaStream_t stream) {
  if (n <= 0) return;
  if (dims == 2)
    HMR_LAUNCH(exact_z_rows_kernel<2>, grid_for(n, 128), 128, 0, stream, y, n, zrow);
  else
    HMR_LAUNCH(exact_z_rows_kernel<3>, grid_for(n, 128), 128, 0, stream, y, n, zrow);
}

}  // namespace hmr::HMR_CUDA_NS::kern
