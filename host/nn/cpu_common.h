// nn/cpu_common.h — internal to the cpu twins of kernels/nn (nn/*_cpu.cpp): the runtime AVX2 + FMA
// check every vectorised path dispatches on, the element count below which an OpenMP loop runs on
// one thread, and the scalar activations (and their derivatives from the output) of a dense layer.
// Inline here because they sit inside the hot loops of several files.
#pragma once

#include <cmath>
#include <cstdint>

#include "nn/vae.h"

namespace hmr::nn {

inline bool have_avx2_fma() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

namespace cpu {

constexpr std::int64_t kParallelMin = 1 << 17;  // elements below which threads cost more than they save

template <class T>
inline T activate(T v, Activation a) {
  switch (a) {
    case Activation::relu:
      return v > T(0) ? v : T(0);
    case Activation::sigmoid:
      return T(1) / (T(1) + std::exp(-v));
    case Activation::tanh:
      return std::tanh(v);
    case Activation::identity:
      break;
  }
  return v;
}
// Derivative expressed through the activation's output y.
template <class T>
inline T activate_grad(T y, Activation a) {
  switch (a) {
    case Activation::relu:
      return y > T(0) ? T(1) : T(0);
    case Activation::sigmoid:
      return y * (T(1) - y);
    case Activation::tanh:
      return T(1) - y * y;
    case Activation::identity:
      break;
  }
  return T(1);
}
template <class T>
inline T sigmoid(T a) {
  return T(1) / (T(1) + std::exp(-a));
}

}  // namespace cpu
}  // namespace hmr::nn
