// audio_cli.h — what `hmr mfcc` and `hmr features` share on the command line: the audio inputs
// and --label-column, librosa's load flags (--offset, --duration) and the STFT/mel flags of
// librosa.feature.mfcc (--sr, --n-mfcc, --n-mels, --n-fft, --hop-length), the --duration check,
// the per-file progress bar and the report lines. Templates over the two jobs' option and
// parameter structs (audio/mfcc.h, audio/features.h), which name these fields alike.
#pragma once

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "checks.h"
#include "core/error.h"
#include "core/progress.h"

namespace hmr::app {

inline void add_audio_inputs(CLI::App& sub, std::vector<std::string>& inputs, const std::string& help,
                             std::string& label_column) {
  sub.add_option("inputs", inputs, help)->required();
  sub.add_option("--label-column", label_column, "manifest column holding the label (default: 'label' if any)");
}

// The help of the flags whose meaning depends on the command.
struct LibrosaFlagHelp {
  std::string n_mels, n_fft, hop_length;
};

template <class Options, class Params>
void add_librosa_flags(CLI::App& sub, Options& o, Params& p, const LibrosaFlagHelp& help) {
  sub.add_option("--offset", o.offset, "seconds skipped at the start of each file (librosa offset)")
      ->check(real_range(0, false))
      ->capture_default_str();
  sub.add_option("--duration", o.duration, "seconds read from each file (librosa duration; < 0 = all)")
      ->capture_default_str();
  sub.add_option("--sr,--sample-rate", p.sample_rate, "target sample rate (soxr HQ resampling)")
      ->check(int_range(1000, 768000))
      ->capture_default_str();
  sub.add_option("--n-mfcc", p.n_mfcc, "MFCC coefficients (<= n_mels)")
      ->check(int_range(1, 4096))
      ->capture_default_str();
  sub.add_option("--n-mels", p.n_mels, help.n_mels)->check(int_range(1, 4096))->capture_default_str();
  sub.add_option("--n-fft", p.n_fft, help.n_fft)->check(int_range(2, 65536))->capture_default_str();
  sub.add_option("--hop-length", p.hop_length, help.hop_length)->check(int_range(1, 65536))->capture_default_str();
}

// --duration 0 would read nothing from every file; NaN passes CLI11's number parsing.
inline void check_duration(double duration) {
  HMR_REQUIRE(duration != 0.0 && std::isfinite(duration),
              "--duration: must be > 0 seconds, or < 0 for whole files (got {})", duration);
}

// A per-file progress bar, started at the first report (the total is known only once the inputs
// are listed).
class FileProgress {
 public:
  explicit FileProgress(std::string label) : label_(std::move(label)) {}
  std::function<void(std::size_t, std::size_t)> callback() {
    return [this](std::size_t done, std::size_t total) {
      if (!bar_) bar_ = std::make_unique<Progress>(label_, static_cast<std::int64_t>(total), "file");
      bar_->update(static_cast<std::int64_t>(done));
    };
  }
  void finish() {
    if (bar_) bar_->finish();
  }

 private:
  std::string label_;
  std::unique_ptr<Progress> bar_;
};

// "<cmd>: N of M files (<source> source), ... files/s on <backend>" of a job report.
template <class Report>
void print_files_line(const char* cmd, const Report& r, const std::string& backend) {
  std::printf("%s: %zu of %zu files (%s source), %.1f s of audio in %.2f s: %.1f files/s on %s\n", cmd, r.processed,
              r.inputs, r.source.c_str(), r.audio_seconds, r.seconds, r.files_per_s, backend.c_str());
}

template <class Report>
void print_skipped(const Report& r) {
  if (r.skipped.empty()) return;
  std::printf("skipped %zu file(s):\n", r.skipped.size());
  for (const auto& s : r.skipped) std::printf("  %s\n", s.reason.c_str());
}

}  // namespace hmr::app
