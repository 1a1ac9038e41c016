// CUDA and Nsight support that can be checked without a GPU: NVTX ranges in the "hmr" domain
// compile and nest with and without the NVTX headers; --profile-range calls cudaProfilerStart and
// cudaProfilerStop exactly once on the emulated cuda backend (its counters) and not at all on cpu;
// `hmr info` reports the driver, runtime and each device, or says clearly why there is none.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/nvtx.h"
#include "cuda/select.h"
#include "cuemu.h"
#include "io/npy.h"
#include "support/compare.h"
#include "support/run.h"

namespace hmr::test {
bool nvtx_off_tu_compiled_nvtx();
}

namespace {

TEST(Nvtx, DomainRangesCompileInBothBuildsAndNest) {
  {
    hmr::NvtxRange experiment("easy");
    hmr::NvtxRange stage(std::string("train_vae"));
    for (int e = 0; e < 3; ++e) hmr::NvtxRange epoch("vae/epoch");
  }
  EXPECT_FALSE(hmr::test::nvtx_off_tu_compiled_nvtx()) << "the TU without NVTX headers must get the no-op range";
#if defined(HMR_HAVE_NVTX)
  EXPECT_TRUE(hmr::kNvtxCompiled) << "the toolkit's NVTX headers were found at configure time but not used";
  EXPECT_EQ(hmr::nvtx_domain(), hmr::nvtx_domain()) << "one domain per process";
#else
  EXPECT_FALSE(hmr::kNvtxCompiled);
#endif
}

TEST(ProfileRange, StartsAndStopsTheProfilerOnceOnTheEmulatedCudaBackend) {
  const auto b = hmr::make_backend("cuda-emu");
  const auto starts = cuemu::profiler_start_count(), stops = cuemu::profiler_stop_count();
  {
    hmr::ProfileRange range(*b);
    EXPECT_EQ(cuemu::profiler_start_count(), starts + 1);
    EXPECT_EQ(cuemu::profiler_stop_count(), stops) << "stopped before the measured part ended";
  }
  EXPECT_EQ(cuemu::profiler_start_count(), starts + 1);
  EXPECT_EQ(cuemu::profiler_stop_count(), stops + 1);
}

TEST(ProfileRange, IsANoOpOnCpu) {
  const auto b = hmr::make_backend("cpu");
  const auto starts = cuemu::profiler_start_count(), stops = cuemu::profiler_stop_count();
  { hmr::ProfileRange range(*b); }
  EXPECT_EQ(cuemu::profiler_start_count(), starts);
  EXPECT_EQ(cuemu::profiler_stop_count(), stops);
}

TEST(EmuRuntime, ReportsCuda13DriverAndRuntime) {
  int driver = 0, runtime = 0;
  ASSERT_EQ(cudaDriverGetVersion(&driver), cudaSuccess);
  ASSERT_EQ(cudaRuntimeGetVersion(&runtime), cudaSuccess);
  EXPECT_EQ(driver, 13000);
  EXPECT_EQ(runtime, 13000);
  EXPECT_EQ(cudaDriverGetVersion(nullptr), cudaErrorInvalidValue);
  (void)cudaGetLastError();
}

#if defined(HMR_HAVE_GPU)
bool have_gpu() {
  for (const auto& p : hmr::probe_backends())
    if (p.name == "cuda" && p.usable) return true;
  return false;
}
#endif

TEST(E2eInfo, PrintsDriverRuntimeAndEachDeviceOrWhyNone) {
  const auto r = hmr::test::run_hmr("info");
  ASSERT_EQ(r.code, 0) << r.output;
  // The emulator always answers: its versions and its one device with compute capability and memory.
  EXPECT_NE(r.output.find("cuda-emu:\n  driver 13.0 emulated"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("runtime 13.0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  device 0: cuemu"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("compute capability 9.0, "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" GiB, "), std::string::npos) << r.output;
  const auto at = r.output.find("\ncuda:\n");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string gpu = r.output.substr(at, r.output.find("cuda-emu:") - at);
#if defined(HMR_HAVE_GPU)
  EXPECT_NE(gpu.find("runtime CUDA "), std::string::npos) << gpu;
  if (have_gpu())
    EXPECT_NE(gpu.find("compute capability"), std::string::npos) << gpu;
  else
    EXPECT_NE(gpu.find("no device answers"), std::string::npos) << gpu;
#else
  EXPECT_NE(gpu.find("not compiled: this build found no CUDA compiler (nvcc)"), std::string::npos) << gpu;
#endif
}

// A tiny input a subcommand can cluster in milliseconds.
std::string tiny_points() {
  const auto dir = std::filesystem::path(hmr::test::binary_dir()) / "profile-range-test";
  std::filesystem::create_directories(dir);
  hmr::Matrix x(6, 2);
  for (int i = 0; i < 6; ++i) {
    x(i, 0) = static_cast<float>(i < 3 ? i : 10 + i);
    x(i, 1) = static_cast<float>(i % 2);
  }
  const auto p = (dir / "x.npy").string();
  hmr::io::write_npy(p, x);
  return p;
}

TEST(E2eProfileRange, FlagMarksTheRunOnCudaEmuAndIsANotedNoOpOnCpu) {
  const std::string x = tiny_points();
  const std::string out = (std::filesystem::path(x).parent_path() / "labels.npy").string();
  const auto emu =
      hmr::test::run_hmr("--device cuda-emu --profile-range -v kmeans --input " + x + " --k 2 --out " + out);
  ASSERT_EQ(emu.code, 0) << emu.output;
  EXPECT_NE(emu.output.find("--profile-range: cudaProfilerStart on cuda-emu"), std::string::npos) << emu.output;
  const auto cpu = hmr::test::run_hmr("--device cpu --profile-range kmeans --input " + x + " --k 2 --out " + out);
  ASSERT_EQ(cpu.code, 0) << cpu.output;
  EXPECT_NE(cpu.output.find("--profile-range: the cpu backend has no CUDA profiler"), std::string::npos) << cpu.output;
  const auto none = hmr::test::run_hmr("--device cpu kmeans --input " + x + " --k 2 --out " + out);
  EXPECT_EQ(none.output.find("--profile-range"), std::string::npos) << none.output;
  // A flag takes no value: a typo is one clear line and exit 2.
  const auto bad = hmr::test::run_hmr("--profile-range=maybe info");
  EXPECT_EQ(bad.code, 2) << bad.output;
}

}  // namespace
