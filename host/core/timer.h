// core/timer.h — wall-clock stage timers. A ScopedStage opens an NVTX range of the same name,
// logs the stage at debug level and records its duration in a StageTimings table, which the
// experiments write into metrics.json ("timings_s").
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "core/nvtx.h"

namespace hmr {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  void reset() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

class StageTimings {
 public:
  void add(const std::string& stage, double seconds);  // accumulates repeated stages
  const std::vector<std::pair<std::string, double>>& items() const { return items_; }
  double total() const;

 private:
  std::vector<std::pair<std::string, double>> items_;
};

class ScopedStage {
 public:
  ScopedStage(StageTimings* timings, std::string name);
  ~ScopedStage();
  ScopedStage(const ScopedStage&) = delete;
  ScopedStage& operator=(const ScopedStage&) = delete;

 private:
  StageTimings* timings_;
  std::string name_;
  NvtxRange range_;
  Stopwatch watch_;
};

}  // namespace hmr
