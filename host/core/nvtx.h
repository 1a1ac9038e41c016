// core/nvtx.h — NVTX ranges so Nsight Systems shows hmr's stages by name. NVTX v3 is header-only
// and costs a branch when no tool is attached; without the CUDA toolkit the ranges vanish.
#pragma once

#if defined(HMR_HAVE_NVTX) && __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define HMR_NVTX_ENABLED 1
#endif

namespace hmr {
class NvtxRange {
 public:
  explicit NvtxRange(const char* name) {
#if defined(HMR_NVTX_ENABLED)
    nvtxRangePushA(name);
#else
    (void)name;
#endif
  }
  ~NvtxRange() {
#if defined(HMR_NVTX_ENABLED)
    nvtxRangePop();
#endif
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};
}  // namespace hmr
