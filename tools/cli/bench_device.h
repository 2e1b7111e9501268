// The devices `magi-attn bench` times kernels on: tensors in the device's memory, uploads and
// downloads through float64 host values, and a clock. The CPU always; CUDA where this build has
// the CUDA kernels (MAGI_CLI_CUDA) and the machine a GPU.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "magi/tensor.h"

namespace magi::cli {

/// A contiguous tensor in a device's memory, freed with its last copy, which must not outlive
/// the BenchDevice that made it.
struct DeviceTensor {
  std::shared_ptr<void> memory;
  TensorView view;
};

class BenchDevice {
 public:
  virtual ~BenchDevice() = default;
  /// "cpu (2 threads)", "cuda:0 NVIDIA H200 (132 SMs, sm_90)".
  virtual std::string name() const = 0;
  virtual Device device() const = 0;
  /// Bytes of memory the device can still give (0: unknown).
  virtual double free_bytes() const = 0;
  /// An uninitialised tensor of `dtype` (throws magi::Error when the device cannot give it).
  DeviceTensor empty(DType dtype, std::initializer_list<int64_t> shape) const;
  /// `values` (one per element, rounded to the tensor's dtype) into `t`.
  void upload(const std::vector<double>& values, const DeviceTensor& t) const;
  /// Every element of `t` as a float64.
  std::vector<double> download(const DeviceTensor& t) const;
  /// Seconds taken by `calls` back-to-back runs of `fn` (device work included).
  virtual double time(const std::function<void()>& fn, int calls) const = 0;

 protected:
  virtual void* allocate(size_t bytes) const = 0;
  virtual void release(void* p) const = 0;
  virtual void copy_in(void* dst, const void* src, size_t bytes) const = 0;
  virtual void copy_out(void* dst, const void* src, size_t bytes) const = 0;
};

/// The CPU.
std::unique_ptr<BenchDevice> cpu_bench_device();
/// Whether cuda_bench_device() can work: CUDA kernels built in and a GPU present.
bool cuda_bench_available();
/// CUDA device `index`; throws UsageError naming why not (no CUDA kernels in this build, no GPU,
/// no such index).
std::unique_ptr<BenchDevice> cuda_bench_device(int index);

}  // namespace magi::cli
