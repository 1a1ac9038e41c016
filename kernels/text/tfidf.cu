// text/tfidf.cu — TF-IDF weighting of CSR rows (see tfidf.cuh). Rows are short (a lyric holds a
// few hundred distinct terms), so one 128-thread block per row: each thread weights a strided
// slice of the row and keeps its partial norm; the block reduces the partials in a fixed tree
// and every thread then rescales its slice. Values are recomputed in the second pass instead of
// being kept, so no per-row scratch is needed.
#include "gpu/check.h"
#include "gpu/reduce.cuh"
#include "text/tfidf.cuh"

namespace hmr::HMR_CUDA_NS::kern {
namespace {

constexpr int kThreads = 128;
constexpr unsigned kMaxBlocks = 65535u * 16u;  // grid-stride over rows beyond this

__device__ __forceinline__ double tfidf_value(float count, const double* idf, std::int32_t col, bool binary,
                                              bool sublinear) {
  double tf = binary ? 1.0 : static_cast<double>(count);
  if (sublinear) tf = log(tf) + 1.0;
  return idf ? tf * idf[col] : tf;
}

__global__ void __launch_bounds__(kThreads)
    tfidf_weight_rows_kernel(const std::int64_t* __restrict__ indptr, const std::int32_t* __restrict__ indices,
                             float* __restrict__ values, const double* __restrict__ idf, std::int64_t rows, bool binary,
                             bool sublinear, int norm) {
  GPU_SHARED(partial, double[kThreads]);
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const std::int64_t a = indptr[r], b = indptr[r + 1];
    double s = 0.0;
    for (std::int64_t k = a + threadIdx.x; k < b; k += kThreads) {
      const double x = tfidf_value(values[k], idf, indices[k], binary, sublinear);
      s += norm == 2 ? x * x : fabs(x);
    }
    const double total = gpu::block_sum<kThreads>(partial, s);  // ends in a barrier: partial is reusable
    double scale = 1.0;
    if (norm != 0 && total > 0.0) scale = norm == 2 ? sqrt(total) : total;
    for (std::int64_t k = a + threadIdx.x; k < b; k += kThreads)
      values[k] = static_cast<float>(tfidf_value(values[k], idf, indices[k], binary, sublinear) / scale);
  }
}

}  // namespace

void launch_tfidf_weight_rows(const std::int64_t* indptr, const std::int32_t* indices, float* values, const double* idf,
                              std::int64_t rows, bool binary, bool sublinear, TfidfNorm norm, cudaStream_t stream) {
  if (rows <= 0) return;
  const unsigned blocks = rows < static_cast<std::int64_t>(kMaxBlocks) ? static_cast<unsigned>(rows) : kMaxBlocks;
  HMR_LAUNCH(tfidf_weight_rows_kernel, blocks, kThreads, 0, stream, indptr, indices, values, idf, rows, binary,
             sublinear, static_cast<int>(norm));
}

}  // namespace hmr::HMR_CUDA_NS::kern
