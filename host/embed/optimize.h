// embed/optimize.h — the gradient-descent loop of t-SNE on a fixed joint P (internal to the embed
// stage: tsne() calls it; tests call the per-backend loops directly).
// Phases follow scikit-learn's two _gradient_descent calls: iterations [0, exag_iters) use P
// multiplied by early_exag and `momentum`; the rest use P and `final_momentum`; the update and
// gains restart at the phase change. KL is estimated every kl_every iterations with the
// Barnes-Hut Z of that iteration (unexaggerated P).
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/error.h"
#include "core/matrix.h"
#include "embed/affinity.h"
#include "embed/bh.h"
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

// A non-finite embedding or KL: the steps were too large for these data, i.e. a setting (learning
// rate, early exaggeration), not a fault in hmr, so an input error (exit 2) that names them.
[[noreturn]] inline void diverged(int iteration, const std::string& what, const OptimizeParams& prm) {
  input_error(
      "t-SNE diverged at iteration {} ({}): learning rate {:g} with early exaggeration {:g} takes too large steps "
      "for these data; lower the learning rate (--learning-rate / tsne.learning_rate; 0 = auto) or early_exag",
      iteration, what, prm.learning_rate, prm.early_exag);
}

// The KL terms of one iteration's gradient (read only when the iteration reports).
struct StepKl {
  double z = 0.0, plogw = 0.0;
};

// The phase loop shared by every backend: restart() zeroes the update and resets the gains to 1
// at the phase change; step(report, exag, momentum) computes the gradient of the current
// embedding, applies one gains/momentum update and, when report, returns Z and sum p log w of
// that gradient. KL = sum p log p + sum p log w + log Z is recorded every kl_every iterations.
template <class Restart, class Step>
void descend(const Csr& p, const OptimizeParams& prm, const TsneProgress& progress,
             std::vector<std::pair<int, double>>& history, Restart&& restart, Step&& step) {
  const double plogp = p_log_p(p);
  for (int it = 0; it < prm.iters; ++it) {
    const bool exaggerated = it < prm.exag_iters;
    if (it == prm.exag_iters && it > 0) restart();  // scikit-learn restarts the descent for the second phase
    const bool report = prm.kl_every > 0 && ((it + 1) % prm.kl_every == 0 || it + 1 == prm.iters);
    const StepKl s =
        step(it, report, exaggerated ? prm.early_exag : 1.0, exaggerated ? prm.momentum : prm.final_momentum);
    if (report) {
      const double kl = plogp + s.plogw + std::log(s.z);
      if (!std::isfinite(kl)) diverged(it + 1, fmt::format("KL {}", kl), prm);
      history.emplace_back(it + 1, kl);
      if (progress) progress(it + 1, kl);
    }
  }
}

}  // namespace hmr::embed
