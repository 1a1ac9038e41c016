// cuda/blas_cuda.cpp — cuBLAS wrappers; the emulated build runs OpenBLAS on the same buffers.
#include "cuda/blas.h"

#include "core/error.h"
#include "cuda/check.h"

#if defined(HMR_EMU)
#include <cblas.h>
#endif

namespace hmr::HMR_CUDA_NS::blas {

#if defined(HMR_EMU)
namespace {
CBLAS_TRANSPOSE cb(Op o) { return o == Op::N ? CblasNoTrans : CblasTrans; }
}  // namespace

void gemm(Context&, Op ta, Op tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
          float beta, float* C, int ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasColMajor, cb(ta), cb(tb), m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_strided_batched(Context& ctx, Op ta, Op tb, int m, int n, int k, float alpha, const float* A, int lda,
                          long long sa, const float* B, int ldb, long long sb, float beta, float* C, int ldc,
                          long long sc, int batch) {
  for (int i = 0; i < batch; ++i)
    gemm(ctx, ta, tb, m, n, k, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
}
#else
namespace {
cublasOperation_t cb(Op o) { return o == Op::N ? CUBLAS_OP_N : CUBLAS_OP_T; }
}  // namespace

void gemm(Context& ctx, Op ta, Op tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
          int ldb, float beta, float* C, int ldc) {
  if (m == 0 || n == 0) return;
  HMR_CUBLAS_CHECK(cublasSgemm(static_cast<cublasHandle_t>(ctx.blas_handle()), cb(ta), cb(tb), m, n, k, &alpha, A, lda,
                               B, ldb, &beta, C, ldc));
}

void gemm_strided_batched(Context& ctx, Op ta, Op tb, int m, int n, int k, float alpha, const float* A, int lda,
                          long long sa, const float* B, int ldb, long long sb, float beta, float* C, int ldc,
                          long long sc, int batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  HMR_CUBLAS_CHECK(cublasSgemmStridedBatched(static_cast<cublasHandle_t>(ctx.blas_handle()), cb(ta), cb(tb), m, n, k,
                                             &alpha, A, lda, sa, B, ldb, sb, &beta, C, ldc, sc, batch));
}
#endif

void gemm_rm(Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* A, int lda,
             const float* B, int ldb, float beta, float* C, int ldc) {
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap operands, keep flags.
  gemm(ctx, trans_b ? Op::T : Op::N, trans_a ? Op::T : Op::N, n, m, k, alpha, B, ldb, A, lda, beta, C, ldc);
}

}  // namespace hmr::HMR_CUDA_NS::blas
