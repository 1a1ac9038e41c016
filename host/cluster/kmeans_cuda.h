// cluster/kmeans_cuda.h — the cluster stage's cuda seam: what kmeans_cuda.cpp defines, declared
// for both cuda builds (cuda_emu, cuda_gpu). kmeans.cpp calls these through HMR_CUDA_CALL and
// kmeans_cuda.cpp includes this header, so a signature that drifts fails the build
// (-Werror=missing-declarations).
#pragma once

#include <cstdint>
#include <vector>

#include "cluster/kmeans_lloyd.h"
#include "core/backend.h"
#include "core/matrix.h"
#include "cuda/dispatch.h"

// All Lloyd runs share one upload of x; each run's init is given. predict: nearest centre.
HMR_DECLARE_CUDA(std::vector<hmr::cluster::LloydRun> kmeans_lloyd_runs(hmr::Backend& b, hmr::ConstMatrixView xc,
                                                                       const std::vector<hmr::Matrix>& inits,
                                                                       int max_iter, double tol);
                 std::vector<std::int32_t> kmeans_predict(hmr::Backend & b, hmr::ConstMatrixView centers,
                                                          hmr::ConstMatrixView x))
