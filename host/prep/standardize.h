// prep/standardize.h — feature standardisation with scikit-learn StandardScaler semantics:
// mean and population variance per column (accumulated in double), scale = sqrt(var), and
// scale 1 for (near-)constant columns so they map to 0 instead of NaN.
#pragma once

#include <vector>

#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::prep {

struct Scaler {
  std::vector<float> mean;   // [cols]
  std::vector<float> scale;  // [cols]
};

Scaler fit_scaler(Backend& backend, ConstMatrixView x);
Matrix apply_scaler(Backend& backend, const Scaler& s, ConstMatrixView x);
Matrix inverse_scaler(const Scaler& s, ConstMatrixView z);  // z * scale + mean (host)

// The cpu twins (also used by the conformance tests directly).
Scaler fit_scaler_cpu(ConstMatrixView x);
Matrix apply_scaler_cpu(const Scaler& s, ConstMatrixView x);

}  // namespace hmr::prep
