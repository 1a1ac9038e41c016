// nn/vae_engine_cpu.cpp — the cpu training engine (Engine in nn/vae_net.h) and the backend
// dispatch make_engine: minibatch steps of Net<float> with clipping and Adam, data-parallel over
// fixed row chunks for small models (so the thread count changes nothing), the sparse first
// layer for TF-IDF rows, and the fused weight-gradient + Adam updates of adam_cpu.cpp.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "nn/cpu_common.h"
#include "nn/vae_cuda.h"
#include "nn/vae_net.h"

namespace hmr::nn {

// ---- the cpu training engine ------------------------------------------------------------------
namespace {

// Small models (the audio VAE at small batches) run faster on one thread: a multithreaded
// OpenBLAS call on a 64 x 128 x 40 GEMM spends more on waking and joining threads (and far more on
// a busy machine) than on arithmetic. The guard restores OpenBLAS's thread count afterwards.
class BlasThreadsGuard {
 public:
  explicit BlasThreadsGuard(bool single) : old_(single ? openblas_get_num_threads() : 0) {
    if (single && old_ > 1) openblas_set_num_threads(1);
  }
  ~BlasThreadsGuard() {
    if (old_ > 1) openblas_set_num_threads(old_);
  }
  BlasThreadsGuard(const BlasThreadsGuard&) = delete;
  BlasThreadsGuard& operator=(const BlasThreadsGuard&) = delete;

 private:
  int old_;
};

// Multiply-accumulates of one layer stack pass per row.
double macs_per_row(const NetPlan& p) {
  double s = static_cast<double>(p.head.in) * p.head.out;
  for (const auto& l : p.enc) s += static_cast<double>(l.in) * l.out;
  for (const auto& l : p.dec) s += static_cast<double>(l.in) * l.out;
  return s;
}
constexpr double kSingleThreadMacs = 8.0e6;  // per step, below which one thread is faster
// Models up to this many parameters train in chunks (CpuEngineOptions): each chunk needs its own
// gradient buffer, and summing them costs a pass over the parameters per chunk.
constexpr std::size_t kChunkMaxParams = std::size_t(1) << 20;
constexpr std::int64_t kFuseOutputRows = 256;

class CpuEngine final : public Engine {
 public:
  CpuEngine(const VaeConfig& c, const CpuEngineOptions& o) : cfg_(c), plan_(cpu_plan(c)), net_(plan_) {
    const std::size_t n = plan_.n_params;
    chunk_rows_ = o.chunk_rows != 0 ? o.chunk_rows : (plan_.n_params <= kChunkMaxParams ? kChunkRows : -1);
    fuse_updates_ = o.fuse_updates;
    fuse_output_ = o.fuse_output;
    p_.assign(n, 0.0f);
    g_.assign(n, 0.0f);
    m_.assign(n, 0.0f);
    v_.assign(n, 0.0f);
  }
  void set_params(const std::vector<float>& p) override {
    HMR_ASSERT(p.size() == plan_.n_params, "parameter count {} != {}", p.size(), plan_.n_params);
    p_ = p;
    to_internal(p_);
    std::fill(m_.begin(), m_.end(), 0.0f);
    std::fill(v_.begin(), v_.end(), 0.0f);
    t_ = 0;
  }
  // In PyTorch's layout whatever the internal one.
  std::vector<float> params() override { return external(p_); }
  std::vector<float> grads() override { return external(g_); }
  void adam_state(std::vector<float>* m, std::vector<float>* v, std::int64_t* t) override {
    *m = external(m_);
    *v = external(v_);
    *t = t_;
  }
  void set_adam_state(const std::vector<float>& m, const std::vector<float>& v, std::int64_t t) override {
    HMR_ASSERT(m.size() == plan_.n_params && v.size() == plan_.n_params, "Adam state of {} / {} != {}", m.size(),
               v.size(), plan_.n_params);
    m_ = m;
    v_ = v;
    to_internal(m_);
    to_internal(v_);
    t_ = t;
  }

  StepLoss step(ConstMatrixView x, ConstMatrixView eps, float beta, bool update) override {
    BlasThreadsGuard guard(macs_per_row(plan_) * static_cast<double>(x.rows) < kSingleThreadMacs);
    HMR_ASSERT(x.ld == x.cols && eps.ld == eps.cols, "contiguous batches expected");
    const std::int64_t D = x.cols;
    return run_step([&](std::int64_t r0, std::int64_t) { return x.data + r0 * D; }, eps.data, x.rows, beta, update);
  }

  void set_data(ConstMatrixView x) override {
    data_ = Matrix(x.rows, x.cols);
    for (std::int64_t r = 0; r < x.rows; ++r) std::memcpy(data_.row(r), x.row(r), sizeof(float) * x.cols);
    // Mostly-zero wide input (TF-IDF): keep a CSR copy and run the first layer sparse.
    sparse_ = cfg_.sparse_input && sparse_rows(plan_, x, &sp_);
  }
  bool sparse_input() const { return sparse_; }

  StepLoss epoch(const std::vector<std::int32_t>& perm, float beta, std::uint64_t noise_seed) override {
    const std::int64_t n = static_cast<std::int64_t>(perm.size()), D = plan_.input_dim, L = plan_.latent;
    const std::int64_t B = std::min<std::int64_t>(cfg_.batch, n);
    BlasThreadsGuard guard(macs_per_row(plan_) * static_cast<double>(B) < kSingleThreadMacs);
    eps_.resize(static_cast<std::size_t>(n * L));
    normal_noise(eps_.data(), eps_.size(), noise_seed);
    xb_.resize(static_cast<std::size_t>(B * D));
    StepLoss total;
    for (std::int64_t s = 0; s < n; s += B) {
      const std::int64_t rows = std::min(B, n - s);
      // The batch's rows r0 .. r0 + nr - 1, gathered by the chunk that needs them.
      auto gather = [&](std::int64_t r0, std::int64_t nr) {
#pragma omp parallel for schedule(static) if (nr * D > (1 << 16))
        for (std::int64_t r = r0; r < r0 + nr; ++r)
          std::memcpy(xb_.data() + r * D, data_.row(perm[static_cast<std::size_t>(s + r)]), sizeof(float) * D);
        return static_cast<const float*>(xb_.data() + r0 * D);
      };
      cpu::CsrRows<float> xs;
      if (sparse_) {  // the batch's CSR rows, in batch order
        bptr_.assign(1, 0);
        bcol_.clear();
        bval_.clear();
        for (std::int64_t r = 0; r < rows; ++r) {
          const auto src = static_cast<std::size_t>(perm[static_cast<std::size_t>(s + r)]);
          bcol_.insert(bcol_.end(), sp_.col.begin() + sp_.ptr[src], sp_.col.begin() + sp_.ptr[src + 1]);
          bval_.insert(bval_.end(), sp_.val.begin() + sp_.ptr[src], sp_.val.begin() + sp_.ptr[src + 1]);
          bptr_.push_back(static_cast<std::int64_t>(bcol_.size()));
        }
        xs = {bptr_.data(), bcol_.data(), bval_.data()};
      }
      const StepLoss l =
          run_step(gather, eps_.data() + s * L, rows, beta, true, sparse_ ? &xs : nullptr, fuse_updates_);
      total.recon += l.recon;
      total.kl += l.kl;
      total.rows += l.rows;
    }
    return total;
  }

  Matrix encode(ConstMatrixView x) override {
    HMR_ASSERT(x.ld == x.cols, "contiguous input expected");
    Matrix h(x.rows, 2 * plan_.latent);
    forward_in_chunks(x.rows, [&](std::int64_t r0, std::int64_t rows) {
      net_.encode(p_.data(), x.data + r0 * x.cols, rows, h.row(r0));
    });
    return h;
  }
  Matrix decode_logits(ConstMatrixView z) override {
    HMR_ASSERT(z.ld == z.cols, "contiguous input expected");
    Matrix out(z.rows, plan_.input_dim);
    forward_in_chunks(z.rows, [&](std::int64_t r0, std::int64_t rows) {
      net_.decode(p_.data(), z.data + r0 * z.cols, rows, out.row(r0));
    });
    return out;
  }

 private:
  // The first layer input-major when its input may be sparse (DenseLayer::input_major).
  static NetPlan cpu_plan(const VaeConfig& c) {
    NetPlan p = make_plan(c);
    if (c.sparse_input && !p.enc.empty() && c.input_dim >= kSparseMinCols) p.enc[0].input_major = true;
    return p;
  }
  void to_internal(std::vector<float>& v) const {
    if (plan_.enc.empty() || !plan_.enc[0].input_major) return;
    const DenseLayer& l = plan_.enc[0];
    std::vector<float> w(v.begin() + static_cast<std::ptrdiff_t>(l.w),
                         v.begin() + static_cast<std::ptrdiff_t>(l.w + static_cast<std::size_t>(l.in) * l.out));
    cpu::transpose(w.data(), l.out, l.in, v.data() + l.w);
  }
  std::vector<float> external(const std::vector<float>& v) const {
    std::vector<float> out = v;
    if (plan_.enc.empty() || !plan_.enc[0].input_major) return out;
    const DenseLayer& l = plan_.enc[0];
    cpu::transpose(v.data() + l.w, l.in, l.out, out.data() + l.w);
    return out;
  }

  template <class F>
  void forward_in_chunks(std::int64_t n, F&& f) {
    constexpr std::int64_t kChunk = 4096;  // bounds the activation workspace
    for (std::int64_t r0 = 0; r0 < n; r0 += kChunk) f(r0, std::min(kChunk, n - r0));
  }

  // One step over `rows` rows; x_rows(r0, nr) returns the contiguous input rows r0 .. r0 + nr - 1
  // (the epoch gathers them there). xs: the batch's CSR rows for a sparse first layer.
  template <class XRows>
  StepLoss run_step(XRows&& x_rows, const float* eps, std::int64_t rows, float beta, bool update,
                    const cpu::CsrRows<float>* xs = nullptr, bool fuse = false) {
    const bool chunked = chunk_rows_ > 0 && rows > chunk_rows_;
    if (update && fuse && !chunked && cfg_.clip_norm <= 0.0f)
      return fused_step(xs && plan_.loss == Loss::bce ? nullptr : x_rows(0, rows), eps, rows, beta, xs);
    const StepLoss l =
        chunked ? chunked_forward_backward(x_rows, eps, rows, beta, xs)
        : xs    ? net_.forward_backward_sparse(p_.data(), plan_.loss == Loss::bce ? nullptr : x_rows(0, rows), *xs, eps,
                                               rows, beta, g_.data())
                : net_.forward_backward(p_.data(), x_rows(0, rows), eps, rows, beta, g_.data());
    if (update) {
      const float scale =
          cfg_.clip_norm > 0.0f ? cpu::clip_scale(cpu::grad_norm(g_.data(), g_.size()), cfg_.clip_norm) : 1.0f;
      ++t_;
      cpu::adam_update(p_.data(), g_.data(), m_.data(), v_.data(), p_.size(), cfg_.lr, cfg_.adam_beta1, cfg_.adam_beta2,
                       cfg_.adam_eps, cfg_.weight_decay, t_, scale);
    }
    return l;
  }

  // A step whose largest weight updates are fused with their gradients (CpuEngineOptions::
  // fuse_updates; no clipping, so nothing needs the whole gradient before Adam): the output
  // layer's W gets Adam inside the backward, right after its input gradient is formed
  // (cpu::dense_wgrad_adam), and a sparse first layer's W after it (cpu::sparse_wgrad_adam_t).
  // Those gradients never reach g_; Adam runs over the other parameters as usual.
  StepLoss fused_step(const float* x, const float* eps, std::int64_t rows, float beta, const cpu::CsrRows<float>* xs) {
    ++t_;
    const cpu::AdamStep k =
        cpu::adam_step(cfg_.lr, cfg_.adam_beta1, cfg_.adam_beta2, cfg_.adam_eps, cfg_.weight_decay, t_, 1.0f);
    const DenseLayer& o = plan_.dec.back();
    const std::size_t o0 = o.w, o1 = o.w + static_cast<std::size_t>(o.in) * static_cast<std::size_t>(o.out);
    bool out_fused = false;
    // The output layer's fused update only for batches up to kFuseOutputRows rows: its GEMM kernel
    // runs ~12% below OpenBLAS's, which the saved memory passes outweigh at batch 64 (+4-9% samples/s
    // for the text VAE) but not at 1024 (-2-3%); see docs/nn.md.
    if (fuse_output_ && rows <= kFuseOutputRows)
      net_.set_output_wgrad_hook([&](const float* dy, const float* in, std::int64_t r) {
        out_fused = cpu::dense_wgrad_adam(dy, in, r, o.out, o.in, p_.data() + o0, m_.data() + o0, v_.data() + o0, k);
        if (!out_fused)
          cpu::gemm_rm<float>(true, false, o.out, o.in, static_cast<int>(r), 1.0f, dy, o.out, in, o.in, 0.0f,
                              g_.data() + o0, o.in);
      });
    const bool sparse_fused = xs && plan_.enc[0].input_major;
    net_.set_defer_sparse_wgrad(sparse_fused);
    const StepLoss l = xs ? net_.forward_backward_sparse(p_.data(), x, *xs, eps, rows, beta, g_.data())
                          : net_.forward_backward(p_.data(), x, eps, rows, beta, g_.data());
    net_.set_defer_sparse_wgrad(false);
    net_.set_output_wgrad_hook(nullptr);
    // Adam over the parameters outside the fused ranges (sorted, disjoint).
    std::vector<std::pair<std::size_t, std::size_t>> skip;
    const DenseLayer* f = sparse_fused ? &plan_.enc[0] : nullptr;
    if (f) skip.emplace_back(f->w, f->w + static_cast<std::size_t>(f->in) * static_cast<std::size_t>(f->out));
    if (out_fused) skip.emplace_back(o0, o1);
    std::sort(skip.begin(), skip.end());
    std::size_t at = 0;
    skip.emplace_back(p_.size(), p_.size());
    for (const auto& [s0, s1] : skip) {
      if (s0 > at)
        cpu::adam_update(p_.data() + at, g_.data() + at, m_.data() + at, v_.data() + at, s0 - at, cfg_.lr,
                         cfg_.adam_beta1, cfg_.adam_beta2, cfg_.adam_eps, cfg_.weight_decay, t_, 1.0f);
      at = std::max(at, s1);
    }
    if (f)
      cpu::sparse_wgrad_adam_t(*xs, rows, net_.first_dy(), f->in, f->out, p_.data() + f->w, m_.data() + f->w,
                               v_.data() + f->w, k, &wgrad_work_);
    return l;
  }

  // CpuEngineOptions: the forward/backward of each chunk of chunk_rows_ rows on one thread (BLAS
  // runs single-threaded inside the parallel region), normalised by the whole batch's rows; the
  // chunk gradients are summed in chunk order into g_ (chunk 0 writes g_ itself).
  template <class XRows>
  StepLoss chunked_forward_backward(XRows&& x_rows, const float* eps, std::int64_t rows, float beta,
                                    const cpu::CsrRows<float>* xs) {
    const std::int64_t cr = chunk_rows_, nc = (rows + cr - 1) / cr, L = plan_.latent;
    while (static_cast<std::int64_t>(chunks_.size()) < nc) chunks_.push_back(std::make_unique<Chunk>(plan_));
    for (std::int64_t c = 1; c < nc; ++c) chunks_[static_cast<std::size_t>(c)]->g.resize(plan_.n_params);
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t c = 0; c < nc; ++c) {
      Chunk& ch = *chunks_[static_cast<std::size_t>(c)];
      const std::int64_t r0 = c * cr, nr = std::min(cr, rows - r0);
      const float* x = x_rows(r0, nr);
      float* g = c == 0 ? g_.data() : ch.g.data();
      if (xs) {
        const cpu::CsrRows<float> sub{xs->ptr + r0, xs->col, xs->val};  // ptr holds absolute offsets
        ch.loss = ch.net.forward_backward_sparse(p_.data(), x, sub, eps + r0 * L, nr, beta, g, rows);
      } else {
        ch.loss = ch.net.forward_backward(p_.data(), x, eps + r0 * L, nr, beta, g, rows);
      }
    }
    const std::int64_t np = static_cast<std::int64_t>(plan_.n_params);
    constexpr std::int64_t kBlock = 4096;
    const std::int64_t blocks = (np + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (np * (nc - 1) > (1 << 17))
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t i0 = b * kBlock, i1 = std::min(np, i0 + kBlock);
      float* __restrict g = g_.data();
      for (std::int64_t c = 1; c < nc; ++c) {
        const float* __restrict gc = chunks_[static_cast<std::size_t>(c)]->g.data();
#pragma omp simd
        for (std::int64_t i = i0; i < i1; ++i) g[i] += gc[i];
      }
    }
    StepLoss total;
    for (std::int64_t c = 0; c < nc; ++c) {
      const StepLoss& l = chunks_[static_cast<std::size_t>(c)]->loss;
      total.recon += l.recon;
      total.kl += l.kl;
      total.rows += l.rows;
    }
    return total;
  }

  struct Chunk {
    explicit Chunk(const NetPlan& p) : net(p) {}
    cpu::Net<float> net;
    std::vector<float> g;  // unused by chunk 0 (it writes g_)
    StepLoss loss;
  };

  VaeConfig cfg_;
  NetPlan plan_;
  cpu::Net<float> net_;
  std::vector<float> p_, g_, m_, v_, eps_, xb_;
  std::int64_t t_ = 0;
  Matrix data_;
  bool sparse_ = false;  // resident rows also held as CSR; epochs run the first layer sparse
  CsrHost sp_;
  std::vector<std::int64_t> bptr_;
  std::vector<std::int32_t> bcol_;
  std::vector<float> bval_;
  std::int64_t chunk_rows_ = -1;  // > 0: batches of more rows run in chunks of this many
  bool fuse_updates_ = true;      // CpuEngineOptions::fuse_updates
  bool fuse_output_ = true;
  cpu::SparseWgradWork wgrad_work_;
  std::vector<std::unique_ptr<Chunk>> chunks_;
};

}  // namespace

std::unique_ptr<Engine> make_cpu_engine(const VaeConfig& c) {
  return std::make_unique<CpuEngine>(c, CpuEngineOptions{});
}
std::unique_ptr<Engine> make_cpu_engine(const VaeConfig& c, const CpuEngineOptions& o) {
  return std::make_unique<CpuEngine>(c, o);
}

bool sparse_rows(const NetPlan& p, ConstMatrixView x, CsrHost* out) {
  if (p.enc.empty() || x.cols < kSparseMinCols || x.rows == 0) return false;
  std::int64_t nnz = 0;
  for (std::int64_t r = 0; r < x.rows; ++r)
    for (std::int64_t c = 0; c < x.cols; ++c) nnz += x.row(r)[c] != 0.0f;
  if (static_cast<double>(nnz) > kSparseMaxDensity * static_cast<double>(x.rows) * static_cast<double>(x.cols))
    return false;
  out->ptr.assign(1, 0);
  out->col.clear();
  out->val.clear();
  out->col.reserve(static_cast<std::size_t>(nnz));
  out->val.reserve(static_cast<std::size_t>(nnz));
  for (std::int64_t r = 0; r < x.rows; ++r) {
    const float* row = x.row(r);
    for (std::int64_t c = 0; c < x.cols; ++c)
      if (row[c] != 0.0f) {
        out->col.push_back(static_cast<std::int32_t>(c));
        out->val.push_back(row[c]);
      }
    out->ptr.push_back(static_cast<std::int64_t>(out->col.size()));
  }
  return true;
}

std::unique_ptr<Engine> make_engine(Backend& b, const VaeConfig& c) {
  if (!b.is_cuda()) return make_cpu_engine(c);
  return HMR_CUDA_CALL(b, make_vae_engine(b, c));
}

}  // namespace hmr::nn
