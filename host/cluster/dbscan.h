// cluster/dbscan.h — DBSCAN (Ester, Kriegel, Sander & Xu, KDD 1996) with exactly the semantics of
// scikit-learn's sklearn.cluster.DBSCAN (sklearn/cluster/_dbscan.py + _dbscan_inner.pyx):
//   * N(i) = { j : dist(x_i, x_j) <= eps }, the point itself included;
//   * core  <=> |N(i)| >= min_samples;
//   * clusters are grown by dbscan_inner's depth-first search started at each still-unlabelled core
//     point in increasing index order, so cluster c is the connected component (over core-core
//     edges) whose smallest core index is the c-th smallest; a border point (non-core with a core
//     neighbour) takes the first cluster that reaches it, i.e. the lowest-numbered cluster among its
//     core neighbours (a whole cluster is expanded before the next one starts, so the order inside
//     a neighbourhood never matters); every other point is noise, label -1.
// Metrics: euclidean (sqrt of the summed squared differences), manhattan (summed |differences|),
// cosine (1 - x.y / (|x||y|); a zero row is at distance 1 from every
// other row and 0 from itself, as sklearn computes it).
// Distances are evaluated in double from the float32 data, as sklearn upcasts float32 to float64.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"

namespace hmr::cluster {

enum class DbscanMetric { euclidean, manhattan, cosine };

// "euclidean" | "manhattan" (alias "cityblock", "l1") | "cosine"; throws Error(input) otherwise.
DbscanMetric dbscan_metric(const std::string& name);
const char* dbscan_metric_name(DbscanMetric m);

struct DbscanOptions {
  double eps = 0.5;     // > 0
  int min_samples = 5;  // >= 1, the point itself counts
  DbscanMetric metric = DbscanMetric::euclidean;
};

struct DbscanResult {
  std::vector<std::int32_t> labels;               // [n], -1 = noise
  std::vector<std::int64_t> core_sample_indices;  // increasing, as sklearn's core_sample_indices_
  int n_clusters = 0;
  std::int64_t n_noise = 0;
};

// Fits DBSCAN on `backend`. Throws Error(input) (exit 2) for eps <= 0 or non-finite, min_samples < 1,
// empty or non-finite x.
DbscanResult dbscan(Backend& backend, ConstMatrixView x, const DbscanOptions& opt);

// The proposed eps of the k-distance heuristic (Ester et al. 1996, sec. 4.2): k = min_samples - 1;
// kdist(i) = distance from x_i to its k-th nearest other point (sklearn's
// NearestNeighbors(n_neighbors=min_samples).kneighbors(x)[0][:, -1], the point itself being the
// first neighbour); the values are sorted ascending, both axes scaled to [0, 1] (rank / (n-1),
// (v - min) / (max - min)), and the knee is the sorted point farthest below the chord joining the
// first and the last one (maximum distance to the chord; ties -> lowest rank). Returns that
// k-distance. Needs n > min_samples - 1 >= 1 (else Error(input)); a flat curve returns its value.
struct EpsProposal {
  double eps = 0.0;
  std::int64_t knee_rank = 0;        // index into the sorted k-distances
  std::vector<double> sorted_kdist;  // ascending, [n]
};
EpsProposal dbscan_propose_eps(ConstMatrixView x, int min_samples, DbscanMetric metric);

// ---- cpu twins of the stage's pieces (also used by the kernel tests) ----
// Distance between rows a and b of width d under `m` (double), with precomputed norms for cosine.
double dbscan_distance(const float* a, const float* b, std::int64_t d, DbscanMetric m, double na, double nb);
// counts[i] = |N(i)| over all rows (threads over row blocks; blocked brute force, no n x n matrix).
std::vector<std::int32_t> dbscan_counts_cpu(ConstMatrixView x, double eps, DbscanMetric m);
// CSR neighbourhoods: row i's neighbours are idx[off[i] .. off[i+1]), increasing. off: [n+1].
void dbscan_neighbourhoods_cpu(ConstMatrixView x, double eps, DbscanMetric m, const std::vector<std::int32_t>& counts,
                               std::vector<std::int64_t>& off, std::vector<std::int32_t>& idx);
// The same counts and CSR in one pass (rows' lists kept per block, then assembled): what dbscan()
// runs on the cpu.
void dbscan_csr_cpu(ConstMatrixView x, double eps, DbscanMetric m, std::vector<std::int32_t>& counts,
                    std::vector<std::int64_t>& off, std::vector<std::int32_t>& idx);
// sklearn's dbscan_inner over CSR neighbourhoods: labels from core flags (stack-based DFS).
std::vector<std::int32_t> dbscan_expand(const std::vector<std::uint8_t>& is_core, const std::vector<std::int64_t>& off,
                                        const std::vector<std::int32_t>& idx);

}  // namespace hmr::cluster
