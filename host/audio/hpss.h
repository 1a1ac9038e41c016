// audio/hpss.h — harmonic/percussive source separation with librosa 0.10 parity.
//
// librosa.effects.hpss(y) with its defaults, per clip y (mono float32):
//   S        stft(y, n_fft=2048, hop=512, centre, pad_mode "constant", periodic Hann), complex64
//   H, P     median filters of |S| (scipy.ndimage.median_filter, mode "reflect": the window edge
//            mirrors the edge element itself, d c b a | a b c d | d c b a): harmonic along time
//            (kernel (1, kernel_size)), percussive along frequency (kernel (kernel_size, 1))
//   masks    librosa.util.softmask(H, P * margin, power, split_zeros) and the reverse:
//            mask_H = H^p / (H^p + (margin P)^p); where both are below float tiny the mask is 0.5
//            when margin == 1 (decompose.hpss sets split_zeros only then), else 0
//   phase    the masked magnitude times librosa's magphase phase (D / |D|, 1 where |D| == 0)
//   signals  istft(S * mask, n_fft, hop, centre, length = len(y)): overlap-add of the inverse real
//            FFTs times the window, divided by the window sum-square where that exceeds float tiny
// Kaggle's harmony_mean/var and perceptr_mean/var are numpy mean/var (ddof 0) of the two signals.
// Sources: librosa 0.10 effects.hpss, decompose.hpss, util.softmask, core.stft/istft,
// filters.window_sumsquare; scipy.ndimage.median_filter; D. FitzGerald, "Harmonic/percussive
// separation using median filtering", DAFx 2010.
// Backends: cpu (FFTW float plans made once, sliding-window medians, threads across or within clips) and
// cuda (cuFFT R2C/C2R, median, mask and overlap-add kernels), chosen by the Backend passed in.
#pragma once

#include <complex>
#include <cstdint>
#include <span>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::audio {

struct HpssParams {
  int n_fft = 2048;
  int hop_length = 512;
  int kernel_size = 31;  // both median filters (librosa kernel_size=31); odd or even as scipy
  double power = 2.0;    // softmask power (librosa power=2.0); must be > 0 or +inf (hard mask)
  double margin = 1.0;   // librosa margin (both masks); >= 1
};

// Input error (exit 2) naming the bad parameter.
void check_params(const HpssParams& p);

// librosa.effects.hpss(y): harmonic and percussive time signals, each the length of y.
struct HpssSignals {
  std::vector<float> harmonic, percussive;
};
// One call per batch of clips; cpu: threads across clips, or within each clip when there are fewer
// clips than threads (results independent of the thread count either way).
// An empty clip or a non-finite sample is an input error; clips shorter than n_fft are handled as
// librosa handles them (zero padding, 1 + len/hop frames). Clips of fewer than kernel_size/2 + 1
// frames (under 16 frames, 0.35 s at the defaults): the reflection is defined for any length
// here (period 2n), while scipy 1.17 fills the window with values from outside the line when half
// of it exceeds the axis (seen: denormal garbage such as 1.6e-322 inside the window), so
// librosa's result there is not defined and hmr does not try to match it.
std::vector<HpssSignals> hpss(Backend& backend, const std::vector<std::span<const float>>& clips,
                              const HpssParams& p = {});

// The Kaggle columns need only the mean and variance (numpy, ddof 0, accumulated in double) of
// each signal: harmony_mean, harmony_var, perceptr_mean, perceptr_var.
struct HpssStats {
  double harmony_mean = 0, harmony_var = 0, perceptr_mean = 0, perceptr_var = 0;
};
std::vector<HpssStats> hpss_stats(Backend& backend, const std::vector<std::span<const float>>& clips,
                                  const HpssParams& p = {});
HpssStats signal_stats(const HpssSignals& s);

// ---- building blocks (cpu), shared with the cuda backend and the tests ----

// Complex STFT as librosa.stft (complex64), bin-major: [1 + n_fft/2][n_frames] (librosa layout).
struct ComplexSpec {
  int n_bins = 0;
  std::int64_t n_frames = 0;
  std::vector<std::complex<float>> v;  // v[bin * n_frames + frame]
};
ComplexSpec stft_complex_cpu(std::span<const float> y, const HpssParams& p);
// librosa.istft(S, hop_length, n_fft, window "hann", center, length): float32 signal of `length`.
std::vector<float> istft_cpu(const ComplexSpec& s, const HpssParams& p, std::int64_t length);
// scipy.ndimage.median_filter(x, size=(1, k)) (axis 1: along each row) or size=(k, 1) (axis 0),
// mode "reflect", on a row-major [rows x cols] float32 matrix. For even k scipy's window is
// [i - k/2, i + k/2 - 1] and the median the upper one of the middle two (its rank filter).
Matrix median_filter_cpu(const Matrix& x, int k, int axis);
// librosa.util.softmask(x, x_ref, power, split_zeros), elementwise, float32.
float softmask(float x, float x_ref, double power, bool split_zeros);
// Both masks of one magnitude spectrogram and its filtered versions (librosa decompose.hpss,
// mask=True): mask_h = softmask(H, margin P), mask_p = softmask(P, margin H).
void hpss_masks_cpu(const Matrix& harm, const Matrix& perc, const HpssParams& p, Matrix& mask_h, Matrix& mask_p);
// The cpu twin of one clip, straight from the definitions above (reference path for the tests).
HpssSignals hpss_cpu(std::span<const float> y, const HpssParams& p = {});

}  // namespace hmr::audio
