// cuemu.h — a CUDA-on-CPU emulator that executes hmr's kernel sources with GPU semantics.
//
// Design (see ../shared/notes/cuda-on-cpu.md for the measured study behind it):
//   * every CUDA thread of a block is a Boost.Context fcontext fiber; one block runs at a time
//     on a worker OS thread, blocks are handed out in increasing linear blockIdx order to a
//     persistent pool (CUEMU_WORKERS, default min(hardware threads, 8); the launching thread is
//     worker 0). Fibers never migrate, so thread_local index variables and `__shared__`
//     (static thread_local) are per block.
//   * a per-block hub resumes fibers round by round in a selectable order (CUEMU_ORDER =
//     forward|reverse|random, CUEMU_SEED) until each reaches a sync point: __syncthreads*,
//     a warp collective, or a spin hint (atomics, fences, __nanosleep). It releases the block
//     barrier when all live threads wait at the same call site, releases a warp collective when
//     every lane of its mask has arrived, and reports divergence, deadlock and (CUEMU_TIMEOUT)
//     spin-waits that never finish as launch failures naming the kernel.
//   * device allocations are exact size (AddressSanitizer sees overflows) and filled with 0xFF,
//     as is shared memory before each block, so uninitialised reads show up as NaN / -1.
//   * the runtime API is synchronous: streams and events exist but everything completes in
//     order; error codes and launch validation follow CUDA.
// This header is what kernel sources see (through kernels/gpu/compat.h); engine.h maps the files
// that implement it.
#pragma once

#include <math.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <source_location>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- qualifiers ---------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __constant__
#define __managed__
#define __shared__ static thread_local
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#ifndef __restrict__
#define __restrict__ __restrict
#endif

namespace cuemu {

// ---- vector types (every CUDA vector type: CCCL's tuple interface names them all) -------------------
#define CUEMU_VECTOR_TYPES(name, T, align2, align4)                  \
  struct name##1 {                                                   \
    T x;                                                             \
  };                                                                 \
  struct alignas(align2) name##2 {                                   \
    T x, y;                                                          \
  };                                                                 \
  struct name##3 {                                                   \
    T x, y, z;                                                       \
  };                                                                 \
  struct alignas(align4) name##4 {                                   \
    T x, y, z, w;                                                    \
  };                                                                 \
  inline name##1 make_##name##1(T x) { return {x}; }                 \
  inline name##2 make_##name##2(T x, T y) { return {x, y}; }         \
  inline name##3 make_##name##3(T x, T y, T z) { return {x, y, z}; } \
  inline name##4 make_##name##4(T x, T y, T z, T w) { return {x, y, z, w}; }
CUEMU_VECTOR_TYPES(char, signed char, 2, 4)
CUEMU_VECTOR_TYPES(uchar, unsigned char, 2, 4)
CUEMU_VECTOR_TYPES(short, short, 4, 8)
CUEMU_VECTOR_TYPES(ushort, unsigned short, 4, 8)
CUEMU_VECTOR_TYPES(int, int, 8, 16)
CUEMU_VECTOR_TYPES(uint, unsigned int, 8, 16)
CUEMU_VECTOR_TYPES(long, long, 16, 16)
CUEMU_VECTOR_TYPES(ulong, unsigned long, 16, 16)
CUEMU_VECTOR_TYPES(longlong, long long, 16, 16)
CUEMU_VECTOR_TYPES(ulonglong, unsigned long long, 16, 16)
CUEMU_VECTOR_TYPES(float, float, 8, 16)
CUEMU_VECTOR_TYPES(double, double, 16, 16)
#undef CUEMU_VECTOR_TYPES
// CUDA 13's explicitly aligned 4-vectors of 8-byte types.
#define CUEMU_ALIGNED_VECTOR4(name, T) \
  struct alignas(16) name##4_16a {     \
    T x, y, z, w;                      \
  };                                   \
  struct alignas(32) name##4_32a {     \
    T x, y, z, w;                      \
  };
CUEMU_ALIGNED_VECTOR4(long, long)
CUEMU_ALIGNED_VECTOR4(ulong, unsigned long)
CUEMU_ALIGNED_VECTOR4(longlong, long long)
CUEMU_ALIGNED_VECTOR4(ulonglong, unsigned long long)
CUEMU_ALIGNED_VECTOR4(double, double)
#undef CUEMU_ALIGNED_VECTOR4

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return {x, y, z}; }
};

// ---- runtime types (values match CUDA's) -----------------------------------------------------------
enum cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidPitchValue = 12,
  cudaErrorInvalidSymbol = 13,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchTimeout = 702,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorUnknown = 999,
};
using cudaError = cudaError_t;
enum cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
enum cudaFuncAttribute : int {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};
struct CUstream_st;
struct CUevent_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
inline constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
inline constexpr unsigned cudaEventDefault = 0, cudaEventDisableTiming = 2;
inline constexpr unsigned cudaHostAllocDefault = 0;

// Only fields that still exist in CUDA 13's cudaDeviceProp, so code that compiles here compiles
// under nvcc too.
struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  std::size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  std::size_t memPitch;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  std::size_t totalConstMem;
  int major;
  int minor;
  int multiProcessorCount;
  int l2CacheSize;
  int maxThreadsPerMultiProcessor;
  int memoryBusWidth;
  std::size_t sharedMemPerMultiprocessor;
  std::size_t sharedMemPerBlockOptin;
  int concurrentKernels;
  int unifiedAddressing;
  int managedMemory;
  int pciBusID;
  int pciDeviceID;
  int integrated;
};

const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaDeviceReset();
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes);
// The emulated driver and runtime both report CUDA 13.0 (13000, CUDA's encoding 1000 * major +
// 10 * minor), the toolkit the kernels are written for.
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaRuntimeGetVersion(int* version);
// The profiler API (cuda_profiler_api.h): with no profiler attached CUDA returns success and does
// nothing, and so does the emulator; it counts the calls so tests can check that a run marks its
// measured part exactly once.
cudaError_t cudaProfilerStart();
cudaError_t cudaProfilerStop();

cudaError_t cudaMalloc(void** ptr, std::size_t bytes);
cudaError_t cudaMallocHost(void** ptr, std::size_t bytes);
cudaError_t cudaHostAlloc(void** ptr, std::size_t bytes, unsigned flags);
cudaError_t cudaMallocManaged(void** ptr, std::size_t bytes, unsigned flags = 1);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaFreeHost(void* ptr);
template <class T>
cudaError_t cudaMalloc(T** ptr, std::size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
template <class T>
cudaError_t cudaMallocHost(T** ptr, std::size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(ptr), bytes);
}
template <class T>
cudaError_t cudaMallocManaged(T** ptr, std::size_t bytes, unsigned flags = 1) {
  return cudaMallocManaged(reinterpret_cast<void**>(ptr), bytes, flags);
}
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemcpy2D(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                         std::size_t height, cudaMemcpyKind kind);
cudaError_t cudaMemcpy2DAsync(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                              std::size_t height, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, std::size_t bytes, cudaStream_t stream = nullptr);
template <class T>
cudaError_t cudaMemcpyToSymbol(T& symbol, const void* src, std::size_t bytes, std::size_t offset = 0,
                               cudaMemcpyKind kind = cudaMemcpyHostToDevice) {
  if (offset + bytes > sizeof(T)) return cudaErrorInvalidValue;
  (void)kind;
  std::memcpy(reinterpret_cast<char*>(&symbol) + offset, src, bytes);
  return cudaSuccess;
}
template <class T>
cudaError_t cudaMemcpyFromSymbol(void* dst, const T& symbol, std::size_t bytes, std::size_t offset = 0,
                                 cudaMemcpyKind kind = cudaMemcpyDeviceToHost) {
  if (offset + bytes > sizeof(T)) return cudaErrorInvalidValue;
  (void)kind;
  std::memcpy(dst, reinterpret_cast<const char*>(&symbol) + offset, bytes);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

namespace detail {
cudaError_t set_func_attribute(const void* func, cudaFuncAttribute attr, int value);
}
template <class F>
cudaError_t cudaFuncSetAttribute(F* func, cudaFuncAttribute attr, int value) {
  return detail::set_func_attribute(reinterpret_cast<const void*>(func), attr, value);
}

// ---- emulator controls (tests and environment) ------------------------------------------------------
enum class Order { forward, reverse, random };
void set_order(Order order, std::uint64_t seed = 0);  // overrides CUEMU_ORDER / CUEMU_SEED
Order order();
std::uint64_t order_seed();
const char* order_name(Order order);
void set_workers(int n);  // restarts the pool; default from CUEMU_WORKERS
int workers();
void set_timeout(double seconds);       // watchdog for blocks that stop making progress
bool is_device_pointer(const void* p);  // inside a cudaMalloc'd allocation
// The message of the last launch failure (divergent barrier, deadlock, watchdog, bad mask).
const char* last_failure();
// How many times this process launched the kernel with this identifier (the name GPU_LAUNCH was
// given, without namespace or template arguments), failed launches included.
std::uint64_t launch_count(std::string_view kernel);
// How many times this process called cudaProfilerStart / cudaProfilerStop.
std::uint64_t profiler_start_count();
std::uint64_t profiler_stop_count();

// ---- index variables ------------------------------------------------------------------------------
inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
inline constexpr int warpSize = 32;

// ---- launch -----------------------------------------------------------------------------------------
struct LaunchSpec {
  const char* name;
  const void* func;
  dim3 grid, block;
  std::size_t smem;
  cudaStream_t stream;
  void (*thread_main)(void* pack);  // runs one CUDA thread: copies the arguments, calls the kernel
  void* pack;
  int bad_pointer_arg;  // index of a top-level pointer argument that is not device memory, or -1
};
cudaError_t launch_spec(const LaunchSpec& spec);

namespace detail {
bool pointer_ok(const void* p);  // device, pinned, managed or null
template <class Tuple, std::size_t... I>
int first_bad_pointer(const Tuple& t, std::index_sequence<I...>) {
  int bad = -1;
  auto check = [&](auto const& v, int i) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (std::is_pointer_v<V> && !std::is_function_v<std::remove_pointer_t<V>>) {
      if (bad < 0 && !pointer_ok(static_cast<const void*>(v))) bad = i;
    }
  };
  (check(std::get<I>(t), static_cast<int>(I)), ...);
  return bad;
}
}  // namespace detail

// Same spelling as the nvcc build's gpu::launch: each emulated CUDA thread receives its own
// by-value copy of the arguments, converted as <<<>>> converts them.
template <class... P, class... A>
cudaError_t launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
                   A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
  struct Pack {
    void (*kernel)(P...);
    std::tuple<std::decay_t<P>...> args;
  };
  Pack pack{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
  LaunchSpec spec{name,
                  reinterpret_cast<const void*>(kernel),
                  grid,
                  block,
                  smem,
                  stream,
                  [](void* p) {
                    auto* pk = static_cast<Pack*>(p);
                    std::tuple<std::decay_t<P>...> mine = pk->args;
                    std::apply(pk->kernel, mine);
                  },
                  &pack,
                  detail::first_bad_pointer(pack.args, std::index_sequence_for<P...>{})};
  return launch_spec(spec);
}

// ---- shared memory ---------------------------------------------------------------------------------
void* dynamic_shared();                                  // this launch's dynamic shared memory
void* block_shared(const void* tag, std::size_t bytes);  // GPU_SHARED: one poisoned object per block

// ---- synchronisation ------------------------------------------------------------------------------
void __syncthreads(std::source_location where = std::source_location::current());
int __syncthreads_count(int predicate, std::source_location where = std::source_location::current());
int __syncthreads_and(int predicate, std::source_location where = std::source_location::current());
int __syncthreads_or(int predicate, std::source_location where = std::source_location::current());
void __syncwarp(unsigned mask = 0xffffffffu);
unsigned __activemask();
void __threadfence();
void __threadfence_block();
void __threadfence_system();
void __nanosleep(unsigned ns);

namespace detail {
enum class WarpOp : int {
  sync,
  shfl_idx,
  shfl_up,
  shfl_down,
  shfl_xor,
  ballot,
  any,
  all,
  match_any,
  reduce_add,
  reduce_min,
  reduce_max,
  reduce_and,
  reduce_or,
  reduce_xor
};
std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width);
void spin_hint();

template <class T>
std::uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>);
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(std::uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
template <class T>
T shuffle(WarpOp op, unsigned mask, T v, int arg, int width) {
  if constexpr (sizeof(T) <= 8) {
    return from_bits<T>(warp_collective(op, mask, to_bits(v), arg, width));
  } else {
    static_assert(sizeof(T) == 16, "shuffles move types of at most 16 bytes");
    std::uint64_t half[2];
    std::memcpy(half, &v, 16);
    half[0] = warp_collective(op, mask, half[0], arg, width);
    half[1] = warp_collective(op, mask, half[1], arg, width);
    T r;
    std::memcpy(&r, half, 16);
    return r;
  }
}
}  // namespace detail

template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = warpSize) {
  return detail::shuffle(detail::WarpOp::shfl_idx, mask, v, src_lane, width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  return detail::shuffle(detail::WarpOp::shfl_up, mask, v, static_cast<int>(delta), width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  return detail::shuffle(detail::WarpOp::shfl_down, mask, v, static_cast<int>(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
  return detail::shuffle(detail::WarpOp::shfl_xor, mask, v, lane_mask, width);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return static_cast<unsigned>(detail::warp_collective(detail::WarpOp::ballot, mask, pred != 0, 0, 32));
}
inline int __any_sync(unsigned mask, int pred) {
  return static_cast<int>(detail::warp_collective(detail::WarpOp::any, mask, pred != 0, 0, 32));
}
inline int __all_sync(unsigned mask, int pred) {
  return static_cast<int>(detail::warp_collective(detail::WarpOp::all, mask, pred != 0, 0, 32));
}
template <class T>
unsigned __match_any_sync(unsigned mask, T value) {
  return static_cast<unsigned>(detail::warp_collective(detail::WarpOp::match_any, mask, detail::to_bits(value), 0, 32));
}
// __reduce_<op>_sync: every lane of the mask gets the op over the mask's 32-bit values.
#define CUEMU_WARP_REDUCE(op)                                                                           \
  inline unsigned __reduce_##op##_sync(unsigned mask, unsigned v) {                                     \
    return static_cast<unsigned>(detail::warp_collective(detail::WarpOp::reduce_##op, mask, v, 0, 32)); \
  }
CUEMU_WARP_REDUCE(add)
CUEMU_WARP_REDUCE(min)
CUEMU_WARP_REDUCE(max)
CUEMU_WARP_REDUCE(and)
CUEMU_WARP_REDUCE(or)
CUEMU_WARP_REDUCE(xor)
#undef CUEMU_WARP_REDUCE

// ---- atomics: real atomics (blocks run on several OS threads) and spin hints --------------------
// atomicAdd/Sub/Exch: one std::atomic_ref read-modify-write, then the spin hint.
#define CUEMU_ATOMIC_RMW(name, member)        \
  template <class T>                          \
  T name(T* p, T v) {                         \
    T old = std::atomic_ref<T>(*p).member(v); \
    detail::spin_hint();                      \
    return old;                               \
  }
CUEMU_ATOMIC_RMW(atomicAdd, fetch_add)
CUEMU_ATOMIC_RMW(atomicSub, fetch_sub)
CUEMU_ATOMIC_RMW(atomicExch, exchange)
#undef CUEMU_ATOMIC_RMW
template <class T>
T atomicCAS(T* p, T expected, T desired) {
  std::atomic_ref<T>(*p).compare_exchange_strong(expected, desired);
  detail::spin_hint();
  return expected;  // the old value, as on the GPU
}
template <class T, class F>
T atomic_update(T* p, F f) {
  std::atomic_ref<T> r(*p);
  T old = r.load();
  while (!r.compare_exchange_weak(old, f(old))) {
  }
  detail::spin_hint();
  return old;
}
template <class T>
T atomicMin(T* p, T v) {
  return atomic_update(p, [v](T o) { return v < o ? v : o; });
}
template <class T>
T atomicMax(T* p, T v) {
  return atomic_update(p, [v](T o) { return v > o ? v : o; });
}
template <class T>
T atomicAnd(T* p, T v) {
  return atomic_update(p, [v](T o) { return static_cast<T>(o & v); });
}
template <class T>
T atomicOr(T* p, T v) {
  return atomic_update(p, [v](T o) { return static_cast<T>(o | v); });
}
template <class T>
T atomicXor(T* p, T v) {
  return atomic_update(p, [v](T o) { return static_cast<T>(o ^ v); });
}
inline unsigned atomicInc(unsigned* p, unsigned limit) {
  return atomic_update(p, [limit](unsigned o) { return o >= limit ? 0u : o + 1; });
}
inline unsigned atomicDec(unsigned* p, unsigned limit) {
  return atomic_update(p, [limit](unsigned o) { return (o == 0 || o > limit) ? limit : o - 1; });
}

// ---- math intrinsics ---------------------------------------------------------------------------------
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) {
  *s = std::sin(x);
  *c = std::cos(x);
}
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(std::floor(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(std::ceil(x)); }
inline unsigned __float2uint_rn(float x) { return static_cast<unsigned>(std::nearbyint(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __int_as_float(int x) { return detail::from_bits<float>(static_cast<std::uint32_t>(x)); }
inline int __float_as_int(float x) { return static_cast<int>(static_cast<std::uint32_t>(detail::to_bits(x))); }
inline float __uint_as_float(unsigned x) { return detail::from_bits<float>(x); }
inline unsigned __float_as_uint(float x) { return static_cast<std::uint32_t>(detail::to_bits(x)); }
inline double __longlong_as_double(long long x) { return detail::from_bits<double>(static_cast<std::uint64_t>(x)); }
inline long long __double_as_longlong(double x) { return static_cast<long long>(detail::to_bits(x)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
  return (x >> 16) | (x << 16);
}
inline unsigned long long __brevll(unsigned long long x) {
  return (static_cast<unsigned long long>(__brev(static_cast<unsigned>(x))) << 32) |
         __brev(static_cast<unsigned>(x >> 32));
}
template <class T>
T __ldg(const T* p) {
  return *p;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

}  // namespace cuemu

// Kernel sources use the CUDA names unqualified, as under nvcc.
using namespace cuemu;
