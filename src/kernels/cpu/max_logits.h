// max_logits on the CPU (FfaOptions::max_logits): the per-head maximum of the scores, merged by
// a maximum that keeps NaN (DESIGN.md §6; std::max and std::fmax would drop it).
#pragma once

#include <cmath>
#include <cstdint>

#include "magi/tensor.h"

namespace magi::cpu {

/// max(a, b), NaN when either is.
inline double nan_max(double a, double b) {
  if (std::isnan(a)) return a;
  if (std::isnan(b)) return b;
  return b > a ? b : a;
}

/// max_logits[h] = nan_max(max_logits[h], head_max[h]) for h < Hq (max_logits fp32 [Hq]).
inline void merge_max_logits(const TensorView& max_logits, const double* head_max) {
  float* m = max_logits.ptr<float>();
  const int64_t stride = max_logits.strides[0];
  for (int64_t h = 0; h < max_logits.shape[0]; ++h) {
    m[h * stride] = static_cast<float>(nan_max(m[h * stride], head_max[h]));
  }
}

/// Backend::max_rows: dst[j] = max over rows i in order of src[i, j] (contiguous fp32).
inline void max_rows(const TensorView& src, const TensorView& dst) {
  const int64_t n = src.shape[0], m = dst.numel();
  const float* s = src.ptr<const float>();
  float* t = dst.ptr<float>();
  for (int64_t j = 0; j < m; ++j) {
    double acc = -INFINITY;
    for (int64_t i = 0; i < n; ++i) acc = nan_max(acc, s[i * m + j]);
    t[j] = static_cast<float>(acc);
  }
}

}  // namespace magi::cpu
