// audio/tempo.cuh — launchers of the onset-strength and tempogram kernels (librosa 0.10
// onset.onset_strength, feature.tempogram / tempo; host/audio/tempo.h). Batches as audio/mfcc.cuh:
// frames of clip c are the global rows frame_start[c] .. frame_start[c+1].
// Pipeline: frame_window -> cuFFT R2C -> power_mel_log -> clip_peak (all mfcc.cuh) -> onset_flux;
// for the tempo: tempogram -> tempogram_mean, then the prior and argmax on the host.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

constexpr int kMaxTempoWindow = 2048;  // tempogram frames live in shared memory (two double rows)

// onset[g] for each global frame g of clip c (t = g - frame_start[c]): 0 for t < shift, else the
// mean (median = 0) or median (median = 1) over mels m of max(0, D[t - shift + lag][m] -
// D[t - shift][m]) with D = max(logmel, clip_peak[c] - top_db) (power_to_db's floor); frames past
// the clip's end leave 0 (librosa pads then trims). logmel: [rows][n_mels] dB.
void launch_onset_flux(const float* logmel, const std::int64_t* frame_start, int n_clips, std::int64_t rows, int n_mels,
                       const float* clip_peak, float top_db, int lag, int shift, int median, float* onset,
                       cudaStream_t stream);

// tg[g][l], l < win: the autocorrelation at lag l of frame t of clip c's envelope padded win/2 on
// each side with linear ramps to 0 (float32, as np.pad), times the Hann window (double), divided by
// its largest |value| (left as is when that is below DBL_MIN). tg: [rows][win] double.
void launch_tempogram(const float* onset, const std::int64_t* frame_start, int n_clips, std::int64_t rows,
                      const double* window, int win, double* tg, cudaStream_t stream);

// mean[c][l] = (sum over clip c's frames, in order, of tg[g][l]) / frames of c. mean: [n_clips][win].
void launch_tempogram_mean(const double* tg, const std::int64_t* frame_start, int n_clips, int win, double* mean,
                           cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
