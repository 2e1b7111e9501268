// The CUDA backend's default allocator (magi/workspace.h): cudaMalloc blocks kept per
// (device, stream) and handed out again in stream order, so that a steady state makes no
// driver call. Blocks go back to the driver with release().
#pragma once

#include "magi/workspace.h"

namespace magi::cuda {

/// The process-wide pool.
Allocator& pool_allocator();

/// Frees the pool's idle blocks (cudaFree: synchronises their devices).
void release_pool();

}  // namespace magi::cuda
