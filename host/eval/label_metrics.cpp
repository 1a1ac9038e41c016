// eval/label_metrics.cpp — label-based clustering metrics beside ARI / NMI / purity, with
// scikit-learn's definitions (sklearn/metrics/cluster/_supervised.py and
// _expected_mutual_info_fast.pyx, read to match their semantics and degenerate cases):
//   adjusted mutual information (Vinh, Epps & Bailey, JMLR 2010) with the arithmetic mean of the
//     entropies; its expected mutual information sums hypergeometric terms in log space
//     (log-factorials from one lgamma table), as sklearn does, so n = 1e5 neither overflows nor
//     loses precision;
//   homogeneity, completeness and V-measure (Rosenberg & Hirschberg, EMNLP 2007);
//   Fowlkes-Mallows index (Fowlkes & Mallows, JASA 1983);
//   clustering accuracy: the best one-to-one matching of clusters to classes (assignment.h).
// Also the noise helpers (label -1) and score_labels / score_all / to_json for every metric.
// Everything is O(n + r c) host work on the contingency table (plus the EMI sum and the O(r^2 c)
// assignment); there is no device twin.
#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/nvtx.h"
#include "eval/assignment.h"
#include "eval/metrics.h"

namespace hmr::eval {

namespace {

void check_pair(Labels truth, Labels pred, const char* what) {
  HMR_REQUIRE(truth.size() == pred.size(), "{}: labels_true and labels_pred must have same size, got {} and {}", what,
              truth.size(), pred.size());
  HMR_REQUIRE(!truth.empty(), "{}: empty label arrays (no samples to score)", what);
}

struct Table {
  Contingency c;
  std::vector<std::int64_t> rows, cols;  // class sizes (a), cluster sizes (b)
  std::int64_t n = 0;
};

Table table(Labels truth, Labels pred, const char* what) {
  check_pair(truth, pred, what);
  Table t;
  t.c = contingency(truth, pred);
  const std::size_t r = t.c.classes.size(), q = t.c.clusters.size();
  t.rows.assign(r, 0);
  t.cols.assign(q, 0);
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < q; ++j) {
      t.rows[i] += t.c.at(i, j);
      t.cols[j] += t.c.at(i, j);
    }
  t.n = static_cast<std::int64_t>(truth.size());
  return t;
}

// sklearn _entropy on the sizes of the distinct labels (all > 0): 0 for a single label.
double entropy(const std::vector<std::int64_t>& sizes) {
  if (sizes.size() <= 1) return 0.0;
  double total = 0.0;
  for (auto v : sizes) total += static_cast<double>(v);
  const double lt = std::log(total);
  double h = 0.0;
  for (auto v : sizes) h += (static_cast<double>(v) / total) * (std::log(static_cast<double>(v)) - lt);
  return -h;
}

// sklearn mutual_info_score on the contingency table (nonzero cells row by row, the CSR order).
double mutual_info(const Table& t) {
  const std::size_t r = t.rows.size(), q = t.cols.size();
  if (r == 1 || q == 1) return 0.0;
  const double total = static_cast<double>(t.n), log_total = std::log(total);
  double mi = 0.0;
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < q; ++j) {
      const std::int64_t v = t.c.at(i, j);
      if (v == 0) continue;
      const double nm = static_cast<double>(v) / total;
      const double log_outer = -std::log(static_cast<double>(t.rows[i] * t.cols[j])) + log_total + log_total;
      double term = nm * (std::log(static_cast<double>(v)) - log_total) + nm * log_outer;
      if (std::fabs(term) < std::numeric_limits<double>::epsilon()) term = 0.0;
      mi += term;
    }
  return std::max(mi, 0.0);
}

}  // namespace

double expected_mutual_info(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b, std::int64_t n) {
  if (a.size() <= 1 || b.size() <= 1) return 0.0;  // a labelling with zero entropy
  const std::int64_t top = std::max(*std::max_element(a.begin(), a.end()), *std::max_element(b.begin(), b.end()));
  HMR_REQUIRE(top <= n, "expected_mutual_info: a label of {} samples among n = {}", top, n);
  // lf[x] = log(x!) = lgamma(x + 1) for x = 0..n: every factorial in the sum is one of these.
  std::vector<double> lf(static_cast<std::size_t>(n) + 1);
  for (std::int64_t x = 0; x <= n; ++x) lf[static_cast<std::size_t>(x)] = std::lgamma(static_cast<double>(x) + 1.0);
  const double log_n = std::log(static_cast<double>(n)), lf_n = lf[static_cast<std::size_t>(n)];
  std::vector<double> log_nij(static_cast<std::size_t>(top) + 1, 0.0);  // log(n * nij) = log n + log nij
  for (std::int64_t k = 1; k <= top; ++k)
    log_nij[static_cast<std::size_t>(k)] = log_n + std::log(static_cast<double>(k));
  double emi = 0.0;
  for (const std::int64_t ai : a) {
    const double log_a = std::log(static_cast<double>(ai));
    const double gln_a = lf[static_cast<std::size_t>(ai)], gln_na = lf[static_cast<std::size_t>(n - ai)];
    for (const std::int64_t bj : b) {
      const double log_b = std::log(static_cast<double>(bj));
      const double gln_b = lf[static_cast<std::size_t>(bj)], gln_nb = lf[static_cast<std::size_t>(n - bj)];
      const std::int64_t start = std::max<std::int64_t>(1, ai - n + bj), end = std::min(ai, bj) + 1;
      for (std::int64_t nij = start; nij < end; ++nij) {
        const double term1 = static_cast<double>(nij) / static_cast<double>(n);
        const double term2 = log_nij[static_cast<std::size_t>(nij)] - log_a - log_b;
        // Hypergeometric probability of nij: numerator factorials positive, denominator negative.
        const double gln = gln_a + gln_b + gln_na + gln_nb - (lf[static_cast<std::size_t>(nij)] + lf_n) -
                           lf[static_cast<std::size_t>(ai - nij)] - lf[static_cast<std::size_t>(bj - nij)] -
                           lf[static_cast<std::size_t>(n - ai - bj + nij)];
        emi += term1 * term2 * std::exp(gln);
      }
    }
  }
  return emi;
}

double adjusted_mutual_info(Labels truth, Labels pred) {
  NvtxRange range("metrics/ami");
  const Table t = table(truth, pred, "adjusted_mutual_info");
  const std::size_t r = t.rows.size(), q = t.cols.size();
  if (r == 1 && q == 1) return 1.0;  // neither labelling splits the data: a perfect match
  if (r == 1 || q == 1) return 0.0;
  const double mi = mutual_info(t);
  const double emi = expected_mutual_info(t.rows, t.cols, t.n);
  const double normalizer = (entropy(t.rows) + entropy(t.cols)) / 2.0;
  // As sklearn: keep both differences at least one epsilon away from 0, with their sign, so a
  // perfect match (expectation equal to the maximum) does not divide 0 by 0.
  constexpr double eps = std::numeric_limits<double>::epsilon();
  double den = normalizer - emi, num = mi - emi;
  den = den < 0 ? std::min(den, -eps) : std::max(den, eps);
  num = num < 0 ? std::min(num, -eps) : std::max(num, eps);
  return num / den;
}

HomogeneityCompleteness homogeneity_completeness_v(Labels truth, Labels pred, double beta) {
  HMR_REQUIRE(beta > 0.0 && std::isfinite(beta), "homogeneity_completeness_v: beta = {} must be positive", beta);
  const Table t = table(truth, pred, "homogeneity_completeness_v");
  const double h_c = entropy(t.rows), h_k = entropy(t.cols), mi = mutual_info(t);
  HomogeneityCompleteness s;
  s.homogeneity = h_c != 0.0 ? mi / h_c : 1.0;
  s.completeness = h_k != 0.0 ? mi / h_k : 1.0;
  s.v_measure = s.homogeneity + s.completeness == 0.0
                    ? 0.0
                    : (1 + beta) * s.homogeneity * s.completeness / (beta * s.homogeneity + s.completeness);
  return s;
}

double fowlkes_mallows(Labels truth, Labels pred) {
  const Table t = table(truth, pred, "fowlkes_mallows");
  using I = __int128;  // sums of squared counts overflow int64 past n ~ 3e9
  I tk = -static_cast<I>(t.n), pk = tk, qk = tk;
  for (auto v : t.c.counts) tk += static_cast<I>(v) * v;
  for (auto v : t.cols) pk += static_cast<I>(v) * v;
  for (auto v : t.rows) qk += static_cast<I>(v) * v;
  if (tk == 0) return 0.0;
  const double dt = static_cast<double>(tk);
  return std::sqrt(dt / static_cast<double>(pk)) * std::sqrt(dt / static_cast<double>(qk));
}

double clustering_accuracy(Labels truth, Labels pred) {
  NvtxRange range("metrics/accuracy");
  const Table t = table(truth, pred, "clustering_accuracy");
  const auto r = static_cast<std::int64_t>(t.rows.size()), q = static_cast<std::int64_t>(t.cols.size());
  std::int64_t matched = 0;
  for (const auto& [i, j] : max_weight_assignment(t.c.counts, r, q))
    matched += t.c.counts[static_cast<std::size_t>(i * q + j)];
  return static_cast<double>(matched) / static_cast<double>(t.n);
}

// ---------------------------------------------------------------------------------------------
// Noise and the score sets.

std::int64_t count_noise(Labels pred) {
  return static_cast<std::int64_t>(std::count(pred.begin(), pred.end(), kNoiseLabel));
}

const char* to_string(NoisePolicy p) { return p == NoisePolicy::exclude ? "exclude" : "cluster"; }

NoisePolicy parse_noise_policy(const std::string& s) {
  if (s == "cluster") return NoisePolicy::cluster;
  if (s == "exclude") return NoisePolicy::exclude;
  input_error(
      "noise policy '{}': expected 'cluster' (-1 is one more cluster, as scikit-learn) or 'exclude' (score "
      "the non-noise points only)",
      s);
}

void score_labels(Labels truth, Labels pred, ClusterScores& s) {
  s.ari = adjusted_rand(truth, pred);
  s.nmi = nmi(truth, pred);
  s.purity = purity(truth, pred);
  s.ami = adjusted_mutual_info(truth, pred);
  const auto hc = homogeneity_completeness_v(truth, pred);
  s.homogeneity = hc.homogeneity;
  s.completeness = hc.completeness;
  s.v_measure = hc.v_measure;
  s.fowlkes_mallows = fowlkes_mallows(truth, pred);
  s.accuracy = clustering_accuracy(truth, pred);
}

ClusterScores score_all(Backend& backend, ConstMatrixView x, Labels pred, std::optional<Labels> truth,
                        const ScoreOptions& opt) {
  ClusterScores s;
  s.noise = opt.noise;
  s.n_noise = count_noise(pred);
  if (opt.noise == NoisePolicy::exclude && s.n_noise > 0) {
    HMR_REQUIRE(static_cast<std::int64_t>(pred.size()) == x.rows, "score_all: {} labels for {} samples", pred.size(),
                x.rows);
    HMR_REQUIRE(!truth || truth->size() == pred.size(), "score_all: {} truth labels for {} predicted", truth->size(),
                pred.size());
    HMR_REQUIRE(s.n_noise < x.rows, "score_all: all {} points are noise (label -1): nothing left to score", x.rows);
    Matrix kept(x.rows - s.n_noise, x.cols);
    std::vector<std::int32_t> p, t;
    for (std::int64_t i = 0; i < x.rows; ++i) {
      if (pred[static_cast<std::size_t>(i)] == kNoiseLabel) continue;
      std::copy_n(x.row(i), x.cols, kept.row(static_cast<std::int64_t>(p.size())));
      p.push_back(pred[static_cast<std::size_t>(i)]);
      if (truth) t.push_back((*truth)[static_cast<std::size_t>(i)]);
    }
    ScoreOptions inner = opt;
    inner.noise = NoisePolicy::cluster;
    ClusterScores k = truth ? score_all(backend, kept, p, Labels(t), inner) : score_all(backend, kept, p, {}, inner);
    k.noise = NoisePolicy::exclude;
    k.n_noise = s.n_noise;
    return k;
  }
  s.silhouette = silhouette(backend, x, pred, opt.silhouette);
  s.calinski_harabasz = calinski_harabasz(x, pred);
  s.davies_bouldin = davies_bouldin(x, pred);
  if (truth) score_labels(*truth, pred, s);
  return s;
}

std::string to_json(const ClusterScores& s, int indent) {
  nlohmann::ordered_json j;
  j["silhouette"] = s.silhouette;
  j["calinski_harabasz"] = s.calinski_harabasz;
  j["davies_bouldin"] = s.davies_bouldin;
  auto put = [&](const char* key, const std::optional<double>& v) {
    if (v) j[key] = *v;
  };
  put("ari", s.ari);
  put("nmi", s.nmi);
  put("purity", s.purity);
  put("ami", s.ami);
  put("homogeneity", s.homogeneity);
  put("completeness", s.completeness);
  put("v_measure", s.v_measure);
  put("fowlkes_mallows", s.fowlkes_mallows);
  put("accuracy", s.accuracy);
  j["n_noise"] = s.n_noise;
  j["noise"] = to_string(s.noise);
  return j.dump(indent);
}

}  // namespace hmr::eval
