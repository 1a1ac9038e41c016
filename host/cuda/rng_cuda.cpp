// cuda/rng_cuda.cpp — cuRAND Philox4x32-10 on GPUs; when emulated, hmr's one Philox4x32-10
// (core/philox.h, Salmon et al., SC'11) keyed by the seed, counter = offset + block.
#include "cuda/rng.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/philox.h"
#include "cuda/check.h"

namespace hmr::HMR_CUDA_NS::rng {

#if defined(HMR_EMU)
namespace {
float to_unit(std::uint32_t x) { return (static_cast<float>(x) + 1.0f) * 2.3283064365386963e-10f; }  // (0, 1]

template <class F>
void fill(std::size_t n, std::uint64_t seed, std::uint64_t offset, F&& emit) {
#pragma omp parallel for schedule(static)
  for (std::int64_t j = 0; j < static_cast<std::int64_t>((n + 3) / 4); ++j) {
    const std::uint64_t c = offset + static_cast<std::uint64_t>(j);
    std::uint32_t r[4];
    philox::philox4x32_10(c, seed, r);
    emit(static_cast<std::size_t>(j) * 4, r);
  }
}
}  // namespace

void uniform(Context&, float* out, std::size_t n, std::uint64_t seed, std::uint64_t offset) {
  fill(n, seed, offset, [&](std::size_t base, const std::uint32_t* r) {
    for (int q = 0; q < 4 && base + q < n; ++q) out[base + q] = to_unit(r[q]);
  });
}

void normal(Context&, float* out, std::size_t n, std::uint64_t seed, std::uint64_t offset, float mean, float stddev) {
  fill(n, seed, offset, [&](std::size_t base, const std::uint32_t* r) {
    for (int q = 0; q < 4; q += 2) {  // Box-Muller on pairs
      const float u1 = to_unit(r[q]), u2 = to_unit(r[q + 1]);
      const float rad = std::sqrt(-2.0f * std::log(u1)), th = 6.283185307179586f * u2;
      if (base + q < n) out[base + q] = mean + stddev * rad * std::cos(th);
      if (base + q + 1 < n) out[base + q + 1] = mean + stddev * rad * std::sin(th);
    }
  });
}
#else
namespace {
curandGenerator_t gen(Context& ctx, std::uint64_t seed, std::uint64_t offset) {
  auto g = static_cast<curandGenerator_t>(ctx.rng());
  HMR_CURAND_CHECK(curandSetPseudoRandomGeneratorSeed(g, seed));
  HMR_CURAND_CHECK(curandSetGeneratorOffset(g, offset));
  return g;
}
}  // namespace

void uniform(Context& ctx, float* out, std::size_t n, std::uint64_t seed, std::uint64_t offset) {
  if (n) HMR_CURAND_CHECK(curandGenerateUniform(gen(ctx, seed, offset), out, n));
}

void normal(Context& ctx, float* out, std::size_t n, std::uint64_t seed, std::uint64_t offset, float mean,
            float stddev) {
  if (!n) return;
  // cuRAND generates normals in pairs: an odd count goes through a pooled temporary.
  if (n % 2 == 0) {
    HMR_CURAND_CHECK(curandGenerateNormal(gen(ctx, seed, offset), out, n, mean, stddev));
  } else {
    auto tmp = ctx.scratch<float>(n + 1);
    HMR_CURAND_CHECK(curandGenerateNormal(gen(ctx, seed, offset), tmp.data(), n + 1, mean, stddev));
    HMR_CUDA_CHECK(cudaMemcpyAsync(out, tmp.data(), n * sizeof(float), cudaMemcpyDeviceToDevice, ctx.stream()));
  }
}
#endif

}  // namespace hmr::HMR_CUDA_NS::rng
