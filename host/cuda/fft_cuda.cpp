// cuda/fft_cuda.cpp — batched R2C and C2R plans: cuFFT on GPUs, FFTW (single precision) when emulated.
#include "cuda/fft.h"

#include "core/error.h"
#include "cuda/check.h"

#if defined(HMR_EMU)
#include <fftw3.h>

#include <mutex>
#endif

namespace hmr::HMR_CUDA_NS {

#if defined(HMR_EMU)
namespace {
std::mutex& planner_mutex() {  // FFTW's planner is not thread-safe; execution is
  static std::mutex m;
  return m;
}
}  // namespace

FftR2C::FftR2C(cudaStream_t, int n, int batch, int idist, int odist)
    : n_(n), batch_(batch), idist_(idist), odist_(odist) {
  HMR_ASSERT(n > 0 && batch > 0 && idist >= n && odist >= n / 2 + 1, "bad FFT plan shape n={} batch={}", n, batch);
  std::lock_guard<std::mutex> lock(planner_mutex());
  // Plan on scratch arrays with FFTW_UNALIGNED so exec() may use any buffers.
  float* in = fftwf_alloc_real(static_cast<std::size_t>(idist));
  fftwf_complex* out = fftwf_alloc_complex(static_cast<std::size_t>(odist));
  int len = n;
  plan_ = fftwf_plan_many_dft_r2c(1, &len, 1, in, nullptr, 1, idist, out, nullptr, 1, odist,
                                  FFTW_ESTIMATE | FFTW_UNALIGNED);
  fftwf_free(in);
  fftwf_free(out);
  HMR_ASSERT(plan_ != nullptr, "FFTW could not plan n={}", n);
}

FftR2C::~FftR2C() {
  std::lock_guard<std::mutex> lock(planner_mutex());
  if (plan_) fftwf_destroy_plan(static_cast<fftwf_plan>(plan_));
}

void FftR2C::exec(const float* in, float2* out) {
  // The single-batch plan is applied per row so that any batch count up to batch_ works alike.
  for (int b = 0; b < batch_; ++b)
    fftwf_execute_dft_r2c(static_cast<fftwf_plan>(plan_), const_cast<float*>(in) + static_cast<std::size_t>(b) * idist_,
                          reinterpret_cast<fftwf_complex*>(out + static_cast<std::size_t>(b) * odist_));
}

FftC2R::FftC2R(cudaStream_t, int n, int batch, int idist, int odist)
    : n_(n), batch_(batch), idist_(idist), odist_(odist) {
  HMR_ASSERT(n > 0 && batch > 0 && odist >= n && idist >= n / 2 + 1, "bad FFT plan shape n={} batch={}", n, batch);
  std::lock_guard<std::mutex> lock(planner_mutex());
  fftwf_complex* in = fftwf_alloc_complex(static_cast<std::size_t>(idist));
  float* out = fftwf_alloc_real(static_cast<std::size_t>(odist));
  int len = n;
  plan_ = fftwf_plan_many_dft_c2r(1, &len, 1, in, nullptr, 1, idist, out, nullptr, 1, odist,
                                  FFTW_ESTIMATE | FFTW_UNALIGNED);
  fftwf_free(in);
  fftwf_free(out);
  HMR_ASSERT(plan_ != nullptr, "FFTW could not plan n={}", n);
}

FftC2R::~FftC2R() {
  std::lock_guard<std::mutex> lock(planner_mutex());
  if (plan_) fftwf_destroy_plan(static_cast<fftwf_plan>(plan_));
}

void FftC2R::exec(float2* in, float* out) {
  for (int b = 0; b < batch_; ++b)
    fftwf_execute_dft_c2r(static_cast<fftwf_plan>(plan_),
                          reinterpret_cast<fftwf_complex*>(in + static_cast<std::size_t>(b) * idist_),
                          out + static_cast<std::size_t>(b) * odist_);
}
#else
FftR2C::FftR2C(cudaStream_t stream, int n, int batch, int idist, int odist)
    : n_(n), batch_(batch), idist_(idist), odist_(odist) {
  HMR_ASSERT(n > 0 && batch > 0 && idist >= n && odist >= n / 2 + 1, "bad FFT plan shape n={} batch={}", n, batch);
  cufftHandle h = 0;
  int len = n;
  HMR_CUFFT_CHECK(cufftPlanMany(&h, 1, &len, &len, 1, idist, &len, 1, odist, CUFFT_R2C, batch));
  HMR_CUFFT_CHECK(cufftSetStream(h, stream));
  plan_ = reinterpret_cast<void*>(static_cast<std::uintptr_t>(h));
}

FftR2C::~FftR2C() {
  if (plan_) cufftDestroy(static_cast<cufftHandle>(reinterpret_cast<std::uintptr_t>(plan_)));
}

void FftR2C::exec(const float* in, float2* out) {
  HMR_CUFFT_CHECK(cufftExecR2C(static_cast<cufftHandle>(reinterpret_cast<std::uintptr_t>(plan_)),
                               const_cast<float*>(in), reinterpret_cast<cufftComplex*>(out)));
}

FftC2R::FftC2R(cudaStream_t stream, int n, int batch, int idist, int odist)
    : n_(n), batch_(batch), idist_(idist), odist_(odist) {
  HMR_ASSERT(n > 0 && batch > 0 && odist >= n && idist >= n / 2 + 1, "bad FFT plan shape n={} batch={}", n, batch);
  cufftHandle h = 0;
  int len = n;
  HMR_CUFFT_CHECK(cufftPlanMany(&h, 1, &len, &len, 1, idist, &len, 1, odist, CUFFT_C2R, batch));
  HMR_CUFFT_CHECK(cufftSetStream(h, stream));
  plan_ = reinterpret_cast<void*>(static_cast<std::uintptr_t>(h));
}

FftC2R::~FftC2R() {
  if (plan_) cufftDestroy(static_cast<cufftHandle>(reinterpret_cast<std::uintptr_t>(plan_)));
}

void FftC2R::exec(float2* in, float* out) {
  HMR_CUFFT_CHECK(cufftExecC2R(static_cast<cufftHandle>(reinterpret_cast<std::uintptr_t>(plan_)),
                               reinterpret_cast<cufftComplex*>(in), out));
}
#endif

}  // namespace hmr::HMR_CUDA_NS
