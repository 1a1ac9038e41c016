// cluster/cluster_fixtures.h — access to tests/fixtures/cluster (made by tests/fixtures/gen_cluster.py
// with scikit-learn): the reference JSON and the committed .npy inputs.
#pragma once

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/matrix.h"
#include "io/npy.h"
#include "support/compare.h"

namespace hmr::test {

inline const nlohmann::json& cluster_ref() {
  static const nlohmann::json j = [] {
    std::ifstream f(fixture("cluster/reference.json"));
    return nlohmann::json::parse(f);
  }();
  return j;
}
inline Matrix cluster_matrix(const std::string& name) { return io::read_matrix(fixture("cluster/" + name)); }
inline std::vector<std::int32_t> cluster_labels(const std::string& name) {
  return io::read_labels(fixture("cluster/" + name));
}
inline std::vector<double> json_vec(const nlohmann::json& j) { return j.get<std::vector<double>>(); }
inline std::vector<double> json_flat(const nlohmann::json& j) {
  std::vector<double> out;
  for (const auto& row : j)
    for (const auto& v : row) out.push_back(v.get<double>());
  return out;
}
// Adjusted Rand index computed independently of the library (pair counting), for quality checks.
inline double pair_ari(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  double both = 0, sa = 0, sb = 0;
  const std::size_t n = a.size();
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) {
      const bool x = a[i] == a[j], y = b[i] == b[j];
      both += x && y;
      sa += x;
      sb += y;
    }
  const double pairs = static_cast<double>(n) * static_cast<double>(n - 1) / 2.0;
  const double expected = sa * sb / pairs;
  return (both - expected) / ((sa + sb) / 2.0 - expected);
}

}  // namespace hmr::test
