// nn/adam_cpu.cpp — the optimiser step on the cpu: the global gradient norm and the clipping factor
// of torch.nn.utils.clip_grad_norm_, torch.optim.Adam (Kingma & Ba, ICLR 2015; L2 weight decay
// added to the gradient), and two weight gradients fused with their Adam update so the gradient
// never goes to memory: a sparse (CSR) first layer's, and a dense layer's by packed 6 x 16 AVX2
// tiles. The fused paths give the bits of the unfused step (sparse) or one fixed FMA chain per
// element (dense); nothing depends on the thread count.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "nn/cpu_common.h"
#include "nn/vae_net.h"

namespace hmr::nn::cpu {

double grad_norm(const float* g, std::size_t n) {
  constexpr int kChunks = 64;  // fixed, so the sum order does not depend on the thread count
  double part[kChunks];
  const std::size_t step = (n + kChunks - 1) / kChunks;
#pragma omp parallel for schedule(static) if (n > static_cast <std::size_t>(kParallelMin))
  for (int ch = 0; ch < kChunks; ++ch) {
    const std::size_t i0 = std::min(n, ch * step), i1 = std::min(n, i0 + step);
    double s = 0.0;
    for (std::size_t i = i0; i < i1; ++i) s += static_cast<double>(g[i]) * g[i];
    part[ch] = s;
  }
  double s = 0.0;
  for (double p : part) s += p;
  return std::sqrt(s);
}

float clip_scale(double norm, float max_norm) {
  if (max_norm <= 0.0f) return 1.0f;
  const double c = static_cast<double>(max_norm) / (norm + 1e-6);
  return c < 1.0 ? static_cast<float>(c) : 1.0f;
}

AdamStep adam_step(float lr, float b1, float b2, float eps, float wd, std::int64_t t, float scale) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(t));
  AdamStep k;
  k.b1 = b1;
  k.b2 = b2;
  k.eps = eps;
  k.wd = wd;
  k.scale = scale;
  k.step = static_cast<float>(static_cast<double>(lr) / bc1);
  k.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bc2));
  return k;
}

void adam_range(float* p, const float* g, float* m, float* v, std::int64_t n, const AdamStep& k) {
  auto scalar = [&](std::int64_t i) {
    const float gi = k.scale * g[i] + k.wd * p[i];
    const float mi = k.b1 * m[i] + (1.0f - k.b1) * gi;
    const float vi = k.b2 * v[i] + (1.0f - k.b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= k.step * mi / (std::sqrt(vi) * k.inv_sqrt_bc2 + k.eps);
  };
  std::int64_t i = 0;
#if defined(__SSE2__)
  // Four lanes with the same operations in the same order (IEEE sqrt and division are correctly
  // rounded, and nothing is fused), so the result equals the scalar loop bit for bit. The compiler
  // keeps the scalar loop scalar: std::sqrt may set errno. The text VAE's 5.1 M parameters made
  // the scalar sqrt + division a third of a training step.
  const __m128 vb1 = _mm_set1_ps(k.b1), vb2 = _mm_set1_ps(k.b2), v1b1 = _mm_set1_ps(1.0f - k.b1),
               v1b2 = _mm_set1_ps(1.0f - k.b2), vscale = _mm_set1_ps(k.scale), vwd = _mm_set1_ps(k.wd),
               vstep = _mm_set1_ps(k.step), vbc2 = _mm_set1_ps(k.inv_sqrt_bc2), veps = _mm_set1_ps(k.eps);
  for (; i + 4 <= n; i += 4) {
    const __m128 pi = _mm_loadu_ps(p + i);
    const __m128 gi = _mm_add_ps(_mm_mul_ps(vscale, _mm_loadu_ps(g + i)), _mm_mul_ps(vwd, pi));
    const __m128 mi = _mm_add_ps(_mm_mul_ps(vb1, _mm_loadu_ps(m + i)), _mm_mul_ps(v1b1, gi));
    const __m128 vi = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(v1b2, gi), gi));
    _mm_storeu_ps(m + i, mi);
    _mm_storeu_ps(v + i, vi);
    const __m128 den = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vi), vbc2), veps);
    _mm_storeu_ps(p + i, _mm_sub_ps(pi, _mm_div_ps(_mm_mul_ps(vstep, mi), den)));
  }
#endif
  for (; i < n; ++i) scalar(i);
}

void adam_update(float* p, const float* g, float* m, float* v, std::size_t n, float lr, float b1, float b2, float eps,
                 float wd, std::int64_t t, float scale) {
  const AdamStep k = adam_step(lr, b1, b2, eps, wd, t, scale);
  const std::int64_t nn = static_cast<std::int64_t>(n);
  constexpr std::int64_t kBlock = 4096;  // elements per parallel chunk
  const std::int64_t blocks = (nn + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (nn > kParallelMin)
  for (std::int64_t blk = 0; blk < blocks; ++blk) {
    const std::int64_t i0 = blk * kBlock, i1 = std::min(nn, i0 + kBlock);
    adam_range(p + i0, g + i0, m + i0, v + i0, i1 - i0, k);
  }
}

void sparse_wgrad_adam_t(const CsrRows<float>& x, std::int64_t rows, const float* dy, int in, int out, float* wt,
                         float* m, float* v, const AdamStep& k, SparseWgradWork* work) {
  // The batch's entries by column (counting sort, stable: batch-row order within a column), so
  // each row of dWt is summed in the order csr_weight_grad_t sums it.
  auto& ptr = work->col_ptr;
  ptr.assign(static_cast<std::size_t>(in) + 1, 0);
  const std::int64_t nnz = x.ptr[rows] - x.ptr[0];
  for (std::int64_t e = x.ptr[0]; e < x.ptr[rows]; ++e) ++ptr[static_cast<std::size_t>(x.col[e]) + 1];
  for (int c = 0; c < in; ++c) ptr[static_cast<std::size_t>(c) + 1] += ptr[static_cast<std::size_t>(c)];
  work->row.resize(static_cast<std::size_t>(nnz));
  work->val.resize(static_cast<std::size_t>(nnz));
  work->fill.assign(ptr.begin(), ptr.end() - 1);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t e = x.ptr[r]; e < x.ptr[r + 1]; ++e) {
      const auto at = static_cast<std::size_t>(work->fill[static_cast<std::size_t>(x.col[e])]++);
      work->row[at] = static_cast<std::int32_t>(r);
      work->val[at] = x.val[e];
    }
  constexpr int kRowsPerTask = 64;
  const int tasks = (in + kRowsPerTask - 1) / kRowsPerTask;
#pragma omp parallel if (static_cast <std::int64_t>(in) * out > kParallelMin)
  {
    std::vector<float> g(static_cast<std::size_t>(out));
#pragma omp for schedule(static)
    for (int task = 0; task < tasks; ++task)
      for (int c = task * kRowsPerTask; c < std::min(in, (task + 1) * kRowsPerTask); ++c) {
        float* gc = g.data();
        std::fill(gc, gc + out, 0.0f);
        for (std::int64_t e = ptr[static_cast<std::size_t>(c)]; e < ptr[static_cast<std::size_t>(c) + 1]; ++e) {
          constexpr std::int64_t kAhead = 4;  // dy's rows are read in random order: request them early
          if (e + kAhead < nnz) {
            const char* next = reinterpret_cast<const char*>(
                dy + static_cast<std::int64_t>(work->row[static_cast<std::size_t>(e + kAhead)]) * out);
            for (std::size_t b = 0; b < sizeof(float) * static_cast<std::size_t>(out); b += 64)
              __builtin_prefetch(next + b);
          }
          const float val = work->val[static_cast<std::size_t>(e)];
          const float* d = dy + static_cast<std::int64_t>(work->row[static_cast<std::size_t>(e)]) * out;
#pragma omp simd
          for (int o = 0; o < out; ++o) gc[o] += d[o] * val;
        }
        const std::int64_t at = static_cast<std::int64_t>(c) * out;
        adam_range(wt + at, gc, m + at, v + at, out, k);
      }
  }
}

namespace {
// in [rows x inw] -> panels of 16 columns, each [rows x 16] contiguous (zero-padded at the edge).
void pack_panels16(const float* in, std::int64_t rows, int inw, float* out) {
  const int panels = (inw + 15) / 16;
#pragma omp parallel for schedule(static) if (rows * inw > kParallelMin)
  for (int pn = 0; pn < panels; ++pn) {
    const int c0 = pn * 16, nc = std::min(16, inw - c0);
    float* o = out + static_cast<std::int64_t>(pn) * rows * 16;
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* src = in + r * inw + c0;
      for (int c = 0; c < 16; ++c) o[r * 16 + c] = c < nc ? src[c] : 0.0f;
    }
  }
}

// C [6 x 8 NV] = A B (+ C when accumulate): A packed [k][6], B packed [k][16] (zero-padded), both
// contiguous, so the strides are constants and the k loop runs 4 steps per iteration. Each
// element is one FMA chain over k in order. mask: the valid lanes of the last vector's store.
template <int NV>
__attribute__((target("avx2,fma"), always_inline)) inline void packed_step(const float* ap, const float* bp,
                                                                           __m256 (&acc)[6][NV]) {
  __m256 bv[NV];
#pragma GCC unroll 2
  for (int v = 0; v < NV; ++v) bv[v] = _mm256_loadu_ps(bp + 8 * v);
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r) {
    const __m256 av = _mm256_broadcast_ss(ap + r);
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
  }
}

template <int NV>
__attribute__((target("avx2,fma"))) void packed_tile6(int k, const float* a, const float* b, bool accumulate, float* C,
                                                      int ldc, __m256i mask) {
  __m256 acc[6][NV];
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  int p = 0;
  for (; p + 4 <= k; p += 4, a += 24, b += 64) {
    packed_step<NV>(a, b, acc);
    packed_step<NV>(a + 6, b + 16, acc);
    packed_step<NV>(a + 12, b + 32, acc);
    packed_step<NV>(a + 18, b + 48, acc);
  }
  for (; p < k; ++p, a += 6, b += 16) packed_step<NV>(a, b, acc);
#pragma GCC unroll 6
  for (int r = 0; r < 6; ++r) {
    float* c = C + static_cast<std::int64_t>(r) * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      const bool last = v + 1 == NV;
      __m256 out = acc[r][v];
      if (accumulate) out = _mm256_add_ps(last ? _mm256_maskload_ps(c + 8 * v, mask) : _mm256_loadu_ps(c + 8 * v), out);
      if (last)
        _mm256_maskstore_ps(c + 8 * v, mask, out);
      else
        _mm256_storeu_ps(c + 8 * v, out);
    }
  }
}

// buf [tiles * 6 x inw] = A B: A packed as 6-row micro-panels ([tile][row r][6], so each step of
// the sum reads 6 adjacent floats), B = in [rows x inw] packed in 16-column panels; the rows are
// summed in chunks of kc (a panel's chunk stays in L1 across the tiles).
__attribute__((target("avx2,fma"))) void wgrad_block_avx2(const float* a6, int tiles, std::int64_t rows,
                                                          const float* panels, int inw, std::int64_t kc, float* buf) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), all = _mm256_set1_epi32(-1);
  for (std::int64_t r0 = 0; r0 < rows; r0 += kc) {
    const int nk = static_cast<int>(std::min(kc, rows - r0));
    for (int c0 = 0; c0 < inw; c0 += 16) {
      const int rest = inw - c0;
      const float* bp = panels + (static_cast<std::int64_t>(c0 / 16) * rows + r0) * 16;
      for (int t = 0; t < tiles; ++t) {
        const float* at = a6 + (static_cast<std::int64_t>(t) * rows + r0) * 6;
        float* c = buf + static_cast<std::int64_t>(t) * 6 * inw + c0;
        if (rest >= 16)
          packed_tile6<2>(nk, at, bp, r0 > 0, c, inw, all);
        else if (rest > 8)
          packed_tile6<2>(nk, at, bp, r0 > 0, c, inw, _mm256_cmpgt_epi32(_mm256_set1_epi32(rest - 8), lane));
        else
          packed_tile6<1>(nk, at, bp, r0 > 0, c, inw, _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), lane));
      }
    }
  }
  _mm256_zeroupper();
}
}  // namespace

bool dense_wgrad_adam(const float* dy, const float* in, std::int64_t rows, int out, int inw, float* w, float* m,
                      float* v, const AdamStep& k) {
  if (!have_avx2_fma()) return false;
  if (out == 0 || inw == 0) return true;
  // Blocks of kBlock rows of W: the block's gradient [kBlock x inw] goes to a per-thread buffer,
  // then Adam updates the block from it while it is in cache. Both operands are packed so
  // packed_tile6's 6 x 16 tiles stream contiguous memory (dy's columns are 4 * out bytes apart: a
  // new page per batch row): `in` once per step into 16-column panels, the block's columns of dy
  // into 6-row micro-panels. The batch rows are summed in chunks of kRows (the panel chunk stays
  // in L1 across the block's tiles): per element a fixed FMA chain per chunk, chunks added in
  // order, so the same bits on any thread count.
  constexpr int kBlock = 48;  // a multiple of the tile's 6 rows
  constexpr std::int64_t kRows = 256;
  const int blocks = (out + kBlock - 1) / kBlock, panels = (inw + 15) / 16;
  thread_local std::vector<float> packed_in;
  packed_in.resize(static_cast<std::size_t>(rows) * 16 * static_cast<std::size_t>(panels));
  pack_panels16(in, rows, inw, packed_in.data());
  const float* hp = packed_in.data();
#pragma omp parallel if (static_cast <std::int64_t>(out) * inw > kParallelMin)
  {
    std::vector<float> buf(static_cast<std::size_t>(kBlock) * static_cast<std::size_t>(inw));
    std::vector<float> at(static_cast<std::size_t>(kBlock) * static_cast<std::size_t>(rows));
#pragma omp for schedule(static)
    for (int b = 0; b < blocks; ++b) {
      const int o0 = b * kBlock, no = std::min(kBlock, out - o0);
      const int tiles = (no + 5) / 6;
      // at[t][r][i] = dy[r][o0 + 6 t + i], zero past the block; one pass over dy's rows (each row
      // of the block is on its own page: 4 * out bytes apart).
      const std::size_t tile_stride = static_cast<std::size_t>(rows) * 6;
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* d = dy + r * out + o0;
        float* a = at.data() + static_cast<std::size_t>(r) * 6;
        if (no == kBlock) {
          for (int t = 0; t < kBlock / 6; ++t)
            for (int i = 0; i < 6; ++i) a[t * tile_stride + i] = d[6 * t + i];
        } else {
          for (int i = 0; i < 6 * tiles; ++i) a[(i / 6) * tile_stride + i % 6] = i < no ? d[i] : 0.0f;
        }
      }
      wgrad_block_avx2(at.data(), tiles, rows, hp, inw, kRows, buf.data());
      const std::int64_t off = static_cast<std::int64_t>(o0) * inw;
      adam_range(w + off, buf.data(), m + off, v + off, static_cast<std::int64_t>(no) * inw, k);
    }
  }
  return true;
}

}  // namespace hmr::nn::cpu
