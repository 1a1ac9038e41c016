// core/progress.h — a one-line progress bar on stderr for long loops (training epochs, t-SNE
// iterations). It draws only when stderr is a terminal and logging is not quiet, so logs and CI
// output stay clean.
#pragma once

#include <cstdint>
#include <string>

#include "core/timer.h"

namespace hmr {

class Progress {
 public:
  Progress(std::string label, std::int64_t total);
  ~Progress();
  void update(std::int64_t done, const std::string& status = {});
  void finish(const std::string& status = {});
  bool active() const { return active_; }

 private:
  void draw(std::int64_t done, const std::string& status);
  std::string label_;
  std::int64_t total_;
  bool active_;
  bool finished_ = false;
  Stopwatch watch_;
  double last_draw_ = -1.0;
};

}  // namespace hmr
