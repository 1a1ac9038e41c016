// tests/fuzz/fuzz_config.cpp — libFuzzer target for the experiment configuration: a --config
// TOML document (Config::merge_text: toml++ parse, unknown keys, type coercion) or a --set
// assignment (Config::set), over the defaults of the task the first byte picks. A document hmr
// accepted must survive the round trip it promises: the resolved config.toml it writes reads back
// into the same configuration. Config::validate (ranges) lives with the pipeline and is not linked.
#include "fuzz_common.h"
#include "pipeline/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
  if (size == 0) return 0;
  const auto task = static_cast<pipeline::Task>(data[0] % 3);
  const bool as_set = data[0] & 4;
  const std::string_view text = fuzz::as_text(data + 1, size - 1);
  fuzz::expect_clean([&] {
    pipeline::Config c = pipeline::Config::defaults(task);
    if (as_set)
      c.set(text);
    else
      c.merge_text(text, "fuzz.toml");
    const std::string written = c.to_toml();
    pipeline::Config back = pipeline::Config::defaults(task);
    try {
      back.merge_text(written, "config.toml");
    } catch (const hmr::Error& e) {
      fuzz::defect("the resolved config.toml does not read back", e.what());
    }
    fuzz::check(back.to_toml() == written, "config.toml reads back into the same configuration");
  });
  return 0;
}
