// support/backends.h — conformance tests run the same stage API on every backend the build has:
// cpu, cuda-emu (kernels executed by the emulator) and cuda (a real device). A backend that
// cannot run here is reported as SKIPPED with the reason, never silently passed.
//
//   class ConfMyStage : public hmr::test::BackendTest {};
//   TEST_P(ConfMyStage, MatchesReference) { auto& b = backend(); ... }
//   HMR_INSTANTIATE_BACKENDS(ConfMyStage);
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/backend.h"

namespace hmr::test {

class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  Backend& backend() { return *backend_; }
  // The cpu backend, for computing the reference a cuda result is compared with.
  Backend& cpu() { return *cpu_; }

 private:
  std::unique_ptr<Backend> backend_, cpu_;
};

std::string backend_test_name(const ::testing::TestParamInfo<std::string>& info);

}  // namespace hmr::test

// For a test whose reference is the cpu backend itself: its cpu instance would compare cpu with
// cpu and could not fail, so it is skipped with that reason (the cpu backend meets the reference
// tools in the suite's other tests, named by `covered_by`).
#define HMR_SKIP_CPU_INSTANCE(covered_by)                                                        \
  if (GetParam() == "cpu")                                                                       \
  GTEST_SKIP() << "the reference here is the cpu backend; cpu is checked against the reference " \
                  "tool by "                                                                     \
               << (covered_by)

#define HMR_INSTANTIATE_BACKENDS(Suite)                                                   \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite, ::testing::Values("cpu", "cuda-emu", "cuda"), \
                           ::hmr::test::backend_test_name)
