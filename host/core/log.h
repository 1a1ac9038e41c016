// core/log.h — logging (spdlog to stderr) with hmr's verbosity levels: -q shows warnings and
// errors only, default shows info, -v shows debug, -vv trace.
#pragma once

#include <spdlog/spdlog.h>

namespace hmr {
void setup_logging(int verbosity);  // -1 quiet, 0 normal, 1 verbose, 2 trace
bool quiet();
}  // namespace hmr
