#include "bench_device.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "kernels/backend.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/parallel.h"
#include "magi/check.h"
#include "usage_error.h"

#if MAGI_CLI_CUDA
#include <cuda_runtime.h>
#endif

namespace magi::cli {
namespace {

size_t nbytes(const TensorView& v) { return static_cast<size_t>(v.numel()) * dtype_size(v.dtype); }

class CpuDevice : public BenchDevice {
 public:
  std::string name() const override {
    return "cpu (" + std::to_string(cpu::num_threads()) + " threads)";
  }
  Device device() const override { return {}; }
  double free_bytes() const override { return 0; }  // resources.h checks the host's memory
  double time(const std::function<void()>& fn, int calls) const override {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

 protected:
  void* allocate(size_t bytes) const override {
    void* p = std::malloc(bytes);
    MAGI_CHECK(p != nullptr, "bench: cannot allocate ", bytes, " bytes on the cpu");
    return p;
  }
  void release(void* p) const override { std::free(p); }
  void copy_in(void* dst, const void* src, size_t bytes) const override {
    std::memcpy(dst, src, bytes);
  }
  void copy_out(void* dst, const void* src, size_t bytes) const override {
    std::memcpy(dst, src, bytes);
  }
};

#if MAGI_CLI_CUDA
#define MAGI_CLI_CUDA_CHECK(call)                                                      \
  do {                                                                                 \
    const cudaError_t err_ = (call);                                                   \
    MAGI_CHECK(err_ == cudaSuccess, "bench: ", #call, ": ", cudaGetErrorString(err_)); \
  } while (0)

/// Times on the default stream, where the FFA entries run when given no stream.
class CudaDevice : public BenchDevice {
 public:
  explicit CudaDevice(int index) : index_(index) { MAGI_CLI_CUDA_CHECK(cudaSetDevice(index)); }
  std::string name() const override {
    cudaDeviceProp p{};
    MAGI_CLI_CUDA_CHECK(cudaGetDeviceProperties(&p, index_));
    return "cuda:" + std::to_string(index_) + " " + p.name + " (" +
           std::to_string(p.multiProcessorCount) + " SMs, sm_" + std::to_string(p.major) +
           std::to_string(p.minor) + ")";
  }
  Device device() const override { return {DeviceType::kCUDA, index_}; }
  double free_bytes() const override {
    size_t free = 0, total = 0;
    MAGI_CLI_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    return static_cast<double>(free);
  }
  double time(const std::function<void()>& fn, int calls) const override {
    cudaEvent_t e[2] = {nullptr, nullptr};
    float ms = 0;
    try {
      MAGI_CLI_CUDA_CHECK(cudaEventCreate(&e[0]));
      MAGI_CLI_CUDA_CHECK(cudaEventCreate(&e[1]));
      MAGI_CLI_CUDA_CHECK(cudaEventRecord(e[0], nullptr));
      for (int i = 0; i < calls; ++i) fn();
      MAGI_CLI_CUDA_CHECK(cudaEventRecord(e[1], nullptr));
      MAGI_CLI_CUDA_CHECK(cudaEventSynchronize(e[1]));
      MAGI_CLI_CUDA_CHECK(cudaEventElapsedTime(&ms, e[0], e[1]));
    } catch (...) {
      for (cudaEvent_t x : e) {
        if (x) cudaEventDestroy(x);
      }
      throw;
    }
    MAGI_CLI_CUDA_CHECK(cudaEventDestroy(e[0]));
    MAGI_CLI_CUDA_CHECK(cudaEventDestroy(e[1]));
    return ms * 1e-3;
  }

 protected:
  void* allocate(size_t bytes) const override {
    void* p = nullptr;
    MAGI_CLI_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  void release(void* p) const override { cudaFree(p); }
  // NOTE: cudaMemcpy waits for the default stream's earlier work, so a download sees the kernels.
  void copy_in(void* dst, const void* src, size_t bytes) const override {
    MAGI_CLI_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
  }
  void copy_out(void* dst, const void* src, size_t bytes) const override {
    MAGI_CLI_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
  }

 private:
  int index_;
};
#endif

}  // namespace

DeviceTensor BenchDevice::empty(DType dtype, std::initializer_list<int64_t> shape) const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  const size_t bytes = std::max<size_t>(1, static_cast<size_t>(n) * dtype_size(dtype));
  DeviceTensor t;
  t.memory = std::shared_ptr<void>(allocate(bytes), [this](void* p) { release(p); });
  t.view = TensorView::contiguous(t.memory.get(), dtype, shape, device());
  return t;
}

void BenchDevice::upload(const std::vector<double>& values, const DeviceTensor& t) const {
  const int64_t n = t.view.numel();
  MAGI_CHECK(static_cast<int64_t>(values.size()) == n, "bench: ", values.size(), " values for ",
             t.view.describe());
  std::vector<std::byte> raw(nbytes(t.view));
  cpu::store_row(values.data(), n, t.view.dtype, raw.data());
  copy_in(t.view.data, raw.data(), raw.size());
}

std::vector<double> BenchDevice::download(const DeviceTensor& t) const {
  std::vector<std::byte> raw(nbytes(t.view));
  copy_out(raw.data(), t.view.data, raw.size());
  std::vector<double> values(static_cast<size_t>(t.view.numel()));
  cpu::load_row(raw.data(), t.view.dtype, t.view.numel(), values.data());
  return values;
}

std::unique_ptr<BenchDevice> cpu_bench_device() { return std::make_unique<CpuDevice>(); }

bool cuda_bench_available() {
#if MAGI_CLI_CUDA
  int n = 0;
  return has_backend(DeviceType::kCUDA) && cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
#else
  return false;
#endif
}

std::unique_ptr<BenchDevice> cuda_bench_device(int index) {
#if MAGI_CLI_CUDA
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess || n == 0) {
    throw UsageError("--device cuda: no GPU is usable (" +
                     std::string(err != cudaSuccess ? cudaGetErrorString(err) : "0 devices") + ")");
  }
  if (index >= n) {
    throw UsageError("--device cuda:" + std::to_string(index) + ": this machine has " +
                     std::to_string(n) + " GPU(s)");
  }
  return std::make_unique<CudaDevice>(index);
#else
  (void)index;
  throw UsageError(
      "--device cuda: this magi-attn was built without the CUDA kernels (configure with "
      "the cuda preset)");
#endif
}

}  // namespace magi::cli
