// Test helpers for the dispatch solvers: layout checks and random instances.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "dispatch/solvers.h"

namespace magi::testing {

/// Success iff `b` has k buckets of exactly n / k ids each and holds every id 0..n-1 once.
inline ::testing::AssertionResult is_equal_split(const dispatch::Buckets& b, int64_t n, int64_t k) {
  if (static_cast<int64_t>(b.size()) != k) {
    return ::testing::AssertionFailure() << b.size() << " buckets, expected " << k;
  }
  std::vector<int> seen(static_cast<size_t>(n), 0);
  for (size_t r = 0; r < b.size(); ++r) {
    if (static_cast<int64_t>(b[r].size()) != n / k) {
      return ::testing::AssertionFailure()
             << "bucket " << r << " has " << b[r].size() << " ids, expected " << n / k;
    }
    for (int64_t c : b[r]) {
      if (c < 0 || c >= n || seen[c]++) {
        return ::testing::AssertionFailure() << "id " << c << " out of range or repeated";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

inline int64_t max_load(const dispatch::Buckets& b, std::span<const int64_t> costs) {
  int64_t worst = 0;
  for (const auto& bucket : b) {
    int64_t load = 0;
    for (int64_t c : bucket) load += costs[c];
    worst = std::max(worst, load);
  }
  return worst;
}

/// Costs drawn from a few shapes: uniform, heavy-tailed, many ties, with zeros.
inline std::vector<int64_t> random_costs(std::mt19937_64& rng, int64_t n) {
  std::vector<int64_t> c(static_cast<size_t>(n));
  const int shape = std::uniform_int_distribution<int>(0, 3)(rng);
  for (auto& x : c) {
    switch (shape) {
      case 0:
        x = std::uniform_int_distribution<int64_t>(0, 1000)(rng);
        break;
      case 1:
        x = static_cast<int64_t>(std::exp(std::uniform_real_distribution<>(0, 9)(rng)));
        break;
      case 2:
        x = std::uniform_int_distribution<int64_t>(0, 3)(rng) * 10;
        break;
      default:
        x = std::uniform_int_distribution<int64_t>(0, 1)(rng) *
            std::uniform_int_distribution<int64_t>(0, 100)(rng);
        break;
    }
  }
  return c;
}

}  // namespace magi::testing
