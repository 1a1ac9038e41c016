// text/tfidf.cuh — launcher for the TF-IDF weighting of a CSR count matrix on the device:
// per stored value tf = count (1 when binary; 1 + ln(tf) when sublinear), x = tf * idf[column]
// (idf may be null: no idf), then each row scaled to unit l2 / l1 norm (norm 0 = none; all-zero
// rows stay zero). float64 arithmetic as the cpu twin (text::weight_rows_cpu); one block per row,
// the row's norm reduced in shared memory in a fixed tree order, so results are bitwise
// reproducible. Layout: CSR indptr [rows + 1] (int64), indices [nnz] (int32), values [nnz].
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

enum class TfidfNorm : int { none = 0, l1 = 1, l2 = 2 };

// values: [nnz] counts in, weights out (in place).
void launch_tfidf_weight_rows(const std::int64_t* indptr, const std::int32_t* indices, float* values, const double* idf,
                              std::int64_t rows, bool binary, bool sublinear, TfidfNorm norm, cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
