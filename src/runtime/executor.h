// The executor: runs one rank's plan over its communicator (DESIGN.md §1) on the backend of the
// tensors' device, with the work prepared for the key (RankWork). It neither validates (the
// entries in src/api did, once) nor knows which backend it drives. A call lays its temporaries
// out in one arena and takes the arena's block from the call's Allocator, once.
#pragma once

#include "kernels/backend.h"
#include "magi/comm.h"
#include "magi/dist_attn.h"

namespace magi::runtime {

/// What calc_attn's backward does with the sink gradient of layout sh across the group
/// (MAGI_ATTENTION_DSINK_ALL_REDUCE_OP): keep this rank's partial, or all-reduce it (sum or
/// mean over the ranks). The ssh gradient is per local row, exact as it is.
enum class DsinkReduce : int8_t { kNone, kSum, kAvg };

/// What every call carries besides its tensors.
struct CallContext {
  const DistAttnRuntime& rt;
  Communicator& comm;
  const Backend& backend;
  ScoreParams scores;
  void* stream = nullptr;
  Allocator* allocator = nullptr;  // nullptr: the backend's
  bool deterministic = false;      // backward: FfaBwdArgs::deterministic for every FFA call
  const AttnSink* sink = nullptr;  // validated for the local q (nullptr: none)
  DsinkReduce dsink_reduce = DsinkReduce::kNone;
  /// Forward: fp32 [Hq] (ndim 0: not wanted), overwritten with the per-head maximum score over
  /// every stage and, in a group of several ranks, every rank (collective: then every rank
  /// passes one).
  TensorView max_logits{};

  /// dst[ranges] += src on the backend, in list order when deterministic (partial dK/dV of a
  /// row come back from several ranks).
  void scatter_add(const TensorView& src, const RangeList& ranges, const TensorView& dst) const {
    if (deterministic) {
      backend.range_scatter_add_ordered(src, ranges, dst, stream);
    } else {
      backend.range_scatter_add(src, ranges, dst, stream);
    }
  }
};

/// Forward: the host stage against local K/V, then each remote stage as its K/V arrive,
/// merged by log-sum-exp (degree 0: an empty host stage and one stage over [local; remote]);
/// then the sink, once per row, into the merged result (so out and lse include it).
/// q [S, Hq, D], k/v [S_kv, Hkv, D] local (S_kv: the K/V shard, = S in self-attention); out
/// [S, Hq, D] any float dtype; lse [S, Hq] fp32 or fp64. fp64 inputs accumulate in fp64, all
/// others in fp32. c.max_logits: see CallContext.
void forward(const CallContext& c, const TensorView& q, const TensorView& k, const TensorView& v,
             const TensorView& out, const TensorView& lse);

/// Backward: K/V are fetched again per stage; dQ stays local; the partial dK/dV of remote rows
/// are summed back to their owners in the accumulation dtype (fp64 for fp64 inputs, else
/// fp32). dq/dk/dv: any float dtype, overwritten. out and lse are the forward's (the sink
/// included). dsink (fp32, the logits' shape; ndim 0: not wanted) is overwritten with the
/// gradient over this rank's rows, then reduced per c.dsink_reduce (layout sh).
void backward(const CallContext& c, const TensorView& q, const TensorView& k, const TensorView& v,
              const TensorView& out, const TensorView& lse, const TensorView& dout,
              const TensorView& dq, const TensorView& dk, const TensorView& dv,
              const TensorView& dsink);

}  // namespace magi::runtime
