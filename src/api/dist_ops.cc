// dispatch / undispatch / calc_attn on a runtime: the entries of dist_attn.h. Each validates its
// arguments once, then runs the executor (or the range kernels) on the backend of the tensors'
// device with the work the runtime prepared for its key.
#include <algorithm>
#include <tuple>
#include <vector>

#include "common/env.h"
#include "kernels/backend.h"
#include "kernels/ffa_entry.h"
#include "kernels/scoped_block.h"
#include "kernels/sink.h"
#include "kernels/tensor_checks.h"
#include "kernels/tensor_ops.h"
#include "magi/check.h"
#include "magi/dist_attn.h"
#include "magi/roll.h"
#include "runtime/arena.h"
#include "runtime/executor.h"
#include "runtime/rank_work.h"

namespace magi {
namespace {

void check_rows(const char* fn, const char* name, const TensorView& t, int64_t rows) {
  checks::view(fn, name, t);
  MAGI_CHECK(t.shape[0] == rows, fn, ": ", name, " = ", t.describe(), ": expected ", rows,
             " rows in dim 0");
  checks::rows_contiguous(fn, name, t);
}

/// check_rows of an output: its rows must not overlap either.
void check_out_rows(const char* fn, const char* name, const TensorView& t, int64_t rows) {
  check_rows(fn, name, t, rows);
  checks::rows_disjoint(fn, name, t);
}

void check_same_rows(const char* fn, const TensorView& a, const TensorView& b) {
  MAGI_CHECK(a.dtype == b.dtype && a.ndim == b.ndim && a.device == b.device, fn, ": ", a.describe(),
             " and ", b.describe(), " differ in dtype, rank or device");
  for (int d = 1; d < a.ndim; ++d) {
    MAGI_CHECK(a.shape[d] == b.shape[d], fn, ": ", a.describe(), " and ", b.describe(),
               " differ in dim ", d);
  }
}

void check_group(const char* fn, const DistAttnRuntime& rt, const Communicator& comm) {
  MAGI_CHECK(comm.rank() == rt.key().cp_rank && comm.group_id() == rt.key().group, fn,
             ": the key was made for rank ", rt.key().cp_rank, " of group '", rt.key().group,
             "', not for rank ", comm.rank(), " of group '", comm.group_id(), "'");
}

/// q [shard, Hq, D], k [shard_kv, Hkv, D], v [shard_kv, Hkv, Dv]: the local lengths, and the
/// key's heads and head_dim (q's and k's) where it has them (the rest of ffa.h's contract is
/// checked by check_ffa_*).
void check_local(const char* fn, const DistAttnRuntime& rt, const TensorView& q,
                 const TensorView& k, const TensorView& v) {
  const DistAttnKey& key = rt.key();
  for (const auto& [name, t, shard] :
       {std::tuple<const char*, const TensorView&, int64_t>{"q", q, rt.shard_seqlen()},
        {"k", k, rt.shard_seqlen_kv()},
        {"v", v, rt.shard_seqlen_kv()}}) {
    MAGI_CHECK(t.ndim == 3 && t.shape[0] == shard, fn, ": ", name, " = ", t.describe(),
               ": expected [", shard, " (the local length), heads, head_dim]");
  }
  // K and V rows travel (group-cast, the local rows of a degree-0 stage): each row one block.
  checks::rows_contiguous(fn, "k", k);
  checks::rows_contiguous(fn, "v", v);
  const bool heads_ok =
      key.num_heads_q == 0 || (q.shape[1] == key.num_heads_q && k.shape[1] == key.num_heads_kv);
  const bool dim_ok =
      key.head_dim == 0 || (q.shape[2] == key.head_dim && k.shape[2] == key.head_dim);
  MAGI_CHECK(heads_ok && dim_ok, fn, ": q = ", q.describe(), ", k = ", k.describe(),
             ": the key expects ", key.num_heads_q ? std::to_string(key.num_heads_q) : "any",
             " query heads, ", key.num_heads_kv ? std::to_string(key.num_heads_kv) : "any",
             " kv heads and head_dim ", key.head_dim ? std::to_string(key.head_dim) : "any");
}

/// Two contiguous buffers shaped like `like` in one scratch block, [send_rows, ...] and
/// [recv_rows, ...] (the send and receive sides of an all_to_all_v).
struct RowBuffers {
  RowBuffers(const TensorView& like, int64_t send_rows, int64_t recv_rows, Allocator& allocator,
             void* stream)
      : send_bytes(aligned(static_cast<size_t>(row_bytes(like) * send_rows))),
        block(allocator, send_bytes + aligned(static_cast<size_t>(row_bytes(like) * recv_rows)),
              like.device, stream) {
    TensorView t = like;
    int64_t row_elems = 1;
    for (int i = like.ndim - 1; i >= 1; --i) {
      t.strides[i] = row_elems;
      row_elems *= like.shape[i];
    }
    t.strides[0] = row_elems;
    send = recv = t;
    send.shape[0] = send_rows;
    recv.shape[0] = recv_rows;
    send.data = block.data();
    recv.data = static_cast<std::byte*>(block.data()) + send_bytes;
  }
  static size_t aligned(size_t n) {
    return (n + runtime::Arena::kAlign - 1) / runtime::Arena::kAlign * runtime::Arena::kAlign;
  }
  size_t send_bytes;
  ScopedBlock block;
  TensorView send, recv;
};

/// One FfaWork that fits the local shapes, for the checks of ffa.h's contract (the executor's
/// calls use the runtime's per-stage work, whose totals it knows to match).
const FfaWork& host_work(const DistAttnRuntime& rt) { return rt.work().host; }

/// One side of a key: q's rows or K/V's (the same in self-attention).
struct Side {
  const char* dispatch_fn;
  const char* undispatch_fn;
  const DispatchMeta& meta;
  const runtime::DispatchRows& rows;
  int64_t total;  // before padding
};

Side q_side(const DistAttnRuntime& rt) {
  return {"dispatch", "undispatch", rt.dispatch_meta(), rt.work().q_rows, rt.key().total_seqlen_q};
}

Side kv_side(const DistAttnRuntime& rt) {
  return {"dispatch_kv", "undispatch_kv", rt.dispatch_meta_kv(), rt.work().kv_rows,
          rt.key().total_seqlen_k};
}

void dispatch_side(const Side& side, const TensorView& x_global, const TensorView& x_local,
                   double pad_value, void* stream) {
  const int64_t shard = side.rows.shard;
  check_rows(side.dispatch_fn, "x", x_global, side.total);
  check_out_rows(side.dispatch_fn, "x_local", x_local, shard);
  check_same_rows(side.dispatch_fn, x_global, x_local);
  const Backend& be = backend_for(x_global.device, side.dispatch_fn);
  // Local rows are the rank's chunks in ascending global order, so padding (the global tail)
  // comes last.
  const RangeList& rows = side.rows.dispatch_rows;
  const int64_t n = rows.total_rows();
  be.range_gather(x_global, rows, row_slice(x_local, 0, n), stream);
  if (n < shard) fill(row_slice(x_local, n, shard), pad_value, stream);
}

void undispatch_side(const DistAttnRuntime& rt, const Side& side, Communicator& comm,
                     const TensorView& x_local, const TensorView& x_global, void* stream,
                     Allocator* allocator) {
  const char* fn = side.undispatch_fn;
  const runtime::DispatchRows& w = side.rows;
  const int64_t shard = w.shard, cp = side.meta.cp_size;
  check_rows(fn, "x", x_local, shard);
  check_out_rows(fn, "x_global", x_global, side.total);
  check_same_rows(fn, x_local, x_global);
  check_group(fn, rt, comm);
  const Backend& be = backend_for(x_local.device, fn);
  // All-gather as one all_to_all_v (my shard to every rank; rank r's shard has w.shards[r]
  // rows), landing in rank-major chunk order; then un-permute the chunks and drop the padding.
  if (cp == 1) {  // one rank: its rows already are the gathered order
    be.range_gather(x_local, w.undispatch_order, x_global, stream);
    return;
  }
  const int64_t gathered_rows = side.meta.total_seqlen;
  RowBuffers buf(x_local, cp * shard, gathered_rows, allocator ? *allocator : be.allocator(),
                 stream);
  TensorView &send = buf.send, &gathered = buf.recv;
  be.range_gather(x_local, w.undispatch_send, send, stream);
  const std::vector<int64_t> send_counts(cp, shard);
  comm.all_to_all_v(send, send_counts, gathered, w.shards, row_bytes(x_local), stream)
      ->wait_on(stream);
  be.range_gather(gathered, w.undispatch_order, x_global, stream);
}

}  // namespace

void dispatch(const DistAttnRuntime& rt, const TensorView& x_global, const TensorView& x_local,
              double pad_value, void* stream) {
  dispatch_side(q_side(rt), x_global, x_local, pad_value, stream);
}

void undispatch(const DistAttnRuntime& rt, Communicator& comm, const TensorView& x_local,
                const TensorView& x_global, void* stream, Allocator* allocator) {
  undispatch_side(rt, q_side(rt), comm, x_local, x_global, stream, allocator);
}

void dispatch_kv(const DistAttnRuntime& rt, const TensorView& x_global, const TensorView& x_local,
                 double pad_value, void* stream) {
  dispatch_side(kv_side(rt), x_global, x_local, pad_value, stream);
}

void undispatch_kv(const DistAttnRuntime& rt, Communicator& comm, const TensorView& x_local,
                   const TensorView& x_global, void* stream, Allocator* allocator) {
  undispatch_side(rt, kv_side(rt), comm, x_local, x_global, stream, allocator);
}

void roll(const DistAttnRuntime& rt, Communicator& comm, const TensorView& x_local, int64_t shift,
          const TensorView& out_local, void* stream, Allocator* allocator) {
  const DispatchMeta& d = rt.dispatch_meta();
  const int64_t shard = rt.shard_seqlen();
  check_rows("roll", "x", x_local, shard);
  check_out_rows("roll", "out", out_local, shard);
  check_same_rows("roll", x_local, out_local);
  check_group("roll", rt, comm);
  const Backend& be = backend_for(x_local.device, "roll");
  // NOTE: planned per call (O(padded_seqlen) on the host): the shift is a call argument, and a
  // per-shift cache on an immutable runtime would need locking for little gain.
  const RollPlan p = make_roll_plan(d, shift, rt.key().cp_rank);
  RowBuffers buf(x_local, shard, shard, allocator ? *allocator : be.allocator(), stream);
  be.range_gather(x_local, RangeList(p.send_rows.items(), true), buf.send, stream);
  if (d.cp_size == 1) {  // every row stays: the send buffer is the receive buffer
    be.range_gather(buf.send, RangeList(p.out_rows.items(), true), out_local, stream);
    return;
  }
  comm.all_to_all_v(buf.send, p.send_counts, buf.recv, p.recv_counts, row_bytes(x_local), stream)
      ->wait_on(stream);
  be.range_gather(buf.recv, RangeList(p.out_rows.items(), true), out_local, stream);
}

void calc_attn(const DistAttnRuntime& rt, Communicator& comm, const TensorView& q,
               const TensorView& k, const TensorView& v, const FfaOptions& opts,
               const TensorView& out, const TensorView& lse) {
  constexpr std::string_view fn = "calc_attn";
  check_group("calc_attn", rt, comm);
  check_local("calc_attn", rt, q, k, v);
  const FfaFwdArgs a = check_ffa_forward(fn, q, k, v, host_work(rt), opts, out, lse, false);
  runtime::CallContext c{
      rt, comm, backend_for(q.device, fn), a.scores, opts.cuda_stream, opts.allocator};
  if (opts.sink) {
    check_sink(fn, *opts.sink, q, c.backend);
    c.sink = &*opts.sink;
  }
  c.max_logits = a.max_logits;
  runtime::forward(c, q, k, v, out, lse);
}

void calc_attn_backward(const DistAttnRuntime& rt, Communicator& comm, const TensorView& q,
                        const TensorView& k, const TensorView& v, const TensorView& out,
                        const TensorView& lse, const TensorView& dout, const FfaOptions& opts,
                        const TensorView& dq, const TensorView& dk, const TensorView& dv,
                        const TensorView& dsink) {
  constexpr std::string_view fn = "calc_attn_backward";
  check_group("calc_attn_backward", rt, comm);
  check_local("calc_attn_backward", rt, q, k, v);
  // The gradients are written in any floating dtype (the executor accumulates on its own).
  for (const auto& [name, t, like] :
       {std::tuple<const char*, const TensorView&, const TensorView&>{"dq", dq, q},
        {"dk", dk, k},
        {"dv", dv, v}}) {
    MAGI_CHECK(t.ndim == 3 && t.shape == like.shape && is_floating(t.dtype) && t.device == q.device,
               fn, ": ", name, " = ", t.describe(), ": expected a floating tensor shaped like ",
               like.describe());
  }
  const FfaBwdArgs a = check_ffa_backward_inputs(fn, q, k, v, out, lse, dout, host_work(rt), opts);
  runtime::CallContext c{
      rt, comm, backend_for(q.device, fn), a.scores, opts.cuda_stream, opts.allocator};
  c.deterministic = a.deterministic;
  check_dsink(fn, dsink, opts.sink);
  if (opts.sink) {
    check_sink(fn, *opts.sink, q, c.backend);
    c.sink = &*opts.sink;
    const std::string op =
        env::choice("MAGI_ATTENTION_DSINK_ALL_REDUCE_OP", {"none", "sum", "avg"});
    c.dsink_reduce = op == "sum"   ? runtime::DsinkReduce::kSum
                     : op == "avg" ? runtime::DsinkReduce::kAvg
                                   : runtime::DsinkReduce::kNone;
  }
  runtime::backward(c, q, k, v, out, lse, dout, dq, dk, dv, dsink);
}

}  // namespace magi
