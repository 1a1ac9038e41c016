// audio/spectral.cpp — the spectral features' building blocks with librosa 0.10 parity (see
// spectral.h): parameter checks, filters.chroma, piptrack + pitch_tuning (estimate_tuning), the
// per-frame arithmetic of spectral_centroid / bandwidth / rolloff / contrast and chroma_stft's
// normalisation, rms and zero_crossing_rate from the signal, feature.delta (Savitzky-Golay), and
// the backend dispatch. Each piece follows librosa's dtypes (float32 where librosa stays in float32
// for float32 audio, double where numpy promotes), so discrete results such as the tuning
// histogram's bin and the roll-off bin come out as librosa's.
// Sources: librosa 0.10.2 feature/spectral.py, core/pitch.py, filters.py, util/utils.py,
// feature/utils.py; scipy.signal.savgol_coeffs / savgol_filter(mode="interp").
#include "audio/spectral.h"

#include <immintrin.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <iterator>
#include <numeric>

#include "audio/spectral_cpu.h"
#include "audio/spectral_cuda.h"
#include "core/error.h"
#include "core/nvtx.h"

namespace hmr::audio {

void check_params(const SpectralParams& p) {
  HMR_REQUIRE(p.sample_rate >= 1000 && p.sample_rate <= 768000,
              "spectral: sample_rate must be in [1000, 768000] Hz (got {})", p.sample_rate);
  // Even: librosa's estimate_tuning re-derives n_fft from the spectrogram's rows as 2 (rows - 1).
  HMR_REQUIRE(p.n_fft >= 16 && p.n_fft <= (1 << 16) && p.n_fft % 2 == 0,
              "spectral: n_fft must be even and in [16, 65536] (got {})", p.n_fft);
  HMR_REQUIRE(p.hop_length > 0 && p.hop_length <= (1 << 16), "spectral: hop_length must be in [1, 65536] (got {})",
              p.hop_length);
  HMR_REQUIRE(p.frame_length >= 2 && p.frame_length <= (1 << 20),
              "spectral: frame_length (rms, zcr) must be in [2, 2^20] (got {})", p.frame_length);
  HMR_REQUIRE(p.n_chroma > 0 && p.n_chroma <= 1200, "spectral: n_chroma must be in [1, 1200] (got {})", p.n_chroma);
  HMR_REQUIRE(std::isnan(p.tuning) || std::abs(p.tuning) <= 1e3,
              "spectral: tuning must be a number of bins (or NaN: estimate it), got {}", p.tuning);
  HMR_REQUIRE(p.roll_percent > 0.0 && p.roll_percent < 1.0, "spectral: roll_percent must lie in (0, 1) (got {})",
              p.roll_percent);
  HMR_REQUIRE(p.n_bands >= 1 && p.n_bands <= 30, "spectral: n_bands must be in [1, 30] (got {})", p.n_bands);
  HMR_REQUIRE(p.quantile > 0.0 && p.quantile < 1.0, "spectral: quantile must lie in (0, 1) (got {})", p.quantile);
  HMR_REQUIRE(std::isfinite(p.contrast_fmin) && p.contrast_fmin > 0,
              "spectral: contrast fmin must be a positive number (got {})", p.contrast_fmin);
}

namespace spectral_detail {

std::vector<double> fft_frequencies(int sample_rate, int n_fft) {
  const double val = 1.0 / (n_fft * (1.0 / sample_rate));
  std::vector<double> f(static_cast<std::size_t>(n_fft / 2 + 1));
  for (std::size_t k = 0; k < f.size(); ++k) f[k] = static_cast<double>(k) * val;
  return f;
}

Consts::Consts(const SpectralParams& params, bool contrast) : p(params) {
  check_params(p);
  nb = p.n_fft / 2 + 1;
  freq = fft_frequencies(p.sample_rate, p.n_fft);
  if (contrast) bands = contrast_bands(p, freq);
  const double fmax = std::min(4000.0, p.sample_rate / 2.0);
  pip_lo = nb;
  pip_hi = 0;
  for (int j = 0; j < nb; ++j)
    if (150.0 <= freq[static_cast<std::size_t>(j)] && freq[static_cast<std::size_t>(j)] < fmax) {
      pip_lo = std::min(pip_lo, j);
      pip_hi = j + 1;
    }
  if (pip_hi == 0) pip_lo = 0;
}

std::vector<ContrastBand> contrast_bands(const SpectralParams& p, const std::vector<double>& freq) {
  // librosa: "Frequency band exceeds Nyquist. Reduce either fmin or n_bands." (only when
  // spectral_contrast is asked for: the other series work at any rate)
  HMR_REQUIRE(p.contrast_fmin * std::pow(2.0, p.n_bands - 1) < 0.5 * p.sample_rate,
              "spectral: contrast band {} Hz exceeds Nyquist ({} Hz at {} Hz); reduce contrast fmin or n_bands",
              p.contrast_fmin * std::pow(2.0, p.n_bands - 1), 0.5 * p.sample_rate, p.sample_rate);
  const int nb = static_cast<int>(freq.size());
  std::vector<ContrastBand> bands;
  // spectral_contrast's octave bands: octa = [0, fmin, 2 fmin, ..., 2^n_bands fmin].
  std::vector<double> octa(static_cast<std::size_t>(p.n_bands + 2), 0.0);
  for (int i = 0; i <= p.n_bands; ++i) octa[static_cast<std::size_t>(i + 1)] = p.contrast_fmin * std::pow(2.0, i);
  for (int k = 0; k <= p.n_bands; ++k) {
    const double lo = octa[static_cast<std::size_t>(k)], hi = octa[static_cast<std::size_t>(k + 1)];
    int a = -1, b = -1;  // the bins with lo <= freq <= hi (contiguous: freq ascends)
    for (int j = 0; j < nb; ++j)
      if (freq[static_cast<std::size_t>(j)] >= lo && freq[static_cast<std::size_t>(j)] <= hi) {
        if (a < 0) a = j;
        b = j;
      }
    HMR_REQUIRE(a >= 0, "spectral: contrast band {} ({}-{} Hz) holds no FFT bin at n_fft {} and {} Hz; raise n_fft", k,
                lo, hi, p.n_fft, p.sample_rate);
    if (k > 0 && a > 0) --a;         // librosa adds the bin below the band
    if (k == p.n_bands) b = nb - 1;  // and everything above the last band
    const int count = b - a + 1;
    ContrastBand band;
    band.lo = a;
    band.hi = k < p.n_bands ? b : b + 1;  // the sub-band drops its last bin except in the top band
    band.n_q = std::max(1, static_cast<int>(std::nearbyint(p.quantile * count)));
    HMR_REQUIRE(band.hi > band.lo, "spectral: contrast band {} is empty at n_fft {}; raise n_fft", k, p.n_fft);
    band.n_q = std::min(band.n_q, band.hi - band.lo);
    bands.push_back(band);
  }
  return bands;
}

void frame_shape(const Consts& c, const float* mag, double* centroid, double* bandwidth, double* rolloff) {
  const int nb = c.nb;
  const double* freq = c.freq.data();
  thread_local std::vector<float> cum;
  thread_local std::vector<double> sn;
  cum.resize(static_cast<std::size_t>(nb));
  sn.resize(static_cast<std::size_t>(nb));
  // One pass: the norm L in four double accumulators (numpy adds the rows in bin order; the order
  // moves only the last bits of a double sum) beside numpy's float32 cumsum in bin order (the
  // roll-off threshold crossing must be exact: a dependent chain, which the L sums overlap).
  double l4[4] = {0, 0, 0, 0};
  float run = 0.0f;
  int k = 0;
  for (; k + 4 <= nb; k += 4)
    for (int j = 0; j < 4; ++j) {
      l4[j] += static_cast<double>(mag[k + j]);
      run += mag[k + j];
      cum[static_cast<std::size_t>(k + j)] = run;
    }
  for (; k < nb; ++k) {
    l4[0] += static_cast<double>(mag[k]);
    run += mag[k];
    cum[static_cast<std::size_t>(k)] = run;
  }
  if (centroid || bandwidth) {
    double L = (l4[0] + l4[1]) + (l4[2] + l4[3]);
    if (L < static_cast<double>(FLT_MIN)) L = 1.0;  // normalize(): tiny(float32) threshold
    // S_n = float(S / L) as librosa's normalize stores it, through the reciprocal: a double product
    // off the quotient by at most an ulp, which moves the float32 rounding about once in 2^28.
    const double inv = 1.0 / L;
    for (k = 0; k < nb; ++k) sn[static_cast<std::size_t>(k)] = static_cast<float>(static_cast<double>(mag[k]) * inv);
    double c4[4] = {0, 0, 0, 0};
    for (k = 0; k + 4 <= nb; k += 4)
      for (int j = 0; j < 4; ++j) c4[j] += freq[k + j] * sn[static_cast<std::size_t>(k + j)];
    for (; k < nb; ++k) c4[0] += freq[k] * sn[static_cast<std::size_t>(k)];
    const double cen = (c4[0] + c4[1]) + (c4[2] + c4[3]);
    if (centroid) *centroid = cen;
    if (bandwidth) {
      double b4[4] = {0, 0, 0, 0};
      for (k = 0; k + 4 <= nb; k += 4)
        for (int j = 0; j < 4; ++j) {
          const double d = cen - freq[k + j];
          b4[j] += sn[static_cast<std::size_t>(k + j)] * (d * d);
        }
      for (; k < nb; ++k) {
        const double d = cen - freq[k];
        b4[0] += sn[static_cast<std::size_t>(k)] * (d * d);
      }
      *bandwidth = std::sqrt((b4[0] + b4[1]) + (b4[2] + b4[3]));
    }
  }
  if (rolloff) {
    // threshold float(roll_percent) * total in float32; the first bin whose running sum is not
    // below it (the sums never decrease: a binary search)
    const float thr = static_cast<float>(c.p.roll_percent) * run;
    const auto it = std::partition_point(cum.begin(), cum.end(), [thr](float v) { return v < thr; });
    const int at = it == cum.end() ? nb - 1 : static_cast<int>(it - cum.begin());
    *rolloff = freq[at];
  }
}

void frame_contrast(const Consts& c, const float* mag, float* scratch, double* valley, double* peak) {
  for (std::size_t k = 0; k < c.bands.size(); ++k) {
    const ContrastBand& b = c.bands[k];
    const int n = b.hi - b.lo, q = b.n_q;
    std::copy(mag + b.lo, mag + b.hi, scratch);
    std::partial_sort(scratch, scratch + q, scratch + n);
    float s = 0.0f;
    for (int i = 0; i < q; ++i) s += scratch[i];
    valley[k] = static_cast<double>(s / static_cast<float>(q));
    std::copy(mag + b.lo, mag + b.hi, scratch);
    std::partial_sort(scratch, scratch + q, scratch + n, std::greater<float>());
    s = 0.0f;
    for (int i = q - 1; i >= 0; --i) s += scratch[i];  // ascending, as numpy's sorted tail
    peak[k] = static_cast<double>(s / static_cast<float>(q));
  }
}

void power_to_db_clip(std::span<double> x) {
  double mx = -INFINITY;
  for (double& v : x) {
    v = 10.0 * std::log10(std::max(1e-10, v));
    mx = std::max(mx, v);
  }
  const double floor = mx - 80.0;
  for (double& v : x) v = std::max(v, floor);
}

void frame_piptrack(const Consts& c, const float* P, std::vector<float>& pitch, std::vector<float>& mag) {
  const int nb = c.nb;
  // The frame's max (exact in any order; SSE is x86-64's baseline).
  __m128 m4 = _mm_set1_ps(P[0]);
  int k0 = 0;
  for (; k0 + 4 <= nb; k0 += 4) m4 = _mm_max_ps(m4, _mm_loadu_ps(P + k0));
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, m4);
  float mx = std::max(std::max(lanes[0], lanes[1]), std::max(lanes[2], lanes[3]));
  for (; k0 < nb; ++k0) mx = std::max(mx, P[k0]);
  const float ref = 0.1f * mx;
  const auto x = [&](int k) { return P[k] > ref ? P[k] : 0.0f; };  // S * (S > ref)
  const double sr = c.p.sample_rate, n_fft = c.p.n_fft;
  for (int k = std::max(c.pip_lo, 1); k < c.pip_hi; ++k) {
    const float xk = x(k);
    const bool lmax = k == nb - 1 ? xk > x(k - 1) : (xk > x(k - 1) && xk >= x(k + 1));
    if (!lmax) continue;
    float shift = 0.0f, avg;
    if (k == nb - 1) {
      avg = P[k] - P[k - 1];
    } else {
      // _parabolic_interpolation (numba): a, b in double from float32 neighbours.
      const double a = static_cast<double>(P[k + 1] + P[k - 1]) - 2.0 * static_cast<double>(P[k]);
      const double b = static_cast<double>(P[k + 1] - P[k - 1]) / 2.0;
      shift = std::abs(b) >= std::abs(a) ? 0.0f : static_cast<float>(-b / a);
      avg = (P[k + 1] - P[k - 1]) / 2.0f;  // np.gradient, float32
    }
    const float dskew = 0.5f * avg * shift;
    const float f = static_cast<float>((static_cast<double>(k) + static_cast<double>(shift)) * sr / n_fft);
    if (f > 0.0f) {
      pitch.push_back(f);
      mag.push_back(P[k] + dskew);
    }
  }
}

double tuning_from_candidates(const std::vector<float>& pitch, std::vector<float>& mag, int bins_per_octave) {
  if (pitch.empty()) return 0.0;  // librosa: "Trying to estimate tuning from empty frequency set."
  std::vector<float> sorted = mag;
  const std::size_t n = sorted.size(), h = n / 2;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(h), sorted.end());
  float thr = sorted[h];
  if (n % 2 == 0) {
    const float lo = *std::max_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(h));
    thr = (lo + thr) / 2.0f;  // np.median: float32 mean of the two middle values
  }
  std::vector<double> freqs;
  freqs.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    if (mag[i] >= thr) freqs.push_back(pitch[i]);
  return pitch_tuning(freqs, 0.01, bins_per_octave);
}

void frame_chroma(const Matrix& fb, const float* P, float* col, std::int64_t stride) {
  const int nc = static_cast<int>(fb.rows()), nb = static_cast<int>(fb.cols());
  double mx = 0.0;
  float raw[1200];
  for (int ci = 0; ci < nc; ++ci) {
    const float* w = fb.row(ci);
    // 8 lanes acc[j] += w[k + j] P[k + j] (two SSE registers: the same products and sums as the
    // scalar lanes of the cuda kernel, no fused multiply-add)
    __m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps();
    int k = 0;
    for (; k + 8 <= nb; k += 8) {
      a0 = _mm_add_ps(a0, _mm_mul_ps(_mm_loadu_ps(w + k), _mm_loadu_ps(P + k)));
      a1 = _mm_add_ps(a1, _mm_mul_ps(_mm_loadu_ps(w + k + 4), _mm_loadu_ps(P + k + 4)));
    }
    alignas(16) float acc[8];
    _mm_store_ps(acc, a0);
    _mm_store_ps(acc + 4, a1);
    for (int j = 0; k < nb; ++k, ++j) acc[j] += w[k] * P[k];
    const float r = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    raw[ci] = r;
    mx = std::max(mx, static_cast<double>(std::abs(r)));
  }
  if (mx < static_cast<double>(FLT_MIN)) mx = 1.0;  // normalize(norm=inf): a silent frame stays 0
  for (int ci = 0; ci < nc; ++ci) col[ci * stride] = static_cast<float>(static_cast<double>(raw[ci]) / mx);
}

}  // namespace spectral_detail

using namespace spectral_detail;

Matrix chroma_filters(int sample_rate, int n_fft, int n_chroma, double tuning) {
  HMR_REQUIRE(n_chroma > 0 && n_fft >= 2 && sample_rate > 0 && std::isfinite(tuning),
              "chroma filters: bad sample_rate {}, n_fft {}, n_chroma {} or tuning {}", sample_rate, n_fft, n_chroma,
              tuning);
  const int n = n_fft, nc = n_chroma;
  const double step = static_cast<double>(sample_rate) / n;  // linspace(0, sr, n_fft, endpoint=False)
  const double a440 = 440.0 * std::pow(2.0, tuning / nc);
  std::vector<double> frq(static_cast<std::size_t>(n)), width(static_cast<std::size_t>(n));
  for (int i = 1; i < n; ++i) frq[static_cast<std::size_t>(i)] = nc * std::log2((i * step) / (a440 / 16));
  frq[0] = frq[1] - 1.5 * nc;
  for (int i = 0; i + 1 < n; ++i)
    width[static_cast<std::size_t>(i)] =
        std::max(frq[static_cast<std::size_t>(i + 1)] - frq[static_cast<std::size_t>(i)], 1.0);
  width[static_cast<std::size_t>(n - 1)] = 1.0;
  const double half = std::nearbyint(nc / 2.0);
  std::vector<double> w(static_cast<std::size_t>(nc) * n);
  for (int j = 0; j < n; ++j) {
    double norm = 0.0;
    for (int c = 0; c < nc; ++c) {
      double d = frq[static_cast<std::size_t>(j)] - c + half + 10.0 * nc;
      d = std::fmod(d, static_cast<double>(nc));
      if (d != 0 && d < 0) d += nc;  // np.remainder: the sign of the divisor
      d -= half;
      const double z = 2 * d / width[static_cast<std::size_t>(j)];
      const double v = std::exp(-0.5 * (z * z));
      w[static_cast<std::size_t>(c) * n + j] = v;
      norm += v * v;
    }
    norm = std::sqrt(norm);
    if (norm < DBL_MIN) norm = 1.0;
    const double oct = (frq[static_cast<std::size_t>(j)] / nc - 5.0) / 2.0;  // ctroct 5, octwidth 2
    const double g = std::exp(-0.5 * (oct * oct));
    for (int c = 0; c < nc; ++c) {
      double& v = w[static_cast<std::size_t>(c) * n + j];
      v = v / norm * g;
    }
  }
  const int nb = n / 2 + 1, roll = 3 * (nc / 12);  // base_c: np.roll(wts, -3 (n_chroma // 12), axis=0)
  Matrix out(nc, nb);
  for (int c = 0; c < nc; ++c)
    for (int j = 0; j < nb; ++j) out(c, j) = static_cast<float>(w[static_cast<std::size_t>((c + roll) % nc) * n + j]);
  return out;
}

double pitch_tuning(std::span<const double> frequencies, double resolution, int bins_per_octave) {
  HMR_REQUIRE(resolution > 0 && resolution < 1 && bins_per_octave > 0,
              "pitch_tuning: resolution must lie in (0, 1) and bins_per_octave be positive");
  // librosa works on the float32 pitches of piptrack: f / 27.5, log2, * bins, mod 1 in float32.
  const int nbins = static_cast<int>(std::ceil(1.0 / resolution));
  std::vector<double> edges(static_cast<std::size_t>(nbins + 1));
  const double step = 1.0 / nbins;  // np.linspace(-0.5, 0.5, nbins + 1)
  for (int i = 0; i <= nbins; ++i) edges[static_cast<std::size_t>(i)] = i * step + -0.5;
  edges[static_cast<std::size_t>(nbins)] = 0.5;
  std::vector<std::int64_t> counts(static_cast<std::size_t>(nbins), 0);
  bool any = false;
  for (double fd : frequencies) {
    if (!(fd > 0)) continue;
    any = true;
    const float f = static_cast<float>(fd);
    const float octs = std::log2(f / 27.5f);
    float r = std::fmod(static_cast<float>(bins_per_octave) * octs, 1.0f);
    if (r < 0) r += 1.0f;
    if (r >= 0.5f) r -= 1.0f;
    const double rd = r;
    // histogram: bin i holds edges[i] <= r < edges[i + 1], the last bin closed on the right
    const auto it = std::upper_bound(edges.begin(), edges.end(), rd);
    int bin = static_cast<int>(it - edges.begin()) - 1;
    if (bin == nbins && rd == edges.back()) bin = nbins - 1;
    if (bin >= 0 && bin < nbins) ++counts[static_cast<std::size_t>(bin)];
  }
  if (!any) return 0.0;
  const auto best = std::max_element(counts.begin(), counts.end()) - counts.begin();
  return edges[static_cast<std::size_t>(best)];
}

double estimate_tuning(const Matrix& power, int sample_rate, int n_fft, int bins_per_octave, double resolution) {
  SpectralParams p;
  p.sample_rate = sample_rate;
  p.n_fft = n_fft;
  const Consts c(p, false);
  HMR_REQUIRE(power.rows() == c.nb, "estimate_tuning: the spectrogram has {} rows, n_fft {} needs {}", power.rows(),
              n_fft, c.nb);
  std::vector<float> col(static_cast<std::size_t>(c.nb)), pitch, mag;
  for (std::int64_t t = 0; t < power.cols(); ++t) {
    for (int k = 0; k < c.nb; ++k) col[static_cast<std::size_t>(k)] = power(k, t);
    frame_piptrack(c, col.data(), pitch, mag);
  }
  if (resolution == 0.01) return tuning_from_candidates(pitch, mag, bins_per_octave);
  std::vector<float> sorted = mag;
  std::sort(sorted.begin(), sorted.end());
  std::vector<double> f;
  if (!sorted.empty()) {
    const std::size_t n = sorted.size();
    const float thr = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0f;
    for (std::size_t i = 0; i < n; ++i)
      if (mag[i] >= thr) f.push_back(pitch[i]);
  }
  return pitch_tuning(f, resolution, bins_per_octave);
}

// ---- rms, zero-crossing rate (from the signal) ------------------------------------------------

namespace {
std::int64_t series_frames(std::int64_t len, const SpectralParams& p, const char* what) {
  const std::int64_t padded = len + (p.center ? 2 * (p.frame_length / 2) : 0);
  HMR_REQUIRE(padded >= p.frame_length, "{}: the clip has {} samples, fewer than frame_length={} (center=false)", what,
              len, p.frame_length);
  return 1 + (padded - p.frame_length) / p.hop_length;
}
}  // namespace

namespace {
// The frames' sample ranges [a_t, b_t) of the signal (clamped to [0, len)) all start and end on a
// few points; `edges` lists them in order, so a frame's sum is a difference of prefix sums taken
// only there, and the sums between neighbouring edges run in independent accumulators.
struct FrameEdges {
  std::vector<std::int64_t> edges;        // ascending, unique, from 0 to len
  std::vector<std::int32_t> first, last;  // per frame: the indices of a_t and b_t in edges
};
FrameEdges frame_edges(std::int64_t len, std::int64_t T, std::int64_t hop, std::int64_t start0, std::int64_t fl) {
  FrameEdges e;
  e.edges.reserve(static_cast<std::size_t>(2 * T + 2));
  std::vector<std::int64_t> a(static_cast<std::size_t>(T)), b(static_cast<std::size_t>(T));
  for (std::int64_t t = 0; t < T; ++t) {
    a[static_cast<std::size_t>(t)] = std::clamp<std::int64_t>(t * hop + start0, 0, len);
    b[static_cast<std::size_t>(t)] = std::clamp<std::int64_t>(t * hop + start0 + fl, 0, len);
  }
  std::merge(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(e.edges));
  e.edges.insert(e.edges.begin(), 0);
  e.edges.push_back(len);
  e.edges.erase(std::unique(e.edges.begin(), e.edges.end()), e.edges.end());
  e.first.resize(static_cast<std::size_t>(T));
  e.last.resize(static_cast<std::size_t>(T));
  for (std::int64_t t = 0; t < T; ++t) {
    e.first[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(
        std::lower_bound(e.edges.begin(), e.edges.end(), a[static_cast<std::size_t>(t)]) - e.edges.begin());
    e.last[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(
        std::lower_bound(e.edges.begin(), e.edges.end(), b[static_cast<std::size_t>(t)]) - e.edges.begin());
  }
  return e;
}
}  // namespace

std::vector<float> rms_frames(std::span<const float> y, const SpectralParams& p) {
  const std::int64_t len = static_cast<std::int64_t>(y.size()), fl = p.frame_length;
  const std::int64_t T = series_frames(len, p, "rms"), pad = p.center ? fl / 2 : 0;
  // Sums of the float32 squares in double (the zero padding adds nothing).
  const FrameEdges e = frame_edges(len, T, p.hop_length, -pad, fl);
  std::vector<double> cum(e.edges.size(), 0.0);
  for (std::size_t i = 0; i + 1 < e.edges.size(); ++i) {
    double s4[4] = {0, 0, 0, 0};
    std::int64_t j = e.edges[i];
    for (; j + 4 <= e.edges[i + 1]; j += 4)
      for (int l = 0; l < 4; ++l) {
        const float v = y[static_cast<std::size_t>(j + l)];
        s4[l] += static_cast<double>(v * v);
      }
    for (; j < e.edges[i + 1]; ++j) {
      const float v = y[static_cast<std::size_t>(j)];
      s4[0] += static_cast<double>(v * v);
    }
    cum[i + 1] = cum[i] + ((s4[0] + s4[1]) + (s4[2] + s4[3]));
  }
  std::vector<float> out(static_cast<std::size_t>(T));
  for (std::int64_t t = 0; t < T; ++t) {
    const double m = (cum[static_cast<std::size_t>(e.last[static_cast<std::size_t>(t)])] -
                      cum[static_cast<std::size_t>(e.first[static_cast<std::size_t>(t)])]) /
                     static_cast<double>(fl);
    out[static_cast<std::size_t>(t)] = std::sqrt(static_cast<float>(std::max(0.0, m)));
  }
  return out;
}

std::vector<float> zcr_frames(std::span<const float> y, const SpectralParams& p) {
  const std::int64_t len = static_cast<std::int64_t>(y.size()), fl = p.frame_length;
  const std::int64_t T = series_frames(len, p, "zero_crossing_rate"), pad = p.center ? fl / 2 : 0;
  // A crossing at signal position i (1 <= i < len) compares samples i - 1 and i, with |x| <= 1e-10
  // (librosa's threshold, float32) counted as 0 and 0 as positive; the "edge" padding repeats the
  // end samples, so it adds none. A frame's crossings sit at its samples 1 .. fl - 1: signal
  // positions [t hop - pad + 1, t hop - pad + fl), counted by prefix sums at the frames' edges.
  const auto neg = [](float v) -> std::uint32_t {
    constexpr float thr = 1e-10f;
    return (std::abs(v) <= thr) ? 0u : (std::signbit(v) ? 1u : 0u);
  };
  const FrameEdges e = frame_edges(len, T, p.hop_length, -pad + 1, fl - 1);
  std::vector<std::int64_t> cum(e.edges.size(), 0);
  for (std::size_t i = 0; i + 1 < e.edges.size(); ++i) {
    std::uint32_t n = 0;
    std::int64_t j = std::max<std::int64_t>(e.edges[i], 1);
    // 4 positions at a time: sign bits of the samples (movemask) without those inside the threshold
    const __m128 thr4 = _mm_set1_ps(1e-10f), abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    const auto negs = [&](const float* at) {
      const __m128 v = _mm_loadu_ps(at);
      const int small = _mm_movemask_ps(_mm_cmple_ps(_mm_and_ps(v, abs_mask), thr4));
      return static_cast<unsigned>(_mm_movemask_ps(v) & ~small);
    };
    for (; j + 4 <= e.edges[i + 1]; j += 4)
      n += static_cast<std::uint32_t>(__builtin_popcount(negs(y.data() + j) ^ negs(y.data() + j - 1)));
    for (; j < e.edges[i + 1]; ++j) n += neg(y[static_cast<std::size_t>(j)]) ^ neg(y[static_cast<std::size_t>(j - 1)]);
    cum[i + 1] = cum[i] + n;
  }
  std::vector<float> out(static_cast<std::size_t>(T));
  for (std::int64_t t = 0; t < T; ++t) {
    const std::int64_t c = cum[static_cast<std::size_t>(e.last[static_cast<std::size_t>(t)])] -
                           cum[static_cast<std::size_t>(e.first[static_cast<std::size_t>(t)])];
    out[static_cast<std::size_t>(t)] = static_cast<float>(static_cast<double>(c) / static_cast<double>(fl));
  }
  return out;
}

// ---- delta ----------------------------------------------------------------------------------

Matrix delta(const Matrix& data, int order, int width) {
  HMR_REQUIRE(width >= 3 && width % 2 == 1, "delta: width must be an odd integer >= 3 (got {})", width);
  HMR_REQUIRE(order >= 1 && order < width, "delta: order must be a positive integer below width (got {})", order);
  HMR_REQUIRE(width <= data.cols(), "delta: when mode='interp', width={} cannot exceed the {} frames", width,
              data.cols());
  // scipy.signal.savgol_coeffs(width, polyorder=order, deriv=order): the minimum-norm solution of
  // A c = order! e_order with A[j][i] = x_i^j, x = -h..h, i.e. c = A^T (A A^T)^{-1} y.
  const int h = width / 2, m = order + 1;
  std::vector<double> G(static_cast<std::size_t>(m) * m), rhs(static_cast<std::size_t>(m), 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) {
      double s = 0.0;
      for (int x = -h; x <= h; ++x) s += std::pow(static_cast<double>(x), i + j);
      G[static_cast<std::size_t>(i) * m + j] = s;
    }
  double fact = 1.0;
  for (int i = 2; i <= order; ++i) fact *= i;
  rhs[static_cast<std::size_t>(order)] = fact;
  for (int col = 0; col < m; ++col) {  // Gaussian elimination with partial pivoting
    int piv = col;
    for (int r = col + 1; r < m; ++r)
      if (std::abs(G[static_cast<std::size_t>(r) * m + col]) > std::abs(G[static_cast<std::size_t>(piv) * m + col]))
        piv = r;
    for (int j = 0; j < m; ++j)
      std::swap(G[static_cast<std::size_t>(col) * m + j], G[static_cast<std::size_t>(piv) * m + j]);
    std::swap(rhs[static_cast<std::size_t>(col)], rhs[static_cast<std::size_t>(piv)]);
    for (int r = 0; r < m; ++r) {
      if (r == col) continue;
      const double f = G[static_cast<std::size_t>(r) * m + col] / G[static_cast<std::size_t>(col) * m + col];
      for (int j = 0; j < m; ++j)
        G[static_cast<std::size_t>(r) * m + j] -= f * G[static_cast<std::size_t>(col) * m + j];
      rhs[static_cast<std::size_t>(r)] -= f * rhs[static_cast<std::size_t>(col)];
    }
  }
  std::vector<double> coef(static_cast<std::size_t>(width), 0.0);  // weight of x[t + k], k = -h..h
  for (int x = -h; x <= h; ++x)
    for (int j = 0; j < m; ++j)
      coef[static_cast<std::size_t>(x + h)] += std::pow(static_cast<double>(x), j) * rhs[static_cast<std::size_t>(j)] /
                                               G[static_cast<std::size_t>(j) * m + j];
  const std::int64_t T = data.cols();
  Matrix out(data.rows(), T);
  for (std::int64_t r = 0; r < data.rows(); ++r) {
    const float* x = data.row(r);
    const auto at = [&](std::int64_t t) {
      double s = 0.0;
      for (int k = -h; k <= h; ++k) s += coef[static_cast<std::size_t>(k + h)] * static_cast<double>(x[t + k]);
      return s;
    };
    for (std::int64_t t = h; t < T - h; ++t) out(r, t) = static_cast<float>(at(t));
    // mode="interp": a polynomial of degree `order` fitted to the first / last window; its
    // order-th derivative is a constant, the value of the filter at that window's centre.
    const float first = static_cast<float>(at(h)), last = static_cast<float>(at(T - 1 - h));
    for (std::int64_t t = 0; t < h; ++t) {
      out(r, t) = first;
      out(r, T - 1 - t) = last;
    }
  }
  return out;
}

// ---- the Matrix building blocks and dispatch --------------------------------------------------

void spectral_shape_from_magnitude(const Matrix& magnitude, const SpectralParams& p, const SpectralWhat& what,
                                   SpectralFrames& out) {
  const Consts c(p, what.contrast);
  HMR_REQUIRE(magnitude.rows() == c.nb, "spectral: the magnitude has {} rows, n_fft {} needs {}", magnitude.rows(),
              p.n_fft, c.nb);
  const std::int64_t T = magnitude.cols();
  std::vector<float> col(static_cast<std::size_t>(c.nb)), scratch(col.size());
  const std::size_t nbands = c.bands.size();
  std::vector<double> valley(nbands * static_cast<std::size_t>(T)), peak(valley.size());
  if (what.centroid) out.centroid.assign(static_cast<std::size_t>(T), 0.0f);
  if (what.bandwidth) out.bandwidth.assign(static_cast<std::size_t>(T), 0.0f);
  if (what.rolloff) out.rolloff.assign(static_cast<std::size_t>(T), 0.0f);
  std::vector<double> v(nbands), pk(nbands);
  for (std::int64_t t = 0; t < T; ++t) {
    for (int k = 0; k < c.nb; ++k) col[static_cast<std::size_t>(k)] = magnitude(k, t);
    double cen = 0, bw = 0, ro = 0;
    frame_shape(c, col.data(), what.centroid || what.bandwidth ? &cen : nullptr, what.bandwidth ? &bw : nullptr,
                what.rolloff ? &ro : nullptr);
    if (what.centroid) out.centroid[static_cast<std::size_t>(t)] = static_cast<float>(cen);
    if (what.bandwidth) out.bandwidth[static_cast<std::size_t>(t)] = static_cast<float>(bw);
    if (what.rolloff) out.rolloff[static_cast<std::size_t>(t)] = static_cast<float>(ro);
    if (what.contrast) {
      frame_contrast(c, col.data(), scratch.data(), v.data(), pk.data());
      for (std::size_t b = 0; b < nbands; ++b) {
        valley[b * static_cast<std::size_t>(T) + static_cast<std::size_t>(t)] = v[b];
        peak[b * static_cast<std::size_t>(T) + static_cast<std::size_t>(t)] = pk[b];
      }
    }
  }
  if (what.contrast) {
    power_to_db_clip(peak);
    power_to_db_clip(valley);
    out.contrast = Matrix(static_cast<std::int64_t>(nbands), T);
    for (std::size_t i = 0; i < peak.size(); ++i) out.contrast.vec()[i] = static_cast<float>(peak[i] - valley[i]);
  }
}

void chroma_from_power(const Matrix& power, const SpectralParams& p, SpectralFrames& out) {
  const Consts c(p, false);
  HMR_REQUIRE(power.rows() == c.nb, "spectral: the power spectrogram has {} rows, n_fft {} needs {}", power.rows(),
              p.n_fft, c.nb);
  out.tuning = std::isnan(p.tuning) ? estimate_tuning(power, p.sample_rate, p.n_fft, p.n_chroma) : p.tuning;
  const Matrix fb = chroma_filters(p.sample_rate, p.n_fft, p.n_chroma, out.tuning);
  const std::int64_t T = power.cols();
  out.chroma = Matrix(p.n_chroma, T);
  std::vector<float> col(static_cast<std::size_t>(c.nb));
  for (std::int64_t t = 0; t < T; ++t) {
    for (int k = 0; k < c.nb; ++k) col[static_cast<std::size_t>(k)] = power(k, t);
    frame_chroma(fb, col.data(), out.chroma.data() + t, T);
  }
}

void spectral_detail::check_clips(const std::vector<std::span<const float>>& clips, const SpectralParams& p) {
  check_params(p);
  for (std::size_t i = 0; i < clips.size(); ++i) {
    HMR_REQUIRE(!clips[i].empty(), "spectral: clip {} is empty (zero samples)", i);
    HMR_REQUIRE(p.center || static_cast<std::int64_t>(clips[i].size()) >= std::max(p.n_fft, p.frame_length),
                "spectral: clip {} has {} samples, fewer than n_fft={} / frame_length={} (center=false)", i,
                clips[i].size(), p.n_fft, p.frame_length);
    // x - x is 0 for a finite x and NaN otherwise: OR the bits of 4 lanes, scan only on a hit
    const float* y = clips[i].data();
    const std::size_t n = clips[i].size();
    __m128 bad = _mm_setzero_ps();
    std::size_t j = 0;
    for (; j + 4 <= n; j += 4) {
      const __m128 v = _mm_loadu_ps(y + j);
      bad = _mm_or_ps(bad, _mm_sub_ps(v, v));
    }
    bool any = _mm_movemask_ps(_mm_cmpneq_ps(bad, _mm_setzero_ps())) != 0;
    for (; j < n; ++j) any = any || !std::isfinite(y[j]);
    if (any)
      for (j = 0; j < n; ++j)
        HMR_REQUIRE(std::isfinite(y[j]), "spectral: clip {} has a non-finite sample at index {}", i, j);
  }
}

std::vector<SpectralFrames> spectral_frames(Backend& b, const std::vector<std::span<const float>>& clips,
                                            const SpectralParams& p, const SpectralWhat& what) {
  NvtxRange range("audio/spectral");
  check_clips(clips, p);
  if (what.contrast) (void)contrast_bands(p, fft_frequencies(p.sample_rate, p.n_fft));
  if (clips.empty()) return {};
  if (!b.is_cuda()) return spectral_frames_cpu_batch(clips, p, what);
  return HMR_CUDA_CALL(b, spectral_frames_cuda(b, clips, p, what));
}

}  // namespace hmr::audio
