// tests/fuzz/fuzz_safetensors.cpp — libFuzzer target for the model reader (nn::parse_safetensors:
// header length, JSON header, metadata, architecture, tensor dtypes, shapes and data offsets).
#include "fuzz_common.h"
#include "nn/vae.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
  fuzz::expect_clean([&] {
    const nn::VaeModel m = nn::parse_safetensors(fuzz::as_text(data, size), "fuzz.safetensors");
    fuzz::check(m.params.size() == nn::param_count(m.config), "every parameter of the architecture is filled");
    fuzz::check(m.params.size() * 4 <= size, "no more parameters than the file holds bytes for");
  });
  return 0;
}
