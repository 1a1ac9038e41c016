// engine.h — what the emulator's own files share (not for kernels or host code: they include
// cuemu.h). One worker OS thread runs one block at a time; the block's CUDA threads are fibers
// (ThreadSlot: a Boost.Context fcontext on an mmap'd stack with a guard page) that a hub on the
// worker's own stack resumes round by round until each reaches a sync point.
//   fiber.cpp    fiber stacks, switching hub <-> fiber, the stack-overflow message
//   hub.cpp      one block: resume order, barrier and warp-collective release, deadlock, watchdog
//   launch.cpp   launch validation, the worker pool, launch counts/log, the emulator's controls
//   device.cpp   what kernels call: __syncthreads*, warp collectives, spin hints, shared memory
//   runtime.cpp  the CUDA runtime API: errors, device properties, allocations, copies, streams
#pragma once

#include <atomic>
#include <boost/context/detail/fcontext.hpp>
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cuemu.h"

#if defined(__SANITIZE_ADDRESS__)
#define CUEMU_ASAN 1
#endif

namespace cuemu::engine {

namespace bctx = boost::context::detail;

// ---- configuration (environment, overridden by the controls in cuemu.h) -------------------------
struct Config {
  std::atomic<int> order{static_cast<int>(Order::forward)};
  std::atomic<std::uint64_t> seed{0};
  std::atomic<int> spin_limit{16};  // spin hints before a spinning fiber yields to the hub
  std::atomic<double> timeout_s{60.0};
  std::size_t stack_bytes = 64 * 1024;
  Config();
};
Config& config();

// Remembers a failing status for cudaGetLastError / cudaPeekAtLastError; returns it.
cudaError_t record(cudaError_t e);

// ---- one block's threads ---------------------------------------------------------------------------
enum class State : std::uint8_t { runnable, at_barrier, at_warp, exited, aborted };

struct ThreadSlot {
  bctx::fcontext_t ctx = nullptr;
  char* stack = nullptr;  // lowest usable address (above the guard page)
  State state = State::runnable;
  uint3 idx{};
  int spins = 0;
  bool spun = false;
  // barrier
  std::source_location site;
  int predicate = 0;
  int barrier_result = 0;
  // warp collective
  detail::WarpOp op = detail::WarpOp::sync;
  unsigned mask = 0;
  std::uint64_t value = 0;
  int arg = 0;
  int width = 32;
  std::uint64_t result = 0;
};

struct Failure {
  bool failed = false;
  cudaError_t code = cudaSuccess;
  std::string message;
};

// Per worker OS thread: the fibers of the block it runs and the launch it works on.
struct Worker {
  std::vector<ThreadSlot> slots;
  std::vector<std::pair<void*, std::size_t>> stacks;  // mmap'd regions
  bctx::fcontext_t hub = nullptr;
  ThreadSlot* current = nullptr;
  const LaunchSpec* launch = nullptr;
  void* dyn_smem = nullptr;
  std::size_t dyn_smem_bytes = 0;
  std::unordered_map<const void*, void*> block_objects;
  Failure* failure = nullptr;
  int nthreads = 0;
  // Threads of the current block in each waiting state; the hub scans only when they can release.
  int n_barrier = 0, n_warp = 0, n_exited = 0;
#if defined(CUEMU_ASAN)
  const void* hub_stack_bottom = nullptr;
  std::size_t hub_stack_size = 0;
  void* fake_stack = nullptr;
#endif

  ~Worker();
  void ensure_slots(int n);  // at least n fibers with stacks
};

// The worker of this OS thread (set by this_worker(); null on threads that never ran a block).
extern constinit thread_local Worker* t_worker;
Worker& this_worker();

// ---- fibers (fiber.cpp) -------------------------------------------------------------------------------
void prepare_fiber(ThreadSlot& s);  // a fresh context at the top of the slot's stack
void resume(Worker& w, int t);      // hub: run thread t until its next sync point or exit
void yield_to_hub();                // fiber: give control back until the hub resumes us
[[noreturn]] void abort_fiber();    // fiber: stop for good after a misuse was recorded
ThreadSlot* current_slot();         // the calling fiber; aborts outside a kernel
void install_segv_handler();        // per thread: name a fiber stack overflow

// ---- the hub (hub.cpp) ----------------------------------------------------------------------------------
// Records the first failure of the worker's block, with the kernel and block named.
void fail(Worker& w, cudaError_t code, const std::string& what);
void run_block(Worker& w, const LaunchSpec& L, unsigned linear);

}  // namespace cuemu::engine
