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

/// *p = max(*p, v) for fp32, atomically, NaN kept (a NaN v or *p gives NaN). Through the
/// integer order of IEEE bits: signed max for v >= 0, unsigned min for v < 0 (where larger
/// bits are smaller floats); a NaN is stored as 0x7fffffff, which beats every other value
/// under both (signed: above +inf's 0x7f800000; unsigned: below every negative's bits).
__device__ __forceinline__ void atomic_max_f32_keep_nan(float* p, float v) {
  if (v != v) {
    atomicMax(reinterpret_cast<int*>(p), 0x7fffffff);
  } else if (v >= 0.f) {
    atomicMax(reinterpret_cast<int*>(p), __float_as_int(v));
  } else {
    atomicMin(reinterpret_cast<unsigned int*>(p), __float_as_uint(v));
  }
}

}  // namespace magi::cuda::ptx
