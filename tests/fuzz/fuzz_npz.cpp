// tests/fuzz/fuzz_npz.cpp — libFuzzer target for the .npz readers: the zip walk (io::npz_members:
// stored and deflated members, zip64 sizes, CRCs), a member picked as io::read_array does (the only
// one, or by name "X" / "arr_0") through the matrix and label conversions, and the sparse-matrix
// reader (text::parse_npz) with the CSR invariants it promises its consumers.
#include "fuzz_common.h"
#include "io/npz.h"
#include "text/tfidf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
  const std::string_view z = fuzz::as_text(data, size);
  fuzz::expect_clean([&] {
    const auto members = io::npz_members(z, "fuzz.npz");
    for (const auto& m : members) fuzz::check(m.deflated || m.bytes().data() >= z.data(), "stored bytes in place");
  });
  for (const char* name : {"", "X", "arr_0"})
    fuzz::expect_clean([&] {
      const io::NpyArray a = io::npz_array(z, "fuzz.npz", name);
      fuzz::expect_clean([&] { (void)io::as_matrix(a, "fuzz.npz", true); });
      fuzz::expect_clean([&] { (void)io::as_labels(a, "fuzz.npz"); });
    });
  fuzz::expect_clean([&] {
    const text::Csr m = text::parse_npz(fuzz::as_text(data, size), "fuzz.npz");
    fuzz::check(m.rows >= 0 && m.cols >= 0, "non-negative shape");
    fuzz::check(m.indptr.size() == static_cast<std::size_t>(m.rows) + 1, "indptr has rows + 1 entries");
    fuzz::check(m.indptr.front() == 0 && m.indptr.back() == m.nnz(), "indptr runs from 0 to nnz");
    for (std::size_t r = 0; r + 1 < m.indptr.size(); ++r) fuzz::check(m.indptr[r] <= m.indptr[r + 1], "monotone");
    for (const auto c : m.indices) fuzz::check(c >= 0 && c < m.cols, "column index inside the shape");
  });
  return 0;
}
