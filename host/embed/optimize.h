// embed/optimize.h — the gradient-descent loop of t-SNE on a fixed joint P (internal to the embed
// stage: tsne() calls it; tests call the per-backend loops directly).
// Phases follow scikit-learn's two _gradient_descent calls: iterations [0, exag_iters) use P
// multiplied by early_exag and `momentum`; the rest use P and `final_momentum`; the update and
// gains restart at the phase change. KL is estimated every kl_every iterations with the
// Barnes-Hut Z of that iteration (unexaggerated P).
#pragma once

#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"
#include "embed/affinity.h"
#include "embed/tsne.h"

namespace hmr::embed {

struct OptimizeParams {
  double theta = 0.5;
  int iters = 1000;
  double early_exag = 12.0;
  int exag_iters = 250;
  double learning_rate = 200.0;
  double momentum = 0.5, final_momentum = 0.8, min_gain = 0.01;
  int kl_every = 50;
};

// y: [n x dims] initial embedding in, final embedding out. history gets (iteration, KL).
void optimize(Backend& backend, const Csr& p, Matrix& y, const OptimizeParams& prm, const TsneProgress& progress,
              std::vector<std::pair<int, double>>& history);
void optimize_cpu(const Csr& p, Matrix& y, const OptimizeParams& prm, const TsneProgress& progress,
                  std::vector<std::pair<int, double>>& history);

}  // namespace hmr::embed
