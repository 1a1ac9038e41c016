// audio/hpss.cu — HPSS kernels for batches of clips (librosa 0.10 parity; host/audio/hpss.h has
// the definition, kernels/audio/hpss.cuh the layouts). Medians: each thread stages its k-value
// window in shared memory (column tx of a [ty][k][32] tile: no bank conflicts) and selects rank
// k/2 by counting (value v has rank r when #{< v} <= r < #{<= v}), O(k^2) compares in shared
// memory, no sort and no local arrays. Elementwise kernels (magnitude, masks) use one thread per
// bin; the overlap-add one thread per output sample (a gather: no atomics, a fixed order).
#include "audio/hpss.cuh"

#include <cfloat>
#include <cmath>

#include "gpu/check.h"
#include "gpu/segments.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kElemThreads = 256;
constexpr int kMedX = 32, kMedY = 4;  // median blocks: 32 bins (or bins of 32 frames) x 4 lines
constexpr int kOlaThreads = 256;

using gpu::segment_of;

// scipy.ndimage "reflect" (d c b a | a b c d | d c b a), period 2n.
__device__ __forceinline__ std::int64_t reflect_index(std::int64_t j, std::int64_t n) {
  if (n == 1) return 0;
  const std::int64_t period = 2 * n;
  std::int64_t m = j % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

// Rank `rank` of w[0], w[32], ..., w[32 (k-1)].
__device__ __forceinline__ float select_rank(const float* w, int k, int rank) {
  for (int i = 0; i < k; ++i) {
    const float v = w[i * kMedX];
    int lt = 0, le = 0;
    for (int j = 0; j < k; ++j) {
      const float u = w[j * kMedX];
      lt += u < v;
      le += u <= v;
    }
    if (lt <= rank && rank < le) return v;
  }
  return w[0];  // unreachable for finite values
}

__global__ void __launch_bounds__(kElemThreads)
    hpss_magnitude_kernel(const float2* __restrict__ spec, int odist, std::int64_t rows, int n_bins,
                          float* __restrict__ mag) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * n_bins) return;
  const std::int64_t f = i / n_bins;
  const int q = static_cast<int>(i - f * n_bins);
  const float2 x = spec[f * odist + q];
  mag[i] = hypotf(x.x, x.y);
}

__global__ void __launch_bounds__(kMedX* kMedY)
    hpss_median_bins_kernel(const float* __restrict__ mag, std::int64_t rows, int n_bins, int k,
                            float* __restrict__ out) {
  GPU_DYNAMIC_SHARED(float, sh);  // [kMedY][k][kMedX]
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int q = static_cast<int>(blockIdx.x) * kMedX + tx;
  const std::int64_t f = static_cast<std::int64_t>(blockIdx.y) * kMedY + ty;
  if (q >= n_bins || f >= rows) return;  // no barrier: each thread reads only its own column
  float* w = sh + ty * k * kMedX + tx;
  const float* row = mag + f * n_bins;
  for (int j = 0; j < k; ++j) w[j * kMedX] = row[reflect_index(q - k / 2 + j, n_bins)];
  out[f * n_bins + q] = select_rank(w, k, k / 2);
}

__global__ void __launch_bounds__(kMedX* kMedY)
    hpss_median_frames_kernel(const float* __restrict__ mag, const std::int64_t* __restrict__ frame_start, int n_clips,
                              std::int64_t rows, int n_bins, int k, float* __restrict__ out) {
  GPU_DYNAMIC_SHARED(float, sh);  // [kMedY][k][kMedX]
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int q = static_cast<int>(blockIdx.x) * kMedX + tx;
  const std::int64_t g = static_cast<std::int64_t>(blockIdx.y) * kMedY + ty;
  if (q >= n_bins || g >= rows) return;
  const int c = segment_of(frame_start, n_clips, g);
  const std::int64_t fs = frame_start[c], n = frame_start[c + 1] - fs, t = g - fs;
  float* w = sh + ty * k * kMedX + tx;
  for (int j = 0; j < k; ++j) w[j * kMedX] = mag[(fs + reflect_index(t - k / 2 + j, n)) * n_bins + q];
  out[g * n_bins + q] = select_rank(w, k, k / 2);
}

// librosa util.softmask (float32), as audio::softmask.
__device__ __forceinline__ float softmask(float x, float ref, float power, int split_zeros) {
  if (isinf(power)) return x > ref ? 1.0f : 0.0f;
  const float z = fmaxf(x, ref);
  if (z < FLT_MIN) return split_zeros ? 0.5f : 0.0f;
  const float a = x / z, r = ref / z;
  float ma, mr;
  if (power == 2.0f) {
    ma = a * a;
    mr = r * r;
  } else if (power == 1.0f) {
    ma = a;
    mr = r;
  } else {
    ma = powf(a, power);
    mr = powf(r, power);
  }
  return ma / (ma + mr);
}

__global__ void __launch_bounds__(kElemThreads)
    hpss_mask_kernel(const float2* __restrict__ spec, int odist, std::int64_t rows, int n_bins,
                     const float* __restrict__ harm, const float* __restrict__ perc, float power, float margin,
                     int split_zeros, float2* __restrict__ out_h, float2* __restrict__ out_p) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * n_bins) return;
  const std::int64_t f = i / n_bins;
  const int q = static_cast<int>(i - f * n_bins);
  const float h = harm[i], p = perc[i];
  const float mh = softmask(h, p * margin, power, split_zeros), mp = softmask(p, h * margin, power, split_zeros);
  const float2 x = spec[f * odist + q];
  const float m = hypotf(x.x, x.y);
  float re = 1.0f, im = 0.0f;  // magphase: the phase of a zero bin is 1
  if (m != 0.0f) {
    re = x.x / m;
    im = x.y / m;
  }
  const float ah = m * mh, ap = m * mp;
  out_h[f * odist + q] = make_float2(ah * re, ah * im);
  out_p[f * odist + q] = make_float2(ap * re, ap * im);
}

__global__ void __launch_bounds__(kOlaThreads)
    hpss_overlap_add_kernel(const float* __restrict__ frames, const std::int64_t* __restrict__ clip_start,
                            const std::int64_t* __restrict__ frame_start, int n_clips, std::int64_t samples,
                            const double* __restrict__ window, int n_fft, int hop, float* __restrict__ out) {
  const std::int64_t s = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (s >= samples) return;
  const int c = segment_of(clip_start, n_clips, s);
  const std::int64_t ip = s - clip_start[c] + n_fft / 2;  // padded position
  const std::int64_t fs = frame_start[c], n = frame_start[c + 1] - fs;
  const std::int64_t lo = ip - n_fft + 1 <= 0 ? 0 : (ip - n_fft + 1 + hop - 1) / hop;
  const std::int64_t hi = ip / hop < n - 1 ? ip / hop : n - 1;
  const float inv_n = 1.0f / static_cast<float>(n_fft);
  float acc = 0.0f, wss = 0.0f;
  for (std::int64_t t = lo; t <= hi; ++t) {
    const int j = static_cast<int>(ip - t * hop);
    const double w = window[j];
    acc = static_cast<float>(static_cast<double>(acc) + w * static_cast<double>(frames[(fs + t) * n_fft + j] * inv_n));
    wss = static_cast<float>(static_cast<double>(wss) + w * w);
  }
  out[s] = wss > FLT_MIN ? acc / wss : acc;
}

}  // namespace

void launch_hpss_magnitude(const float2* spec, int odist, std::int64_t rows, int n_bins, float* mag,
                           cudaStream_t stream) {
  if (rows <= 0 || n_bins <= 0) return;
  HMR_LAUNCHER_ASSERT(odist >= n_bins, "hpss_magnitude: rows shorter than n_bins");
  HMR_LAUNCH(hpss_magnitude_kernel, gpu::div_up(static_cast<std::size_t>(rows * n_bins), kElemThreads), kElemThreads, 0,
             stream, spec, odist, rows, n_bins, mag);
}

void launch_median_bins(const float* mag, std::int64_t rows, int n_bins, int k, float* out, cudaStream_t stream) {
  if (rows <= 0 || n_bins <= 0) return;
  HMR_LAUNCHER_ASSERT(k >= 1 && k <= kMaxMedianKernel, "median_bins: kernel size out of range");
  HMR_LAUNCHER_ASSERT((rows + kMedY - 1) / kMedY <= 65535, "median_bins: too many rows for one launch");
  const dim3 grid(gpu::div_up(static_cast<std::size_t>(n_bins), kMedX),
                  gpu::div_up(static_cast<std::size_t>(rows), kMedY));
  const std::size_t smem = static_cast<std::size_t>(kMedY) * k * kMedX * sizeof(float);
  HMR_LAUNCH(hpss_median_bins_kernel, grid, dim3(kMedX, kMedY), smem, stream, mag, rows, n_bins, k, out);
}

void launch_median_frames(const float* mag, const std::int64_t* frame_start, int n_clips, std::int64_t rows, int n_bins,
                          int k, float* out, cudaStream_t stream) {
  if (rows <= 0 || n_bins <= 0 || n_clips <= 0) return;
  HMR_LAUNCHER_ASSERT(k >= 1 && k <= kMaxMedianKernel, "median_frames: kernel size out of range");
  HMR_LAUNCHER_ASSERT((rows + kMedY - 1) / kMedY <= 65535, "median_frames: too many rows for one launch");
  const dim3 grid(gpu::div_up(static_cast<std::size_t>(n_bins), kMedX),
                  gpu::div_up(static_cast<std::size_t>(rows), kMedY));
  const std::size_t smem = static_cast<std::size_t>(kMedY) * k * kMedX * sizeof(float);
  HMR_LAUNCH(hpss_median_frames_kernel, grid, dim3(kMedX, kMedY), smem, stream, mag, frame_start, n_clips, rows, n_bins,
             k, out);
}

void launch_hpss_mask(const float2* spec, int odist, std::int64_t rows, int n_bins, const float* harm,
                      const float* perc, float power, float margin, int split_zeros, float2* out_h, float2* out_p,
                      cudaStream_t stream) {
  if (rows <= 0 || n_bins <= 0) return;
  HMR_LAUNCHER_ASSERT(odist >= n_bins, "hpss_mask: rows shorter than n_bins");
  HMR_LAUNCH(hpss_mask_kernel, gpu::div_up(static_cast<std::size_t>(rows * n_bins), kElemThreads), kElemThreads, 0,
             stream, spec, odist, rows, n_bins, harm, perc, power, margin, split_zeros, out_h, out_p);
}

void launch_overlap_add(const float* frames, const std::int64_t* clip_start, const std::int64_t* frame_start,
                        int n_clips, std::int64_t samples, const double* window, int n_fft, int hop, float* out,
                        cudaStream_t stream) {
  if (samples <= 0 || n_clips <= 0) return;
  HMR_LAUNCHER_ASSERT(n_fft > 0 && hop > 0 && hop <= n_fft, "overlap_add: bad shape");
  HMR_LAUNCH(hpss_overlap_add_kernel, gpu::div_up(static_cast<std::size_t>(samples), kOlaThreads), kOlaThreads, 0,
             stream, frames, clip_start, frame_start, n_clips, samples, window, n_fft, hop, out);
}

}  // namespace hmr::HMR_CUDA_NS::kern
