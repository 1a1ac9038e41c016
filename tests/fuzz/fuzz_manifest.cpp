// tests/fuzz/fuzz_manifest.cpp — libFuzzer target for audio manifests (audio::parse_manifest:
// id,audio[,label,...] over the CSV reader). The first byte picks the label column option.
#include "audio/sources.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
  if (size == 0) return 0;
  static const char* kLabel[] = {"", "label", "2", "genre"};
  const std::string label = kLabel[data[0] & 3];
  fuzz::expect_clean([&] {
    const audio::AudioSet s = audio::parse_manifest(fuzz::as_text(data + 1, size - 1), "/fuzz/manifest.csv", label);
    fuzz::check(!s.paths.empty() && s.ids.size() == s.paths.size(), "one id per listed file");
    fuzz::check(s.labels.empty() || s.labels.size() == s.paths.size(), "one label per file or none");
    for (const auto l : s.labels)
      fuzz::check(l >= 0 && static_cast<std::size_t>(l) < s.label_names.size(), "label codes index label_names");
  });
  return 0;
}
