// Test helper: an owning host tensor of any floating dtype, read and written as doubles.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "common/dtype.h"
#include "magi/tensor.h"

namespace magi::testing {

class HostTensor {
 public:
  HostTensor() = default;
  /// Row-major storage of `shape`; with `pad` > 0 the last dim is stored with `pad` unused
  /// elements behind it, so the view's leading strides are not the contiguous ones.
  HostTensor(DType dtype, std::vector<int64_t> shape, int64_t pad = 0) : dtype_(dtype) {
    view_.dtype = dtype;
    view_.ndim = static_cast<int>(shape.size());
    int64_t stride = 1, total = 1;
    for (int i = view_.ndim - 1; i >= 0; --i) {
      view_.shape[i] = shape[i];
      view_.strides[i] = stride;
      const int64_t stored = shape[i] + (i == view_.ndim - 1 ? pad : 0);
      stride *= stored;
      total *= stored;
    }
    bytes_.assign(static_cast<size_t>(total) * dtype_size(dtype), 0);
    view_.data = bytes_.data();
  }

  const TensorView& view() const { return view_; }
  int64_t numel() const { return view_.numel(); }

  /// Writes values (row-major over the shape), rounded to the dtype.
  void set(const std::vector<double>& values) {
    for (int64_t i = 0; i < numel(); ++i) write(offset(i), values[i]);
  }
  void fill(double x) { set(std::vector<double>(static_cast<size_t>(numel()), x)); }
  /// Reads all values (row-major over the shape).
  std::vector<double> get() const {
    std::vector<double> out(static_cast<size_t>(numel()));
    for (int64_t i = 0; i < numel(); ++i) out[i] = read(offset(i));
    return out;
  }

 private:
  int64_t offset(int64_t flat) const {
    int64_t off = 0;
    for (int d = view_.ndim - 1; d >= 0; --d) {
      off += flat % view_.shape[d] * view_.strides[d];
      flat /= view_.shape[d];
    }
    return off;
  }
  void write(int64_t off, double x) {
    void* p = bytes_.data() + off * dtype_size(dtype_);
    switch (dtype_) {
      case DType::kFloat32:
        *static_cast<float*>(p) = static_cast<float>(x);
        break;
      case DType::kFloat64:
        *static_cast<double*>(p) = x;
        break;
      case DType::kBFloat16:
        *static_cast<BFloat16*>(p) = to_bf16(static_cast<float>(x));
        break;
      case DType::kFloat16:
        *static_cast<Float16*>(p) = to_fp16(static_cast<float>(x));
        break;
      case DType::kInt32:
        *static_cast<int32_t*>(p) = static_cast<int32_t>(x);
        break;
      case DType::kInt64:
        *static_cast<int64_t*>(p) = static_cast<int64_t>(x);
        break;
    }
  }
  double read(int64_t off) const {
    const void* p = bytes_.data() + off * dtype_size(dtype_);
    switch (dtype_) {
      case DType::kFloat32:
        return *static_cast<const float*>(p);
      case DType::kFloat64:
        return *static_cast<const double*>(p);
      case DType::kBFloat16:
        return to_float(*static_cast<const BFloat16*>(p));
      case DType::kFloat16:
        return to_float(*static_cast<const Float16*>(p));
      case DType::kInt32:
        return *static_cast<const int32_t*>(p);
      case DType::kInt64:
        return static_cast<double>(*static_cast<const int64_t*>(p));
    }
    return 0;
  }

  DType dtype_ = DType::kFloat32;
  std::vector<uint8_t> bytes_;
  TensorView view_;
};

/// n uniform values in [lo, hi).
inline std::vector<double> random_values(std::mt19937_64& rng, int64_t n, double lo = -1.0,
                                         double hi = 1.0) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> out(static_cast<size_t>(n));
  for (double& x : out) x = u(rng);
  return out;
}

/// The values as the dtype stores them (round to nearest even).
inline std::vector<double> rounded(DType dtype, const std::vector<double>& values) {
  HostTensor t(dtype, {static_cast<int64_t>(values.size())});
  t.set(values);
  return t.get();
}

}  // namespace magi::testing
