// Shadows the CUDA toolkit's cuda_runtime_api.h in the emulated build. CCCL (Thrust, libcu++)
// includes it whenever the toolkit headers are on the system; the emulator provides the same
// names, so host-side Thrust algorithms (THRUST_DEVICE_SYSTEM_CPP) compile against it.
#pragma once
#include "cuemu.h"
#ifndef CUDART_VERSION
#define CUDART_VERSION 13000
#endif
