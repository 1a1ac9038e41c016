// audio/mfcc_job.cpp — `hmr mfcc` as a library call: sources -> mfcc_files -> outputs (mfcc_job.h).
#include "audio/mfcc_job.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ostream>

#include "audio/job_output.h"
#include "audio/sources.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "io/atomic_file.h"
#include "io/npy.h"

namespace hmr::audio {

namespace fs = std::filesystem;

FramesOutput parse_frames_output(const std::string& s) {
  if (s == "none" || s.empty()) return FramesOutput::none;
  if (s == "npy") return FramesOutput::npy;
  if (s == "ragged") return FramesOutput::ragged;
  input_error("--frames {}: use none, npy or ragged", s);
}

namespace {

void write_outputs(const fs::path& out, const std::vector<std::string>& ids, const std::vector<std::int64_t>& length,
                   const Matrix& x, const std::vector<std::string>& columns, const std::vector<std::int32_t>& labels,
                   const std::vector<std::string>& label_names) {
  io::write_npy(out / "mfcc_summary.npy", x);
  std::vector<std::string> label_of;
  for (std::int32_t l : labels) label_of.push_back(label_names[static_cast<std::size_t>(l)]);
  write_rows_csv(out / "mfcc_features.csv", columns, x, ids, length, label_of);
  if (!labels.empty()) {
    io::write_npy(out / "labels.npy", labels);
    io::write_atomically(out / "label_names.txt", [&](std::ostream& os) {
      for (const auto& n : label_names) os << n << '\n';
    });
  }
}

}  // namespace

MfccJobReport run_mfcc_job(Backend& backend, const MfccJob& job) {
  HMR_REQUIRE(!job.out.empty(), "mfcc: --out DIR is required");
  check_params(job.params);
  const fs::path out(job.out);
  Stopwatch total;
  MfccJobReport rep;
  rep.device = backend.name();
  nlohmann::json run;
  run["device"] = backend.name();
  run["backend"] = backend.description();

  // A Kaggle features CSV: the summaries are already computed; select and re-emit them.
  if (job.inputs.size() == 1 && fs::path(job.inputs[0]).extension() == ".csv" && is_features_csv(job.inputs[0])) {
    const FeatureTable ft = read_features_csv(job.inputs[0], job.feature_regex, "label", "filename");
    io::ensure_output_dir(out);
    std::vector<std::int64_t> length(ft.ids.size(), 0);
    write_outputs(out, ft.ids, length, ft.features, ft.columns, ft.labels, ft.label_names);
    rep.source = "features-csv";
    rep.inputs = rep.processed = ft.ids.size();
    rep.seconds = total.seconds();
    rep.files_per_s = rep.seconds > 0 ? static_cast<double>(rep.processed) / rep.seconds : 0.0;
    run["source"] = rep.source;
    run["rows"] = rep.processed;
    run["columns"] = ft.columns;
    io::write_atomically(out / "mfcc_run.json", [&](std::ostream& os) { os << run.dump(2) << '\n'; });
    return rep;
  }

  const AudioSet set = open_audio_inputs(job.inputs, job.label_column);
  io::ensure_output_dir(out);
  rep.source = set.kind;
  rep.inputs = set.size();
  MfccOptions opt = job.options;
  opt.keep_frames = job.frames != FramesOutput::none;
  const MfccResult r = mfcc_files(backend, set.paths, job.params, opt);
  rep.processed = r.index.size();
  rep.skipped = r.skipped;
  require_some_processed("mfcc", rep.processed, set.size(), r.skipped);

  std::vector<std::string> ids;
  std::vector<std::int32_t> labels;
  for (std::size_t i : r.index) {
    ids.push_back(set.ids[i]);
    if (set.labelled()) labels.push_back(set.labels[i]);
  }
  rep.audio_seconds = audio_seconds(r.length, job.params.sample_rate);
  write_outputs(out, ids, r.length, r.summaries, summary_columns(job.params.n_mfcc), labels, set.label_names);

  if (job.frames == FramesOutput::npy) {
    const fs::path dir = out / "frames";
    io::ensure_output_dir(dir);
    for (std::size_t row = 0; row < r.frames.size(); ++row)
      io::write_npy(dir / fmt::format("{:05d}_{}.npy", row, safe_stem(ids[row])), r.frames[row]);
  } else if (job.frames == FramesOutput::ragged) {
    std::vector<std::int64_t> index{0};
    for (const auto& f : r.frames) index.push_back(index.back() + f.cols());
    Matrix all(index.back(), job.params.n_mfcc);
    for (std::size_t row = 0; row < r.frames.size(); ++row)
      for (std::int64_t f = 0; f < r.frames[row].cols(); ++f)
        for (int k = 0; k < job.params.n_mfcc; ++k) all(index[row] + f, k) = r.frames[row](k, f);
    io::write_npy(out / "mfcc_frames.npy", all);
    io::write_npy(out / "mfcc_frames_index.npy", index);
  }

  rep.seconds = total.seconds();
  rep.files_per_s = rep.seconds > 0 ? static_cast<double>(rep.processed) / rep.seconds : 0.0;
  run["source"] = rep.source;
  run["inputs"] = rep.inputs;
  run["processed"] = rep.processed;
  run["skipped"] = nlohmann::json::array();
  for (const auto& s : r.skipped) run["skipped"].push_back({{"path", s.path}, {"reason", s.reason}});
  run["timings_s"] = {
      {"decode_wait", r.decode_s}, {"compute", r.compute_s}, {"mfcc", r.total_s}, {"total", rep.seconds}};
  run["files_per_s"] = rep.files_per_s;
  run["audio_seconds"] = rep.audio_seconds;
  const MfccParams& p = job.params;
  run["params"] = {{"sr", p.sample_rate},
                   {"n_fft", p.n_fft},
                   {"hop_length", p.hop_length},
                   {"win_length", p.win_length > 0 ? p.win_length : p.n_fft},
                   {"center", p.center},
                   {"power", p.power},
                   {"n_mels", p.n_mels},
                   {"fmin", p.fmin},
                   {"fmax", p.fmax > 0 ? p.fmax : p.sample_rate / 2.0},
                   {"htk", p.htk},
                   {"norm", p.slaney_norm ? "slaney" : "none"},
                   {"ref", p.ref},
                   {"amin", p.amin},
                   {"top_db", p.top_db},
                   {"n_mfcc", p.n_mfcc},
                   {"lifter", p.lifter},
                   {"offset", job.options.offset},
                   {"duration", job.options.duration}};
  io::write_atomically(out / "mfcc_run.json", [&](std::ostream& os) { os << run.dump(2) << '\n'; });
  return rep;
}

}  // namespace hmr::audio
