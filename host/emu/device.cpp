// device.cpp — what kernel code calls on an emulated CUDA thread: shared memory (dynamic, and
// GPU_SHARED's exact-size, 0xFF-poisoned object per block), __syncthreads and its _count/_and/_or
// votes, warp collectives, and the spin hints (atomics, fences, __nanosleep) that let a spinning
// fiber yield so the thread it waits for can run. Each primitive parks the fiber and lets the hub
// (hub.cpp) decide when every participant has arrived.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine.h"

namespace cuemu {
using namespace engine;

void* dynamic_shared() {
  Worker* w = t_worker;
  return w ? w->dyn_smem : nullptr;
}

void* block_shared(const void* tag, std::size_t bytes) {
  Worker& w = *t_worker;
  auto it = w.block_objects.find(tag);
  if (it != w.block_objects.end()) return it->second;
  void* p = std::malloc(bytes);  // exact size: AddressSanitizer sees an overflow of the array
  std::memset(p, 0xFF, bytes);
  w.block_objects.emplace(tag, p);
  return p;
}

namespace {
// Parks the calling fiber in `state` until the hub releases it; a fiber the hub aborted (the
// launch failed) stops here for good.
void park(ThreadSlot* s, State state, int& waiting) {
  s->state = state;
  ++waiting;
  s->spins = 0;
  yield_to_hub();
  if (s->state != State::runnable) abort_fiber();
}

int barrier(int predicate, const std::source_location& site) {
  ThreadSlot* s = current_slot();
  s->site = site;
  s->predicate = predicate;
  park(s, State::at_barrier, t_worker->n_barrier);
  return s->barrier_result;
}

int live_threads() {
  Worker& w = *t_worker;
  int live = 0;
  for (int t = 0; t < w.nthreads; ++t) live += w.slots[t].state != State::exited;
  return live;
}
}  // namespace

void __syncthreads(std::source_location where) { barrier(0, where); }
int __syncthreads_count(int p, std::source_location where) { return barrier(p, where); }
int __syncthreads_and(int p, std::source_location where) {
  const int count = barrier(p, where);
  return count == live_threads();
}
int __syncthreads_or(int p, std::source_location where) { return barrier(p, where) != 0; }

namespace detail {
std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width) {
  ThreadSlot* s = current_slot();
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0) {
    fail(*t_worker, cudaErrorLaunchFailure,
         "warp shuffle width " + std::to_string(width) + " is not a power of two <= 32");
    abort_fiber();
  }
  s->op = op;
  s->mask = mask;
  s->value = value;
  s->arg = arg;
  s->width = width;
  park(s, State::at_warp, t_worker->n_warp);
  return s->result;
}

void spin_hint() {
  Worker* w = t_worker;
  if (!w || !w->current) return;  // host code using the same helpers
  ThreadSlot* s = w->current;
  if (++s->spins >= config().spin_limit.load()) {
    s->spins = 0;
    s->spun = true;
    yield_to_hub();
  }
}
}  // namespace detail

void __syncwarp(unsigned mask) { detail::warp_collective(detail::WarpOp::sync, mask, 0, 0, 32); }

unsigned __activemask() {
  Worker& w = *t_worker;
  const int lane0 = static_cast<int>((w.current - w.slots.data()) / 32 * 32);
  unsigned m = 0;
  for (int l = 0; l < 32 && lane0 + l < w.nthreads; ++l)
    if (w.slots[lane0 + l].state != State::exited) m |= 1u << l;
  return m;
}

void __threadfence() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  detail::spin_hint();
}
void __threadfence_block() { __threadfence(); }
void __threadfence_system() { __threadfence(); }
void __nanosleep(unsigned) { detail::spin_hint(); }

}  // namespace cuemu
