// Test helpers: random masks and a dense, cell-by-cell materialisation used as the oracle.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "magi/mask.h"

namespace magi::testing {

/// Dense 0/1 matrix of the union of the slices, row-major [total_q][total_k], computed from
/// the definition of each type (independent of the band algebra).
inline std::vector<uint8_t> dense_mask(std::span<const AttnSlice> slices, int64_t total_q,
                                       int64_t total_k) {
  std::vector<uint8_t> m(static_cast<size_t>(total_q * total_k), 0);
  for (const AttnSlice& s : slices) {
    const int64_t sq = s.q.size(), sk = s.k.size();
    for (int64_t i = 0; i < sq; ++i) {
      for (int64_t j = 0; j < sk; ++j) {
        bool on = true;
        if (s.type == AttnMaskType::kCausal || s.type == AttnMaskType::kBiCausal)
          on = on && j <= i + (sk - sq);
        if (s.type == AttnMaskType::kInvCausal || s.type == AttnMaskType::kBiCausal)
          on = on && j >= i;
        if (on) m[(s.q.start + i) * total_k + s.k.start + j] = 1;
      }
    }
  }
  return m;
}

inline int64_t count_cells(const std::vector<uint8_t>& m) {
  int64_t n = 0;
  for (uint8_t x : m) n += x;
  return n;
}

inline AttnRange random_range(std::mt19937_64& rng, int64_t total, bool allow_empty = true) {
  std::uniform_int_distribution<int64_t> d(0, total);
  int64_t a = d(rng), b = d(rng);
  if (a > b) std::swap(a, b);
  if (!allow_empty && a == b) {
    if (b < total)
      ++b;
    else
      --a;
  }
  return {a, b};
}

inline AttnMaskType random_type(std::mt19937_64& rng) {
  return static_cast<AttnMaskType>(std::uniform_int_distribution<int>(0, 3)(rng));
}

/// Random slices: any types, overlapping q ranges, slices sharing cells, empty slices.
inline std::vector<AttnSlice> random_slices(std::mt19937_64& rng, int64_t total_q, int64_t total_k,
                                            int max_slices = 6) {
  const int n = std::uniform_int_distribution<int>(0, max_slices)(rng);
  std::vector<AttnSlice> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({random_range(rng, total_q), random_range(rng, total_k), random_type(rng)});
  }
  return out;
}

/// A realistic packed-documents mask: consecutive documents, each FULL or CAUSAL over itself,
/// optionally with a sliding window (CAUSAL head + BICAUSAL band).
inline std::vector<AttnSlice> random_varlen_slices(std::mt19937_64& rng, int64_t total,
                                                   int max_docs = 8) {
  std::vector<AttnSlice> out;
  int64_t pos = 0;
  const int docs = std::uniform_int_distribution<int>(1, max_docs)(rng);
  for (int d = 0; d < docs && pos < total; ++d) {
    const int64_t left = total - pos;
    const int64_t len = d + 1 == docs ? left : std::uniform_int_distribution<int64_t>(1, left)(rng);
    const int kind = std::uniform_int_distribution<int>(0, 2)(rng);
    const AttnRange r{pos, pos + len};
    if (kind == 0) {
      out.push_back({r, r, AttnMaskType::kFull});
    } else if (kind == 1) {
      out.push_back({r, r, AttnMaskType::kCausal});
    } else {
      const int64_t w = std::uniform_int_distribution<int64_t>(1, len)(rng);
      out.push_back({{pos, pos + w}, {pos, pos + w}, AttnMaskType::kCausal});
      if (w < len)
        out.push_back({{pos + w, pos + len}, {pos, pos + len - 1 + 1}, AttnMaskType::kBiCausal});
    }
    pos += len;
  }
  return out;
}

}  // namespace magi::testing
