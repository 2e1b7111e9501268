// MAGI_NCCL_CHECK: throws magi::Error (file:line, the failing call and NCCL's message).
#pragma once

#include <nccl.h>

#include "magi/check.h"

#ifndef MAGI_NCCL_CHECK
#define MAGI_NCCL_CHECK(expr)                                                          \
  do {                                                                                 \
    const ncclResult_t magi_nccl_err_ = (expr);                                        \
    if (magi_nccl_err_ != ncclSuccess)                                                 \
      MAGI_FAIL("NCCL error '", ncclGetErrorString(magi_nccl_err_), "' from ", #expr); \
  } while (0)
#endif
