// Emulator self-tests: small kernels with known answers exercise every feature of the emulator
// (host/emu) that hmr's kernels rely on, in several thread orders; and for every check the
// emulator claims, a planted bug that the check must catch (EmuPlanted*, EmuMisuse*).
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "emu/sample_kernels.h"
#include "gpu/compat.h"
#include "support/compare.h"
#include "support/emu.h"
#include "support/run.h"

namespace {

template <class T>
struct Dev {
  T* p = nullptr;
  std::size_t n = 0;
  explicit Dev(std::size_t count) : n(count) { EXPECT_EQ(cudaMalloc(&p, n * sizeof(T)), cudaSuccess); }
  Dev(const std::vector<T>& h) : Dev(h.size()) {
    EXPECT_EQ(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~Dev() { cudaFree(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    EXPECT_EQ(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
};

// ---- kernels (and block_sum_kernel, warp_sum_kernel from emu/sample_kernels.h) ---------------------
// Inclusive Hillis-Steele scan of one block through dynamic shared memory (double buffer).
__global__ void block_scan_kernel(const int* in, int* out, int n) {
  GPU_DYNAMIC_SHARED(int, buf);
  const int t = threadIdx.x;
  int* a = buf;
  int* b = buf + blockDim.x;
  a[t] = t < n ? in[t] : 0;
  __syncthreads();
  for (int off = 1; off < static_cast<int>(blockDim.x); off *= 2) {
    b[t] = a[t] + (t >= off ? a[t - off] : 0);
    __syncthreads();
    int* tmp = a;
    a = b;
    b = tmp;
  }
  if (t < n) out[t] = a[t];
}

// out[mode][lane] for each shuffle mode, width 32 and 8.
__global__ void shuffle_modes_kernel(int* out, int width) {
  const int lane = threadIdx.x;
  const int v = 100 + lane;
  out[0 * 32 + lane] = __shfl_sync(0xffffffffu, v, (lane * 7 + 3) % 32, width);
  out[1 * 32 + lane] = __shfl_up_sync(0xffffffffu, v, 3, width);
  out[2 * 32 + lane] = __shfl_down_sync(0xffffffffu, v, 5, width);
  out[3 * 32 + lane] = __shfl_xor_sync(0xffffffffu, v, 6, width);
  const double d = __shfl_xor_sync(0xffffffffu, 0.5 + lane, 1, width);
  out[4 * 32 + lane] = static_cast<int>(d * 2);
}

__global__ void vote_kernel(unsigned* out) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x / 32;
  const unsigned ballot = __ballot_sync(0xffffffffu, lane % 3 == 0);
  const unsigned any = __any_sync(0xffffffffu, lane == 17 && warp == 1);
  const unsigned all = __all_sync(0xffffffffu, lane < 32);
  const unsigned group = __match_any_sync(0xffffffffu, lane / 8);
  if (lane == 0) {  // every lane holds the same votes; lane 0's match group is lanes 0..7
    out[warp * 4 + 0] = ballot;
    out[warp * 4 + 1] = any;
    out[warp * 4 + 2] = all;
    out[warp * 4 + 3] = group;
  }
}

// Only the even lanes shuffle, with a mask naming exactly them.
__global__ void partial_mask_kernel(int* out) {
  const int lane = threadIdx.x;
  if (lane % 2 == 0) {
    const int v = __shfl_xor_sync(0x55555555u, lane, 2);
    out[lane] = v;
  } else {
    out[lane] = -lane;
  }
}

__global__ void atomics_kernel(int* i_sum, unsigned long long* u64_sum, float* f_sum, double* d_sum, int* i_max,
                               int* i_min, unsigned* inc, int* cas_count, unsigned* bits) {
  const int g = blockIdx.x * blockDim.x + threadIdx.x;
  atomicAdd(i_sum, 1);
  atomicAdd(u64_sum, static_cast<unsigned long long>(g));
  atomicAdd(f_sum, 0.5f);
  atomicAdd(d_sum, 0.25);
  atomicMax(i_max, g);
  atomicMin(i_min, -g);
  atomicInc(inc, 9u);  // wraps to 0 after 9
  // A CAS loop: increment cas_count by 2.
  int old = atomicAdd(cas_count, 0), assumed;
  do {
    assumed = old;
    old = atomicCAS(cas_count, assumed, assumed + 2);
  } while (old != assumed);
  atomicOr(bits, 1u << (g % 32));
  (void)atomicExch(bits + 1, 7u);
}

__global__ void barrier_votes_kernel(int* out) {
  const int t = threadIdx.x;
  const int count = __syncthreads_count(t % 4 == 0);
  const int all = __syncthreads_and(t < 1000);
  const int any = __syncthreads_or(t == 5);
  const int none = __syncthreads_or(0);
  if (t == 0) {
    out[0] = count;
    out[1] = all;
    out[2] = any;
    out[3] = none;
  }
}

// Decoupled look-back style chain: block b waits until block b-1 has published its prefix.
__global__ void lookback_kernel(int* flags, int* prefix) {
  const int b = blockIdx.x;
  if (threadIdx.x == 0) {
    int before = 0;
    if (b > 0) {
      while (atomicAdd(&flags[b - 1], 0) == 0) {
      }
      before = atomicAdd(&prefix[b - 1], 0);
    }
    atomicExch(&prefix[b], before + b + 1);
    __threadfence();
    atomicExch(&flags[b], 1);
  }
}

// Thread 0 waits for thread 33 of the same block without a barrier (spin hints must yield).
__global__ void intra_block_spin_kernel(int* flag, int* out) {
  if (threadIdx.x == 0) {
    while (atomicAdd(flag, 0) == 0) {
    }
    out[0] = 1;
  } else if (threadIdx.x == 33) {
    atomicExch(flag, 1);
  }
}

__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void early_exit_barrier_kernel(int* out, int n) {
  if (static_cast<int>(threadIdx.x) >= n) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void forever_spin_kernel(int* flag) {
  while (atomicAdd(flag, 0) == 0) {
  }
}

// Lanes 16..31 leave before the others shuffle with a full mask.
__global__ void shuffle_after_exit_kernel(int* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}

// Lane 0 calls a collective whose mask leaves lane 0 out.
__global__ void shuffle_outside_own_mask_kernel(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xfffffffeu, static_cast<int>(threadIdx.x), 1);
}

// Lane 0 waits for lane 1 at __syncwarp, lane 1 (with the rest) for lane 0 at __syncthreads.
__global__ void deadlock_kernel(int* out) {
  if (threadIdx.x == 0) {
    __syncwarp(0x3u);
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void write_one_kernel(int* p) { *p = 1; }

// Reads memory nobody wrote: a cudaMalloc'd buffer, a GPU_SHARED array, dynamic shared memory.
__global__ void read_uninitialised_kernel(const float* never_written, float* out) {
  GPU_SHARED(s, float[64]);
  GPU_DYNAMIC_SHARED(float, dyn);
  const int t = threadIdx.x;
  out[t] = never_written[t];
  out[64 + t] = s[t];
  out[128 + t] = dyn[t];
}

__global__ void index_kernel(int* out) {
  const int bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int bs = blockDim.x * blockDim.y * blockDim.z;
  out[bx * bs + tx] = bx * 1000 + tx;
}

__global__ void convert_args_kernel(float x, long long y, float* out) {
  out[0] = x;
  out[1] = static_cast<float>(y);
}

__global__ void noop_kernel(int* p) { (void)p; }

// ---- tests ----------------------------------------------------------------------------------------------
std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

TEST(EmuIndex, EveryThreadOfA3dGridRunsOnceWithItsIndices) {
  const dim3 grid(3, 2, 2), block(4, 2, 3);
  const int total = 12 * 24;
  Dev<int> out(total);
  ASSERT_EQ(GPU_LAUNCH(index_kernel, grid, block, 0, nullptr, out.p), cudaSuccess);
  const auto h = out.get();
  for (int b = 0; b < 12; ++b)
    for (int t = 0; t < 24; ++t) ASSERT_EQ(h[b * 24 + t], b * 1000 + t);
}

TEST(EmuReduce, BlockReductionMatchesHostInEveryOrder) {
  const std::uint64_t seed = hmr::test::test_seed();
  const int n = 256 * 37 + 11;
  const auto x = random_floats(n, seed);
  Dev<float> in(x);
  const int blocks = (n + 255) / 256;
  const auto got = hmr::test::in_all_orders([&] {
    Dev<float> out(blocks);
    EXPECT_EQ(GPU_LAUNCH(block_sum_kernel<>, blocks, 256, 0, nullptr, in.p, out.p, n), cudaSuccess);
    return out.get();
  });
  std::vector<double> want(blocks, 0.0);
  for (int i = 0; i < n; ++i) want[i / 256] += x[i];
  EXPECT_ALLCLOSE(got, want, 1e-4, 1e-5);
}

TEST(EmuLaunchCount, CountsEveryLaunchByKernelIdentifier) {
  const int n = 1000, blocks = (n + 255) / 256;
  Dev<float> in(std::vector<float>(n, 1.0f)), out(blocks);
  const auto before = cuemu::launch_count("block_sum_kernel");
  {
    hmr::test::ExpectLaunches launched{"block_sum_kernel"};
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(GPU_LAUNCH(block_sum_kernel<>, blocks, 256, 0, nullptr, in.p, out.p, n), cudaSuccess);
    EXPECT_EQ(launched.launched("block_sum_kernel"), 3u);
  }
  EXPECT_EQ(cuemu::launch_count("block_sum_kernel"), before + 3);
  EXPECT_EQ(cuemu::launch_count("no_such_kernel"), 0u);
  // A named kernel that the scope never launches is a failure of the test that named it.
  EXPECT_NONFATAL_FAILURE({ hmr::test::ExpectLaunches launched{"warp_sum_kernel"}; },
                          "kernel warp_sum_kernel was not launched");
}

TEST(EmuReduce, WarpShuffleReductionMatchesHost) {
  const std::uint64_t seed = hmr::test::test_seed();
  const int n = 32 * 64;
  const auto x = random_floats(n, seed);
  Dev<float> in(x);
  const auto got = hmr::test::in_all_orders([&] {
    Dev<float> out(n / 32);
    EXPECT_EQ(GPU_LAUNCH(warp_sum_kernel, n / 128, 128, 0, nullptr, in.p, out.p, n), cudaSuccess);
    return out.get();
  });
  std::vector<double> want(n / 32, 0.0);
  for (int i = 0; i < n; ++i) want[i / 32] += x[i];
  EXPECT_ALLCLOSE(got, want, 1e-5, 1e-5);
}

TEST(EmuScan, InclusiveScanThroughDynamicSharedMemory) {
  const int n = 200;
  std::vector<int> x(n);
  for (int i = 0; i < n; ++i) x[i] = (i * 37) % 11 - 5;
  Dev<int> in(x);
  const auto got = hmr::test::in_all_orders([&] {
    Dev<int> out(n);
    EXPECT_EQ(GPU_LAUNCH(block_scan_kernel, 1, 256, 2 * 256 * sizeof(int), nullptr, in.p, out.p, n), cudaSuccess);
    return out.get();
  });
  std::vector<int> want(n);
  std::partial_sum(x.begin(), x.end(), want.begin());
  EXPECT_EQ(got, want);
}

TEST(EmuWarp, ShuffleModesFollowPtxRulesForWidth32And8) {
  for (int width : {32, 8}) {
    Dev<int> out(5 * 32);
    ASSERT_EQ(GPU_LAUNCH(shuffle_modes_kernel, 1, 32, 0, nullptr, out.p, width), cudaSuccess);
    const auto h = out.get();
    for (int lane = 0; lane < 32; ++lane) {
      const int seg = lane / width * width;
      const int idx_src = seg + ((lane * 7 + 3) % 32) % width;
      EXPECT_EQ(h[0 * 32 + lane], 100 + idx_src) << "idx lane " << lane << " width " << width;
      const int up_src = lane - 3 >= seg ? lane - 3 : lane;
      EXPECT_EQ(h[1 * 32 + lane], 100 + up_src) << "up lane " << lane << " width " << width;
      const int down_src = lane + 5 < seg + width ? lane + 5 : lane;
      EXPECT_EQ(h[2 * 32 + lane], 100 + down_src) << "down lane " << lane << " width " << width;
      const int xor_src = (lane ^ 6) < seg + width ? (lane ^ 6) : lane;
      EXPECT_EQ(h[3 * 32 + lane], 100 + xor_src) << "xor lane " << lane << " width " << width;
      const int dxor = (lane ^ 1) < seg + width ? (lane ^ 1) : lane;
      EXPECT_EQ(h[4 * 32 + lane], 1 + 2 * dxor) << "double xor lane " << lane;
    }
  }
}

TEST(EmuWarp, VotesAndMatch) {
  Dev<unsigned> out(2 * 4);
  ASSERT_EQ(GPU_LAUNCH(vote_kernel, 1, 64, 0, nullptr, out.p), cudaSuccess);
  const auto h = out.get();
  unsigned every3 = 0;
  for (int l = 0; l < 32; l += 3) every3 |= 1u << l;
  for (int w = 0; w < 2; ++w) {
    EXPECT_EQ(h[w * 4 + 0], every3);
    EXPECT_EQ(h[w * 4 + 1], w == 1 ? 1u : 0u);
    EXPECT_EQ(h[w * 4 + 2], 1u);
  }
  EXPECT_EQ(h[3], 0x000000ffu);  // lane 0's group: lanes 0..7
}

TEST(EmuWarp, CollectivesSynchroniseOnlyTheLanesInTheirMask) {
  Dev<int> out(32);
  ASSERT_EQ(GPU_LAUNCH(partial_mask_kernel, 1, 32, 0, nullptr, out.p), cudaSuccess);
  const auto h = out.get();
  for (int l = 0; l < 32; ++l) EXPECT_EQ(h[l], l % 2 == 0 ? (l ^ 2) : -l) << "lane " << l;
}

TEST(EmuAtomics, ManyBlocksUpdateAtomically) {
  const int blocks = 64, threads = 128, total = blocks * threads;
  Dev<int> i_sum(std::vector<int>{0}), i_max(std::vector<int>{-1}), i_min(std::vector<int>{1}),
      cas(std::vector<int>{0});
  Dev<unsigned long long> u64(std::vector<unsigned long long>{0});
  Dev<float> f(std::vector<float>{0.0f});
  Dev<double> d(std::vector<double>{0.0});
  Dev<unsigned> inc(std::vector<unsigned>{0}), bits(std::vector<unsigned>{0, 0});
  ASSERT_EQ(GPU_LAUNCH(atomics_kernel, blocks, threads, 0, nullptr, i_sum.p, u64.p, f.p, d.p, i_max.p, i_min.p, inc.p,
                       cas.p, bits.p),
            cudaSuccess);
  EXPECT_EQ(i_sum.get()[0], total);
  EXPECT_EQ(u64.get()[0], static_cast<unsigned long long>(total) * (total - 1) / 2);
  EXPECT_EQ(f.get()[0], 0.5f * total);  // exact: multiples of 0.5 below 2^24
  EXPECT_EQ(d.get()[0], 0.25 * total);
  EXPECT_EQ(i_max.get()[0], total - 1);
  EXPECT_EQ(i_min.get()[0], -(total - 1));
  EXPECT_EQ(inc.get()[0], static_cast<unsigned>(total % 10));
  EXPECT_EQ(cas.get()[0], 2 * total);
  EXPECT_EQ(bits.get()[0], 0xffffffffu);
  EXPECT_EQ(bits.get()[1], 7u);
}

TEST(EmuBarrier, SyncthreadsCountAndOr) {
  Dev<int> out(4);
  ASSERT_EQ(GPU_LAUNCH(barrier_votes_kernel, 1, 100, 0, nullptr, out.p), cudaSuccess);
  EXPECT_EQ(out.get(), (std::vector<int>{25, 1, 1, 0}));
}

TEST(EmuSpin, LookBackChainAcrossBlocksTerminates) {
  const int blocks = 40;
  Dev<int> flags(std::vector<int>(blocks, 0)), prefix(std::vector<int>(blocks, 0));
  ASSERT_EQ(GPU_LAUNCH(lookback_kernel, blocks, 32, 0, nullptr, flags.p, prefix.p), cudaSuccess);
  const auto h = prefix.get();
  for (int b = 0; b < blocks; ++b) EXPECT_EQ(h[b], (b + 1) * (b + 2) / 2);
}

TEST(EmuSpin, IntraBlockSpinWithoutBarrierTerminates) {
  Dev<int> flag(std::vector<int>{0}), out(std::vector<int>{0});
  for (auto ord : {cuemu::Order::forward, cuemu::Order::reverse}) {
    hmr::test::ScopedOrder o(ord);
    ASSERT_EQ(cudaMemset(flag.p, 0, sizeof(int)), cudaSuccess);
    ASSERT_EQ(GPU_LAUNCH(intra_block_spin_kernel, 1, 64, 0, nullptr, flag.p, out.p), cudaSuccess);
    EXPECT_EQ(out.get()[0], 1);
  }
}

// ---- planted bugs: every check the emulator claims must catch its bug ------------------------------
// (each fails when its check is taken out of host/emu)

TEST(EmuPlanted, MissingSyncthreadsIsCaughtByTheThreadOrderComparison) {
  const int n = 256 * 8;
  const auto x = random_floats(n, 7);
  Dev<float> in(x);
  auto racy = [&] {
    Dev<float> out(8);
    EXPECT_EQ(GPU_LAUNCH(block_sum_kernel<false>, 8, 256, 0, nullptr, in.p, out.p, n), cudaSuccess);
    return out.get();
  };
  // in_all_orders is what every kernel test uses: it must report the race (the same kernel with
  // its barrier passes it in EmuReduce.BlockReductionMatchesHostInEveryOrder).
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter intercept(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    (void)hmr::test::in_all_orders(racy);
  }
  ASSERT_GE(failures.size(), 1) << "the planted race went unnoticed: every thread order agreed bit for bit";
  for (int i = 0; i < failures.size(); ++i)
    EXPECT_NE(std::string(failures.GetTestPartResult(i).message()).find("changed the result"), std::string::npos)
        << failures.GetTestPartResult(i).message();
}

TEST(EmuPlanted, UninitialisedReadsSeeThePoison) {
  Dev<float> never_written(64), out(3 * 64);
  ASSERT_EQ(GPU_LAUNCH(read_uninitialised_kernel, 1, 64, 64 * sizeof(float), nullptr, never_written.p, out.p),
            cudaSuccess);
  const auto h = out.get();
  const char* what[] = {"cudaMalloc'd memory", "a GPU_SHARED array", "dynamic shared memory"};
  for (int i = 0; i < 3 * 64; ++i) {
    ASSERT_TRUE(std::isnan(h[i])) << what[i / 64] << " element " << i % 64 << " read as " << h[i];
    ASSERT_EQ(__float_as_uint(h[i]), 0xFFFFFFFFu) << what[i / 64] << " element " << i % 64;  // 0xFF bytes
  }
}

TEST(EmuPlanted, OutOfBoundsSharedArrayWriteIsReportedByAddressSanitizer) {
  const auto [status, output] = hmr::test::run_command(std::string(CUEMU_PLANTED_OOB) + " shared");
  EXPECT_NE(status, 0) << output;
  // ASan names the kernel; in the sanitizer build UBSan's bounds check (the array type is known)
  // reports the same write first.
  const bool asan =
      output.find("heap-buffer-overflow") != std::string::npos && output.find("oob_shared_kernel") != std::string::npos;
  const bool ubsan = output.find("index 100 out of bounds") != std::string::npos;
  EXPECT_TRUE(asan || ubsan) << output;
}

TEST(EmuMisuse, WarpMaskNamingExitedLanesIsALaunchFailure) {
  Dev<int> out(32);
  EXPECT_EQ(GPU_LAUNCH(shuffle_after_exit_kernel, 1, 32, 0, nullptr, out.p), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(cuemu::last_failure()).find("mask names lane(s) that have exited"), std::string::npos)
      << cuemu::last_failure();
  EXPECT_NE(std::string(cuemu::last_failure()).find("shuffle_after_exit_kernel"), std::string::npos);
  EXPECT_EQ(GPU_LAUNCH(shuffle_outside_own_mask_kernel, 1, 32, 0, nullptr, out.p), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(cuemu::last_failure()).find("is not in its mask"), std::string::npos) << cuemu::last_failure();
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
}

TEST(EmuMisuse, DeadlockIsALaunchFailureSayingWhoWaitsWhere) {
  Dev<int> out(32);
  cuemu::set_timeout(5.0);  // without the deadlock check, the watchdog would end it, as a timeout
  EXPECT_EQ(GPU_LAUNCH(deadlock_kernel, 1, 32, 0, nullptr, out.p), cudaErrorLaunchFailure);
  cuemu::set_timeout(60.0);
  const std::string failure = cuemu::last_failure();
  EXPECT_NE(failure.find("deadlock: no thread can proceed"), std::string::npos) << failure;
  EXPECT_NE(failure.find("thread 0 at a warp collective (mask 0x00000003)"), std::string::npos) << failure;
  EXPECT_NE(failure.find("thread 1 at __syncthreads"), std::string::npos) << failure;
  (void)cudaGetLastError();
}

TEST(EmuMisuse, HostPointerArgumentIsRejectedBeforeTheKernelRuns) {
  int host_int = 0;
  const auto before = cuemu::launch_count("write_one_kernel");
  EXPECT_EQ(GPU_LAUNCH(write_one_kernel, 1, 1, 0, nullptr, &host_int), cudaErrorInvalidValue);
  EXPECT_EQ(host_int, 0);
  EXPECT_EQ(cuemu::launch_count("write_one_kernel"), before);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  // Pinned host memory is reachable from kernels (unified addressing), as on a GPU.
  int* pinned = nullptr;
  ASSERT_EQ(cudaMallocHost(&pinned, sizeof(int)), cudaSuccess);
  *pinned = 0;
  EXPECT_EQ(GPU_LAUNCH(write_one_kernel, 1, 1, 0, nullptr, pinned), cudaSuccess);
  EXPECT_EQ(*pinned, 1);
  EXPECT_EQ(cudaFreeHost(pinned), cudaSuccess);
}

TEST(EmuMisuse, CopyDirectionThatContradictsThePointersIsRejected) {
  const std::size_t bytes = 4 * sizeof(float);
  Dev<float> d(4), d2(std::vector<float>(4, 2.0f));
  std::vector<float> h(4, 1.0f), h2(4, 3.0f);
  EXPECT_EQ(cudaMemcpy(d.p, h.data(), bytes, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(h.data(), d2.p, bytes, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(d.p, d2.p, bytes, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(h.data(), h2.data(), bytes, cudaMemcpyDeviceToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy2D(d.p, bytes, h.data(), bytes, bytes, 1, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  // Nothing was copied.
  EXPECT_EQ(h, std::vector<float>(4, 1.0f));
  for (float v : d.get()) EXPECT_TRUE(std::isnan(v));
  // The right directions, and cudaMemcpyDefault, are accepted.
  EXPECT_EQ(cudaMemcpy(d.p, h.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(h2.data(), d2.p, bytes, cudaMemcpyDefault), cudaSuccess);
  EXPECT_EQ(h2, std::vector<float>(4, 2.0f));
}

TEST(EmuMisuse, DivergentBarrierIsALaunchFailureNamingTheKernel) {
  Dev<int> out(32);
  EXPECT_EQ(GPU_LAUNCH(divergent_barrier_kernel, 1, 32, 0, nullptr, out.p), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(cuemu::last_failure()).find("divergent __syncthreads"), std::string::npos);
  EXPECT_NE(std::string(cuemu::last_failure()).find("divergent_barrier_kernel"), std::string::npos);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(EmuMisuse, BarrierAfterEarlyExitIsReported) {
  Dev<int> out(64);
  EXPECT_EQ(GPU_LAUNCH(early_exit_barrier_kernel, 1, 64, 0, nullptr, out.p, 40), cudaErrorLaunchFailure);
  EXPECT_NE(std::string(cuemu::last_failure()).find("exited"), std::string::npos);
  (void)cudaGetLastError();
}

TEST(EmuMisuse, WatchdogTurnsAHangIntoAnError) {
  Dev<int> flag(std::vector<int>{0});
  cuemu::set_timeout(0.5);
  EXPECT_EQ(GPU_LAUNCH(forever_spin_kernel, 1, 1, 0, nullptr, flag.p), cudaErrorLaunchTimeout);
  cuemu::set_timeout(60.0);
  EXPECT_NE(std::string(cuemu::last_failure()).find("forever_spin_kernel"), std::string::npos);
  (void)cudaGetLastError();
}

TEST(EmuLaunch, ValidationReturnsCudaErrorCodes) {
  Dev<int> p(1);
  EXPECT_EQ(GPU_LAUNCH(noop_kernel, 1, 1025, 0, nullptr, p.p), cudaErrorInvalidConfiguration);
  EXPECT_EQ(GPU_LAUNCH(noop_kernel, 1, dim3(1, 1, 65), 0, nullptr, p.p), cudaErrorInvalidConfiguration);
  EXPECT_EQ(GPU_LAUNCH(noop_kernel, 0, 32, 0, nullptr, p.p), cudaErrorInvalidConfiguration);
  EXPECT_EQ(GPU_LAUNCH(noop_kernel, 1, 32, 64 * 1024, nullptr, p.p), cudaErrorInvalidValue);
  EXPECT_EQ(cudaFuncSetAttribute(noop_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 100 * 1024), cudaSuccess);
  EXPECT_EQ(GPU_LAUNCH(noop_kernel, 1, 32, 64 * 1024, nullptr, p.p), cudaSuccess);
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorInvalidValue);
  (void)cudaGetLastError();
}

TEST(EmuLaunch, ArgumentsConvertAsTripleChevronDoes) {
  Dev<float> out(2);
  ASSERT_EQ(GPU_LAUNCH(convert_args_kernel, 1, 1, 0, nullptr, 2.5, 7, out.p), cudaSuccess);
  EXPECT_EQ(out.get(), (std::vector<float>{2.5f, 7.0f}));
}

TEST(EmuRuntime, AllocationsEventsAndDeviceProperties) {
  float* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, 4 * sizeof(float)), cudaSuccess);
  std::vector<float> h(4);
  ASSERT_EQ(cudaMemcpy(h.data(), d, 4 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (float v : h) EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(cudaFree(h.data()), cudaErrorInvalidDevicePointer);
  EXPECT_EQ(cudaFree(d), cudaSuccess);
  (void)cudaGetLastError();
  cudaEvent_t a, b;
  ASSERT_EQ(cudaEventCreate(&a), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&b), cudaSuccess);
  cudaEventRecord(a);
  cudaEventRecord(b);
  float ms = -1;
  EXPECT_EQ(cudaEventElapsedTime(&ms, a, b), cudaSuccess);
  EXPECT_GE(ms, 0.0f);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  EXPECT_EQ(prop.major, 9);
  EXPECT_EQ(prop.maxThreadsPerBlock, 1024);
}

TEST(EmuRuntime, PlantedOutOfBoundsWriteIsReportedByAddressSanitizer) {
  const auto [status, output] = hmr::test::run_command(CUEMU_PLANTED_OOB);
  EXPECT_NE(status, 0) << output;
  EXPECT_NE(output.find("heap-buffer-overflow"), std::string::npos) << output;
  EXPECT_NE(output.find("oob_write_kernel"), std::string::npos) << output;
}

}  // namespace

// Thrust compiles in the emulated build (host system, THRUST_DEVICE_SYSTEM_CPP) on device buffers.
#include <thrust/execution_policy.h>
#include <thrust/sort.h>

namespace {
TEST(EmuThrust, SortByKeyOnDeviceBuffers) {
  const std::vector<unsigned> keys{5, 3, 7, 1, 0, 2, 6, 4};
  std::vector<int> vals{0, 1, 2, 3, 4, 5, 6, 7};
  Dev<unsigned> k(keys);
  Dev<int> v(vals);
  thrust::sort_by_key(thrust::device, k.p, k.p + 8, v.p);
  EXPECT_EQ(k.get(), (std::vector<unsigned>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(v.get(), (std::vector<int>{4, 3, 5, 1, 7, 0, 6, 2}));
}
}  // namespace

namespace {
TEST(EmuRuntime, FiberStackOverflowIsNamed) {
  const auto [status, output] = hmr::test::run_command(CUEMU_PLANTED_STACK);
  EXPECT_NE(status, 0) << output;
  // The emulator names the cause; under AddressSanitizer, ASan's own handler reports it first.
  EXPECT_TRUE(output.find("fiber stack overflow") != std::string::npos ||
              output.find("stack-overflow") != std::string::npos)
      << output;
}
}  // namespace
