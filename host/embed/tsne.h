// embed/tsne.h — Barnes-Hut t-SNE (van der Maaten 2014) with openTSNE / scikit-learn defaults.
//
// Pipeline: exact k nearest neighbours (k = min(N-1, 3 * perplexity)) -> per-point Gaussian
// precision by binary search to the target perplexity -> symmetrised joint P = (P + P^T) / 2N in
// CSR -> gradient descent on KL(P || Q) with early exaggeration, momentum and gains. Repulsion
// uses a Barnes-Hut tree built without locks: Morton codes -> radix sort -> Karras (2012) binary
// radix tree -> bottom-up centres of mass with arrival counters. Attraction is a CSR row sweep.
// All reductions have a fixed order, so the same seed on the same backend gives the same
// embedding, bit for bit.
//
// Conventions (see ../shared/DESIGN.md, "Numerical parity"): the gradient omits the factor 4 of
// van der Maaten's formula (FIt-SNE / openTSNE convention), so learning_rate 'auto' =
// max(N / early_exag, 200) here is the step scikit-learn takes with max(N / early_exag / 4, 50).
// Layout: x [N x d] row-major float32; the embedding y [N x dims] row-major float32.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"
#include "core/timer.h"

namespace hmr::embed {

enum class TsneInit { pca, random };

struct TsneOptions {
  double perplexity = 30.0;
  double theta = 0.5;        // Barnes-Hut opening angle; 0 = exact repulsion
  int iters = 1000;          // total iterations, early exaggeration included
  double early_exag = 12.0;  // exaggeration of P during the first exag_iters iterations
  int exag_iters = 250;
  double learning_rate = 0.0;           // <= 0: 'auto' = max(N / early_exag, 200)
  double momentum = 0.5;                // during early exaggeration
  double final_momentum = 0.8;          // afterwards
  double min_gain = 0.01;               // gains: +0.2 when the step changes sign, x0.8 otherwise
  TsneInit init = TsneInit::pca;        // pca: top principal components scaled to std 1e-4
  std::uint64_t seed = 42;              // random init (and nothing else: the rest is deterministic)
  int dims = 2;                         // 2 or 3
  int neighbours = 0;                   // <= 0: min(N - 1, 3 * perplexity)
  int kl_every = 50;                    // progress callback period (iterations); 0 = never
  std::int64_t exact_kl_max_n = 10000;  // final KL with the exact O(N^2) Z up to this N
};

struct TsneResult {
  Matrix y;                                        // [N x dims]
  double kl = 0.0;                                 // KL(P || Q) of the final embedding
  bool kl_exact = false;                           // true: Z summed exactly; false: Barnes-Hut estimate of Z
  double seconds = 0.0;                            // wall time of tsne() in total
  int neighbours = 0;                              // k actually used
  double learning_rate = 0.0;                      // the learning rate actually used
  StageTimings timings;                            // "tsne/knn", "tsne/affinities", "tsne/optimize", "tsne/kl"
  std::vector<std::pair<int, double>> kl_history;  // (iteration, KL with the BH estimate of Z)
};

// iteration (1-based, multiple of kl_every or the last), KL estimate at that iteration.
using TsneProgress = std::function<void(int iteration, double kl)>;

// Validates input (N >= 4, finite, 0 < perplexity with 3 * perplexity <= N - 1 ... see tsne.cpp)
// and runs the whole t-SNE on the backend. Throws hmr::Error(input) on bad input.
TsneResult tsne(Backend& backend, ConstMatrixView x, const TsneOptions& opt = {}, const TsneProgress& progress = {});

// The initial embedding tsne() starts from: PCA (top `dims` principal components of the centred
// data, computed in double, sign fixed so the largest |loading| of each component is positive)
// or seeded N(0, 1) noise, then scaled so the first column has standard deviation 1e-4.
Matrix initial_embedding(ConstMatrixView x, const TsneOptions& opt);

// Trustworthiness (Venna & Kaski 2001) with scikit-learn's definition
// (sklearn.manifold.trustworthiness, Euclidean): 1 - 2/(N k (2N - 3k - 1)) * sum of rank
// penalties of embedding neighbours that are not input neighbours. O(N^2 d), cpu.
double trustworthiness(ConstMatrixView x, ConstMatrixView y, int k = 5);

}  // namespace hmr::embed
