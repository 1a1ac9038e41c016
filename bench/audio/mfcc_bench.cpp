// Audio stage throughput, cpu vs cuda: MFCC summaries of a batch of 30 s clips already in memory
// (files/s, frames/s and GB/s of float32 audio), the same from WAV files on disk (decode on a
// thread pool + MFCC), and decoding alone (22.05 kHz WAV, and 44.1 kHz stereo with soxr HQ
// resampling). Inputs are synthesised (chirps over noise) and written to a temporary folder.
// The librosa side of the comparison is bench/audio/librosa_mfcc.py.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <random>

#include "audio/decode.h"
#include "audio/mfcc.h"
#include "core/backend.h"
#include "support/backends.h"

namespace {

namespace fs = std::filesystem;
namespace ha = hmr::audio;

constexpr int kSr = 22050;
constexpr int kSeconds = 30;

std::vector<float> music_like(std::size_t n, double sr, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.05f);
  std::vector<float> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / sr;
    y[i] = static_cast<float>(0.3 * std::sin(2 * std::numbers::pi * (220.0 * (1 + seed % 5) * t + 40.0 * t * t)) +
                              0.2 * std::sin(2 * std::numbers::pi * 3.0 * t) *
                                  std::sin(2 * std::numbers::pi * 880.0 * t)) +
           g(rng);
  }
  return y;
}

const std::vector<std::vector<float>>& clips() {
  static const std::vector<std::vector<float>> c = [] {
    std::vector<std::vector<float>> v;
    for (unsigned i = 0; i < 16; ++i) v.push_back(music_like(static_cast<std::size_t>(kSr) * kSeconds + 300, kSr, i));
    return v;
  }();
  return c;
}

void write_wav(const fs::path& p, const std::vector<float>& inter, int channels, int sr) {
  SF_INFO info{};
  info.samplerate = sr;
  info.channels = channels;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
  if (!f) throw std::runtime_error(sf_strerror(nullptr));
  sf_writef_float(f, inter.data(), static_cast<sf_count_t>(inter.size() / channels));
  sf_close(f);
}

// 16 mono 22.05 kHz WAVs (GTZAN-like) and 4 stereo 44.1 kHz WAVs, written once.
struct Files {
  fs::path dir;
  std::vector<fs::path> mono, stereo;
  Files() {
    dir = fs::temp_directory_path() / fmt::format("hmr_audio_bench_{}", ::getpid());
    fs::create_directories(dir);
    for (std::size_t i = 0; i < clips().size(); ++i) {
      mono.push_back(dir / fmt::format("clip{:02d}.wav", i));
      write_wav(mono.back(), clips()[i], 1, kSr);
    }
    for (unsigned i = 0; i < 4; ++i) {
      const auto l = music_like(44100u * kSeconds, 44100, 100 + i), r = music_like(44100u * kSeconds, 44100, 200 + i);
      std::vector<float> inter(2 * l.size());
      for (std::size_t k = 0; k < l.size(); ++k) inter[2 * k] = l[k], inter[2 * k + 1] = r[k];
      stereo.push_back(dir / fmt::format("stereo{}.wav", i));
      write_wav(stereo.back(), inter, 2, 44100);
    }
  }
  ~Files() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

const Files& files() {
  static const Files f;
  return f;
}

void report(benchmark::State& state, std::int64_t files, std::int64_t samples) {
  const double frames = static_cast<double>(files) * static_cast<double>(ha::frame_count(samples / files, {}));
  state.SetItemsProcessed(state.iterations() * files);  // items/s = files/s
  state.SetBytesProcessed(state.iterations() * samples * static_cast<std::int64_t>(sizeof(float)));
  state.counters["files/s"] =
      benchmark::Counter(static_cast<double>(files), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["frames/s"] = benchmark::Counter(frames, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_MfccClips(benchmark::State& state, const char* device) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::span<const float>> spans;
  std::int64_t samples = 0;
  for (std::size_t i = 0; i < n; ++i) {
    spans.emplace_back(clips()[i % clips().size()]);
    samples += static_cast<std::int64_t>(spans.back().size());
  }
  ha::mfcc_clips(*b, spans);  // warm-up: plans, device buffers
  for (auto _ : state) {
    auto r = ha::mfcc_clips(*b, spans);
    benchmark::DoNotOptimize(r.summaries.data());
  }
  report(state, static_cast<std::int64_t>(n), samples);
}

void BM_MfccFiles(benchmark::State& state, const char* device) {
  auto b = hmr::bench::backend_or_skip(state, device);
  if (!b) return;
  const auto& f = files();
  std::int64_t samples = 0;
  for (const auto& c : clips()) samples += static_cast<std::int64_t>(c.size());
  ha::mfcc_files(*b, f.mono);
  for (auto _ : state) {
    auto r = ha::mfcc_files(*b, f.mono);
    if (!r.skipped.empty()) state.SkipWithError(r.skipped.front().reason.c_str());
    benchmark::DoNotOptimize(r.summaries.data());
  }
  report(state, static_cast<std::int64_t>(f.mono.size()), samples);
}

void BM_Decode(benchmark::State& state, bool stereo44k) {
  const auto& f = files();
  const auto& list = stereo44k ? f.stereo : f.mono;
  std::int64_t samples = 0;
  for (auto _ : state) {
    samples = 0;
    for (const auto& p : list) {
      const ha::AudioClip c = ha::load_audio(p);
      samples += c.size();
      benchmark::DoNotOptimize(c.samples.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(list.size()));
  state.counters["files/s"] =
      benchmark::Counter(static_cast<double>(list.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["audio_s/s"] =
      benchmark::Counter(static_cast<double>(samples) / kSr, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_MfccClips, cpu, "cpu")->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_MfccClips, cuda, "cuda")->Arg(16)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_MfccFiles, cpu, "cpu")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_MfccFiles, cuda, "cuda")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Decode, wav22k_mono, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Decode, wav44k_stereo_resample, true)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
