// gpu/segments.cuh — which clip of a batch a global index falls in, for kernels over clips laid
// back to back (hpss.cu, tempo.cu): a binary search of the clips' start offsets.
#pragma once

#include <cstdint>

#include "gpu/compat.h"

namespace gpu {

// The last c with starts[c] <= g (starts ascending, starts[0] <= g).
__device__ __forceinline__ int segment_of(const std::int64_t* starts, int n, std::int64_t g) {
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (starts[mid] <= g)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

}  // namespace gpu
