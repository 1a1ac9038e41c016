// nn/vae_net.h — internal: the VAE as a list of dense layers over one flat parameter buffer, the
// cpu twins of every kernel in kernels/nn (templated so the gradient tests run them in double),
// and the training engine interface both backends implement.
//
// Layout (all row-major): a batch x is [B x D]; layer l maps [B x in] -> [B x out] with
// W [out x in] (PyTorch Linear) and b [out]: Y = act(X W^T + b). The heads fc_mu and fc_logvar
// are one layer of width 2L (weights adjacent in the flat buffer), so h = [mu | logvar] [B x 2L].
// The decoder's last layer is linear; the output activation is folded into the loss, which takes
// the logits (stable BCE with sigmoid output, gradient sigmoid(a) - x).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/backend.h"
#include "core/matrix.h"
#include "nn/vae.h"

namespace hmr::nn {

struct DenseLayer {
  int in = 0, out = 0;
  std::size_t w = 0, b = 0;  // offsets in the flat buffer
  Activation act = Activation::identity;
  // W stored input-major ([in][out], i.e. W^T) instead of PyTorch's [out][in]. The cpu engine
  // keeps a sparse-input first layer this way (converting at params()/set_params()/grads()): a
  // CSR entry then scales one contiguous row of W^T, so its forward and weight gradient are
  // vector loops instead of gathers and scatters.
  bool input_major = false;
};

struct NetPlan {
  int input_dim = 0, latent = 0;
  std::vector<DenseLayer> enc;  // encoder.0, encoder.2, ...
  DenseLayer head;              // [fc_mu; fc_logvar]: out = 2 * latent, identity
  std::vector<DenseLayer> dec;  // decoder.0, ...; the last one linear (logits)
  Output output = Output::identity;
  Loss loss = Loss::mse;
  float free_bits = 0.0f;  // nats per sample and latent dimension (VaeConfig::free_bits)
  std::size_t n_params = 0;
  int widest = 0;  // max layer width (workspace sizing)
};

NetPlan make_plan(const VaeConfig& c);

// Loss sums of one batch (over its rows, not yet divided by B).
struct StepLoss {
  double recon = 0, kl = 0;  // sums over the batch rows
  std::int64_t rows = 0;
};

// The training engine of a backend. set_params resets the Adam state.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual void set_params(const std::vector<float>& p) = 0;
  virtual std::vector<float> params() = 0;
  virtual std::vector<float> grads() = 0;  // dLoss/dparams of the last step, before clipping
  // One step on a standardised batch x [B x D] with noise eps [B x L]: forward, backward and,
  // when update, gradient clipping + Adam. Loss = mean over rows of recon + beta * kl.
  virtual StepLoss step(ConstMatrixView x, ConstMatrixView eps, float beta, bool update) = 0;
  // Keeps the (standardised) training rows resident for epoch().
  virtual void set_data(ConstMatrixView x) = 0;
  // One epoch of minibatches over the resident rows in the order `perm` (batch = config.batch,
  // the last batch may be smaller); noise from the backend's generator seeded by noise_seed.
  // Returns the loss sums over all rows.
  virtual StepLoss epoch(const std::vector<std::int32_t>& perm, float beta, std::uint64_t noise_seed) = 0;
  // Inference (no sampling): h = [mu | logvar] [n x 2L] and decoder logits [n x D].
  virtual Matrix encode(ConstMatrixView x) = 0;
  virtual Matrix decode_logits(ConstMatrixView z) = 0;
  virtual bool graph_used() const { return false; }
  // Adam's moments (PyTorch's layout, flat order) and step count t, to save and to resume a run;
  // set_adam_state after set_params (which resets them).
  virtual void adam_state(std::vector<float>* m, std::vector<float>* v, std::int64_t* t) = 0;
  virtual void set_adam_state(const std::vector<float>& m, const std::vector<float>& v, std::int64_t t) = 0;
};

std::unique_ptr<Engine> make_cpu_engine(const VaeConfig& c);
// Data-parallel steps of the cpu engine: a batch is split into chunks of a fixed row count (the
// last one ragged), each chunk's forward/backward runs on one OpenMP thread (single-threaded BLAS)
// into its own gradient buffer, and the chunk gradients and losses are summed in chunk order. The
// chunk count depends on the batch's rows only, so results do not depend on the thread count.
// chunk_rows 0: the engine's rule (kChunkRows for small models, see vae_engine_cpu.cpp); > 0: always
// chunks of that many rows; < 0: never (one forward/backward over the whole batch).
constexpr std::int64_t kChunkRows = 256;
struct CpuEngineOptions {
  std::int64_t chunk_rows = 0;
  // Epochs with a sparse first layer and no clipping update that layer's weights as their
  // gradient rows are formed (cpu::sparse_wgrad_adam_t), bit for bit what the unfused step gives;
  // grads() then holds the other parameters' gradients only. false: always the unfused step.
  bool fuse_updates = true;
  bool fuse_output = true;  // with fuse_updates: the output layer's too (false: the first layer's only)
};
std::unique_ptr<Engine> make_cpu_engine(const VaeConfig& c, const CpuEngineOptions& o);

// Training rows that are wide and mostly zero (TF-IDF: ~1% non-zeros) run the first encoder layer
// sparse in Engine::epoch (CSR x W^T, and W's gradient from the CSR rows; no input gradient is
// needed): at least kSparseMinCols columns, at most kSparseMaxDensity non-zeros, a hidden layer.
// sparse_rows fills *out with the CSR form of x and returns true when that applies.
constexpr double kSparseMaxDensity = 0.1;
constexpr std::int64_t kSparseMinCols = 256;
struct CsrHost {
  std::vector<std::int64_t> ptr;
  std::vector<std::int32_t> col;
  std::vector<float> val;
};
bool sparse_rows(const NetPlan& p, ConstMatrixView x, CsrHost* out);
std::unique_ptr<Engine> make_engine(Backend& b, const VaeConfig& c);

// The cpu noise generator: eps [n] ~ N(0, 1) from Philox4x32-10 keyed by seed (counter = block
// index, 4 draws per block), Box-Muller on the pairs (draw 0, 1) and (2, 3) of each block: out[4 b
// + 0, 1] = r cos, r sin of the first pair of block b, out[4 b + 2, 3] of the second. Reproducible
// and independent of the thread count. On AVX2 + FMA cpus (runtime dispatch) Box-Muller runs in
// float lanes, elsewhere in double; the two agree within the bound tests/nn/vae_test.cpp states.
void normal_noise(float* out, std::size_t n, std::uint64_t seed);
void normal_noise_scalar(float* out, std::size_t n, std::uint64_t seed);  // double Box-Muller
bool normal_noise_avx2(float* out, std::size_t n, std::uint64_t seed);    // false without AVX2 + FMA
// One block's draws: philox::philox4x32_10 (core/philox.h).

// ---- cpu twins of kernels/nn (T = float for the engine, double for gradient checks) ----------
namespace cpu {

// C[m x n] = alpha * op(A) op(B) + beta * C, row-major, leading dimensions in elements.
template <class T>
void gemm_rm(bool ta, bool tb, int m, int n, int k, T alpha, const T* A, int lda, const T* B, int ldb, T beta, T* C,
             int ldc);
// gemm_rm<float> without BLAS for small widths (AVX2 + FMA micro-kernel, no packing): used when
// n <= 128 (and k <= 128 when tb); returns false (nothing done) otherwise or without AVX2 + FMA.
bool small_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
                float beta, float* C, int ldc);
// C = act(A op(B) + bias) (bias [n], act relu or identity) by the same kernel: a dense layer's forward.
bool small_linear(bool tb, int m, int n, int k, const float* A, int lda, const float* B, int ldb, const float* bias,
                  bool relu, float* C, int ldc);
// y[r][c] = act(y[r][c] + b[c]) in place, y [rows x cols].
template <class T>
void bias_act_forward(T* y, const T* b, std::int64_t rows, int cols, Activation act);
// dy[r][c] *= act'(y[r][c]) (derivative from the activation's output y); db[c] = sum_r dy[r][c].
template <class T>
void act_backward_bias_grad(T* dy, const T* y, std::int64_t rows, int cols, Activation act, T* db);
// z = mu + exp(0.5 logvar) * eps; h [B x 2L] = [mu | logvar], eps and z [B x L].
template <class T>
void reparam_forward(const T* h, const T* eps, T* z, std::int64_t rows, int latent);
// kl_rows[r] = sum_j max(fb, kl_rj), kl_rj = -0.5 (1 + lv - mu^2 - exp(lv)) (double); dh =
// d(mean_r(beta * kl_r) + upstream)/dh: dmu = dz + b_rj * mu * inv_batch, dlv = dz * 0.5 * exp(0.5 lv) *
// eps + b_rj * 0.5 (exp(lv) - 1) * inv_batch, b_rj = beta where kl_rj > fb (or fb <= 0), else 0.
template <class T>
void reparam_kl_backward(const T* h, const T* eps, const T* dz, std::int64_t rows, int latent, T beta, T inv_batch,
                         T* dh, double* kl_rows, float free_bits = 0.0f);
// Reconstruction from logits a [B x D]: loss_rows[r] = sum_c l(a, x), da = inv_batch * dl/da.
// mse: l = (o - x)^2, o = a or sigmoid(a); bce (sigmoid output): l = max(a,0) - a x + log1p(exp(-|a|)).
template <class T>
void recon_loss_grad(const T* a, const T* x, std::int64_t rows, int cols, Output out, Loss loss, T inv_batch, T* da,
                     double* loss_rows);
// Sparse first layer (TF-IDF input is ~1% non-zeros). A batch of CSR rows: row r holds the entries
// [ptr[r], ptr[r + 1]) of col / val.
template <class T>
struct CsrRows {
  const std::int64_t* ptr = nullptr;
  const std::int32_t* col = nullptr;
  const T* val = nullptr;
};
// BCE (sigmoid output) with the targets given as CSR rows x (the other targets are 0): the same
// loss rows and gradient as recon_loss_grad on the dense targets, the non-zero targets' terms
// (- a x, - x / B) added after the row's dense pass. The sparse-input step uses it, so the batch's
// dense rows are never gathered.
template <class T>
void bce_sparse_targets(const T* a, const CsrRows<T>& x, std::int64_t rows, int cols, T inv_batch, T* da,
                        double* loss_rows);
// y [rows x out] = X W^T for CSR X [rows x in] and W [out x in] (no bias): y[r][o] = sum over the
// entries of row r of val * W[o][col], in entry order.
template <class T>
void csr_linear_forward(const CsrRows<T>& x, std::int64_t rows, const T* w, int in, int out, T* y);
// dW [out x in] = dy^T X (overwritten): dW[o][c] = sum over rows r (in order) and their entries of
// dy[r][o] * val; columns no row touches are 0.
template <class T>
void csr_weight_grad(const CsrRows<T>& x, std::int64_t rows, const T* dy, int in, int out, T* dw);
// The same two with W^T [in x out] (DenseLayer::input_major): y[r][o] = sum over the entries of row
// r (in order) of val * Wt[col][o]; dWt[c][o] = sum over rows r (in order) of dy[r][o] * val.
// Each element sums the same terms in the same order as the out-major versions.
template <class T>
void csr_linear_forward_t(const CsrRows<T>& x, std::int64_t rows, const T* wt, int in, int out, T* y);
template <class T>
void csr_weight_grad_t(const CsrRows<T>& x, std::int64_t rows, const T* dy, int in, int out, T* dwt);
// [out x in] <-> [in x out] copy of a layer's weights (blocked).
template <class T>
void transpose(const T* src, int rows, int cols, T* dst);

// Global L2 norm of g [n] (double accumulation, fixed chunking).
double grad_norm(const float* g, std::size_t n);
// torch.optim.Adam step t (1-based) on the flat buffer; the gradient is scaled by `scale` (clipping)
// and weight decay is added to it: g' = scale * g + wd * p.
void adam_update(float* p, const float* g, float* m, float* v, std::size_t n, float lr, float b1, float b2, float eps,
                 float wd, std::int64_t t, float scale);
// One Adam step's constants (bias corrections folded in), and the update of n contiguous
// parameters with them on the calling thread; adam_update runs it over the whole buffer.
struct AdamStep {
  float b1 = 0, b2 = 0, eps = 0, wd = 0, scale = 1, step = 0, inv_sqrt_bc2 = 1;
};
AdamStep adam_step(float lr, float b1, float b2, float eps, float wd, std::int64_t t, float scale);
void adam_range(float* p, const float* g, float* m, float* v, std::int64_t n, const AdamStep& k);
// A sparse-input first layer's weight gradient fused with its Adam update (no clipping): the
// gradient of each row of Wt [in x out] (csr_weight_grad_t's sums, the same order, so the same
// bits) is formed in a row buffer from the batch's entries of that column and Adam updates the
// row at once; the full gradient never goes to memory. work: reusable scratch.
struct SparseWgradWork {
  std::vector<std::int64_t> col_ptr, fill;
  std::vector<std::int32_t> row;
  std::vector<float> val;
};
void sparse_wgrad_adam_t(const CsrRows<float>& x, std::int64_t rows, const float* dy, int in, int out, float* wt,
                         float* m, float* v, const AdamStep& k, SparseWgradWork* work);
// A dense layer's weight gradient fused with its Adam update (no clipping): W [out x inw]
// (PyTorch layout) gets Adam with dW = dy^T in (dy [rows x out], in [rows x inw]) formed block by
// block in cache; the gradient never goes to memory. Each element of dW is one FMA chain over the
// rows in order, so the result is the same on any thread count (it differs from a BLAS dW in
// rounding only). false: not available (no AVX2 + FMA), nothing done.
bool dense_wgrad_adam(const float* dy, const float* in, std::int64_t rows, int out, int inw, float* w, float* m,
                      float* v, const AdamStep& k);
// The clipping factor torch.nn.utils.clip_grad_norm_ applies: min(1, max_norm / (norm + 1e-6)).
float clip_scale(double norm, float max_norm);

// The whole network on the cpu in precision T: forward + backward of one batch into `grad`
// (overwritten). Used by the float engine and by the double-precision gradient checks.
template <class T>
class Net {
 public:
  explicit Net(const NetPlan& plan) : plan_(plan) {}
  const NetPlan& plan() const { return plan_; }
  // Returns loss sums; grad [n_params] receives d(mean loss)/d(params). The mean is over
  // norm_rows rows (0: rows): a chunk of a larger batch passes the batch's row count, and the sum
  // of the chunks' gradients is then the batch's gradient.
  StepLoss forward_backward(const T* params, const T* x, const T* eps, std::int64_t rows, T beta, T* grad,
                            std::int64_t norm_rows = 0);
  // The same with the first encoder layer computed from xs, the CSR form of x (x itself is still
  // needed by an MSE loss; with BCE the targets come from xs and x may be null). Equal to
  // forward_backward up to the summation order.
  StepLoss forward_backward_sparse(const T* params, const T* x, const CsrRows<T>& xs, const T* eps, std::int64_t rows,
                                   T beta, T* grad, std::int64_t norm_rows = 0);
  // With defer on, forward_backward_sparse leaves the first layer's weight gradient unwritten;
  // first_dy() is then that layer's output gradient [rows x out] (after the activation's
  // derivative), valid until the next call: the engine fuses the weight gradient with Adam.
  void set_defer_sparse_wgrad(bool defer) { defer_sparse_wgrad_ = defer; }
  // When set, forward_backward leaves the output layer's weight gradient unwritten and calls
  // hook(dy [rows x D], in [rows x width], rows) instead, right after that layer's backward (its
  // bias gradient and input gradient are done; dy is overwritten later in the step).
  using OutputWgradHook = std::function<void(const T* dy, const T* in, std::int64_t rows)>;
  void set_output_wgrad_hook(OutputWgradHook hook) { output_wgrad_ = std::move(hook); }
  const T* first_dy() const { return first_dy_; }
  // Forward only: h [rows x 2L] (mu | logvar); logits of decoding z [rows x D].
  void encode(const T* params, const T* x, std::int64_t rows, T* h);
  void decode(const T* params, const T* z, std::int64_t rows, T* logits);

 private:
  void reserve(std::int64_t rows);
  NetPlan plan_;
  const CsrRows<T>* sparse_ = nullptr;  // set during forward_backward_sparse
  bool defer_sparse_wgrad_ = false;
  OutputWgradHook output_wgrad_;
  const T* first_dy_ = nullptr;
  std::int64_t cap_ = 0;
  std::vector<std::vector<T>> act_;  // post-activation output of each layer
  std::vector<T> z_, dz_, dh_, da_, db_;
  std::vector<double> rows_a_, rows_b_;
};

}  // namespace cpu
}  // namespace hmr::nn
