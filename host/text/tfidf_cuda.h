// text/tfidf_cuda.h — the text stage's cuda seam: what tfidf_cuda.cpp defines, declared for
// both cuda builds (cuda_emu, cuda_gpu). tfidf.cpp call them through HMR_CUDA_CALL and
// tfidf_cuda.cpp includes this header, so a signature that drifts fails the build
// (-Werror=missing-declarations).
#pragma once

#include "core/backend.h"
#include "cuda/dispatch.h"
#include "text/tfidf.h"

HMR_DECLARE_CUDA(void weight_rows(hmr::Backend& b, const hmr::text::TfidfModel& model, hmr::text::Csr& counts))
