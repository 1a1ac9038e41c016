// tests/fuzz/fuzz_safetensors.cpp — libFuzzer target for the model reader (nn::parse_safetensors:
// header length, JSON header, metadata, architecture, tensor dtypes, shapes and data offsets; a
// file without hmr metadata takes the plain-state_dict path: architecture from the shapes, F64 /
// F16 / BF16 conversion, the "module." prefix, scaler.* tensors).
#include "fuzz_common.h"
#include "nn/vae.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
  fuzz::expect_clean([&] {
    const nn::VaeModel m = nn::parse_safetensors(fuzz::as_text(data, size), "fuzz.safetensors");
    fuzz::check(m.params.size() == nn::param_count(m.config), "every parameter of the architecture is filled");
    // F16 / BF16 tensors hold a parameter in 2 bytes.
    fuzz::check(m.params.size() * 2 <= size, "no more parameters than the file holds bytes for");
    fuzz::check(!m.standardized || m.scaler.mean.size() == static_cast<std::size_t>(m.config.input_dim),
                "scaler statistics for every input feature");
  });
  return 0;
}
