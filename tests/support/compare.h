// support/compare.h — tolerance comparisons for tests: |got - want| <= atol + rtol * |want|
// element-wise; on failure the message names how many elements failed and the worst one.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace hmr::test {

::testing::AssertionResult all_close(std::span<const double> got, std::span<const double> want, double atol,
                                     double rtol);
::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want, double atol, double rtol);
::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<double>& want, double atol,
                                     double rtol);

template <class T>
::testing::AssertionResult bitwise_equal(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes differ: " << a.size() << " vs " << b.size();
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0)
      return ::testing::AssertionFailure() << "first difference at element " << i << ": " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

// The seed a randomised test uses: HMR_TEST_SEED or the given default; printed so a failure can
// be replayed.
std::uint64_t test_seed(std::uint64_t fallback = 12345);

// Path of a committed fixture under repo_dir()/tests/fixtures.
std::string fixture(const std::string& relative);
// The repository root and this build folder: the environment variables HMR_REPO_DIR and
// HMR_BINARY_DIR when set (a relocated kit), else the paths of the build. (Absolute paths live only
// in support/, so the other test sources compile to the same objects in every checkout and a
// compiler cache can share them.)
std::string repo_dir();
std::string binary_dir();
// Path under ../shared/data, or "" when the development data is absent (callers GTEST_SKIP).
std::string shared_data(const std::string& relative);

}  // namespace hmr::test

#define EXPECT_ALLCLOSE(got, want, atol, rtol) EXPECT_TRUE(::hmr::test::all_close((got), (want), (atol), (rtol)))
#define ASSERT_ALLCLOSE(got, want, atol, rtol) ASSERT_TRUE(::hmr::test::all_close((got), (want), (atol), (rtol)))
