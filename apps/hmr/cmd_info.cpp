// hmr info — version, build options, compiled backends, the CUDA driver and runtime versions and each
// device's compute capability and memory (or why there is none).
#include <cstdio>

#include "cli.h"
#include "core/backend.h"
#include "cuda/select.h"

namespace {

void setup(CLI::App& sub, hmr::app::Common& common) {
  sub.callback([&common] {
    std::printf("hmr %s (%s build)\n", HMR_VERSION, HMR_BUILD_TYPE);
#if defined(HMR_HAVE_GPU)
    const char* gpu = "yes (nvcc)";
#else
    const char* gpu = "no (nvcc not found at build time)";
#endif
    std::printf("build: C++20, OpenMP %d threads, CUDA backend compiled: %s, emulator: yes\n", hmr::cpu_threads(), gpu);
    std::printf("backends:\n");
    for (const auto& p : hmr::probe_backends())
      std::printf("  %-9s %-12s %s\n", p.name.c_str(),
                  !p.compiled ? "not built" : (p.usable ? "available" : "unavailable"), p.detail.c_str());
    std::fflush(stdout);
    // What the CUDA driver and runtime say, per build: a user reporting a problem pastes this.
    for (const char* build : {"cuda", "cuda-emu"}) {
      std::printf("%s:\n", build);
      for (const auto& line : hmr::describe_cuda_build(build)) std::printf("  %s\n", line.c_str());
    }
    std::fflush(stdout);
    std::string why;
    auto b = hmr::make_backend(common.device, &why);  // --device cuda without a device: exit 2
    std::printf("--device %s selects: %s\n", common.device.c_str(), why.c_str());
  });
}

HMR_COMMAND("info", "print version, build options, backends and device", setup);

}  // namespace
