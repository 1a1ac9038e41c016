#include "core/backend.h"

#include <omp.h>

#include <thread>

#include "core/error.h"
#include "cuda/backend_cuda.h"

namespace hmr {
namespace {

class CpuBackend final : public Backend {
 public:
  BackendKind kind() const override { return BackendKind::cpu; }
  std::string name() const override { return "cpu"; }
  std::string description() const override {
    return fmt::format("cpu, {} threads (OpenMP), OpenBLAS, FFTW", cpu_threads());
  }
};

BackendProbe probe_gpu() {
#if defined(HMR_HAVE_GPU)
  return cuda_gpu::probe_cuda();
#else
  return {"cuda", false, false, "not compiled: this build found no CUDA compiler (nvcc)"};
#endif
}

}  // namespace

int cpu_threads() { return omp_get_max_threads(); }

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

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
