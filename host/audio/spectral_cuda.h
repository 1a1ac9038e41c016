// audio/spectral_cuda.h — the spectral features' cuda seam: what spectral_cuda.cpp defines, declared
// for both cuda builds (cuda_emu, cuda_gpu). spectral.cpp calls it through HMR_CUDA_CALL and
// spectral_cuda.cpp includes this header, so a signature that drifts fails the build.
#pragma once

#include <span>
#include <vector>

#include "audio/spectral.h"
#include "core/backend.h"
#include "cuda/dispatch.h"

HMR_DECLARE_CUDA(std::vector<hmr::audio::SpectralFrames> spectral_frames_cuda(
    hmr::Backend& b, const std::vector<std::span<const float>>& clips, const hmr::audio::SpectralParams& p,
    const hmr::audio::SpectralWhat& what))
