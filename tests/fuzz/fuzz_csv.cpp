// tests/fuzz/fuzz_csv.cpp — libFuzzer target for the RFC 4180 CSV reader (io::parse_csv) and
// the numeric-array layer over it (io::parse_numeric_csv: header and pandas index detection,
// cell parsing, then the float32 matrix / label conversions). The first byte picks the options
// (delimiter, lossy, strict, ragged, header, blank lines; bit 7: non-finite cells allowed), so
// every mode is fuzzed; the rest is the file.
#include "fuzz_common.h"
#include "io/csv.h"
#ifndef HMR_FUZZ_PLANT
#include "io/array.h"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  io::CsvOptions opt;
  static constexpr char kDelims[] = {',', ';', '\t', '|'};
  opt.delimiter = kDelims[mode & 3];
  opt.lossy = mode & 4;
  opt.strict = mode & 8;
  opt.allow_ragged = mode & 16;
  opt.header = !(mode & 32);
  opt.skip_blank_lines = !(mode & 64);
  fuzz::expect_clean([&] {
    const io::CsvTable t = io::parse_csv(fuzz::as_text(data + 1, size - 1), opt, "fuzz.csv");
    fuzz::check(t.rows.size() == t.lines.size(), "one line number per record");
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      fuzz::check(r == 0 || t.lines[r] > t.lines[r - 1], "records start on increasing lines");
      if (opt.header && !opt.allow_ragged)
        fuzz::check(t.rows[r].size() <= t.header.size(), "no record wider than the header");
      for (const auto& f : t.rows[r])
        fuzz::check(io::find_invalid_utf8(f) == std::string_view::npos, "fields are valid UTF-8");
    }
    if (!t.header.empty()) fuzz::expect_clean([&] { (void)t.column(t.header.back()); });
  });
#ifndef HMR_FUZZ_PLANT
  fuzz::expect_clean([&] {
    std::vector<std::string> notes;
    const io::NpyArray a = io::parse_numeric_csv(fuzz::as_text(data + 1, size - 1), "fuzz.csv", mode & 128, &notes);
    fuzz::check(a.shape.size() == 2 && a.shape[0] > 0, "a CSV array has rows");
    fuzz::check(a.bytes.size() == static_cast<std::size_t>(a.count()) * 8, "int64 / float64 cells");
    fuzz::expect_clean([&] { (void)io::as_matrix(a, "fuzz.csv", mode & 128, &notes); });
    fuzz::expect_clean([&] { (void)io::as_labels(a, "fuzz.csv", &notes); });
  });
#endif
  return 0;
}
