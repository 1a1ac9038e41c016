// prep/transform.h — element-wise feature transforms applied before standardisation.
//   log variance  ln(v + 1e-6) of every column named "*_var" (the Kaggle/GTZAN summary layout:
//                 mfccN_mean, mfccN_var, ...). MFCC variances span orders of magnitude and are
//                 skewed; their logarithm is closer to Gaussian, which K-Means and an MSE-trained
//                 VAE assume. x: [n x d] row-major, columns: [d] names.
#pragma once

#include <string>
#include <vector>

#include "core/matrix.h"

namespace hmr::prep {

// A column holding a variance: the name ends in "_var".
bool is_variance_column(const std::string& name);

// What a negative variance means: an input error (features read from a file; ids names the rows
// in the message), or float rounding of a computed variance that is clamped to 0.
enum class NegativeVariance { error, clamp };

// In place; returns the number of variance columns transformed.
int log_variance_columns(Matrix& x, const std::vector<std::string>& columns, NegativeVariance negative,
                         const std::vector<std::string>& ids = {});

}  // namespace hmr::prep
