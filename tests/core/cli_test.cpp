// The hmr program's contract: `hmr info` names the backends; `--device cuda` without a device is
// one line on stderr and exit code 2.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "core/backend.h"

namespace {
struct RunResult {
  int code;
  std::string out;
};
RunResult run(const std::string& args) {
  const std::string cmd = std::string(HMR_HMR_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  const int status = p ? pclose(p) : -1;
  return {WEXITSTATUS(status), out};
}

TEST(E2eCli, InfoNamesBackendsAndDevice) {
  const RunResult r = run("info");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("cpu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cuda-emu"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--device auto selects"), std::string::npos) << r.out;
}

TEST(E2eCli, DeviceCudaWithoutADeviceIsExitCode2) {
  bool have_gpu = false;
  for (const auto& p : hmr::probe_backends()) have_gpu |= p.name == "cuda" && p.usable;
  if (have_gpu) GTEST_SKIP() << "a CUDA device is present";
  const RunResult r = run("info --device cuda");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("hmr: error: --device cuda: no usable CUDA device"), std::string::npos) << r.out;
}

TEST(E2eCli, UnknownDeviceAndBadFlagsAreExitCode2) {
  EXPECT_EQ(run("info --device tpu").code, 2);
  EXPECT_EQ(run("no-such-command").code, 2);
}
}  // namespace
