// audio/features.cpp — the Kaggle feature row of clips and segments (features.h): one batched call
// per stage (mfcc, spectral, hpss, tempo) over a chunk of clips, summarised as numpy mean/var.
#include "audio/features.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "audio/decode.h"
#include "audio/hpss.h"
#include "audio/spectral.h"
#include "audio/tempo.h"
#include "core/error.h"
#include "core/timer.h"

namespace hmr::audio {

namespace fs = std::filesystem;

void check_params(const FeatureParams& p) {
  HMR_REQUIRE(p.sample_rate >= 1000 && p.sample_rate <= 768000, "sr = {}: must be in [1000, 768000]", p.sample_rate);
  HMR_REQUIRE(p.n_fft >= 2, "n_fft = {}: must be >= 2", p.n_fft);
  HMR_REQUIRE(p.hop_length >= 1, "hop_length = {}: must be >= 1", p.hop_length);
  HMR_REQUIRE(p.n_bands >= 1 && p.n_bands <= 32, "n_bands = {}: must be in [1, 32]", p.n_bands);
  check_params(mfcc_params(p));
}

MfccParams mfcc_params(const FeatureParams& p) {
  return {.sample_rate = p.sample_rate,
          .n_fft = p.n_fft,
          .hop_length = p.hop_length,
          .n_mels = p.n_mels,
          .n_mfcc = p.n_mfcc};
}

std::vector<std::string> kaggle_feature_columns(int n_mfcc) {
  std::vector<std::string> c;
  for (const char* f : {"chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
                        "zero_crossing_rate", "harmony", "perceptr"}) {
    c.push_back(std::string(f) + "_mean");
    c.push_back(std::string(f) + "_var");
  }
  c.push_back("tempo");
  for (const auto& m : summary_columns(n_mfcc)) c.push_back(m);
  return c;
}

std::vector<std::string> feature_columns(const FeatureParams& p) {
  std::vector<std::string> c = kaggle_feature_columns(p.n_mfcc);
  if (p.deltas)
    for (const char* d : {"delta", "delta2"})
      for (int k = 1; k <= p.n_mfcc; ++k) {
        c.push_back(fmt::format("mfcc{}_{}_mean", k, d));
        c.push_back(fmt::format("mfcc{}_{}_var", k, d));
      }
  if (p.contrast)
    for (int k = 1; k <= p.n_bands + 1; ++k) {
      c.push_back(fmt::format("spectral_contrast{}_mean", k));
      c.push_back(fmt::format("spectral_contrast{}_var", k));
    }
  return c;
}

MeanVar mean_var(std::span<const float> v) {
  MeanVar r;
  if (v.empty()) return r;
  double s = 0.0;
  for (float x : v) s += x;
  r.mean = s / static_cast<double>(v.size());
  double q = 0.0;
  for (float x : v) q += (x - r.mean) * (x - r.mean);
  r.var = q / static_cast<double>(v.size());
  return r;
}

std::vector<SegmentSpan> cut_segments(std::int64_t samples, double seconds, int sample_rate) {
  HMR_REQUIRE(seconds > 0.0 && std::isfinite(seconds), "segment seconds = {}: must be > 0", seconds);
  const auto len = std::max<std::int64_t>(1, std::llround(seconds * sample_rate));
  std::vector<SegmentSpan> s;
  if (samples < len) {
    if (samples > 0) s.push_back({0, samples});
    return s;
  }
  for (std::int64_t k = 0; k + 1 <= samples / len; ++k) s.push_back({k * len, len});
  return s;
}

namespace {

void put(float* row, int& c, MeanVar m) {
  row[c++] = static_cast<float>(m.mean);
  row[c++] = static_cast<float>(m.var);
}

// Mean/var per row of a [rows x T] matrix, appended as row0_mean, row0_var, row1_mean, ...
void put_rows(float* row, int& c, const Matrix& m) {
  for (std::int64_t r = 0; r < m.rows(); ++r)
    put(row, c, mean_var(std::span<const float>(m.row(r), static_cast<std::size_t>(m.cols()))));
}

}  // namespace

Matrix feature_rows(Backend& backend, const std::vector<std::span<const float>>& clips, const FeatureParams& p,
                    FeatureTimings* timings) {
  check_params(p);
  const auto cols = feature_columns(p);
  Matrix out(static_cast<std::int64_t>(clips.size()), static_cast<std::int64_t>(cols.size()));
  if (clips.empty()) return out;
  for (std::size_t i = 0; i < clips.size(); ++i)
    HMR_REQUIRE(!clips[i].empty(), "features: clip {} is empty (0 samples)", i);

  const MfccParams mp = mfcc_params(p);
  SpectralParams sp;
  sp.sample_rate = p.sample_rate;
  sp.n_fft = p.n_fft;
  sp.hop_length = p.hop_length;
  sp.frame_length = p.n_fft;
  sp.n_bands = p.n_bands;
  SpectralWhat what;
  what.contrast = p.contrast;
  HpssParams hp;
  hp.n_fft = p.n_fft;
  hp.hop_length = p.hop_length;
  TempoParams tp;
  tp.sample_rate = p.sample_rate;
  tp.hop_length = p.hop_length;

  // HPSS first: it refuses clips shorter than n_fft / 2 + 1 samples (librosa's centre padding),
  // with the clearest message.
  FeatureTimings local;
  FeatureTimings& t = timings ? *timings : local;
  Stopwatch sw;
  const std::vector<HpssStats> hs = hpss_stats(backend, clips, hp);
  t.hpss += sw.seconds();
  sw.reset();
  const std::vector<SpectralFrames> sf = spectral_frames(backend, clips, sp, what);
  t.spectral += sw.seconds();
  sw.reset();
  const std::vector<double> tempo = beat_tempo(backend, clips, tp);
  t.tempo += sw.seconds();
  sw.reset();
  const MfccResult mf = mfcc_clips(backend, clips, mp, p.deltas);
  t.mfcc += sw.seconds();
  HMR_ASSERT(hs.size() == clips.size() && sf.size() == clips.size() && tempo.size() == clips.size() &&
                 static_cast<std::size_t>(mf.summaries.rows()) == clips.size(),
             "features: a stage returned the wrong number of clips");

  for (std::size_t i = 0; i < clips.size(); ++i) {
    float* row = out.row(static_cast<std::int64_t>(i));
    int c = 0;
    const SpectralFrames& s = sf[i];
    put(row, c, mean_var(std::span<const float>(s.chroma.vec())));  // over all n_chroma x T values
    put(row, c, mean_var(s.rms));
    put(row, c, mean_var(s.centroid));
    put(row, c, mean_var(s.bandwidth));
    put(row, c, mean_var(s.rolloff));
    put(row, c, mean_var(s.zcr));
    put(row, c, {hs[i].harmony_mean, hs[i].harmony_var});
    put(row, c, {hs[i].perceptr_mean, hs[i].perceptr_var});
    row[c++] = static_cast<float>(tempo[i]);
    const float* m = mf.summaries.row(static_cast<std::int64_t>(i));
    for (int k = 0; k < 2 * p.n_mfcc; ++k) row[c++] = m[k];
    if (p.deltas) {
      const Matrix& frames = mf.frames[i];
      put_rows(row, c, delta(frames, 1));
      put_rows(row, c, delta(frames, 2));
    }
    if (p.contrast) put_rows(row, c, s.contrast);
    HMR_ASSERT(c == static_cast<int>(cols.size()), "features: {} values for {} columns", c, cols.size());
  }
  return out;
}

namespace {

// One decoded clip waiting in a chunk.
struct Pending {
  std::size_t index = 0;
  std::string path;
  AudioClip clip;
  std::vector<SegmentSpan> segs;
};

// The spans of one clip: whole first (when asked), then its segments.
void spans_of(const Pending& c, const FeatureOptions& o, std::vector<std::span<const float>>& spans) {
  const std::span<const float> y(c.clip.samples);
  if (o.whole) spans.push_back(y);
  for (const auto& s : c.segs)
    spans.push_back(y.subspan(static_cast<std::size_t>(s.start), static_cast<std::size_t>(s.length)));
}

}  // namespace

FeatureResult features_files(Backend& backend, const std::vector<fs::path>& paths, const FeatureParams& p,
                             const FeatureOptions& o) {
  check_params(p);
  HMR_REQUIRE(o.whole || o.segment_seconds > 0.0, "features: neither whole clips nor segments asked for");
  HMR_REQUIRE(o.segment_seconds >= 0.0 && std::isfinite(o.segment_seconds),
              "--segment-seconds {}: must be >= 0 (0: whole clips only)", o.segment_seconds);
  FeatureResult r;
  r.columns = feature_columns(p);
  const auto ncol = static_cast<std::int64_t>(r.columns.size());
  Stopwatch total;
  const int chunk = o.chunk > 0 ? o.chunk : backend.is_cuda() ? 64 : 8 * std::max(1, cpu_threads());
  const int dthreads = o.decode_threads > 0 ? o.decode_threads : std::max(1, cpu_threads() / 4);
  // One chunk decoded ahead of the one being computed: at most two chunks of clips in memory
  // (full-length songs are ~20 MB each at 22050 Hz).
  DecodePool pool(paths, LoadOptions{p.sample_rate, o.offset, o.duration}, dthreads, chunk);

  // Rows are gathered per input index, then assembled in input order.
  std::vector<std::vector<float>> whole(paths.size()), segs(paths.size());
  std::vector<std::vector<SegmentSpan>> seg_spans(paths.size());
  std::vector<std::int64_t> length(paths.size(), 0);
  std::vector<char> ok(paths.size(), 0);
  std::vector<std::string> errors(paths.size());
  std::size_t done = 0;

  auto store = [&](const Pending& c, const Matrix& m, std::int64_t first) {
    const std::size_t u = c.index;
    if (o.whole) whole[u].assign(m.row(first), m.row(first) + ncol), ++first;
    segs[u].assign(m.row(first), m.row(first) + ncol * static_cast<std::int64_t>(c.segs.size()));
    seg_spans[u] = c.segs;
    length[u] = c.clip.size();
    ok[u] = 1;
  };
  auto compute = [&](std::vector<Pending>& batch) {
    if (batch.empty()) return;
    Stopwatch sw;
    std::vector<std::span<const float>> spans;
    for (const auto& c : batch) spans_of(c, o, spans);
    try {
      const Matrix m = feature_rows(backend, spans, p, &r.stages);
      std::int64_t first = 0;
      for (const auto& c : batch) {
        store(c, m, first);
        first += (o.whole ? 1 : 0) + static_cast<std::int64_t>(c.segs.size());
      }
    } catch (const Error& e) {
      // A clip some stage refuses (input error): compute clip by clip to find it and keep the
      // others. Anything else is a fault of hmr and stops the run.
      if (e.kind() != ErrorKind::input) throw;
      for (const auto& c : batch) {
        std::vector<std::span<const float>> one;
        spans_of(c, o, one);
        try {
          store(c, feature_rows(backend, one, p, &r.stages), 0);
        } catch (const Error& e) {
          if (e.kind() != ErrorKind::input) throw;
          if (o.strict) input_error("{}: {}", c.path, e.what());
          errors[c.index] = fmt::format("{}: {}", c.path, e.what());
        }
      }
    }
    if (o.on_clip) {
      // For the clips that gave a row. The callback's work (log-mel outputs) runs on the cpu
      // threads, one clip each; the first
      // exception is rethrown here, outside the parallel region.
      std::exception_ptr failed;
      const auto nb = static_cast<std::int64_t>(batch.size());
#pragma omp parallel for schedule(dynamic, 1)
      for (std::int64_t i = 0; i < nb; ++i) {
        try {
          const Pending& c = batch[static_cast<std::size_t>(i)];
          if (ok[c.index]) o.on_clip(c.index, std::span<const float>(c.clip.samples));
        } catch (...) {
#pragma omp critical(hmr_features_on_clip)
          if (!failed) failed = std::current_exception();
        }
      }
      if (failed) std::rethrow_exception(failed);
    }
    r.compute_s += sw.seconds();
    done += batch.size();
    if (o.progress) o.progress(done, paths.size());
    batch.clear();
  };

  std::vector<Pending> batch;
  DecodedItem item;
  while (true) {
    Stopwatch wait;
    const bool more = pool.next(item);
    r.decode_wait_s += wait.seconds();
    if (!more) break;
    if (!item.ok()) {
      if (o.strict) input_error("{}", item.error);
      errors[item.index] = item.error;
      if (o.progress) o.progress(++done, paths.size());
      continue;
    }
    Pending c;
    c.index = item.index;
    c.path = paths[item.index].string();
    c.clip = std::move(item.clip);
    if (o.segment_seconds > 0.0) c.segs = cut_segments(c.clip.size(), o.segment_seconds, p.sample_rate);
    batch.push_back(std::move(c));
    if (static_cast<int>(batch.size()) >= chunk) compute(batch);
  }
  compute(batch);

  std::int64_t n_ok = 0, n_seg = 0;
  for (std::size_t i = 0; i < paths.size(); ++i)
    if (ok[i]) ++n_ok, n_seg += static_cast<std::int64_t>(seg_spans[i].size());
  r.rows = Matrix(o.whole ? n_ok : 0, ncol);
  r.seg_rows = Matrix(n_seg, ncol);
  std::int64_t row = 0, srow = 0;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (!ok[i]) {
      r.skipped.push_back({paths[i].string(), errors[i]});
      continue;
    }
    if (o.whole) std::copy(whole[i].begin(), whole[i].end(), r.rows.row(row));
    for (std::size_t s = 0; s < seg_spans[i].size(); ++s, ++srow) {
      std::copy_n(segs[i].data() + static_cast<std::int64_t>(s) * ncol, ncol, r.seg_rows.row(srow));
      r.seg_of.push_back(row);
      r.seg_number.push_back(static_cast<int>(s));
      r.seg_length.push_back(seg_spans[i][s].length);
    }
    r.index.push_back(i);
    r.length.push_back(length[i]);
    ++row;
  }
  r.total_s = total.seconds();
  return r;
}

}  // namespace hmr::audio
