// core/backend.h — the backends a stage can run on, and how one is chosen.
//   cpu       multithreaded C++ (OpenMP, OpenBLAS, FFTW): the baseline and the no-GPU path
//   cuda      kernels/ built by nvcc on a real device (hmr::cuda_gpu)
//   cuda-emu  the same kernel sources executed on the CPU by the emulator (hmr::cuda_emu);
//             slow, for testing and debugging kernels without a GPU
// `--device auto` picks cuda when a device answers, else cpu, and says why.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hmr {

enum class BackendKind { cpu, cuda_emu, cuda_gpu };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendKind kind() const = 0;
  virtual std::string name() const = 0;         // "cpu" | "cuda" | "cuda-emu"
  virtual std::string description() const = 0;  // device name, memory, threads
  bool is_cuda() const { return kind() != BackendKind::cpu; }
};

struct BackendProbe {
  std::string name;  // "cpu", "cuda", "cuda-emu"
  bool compiled = false;
  bool usable = false;
  std::string detail;  // device description, or why it cannot be used
};

std::vector<BackendProbe> probe_backends();

// device: "auto" | "cpu" | "cuda" | "cuda-emu". Throws Error(unavailable) when the requested
// backend cannot run here. `why` receives a one-line account of the choice.
std::unique_ptr<Backend> make_backend(std::string_view device, std::string* why = nullptr);
std::unique_ptr<Backend> make_cpu_backend();
// Names of the backends usable in this process, in the order cpu, cuda-emu, cuda (tests).
std::vector<std::string> available_backends();

int cpu_threads();

}  // namespace hmr
