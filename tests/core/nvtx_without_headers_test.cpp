// A translation unit that builds core/nvtx.h as a build without the CUDA toolkit does (no NVTX
// headers), linked into the same test as the NVTX build: both RAII ranges must compile, run and
// coexist (they live in different inline namespaces, so there is no one-definition clash).
#undef HMR_HAVE_NVTX
#include "core/nvtx.h"

namespace hmr::test {
bool nvtx_off_tu_compiled_nvtx();
bool nvtx_off_tu_compiled_nvtx() {
  NvtxRange outer("off/outer");
  NvtxRange inner(std::string("off/inner"));
  return kNvtxCompiled;
}
}  // namespace hmr::test
