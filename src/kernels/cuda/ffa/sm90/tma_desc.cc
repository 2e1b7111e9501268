#include "kernels/cuda/ffa/sm90/tma_desc.h"

#include <cudaTypedefs.h>
#include <cuda_runtime_api.h>

#include <mutex>

#include "kernels/cuda/cuda_check.h"
#include "magi/check.h"

namespace magi::cuda::sm90 {
namespace {

PFN_cuTensorMapEncodeTiled_v12000 encoder() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult status{};
    MAGI_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000,
                                                     cudaEnableDefault, &status));
    MAGI_CHECK(status == cudaDriverEntryPointSuccess && p != nullptr,
               "TMA: the CUDA driver has no cuTensorMapEncodeTiled (driver older than 12.0?)");
    fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  });
  return fn;
}

}  // namespace

CUtensorMap make_tma_desc(const TmaView3d& view, const uint32_t (&box)[3], TmaSwizzle swizzle) {
  const uint32_t elem_bytes = view.elem == TmaElem::kFp32 ? 4 : 2;
  const bool swizzled = swizzle == TmaSwizzle::k128B;
  MAGI_CHECK(reinterpret_cast<uintptr_t>(view.base) % 16 == 0,
             "TMA: base address must be 16-byte aligned, got ", view.base);
  for (int i = 0; i < 2; ++i) {
    MAGI_CHECK(view.stride_bytes[i] % 16 == 0 && view.stride_bytes[i] < (uint64_t{1} << 40),
               "TMA: strides must be multiples of 16 bytes below 2^40, got ", view.stride_bytes[i],
               " bytes (dimension ", i + 1, ")");
  }
  MAGI_CHECK(box[0] * elem_bytes % 16 == 0 && (!swizzled || box[0] * elem_bytes <= 128),
             "TMA: an inner box of ", box[0], " elements of ", elem_bytes,
             " bytes is not a multiple of 16 bytes", swizzled ? " of at most 128 (swizzle)" : "");
  for (int i = 0; i < 3; ++i) {
    MAGI_CHECK(box[i] >= 1 && box[i] <= 256, "TMA: box extent ", box[i], " (dimension ", i,
               ") must be in [1, 256]");
    MAGI_CHECK(view.extent[i] >= 1 && view.extent[i] <= (uint64_t{1} << 32), "TMA: extent ",
               view.extent[i], " (dimension ", i, ") must be in [1, 2^32]");
  }
  CUtensorMap map;
  const cuuint64_t dims[3] = {view.extent[0], view.extent[1], view.extent[2]};
  const cuuint64_t strides[2] = {view.stride_bytes[0], view.stride_bytes[1]};
  const cuuint32_t boxes[3] = {box[0], box[1], box[2]};
  const cuuint32_t elem_strides[3] = {1, 1, 1};
  // NOTE: the 16-bit type stands for bf16 and fp16 alike: TMA copies bytes (no conversion),
  // and out-of-range elements fill as zeros.
  const CUtensorMapDataType type = view.elem == TmaElem::kFp32 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT32
                                                               : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const CUtensorMapSwizzle swz = swizzled ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_NONE;
  const CUresult r =
      encoder()(&map, type, 3, const_cast<void*>(view.base), dims, strides, boxes, elem_strides,
                CU_TENSOR_MAP_INTERLEAVE_NONE, swz, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  MAGI_CHECK(r == CUDA_SUCCESS, "TMA: cuTensorMapEncodeTiled failed with CUresult ",
             static_cast<int>(r));
  return map;
}

}  // namespace magi::cuda::sm90
