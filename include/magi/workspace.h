// Scratch memory of a call: the one allocator hook of the core.
//
// Every entry that needs temporary memory (the FFA backward's row statistics, calc_attn's
// accumulators and exchange buffers, undispatch's all-gather) asks one Allocator for it, once
// per call, and gives it back at the end of the call. Callers choose the allocator:
//   - from Python, torch's caching allocator (the extension passes an Allocator whose blocks are
//     torch tensors, so memory is shared with torch and CUDA-graph captures see only torch's
//     graph-aware allocations);
//   - otherwise default_allocator(): the heap on the CPU, a pool of cudaMalloc blocks on CUDA.
#pragma once

#include <cstddef>

#include "magi/tensor.h"

namespace magi {

class Allocator {
 public:
  virtual ~Allocator() = default;
  /// At least `bytes` (> 0) bytes on `device`, 256-byte aligned, for work queued on `stream`
  /// (a cudaStream_t on CUDA, ignored on the CPU). Throws magi::Error when it cannot.
  virtual void* allocate(size_t bytes, Device device, void* stream) = 0;
  /// Takes back a block of allocate() once every use of it has been queued on `stream`: the
  /// allocator may hand it out again to work queued later on that stream (stream order keeps
  /// the two apart), never to another stream before that work ran.
  virtual void deallocate(void* p, size_t bytes, Device device, void* stream) noexcept = 0;
};

/// The core's allocator for devices of `type` (used when a call names none): the heap on the
/// CPU; on CUDA a pool of cudaMalloc blocks kept per (device, stream) and reused in stream order,
/// so a steady state makes no driver call. Throws for a device type this build cannot run.
/// NOTE: the pool is not graph-aware: capture CUDA graphs with an allocator of your own.
Allocator& default_allocator(DeviceType type);

/// Returns the CUDA pool's free blocks to the driver (synchronises the devices that hold them).
void release_pool_memory();

}  // namespace magi
