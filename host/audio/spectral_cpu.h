// audio/spectral_cpu.h — internal to the spectral features (spectral.cpp, spectral_cpu.cpp,
// spectral_cuda.cpp): the per-parameter constants (bin frequencies, contrast bands, chroma filter
// bank) and the per-frame arithmetic, written once so the cpu twin, the Matrix building blocks and
// the cuda host side agree. Each function names the librosa 0.10 code it mirrors and its dtypes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "audio/mfcc.h"
#include "audio/spectral.h"

namespace hmr::audio::spectral_detail {

// np.fft.rfftfreq(n_fft, 1/sr): k * (1 / (n_fft * (1 / sr))), double.
std::vector<double> fft_frequencies(int sample_rate, int n_fft);

// One spectral_contrast band: the bins [lo, hi) of the sub-band librosa sorts (its last bin
// already dropped for k < n_bands) and the quantile count n_q = max(1, rint(quantile * |band|)).
struct ContrastBand {
  int lo = 0, hi = 0, n_q = 1;
};

// What every frame needs, made once per parameter set (and sample rate).
struct Consts {
  SpectralParams p;
  int nb = 0;                       // 1 + n_fft / 2
  std::vector<double> freq;         // [nb]
  std::vector<ContrastBand> bands;  // [n_bands + 1] (empty when made without contrast)
  int pip_lo = 0, pip_hi = 0;       // piptrack's bins: fmin 150 <= freq < min(4000, sr / 2)
  // contrast: make the bands (an input error when they do not fit the rate); else bands is empty.
  explicit Consts(const SpectralParams& params, bool contrast = true);
};

// spectral_contrast's bands at p's rate and n_fft; input error (exit 2) when a band exceeds Nyquist
// or holds no bin.
std::vector<ContrastBand> contrast_bands(const SpectralParams& p, const std::vector<double>& freq);

// centroid, bandwidth, rolloff of one magnitude frame mag[nb] (float32, as librosa's S).
// normalize(norm=1): L = sum |S| (double), L < FLT_MIN -> 1, S_n = float(S / L); centroid =
// sum freq S_n (double); bandwidth = sqrt(sum S_n (freq - centroid)^2); rolloff: float32 running
// sum, threshold float(roll_percent) * total, first bin with sum >= threshold.
void frame_shape(const Consts& c, const float* mag, double* centroid, double* bandwidth, double* rolloff);

// The contrast band means of one magnitude frame: valley[k], peak[k] = float32 mean of the n_q
// smallest / largest values of band k (ascending order, float32 sequential sum as numpy's mean
// along axis -2). scratch: >= nb floats.
void frame_contrast(const Consts& c, const float* mag, float* scratch, double* valley, double* peak);

// power_to_db(x) with ref 1, amin 1e-10 and top_db 80 against the clip's maximum, in place over
// the whole [rows x T] array of one clip (librosa applies it to peak and valley separately).
void power_to_db_clip(std::span<double> x);

// piptrack(S=power) candidates of one power frame P[nb] (float32 as librosa): appends the pitch
// (float32 as stored by librosa) and magnitude of each local maximum above 0.1 * the frame's max
// inside [pip_lo, pip_hi).
void frame_piptrack(const Consts& c, const float* P, std::vector<float>& pitch, std::vector<float>& mag);

// estimate_tuning's end: median of the candidates' magnitudes (numpy's float32 median), pitches of
// the candidates at or above it, pitch_tuning. Reorders `mag` (partition).
double tuning_from_candidates(const std::vector<float>& pitch, std::vector<float>& mag, int bins_per_octave);

// Chroma of one power frame: raw[c] = sum_k fb[c][k] P[k] (float32 sums in 8 lanes), then
// normalize(norm=inf): divided by the frame's max (double), a frame whose max < FLT_MIN unchanged.
void frame_chroma(const Matrix& fb, const float* P, float* chroma_col, std::int64_t stride);

// The whole clip from its power spectrogram, frame-major pw[T][nb] (float32): every requested
// series except rms and zcr; frames split over the threads when `inner` (each frame is computed
// alone, so the result does not depend on the thread count).
void clip_from_power(const Consts& c, const SpectralWhat& what, const float* pw, std::int64_t T, bool inner,
                     SpectralFrames& out);
// The chroma filter bank of a tuning, cached per thread (a clip's estimated tuning is one of ~100
// values).
const Matrix& cached_chroma_filters(const SpectralParams& p, double tuning);

// The STFT settings of p as the MFCC plans take them (power spectrum; their mel bank is not used).
MfccParams stft_params(const SpectralParams& p);

// Input checks of a batch (parameters, empty clips, too short without centring, non-finite samples).
void check_clips(const std::vector<std::span<const float>>& clips, const SpectralParams& p);

// The cpu backend's batch: threads over whole clips, or over each clip's frames when there are
// fewer clips than threads. spectral_cpu.cpp.
std::vector<SpectralFrames> spectral_frames_cpu_batch(const std::vector<std::span<const float>>& clips,
                                                      const SpectralParams& p, const SpectralWhat& what);

}  // namespace hmr::audio::spectral_detail
