// runtime.cpp — the CUDA runtime API of the emulated device (one device, sm_90 limits). The
// runtime is synchronous: streams and events exist, but every call completes in order. Device
// allocations are exact size (so AddressSanitizer sees a write one past the end) and filled with
// 0xFF (uninitialised floats read as NaN, ints as -1); a registry of them lets copies check their
// direction and launches reject host pointers. Error codes, names and texts are CUDA's.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "engine.h"

namespace cuemu::engine {
namespace {
std::atomic<int> g_last_error{cudaSuccess};
}  // namespace

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) g_last_error.store(e);
  return e;
}

namespace {

// ---- allocation registry (exact-size allocations, direction checks) -------------------------------
enum class MemKind { device, pinned, managed };
struct Allocation {
  std::size_t bytes;
  MemKind kind;
};
std::mutex g_alloc_mutex;
std::map<std::uintptr_t, Allocation> g_allocs;

const Allocation* find_alloc(const void* p, std::uintptr_t* base = nullptr) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return nullptr;
  --it;
  if (a < it->first + std::max<std::size_t>(it->second.bytes, 1)) {
    if (base) *base = it->first;
    return &it->second;
  }
  return nullptr;
}

cudaError_t allocate(void** ptr, std::size_t bytes, MemKind kind) {
  if (!ptr) return record(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  void* p = nullptr;
  // Exact size (no rounding) so that AddressSanitizer reports a write one past the end.
  if (posix_memalign(&p, 256, bytes) != 0) return record(cudaErrorMemoryAllocation);
  std::memset(p, 0xFF, bytes);  // poison: uninitialised floats read as NaN, ints as -1
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  g_allocs[reinterpret_cast<std::uintptr_t>(p)] = {bytes, kind};
  *ptr = p;
  return cudaSuccess;
}

cudaError_t release(void* p, bool host) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  auto it = g_allocs.find(reinterpret_cast<std::uintptr_t>(p));
  if (it == g_allocs.end() || (it->second.kind == MemKind::pinned) != host) {
    std::fprintf(stderr, "cuemu: %s of a pointer that %s did not return\n", host ? "cudaFreeHost" : "cudaFree",
                 host ? "cudaMallocHost" : "cudaMalloc");
    return record(host ? cudaErrorInvalidValue : cudaErrorInvalidDevicePointer);
  }
  g_allocs.erase(it);
  std::free(p);
  return cudaSuccess;
}

bool is_device_mem(const void* p) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  const Allocation* a = find_alloc(p);
  return a && a->kind != MemKind::pinned;
}

cudaError_t check_copy(void* dst, const void* src, cudaMemcpyKind kind) {
  const bool dd = is_device_mem(dst), sd = is_device_mem(src);
  bool ok = true;
  switch (kind) {
    case cudaMemcpyHostToDevice:
      ok = dd && !sd;
      break;
    case cudaMemcpyDeviceToHost:
      ok = !dd && sd;
      break;
    case cudaMemcpyDeviceToDevice:
      ok = dd && sd;
      break;
    case cudaMemcpyHostToHost:
      ok = !dd && !sd;
      break;
    case cudaMemcpyDefault:
      ok = true;
      break;
    default:
      return record(cudaErrorInvalidMemcpyDirection);
  }
  if (!ok) {
    std::fprintf(stderr, "cuemu: cudaMemcpy direction %d does not match the pointers (dst %s, src %s)\n",
                 static_cast<int>(kind), dd ? "device" : "host", sd ? "device" : "host");
    return record(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

// CUDA's name and message of each status the emulator returns; text null: the message is the name.
struct ErrorText {
  cudaError_t code;
  const char* name;
  const char* text;
};
#define CUEMU_ERROR(code, text) \
  { code, #code, text }
constexpr ErrorText kErrors[] = {
    CUEMU_ERROR(cudaSuccess, "no error"),
    CUEMU_ERROR(cudaErrorInvalidValue, "invalid argument"),
    CUEMU_ERROR(cudaErrorMemoryAllocation, "out of memory"),
    CUEMU_ERROR(cudaErrorInitializationError, nullptr),
    CUEMU_ERROR(cudaErrorInvalidConfiguration, "invalid configuration argument"),
    CUEMU_ERROR(cudaErrorInvalidPitchValue, nullptr),
    CUEMU_ERROR(cudaErrorInvalidSymbol, nullptr),
    CUEMU_ERROR(cudaErrorInvalidDevicePointer, "invalid device pointer"),
    CUEMU_ERROR(cudaErrorInvalidMemcpyDirection, "invalid copy direction for memcpy"),
    CUEMU_ERROR(cudaErrorNoDevice, "no CUDA-capable device is detected"),
    CUEMU_ERROR(cudaErrorInvalidDevice, nullptr),
    CUEMU_ERROR(cudaErrorInvalidResourceHandle, nullptr),
    CUEMU_ERROR(cudaErrorNotReady, nullptr),
    CUEMU_ERROR(cudaErrorIllegalAddress, nullptr),
    CUEMU_ERROR(cudaErrorLaunchOutOfResources, nullptr),
    CUEMU_ERROR(cudaErrorLaunchTimeout, "the launch timed out and was terminated"),
    CUEMU_ERROR(cudaErrorLaunchFailure, "unspecified launch failure"),
    CUEMU_ERROR(cudaErrorNotSupported, nullptr),
};
#undef CUEMU_ERROR
constexpr ErrorText kUnknown{cudaErrorUnknown, "cudaErrorUnknown", nullptr};

const ErrorText& error_text(cudaError_t e) {
  for (const ErrorText& t : kErrors)
    if (t.code == e) return t;
  return kUnknown;
}

}  // namespace
}  // namespace cuemu::engine

namespace cuemu {
using namespace engine;

bool is_device_pointer(const void* p) { return is_device_mem(p); }

bool detail::pointer_ok(const void* p) {
  if (!p) return true;
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  return find_alloc(p) != nullptr;
}

// ---- errors and the device ------------------------------------------------------------------------------
const char* cudaGetErrorName(cudaError_t e) { return error_text(e).name; }
const char* cudaGetErrorString(cudaError_t e) {
  const ErrorText& t = error_text(e);
  return t.text ? t.text : t.name;
}
cudaError_t cudaGetLastError() { return static_cast<cudaError_t>(g_last_error.exchange(cudaSuccess)); }
cudaError_t cudaPeekAtLastError() { return static_cast<cudaError_t>(g_last_error.load()); }
cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : record(cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0 || !p) return record(cudaErrorInvalidDevice);
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "cuemu (CUDA emulated on %d CPU threads, sm_90 limits)", workers());
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  p->totalGlobalMem = static_cast<std::size_t>(pages) * static_cast<std::size_t>(page);
  p->sharedMemPerBlock = 48 * 1024;
  p->sharedMemPerBlockOptin = 227 * 1024;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->memPitch = 2147483647;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->totalConstMem = 65536;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = workers();
  p->l2CacheSize = 50 * 1024 * 1024;
  p->maxThreadsPerMultiProcessor = 2048;
  p->concurrentKernels = 1;
  p->unifiedAddressing = 1;
  p->managedMemory = 1;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
cudaError_t cudaDeviceReset() { return cudaSuccess; }
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  const long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  *total_bytes = static_cast<std::size_t>(pages) * static_cast<std::size_t>(page);
  *free_bytes = static_cast<std::size_t>(avail) * static_cast<std::size_t>(page);
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) {
  if (!version) return record(cudaErrorInvalidValue);
  *version = 13000;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) {
  if (!version) return record(cudaErrorInvalidValue);
  *version = 13000;
  return cudaSuccess;
}
namespace {
std::atomic<std::uint64_t> g_profiler_starts{0}, g_profiler_stops{0};
}  // namespace
cudaError_t cudaProfilerStart() {
  g_profiler_starts.fetch_add(1);
  return cudaSuccess;
}
cudaError_t cudaProfilerStop() {
  g_profiler_stops.fetch_add(1);
  return cudaSuccess;
}
std::uint64_t profiler_start_count() { return g_profiler_starts.load(); }
std::uint64_t profiler_stop_count() { return g_profiler_stops.load(); }
cudaError_t cudaMalloc(void** ptr, std::size_t bytes) { return allocate(ptr, bytes, MemKind::device); }
cudaError_t cudaMallocHost(void** ptr, std::size_t bytes) { return allocate(ptr, bytes, MemKind::pinned); }
cudaError_t cudaHostAlloc(void** ptr, std::size_t bytes, unsigned) { return allocate(ptr, bytes, MemKind::pinned); }
cudaError_t cudaMallocManaged(void** ptr, std::size_t bytes, unsigned) {
  return allocate(ptr, bytes, MemKind::managed);
}
cudaError_t cudaFree(void* p) { return release(p, false); }
cudaError_t cudaFreeHost(void* p) { return release(p, true); }
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (!dst || !src) return record(cudaErrorInvalidValue);
  if (cudaError_t e = check_copy(dst, src, kind); e != cudaSuccess) return e;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemcpy2D(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                         std::size_t height, cudaMemcpyKind kind) {
  if (width > dpitch || width > spitch) return record(cudaErrorInvalidPitchValue);
  if (height == 0 || width == 0) return cudaSuccess;
  if (cudaError_t e = check_copy(dst, src, kind); e != cudaSuccess) return e;
  for (std::size_t r = 0; r < height; ++r)
    std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  return cudaSuccess;
}
cudaError_t cudaMemcpy2DAsync(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                              std::size_t height, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy2D(dst, dpitch, src, spitch, width, height, kind);
}
cudaError_t cudaMemset(void* p, int value, std::size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (!is_device_mem(p)) return record(cudaErrorInvalidValue);
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t) { return cudaMemset(p, value, bytes); }

struct CUstream_st {
  unsigned flags;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point t;
  bool recorded = false;
};
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  *s = new CUstream_st{flags};
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, 0); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = new CUevent_st{};
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  if (!e) return record(cudaErrorInvalidResourceHandle);
  e->t = std::chrono::steady_clock::now();
  e->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) { return e ? cudaSuccess : record(cudaErrorInvalidResourceHandle); }
cudaError_t cudaEventQuery(cudaEvent_t e) { return e ? cudaSuccess : record(cudaErrorInvalidResourceHandle); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (!a || !b || !a->recorded || !b->recorded) return record(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
  return cudaSuccess;
}

}  // namespace cuemu
