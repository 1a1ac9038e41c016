#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace hmr {
namespace {
int g_verbosity = 0;
}

void setup_logging(int verbosity) {
  g_verbosity = verbosity;
  auto logger = spdlog::stderr_color_mt("hmr");
  logger->set_pattern("%^[%l]%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbosity < 0    ? spdlog::level::warn
                    : verbosity == 0 ? spdlog::level::info
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::trace);
}

bool quiet() { return g_verbosity < 0; }
}  // namespace hmr
