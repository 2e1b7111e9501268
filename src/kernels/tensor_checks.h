// Argument checks shared by the entries (ffa.cc, range_ops.cc, tensor_ops.cc, the runtime). Every
// failure throws magi::Error with a message naming the function, the argument and its description,
// e.g. "ffa_forward: k = bfloat16[8, 3, 64] cpu: expected 3 dims [Sk, Hkv, D], got 2".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "magi/tensor.h"

namespace magi::checks {

inline constexpr std::initializer_list<DType> kFloating = {DType::kFloat32, DType::kFloat64,
                                                           DType::kBFloat16, DType::kFloat16};
inline constexpr std::initializer_list<DType> kWide = {DType::kFloat32, DType::kFloat64};

/// Rows of dim 0 (0 for a 0-dim view): what a mask's totals are compared with.
inline int64_t rows(const TensorView& t) { return t.ndim >= 1 ? t.shape[0] : 0; }

/// 1 to TensorView::kMaxDims dims, non-negative sizes, data present unless empty (a view that
/// any entry could read: the checks below assume it).
void view(std::string_view fn, std::string_view name, const TensorView& t);

/// An output whose dim-0 rows do not overlap: |stride of dim 0| at least one row's extent when
/// there are two or more rows (a stride of 0 would make every row write the same memory).
void rows_disjoint(std::string_view fn, std::string_view name, const TensorView& t);

/// Exactly `ndim` dims (named by `layout`, e.g. "[Sq, Hq, D]"), non-negative sizes, data
/// present unless empty.
void ndim(std::string_view fn, std::string_view name, const TensorView& t, int ndim,
          std::string_view layout);

/// Shape equal to `want`.
void shape(std::string_view fn, std::string_view name, const TensorView& t,
           std::initializer_list<int64_t> want, std::string_view layout);

/// The last dim has stride 1 (or size <= 1).
void inner_contiguous(std::string_view fn, std::string_view name, const TensorView& t);

/// All dims after the first are contiguous (each dim-0 row is one contiguous block).
void rows_contiguous(std::string_view fn, std::string_view name, const TensorView& t);

/// dtype is one of `allowed`; `what` describes the set ("fp32 or fp64").
void dtype_in(std::string_view fn, std::string_view name, const TensorView& t,
              std::initializer_list<DType> allowed, std::string_view what);

/// t is on the same device as `ref` (named `ref_name`).
void same_device(std::string_view fn, std::string_view name, const TensorView& t,
                 std::string_view ref_name, const TensorView& ref);

}  // namespace magi::checks
