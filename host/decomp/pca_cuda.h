// decomp/pca_cuda.h — the decomp stage's cuda seam: what pca_cuda.cpp defines, declared for both
// cuda builds (cuda_emu, cuda_gpu); pca.cpp calls them through HMR_CUDA_CALL and pca_cuda.cpp
// includes this header, so a signature that drifts fails the build (-Werror=missing-declarations).
#pragma once

#include "core/backend.h"
#include "core/matrix.h"
#include "cuda/dispatch.h"
#include "decomp/pca.h"
#include "decomp/pca_detail.h"

HMR_DECLARE_CUDA(hmr::decomp::detail::PcaCore pca_core(hmr::Backend& b, hmr::ConstMatrixView x, int k,
                                                       hmr::decomp::PcaSolver solver, int power_iters,
                                                       const hmr::Matrix& omega);
                 hmr::Matrix pca_transform(hmr::Backend & b, const hmr::decomp::Pca& p, hmr::ConstMatrixView x);
                 hmr::Matrix pca_inverse_transform(hmr::Backend & b, const hmr::decomp::Pca& p, hmr::ConstMatrixView z))
