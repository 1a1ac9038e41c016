// support/wav.h — writes a mono 16-bit PCM WAV file (RIFF header + samples) so a test can build
// its own GTZAN-layout folder without sox, espeak-ng or libsndfile in the test target. The tone is
// a sine of `hz` (a different frequency per genre makes genres that MFCCs tell apart).
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>

namespace hmr::test {

inline void write_tone_wav(const std::filesystem::path& p, double hz, double seconds = 1.0, int sr = 22050) {
  std::filesystem::create_directories(p.parent_path());
  const auto n = static_cast<std::uint32_t>(seconds * sr);
  std::ofstream f(p, std::ios::binary);
  // Little-endian fields, as RIFF requires (every machine hmr builds on is little-endian, but the
  // bytes are written one by one so the file does not depend on it).
  const auto u32 = [&](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) f.put(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  const auto u16 = [&](std::uint16_t v) {
    f.put(static_cast<char>(v & 0xFF));
    f.put(static_cast<char>(v >> 8));
  };
  f << "RIFF";
  u32(36 + 2 * n);
  f << "WAVEfmt ";
  u32(16);
  u16(1);  // PCM
  u16(1);  // mono
  u32(static_cast<std::uint32_t>(sr));
  u32(static_cast<std::uint32_t>(2 * sr));
  u16(2);
  u16(16);
  f << "data";
  u32(2 * n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const double s = 0.5 * std::sin(2.0 * std::numbers::pi * hz * i / sr);
    u16(static_cast<std::uint16_t>(static_cast<std::int16_t>(std::lround(s * 32767.0))));
  }
}

}  // namespace hmr::test
