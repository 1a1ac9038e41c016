// gpu/reduce.cuh — the one set of fixed-order block and warp reductions every kernel uses.
//
// Orders (each result depends only on the inputs, never on the thread schedule):
//   block_reduce<B>:   shared-memory halving tree over B = blockDim.x threads,
//                      `for (s = B/2; s > 0; s >>= 1) sh[t] = op(sh[t], sh[t + s])`;
//   warp_reduce:       xor butterfly over the 32 lanes, offsets 16, 8, 4, 2, 1; every lane ends
//                      with the same value (op(a, b) == op(b, a) for the ops used here);
//   column_lane_sum:   a [L][C] tile of partials summed down its L lanes in lane order.
// B is the kernel's constexpr block size, the same constant its __launch_bounds__ and its launch
// use; the shared array is passed as `T (&)[B]`, so a mismatch does not compile. Every thread of
// the block must call a block reduction (it contains barriers); the result is returned to every
// thread and the shared array may be reused right after (a trailing barrier is included).
#pragma once

#include "gpu/compat.h"

namespace gpu {

struct Sum {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct Max {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
  __device__ __forceinline__ double operator()(double a, double b) const { return fmax(a, b); }
};
struct Min {
  __device__ __forceinline__ float operator()(float a, float b) const { return fminf(a, b); }
  __device__ __forceinline__ double operator()(double a, double b) const { return fmin(a, b); }
};

// Reduces one value per thread of a block of B threads with op; returns the total in every thread.
template <int B, class T, class Op>
__device__ __forceinline__ T block_reduce(T (&sh)[B], T v, Op op) {
  static_assert(B > 0 && (B & (B - 1)) == 0, "block_reduce: the block size must be a power of two");
  const int t = static_cast<int>(threadIdx.x);
  sh[t] = v;
  __syncthreads();
  for (int s = B / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] = op(sh[t], sh[t + s]);
    __syncthreads();
  }
  const T total = sh[0];
  __syncthreads();  // everyone has read sh[0] before the caller reuses sh
  return total;
}
template <int B, class T>
__device__ __forceinline__ T block_sum(T (&sh)[B], T v) {
  return block_reduce<B>(sh, v, Sum{});
}

// N independent reductions in one tree (one barrier per level for all of them): v[i] of every
// thread is replaced by the block's total of v[i]. sh[i] is the i-th tree's shared row.
template <int B, int N, class T, class Op>
__device__ __forceinline__ void block_reduce_n(T (&sh)[N][B], T (&v)[N], Op op) {
  static_assert(B > 0 && (B & (B - 1)) == 0, "block_reduce_n: the block size must be a power of two");
  const int t = static_cast<int>(threadIdx.x);
  for (int i = 0; i < N; ++i) sh[i][t] = v[i];
  __syncthreads();
  for (int s = B / 2; s > 0; s >>= 1) {
    if (t < s)
      for (int i = 0; i < N; ++i) sh[i][t] = op(sh[i][t], sh[i][t + s]);
    __syncthreads();
  }
  for (int i = 0; i < N; ++i) v[i] = sh[i][0];
  __syncthreads();
}

// Xor-butterfly reduction over a full warp (all 32 lanes must call it); every lane gets the total.
template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  return warp_reduce(v, Sum{});
}

// A block of C x L threads (threadIdx.x < C a column, threadIdx.y < L a lane of rows) sums each
// column's L lane partials in lane order. Every thread must call it; the column total is returned
// in the threads with threadIdx.y == 0 (other threads get their own v back).
template <int L, int C, class T>
__device__ __forceinline__ T column_lane_sum(T (&lanes)[L][C], T v) {
  lanes[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  if (threadIdx.y != 0) return v;
  T s = T(0);
  for (int l = 0; l < L; ++l) s += lanes[l][threadIdx.x];
  return s;
}

}  // namespace gpu
