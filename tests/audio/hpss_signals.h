// audio/hpss_signals.h — the synthetic signals of tests/fixtures/gen_hpss.py, reproduced: click
// tracks (decaying 1 kHz bursts at integer sample onsets (k 60 sr) / bpm), tones plus clicks, and
// signals.h's noise and short clip; double precision cast to float32, as the generator does.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "signals.h"
#include "support/compare.h"

namespace hmr::test::audio {

inline void add_clicks(std::vector<double>& y, int bpm) {
  std::vector<double> burst(441);
  for (int n = 0; n < 441; ++n)
    burst[static_cast<std::size_t>(n)] = 0.8 * std::exp(-n / 60.0) * std::sin(2 * std::numbers::pi * 1000.0 * n / kSr);
  for (std::int64_t k = 0;; ++k) {
    const std::int64_t n0 = (k * 60 * kSr) / bpm;
    if (n0 >= static_cast<std::int64_t>(y.size())) break;
    for (std::int64_t j = 0; j < 441 && n0 + j < static_cast<std::int64_t>(y.size()); ++j)
      y[static_cast<std::size_t>(n0 + j)] += burst[static_cast<std::size_t>(j)];
  }
}

inline std::vector<float> with_noise(std::vector<double> y, std::uint64_t seed) {
  const auto u = xorshift_uniform(y.size(), seed);
  std::vector<float> out(y.size());
  for (std::size_t i = 0; i < y.size(); ++i)
    out[i] = static_cast<float>(y[i] + 0.01 * static_cast<double>(static_cast<float>(u[i])));
  return out;
}

inline std::vector<float> click_track(int bpm) {
  std::vector<double> y(static_cast<std::size_t>(12 * kSr), 0.0);
  add_clicks(y, bpm);
  return with_noise(std::move(y), static_cast<std::uint64_t>(100 + bpm));
}

inline std::vector<float> tone_clicks() {
  std::vector<double> y(static_cast<std::size_t>(3 * kSr));
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double t = static_cast<double>(i) / kSr;
    y[i] = 0.3 * std::sin(2 * std::numbers::pi * 440.0 * t) + 0.2 * std::sin(2 * std::numbers::pi * 660.0 * t);
  }
  add_clicks(y, 120);
  return with_noise(std::move(y), 3);
}

// click75 .. click170, toneclick, and signals.h's noise, silence, short.
inline std::vector<float> hpss_signal(const std::string& name) {
  if (name.rfind("click", 0) == 0) return click_track(std::stoi(name.substr(5)));
  if (name == "toneclick") return tone_clicks();
  return signal(name);
}

inline const std::vector<std::string>& hpss_signal_names() {
  static const std::vector<std::string> names = {"click75",   "click96", "click120", "click143", "click170",
                                                 "toneclick", "noise",   "silence",  "short"};
  return names;
}

// The GTZAN clips of the hpss and tempo real-data fixtures (gen_hpss.py), decoded, with the id
// their fixture files carry ("blues00000"). Only when shared_data("gtzan") exists.
struct GtzanFixtureClip {
  std::string id;
  hmr::audio::AudioClip clip;
};
inline std::vector<GtzanFixtureClip> gtzan_fixture_clips() {
  std::vector<GtzanFixtureClip> out;
  for (const std::string rel : {"blues/blues.00000.wav", "disco/disco.00001.wav", "classical/classical.00002.wav"}) {
    std::string id = rel.substr(rel.find('/') + 1);
    id = id.substr(0, id.size() - 4);
    id.erase(std::remove(id.begin(), id.end(), '.'), id.end());
    out.push_back({id, hmr::audio::load_audio(hmr::test::shared_data("gtzan/genres/" + rel))});
  }
  return out;
}

}  // namespace hmr::test::audio
