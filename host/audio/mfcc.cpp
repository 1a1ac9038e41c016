// audio/mfcc.cpp — librosa-parity MFCC: parameters, filter bank, DCT, the cpu backend and the
// dispatch to the cuda backend (mfcc_cuda.cpp). See mfcc.h for the definition.
//
// cpu backend layout: each clip is cut into blocks of kBlock frames; a block is framed and
// windowed into an FFTW-aligned [kBlock][n_fft] buffer, transformed by one batched r2c plan
// (made once per n_fft and kept for the process), reduced to power and then to mel power with
// the sparse filter rows, and stored frame-major in a [n_frames][n_mels] buffer. The dB
// conversion needs the whole clip's peak, so log, clamp, DCT and summary run after the last block.
// Threads take whole clips (OpenMP dynamic schedule); a batch with fewer clips than threads
// splits each clip's blocks over the threads instead.
#include "audio/mfcc.h"

#include <fftw3.h>
#include <immintrin.h>
#include <omp.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <numbers>
#include <tuple>

#include "audio/mfcc_cuda.h"
#include "core/error.h"
#include "core/nvtx.h"
#include "core/timer.h"

namespace hmr::audio {

// ---- parameters ---------------------------------------------------------------------------

void check_params(const MfccParams& p) {
  HMR_REQUIRE(p.sample_rate > 0, "mfcc: sample_rate must be > 0 (got {})", p.sample_rate);
  HMR_REQUIRE(p.n_fft >= 2 && p.n_fft <= (1 << 16), "mfcc: n_fft must be in [2, 65536] (got {})", p.n_fft);
  HMR_REQUIRE(p.hop_length > 0, "mfcc: hop_length must be > 0 (got {})", p.hop_length);
  HMR_REQUIRE(p.win_length >= 0 && p.win_length <= p.n_fft, "mfcc: win_length must be in [0, n_fft={}] (got {})",
              p.n_fft, p.win_length);
  HMR_REQUIRE(std::isfinite(p.power) && p.power > 0, "mfcc: power must be > 0 (got {})", p.power);
  HMR_REQUIRE(p.n_mels > 0 && p.n_mels <= 4096, "mfcc: n_mels must be in [1, 4096] (got {})", p.n_mels);
  HMR_REQUIRE(p.n_mfcc > 0 && p.n_mfcc <= p.n_mels, "mfcc: n_mfcc must be in [1, n_mels={}] (got {})", p.n_mels,
              p.n_mfcc);
  const double fmax = p.fmax > 0 ? p.fmax : p.sample_rate / 2.0;
  HMR_REQUIRE(std::isfinite(p.fmin) && p.fmin >= 0 && p.fmin < fmax, "mfcc: need 0 <= fmin < fmax (got {} and {})",
              p.fmin, fmax);
  HMR_REQUIRE(std::isfinite(p.amin) && p.amin > 0, "mfcc: amin must be > 0 (got {})", p.amin);
  HMR_REQUIRE(std::isfinite(p.ref) && p.ref != 0, "mfcc: ref must be a non-zero number (got {})", p.ref);
  HMR_REQUIRE(!std::isnan(p.top_db), "mfcc: top_db must be a number (<= 0 disables it)");
  HMR_REQUIRE(std::isfinite(p.lifter) && p.lifter >= 0, "mfcc: lifter must be >= 0 (got {})", p.lifter);
}

int n_bins(const MfccParams& p) { return 1 + p.n_fft / 2; }

std::int64_t frame_count(std::int64_t samples, const MfccParams& p) {
  const std::int64_t padded = samples + (p.center ? 2 * (p.n_fft / 2) : 0);
  if (samples <= 0 || padded < p.n_fft) return 0;
  return 1 + (padded - p.n_fft) / p.hop_length;
}

std::vector<std::string> summary_columns(int n_mfcc) {
  std::vector<std::string> c;
  for (int k = 1; k <= n_mfcc; ++k) {
    c.push_back(fmt::format("mfcc{}_mean", k));
    c.push_back(fmt::format("mfcc{}_var", k));
  }
  return c;
}

// ---- window, filters, DCT ------------------------------------------------------------------

std::vector<float> stft_window(const MfccParams& p) {
  const int win = p.win_length > 0 ? p.win_length : p.n_fft;
  std::vector<float> w(static_cast<std::size_t>(p.n_fft), 0.0f);
  const int lpad = (p.n_fft - win) / 2;  // librosa.util.pad_center
  for (int n = 0; n < win; ++n)          // periodic ("fftbins") Hann, scipy.signal.get_window
    w[static_cast<std::size_t>(lpad + n)] =
        static_cast<float>(0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * n / static_cast<double>(win)));
  return w;
}

namespace {

double hz_to_mel(double f, bool htk) {
  if (htk) return 2595.0 * std::log10(1.0 + f / 700.0);
  const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  return f >= min_log_hz ? min_log_mel + std::log(f / min_log_hz) / logstep : f / f_sp;
}

double mel_to_hz(double m, bool htk) {
  if (htk) return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0);
  const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
  const double logstep = std::log(6.4) / 27.0;
  return m >= min_log_mel ? min_log_hz * std::exp(logstep * (m - min_log_mel)) : f_sp * m;
}

}  // namespace

MelFilters mel_filters(const MfccParams& p) {
  check_params(p);
  const int nb = n_bins(p), nm = p.n_mels;
  const double fmax = p.fmax > 0 ? p.fmax : p.sample_rate / 2.0;
  // mel_frequencies(n_mels + 2): np.linspace over the mel axis (last point exact), back to Hz.
  const double lo = hz_to_mel(p.fmin, p.htk), hi = hz_to_mel(fmax, p.htk);
  std::vector<double> mel_f(static_cast<std::size_t>(nm + 2));
  const double step = (hi - lo) / (nm + 1);
  for (int i = 0; i < nm + 2; ++i) mel_f[static_cast<std::size_t>(i)] = mel_to_hz(i * step + lo, p.htk);
  mel_f.back() = mel_to_hz(hi, p.htk);
  // np.fft.rfftfreq(n_fft, 1/sr)
  const double df = 1.0 / (p.n_fft * (1.0 / p.sample_rate));
  MelFilters m;
  m.n_mels = nm;
  m.n_bins = nb;
  for (int i = 0; i < nm; ++i) {
    const double f0 = mel_f[static_cast<std::size_t>(i)], f1 = mel_f[static_cast<std::size_t>(i + 1)],
                 f2 = mel_f[static_cast<std::size_t>(i + 2)];
    const double enorm = p.slaney_norm ? 2.0 / (f2 - f0) : 1.0;
    std::vector<float> row(static_cast<std::size_t>(nb));
    int first = -1, last = -1;
    for (int k = 0; k < nb; ++k) {
      const double fk = k * df;
      const double lower = -(f0 - fk) / (f1 - f0), upper = (f2 - fk) / (f2 - f1);
      // librosa stores the triangle in a float32 array, then scales it in place by the float64
      // norm: two roundings, reproduced here.
      const float tri = static_cast<float>(std::max(0.0, std::min(lower, upper)));
      row[static_cast<std::size_t>(k)] = static_cast<float>(static_cast<double>(tri) * enorm);
      if (row[static_cast<std::size_t>(k)] != 0.0f) {
        if (first < 0) first = k;
        last = k;
      }
    }
    // A triangle's support is contiguous: keep [first, last] (an empty filter keeps nothing).
    m.start.push_back(first < 0 ? 0 : first);
    m.count.push_back(first < 0 ? 0 : last - first + 1);
    m.offset.push_back(static_cast<int>(m.weights.size()));
    if (first >= 0) m.weights.insert(m.weights.end(), row.begin() + first, row.begin() + last + 1);
  }
  return m;
}

Matrix MelFilters::dense() const {
  Matrix d(n_mels, n_bins);
  for (int i = 0; i < n_mels; ++i)
    for (int j = 0; j < count[static_cast<std::size_t>(i)]; ++j)
      d(i, start[static_cast<std::size_t>(i)] + j) =
          weights[static_cast<std::size_t>(offset[static_cast<std::size_t>(i)] + j)];
  return d;
}

Matrix dct_matrix(const MfccParams& p) {
  // scipy.fftpack.dct(type=2, norm="ortho"): y_k = s_k sum_n x_n cos(pi k (2n + 1) / (2N)),
  // s_0 = sqrt(1/N), s_k = sqrt(2/N); librosa's lifter multiplies row k-1 by 1 + L/2 sin(pi k / L).
  const int n = p.n_mels;
  Matrix d(p.n_mfcc, n);
  for (int k = 0; k < p.n_mfcc; ++k) {
    const double s = std::sqrt((k == 0 ? 1.0 : 2.0) / n);
    const double lift = p.lifter > 0 ? 1.0 + p.lifter / 2.0 * std::sin(std::numbers::pi * (k + 1) / p.lifter) : 1.0;
    for (int i = 0; i < n; ++i)
      d(k, i) = static_cast<float>(lift * s * std::cos(std::numbers::pi * k * (2.0 * i + 1.0) / (2.0 * n)));
  }
  return d;
}

std::vector<float> summarize_frames(const Matrix& f) {
  std::vector<float> out(static_cast<std::size_t>(2 * f.rows()));
  const std::int64_t t = f.cols();
  for (std::int64_t k = 0; k < f.rows(); ++k) {
    double s = 0.0;
    for (std::int64_t j = 0; j < t; ++j) s += f(k, j);
    const double mean = t > 0 ? s / static_cast<double>(t) : 0.0;
    double q = 0.0;
    for (std::int64_t j = 0; j < t; ++j) {
      const double d = f(k, j) - mean;
      q += d * d;
    }
    out[static_cast<std::size_t>(2 * k)] = static_cast<float>(mean);
    out[static_cast<std::size_t>(2 * k + 1)] = static_cast<float>(t > 0 ? q / static_cast<double>(t) : 0.0);
  }
  return out;
}

// ---- cpu backend --------------------------------------------------------------------------

namespace {

constexpr int kBlock = 16;    // frames per FFTW batch
constexpr int kDctGroup = 4;  // DCT coefficients summed together (weighted_rows_n)

// Where FFTW wisdom is cached between runs: $HMR_FFTW_WISDOM ("none" disables), else
// $XDG_CACHE_HOME/hmr or ~/.cache/hmr. Measuring a plan costs about a second; with the wisdom
// file every later process gets the measured plan at once.
std::filesystem::path wisdom_path() {
  if (const char* e = std::getenv("HMR_FFTW_WISDOM"); e && *e) return std::string(e) == "none" ? "" : e;
  std::filesystem::path base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    base = x;
  else if (const char* h = std::getenv("HOME"); h && *h)
    base = std::filesystem::path(h) / ".cache";
  else
    return {};
  return base / "hmr" / "fftwf-wisdom";
}

// Batched r2c plans, one per n_fft, made once (FFTW_MEASURE, via the wisdom cache) and kept for
// the process; FFTW's planner is not thread-safe, execution with the new-array interface is.
// idist: distance between the frames' inputs (floats): n_fft for the framed buffer (r2c), or
// the hop when the frames are read in place from the signal (overlapping, so the input is
// preserved). With the hop, the plan is a complex FFT of n_fft/2 points over the frame read as
// interleaved pairs (x[2n], x[2n+1]); split_real_spectrum turns it into the real spectrum. FFTW's
// own r2c does the same split, but here its codelets are SSE2/scalar and its c2c ones AVX: the
// complex plan plus the AVX2 split takes about half the time.
fftwf_plan block_plan(int n_fft, int idist) {
  // Destroyed at exit so leak checkers see no plan left behind.
  struct Plans : std::map<std::pair<int, int>, fftwf_plan> {
    ~Plans() {
      for (auto& [n, p] : *this) fftwf_destroy_plan(p);
    }
  };
  static std::mutex mu;
  static Plans plans;
  static bool imported = false;
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans.find({n_fft, idist});
  if (it != plans.end()) return it->second;
  const std::filesystem::path wisdom = wisdom_path();
  if (!imported && !wisdom.empty()) {
    imported = true;
    std::error_code ec;
    if (std::filesystem::exists(wisdom, ec)) fftwf_import_wisdom_from_filename(wisdom.c_str());
  }
  const int odist = (n_fft / 2 + 2) & ~1;  // even, so every row keeps the buffer's alignment
  float* in = fftwf_alloc_real(static_cast<std::size_t>(kBlock - 1) * idist + n_fft);
  fftwf_complex* out = fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * odist);
  const bool cplx = idist < n_fft;
  int n = cplx ? n_fft / 2 : n_fft;
  const unsigned flags = cplx ? FFTW_PRESERVE_INPUT : FFTW_DESTROY_INPUT;
  const auto make = [&](unsigned f) {
    auto* zin = reinterpret_cast<fftwf_complex*>(in);
    return cplx ? fftwf_plan_many_dft(1, &n, kBlock, zin, nullptr, 1, idist / 2, out, nullptr, 1, odist, FFTW_FORWARD,
                                      flags | f)
                : fftwf_plan_many_dft_r2c(1, &n, kBlock, in, nullptr, 1, idist, out, nullptr, 1, odist, flags | f);
  };
  // Known from wisdom? Then no measuring happens and nothing needs saving.
  fftwf_plan plan = make(FFTW_MEASURE | FFTW_WISDOM_ONLY);
  if (!plan) {
    plan = make(FFTW_MEASURE);
    if (plan && !wisdom.empty()) {
      // Temp file + rename: concurrent processes never see a half-written file.
      std::error_code ec;
      std::filesystem::create_directories(wisdom.parent_path(), ec);
      const auto tmp = wisdom.string() + fmt::format(".{}.tmp", static_cast<long>(::getpid()));
      if (!ec && fftwf_export_wisdom_to_filename(tmp.c_str())) std::filesystem::rename(tmp, wisdom, ec);
      if (ec) std::filesystem::remove(tmp, ec);
    }
  }
  fftwf_free(in);
  fftwf_free(out);
  HMR_ASSERT(plan != nullptr, "FFTW could not plan a batched r2c of length {}", n_fft);
  plans.emplace(std::make_pair(n_fft, idist), plan);
  return plan;
}

struct FftwDeleter {
  void operator()(void* p) const { fftwf_free(p); }
};

// Read-only state shared by all threads for one parameter set.
struct CpuPlan {
  MfccParams p;
  int nb = 0, odist = 0;
  std::vector<float> window;
  MelFilters mel;
  std::vector<float> dct;  // [n_mfcc][n_mels]
  fftwf_plan plan = nullptr;
  // The default full-length periodic Hann is applied in the frequency domain (3 taps: X_w[k] =
  // X[k]/2 - (X[k-1] + X[k+1])/4), so interior blocks are transformed straight from the signal
  // (dplan, inputs a hop apart) without copying frames; other windows use the framed path.
  bool direct = false;
  fftwf_plan dplan = nullptr;  // complex FFT of n_fft/2 points (block_plan)
  std::vector<float> tw;       // direct: W^k = exp(-i pi k / (n_fft/2)), k <= n_fft/4, interleaved
  float log_ref = 0.0f;
  // The spectrum code path, chosen once, at run time: the AVX2 passes where the cpu has AVX2, the
  // direct path's split and power fused. HMR_MFCC_SIMD=avx2 (separate passes) or generic (portable
  // loops) selects another one, for tests (all give the same bits) and comparisons.
  bool avx2 = false;
  bool unfused = false;

  explicit CpuPlan(const MfccParams& params) : p(params) {
    check_params(p);
    nb = n_bins(p);
    odist = (p.n_fft / 2 + 2) & ~1;
    window = stft_window(p);
    mel = mel_filters(p);
    dct = dct_matrix(p).vec();
    direct = (p.win_length == 0 || p.win_length == p.n_fft) && p.n_fft % 4 == 0 && p.n_fft >= 16 &&
             p.hop_length % 2 == 0 && p.hop_length < p.n_fft;
    if (direct) {
      dplan = block_plan(p.n_fft, p.hop_length);
      const int m = p.n_fft / 2;
      tw.resize(static_cast<std::size_t>(2 * (m / 2 + 8)));
      for (int k = 0; k <= m / 2; ++k) {
        tw[static_cast<std::size_t>(2 * k)] = static_cast<float>(std::cos(std::numbers::pi * k / m));
        tw[static_cast<std::size_t>(2 * k + 1)] = static_cast<float>(-std::sin(std::numbers::pi * k / m));
      }
    } else
      plan = block_plan(p.n_fft, p.n_fft);
    log_ref = static_cast<float>(10.0 * std::log10(std::max(p.amin, std::abs(p.ref))));
    avx2 = __builtin_cpu_supports("avx2");
    if (const char* simd = std::getenv("HMR_MFCC_SIMD")) {
      const std::string_view v(simd);
      HMR_REQUIRE(v == "fused" || v == "avx2" || v == "generic", "HMR_MFCC_SIMD={}: expected fused, avx2 or generic",
                  v);
      unfused = v != "fused";
      avx2 = avx2 && v != "generic";
    }
  }
};

// Per-thread scratch: one block of frames and its spectra.
// The spectra start kSpecPad complex values into their allocation (zeros), so the vector loads of
// bin k - 1 at k = 0 stay inside it; 4 complex keep the FFTW alignment.
constexpr int kSpecPad = 4;
struct Scratch {
  std::unique_ptr<float, FftwDeleter> frames;  // framed: [kBlock][n_fft]; direct: the padded edge span
  std::unique_ptr<fftwf_complex, FftwDeleter> spec_alloc;
  fftwf_complex* spec = nullptr;
  std::unique_ptr<fftwf_complex, FftwDeleter> z;  // direct: the complex FFTs, [kBlock][odist]
  std::vector<float> power_t;  // [n_bins][kBlock]: bin-major, so sums over bins vectorise across frames
  explicit Scratch(const CpuPlan& c)
      : frames(fftwf_alloc_real(static_cast<std::size_t>(kBlock) * std::max(c.p.n_fft, c.p.hop_length) + c.p.n_fft)),
        spec_alloc(fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * c.odist + kSpecPad)),
        power_t(static_cast<std::size_t>(c.nb) * kBlock) {
    spec = spec_alloc.get() + kSpecPad;
    if (c.direct) z.reset(fftwf_alloc_complex(static_cast<std::size_t>(kBlock) * c.odist));
    std::memset(spec_alloc.get(), 0, sizeof(fftwf_complex) * (static_cast<std::size_t>(kBlock) * c.odist + kSpecPad));
  }
};

// out[r] = sum over j < n of w[j] * x[j * kBlock + r], for the kBlock lanes r, each summed in
// j order (the order of the cuda kernels). The lanes are independent, so this is plain vector
// arithmetic on two 8-float vectors; it is inlined into the callers, which are compiled for AVX2
// and for the SSE2 baseline (chosen at run time). No FMA: the AVX2 and baseline clones round
// alike, so results do not depend on the CPU.
static_assert(kBlock == 16, "weighted_rows handles 16 lanes as two 8-float vectors");
typedef float v8f __attribute__((vector_size(32)));
[[gnu::always_inline]] inline void weighted_rows(const float* w, const float* x, int n, float* out) {
  v8f a0 = {}, a1 = {};
  for (int j = 0; j < n; ++j) {
    v8f x0, x1;
    std::memcpy(&x0, x + static_cast<std::size_t>(j) * kBlock, sizeof(v8f));
    std::memcpy(&x1, x + static_cast<std::size_t>(j) * kBlock + 8, sizeof(v8f));
    const float wj = w[j];
    a0 += wj * x0;
    a1 += wj * x1;
  }
  std::memcpy(out, &a0, sizeof(v8f));
  std::memcpy(out + 8, &a1, sizeof(v8f));
}

// weighted_rows for G weight rows at once (w + g * ldw, g < G), all over the same n rows of x.
// Each sum is the same chain of adds in j order as weighted_rows (identical results), but the G
// chains are interleaved: one chain is bound by the add latency (~3 cycles per row), G of them
// fill the pipeline. The DCT (20 coefficients over 128 mel bands per tile) runs this way.
template <int G>
[[gnu::always_inline]] inline void weighted_rows_n(const float* w, std::size_t ldw, const float* x, int n, float* out,
                                                   std::size_t ldo) {
  v8f a0[G] = {}, a1[G] = {};
  for (int j = 0; j < n; ++j) {
    v8f x0, x1;
    std::memcpy(&x0, x + static_cast<std::size_t>(j) * kBlock, sizeof(v8f));
    std::memcpy(&x1, x + static_cast<std::size_t>(j) * kBlock + 8, sizeof(v8f));
#pragma GCC unroll 8
    for (int g = 0; g < G; ++g) {
      const float wj = w[g * ldw + static_cast<std::size_t>(j)];
      a0[g] += wj * x0;
      a1[g] += wj * x1;
    }
  }
#pragma GCC unroll 8
  for (int g = 0; g < G; ++g) {
    std::memcpy(out + g * ldo, &a0[g], sizeof(v8f));
    std::memcpy(out + g * ldo + 8, &a1[g], sizeof(v8f));
  }
}

// Two weighted_rows with their own weights, rows and lengths, interleaved over their common
// length (the mel filters: ~16 bins each on average, each a latency-bound chain when alone).
[[gnu::always_inline]] inline void weighted_rows_2(const float* wa, const float* xa, int na, float* outa,
                                                   const float* wb, const float* xb, int nb, float* outb) {
  v8f a0 = {}, a1 = {}, b0 = {}, b1 = {};
  const int both = std::min(na, nb);
  int j = 0;
  for (; j < both; ++j) {
    v8f x0, x1, y0, y1;
    std::memcpy(&x0, xa + static_cast<std::size_t>(j) * kBlock, sizeof(v8f));
    std::memcpy(&x1, xa + static_cast<std::size_t>(j) * kBlock + 8, sizeof(v8f));
    std::memcpy(&y0, xb + static_cast<std::size_t>(j) * kBlock, sizeof(v8f));
    std::memcpy(&y1, xb + static_cast<std::size_t>(j) * kBlock + 8, sizeof(v8f));
    a0 += wa[j] * x0;
    a1 += wa[j] * x1;
    b0 += wb[j] * y0;
    b1 += wb[j] * y1;
  }
  for (int k = j; k < na; ++k) {
    v8f x0, x1;
    std::memcpy(&x0, xa + static_cast<std::size_t>(k) * kBlock, sizeof(v8f));
    std::memcpy(&x1, xa + static_cast<std::size_t>(k) * kBlock + 8, sizeof(v8f));
    a0 += wa[k] * x0;
    a1 += wa[k] * x1;
  }
  for (int k = j; k < nb; ++k) {
    v8f y0, y1;
    std::memcpy(&y0, xb + static_cast<std::size_t>(k) * kBlock, sizeof(v8f));
    std::memcpy(&y1, xb + static_cast<std::size_t>(k) * kBlock + 8, sizeof(v8f));
    b0 += wb[k] * y0;
    b1 += wb[k] * y1;
  }
  std::memcpy(outa, &a0, sizeof(v8f));
  std::memcpy(outa + 8, &a1, sizeof(v8f));
  std::memcpy(outb, &b0, sizeof(v8f));
  std::memcpy(outb + 8, &b1, sizeof(v8f));
}

// |X|^2 of the kBlock spectra, stored bin-major: pt[k * kBlock + r] (portable version, 16 x 16
// tiles so the transposing stores stay in L1).
// |X_w[k]|^2 with the Hann window applied in the frequency domain: X_w[k] = X[k]/2 - (X[k-1] +
// X[k+1])/4, where X[-1] and X[nb] are the conjugates of X[1] and X[nb - 2] (real input, even n_fft).
inline float hann_power(const float* X, int k, int nb) {
  const int km = k == 0 ? 1 : k - 1, kp = k == nb - 1 ? nb - 2 : k + 1;
  const float im_m = k == 0 ? -X[2 * km + 1] : X[2 * km + 1], im_p = k == nb - 1 ? -X[2 * kp + 1] : X[2 * kp + 1];
  const float re = 0.5f * X[2 * k] - 0.25f * (X[2 * km] + X[2 * kp]);
  const float im = 0.5f * X[2 * k + 1] - 0.25f * (im_m + im_p);
  return re * re + im * im;
}

void power_tiles_generic(const fftwf_complex* spec, int odist, int nb, bool hann, float* pt) {
  for (int k0 = 0; k0 < nb; k0 += 16) {
    const int k1 = std::min(nb, k0 + 16);
    for (int r = 0; r < kBlock; ++r) {
      const float* X = reinterpret_cast<const float*>(spec + static_cast<std::size_t>(r) * odist);
      for (int k = k0; k < k1; ++k)
        pt[static_cast<std::size_t>(k) * kBlock + r] =
            hann ? hann_power(X, k, nb) : X[2 * k] * X[2 * k] + X[2 * k + 1] * X[2 * k + 1];
    }
  }
}

// 8 frames x 8 bins of |X|^2 (or of the Hann-windowed |X_w|^2) with AVX2: the bins start at
// X[r] + 2 * off for frame r, and the results go bin-major to out[j * kBlock + r]. re^2 + im^2 by a
// horizontal add: the same two products and one sum per bin as the portable loop, so the results
// are identical; then an 8 x 8 register transpose. hadd leaves the bins of a row in the order
// 0 1 4 5 2 3 6 7.
__attribute__((target("avx2"), always_inline)) inline void power_tile8_avx2(const float* const X[8], int off, bool hann,
                                                                            float* out) {
  static constexpr int kPerm[8] = {0, 1, 4, 5, 2, 3, 6, 7};
  __m256 v[8];
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) {
    __m256 a = _mm256_loadu_ps(X[r] + 2 * off), b = _mm256_loadu_ps(X[r] + 2 * off + 8);
    if (hann) {  // same operations as hann_power
      const __m256 half = _mm256_set1_ps(0.5f), quarter = _mm256_set1_ps(0.25f);
      const __m256 am = _mm256_loadu_ps(X[r] + 2 * off - 2), bm = _mm256_loadu_ps(X[r] + 2 * off + 6);
      const __m256 ap = _mm256_loadu_ps(X[r] + 2 * off + 2), bp = _mm256_loadu_ps(X[r] + 2 * off + 10);
      a = _mm256_sub_ps(_mm256_mul_ps(half, a), _mm256_mul_ps(quarter, _mm256_add_ps(am, ap)));
      b = _mm256_sub_ps(_mm256_mul_ps(half, b), _mm256_mul_ps(quarter, _mm256_add_ps(bm, bp)));
    }
    v[r] = _mm256_hadd_ps(_mm256_mul_ps(a, a), _mm256_mul_ps(b, b));
  }
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  const __m256 w[8] = {_mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
                       _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
                       _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
                       _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) _mm256_storeu_ps(out + static_cast<std::size_t>(kPerm[j]) * kBlock, w[j]);
}

// The same as power_tiles_generic with AVX2, 8 frames x 8 bins per step (power_tile8_avx2).
__attribute__((target("avx2"))) void power_tiles_avx2(const fftwf_complex* spec, int odist, int nb, bool hann,
                                                      float* pt) {
  const int nb8 = nb / 8 * 8;
  for (int r0 = 0; r0 < kBlock; r0 += 8) {
    const float* X[8];
    for (int r = 0; r < 8; ++r) X[r] = reinterpret_cast<const float*>(spec + static_cast<std::size_t>(r0 + r) * odist);
    // bin 0 (whose k - 1 load is padding) is redone below
    for (int k0 = 0; k0 < nb8; k0 += 8) power_tile8_avx2(X, k0, hann, pt + static_cast<std::size_t>(k0) * kBlock + r0);
    for (int k = nb8; k < nb; ++k)
      for (int r = 0; r < 8; ++r)
        pt[static_cast<std::size_t>(k) * kBlock + r0 + r] =
            hann ? hann_power(X[r], k, nb) : X[r][2 * k] * X[r][2 * k] + X[r][2 * k + 1] * X[r][2 * k + 1];
    if (hann && nb8 > 0)
      for (int r = 0; r < 8; ++r) pt[r0 + r] = hann_power(X[r], 0, nb);
  }
}

// The real spectrum X[0..M] of a 2M-sample frame from Z = DFT_M of its pairs z[n] = x[2n] +
// i x[2n+1], for the bins k and M - k together: E = (Z[k] + conj Z[M-k]) / 2 (even samples),
// O = -i (Z[k] - conj Z[M-k]) / 2 (odd samples), t = W^k O, X[k] = E + t, X[M-k] = conj(E - t).
// xk receives X[k], xmk X[M-k].
inline void split_pair_to(const float* Z, const float* tw, int k, int m, float* xk, float* xmk) {
  const int j = (m - k) % m;
  const float ar = Z[2 * k], ai = Z[2 * k + 1], br = Z[2 * j], bi = -Z[2 * j + 1];
  const float sr = ar + br, si = ai + bi, dr = ar - br, di = ai - bi;
  const float er = 0.5f * sr, ei = 0.5f * si, o_r = di * 0.5f, o_i = dr * -0.5f;
  const float wr = tw[2 * k], wi = tw[2 * k + 1];
  const float tr = wr * o_r - wi * o_i, ti = wr * o_i + wi * o_r;
  xk[0] = er + tr;
  xk[1] = ei + ti;
  xmk[0] = er - tr;
  xmk[1] = -(ei - ti);
}
inline void split_pair(const float* Z, const float* tw, int k, int m, float* X) {
  split_pair_to(Z, tw, k, m, X + 2 * k, X + 2 * (m - k));
}

void split_rows_generic(const fftwf_complex* zrows, int odist, int m, const float* tw, fftwf_complex* xrows) {
  for (int r = 0; r < kBlock; ++r) {
    const float* Z = reinterpret_cast<const float*>(zrows + static_cast<std::size_t>(r) * odist);
    float* X = reinterpret_cast<float*>(xrows + static_cast<std::size_t>(r) * odist);
    for (int k = 0; k <= m / 2; ++k) split_pair(Z, tw, k, m, X);
  }
}

// split_pair for the 4 bins k..k+3 (1 <= k, k + 3 < M/2) and their 4 partners, in reversed order:
// xk receives X[k..k+3], xmk X[M-k-3..M-k]. The same operations as split_pair, so the results are
// identical.
__attribute__((target("avx2"), always_inline)) inline void split4_avx2(const float* Z, const float* tw, int k, int m,
                                                                       float* xk, float* xmk) {
  const __m256 neg_im = _mm256_castsi256_ps(_mm256_setr_epi32(0, INT32_MIN, 0, INT32_MIN, 0, INT32_MIN, 0, INT32_MIN));
  const __m256 half = _mm256_set1_ps(0.5f),
               half_pm = _mm256_setr_ps(0.5f, -0.5f, 0.5f, -0.5f, 0.5f, -0.5f, 0.5f, -0.5f);
  const __m256 a = _mm256_loadu_ps(Z + 2 * k);
  __m256 b = _mm256_loadu_ps(Z + 2 * (m - k - 3));
  b = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(b), 0x1B));
  b = _mm256_xor_ps(b, neg_im);
  const __m256 sm = _mm256_add_ps(a, b), df = _mm256_sub_ps(a, b);
  const __m256 e = _mm256_mul_ps(half, sm);
  const __m256 o = _mm256_mul_ps(_mm256_permute_ps(df, 0xB1), half_pm);
  const __m256 w = _mm256_loadu_ps(tw + 2 * k);
  const __m256 wr = _mm256_moveldup_ps(w), wi = _mm256_movehdup_ps(w);
  const __m256 t = _mm256_addsub_ps(_mm256_mul_ps(wr, o), _mm256_mul_ps(wi, _mm256_permute_ps(o, 0xB1)));
  _mm256_storeu_ps(xk, _mm256_add_ps(e, t));
  __m256 q = _mm256_xor_ps(_mm256_sub_ps(e, t), neg_im);
  q = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(q), 0x1B));
  _mm256_storeu_ps(xmk, q);
}

// split_pair for the bins ka <= k <= kb (kb <= M/2): lo[2 (k - ka)] receives X[k] and
// hi[2 (kb - k)] X[M-k], i.e. hi holds X[M-kb..M-ka] in ascending bin order.
__attribute__((target("avx2"), always_inline)) inline void split_range_avx2(const float* Z, const float* tw, int m,
                                                                            int ka, int kb, float* lo, float* hi) {
  int k = ka;
  if (k == 0) split_pair_to(Z, tw, k++, m, lo, hi + 2 * kb);
  for (; k + 3 <= kb && k + 3 < m / 2; k += 4) split4_avx2(Z, tw, k, m, lo + 2 * (k - ka), hi + 2 * (kb - k - 3));
  for (; k <= kb; ++k) split_pair_to(Z, tw, k, m, lo + 2 * (k - ka), hi + 2 * (kb - k));
}

// The same as split_rows_generic with AVX2.
__attribute__((target("avx2"))) void split_rows_avx2(const fftwf_complex* zrows, int odist, int m, const float* tw,
                                                     fftwf_complex* xrows) {
  for (int r = 0; r < kBlock; ++r) {
    const float* Z = reinterpret_cast<const float*>(zrows + static_cast<std::size_t>(r) * odist);
    float* X = reinterpret_cast<float*>(xrows + static_cast<std::size_t>(r) * odist);
    split_pair(Z, tw, 0, m, X);
    int k = 1;
    for (; k + 3 < m / 2; k += 4) split4_avx2(Z, tw, k, m, X + 2 * k, X + 2 * (m - k - 3));
    for (; k <= m / 2; ++k) split_pair(Z, tw, k, m, X);
  }
}

// |X_w[k]|^2 (as hann_power) from the bins k - 1, k, k + 1 at p, c and n.
inline float hann_power3(const float* p, const float* c, const float* n) {
  const float re = 0.5f * c[0] - 0.25f * (p[0] + n[0]);
  const float im = 0.5f * c[1] - 0.25f * (p[1] + n[1]);
  return re * re + im * im;
}

// Split + Hann power fused (the direct path's default): the same values as split_rows_avx2
// followed by power_tiles_avx2(hann), bit for bit, but the real spectra never go to memory: for 8
// frames at a time, kSplitChunk bins below M/2 and their partners above it are split into two small
// buffers (with one neighbour bin on each side, for the window's 3 taps) that stay in L1, and the
// power tiles are made from those. The two passes over the block's 16 spectra (128 KiB each way,
// from L2) were ~23% of the cpu MFCC time, against ~37% for the FFT itself.
constexpr int kSplitChunk = 64;
// Hann power tiles of the bins at index 1 .. kc of the 8 buffers X[r] (with their neighbours at 0
// and kc + 1) into out[(i - 1) * kBlock + r].
__attribute__((target("avx2"), always_inline)) inline void hann_tiles_avx2(const float* const X[8], int kc,
                                                                           float* out) {
  int i = 1;
  for (; i + 7 <= kc; i += 8) power_tile8_avx2(X, i, true, out + static_cast<std::size_t>(i - 1) * kBlock);
  for (; i <= kc; ++i)
    for (int r = 0; r < 8; ++r)
      out[static_cast<std::size_t>(i - 1) * kBlock + r] =
          hann_power3(X[r] + 2 * (i - 1), X[r] + 2 * i, X[r] + 2 * (i + 1));
}
__attribute__((target("avx2"))) void split_power_avx2(const fftwf_complex* zrows, int odist, int m, const float* tw,
                                                      float* pt) {
  constexpr int C = kSplitChunk;
  alignas(32) float lo[8][2 * (C + 2)];  // lo[r][2 j] = X[k0 - 1 + j], j = 0 .. kc + 1
  alignas(32) float hi[8][2 * (C + 2)];  // hi[r][2 j] = X[M - kb + j], j = 0 .. kc + 1
  const int half = m / 2;
  const float* los[8];
  const float* his[8];
  for (int r = 0; r < 8; ++r) {
    los[r] = lo[r];
    his[r] = hi[r];
  }
  for (int r0 = 0; r0 < kBlock; r0 += 8) {
    for (int k0 = 0; k0 < half; k0 += C) {
      const int kc = std::min(C, half - k0), kb = k0 + kc, ka = k0 == 0 ? 0 : k0 - 1;
      for (int r = 0; r < 8; ++r) {
        const float* Z = reinterpret_cast<const float*>(zrows + static_cast<std::size_t>(r0 + r) * odist);
        split_range_avx2(Z, tw, m, ka, kb, lo[r] + 2 * (ka - k0 + 1), hi[r]);
        if (k0 == 0) {  // X[-1] = conj X[1] and X[M+1] = conj X[M-1] (real input)
          lo[r][0] = lo[r][4];
          lo[r][1] = -lo[r][5];
          hi[r][2 * (kc + 1)] = hi[r][2 * (kc - 1)];
          hi[r][2 * (kc + 1) + 1] = -hi[r][2 * (kc - 1) + 1];
        }
        if (kb == half) {  // X[M/2] is its own partner: split_rows keeps the partner's value
          lo[r][2 * (kc + 1)] = hi[r][0];
          lo[r][2 * (kc + 1) + 1] = hi[r][1];
        }
      }
      hann_tiles_avx2(los, kc, pt + static_cast<std::size_t>(k0) * kBlock + r0);
      hann_tiles_avx2(his, kc, pt + static_cast<std::size_t>(m - kb + 1) * kBlock + r0);
      if (kb == half)
        for (int r = 0; r < 8; ++r)
          pt[static_cast<std::size_t>(half) * kBlock + r0 + r] = hann_power3(lo[r] + 2 * kc, hi[r], hi[r] + 2);
    }
  }
}

// Power spectra (|X|^power) of the frames [f0, f0 + kBlock) of y into s.power_t, bin-major:
// power_t[k * kBlock + r] = bin k of frame f0 + r. Lanes past f1 hold garbage (the direct path
// transforms whatever the span holds there).
__attribute__((target_clones("avx2", "default"))) void power_block(const CpuPlan& c, Scratch& s,
                                                                   std::span<const float> y, std::int64_t f0,
                                                                   std::int64_t f1) {
  const int n_fft = c.p.n_fft, hop = c.p.hop_length;
  const std::int64_t pad = c.p.center ? n_fft / 2 : 0, len = static_cast<std::int64_t>(y.size());
  float* fr = s.frames.get();
  const float* w = c.window.data();
  const std::int64_t start = f0 * hop - pad, span = static_cast<std::int64_t>(kBlock - 1) * hop + n_fft;
  if (c.direct) {
    // In place when the block's span lies inside the signal and keeps FFTW's alignment; else a
    // zero-padded copy of the span (the clip's ends, and short clips).
    const float* in = fr;
    if (start >= 0 && start + span <= len && fftwf_alignment_of(const_cast<float*>(y.data() + start)) == 0) {
      in = y.data() + start;
    } else {
      for (std::int64_t j = 0; j < span; ++j) {
        const std::int64_t i = start + j;
        fr[j] = (i >= 0 && i < len) ? y[static_cast<std::size_t>(i)] : 0.0f;
      }
    }
    fftwf_execute_dft(c.dplan, reinterpret_cast<fftwf_complex*>(const_cast<float*>(in)), s.z.get());
    if (c.avx2 && !c.unfused)
      split_power_avx2(s.z.get(), c.odist, n_fft / 2, c.tw.data(), s.power_t.data());
    else if (c.avx2)
      split_rows_avx2(s.z.get(), c.odist, n_fft / 2, c.tw.data(), s.spec);
    else
      split_rows_generic(s.z.get(), c.odist, n_fft / 2, c.tw.data(), s.spec);
  }
  for (std::int64_t f = f0; f < f0 + kBlock && !c.direct; ++f) {
    float* dst = fr + (f - f0) * n_fft;
    if (f >= f1) {  // unused rows of the last block: transform zeros
      std::fill(dst, dst + n_fft, 0.0f);
      continue;
    }
    const std::int64_t base = f * hop - pad;
    if (base >= 0 && base + n_fft <= len) {
      const float* src = y.data() + base;
#pragma omp simd
      for (int j = 0; j < n_fft; ++j) dst[j] = src[j] * w[j];
    } else {
      for (int j = 0; j < n_fft; ++j) {
        const std::int64_t i = base + j;
        dst[j] = (i >= 0 && i < len) ? y[static_cast<std::size_t>(i)] * w[j] : 0.0f;
      }
    }
  }
  if (!c.direct) fftwf_execute_dft_r2c(c.plan, fr, s.spec);
  const int nb = c.nb;
  float* pt = s.power_t.data();
  if (c.avx2 && c.direct && !c.unfused) {
    // done by split_power_avx2
  } else if (c.avx2)
    power_tiles_avx2(s.spec, c.odist, nb, c.direct, pt);
  else
    power_tiles_generic(s.spec, c.odist, nb, c.direct, pt);
  const float power = c.p.power;
  const std::size_t np = static_cast<std::size_t>(nb) * kBlock;
  if (power == 1.0f) {
#pragma omp simd
    for (std::size_t i = 0; i < np; ++i) pt[i] = std::sqrt(pt[i]);
  } else if (power != 2.0f) {
    for (std::size_t i = 0; i < np; ++i) pt[i] = std::pow(std::sqrt(pt[i]), power);
  }
}

// Mel power of frames [f0, f1) of y (f1 - f0 <= kBlock) into one tile, tile[m * kBlock + r] =
// mel band m of frame f0 + r; lanes past f1 hold 0.
__attribute__((target_clones("avx2", "default"))) void mel_block(const CpuPlan& c, Scratch& s, std::span<const float> y,
                                                                 std::int64_t f0, std::int64_t f1, float* tile) {
  power_block(c, s, y, f0, f1);
  const int nm = c.p.n_mels;
  const float* pt = s.power_t.data();
  // Each filter's sum runs over its bins in order (as the cuda kernel does), for all kBlock
  // frames at once: the frame lanes are independent, so this vectorises without reordering.
  const auto band = [&](int m) {
    const auto u = static_cast<std::size_t>(m);
    return std::tuple{c.mel.weights.data() + c.mel.offset[u], pt + static_cast<std::size_t>(c.mel.start[u]) * kBlock,
                      c.mel.count[u], tile + u * kBlock};
  };
  int m = 0;
  for (; m + 1 < nm; m += 2) {  // two filters at a time (weighted_rows_2)
    const auto [wa, xa, na, oa] = band(m);
    const auto [wb, xb, nbb, ob] = band(m + 1);
    weighted_rows_2(wa, xa, na, oa, wb, xb, nbb, ob);
  }
  if (m < nm) {
    const auto [wa, xa, na, oa] = band(m);
    weighted_rows(wa, xa, na, oa);
  }
  // Lanes past f1 (last block): the direct path transformed whatever the span held there.
  for (int m = 0; m < nm && f1 - f0 < kBlock; ++m)
    for (std::int64_t r = f1 - f0; r < kBlock; ++r) tile[static_cast<std::size_t>(m) * kBlock + r] = 0.0f;
}

// The mel power of one whole clip in tiles of kBlock frames, [n_blocks][n_mels][kBlock]; blocks
// split over threads when `inner`.
// `mel` is resized (every element is written), so a buffer kept by the caller is reused as is.
void clip_mel(const CpuPlan& c, std::span<const float> y, std::int64_t n_frames, bool inner, std::vector<float>& mel) {
  const std::int64_t blocks = (n_frames + kBlock - 1) / kBlock;
  const std::size_t tile = static_cast<std::size_t>(c.p.n_mels) * kBlock;
  mel.resize(static_cast<std::size_t>(blocks) * tile);
  if (inner) {
#pragma omp parallel
    {
      Scratch s(c);
#pragma omp for schedule(static)
      for (std::int64_t b = 0; b < blocks; ++b) {
        const std::int64_t f0 = b * kBlock, f1 = std::min(n_frames, f0 + kBlock);
        mel_block(c, s, y, f0, f1, mel.data() + static_cast<std::size_t>(b) * tile);
      }
    }
  } else {
    thread_local std::unique_ptr<Scratch> cached;       // reused across the clips of a thread
    thread_local std::pair<int, int> cached_for{0, 0};  // the sizes depend on n_fft and hop
    if (!cached || cached_for != std::make_pair(c.p.n_fft, c.p.hop_length)) {
      cached = std::make_unique<Scratch>(c);
      cached_for = {c.p.n_fft, c.p.hop_length};
    }
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t f0 = b * kBlock, f1 = std::min(n_frames, f0 + kBlock);
      mel_block(c, *cached, y, f0, f1, mel.data() + static_cast<std::size_t>(b) * tile);
    }
  }
}

struct ClipOut {
  std::vector<float> summary;  // [2 * n_mfcc]
  Matrix frames;               // [n_mfcc x n_frames] when requested
};

// 10 log10(x) for a normal float x > 0 without a libm call, so the dB pass vectorises 8 wide:
// x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s) = 2 (s + s^3/3 + ...) with
// s = (m - 1) / (m + 1), |s| < 0.172, summed to s^9 (the next term is < 2e-9 relative); e ln 2
// in two parts (the high part exact). Within a few float ulps of librosa's float32 log10, i.e.
// ~1e-5 dB: far inside the MFCC tolerance (0.02).
[[gnu::always_inline]] inline float db10(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  int e = static_cast<int>((bits >> 23) & 0xff) - 127;
  std::uint32_t mb = (bits & 0x7fffffu) | 0x3f800000u;  // mantissa in [1, 2)
  if (mb > 0x3fb504f3u) {                               // > sqrt(2): halve it
    mb -= 0x00800000u;
    e += 1;
  }
  float m;
  std::memcpy(&m, &mb, sizeof(m));
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float ln_m = 2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
  constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860682030941723212e-6f;
  constexpr float kTenOverLn10 = 4.3429448190325182765f;
  const float ef = static_cast<float>(e);
  return kTenOverLn10 * (ef * kLn2Hi + (ln_m + ef * kLn2Lo));
}

// dB (with the clip's top_db floor), DCT and summary from a clip's mel tiles (clip_mel). Lanes
// past the last frame hold mel power 0, i.e. the lowest possible dB value: they never raise the
// peak, and their coefficients are not used.
__attribute__((target_clones("avx2", "default"))) ClipOut finish_clip(const CpuPlan& c, std::vector<float>& mel,
                                                                      std::int64_t n_frames, bool keep_frames) {
  const int nm = c.p.n_mels, nk = c.p.n_mfcc;
  const float amin = static_cast<float>(c.p.amin), log_ref = c.log_ref;
  float peak = -INFINITY;
  const std::size_t n = mel.size();
  float* v = mel.data();
  if (amin >= FLT_MIN) {  // every input is a normal float: the vectorised log applies
#pragma omp simd reduction(max : peak)
    for (std::size_t i = 0; i < n; ++i) {
      const float d = db10(std::max(amin, v[i])) - log_ref;
      v[i] = d;
      peak = std::max(peak, d);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      v[i] = 10.0f * std::log10(std::max(amin, v[i])) - log_ref;
      peak = std::max(peak, v[i]);
    }
  }
  const float floor = c.p.top_db > 0 ? peak - static_cast<float>(c.p.top_db) : -INFINITY;
  ClipOut out;
  std::vector<double> sum(static_cast<std::size_t>(nk), 0.0);
  thread_local std::vector<float> coef;  // every element is written below
  coef.resize(static_cast<std::size_t>(n_frames) * nk);
  // DCT of a tile of kBlock frames: each coefficient summed over the mel bands in order (as the
  // cuda kernel does), vectorised across the frames; the floor is applied as the tile is used.
  const float* dct = c.dct.data();
  const std::size_t tile = static_cast<std::size_t>(nm) * kBlock;
  for (std::int64_t f0 = 0, b = 0; f0 < n_frames; f0 += kBlock, ++b) {
    const std::int64_t valid = std::min<std::int64_t>(kBlock, n_frames - f0);
    float* xt = v + static_cast<std::size_t>(b) * tile;
    if (c.p.top_db > 0) {
#pragma omp simd
      for (std::size_t i = 0; i < tile; ++i) xt[i] = std::max(xt[i], floor);
    }
    for (int k0 = 0; k0 < nk; k0 += kDctGroup) {
      float acc[kDctGroup][kBlock];
      const int g = std::min(kDctGroup, nk - k0);
      const float* dk = dct + static_cast<std::size_t>(k0) * nm;
      if (g == kDctGroup)
        weighted_rows_n<kDctGroup>(dk, static_cast<std::size_t>(nm), xt, nm, acc[0], kBlock);
      else
        for (int i = 0; i < g; ++i) weighted_rows(dk + static_cast<std::size_t>(i) * nm, xt, nm, acc[i]);
      for (int i = 0; i < g; ++i) {
        const int k = k0 + i;
        double sk = 0.0;
        for (std::int64_t r = 0; r < valid; ++r) {
          coef[static_cast<std::size_t>((f0 + r) * nk + k)] = acc[i][r];
          sk += acc[i][r];
        }
        sum[static_cast<std::size_t>(k)] += sk;
      }
    }
  }
  out.summary.resize(static_cast<std::size_t>(2 * nk));
  std::vector<double> mean(static_cast<std::size_t>(nk)), q(static_cast<std::size_t>(nk), 0.0);
  for (int k = 0; k < nk; ++k) mean[static_cast<std::size_t>(k)] = sum[static_cast<std::size_t>(k)] / n_frames;
  for (std::int64_t f = 0; f < n_frames; ++f)
    for (int k = 0; k < nk; ++k) {
      const double d = coef[static_cast<std::size_t>(f * nk + k)] - mean[static_cast<std::size_t>(k)];
      q[static_cast<std::size_t>(k)] += d * d;
    }
  for (int k = 0; k < nk; ++k) {
    out.summary[static_cast<std::size_t>(2 * k)] = static_cast<float>(mean[static_cast<std::size_t>(k)]);
    out.summary[static_cast<std::size_t>(2 * k + 1)] = static_cast<float>(q[static_cast<std::size_t>(k)] / n_frames);
  }
  if (keep_frames) {
    out.frames = Matrix(nk, n_frames);
    for (std::int64_t f = 0; f < n_frames; ++f)
      for (int k = 0; k < nk; ++k) out.frames(k, f) = coef[static_cast<std::size_t>(f * nk + k)];
  }
  return out;
}

// Input checks of one clip. `scan`: also look for non-finite samples (the cpu backend skips
// that pass and calls check_nonfinite only when a clip's mel power is not finite).
void check_clip(std::span<const float> y, const MfccParams& p, const std::string& what, bool scan = true) {
  HMR_REQUIRE(!y.empty(), "mfcc: {} is empty (zero samples)", what);
  HMR_REQUIRE(frame_count(static_cast<std::int64_t>(y.size()), p) > 0,
              "mfcc: {} has {} samples, fewer than n_fft={} (center=false)", what, y.size(), p.n_fft);
  if (scan && count_nonfinite(y) > 0)
    for (std::size_t i = 0; i < y.size(); ++i)
      HMR_REQUIRE(std::isfinite(y[i]), "mfcc: {} has a non-finite sample at index {}", what, i);
}

// A non-finite sample makes every frame that holds it non-finite (0 * inf is NaN too), so one
// pass over the (16x smaller) mel power finds it; only then are the samples scanned for the
// message. Finite samples whose power overflows pass, as before.
ClipOut compute_clip(const CpuPlan& c, std::span<const float> y, bool keep_frames, bool inner,
                     const std::string& what) {
  const std::int64_t n_frames = frame_count(static_cast<std::int64_t>(y.size()), c.p);
  thread_local std::vector<float> mel;  // ~0.7 MB per 30 s clip, reused by the thread's next clip
  clip_mel(c, y, n_frames, inner, mel);
  if (count_nonfinite(mel) > 0) check_clip(y, c.p, what);
  return finish_clip(c, mel, n_frames, keep_frames);
}

MfccResult assemble(std::vector<ClipOut>& outs, const std::vector<std::int64_t>& lengths, const std::vector<char>& ok,
                    int n_mfcc, bool keep_frames) {
  MfccResult r;
  std::int64_t n_ok = 0;
  for (char o : ok) n_ok += o ? 1 : 0;
  r.summaries = Matrix(n_ok, 2 * n_mfcc);
  std::int64_t row = 0;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    if (!ok[i]) continue;
    std::copy(outs[i].summary.begin(), outs[i].summary.end(), r.summaries.row(row));
    r.index.push_back(i);
    r.length.push_back(lengths[i]);
    if (keep_frames) r.frames.push_back(std::move(outs[i].frames));
    ++row;
  }
  return r;
}

MfccResult mfcc_clips_cpu(const std::vector<std::span<const float>>& clips, const MfccParams& p, bool keep_frames) {
  const CpuPlan c(p);
  const std::int64_t n = static_cast<std::int64_t>(clips.size());
  std::vector<ClipOut> outs(clips.size());
  std::vector<std::int64_t> lengths(clips.size());
  std::vector<char> ok(clips.size(), 1);
  Stopwatch sw;
  if (n < cpu_threads()) {
    for (std::int64_t i = 0; i < n; ++i) {
      outs[static_cast<std::size_t>(i)] =
          compute_clip(c, clips[static_cast<std::size_t>(i)], keep_frames, true, fmt::format("clip {}", i));
      lengths[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(clips[static_cast<std::size_t>(i)].size());
    }
  } else {
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t i = 0; i < n; ++i) {
      outs[static_cast<std::size_t>(i)] =
          compute_clip(c, clips[static_cast<std::size_t>(i)], keep_frames, false, fmt::format("clip {}", i));
      lengths[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(clips[static_cast<std::size_t>(i)].size());
    }
  }
  MfccResult r = assemble(outs, lengths, ok, p.n_mfcc, keep_frames);
  r.compute_s = r.total_s = sw.seconds();
  return r;
}

MfccResult mfcc_files_cpu(const std::vector<std::filesystem::path>& paths, const MfccParams& p, const MfccOptions& o) {
  const CpuPlan c(p);
  const std::int64_t n = static_cast<std::int64_t>(paths.size());
  std::vector<ClipOut> outs(paths.size());
  std::vector<std::int64_t> lengths(paths.size(), 0);
  std::vector<char> ok(paths.size(), 0);
  std::vector<std::string> errors(paths.size());
  std::atomic<bool> abort{false};
  std::atomic<std::size_t> done{0};
  std::mutex progress_mu;
  double decode_s = 0.0, compute_s = 0.0;
  Stopwatch total;
  const LoadOptions lo{p.sample_rate, o.offset, o.duration};
  int threads = o.decode_threads > 0 ? o.decode_threads : cpu_threads();
  // Decode and compute are fused per file: each thread reads a file, then computes it, so all
  // cores stay busy on a mix of I/O, decoding and FFTs without a hand-off between pools.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) reduction(+ : decode_s, compute_s)
  for (std::int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<std::size_t>(i);
    if (abort.load(std::memory_order_relaxed)) continue;
    try {
      Stopwatch sw;
      thread_local std::vector<float> recycled;  // the previous clip's samples: memory reused
      AudioClip clip = load_audio(paths[u], lo, std::move(recycled));
      decode_s += sw.seconds();
      sw.reset();
      // load_audio has rejected non-finite samples already.
      check_clip(clip.samples, p, paths[u].string(), false);
      outs[u] = compute_clip(c, clip.samples, o.keep_frames, false, paths[u].string());
      compute_s += sw.seconds();
      lengths[u] = clip.size();
      recycled = std::move(clip.samples);
      ok[u] = 1;
    } catch (const std::exception& e) {
      errors[u] = e.what();
      if (o.strict) abort = true;
    }
    const std::size_t d = ++done;
    if (o.progress) {
      std::lock_guard<std::mutex> lock(progress_mu);
      o.progress(d, paths.size());
    }
  }
  for (std::size_t i = 0; i < paths.size(); ++i)
    if (!errors[i].empty() && o.strict) input_error("{}", errors[i]);
  MfccResult r = assemble(outs, lengths, ok, p.n_mfcc, o.keep_frames);
  for (std::size_t i = 0; i < paths.size(); ++i)
    if (!ok[i]) r.skipped.push_back({paths[i].string(), errors[i]});
  r.decode_s = decode_s / threads;
  r.compute_s = compute_s / threads;
  r.total_s = total.seconds();
  return r;
}

}  // namespace

Matrix spectrogram_cpu(std::span<const float> y, const MfccParams& p) {
  const CpuPlan c(p);
  check_clip(y, p, "the clip");
  const std::int64_t n_frames = frame_count(static_cast<std::int64_t>(y.size()), p);
  Matrix out(c.nb, n_frames);
  Scratch s(c);
  for (std::int64_t f0 = 0; f0 < n_frames; f0 += kBlock) {
    const std::int64_t f1 = std::min(n_frames, f0 + kBlock);
    power_block(c, s, y, f0, f1);
    for (int k = 0; k < c.nb; ++k)
      for (std::int64_t f = f0; f < f1; ++f)
        out(k, f) = s.power_t[static_cast<std::size_t>(k) * kBlock + static_cast<std::size_t>(f - f0)];
  }
  return out;
}

Matrix melspectrogram_cpu(std::span<const float> y, const MfccParams& p) {
  const CpuPlan c(p);
  check_clip(y, p, "the clip");
  const std::int64_t n_frames = frame_count(static_cast<std::int64_t>(y.size()), p);
  std::vector<float> mel;
  clip_mel(c, y, n_frames, true, mel);
  Matrix out(p.n_mels, n_frames);
  for (std::int64_t f = 0; f < n_frames; ++f)
    for (int m = 0; m < p.n_mels; ++m)
      out(m, f) = mel[static_cast<std::size_t>(((f / kBlock) * p.n_mels + m) * kBlock + f % kBlock)];
  return out;
}

Matrix mfcc_cpu(std::span<const float> y, const MfccParams& p) {
  const CpuPlan c(p);
  check_clip(y, p, "the clip", false);
  return compute_clip(c, y, true, true, "the clip").frames;
}

// ---- dispatch -----------------------------------------------------------------------------

MfccResult mfcc_clips(Backend& b, const std::vector<std::span<const float>>& clips, const MfccParams& p,
                      bool keep_frames) {
  NvtxRange range("audio/mfcc");
  check_params(p);
  // The cpu backend finds non-finite samples from the mel power (compute_clip).
  for (std::size_t i = 0; i < clips.size(); ++i) check_clip(clips[i], p, fmt::format("clip {}", i), b.is_cuda());
  if (clips.empty()) {
    MfccResult r;
    r.summaries = Matrix(0, 2 * p.n_mfcc);
    return r;
  }
  if (!b.is_cuda()) return mfcc_clips_cpu(clips, p, keep_frames);
  return HMR_CUDA_CALL(b, mfcc_clips_cuda(b, clips, p, keep_frames));
}

MfccResult mfcc_files(Backend& b, const std::vector<std::filesystem::path>& paths, const MfccParams& p,
                      const MfccOptions& o) {
  NvtxRange range("audio/mfcc_files");
  check_params(p);
  HMR_REQUIRE(std::isfinite(o.offset) && o.offset >= 0, "mfcc: offset must be >= 0 seconds (got {})", o.offset);
  if (paths.empty()) {
    MfccResult r;
    r.summaries = Matrix(0, 2 * p.n_mfcc);
    return r;
  }
  if (!b.is_cuda()) return mfcc_files_cpu(paths, p, o);
  return HMR_CUDA_CALL(b, mfcc_files_cuda(b, paths, p, o));
}

Matrix mfcc_summaries(Backend& b, const std::vector<std::filesystem::path>& paths, const MfccParams& p,
                      std::vector<SkippedFile>* skipped) {
  MfccResult r = mfcc_files(b, paths, p, {});
  if (skipped) skipped->insert(skipped->end(), r.skipped.begin(), r.skipped.end());
  return std::move(r.summaries);
}

Matrix mfcc(Backend& b, std::span<const float> y, const MfccParams& p) {
  MfccResult r = mfcc_clips(b, {y}, p, true);
  return std::move(r.frames.front());
}

}  // namespace hmr::audio
