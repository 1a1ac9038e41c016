#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/log.h"

namespace hmr {

Progress::Progress(std::string label, std::int64_t total)
    : label_(std::move(label)), total_(std::max<std::int64_t>(total, 1)), active_(isatty(2) && !quiet()) {}

Progress::~Progress() {
  if (active_ && !finished_) std::fputc('\n', stderr);
}

void Progress::update(std::int64_t done, const std::string& status) {
  if (!active_) return;
  const double now = watch_.seconds();
  if (done < total_ && now - last_draw_ < 0.1) return;  // redraw at most 10 times a second
  last_draw_ = now;
  draw(done, status);
}

void Progress::finish(const std::string& status) {
  if (!active_ || finished_) return;
  draw(total_, status);
  std::fputc('\n', stderr);
  finished_ = true;
}

void Progress::draw(std::int64_t done, const std::string& status) {
  constexpr int width = 30;
  const double frac = std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0);
  const int fill = static_cast<int>(frac * width);
  std::string bar(static_cast<std::size_t>(fill), '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %.1fs %s\033[K", label_.c_str(), bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total_), watch_.seconds(), status.c_str());
  std::fflush(stderr);
}

}  // namespace hmr
