// audio/segments.cpp — segment summaries of MFCC frames and pooling to clips (see segments.h).
#include "audio/segments.h"

#include <algorithm>
#include <cmath>

#include "audio/mfcc.h"
#include "core/error.h"

namespace hmr::audio {

std::int64_t segment_frames(double seconds, int sample_rate, int hop_length) {
  return std::max<std::int64_t>(1, std::llround(seconds * sample_rate / static_cast<double>(hop_length)));
}

Segments segment_summaries(const std::vector<Matrix>& frames, std::int64_t seg) {
  HMR_REQUIRE(seg >= 1, "segments of {} frames: need at least 1", seg);
  Segments out;
  std::vector<std::vector<float>> rows;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const Matrix& f = frames[i];  // [n_mfcc x frames]
    const std::int64_t nf = f.cols(), count = std::max<std::int64_t>(1, nf / seg);
    const std::int64_t len = nf < seg ? nf : seg;
    for (std::int64_t s = 0; s < count; ++s) {
      Matrix part(f.rows(), len);
      for (std::int64_t q = 0; q < f.rows(); ++q) std::copy(f.row(q) + s * len, f.row(q) + (s + 1) * len, part.row(q));
      rows.push_back(summarize_frames(part));
      out.of.push_back(static_cast<std::int64_t>(i));
    }
  }
  const std::int64_t d = rows.empty() ? 0 : static_cast<std::int64_t>(rows.front().size());
  out.rows = Matrix(static_cast<std::int64_t>(rows.size()), d);
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::copy(rows[i].begin(), rows[i].end(), out.rows.row(static_cast<std::int64_t>(i)));
  return out;
}

Matrix pool_segments(const Matrix& x, const std::vector<std::int64_t>& of, std::int64_t n) {
  HMR_REQUIRE(static_cast<std::int64_t>(of.size()) == x.rows(), "pooling: {} rows but {} owners", x.rows(), of.size());
  const std::int64_t d = x.cols();
  Matrix pooled(n, d);
  std::vector<std::int64_t> count(static_cast<std::size_t>(n), 0);
  std::vector<double> acc(static_cast<std::size_t>(n * d), 0.0);
  for (std::int64_t s = 0; s < x.rows(); ++s) {
    const std::int64_t t = of[static_cast<std::size_t>(s)];
    HMR_REQUIRE(t >= 0 && t < n, "pooling: row {} belongs to clip {} of {}", s, t, n);
    ++count[static_cast<std::size_t>(t)];
    for (std::int64_t j = 0; j < d; ++j) acc[static_cast<std::size_t>(t * d + j)] += x(s, j);
  }
  for (std::int64_t t = 0; t < n; ++t) {
    HMR_REQUIRE(count[static_cast<std::size_t>(t)] > 0, "pooling: clip {} has no segments", t);
    for (std::int64_t j = 0; j < d; ++j)
      pooled(t, j) = static_cast<float>(acc[static_cast<std::size_t>(t * d + j)] /
                                        static_cast<double>(count[static_cast<std::size_t>(t)]));
  }
  return pooled;
}

}  // namespace hmr::audio
