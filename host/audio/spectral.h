// audio/spectral.h — frame-wise spectral features with librosa 0.10 parity (issue 19):
// chroma_stft, rms, spectral_centroid, spectral_bandwidth, spectral_rolloff, zero_crossing_rate,
// spectral_contrast, and feature.delta.
//
// Per clip y (mono float32 at sample_rate), one STFT (librosa.stft: centred by n_fft/2 zeros on each
// side, pad_mode "constant", periodic Hann of n_fft, 1 + len/hop frames), shared by every series:
//   chroma     feature.chroma_stft(y, sr, n_fft, hop, tuning): power spectrogram |X|^2, chroma
//              filter bank (filters.chroma with the tuning, ctroct 5, octwidth 2, base_c), then
//              normalize(norm=inf, axis=0) per frame (a zero frame stays zero). tuning = NaN:
//              estimate_tuning(S=power, sr, n_fft) as librosa does (piptrack + pitch_tuning,
//              resolution 0.01, bins_per_octave = n_chroma).
//   rms        feature.rms(y, frame_length, hop, center): frames of the y padded by frame_length/2
//              (pad_mode "constant"), sqrt(mean(|x|^2)) per frame (no window).
//   centroid   feature.spectral_centroid(y, sr, n_fft, hop): magnitude |X| (power 1), frequencies
//              of the bins, sum(f S) / sum(S) per frame, S normalised per frame by its L1 norm
//              (librosa's normalize(norm=1, threshold=tiny)): a silent frame gives 0.
//   bandwidth  feature.spectral_bandwidth (p = 2, norm = True, centroid as above):
//              (sum S_n |f - c|^2)^(1/2).
//   rolloff    feature.spectral_rolloff(roll_percent): the lowest bin frequency where the
//              cumulative magnitude (float32 running sum, as numpy's cumsum) reaches
//              roll_percent of the frame's total (a silent frame gives 0 Hz, as librosa).
//   zcr        feature.zero_crossing_rate(y, frame_length, hop, center): frames of y padded by
//              frame_length/2 with pad_mode "edge" (what librosa's zcr hard-codes), threshold
//              1e-10 (|x| <= threshold counts as 0), zero_pos = True (0 counts as positive), no
//              crossing at a frame's first sample (pad=False); crossings / frame_length.
//   contrast   feature.spectral_contrast(S=|X|, sr, n_bands, fmin, quantile, linear=False):
//              octave bands from fmin, peak/valley = mean of the top/bottom quantile of each band,
//              power_to_db(peak) - power_to_db(valley) (ref 1, amin 1e-10, top_db 80 relative to
//              the clip's own maximum of each of the two arrays); [n_bands + 1 x T].
//   delta      feature.delta(data, width, order, axis=-1, mode="interp"): Savitzky-Golay
//              derivative (scipy.signal.savgol_filter, polyorder = order).
// Dtypes follow librosa for float32 y: S is float32, the sums librosa does in float32 are float32
// here (rolloff's cumsum, contrast's means, piptrack, pitch_tuning), the ones it promotes to
// float64 (frequencies, normalisation, tuning) are double. The cpu's STFT is librosa's (a float64
// FFT rounded to complex64) by default; the float32 FFT (stft_float64 = false, and the cuda
// backend) leaves round-off of ~1e-7 of a frame's peak in every bin, which shows only where a
// signal has no noise floor (docs/audio.md, Spectral features).
//
// Backends: cpu (the MFCC's FFTW plans and power blocks, threads across clips, results
// independent of the thread count) and cuda (batched cuFFT via the Context, kernels in
// kernels/audio/spectral.cu), chosen by the Backend passed in.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::audio {

struct SpectralParams {
  int sample_rate = 22050;
  int n_fft = 2048;
  int hop_length = 512;
  bool center = true;  // STFT, rms and zcr: centred frames (librosa's default)
  int n_chroma = 12;
  double tuning = std::numeric_limits<double>::quiet_NaN();  // NaN: estimate_tuning (librosa's default)
  double roll_percent = 0.85;                                // spectral_rolloff, in (0, 1)
  int n_bands = 6;                                           // spectral_contrast
  double contrast_fmin = 200.0;                              // spectral_contrast fmin
  double quantile = 0.02;                                    // spectral_contrast
  int frame_length = 2048;                                   // rms and zcr
  // cpu: a float64 FFT, librosa's own precision (its float64 STFT rounded to complex64); false: the
  // MFCC's float32 FFT (~3.5 ms less per 30 s clip, Kaggle columns within ~1e-5 instead of ~1e-7
  // of librosa). spectral_contrast always takes the float64 one on the cpu: its band minima are
  // the values float32 round-off reaches. cuda: float32 either way.
  bool stft_float64 = true;
};

// Which frame series to compute (all by default; contrast is extra work).
struct SpectralWhat {
  bool chroma = true, rms = true, centroid = true, bandwidth = true, rolloff = true, zcr = true, contrast = false;
};

// The frame series of one clip (librosa's layout: features x frames). Series not requested are
// empty. T = 1 + len/hop when centred (rms and zcr use frame_length; with the defaults every
// series has the same T).
struct SpectralFrames {
  Matrix chroma;                                              // [n_chroma x T]
  std::vector<float> rms, centroid, bandwidth, rolloff, zcr;  // [T] each
  Matrix contrast;                                            // [n_bands + 1 x T]
  double tuning = 0.0;  // the tuning used by chroma (given, or estimated), in fractions of a bin;
                        // SpectralParams::tuning (NaN by default) when chroma was not asked for
};

// Input error (exit 2) naming the bad parameter.
void check_params(const SpectralParams& p);

// One call per batch of clips (all at p.sample_rate); the backend decides cpu threads across clips
// or cuda batches. An empty clip is an input error; a clip shorter than n_fft is padded as librosa
// pads it (centred: zeros; not centred and shorter than a frame: input error).
std::vector<SpectralFrames> spectral_frames(Backend& backend, const std::vector<std::span<const float>>& clips,
                                            const SpectralParams& p = {}, const SpectralWhat& what = {});

// librosa.feature.delta(data, width, order, axis=-1, mode="interp") on each row of data
// [features x frames]; cpu. width odd and >= 3, order >= 1; frames < width is an input error
// (as librosa: "when mode='interp', width=... cannot exceed data.shape[axis]").
Matrix delta(const Matrix& data, int order = 1, int width = 9);

// ---- building blocks (cpu), shared with the cuda backend and the tests ----

// librosa.filters.chroma(sr, n_fft, n_chroma, tuning) (ctroct 5, octwidth 2, norm 2, base_c),
// computed in double as librosa and stored as float32: [n_chroma x (1 + n_fft/2)].
Matrix chroma_filters(int sample_rate, int n_fft, int n_chroma, double tuning);

// librosa.core.piptrack(S=power, sr, n_fft, fmin=150, fmax=4000, threshold=0.1) followed by
// pitch_tuning as estimate_tuning does: the pitches of the bins above 'threshold' of each frame's
// max and above the median of the selected magnitudes, then the most frequent deviation from the
// equal-tempered scale (resolution 0.01, bins_per_octave). S: power spectrogram [n_bins x T]
// (row-major, float32 as librosa). Returns 0 when no pitch is found (librosa's warning case).
double estimate_tuning(const Matrix& power, int sample_rate, int n_fft, int bins_per_octave = 12,
                       double resolution = 0.01);
// librosa.pitch_tuning(frequencies, resolution, bins_per_octave): frequencies > 0 only.
double pitch_tuning(std::span<const double> frequencies, double resolution = 0.01, int bins_per_octave = 12);

// The cpu twin of one clip (what spectral_frames does per clip on the cpu backend).
SpectralFrames spectral_frames_cpu(std::span<const float> y, const SpectralParams& p = {},
                                   const SpectralWhat& what = {});

// The features from a given spectrogram, the cpu reference the cuda kernels are compared with.
// magnitude: |X| [n_bins x T] (float32, librosa's np.abs of the complex64 STFT).
void spectral_shape_from_magnitude(const Matrix& magnitude, const SpectralParams& p, const SpectralWhat& what,
                                   SpectralFrames& out);
// power: |X|^2 [n_bins x T]; tuning as in SpectralParams (NaN: estimated). Fills out.chroma, out.tuning.
void chroma_from_power(const Matrix& power, const SpectralParams& p, SpectralFrames& out);
// rms and zcr from the time signal (librosa frames them itself, no STFT).
std::vector<float> rms_frames(std::span<const float> y, const SpectralParams& p);
std::vector<float> zcr_frames(std::span<const float> y, const SpectralParams& p);

}  // namespace hmr::audio
