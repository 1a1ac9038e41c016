// eval/metrics.h — clustering metrics with scikit-learn's definitions (sklearn.metrics), all
// accumulated in double:
//   internal (need the data): silhouette (Rousseeuw 1987; Euclidean, mean over samples, 0 for
//     singletons; optional sample_size drawn as sklearn's random_state.permutation), Calinski-
//     Harabasz (1974), Davies-Bouldin (1979);
//   external (need a reference labelling): adjusted Rand index (Hubert & Arabie 1985), normalised
//     mutual information (arithmetic mean of the entropies), purity, and the contingency table.
// Labels are arbitrary int32 values (they are mapped to 0..k-1 in sorted order, as np.unique).
// Data x is row-major [n x d] float32. silhouette runs on the backend (cuda: tiled, never N x N);
// the rest are O(n d) or O(n) and run on the host.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::eval {

using Labels = std::span<const std::int32_t>;

struct SilhouetteOptions {
  std::int64_t sample_size = 0;  // 0 = all samples
  std::uint64_t seed = 0;        // numpy RandomState(seed).permutation, as sklearn's random_state
};

// Mean silhouette coefficient. Errors (exit 2) as sklearn: lengths differ, fewer than 2 or more
// than n-1 distinct labels, empty or non-finite x.
double silhouette(Backend& backend, ConstMatrixView x, Labels labels, const SilhouetteOptions& opt = {});
// Per-sample silhouette values [n] (sklearn silhouette_samples).
std::vector<double> silhouette_samples(Backend& backend, ConstMatrixView x, Labels labels);
double calinski_harabasz(ConstMatrixView x, Labels labels);
double davies_bouldin(ConstMatrixView x, Labels labels);

double adjusted_rand(Labels truth, Labels pred);
double nmi(Labels truth, Labels pred);  // arithmetic normalisation
double purity(Labels truth, Labels pred);

struct Contingency {
  std::vector<std::int32_t> classes;   // sorted distinct truth labels [r]
  std::vector<std::int32_t> clusters;  // sorted distinct predicted labels [c]
  std::vector<std::int64_t> counts;    // [r x c] row-major: counts[i * c + j]
  std::int64_t at(std::size_t i, std::size_t j) const { return counts[i * clusters.size() + j]; }
};
Contingency contingency(Labels truth, Labels pred);

// The metrics.json "results" entry for one method. Label-based fields are present only when a
// truth labelling was given.
struct ClusterScores {
  double silhouette = 0.0, calinski_harabasz = 0.0, davies_bouldin = 0.0;
  std::optional<double> ari, nmi, purity;
};
struct ScoreOptions {
  SilhouetteOptions silhouette;
};
ClusterScores score_all(Backend& backend, ConstMatrixView x, Labels pred, std::optional<Labels> truth = std::nullopt,
                        const ScoreOptions& opt = {});
// {"silhouette": .., "calinski_harabasz": .., "davies_bouldin": .., ["ari", "nmi", "purity"]}
std::string to_json(const ClusterScores& s, int indent = 2);

}  // namespace hmr::eval
