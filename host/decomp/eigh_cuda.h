// decomp/eigh_cuda.h — the symmetric eigensolver PCA needs on the cuda backend, as a thin wrapper:
// cuSOLVER cusolverDnDsyevd on a device, LAPACKE_dsyevd on the emulated build's host-resident
// buffers. Same contract in both: a column-major m x m symmetric matrix (upper triangle read) in
// device memory is overwritten by its eigenvectors (column j for w[j]); w ascending.
#pragma once

#include "cuda/context.h"

namespace hmr::HMR_CUDA_NS::solver {

void syevd(Context& ctx, int m, double* a, double* w);

}  // namespace hmr::HMR_CUDA_NS::solver
