// K-Means: numpy RandomState parity, k-means++ picks as scikit-learn's, quality and inertia against
// sklearn's best-of-n_init on every backend, determinism, bad input, and each kernel (assignment,
// update with relocation, inertia) against its cpu twin under the emulator in every thread order.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cluster/cluster_fixtures.h"
#include "cluster/kmeans.cuh"
#include "cluster/kmeans.h"
#include "cluster/kmeans_cuda.h"
#include "cluster/kmeans_lloyd.h"
#include "core/error.h"
#include "cuda/buffer.h"
#include "cuda/select.h"
#include "support/backends.h"
#include "support/compare.h"
#include "support/emu.h"

namespace {

using hmr::test::cluster_ref;

hmr::Matrix gaussian_blobs(std::int64_t n, std::int64_t d, int k, float spread, std::uint64_t seed,
                           std::vector<std::int32_t>* truth = nullptr) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  hmr::Matrix centres(k, d);
  for (auto& v : centres.vec()) v = 10.0f * g(rng);
  hmr::Matrix x(n, d);
  if (truth) truth->resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(i % k);
    if (truth) (*truth)[static_cast<std::size_t>(i)] = c;
    for (std::int64_t j = 0; j < d; ++j) x(i, j) = centres(c, j) + spread * g(rng);
  }
  return x;
}

TEST(KMeansRng, MatchesNumpyRandomState) {
  // A fixture without these keys would make the loops below check nothing.
  ASSERT_FALSE(cluster_ref()["random_state"].empty()) << "fixture: no random_state seeds";
  for (const auto& [seed, v] : cluster_ref()["random_state"].items()) {
    hmr::cluster::KMeansRng rng(static_cast<std::uint32_t>(std::stoul(seed)));
    ASSERT_FALSE(v["random_sample"].empty()) << "fixture: seed " << seed << " has no random_sample";
    for (const auto& want : v["random_sample"]) EXPECT_EQ(rng.uniform(), want.get<double>()) << "seed " << seed;
    const auto perm = rng.permutation(17);
    const auto want = v["permutation"].get<std::vector<std::int64_t>>();
    EXPECT_EQ(perm, want) << "seed " << seed;
  }
}

TEST(KMeansPlusPlus, PicksTheSameRowsAsScikitLearn) {
  const hmr::Matrix x = hmr::test::cluster_matrix("blobs_x.npy");
  const auto idx = cluster_ref()["kmeans_blobs"]["plusplus_indices_seed0"].get<std::vector<std::int64_t>>();
  hmr::cluster::KMeansRng rng(0);
  const hmr::Matrix c = hmr::cluster::kmeans_plusplus(x, 4, rng);
  ASSERT_EQ(c.rows(), 4);
  for (int j = 0; j < 4; ++j)
    for (std::int64_t f = 0; f < x.cols(); ++f) EXPECT_EQ(c(j, f), x(idx[static_cast<std::size_t>(j)], f)) << j;
}

class ConfKMeans : public hmr::test::BackendTest {};

TEST_P(ConfKMeans, SeparatedBlobsGiveAriOneAndScikitLearnInertia) {
  const hmr::Matrix x = hmr::test::cluster_matrix("blobs_x.npy");
  const auto truth = hmr::test::cluster_labels("blobs_truth.npy");
  const auto& ref = cluster_ref()["kmeans_blobs"];
  hmr::cluster::KMeansOptions opt;
  opt.k = 4;
  opt.seed = 0;
  const auto res = hmr::cluster::kmeans(backend(), x, opt);
  EXPECT_DOUBLE_EQ(hmr::test::pair_ari(res.labels, truth), 1.0);
  const double want = ref["inertia"].get<double>();
  EXPECT_LE(std::fabs(res.inertia - want), 1e-3 * want) << res.inertia << " vs sklearn " << want;
  EXPECT_EQ(static_cast<int>(res.init_inertia.size()), 10);
  // Centres match sklearn's up to the order of the clusters.
  const auto cref = hmr::test::json_flat(ref["centers"]);
  for (int j = 0; j < 4; ++j) {
    double best = 1e30;
    for (int q = 0; q < 4; ++q) {
      double s = 0;
      for (std::int64_t f = 0; f < x.cols(); ++f) {
        const double v = res.centers(j, f) - cref[static_cast<std::size_t>(q * x.cols() + f)];
        s += v * v;
      }
      best = std::min(best, s);
    }
    EXPECT_LT(std::sqrt(best), 1e-4) << "centre " << j;
  }
}

TEST_P(ConfKMeans, OverlappingLatentsReachScikitLearnBestOfNInit) {
  const hmr::Matrix x = hmr::test::cluster_matrix("latents_x.npy");
  const auto& ref = cluster_ref()["kmeans_latents"];
  ASSERT_FALSE(ref["runs"].empty()) << "fixture: no kmeans_latents runs";
  for (const auto& [seed, run] : ref["runs"].items()) {
    hmr::cluster::KMeansOptions opt;
    opt.k = 6;
    opt.seed = std::stoul(seed);
    const auto res = hmr::cluster::kmeans(backend(), x, opt);
    const double want = run["inertia"].get<double>();
    EXPECT_LE(res.inertia, want * 1.001) << "seed " << seed << ": inertia " << res.inertia << " vs sklearn " << want;
    EXPECT_GE(res.n_iter, 1);
    // Inertia is consistent with the labels and centres returned.
    EXPECT_NEAR(hmr::cluster::inertia(x, res.centers, res.labels), res.inertia, 1e-6 * res.inertia);
  }
}

TEST_P(ConfKMeans, SameSeedSameResultAndPredictReproducesLabels) {
  const auto seed = hmr::test::test_seed(21);
  const hmr::Matrix x = gaussian_blobs(700, 6, 5, 4.0f, seed);
  hmr::cluster::KMeansOptions opt;
  opt.k = 5;
  opt.n_init = 3;
  opt.seed = seed;
  const auto a = hmr::cluster::kmeans(backend(), x, opt);
  const auto b = hmr::cluster::kmeans(backend(), x, opt);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_TRUE(hmr::test::bitwise_equal(a.centers.vec(), b.centers.vec()));
  EXPECT_EQ(a.inertia, b.inertia);
  const auto p = hmr::cluster::predict(backend(), a.centers, x);
  std::size_t same = 0;
  for (std::size_t i = 0; i < p.size(); ++i) same += p[i] == a.labels[i];
  EXPECT_GE(same, p.size() - 2) << "predict on the training data must give the fitted labels (up to exact ties)";
}

TEST_P(ConfKMeans, MatchesTheCpuBackend) {
  HMR_SKIP_CPU_INSTANCE("SeparatedBlobsGiveAriOneAndScikitLearnInertia, OverlappingLatentsReachScikitLearnBestOfNInit");
  hmr::test::ExpectLaunches launched(
      GetParam() == "cuda-emu",
      {"kmeans_assign_kernel", "kmeans_update_partial_kernel", "kmeans_update_finalize_kernel",
       "kmeans_inertia_partial_kernel", "sum_partials_kernel"});
  const auto seed = hmr::test::test_seed(8);
  const hmr::Matrix x = gaussian_blobs(900, 7, 6, 6.0f, seed);
  hmr::cluster::KMeansOptions opt;
  opt.k = 6;
  opt.n_init = 2;
  opt.seed = seed;
  const auto got = hmr::cluster::kmeans(backend(), x, opt);
  const auto want = hmr::cluster::kmeans(cpu(), x, opt);
  EXPECT_NEAR(got.inertia, want.inertia, 1e-4 * want.inertia);
  EXPECT_GT(hmr::test::pair_ari(got.labels, want.labels), 0.99);
}

TEST_P(ConfKMeans, RejectsBadInput) {
  hmr::Matrix x = gaussian_blobs(20, 3, 2, 1.0f, 1);
  hmr::cluster::KMeansOptions opt;
  opt.k = 1;
  EXPECT_THROW(hmr::cluster::kmeans(backend(), x, opt), hmr::Error);
  opt.k = 21;
  EXPECT_THROW(hmr::cluster::kmeans(backend(), x, opt), hmr::Error);
  opt.k = 3;
  opt.n_init = 0;
  EXPECT_THROW(hmr::cluster::kmeans(backend(), x, opt), hmr::Error);
  opt.n_init = 1;
  EXPECT_THROW(hmr::cluster::kmeans(backend(), hmr::Matrix(), opt), hmr::Error);
  x(3, 1) = INFINITY;
  EXPECT_THROW(hmr::cluster::kmeans(backend(), x, opt), hmr::Error);
  x(3, 1) = NAN;
  try {
    hmr::cluster::kmeans(backend(), x, opt);
    ADD_FAILURE() << "NaN accepted";
  } catch (const hmr::Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("row 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(hmr::cluster::predict(backend(), hmr::Matrix(2, 4), gaussian_blobs(5, 3, 1, 1.0f, 2)), hmr::Error);
}

HMR_INSTANTIATE_BACKENDS(ConfKMeans);

TEST(KMeans, DuplicatePointsLeaveFewerDistinctClustersWithoutFailing) {
  hmr::Matrix x(10, 2, 1.0f);
  for (int i = 5; i < 10; ++i) x(i, 0) = 3.0f;
  auto cpu = hmr::make_cpu_backend();
  hmr::cluster::KMeansOptions opt;
  opt.k = 3;
  const auto r = hmr::cluster::kmeans(*cpu, x, opt);
  EXPECT_EQ(r.inertia, 0.0);
}

// ---- kernels vs cpu twins --------------------------------------------------------------------

TEST(EmuKMeans, AssignmentMatchesCpuTwinAcrossOrders) {
  hmr::test::ExpectLaunches launched{"kmeans_assign_kernel"};
  using namespace hmr::cuda_emu;
  const auto seed = hmr::test::test_seed(3);
  const hmr::Matrix x = gaussian_blobs(3000, 9, 7, 3.0f, seed);
  hmr::Matrix c(7, 9);
  for (int j = 0; j < 7; ++j) std::copy_n(x.row(j * 11), 9, c.row(j));
  std::vector<std::int32_t> want(3000);
  std::vector<float> wdist(3000);
  hmr::cluster::kmeans_assign_cpu(x, c, want.data(), wdist.data());
  std::vector<float> dist;
  const auto labels = hmr::test::in_all_orders([&] {
    DeviceBuffer<float> dx = to_device(x.vec(), nullptr), dc = to_device(c.vec(), nullptr), dd(3000);
    DeviceBuffer<std::int32_t> dl(3000);
    DeviceBuffer<int> st(kern::kStatusSize);
    st.zero(nullptr);
    HMR_CUDA_CHECK(cudaMemset(dl.data(), 0xFF, dl.bytes()));
    kern::launch_kmeans_assign(dx.data(), 3000, 9, dc.data(), 7, dl.data(), dd.data(), st.data(), nullptr);
    dist = dd.to_host(nullptr);
    const auto s = st.to_host(nullptr);
    EXPECT_EQ(s[kern::kChanged], 3000);  // every label changed from -1
    return dl.to_host(nullptr);
  });
  EXPECT_EQ(labels, want);
  EXPECT_ALLCLOSE(std::span<const float>(dist), std::span<const float>(wdist), 1e-3, 1e-5);
}

TEST(EmuKMeans, AssignmentTilesCentresWhenTheyExceedSharedMemory) {
  hmr::test::ExpectLaunches launched{"kmeans_assign_kernel"};
  using namespace hmr::cuda_emu;
  // 40 centres x 300 features = 12000 floats > one 8192-float tile.
  const hmr::Matrix x = gaussian_blobs(300, 300, 40, 1.0f, 4);
  hmr::Matrix c(40, 300);
  for (int j = 0; j < 40; ++j) std::copy_n(x.row(j), 300, c.row(j));
  std::vector<std::int32_t> want(300);
  hmr::cluster::kmeans_assign_cpu(x, c, want.data(), nullptr);
  DeviceBuffer<float> dx = to_device(x.vec(), nullptr), dc = to_device(c.vec(), nullptr);
  DeviceBuffer<std::int32_t> dl(300);
  kern::launch_kmeans_assign(dx.data(), 300, 300, dc.data(), 40, dl.data(), nullptr, nullptr, nullptr);
  EXPECT_EQ(dl.to_host(nullptr), want);
}

// One M-step on the device (partials + finalize) against kmeans_update_cpu, including the
// relocation of two empty clusters.
TEST(EmuKMeans, UpdateWithRelocationMatchesCpuTwinAcrossOrders) {
  hmr::test::ExpectLaunches launched{"kmeans_update_partial_kernel", "kmeans_update_finalize_kernel"};
  using namespace hmr::cuda_emu;
  const std::int64_t n = 1500;
  const int d = 5, k = 6;
  const hmr::Matrix x = gaussian_blobs(n, d, 4, 2.0f, 9);
  hmr::Matrix old(k, d);
  for (int j = 0; j < 4; ++j) std::copy_n(x.row(j), d, old.row(j));
  for (int j = 4; j < k; ++j)
    for (int f = 0; f < d; ++f) old(j, f) = 1e4f;  // far away: no point picks them
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  std::vector<float> dist(static_cast<std::size_t>(n));
  hmr::cluster::kmeans_assign_cpu(x, old, labels.data(), dist.data());
  hmr::Matrix want;
  std::vector<std::int64_t> counts;
  const double want_shift = hmr::cluster::kmeans_update_cpu(x, labels.data(), dist.data(), old, want, counts);
  EXPECT_EQ(counts[4], 1);
  EXPECT_EQ(counts[5], 1);
  std::vector<int> status;
  const auto got = hmr::test::in_all_orders([&] {
    DeviceBuffer<float> dx = to_device(x.vec(), nullptr), dc = to_device(old.vec(), nullptr),
                        dd = to_device(dist, nullptr);
    DeviceBuffer<std::int32_t> dl = to_device(labels, nullptr);
    const int chunks = kern::kmeans_chunks(n);
    DeviceBuffer<double> psum(static_cast<std::size_t>(chunks * k * d)), sums(k * d);
    DeviceBuffer<long long> pcount(static_cast<std::size_t>(chunks * k)), cnt(k);
    DeviceBuffer<int> st(kern::kStatusSize), empty(k);
    st.zero(nullptr);
    kern::launch_kmeans_update_partial(dx.data(), n, d, dl.data(), k, psum.data(), pcount.data(), st.data(), nullptr);
    kern::launch_kmeans_update_finalize(psum.data(), pcount.data(), chunks, dx.data(), n, d, dl.data(), dd.data(), k,
                                        dc.data(), sums.data(), cnt.data(), empty.data(), want_shift * 2.0, 300,
                                        st.data(), nullptr);
    status = st.to_host(nullptr);
    return dc.to_host(nullptr);
  });
  EXPECT_ALLCLOSE(std::span<const float>(got), std::span<const float>(want.vec()), 1e-5, 1e-6);
  EXPECT_EQ(status[kern::kIter], 1);
  EXPECT_EQ(status[kern::kDone], 1) << "shift below the tolerance ends the run";
  EXPECT_EQ(status[kern::kStrict], 1) << "no label changes were counted";
}

TEST(EmuKMeans, InertiaMatchesCpuTwinAcrossOrders) {
  hmr::test::ExpectLaunches launched{"kmeans_inertia_partial_kernel", "sum_partials_kernel"};
  using namespace hmr::cuda_emu;
  const hmr::Matrix x = gaussian_blobs(2100, 4, 3, 1.5f, 12);
  hmr::Matrix c(3, 4);
  for (int j = 0; j < 3; ++j) std::copy_n(x.row(j), 4, c.row(j));
  std::vector<std::int32_t> labels(2100);
  hmr::cluster::kmeans_assign_cpu(x, c, labels.data(), nullptr);
  const double want = hmr::cluster::inertia(x, c, labels);
  const auto got = hmr::test::in_all_orders([&] {
    DeviceBuffer<float> dx = to_device(x.vec(), nullptr), dc = to_device(c.vec(), nullptr);
    DeviceBuffer<std::int32_t> dl = to_device(labels, nullptr);
    DeviceBuffer<double> part(static_cast<std::size_t>(kern::kmeans_chunks(2100))), out(1);
    kern::launch_kmeans_inertia_partial(dx.data(), 2100, 4, dc.data(), dl.data(), part.data(), nullptr);
    kern::launch_sum_partials(part.data(), kern::kmeans_chunks(2100), out.data(), nullptr);
    return out.to_host(nullptr);
  });
  EXPECT_NEAR(got[0], want, 1e-9 * want);
}

TEST(EmuKMeans, LloydRunsMatchTheCpuRunFromTheSameInit) {
  hmr::test::ExpectLaunches launched{"kmeans_assign_kernel", "kmeans_update_partial_kernel",
                                     "kmeans_update_finalize_kernel", "kmeans_inertia_partial_kernel",
                                     "sum_partials_kernel"};
  auto emu = hmr::make_backend("cuda-emu");
  const hmr::Matrix x = gaussian_blobs(1200, 6, 5, 5.0f, 17);
  hmr::cluster::KMeansRng rng(5);
  const hmr::Matrix init = hmr::cluster::kmeans_plusplus(x, 5, rng);
  const auto want = hmr::cluster::lloyd_cpu(x, init, 300, 1e-6);
  const auto got = hmr::cuda_emu::kmeans_lloyd_runs(*emu, x, {init}, 300, 1e-6);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].labels, want.labels);
  EXPECT_EQ(got[0].n_iter, want.n_iter);
  EXPECT_EQ(got[0].strict, want.strict);
  EXPECT_NEAR(got[0].inertia, want.inertia, 1e-6 * want.inertia);
  EXPECT_ALLCLOSE(std::span<const float>(got[0].centers.vec()), std::span<const float>(want.centers.vec()), 1e-4, 1e-5);
  // A run capped at 2 iterations stops there and re-assigns.
  const auto capped = hmr::cuda_emu::kmeans_lloyd_runs(*emu, x, {init}, 2, 0.0);
  const auto capped_cpu = hmr::cluster::lloyd_cpu(x, init, 2, 0.0);
  EXPECT_EQ(capped[0].n_iter, capped_cpu.n_iter);
  EXPECT_EQ(capped[0].labels, capped_cpu.labels);
}

}  // namespace
