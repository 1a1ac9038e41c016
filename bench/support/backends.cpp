// bench/support/backends.cpp — the backend a benchmark case runs on (see backends.h).
#include "support/backends.h"

#include <exception>

#include "cuda/select.h"

namespace hmr::bench {

std::unique_ptr<Backend> backend_or_skip(benchmark::State& state, const char* device) {
  try {
    return make_backend(device);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return nullptr;
  }
}

}  // namespace hmr::bench
