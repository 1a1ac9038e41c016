// audio/tempo.cu — onset strength and tempogram kernels (librosa 0.10 parity; host/audio/tempo.h
// has the definition, kernels/audio/tempo.cuh the layouts). One block per frame for the flux (the
// band differences in shared memory; the mean summed by one thread in band order, as numpy and the
// cpu twin do; the median selected by counting, no sort) and for the tempogram (the windowed frame
// in shared memory, one thread per lag, the max by a fixed-order tree); one thread per (clip,
// lag) for the mean over frames. No atomics: results are reproducible bit for bit.
#include "audio/tempo.cuh"

#include <cfloat>
#include <cmath>

#include "gpu/check.h"
#include "gpu/reduce.cuh"
#include "gpu/segments.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kFluxThreads = 128;
constexpr int kTgThreads = 256;
constexpr int kMeanThreads = 128;

using gpu::segment_of;

__global__ void __launch_bounds__(kFluxThreads)
    onset_flux_kernel(const float* __restrict__ logmel, const std::int64_t* __restrict__ frame_start, int n_clips,
                      int n_mels, const float* __restrict__ clip_peak, float top_db, int lag, int shift, int median,
                      float* __restrict__ onset) {
  GPU_DYNAMIC_SHARED(float, fl);  // [n_mels] band differences
  GPU_SHARED(mid, float[2]);      // the two middle values (median)
  const std::int64_t g = blockIdx.x;
  const int tid = static_cast<int>(threadIdx.x);
  const int c = segment_of(frame_start, n_clips, g);
  const std::int64_t t = g - frame_start[c], n = frame_start[c + 1] - frame_start[c];
  const std::int64_t j = t - shift;
  if (j < 0 || j + lag >= n) {  // the whole block leaves together
    if (tid == 0) onset[g] = 0.0f;
    return;
  }
  const float floor = clip_peak[c] - top_db;
  const float* a = logmel + (frame_start[c] + j) * n_mels;
  const float* b = logmel + (frame_start[c] + j + lag) * n_mels;
  for (int m = tid; m < n_mels; m += kFluxThreads) fl[m] = fmaxf(0.0f, fmaxf(floor, b[m]) - fmaxf(floor, a[m]));
  __syncthreads();
  if (median) {
    const int r_hi = n_mels / 2, r_lo = n_mels % 2 ? r_hi : r_hi - 1;
    for (int m = tid; m < n_mels; m += kFluxThreads) {
      const float v = fl[m];
      int lt = 0, le = 0;
      for (int i = 0; i < n_mels; ++i) {
        lt += fl[i] < v;
        le += fl[i] <= v;
      }
      // Equal values may write the same slot from several threads: the same bits either way.
      if (lt <= r_lo && r_lo < le) mid[0] = v;
      if (lt <= r_hi && r_hi < le) mid[1] = v;
    }
    __syncthreads();
    if (tid == 0) onset[g] = n_mels % 2 ? mid[1] : (mid[0] + mid[1]) / 2.0f;
  } else if (tid == 0) {
    float s = 0.0f;
    for (int m = 0; m < n_mels; ++m) s += fl[m];
    onset[g] = s / static_cast<float>(n_mels);
  }
}

__global__ void __launch_bounds__(kTgThreads)
    tempogram_kernel(const float* __restrict__ onset, const std::int64_t* __restrict__ frame_start, int n_clips,
                     const double* __restrict__ window, int win, double* __restrict__ tg) {
  GPU_DYNAMIC_SHARED(double, x);  // [win] windowed frame, then [win] autocorrelation
  GPU_SHARED(red, double[kTgThreads]);
  const std::int64_t g = blockIdx.x;
  const int tid = static_cast<int>(threadIdx.x);
  const int c = segment_of(frame_start, n_clips, g);
  const std::int64_t fs = frame_start[c], n = frame_start[c + 1] - fs, t = g - fs;
  const int half = win / 2;
  const double e0 = onset[fs], e1 = onset[fs + n - 1];
  for (int j = tid; j < win; j += kTgThreads) {
    const std::int64_t i = t + j;  // position in the padded envelope
    float v;
    if (i < half)
      v = static_cast<float>(e0 * static_cast<double>(i) / half);
    else if (i < half + n)
      v = onset[fs + i - half];
    else if (i < 2 * half + n)
      v = static_cast<float>(e1 * static_cast<double>(2 * half + n - 1 - i) / half);
    else
      v = 0.0f;
    x[j] = static_cast<double>(v) * window[j];
  }
  __syncthreads();
  double* ac = x + win;
  double mx = 0.0;
  for (int l = tid; l < win; l += kTgThreads) {
    double s = 0.0;
    for (int j = 0; j + l < win; ++j) s += x[j] * x[j + l];
    ac[l] = s;
    mx = fmax(mx, fabs(s));
  }
  mx = gpu::block_reduce<kTgThreads>(red, mx, gpu::Max{});
  const double scale = mx < DBL_MIN ? 1.0 : 1.0 / mx;
  for (int l = tid; l < win; l += kTgThreads) tg[g * win + l] = ac[l] * scale;
}

__global__ void __launch_bounds__(kMeanThreads)
    tempogram_mean_kernel(const double* __restrict__ tg, const std::int64_t* __restrict__ frame_start, int win,
                          double* __restrict__ mean) {
  const int c = static_cast<int>(blockIdx.y);
  const int l = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (l >= win) return;
  const std::int64_t f0 = frame_start[c], f1 = frame_start[c + 1];
  double s = 0.0;
  for (std::int64_t g = f0; g < f1; ++g) s += tg[g * win + l];
  mean[static_cast<std::int64_t>(c) * win + l] = f1 > f0 ? s / static_cast<double>(f1 - f0) : 0.0;
}

}  // namespace

void launch_onset_flux(const float* logmel, const std::int64_t* frame_start, int n_clips, std::int64_t rows, int n_mels,
                       const float* clip_peak, float top_db, int lag, int shift, int median, float* onset,
                       cudaStream_t stream) {
  if (rows <= 0 || n_clips <= 0) return;
  HMR_LAUNCHER_ASSERT(n_mels > 0 && n_mels <= 4096 && lag > 0 && shift >= lag, "onset_flux: bad shape");
  HMR_LAUNCH(onset_flux_kernel, static_cast<unsigned>(rows), kFluxThreads,
             static_cast<std::size_t>(n_mels) * sizeof(float), stream, logmel, frame_start, n_clips, n_mels, clip_peak,
             top_db, lag, shift, median, onset);
}

void launch_tempogram(const float* onset, const std::int64_t* frame_start, int n_clips, std::int64_t rows,
                      const double* window, int win, double* tg, cudaStream_t stream) {
  if (rows <= 0 || n_clips <= 0) return;
  HMR_LAUNCHER_ASSERT(win >= 1 && win <= kMaxTempoWindow, "tempogram: window length out of range");
  HMR_LAUNCH(tempogram_kernel, static_cast<unsigned>(rows), kTgThreads,
             2 * static_cast<std::size_t>(win) * sizeof(double), stream, onset, frame_start, n_clips, window, win, tg);
}

void launch_tempogram_mean(const double* tg, const std::int64_t* frame_start, int n_clips, int win, double* mean,
                           cudaStream_t stream) {
  if (n_clips <= 0 || win <= 0) return;
  HMR_LAUNCH(tempogram_mean_kernel,
             dim3(gpu::div_up(static_cast<std::size_t>(win), kMeanThreads), static_cast<unsigned>(n_clips)),
             kMeanThreads, 0, stream, tg, frame_start, win, mean);
}

}  // namespace hmr::HMR_CUDA_NS::kern
