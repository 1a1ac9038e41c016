// Segments of MFCC frames (audio/segments.h): boundaries (whole segments only, a short clip is one
// segment, the trailing partial segment dropped), each row equal to the summary of exactly its
// frames, and pooling equal to a direct mean of each clip's rows.
#include "audio/segments.h"

#include <gtest/gtest.h>

#include <random>

#include "audio/mfcc.h"
#include "core/error.h"
#include "support/compare.h"

namespace {

// [n_mfcc x n_frames] with a distinct value per (clip, coefficient, frame): frame j of coefficient
// q of clip c is c * 1000 + q * 100 + j^2 / 7 (non-linear in j, so each segment's variance differs).
hmr::Matrix clip(int c, std::int64_t n_mfcc, std::int64_t frames) {
  hmr::Matrix f(n_mfcc, frames);
  for (std::int64_t q = 0; q < n_mfcc; ++q)
    for (std::int64_t j = 0; j < frames; ++j) f(q, j) = static_cast<float>(c * 1000 + q * 100 + j * j / 7.0);
  return f;
}

// The summary of frames [from, from + len) of f, computed directly.
std::vector<double> direct_summary(const hmr::Matrix& f, std::int64_t from, std::int64_t len) {
  std::vector<double> out;
  for (std::int64_t q = 0; q < f.rows(); ++q) {
    double s = 0;
    for (std::int64_t j = from; j < from + len; ++j) s += f(q, j);
    const double mean = s / static_cast<double>(len);
    double v = 0;
    for (std::int64_t j = from; j < from + len; ++j) v += (f(q, j) - mean) * (f(q, j) - mean);
    out.push_back(mean);
    out.push_back(v / static_cast<double>(len));
  }
  return out;
}

std::vector<float> row(const hmr::Matrix& m, std::int64_t i) { return {m.row(i), m.row(i) + m.cols()}; }

}  // namespace

TEST(AudioSegments, FramesPerSegmentRoundsSecondsAtTheHop) {
  EXPECT_EQ(hmr::audio::segment_frames(3.0, 22050, 512), 129);  // 3 * 22050 / 512 = 129.2
  EXPECT_EQ(hmr::audio::segment_frames(1.0, 1000, 400), 3);     // 2.5 rounds away from zero
  EXPECT_EQ(hmr::audio::segment_frames(0.001, 22050, 512), 1);  // never 0
}

TEST(AudioSegments, WholeSegmentsPerClipEachTheSummaryOfItsFrames) {
  const std::int64_t n_mfcc = 3, seg = 4;
  // 10 frames: segments [0,4) and [4,8), frames 8-9 dropped; 3 frames: one segment [0,3);
  // exactly 4 frames: one segment.
  const std::vector<hmr::Matrix> frames{clip(0, n_mfcc, 10), clip(1, n_mfcc, 3), clip(2, n_mfcc, 4)};
  const hmr::audio::Segments s = hmr::audio::segment_summaries(frames, seg);
  ASSERT_EQ(s.rows.rows(), 4);
  ASSERT_EQ(s.rows.cols(), 2 * n_mfcc);
  EXPECT_EQ(s.of, (std::vector<std::int64_t>{0, 0, 1, 2}));
  const struct {
    int clip;
    std::int64_t from, len;
  } want[] = {{0, 0, 4}, {0, 4, 4}, {1, 0, 3}, {2, 0, 4}};
  for (std::int64_t i = 0; i < 4; ++i) {
    const auto& w = want[i];
    EXPECT_TRUE(hmr::test::all_close(row(s.rows, i), direct_summary(frames[w.clip], w.from, w.len), 1e-4, 1e-6))
        << "segment " << i;
    // The same bits as summarising the segment's frames as a clip of their own.
    hmr::Matrix part(n_mfcc, w.len);
    for (std::int64_t q = 0; q < n_mfcc; ++q)
      for (std::int64_t j = 0; j < w.len; ++j) part(q, j) = frames[w.clip](q, w.from + j);
    EXPECT_TRUE(hmr::test::bitwise_equal(row(s.rows, i), hmr::audio::summarize_frames(part))) << "segment " << i;
  }
  EXPECT_THROW(hmr::audio::segment_summaries(frames, 0), hmr::Error);
}

TEST(AudioSegments, PoolingIsTheMeanOfEachClipsRows) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g(0.0f, 3.0f);
  const std::vector<std::int64_t> of{0, 0, 0, 1, 2, 2};
  hmr::Matrix x(6, 5);
  for (std::int64_t i = 0; i < x.rows(); ++i)
    for (std::int64_t j = 0; j < x.cols(); ++j) x(i, j) = g(rng);
  const hmr::Matrix p = hmr::audio::pool_segments(x, of, 3);
  ASSERT_EQ(p.rows(), 3);
  ASSERT_EQ(p.cols(), 5);
  for (std::int64_t j = 0; j < 5; ++j) {
    EXPECT_EQ(p(0, j), static_cast<float>((double(x(0, j)) + x(1, j) + x(2, j)) / 3.0));
    EXPECT_EQ(p(1, j), x(3, j));
    EXPECT_EQ(p(2, j), static_cast<float>((double(x(4, j)) + x(5, j)) / 2.0));
  }
  EXPECT_THROW(hmr::audio::pool_segments(x, of, 4), hmr::Error);                  // clip 3 has no segments
  EXPECT_THROW(hmr::audio::pool_segments(x, {0, 0, 0, 1, 2, 5}, 3), hmr::Error);  // owner out of range
  EXPECT_THROW(hmr::audio::pool_segments(x, {0, 1}, 2), hmr::Error);              // fewer owners than rows
}
