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

// `hmr info`: driver and runtime versions and each device (compute capability, memory) of the
// cuda build named ("cuda" or "cuda-emu"), or one line saying why there is none.
std::vector<std::string> describe_cuda_build(std::string_view name);

// --profile-range: cudaProfilerStart when made and cudaProfilerStop when destroyed, through the
// cuda build `backend` belongs to, so `nsys profile --capture-range=cudaProfilerApi` records only
// the part in between. On the cpu backend there is no CUDA profiler: a note, nothing else.
class ProfileRange {
 public:
  explicit ProfileRange(const Backend& backend);
  ~ProfileRange();
  ProfileRange(const ProfileRange&) = delete;
  ProfileRange& operator=(const ProfileRange&) = delete;

 private:
  BackendKind kind_;
};

}  // namespace hmr
