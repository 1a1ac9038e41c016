// bench/kernels/cluster_kernels.cpp — K-Means kernels (kernels/cluster/kmeans.cuh) beside their
// cpu twins (host/cluster/kmeans.h): assignment, one M-step (partials + finalize) and the inertia
// reduction, on Gaussian blobs [n x 32], 16 centres taken from the data; DBSCAN's neighbourhood
// kernels (kernels/cluster/dbscan.cuh: counts, CSR fill) beside host/cluster/dbscan.h's twins on
// Gaussian blobs [n x 16], eps = 12 (about a tenth of each blob within eps of a point).
#include <cstring>

#include "cluster/dbscan.cuh"
#include "cluster/dbscan.h"
#include "cluster/kmeans.cuh"
#include "cluster/kmeans.h"
#include "harness.h"

namespace {

using namespace hmr::kbench;
namespace kern = hmr::HMR_CUDA_NS::kern;

// ---- adapter: the only lines that name launchers ------------------------------------------------
void assign(const Buf<float>& x, std::int64_t n, int d, const Buf<float>& c, int k, Buf<std::int32_t>& labels,
            Buf<float>& dist) {
  kern::launch_kmeans_assign(x.get(), n, d, c.get(), k, labels.get(), dist.get(), nullptr, nullptr);
}
int chunks(std::int64_t n) { return kern::kmeans_chunks(n); }
struct UpdateWork {
  UpdateWork(std::int64_t n, int d, int k)
      : psum(static_cast<std::size_t>(chunks(n)) * k * d),
        sums(static_cast<std::size_t>(k) * d),
        pcount(static_cast<std::size_t>(chunks(n)) * k),
        counts(k),
        empty(k),
        status(kern::kStatusSize) {}
  Buf<double> psum, sums;
  Buf<long long> pcount, counts;
  Buf<int> empty, status;
};
void update(const Buf<float>& x, std::int64_t n, int d, const Buf<std::int32_t>& labels, const Buf<float>& dist, int k,
            Buf<float>& centers, UpdateWork& w) {
  kern::launch_kmeans_update_partial(x.get(), n, d, labels.get(), k, w.psum.get(), w.pcount.get(), w.status.get(),
                                     nullptr);
  kern::launch_kmeans_update_finalize(w.psum.get(), w.pcount.get(), chunks(n), x.get(), n, d, labels.get(), dist.get(),
                                      k, centers.get(), w.sums.get(), w.counts.get(), w.empty.get(), 0.0, 300,
                                      w.status.get(), nullptr);
}
void inertia(const Buf<float>& x, std::int64_t n, int d, const Buf<float>& c, const Buf<std::int32_t>& labels,
             Buf<double>& partial, Buf<double>& out) {
  kern::launch_kmeans_inertia_partial(x.get(), n, d, c.get(), labels.get(), partial.get(), nullptr);
  kern::launch_sum_partials(partial.get(), chunks(n), out.get(), nullptr);
}
void dbscan_counts(const Buf<float>& x, std::int64_t n, int d, double eps, Buf<std::int32_t>& counts) {
  kern::launch_dbscan_counts(x.get(), n, d, nullptr, 0, eps, counts.get(), nullptr);
}
void dbscan_fill(const Buf<float>& x, std::int64_t n, int d, double eps, const Buf<std::int64_t>& off,
                 Buf<std::int32_t>& idx) {
  kern::launch_dbscan_neighbours(x.get(), n, d, nullptr, 0, eps, off.get(), idx.get(), nullptr);
}
// -------------------------------------------------------------------------------------------------

constexpr int kD = 32, kK = 16;

struct Data {
  explicit Data(std::int64_t n) : x(n, kD, blobs(n, kD, kK, 3.0f, 11)), c(kK, kD) {
    for (int j = 0; j < kK; ++j) std::memcpy(c.row(j), x.row(j * 7 + 1), sizeof(float) * kD);
  }
  hmr::Matrix x, c;
};

std::string shape(std::int64_t n) { return std::to_string(n) + "x" + std::to_string(kD) + " k=" + std::to_string(kK); }

void bench_assign(const Problem& p, Report& r) {
  const Data in(p.n);
  r.shape(shape(p.n));
  std::vector<std::int32_t> want(static_cast<std::size_t>(p.n));
  std::vector<float> wdist(want.size());
  r.cpu_ms(time_cpu(p.repeat, [&] { hmr::cluster::kmeans_assign_cpu(in.x, in.c, want.data(), wdist.data()); }));
  Buf<float> x(in.x.vec()), c(in.c.vec()), dist(want.size());
  Buf<std::int32_t> labels(want.size());
  r.device_ms(time_device(p.repeat, [&] { assign(x, p.n, kD, c, kK, labels, dist); }));
  r.check("labels", labels.host(), want, 0, 0);
  r.check("distances", dist.host(), wdist, 1e-3, 1e-5);
}

void bench_update(const Problem& p, Report& r) {
  const Data in(p.n);
  r.shape(shape(p.n));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(p.n));
  std::vector<float> dist(labels.size());
  hmr::cluster::kmeans_assign_cpu(in.x, in.c, labels.data(), dist.data());
  hmr::Matrix want;
  std::vector<std::int64_t> counts;
  r.cpu_ms(time_cpu(p.repeat,
                    [&] { hmr::cluster::kmeans_update_cpu(in.x, labels.data(), dist.data(), in.c, want, counts); }));
  Buf<float> x(in.x.vec()), c(in.c.vec()), dd(dist);
  Buf<std::int32_t> dl(labels);
  UpdateWork w(p.n, kD, kK);
  // finalize overwrites the centres and the status: restore both before every call
  r.device_ms(time_device(
      p.repeat, [&] { update(x, p.n, kD, dl, dd, kK, c, w); },
      [&] {
        c.upload(in.c.vec());
        w.status.fill_bytes(0);
      }));
  r.check("centres", c.host(), want.vec(), 1e-5, 1e-6);
}

void bench_inertia(const Problem& p, Report& r) {
  const Data in(p.n);
  r.shape(shape(p.n));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(p.n));
  hmr::cluster::kmeans_assign_cpu(in.x, in.c, labels.data(), nullptr);
  double want = 0;
  r.cpu_ms(time_cpu(p.repeat, [&] { want = hmr::cluster::inertia(in.x, in.c, labels); }));
  Buf<float> x(in.x.vec()), c(in.c.vec());
  Buf<std::int32_t> dl(labels);
  Buf<double> partial(static_cast<std::size_t>(chunks(p.n))), out(1);
  r.device_ms(time_device(p.repeat, [&] { inertia(x, p.n, kD, c, dl, partial, out); }));
  // cluster::inertia sums in another order than the kernel's chunks: double rounding of n terms
  r.check("inertia", out.host(), std::vector<double>{want}, 0, 1e-8);
}

constexpr int kDbD = 16;
constexpr double kDbEps = 12.0;

std::string db_shape(std::int64_t n) { return std::to_string(n) + "x" + std::to_string(kDbD) + " eps=12"; }

void bench_dbscan_counts(const Problem& p, Report& r) {
  const hmr::Matrix x(p.n, kDbD, blobs(p.n, kDbD, 16, 3.0f, p.seed));
  r.shape(db_shape(p.n));
  std::vector<std::int32_t> want;
  r.cpu_ms(time_cpu(p.repeat,
                    [&] { want = hmr::cluster::dbscan_counts_cpu(x, kDbEps, hmr::cluster::DbscanMetric::euclidean); }));
  Buf<float> dx(x.vec());
  Buf<std::int32_t> counts(want.size());
  r.device_ms(time_device(p.repeat, [&] { dbscan_counts(dx, p.n, kDbD, kDbEps, counts); }));
  r.check("counts", counts.host(), want, 0, 0);
}

void bench_dbscan_fill(const Problem& p, Report& r) {
  const hmr::Matrix x(p.n, kDbD, blobs(p.n, kDbD, 16, 3.0f, p.seed));
  r.shape(db_shape(p.n));
  const auto counts = hmr::cluster::dbscan_counts_cpu(x, kDbEps, hmr::cluster::DbscanMetric::euclidean);
  std::vector<std::int64_t> off;
  std::vector<std::int32_t> want;
  r.cpu_ms(time_cpu(p.repeat, [&] {
    hmr::cluster::dbscan_neighbourhoods_cpu(x, kDbEps, hmr::cluster::DbscanMetric::euclidean, counts, off, want);
  }));
  Buf<float> dx(x.vec());
  Buf<std::int64_t> doff(off);
  Buf<std::int32_t> idx(want.empty() ? 1 : want.size());
  r.device_ms(time_device(p.repeat, [&] { dbscan_fill(dx, p.n, kDbD, kDbEps, doff, idx); }));
  auto got = idx.host();
  got.resize(want.size());
  r.check("neighbour indices", got, want, 0, 0);
}

HMR_KERNEL_BENCH({"dbscan_counts", "launch_dbscan_counts", "points (x 16 features, euclidean)", 1500, 50000,
                  &bench_dbscan_counts});
HMR_KERNEL_BENCH({"dbscan_neighbours", "launch_dbscan_neighbours", "points (x 16 features, euclidean)", 1500, 50000,
                  &bench_dbscan_fill});
HMR_KERNEL_BENCH({"kmeans_assign", "launch_kmeans_assign", "points (x 32 features, 16 centres)", 20000, 1000000,
                  &bench_assign});
HMR_KERNEL_BENCH({"kmeans_update", "launch_kmeans_update_partial, launch_kmeans_update_finalize",
                  "points (x 32 features, 16 centres)", 20000, 1000000, &bench_update});
HMR_KERNEL_BENCH({"kmeans_inertia", "launch_kmeans_inertia_partial, launch_sum_partials",
                  "points (x 32 features, 16 centres)", 20000, 1000000, &bench_inertia});

}  // namespace
