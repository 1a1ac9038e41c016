// audio/mfcc.h — MFCCs with librosa 0.10 parity, and their per-clip summaries.
//
// Per clip y (mono float32 at sample_rate):
//   frames   centred STFT: n_fft/2 zeros padded on each side (pad_mode "constant"),
//            1 + len/hop frames, periodic Hann of win_length zero-padded (centred) to n_fft
//   power    |rfft(frame * window)|^power, [1 + n_fft/2] bins
//   mel      Slaney (or HTK) mel filters with Slaney area norm, [n_mels] per frame
//   dB       10 log10(max(amin, mel)) - 10 log10(max(amin, ref)), then clamped below at
//            (peak over the whole clip) - top_db
//   MFCC     DCT-II with orthonormal scaling over the mel axis, first n_mfcc rows; optional lifter
//   summary  per coefficient mean and population variance over frames (numpy var, ddof 0), laid
//            out in the Kaggle GTZAN column order: mfcc1_mean, mfcc1_var, mfcc2_mean, ...
// Sources: librosa 0.10 feature.mfcc / melspectrogram / filters.mel / power_to_db, core.stft.
// Backends: cpu (FFTW float plans made once, sparse mel weights, threads across clips) and cuda
// (batched cuFFT R2C with a cached plan; kernels for framing, fused power+mel+log, per-clip peak,
// DCT and summary), chosen by the Backend passed in.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::audio {

struct MfccParams {
  int sample_rate = 22050;
  int n_fft = 2048;
  int hop_length = 512;
  int win_length = 0;  // 0: n_fft
  bool center = true;  // zero padding of n_fft/2 on each side
  float power = 2.0f;  // 1: magnitude, 2: power
  int n_mels = 128;
  double fmin = 0.0;
  double fmax = 0.0;        // <= 0: sample_rate / 2
  bool htk = false;         // HTK mel formula instead of Slaney's
  bool slaney_norm = true;  // librosa norm="slaney" (false: norm=None)
  double ref = 1.0;         // power_to_db ref (a constant)
  double amin = 1e-10;      // power_to_db amin
  double top_db = 80.0;     // <= 0 disables the per-clip floor
  int n_mfcc = 20;
  double lifter = 0.0;  // > 0: librosa's sinusoidal liftering
};

// Input error (exit 2) naming the bad parameter.
void check_params(const MfccParams& p);
int n_bins(const MfccParams& p);  // 1 + n_fft / 2
std::int64_t frame_count(std::int64_t samples, const MfccParams& p);
// "mfcc1_mean", "mfcc1_var", "mfcc2_mean", ... (2 * n_mfcc names, Kaggle order)
std::vector<std::string> summary_columns(int n_mfcc);

struct SkippedFile {
  std::string path;
  std::string reason;
};

struct MfccOptions {
  bool keep_frames = false;  // fill MfccResult::frames
  bool strict = false;       // a bad file is fatal (input error) instead of skipped
  int decode_threads = 0;    // 0: all hardware threads
  double offset = 0.0;       // seconds skipped at the start of each file (librosa offset)
  double duration = -1.0;    // seconds read from each file (< 0: all)
  // Called after each finished file with (files done, files total); may be empty.
  std::function<void(std::size_t, std::size_t)> progress;
};

struct MfccResult {
  Matrix summaries;                  // [n_ok, 2 * n_mfcc], Kaggle order
  std::vector<std::size_t> index;    // input position of each summary row (bad files left out)
  std::vector<std::int64_t> length;  // samples of each clip at sample_rate (Kaggle "length")
  std::vector<Matrix> frames;        // keep_frames: [n_mfcc x n_frames] per row (librosa layout)
  std::vector<SkippedFile> skipped;  // bad files, in input order
  // cpu: decode and compute seconds per thread (each thread decodes and computes whole files);
  // cuda: time the pipeline waited for decoded files, and the rest of the wall time.
  double decode_s = 0.0;
  double compute_s = 0.0;
  double total_s = 0.0;
};

// MFCCs of clips already in memory, all at p.sample_rate. An empty clip is an input error.
MfccResult mfcc_clips(Backend& backend, const std::vector<std::span<const float>>& clips, const MfccParams& p = {},
                      bool keep_frames = false);
// Decode (thread pool, overlapping the computation) + MFCC. Bad files are reported in
// `skipped` and left out, or thrown as an input error under options.strict.
MfccResult mfcc_files(Backend& backend, const std::vector<std::filesystem::path>& paths, const MfccParams& p = {},
                      const MfccOptions& options = {});
// The summaries alone: [n_ok, 2 * n_mfcc]; skipped files are appended to *skipped when given.
Matrix mfcc_summaries(Backend& backend, const std::vector<std::filesystem::path>& paths, const MfccParams& p = {},
                      std::vector<SkippedFile>* skipped = nullptr);
// librosa.feature.mfcc(y=y, sr=p.sample_rate, ...) of one clip: [n_mfcc x n_frames].
Matrix mfcc(Backend& backend, std::span<const float> y, const MfccParams& p = {});

// ---- building blocks (cpu), shared with the cuda backend and the tests ----

// The analysis window, [n_fft]: periodic Hann of win_length, zero-padded on both sides.
std::vector<float> stft_window(const MfccParams& p);

// Mel filter bank (librosa.filters.mel, computed in double, stored as float32) in sparse rows:
// filter m has weights[offset[m] .. offset[m] + count[m]) for bins start[m] .. start[m] + count[m].
struct MelFilters {
  int n_mels = 0, n_bins = 0;
  std::vector<int> start, count, offset;
  std::vector<float> weights;
  Matrix dense() const;  // [n_mels x n_bins]
};
MelFilters mel_filters(const MfccParams& p);

// Orthonormal DCT-II rows k < n_mfcc over n_mels inputs, with the lifter folded in: [n_mfcc x n_mels].
Matrix dct_matrix(const MfccParams& p);

// The cpu twins of the stages (one clip). Power spectrogram (librosa: np.abs(stft(y)) ** power):
// [1 + n_fft/2 x n_frames]; mel power: [n_mels x n_frames]; MFCC: [n_mfcc x n_frames].
Matrix spectrogram_cpu(std::span<const float> y, const MfccParams& p);
Matrix melspectrogram_cpu(std::span<const float> y, const MfccParams& p);
Matrix mfcc_cpu(std::span<const float> y, const MfccParams& p);
// [2 * n_mfcc] Kaggle-order mean/variance of an [n_mfcc x n_frames] MFCC matrix (double accumulation).
std::vector<float> summarize_frames(const Matrix& mfcc_frames);

}  // namespace hmr::audio
