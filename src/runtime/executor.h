// The executor: runs one rank's Plan over its communicator (DESIGN.md §1). It calls the
// device-dispatching kernels (ffa.h, range_ops.h, tensor_ops.h) and so does not know which
// backend it drives.
#pragma once

#include "magi/comm.h"
#include "magi/ffa.h"
#include "magi/plan.h"

namespace magi::runtime {

/// Forward: the host stage against local K/V, then each remote stage as its K/V arrive,
/// merged by log-sum-exp (degree 0: one blocking fetch and one call over [local; remote]).
/// q [S, Hq, D], k/v [S, Hkv, D] local; out [S, Hq, D] any float dtype; lse [S, Hq] fp32 or
/// fp64. fp64 inputs accumulate in fp64, all others in fp32.
void forward(const Plan& plan, const RankPlan& rp, Communicator& comm, const TensorView& q,
             const TensorView& k, const TensorView& v, const FfaOptions& opts,
             const TensorView& out, const TensorView& lse);

/// Backward: K/V are fetched again per stage; dQ stays local; the partial dK/dV of remote rows
/// are summed back to their owners in the accumulation dtype (fp64 for fp64 inputs, else
/// fp32). dq/dk/dv: any float dtype, overwritten.
void backward(const Plan& plan, const RankPlan& rp, Communicator& comm, const TensorView& q,
              const TensorView& k, const TensorView& v, const TensorView& out,
              const TensorView& lse, const TensorView& dout, const FfaOptions& opts,
              const TensorView& dq, const TensorView& dk, const TensorView& dv);

}  // namespace magi::runtime
