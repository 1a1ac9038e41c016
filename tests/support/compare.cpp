#include "support/compare.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace hmr::test {
namespace {
template <class G, class W>
::testing::AssertionResult close_impl(std::span<const G> got, std::span<const W> want, double atol, double rtol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "sizes differ: got " << got.size() << ", want " << want.size();
  std::size_t bad = 0, worst = 0;
  double worst_excess = -1.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    const double allowed = atol + rtol * std::fabs(w);
    const double diff = std::fabs(g - w);
    const bool ok = (std::isnan(g) && std::isnan(w)) || diff <= allowed;
    if (!ok) {
      ++bad;
      const double excess = std::isnan(diff) ? INFINITY : diff - allowed;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  const double g = got[worst], w = want[worst];
  return ::testing::AssertionFailure() << bad << " of " << got.size() << " elements differ beyond |a-b| <= " << atol
                                       << " + " << rtol << "|b|; worst at index " << worst << ": got " << g << ", want "
                                       << w << ", |diff| " << std::fabs(g - w);
}
}  // namespace

::testing::AssertionResult all_close(std::span<const double> got, std::span<const double> want, double atol,
                                     double rtol) {
  return close_impl(got, want, atol, rtol);
}
::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want, double atol,
                                     double rtol) {
  return close_impl(got, want, atol, rtol);
}
::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<double>& want, double atol,
                                     double rtol) {
  return close_impl(std::span<const float>(got), std::span<const double>(want), atol, rtol);
}

std::uint64_t test_seed(std::uint64_t fallback) {
  const char* v = std::getenv("HMR_TEST_SEED");
  const std::uint64_t seed = v && *v ? std::strtoull(v, nullptr, 10) : fallback;
  std::printf("[ seed     ] %llu (set HMR_TEST_SEED to change)\n", static_cast<unsigned long long>(seed));
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

// The folders compiled in are those of the build; a relocated copy of the test binaries (the GPU
// kit, scripts/gpu-kit.sh) points at its own copies with HMR_REPO_DIR and HMR_BINARY_DIR.
static std::string env_or(const char* name, const std::string& compiled) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : compiled;
}

std::string fixture(const std::string& relative) { return repo_dir() + "/tests/fixtures/" + relative; }
std::string repo_dir() { return env_or("HMR_REPO_DIR", std::string(HMR_TEST_DATA_DIR) + "/.."); }
std::string binary_dir() { return env_or("HMR_BINARY_DIR", HMR_BINARY_DIR); }

std::string shared_data(const std::string& relative) {
  const char* env = std::getenv("HMR_SHARED_DATA");
  const std::filesystem::path root = env && *env ? env : HMR_SHARED_DATA_DIR;
  const auto p = root / relative;
  return std::filesystem::exists(p) ? p.string() : std::string();
}

}  // namespace hmr::test
