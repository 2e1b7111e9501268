// TensorView: a non-owning view of a strided tensor on some device. The only tensor type the
// core knows; front ends (Python, C++ users) build one per tensor and keep the memory alive.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace magi {

enum class DType : int8_t { kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64 };

size_t dtype_size(DType t);
std::string_view to_string(DType t);
inline bool is_floating(DType t) { return t <= DType::kFloat16; }

enum class DeviceType : int8_t { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;
  friend bool operator==(Device, Device) = default;
};

std::string to_string(Device d);

struct TensorView {
  static constexpr int kMaxDims = 4;

  void* data = nullptr;
  DType dtype = DType::kFloat32;
  Device device{};
  int ndim = 0;
  std::array<int64_t, kMaxDims> shape{};
  std::array<int64_t, kMaxDims> strides{};  // in elements

  /// A contiguous (row-major) view.
  static TensorView contiguous(void* data, DType dtype, std::initializer_list<int64_t> shape,
                               Device device = {});

  int64_t size(int d) const { return shape[d]; }
  int64_t numel() const;
  bool is_contiguous() const;
  template <typename T>
  T* ptr() const {
    return static_cast<T*>(data);
  }
  /// "bf16[8, 2, 64] cpu" style description for error messages.
  std::string describe() const;
};

}  // namespace magi
