// Row conversions between tensor storage dtypes and the CPU kernels' accumulation types.
//
// The dtype switch sits outside the element loop: kernels convert whole contiguous rows into
// scratch buffers of float or double and compute there.
#pragma once

#include <cstdint>

#include "common/dtype.h"
#include "magi/check.h"
#include "magi/tensor.h"

namespace magi::cpu {

/// dst[i] = (Acc) src[i] for i < n; `src` points at n contiguous elements of dtype `t`.
template <typename Acc>
void load_row(const void* src, DType t, int64_t n, Acc* dst) {
  switch (t) {
    case DType::kFloat32: {
      const float* s = static_cast<const float*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Acc>(s[i]);
      return;
    }
    case DType::kFloat64: {
      const double* s = static_cast<const double*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Acc>(s[i]);
      return;
    }
    case DType::kBFloat16: {
      const BFloat16* s = static_cast<const BFloat16*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Acc>(to_float(s[i]));
      return;
    }
    case DType::kFloat16: {
      const Float16* s = static_cast<const Float16*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Acc>(to_float(s[i]));
      return;
    }
    default:
      MAGI_FAIL("load_row: dtype ", to_string(t), " is not a floating dtype");
  }
}

/// dst[i] = src[i] rounded to dtype `t` (round to nearest even) for i < n.
template <typename Acc>
void store_row(const Acc* src, int64_t n, DType t, void* dst) {
  switch (t) {
    case DType::kFloat32: {
      float* d = static_cast<float*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(src[i]);
      return;
    }
    case DType::kFloat64: {
      double* d = static_cast<double*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = static_cast<double>(src[i]);
      return;
    }
    case DType::kBFloat16: {
      BFloat16* d = static_cast<BFloat16*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = to_bf16(static_cast<float>(src[i]));
      return;
    }
    case DType::kFloat16: {
      Float16* d = static_cast<Float16*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = to_fp16(static_cast<float>(src[i]));
      return;
    }
    default:
      MAGI_FAIL("store_row: dtype ", to_string(t), " is not a floating dtype");
  }
}

/// Address of element (i0, i1, i2, ...) of a view (only the first `n` indices are used).
inline void* element_ptr(const TensorView& t, int64_t i0, int64_t i1 = 0, int64_t i2 = 0) {
  const int64_t off = i0 * t.strides[0] + (t.ndim > 1 ? i1 * t.strides[1] : 0) +
                      (t.ndim > 2 ? i2 * t.strides[2] : 0);
  return static_cast<char*>(t.data) + off * static_cast<int64_t>(dtype_size(t.dtype));
}

/// One element of a floating tensor, as double.
inline double load_scalar(const TensorView& t, int64_t i0, int64_t i1) {
  double x;
  load_row(element_ptr(t, i0, i1), t.dtype, 1, &x);
  return x;
}

inline void store_scalar(double x, const TensorView& t, int64_t i0, int64_t i1) {
  store_row(&x, 1, t.dtype, element_ptr(t, i0, i1));
}

}  // namespace magi::cpu
