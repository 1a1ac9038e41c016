// bench/kernels/text_kernels.cpp — the TF-IDF weighting kernel (kernels/text/tfidf.cuh) beside its
// cpu twin (text::weight_rows_cpu) on a random count matrix shaped like lyrics: n documents of up
// to 200 distinct terms from a 20000-term vocabulary, smooth idf, l2 norm.
#include <algorithm>

#include "harness.h"
#include "text/tfidf.cuh"
#include "text/tfidf.h"

namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;

// ---- adapter: the only lines that name launchers ------------------------------------------------
void weight_rows(const Buf<std::int64_t>& indptr, const Buf<std::int32_t>& indices, Buf<float>& values,
                 const Buf<double>& idf, std::int64_t rows) {
  kern::launch_tfidf_weight_rows(indptr.get(), indices.get(), values.get(), idf.get(), rows, false, false,
                                 kern::TfidfNorm::l2, nullptr);
}
// -------------------------------------------------------------------------------------------------

constexpr std::int64_t kVocab = 20000;

void bench_weight(const Problem& p, Report& r) {
  hmr::text::Csr counts;
  counts.rows = p.n;
  counts.cols = kVocab;
  counts.indptr.push_back(0);
  const auto u = uniform(static_cast<std::size_t>(p.n) * 201, 21, 0.0f, 1.0f);
  std::size_t at = 0;
  for (std::int64_t i = 0; i < p.n; ++i) {
    const int len = static_cast<int>(u[at++] * 200.0f);
    std::vector<std::int32_t> cols;
    for (int t = 0; t < len; ++t) cols.push_back(static_cast<std::int32_t>(u[at++] * (kVocab - 1)));
    std::sort(cols.begin(), cols.end());
    cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
    for (const auto c : cols) {
      counts.indices.push_back(c);
      counts.data.push_back(static_cast<float>(1 + c % 5));
    }
    counts.indptr.push_back(static_cast<std::int64_t>(counts.indices.size()));
    at = static_cast<std::size_t>(i + 1) * 201;
  }
  hmr::text::TfidfModel model;
  const auto idf = uniform(kVocab, 22, 1.0f, 8.0f);
  model.idf.assign(idf.begin(), idf.end());
  model.df.assign(kVocab, 1);
  model.vocabulary.assign(kVocab, "t");
  r.shape(std::to_string(p.n) + " docs nnz=" + std::to_string(counts.nnz()));
  hmr::text::Csr want;
  r.cpu_ms(time_cpu(p.repeat, [&] {
    want = counts;
    hmr::text::weight_rows_cpu(model, want);
  }));
  Buf<std::int64_t> indptr(counts.indptr);
  Buf<std::int32_t> indices(counts.indices);
  Buf<float> values(counts.data);
  Buf<double> didf(model.idf);
  // the weighting is in place: restore the counts before every call
  r.device_ms(time_device(
      p.repeat, [&] { weight_rows(indptr, indices, values, didf, p.n); }, [&] { values.upload(counts.data); }));
  r.check("weights", values.host(), want.data, 1e-7, 1e-6);
}

HMR_KERNEL_BENCH({"tfidf_weight_rows", "launch_tfidf_weight_rows", "documents (<= 200 terms each, 20000 terms)", 4000,
                  200000, &bench_weight});

}  // namespace
