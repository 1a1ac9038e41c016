// audio/decode.cpp — libsndfile decoding, channel-mean downmix, libsoxr HQ resampling and the
// ordered decode thread pool. Semantics follow librosa 0.10's load() (soundfile backend) and
// resample(res_type="soxr_hq"); see decode.h.
#include "audio/decode.h"

#include <dlfcn.h>
#include <sndfile.h>
#include <soxr.h>
// Only for the handle type, constants and signatures of the three functions defined below
// (hmr does not link libmpg123 itself; libsndfile does). No large-file renaming: libsndfile
// calls the plain names.
#define MPG123_NO_LARGENAME
#include <mpg123.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "core/error.h"

namespace hmr::audio {
std::string& mpg123_error_text();  // the last hard libmpg123 error on this thread ("" if none)
}  // namespace hmr::audio

// ---- mpg123, quiet -------------------------------------------------------------------------------
// libsndfile decodes MP3 through libmpg123 with handles it creates itself, and libmpg123 prints
// every problem of a corrupt frame ("[layer3.c:...] error: big_values too large!") to stderr
// unless the handle has MPG123_QUIET; libsndfile offers no way to set it. So hmr defines the
// entry points libsndfile calls: the dynamic linker binds libsndfile's calls to the executable's
// definitions first (they precede the libraries in the global lookup scope; the linker exports
// them because a shared library on the link line refers to them). Each wrapper calls libmpg123's
// own function (dlsym RTLD_NEXT): mpg123_new and mpg123_open_handle add MPG123_QUIET to the
// handle, mpg123_read remembers a hard error's text for hmr's one-line message. Frames that are
// merely corrupt are concealed by mpg123 as before (the samples librosa reads too), silently.
namespace {
template <class F>
F real_mpg123(const char* name) {
  void* f = ::dlsym(RTLD_NEXT, name);
  if (!f) {
    std::fprintf(stderr, "hmr: libmpg123 has no %s\n", name);
    std::abort();
  }
  return reinterpret_cast<F>(f);
}
void make_quiet(mpg123_handle* h) {
  static const auto param = real_mpg123<int (*)(mpg123_handle*, int, long, double)>("mpg123_param2");
  if (h) param(h, MPG123_ADD_FLAGS, MPG123_QUIET, 0.0);
}
thread_local std::string mpg123_last_error;  // decoding runs on one thread per file
}  // namespace

extern "C" {
mpg123_handle* mpg123_new(const char* decoder, int* error) {
  static const auto real = real_mpg123<mpg123_handle* (*)(const char*, int*)>("mpg123_new");
  mpg123_handle* h = real(decoder, error);
  make_quiet(h);
  return h;
}
int mpg123_open_handle(mpg123_handle* mh, void* iohandle) {
  static const auto real = real_mpg123<int (*)(mpg123_handle*, void*)>("mpg123_open_handle");
  make_quiet(mh);  // again, after libsndfile set its own flags
  return real(mh, iohandle);
}
int mpg123_read(mpg123_handle* mh, void* out, size_t size, size_t* done) {
  static const auto real = real_mpg123<int (*)(mpg123_handle*, void*, size_t, size_t*)>("mpg123_read");
  static const auto text = real_mpg123<const char* (*)(mpg123_handle*)>("mpg123_strerror");
  const int r = real(mh, out, size, done);
  if (r != MPG123_OK && r != MPG123_DONE && r != MPG123_NEW_FORMAT && r != MPG123_NEED_MORE)
    if (const char* t = text(mh)) hmr::audio::mpg123_error_text() = t;
  return r;
}
}  // extern "C"

namespace hmr::audio {

std::string& mpg123_error_text() { return mpg123_last_error; }

namespace {

// RAII for SNDFILE*.
struct SndFile {
  SNDFILE* f = nullptr;
  SF_INFO info{};
  ~SndFile() {
    if (f) sf_close(f);
  }
};

std::string sf_format_name(int format) {
  SF_FORMAT_INFO major{}, sub{};
  major.format = format & SF_FORMAT_TYPEMASK;
  sub.format = format & SF_FORMAT_SUBMASK;
  const bool ok_major = sf_command(nullptr, SFC_GET_FORMAT_INFO, &major, sizeof(major)) == 0;
  const bool ok_sub = sf_command(nullptr, SFC_GET_FORMAT_INFO, &sub, sizeof(sub)) == 0;
  return fmt::format("{} / {}", ok_major && major.name ? major.name : "?", ok_sub && sub.name ? sub.name : "?");
}

// ---- MPEG audio framing (MP3) -------------------------------------------------------------------
// libsndfile hands MP3 to mpg123, which decodes what it can: a file cut in the middle of a frame
// comes back as a shorter clip without any error, and a file with no MPEG frames at all makes
// mpg123 print "Note: Illegal Audio-MPEG-Header ..." to stderr and libsndfile report "File does
// not exist ... (possibly a pipe?)". So hmr walks the frame headers itself first (ISO/IEC 11172-3
// and 13818-3 header layout): skip ID3v2 tags, find two consecutive valid headers, then follow the
// chain of frame lengths. A frame whose length runs past the end of the file is truncation; a
// Xing/Info header (LAME) that counts more frames than the file holds is truncation at a frame
// boundary. Bytes after the last frame that do not start a frame (ID3v1, APE tags) are a trailer.

struct MpegHeader {
  int version = 0;  // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
  int layer = 0;    // 3 = layer I, 2 = layer II, 1 = layer III (the header's coding)
  int rate = 0;     // samples per second
  bool mono = false;
  std::size_t length = 0;  // bytes of the whole frame; 0 = free format (length unknown)
};

std::optional<MpegHeader> mpeg_header(std::string_view f, std::size_t at) {
  if (at + 4 > f.size()) return std::nullopt;
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(f[at + i]); };
  if (b(0) != 0xFF || (b(1) & 0xE0) != 0xE0) return std::nullopt;
  MpegHeader h;
  h.version = (b(1) >> 3) & 3;
  h.layer = (b(1) >> 1) & 3;
  const int bitrate_index = b(2) >> 4, rate_index = (b(2) >> 2) & 3, padding = (b(2) >> 1) & 1;
  if (h.version == 1 || h.layer == 0 || bitrate_index == 15 || rate_index == 3) return std::nullopt;
  static constexpr int kRates[3] = {44100, 48000, 32000};
  h.rate = kRates[rate_index] >> (h.version == 3 ? 0 : h.version == 2 ? 1 : 2);
  h.mono = (b(3) >> 6) == 3;
  // kbit/s by [MPEG-1 ? 0 : 1][layer I, II, III][index].
  static constexpr int kKbps[2][3][15] = {{{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
                                           {0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
                                           {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}},
                                          {{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
                                           {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
                                           {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}}};
  const int layer_row = 3 - h.layer;  // 0 = I, 1 = II, 2 = III
  const std::size_t bps = static_cast<std::size_t>(kKbps[h.version == 3 ? 0 : 1][layer_row][bitrate_index]) * 1000;
  if (bps == 0) return h;  // free format
  const auto r = static_cast<std::size_t>(h.rate);
  if (layer_row == 0)
    h.length = (12 * bps / r + static_cast<std::size_t>(padding)) * 4;
  else if (layer_row == 2 && h.version != 3)
    h.length = 72 * bps / r + static_cast<std::size_t>(padding);
  else
    h.length = 144 * bps / r + static_cast<std::size_t>(padding);
  return h;
}

bool same_stream(const MpegHeader& a, const MpegHeader& b) {
  return a.version == b.version && a.layer == b.layer && a.rate == b.rate;
}

// A frame at `at` that the next header confirms (or that ends exactly at the end of the file).
bool confirmed_frame(std::string_view f, std::size_t at) {
  const auto h = mpeg_header(f, at);
  if (!h || h->length == 0) return false;
  if (at + h->length == f.size()) return true;
  const auto next = mpeg_header(f, at + h->length);
  return next && same_stream(*h, *next);
}

// Empty when the framing is whole (or cannot be judged, e.g. free format), else why not: a
// truncation reason starts with "the " (the frame or the Xing header that proves it).
std::string mpeg_framing_problem(std::string_view f) {
  std::size_t at = 0;
  // ID3v2 tags: "ID3", version, flags, 4-byte syncsafe size (+ a 10-byte footer when flagged).
  while (at + 10 <= f.size() && f.compare(at, 3, "ID3") == 0) {
    std::size_t size = 0;
    for (int i = 6; i < 10; ++i) size = (size << 7) | (static_cast<unsigned char>(f[at + i]) & 0x7F);
    const bool footer = static_cast<unsigned char>(f[at + 5]) & 0x10;
    at += 10 + size + (footer ? 10 : 0);
  }
  if (at >= f.size()) return "no MPEG audio frames (only an ID3 tag, or a tag longer than the file)";
  while (at < f.size() && !confirmed_frame(f, at)) ++at;
  if (at >= f.size()) return "not an MPEG audio (MP3) stream: no valid frame headers found";
  const MpegHeader first = *mpeg_header(f, at);
  // Xing/Info (LAME, VBR and CBR): the frame count sits after the side information.
  std::int64_t xing_frames = -1;
  const std::size_t side = first.version == 3 ? (first.mono ? 17 : 32) : (first.mono ? 9 : 17);
  const std::size_t tag = at + 4 + side;
  if (first.layer == 1 && tag + 12 <= f.size() && (f.compare(tag, 4, "Xing") == 0 || f.compare(tag, 4, "Info") == 0)) {
    const auto be32 = [&](std::size_t i) {
      std::uint32_t v = 0;
      for (int k = 0; k < 4; ++k) v = (v << 8) | static_cast<unsigned char>(f[i + static_cast<std::size_t>(k)]);
      return v;
    };
    if (be32(tag + 4) & 1u) xing_frames = be32(tag + 8);
  }
  std::int64_t frames = 0;
  for (;;) {
    const auto h = mpeg_header(f, at);
    if (!h || !same_stream(first, *h)) {
      // Lost the chain: resynchronise on the next confirmed frame of the same stream, or the rest
      // is a trailer. Always at least one byte on, or a confirmed frame of another stream would
      // be found here again and again.
      do {
        ++at;
      } while (at < f.size() && !(confirmed_frame(f, at) && same_stream(first, *mpeg_header(f, at))));
      if (at >= f.size()) break;
      continue;
    }
    if (h->length == 0) return {};  // free format: the length is not in the header
    if (at + h->length > f.size())
      return fmt::format("the MPEG frame at byte {} needs {} bytes, the file ends after {}", at, h->length,
                         f.size() - at);
    ++frames;
    at += h->length;
    if (at == f.size()) break;
  }
  // The Xing frame itself is counted by the walk and not (by LAME) in its own count: one frame
  // of slack keeps both conventions.
  if (xing_frames > 0 && frames + 1 < xing_frames)
    return fmt::format("the Xing/Info header counts {} frames, the file holds {}", xing_frames, frames);
  return {};
}

std::string read_prefix_or_all(const std::filesystem::path& path, bool all) {
  std::ifstream in(path, std::ios::binary);
  if (!all) {
    std::string head(16, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    return head;
  }
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Would libsndfile hand this file to mpg123? An .mp3 name or an MPEG-looking start, and none of
// the container signatures libsndfile recognises first.
bool looks_like_mpeg(const std::filesystem::path& path, std::string_view head) {
  for (const char* magic : {"RIFF", "RIFX", "RF64", "FORM", "fLaC", "OggS", ".snd", "caff", "wvpk"})
    if (head.compare(0, 4, magic) == 0) return false;
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool sync = head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0xFF &&
                    (static_cast<unsigned char>(head[1]) & 0xE0) == 0xE0;
  return ext == ".mp3" || head.compare(0, 3, "ID3") == 0 || sync;
}

void open_or_throw(const std::filesystem::path& path, SndFile& sf) {
  std::error_code ec;
  HMR_REQUIRE(std::filesystem::exists(path, ec), "{}: no such file", path.string());
  HMR_REQUIRE(std::filesystem::is_regular_file(path, ec), "{}: not a regular file", path.string());
  const auto bytes = std::filesystem::file_size(path, ec);
  HMR_REQUIRE(!ec && bytes > 0, "{}: empty file (0 bytes)", path.string());
  // MP3: check the framing before mpg123 sees the file (it reports bad frames on stderr and
  // decodes a cut file as a shorter clip).
  bool mpeg_checked = false;
  if (looks_like_mpeg(path, read_prefix_or_all(path, false))) {
    const std::string why = mpeg_framing_problem(read_prefix_or_all(path, true));
    HMR_REQUIRE(why.empty(), "{}: {}: {}", path.string(), why.rfind("the ", 0) == 0 ? "truncated MP3" : "cannot decode",
                why);
    mpeg_checked = true;
  }
  mpg123_error_text().clear();
  sf.f = sf_open(path.c_str(), SFM_READ, &sf.info);
  if (!sf.f) {
    std::string why = sf_strerror(nullptr);
    if (!mpg123_error_text().empty()) why = "mpg123: " + mpg123_error_text();
    // The file exists and is regular (checked above): libsndfile says "File does not exist or is
    // not a regular file (possibly a pipe?)" when no decoder accepted the bytes.
    if (why.find("possibly a pipe") != std::string::npos) why = "not a recognised audio format (or a corrupt header)";
    input_error("{}: cannot decode: {}", path.string(), why);
  }
  HMR_REQUIRE(sf.info.channels > 0 && sf.info.samplerate > 0, "{}: invalid stream ({} channels at {} Hz)",
              path.string(), sf.info.channels, sf.info.samplerate);
  if (!mpeg_checked && (sf.info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG) {
    const std::string why = mpeg_framing_problem(read_prefix_or_all(path, true));
    HMR_REQUIRE(why.empty(), "{}: {}: {}", path.string(), why.rfind("the ", 0) == 0 ? "truncated MP3" : "cannot decode",
                why);
  }
  // The float32 scale soundfile uses: integer PCM divided by 2^(bits-1).
  sf_command(sf.f, SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);
}

// libsndfile's header log says "data : 176400 (should be 59956)" (WAV), "Data Size : N (should
// be M)" (AU) or "SSND : N (should be M)" (AIFF) when the audio chunk runs past the end of the
// file. Streaming placeholders (0, 0xFFFFFFFF) and a few bytes of slack are not truncation.
std::string truncation(SNDFILE* f) {
  char log[8192] = {0};
  sf_command(f, SFC_GET_LOG_INFO, log, sizeof(log) - 1);
  const std::string text(log);
  for (const char* key : {"data :", "Data Size", "SSND :"}) {
    const auto at = text.find(key);
    if (at == std::string::npos) continue;
    const auto eol = text.find('\n', at);
    const std::string line = text.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    long long declared = 0, actual = 0;
    const auto colon = line.find(':');
    const auto should = line.find("(should be ");
    if (should == std::string::npos) continue;
    if (std::sscanf(line.c_str() + colon + 1, "%lld", &declared) != 1) continue;
    if (std::sscanf(line.c_str() + should + 11, "%lld", &actual) != 1) continue;
    if (declared <= 0 || declared >= 0xFFFFFF00LL) continue;
    if (declared - actual > 1024)
      return fmt::format("the header declares {} bytes of audio, the file holds {}", declared, actual);
  }
  return {};
}

}  // namespace

std::size_t count_nonfinite(std::span<const float> y) {
  // Branch-free so it vectorises: NaN and +-inf fail the comparison.
  std::size_t bad = 0;
#pragma omp simd reduction(+ : bad)
  for (std::size_t i = 0; i < y.size(); ++i) bad += std::abs(y[i]) <= 3.4028235e38f ? 0 : 1;
  return bad;
}

const std::vector<std::string>& audio_extensions() {
  static const std::vector<std::string> ext{"wav",  "au",  "snd", "aif",  "aiff", "aifc",
                                            "flac", "ogg", "oga", "opus", "mp3"};
  return ext;
}

bool has_audio_extension(const std::filesystem::path& path) {
  std::string e = path.extension().string();
  if (e.empty()) return false;
  e.erase(0, 1);
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto& all = audio_extensions();
  return std::find(all.begin(), all.end(), e) != all.end();
}

AudioInfo probe_audio(const std::filesystem::path& path) {
  SndFile sf;
  open_or_throw(path, sf);
  AudioInfo info;
  info.sample_rate = sf.info.samplerate;
  info.channels = sf.info.channels;
  info.frames = static_cast<std::int64_t>(sf.info.frames);
  info.format = sf_format_name(sf.info.format);
  return info;
}

std::vector<float> resample(std::span<const float> y, double orig_sr, double target_sr) {
  HMR_REQUIRE(orig_sr > 0 && target_sr > 0, "resample: sample rates must be positive (got {} -> {})", orig_sr,
              target_sr);
  if (orig_sr == target_sr) return {y.begin(), y.end()};
  // librosa: n_samples = int(np.ceil(len(y) * ratio)), then fix_length (cut or zero-pad).
  const auto n_out = static_cast<std::size_t>(std::ceil(static_cast<double>(y.size()) * (target_sr / orig_sr)));
  std::vector<float> out(n_out + 64, 0.0f);
  if (y.empty()) return {};
  soxr_error_t err = nullptr;
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
  const soxr_runtime_spec_t rt = soxr_runtime_spec(1);
  soxr_t s = soxr_create(orig_sr, target_sr, 1, &err, &io, &q, &rt);
  if (err || !s)
    runtime_error("libsoxr: cannot create a resampler {} -> {} Hz: {}", orig_sr, target_sr, err ? err : "?");
  std::size_t done = 0;
  // Feed the whole input (soxr consumes it in internal blocks), then flush the filter tail.
  std::size_t in_pos = 0;
  while (in_pos < y.size()) {
    std::size_t idone = 0, odone = 0;
    if (done + 4096 > out.size()) out.resize(out.size() * 2 + 4096, 0.0f);
    err = soxr_process(s, y.data() + in_pos, y.size() - in_pos, &idone, out.data() + done, out.size() - done, &odone);
    if (err) break;
    in_pos += idone;
    done += odone;
  }
  while (!err) {
    std::size_t odone = 0;
    if (done + 4096 > out.size()) out.resize(out.size() * 2 + 4096, 0.0f);
    err = soxr_process(s, nullptr, 0, nullptr, out.data() + done, out.size() - done, &odone);
    done += odone;
    if (odone == 0) break;
  }
  soxr_delete(s);
  if (err) runtime_error("libsoxr: resampling {} -> {} Hz failed: {}", orig_sr, target_sr, err);
  if (done < n_out) std::fill(out.begin() + static_cast<std::ptrdiff_t>(done), out.end(), 0.0f);
  out.resize(n_out);
  return out;
}

AudioClip load_audio(const std::filesystem::path& path, const LoadOptions& opt) { return load_audio(path, opt, {}); }

AudioClip load_audio(const std::filesystem::path& path, const LoadOptions& opt, std::vector<float>&& reuse) {
  HMR_REQUIRE(std::isfinite(opt.offset) && opt.offset >= 0, "{}: offset must be >= 0 seconds (got {})", path.string(),
              opt.offset);
  HMR_REQUIRE(std::isfinite(opt.duration) || opt.duration < 0, "{}: duration must be finite", path.string());
  SndFile sf;
  open_or_throw(path, sf);
  const int ch = sf.info.channels, sr = sf.info.samplerate;
  // librosa: seek(int(offset * sr_native)); read int(duration * sr_native) frames (or all).
  const auto skip = static_cast<sf_count_t>(opt.offset * sr);
  sf_count_t want = opt.duration >= 0 ? static_cast<sf_count_t>(opt.duration * sr) : -1;
  if (skip > 0) {
    if (sf.info.seekable && sf_seek(sf.f, skip, SEEK_SET) == skip) {
      // positioned
    } else {
      // Not seekable (or seeking past the end): read and drop, so an offset past the end gives
      // an empty read below, as soundfile does.
      std::vector<float> junk(static_cast<std::size_t>(4096 * ch));
      sf_count_t left = skip;
      while (left > 0) {
        const sf_count_t got = sf_readf_float(sf.f, junk.data(), std::min<sf_count_t>(left, 4096));
        if (got <= 0) break;
        left -= got;
      }
    }
  }
  // inter holds `used` decoded values; its size only grows (a reused buffer is not zero-filled
  // again) and is cut to `used` at the end.
  std::vector<float> inter = std::move(reuse);
  std::size_t used = 0;
  // Frames per read: 65536, fewer for many channels, so a header claiming 1024 channels does not
  // make each read buffer hundreds of megabytes (at most 2^20 samples per block).
  const sf_count_t block = std::max<sf_count_t>(256, std::min<sf_count_t>(65536, (sf_count_t{1} << 20) / ch));
  if (sf.info.frames > 0 && sf.info.frames < (sf_count_t{1} << 34)) {
    // The frame count comes from the header (FLAC's STREAMINFO may claim 2^34 samples in a
    // 700-byte file): reserve no more than 64 samples per byte of file, which no real encoding
    // exceeds by much; beyond that the buffer grows as frames actually decode.
    const sf_count_t expect = want >= 0 ? std::min(want, sf.info.frames) : sf.info.frames;
    std::error_code ec;
    const auto bytes = static_cast<sf_count_t>(std::filesystem::file_size(path, ec));
    const sf_count_t cap = ec ? 0 : 64 * bytes;
    inter.reserve(static_cast<std::size_t>(std::clamp<sf_count_t>(expect * ch, 0, cap)));
  }
  sf_count_t total = 0;
  const int sub = sf.info.format & SF_FORMAT_SUBMASK;
  // 16-bit PCM (WAV, AU, AIFF, FLAC...): read the integers and scale them here, in one
  // vectorised pass, instead of libsndfile's float path (which zero-filled then converted).
  // s * 2^-15 is exact, so the samples are the ones sf_readf_float returns.
  const bool pcm16 = sub == SF_FORMAT_PCM_16;
  std::vector<short> ibuf;
  if (pcm16) ibuf.resize(static_cast<std::size_t>(block * ch));
  for (;;) {
    sf_count_t n = block;
    if (want >= 0) n = std::min(n, want - total);
    if (n <= 0) break;
    const std::size_t at = used;
    sf_count_t got = 0;
    if (pcm16) {
      got = sf_readf_short(sf.f, ibuf.data(), n);
      if (got > 0) {
        const std::size_t m = static_cast<std::size_t>(got * ch);
        if (inter.size() < at + m) inter.resize(at + m);
        float* d = inter.data() + at;
        const short* src = ibuf.data();
#pragma omp simd
        for (std::size_t i = 0; i < m; ++i) d[i] = static_cast<float>(src[i]) * (1.0f / 32768.0f);
      }
    } else {
      if (inter.size() < at + static_cast<std::size_t>(n * ch)) inter.resize(at + static_cast<std::size_t>(n * ch));
      got = sf_readf_float(sf.f, inter.data() + at, n);
    }
    if (got <= 0) break;
    used += static_cast<std::size_t>(got * ch);
    total += got;
  }
  inter.resize(used);
  const int e = sf_error(sf.f);
  HMR_REQUIRE(e == SF_ERR_NO_ERROR, "{}: decoding failed after {} frames: {}", path.string(), total,
              mpg123_error_text().empty() ? std::string(sf_strerror(sf.f)) : "mpg123: " + mpg123_error_text());
  // libsndfile ends an MP3 at a hard mpg123 error as if the stream had ended: a shorter clip.
  HMR_REQUIRE(mpg123_error_text().empty(), "{}: cannot decode: mpg123: {} (after {} frames)", path.string(),
              mpg123_error_text(), total);
  // A file that ends before its header says it should is truncated. libsndfile quietly reads
  // what is there (for PCM it even shrinks info.frames), so look at what its header parser
  // logged, and at a short read for compressed formats.
  const std::string why = truncation(sf.f);
  HMR_REQUIRE(why.empty(), "{}: truncated: {}", path.string(), why);
  const int major = sf.info.format & SF_FORMAT_TYPEMASK;
  if (skip == 0 && want < 0 && sf.info.frames > 0 && total < sf.info.frames && major == SF_FORMAT_FLAC)
    input_error("{}: truncated: {} of {} frames readable", path.string(), total, sf.info.frames);
  if (total == 0) {
    HMR_REQUIRE(skip == 0 || opt.offset == 0, "{}: offset {} s is past the end of the audio", path.string(),
                opt.offset);
    input_error("{}: no audio frames (zero-length audio)", path.string());
  }

  AudioClip clip;
  clip.path = path.string();
  clip.native_rate = sr;
  clip.channels = ch;
  if (ch > 1) {
    // np.mean over channels in float32: sequential sum, then one division. In place: frame i
    // is written at i <= i * ch, after its channels were read.
    const float inv_n = static_cast<float>(ch);
    for (sf_count_t i = 0; i < total; ++i) {
      const float* fr = inter.data() + i * ch;
      float acc = 0.0f;
      for (int c = 0; c < ch; ++c) acc += fr[c];
      inter[static_cast<std::size_t>(i)] = acc / inv_n;
    }
    inter.resize(static_cast<std::size_t>(total));
  }
  std::vector<float> mono = std::move(inter);
  // Integer sources cannot hold NaN or inf: only float and lossy formats are scanned.
  const bool integer = sub == SF_FORMAT_PCM_S8 || sub == SF_FORMAT_PCM_U8 || sub == SF_FORMAT_PCM_16 ||
                       sub == SF_FORMAT_PCM_24 || sub == SF_FORMAT_PCM_32 || sub == SF_FORMAT_ULAW ||
                       sub == SF_FORMAT_ALAW;
  if (!integer && count_nonfinite(mono) > 0)
    for (std::size_t i = 0; i < mono.size(); ++i)
      if (!std::isfinite(mono[i])) input_error("{}: non-finite sample at frame {}", path.string(), i);
  if (opt.target_sr > 0 && opt.target_sr != sr) {
    clip.samples = resample(mono, sr, opt.target_sr);
    clip.sample_rate = opt.target_sr;
  } else {
    clip.samples = std::move(mono);
    clip.sample_rate = sr;
  }
  return clip;
}

// ---- DecodePool -------------------------------------------------------------------------------

struct DecodePool::Impl {
  std::vector<std::filesystem::path> paths;
  LoadOptions options;
  int window = 1;
  std::mutex m;
  std::condition_variable ready_cv, space_cv;
  std::vector<std::unique_ptr<DecodedItem>> done;  // [n]: finished items, handed out in order
  std::size_t next_claim = 0;                      // next index a worker decodes
  std::size_t next_out = 0;                        // next index handed to the consumer
  bool stop = false;
  std::vector<std::thread> workers;

  void work() {
    for (;;) {
      std::size_t i;
      {
        std::unique_lock<std::mutex> lock(m);
        // Stay at most `window` files ahead of the consumer: bounded memory.
        space_cv.wait(lock, [&] { return stop || next_claim >= paths.size() || next_claim < next_out + window; });
        if (stop || next_claim >= paths.size()) return;
        i = next_claim++;
      }
      auto item = std::make_unique<DecodedItem>();
      item->index = i;
      try {
        item->clip = load_audio(paths[i], options);
      } catch (const std::exception& e) {
        item->error = e.what();
      }
      {
        std::lock_guard<std::mutex> lock(m);
        done[i] = std::move(item);
      }
      ready_cv.notify_all();
    }
  }
};

DecodePool::DecodePool(std::vector<std::filesystem::path> paths, LoadOptions options, int threads, int window)
    : impl_(std::make_unique<Impl>()) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (window <= 0) window = 4 * threads;
  impl_->paths = std::move(paths);
  impl_->options = options;
  impl_->window = std::max(window, threads);
  impl_->done.resize(impl_->paths.size());
  const int n = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(threads), impl_->paths.size()));
  for (int t = 0; t < n; ++t) impl_->workers.emplace_back([this] { impl_->work(); });
}

DecodePool::~DecodePool() {
  {
    std::lock_guard<std::mutex> lock(impl_->m);
    impl_->stop = true;
  }
  impl_->space_cv.notify_all();
  for (auto& t : impl_->workers) t.join();
}

std::size_t DecodePool::size() const { return impl_->paths.size(); }

bool DecodePool::next(DecodedItem& out) {
  std::unique_lock<std::mutex> lock(impl_->m);
  if (impl_->next_out >= impl_->paths.size()) return false;
  const std::size_t i = impl_->next_out;
  impl_->ready_cv.wait(lock, [&] { return impl_->done[i] != nullptr; });
  out = std::move(*impl_->done[i]);
  impl_->done[i].reset();
  ++impl_->next_out;
  lock.unlock();
  impl_->space_cv.notify_all();
  return true;
}

}  // namespace hmr::audio
