// core/philox.h — Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw,
// "Parallel random numbers: as easy as 1, 2, 3" (SC'11), as in Random123 and cuRAND: a 128-bit
// counter {lo, hi, 0, 0} and a 64-bit key {seed lo, seed hi} give four 32-bit draws after ten
// rounds. The one definition behind hmr's cpu noise (nn/normal_noise_cpu.cpp, whose AVX2 path
// runs the same rounds eight blocks at a time with these constants) and the emulated cuRAND
// (cuda/rng_cuda.cpp). Header-only, std only.
#pragma once

#include <cstdint>

namespace hmr::philox {

constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
constexpr int kRounds = 10;

// One round on c [4] with key k [2].
inline void single_round(std::uint32_t c[4], const std::uint32_t k[2]) {
  const std::uint64_t p0 = static_cast<std::uint64_t>(kM0) * c[0];
  const std::uint64_t p1 = static_cast<std::uint64_t>(kM1) * c[2];
  const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
  const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
  const std::uint32_t n0 = hi1 ^ c[1] ^ k[0], n2 = hi0 ^ c[3] ^ k[1];
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

// The four draws of block `counter` under key `seed`.
inline void philox4x32_10(std::uint64_t counter, std::uint64_t seed, std::uint32_t out[4]) {
  std::uint32_t c[4] = {static_cast<std::uint32_t>(counter), static_cast<std::uint32_t>(counter >> 32), 0u, 0u};
  std::uint32_t k[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  for (int r = 0; r < kRounds; ++r) {
    single_round(c, k);
    k[0] += kW0;
    k[1] += kW1;
  }
  for (int i = 0; i < 4; ++i) out[i] = c[i];
}

}  // namespace hmr::philox
