// audio/spectral_cuda.cpp — the cuda backend of the spectral features (host side). (stub)
#include "audio/spectral_cuda.h"

#include "core/error.h"

namespace hmr::HMR_CUDA_NS {
std::vector<audio::SpectralFrames> spectral_frames_cuda(hmr::Backend&, const std::vector<std::span<const float>>&,
                                                        const audio::SpectralParams&, const audio::SpectralWhat&) {
  input_error("spectral: the cuda backend is not written yet");
}
}  // namespace hmr::HMR_CUDA_NS
