// support/run.cpp — see run.h.
#include "support/run.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "support/compare.h"

namespace hmr::test {

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  for (std::size_t got; (got = std::fread(buf.data(), 1, buf.size(), p)) > 0;) r.output.append(buf.data(), got);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string hmr_exe() { return binary_dir() + "/apps/hmr"; }

CommandResult run_hmr(const std::string& args) { return run_command(hmr_exe() + " " + args); }

}  // namespace hmr::test
