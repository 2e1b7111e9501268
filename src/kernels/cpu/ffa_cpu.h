// CPU FFA kernels, called by the CPU backend (cpu_backend.cc) after the entry has validated
// shapes, dtypes and slices and resolved the score parameters. Contracts: include/magi/ffa.h.
//
// Accumulation is in double when q is fp64 and in float otherwise. Rows are independent in the
// forward pass; the backward pass splits each kv head's rows into a fixed number of parts with
// private dK/dV buffers summed in a fixed order, so both passes give bit-identical results for
// a given input whatever the number of threads.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/backend.h"
#include "kernels/cpu/row_keys.h"

namespace magi::cpu {

/// `keys`: the mask row by row (RowKeys::build over the work's slices, rows = q's rows).
/// `max_logits`: FfaOptions::max_logits (ndim 0: not wanted).
void ffa_forward(const TensorView& q, const TensorView& k, const TensorView& v, const RowKeys& keys,
                 const ScoreParams& scores, const TensorView& out, const TensorView& lse,
                 bool accumulate, const TensorView& max_logits = {});

void ffa_backward(const TensorView& q, const TensorView& k, const TensorView& v,
                  const TensorView& out, const TensorView& lse, const TensorView& dout,
                  const RowKeys& keys, const ScoreParams& scores, const TensorView& dq,
                  const TensorView& dk, const TensorView& dv);

/// Problem sizes and score parameters shared by both passes.
struct AttnDims {
  int64_t sq = 0, sk = 0, hq = 0, hkv = 0, d = 0;
  int64_t dv = 0;        // v's (and out's, dout's) head dim; may differ from q / k's d
  int64_t group = 1;     // query heads per kv head
  double scale = 1.0;    // softmax_scale, resolved by the entry
  double softcap = 0.0;  // 0: none

  static AttnDims from(const TensorView& q, const TensorView& k, const TensorView& v,
                       const ScoreParams& scores) {
    AttnDims a;
    a.sq = q.shape[0];
    a.hq = q.shape[1];
    a.d = q.shape[2];
    a.sk = k.shape[0];
    a.hkv = k.shape[1];
    a.dv = v.shape[2];
    a.group = a.hq / a.hkv;
    a.scale = scores.scale;
    a.softcap = scores.softcap;
    return a;
  }
};

}  // namespace magi::cpu
