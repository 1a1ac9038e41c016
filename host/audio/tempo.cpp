// audio/tempo.cpp — librosa 0.10 onset.onset_strength and beat.beat_track's tempo on the cpu (see
// tempo.h for the definition), and the dispatch to the cuda backend (tempo_cuda.cpp).
//
// The mel power comes from the MFCC stage's cpu path (mfcc_detail::clip_mel: FFTW plans made once,
// sparse mel rows, tiles of kBlock frames), whose parameters are librosa's melspectrogram defaults
// as onset_strength calls it. Threads take whole clips, so results do not depend on the thread
// count. The tempogram's autocorrelations are computed directly in double (librosa goes through an
// FFT, also in double): 344 lags of 344-sample frames, a few tens of ms per 30 s clip.
#include "audio/tempo.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numbers>

#include <omp.h>

#include "audio/decode.h"
#include "audio/mfcc.h"
#include "audio/mfcc_cpu.h"
#include "audio/tempo_cuda.h"
#include "core/error.h"
#include "core/nvtx.h"

namespace hmr::audio {

namespace {

MfccParams onset_mel_params(const TempoParams& p) {
  MfccParams m;  // librosa melspectrogram defaults: n_fft 2048, 128 Slaney mels, fmax sr/2, power 2
  m.sample_rate = p.sample_rate;
  m.hop_length = p.hop_length;
  return m;
}

constexpr float kAmin = 1e-10f;
constexpr float kTopDb = 80.0f;

// Onset envelope from dB frames given by db(m, t) (n_mels x T), librosa's framing.
template <class Db>
void onset_from_db(int n_mels, std::int64_t T, const Db& db, const TempoParams& p, OnsetAggregate agg,
                   std::vector<float>& flux, std::vector<float>& out) {
  const std::int64_t lag = 1;
  const std::int64_t shift = lag + 2048 / (2 * p.hop_length);  // n_fft // (2 hop)
  out.assign(static_cast<std::size_t>(T), 0.0f);
  flux.resize(static_cast<std::size_t>(n_mels));
  for (std::int64_t j = 0; j + lag < T; ++j) {
    const std::int64_t t = j + shift;
    if (t >= T) break;
    for (int m = 0; m < n_mels; ++m) flux[static_cast<std::size_t>(m)] = std::max(0.0f, db(m, j + lag) - db(m, j));
    float v;
    if (agg == OnsetAggregate::mean) {
      float s = 0.0f;  // numpy's float32 reduction over axis -2: rows added in order
      for (int m = 0; m < n_mels; ++m) s += flux[static_cast<std::size_t>(m)];
      v = s / static_cast<float>(n_mels);
    } else {
      const auto mid = flux.begin() + n_mels / 2;
      std::nth_element(flux.begin(), mid, flux.end());
      if (n_mels % 2 == 1)
        v = *mid;
      else {
        const float hi = *mid, lo = *std::max_element(flux.begin(), mid);
        v = (lo + hi) / 2.0f;
      }
    }
    out[static_cast<std::size_t>(t)] = v;
  }
}

// The onset envelope of one clip through the MFCC stage's mel tiles.
void onset_clip(const mfcc_detail::CpuPlan& c, std::span<const float> y, const TempoParams& p, OnsetAggregate agg,
                bool inner, std::vector<float>& mel, std::vector<float>& flux, std::vector<float>& out) {
  using mfcc_detail::kBlock;
  const std::int64_t T = frame_count(static_cast<std::int64_t>(y.size()), c.p);
  mfcc_detail::clip_mel(c, y, T, inner, mel);
  const int nm = c.p.n_mels;
  // power_to_db(ref=1, amin=1e-10, top_db=80) in float32, the clip's peak as the floor's anchor.
  float peak = -INFINITY;
  const std::int64_t blocks = (T + kBlock - 1) / kBlock;
  for (std::int64_t b = 0; b < blocks; ++b)
    for (int m = 0; m < nm; ++m)
      for (int r = 0; r < kBlock && b * kBlock + r < T; ++r) {
        float& v = mel[static_cast<std::size_t>((b * nm + m) * kBlock + r)];
        v = 10.0f * std::log10(std::max(kAmin, v));
        peak = std::max(peak, v);
      }
  const float floor = peak - kTopDb;
  const auto db = [&](int m, std::int64_t t) {
    return std::max(floor, mel[static_cast<std::size_t>(((t / kBlock) * nm + m) * kBlock + t % kBlock)]);
  };
  onset_from_db(nm, T, db, p, agg, flux, out);
}

void check_clip(std::span<const float> y, std::size_t i) {
  HMR_REQUIRE(!y.empty(), "tempo: clip {} is empty (zero samples)", i);
  if (count_nonfinite(y) > 0)
    for (std::size_t j = 0; j < y.size(); ++j)
      HMR_REQUIRE(std::isfinite(y[j]), "tempo: clip {} has a non-finite sample at index {}", i, j);
}

// Runs the onset envelope of every clip and hands it to take(i, env, inner): threads across
// clips, or, with fewer clips than threads, each clip's mel blocks (and the tempogram's frames)
// split over the threads (inner; the same bits either way).
template <class Take>
void for_each_onset(const std::vector<std::span<const float>>& clips, const TempoParams& p, OnsetAggregate agg,
                    Take&& take) {
  const mfcc_detail::CpuPlan c(onset_mel_params(p));  // FFTW plan made here, before the threads
  const auto n = static_cast<std::int64_t>(clips.size());
  if (n < omp_get_max_threads()) {
    std::vector<float> mel, flux, env;
    for (std::int64_t i = 0; i < n; ++i) {
      onset_clip(c, clips[static_cast<std::size_t>(i)], p, agg, true, mel, flux, env);
      take(static_cast<std::size_t>(i), env, true);
    }
    return;
  }
#pragma omp parallel
  {
    std::vector<float> mel, flux, env;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t i = 0; i < n; ++i) {
      onset_clip(c, clips[static_cast<std::size_t>(i)], p, agg, false, mel, flux, env);
      take(static_cast<std::size_t>(i), env, false);
    }
  }
}

}  // namespace

void check_params(const TempoParams& p) {
  HMR_REQUIRE(p.sample_rate >= 1000 && p.sample_rate <= 768000,
              "tempo: sample_rate must be in [1000, 768000] Hz (got {})", p.sample_rate);
  HMR_REQUIRE(p.hop_length > 0 && p.hop_length <= (1 << 16), "tempo: hop_length must be in [1, 65536] (got {})",
              p.hop_length);
  HMR_REQUIRE(std::isfinite(p.start_bpm) && p.start_bpm > 0, "tempo: start_bpm must be > 0 (got {})", p.start_bpm);
  HMR_REQUIRE(std::isfinite(p.std_bpm) && p.std_bpm > 0, "tempo: std_bpm must be > 0 (got {})", p.std_bpm);
  HMR_REQUIRE(std::isfinite(p.ac_size) && p.ac_size > 0, "tempo: ac_size must be > 0 seconds (got {})", p.ac_size);
  HMR_REQUIRE(p.max_tempo > 0 && !std::isnan(p.max_tempo), "tempo: max_tempo must be > 0 (got {})", p.max_tempo);
  const double win = std::floor(p.ac_size * p.sample_rate / p.hop_length);
  HMR_REQUIRE(win >= 1 && win <= 1 << 16,
              "tempo: ac_size {} s is {} frames at sample rate {} and hop {} (need 1 to 65536)", p.ac_size, win,
              p.sample_rate, p.hop_length);
}

int tempo_win_length(const TempoParams& p) {
  // librosa time_to_frames: floor(floor(t * sr) / hop) (time_to_samples truncates to int).
  const auto samples = static_cast<std::int64_t>(p.ac_size * p.sample_rate);
  return static_cast<int>(samples / p.hop_length);
}

double tempo_of_lag(int lag, const TempoParams& p) {
  if (lag <= 0) return INFINITY;
  return 60.0 * p.sample_rate / (static_cast<double>(p.hop_length) * lag);
}

std::vector<float> onset_from_mel_cpu(const Matrix& mel_power, const TempoParams& p, OnsetAggregate agg) {
  const auto nm = static_cast<int>(mel_power.rows());
  const std::int64_t T = mel_power.cols();
  Matrix db(nm, T);
  float peak = -INFINITY;
  for (std::size_t i = 0; i < db.size(); ++i) {
    db.vec()[i] = 10.0f * std::log10(std::max(kAmin, mel_power.vec()[i]));
    peak = std::max(peak, db.vec()[i]);
  }
  for (float& v : db.vec()) v = std::max(v, peak - kTopDb);
  std::vector<float> flux, out;
  onset_from_db(
      nm, T, [&](int m, std::int64_t t) { return db(m, t); }, p, agg, flux, out);
  return out;
}

std::vector<float> onset_strength_cpu(std::span<const float> y, const TempoParams& p, OnsetAggregate agg) {
  check_params(p);
  check_clip(y, 0);
  return onset_from_mel_cpu(melspectrogram_cpu(y, onset_mel_params(p)), p, agg);
}

namespace {

// sum_j a[j] b[j] in 8 interleaved partial sums combined in a fixed order: vectorised (4 doubles
// with AVX2, 2 without) yet the same bits on every cpu.
__attribute__((target_clones("avx2", "default"))) double lagged_dot(const double* a, const double* b, int n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[j + l] * b[j + l];
  for (int l = 0; j < n; ++j, ++l) acc[l] += a[j] * b[j];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// The normalised autocorrelation of frame t (x, ac: [win] scratch) into row; false for an
// all-zero frame (normalize leaves it unscaled: it adds nothing).
bool tempogram_frame(const std::vector<float>& padded, const std::vector<double>& w, std::int64_t t, int win,
                     std::vector<double>& x, double* row) {
  // Frames start at padded[t], t < n (util.frame truncated to the envelope's length); a frame
  // past the padded end (n + 2 half - win + 1 < n only when win is odd) reads zeros.
  const auto total = static_cast<std::int64_t>(padded.size());
  bool any = false;
  for (int j = 0; j < win; ++j) {
    const std::int64_t i = t + j;
    const double v = i < total ? static_cast<double>(padded[static_cast<std::size_t>(i)]) : 0.0;
    x[static_cast<std::size_t>(j)] = v * w[static_cast<std::size_t>(j)];
    any = any || v != 0.0;
  }
  if (!any) return false;
  double mx = 0.0;
  for (int lag = 0; lag < win; ++lag) {
    const double s = lagged_dot(x.data(), x.data() + lag, win - lag);
    row[lag] = s;
    mx = std::max(mx, std::abs(s));
  }
  const double scale = mx < DBL_MIN ? 1.0 : 1.0 / mx;
  for (int lag = 0; lag < win; ++lag) row[lag] *= scale;
  return true;
}

// librosa's tempogram averaged over frames; `inner`: frames over the threads, rows kept and
// summed in frame order afterwards (the same additions as the one-thread loop).
std::vector<double> mean_tempogram(std::span<const float> onset, const TempoParams& p, bool inner) {
  const int win = tempo_win_length(p), half = win / 2;
  const auto n = static_cast<std::int64_t>(onset.size());
  std::vector<double> acc(static_cast<std::size_t>(win), 0.0);
  if (n == 0) return acc;
  // np.pad(mode="linear_ramp", end_values=0) in float32: the left ramp rises from 0 towards
  // onset[0], the right one falls from onset[n-1] towards 0 (linspace, endpoint excluded).
  std::vector<float> padded(static_cast<std::size_t>(n + 2 * half));
  const double e0 = onset[0], e1 = onset[static_cast<std::size_t>(n - 1)];
  for (int i = 0; i < half; ++i) {
    padded[static_cast<std::size_t>(i)] = static_cast<float>(e0 * i / half);
    padded[static_cast<std::size_t>(n + 2 * half - 1 - i)] = static_cast<float>(e1 * i / half);
  }
  std::copy(onset.begin(), onset.end(), padded.begin() + half);
  std::vector<double> w(static_cast<std::size_t>(win));
  for (int j = 0; j < win; ++j) w[static_cast<std::size_t>(j)] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * j / win);
  if (!inner) {
    std::vector<double> x(w.size()), row(w.size());
    for (std::int64_t t = 0; t < n; ++t)
      if (tempogram_frame(padded, w, t, win, x, row.data()))
        for (int lag = 0; lag < win; ++lag) acc[static_cast<std::size_t>(lag)] += row[static_cast<std::size_t>(lag)];
  } else {
    std::vector<double> rows(static_cast<std::size_t>(n) * win);
    std::vector<char> used(static_cast<std::size_t>(n));
#pragma omp parallel
    {
      std::vector<double> x(w.size());
#pragma omp for schedule(dynamic, 2)
      for (std::int64_t t = 0; t < n; ++t)
        used[static_cast<std::size_t>(t)] =
            tempogram_frame(padded, w, t, win, x, rows.data() + static_cast<std::size_t>(t) * win) ? 1 : 0;
    }
    for (std::int64_t t = 0; t < n; ++t)
      if (used[static_cast<std::size_t>(t)])
        for (int lag = 0; lag < win; ++lag)
          acc[static_cast<std::size_t>(lag)] += rows[static_cast<std::size_t>(t) * win + static_cast<std::size_t>(lag)];
  }
  for (double& v : acc) v /= static_cast<double>(n);
  return acc;
}

double tempo_from_onset(std::span<const float> onset, const TempoParams& p, bool inner) {
  if (std::none_of(onset.begin(), onset.end(), [](float v) { return v != 0.0f; })) return 0.0;
  const std::vector<double> tg = mean_tempogram(onset, p, inner);
  return tempo_from_tempogram(tg, p);
}

}  // namespace

std::vector<double> mean_tempogram_cpu(std::span<const float> onset, const TempoParams& p) {
  return mean_tempogram(onset, p, false);
}

double tempo_from_tempogram(std::span<const double> tg, const TempoParams& p) {
  const auto win = static_cast<int>(tg.size());
  int best = 0;
  double best_v = -INFINITY;
  bool below = false;  // bins from the first one under max_tempo on (argmax(bpms < max_tempo))
  for (int lag = 0; lag < win; ++lag) {
    const double bpm = tempo_of_lag(lag, p);
    below = below || bpm < p.max_tempo;
    if (!below) continue;
    const double prior = -0.5 * std::pow((std::log2(bpm) - std::log2(p.start_bpm)) / p.std_bpm, 2.0);
    const double v = std::log1p(1e6 * tg[static_cast<std::size_t>(lag)]) + prior;
    if (v > best_v) {
      best_v = v;
      best = lag;
    }
  }
  return tempo_of_lag(best, p);
}

double tempo_from_onset_cpu(std::span<const float> onset, const TempoParams& p) {
  return tempo_from_onset(onset, p, false);
}

// ---- dispatch -----------------------------------------------------------------------------

std::vector<std::vector<float>> onset_strength(Backend& b, const std::vector<std::span<const float>>& clips,
                                               const TempoParams& p, OnsetAggregate agg) {
  NvtxRange range("audio/onset_strength");
  check_params(p);
  check_params(onset_mel_params(p));
  for (std::size_t i = 0; i < clips.size(); ++i) check_clip(clips[i], i);
  if (clips.empty()) return {};
  if (b.is_cuda()) return HMR_CUDA_CALL(b, onset_strength_cuda(b, clips, p, agg));
  std::vector<std::vector<float>> out(clips.size());
  for_each_onset(clips, p, agg, [&](std::size_t i, const std::vector<float>& env, bool) { out[i] = env; });
  return out;
}

std::vector<double> beat_tempo(Backend& b, const std::vector<std::span<const float>>& clips, const TempoParams& p) {
  NvtxRange range("audio/beat_tempo");
  check_params(p);
  check_params(onset_mel_params(p));
  for (std::size_t i = 0; i < clips.size(); ++i) check_clip(clips[i], i);
  if (clips.empty()) return {};
  if (b.is_cuda()) return HMR_CUDA_CALL(b, beat_tempo_cuda(b, clips, p));
  std::vector<double> out(clips.size());
  for_each_onset(clips, p, OnsetAggregate::median, [&](std::size_t i, const std::vector<float>& env, bool inner) {
    out[i] = tempo_from_onset(env, p, inner);
  });
  return out;
}

}  // namespace hmr::audio
