// core/progress.h — progress of long loops (VAE epochs, t-SNE iterations, MFCC files) with rate
// and ETA on stderr. Rate = units done / seconds since the loop started (an average, so one slow
// epoch does not swing the ETA); ETA = units left / rate.
//   bar    stderr is a terminal: one line redrawn in place (at most 10 times a second)
//   lines  stderr is a pipe, a log file or a notebook: a plain line at the start, then one every
//          5 s, then one at the end, so a log shows something within seconds of each stage and
//          never fills with carriage returns
//   off    -q, or HMR_PROGRESS=off
// HMR_PROGRESS=bar|lines|off overrides the choice. A reporter only prints what it is told: it
// never touches the loop's data, so progress cannot change a numeric result.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace hmr {

struct ProgressSink {
  enum class Style { off, bar, lines };
  Style style = Style::off;
  std::function<void(std::string_view)> write;  // whole pieces of text (a line, or a bar redraw)
  std::function<double()> clock;                // monotonic seconds
  double line_interval_s = 5.0;                 // lines: seconds between two reports
  double bar_interval_s = 0.1;                  // bar: seconds between two redraws
  // The start line (or empty bar) at construction. A command that still checks its input inside
  // the loop's function sets false, so bad input stays one error line; the first update() then
  // writes it.
  bool start_at_once = true;

  // stderr, the steady clock, and the style from -q, HMR_PROGRESS and isatty(stderr).
  static ProgressSink standard();
};

// "0.4s", "42s", "3m05s", "1h02m": short enough for a bar, exact enough for an ETA.
std::string format_duration(double seconds);

class Progress {
 public:
  // unit: singular ("epoch", "file", "iteration"); the plural adds an "s".
  Progress(std::string label, std::int64_t total, std::string unit = "step",
           ProgressSink sink = ProgressSink::standard());
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void update(std::int64_t done, const std::string& status = {});
  void finish(const std::string& status = {});
  bool active() const { return sink_.style != ProgressSink::Style::off; }

 private:
  std::string counts(std::int64_t done) const;
  std::string rate(std::int64_t done, double elapsed) const;
  std::string rate_and_eta(std::int64_t done, double elapsed) const;
  void draw_bar(std::int64_t done, double elapsed, const std::string& status);
  void write_line(const std::string& text);
  void announce();

  std::string label_;
  std::int64_t total_;
  std::string unit_;
  ProgressSink sink_;
  double start_;
  double last_report_;
  std::int64_t done_ = 0;
  bool finished_ = false;
  bool announced_ = false;
};

}  // namespace hmr
