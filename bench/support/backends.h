// bench/support/backends.h — the backend a Google Benchmark case runs on, shared by every
// bench/<stage>/*_bench.cpp. A backend this machine cannot make (cuda without a device, an unknown
// name) turns the case into a skipped one with the reason, so one binary runs everywhere and the
// cpu numbers still come out.
#pragma once

#include <benchmark/benchmark.h>

#include <memory>

#include "core/backend.h"

namespace hmr::bench {

// nullptr (after SkipWithError with make_backend's reason) when `device` cannot run here.
std::unique_ptr<Backend> backend_or_skip(benchmark::State& state, const char* device);

}  // namespace hmr::bench
