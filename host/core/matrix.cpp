#include "core/matrix.h"

#include <cmath>

namespace hmr {

bool all_finite(ConstMatrixView m, std::int64_t* bad_row, std::int64_t* bad_col) {
  for (std::int64_t r = 0; r < m.rows; ++r) {
    const float* p = m.row(r);
    for (std::int64_t c = 0; c < m.cols; ++c)
      if (!std::isfinite(p[c])) {
        if (bad_row) *bad_row = r;
        if (bad_col) *bad_col = c;
        return false;
      }
  }
  return true;
}

}  // namespace hmr
