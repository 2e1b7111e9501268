// CPU FFA kernels, called by the device dispatcher (src/kernels/ffa.cc) after it has
// validated shapes, dtypes and slices. Contracts are those of include/magi/ffa.h.
//
// Accumulation is in double when q is fp64 and in float otherwise. Rows are independent in the
// forward pass; the backward pass splits each kv head's rows into a fixed number of parts with
// private dK/dV buffers summed in a fixed order, so both passes give bit-identical results for
// a given input whatever the number of threads.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

#include "magi/ffa.h"

namespace magi::cpu {

void ffa_forward(const TensorView& q, const TensorView& k, const TensorView& v,
                 std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& out,
                 const TensorView& lse, bool accumulate);

void ffa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  std::span<const AttnSlice> slices, const FfaOptions& opts, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv);

/// Problem sizes and score parameters shared by both passes.
struct AttnDims {
  int64_t sq = 0, sk = 0, hq = 0, hkv = 0, d = 0;
  int64_t group = 1;     // query heads per kv head
  double scale = 1.0;    // softmax_scale, with 0 resolved to d ** -0.5
  double softcap = 0.0;  // 0: none

  static AttnDims from(const TensorView& q, const TensorView& k, const FfaOptions& opts) {
    AttnDims a;
    a.sq = q.shape[0];
    a.hq = q.shape[1];
    a.d = q.shape[2];
    a.sk = k.shape[0];
    a.hkv = k.shape[1];
    a.group = a.hq / a.hkv;
    a.scale = opts.softmax_scale != 0.0 ? opts.softmax_scale : 1.0 / std::sqrt(double(a.d));
    a.softcap = opts.softcap;
    return a;
  }
};

}  // namespace magi::cpu
