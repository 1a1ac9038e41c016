// support/cli_inputs.h — the inputs the command-line suites feed the hmr program: a folder per
// test with a [60 x 4] float32 array in two blobs (x.npy) and its labels (labels.npy), a 0.5 s
// tone (clip.wav) and a lyrics CSV with invalid UTF-8 (bad.csv), all made here, never by hand.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/matrix.h"
#include "io/npy.h"
#include "support/compare.h"
#include "support/wav.h"

namespace hmr::test {

struct CliInputs {
  std::filesystem::path dir;
  std::string x, labels, wav, bad_lyrics;
  explicit CliInputs(const std::string& suite) {
    static int n = 0;
    dir = std::filesystem::path(binary_dir()) / suite / fmt::format("{}_{}", ::getpid(), n++);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::mt19937 rng(7);
    std::normal_distribution<float> g;
    hmr::Matrix m(60, 4);
    std::vector<std::int32_t> l;
    for (std::int64_t i = 0; i < 60; ++i) {
      for (std::int64_t j = 0; j < 4; ++j) m(i, j) = g(rng) + (i < 30 ? 0.0f : 8.0f);
      l.push_back(i < 30 ? 0 : 1);
    }
    x = (dir / "x.npy").string();
    labels = (dir / "labels.npy").string();
    hmr::io::write_npy(x, m);
    hmr::io::write_npy(labels, l);
    wav = (dir / "clip.wav").string();
    write_tone_wav(wav, 440.0, 0.5);
    bad_lyrics = (dir / "bad.csv").string();
    std::ofstream(bad_lyrics, std::ios::binary) << "id,lyrics\n1,fine words\n2,broken \xC3\x28 here\n";
  }
  ~CliInputs() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  CliInputs(const CliInputs&) = delete;
  CliInputs& operator=(const CliInputs&) = delete;
  std::string out(const std::string& name) const { return (dir / name).string(); }
};

}  // namespace hmr::test
