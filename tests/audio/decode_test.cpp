// Decoding: every format of issue 3 (WAV, AU, AIFF, FLAC, OGG/Vorbis, Opus, MP3) generated at test
// time (sox for most, libsndfile itself for Opus, which sox cannot write), channel-mean downmix,
// soxr HQ resampling against librosa's numbers, librosa's offset/duration semantics, bad files
// with their reasons, the ordered decode pool, and the real Jamendo MP3s when present.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numeric>

#include "audio/decode.h"
#include "audio/mfcc.h"
#include "core/error.h"
#include "io/npy.h"
#include "signals.h"
#include "support/compare.h"

namespace {

namespace fs = std::filesystem;
namespace ha = hmr::audio;
namespace ts = hmr::test::audio;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / fmt::format("hmr_audio_{}_{}", ::getpid(), counter()++)) {
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& s) const { return path_ / s; }

 private:
  static int& counter() {
    static int c = 0;
    return c;
  }
  fs::path path_;
};

// Writes interleaved float frames with libsndfile in the given format.
void write_sf(const fs::path& p, const std::vector<float>& inter, int channels, int sr, int format) {
  SF_INFO info{};
  info.samplerate = sr;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(p.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << p << ": " << sf_strerror(nullptr);
  const sf_count_t n = static_cast<sf_count_t>(inter.size()) / channels;
  EXPECT_EQ(sf_writef_float(f, inter.data(), n), n);
  sf_close(f);
}

bool have_sox() { return std::system("sox --version > /dev/null 2>&1") == 0; }

double rms(const std::vector<float>& y) {
  double s = 0;
  for (float v : y) s += static_cast<double>(v) * v;
  return std::sqrt(s / static_cast<double>(std::max<std::size_t>(y.size(), 1)));
}

// 1 s of 44.1 kHz stereo, 16-bit: a tone per channel plus noise.
std::vector<float> test_stereo() {
  auto y = ts::stereo44k();
  for (auto& v : y) v = std::round(v * 32767.0f) / 32768.0f;  // exactly representable in 16 bits
  return y;
}

TEST(AudioDecode, EveryFormatDecodesDownmixesAndResamples) {
  if (!have_sox()) GTEST_SKIP() << "sox is not installed (scripts/install-deps.sh installs it)";
  TempDir dir;
  const fs::path src = dir / "src.wav";
  write_sf(src, test_stereo(), 2, 44100, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const ha::AudioClip ref = ha::load_audio(src);
  ASSERT_EQ(ref.sample_rate, 22050);
  ASSERT_EQ(ref.native_rate, 44100);
  ASSERT_EQ(ref.channels, 2);
  ASSERT_EQ(ref.size(), 22050);
  const double ref_rms = rms(ref.samples);
  struct Case {
    const char* ext;
    bool lossless;
  };
  for (const Case c :
       {Case{"au", true}, Case{"aiff", true}, Case{"flac", true}, Case{"ogg", false}, Case{"mp3", false}}) {
    const fs::path out = dir / (std::string("x.") + c.ext);
    const std::string cmd = fmt::format("sox -q '{}' '{}' 2>&1", src.string(), out.string());
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const ha::AudioInfo info = ha::probe_audio(out);
    EXPECT_EQ(info.sample_rate, 44100) << c.ext;
    EXPECT_EQ(info.channels, 2) << c.ext;
    const ha::AudioClip clip = ha::load_audio(out);
    EXPECT_EQ(clip.sample_rate, 22050) << c.ext;
    EXPECT_EQ(clip.channels, 2) << c.ext;
    if (c.lossless) {
      EXPECT_TRUE(hmr::test::bitwise_equal(clip.samples, ref.samples)) << c.ext;
    } else {
      // Lossy codecs: same length within the codec's padding, same loudness within 10%.
      EXPECT_NEAR(static_cast<double>(clip.size()), 22050.0, 0.08 * 22050) << c.ext;
      EXPECT_NEAR(rms(clip.samples), ref_rms, 0.1 * ref_rms) << c.ext;
    }
  }
  // Opus: libsndfile writes it (sox cannot); always 48 kHz inside.
  const fs::path opus = dir / "x.opus";
  write_sf(opus, test_stereo(), 2, 48000, SF_FORMAT_OGG | SF_FORMAT_OPUS);
  const ha::AudioClip op = ha::load_audio(opus);
  EXPECT_EQ(op.native_rate, 48000);
  EXPECT_EQ(op.sample_rate, 22050);
  EXPECT_NEAR(static_cast<double>(op.size()), 44100.0 * 22050 / 48000, 0.05 * 22050);
  EXPECT_NEAR(rms(op.samples), ref_rms, 0.1 * ref_rms);
}

TEST(AudioDecode, ResamplingMatchesLibrosaSoxrHq) {
  TempDir dir;
  const fs::path p = dir / "stereo44k.wav";
  write_sf(p, ts::stereo44k(), 2, 44100, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const ha::AudioClip clip = ha::load_audio(p);
  const auto len = hmr::io::read_npy(hmr::test::fixture("audio/stereo44k_len.npy"));
  ASSERT_EQ(clip.size(), *reinterpret_cast<const std::int64_t*>(len.bytes.data()));
  std::vector<float> every5;
  for (std::size_t i = 0; i < clip.samples.size(); i += 5) every5.push_back(clip.samples[i]);
  const hmr::Matrix want = hmr::io::read_matrix(hmr::test::fixture("audio/stereo44k_y.npy"));
  EXPECT_ALLCLOSE(std::span<const float>(every5), std::span<const float>(want.vec()), 1e-6, 1e-5);
}

TEST(AudioDecode, ResampleLengthIsCeilLikeLibrosa) {
  const auto y = ts::noise(1001, 3);
  EXPECT_EQ(ha::resample(y, 44100, 22050).size(), 501u);
  EXPECT_EQ(ha::resample(y, 22050, 16000).size(), static_cast<std::size_t>(std::ceil(1001 * 16000.0 / 22050)));
  EXPECT_EQ(ha::resample(y, 22050, 22050), y);
  EXPECT_THROW(ha::resample(y, 0, 22050), hmr::Error);
}

TEST(AudioDecode, OffsetAndDurationFollowLibrosa) {
  TempDir dir;
  const fs::path p = dir / "a.wav";
  write_sf(p, test_stereo(), 2, 44100, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const ha::AudioClip all = ha::load_audio(p, 0);  // native rate
  ASSERT_EQ(all.sample_rate, 44100);
  ASSERT_EQ(all.size(), 44100);
  // librosa: skip int(0.2501 * 44100) = 11029 frames, read int(0.5 * 44100) = 22050.
  const ha::AudioClip part = ha::load_audio(p, 0, 0.2501, 0.5);
  ASSERT_EQ(part.size(), 22050);
  EXPECT_TRUE(hmr::test::bitwise_equal(
      part.samples, std::vector<float>(all.samples.begin() + 11029, all.samples.begin() + 11029 + 22050)));
  // A duration past the end reads what is there; an offset past the end is an error.
  EXPECT_EQ(ha::load_audio(p, 0, 0.75, 10.0).size(), 44100 - 33075);
  EXPECT_THROW(ha::load_audio(p, 0, 2.0), hmr::Error);
  EXPECT_THROW(ha::load_audio(p, 0, -1.0), hmr::Error);
}

// The message of the error load_audio throws for `p`.
std::string load_error(const fs::path& p) {
  try {
    ha::load_audio(p);
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2) << e.what();
    return e.what();
  }
  return "";
}

TEST(AudioDecode, BadFilesAreReportedWithPathAndReason) {
  TempDir dir;
  const fs::path missing = dir / "missing.wav";
  EXPECT_NE(load_error(missing).find("no such file"), std::string::npos);
  const fs::path empty = dir / "empty.wav";
  std::ofstream(empty).close();
  EXPECT_NE(load_error(empty).find("empty file"), std::string::npos);
  const fs::path text = dir / "text.wav";
  std::ofstream(text) << "this is not audio at all, just some text that is long enough to be read\n";
  const std::string e_text = load_error(text);
  EXPECT_NE(e_text.find(text.string()), std::string::npos) << e_text;
  EXPECT_NE(e_text.find("cannot decode"), std::string::npos) << e_text;
  // A WAV header with no frames.
  const fs::path zero = dir / "zero.wav";
  write_sf(zero, {}, 1, 22050, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  EXPECT_NE(load_error(zero).find("zero-length"), std::string::npos) << load_error(zero);
  // A FLAC file cut in the middle of its frames.
  const fs::path good = dir / "good.flac", cut = dir / "cut.flac";
  write_sf(good, test_stereo(), 2, 44100, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  {
    std::ifstream in(good, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const std::string e_cut = load_error(cut);
  EXPECT_NE(e_cut.find(cut.string()), std::string::npos) << e_cut;
  EXPECT_NE(e_cut.find("truncated"), std::string::npos) << e_cut;
  // A WAV whose data chunk was cut short.
  const fs::path wav = dir / "good.wav", wcut = dir / "cut.wav";
  write_sf(wav, test_stereo(), 2, 44100, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  {
    std::ifstream in(wav, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(wcut, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  }
  const std::string e_wcut = load_error(wcut);
  EXPECT_NE(e_wcut.find("truncated"), std::string::npos) << e_wcut;
  // The same for AU and AIFF (libsndfile logs their short data chunks differently).
  for (const auto& [ext, fmt_] : {std::pair<std::string, int>{"au", SF_FORMAT_AU | SF_FORMAT_PCM_16},
                                  std::pair<std::string, int>{"aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16}}) {
    const fs::path full = dir / ("good." + ext), part = dir / ("cut." + ext);
    write_sf(full, test_stereo(), 2, 44100, fmt_);
    std::ifstream in(full, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(part, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
    const std::string e = load_error(part);
    EXPECT_NE(e.find("truncated"), std::string::npos) << ext << ": " << e;
  }
}

TEST(AudioDecode, PoolReturnsItemsInOrderWithErrors) {
  TempDir dir;
  std::vector<fs::path> paths;
  for (int i = 0; i < 9; ++i) {
    const fs::path p = dir / fmt::format("f{}.wav", i);
    if (i == 4) {
      std::ofstream(p) << "garbage";
    } else {
      write_sf(p, std::vector<float>(static_cast<std::size_t>(1000 + 100 * i), 0.25f), 1, 22050,
               SF_FORMAT_WAV | SF_FORMAT_FLOAT);
    }
    paths.push_back(p);
  }
  ha::DecodePool pool(paths, {}, 3, 2);
  ha::DecodedItem item;
  std::size_t n = 0;
  while (pool.next(item)) {
    EXPECT_EQ(item.index, n);
    if (n == 4) {
      EXPECT_FALSE(item.ok());
      EXPECT_NE(item.error.find("f4.wav"), std::string::npos);
    } else {
      ASSERT_TRUE(item.ok()) << item.error;
      EXPECT_EQ(item.clip.size(), static_cast<std::int64_t>(1000 + 100 * n));
    }
    ++n;
  }
  EXPECT_EQ(n, 9u);
}

TEST(AudioDecode, JamendoMp3sDecodeAndMatchLibrosa) {
  const std::string dir = hmr::test::shared_data("jamendo/audio");
  if (dir.empty()) GTEST_SKIP() << "../shared/data/jamendo is absent";
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".mp3") continue;
    const ha::AudioInfo info = ha::probe_audio(e.path());
    EXPECT_EQ(info.sample_rate, 44100) << e.path();
    EXPECT_EQ(info.channels, 2) << e.path();
    ++n;
  }
  EXPECT_GT(n, 0u);
  const fs::path mp3 = fs::path(dir) / "Confession_-_Quesabe.mp3";
  if (!fs::exists(mp3)) GTEST_SKIP() << mp3 << " is absent";
  const ha::AudioClip clip = ha::load_audio(mp3, 22050, 30.0, 10.0);
  const auto len = hmr::io::read_npy(hmr::test::fixture("audio/jamendo_mp3_len.npy"));
  EXPECT_EQ(clip.size(), *reinterpret_cast<const std::int64_t*>(len.bytes.data()));
  auto cpu = hmr::make_cpu_backend();
  const hmr::Matrix s = ha::mfcc_clips(*cpu, {clip.samples}).summaries;
  const hmr::Matrix want = hmr::io::read_matrix(hmr::test::fixture("audio/jamendo_mp3_summary.npy"));
  EXPECT_ALLCLOSE(std::span<const float>(s.vec()), std::span<const float>(want.vec()), 2e-3, 1e-4);
}

TEST(AudioDecode, ExtensionsAreRecognisedCaseInsensitively) {
  EXPECT_TRUE(ha::has_audio_extension("a/b/c.WAV"));
  EXPECT_TRUE(ha::has_audio_extension("x.au"));
  EXPECT_TRUE(ha::has_audio_extension("x.Mp3"));
  EXPECT_FALSE(ha::has_audio_extension("x.txt"));
  EXPECT_FALSE(ha::has_audio_extension("wav"));
}

}  // namespace
