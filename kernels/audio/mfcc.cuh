// audio/mfcc.cuh — launchers of the MFCC kernels (librosa parity, see host/audio/mfcc.h).
// A batch holds many clips back to back: audio [total samples] with clip c at
// audio[clip_start[c] .. clip_start[c+1]), and its frames at global frame indices
// frame_start[c] .. frame_start[c+1] (frame_start[0] = 0, [n_clips + 1] int64 arrays on device).
// Pipeline: frame_window -> batched cuFFT R2C -> power_mel_log -> clip_peak -> dct -> summary.
// All reductions run in a fixed order (no float atomics): results are bitwise reproducible.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

// frames[r][j] = y_c[f * hop - pad + j] * window[j] (0 outside the clip) for the global frame
// g = frame_begin + r, r < rows, where clip c holds g and f = g - frame_start[c]; rows with
// g >= frame_end are zero-filled (cuFFT runs a fixed batch). frames: [rows][n_fft].
void launch_frame_window(const float* audio, const std::int64_t* clip_start, const std::int64_t* frame_start,
                         int n_clips, std::int64_t frame_begin, std::int64_t frame_end, int rows, const float* window,
                         int n_fft, int hop, int pad, float* frames, cudaStream_t stream);

// For each of `rows` spectra (spec: [rows][odist] complex, n_bins used): power |X|^power, sparse
// mel rows (filter m: weights mel_w[mel_offset[m] + j] on bins mel_start[m] + j, j < mel_count[m]),
// dB = 10 log10(max(amin, mel)) - log_ref. logmel: [rows][n_mels]; row_max[r] = max over m;
// mel_power (optional, may be null): [rows][n_mels] mel power before the log.
void launch_power_mel_log(const float2* spec, int odist, int rows, int n_bins, float power, const int* mel_start,
                          const int* mel_count, const int* mel_offset, const float* mel_w, int n_mels, float amin,
                          float log_ref, float* logmel, float* row_max, float* mel_power, cudaStream_t stream);

// clip_peak[c] = max of row_max over clip c's frames.
void launch_clip_peak(const float* row_max, const std::int64_t* frame_start, int n_clips, float* clip_peak,
                      cudaStream_t stream);

// out[f][k] = sum_m dct[k][m] * max(logmel[f][m], clip_peak[c(f)] - top_db) (no floor when
// top_db <= 0). dct: [n_mfcc][n_mels]; logmel: [n_frames][n_mels]; out: [n_frames][n_mfcc].
void launch_dct(const float* logmel, const std::int64_t* frame_start, int n_clips, std::int64_t n_frames,
                const float* clip_peak, float top_db, const float* dct, int n_mfcc, int n_mels, float* out,
                cudaStream_t stream);

// out[c][2k] = mean, out[c][2k+1] = population variance of mfcc[f][k] over clip c's frames
// (double accumulation). mfcc: [n_frames][n_mfcc]; out: [n_clips][2 * n_mfcc].
void launch_summary(const float* mfcc, const std::int64_t* frame_start, int n_clips, int n_mfcc, float* out,
                    cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
