// decomp/pca.cuh — small kernels around cuBLAS/cuSOLVER for PCA: centring, a fixed-order double
// Gram product for the thin matrices of the randomized solver, eigenvector selection and the
// Cholesky-QR weights that orthonormalise a tall matrix with one symmetric eigensolve.
// Layouts are row-major unless a name says otherwise; eigenvectors come column-major from syevd.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace hmr::HMR_CUDA_NS::kern {

// xc[r][c] = x[r][c] - (float)mean[c]
void launch_center_columns(const float* x, std::int64_t rows, std::int64_t cols, const double* mean, float* xc,
                           cudaStream_t stream);
// g[a][b] = sum_t A(t, a) A(t, b) in double for a, b < m, where A(t, a) = a_ptr[t * stride_t + a *
// stride_m], t < len. One block per entry (both triangles), fixed-order reduction.
void launch_gram_double(const float* a, std::int64_t len, int m, std::int64_t stride_t, std::int64_t stride_m,
                        double* g, cudaStream_t stream);
// d[i] = (double)f[i]
void launch_float_to_double(const float* f, std::int64_t count, double* d, cudaStream_t stream);
// From syevd's ascending eigenpairs of an m x m matrix (vectors column-major): out[i] (row i of a
// [k x m] row-major matrix) = eigenvector m-1-i, vals[i] = max(eigenvalue m-1-i, 0).
void launch_take_top_eigen(const double* vecs, const double* w, int m, int k, float* out, double* vals,
                           cudaStream_t stream);
// a[i][c] /= sqrt(vals[i]) (rows whose value is 0 become 0): V^T = U^T X / s.
void launch_scale_rows_inv_sqrt(float* a, int rows, std::int64_t cols, const double* vals, cudaStream_t stream);
// Cholesky-QR weights from the eigenpairs of Y^T Y (l x l, vectors column-major): W[r][c] =
// V[r][c] / sqrt(w[c]), columns with w[c] <= 1e-12 max(w) set to 0; Y W has orthonormal columns.
void launch_cholqr_weights(const double* vecs, const double* w, int l, float* W, cudaStream_t stream);
// out[r][c] = v[c] for every row r.
void launch_fill_rows(const float* v, std::int64_t rows, std::int64_t cols, float* out, cudaStream_t stream);

}  // namespace hmr::HMR_CUDA_NS::kern
