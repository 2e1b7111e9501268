// MAGI_HD: marks index maths shared by the kernels and their CPU unit tests.
#pragma once

#if defined(__CUDACC__)
#define MAGI_HD __host__ __device__ __forceinline__
#else
#define MAGI_HD inline
#endif
