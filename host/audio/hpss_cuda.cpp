// audio/hpss_cuda.cpp — the cuda backend of HPSS (host side). Placeholder until the kernels land.
#include "audio/hpss_cuda.h"

#include "core/error.h"

namespace hmr::HMR_CUDA_NS {

std::vector<audio::HpssSignals> hpss_cuda(Backend&, const std::vector<std::span<const float>>&,
                                          const audio::HpssParams&) {
  input_error("hpss: the cuda backend is not implemented yet");
}

}  // namespace hmr::HMR_CUDA_NS
