// The hmr program's contract: `hmr info` names the backends; `--device cuda` without a device is
// one line on stderr and exit code 2.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "core/backend.h"
#include "cuda/select.h"
#include "support/run.h"

namespace {
using hmr::test::run_hmr;

TEST(E2eCli, InfoNamesBackendsAndDevice) {
  const auto r = run_hmr("info");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("cpu"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("cuda-emu"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--device auto selects"), std::string::npos) << r.output;
}

TEST(E2eCli, DeviceCudaWithoutADeviceIsExitCode2) {
  bool have_gpu = false;
  for (const auto& p : hmr::probe_backends()) have_gpu |= p.name == "cuda" && p.usable;
  if (have_gpu) GTEST_SKIP() << "a CUDA device is present";
  const auto r = run_hmr("info --device cuda");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("hmr: error: --device cuda: no usable CUDA device"), std::string::npos) << r.output;
}

TEST(E2eCli, UnknownDeviceAndBadFlagsAreExitCode2) {
  EXPECT_EQ(run_hmr("info --device tpu").code, 2);
  EXPECT_EQ(run_hmr("no-such-command").code, 2);
}
}  // namespace
