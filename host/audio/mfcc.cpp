// audio/mfcc.cpp — librosa-parity MFCC: parameters, window, mel filter bank, DCT matrix, frame
// summary, and the dispatch to the cpu backend (spectrum_cpu.cpp, mfcc_cpu.cpp, mfcc_batch_cpu.cpp;
// layout in mfcc_cpu.h) or the cuda backend (mfcc_cuda.cpp). See mfcc.h for the definition.
#include "audio/mfcc.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "audio/mfcc_cpu.h"
#include "audio/mfcc_cuda.h"
#include "core/error.h"
#include "core/nvtx.h"

namespace hmr::audio {

// ---- parameters ---------------------------------------------------------------------------

namespace {
std::int64_t empty_filters(const MfccParams& p);  // below, with the filter bank
int max_mel_bands(MfccParams p);
}  // namespace

void check_params(const MfccParams& p) {
  // Below 1 kHz no speech or music band is left; above 768 kHz no audio format goes.
  HMR_REQUIRE(p.sample_rate >= 1000 && p.sample_rate <= 768000,
              "mfcc: sample_rate must be in [1000, 768000] Hz (got {})", p.sample_rate);
  HMR_REQUIRE(p.n_fft >= 2 && p.n_fft <= (1 << 16), "mfcc: n_fft must be in [2, 65536] (got {})", p.n_fft);
  // Each thread frames kBlock hops at a time: a hop of 2e9 samples asked for 128 GB of scratch and
  // crashed. 65536 samples (3 s at 22050 Hz) is already far past any MFCC hop in use.
  HMR_REQUIRE(p.hop_length > 0 && p.hop_length <= (1 << 16), "mfcc: hop_length must be in [1, 65536] (got {})",
              p.hop_length);
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
  // librosa warns "Empty filters detected in mel frequency basis" and goes on; an empty band is a
  // constant log-mel row (amin), i.e. an MFCC input that carries nothing, so refuse it.
  if (const std::int64_t empty = empty_filters(p); empty > 0)
    input_error(
        "mfcc: n_mels = {} leaves {} mel filter(s) empty at sample rate {} Hz with n_fft {} ({:g}-{:g} Hz); at most "
        "{} mel bands fit (lower n_mels, or raise n_fft or the sample rate)",
        p.n_mels, empty, p.sample_rate, p.n_fft, p.fmin, p.fmax > 0 ? p.fmax : p.sample_rate / 2.0, max_mel_bands(p));
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

namespace {

// librosa.filters.mel without the parameter checks (check_params builds it to find empty filters).
MelFilters build_mel_filters(const MfccParams& p) {
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

std::int64_t empty_filters(const MfccParams& p) {
  const MelFilters m = build_mel_filters(p);
  return std::count(m.count.begin(), m.count.end(), 0);
}

// The most mel bands without an empty filter at p's sample rate, n_fft, fmin and fmax (0 when even
// one band is empty). Empty filters grow with n_mels, so a bisection finds the edge.
int max_mel_bands(MfccParams p) {
  int lo = 0, hi = p.n_mels;  // lo fits, hi does not
  while (hi - lo > 1) {
    p.n_mels = lo + (hi - lo) / 2;
    (empty_filters(p) == 0 ? lo : hi) = p.n_mels;
  }
  return lo;
}

}  // namespace

MelFilters mel_filters(const MfccParams& p) {
  check_params(p);
  return build_mel_filters(p);
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

using mfcc_detail::check_clip;
using mfcc_detail::mfcc_clips_cpu;
using mfcc_detail::mfcc_files_cpu;

// ---- dispatch -----------------------------------------------------------------------------

namespace {
MfccResult empty_result(const MfccParams& p) {
  MfccResult r;
  r.summaries = Matrix(0, 2 * p.n_mfcc);  // no rows, the summary columns
  return r;
}
}  // namespace

MfccResult mfcc_clips(Backend& b, const std::vector<std::span<const float>>& clips, const MfccParams& p,
                      bool keep_frames) {
  NvtxRange range("audio/mfcc");
  check_params(p);
  // The cpu backend finds non-finite samples from the mel power (compute_clip).
  for (std::size_t i = 0; i < clips.size(); ++i) check_clip(clips[i], p, fmt::format("clip {}", i), b.is_cuda());
  if (clips.empty()) return empty_result(p);
  if (!b.is_cuda()) return mfcc_clips_cpu(clips, p, keep_frames);
  return HMR_CUDA_CALL(b, mfcc_clips_cuda(b, clips, p, keep_frames));
}

MfccResult mfcc_files(Backend& b, const std::vector<std::filesystem::path>& paths, const MfccParams& p,
                      const MfccOptions& o) {
  NvtxRange range("audio/mfcc_files");
  check_params(p);
  HMR_REQUIRE(std::isfinite(o.offset) && o.offset >= 0, "mfcc: offset must be >= 0 seconds (got {})", o.offset);
  if (paths.empty()) return empty_result(p);
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
