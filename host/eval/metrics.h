// eval/metrics.h — clustering metrics with scikit-learn's definitions (sklearn.metrics), all
// accumulated in double:
//   internal (need the data): silhouette (Rousseeuw 1987; Euclidean, mean over samples, 0 for
//     singletons; optional sample_size drawn as sklearn's random_state.permutation), Calinski-
//     Harabasz (1974), Davies-Bouldin (1979);
//   external (need a reference labelling): adjusted Rand index (Hubert & Arabie 1985), normalised
//     mutual information (arithmetic mean of the entropies), purity, and the contingency table;
//     in label_metrics.cpp: adjusted mutual information (Vinh, Epps & Bailey 2010; arithmetic
//     mean), homogeneity / completeness / V-measure (Rosenberg & Hirschberg 2007), Fowlkes-Mallows
//     (1983), and clustering accuracy (best one-to-one matching of clusters to classes, Hungarian).
// Noise: a predicted label -1 (DBSCAN / HDBSCAN) is, as in scikit-learn, just one more cluster
// for every metric here. NoisePolicy::exclude (score_all, hmr metrics --noise exclude) scores the
// non-noise points only instead.
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
// sklearn adjusted_mutual_info_score(average_method='arithmetic'): (MI - E[MI]) / (mean(H) - E[MI]);
// 1 when both labellings have one value, 0 when exactly one does.
double adjusted_mutual_info(Labels truth, Labels pred);
// sklearn expected_mutual_information of a contingency table of n samples (log-space factorials).
double expected_mutual_info(const std::vector<std::int64_t>& row_sums, const std::vector<std::int64_t>& col_sums,
                            std::int64_t n);
struct HomogeneityCompleteness {
  double homogeneity = 0.0, completeness = 0.0, v_measure = 0.0;
};
// sklearn homogeneity_completeness_v_measure(beta).
HomogeneityCompleteness homogeneity_completeness_v(Labels truth, Labels pred, double beta = 1.0);
double fowlkes_mallows(Labels truth, Labels pred);  // sklearn fowlkes_mallows_score
// Fraction of points on the diagonal of the best one-to-one matching of clusters to classes
// (scipy linear_sum_assignment(contingency, maximize=True)); with more clusters than classes the
// unmatched clusters' points count as errors, and likewise for unmatched classes.
double clustering_accuracy(Labels truth, Labels pred);

// Predicted label -1 means noise. cluster: -1 is one more cluster (scikit-learn's behaviour, the
// default); exclude: the noise points are dropped (from the data too) before scoring.
enum class NoisePolicy { cluster, exclude };
constexpr std::int32_t kNoiseLabel = -1;
std::int64_t count_noise(Labels pred);
const char* to_string(NoisePolicy p);                  // "cluster" | "exclude"
NoisePolicy parse_noise_policy(const std::string& s);  // throws (exit 2) on anything else

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
  std::optional<double> ami, homogeneity, completeness, v_measure, fowlkes_mallows, accuracy;
  std::int64_t n_noise = 0;  // predicted -1 labels in the input
  NoisePolicy noise = NoisePolicy::cluster;
};
// Fills the label metrics of s (ari .. accuracy) for truth against pred.
void score_labels(Labels truth, Labels pred, ClusterScores& s);
struct ScoreOptions {
  SilhouetteOptions silhouette;
  NoisePolicy noise = NoisePolicy::cluster;
};
ClusterScores score_all(Backend& backend, ConstMatrixView x, Labels pred, std::optional<Labels> truth = std::nullopt,
                        const ScoreOptions& opt = {});
// {"silhouette": .., "calinski_harabasz": .., "davies_bouldin": .., ["ari", "nmi", "purity", "ami",
//  "homogeneity", "completeness", "v_measure", "fowlkes_mallows", "accuracy"], "n_noise": ..,
//  "noise": "cluster" | "exclude"}
std::string to_json(const ClusterScores& s, int indent = 2);

}  // namespace hmr::eval
