// cuda/context_cuda.cpp — Context and CudaBackend (built once per cuda namespace).
#include "cuda/context.h"

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "cuda/backend_cuda.h"
#include "cuda/check.h"
#include "cuda/fft.h"

#if defined(HMR_EMU)
#include <thread>
#else
#include <cuda_profiler_api.h>
#endif

namespace hmr::HMR_CUDA_NS {

Context::Context(int device) : device_(device) {
  HMR_CUDA_CHECK(cudaSetDevice(device));
  HMR_CUDA_CHECK(cudaGetDeviceProperties(&props_, device));
}

Context::~Context() {
  fft_plans_.clear();
#if !defined(HMR_EMU)
  if (blas_) cublasDestroy(static_cast<cublasHandle_t>(blas_));
  if (rng_) curandDestroyGenerator(static_cast<curandGenerator_t>(rng_));
#endif
}

void* Context::blas_handle() {
#if !defined(HMR_EMU)
  if (!blas_) {
    cublasHandle_t h = nullptr;
    HMR_CUBLAS_CHECK(cublasCreate(&h));
    HMR_CUBLAS_CHECK(cublasSetStream(h, stream()));
    blas_ = h;
  }
#endif
  return blas_;
}

void* Context::rng() {
#if !defined(HMR_EMU)
  if (!rng_) {
    curandGenerator_t g = nullptr;
    HMR_CURAND_CHECK(curandCreateGenerator(&g, CURAND_RNG_PSEUDO_PHILOX4_32_10));
    HMR_CURAND_CHECK(curandSetStream(g, stream()));
    rng_ = g;
  }
#endif
  return rng_;
}

FftR2C& Context::fft_r2c(int n, int batch, int idist, int odist) {
  auto key = std::make_tuple(n, batch, idist, odist);
  auto it = fft_plans_.find(key);
  if (it == fft_plans_.end())
    it = fft_plans_.emplace(key, std::make_unique<FftR2C>(stream(), n, batch, idist, odist)).first;
  return *it->second;
}

hmr::BackendKind CudaBackend::kind() const {
#if defined(HMR_EMU)
  return hmr::BackendKind::cuda_emu;
#else
  return hmr::BackendKind::cuda_gpu;
#endif
}

std::string CudaBackend::name() const {
#if defined(HMR_EMU)
  return "cuda-emu";
#else
  return "cuda";
#endif
}

std::string CudaBackend::description() const {
  const cudaDeviceProp& p = ctx_.props();
  return fmt::format("{} (compute capability {}.{}, {:.1f} GiB, {} SMs)", p.name, p.major, p.minor,
                     static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), p.multiProcessorCount);
}

Context& context(hmr::Backend& b) {
  auto* cb = dynamic_cast<CudaBackend*>(&b);
  HMR_ASSERT(cb != nullptr, "backend {} is not a {} backend", b.name(),
#if defined(HMR_EMU)
             "cuda-emu"
#else
             "cuda"
#endif
  );
  return cb->context();
}

std::unique_ptr<hmr::Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(0); }

hmr::BackendProbe probe_cuda() {
  hmr::BackendProbe p;
#if defined(HMR_EMU)
  p.name = "cuda-emu";
  p.compiled = true;
  p.usable = true;
  p.detail = fmt::format("kernels executed on {} CPU threads by the emulator (host/emu); for testing, not speed",
                         cuemu::workers());
#else
  p.name = "cuda";
  p.compiled = true;
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    p.detail = fmt::format("{} ({})", cudaGetErrorString(e), cudaGetErrorName(e));
  } else if (count == 0) {
    p.detail = "the CUDA driver reports no device";
  } else {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      p.usable = true;
      p.detail = fmt::format("{} (compute capability {}.{}, {:.1f} GiB)", prop.name, prop.major, prop.minor,
                             static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    } else {
      p.detail = "device 0 did not answer cudaGetDeviceProperties";
    }
  }
#endif
  return p;
}

namespace {
// CUDA encodes versions as 1000 * major + 10 * minor.
std::string cuda_version(int v) { return fmt::format("{}.{}", v / 1000, (v % 1000) / 10); }
}  // namespace

std::vector<std::string> describe_cuda() {
  std::vector<std::string> out;
  int driver = 0, runtime = 0;
  const cudaError_t de = cudaDriverGetVersion(&driver);
  const cudaError_t re = cudaRuntimeGetVersion(&runtime);
#if defined(HMR_EMU)
  const char* what = "emulated (no driver is loaded: the emulator answers as CUDA";
  out.push_back(fmt::format("driver {} {}), runtime {}", de == cudaSuccess ? cuda_version(driver) : "?", what,
                            re == cudaSuccess ? cuda_version(runtime) : "?"));
#else
  // cudaDriverGetVersion answers 0 without a driver; the runtime is linked statically.
  out.push_back(fmt::format("driver {}, runtime {}",
                            de == cudaSuccess && driver > 0 ? "CUDA " + cuda_version(driver) : "none loaded",
                            re == cudaSuccess ? "CUDA " + cuda_version(runtime) : "?"));
#endif
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    out.push_back(fmt::format("no device answers: {} ({})", cudaGetErrorString(e), cudaGetErrorName(e)));
    return out;
  }
  if (count == 0) out.push_back("no device: the CUDA driver reports none");
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
      (void)cudaGetLastError();
      out.push_back(fmt::format("device {}: did not answer cudaGetDeviceProperties", d));
      continue;
    }
    out.push_back(fmt::format(
        "device {}: {}, compute capability {}.{}, {:.1f} GiB, {} multiprocessors", d, prop.name, prop.major, prop.minor,
        static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), prop.multiProcessorCount));
  }
  return out;
}

void profiler_start() {
  if (const cudaError_t e = cudaProfilerStart(); e != cudaSuccess) {
    (void)cudaGetLastError();
    spdlog::warn("--profile-range: cudaProfilerStart failed: {}", cudaGetErrorString(e));
  }
}

void profiler_stop() {
  if (const cudaError_t e = cudaProfilerStop(); e != cudaSuccess) {
    (void)cudaGetLastError();
    spdlog::warn("--profile-range: cudaProfilerStop failed: {}", cudaGetErrorString(e));
  }
}

}  // namespace hmr::HMR_CUDA_NS
