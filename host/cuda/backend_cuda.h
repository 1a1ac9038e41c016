// cuda/backend_cuda.h — the cuda backend's own seam: the factory and the probe that
// context_cuda.cpp defines once per cuda build (cuda_emu, cuda_gpu), declared for both; backend
// selection calls them and context_cuda.cpp includes this header, so a signature that drifts
// fails the build (-Werror=missing-declarations).
#pragma once

#include <memory>

#include "core/backend.h"
#include "cuda/dispatch.h"

HMR_DECLARE_CUDA(std::unique_ptr<hmr::Backend> make_cuda_backend(); hmr::BackendProbe probe_cuda())
