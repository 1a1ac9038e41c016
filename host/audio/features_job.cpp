// audio/features_job.cpp — `hmr features` as a library call: sources -> features_files -> the
// Kaggle-layout CSVs, log-mel arrays and features_run.json (features_job.h).
#include "audio/features_job.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <ostream>

#include "audio/job_output.h"
#include "audio/mfcc.h"
#include "audio/sources.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "io/atomic_file.h"
#include "io/npy.h"

namespace hmr::audio {

namespace fs = std::filesystem;

std::string segment_csv_name(double seconds) { return fmt::format("features_{:g}_sec.csv", seconds); }

namespace {

// Kaggle's 3 s file names: blues.00000.wav, segment 3 -> blues.00000.3.wav (the extension of the
// id kept; an id without one gets ".<k>").
std::string segment_id(const std::string& id, int k) {
  const auto slash = id.find_last_of('/');
  const auto dot = id.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == 0)
    return fmt::format("{}.{}", id, k);
  return fmt::format("{}.{}{}", id.substr(0, dot), k, id.substr(dot));
}

// librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr)) with its defaults (ref 1.0,
// amin 1e-10, top_db 80 below the array's own peak), float32 [n_mels x frames].
Matrix log_mel(std::span<const float> y, const MfccParams& mp) {
  Matrix m = melspectrogram_cpu(y, mp);
  float peak = -std::numeric_limits<float>::infinity();
  for (float& v : m.vec()) {
    v = static_cast<float>(10.0 * std::log10(std::max(1e-10, static_cast<double>(v))));
    peak = std::max(peak, v);
  }
  for (float& v : m.vec()) v = std::max(v, peak - 80.0f);
  return m;
}

}  // namespace

FeaturesJobReport run_features_job(Backend& backend, const FeaturesJob& job) {
  HMR_REQUIRE(!job.out.empty(), "features: --out DIR is required");
  check_params(job.params);
  const fs::path out(job.out);
  Stopwatch total;
  FeaturesJobReport rep;
  rep.device = backend.name();

  const AudioSet set = open_audio_inputs(job.inputs, job.label_column);
  HMR_REQUIRE(set.size() > 0, "features: no audio files in the input(s)");
  io::ensure_output_dir(out);
  rep.source = set.kind;
  rep.inputs = set.size();

  FeatureOptions opt = job.options;
  const MfccParams mp = mfcc_params(job.params);
  const bool segmented = opt.segment_seconds > 0.0;
  if (job.logmel) {
    io::ensure_output_dir(out / "logmel");
    opt.on_clip = [&](std::size_t i, std::span<const float> y) {
      // Named by input position (stable whatever is skipped) and the clip's id.
      const std::string base = fmt::format("{:05d}_{}", i, safe_stem(set.ids[i]));
      io::write_npy(out / "logmel" / (base + ".npy"), log_mel(y, mp));
      if (!segmented) return;
      const auto segs = cut_segments(static_cast<std::int64_t>(y.size()), opt.segment_seconds, mp.sample_rate);
      std::vector<float> all;
      std::int64_t frames = 0;
      for (const auto& s : segs) {
        const Matrix m = log_mel(y.subspan(static_cast<std::size_t>(s.start), static_cast<std::size_t>(s.length)), mp);
        frames = m.cols();
        all.insert(all.end(), m.vec().begin(), m.vec().end());
      }
      io::write_npy_raw(out / "logmel" / (base + "_segments.npy"), "f4",
                        {static_cast<std::int64_t>(segs.size()), mp.n_mels, frames}, all.data(),
                        all.size() * sizeof(float));
    };
  }
  const FeatureResult r = features_files(backend, set.paths, job.params, opt);
  rep.processed = r.index.size();
  rep.segments = static_cast<std::size_t>(r.seg_rows.rows());
  rep.skipped = r.skipped;
  require_some_processed("features", rep.processed, set.size(), r.skipped);

  std::vector<std::string> ids, labels;
  for (std::size_t i : r.index) {
    ids.push_back(set.ids[i]);
    if (set.labelled()) labels.push_back(set.label_names[static_cast<std::size_t>(set.labels[i])]);
  }
  rep.audio_seconds = audio_seconds(r.length, job.params.sample_rate);
  if (opt.whole) {
    write_rows_csv(out / "features_30_sec.csv", r.columns, r.rows, ids, r.length, labels);
    rep.written.push_back("features_30_sec.csv");
  }
  if (segmented) {
    std::vector<std::string> sids, slabels;
    for (std::size_t s = 0; s < r.seg_of.size(); ++s) {
      const auto row = static_cast<std::size_t>(r.seg_of[s]);
      sids.push_back(segment_id(ids[row], r.seg_number[s]));
      if (!labels.empty()) slabels.push_back(labels[row]);
    }
    const std::string name = segment_csv_name(opt.segment_seconds);
    write_rows_csv(out / name, r.columns, r.seg_rows, sids, r.seg_length, slabels);
    rep.written.push_back(name);
  }

  rep.seconds = total.seconds();
  rep.files_per_s = rep.seconds > 0 ? static_cast<double>(rep.processed) / rep.seconds : 0.0;
  nlohmann::ordered_json run;
  run["device"] = backend.name();
  run["backend"] = backend.description();
  run["source"] = rep.source;
  run["inputs"] = rep.inputs;
  run["processed"] = rep.processed;
  run["segments"] = rep.segments;
  run["outputs"] = rep.written;
  run["columns"] = r.columns;
  run["skipped"] = nlohmann::json::array();
  for (const auto& s : r.skipped) run["skipped"].push_back({{"path", s.path}, {"reason", s.reason}});
  run["timings_s"] = {{"decode_wait", r.decode_wait_s}, {"compute", r.compute_s},  {"hpss", r.stages.hpss},
                      {"spectral", r.stages.spectral},  {"tempo", r.stages.tempo}, {"mfcc", r.stages.mfcc},
                      {"features", r.total_s},          {"total", rep.seconds}};
  run["files_per_s"] = rep.files_per_s;
  run["audio_seconds"] = rep.audio_seconds;
  const FeatureParams& p = job.params;
  run["params"] = {{"sr", p.sample_rate},
                   {"n_fft", p.n_fft},
                   {"hop_length", p.hop_length},
                   {"n_mels", p.n_mels},
                   {"n_mfcc", p.n_mfcc},
                   {"deltas", p.deltas},
                   {"delta_width", 9},
                   {"contrast", p.contrast},
                   {"n_bands", p.n_bands},
                   {"segment_seconds", opt.segment_seconds},
                   {"segment_samples", segmented ? std::llround(opt.segment_seconds * p.sample_rate) : 0},
                   {"logmel", job.logmel},
                   {"offset", opt.offset},
                   {"duration", opt.duration},
                   {"hpss", {{"kernel_size", 31}, {"power", 2.0}, {"margin", 1.0}}},
                   {"tempo", {{"start_bpm", 120.0}, {"std_bpm", 1.0}, {"ac_size", 8.0}, {"max_tempo", 320.0}}}};
  io::write_atomically(out / "features_run.json", [&](std::ostream& os) { os << run.dump(2) << '\n'; });
  return rep;
}

}  // namespace hmr::audio
