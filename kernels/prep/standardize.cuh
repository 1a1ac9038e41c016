// prep/standardize.cuh — launchers for per-column standardisation (StandardScaler semantics:
// population variance, scale 1 for constant columns). Deterministic: column sums are reduced in
// a fixed order (per-chunk partials, then a sequential sum over chunks), never with atomics.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

// Number of row chunks the partial-sum pass uses for `rows` rows; partial buffers hold
// standardize_chunks(rows) * cols doubles.
int standardize_chunks(std::int64_t rows);

// partial[chunk][c] = sum over the chunk's rows of (x[r][c] - center[c])^power, power 1 or 2;
// center may be null (treated as 0). x: [rows x cols] row-major.
void launch_col_moment_partial(const float* x, std::int64_t rows, std::int64_t cols, const double* center, int power,
                               double* partial, cudaStream_t stream);
// out[c] = (sum over chunks of partial[chunk][c]) / rows
void launch_col_moment_finalize(const double* partial, int chunks, std::int64_t rows, std::int64_t cols, double* out,
                                cudaStream_t stream);
// mean_f[c] = mean[c]; scale_f[c] = sqrt(var[c]), or 1 where that is below 10 * DBL_EPSILON.
void launch_scaler_finalize(const double* mean, const double* var, std::int64_t cols, float* mean_f, float* scale_f,
                            cudaStream_t stream);
// y = (x - mean) / scale, row-major [rows x cols]; y may alias x.
void launch_standardize_apply(const float* x, const float* mean, const float* scale, float* y, std::int64_t rows,
                              std::int64_t cols, cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
