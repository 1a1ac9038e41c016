// embed/bh.h — the Barnes-Hut machinery of t-SNE's gradient, cpu twins of kernels/embed/.
//
// Tree (no locks, no spin-waits; Karras 2012, "Maximizing parallelism in the construction of
// BVHs, octrees and k-d trees"): a square box around the embedding, 32-bit Morton codes (16 bits
// per axis in 2-D, 10 in 3-D), a stable radix sort of the codes, then a binary radix tree over
// the sorted keys with equal codes split by sorted position (so duplicates and all-identical
// inputs give a finite tree of depth <= 64). Internal node i has children child[2i], child[2i+1]
// (>= 0: internal node, < 0: leaf at sorted position ~c), the sorted-position range
// [first, last] it covers, and, from a bottom-up pass in which the second thread to reach a
// node combines its two children (left then right, so the result is order-independent), its
// centre of mass, point count, bounding box and size: the largest side of the Morton (quadtree)
// cell its keys share, as scikit-learn's quadtree measures cells, or, for points that share one
// code, the diagonal of their bounding box.
//
// Gradient (FIt-SNE / openTSNE convention, no factor 4): with w_ij = 1 / (1 + |y_i - y_j|^2)
// and Z = sum_{i != j} w_ij,
//   grad_i = exag * sum_j p_ij w_ij (y_i - y_j)  -  (1/Z) sum_{j != i} w_ij^2 (y_i - y_j).
// A node whose size s satisfies s^2 < theta^2 |y_i - com|^2 (and does not hold i) stands in
// for its points; theta = 0 therefore opens every node and sums every pair exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"
#include "embed/affinity.h"

namespace hmr::embed {

inline constexpr int kMortonBits2 = 16;  // bits per axis in 2-D
inline constexpr int kMortonBits3 = 10;  // bits per axis in 3-D

struct Tree {
  std::int64_t n = 0;
  int dims = 2;
  std::vector<std::uint32_t> code;        // [n] sorted Morton codes
  std::vector<std::int32_t> order;        // [n] point index at each sorted position
  std::vector<float> ys;                  // [n x dims] points in sorted order
  std::vector<std::int32_t> child;        // [(n-1) x 2]
  std::vector<std::int32_t> parent;       // [(n-1) + n]: internal nodes, then leaves; root: -1
  std::vector<std::int32_t> first, last;  // [n-1]
  std::vector<float> com;                 // [(n-1) x dims]
  std::vector<float> bmin, bmax;          // [(n-1) x dims] bounding box of the node's points
  std::vector<float> size;                // [n-1] node size (cell width, see above)
  std::vector<float> count;               // [n-1] points under the node
};

// Morton code of every point (unsorted) within the square box [lo, lo + side]^dims.
void morton_codes_cpu(ConstMatrixView y, std::vector<std::uint32_t>& codes, std::vector<float>& lo, float& side);
Tree build_tree_cpu(ConstMatrixView y);

// Repulsion: rep[i] = sum_{j != i} w_ij^2 (y_i - y_j) (Barnes-Hut at theta), in original point
// order [n x dims]; zi[i] = sum_{j != i} w_ij. Returns Z = sum zi (fixed order, double).
double repulsion_cpu(const Tree& t, double theta, std::vector<float>& rep, std::vector<float>& zi);
// Attraction: attr[i] = sum_j p_ij w_ij (y_i - y_j) over row i of P. Also returns
// sum_ij p_ij log(1 + |y_i - y_j|^2) (for KL) through plogw if non-null.
void attraction_cpu(const Csr& p, ConstMatrixView y, std::vector<float>& attr, double* plogw = nullptr);
// Both passes of one iteration: repulsion_cpu + attraction_cpu with the same results, in one
// parallel region where possible (2-D, AVX2, no KL term). Returns Z.
double forces_cpu(const Tree& t, double theta, const Csr& p, ConstMatrixView y, std::vector<float>& rep,
                  std::vector<float>& zi, std::vector<float>& attr, double* plogw = nullptr);

// One gradient-descent step (scikit-learn's update with gains), element-wise over [n x dims]:
//   g = exag * attr - rep / Z; gains += 0.2 where sign(g) != sign(update) else gains *= 0.8,
//   gains >= min_gain; update = momentum * update - lr * gains * g; y += update.
void update_cpu(std::vector<float>& y, std::vector<float>& update, std::vector<float>& gains,
                const std::vector<float>& attr, const std::vector<float>& rep, double z, double exag, double lr,
                double momentum, double min_gain);

// Exact O(N^2) reference (double): gradient [n x dims] as above and Z.
std::vector<double> exact_gradient(const Csr& p, ConstMatrixView y, double exag, double* z = nullptr);
// Exact Z = sum_{i != j} 1 / (1 + |y_i - y_j|^2) on the backend (fixed order).
double exact_z(Backend& backend, ConstMatrixView y);
double exact_z_cpu(ConstMatrixView y);
// KL(P || Q) = sum p log p + sum p log(1 + d^2) + log Z (P sums to 1).
double kl_divergence(const Csr& p, double plogw, double z);
double p_log_p(const Csr& p);

// One full gradient on the backend (for conformance tests and benchmarks): builds the tree,
// computes repulsion and attraction. grad [n x dims]; returns Z.
double bh_gradient(Backend& backend, const Csr& p, ConstMatrixView y, double theta, double exag,
                   std::vector<float>& grad);

}  // namespace hmr::embed
