// audio/spectral.cu — spectral feature kernels for batches of clips (librosa 0.10 parity;
// host/audio/spectral.h has the definitions, kernels/audio/spectral.cuh the layouts). One block
// per frame (power, shape + contrast bands, piptrack, chroma, rms/zcr) or per clip (contrast dB).
// The sequential float32 sums of the cpu twin (rolloff's running sum, the contrast band means,
// chroma's 8 lanes) run in the same order on one thread; double sums use fixed block trees; so
// results do not depend on scheduling.
#include "audio/spectral.cuh"

#include <cfloat>
#include <cmath>

#include "gpu/check.h"
#include "gpu/reduce.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kPowerThreads = 256;
constexpr int kShapeThreads = 128;
constexpr int kPipThreads = 128;
constexpr int kChromaThreads = 128;
constexpr int kDbThreads = 256;
constexpr int kSeriesThreads = 256;
constexpr int kMaxChroma = 128;       // chroma bins a block holds in shared memory
constexpr int kSharedFloats = 11776;  // dynamic shared floats per block: 46 KiB (+ static < 48 KiB)

// The clip holding global row g: the last c with start[c] <= g.
__device__ __forceinline__ int clip_of(const std::int64_t* start, int n_clips, std::int64_t g) {
  int lo = 0, hi = n_clips - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (start[mid] <= g)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

__global__ void __launch_bounds__(kPowerThreads)
    spectral_power_kernel(const float2* __restrict__ spec, int odist, int n_bins, float* __restrict__ power) {
  const std::int64_t r = blockIdx.y;
  const int k = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (k >= n_bins) return;
  const float2 x = spec[r * odist + k];
  power[r * n_bins + k] = x.x * x.x + x.y * x.y;
}

// Shared: mag[n_bins], then lo[n_bins] and hi[n_bins] (the band's smallest / largest values by rank).
__global__ void __launch_bounds__(kShapeThreads)
    spectral_shape_kernel(const float* __restrict__ power, int n_bins, const double* __restrict__ freq,
                          float roll_percent, const int* __restrict__ band_lo, const int* __restrict__ band_hi,
                          const int* __restrict__ band_nq, int n_bands, double* __restrict__ centroid,
                          double* __restrict__ bandwidth, double* __restrict__ rolloff, double* __restrict__ valley,
                          double* __restrict__ peak) {
  GPU_DYNAMIC_SHARED(float, mag);
  GPU_SHARED(red, double[kShapeThreads]);
  float* lo_v = mag + n_bins;
  float* hi_v = lo_v + n_bins;
  const std::int64_t f = blockIdx.x;
  const int t = static_cast<int>(threadIdx.x);
  const float* P = power + f * n_bins;
  for (int k = t; k < n_bins; k += kShapeThreads) mag[k] = sqrtf(P[k]);  // np.abs(stft)
  __syncthreads();
  if (centroid) {
    double s = 0.0;
    for (int k = t; k < n_bins; k += kShapeThreads) s += static_cast<double>(mag[k]);
    double L = gpu::block_sum<kShapeThreads>(red, s);
    if (L < static_cast<double>(FLT_MIN)) L = 1.0;  // normalize(norm=1): tiny(float32)
    const double inv = 1.0 / L;                     // float(S / L) via the reciprocal, as the cpu twin
    double c = 0.0;
    for (int k = t; k < n_bins; k += kShapeThreads)
      c += freq[k] * static_cast<double>(static_cast<float>(static_cast<double>(mag[k]) * inv));
    const double cen = gpu::block_sum<kShapeThreads>(red, c);
    if (t == 0) centroid[f] = cen;
    if (bandwidth) {
      double b = 0.0;
      for (int k = t; k < n_bins; k += kShapeThreads) {
        const double d = fabs(cen - freq[k]);
        b += static_cast<double>(static_cast<float>(static_cast<double>(mag[k]) * inv)) * (d * d);
      }
      const double bw = gpu::block_sum<kShapeThreads>(red, b);
      if (t == 0) bandwidth[f] = sqrt(bw);
    }
  }
  if (rolloff && t == 0) {  // numpy's float32 cumsum, in bin order
    float total = 0.0f;
    for (int k = 0; k < n_bins; ++k) total += mag[k];
    const float thr = roll_percent * total;
    float cum = 0.0f;
    int at = n_bins - 1;
    for (int k = 0; k < n_bins; ++k) {
      cum += mag[k];
      if (!(cum < thr)) {
        at = k;
        break;
      }
    }
    rolloff[f] = freq[at];
  }
  if (!valley) return;
  for (int b = 0; b < n_bands; ++b) {
    const int a = band_lo[b], n = band_hi[b] - a, q = band_nq[b];
    // Each value's rank in the band's ascending order (ties by position), so the q smallest and q
    // largest land in order: the same values numpy's sort leaves at the two ends.
    for (int i = t; i < n; i += kShapeThreads) {
      const float v = mag[a + i];
      int rank = 0;
      for (int j = 0; j < n; ++j) {
        const float u = mag[a + j];
        rank += (u < v || (u == v && j < i)) ? 1 : 0;
      }
      if (rank < q) lo_v[rank] = v;
      if (rank >= n - q) hi_v[rank - (n - q)] = v;
    }
    __syncthreads();
    if (t == 0) {
      float s = 0.0f, h = 0.0f;
      for (int i = 0; i < q; ++i) s += lo_v[i];
      for (int i = 0; i < q; ++i) h += hi_v[i];
      valley[f * n_bands + b] = static_cast<double>(s / static_cast<float>(q));
      peak[f * n_bands + b] = static_cast<double>(h / static_cast<float>(q));
    }
    __syncthreads();
  }
}

__global__ void __launch_bounds__(kDbThreads)
    contrast_db_kernel(const double* __restrict__ valley, const double* __restrict__ peak,
                       const std::int64_t* __restrict__ frame_start, int n_bands, float* __restrict__ contrast) {
  GPU_SHARED(red, double[kDbThreads]);
  const int c = static_cast<int>(blockIdx.x), t = static_cast<int>(threadIdx.x);
  const std::int64_t i0 = frame_start[c] * n_bands, i1 = frame_start[c + 1] * n_bands;
  const auto db = [](double x) { return 10.0 * log10(fmax(1e-10, x)); };
  double mp = -INFINITY, mv = -INFINITY;
  for (std::int64_t i = i0 + t; i < i1; i += kDbThreads) {
    mp = fmax(mp, db(peak[i]));
    mv = fmax(mv, db(valley[i]));
  }
  const double fp = gpu::block_reduce<kDbThreads>(red, mp, gpu::Max{}) - 80.0;
  const double fv = gpu::block_reduce<kDbThreads>(red, mv, gpu::Max{}) - 80.0;
  for (std::int64_t i = i0 + t; i < i1; i += kDbThreads)
    contrast[i] = static_cast<float>(fmax(db(peak[i]), fp) - fmax(db(valley[i]), fv));
}

// Shared: cand_pitch[width], cand_mag[width], then the flags (as floats) of bins pip_lo .. pip_hi.
__global__ void __launch_bounds__(kPipThreads)
    piptrack_kernel(const float* __restrict__ power, int n_bins, int pip_lo, int pip_hi, double sample_rate, int n_fft,
                    int cap, float* __restrict__ pitch, float* __restrict__ mag, int* __restrict__ count) {
  GPU_DYNAMIC_SHARED(float, sh);
  GPU_SHARED(red, float[kPipThreads]);
  const int width = pip_hi - pip_lo;
  float* cp = sh;
  float* cm = sh + width;
  float* flag = cm + width;
  const std::int64_t f = blockIdx.x;
  const int t = static_cast<int>(threadIdx.x);
  const float* P = power + f * n_bins;
  float mx = 0.0f;
  for (int k = t; k < n_bins; k += kPipThreads) mx = fmaxf(mx, P[k]);
  const float ref = 0.1f * gpu::block_reduce<kPipThreads>(red, mx, gpu::Max{});
  for (int i = t; i < width; i += kPipThreads) {
    const int k = pip_lo + i;
    flag[i] = 0.0f;
    if (k < 1) continue;
    const auto x = [&](int j) { return P[j] > ref ? P[j] : 0.0f; };
    const float xk = x(k);
    const bool lmax = k == n_bins - 1 ? xk > x(k - 1) : (xk > x(k - 1) && xk >= x(k + 1));
    if (!lmax) continue;
    float shift = 0.0f, avg;
    if (k == n_bins - 1) {
      avg = P[k] - P[k - 1];
    } else {
      const double a = static_cast<double>(P[k + 1] + P[k - 1]) - 2.0 * static_cast<double>(P[k]);
      const double b = static_cast<double>(P[k + 1] - P[k - 1]) / 2.0;
      shift = fabs(b) >= fabs(a) ? 0.0f : static_cast<float>(-b / a);
      avg = (P[k + 1] - P[k - 1]) / 2.0f;
    }
    const float dskew = 0.5f * avg * shift;
    const float fr = static_cast<float>((static_cast<double>(k) + static_cast<double>(shift)) * sample_rate / n_fft);
    if (fr > 0.0f) {
      cp[i] = fr;
      cm[i] = P[k] + dskew;
      flag[i] = 1.0f;
    }
  }
  __syncthreads();
  if (t == 0) {  // compaction in bin order
    int n = 0;
    for (int i = 0; i < width && n < cap; ++i)
      if (flag[i] != 0.0f) {
        pitch[f * cap + n] = cp[i];
        mag[f * cap + n] = cm[i];
        ++n;
      }
    count[f] = n;
  }
}

// Shared: the power row [n_bins] and the raw chroma [kMaxChroma].
__global__ void __launch_bounds__(kChromaThreads)
    chroma_kernel(const float* __restrict__ power, const std::int64_t* __restrict__ frame_start, int n_clips,
                  int n_bins, const float* __restrict__ fb, int n_chroma, float* __restrict__ chroma) {
  GPU_DYNAMIC_SHARED(float, P);
  GPU_SHARED(raw, float[kMaxChroma]);
  GPU_SHARED(scale, double[1]);
  const std::int64_t f = blockIdx.x;
  const int t = static_cast<int>(threadIdx.x);
  for (int k = t; k < n_bins; k += kChromaThreads) P[k] = power[f * n_bins + k];
  __syncthreads();
  const int c0 = clip_of(frame_start, n_clips, f);
  const float* fbc = fb + static_cast<std::int64_t>(c0) * n_chroma * n_bins;
  for (int c = t; c < n_chroma; c += kChromaThreads) {
    const float* w = fbc + static_cast<std::int64_t>(c) * n_bins;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= n_bins; k += 8)
      for (int j = 0; j < 8; ++j) acc[j] += w[k + j] * P[k + j];
    for (int j = 0; k < n_bins; ++k, ++j) acc[j] += w[k] * P[k];
    raw[c] = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  }
  __syncthreads();
  if (t == 0) {
    double mx = 0.0;
    for (int c = 0; c < n_chroma; ++c) mx = fmax(mx, static_cast<double>(fabsf(raw[c])));
    scale[0] = mx < static_cast<double>(FLT_MIN) ? 1.0 : mx;  // normalize(norm=inf): silence stays 0
  }
  __syncthreads();
  for (int c = t; c < n_chroma; c += kChromaThreads)
    chroma[f * n_chroma + c] = static_cast<float>(static_cast<double>(raw[c]) / scale[0]);
}

__global__ void __launch_bounds__(kSeriesThreads)
    rms_zcr_kernel(const float* __restrict__ audio, const std::int64_t* __restrict__ clip_start,
                   const std::int64_t* __restrict__ series_start, int n_clips, int frame_length, int hop, int pad,
                   float* __restrict__ rms, float* __restrict__ zcr) {
  GPU_SHARED(red, double[kSeriesThreads]);
  const std::int64_t s = blockIdx.x;
  const int t = static_cast<int>(threadIdx.x);
  const int c = clip_of(series_start, n_clips, s);
  const float* y = audio + clip_start[c];
  const std::int64_t len = clip_start[c + 1] - clip_start[c];
  const std::int64_t base = (s - series_start[c]) * hop - pad;
  constexpr float thr = 1e-10f;
  const auto at_edge = [&](std::int64_t i) { return y[i < 0 ? 0 : (i >= len ? len - 1 : i)]; };
  const auto sign = [&](float v) { return (-thr <= v && v <= thr) ? false : signbit(v) != 0; };
  double sq = 0.0, cross = 0.0;
  for (int j = t; j < frame_length; j += kSeriesThreads) {
    const std::int64_t i = base + j;
    if (rms && i >= 0 && i < len) {
      const float v = y[i] * y[i];
      sq += static_cast<double>(v);
    }
    if (zcr && j > 0) cross += sign(at_edge(i)) != sign(at_edge(i - 1)) ? 1.0 : 0.0;
  }
  if (rms) {
    const double m = gpu::block_sum<kSeriesThreads>(red, sq) / static_cast<double>(frame_length);
    if (t == 0) rms[s] = sqrtf(static_cast<float>(fmax(0.0, m)));
  }
  if (zcr) {
    const double n = gpu::block_sum<kSeriesThreads>(red, cross);  // integers: exact in any order
    if (t == 0) zcr[s] = static_cast<float>(n / static_cast<double>(frame_length));
  }
}

}  // namespace

void launch_spectral_power(const float2* spec, int odist, int rows, int n_bins, float* power, cudaStream_t stream) {
  if (rows <= 0 || n_bins <= 0) return;
  HMR_LAUNCHER_ASSERT(odist >= n_bins && rows <= 65535, "spectral_power: bad shape");
  const dim3 grid(gpu::div_up(static_cast<std::size_t>(n_bins), kPowerThreads), static_cast<unsigned>(rows));
  HMR_LAUNCH(spectral_power_kernel, grid, kPowerThreads, 0, stream, spec, odist, n_bins, power);
}

void launch_spectral_shape(const float* power, std::int64_t n_frames, int n_bins, const double* freq,
                           float roll_percent, const int* band_lo, const int* band_hi, const int* band_nq, int n_bands,
                           double* centroid, double* bandwidth, double* rolloff, double* valley, double* peak,
                           cudaStream_t stream) {
  if (n_frames <= 0 || n_bins <= 0) return;
  HMR_LAUNCHER_ASSERT(3 * n_bins <= kSharedFloats, "spectral_shape: n_fft too large for shared memory");
  HMR_LAUNCHER_ASSERT(bandwidth == nullptr || centroid != nullptr, "spectral_shape: bandwidth needs the centroid");
  HMR_LAUNCHER_ASSERT((valley == nullptr) == (peak == nullptr), "spectral_shape: valley and peak go together");
  const std::size_t smem = static_cast<std::size_t>(3 * n_bins) * sizeof(float);
  HMR_LAUNCH(spectral_shape_kernel, static_cast<unsigned>(n_frames), kShapeThreads, smem, stream, power, n_bins, freq,
             roll_percent, band_lo, band_hi, band_nq, n_bands, centroid, bandwidth, rolloff, valley, peak);
}

void launch_contrast_db(const double* valley, const double* peak, const std::int64_t* frame_start, int n_clips,
                        int n_bands, float* contrast, cudaStream_t stream) {
  if (n_clips <= 0 || n_bands <= 0) return;
  HMR_LAUNCH(contrast_db_kernel, static_cast<unsigned>(n_clips), kDbThreads, 0, stream, valley, peak, frame_start,
             n_bands, contrast);
}

void launch_piptrack(const float* power, std::int64_t n_frames, int n_bins, int pip_lo, int pip_hi, double sample_rate,
                     int n_fft, int cap, float* pitch, float* mag, int* count, cudaStream_t stream) {
  if (n_frames <= 0) return;
  const int width = pip_hi > pip_lo ? pip_hi - pip_lo : 0;
  HMR_LAUNCHER_ASSERT(pip_lo >= 0 && pip_hi <= n_bins && cap >= (width + 1) / 2 + 1, "piptrack: bad bin range or cap");
  HMR_LAUNCHER_ASSERT(3 * width <= kSharedFloats, "piptrack: n_fft too large for shared memory");
  const std::size_t smem = static_cast<std::size_t>(3 * width + 1) * sizeof(float);
  HMR_LAUNCH(piptrack_kernel, static_cast<unsigned>(n_frames), kPipThreads, smem, stream, power, n_bins, pip_lo,
             pip_lo + width, sample_rate, n_fft, cap, pitch, mag, count);
}

void launch_chroma(const float* power, const std::int64_t* frame_start, int n_clips, std::int64_t n_frames, int n_bins,
                   const float* fb, int n_chroma, float* chroma, cudaStream_t stream) {
  if (n_frames <= 0 || n_clips <= 0) return;
  HMR_LAUNCHER_ASSERT(n_chroma > 0 && n_chroma <= kMaxChroma, "chroma: n_chroma must be in [1, 128] on cuda");
  HMR_LAUNCHER_ASSERT(n_bins <= kSharedFloats, "chroma: n_fft too large for shared memory");
  const std::size_t smem = static_cast<std::size_t>(n_bins) * sizeof(float);
  HMR_LAUNCH(chroma_kernel, static_cast<unsigned>(n_frames), kChromaThreads, smem, stream, power, frame_start, n_clips,
             n_bins, fb, n_chroma, chroma);
}

void launch_rms_zcr(const float* audio, const std::int64_t* clip_start, const std::int64_t* series_start, int n_clips,
                    std::int64_t n_series, int frame_length, int hop, int pad, float* rms, float* zcr,
                    cudaStream_t stream) {
  if (n_series <= 0 || n_clips <= 0 || (rms == nullptr && zcr == nullptr)) return;
  HMR_LAUNCHER_ASSERT(frame_length > 0 && hop > 0, "rms_zcr: bad frame_length or hop");
  HMR_LAUNCH(rms_zcr_kernel, static_cast<unsigned>(n_series), kSeriesThreads, 0, stream, audio, clip_start,
             series_start, n_clips, frame_length, hop, pad, rms, zcr);
}

}  // namespace hmr::HMR_CUDA_NS::kern
