// Special-function unit instructions.
#pragma once

namespace magi::cuda::ptx {

/// PTX ISA 9.7.4.11 ex2.approx.ftz.f32: 2^x (ex2(-inf) = +0).
__device__ __forceinline__ float ex2_approx_ftz(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

/// PTX ISA 9.7.4.10 lg2.approx.ftz.f32: log2(x) (lg2(0) = -inf).
__device__ __forceinline__ float lg2_approx_ftz(float x) {
  float y;
  asm("lg2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

/// PTX ISA rcp.approx.ftz.f32: 1/x within 1 ulp (subnormal results flushed to +-0).
__device__ __forceinline__ float rcp_approx_ftz(float x) {
  float y;
  asm("rcp.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

/// PTX ISA 9.7.4.13 tanh.approx.f32 (sm_75+).
__device__ __forceinline__ float tanh_approx(float x) {
  float y;
  asm("tanh.approx.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace magi::cuda::ptx
