// Shared helpers of the VAE engine tests (vae_test.cpp, vae_sparse_test.cpp, vae_kernels_test.cpp):
// random inputs, central differences, sparse rows in dense and CSR form, the small test
// configurations and a thread-count scope. Included once per test file (anonymous namespace).
#pragma once

#include <cblas.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/philox.h"
#include "cuda/buffer.h"
#include "nn/vae.cuh"
#include "nn/vae.h"
#include "nn/vae_net.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/concat.h"
#include "support/emu.h"

namespace {

// Several outputs as one double vector (one comparison reports the worst element of all).
template <class... V>
std::vector<double> concat(const V&... v) {
  return hmr::test::concat_as<double>(v...);
}

using hmr::Matrix;
using namespace hmr::nn;

template <class T>
std::vector<T> random_vec(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(u(rng));
  return v;
}

inline Matrix random_matrix(std::int64_t rows, std::int64_t cols, std::uint64_t seed, double lo = -1.0,
                            double hi = 1.0) {
  return Matrix(rows, cols, random_vec<float>(static_cast<std::size_t>(rows * cols), seed, lo, hi));
}

// Central differences of a scalar function f at p: (f(p + h e_i) - f(p - h e_i)) / 2h for each i.
template <class F>
std::vector<double> central_differences(F&& f, const std::vector<double>& p, double h = 1e-6) {
  std::vector<double> fd(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    auto q = p;
    q[i] = p[i] + h;
    const double up = f(q);
    q[i] = p[i] - h;
    fd[i] = (up - f(q)) / (2 * h);
  }
  return fd;
}

// x [rows x cols] with about `density` non-zeros in (0, 1], and its CSR form.
template <class T>
struct SparseData {
  std::vector<T> dense;
  std::vector<std::int64_t> ptr{0};
  std::vector<std::int32_t> col;
  std::vector<T> val;
  hmr::nn::cpu::CsrRows<T> csr() const { return {ptr.data(), col.data(), val.data()}; }
};
template <class T>
SparseData<T> sparse_data(std::int64_t rows, int cols, double density, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  SparseData<T> d;
  d.dense.assign(static_cast<std::size_t>(rows * cols), T(0));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c)
      if (u(rng) < density) {
        const T v = static_cast<T>(0.05 + 0.95 * u(rng));
        d.dense[static_cast<std::size_t>(r * cols + c)] = v;
        d.col.push_back(c);
        d.val.push_back(v);
      }
    d.ptr.push_back(static_cast<std::int64_t>(d.col.size()));
  }
  return d;
}

inline VaeConfig tiny_config(Activation act = Activation::relu, Output out = Output::identity, Loss loss = Loss::mse) {
  VaeConfig c;
  c.input_dim = 7;
  c.hidden = {6, 5};
  c.latent = 3;
  c.activation = act;
  c.output = out;
  c.loss = loss;
  c.beta = 1.5f;
  return c;
}

// A small text-VAE-like model for the sparse first-layer tests: 300 wide mostly-zero inputs.
inline VaeConfig sparse_config() {
  VaeConfig c = tiny_config(Activation::relu, Output::sigmoid, Loss::bce);
  c.input_dim = 300;
  c.hidden = {24};
  c.latent = 4;
  c.batch = 16;
  c.free_bits = 0.1f;
  return c;
}

// Results of the cpu engine under a given OpenMP thread count (restored afterwards).
template <class F>
auto with_threads(int threads, F&& f) {
  const int old = omp_get_max_threads();
  omp_set_num_threads(threads);
  auto r = f();
  omp_set_num_threads(old);
  return r;
}

namespace emu = hmr::cuda_emu;

template <class T>
emu::DeviceBuffer<T> dev(const std::vector<T>& v) {
  return emu::to_device(v, nullptr);
}

}  // namespace
