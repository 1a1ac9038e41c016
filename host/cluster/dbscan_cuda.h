// cluster/dbscan_cuda.h — DBSCAN's cuda seam: the device computes the eps-neighbourhood counts and
// the CSR neighbourhoods (kernels/cluster/dbscan.cuh); the host runs sklearn's dbscan_inner on them.
// Declared for both cuda builds; dbscan.cpp calls it through HMR_CUDA_CALL.
#pragma once

#include <cstdint>
#include <vector>

#include "cluster/dbscan.h"
#include "core/backend.h"
#include "core/matrix.h"
#include "cuda/dispatch.h"

// counts [n] and CSR (off [n + 1], idx) of x's eps-neighbourhoods; norms: row norms (cosine) or empty.
HMR_DECLARE_CUDA(void dbscan_neighbourhoods(hmr::Backend& b, hmr::ConstMatrixView x, const std::vector<double>& norms,
                                            hmr::cluster::DbscanMetric metric, double eps,
                                            std::vector<std::int32_t>& counts, std::vector<std::int64_t>& off,
                                            std::vector<std::int32_t>& idx))
