// cuda/backend_cuda.h — the cuda backend's own seam: the factory and the probe that
// context_cuda.cpp defines once per cuda build (cuda_emu, cuda_gpu), declared for both; backend
// selection calls them and context_cuda.cpp includes this header, so a signature that drifts
// fails the build (-Werror=missing-declarations). `hmr info` asks each build for its driver,
// runtime and devices; `--profile-range` brackets the measured part with the profiler calls.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "cuda/dispatch.h"

HMR_DECLARE_CUDA(std::unique_ptr<hmr::Backend> make_cuda_backend(); hmr::BackendProbe probe_cuda();
                 // Lines for `hmr info`: driver and runtime versions, then each device's compute
                 // capability and memory; or why no device answered.
                 std::vector<std::string> describe_cuda();
                 // cudaProfilerStart / cudaProfilerStop; a failure is a warning, never fatal
                 // (profiling must not stop a run).
                 void profiler_start(); void profiler_stop())
