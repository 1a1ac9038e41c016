// core/backend.h — the backends a stage can run on.
//   cpu       multithreaded C++ (OpenMP, OpenBLAS, FFTW): the baseline and the no-GPU path
//   cuda      kernels/ built by nvcc on a real device (hmr::cuda_gpu)
//   cuda-emu  the same kernel sources executed on the CPU by the emulator (hmr::cuda_emu, host/emu);
//             slow, for testing and debugging kernels without a GPU
// Choosing one (`--device`, make_backend, probe_backends) is cuda/select.h: it knows the cuda
// builds, which core/ does not.
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

std::unique_ptr<Backend> make_cpu_backend();

int cpu_threads();

}  // namespace hmr
