// eval/silhouette_cuda.h — the eval stage's cuda seam: what silhouette_cuda.cpp defines, declared
// for both cuda builds (cuda_emu, cuda_gpu); metrics.cpp calls it through HMR_CUDA_CALL and
// silhouette_cuda.cpp includes this header, so a signature that drifts fails the build
// (-Werror=missing-declarations).
#pragma once

#include <vector>

#include "core/backend.h"
#include "cuda/dispatch.h"
#include "eval/silhouette_detail.h"

// sums[r * k + q]: summed distances from sorted row r to the rows of cluster q (all n rows).
HMR_DECLARE_CUDA(std::vector<double> silhouette_sums(hmr::Backend& b, const hmr::eval::detail::SortedData& s))
