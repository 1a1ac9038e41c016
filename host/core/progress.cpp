// core/progress.cpp — the bar / plain-line progress reporter of core/progress.h.
#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/log.h"

namespace hmr {

ProgressSink ProgressSink::standard() {
  ProgressSink s;
  s.style = isatty(STDERR_FILENO) ? Style::bar : Style::lines;
  if (const char* e = std::getenv("HMR_PROGRESS")) {
    if (std::strcmp(e, "bar") == 0) s.style = Style::bar;
    if (std::strcmp(e, "lines") == 0) s.style = Style::lines;
    if (std::strcmp(e, "off") == 0) s.style = Style::off;
  }
  if (quiet()) s.style = Style::off;  // -q wins over the environment
  s.write = [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stderr);
    std::fflush(stderr);
  };
  s.clock = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
  return s;
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 10) return fmt::format("{:.1f}s", s);
  const auto t = static_cast<long long>(std::llround(s));
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
}

Progress::Progress(std::string label, std::int64_t total, std::string unit, ProgressSink sink)
    : label_(std::move(label)),
      total_(std::max<std::int64_t>(total, 1)),
      unit_(std::move(unit)),
      sink_(std::move(sink)) {
  if (!sink_.write || !sink_.clock) sink_.style = ProgressSink::Style::off;
  start_ = active() ? sink_.clock() : 0.0;
  last_report_ = start_;
  if (sink_.start_at_once) announce();
}

void Progress::announce() {
  if (announced_ || !active()) return;
  announced_ = true;
  // A plain line at once: a log shows that the stage began even when it ends in an hour.
  if (sink_.style == ProgressSink::Style::lines)
    write_line(fmt::format("started, {} {}s", total_, unit_));
  else
    draw_bar(0, 0.0, {});
}

Progress::~Progress() {
  // Left without finish() (an exception): end the bar's line so the error starts on its own.
  if (sink_.style == ProgressSink::Style::bar && announced_ && !finished_) sink_.write("\n");
}

std::string Progress::counts(std::int64_t done) const { return fmt::format("{}/{} {}s", done, total_, unit_); }

std::string Progress::rate(std::int64_t done, double elapsed) const {
  if (done <= 0 || elapsed <= 0) return "? " + unit_ + "s/s";
  const double r = static_cast<double>(done) / elapsed;
  // Slow loops read better as seconds per unit ("2.5 s/epoch") than as "0.4 epochs/s".
  if (r >= 100.0) return fmt::format("{:.0f} {}s/s", r, unit_);  // "1770", not "1.77e+03"
  return r >= 1.0 ? fmt::format("{:.3g} {}s/s", r, unit_) : fmt::format("{:.3g} s/{}", 1.0 / r, unit_);
}

std::string Progress::rate_and_eta(std::int64_t done, double elapsed) const {
  if (done <= 0 || elapsed <= 0) return "ETA ?";
  if (done >= total_) return rate(done, elapsed);
  const double per_unit = elapsed / static_cast<double>(done);
  return fmt::format("{}, ETA {}", rate(done, elapsed), format_duration(static_cast<double>(total_ - done) * per_unit));
}

void Progress::write_line(const std::string& text) { sink_.write(fmt::format("hmr: {}: {}\n", label_, text)); }

void Progress::draw_bar(std::int64_t done, double elapsed, const std::string& status) {
  constexpr int width = 24;
  const double frac = std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0);
  std::string bar(static_cast<std::size_t>(frac * width), '#');
  bar.resize(width, '.');
  sink_.write(fmt::format("\r{} [{}] {} {} {}{}{}\033[K", label_, bar, counts(done), format_duration(elapsed),
                          rate_and_eta(done, elapsed), status.empty() ? "" : " ", status));
}

void Progress::update(std::int64_t done, const std::string& status) {
  if (!active() || finished_) return;
  announce();
  done_ = done;
  const double now = sink_.clock();
  const double elapsed = now - start_;
  if (sink_.style == ProgressSink::Style::bar) {
    if (now - last_report_ < sink_.bar_interval_s && done < total_) return;
    last_report_ = now;
    draw_bar(done, elapsed, status);
    return;
  }
  if (now - last_report_ < sink_.line_interval_s) return;
  last_report_ = now;
  const int pct =
      static_cast<int>(100.0 * std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0));
  write_line(fmt::format("{} ({}%), {} elapsed, {}{}{}", counts(done), pct, format_duration(elapsed),
                         rate_and_eta(done, elapsed), status.empty() ? "" : "; ", status));
}

void Progress::finish(const std::string& status) {
  if (!active() || finished_) return;
  announce();
  finished_ = true;
  const double elapsed = sink_.clock() - start_;
  // A loop that stopped early (early stopping) reports what it did, not the planned total.
  const std::int64_t done = done_ > 0 ? done_ : total_;
  if (sink_.style == ProgressSink::Style::bar) {
    draw_bar(done, elapsed, status);
    sink_.write("\n");
    return;
  }
  write_line(fmt::format("done, {} in {} ({}){}{}", counts(done), format_duration(elapsed), rate(done, elapsed),
                         status.empty() ? "" : "; ", status));
}

}  // namespace hmr
