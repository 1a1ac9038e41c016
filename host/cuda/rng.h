// cuda/rng.h — device random numbers: cuRAND's Philox4x32-10 on GPUs; the emulated build uses
// hmr's own Philox4x32-10 (Salmon et al., SC'11) with Box-Muller, so streams are reproducible
// for a (seed, offset) but not bit-identical to cuRAND's. Stages that compare backends take the
// noise as an input buffer instead.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/context.h"

namespace hmr::HMR_CUDA_NS::rng {

void normal(Context& ctx, float* out, std::size_t n, std::uint64_t seed, std::uint64_t offset, float mean = 0.0f,
            float stddev = 1.0f);
void uniform(Context& ctx, float* out, std::size_t n, std::uint64_t seed, std::uint64_t offset);  // (0, 1]

}  // namespace hmr::HMR_CUDA_NS::rng
