// cluster/kmeans.h — K-Means with scikit-learn's semantics (sklearn.cluster.KMeans, lloyd):
//   * greedy k-means++ init (Arthur & Vassilvitskii 2007; sklearn's greedy variant: 2 + floor(ln k)
//     candidate centres per step, keep the one that lowers the potential most),
//   * Lloyd iterations until labels stop changing (strict convergence) or the squared centre shift
//     drops to tol * mean(var(X, axis=0)), at most max_iter; a final E-step so labels match centres,
//   * empty clusters re-seeded with the points farthest from their centres,
//   * n_init restarts, the run with the lowest inertia wins.
// The random stream is numpy's legacy RandomState (MT19937 seeded with `seed`), drawn in the same
// order as scikit-learn, so a seed means the same initial candidates as sklearn's random_state.
// Data: x row-major [n x d] float32; labels int32 in [0, k); centers [k x d].
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::cluster {

struct KMeansOptions {
  int k = 8;
  int n_init = 10;
  int max_iter = 300;
  double tol = 1e-4;  // relative: multiplied by the mean per-feature variance of x
  std::uint64_t seed = 0;
  // Called with (restarts finished, n_init) as runs end (from one thread at a time); may be empty.
  // It only observes: the result does not depend on it. The cuda backend runs the restarts as
  // one batch and reports once, at the end.
  std::function<void(int, int)> progress;
};

struct KMeansResult {
  std::vector<std::int32_t> labels;  // [n]
  Matrix centers;                    // [k x d]
  double inertia = 0.0;              // sum of squared distances to the assigned centre
  int n_iter = 0;                    // Lloyd iterations of the winning run
  int best_init = 0;                 // which of the n_init runs won
  std::vector<double> init_inertia;  // inertia of every run, in order
};

// Fits K-Means on `backend`. Throws Error(input) (exit 2) for k < 2, k > n, n_init < 1,
// max_iter < 1, tol < 0, empty or non-finite x.
KMeansResult kmeans(Backend& backend, ConstMatrixView x, const KMeansOptions& opt);

// Index of the nearest centre for each row of x (ties -> lowest index), as KMeans.predict.
std::vector<std::int32_t> predict(Backend& backend, ConstMatrixView centers, ConstMatrixView x);

// Sum of squared distances from each row to its labelled centre (double accumulation).
double inertia(ConstMatrixView x, ConstMatrixView centers, const std::vector<std::int32_t>& labels);

// numpy.random.RandomState(seed) compatible stream: MT19937 init_genrand + random_sample
// (53-bit doubles from two 32-bit draws).
class KMeansRng {
 public:
  explicit KMeansRng(std::uint32_t seed);
  double uniform();                                          // [0, 1) as numpy random_sample
  std::uint64_t interval(std::uint64_t max);                 // [0, max] as numpy's legacy random_interval
  std::vector<std::int64_t> permutation(std::int64_t n);     // RandomState.permutation(n)
  void discard(std::uint64_t draws) { mt_.discard(draws); }  // skips 32-bit draws (uniform() takes 2)

 private:
  std::mt19937 mt_;  // std::mt19937(seed) is MT19937 init_genrand, as numpy's legacy seeding
  std::uint32_t next_u32() { return static_cast<std::uint32_t>(mt_()); }
};

// The greedy k-means++ initial centres of one run (x already centred by the caller or not: the
// result is the same rows of x), drawing from `rng` in sklearn's order. Exposed for tests.
Matrix kmeans_plusplus(ConstMatrixView x, int k, KMeansRng& rng);

// cpu twins of the per-iteration kernels (used by the cpu backend and the kernel tests).
// Assign: labels[i] = argmin_j ||x_i - c_j||^2, dist[i] = that squared distance (float).
void kmeans_assign_cpu(ConstMatrixView x, ConstMatrixView centers, std::int32_t* labels, float* dist);
// Update (one M-step as sklearn's lloyd_iter + _relocate_empty_clusters_dense): centers = mean of
// the rows of each label (double sums in a fixed order), empty clusters re-seeded with the rows
// farthest from their old centre (dist[i] = squared distance of row i to old_centers[labels[i]];
// null: computed here when a cluster is empty).
// Returns the summed squared centre shift; counts[j] = members of j after relocation.
double kmeans_update_cpu(ConstMatrixView x, const std::int32_t* labels, const float* dist, ConstMatrixView old_centers,
                         Matrix& centers, std::vector<std::int64_t>& counts);

}  // namespace hmr::cluster
