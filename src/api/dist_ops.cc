// dispatch / undispatch / calc_attn on a runtime.
#include <algorithm>
#include <vector>

#include "kernels/range_ops.h"
#include "kernels/tensor_ops.h"
#include "magi/check.h"
#include "magi/dist_attn.h"
#include "runtime/executor.h"
#include "runtime/workspace.h"

namespace magi {
namespace {

void check_rows(const char* fn, const char* name, const TensorView& t, int64_t rows) {
  MAGI_CHECK(t.ndim >= 1 && t.shape[0] == rows, fn, ": ", name, " = ", t.describe(), ": expected ",
             rows, " rows in dim 0");
  for (int d = 1; d < t.ndim; ++d) {
    int64_t inner = 1;
    for (int e = d + 1; e < t.ndim; ++e) inner *= t.shape[e];
    MAGI_CHECK(t.shape[d] <= 1 || t.strides[d] == inner, fn, ": ", name, " = ", t.describe(),
               ": dims after the first must be contiguous");
  }
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
  MAGI_CHECK(comm.group_id() == rt.key().group && comm.rank() == rt.key().cp_rank, fn,
             ": the key was made for rank ", rt.key().cp_rank, " of group '", rt.key().group,
             "', not for rank ", comm.rank(), " of group '", comm.group_id(), "'");
}

void check_heads(const DistAttnRuntime& rt, const TensorView& q, const TensorView& k) {
  const DistAttnKey& key = rt.key();
  MAGI_CHECK(q.ndim == 3 && q.shape[1] == key.num_heads_q && q.shape[2] == key.head_dim,
             "calc_attn: q = ", q.describe(), ": the key expects [", rt.shard_seqlen(), ", ",
             key.num_heads_q, ", ", key.head_dim, "]");
  MAGI_CHECK(k.ndim == 3 && k.shape[1] == key.num_heads_kv && k.shape[2] == key.head_dim,
             "calc_attn: k = ", k.describe(), ": the key expects [", rt.shard_seqlen(), ", ",
             key.num_heads_kv, ", ", key.head_dim, "]");
}

}  // namespace

void dispatch(const DistAttnRuntime& rt, const TensorView& x_global, const TensorView& x_local,
              double pad_value, void* stream) {
  const int64_t total = rt.key().total_seqlen_q;
  check_rows("dispatch", "x", x_global, total);
  check_rows("dispatch", "x_local", x_local, rt.shard_seqlen());
  check_same_rows("dispatch", x_global, x_local);
  // Local rows are the rank's chunks in ascending global order, so padding (the global tail)
  // comes last.
  const AttnRanges valid = rt.rank_plan().host_ranges.intersect(AttnRanges{{0, total}});
  const int64_t n = valid.total_size();
  range_gather(x_global, valid.items(), row_slice(x_local, 0, n), stream);
  if (n < rt.shard_seqlen()) fill(row_slice(x_local, n, rt.shard_seqlen()), pad_value, stream);
}

void undispatch(const DistAttnRuntime& rt, Communicator& comm, const TensorView& x_local,
                const TensorView& x_global, void* stream) {
  const DispatchMeta& d = rt.dispatch_meta();
  const int64_t shard = d.shard_seqlen(), cp = d.cp_size, total = rt.key().total_seqlen_q;
  check_rows("undispatch", "x", x_local, shard);
  check_rows("undispatch", "x_global", x_global, total);
  check_same_rows("undispatch", x_local, x_global);
  check_group("undispatch", rt, comm);
  runtime::Workspace ws(x_local.device, stream);
  // All-gather as one all_to_all_v (my shard to every rank), landing in rank-major chunk
  // order; then un-permute the chunks and drop the padding.
  TensorView gathered = x_local;  // one rank: its rows already are the gathered order
  if (cp > 1) {
    gathered = ws.empty_rows(x_local, cp * shard);
    const TensorView send = ws.empty_rows(x_local, cp * shard);
    const std::vector<AttnRange> copies(cp, AttnRange{0, shard});
    range_gather(x_local, copies, send, stream);
    const std::vector<int64_t> counts(cp, shard);
    comm.all_to_all_v(send, counts, gathered, counts, row_bytes(x_local))->wait();
  }
  std::vector<AttnRange> order;
  for (int64_t c = 0; c < d.num_chunks() && c * d.chunk_size < total; ++c) {
    const int64_t rows = std::min(d.chunk_size, total - c * d.chunk_size);
    order.push_back({d.unperm[c] * d.chunk_size, d.unperm[c] * d.chunk_size + rows});
  }
  range_gather(gathered, order, x_global, stream);
}

void calc_attn(const DistAttnRuntime& rt, Communicator& comm, const TensorView& q,
               const TensorView& k, const TensorView& v, const FfaOptions& opts,
               const TensorView& out, const TensorView& lse) {
  check_group("calc_attn", rt, comm);
  check_heads(rt, q, k);
  runtime::forward(rt.plan(), rt.rank_plan(), comm, q, k, v, opts, out, lse);
}

void calc_attn_backward(const DistAttnRuntime& rt, Communicator& comm, const TensorView& q,
                        const TensorView& k, const TensorView& v, const TensorView& out,
                        const TensorView& lse, const TensorView& dout, const FfaOptions& opts,
                        const TensorView& dq, const TensorView& dk, const TensorView& dv) {
  check_group("calc_attn_backward", rt, comm);
  check_heads(rt, q, k);
  runtime::backward(rt.plan(), rt.rank_plan(), comm, q, k, v, out, lse, dout, opts, dq, dk, dv);
}

}  // namespace magi
