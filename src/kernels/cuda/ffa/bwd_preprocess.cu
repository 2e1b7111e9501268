// Launcher of the backward preprocess (bwd_preprocess.cuh).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/bwd_preprocess.cuh"
#include "kernels/cuda/ffa/launch.cuh"
#include "kernels/cuda/ffa/launch.h"
#include "magi/check.h"

namespace magi::cuda {
namespace {

constexpr int kThreads = 256;

/// One thread per lane of each (row, head): a grid of at most 2^31 - 1 blocks (x dimension).
int blocks_for(int64_t threads) {
  const int64_t blocks = (threads + kThreads - 1) / kThreads;
  MAGI_CHECK(blocks < (int64_t{1} << 31), "FFA CUDA backward preprocess: ", threads,
             " threads (rows x heads x lanes) need ", blocks, " blocks, more than a grid holds");
  return static_cast<int>(blocks);
}

/// Whether 16-byte loads of eight elements fit: aligned bases, strides of whole runs.
bool vec_loads_fit(const BwdPreParams& p) {
  const auto aligned = [](const void* at) { return reinterpret_cast<uintptr_t>(at) % 16 == 0; };
  return p.head_dim % 8 == 0 && aligned(p.out) && aligned(p.dout) && p.o_row_stride % 8 == 0 &&
         p.o_head_stride % 8 == 0 && p.do_row_stride % 8 == 0 && p.do_head_stride % 8 == 0;
}

template <class OutT, class DoT, int kLanes, int kVecs>
void launch_vec(const BwdPreParams& p, int64_t rows, cudaStream_t s) {
  ffa_bwd_preprocess_vec_kernel<OutT, DoT, kLanes, kVecs>
      <<<blocks_for(rows * kLanes), kThreads, 0, s>>>(p);
}

template <class OutT, class DoT>
void launch_typed(const BwdPreParams& p, int64_t rows, cudaStream_t s) {
  if (vec_loads_fit(p)) {
    switch (p.head_dim) {
      case 64:
        return launch_vec<OutT, DoT, 8, 1>(p, rows, s);
      case 128:
        return launch_vec<OutT, DoT, 16, 1>(p, rows, s);
      case 192:
        return launch_vec<OutT, DoT, 8, 3>(p, rows, s);
      case 256:
        return launch_vec<OutT, DoT, 16, 2>(p, rows, s);
      default:
        break;
    }
  }
  ffa_bwd_preprocess_kernel<OutT, DoT><<<blocks_for(rows * 32), kThreads, 0, s>>>(p);
}

template <class OutT>
void launch_out(const BwdPreParams& p, int64_t rows, cudaStream_t s) {
  if (p.dout_dtype == 0) {
    launch_typed<OutT, __nv_bfloat16>(p, rows, s);
  } else {
    launch_typed<OutT, __half>(p, rows, s);
  }
}

}  // namespace

void launch_bwd_preprocess(const BwdPreParams& p, void* stream) {
  const int64_t rows = static_cast<int64_t>(p.total_q) * p.num_heads_q;  // (row, head) pairs
  if (rows == 0) return;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (p.out_dtype) {
    case 0:
      launch_out<__nv_bfloat16>(p, rows, s);
      break;
    case 1:
      launch_out<__half>(p, rows, s);
      break;
    default:
      launch_out<float>(p, rows, s);
      break;
  }
  MAGI_CUDA_CHECK(cudaGetLastError());
}

bool hopper_kernels_selected() { return use_sm90_kernels(); }

bool bwd_kernels_pack_heads() { return MAGI_FFA_BWD_PACK_HEADS != 0; }

}  // namespace magi::cuda
