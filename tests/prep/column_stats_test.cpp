// Column statistics (prep/column_stats.h): mean and squared deviations against a long-double
// Welford reference, the same bits on one thread as on many, and the StandardScaler built on
// them (scale = sqrt(m2 / n)).
#include "prep/column_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "prep/standardize.h"
#include "support/compare.h"

TEST(PrepColumnStats, MeanAndSquaredDeviationsPerColumn) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> g(5.0f, 2.0f);
  hmr::Matrix x(257, 7);
  for (std::int64_t r = 0; r < x.rows(); ++r)
    for (std::int64_t c = 0; c < x.cols(); ++c) x(r, c) = g(rng) * static_cast<float>(c + 1);
  const hmr::prep::ColumnStats s = hmr::prep::column_stats_cpu(x);
  std::vector<double> want_mean, want_m2;
  // Reference: Welford's one-pass update in long double (another algorithm than the two passes).
  for (std::int64_t c = 0; c < x.cols(); ++c) {
    long double mu = 0, m2 = 0;
    for (std::int64_t r = 0; r < x.rows(); ++r) {
      const long double v = x(r, c), delta = v - mu;
      mu += delta / static_cast<long double>(r + 1);
      m2 += delta * (v - mu);
    }
    want_mean.push_back(static_cast<double>(mu));
    want_m2.push_back(static_cast<double>(m2));
  }
  EXPECT_TRUE(hmr::test::all_close(s.mean, want_mean, 1e-12, 1e-12));
  EXPECT_TRUE(hmr::test::all_close(s.m2, want_m2, 1e-9, 1e-12));
  const hmr::prep::ColumnStats serial = hmr::prep::column_stats_cpu(x, false);
  EXPECT_TRUE(hmr::test::bitwise_equal(serial.mean, s.mean));
  EXPECT_TRUE(hmr::test::bitwise_equal(serial.m2, s.m2));
  const hmr::prep::Scaler sc = hmr::prep::fit_scaler_cpu(x);
  for (std::size_t c = 0; c < sc.scale.size(); ++c) {
    EXPECT_EQ(sc.mean[c], static_cast<float>(s.mean[c]));
    EXPECT_EQ(sc.scale[c], static_cast<float>(std::sqrt(s.m2[c] / static_cast<double>(x.rows()))));
  }
}
