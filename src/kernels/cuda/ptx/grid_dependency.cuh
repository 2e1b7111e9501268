// Programmatic dependent launch (PTX ISA §griddepcontrol, sm_90): a kernel launched with
// cudaLaunchAttributeProgrammaticStreamSerialization (launch_kernel.cuh: programmatic) may
// start while the kernel before it in the stream is still running; it must call
// griddep_wait() before touching memory that kernel (or any before it) writes or reads. Both
// are no-ops below sm_90 and when the kernel was launched without the attribute.
#pragma once

namespace magi::cuda::ptx {

/// Lets the next kernel of the stream (if launched programmatically) start its CTAs once every
/// CTA of this grid has called this or exited: they then sit in griddep_wait() until this
/// grid has completed, so only their launch and prologue overlap this grid's tail.
__device__ __forceinline__ void griddep_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

/// Waits until the grids this one depends on have completed and their memory is visible.
__device__ __forceinline__ void griddep_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

}  // namespace magi::cuda::ptx
