// cuda/select.cpp — backend selection: probes the cuda builds through their seam
// (cuda/backend_cuda.h) and falls back to the cpu backend as `--device auto` asks.
#include "cuda/select.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "cuda/backend_cuda.h"

namespace hmr {
namespace {

BackendProbe probe_gpu() {
#if defined(HMR_HAVE_GPU)
  return cuda_gpu::probe_cuda();
#else
  return {"cuda", false, false, "not compiled: this build found no CUDA compiler (nvcc)"};
#endif
}

}  // namespace

std::vector<BackendProbe> probe_backends() {
  std::vector<BackendProbe> out;
  out.push_back({"cpu", true, true, make_cpu_backend()->description()});
  out.push_back(probe_gpu());
  out.push_back(cuda_emu::probe_cuda());
  return out;
}

std::vector<std::string> available_backends() {
  std::vector<std::string> names{"cpu", "cuda-emu"};
  if (probe_gpu().usable) names.push_back("cuda");
  return names;
}

std::vector<std::string> describe_cuda_build(std::string_view name) {
  if (name == "cuda-emu") return cuda_emu::describe_cuda();
#if defined(HMR_HAVE_GPU)
  return cuda_gpu::describe_cuda();
#else
  return {"not compiled: this build found no CUDA compiler (nvcc), so no driver or device was asked"};
#endif
}

ProfileRange::ProfileRange(const Backend& backend) : kind_(backend.kind()) {
  if (kind_ == BackendKind::cpu) {
    spdlog::info("--profile-range: the cpu backend has no CUDA profiler to start; the flag does nothing here");
    return;
  }
  HMR_CUDA_CALL(backend, profiler_start());
  spdlog::debug("--profile-range: cudaProfilerStart on {}", backend.name());
}

ProfileRange::~ProfileRange() {
  if (kind_ == BackendKind::cpu) return;
#if defined(HMR_HAVE_GPU)
  if (kind_ == BackendKind::cuda_gpu) {
    cuda_gpu::profiler_stop();
    return;
  }
#endif
  cuda_emu::profiler_stop();
}

std::unique_ptr<Backend> make_backend(std::string_view device, std::string* why) {
  auto say = [&](std::string s) {
    if (why) *why = std::move(s);
  };
  if (device == "cpu") {
    say("cpu (requested)");
    return make_cpu_backend();
  }
  if (device == "cuda-emu") {
    say("cuda-emu (requested): CUDA kernels emulated on the CPU, for testing; slow");
    return cuda_emu::make_cuda_backend();
  }
  if (device == "cuda" || device == "auto") {
    const BackendProbe gpu = probe_gpu();
    if (gpu.usable) {
#if defined(HMR_HAVE_GPU)
      say(fmt::format("cuda ({}): {}", device == "auto" ? "auto" : "requested", gpu.detail));
      return cuda_gpu::make_cuda_backend();
#endif
    }
    if (device == "cuda")
      throw Error(ErrorKind::unavailable, fmt::format("--device cuda: no usable CUDA device: {}", gpu.detail));
    say(fmt::format("cpu (auto: no usable CUDA device: {})", gpu.detail));
    return make_cpu_backend();
  }
  input_error("--device {}: unknown device (use auto, cpu, cuda or cuda-emu)", device);
}

}  // namespace hmr
