// Score transform: raw q.k -> score in log2 units (softmax_scale, optional softcap).
#pragma once

#include "kernels/cuda/ptx/math.cuh"

namespace magi::cuda {

struct ScoreTransform {
  float scale_log2;    // softmax_scale * log2(e)
  float scale_cap;     // softmax_scale / softcap
  float softcap_log2;  // softcap * log2(e)
  bool use_softcap;

  __device__ __forceinline__ float operator()(float raw) const {
    return use_softcap ? softcap_log2 * ptx::tanh_approx(raw * scale_cap) : raw * scale_log2;
  }
};

}  // namespace magi::cuda
