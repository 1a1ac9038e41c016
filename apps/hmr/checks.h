// checks.h — range checks for the options of every subcommand (CLI11 validators). A value out of
// range is refused while the command line is parsed, before any file is read, with one line that
// names the option, the valid range and the value: "--epochs: must be an integer in [1, 1000000]
// (got 0)" (exit code 2, like every parse error).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>

namespace hmr::app {

// An integer (no fraction, no exponent) in [lo, hi].
CLI::Validator int_range(std::int64_t lo, std::int64_t hi = std::numeric_limits<int>::max());
// A finite number between lo and hi; each end open or closed; hi = infinity leaves it unbounded.
CLI::Validator real_range(double lo, bool lo_open, double hi = std::numeric_limits<double>::infinity(),
                          bool hi_open = false);
// --seed: an integer in [0, 2^64 - 1] (a negative value would wrap, a float would be clamped).
CLI::Validator seed_value();

// --plot: a path ending in .png (any case), the format the scatter plot writes (an SVG goes
// beside it); x.jpg would get PNG bytes under a JPEG name.
CLI::Validator png_path();

}  // namespace hmr::app
