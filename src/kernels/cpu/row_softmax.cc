#include "kernels/cpu/row_softmax.h"

#include <cmath>
#include <limits>

#include "kernels/cpu/simd.h"

namespace magi::cpu {
namespace {

using simd::Vec;

template <typename T>
[[gnu::always_inline]] inline void exp_lanes(Vec<T>& x) {
  if constexpr (std::is_same_v<T, float>) {
    simd::exp_inplace(x);
  } else {
    for (int i = 0; i < simd::kWidth<T>; ++i) x[i] = std::exp(x[i]);
  }
}

template <typename T>
[[gnu::always_inline]] inline T exp_scalar(T x) {
  Vec<T> v = {};
  v[0] = x;
  exp_lanes<T>(v);
  return v[0];
}

template <typename T>
[[gnu::always_inline]] inline T max_impl(const T* s, std::span<const AttnRange> regions) {
  constexpr int W = simd::kWidth<T>;
  const T kNegInf = -std::numeric_limits<T>::infinity();
  Vec<T> m = Vec<T>{} + kNegInf;
  T tail = kNegInf;
  for (const AttnRange& r : regions) {
    int64_t c = r.start;
    for (; c + W <= r.end; c += W) {
      Vec<T> x;
      simd::load(x, s + c);
      m = x > m ? x : m;
    }
    for (; c < r.end; ++c) tail = s[c] > tail ? s[c] : tail;
  }
  for (int i = 0; i < W; ++i) tail = m[i] > tail ? m[i] : tail;
  return tail;
}

template <typename T>
[[gnu::always_inline]] inline T exp_impl(T* s, std::span<const AttnRange> regions, int64_t cols,
                                         T shift) {
  constexpr int W = simd::kWidth<T>;
  Vec<T> sum = {};
  T tail = 0;
  int64_t c = 0;
  for (const AttnRange& r : regions) {
    for (; c < r.start; ++c) s[c] = 0;
    for (; c + W <= r.end; c += W) {
      Vec<T> x;
      simd::load(x, s + c);
      x -= shift;
      exp_lanes<T>(x);
      sum += x;
      simd::store(s + c, x);
    }
    // NOTE: the tail is done lane by lane with the same exp, so that every cell of the row
    // gets the same function whatever its position.
    for (; c < r.end; ++c) tail += (s[c] = exp_scalar(s[c] - shift));
  }
  for (; c < cols; ++c) s[c] = 0;
  for (int i = 0; i < W; ++i) tail += sum[i];
  return tail;
}

template <typename T>
[[gnu::always_inline]] inline void grad_impl(const T* p, T* ds, int64_t cols, T delta) {
  // NOTE: a zero weight (a masked column, a row without mass) gives exactly 0, even when dP
  // or delta is not finite (0 * inf would make a NaN that depends on no cell of the row).
  for (int64_t c = 0; c < cols; ++c) ds[c] = p[c] == T{0} ? T{0} : p[c] * (ds[c] - delta);
}

template <typename T>
void softcap_impl(T* s, std::span<const AttnRange> regions, T softcap, T* deriv) {
  const T inv = T{1} / softcap;
  for (const AttnRange& r : regions) {
    for (int64_t c = r.start; c < r.end; ++c) {
      const T t = std::tanh(s[c] * inv);
      s[c] = softcap * t;
      if (deriv) deriv[c] = T{1} - t * t;
    }
  }
}

}  // namespace

void softcap_row(float* s, std::span<const AttnRange> regions, float softcap, float* deriv) {
  softcap_impl(s, regions, softcap, deriv);
}
void softcap_row(double* s, std::span<const AttnRange> regions, double softcap, double* deriv) {
  softcap_impl(s, regions, softcap, deriv);
}

MAGI_CPU_CLONES float row_max(const float* s, std::span<const AttnRange> regions) {
  return max_impl(s, regions);
}
MAGI_CPU_CLONES double row_max(const double* s, std::span<const AttnRange> regions) {
  return max_impl(s, regions);
}

MAGI_CPU_CLONES float masked_exp(float* s, std::span<const AttnRange> regions, int64_t cols,
                                 float shift) {
  return exp_impl(s, regions, cols, shift);
}
MAGI_CPU_CLONES double masked_exp(double* s, std::span<const AttnRange> regions, int64_t cols,
                                  double shift) {
  return exp_impl(s, regions, cols, shift);
}

MAGI_CPU_CLONES void softmax_grad_row(const float* p, float* ds, int64_t cols, float delta) {
  grad_impl(p, ds, cols, delta);
}
MAGI_CPU_CLONES void softmax_grad_row(const double* p, double* ds, int64_t cols, double delta) {
  grad_impl(p, ds, cols, delta);
}

}  // namespace magi::cpu
