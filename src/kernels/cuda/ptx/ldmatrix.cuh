// ldmatrix: warp-wide loads of 8x8 b16 matrices from shared memory into mma fragments.
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA 9.7.14.5.15 ldmatrix: four 8x8 b16 matrices; lane l supplies the address of row
/// l % 8 of matrix l / 8 and receives row l / 4, columns 2 (l % 4) .. +1 of each matrix.
__device__ __forceinline__ void ldmatrix_x4(uint32_t smem_addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr));
}

/// PTX ISA 9.7.14.5.15 ldmatrix with .trans: as ldmatrix_x4, each matrix transposed.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t smem_addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr));
}

}  // namespace magi::cuda::ptx
