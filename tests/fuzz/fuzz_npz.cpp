// tests/fuzz/fuzz_npz.cpp — libFuzzer target for the sparse-matrix .npz reader (text::parse_npz:
// stored zip, zip64 sizes, .npy members) and the CSR invariants it promises its consumers.
#include "fuzz_common.h"
#include "text/tfidf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hmr;
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
