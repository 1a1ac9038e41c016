// tests/fuzz/validate_stub.cpp — fuzz build only: Config::validate (the ranges of every key,
// pipeline/validate.cpp) needs the whole pipeline stage; Config::resolve refers to it, the fuzz
// target never calls it, so an empty definition lets the config reader link on its own.
#include "pipeline/config.h"

namespace hmr::pipeline {
void Config::validate() const {}
}  // namespace hmr::pipeline
