// audio/tempo.h — onset strength and the global tempo estimate with librosa 0.10 parity.
//
// librosa.onset.onset_strength(y=y, sr) with its defaults, per clip y (mono float32):
//   mel      melspectrogram power (n_fft 2048, hop 512, centre, 128 Slaney mels): the MFCC stage's
//            mel power (audio/mfcc.h, same parameters)
//   dB       power_to_db(mel, ref=1, amin=1e-10, top_db=80)
//   flux     max(0, dB[:, t] - dB[:, t - 1]) (lag 1, max_size 1), mean over mels (beat_track
//            asks for the median over mels instead: aggregate=np.median)
//   framing  padded with lag + n_fft // (2 hop) zeros in front (centre alignment), trimmed to
//            the frame count of the spectrogram
// librosa.beat.beat_track(y=y, sr)[0] (the Kaggle "tempo" column) is feature.tempo of that
// median envelope: tempogram (autocorrelation of frames of win_length = floor(ac_size sr / hop)
// (344 at the defaults; 384 is tempogram's own default, which tempo() does not use), the envelope
// padded win_length/2 each side with linear ramps to 0, frames Hann-windowed, each autocorrelation
// divided by its largest |value| (norm inf)), mean over frames,
// times a log-normal prior exp(-0.5 ((log2 bpm - log2 start_bpm) / std_bpm)^2) with bpm > max_tempo
// excluded; the tempo is the bpm of the argmax lag (bpm = 60 sr / (hop lag)).
// Sources: librosa 0.10 onset.onset_strength(_multi), feature.tempogram, feature.rhythm.tempo,
// beat.beat_track; D. Ellis, "Beat tracking by dynamic programming", JNMR 2007.
// Backends: cpu (threads across clips) and cuda (onset flux and tempogram kernels).
#pragma once

#include <span>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::audio {

struct TempoParams {
  int sample_rate = 22050;
  int hop_length = 512;
  double start_bpm = 120.0;
  double std_bpm = 1.0;
  double ac_size = 8.0;  // seconds of autocorrelation window
  double max_tempo = 320.0;
  // onset: n_fft 2048, n_mels 128, fmax sr/2 as librosa's defaults
};

// Input error (exit 2) naming the bad parameter.
void check_params(const TempoParams& p);

// How the flux is reduced over the mel bands: np.mean (onset_strength's default) or np.median
// (what beat_track asks for).
enum class OnsetAggregate { mean, median };

// librosa.onset.onset_strength(y=y, sr, aggregate) [n_frames] per clip (float32, as librosa).
std::vector<std::vector<float>> onset_strength(Backend& backend, const std::vector<std::span<const float>>& clips,
                                               const TempoParams& p = {},
                                               OnsetAggregate aggregate = OnsetAggregate::mean);
// librosa.beat.beat_track(y=y, sr)[0] (the tempo only; Kaggle "tempo" column), one per clip.
// A clip whose onset envelope is all zero (silence) gets 0, as librosa's beat_track returns.
std::vector<double> beat_tempo(Backend& backend, const std::vector<std::span<const float>>& clips,
                               const TempoParams& p = {});

// ---- building blocks (cpu), shared with the cuda backend and the tests ----

// Onset envelope from a clip's mel power [n_mels x n_frames] (melspectrogram_cpu layout).
std::vector<float> onset_from_mel_cpu(const Matrix& mel_power, const TempoParams& p,
                                      OnsetAggregate aggregate = OnsetAggregate::mean);
std::vector<float> onset_strength_cpu(std::span<const float> y, const TempoParams& p = {},
                                      OnsetAggregate aggregate = OnsetAggregate::mean);
// Autocorrelation window length in frames: floor(ac_size * sr / hop) (librosa time_to_frames).
int tempo_win_length(const TempoParams& p);
// Mean over frames of librosa's tempogram of an onset envelope: [win_length] (lag 0 .. win - 1).
std::vector<double> mean_tempogram_cpu(std::span<const float> onset, const TempoParams& p);
// The tempo of a mean tempogram (prior, max_tempo, argmax): librosa feature.rhythm.tempo.
double tempo_from_tempogram(std::span<const double> mean_tg, const TempoParams& p);
// beat_track's tempo from its (median) onset envelope (0 when the envelope is all zero).
double tempo_from_onset_cpu(std::span<const float> onset, const TempoParams& p);
// The bpm of lag bin `lag` (60 sr / (hop lag)); lag 0 is +inf.
double tempo_of_lag(int lag, const TempoParams& p);

}  // namespace hmr::audio
