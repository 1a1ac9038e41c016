// audio/mfcc.cu — MFCC kernels for batches of clips (librosa 0.10 parity; host/audio/mfcc.h has
// the definition, kernels/audio/mfcc.cuh the layouts). One block per frame (framing, power+mel+
// log), per clip (peak), per tile of frames (DCT) and per (clip, coefficient) (summary). Each
// kernel mirrors the cpu twin's arithmetic order (sequential sums over bins and mel bands), and
// block reductions combine lanes in a fixed tree order, so results do not depend on scheduling.
#include "audio/mfcc.cuh"

#include <cmath>

#include "gpu/check.h"
#include "gpu/reduce.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kFrameThreads = 256;
constexpr int kMelThreads = 128;
constexpr int kPeakThreads = 256;
constexpr int kDctThreads = 128;
constexpr int kSumThreads = 256;
constexpr int kMaxSharedBins = 11776;   // power spectrum in shared memory: 46 KiB + 512 B static < 48 KiB
constexpr int kDctSharedFloats = 4096;  // frame tile of the DCT: 16 KiB

// The clip holding global frame g: the last c with frame_start[c] <= g.
__device__ __forceinline__ int clip_of(const std::int64_t* frame_start, int n_clips, std::int64_t g) {
  int lo = 0, hi = n_clips - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (frame_start[mid] <= g)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

__device__ __forceinline__ float power_of(float2 x, float power) {
  const float p2 = x.x * x.x + x.y * x.y;
  if (power == 2.0f) return p2;
  if (power == 1.0f) return sqrtf(p2);
  return powf(sqrtf(p2), power);
}

__global__ void __launch_bounds__(kFrameThreads)
    frame_window_kernel(const float* __restrict__ audio, const std::int64_t* __restrict__ clip_start,
                        const std::int64_t* __restrict__ frame_start, int n_clips, std::int64_t frame_begin,
                        std::int64_t frame_end, const float* __restrict__ window, int n_fft, int hop, int pad,
                        float* __restrict__ frames) {
  const std::int64_t row = blockIdx.y;
  const std::int64_t g = frame_begin + row;
  float* dst = frames + row * n_fft;
  const int j0 = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int stride = static_cast<int>(gridDim.x * blockDim.x);
  if (g >= frame_end) {  // padding row of the fixed FFT batch (no barrier in this kernel)
    for (int j = j0; j < n_fft; j += stride) dst[j] = 0.0f;
    return;
  }
  const int c = clip_of(frame_start, n_clips, g);
  const std::int64_t len = clip_start[c + 1] - clip_start[c];
  const float* y = audio + clip_start[c];
  const std::int64_t base = (g - frame_start[c]) * hop - pad;
  for (int j = j0; j < n_fft; j += stride) {
    const std::int64_t i = base + j;
    dst[j] = (i >= 0 && i < len) ? y[i] * window[j] : 0.0f;
  }
}

__global__ void __launch_bounds__(kMelThreads)
    power_mel_log_kernel(const float2* __restrict__ spec, int odist, int n_bins, float power,
                         const int* __restrict__ mel_start, const int* __restrict__ mel_count,
                         const int* __restrict__ mel_offset, const float* __restrict__ mel_w, int n_mels, float amin,
                         float log_ref, int use_shared, float* __restrict__ logmel, float* __restrict__ row_max,
                         float* __restrict__ mel_power) {
  GPU_DYNAMIC_SHARED(float, pw);  // [n_bins] power spectrum when use_shared
  GPU_SHARED(red, float[kMelThreads]);
  const std::int64_t row = blockIdx.x;
  const float2* X = spec + row * odist;
  const int t = static_cast<int>(threadIdx.x);
  if (use_shared)
    for (int k = t; k < n_bins; k += kMelThreads) pw[k] = power_of(X[k], power);
  __syncthreads();
  float mx = -INFINITY;
  for (int m = t; m < n_mels; m += kMelThreads) {
    const float* w = mel_w + mel_offset[m];
    const int s = mel_start[m], cnt = mel_count[m];
    float acc = 0.0f;
    if (use_shared) {
      for (int j = 0; j < cnt; ++j) acc += w[j] * pw[s + j];
    } else {
      for (int j = 0; j < cnt; ++j) acc += w[j] * power_of(X[s + j], power);
    }
    if (mel_power) mel_power[row * n_mels + m] = acc;
    const float db = 10.0f * log10f(fmaxf(amin, acc)) - log_ref;
    logmel[row * n_mels + m] = db;
    mx = fmaxf(mx, db);
  }
  const float row_peak = gpu::block_reduce<kMelThreads>(red, mx, gpu::Max{});
  if (t == 0) row_max[row] = row_peak;
}

__global__ void __launch_bounds__(kPeakThreads)
    clip_peak_kernel(const float* __restrict__ row_max, const std::int64_t* __restrict__ frame_start,
                     float* __restrict__ clip_peak) {
  GPU_SHARED(red, float[kPeakThreads]);
  const int c = static_cast<int>(blockIdx.x), t = static_cast<int>(threadIdx.x);
  float mx = -INFINITY;
  for (std::int64_t f = frame_start[c] + t; f < frame_start[c + 1]; f += kPeakThreads) mx = fmaxf(mx, row_max[f]);
  const float peak = gpu::block_reduce<kPeakThreads>(red, mx, gpu::Max{});
  if (t == 0) clip_peak[c] = peak;
}

__global__ void __launch_bounds__(kDctThreads)
    dct_kernel(const float* __restrict__ logmel, const std::int64_t* __restrict__ frame_start, int n_clips,
               std::int64_t n_frames, const float* __restrict__ clip_peak, float top_db, const float* __restrict__ dct,
               int n_mfcc, int n_mels, int tile, float* __restrict__ out) {
  GPU_DYNAMIC_SHARED(float, x);  // [tile][n_mels] floored log-mel rows, then [tile] floors
  float* floor_of = x + tile * n_mels;
  const std::int64_t f0 = static_cast<std::int64_t>(blockIdx.x) * tile;
  const int t = static_cast<int>(threadIdx.x);
  for (int r = t; r < tile; r += kDctThreads) {
    const std::int64_t f = f0 + r;
    floor_of[r] = (top_db > 0.0f && f < n_frames) ? clip_peak[clip_of(frame_start, n_clips, f)] - top_db : -INFINITY;
  }
  __syncthreads();
  for (int i = t; i < tile * n_mels; i += kDctThreads) {
    const int r = i / n_mels;
    const std::int64_t f = f0 + r;
    x[i] = f < n_frames ? fmaxf(logmel[f * n_mels + (i - r * n_mels)], floor_of[r]) : 0.0f;
  }
  __syncthreads();
  for (int o = t; o < tile * n_mfcc; o += kDctThreads) {
    const int r = o / n_mfcc, k = o - r * n_mfcc;
    const std::int64_t f = f0 + r;
    if (f >= n_frames) continue;
    const float* d = dct + static_cast<std::int64_t>(k) * n_mels;
    const float* xr = x + r * n_mels;
    float acc = 0.0f;
    for (int m = 0; m < n_mels; ++m) acc += d[m] * xr[m];
    out[f * n_mfcc + k] = acc;
  }
}

__global__ void __launch_bounds__(kSumThreads)
    summary_kernel(const float* __restrict__ mfcc, const std::int64_t* __restrict__ frame_start, int n_mfcc,
                   float* __restrict__ out) {
  GPU_SHARED(red, double[kSumThreads]);
  const int c = static_cast<int>(blockIdx.x), k = static_cast<int>(blockIdx.y), t = static_cast<int>(threadIdx.x);
  const std::int64_t f0 = frame_start[c], f1 = frame_start[c + 1];
  const double n = static_cast<double>(f1 - f0);
  double s = 0.0;
  for (std::int64_t f = f0 + t; f < f1; f += kSumThreads) s += mfcc[f * n_mfcc + k];
  const double mean = gpu::block_sum<kSumThreads>(red, s) / n;
  double q = 0.0;
  for (std::int64_t f = f0 + t; f < f1; f += kSumThreads) {
    const double d = mfcc[f * n_mfcc + k] - mean;
    q += d * d;
  }
  const double var = gpu::block_sum<kSumThreads>(red, q) / n;
  if (t == 0) {
    out[static_cast<std::int64_t>(c) * 2 * n_mfcc + 2 * k] = static_cast<float>(mean);
    out[static_cast<std::int64_t>(c) * 2 * n_mfcc + 2 * k + 1] = static_cast<float>(var);
  }
}

}  // namespace

void launch_frame_window(const float* audio, const std::int64_t* clip_start, const std::int64_t* frame_start,
                         int n_clips, std::int64_t frame_begin, std::int64_t frame_end, int rows, const float* window,
                         int n_fft, int hop, int pad, float* frames, cudaStream_t stream) {
  if (rows <= 0 || n_fft <= 0) return;
  HMR_LAUNCHER_ASSERT(n_clips > 0 && rows <= 65535 && frame_begin <= frame_end && hop > 0, "frame_window: bad shape");
  const dim3 grid(gpu::div_up(static_cast<std::size_t>(n_fft), kFrameThreads), static_cast<unsigned>(rows));
  HMR_LAUNCH(frame_window_kernel, grid, kFrameThreads, 0, stream, audio, clip_start, frame_start, n_clips, frame_begin,
             frame_end, window, n_fft, hop, pad, frames);
}

void launch_power_mel_log(const float2* spec, int odist, int rows, int n_bins, float power, const int* mel_start,
                          const int* mel_count, const int* mel_offset, const float* mel_w, int n_mels, float amin,
                          float log_ref, float* logmel, float* row_max, float* mel_power, cudaStream_t stream) {
  if (rows <= 0 || n_mels <= 0) return;
  HMR_LAUNCHER_ASSERT(odist >= n_bins && n_bins > 0, "power_mel_log: the spectrum rows are shorter than n_bins");
  const int use_shared = n_bins <= kMaxSharedBins ? 1 : 0;
  const std::size_t smem = use_shared ? static_cast<std::size_t>(n_bins) * sizeof(float) : 0;
  HMR_LAUNCH(power_mel_log_kernel, static_cast<unsigned>(rows), kMelThreads, smem, stream, spec, odist, n_bins, power,
             mel_start, mel_count, mel_offset, mel_w, n_mels, amin, log_ref, use_shared, logmel, row_max, mel_power);
}

void launch_clip_peak(const float* row_max, const std::int64_t* frame_start, int n_clips, float* clip_peak,
                      cudaStream_t stream) {
  if (n_clips <= 0) return;
  HMR_LAUNCH(clip_peak_kernel, static_cast<unsigned>(n_clips), kPeakThreads, 0, stream, row_max, frame_start,
             clip_peak);
}

void launch_dct(const float* logmel, const std::int64_t* frame_start, int n_clips, std::int64_t n_frames,
                const float* clip_peak, float top_db, const float* dct, int n_mfcc, int n_mels, float* out,
                cudaStream_t stream) {
  if (n_frames <= 0 || n_clips <= 0) return;
  HMR_LAUNCHER_ASSERT(n_mfcc > 0 && n_mels > 0 && n_mfcc <= n_mels, "dct: bad shape");
  const int tile = n_mels >= kDctSharedFloats ? 1 : kDctSharedFloats / n_mels < 16 ? kDctSharedFloats / n_mels : 16;
  const std::size_t smem = (static_cast<std::size_t>(tile) * n_mels + tile) * sizeof(float);
  const unsigned blocks = static_cast<unsigned>((n_frames + tile - 1) / tile);
  HMR_LAUNCH(dct_kernel, blocks, kDctThreads, smem, stream, logmel, frame_start, n_clips, n_frames, clip_peak, top_db,
             dct, n_mfcc, n_mels, tile, out);
}

void launch_summary(const float* mfcc, const std::int64_t* frame_start, int n_clips, int n_mfcc, float* out,
                    cudaStream_t stream) {
  if (n_clips <= 0 || n_mfcc <= 0) return;
  HMR_LAUNCH(summary_kernel, dim3(static_cast<unsigned>(n_clips), static_cast<unsigned>(n_mfcc)), kSumThreads, 0,
             stream, mfcc, frame_start, n_mfcc, out);
}

}  // namespace hmr::HMR_CUDA_NS::kern
