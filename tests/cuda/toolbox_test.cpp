// The kernels toolbox (kernels/gpu/) under the emulator: the fixed-order reductions reproduce the
// halving tree and xor butterfly the kernels were written with, bit for bit, for every block size
// and for element counts that do not fill the block; the Context's pool reuses, scopes and
// re-poisons its blocks; the check macros name the expression, the function and the file.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <random>
#include <string>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/select.h"
#include "gpu/reduce.cuh"
#include "support/compare.h"

namespace {
using namespace hmr::cuda_emu;

// Each thread sums its stride of x (x[t], x[t + B], ...) and the block reduces the partials.
template <int B>
__global__ void __launch_bounds__(B) block_sum_kernel(const float* x, int n, float* out) {
  GPU_SHARED(sh, float[B]);
  float v = 0.0f;
  for (int i = static_cast<int>(threadIdx.x); i < n; i += B) v += x[i];
  const float total = gpu::block_sum<B>(sh, v);
  out[threadIdx.x] = total;  // every thread must see the same total
}

template <int B>
__global__ void __launch_bounds__(B) block_max_kernel(const float* x, int n, float* out) {
  GPU_SHARED(sh, float[B]);
  float v = -INFINITY;
  for (int i = static_cast<int>(threadIdx.x); i < n; i += B) v = fmaxf(v, x[i]);
  const float m = gpu::block_reduce<B>(sh, v, gpu::Max{});
  if (threadIdx.x == 0) out[0] = m;
}

__global__ void warp_sum_kernel(const float* x, float* out) {
  const float s = gpu::warp_sum(x[threadIdx.x]);
  out[threadIdx.x] = s;
}

// The trees as the kernels spelled them before the toolbox existed.
std::vector<float> partials(const std::vector<float>& x, int B) {
  std::vector<float> p(B, 0.0f);
  for (int t = 0; t < B; ++t)
    for (std::size_t i = t; i < x.size(); i += B) p[t] += x[i];
  return p;
}
float halving_tree(std::vector<float> sh) {
  for (std::size_t s = sh.size() / 2; s > 0; s >>= 1)
    for (std::size_t t = 0; t < s; ++t) sh[t] += sh[t + s];
  return sh[0];
}
float xor_butterfly_lane0(std::vector<float> v) {
  for (int off = 16; off > 0; off >>= 1) {
    std::vector<float> w(32);
    for (int l = 0; l < 32; ++l) w[l] = v[l] + v[l ^ off];
    v = w;
  }
  return v[0];
}

class EmuToolbox : public ::testing::Test {
 protected:
  void SetUp() override { backend_ = hmr::make_backend("cuda-emu"); }
  Context& ctx() { return context(*backend_); }
  std::unique_ptr<hmr::Backend> backend_;
};

template <int B>
void check_block_sum(Context& ctx, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1000.0f, 1000.0f);
  for (int n : {1, 7, B - 1, B, B + 1, 3 * B + 5, 1000}) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = u(rng) * (rng() % 2 ? 1e-3f : 1.0f);  // mixed magnitudes: order matters
    auto dx = ctx.to_scratch(x);
    auto out = ctx.scratch<float>(B);
    HMR_LAUNCH(block_sum_kernel<B>, 1, B, 0, ctx.stream(), dx.data(), n, out.data());
    const auto got = out.to_host(ctx.stream());
    const float want = halving_tree(partials(x, B));
    for (int t = 0; t < B; ++t)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(got[t]), std::bit_cast<std::uint32_t>(want))
          << "block " << B << ", n " << n << ", thread " << t << ": " << got[t] << " vs the halving tree's " << want;

    auto mx = ctx.scratch<float>(1);
    HMR_LAUNCH(block_max_kernel<B>, 1, B, 0, ctx.stream(), dx.data(), n, mx.data());
    float want_max = -INFINITY;
    for (float v : x) want_max = std::max(want_max, v);
    EXPECT_EQ(mx.to_host(ctx.stream())[0], want_max) << "block " << B << ", n " << n;
  }
}

TEST_F(EmuToolbox, BlockReductionIsTheHalvingTreeBitForBit) {
  const auto seed = hmr::test::test_seed();
  check_block_sum<32>(ctx(), seed);
  check_block_sum<64>(ctx(), seed + 1);
  check_block_sum<128>(ctx(), seed + 2);
  check_block_sum<256>(ctx(), seed + 3);
  check_block_sum<512>(ctx(), seed + 4);
  check_block_sum<1024>(ctx(), seed + 5);
}

TEST_F(EmuToolbox, WarpReductionIsTheXorButterflyInEveryLane) {
  std::mt19937_64 rng(hmr::test::test_seed());
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int rep = 0; rep < 8; ++rep) {
    std::vector<float> x(32);
    for (auto& v : x) v = u(rng) * static_cast<float>(1 << (rng() % 20));
    auto dx = ctx().to_scratch(x);
    auto out = ctx().scratch<float>(32);
    HMR_LAUNCH(warp_sum_kernel, 1, 32, 0, ctx().stream(), dx.data(), out.data());
    const auto got = out.to_host(ctx().stream());
    const float want = xor_butterfly_lane0(x);
    for (int l = 0; l < 32; ++l)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(got[l]), std::bit_cast<std::uint32_t>(want)) << "lane " << l;
  }
}

TEST_F(EmuToolbox, PoolReusesAScopedBlockOfTheSameClass) {
  DevicePool pool(ctx().stream());
  float* first = nullptr;
  {
    auto a = pool.scratch<float>(1000);
    first = a.data();
    EXPECT_TRUE(cuemu::is_device_pointer(first));
    EXPECT_GE(pool.stats().live_bytes, 1000 * sizeof(float));
  }
  EXPECT_EQ(pool.stats().live_bytes, 0u) << "a temporary leaving scope returns its block";
  EXPECT_EQ(pool.stats().cached_bytes, DevicePool::size_class(1000 * sizeof(float)));
  {
    auto b = pool.scratch<float>(990);  // same size class
    EXPECT_EQ(b.data(), first);
    auto c = pool.scratch<float>(1000);  // the cached block is taken: a new one
    EXPECT_NE(c.data(), first);
  }
  const DevicePool::Stats st = pool.stats();
  EXPECT_EQ(st.mallocs, 2u);
  EXPECT_EQ(st.reuses, 1u);
  pool.release_cached();
  EXPECT_EQ(pool.stats().cached_bytes, 0u);
}

TEST_F(EmuToolbox, PooledBuffersMoveAndReset) {
  DevicePool pool(ctx().stream());
  auto a = pool.scratch<int>(16);
  int* raw = a.data();
  PooledBuffer<int> b(std::move(a));
  EXPECT_EQ(b.data(), raw);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  b.reset();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(pool.stats().live_bytes, 0u);
  EXPECT_EQ(pool.scratch<int>(0).data(), nullptr);
}

TEST_F(EmuToolbox, AReusedBlockIsPoisonedAgain) {
  DevicePool pool(ctx().stream());
  const std::size_t n = 300;
  void* where = nullptr;
  {
    auto a = pool.scratch<float>(n);
    where = a.data();
    a.zero(ctx().stream());
    EXPECT_EQ(a.to_host(ctx().stream())[0], 0.0f);
  }
  auto b = pool.scratch<float>(n);
  ASSERT_EQ(static_cast<void*>(b.data()), where) << "the block was not reused, so this test proves nothing";
  const auto h = b.to_host(ctx().stream());
  for (std::size_t i = 0; i < n; ++i)
    ASSERT_EQ(std::bit_cast<std::uint32_t>(h[i]), 0xFFFFFFFFu) << "element " << i << " kept an old value";
}

TEST_F(EmuToolbox, ContextScratchComesFromItsPool) {
  const auto before = ctx().pool().stats();
  {
    auto t = ctx().to_scratch(std::vector<double>{1.0, 2.0, 3.0});
    EXPECT_EQ(t.to_host(ctx().stream()), (std::vector<double>{1.0, 2.0, 3.0}));
    EXPECT_GT(ctx().pool().stats().live_bytes, before.live_bytes);
  }
  EXPECT_EQ(ctx().pool().stats().live_bytes, before.live_bytes);
}

#if defined(__SANITIZE_ADDRESS__)
TEST_F(EmuToolbox, AddressSanitizerSeesAnOverrunOfAPooledBuffer) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DevicePool pool(ctx().stream());
  auto a = pool.scratch<float>(10);  // class 512 B: the slack past 40 B is poisoned
  float* p = a.data();
  EXPECT_DEATH({ p[10] = 1.0f; }, "use-after-poison");
}
#endif

TEST(EmuCheck, MessagesNameTheExpressionTheFunctionAndTheFile) {
  try {
    HMR_CUDA_CHECK(cudaMemcpy(nullptr, nullptr, 4, cudaMemcpyHostToDevice));
    FAIL() << "no throw";
  } catch (const hmr::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("CUDA error"), std::string::npos) << m;
    EXPECT_NE(m.find("cudaMemcpy(nullptr, nullptr, 4, cudaMemcpyHostToDevice)"), std::string::npos) << m;
    EXPECT_NE(m.find("TestBody"), std::string::npos) << m;  // __func__ of the test body
    EXPECT_NE(m.find("toolbox_test.cpp:"), std::string::npos) << m;
  }
  try {
    HMR_LAUNCHER_ASSERT(1 + 1 == 3, "arithmetic");
    FAIL() << "no throw";
  } catch (const hmr::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("arithmetic (`1 + 1 == 3` failed)"), std::string::npos) << m;
  }
}

}  // namespace
