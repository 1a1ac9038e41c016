// audio/hpss.cuh — launchers of the HPSS kernels (librosa 0.10 effects.hpss, host/audio/hpss.h).
// A batch holds clips back to back as in audio/mfcc.cuh: samples clip_start[c] .. clip_start[c+1],
// frames frame_start[c] .. frame_start[c+1] (global frame indices; [n_clips + 1] int64 on device).
// Spectrogram arrays are frame-major: [rows][n_bins] (complex spectra rows `odist` apart).
// Pipeline: frame_window (mfcc.cuh) -> cuFFT R2C -> magnitude -> median_bins (percussive) and
// median_frames (harmonic) -> mask (both masked spectra) -> cuFFT C2R (each) -> overlap_add.
// Every kernel mirrors its cpu twin's arithmetic (medians are exact order statistics, the overlap-
// add sums the frames in increasing order as librosa does), so results are reproducible bit for bit.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

constexpr int kMaxMedianKernel = 64;  // the median kernels keep a k-value window per thread in shared memory

// mag[f][q] = |spec[f][q]| (hypotf), f < rows, q < n_bins.
void launch_hpss_magnitude(const float2* spec, int odist, std::int64_t rows, int n_bins, float* mag,
                           cudaStream_t stream);

// Percussive median: out[f][q] = rank k/2 of mag[f][reflect(q - k/2 + j)], j < k (scipy.ndimage
// median_filter size (k, 1) on librosa's [bins x frames], mode "reflect").
void launch_median_bins(const float* mag, std::int64_t rows, int n_bins, int k, float* out, cudaStream_t stream);

// Harmonic median along each clip's frames: out[g][q] = rank k/2 of mag[fs + reflect(t - k/2 + j)][q]
// with t = g - fs, fs = frame_start[c] of g's clip (median_filter size (1, k)).
void launch_median_frames(const float* mag, const std::int64_t* frame_start, int n_clips, std::int64_t rows, int n_bins,
                          int k, float* out, cudaStream_t stream);

// Masked spectra: out_h[f][q] = (|X| softmask(H, margin P)) * phase(X), out_p with the roles of H
// and P swapped (librosa util.softmask, magphase). spec, out_h, out_p rows are odist apart.
void launch_hpss_mask(const float2* spec, int odist, std::int64_t rows, int n_bins, const float* harm,
                      const float* perc, float power, float margin, int split_zeros, float2* out_h, float2* out_p,
                      cudaStream_t stream);

// librosa istft with length = the clip's length: out[s] for every sample s of the batch sums, in
// frame order, window[j] * (frames[g][j] / n_fft) over the frames g of its clip that cover it (the
// clip's sample i sits at j = i + n_fft/2 - t hop of frame t), in float32 through double adds, then
// divides by the window sum-square (summed the same way) where that exceeds FLT_MIN.
// frames: the unnormalised C2R rows [rows][n_fft]; window: the periodic Hann in double [n_fft].
void launch_overlap_add(const float* frames, const std::int64_t* clip_start, const std::int64_t* frame_start,
                        int n_clips, std::int64_t samples, const double* window, int n_fft, int hop, float* out,
                        cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
