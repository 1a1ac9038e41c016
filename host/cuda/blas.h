// cuda/blas.h — the cuBLAS calls hmr makes, behind thin wrappers. Semantics are cuBLAS's:
// column-major, leading dimensions, strided batches. The emulated build runs them with OpenBLAS
// on the same (host-resident) buffers, so callers cannot tell the difference.
#pragma once

#include "cuda/context.h"

namespace hmr::HMR_CUDA_NS::blas {

enum class Op { N, T };

// C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C, all column-major.
void gemm(Context& ctx, Op ta, Op tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
          int ldb, float beta, float* C, int ldc);
void gemm_strided_batched(Context& ctx, Op ta, Op tb, int m, int n, int k, float alpha, const float* A, int lda,
                          long long stride_a, const float* B, int ldb, long long stride_b, float beta, float* C,
                          int ldc, long long stride_c, int batch);

// Row-major convenience with the transpose trick (no copies): C[m x n] = alpha * op(A) op(B) +
// beta * C where A, B, C are row-major with leading dimensions lda, ldb, ldc (elements per row).
void gemm_rm(Context& ctx, bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* A, int lda,
             const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace hmr::HMR_CUDA_NS::blas
