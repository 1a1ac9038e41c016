// tests/fuzz/fuzz_npy.cpp — libFuzzer target for the .npy reader (io::parse_npy, the path every
// read_npy takes: every dtype, either byte order, C or Fortran order, normalised in memory) and
// the conversions behind read_matrix / read_labels (float16, ints, bool, reshape of N-D arrays).
#include "fuzz_common.h"
#include "io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
  fuzz::expect_clean([&] {
    const io::NpyArray a = io::parse_npy(fuzz::as_text(data, size), "fuzz.npy");
    // The reader promises the payload is exactly what dtype and shape need.
    std::int64_t count = 1;
    for (const auto d : a.shape) count *= d;
    fuzz::check(count == a.count(), "count() is the product of the shape");
    fuzz::check(count == 0 || a.bytes.size() % static_cast<std::size_t>(count) == 0, "payload is count * item size");
    std::vector<std::string> notes;
    fuzz::expect_clean([&] { (void)io::as_matrix(a, "fuzz.npy", false, &notes); });
    fuzz::expect_clean([&] { (void)io::as_matrix(a, "fuzz.npy", true, &notes); });
    fuzz::expect_clean([&] { (void)io::as_labels(a, "fuzz.npy", &notes); });
  });
  return 0;
}
