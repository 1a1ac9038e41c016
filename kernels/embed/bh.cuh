// embed/bh.cuh — launchers for the Barnes-Hut t-SNE iteration on cuda (see host/embed/bh.h for
// the tree layout and the gradient convention). dims is 2 or 3; y, ys, rep, attr are [n x dims]
// row-major; tree arrays are sized as in embed::Tree. No kernel takes a lock or waits on another
// thread: the bottom-up pass uses arrival counters (the second arrival combines), and every
// floating-point sum has a fixed order.
#pragma once

#include <cstdint>

#include "gpu/pool.h"

namespace hmr::HMR_CUDA_NS::kern {

// Number of partial blocks the bounding-box pass uses (lo/hi partial buffers: blocks x dims).
int bbox_blocks(std::int64_t n);
// box[0..dims) = lower corner, box[dims] = the Morton scale 2^bits / side (side of the square
// box; 1 when all points coincide). partial: 2 * bbox_blocks(n) * dims floats.
void launch_bounding_box(const float* y, std::int64_t n, int dims, float* partial, float* box, cudaStream_t stream);
// code[i] = Morton code of point i, pos[i] = i.
void launch_morton(const float* y, std::int64_t n, int dims, const float* box, std::uint32_t* code, std::int32_t* pos,
                   cudaStream_t stream);
// Stable sort of (code, pos) by code (Thrust radix sort, temporaries from pool).
void sort_codes(std::uint32_t* code, std::int32_t* pos, std::int64_t n, DevicePool& pool, cudaStream_t stream);
// ys[p] = y[order[p]].
void launch_gather(const float* y, const std::int32_t* order, std::int64_t n, int dims, float* ys, cudaStream_t stream);
// Internal nodes (Karras 2012): child [2(n-1)], first/last [n-1], parent [(n-1) + n].
void launch_karras(const std::uint32_t* code, std::int64_t n, std::int32_t* child, std::int32_t* first,
                   std::int32_t* last, std::int32_t* parent, cudaStream_t stream);
// Bottom-up centres of mass, boxes, counts and node sizes (the Morton cell's largest side, or
// the bounding-box diagonal for points sharing one code). arrivals [n-1] must be zero on entry.
void launch_bottom_up(const float* ys, const std::int32_t* child, const std::int32_t* parent, const std::uint32_t* code,
                      const std::int32_t* first, const std::int32_t* last, const float* box, std::int64_t n, int dims,
                      int* arrivals, float* com, float* bmin, float* bmax, float* size, float* count,
                      cudaStream_t stream);
// Warp-cooperative traversal: rep[order[p]] = sum w^2 (y_p - y_q), zs[p] = sum w (sorted order).
// A warp opens a node when any of its lanes must (theta = 0: every node).
void launch_repulsion(const float* ys, const std::int32_t* order, const std::int32_t* child, const std::int32_t* first,
                      const std::int32_t* last, const float* com, const float* size, const float* count, std::int64_t n,
                      int dims, float theta, float* rep, float* zs, cudaStream_t stream);
// Fixed-order sum of v[0..n) in double into *out (partial: sum_blocks(n) doubles).
int sum_blocks(std::int64_t n);
void launch_sum(const float* v, std::int64_t n, double* partial, double* out, cudaStream_t stream);
void launch_sum(const double* v, std::int64_t n, double* partial, double* out, cudaStream_t stream);
// One warp per CSR row: attr[i] = sum_j p_ij w_ij (y_i - y_j); rowlog[i] = sum_j p_ij log(1 + d^2)
// when rowlog is non-null.
void launch_attraction(const std::int64_t* indptr, const std::int32_t* indices, const float* pval, const float* y,
                       std::int64_t n, int dims, float* attr, float* rowlog, cudaStream_t stream);
// Element-wise update over m = n * dims values; z is read from device memory.
void launch_update(float* y, float* update, float* gains, const float* attr, const float* rep, const double* z,
                   std::int64_t m, float exag, float lr, float momentum, float min_gain, cudaStream_t stream);
// zrow[i] = sum_{j != i} 1 / (1 + |y_i - y_j|^2) in double (exact Z, O(n^2)).
void launch_exact_z_rows(const float* y, std::int64_t n, int dims, double* zrow, cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
