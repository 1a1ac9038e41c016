// checks.cpp — the option validators of checks.h. Each parses the option's text itself, so a
// value CLI11 would convert with a surprise (-1 into an unsigned, 1e20 clamped, 2.5 truncated) is
// refused with the range it should lie in.
#include "checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace hmr::app {

namespace {

std::string interval(double lo, bool lo_open, double hi, bool hi_open) {
  if (std::isinf(hi)) return fmt::format("{} {:g}", lo_open ? ">" : ">=", lo);
  return fmt::format("in {}{:g}, {:g}{}", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
}

}  // namespace

CLI::Validator int_range(std::int64_t lo, std::int64_t hi) {
  const std::string range =
      hi == std::numeric_limits<int>::max() ? fmt::format(">= {}", lo) : fmt::format("in [{}, {}]", lo, hi);
  return CLI::Validator(
      [lo, hi, range](std::string& s) -> std::string {
        std::int64_t v = 0;
        const char* end = s.data() + s.size();
        const auto [p, ec] = std::from_chars(s.data(), end, v);
        if (s.empty() || ec != std::errc() || p != end || v < lo || v > hi)
          return fmt::format("must be an integer {} (got '{}')", range, s);
        return {};
      },
      "INT " + range);
}

CLI::Validator real_range(double lo, bool lo_open, double hi, bool hi_open) {
  const std::string range = interval(lo, lo_open, hi, hi_open);
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = s.empty() ? NAN : std::strtod(s.c_str(), &end);
        const bool parsed = !s.empty() && end == s.c_str() + s.size() && std::isfinite(v);
        const bool ok = parsed && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
        if (!ok) return fmt::format("must be a finite number {} (got '{}')", range, s);
        return {};
      },
      "NUMBER " + range);
}

CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::uint64_t v = 0;
        const char* end = s.data() + s.size();
        const auto [p, ec] = std::from_chars(s.data(), end, v);
        if (s.empty() || ec != std::errc() || p != end)
          return fmt::format("must be an integer in [0, 18446744073709551615] (got '{}')", s);
        return {};
      },
      "UINT64");
}

CLI::Validator png_path() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::string ext = std::filesystem::path(s).extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
        if (ext != ".png")
          return fmt::format("must end in .png: the plot is written as PNG, with an SVG beside it (got '{}')", s);
        return {};
      },
      "FILE.png");
}

}  // namespace hmr::app
