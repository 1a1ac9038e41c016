// nn/vae_cuda.h — the nn stage's cuda seam: the training engine that vae_cuda.cpp defines, declared
// for both cuda builds (cuda_emu, cuda_gpu). The engine factory calls it through HMR_CUDA_CALL
// and vae_cuda.cpp includes this header, so a signature that drifts fails the build
// (-Werror=missing-declarations).
#pragma once

#include <memory>

#include "core/backend.h"
#include "cuda/dispatch.h"
#include "nn/vae.h"
#include "nn/vae_net.h"

HMR_DECLARE_CUDA(std::unique_ptr<hmr::nn::Engine> make_vae_engine(hmr::Backend& b, const hmr::nn::VaeConfig& c))
