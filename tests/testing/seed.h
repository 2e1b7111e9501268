// Seeds of the randomised tests. By default a test's own fixed seed (the cases CI runs); with
// MAGI_TEST_SEED=<n> every seed is mixed with n, so a soak run walks other cases of the same
// tests (a failure names its case; the same n replays it).
#pragma once

#include <cstdint>
#include <cstdlib>

namespace magi::testing {

/// MAGI_TEST_SEED, 0 when unset.
inline uint64_t soak_seed() {
  static const uint64_t n = [] {
    const char* v = std::getenv("MAGI_TEST_SEED");
    return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : 0;
  }();
  return n;
}

/// Whether the tests run their own fixed cases (claims about those cases' coverage hold).
inline bool fixed_cases() { return soak_seed() == 0; }

inline uint64_t seed(uint64_t fixed) {
  if (fixed_cases()) return fixed;
  // NOTE: splitmix64's finaliser of the pair, so nearby n give unrelated streams.
  uint64_t z = fixed + soak_seed() * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace magi::testing
