// hub.cpp — one block of a launch on one worker: the hub resumes the block's fibers round by
// round in the configured order (CUEMU_ORDER forward|reverse|random, CUEMU_SEED) until each
// reaches a sync point, releases __syncthreads when every live thread waits at the same call
// site and a warp collective when every lane of its mask has arrived, and turns what a GPU would
// leave undefined or hung into a launch failure naming the kernel: divergent barriers, barriers
// after an exit, masks naming exited lanes, deadlock, and (CUEMU_TIMEOUT) spin-waits that never
// finish.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine.h"

namespace cuemu::engine {
namespace {

std::string where(const std::source_location& s) {
  return std::string(s.file_name()) + ":" + std::to_string(s.line()) + ":" + std::to_string(s.column());
}

}  // namespace

void fail(Worker& w, cudaError_t code, const std::string& what) {
  if (w.failure->failed) return;
  w.failure->failed = true;
  w.failure->code = code;
  char buf[128];
  std::snprintf(buf, sizeof buf, " [kernel %s, block (%u,%u,%u)]", w.launch->name, blockIdx.x, blockIdx.y, blockIdx.z);
  w.failure->message = what + buf;
}

namespace {

bool same_site(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && a.column() == b.column() &&
         (a.file_name() == b.file_name() || std::strcmp(a.file_name(), b.file_name()) == 0);
}

// Release the block barrier if every live thread waits at it. Returns true when released.
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

}  // namespace

void run_block(Worker& w, const LaunchSpec& L, unsigned linear) {
  blockIdx = {linear % L.grid.x, (linear / L.grid.x) % L.grid.y, linear / (L.grid.x * L.grid.y)};
  blockDim = L.block;
  gridDim = L.grid;
  const int n = static_cast<int>(L.block.x * L.block.y * L.block.z);
  w.nthreads = n;
  w.n_barrier = w.n_warp = w.n_exited = 0;
  w.ensure_slots(n);
  if (L.smem) std::memset(w.dyn_smem, 0xFF, L.smem);
  for (int t = 0; t < n; ++t) {
    ThreadSlot& s = w.slots[t];
    const unsigned ut = static_cast<unsigned>(t);
    s.idx = {ut % L.block.x, (ut / L.block.x) % L.block.y, ut / (L.block.x * L.block.y)};
    s.state = State::runnable;
    s.spins = 0;
    prepare_fiber(s);
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

}  // namespace cuemu::engine
