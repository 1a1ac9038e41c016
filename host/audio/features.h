// audio/features.h — the Kaggle GTZAN feature table (features_30_sec.csv / features_3_sec.csv) of
// audio clips, computed with librosa 0.10 parity.
//
// One row per clip (or per segment of a clip), 57 features in the Kaggle column order, each as the
// public GTZAN notebooks compute it on y = librosa.load(path) (22050 Hz mono):
//   chroma_stft_mean/var        np.mean/np.var of feature.chroma_stft(y, sr)   (all 12 x T values)
//   rms_mean/var                of feature.rms(y)
//   spectral_centroid_mean/var  of feature.spectral_centroid(y, sr)
//   spectral_bandwidth_mean/var of feature.spectral_bandwidth(y, sr)
//   rolloff_mean/var            of feature.spectral_rolloff(y, sr)
//   zero_crossing_rate_mean/var of feature.zero_crossing_rate(y)
//   harmony_mean/var, perceptr_mean/var  of the two signals of effects.hpss(y)
//   tempo                       beat.beat_track(y, sr)[0]
//   mfcc1_mean, mfcc1_var, ... mfcc20_var   of feature.mfcc(y, sr) (per coefficient over frames)
// Means and variances are numpy's (variance ddof 0), accumulated in double. Extras, appended after
// the Kaggle columns: mfccK_delta_mean/var then mfccK_delta2_mean/var (feature.delta, width 9,
// order 1 and 2, of the MFCC frames), spectral_contrastK_mean/var (feature.spectral_contrast,
// n_bands + 1 rows).
// Segments (Kaggle's features_3_sec.csv): a clip is cut into consecutive whole segments of
// round(seconds * sr) samples starting at sample 0 (segment k: samples [k S, (k + 1) S)); the
// trailing partial segment is dropped; a clip shorter than one segment is one segment of all its
// samples. Each segment is computed on its own samples, independently (as the notebooks did).
// The stages: audio/mfcc.h, audio/spectral.h, audio/hpss.h, audio/tempo.h (one batched call per
// stage and chunk of clips, so the cuda backend sees batches and the cpu one threads over clips).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "audio/mfcc.h"
#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::audio {

struct FeatureParams {
  int sample_rate = 22050;
  int n_fft = 2048;      // every stage (librosa's default for all of them)
  int hop_length = 512;  // every stage
  int n_mels = 128;      // MFCC
  int n_mfcc = 20;
  bool deltas = false;    // + delta and delta-delta MFCC mean/var columns
  bool contrast = false;  // + spectral contrast mean/var columns
  int n_bands = 6;        // spectral contrast bands (n_bands + 1 rows)
};

// Input error (exit 2) naming the bad parameter.
void check_params(const FeatureParams& p);

// The MFCC (and log-mel) settings of p: its rate, STFT and mel sizes, librosa's defaults otherwise.
MfccParams mfcc_params(const FeatureParams& p);

// The 57 Kaggle feature names (n_mfcc = 20) in Kaggle order, without filename, length and label.
std::vector<std::string> kaggle_feature_columns(int n_mfcc = 20);
// The columns of a feature row for p: the Kaggle ones, then the extras p asks for.
std::vector<std::string> feature_columns(const FeatureParams& p);

// Seconds spent in each stage (accumulated over calls).
struct FeatureTimings {
  double hpss = 0, spectral = 0, tempo = 0, mfcc = 0;
};

// Feature rows of clips already in memory, all at p.sample_rate: [clips x feature_columns(p)].
// A clip that a stage refuses (empty, shorter than n_fft / 2 + 1 samples: librosa's HPSS refuses it)
// is an input error.
Matrix feature_rows(Backend& backend, const std::vector<std::span<const float>>& clips, const FeatureParams& p = {},
                    FeatureTimings* timings = nullptr);

// The segments of a clip of `samples` samples: (start, length) of each (rules at the top).
struct SegmentSpan {
  std::int64_t start = 0, length = 0;
};
std::vector<SegmentSpan> cut_segments(std::int64_t samples, double seconds, int sample_rate);

struct FeatureOptions {
  bool whole = true;             // rows of whole clips
  double segment_seconds = 0.0;  // > 0: also rows of segments of this length
  bool strict = false;           // a bad file is fatal (input error) instead of skipped
  int decode_threads = 0;        // 0: one decoder thread per 4 cores (at least 1)
  int chunk = 0;                 // clips per computed batch (0: 8 per cpu thread, 64 on cuda)
  double offset = 0.0;           // seconds skipped at the start of each file (librosa offset)
  double duration = -1.0;        // seconds read from each file (< 0: all)
  // Called after each finished chunk with (files done, files total); may be empty.
  std::function<void(std::size_t, std::size_t)> progress;
  // Called once per clip that gave a row, with its input index and samples, concurrently from the cpu
  // threads for the clips of a chunk (the log-mel outputs of `hmr features` use it); may be empty.
  std::function<void(std::size_t, std::span<const float>)> on_clip;
};

struct FeatureResult {
  std::vector<std::string> columns;      // feature_columns(p)
  Matrix rows;                           // [n_ok x columns] whole clips (options.whole)
  std::vector<std::size_t> index;        // input position of each row (bad files left out)
  std::vector<std::int64_t> length;      // samples of each clip at sample_rate (Kaggle "length")
  Matrix seg_rows;                       // [m x columns] segments, clip by clip (segment_seconds > 0)
  std::vector<std::int64_t> seg_of;      // [m] row (into `rows` / `index`) of each segment's clip
  std::vector<int> seg_number;           // [m] segment number within its clip (0, 1, ...)
  std::vector<std::int64_t> seg_length;  // [m] samples of each segment
  std::vector<SkippedFile> skipped;      // bad files, in input order
  double decode_wait_s = 0.0;            // time the computation waited for decoded files
  double compute_s = 0.0;                // time in the feature stages (and options.on_clip)
  FeatureTimings stages;                 // the stages' share of compute_s
  double total_s = 0.0;
};

// Decode (a DecodePool running ahead of the computation) + feature rows, chunk by chunk. Bad
// files (unreadable, or refused by a stage) are reported in `skipped` and left out, or thrown as
// an input error under options.strict. Results do not depend on the chunk size or thread count.
FeatureResult features_files(Backend& backend, const std::vector<std::filesystem::path>& paths,
                             const FeatureParams& p = {}, const FeatureOptions& options = {});

// ---- building blocks ----

// numpy mean and var (ddof 0) of values, accumulated in double (two passes, as numpy).
struct MeanVar {
  double mean = 0.0, var = 0.0;
};
MeanVar mean_var(std::span<const float> v);

}  // namespace hmr::audio
