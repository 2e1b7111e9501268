// Test oracle for max_logits (FfaOptions::max_logits): per query head, the largest capped score
// over the mask's cells, in fp64, NaN when any cell's score is NaN, -inf when the mask is empty.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "testing/dense_attention.h"

namespace magi::testing {

inline std::vector<double> dense_max_logits(const DenseAttnSpec& s, const std::vector<double>& q,
                                            const std::vector<double>& k,
                                            const std::vector<uint8_t>& mask) {
  std::vector<double> m(static_cast<size_t>(s.hq), -std::numeric_limits<double>::infinity());
  for (int64_t h = 0; h < s.hq; ++h) {
    for (int64_t i = 0; i < s.sq; ++i) {
      for (int64_t j = 0; j < s.sk; ++j) {
        if (!mask[i * s.sk + j]) continue;
        double score = 0, deriv = 0;
        detail::dense_score(s, q, k, i, h, j, &score, &deriv);
        if (std::isnan(score) || std::isnan(m[h])) {
          m[h] = std::numeric_limits<double>::quiet_NaN();
        } else if (score > m[h]) {
          m[h] = score;
        }
      }
    }
  }
  return m;
}

}  // namespace magi::testing
