// K-Means's progress hook (KMeansOptions::progress): called once per finished restart with a
// count that reaches n_init, from one thread at a time, and only observing: labels, centres and
// inertia are the same with and without it, on every backend.
#include <gtest/gtest.h>

#include <random>

#include "cluster/kmeans.h"
#include "support/backends.h"

namespace {

class ConfKMeansProgress : public hmr::test::BackendTest {};

TEST_P(ConfKMeansProgress, CountsEveryRestartAndChangesNothing) {
  std::mt19937 gen(11);
  std::normal_distribution<float> g(0.0f, 1.0f);
  hmr::Matrix x(300, 5);
  for (std::int64_t r = 0; r < x.rows(); ++r)
    for (std::int64_t c = 0; c < x.cols(); ++c) x(r, c) = g(gen) + static_cast<float>(3 * (r % 3));
  hmr::cluster::KMeansOptions opt;
  opt.k = 3;
  opt.n_init = 6;
  opt.seed = 5;
  const auto plain = hmr::cluster::kmeans(backend(), x.view(), opt);
  std::vector<int> seen;
  opt.progress = [&seen](int done, int total) {
    EXPECT_EQ(total, 6);
    seen.push_back(done);
  };
  const auto watched = hmr::cluster::kmeans(backend(), x.view(), opt);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), 6) << "the last report is all restarts done";
  for (std::size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GT(seen[i], seen[i - 1]) << "counts only go up";
  }
  if (!backend().is_cuda()) {
    EXPECT_EQ(seen.size(), 6u) << "cpu: one report per restart";
  }
  EXPECT_EQ(watched.labels, plain.labels);
  EXPECT_EQ(watched.inertia, plain.inertia);
  EXPECT_EQ(watched.centers.vec(), plain.centers.vec());
}

HMR_INSTANTIATE_BACKENDS(ConfKMeansProgress);

}  // namespace
