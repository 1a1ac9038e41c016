// support/emu.h — helpers for kernel tests under the emulator: run a kernel (or a chain of
// launches) in forward, reverse and random thread order and require bitwise-equal results, so
// a missing __syncthreads or an order-dependent race cannot hide behind one lucky schedule.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cuemu.h"
#include "support/compare.h"

namespace hmr::test {

class ScopedOrder {
 public:
  ScopedOrder(cuemu::Order o, std::uint64_t seed = 0) : old_(cuemu::order()), old_seed_(cuemu::order_seed()) {
    cuemu::set_order(o, seed);
  }
  ~ScopedOrder() { cuemu::set_order(old_, old_seed_); }

 private:
  cuemu::Order old_;
  std::uint64_t old_seed_;
};

// f() -> std::vector<T>. Returns the forward-order result after checking the reverse and two
// random orders reproduce it bit for bit.
template <class F>
auto in_all_orders(F&& f) {
  decltype(f()) first;
  {
    ScopedOrder o(cuemu::Order::forward);
    first = f();
  }
  const std::pair<cuemu::Order, std::uint64_t> others[] = {
      {cuemu::Order::reverse, 0}, {cuemu::Order::random, 1}, {cuemu::Order::random, 2}};
  for (auto [ord, seed] : others) {
    ScopedOrder o(ord, seed);
    auto again = f();
    EXPECT_TRUE(bitwise_equal(first, again))
        << "thread order " << cuemu::order_name(ord) << " (seed " << seed << ") changed the result";
  }
  return first;
}

// Names the kernels the code in its scope must launch under the emulator. It notes each kernel's
// launch count when made and, when it goes out of scope, fails the test for every named kernel that
// was not launched since, printing the counts. This is what makes a cpu-vs-cuda-emu comparison
// meaningful: a cuda-emu path that quietly ran host code, or a launcher that stopped using one of
// its kernels, would otherwise still "agree with the cpu twin". `active` = false (e.g. a
// conformance test's cpu case) checks nothing.
//   hmr::test::ExpectLaunches launched{"kmeans_assign_kernel", "kmeans_update_partial_kernel"};
class ExpectLaunches {
 public:
  ExpectLaunches(std::initializer_list<std::string_view> kernels) : ExpectLaunches(true, kernels) {}
  ExpectLaunches(bool active, std::initializer_list<std::string_view> kernels) : active_(active) {
    for (auto k : kernels) before_.emplace_back(std::string(k), cuemu::launch_count(k));
  }
  ExpectLaunches(const ExpectLaunches&) = delete;
  ExpectLaunches& operator=(const ExpectLaunches&) = delete;
  ~ExpectLaunches() {
    if (!active_) return;
    for (const auto& [name, count] : before_) {
      const auto now = cuemu::launch_count(name);
      EXPECT_GT(now, count) << "kernel " << name << " was not launched (" << count << " launches before, " << now
                            << " after)";
    }
  }
  // Launches of one of the named kernels so far in this scope.
  std::uint64_t launched(std::string_view kernel) const {
    for (const auto& [name, count] : before_)
      if (name == kernel) return cuemu::launch_count(kernel) - count;
    ADD_FAILURE() << "kernel " << kernel << " is not one this ExpectLaunches watches";
    return 0;
  }

 private:
  bool active_;
  std::vector<std::pair<std::string, std::uint64_t>> before_;
};

}  // namespace hmr::test
