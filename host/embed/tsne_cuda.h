// embed/tsne_cuda.h — the embed stage's cuda seam: what tsne_cuda.cpp defines, declared for
// both cuda builds (cuda_emu, cuda_gpu). affinity.cpp, bh.cpp and tsne.cpp call them through HMR_CUDA_CALL and
// tsne_cuda.cpp includes this header, so a signature that drifts fails the build
// (-Werror=missing-declarations).
#pragma once

#include "core/backend.h"
#include "core/matrix.h"
#include "cuda/dispatch.h"
#include "embed/affinity.h"
#include "embed/bh.h"
#include "embed/optimize.h"
#include "embed/tsne.h"

HMR_DECLARE_CUDA(hmr::embed::Knn knn(hmr::Backend& b, hmr::ConstMatrixView x, int k);
                 std::vector<float> conditional_p(hmr::Backend & b, const hmr::embed::Knn& nn, double perplexity);
                 hmr::embed::Csr symmetrize(hmr::Backend & b, const hmr::embed::Knn& nn,
                                            const std::vector<float>& cond_p))

HMR_DECLARE_CUDA(double bh_gradient(hmr::Backend& b, const hmr::embed::Csr& p, hmr::ConstMatrixView y, double theta,
                                    double exag, std::vector<float>& grad);
                 double exact_z(hmr::Backend& b, hmr::ConstMatrixView y))

HMR_DECLARE_CUDA(void tsne_optimize(hmr::Backend& b, const hmr::embed::Csr& p, hmr::Matrix& y,
                                    const hmr::embed::OptimizeParams& prm, const hmr::embed::TsneProgress& progress,
                                    std::vector<std::pair<int, double>>& history))
