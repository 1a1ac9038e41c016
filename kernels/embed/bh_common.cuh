// embed/bh_common.cuh — arithmetic shared by the cpu twins (host/embed/bh.cpp) and the kernels
// (kernels/embed/bh.cu): Morton codes and the Karras (2012) radix-tree node construction. One
// definition for both sides keeps the two trees identical for identical inputs.
//
// Keys: 32-bit Morton codes; equal codes are ordered by sorted position, i.e. the key of sorted
// position i is (code_i, i), so the longest common prefix of two keys is
//   clz(code_i ^ code_j)            if the codes differ,
//   32 + clz(i ^ j)                 if they are equal,
// and every internal node has a strictly longer prefix than its parent: depth <= 64.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define HMR_HD __host__ __device__ __forceinline__
#else
#define HMR_HD inline
#endif

namespace hmr::embed::bh {

HMR_HD int clz32(std::uint32_t x) {
#if defined(__CUDA_ARCH__)
  return __clz(static_cast<int>(x));
#else
  return x == 0 ? 32 : __builtin_clz(x);
#endif
}

// One step of the magic-number bit dilation: copies v shifted by `shift` and keeps `mask`.
HMR_HD std::uint32_t dilate(std::uint32_t v, int shift, std::uint32_t mask) { return (v | (v << shift)) & mask; }
// Spreads the low 16 bits of v to the even bit positions.
HMR_HD std::uint32_t spread2(std::uint32_t v) {
  return dilate(dilate(dilate(dilate(v & 0x0000ffffu, 8, 0x00ff00ffu), 4, 0x0f0f0f0fu), 2, 0x33333333u), 1,
                0x55555555u);
}
// Spreads the low 10 bits of v to every third bit position.
HMR_HD std::uint32_t spread3(std::uint32_t v) {
  return dilate(dilate(dilate(dilate(v & 0x000003ffu, 16, 0x030000ffu), 8, 0x0300f00fu), 4, 0x030c30c3u), 2,
                0x09249249u);
}

// The exact repulsion of point yq on point yp (t-SNE's Student-t kernel): adds w^2 (yp - yq) to
// f and returns w = 1 / (1 + |yp - yq|^2), the pair's share of Z. Shared by the cpu twin and the
// kernel so a leaf contributes the same bits on both.
template <int D>
HMR_HD float point_repulsion(const float* yp, const float* yq, float* f) {
  float diff[D], d2 = 0.0f;
  for (int d = 0; d < D; ++d) {
    diff[d] = yp[d] - yq[d];
    d2 += diff[d] * diff[d];
  }
  const float w = 1.0f / (1.0f + d2);
  for (int d = 0; d < D; ++d) f[d] += w * w * diff[d];
  return w;
}

// Cell index along one axis: floor((v - lo) * scale) clamped to [0, 2^bits - 1]. scale is
// 2^bits / side computed once by the caller; one multiply, no fused operation to differ on.
HMR_HD std::uint32_t quantize(float v, float lo, float scale, int bits) {
  const float t = (v - lo) * scale;
  const float top = static_cast<float>((1u << bits) - 1u);
  if (!(t > 0.0f)) return 0u;  // also maps NaN to 0
  if (t >= top) return (1u << bits) - 1u;
  return static_cast<std::uint32_t>(t);
}

template <int D>
HMR_HD std::uint32_t morton(const float* p, const float* lo, float scale) {
  if constexpr (D == 2) {
    return (spread2(quantize(p[0], lo[0], scale, 16)) << 1) | spread2(quantize(p[1], lo[1], scale, 16));
  } else {
    return (spread3(quantize(p[0], lo[0], scale, 10)) << 2) | (spread3(quantize(p[1], lo[1], scale, 10)) << 1) |
           spread3(quantize(p[2], lo[2], scale, 10));
  }
}

// Largest side of the Morton cell shared by the codes cf and cl (the node's first and last
// keys): the quadtree cell scikit-learn's criterion measures. Negative when the codes are equal
// (the points share the finest cell; callers then use the points' own bounding box).
template <int D>
HMR_HD float cell_width(std::uint32_t cf, std::uint32_t cl, float scale) {
  if (cf == cl) return -1.0f;
  const int prefix = clz32(cf ^ cl);
  const int levels = D == 2 ? prefix / 2 : (prefix - 2) / 3;  // 3-D codes leave the top 2 bits 0
  const int bits = D == 2 ? 16 : 10;
  return static_cast<float>(1u << (bits - levels)) / scale;
}

// Common prefix length of the keys at sorted positions i and j (j may be out of range: -1).
HMR_HD int delta(const std::uint32_t* code, std::int64_t n, std::int64_t i, std::int64_t j) {
  if (j < 0 || j >= n) return -1;
  const std::uint32_t a = code[i], b = code[j];
  if (a == b) return 32 + clz32(static_cast<std::uint32_t>(i ^ j));
  return clz32(a ^ b);
}

// Internal node i of n - 1 (Karras 2012, Figure 4): its children (>= 0 internal, < 0 leaf ~pos)
// and the range [first, last] of sorted positions below it. Node 0 is the root.
HMR_HD void karras_node(const std::uint32_t* code, std::int64_t n, std::int64_t i, std::int32_t* left,
                        std::int32_t* right, std::int32_t* first, std::int32_t* last) {
  const int d = delta(code, n, i, i + 1) - delta(code, n, i, i - 1) >= 0 ? 1 : -1;
  const int dmin = delta(code, n, i, i - d);
  std::int64_t lmax = 2;
  while (delta(code, n, i, i + lmax * d) > dmin) lmax *= 2;
  std::int64_t l = 0;
  for (std::int64_t t = lmax / 2; t >= 1; t /= 2)
    if (delta(code, n, i, i + (l + t) * d) > dmin) l += t;
  const std::int64_t j = i + l * d;
  const int dnode = delta(code, n, i, j);
  std::int64_t s = 0;
  for (std::int64_t div = 2;; div *= 2) {
    const std::int64_t t = (l + div - 1) / div;
    if (delta(code, n, i, i + (s + t) * d) > dnode) s += t;
    if (t <= 1) break;
  }
  const std::int64_t gamma = i + s * d + (d < 0 ? -1 : 0);
  const std::int64_t lo = i < j ? i : j, hi = i < j ? j : i;
  *left = lo == gamma ? static_cast<std::int32_t>(~gamma) : static_cast<std::int32_t>(gamma);
  *right = hi == gamma + 1 ? static_cast<std::int32_t>(~(gamma + 1)) : static_cast<std::int32_t>(gamma + 1);
  *first = static_cast<std::int32_t>(lo);
  *last = static_cast<std::int32_t>(hi);
}

}  // namespace hmr::embed::bh
