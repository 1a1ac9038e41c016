// audio/mfcc_job.h — the whole `hmr mfcc` job as a library call (so apps stay thin and the
// end-to-end tests run it in-process): inputs (GTZAN folder, manifest CSV, audio files, or a
// Kaggle features CSV) -> MFCC summaries -> files in an output folder, each written atomically:
//   mfcc_summary.npy      float32 [n, 2 * n_mfcc], Kaggle order (mfcc1_mean, mfcc1_var, ...)
//   mfcc_features.csv     filename,length,mfcc1_mean,...,mfccN_var[,label] (Kaggle layout)
//   labels.npy            int32 [n] codes, label_names.txt (one per line) — labelled inputs only
//   frames (on request)   npy: frames/<row>_<id>.npy, [n_mfcc, n_frames] float32 per clip;
//                         ragged: mfcc_frames.npy [sum of frames, n_mfcc] + mfcc_frames_index.npy
//                         int64 [n + 1] (clip i = rows index[i] .. index[i+1])
//   mfcc_run.json         device, counts, skipped files with reasons, timings, files/s, parameters
#pragma once

#include <string>
#include <vector>

#include "audio/mfcc.h"
#include "core/backend.h"

namespace hmr::audio {

enum class FramesOutput { none, npy, ragged };
FramesOutput parse_frames_output(const std::string& s);  // "none" | "npy" | "ragged"

struct MfccJob {
  std::vector<std::string> inputs;     // one folder, one .csv (manifest or Kaggle features), or files
  std::string label_column;            // manifest label column ("" = "label" when present)
  std::string feature_regex = "mfcc";  // column selection for a Kaggle features CSV input
  MfccParams params;
  MfccOptions options;
  FramesOutput frames = FramesOutput::none;
  std::string out;  // output folder
};

struct MfccJobReport {
  std::string source;  // "gtzan", "manifest", "files" or "features-csv"
  std::size_t inputs = 0, processed = 0;
  std::vector<SkippedFile> skipped;
  double seconds = 0.0, files_per_s = 0.0, audio_seconds = 0.0;
  std::string device;
};

// Runs the job; input error (exit 2) when nothing could be processed, or on the first bad file
// under options.strict.
MfccJobReport run_mfcc_job(Backend& backend, const MfccJob& job);

}  // namespace hmr::audio
