// audio/mfcc_cuda.h — the audio stage's cuda seam: what mfcc_cuda.cpp defines, declared for both
// cuda builds (cuda_emu, cuda_gpu). mfcc.cpp calls them through HMR_CUDA_CALL and mfcc_cuda.cpp
// includes this header, so a signature that drifts fails the build (-Werror=missing-declarations).
#pragma once

#include <filesystem>
#include <span>
#include <vector>

#include "audio/mfcc.h"
#include "core/backend.h"
#include "cuda/dispatch.h"

HMR_DECLARE_CUDA(
    hmr::audio::MfccResult mfcc_clips_cuda(hmr::Backend& b, const std::vector<std::span<const float>>& clips,
                                           const hmr::audio::MfccParams& p, bool keep_frames);
    hmr::audio::MfccResult mfcc_files_cuda(hmr::Backend & b, const std::vector<std::filesystem::path>& paths,
                                           const hmr::audio::MfccParams& p, const hmr::audio::MfccOptions& options))
