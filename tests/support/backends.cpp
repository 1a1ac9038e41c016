#include "support/backends.h"

#include "core/error.h"
#include "cuda/select.h"

namespace hmr::test {

void BackendTest::SetUp() {
  cpu_ = make_cpu_backend();
  const std::string name = GetParam();
  if (name == "cuda") {
    for (const auto& p : probe_backends())
      if (p.name == "cuda" && !p.usable) GTEST_SKIP() << "cuda backend unavailable: " << p.detail;
  }
  backend_ = make_backend(name);
}

std::string backend_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

}  // namespace hmr::test
