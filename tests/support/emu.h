// support/emu.h — helpers for kernel tests under the emulator: run a kernel (or a chain of
// launches) in forward, reverse and random thread order and require bitwise-equal results, so
// a missing __syncthreads or an order-dependent race cannot hide behind one lucky schedule.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

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

}  // namespace hmr::test
