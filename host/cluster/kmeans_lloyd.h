// cluster/kmeans_lloyd.h — internal: one Lloyd run (sklearn _kmeans_single_lloyd) on a backend.
// x is the column-centred data [n x d]; init the k starting centres [k x d]. The run iterates
// until labels repeat (strict convergence), the summed squared centre shift is <= tol (absolute,
// already scaled by the mean variance), or max_iter; without strict convergence a final
// assignment makes labels consistent with the returned centres.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::cluster {

struct LloydRun {
  std::vector<std::int32_t> labels;  // [n]
  Matrix centers;                    // [k x d], in the centred frame
  double inertia = 0.0;
  int n_iter = 0;
  bool strict = false;  // converged because labels stopped changing
};

LloydRun lloyd_cpu(ConstMatrixView xc, const Matrix& init, int max_iter, double tol);

}  // namespace hmr::cluster
