// core/backend.cpp — the cpu backend and the thread count its loops use.
#include "core/backend.h"

#include <omp.h>

#include "core/error.h"

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

}  // namespace

int cpu_threads() { return omp_get_max_threads(); }

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace hmr
