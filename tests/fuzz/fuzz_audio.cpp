// tests/fuzz/fuzz_audio.cpp — libFuzzer target for audio decoding (audio::load_audio and
// probe_audio over libsndfile: WAV, AU, AIFF, FLAC, OGG, MP3 through mpg123) through a scratch
// file, since libsndfile opens paths. The first byte picks the file extension (libsndfile falls
// back to it for headerless formats) and whether to resample to 22050 Hz.
#include "audio/decode.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
  if (size == 0) return 0;
  static const char* kName[] = {"clip.wav", "clip.mp3", "clip.flac", "clip.au"};
  const std::uint8_t mode = data[0];
  const auto path = fuzz::scratch_file(kName[mode & 3], fuzz::as_text(data + 1, size - 1));
  fuzz::expect_clean([&] { (void)audio::probe_audio(path); });
  fuzz::expect_clean([&] {
    audio::LoadOptions opt;
    opt.target_sr = mode & 4 ? 22050 : 0;
    const audio::AudioClip clip = audio::load_audio(path, opt);
    fuzz::check(clip.size() > 0, "an accepted clip has samples");
    fuzz::check(audio::count_nonfinite(clip.samples) == 0, "an accepted clip is finite");
  });
  return 0;
}
