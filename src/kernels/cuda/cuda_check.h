// MAGI_CUDA_CHECK: throws magi::Error (file:line, the failing expression and CUDA's message).
#pragma once

#include <cuda_runtime_api.h>

#include "magi/check.h"

#ifndef MAGI_CUDA_CHECK
#define MAGI_CUDA_CHECK(expr)                                                     \
  do {                                                                            \
    const cudaError_t magi_err_ = (expr);                                         \
    if (magi_err_ != cudaSuccess)                                                 \
      MAGI_FAIL("CUDA error '", cudaGetErrorString(magi_err_), "' from ", #expr); \
  } while (0)
#endif
