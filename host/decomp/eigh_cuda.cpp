// decomp/eigh_cuda.cpp — cuSOLVER syevd behind hmr's wrapper (see eigh_cuda.h). The cuSOLVER handle
// and its workspace are created once per thread and device and reused (no handle per call).
#include "decomp/eigh_cuda.h"

#include "core/error.h"
#include "cuda/check.h"

#if defined(HMR_EMU)
#include <lapacke.h>
#else
#include <cusolverDn.h>

#include <map>
#include <memory>
#endif

namespace hmr::HMR_CUDA_NS::solver {

#if defined(HMR_EMU)
void syevd(Context& ctx, int m, double* a, double* w) {
  if (m <= 0) return;
  ctx.sync();  // the emulated device memory is host memory: wait for the kernels that wrote it
  const lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', m, a, m, w);
  if (info != 0) runtime_error("LAPACKE_dsyevd failed (info {}) on a {} x {} matrix", info, m, m);
}
#else
namespace {
struct Solver {
  cusolverDnHandle_t handle = nullptr;
  DeviceBuffer<double> work;
  DeviceBuffer<int> info{1};
  Solver() { HMR_CUSOLVER_CHECK(cusolverDnCreate(&handle)); }
  ~Solver() {
    if (handle) cusolverDnDestroy(handle);
  }
};
Solver& solver_for(int device) {
  thread_local std::map<int, std::unique_ptr<Solver> > cache;
  auto& s = cache[device];
  if (!s) s = std::make_unique<Solver>();
  return *s;
}
}  // namespace

void syevd(Context& ctx, int m, double* a, double* w) {
  if (m <= 0) return;
  Solver& s = solver_for(ctx.device());
  HMR_CUSOLVER_CHECK(cusolverDnSetStream(s.handle, ctx.stream()));
  int lwork = 0;
  HMR_CUSOLVER_CHECK(
      cusolverDnDsyevd_bufferSize(s.handle, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, m, a, m, w, &lwork));
  if (s.work.size() < static_cast<std::size_t>(lwork)) s.work.resize(static_cast<std::size_t>(lwork));
  HMR_CUSOLVER_CHECK(cusolverDnDsyevd(s.handle, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, m, a, m, w,
                                      s.work.data(), lwork, s.info.data()));
  const int info = s.info.to_host(ctx.stream())[0];
  if (info != 0) runtime_error("cusolverDnDsyevd did not converge (info {}) on a {} x {} matrix", info, m, m);
}
#endif

}  // namespace hmr::HMR_CUDA_NS::solver
