// prep/transform.cpp — element-wise feature transforms (see transform.h).
#include "prep/transform.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace hmr::prep {

bool is_variance_column(const std::string& name) {
  return name.size() >= 4 && name.compare(name.size() - 4, 4, "_var") == 0;
}

int log_variance_columns(Matrix& x, const std::vector<std::string>& columns, NegativeVariance negative,
                         const std::vector<std::string>& ids) {
  HMR_REQUIRE(static_cast<std::int64_t>(columns.size()) == x.cols(), "log variance: {} columns but {} names", x.cols(),
              columns.size());
  int logged = 0;
  for (std::size_t j = 0; j < columns.size(); ++j) {
    const std::string& name = columns[j];
    if (!is_variance_column(name)) continue;
    for (std::int64_t i = 0; i < x.rows(); ++i) {
      float& v = x(i, static_cast<std::int64_t>(j));
      if (negative == NegativeVariance::error) {
        HMR_REQUIRE(v >= 0.0f, "feature {} of row {} ({}) is a negative variance: {}", name, i,
                    static_cast<std::size_t>(i) < ids.size() ? ids[static_cast<std::size_t>(i)] : std::string("?"), v);
        v = std::log(v + 1e-6f);
      } else {
        v = std::log(std::max(v, 0.0f) + 1e-6f);
      }
    }
    ++logged;
  }
  return logged;
}

}  // namespace hmr::prep
