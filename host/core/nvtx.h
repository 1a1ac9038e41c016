// core/nvtx.h — NVTX ranges in hmr's own domain ("hmr"), so Nsight Systems shows each experiment,
// stage and training epoch by name on a row of its own, and `ncu --nvtx --nvtx-include "hmr@..."`
// can pick kernels by the range they ran in. NVTX v3 is header-only and costs a branch when no
// tool is attached; without the CUDA toolkit's headers the ranges compile to nothing.
#pragma once

#include <string>

#if defined(HMR_HAVE_NVTX) && __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define HMR_NVTX_ENABLED 1
#endif

namespace hmr {
// The two builds of NvtxRange live in different inline namespaces, so a program that mixes
// translation units with and without NVTX (a test does) links two distinct classes instead of
// breaking the one-definition rule.
#if defined(HMR_NVTX_ENABLED)
inline namespace nvtx_on {
// The domain is created once per process on first use (NVTX's own registration is thread-safe).
inline nvtxDomainHandle_t nvtx_domain() {
  static const nvtxDomainHandle_t domain = nvtxDomainCreateA("hmr");
  return domain;
}
constexpr bool kNvtxCompiled = true;

class NvtxRange {
 public:
  explicit NvtxRange(const char* name) {
    nvtxEventAttributes_t a{};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = name;  // NVTX copies the text: a temporary name is fine
    nvtxDomainRangePushEx(nvtx_domain(), &a);
  }
  explicit NvtxRange(const std::string& name) : NvtxRange(name.c_str()) {}
  ~NvtxRange() { nvtxDomainRangePop(nvtx_domain()); }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};
}  // namespace nvtx_on
#else
inline namespace nvtx_off {
constexpr bool kNvtxCompiled = false;

class NvtxRange {
 public:
  explicit NvtxRange(const char*) {}
  explicit NvtxRange(const std::string&) {}
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};
}  // namespace nvtx_off
#endif
}  // namespace hmr
