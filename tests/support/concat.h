// support/concat.h — arrays one after the other as one vector, so that a single comparison of a
// kernel's several outputs against their cpu twins reports the worst element over all of them.
#pragma once

#include <type_traits>
#include <vector>

namespace hmr::test {

// Every element converted to T.
template <class T, class... V>
std::vector<T> concat_as(const V&... v) {
  std::vector<T> out;
  (out.insert(out.end(), v.begin(), v.end()), ...);
  return out;
}

// In the arrays' common element type (float and double: double).
template <class... V>
auto concat(const V&... v) {
  return concat_as<std::common_type_t<typename V::value_type...>>(v...);
}

}  // namespace hmr::test
