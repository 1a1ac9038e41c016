// prep/standardize_cuda.h — the prep stage's cuda seam: what standardize_cuda.cpp defines, declared for
// both cuda builds (cuda_emu, cuda_gpu). standardize.cpp call them through HMR_CUDA_CALL and
// standardize_cuda.cpp includes this header, so a signature that drifts fails the build
// (-Werror=missing-declarations).
#pragma once

#include "core/backend.h"
#include "core/matrix.h"
#include "cuda/dispatch.h"
#include "prep/standardize.h"

HMR_DECLARE_CUDA(hmr::prep::Scaler fit_scaler(hmr::Backend& b, hmr::ConstMatrixView x);
                 hmr::Matrix apply_scaler(hmr::Backend & b, const hmr::prep::Scaler& s, hmr::ConstMatrixView x))
