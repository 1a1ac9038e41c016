// cuemu.cpp — the emulator's engine: worker pool, per-block fiber hub, barriers and warp
// collectives, runtime API. See cuemu.h for the model.
#include "cuemu.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/context/detail/fcontext.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define CUEMU_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace bctx = boost::context::detail;

namespace cuemu {
namespace {

// ---- configuration --------------------------------------------------------------------------------
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}
double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atof(v) : fallback;
}

struct Config {
  std::atomic<int> order{static_cast<int>(Order::forward)};
  std::atomic<std::uint64_t> seed{0};
  std::atomic<int> spin_limit{16};
  std::atomic<double> timeout_s{60.0};
  std::size_t stack_bytes = 64 * 1024;
  Config() {
    const char* o = std::getenv("CUEMU_ORDER");
    if (o && std::string(o) == "reverse") order = static_cast<int>(Order::reverse);
    if (o && std::string(o) == "random") order = static_cast<int>(Order::random);
    seed = static_cast<std::uint64_t>(env_int("CUEMU_SEED", 0));
    spin_limit = env_int("CUEMU_SPIN", 16);
    timeout_s = env_double("CUEMU_TIMEOUT", 60.0);
#if defined(CUEMU_ASAN)
    stack_bytes = 256 * 1024;
#endif
    stack_bytes = static_cast<std::size_t>(env_int("CUEMU_STACK_KB", static_cast<int>(stack_bytes / 1024))) * 1024;
  }
};
Config& config() {
  static Config c;
  return c;
}

// ---- errors ---------------------------------------------------------------------------------------
std::atomic<int> g_last_error{cudaSuccess};
std::mutex g_failure_mutex;
std::string g_last_failure;

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) g_last_error.store(e);
  return e;
}

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

// ---- fibers -------------------------------------------------------------------------------------------
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

struct Worker;
thread_local Worker* t_worker = nullptr;

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

  ~Worker() {
    for (auto& s : stacks) munmap(s.first, s.second);
    std::free(dyn_smem);
  }

  void ensure_slots(int n) {
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
};

Worker& this_worker() {
  static thread_local Worker w;
  t_worker = &w;
  return w;
}

[[noreturn]] void fiber_finish(Worker& w);

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

void fiber_finish(Worker& w) {
#if defined(CUEMU_ASAN)
  __sanitizer_start_switch_fiber(nullptr, w.hub_stack_bottom, w.hub_stack_size);
#endif
  bctx::jump_fcontext(w.hub, nullptr);
  std::abort();  // a finished fiber is never resumed
}

// Called on a fiber: give control back to the hub until it resumes us.
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

// Called on a fiber after a misuse was recorded: the fiber stops for good.
[[noreturn]] void abort_fiber() {
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

std::string where(const std::source_location& s) {
  return std::string(s.file_name()) + ":" + std::to_string(s.line()) + ":" + std::to_string(s.column());
}

void fail(Worker& w, cudaError_t code, const std::string& what) {
  if (w.failure->failed) return;
  w.failure->failed = true;
  w.failure->code = code;
  char buf[128];
  std::snprintf(buf, sizeof buf, " [kernel %s, block (%u,%u,%u)]", w.launch->name, blockIdx.x, blockIdx.y, blockIdx.z);
  w.failure->message = what + buf;
}

// ---- the hub --------------------------------------------------------------------------------------------
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

// Release the block barrier if every live thread waits at it. Returns true when released.
bool same_site(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && a.column() == b.column() &&
         (a.file_name() == b.file_name() || std::strcmp(a.file_name(), b.file_name()) == 0);
}

bool try_release_barrier(Worker& w) {
  if (w.n_barrier == 0 || w.n_barrier + w.n_exited != w.nthreads) return false;
  int waiting = 0, live = 0, exited = 0;
  const ThreadSlot* first = nullptr;
  for (int t = 0; t < w.nthreads; ++t) {
    const ThreadSlot& s = w.slots[t];
    if (s.state == State::exited) {
      ++exited;
      continue;
    }
    ++live;
    if (s.state == State::at_barrier) {
      ++waiting;
      if (!first) first = &s;
    }
  }
  if (waiting == 0 || waiting != live) return false;
  if (exited > 0) {
    fail(w, cudaErrorLaunchFailure,
         "__syncthreads at " + where(first->site) + " reached after " + std::to_string(exited) +
             " thread(s) of the block exited (undefined behaviour on a GPU)");
    return false;
  }
  int count = 0, all = 1, any = 0;
  for (int t = 0; t < w.nthreads; ++t) {
    const ThreadSlot& s = w.slots[t];
    if (!same_site(s.site, first->site)) {
      fail(w, cudaErrorLaunchFailure,
           "divergent __syncthreads: thread " + std::to_string(t) + " waits at " + where(s.site) +
               ", thread 0 waits at " + where(first->site));
      return false;
    }
    count += s.predicate != 0;
    all &= s.predicate != 0;
    any |= s.predicate != 0;
  }
  for (int t = 0; t < w.nthreads; ++t) {
    ThreadSlot& s = w.slots[t];
    s.barrier_result = count;  // __syncthreads_and/or derive from count and live threads
    s.state = State::runnable;
  }
  w.n_barrier = 0;
  (void)all;
  (void)any;
  return true;
}

// PTX shfl.sync source-lane rule with CUDA's width encoding.
int shfl_source(detail::WarpOp op, int lane, int b, int width, bool* in_range) {
  const int segmask = 32 - width;  // c[12:8]
  const int cval = (op == detail::WarpOp::shfl_up) ? 0 : 0x1f;
  const int max_lane = (lane & segmask) | (cval & ~segmask);
  const int min_lane = lane & segmask;
  int j = lane;
  bool p = true;
  switch (op) {
    case detail::WarpOp::shfl_up:
      j = lane - b;
      p = j >= max_lane;
      break;
    case detail::WarpOp::shfl_down:
      j = lane + b;
      p = j <= max_lane;
      break;
    case detail::WarpOp::shfl_xor:
      j = lane ^ b;
      p = j <= max_lane;
      break;
    default:
      j = min_lane | (b & ~segmask & 31);
      p = j <= max_lane;
      break;
  }
  *in_range = p;
  return p ? j : lane;
}

// Release warp collectives whose whole mask has arrived. Returns true when something was released.
bool try_release_warps(Worker& w) {
  if (w.n_warp == 0) return false;
  bool released = false;
  const int nwarps = (w.nthreads + 31) / 32;
  for (int wp = 0; wp < nwarps; ++wp) {
    const int base = wp * 32;
    const int lanes = std::min(32, w.nthreads - base);
    unsigned exited = 0, arrived = 0;
    for (int l = 0; l < lanes; ++l) {
      const ThreadSlot& s = w.slots[base + l];
      if (s.state == State::exited) exited |= 1u << l;
      if (s.state == State::at_warp) arrived |= 1u << l;
    }
    if (!arrived) continue;
    for (int l = 0; l < lanes; ++l) {
      ThreadSlot& s = w.slots[base + l];
      if (s.state != State::at_warp) continue;
      const unsigned mask = s.mask;
      if (!(mask & (1u << l))) {
        fail(w, cudaErrorLaunchFailure,
             "warp collective: calling lane " + std::to_string(l) + " of warp " + std::to_string(wp) +
                 " is not in its mask");
        return false;
      }
      if (mask & exited) {
        fail(w, cudaErrorLaunchFailure,
             "warp collective: mask names lane(s) that have exited (warp " + std::to_string(wp) + ")");
        return false;
      }
      const unsigned valid_lanes = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
      if (mask & ~valid_lanes) {
        fail(w, cudaErrorLaunchFailure, "warp collective: mask names lanes beyond the block size");
        return false;
      }
      if ((arrived & mask) != mask) continue;  // others still on their way
      bool same = true;
      for (int m = 0; m < lanes; ++m)
        if ((mask >> m) & 1u) {
          const ThreadSlot& o = w.slots[base + m];
          same &= o.mask == mask && o.op == s.op;
        }
      if (!same) continue;  // reported as a deadlock if nothing else can move
      // Every lane of the mask waits at the same collective: compute all results at once.
      std::uint64_t acc = 0;
      switch (s.op) {
        case detail::WarpOp::reduce_min:
          acc = 0xffffffffu;
          break;
        case detail::WarpOp::reduce_and:
          acc = 0xffffffffu;
          break;
        default:
          break;
      }
      unsigned ballot = 0;
      for (int m = 0; m < lanes; ++m) {
        if (!((mask >> m) & 1u)) continue;
        const ThreadSlot& o = w.slots[base + m];
        const auto v32 = static_cast<std::uint32_t>(o.value);
        if (o.value) ballot |= 1u << m;
        switch (s.op) {
          case detail::WarpOp::reduce_add:
            acc = static_cast<std::uint32_t>(acc + v32);
            break;
          case detail::WarpOp::reduce_min:
            acc = std::min<std::uint64_t>(acc, v32);
            break;
          case detail::WarpOp::reduce_max:
            acc = std::max<std::uint64_t>(acc, v32);
            break;
          case detail::WarpOp::reduce_and:
            acc &= v32;
            break;
          case detail::WarpOp::reduce_or:
            acc |= v32;
            break;
          case detail::WarpOp::reduce_xor:
            acc ^= v32;
            break;
          default:
            break;
        }
      }
      for (int m = 0; m < lanes; ++m) {
        if (!((mask >> m) & 1u)) continue;
        ThreadSlot& o = w.slots[base + m];
        switch (s.op) {
          case detail::WarpOp::sync:
            o.result = 0;
            break;
          case detail::WarpOp::ballot:
            o.result = ballot;
            break;
          case detail::WarpOp::any:
            o.result = ballot != 0;
            break;
          case detail::WarpOp::all:
            o.result = ballot == mask;
            break;
          case detail::WarpOp::match_any: {
            unsigned r = 0;
            for (int q = 0; q < lanes; ++q)
              if (((mask >> q) & 1u) && w.slots[base + q].value == o.value) r |= 1u << q;
            o.result = r;
            break;
          }
          case detail::WarpOp::shfl_idx:
          case detail::WarpOp::shfl_up:
          case detail::WarpOp::shfl_down:
          case detail::WarpOp::shfl_xor: {
            bool in_range = true;
            const int src = shfl_source(s.op, m, o.arg, o.width, &in_range);
            // A lane outside the mask has no defined value: poison it.
            o.result = ((mask >> src) & 1u) ? w.slots[base + src].value : ~std::uint64_t{0};
            break;
          }
          default:
            o.result = acc;
            break;
        }
      }
      for (int m = 0; m < lanes; ++m)
        if ((mask >> m) & 1u) w.slots[base + m].state = State::runnable;
      w.n_warp -= __builtin_popcount(mask);
      arrived &= ~mask;
      released = true;
    }
  }
  return released;
}

std::string describe_waits(Worker& w) {
  std::string d;
  int shown = 0;
  for (int t = 0; t < w.nthreads && shown < 4; ++t) {
    const ThreadSlot& s = w.slots[t];
    if (s.state == State::at_barrier) {
      d += " thread " + std::to_string(t) + " at __syncthreads " + where(s.site) + ";";
      ++shown;
    } else if (s.state == State::at_warp) {
      char buf[96];
      std::snprintf(buf, sizeof buf, " thread %d at a warp collective (mask 0x%08x);", t, s.mask);
      d += buf;
      ++shown;
    }
  }
  return d;
}

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void run_block(Worker& w, const LaunchSpec& L, unsigned linear) {
  blockIdx = {linear % L.grid.x, (linear / L.grid.x) % L.grid.y, linear / (L.grid.x * L.grid.y)};
  blockDim = L.block;
  gridDim = L.grid;
  const int n = static_cast<int>(L.block.x * L.block.y * L.block.z);
  w.nthreads = n;
  w.n_barrier = w.n_warp = w.n_exited = 0;
  w.ensure_slots(n);
  if (L.smem) std::memset(w.dyn_smem, 0xFF, L.smem);
  const std::size_t stack_bytes = config().stack_bytes;
  for (int t = 0; t < n; ++t) {
    ThreadSlot& s = w.slots[t];
    const unsigned ut = static_cast<unsigned>(t);
    s.idx = {ut % L.block.x, (ut / L.block.x) % L.block.y, ut / (L.block.x * L.block.y)};
    s.state = State::runnable;
    s.spins = 0;
#if defined(CUEMU_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(s.stack, stack_bytes);  // the last fiber on it may not have finished
#endif
    s.ctx = bctx::make_fcontext(s.stack + stack_bytes, stack_bytes, fiber_entry);
  }
  std::vector<int> order(n);
  for (int t = 0; t < n; ++t) order[t] = t;
  const Order ord = static_cast<Order>(config().order.load());
  if (ord == Order::reverse) std::reverse(order.begin(), order.end());
  std::mt19937_64 rng(splitmix(config().seed.load() ^ (static_cast<std::uint64_t>(linear) << 20)));

  auto last_progress = std::chrono::steady_clock::now();
  const double timeout = config().timeout_s.load();
  int live = n;
  while (live > 0 && !w.failure->failed) {
    if (ord == Order::random) std::shuffle(order.begin(), order.end(), rng);
    bool moved = false, only_spins = true;
    for (int t : order) {
      ThreadSlot& s = w.slots[t];
      if (s.state != State::runnable) continue;
      resume(w, t);
      moved = true;
      if (!s.spun) only_spins = false;
      if (s.state == State::exited || s.state == State::aborted) --live;
      if (w.failure->failed) break;
    }
    if (w.failure->failed) break;
    const bool released = try_release_barrier(w) | try_release_warps(w);
    if (w.failure->failed) break;
    const auto now = std::chrono::steady_clock::now();
    if (released || !only_spins) last_progress = now;
    if (!moved && !released && live > 0) {
      fail(w, cudaErrorLaunchFailure, "deadlock: no thread can proceed;" + describe_waits(w));
      break;
    }
    if (std::chrono::duration<double>(now - last_progress).count() > timeout) {
      fail(w, cudaErrorLaunchTimeout,
           "watchdog: no progress for " + std::to_string(static_cast<int>(timeout)) +
               " s (a spin-wait that cannot finish?)");
      break;
    }
  }
  for (auto& [tag, p] : w.block_objects) std::free(p);
  w.block_objects.clear();
}

// ---- the worker pool ---------------------------------------------------------------------------------
struct Job {
  const LaunchSpec* spec = nullptr;
  std::atomic<unsigned> next{0};
  unsigned nblocks = 0;
  Failure failure;
  std::mutex failure_mutex;
};

void install_segv_handler();

void work_on(Job& job) {
  install_segv_handler();  // every worker: its fibers overflow on its own thread
  Worker& w = this_worker();
  w.launch = job.spec;
  Failure local;
  w.failure = &local;
  if (w.dyn_smem_bytes < job.spec->smem) {
    std::free(w.dyn_smem);
    w.dyn_smem = std::malloc(job.spec->smem);
    w.dyn_smem_bytes = job.spec->smem;
  }
  for (;;) {
    if (job.failure.failed) break;
    const unsigned b = job.next.fetch_add(1);
    if (b >= job.nblocks) break;
    run_block(w, *job.spec, b);
    if (local.failed) {
      std::lock_guard<std::mutex> lock(job.failure_mutex);
      if (!job.failure.failed) job.failure = local;
      break;
    }
  }
  w.failure = nullptr;
  w.launch = nullptr;
}

class Pool {
 public:
  explicit Pool(int n) {
    for (int i = 1; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int size() const { return static_cast<int>(threads_.size()) + 1; }

  void run(Job& job) {
    {
      std::lock_guard<std::mutex> lock(m_);
      job_ = &job;
      ++generation_;
      busy_ = static_cast<int>(threads_.size());
    }
    cv_.notify_all();
    work_on(job);  // the launching thread is worker 0
    std::unique_lock<std::mutex> lock(m_);
    done_cv_.wait(lock, [this] { return busy_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop() {
    std::uint64_t seen = 0;
    for (;;) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      work_on(*job);
      {
        std::lock_guard<std::mutex> lock(m_);
        --busy_;
      }
      done_cv_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  Job* job_ = nullptr;
  std::uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
};

std::mutex g_launch_mutex;  // one launch at a time: the device runs one stream in order
std::unique_ptr<Pool> g_pool;
int g_requested_workers = 0;

int default_workers() {
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  return env_int("CUEMU_WORKERS", std::clamp(hw, 1, 8));
}

Pool& pool() {
  if (!g_pool) g_pool = std::make_unique<Pool>(g_requested_workers > 0 ? g_requested_workers : default_workers());
  return *g_pool;
}

std::mutex g_attr_mutex;
std::unordered_map<const void*, int> g_max_dyn_smem;

// ---- fiber stack overflow: say so instead of dying silently --------------------------------------
#if !defined(CUEMU_ASAN)
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

// ---- launch log: which kernels the suite executed (tests/check_kernel_coverage.sh) -------------
// With CUEMU_LAUNCH_LOG=path, the first launch of each kernel in a process appends its name (the
// identifier GPU_LAUNCH was given, without template arguments or qualifiers) as one line.
std::string kernel_identifier(const char* spelled) {
  std::string s(spelled);
  s.erase(std::remove(s.begin(), s.end(), '('), s.end());
  s.erase(std::remove(s.begin(), s.end(), ')'), s.end());
  if (auto lt = s.find('<'); lt != std::string::npos) s.resize(lt);
  if (auto colon = s.rfind("::"); colon != std::string::npos) s = s.substr(colon + 2);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// Launches per kernel identifier since the process started, for cuemu::launch_count: tests name the
// kernels their workload must have run, so a cuda-emu path that silently fell back to host code, or
// a launcher that stopped calling one of its kernels, fails the test instead of passing trivially.
std::mutex g_count_mutex;
std::map<std::string, std::uint64_t, std::less<>> g_launch_counts;

void log_launch(const char* name) {
  const std::string id = kernel_identifier(name);
  {
    std::lock_guard<std::mutex> lock(g_count_mutex);
    ++g_launch_counts[id];
  }
  static const char* path = std::getenv("CUEMU_LAUNCH_LOG");
  if (!path || !*path) return;
  static std::mutex m;
  static std::set<std::string> seen;
  std::lock_guard<std::mutex> lock(m);
  if (!seen.insert(id).second) return;
  if (FILE* f = std::fopen(path, "a")) {
    std::fprintf(f, "%s\n", id.c_str());
    std::fclose(f);
  }
}

}  // namespace

// ---- public: launch --------------------------------------------------------------------------------
cudaError_t launch_spec(const LaunchSpec& L) {
  const unsigned long long threads = 1ull * L.block.x * L.block.y * L.block.z;
  if (threads == 0 || threads > 1024 || L.block.x > 1024 || L.block.y > 1024 || L.block.z > 64 || L.grid.x == 0 ||
      L.grid.y == 0 || L.grid.z == 0 || L.grid.x > 2147483647u || L.grid.y > 65535 || L.grid.z > 65535)
    return record(cudaErrorInvalidConfiguration);
  int limit = 48 * 1024;
  {
    std::lock_guard<std::mutex> lock(g_attr_mutex);
    auto it = g_max_dyn_smem.find(L.func);
    if (it != g_max_dyn_smem.end()) limit = std::max(limit, it->second);
  }
  if (L.smem > static_cast<std::size_t>(limit)) return record(cudaErrorInvalidValue);
  if (L.bad_pointer_arg >= 0) {
    std::fprintf(stderr, "cuemu: kernel %s: argument #%d is a host pointer, not device memory\n", L.name,
                 L.bad_pointer_arg);
    return record(cudaErrorInvalidValue);
  }
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  install_segv_handler();
  log_launch(L.name);
  Job job;
  job.spec = &L;
  job.nblocks = L.grid.x * L.grid.y * L.grid.z;
  pool().run(job);
  if (job.failure.failed) {
    {
      std::lock_guard<std::mutex> fl(g_failure_mutex);
      g_last_failure = job.failure.message;
    }
    std::fprintf(stderr, "cuemu: %s\n", job.failure.message.c_str());
    return record(job.failure.code);
  }
  return cudaSuccess;
}

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

// ---- public: synchronisation -------------------------------------------------------------------------
namespace {
int barrier(int predicate, const std::source_location& site) {
  ThreadSlot* s = current_slot();
  s->state = State::at_barrier;
  ++t_worker->n_barrier;
  s->site = site;
  s->predicate = predicate;
  s->spins = 0;
  yield_to_hub();
  if (s->state != State::runnable) abort_fiber();
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
  s->state = State::at_warp;
  ++t_worker->n_warp;
  s->op = op;
  s->mask = mask;
  s->value = value;
  s->arg = arg;
  s->width = width;
  s->spins = 0;
  yield_to_hub();
  if (s->state != State::runnable) abort_fiber();
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

bool pointer_ok(const void* p) {
  if (!p) return true;
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  return find_alloc(p) != nullptr;
}

cudaError_t set_func_attribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || value > 227 * 1024) return record(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(g_attr_mutex);
    g_max_dyn_smem[func] = value;
  }
  return cudaSuccess;
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

// ---- public: controls --------------------------------------------------------------------------------
void set_order(Order o, std::uint64_t seed) {
  config().order = static_cast<int>(o);
  config().seed = seed;
}
Order order() { return static_cast<Order>(config().order.load()); }
std::uint64_t order_seed() { return config().seed.load(); }
const char* order_name(Order o) {
  switch (o) {
    case Order::forward:
      return "forward";
    case Order::reverse:
      return "reverse";
    default:
      return "random";
  }
}
void set_workers(int n) {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  g_pool.reset();
  g_requested_workers = n;
}
int workers() {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  return pool().size();
}
void set_timeout(double seconds) { config().timeout_s = seconds; }
bool is_device_pointer(const void* p) { return is_device_mem(p); }
std::uint64_t launch_count(std::string_view kernel) {
  std::lock_guard<std::mutex> lock(g_count_mutex);
  auto it = g_launch_counts.find(kernel);
  return it == g_launch_counts.end() ? 0 : it->second;
}

const char* last_failure() {
  static thread_local std::string copy;
  std::lock_guard<std::mutex> lock(g_failure_mutex);
  copy = g_last_failure;
  return copy.c_str();
}

// ---- public: runtime API ---------------------------------------------------------------------------------
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError:
      return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidPitchValue:
      return "cudaErrorInvalidPitchValue";
    case cudaErrorInvalidSymbol:
      return "cudaErrorInvalidSymbol";
    case cudaErrorInvalidDevicePointer:
      return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection:
      return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady:
      return "cudaErrorNotReady";
    case cudaErrorIllegalAddress:
      return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources:
      return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchTimeout:
      return "cudaErrorLaunchTimeout";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported:
      return "cudaErrorNotSupported";
    default:
      return "cudaErrorUnknown";
  }
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer:
      return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection:
      return "invalid copy direction for memcpy";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorLaunchTimeout:
      return "the launch timed out and was terminated";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    default:
      return cudaGetErrorName(e);
  }
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
