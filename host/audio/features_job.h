// audio/features_job.h — the whole `hmr features` job as a library call (apps stay thin; the
// end-to-end tests run it in-process): audio inputs (GTZAN folder, manifest CSV, files) -> the
// Kaggle feature table (audio/features.h) -> files in an output folder, each written atomically:
//   features_30_sec.csv   filename,length,chroma_stft_mean,...,mfcc20_var[,extras][,label], one row
//                         per clip (Kaggle's name, whatever the clips' length)
//   features_<S>_sec.csv  with segment_seconds = S > 0: one row per segment, filename
//                         <stem>.<k><ext> (blues.00000.3.wav), length = the segment's samples
//   logmel/<row>_<stem>.npy  (logmel) float32 [n_mels, frames] power_to_db(melspectrogram(y))
//                         (ref 1, amin 1e-10, top_db 80) per clip; with segments also
//                         <row>_<stem>_segments.npy float32 [n_segments, n_mels, frames] (the patches)
//   features_run.json     device, counts, skipped files with reasons, timings, files/s, parameters
#pragma once

#include <string>
#include <vector>

#include "audio/features.h"
#include "core/backend.h"

namespace hmr::audio {

struct FeaturesJob {
  std::vector<std::string> inputs;  // one folder, one manifest .csv, or audio files
  std::string label_column;         // manifest label column ("" = "label" when present)
  FeatureParams params;
  FeatureOptions options;
  bool logmel = false;  // write the log-mel outputs
  std::string out;      // output folder (already checked and staged by the caller)
};

struct FeaturesJobReport {
  std::string source;  // "gtzan", "manifest" or "files"
  std::size_t inputs = 0, processed = 0, segments = 0;
  std::vector<SkippedFile> skipped;
  double seconds = 0.0, files_per_s = 0.0, audio_seconds = 0.0;
  std::string device;
  std::vector<std::string> written;  // file names written into out
};

// The segment CSV's name for `seconds` (3 -> features_3_sec.csv, 1.5 -> features_1.5_sec.csv).
std::string segment_csv_name(double seconds);

// Runs the job; input error (exit 2) when nothing could be processed, or on the first bad file
// under options.strict.
FeaturesJobReport run_features_job(Backend& backend, const FeaturesJob& job);

}  // namespace hmr::audio
