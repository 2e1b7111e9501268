// Launcher of the backward preprocess (D = rowsum(dO * O)).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>


#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/bwd_kernel.cuh"
#include "kernels/cuda/ffa/launch.cuh"
#include "kernels/cuda/ffa/launch.h"

namespace magi::cuda {
namespace {

template <class OutT>
void launch_pre(const BwdPreParams& p, int grid, int threads, cudaStream_t s) {
  if (p.dout_dtype == 0) {
    ffa_bwd_preprocess_kernel<OutT, __nv_bfloat16><<<grid, threads, 0, s>>>(p);
  } else {
    ffa_bwd_preprocess_kernel<OutT, __half><<<grid, threads, 0, s>>>(p);
  }
}

}  // namespace

void launch_bwd_preprocess(const BwdPreParams& p, void* stream) {
  constexpr int kThreads = 256;
  const int64_t warps = static_cast<int64_t>(p.total_q) * p.num_heads_q;
  if (warps == 0) return;
  const int grid = static_cast<int>((warps * 32 + kThreads - 1) / kThreads);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (p.out_dtype) {
    case 0:
      launch_pre<__nv_bfloat16>(p, grid, kThreads, s);
      break;
    case 1:
      launch_pre<__half>(p, grid, kThreads, s);
      break;
    default:
      launch_pre<float>(p, grid, kThreads, s);
      break;
  }
  MAGI_CUDA_CHECK(cudaGetLastError());
}

bool hopper_kernels_selected() { return use_sm90_kernels(); }

}  // namespace magi::cuda
