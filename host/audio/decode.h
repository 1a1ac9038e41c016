// audio/decode.h — audio decoding with librosa.load semantics: libsndfile reads WAV, AU, AIFF,
// FLAC, OGG/Vorbis, Opus and MP3 as float32 (integer PCM scaled by 1/2^(bits-1), as
// soundfile.read(dtype="float32") does); channels are averaged to mono; libsoxr resamples to the
// target rate at librosa 0.10's default quality (res_type="soxr_hq") and the result is cut or
// zero-padded to ceil(n * target / native) samples (librosa.resample's fix_length).
// offset/duration follow librosa: skip floor(offset * native_sr) frames, read
// floor(duration * native_sr) frames (all that remain when duration < 0).
// Errors (missing, unreadable, truncated, empty, non-audio files) are hmr::Error(input) whose
// message names the path and the reason.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace hmr::audio {

struct AudioClip {
  std::vector<float> samples;  // mono, [frames] at sample_rate
  int sample_rate = 0;
  int native_rate = 0;  // the file's own rate
  int channels = 0;     // the file's channel count (before the downmix)
  std::string path;
  std::int64_t size() const { return static_cast<std::int64_t>(samples.size()); }
  double seconds() const { return sample_rate > 0 ? static_cast<double>(samples.size()) / sample_rate : 0.0; }
};

struct LoadOptions {
  int target_sr = 22050;   // <= 0 keeps the native rate (librosa sr=None)
  double offset = 0.0;     // seconds skipped at the start
  double duration = -1.0;  // seconds read; < 0 reads to the end
};

AudioClip load_audio(const std::filesystem::path& path, const LoadOptions& options);
// The same, decoding into `reuse`'s memory (e.g. the samples of the previous clip): a thread that
// loads many files this way touches no fresh pages and zero-fills nothing.
AudioClip load_audio(const std::filesystem::path& path, const LoadOptions& options, std::vector<float>&& reuse);
inline AudioClip load_audio(const std::filesystem::path& path, int target_sr = 22050, double offset = 0.0,
                            double duration = -1.0) {
  return load_audio(path, LoadOptions{target_sr, offset, duration});
}

struct AudioInfo {
  int sample_rate = 0;
  int channels = 0;
  std::int64_t frames = 0;  // as libsndfile reports them (MP3: an estimate until decoded)
  std::string format;       // e.g. "WAV / Signed 16 bit PCM"
  double seconds() const { return sample_rate > 0 ? static_cast<double>(frames) / sample_rate : 0.0; }
};
AudioInfo probe_audio(const std::filesystem::path& path);

// librosa.resample(y, orig_sr, target_sr, res_type="soxr_hq"): libsoxr HQ, float32 in and out,
// output length ceil(n * target_sr / orig_sr). Returns y unchanged when the rates are equal.
std::vector<float> resample(std::span<const float> y, double orig_sr, double target_sr);

// Number of NaN / infinite samples in y (one vectorised pass).
std::size_t count_nonfinite(std::span<const float> y);

// File extensions treated as audio when listing folders (lower case, no dot):
// wav, au, snd, aif, aiff, aifc, flac, ogg, oga, opus, mp3.
const std::vector<std::string>& audio_extensions();
bool has_audio_extension(const std::filesystem::path& path);

// One decoded file from a DecodePool: the clip, or the reason it could not be read.
struct DecodedItem {
  std::size_t index = 0;  // position in the pool's path list
  AudioClip clip;
  std::string error;  // empty when the clip decoded
  bool ok() const { return error.empty(); }
};

// Decodes a list of files on a pool of threads, `window` files ahead of the consumer, and hands
// them back in input order, so a device can compute on one batch while the next one loads.
// A bad file becomes an item with an error; the pool never throws for one.
class DecodePool {
 public:
  // threads <= 0: hardware threads; window <= 0: 4 * threads.
  DecodePool(std::vector<std::filesystem::path> paths, LoadOptions options, int threads = 0, int window = 0);
  ~DecodePool();
  DecodePool(const DecodePool&) = delete;
  DecodePool& operator=(const DecodePool&) = delete;
  // The next item in input order; false once every item has been handed out.
  bool next(DecodedItem& out);
  std::size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hmr::audio
