// red: fire-and-forget reductions to global memory.
#pragma once

namespace magi::cuda::ptx {

/// PTX ISA 9.7.13.6 red.global.add.v2.f32 (sm_90+): p[0] += a, p[1] += b; p 8-byte aligned.
/// NOTE: older targets get two scalar red.global.add.f32 (atomicAdd with unused result).
__device__ __forceinline__ void red_global_add_v2_f32(float* p, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(p), "f"(a), "f"(b) : "memory");
#else
  atomicAdd(p, a);
  atomicAdd(p + 1, b);
#endif
}

}  // namespace magi::cuda::ptx
