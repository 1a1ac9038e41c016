// fiber.cpp — the emulated CUDA threads: one Boost.Context fcontext per thread of a block, on an
// mmap'd stack (CUEMU_STACK_KB, 64 KiB; 256 KiB under ASan) whose lowest page is a guard, so an
// overflow faults and is named instead of corrupting the next fiber. Switches tell ASan about
// the stack change (__sanitizer_{start,finish}_switch_fiber) so it follows the fibers.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "engine.h"

#if defined(CUEMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace cuemu::engine {

constinit thread_local Worker* t_worker = nullptr;

Worker::~Worker() {
  for (auto& s : stacks) munmap(s.first, s.second);
  std::free(dyn_smem);
}

void Worker::ensure_slots(int n) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t bytes = config().stack_bytes;
  while (static_cast<int>(slots.size()) < n) {
    void* region =
        mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED) {
      std::fprintf(stderr, "cuemu: cannot map a fiber stack\n");
      std::abort();
    }
    mprotect(region, page, PROT_NONE);  // guard page: a stack overflow faults instead of corrupting
    stacks.emplace_back(region, bytes + page);
    ThreadSlot slot;
    slot.stack = static_cast<char*>(region) + page;
    slots.push_back(slot);
  }
}

Worker& this_worker() {
  static thread_local Worker w;
  t_worker = &w;
  return w;
}

namespace {

[[noreturn]] void fiber_finish(Worker& w) {
#if defined(CUEMU_ASAN)
  __sanitizer_start_switch_fiber(nullptr, w.hub_stack_bottom, w.hub_stack_size);
#endif
  bctx::jump_fcontext(w.hub, nullptr);
  std::abort();  // a finished fiber is never resumed
}

void fiber_entry(bctx::transfer_t t) {
  Worker& w = *t_worker;
  w.hub = t.fctx;
#if defined(CUEMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &w.hub_stack_bottom, &w.hub_stack_size);
#endif
  w.launch->thread_main(w.launch->pack);
  w.current->state = State::exited;
  ++w.n_exited;
  fiber_finish(w);
}

}  // namespace

void prepare_fiber(ThreadSlot& s) {
  const std::size_t stack_bytes = config().stack_bytes;
#if defined(CUEMU_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(s.stack, stack_bytes);  // the last fiber on it may not have finished
#endif
  s.ctx = bctx::make_fcontext(s.stack + stack_bytes, stack_bytes, fiber_entry);
}

void yield_to_hub() {
  Worker& w = *t_worker;
#if defined(CUEMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, w.hub_stack_bottom, w.hub_stack_size);
#endif
  bctx::transfer_t t = bctx::jump_fcontext(w.hub, nullptr);
  t_worker->hub = t.fctx;
#if defined(CUEMU_ASAN)
  __sanitizer_finish_switch_fiber(fake, &w.hub_stack_bottom, &w.hub_stack_size);
#endif
}

void abort_fiber() {
  Worker& w = *t_worker;
  w.current->state = State::aborted;
  fiber_finish(w);
}

ThreadSlot* current_slot() {
  Worker* w = t_worker;
  if (!w || !w->current) {
    std::fprintf(stderr, "cuemu: a device-side synchronisation primitive was called outside a kernel\n");
    std::abort();
  }
  return w->current;
}

void resume(Worker& w, int t) {
  ThreadSlot& s = w.slots[t];
  threadIdx = s.idx;
  w.current = &s;
  s.spun = false;
#if defined(CUEMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, s.stack, config().stack_bytes);
#endif
  bctx::transfer_t r = bctx::jump_fcontext(s.ctx, &s);
#if defined(CUEMU_ASAN)
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  s.ctx = r.fctx;
  w.current = nullptr;
}

// ---- fiber stack overflow: say so instead of dying silently --------------------------------------
#if !defined(CUEMU_ASAN)
namespace {
void segv_handler(int sig, siginfo_t* info, void*) {
  Worker* w = t_worker;
  if (w && w->current) {
    const char* addr = static_cast<const char*>(info->si_addr);
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    if (addr >= w->current->stack - page && addr < w->current->stack) {  // the guard page
      static const char msg[] = "cuemu: fiber stack overflow in a kernel thread; raise CUEMU_STACK_KB\n";
      (void)!write(2, msg, sizeof msg - 1);
    }
  }
  signal(sig, SIG_DFL);
  raise(sig);
}
}  // namespace
#endif

void install_segv_handler() {
#if !defined(CUEMU_ASAN)
  static thread_local bool installed = false;
  if (installed) return;
  installed = true;
  static thread_local std::vector<char> alt(64 * 1024);
  stack_t ss{};
  ss.ss_sp = alt.data();
  ss.ss_size = alt.size();
  sigaltstack(&ss, nullptr);
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
  });
#endif
}

}  // namespace cuemu::engine
