// cuda/select.h — choosing the backend a run uses, among cpu (core/backend.h) and the two cuda
// builds (cuda_gpu where nvcc built it, cuda_emu always). It sits above core/ because it knows
// the cuda twins; core/ itself defines only the abstract Backend and the cpu one.
// `--device auto` picks cuda when a device answers, else cpu, and says why.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/backend.h"

namespace hmr {

// One entry per backend this program knows (cpu, cuda, cuda-emu): compiled in, usable here, why.
std::vector<BackendProbe> probe_backends();

// device: "auto" | "cpu" | "cuda" | "cuda-emu". Throws Error(unavailable) when the requested
// backend cannot run here. `why` receives a one-line account of the choice.
std::unique_ptr<Backend> make_backend(std::string_view device, std::string* why = nullptr);

// Names of the backends usable in this process, in the order cpu, cuda-emu, cuda (tests).
std::vector<std::string> available_backends();

}  // namespace hmr
