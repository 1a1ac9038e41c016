// audio/hpss_cuda.h — the HPSS stage's cuda seam: what hpss_cuda.cpp defines, declared for both
// cuda builds (cuda_emu, cuda_gpu); hpss.cpp calls it through HMR_CUDA_CALL.
#pragma once

#include <span>
#include <vector>

#include "audio/hpss.h"
#include "core/backend.h"
#include "cuda/dispatch.h"

HMR_DECLARE_CUDA(std::vector<hmr::audio::HpssSignals> hpss_cuda(hmr::Backend& b,
                                                                const std::vector<std::span<const float>>& clips,
                                                                const hmr::audio::HpssParams& p))
