// nn/sparse_layer_cpu.cpp — the sparse first layer's cpu twins: a batch of CSR rows (TF-IDF input,
// ~1% non-zeros) times W^T and W's gradient from the same rows, with W out-major (PyTorch) or
// input-major (DenseLayer::input_major: a CSR entry scales one contiguous row), and the blocked
// transpose between the two layouts. Each output sums its terms in entry / batch-row order.
#include <algorithm>
#include <cstdint>

#include "nn/cpu_common.h"
#include "nn/vae_net.h"

namespace hmr::nn::cpu {

namespace {
// body(o0, o1) for the blocks [o0, o1) of kWidth outputs, over the threads when out * cost is
// large. Each output belongs to one block, so its sum keeps its order on any thread count.
template <int kWidth, class F>
void for_output_blocks(int out, std::int64_t cost, F&& body) {
  const int blocks = (out + kWidth - 1) / kWidth;
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(out) * cost > kParallelMin)
  for (int b = 0; b < blocks; ++b) body(b * kWidth, std::min(out, (b + 1) * kWidth));
}
}  // namespace

template <class T>
void csr_linear_forward(const CsrRows<T>& x, std::int64_t rows, const T* w, int in, int out, T* y) {
  // Blocks of 8 outputs: each entry of a batch row (read once per block, not once per output)
  // gathers from 8 rows of W (8 x in floats, cache-resident) into 8 independent sums, so 8 add
  // chains are in flight. Every sum still runs over its row's entries in order.
  constexpr int kO = 8;
  for_output_blocks<kO>(out, x.ptr[rows], [&](int o0, int o1) {
    if (o1 - o0 == kO) {
      const T* w0 = w + static_cast<std::int64_t>(o0) * in;
      for (std::int64_t r = 0; r < rows; ++r) {
        T s[kO] = {};
        for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) {
          const T v = x.val[k];
          const T* wc = w0 + x.col[k];
#pragma GCC unroll 8
          for (int i = 0; i < kO; ++i) s[i] += v * wc[static_cast<std::int64_t>(i) * in];
        }
        std::copy(s, s + kO, y + r * out + o0);
      }
    } else {
      for (int o = o0; o < o1; ++o) {
        const T* wo = w + static_cast<std::int64_t>(o) * in;
        for (std::int64_t r = 0; r < rows; ++r) {
          T s = T(0);
          for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) s += x.val[k] * wo[x.col[k]];
          y[r * out + o] = s;
        }
      }
    }
  });
}

template <class T>
void csr_weight_grad(const CsrRows<T>& x, std::int64_t rows, const T* dy, int in, int out, T* dw) {
  // Blocks of 8 outputs (8 rows of dW): each batch row's entries are read once per block and
  // update the 8 rows at their column; every element still sums the batch rows in order.
  constexpr int kO = 8;
  for_output_blocks<kO>(out, in, [&](int o0, int o1) {
    const int no = o1 - o0;
    T* g0 = dw + static_cast<std::int64_t>(o0) * in;
    std::fill(g0, g0 + static_cast<std::int64_t>(no) * in, T(0));
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* d = dy + r * out + o0;
      if (no == kO) {
        for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) {
          const T v = x.val[k];
          T* gc = g0 + x.col[k];
#pragma GCC unroll 8
          for (int i = 0; i < kO; ++i) gc[static_cast<std::int64_t>(i) * in] += d[i] * v;
        }
      } else {
        for (int i = 0; i < no; ++i)
          for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k)
            g0[static_cast<std::int64_t>(i) * in + x.col[k]] += d[i] * x.val[k];
      }
    }
  });
}

template <class T>
void csr_linear_forward_t(const CsrRows<T>& x, std::int64_t rows, const T* wt, int in, int out, T* y) {
  (void)in;
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(out) * x.ptr[rows] > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    T* yr = y + r * out;
    std::fill(yr, yr + out, T(0));
    for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) {
      // Each entry reads a row of Wt at a random place (W is ~10 MB for the text VAE, out of
      // cache): request the row kAhead entries on now, so its lines arrive while this one is summed
      // (the loop was bound by those misses: ~8 GB/s).
      constexpr std::int64_t kAhead = 4;
      if (k + kAhead < x.ptr[rows]) {
        const char* next = reinterpret_cast<const char*>(wt + static_cast<std::int64_t>(x.col[k + kAhead]) * out);
        for (std::size_t b = 0; b < sizeof(T) * static_cast<std::size_t>(out); b += 64) __builtin_prefetch(next + b);
      }
      const T v = x.val[k];
      const T* wc = wt + static_cast<std::int64_t>(x.col[k]) * out;
#pragma omp simd
      for (int o = 0; o < out; ++o) yr[o] += v * wc[o];
    }
  }
}

template <class T>
void csr_weight_grad_t(const CsrRows<T>& x, std::int64_t rows, const T* dy, int in, int out, T* dwt) {
  // Slices of 64 outputs per task: each element of dWt is owned by one task and sums the batch
  // rows in order, so the result does not depend on the thread count.
  constexpr int kSlice = 64;
  for_output_blocks<kSlice>(out, in, [&](int o0, int o1) {
    for (int c = 0; c < in; ++c)
      std::fill(dwt + static_cast<std::int64_t>(c) * out + o0, dwt + static_cast<std::int64_t>(c) * out + o1, T(0));
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* d = dy + r * out;
      for (std::int64_t k = x.ptr[r]; k < x.ptr[r + 1]; ++k) {
        const T v = x.val[k];
        T* g = dwt + static_cast<std::int64_t>(x.col[k]) * out;
#pragma omp simd
        for (int o = o0; o < o1; ++o) g[o] += d[o] * v;
      }
    }
  });
}

template <class T>
void transpose(const T* src, int rows, int cols, T* dst) {
  constexpr int kT = 32;
#pragma omp parallel for schedule(static) if (static_cast <std::int64_t>(rows) * cols > kParallelMin)
  for (int i0 = 0; i0 < rows; i0 += kT)
    for (int j0 = 0; j0 < cols; j0 += kT)
      for (int i = i0; i < std::min(rows, i0 + kT); ++i)
        for (int j = j0; j < std::min(cols, j0 + kT); ++j)
          dst[static_cast<std::int64_t>(j) * rows + i] = src[static_cast<std::int64_t>(i) * cols + j];
}
#define HMR_NN_INSTANTIATE(T)                                                                     \
  template void csr_linear_forward<T>(const CsrRows<T>&, std::int64_t, const T*, int, int, T*);   \
  template void csr_weight_grad<T>(const CsrRows<T>&, std::int64_t, const T*, int, int, T*);      \
  template void csr_linear_forward_t<T>(const CsrRows<T>&, std::int64_t, const T*, int, int, T*); \
  template void csr_weight_grad_t<T>(const CsrRows<T>&, std::int64_t, const T*, int, int, T*);    \
  template void transpose<T>(const T*, int, int, T*);
HMR_NN_INSTANTIATE(float)
HMR_NN_INSTANTIATE(double)
#undef HMR_NN_INSTANTIATE

}  // namespace hmr::nn::cpu
