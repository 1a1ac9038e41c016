// text/tfidf_cuda.cpp — the cuda backend's TF-IDF weighting: upload the CSR count matrix and the
// idf vector, weight and normalise the rows on the device, download the values.
#include "text/tfidf_cuda.h"
#include "cuda/buffer.h"
#include "cuda/context.h"
#include "text/tfidf.cuh"
#include "text/tfidf.h"

namespace hmr::HMR_CUDA_NS {

void weight_rows(hmr::Backend& b, const text::TfidfModel& model, text::Csr& m) {
  if (m.rows == 0 || m.nnz() == 0) return;
  Context& ctx = context(b);
  cudaStream_t s = ctx.stream();
  const text::TfidfOptions& o = model.options;
  auto indptr = ctx.to_scratch(m.indptr);
  auto indices = ctx.to_scratch(m.indices);
  auto values = ctx.to_scratch(m.data);
  PooledBuffer<double> idf;
  if (o.use_idf) idf = ctx.to_scratch(model.idf);
  const auto norm = o.norm == text::Norm::l2   ? kern::TfidfNorm::l2
                    : o.norm == text::Norm::l1 ? kern::TfidfNorm::l1
                                               : kern::TfidfNorm::none;
  kern::launch_tfidf_weight_rows(indptr.data(), indices.data(), values.data(), o.use_idf ? idf.data() : nullptr, m.rows,
                                 o.binary, o.sublinear_tf, norm, s);
  values.download(m.data.data(), m.data.size(), s);
  ctx.sync();
}

}  // namespace hmr::HMR_CUDA_NS
