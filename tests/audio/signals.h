// audio/signals.h — the synthetic test signals of tests/fixtures/gen_audio.py, reproduced bit for
// bit: sines evaluated in double and cast to float32, white noise from xorshift64* whose values
// (top 24 bits / 2^24 - 0.5) are exact in float32.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

namespace hmr::test::audio {

constexpr int kSr = 22050;

inline std::vector<double> xorshift_uniform(std::size_t n, std::uint64_t seed) {
  std::vector<double> v(n);
  std::uint64_t s = seed;
  for (auto& x : v) {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    const std::uint64_t r = s * 0x2545F4914F6CDD1DULL;
    x = static_cast<double>(r >> 40) * (1.0 / 16777216.0) - 0.5;
  }
  return v;
}

inline std::vector<float> noise(std::size_t n, std::uint64_t seed) {
  const auto u = xorshift_uniform(n, seed);
  return {u.begin(), u.end()};
}

inline std::vector<double> tone(std::size_t n, double sr, double f, double a) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a * std::sin(2 * std::numbers::pi * f * (static_cast<double>(i) / sr));
  return v;
}

inline std::vector<float> sweep(std::size_t n, double sr) {
  std::vector<float> y(n);
  const double T = static_cast<double>(n) / sr;
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / sr;
    y[i] = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * (100.0 * t + (8000.0 - 100.0) * t * t / (2 * T))));
  }
  return y;
}

// The named mono signals at 22050 Hz: sweep, noise, silence, impulse, short.
inline std::vector<float> signal(const std::string& name) {
  if (name == "sweep") return sweep(2 * kSr, kSr);
  if (name == "noise") return noise(static_cast<std::size_t>(1.5 * kSr), 7);
  if (name == "silence") return std::vector<float>(kSr, 0.0f);
  if (name == "impulse") {
    std::vector<float> y(kSr, 0.0f);
    y[kSr / 2] = 1.0f;
    return y;
  }
  if (name == "short") {
    const auto t = tone(1000, kSr, 880.0, 0.3);
    const auto u = xorshift_uniform(1000, 11);
    std::vector<float> y(1000);
    for (std::size_t i = 0; i < y.size(); ++i)
      y[i] = static_cast<float>(t[i] + 0.1 * static_cast<double>(static_cast<float>(u[i])));
    return y;
  }
  return {};
}

// The 44.1 kHz stereo signal, interleaved [frames][2].
inline std::vector<float> stereo44k() {
  const std::size_t n = 44100;
  const auto l = tone(n, 44100, 440.0, 0.4), r = tone(n, 44100, 1234.5, 0.3);
  const auto nl = xorshift_uniform(n, 21), nr = xorshift_uniform(n, 22);
  std::vector<float> y(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    y[2 * i] = static_cast<float>(l[i] + 0.2 * static_cast<double>(static_cast<float>(nl[i])));
    y[2 * i + 1] = static_cast<float>(r[i] + 0.2 * static_cast<double>(static_cast<float>(nr[i])));
  }
  return y;
}

}  // namespace hmr::test::audio
