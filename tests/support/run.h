// support/run.h — run a program from a test and keep what it printed: the end-to-end suites
// drive the hmr program (and the emulator's planted-bug programs) this way.
#pragma once

#include <string>

namespace hmr::test {

struct CommandResult {
  int code = -1;       // exit status; -1 when the program was killed by a signal or did not start
  std::string output;  // stdout and stderr, interleaved as printed
};

// Runs `command` with /bin/sh, stderr merged into stdout.
CommandResult run_command(const std::string& command);

// The hmr program of this build folder (binary_dir()/apps/hmr: HMR_BINARY_DIR when set) with `args`.
std::string hmr_exe();
CommandResult run_hmr(const std::string& args);

}  // namespace hmr::test
