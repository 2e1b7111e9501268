#include "kernels/cuda/device_memory.h"

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"

namespace magi::cuda {

DeviceGuard::DeviceGuard(int device) {
  MAGI_CUDA_CHECK(cudaGetDevice(&prev_));
  set_ = prev_ != device;
  if (set_) MAGI_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  if (set_) cudaSetDevice(prev_);
}

UploadedBuffer::UploadedBuffer(const void* host, size_t bytes, int device, void* stream,
                               const char* what)
    : device_(device) {
  const auto s = static_cast<cudaStream_t>(stream);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  MAGI_CUDA_CHECK(cudaStreamIsCapturing(s, &status));
  MAGI_CHECK(status == cudaStreamCaptureStatusNone, what, " are not on cuda:", device,
             " yet and the stream is being captured into a CUDA graph; make one call with this "
             "mask (or key) on this device before capturing");
  MAGI_CUDA_CHECK(cudaMalloc(&data_, bytes > 0 ? bytes : 1));
  try {
    if (bytes > 0) {
      MAGI_CUDA_CHECK(cudaMemcpyAsync(data_, host, bytes, cudaMemcpyHostToDevice, s));
      MAGI_CUDA_CHECK(cudaStreamSynchronize(s));
    }
  } catch (...) {
    cudaFree(data_);
    throw;
  }
}

UploadedBuffer::~UploadedBuffer() {
  // NOTE: cudaFree waits for the device, so no kernel still reads the buffer; errors (a driver
  // already shut down at process exit) cannot be reported from a destructor.
  int prev = 0;
  const bool switch_device = cudaGetDevice(&prev) == cudaSuccess && prev != device_;
  if (switch_device) cudaSetDevice(device_);
  cudaFree(data_);
  if (switch_device) cudaSetDevice(prev);
}

}  // namespace magi::cuda
