// Per-row score post-processing on a compact panel row (see row_keys.h). `regions` are the
// row's own compact column ranges; the other columns of [0, cols) are masked out.
#pragma once

#include <cstdint>
#include <span>

#include "magi/mask.h"

namespace magi::cpu {

/// s = softcap * tanh(s / softcap) on the regions; when `deriv` is not null it receives the
/// derivative 1 - tanh^2 at the same columns.
void softcap_row(float* s, std::span<const AttnRange> regions, float softcap, float* deriv);
void softcap_row(double* s, std::span<const AttnRange> regions, double softcap, double* deriv);

/// Largest score on the regions; -inf when there are none.
float row_max(const float* s, std::span<const AttnRange> regions);
double row_max(const double* s, std::span<const AttnRange> regions);

/// s[c] = exp(s[c] - shift) on the regions and 0 on the other columns of [0, cols); returns
/// the sum. `shift` is finite, or non-finite to make every weight of the regions NaN or 0 (a
/// NaN lse, a +inf score). The float version uses a vector exp of about 1 ulp.
float masked_exp(float* s, std::span<const AttnRange> regions, int64_t cols, float shift);
double masked_exp(double* s, std::span<const AttnRange> regions, int64_t cols, double shift);

/// ds[c] = p[c] * (ds[c] - delta) for c in [0, cols): dS from P and dP (softmax backward);
/// exactly 0 where p[c] == 0, whatever ds[c] and delta are.
void softmax_grad_row(const float* p, float* ds, int64_t cols, float delta);
void softmax_grad_row(const double* p, double* ds, int64_t cols, double delta);

}  // namespace magi::cpu
