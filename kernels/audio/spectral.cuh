// audio/spectral.cuh — launchers of the spectral feature kernels (librosa 0.10 parity, see
// host/audio/spectral.h). A batch holds clips back to back as in audio/mfcc.cuh: clip c's samples at
// audio[clip_start[c] .. clip_start[c+1]), its STFT frames at global rows frame_start[c] ..
// frame_start[c+1] and its rms/zcr frames at series_start[c] .. series_start[c+1] ([n_clips + 1]
// int64 arrays on device). The STFT comes from launch_frame_window + cuFFT (audio/mfcc.cuh);
// power: [F][n_bins] float32 |X|^2, frame-major. Each kernel mirrors the arithmetic of its cpu twin
// in host/audio/spectral.cpp (float32 where librosa is float32, double where numpy promotes); sums
// in double use fixed-order block trees, the float32 running sums (rolloff, contrast means, chroma
// lanes) run in the cpu's order, so results are bitwise reproducible.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

// power[r][k] = |spec[r][k]|^2 for r < rows, k < n_bins (spec rows odist complex apart).
void launch_spectral_power(const float2* spec, int odist, int rows, int n_bins, float* power, cudaStream_t stream);

// Per frame f < n_frames of power [n_frames][n_bins], on the magnitude sqrt(power):
// centroid/bandwidth/rolloff [n_frames] (double; null: not computed; bandwidth needs centroid) with
// bin frequencies freq[n_bins] (double) and roll_percent; and, when valley/peak are not null, the
// float32 means of the band_nq[b] smallest / largest magnitudes of bins band_lo[b] .. band_hi[b]
// (b < n_bands) into valley/peak [n_frames][n_bands] (double).
void launch_spectral_shape(const float* power, std::int64_t n_frames, int n_bins, const double* freq,
                           float roll_percent, const int* band_lo, const int* band_hi, const int* band_nq, int n_bands,
                           double* centroid, double* bandwidth, double* rolloff, double* valley, double* peak,
                           cudaStream_t stream);

// spectral_contrast's end, per clip: power_to_db (amin 1e-10, top_db 80 against the clip's own
// maximum) of peak and of valley, contrast[f][b] = float(db(peak) - db(valley)).
void launch_contrast_db(const double* valley, const double* peak, const std::int64_t* frame_start, int n_clips,
                        int n_bands, float* contrast, cudaStream_t stream);

// piptrack(S=power) per frame: the local maxima above 0.1 * the frame's max among bins
// [pip_lo, pip_hi), their float32 pitches and magnitudes (pitch > 0 only), in bin order:
// count[f] entries in pitch[f][cap], mag[f][cap]. cap >= (pip_hi - pip_lo + 1) / 2 + 1.
void launch_piptrack(const float* power, std::int64_t n_frames, int n_bins, int pip_lo, int pip_hi, double sample_rate,
                     int n_fft, int cap, float* pitch, float* mag, int* count, cudaStream_t stream);

// chroma[f][c] = normalize(norm=inf) of sum_k fb_c[c][k] power[f][k] (float32 sums in 8 lanes),
// with fb_c = fb + clip(f) * n_chroma * n_bins: each clip's filter bank (its own tuning).
void launch_chroma(const float* power, const std::int64_t* frame_start, int n_clips, std::int64_t n_frames, int n_bins,
                   const float* fb, int n_chroma, float* chroma, cudaStream_t stream);

// rms (centred frames padded with zeros) and zero-crossing rate (padded with the edge samples,
// threshold 1e-10, zero counts as positive) of the frames of frame_length, hop apart, for the
// global series frames s < n_series (clip of s from series_start); pad = frame_length / 2 when
// centred, else 0. Either output may be null.
void launch_rms_zcr(const float* audio, const std::int64_t* clip_start, const std::int64_t* series_start, int n_clips,
                    std::int64_t n_series, int frame_length, int hop, int pad, float* rms, float* zcr,
                    cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
