// support/npy.h — a fixture .npy file (io/npy.h's reader) as a typed vector, for reference values
// written by the tests/fixtures/gen_*.py scripts. A dtype whose size does not match T fails the
// calling test (one line naming the file and its dtype) instead of reinterpreting the bytes.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "io/npy.h"

namespace hmr::test {

template <class T>
std::vector<T> npy_vec(const std::string& path) {
  const io::NpyArray a = io::read_npy(path);
  std::vector<T> v(static_cast<std::size_t>(a.count()));
  EXPECT_EQ(a.bytes.size(), v.size() * sizeof(T)) << path << " has dtype " << a.dtype;
  std::memcpy(v.data(), a.bytes.data(), std::min(a.bytes.size(), v.size() * sizeof(T)));
  return v;
}

}  // namespace hmr::test
