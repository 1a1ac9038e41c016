// tests/fuzz/fuzz_lyrics.cpp — libFuzzer target for the lyrics reader (text::read_lyrics) through
// a scratch file, its only entry point. The first byte picks the options (language given or from
// the language column, lossy UTF-8, text column by default, by name or by index).
#include <spdlog/spdlog.h>

#include "fuzz_common.h"
#include "text/lyrics.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
  if (size == 0) return 0;
  spdlog::set_level(spdlog::level::off);  // the reader logs a line per file
  const std::uint8_t mode = data[0];
  const auto path = fuzz::scratch_file("lyrics.csv", fuzz::as_text(data + 1, size - 1));
  text::LyricsOptions opt;
  opt.lossy = mode & 1;
  static const char* kColumn[] = {"", "lyrics", "1", "text"};
  opt.column = kColumn[(mode >> 1) & 3];
  const std::string language = mode & 8 ? "en" : "";
  fuzz::expect_clean([&] {
    const text::Corpus c = text::read_lyrics({{path.string(), language}}, opt);
    const auto n = static_cast<std::size_t>(c.size());
    fuzz::check(c.labels.size() == n && c.files.size() == n && c.lines.size() == n, "one label, file, line per doc");
    for (const auto l : c.labels)
      fuzz::check(l >= 0 && static_cast<std::size_t>(l) < c.label_names.size(), "label codes index label_names");
  });
  fuzz::expect_clean([&] { (void)text::strip_section_tags(std::string(fuzz::as_text(data + 1, size - 1))); });
  return 0;
}
