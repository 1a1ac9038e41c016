#include "core/timer.h"

#include <spdlog/spdlog.h>

namespace hmr {

void StageTimings::add(const std::string& stage, double seconds) {
  for (auto& [name, s] : items_)
    if (name == stage) {
      s += seconds;
      return;
    }
  items_.emplace_back(stage, seconds);
}

double StageTimings::total() const {
  double t = 0;
  for (const auto& item : items_) t += item.second;
  return t;
}

ScopedStage::ScopedStage(StageTimings* timings, std::string name)
    : timings_(timings), name_(std::move(name)), range_(name_.c_str()) {
  spdlog::debug("stage {} ...", name_);
}

ScopedStage::~ScopedStage() {
  const double s = watch_.seconds();
  if (timings_) timings_->add(name_, s);
  spdlog::debug("stage {} done in {:.3f} s", name_, s);
}

}  // namespace hmr
