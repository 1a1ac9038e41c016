// audio/tempo_cuda.h — the tempo stage's cuda seam: what tempo_cuda.cpp defines, declared for both
// cuda builds (cuda_emu, cuda_gpu); tempo.cpp calls them through HMR_CUDA_CALL.
#pragma once

#include <span>
#include <vector>

#include "audio/tempo.h"
#include "core/backend.h"
#include "cuda/dispatch.h"

HMR_DECLARE_CUDA(std::vector<std::vector<float>> onset_strength_cuda(hmr::Backend& b,
                                                                     const std::vector<std::span<const float>>& clips,
                                                                     const hmr::audio::TempoParams& p,
                                                                     hmr::audio::OnsetAggregate aggregate);
                 std::vector<double> beat_tempo_cuda(hmr::Backend & b, const std::vector<std::span<const float>>& clips,
                                                     const hmr::audio::TempoParams& p))
